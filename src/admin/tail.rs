//! `GET /api/tail?source=&target=&outcome=`: the live tail as Server-Sent
//! Events. Each event is `event: <type>` and `data: <JSON>` (the JSON has
//! the `type` too); a comment line every [`KEEP_ALIVE`] keeps proxies from
//! closing a quiet stream. A watcher that falls more than the hub's buffer
//! behind gets a last `missed` event (`{"missed": n}`) and the stream ends;
//! one that stops reading is closed by the listener's write deadline.
//!
//! A task per watcher reads the hub, filters and formats; the response body
//! reads the task's small channel. Must not wait on the relay: the hub
//! never waits for a watcher, and this task only ever waits for its own.

use std::convert::Infallible;
use std::time::Duration;

use bytes::Bytes;
use http::StatusCode;
use tokio::sync::mpsc;
use warp::reply::{Reply, Response};

use super::problem::Problem;
use super::{Admin, Control};
use crate::tail::{Event, Next, TailFilter, Watcher};

/// How often a quiet stream gets a comment line.
const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// Formatted events a watcher's task may hold for it beyond the hub's
/// buffer.
const FRAMES: usize = 16;

/// `GET /api/tail`.
pub(super) fn stream<C: Control>(admin: &Admin<C>, query: &str) -> Result<Response, Problem> {
    let (mut source, mut target, mut outcome) = (None, None, None);
    for (key, value) in url::form_urlencoded::parse(query.as_bytes()) {
        let value = Some(value.into_owned());
        match key.as_ref() {
            "source" => source = value,
            "target" => target = value,
            "outcome" => outcome = value,
            other => {
                return Err(Problem::new(
                    StatusCode::BAD_REQUEST,
                    format!("unknown parameter `{other}`; this takes source, target and outcome"),
                ));
            }
        }
    }
    let filter = TailFilter::new(source, target, outcome.as_deref())
        .map_err(|e| Problem::new(StatusCode::BAD_REQUEST, format!("outcome: {e}")))?;
    let (tx, mut rx) = mpsc::channel(FRAMES);
    tokio::spawn(forward(admin.relay.tail().subscribe(), filter, tx));
    let body = futures_util::stream::poll_fn(move |cx| {
        rx.poll_recv(cx).map(|frame| frame.map(Ok::<_, Infallible>))
    });
    let mut response = warp::reply::stream(body).into_response();
    let headers = response.headers_mut();
    headers.insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("text/event-stream"),
    );
    headers.insert(
        http::header::CACHE_CONTROL,
        http::HeaderValue::from_static("no-cache"),
    );
    // Tells nginx not to buffer the stream.
    headers.insert("x-accel-buffering", http::HeaderValue::from_static("no"));
    Ok(response)
}

/// Reads the hub for one watcher until it falls behind, goes away, or the
/// relay stops.
async fn forward(mut watcher: Watcher, mut filter: TailFilter, tx: mpsc::Sender<Bytes>) {
    let mut keep_alive =
        tokio::time::interval_at(tokio::time::Instant::now() + KEEP_ALIVE, KEEP_ALIVE);
    // The headers go out with the first bytes: a comment says it listens.
    if tx
        .send(Bytes::from_static(b": switchboard tail\n\n"))
        .await
        .is_err()
    {
        return;
    }
    loop {
        let frame = tokio::select! {
            () = tx.closed() => return,
            _ = keep_alive.tick() => Bytes::from_static(b": keep-alive\n\n"),
            next = watcher.next() => match next {
                Next::Event(event) if filter.admits(&event) => frame(&event),
                Next::Event(_) => continue,
                Next::Missed(n) => {
                    let data = serde_json::json!({"type": "missed", "missed": n});
                    let _ = tx.send(Bytes::from(format!("event: missed\ndata: {data}\n\n"))).await;
                    return;
                }
                Next::Closed => return,
            },
        };
        if tx.send(frame).await.is_err() {
            return;
        }
    }
}

/// One event as an SSE frame.
fn frame(event: &Event) -> Bytes {
    let data = serde_json::to_string(event).unwrap_or_else(|_| "{}".to_owned());
    Bytes::from(format!("event: {}\ndata: {data}\n\n", event.kind()))
}
