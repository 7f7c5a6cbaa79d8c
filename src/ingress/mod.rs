//! The HTTP side of `POST /hooks/{source}`: which source, which client,
//! whether it may send, and a body read under a byte limit.
//!
//! Order of checks: unknown source 404, client address unreadable or not
//! allowed 403, token missing or wrong 401, then (POST) body over the limit
//! 413 or too slow 408, signature
//! (`verify`) wrong or stale 401, body not JSON 400. A verified webhook whose
//! `webhook-id` was already taken is answered 200 and not forwarded again.
//! `GET`/`HEAD`, and a `POST` whose body is empty, `{}` or `null`, are
//! probes: 200, nothing forwarded. Every error is a small JSON body.
//!
//! warp's `path::full`, `tail` and `peek` are not used: they panic on a
//! `CONNECT` request in warp 0.4.3.

pub mod accept;
pub mod json;
pub mod listener;
pub mod source;
pub mod throttle;
pub mod verify;

use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use bytes::{Buf, Bytes, BytesMut};
use futures_util::{Stream, StreamExt};
use http::{HeaderMap, Method, StatusCode};
use ipnet::IpNet;
use serde_json::json;
use warp::Filter;
use warp::reply::{Reply, Response};

use crate::config::ClientIpHeader;
use crate::ingress::verify::Verdict;
use crate::runtime::Snapshot;
use crate::spool::{Admitted, NewEvent, SeenId, Spool};

/// What ingress needs from the relay.
pub struct Ingress<S: Spool> {
    /// The config in force.
    pub snapshot: Arc<Snapshot>,
    /// Where accepted webhooks are written before the 202.
    pub spool: Arc<S>,
    /// Set at shutdown: new webhooks get 503.
    pub draining: std::sync::atomic::AtomicBool,
}

/// The warp filter for one connection from `peer`.
pub fn filter<S: Spool>(
    ingress: Arc<Ingress<S>>,
    peer: SocketAddr,
) -> impl Filter<Extract = (Response,), Error = Infallible> + Clone {
    let hooks = warp::path!("hooks" / String)
        .and(warp::method())
        .and(warp::header::headers_cloned())
        .and(warp::body::stream())
        .then(
            move |source: String, method: Method, headers: HeaderMap, body| {
                let ingress = ingress.clone();
                async move {
                    let response = ingress.handle(peer, &source, method, headers, body).await;
                    ingress.count(&source, response.status());
                    response
                }
            },
        );
    hooks
        .recover(|_rejection: warp::Rejection| async {
            Ok::<_, Infallible>(error(
                StatusCode::NOT_FOUND,
                "no such path; webhooks go to POST /hooks/{source}",
            ))
        })
        .unify()
}

impl<S: Spool> Ingress<S> {
    /// Counts the answer in `switchboard_webhooks_received_total`.
    fn count(&self, name: &str, status: StatusCode) {
        let outcome = match status.as_u16() {
            202 => "accepted",
            200 => "not_forwarded",
            400 => "bad_request",
            401 => "unauthorized",
            403 => "forbidden",
            404 => "unknown_source",
            405 => "bad_method",
            408 => "too_slow",
            413 => "too_large",
            429 => "rate_limited",
            503 => "unavailable",
            _ => "other",
        };
        let known = self.snapshot.load().sources.contains_key(name);
        crate::metrics::received(if known { name } else { "_unknown" }, outcome);
    }

    async fn handle<T, B>(
        &self,
        peer: SocketAddr,
        name: &str,
        method: Method,
        headers: HeaderMap,
        body: T,
    ) -> Response
    where
        T: Stream<Item = Result<B, warp::Error>> + Unpin,
        B: Buf,
    {
        let runtime = self.snapshot.load();
        let Some(source) = runtime.sources.get(name) else {
            return error(StatusCode::NOT_FOUND, &format!("unknown source `{name}`"));
        };
        let client = match client_ip(
            peer.ip(),
            &headers,
            &runtime.server.trusted_proxies,
            runtime.server.client_ip_header,
        ) {
            Ok(client) => client,
            Err(unreadable) => {
                tracing::warn!(source = name, %unreadable, "rejected: client address unreadable");
                return error(
                    StatusCode::FORBIDDEN,
                    "the client address forwarded by the proxy could not be read",
                );
            }
        };
        if !source.admits(client) {
            tracing::warn!(source = name, client_ip = %client, "rejected: address not allowed");
            return error(
                StatusCode::FORBIDDEN,
                "this address may not send to this source",
            );
        }
        if let Some(limit) = &source.limit
            && let Err(wait) = limit.check(client)
        {
            tracing::warn!(source = name, client_ip = %client, "rejected: client over the source's rate (429)");
            let mut response = error(
                StatusCode::TOO_MANY_REQUESTS,
                "too many requests from this address; slow down",
            );
            let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
            if let Ok(value) = http::HeaderValue::from_str(&secs.max(1).to_string()) {
                response
                    .headers_mut()
                    .insert(http::header::RETRY_AFTER, value);
            }
            return response;
        }
        if !source.authenticates(&headers) {
            tracing::warn!(source = name, client_ip = %client, "rejected: missing or wrong token");
            return error(StatusCode::UNAUTHORIZED, "missing or wrong token");
        }
        if method == Method::GET || method == Method::HEAD {
            return probe();
        }
        if method != Method::POST {
            return error(StatusCode::METHOD_NOT_ALLOWED, "use POST");
        }
        let raw = match read_body(body, &headers, runtime.server.max_body).await {
            Ok(raw) => raw,
            Err(BodyError::TooLarge) => {
                tracing::warn!(source = name, client_ip = %client, limit = runtime.server.max_body, "rejected: body too large");
                return error(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    &format!("body larger than {} bytes", runtime.server.max_body),
                );
            }
            Err(BodyError::Broken) => {
                return error(StatusCode::BAD_REQUEST, "the body could not be read");
            }
            Err(BodyError::TooSlow) => {
                tracing::warn!(source = name, client_ip = %client, "rejected: body too slow (408)");
                let mut response = error(
                    StatusCode::REQUEST_TIMEOUT,
                    "the body did not arrive within server.body_timeout",
                );
                // The rest of the body may still be on its way: do not read
                // it as the next request.
                response.headers_mut().insert(
                    http::header::CONNECTION,
                    http::HeaderValue::from_static("close"),
                );
                return response;
            }
        };
        // Before the probe check: a signed source's probes are signed too.
        let claim = match source.verify(&headers, &raw, crate::time::now_secs()) {
            Verdict::Accept(claim) => claim,
            Verdict::Replay => {
                tracing::info!(source = name, client_ip = %client, "duplicate webhook-id: answered, not forwarded");
                return duplicate();
            }
            Verdict::Reject(reason) => {
                tracing::warn!(source = name, client_ip = %client, %reason, "rejected: signature");
                return error(StatusCode::UNAUTHORIZED, &reason);
            }
        };
        if is_probe_body(&raw) {
            return probe();
        }
        let doc: serde_json::Value = match crate::ingress::json::parse(&raw) {
            Ok(doc) => doc,
            Err(e) => {
                tracing::warn!(source = name, client_ip = %client, error = %e, "rejected: body is not JSON");
                let text = e.to_string();
                let detail = text
                    .rsplit_once(" at line ")
                    .map_or(text.as_str(), |(m, _)| m);
                return error(
                    StatusCode::BAD_REQUEST,
                    &format!(
                        "body is not JSON: {} ({detail}) at line {} column {}",
                        classify_json(&e),
                        e.line(),
                        e.column()
                    ),
                );
            }
        };
        if self.draining.load(std::sync::atomic::Ordering::Relaxed) {
            return unavailable("the relay is shutting down; retry shortly");
        }
        let pending = self.spool.pending();
        if pending.deliveries >= runtime.server.max_pending
            || pending.bytes >= runtime.server.max_pending_bytes
        {
            tracing::warn!(
                source = name,
                pending = pending.deliveries,
                pending_bytes = pending.bytes,
                "refused: too much pending work (503)"
            );
            return unavailable("too many deliveries pending; retry later");
        }
        let accepted = accept::accept(&runtime, source, &headers, &raw, &doc);
        // The parse is done with: free it before waiting for the commit.
        // A 200 KB call log parses to megabytes, and every connection
        // waiting for the same group commit would otherwise hold one.
        drop(doc);
        for (target, reason) in &accepted.failed {
            tracing::error!(id = %accepted.id, target, %reason, "could not render the body for this target; not sent");
        }
        let id = accepted.id;
        let count = accepted.deliveries.len();
        let seen = claim.id().map(|(id, until)| SeenId {
            id: id.to_owned(),
            expires_ms: i64::try_from(until.saturating_mul(1000)).unwrap_or(i64::MAX),
        });
        let event = NewEvent {
            id,
            source: name.to_owned(),
            client_ip: client.to_string(),
            received_ms: crate::time::now_ms(),
            routes: accepted.matched,
            body: raw,
            seen,
        };
        // The `accepted` line is logged by the spool's writer, once the
        // commit is known and before the deliveries go to dispatch, so that
        // no delivery's line precedes it.
        match self.spool.accept(event, accepted.deliveries).await {
            Ok(Admitted::Stored) => claim.keep(),
            Ok(Admitted::Duplicate) => {
                // Taken before a restart, or by another replica.
                claim.keep();
                tracing::info!(source = name, client_ip = %client, "duplicate webhook-id: answered, not forwarded");
                return duplicate();
            }
            Err(error) => {
                tracing::error!(%id, source = name, %error, "could not write the webhook to the spool (503)");
                return unavailable("the webhook could not be stored; retry later");
            }
        }
        let body = warp::reply::json(&json!({"id": id.to_string(), "deliveries": count}));
        warp::reply::with_status(body, StatusCode::ACCEPTED).into_response()
    }
}

/// 200 for a verified webhook already taken: the sender may stop retrying.
fn duplicate() -> Response {
    warp::reply::with_status(
        warp::reply::json(&json!({"ok": true, "duplicate": true})),
        StatusCode::OK,
    )
    .into_response()
}

fn probe() -> Response {
    warp::reply::with_status(
        warp::reply::json(&json!({"ok": true, "probe": true})),
        StatusCode::OK,
    )
    .into_response()
}

/// 503 with `Retry-After`, for work the relay cannot take on now.
fn unavailable(message: &str) -> Response {
    let mut response = error(StatusCode::SERVICE_UNAVAILABLE, message);
    response.headers_mut().insert(
        http::header::RETRY_AFTER,
        http::HeaderValue::from_static("5"),
    );
    response
}

fn error(status: StatusCode, message: &str) -> Response {
    warp::reply::with_status(warp::reply::json(&json!({"error": message})), status).into_response()
}

/// An empty body, `{}` or `null` (surrounded by any whitespace).
fn is_probe_body(raw: &[u8]) -> bool {
    let trimmed = raw.trim_ascii();
    trimmed.is_empty() || trimmed == b"null" || {
        trimmed.first() == Some(&b'{')
            && trimmed.last() == Some(&b'}')
            && trimmed[1..trimmed.len() - 1].trim_ascii().is_empty()
    }
}

fn classify_json(e: &serde_json::Error) -> &'static str {
    match e.classify() {
        serde_json::error::Category::Eof => "it ends early",
        serde_json::error::Category::Syntax => "syntax error",
        serde_json::error::Category::Data | serde_json::error::Category::Io => "invalid data",
    }
}

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
            if crate::ingress::listener::BodyTimedOut::caused(&e) {
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

/// A trusted proxy's client-address header that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the {header} header from trusted proxy {proxy} does not name a client address")]
pub struct Unreadable {
    /// The header's name.
    pub header: &'static str,
    /// The proxy that sent it.
    pub proxy: IpAddr,
}

/// The client's address. The socket peer, unless the peer is a trusted
/// proxy: then the one configured header (`which`) is read, and every other
/// forwarding header is ignored, since a proxy that sets one header usually
/// passes the others through from the client. `X-Forwarded-For` and
/// `Forwarded` are read right to left past trusted proxies, and the first
/// untrusted address is the client; `X-Real-IP` holds just the client. An
/// entry that is not an address (`unknown`, `_hidden`, garbage) is an error,
/// never the proxy's own address: the request is refused. A trusted peer
/// that sends no such header is itself the client.
pub fn client_ip(
    peer: IpAddr,
    headers: &HeaderMap,
    trusted: &[IpNet],
    which: ClientIpHeader,
) -> Result<IpAddr, Unreadable> {
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(&ip.to_canonical()));
    let peer = peer.to_canonical();
    if !is_trusted(&peer) {
        return Ok(peer);
    }
    let (name, parse): (&'static str, fn(&str) -> Option<IpAddr>) = match which {
        ClientIpHeader::XForwardedFor => ("X-Forwarded-For", parse_hop),
        ClientIpHeader::Forwarded => ("Forwarded", forwarded_for),
        ClientIpHeader::XRealIp => ("X-Real-IP", parse_hop),
    };
    let unreadable = Unreadable {
        header: name,
        proxy: peer,
    };
    let mut hops = Vec::new();
    for value in headers.get_all(name) {
        let text = value.to_str().map_err(|_| unreadable.clone())?;
        for entry in text.split(',') {
            hops.push(parse(entry).ok_or_else(|| unreadable.clone())?);
        }
    }
    if which == ClientIpHeader::XRealIp {
        // One address, written by the proxy; several are a forgery or a
        // misconfigured chain, and neither can be believed.
        return match hops[..] {
            [] => Ok(peer),
            [client] => Ok(client),
            _ => Err(unreadable),
        };
    }
    let mut client = peer;
    for hop in hops.into_iter().rev() {
        if !is_trusted(&hop) {
            return Ok(hop);
        }
        client = hop;
    }
    Ok(client)
}

/// The `for=` of one `Forwarded` element; `None` when it has none or it
/// is not an address (`unknown`, an obfuscated `_name`).
fn forwarded_for(element: &str) -> Option<IpAddr> {
    element
        .split(';')
        .find_map(|pair| {
            let (key, value) = pair.split_once('=')?;
            key.trim().eq_ignore_ascii_case("for").then(|| value.trim())
        })
        .and_then(parse_hop)
}

/// `1.2.3.4`, `1.2.3.4:80`, `2001:db8::1`, `[2001:db8::1]:80`, quoted or not.
fn parse_hop(text: &str) -> Option<IpAddr> {
    let t = text.trim().trim_matches('"');
    if let Ok(ip) = t.parse::<IpAddr>() {
        return Some(ip.to_canonical());
    }
    if let Ok(addr) = t.parse::<SocketAddr>() {
        return Some(addr.ip().to_canonical());
    }
    t.strip_prefix('[')
        .and_then(|r| r.split(']').next())
        .and_then(|ip| ip.parse::<IpAddr>().ok())
        .map(|ip| ip.to_canonical())
}

#[cfg(test)]
mod tests;
