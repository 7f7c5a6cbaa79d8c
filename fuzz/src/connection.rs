//! The request target's wire half: the input's raw bytes, cut into pieces
//! at `~~` with a pause of virtual time between them, written to one
//! connection served by `switchboard::ingress::listener::connection` (the code the
//! accept loop runs) over an in-memory stream. Whatever the bytes, pieces
//! and pauses (silence, one byte, half a header, an HTTP/2 preface, a
//! trickled body, pipelining with answers never read), the relay must end
//! the connection by itself within its limits once the client stops
//! writing, and must never panic.

use std::convert::Infallible;
use std::sync::LazyLock;
use std::time::Duration;

use bytes::Buf;
use futures_util::StreamExt;
use switchboard::ingress::listener::{Limits, connection};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use warp::Filter;
use warp::reply::{Reply, Response};

const LIMITS: Limits = Limits {
    max_connections: 1,
    header_timeout: Duration::from_secs(1),
    body_timeout: Duration::from_secs(2),
    grace: Duration::from_secs(1),
};

/// Between two pieces: longer than nothing, shorter than either limit, so
/// that a slow client can stay within them piece by piece.
const PAUSE: Duration = Duration::from_millis(700);

/// One thread with a paused clock: sleeps and timeouts advance virtual
/// time at once when nothing else can run, so a run takes microseconds.
static RUNTIME: LazyLock<tokio::runtime::Runtime> = LazyLock::new(|| {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .expect("a current-thread runtime")
});

/// `POST /hooks/NAME` reads the whole body as ingress does (a stream,
/// counted); everything else is answered without reading the body.
fn routes() -> impl Filter<Extract = (Response,), Error = Infallible> + Clone {
    let hooks = warp::path!("hooks" / String)
        .and(warp::post())
        .and(warp::body::stream())
        .then(|_source: String, body| consume(body));
    hooks
        .recover(|_| async {
            Ok::<_, Infallible>(
                warp::reply::with_status("no", http::StatusCode::NOT_FOUND).into_response(),
            )
        })
        .unify()
}

/// Reads a body to its end as ingress does; 408 when it fails (its
/// deadline passed).
async fn consume<S, B>(mut body: S) -> Response
where
    S: futures_util::Stream<Item = Result<B, warp::Error>> + Unpin,
    B: Buf,
{
    let mut bytes = 0usize;
    while let Some(chunk) = body.next().await {
        match chunk {
            Ok(chunk) => bytes += chunk.remaining(),
            Err(_) => {
                return warp::reply::with_status("slow", http::StatusCode::REQUEST_TIMEOUT)
                    .into_response();
            }
        }
    }
    warp::reply::with_status(bytes.to_string(), http::StatusCode::ACCEPTED).into_response()
}

/// Runs `data` as one client. The first byte's low bit says whether the
/// client reads the answers.
pub fn run(data: &[u8]) {
    let reads = data.first().is_some_and(|b| b & 1 == 1);
    let pieces: Vec<Vec<u8>> = split(data);
    RUNTIME.block_on(async move {
        // A small buffer, so that unread answers fill it quickly.
        let (client, server) = tokio::io::duplex(4096);
        let served = tokio::spawn(connection(server, &LIMITS, routes()));
        let (mut rx, mut tx) = tokio::io::split(client);
        let reader = tokio::spawn(async move {
            let mut buf = vec![0u8; 8192];
            while reads {
                match rx.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {}
                }
            }
            rx
        });
        let writer = async {
            for (i, piece) in pieces.iter().enumerate() {
                if i > 0 {
                    tokio::time::sleep(PAUSE).await;
                }
                // A server that stopped reading must not hold the client
                // either: writes are bounded by the limits too.
                let bound = LIMITS.header_timeout + LIMITS.body_timeout * 2;
                match tokio::time::timeout(bound, tx.write_all(piece)).await {
                    Ok(Ok(())) => {}
                    Ok(Err(_)) | Err(_) => return,
                }
            }
        };
        writer.await;
        // The client now neither writes nor closes: the relay must end it.
        let bound = LIMITS.header_timeout + LIMITS.body_timeout * 2 + Duration::from_secs(1);
        let ended = tokio::time::timeout(bound, served).await;
        assert!(
            ended.is_ok(),
            "a connection outlived its limits by {bound:?} after the client went quiet"
        );
        reader.abort();
        drop(tx);
    });
}

/// The input cut at each `~~` (the marker itself is dropped).
fn split(data: &[u8]) -> Vec<Vec<u8>> {
    let mut pieces = vec![Vec::new()];
    let mut i = 0;
    while i < data.len() {
        if data[i..].starts_with(b"~~") {
            pieces.push(Vec::new());
            i += 2;
        } else {
            if let Some(last) = pieces.last_mut() {
                last.push(data[i]);
            }
            i += 1;
        }
    }
    pieces
}
