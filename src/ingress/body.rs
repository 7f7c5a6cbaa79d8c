//! A request body read under a byte limit and the listener's deadline:
//! ingress reads webhooks with it, the admin API its own small bodies.
//!
//! Must not parse or judge what it reads.

use bytes::{Buf, Bytes, BytesMut};
use futures_util::{Stream, StreamExt};
use http::HeaderMap;

/// Why a body was not read.
pub(crate) enum BodyError {
    TooLarge,
    /// Not complete within `server.body_timeout` (see `listener`).
    TooSlow,
    Broken,
}

/// Reads the body, counting bytes as they arrive, so that a chunked body
/// with no `Content-Length` is held to the same limit. The admin API reads
/// its bodies with it too.
pub(crate) async fn read_body<S, B>(
    mut body: S,
    headers: &HeaderMap,
    limit: usize,
) -> Result<Bytes, BodyError>
where
    S: Stream<Item = Result<B, warp::Error>> + Unpin,
    B: Buf,
{
    let declared = headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(BodyError::TooLarge);
    }
    let mut buf = BytesMut::with_capacity(declared.map_or(8192, |n| n as usize));
    while let Some(chunk) = body.next().await {
        let mut chunk = chunk.map_err(|e| {
            if super::deadline::BodyTimedOut::caused(&e) {
                BodyError::TooSlow
            } else {
                BodyError::Broken
            }
        })?;
        if buf.len() + chunk.remaining() > limit {
            return Err(BodyError::TooLarge);
        }
        while chunk.has_remaining() {
            let part = chunk.chunk();
            buf.extend_from_slice(part);
            let n = part.len();
            chunk.advance(n);
        }
    }
    Ok(buf.freeze())
}
