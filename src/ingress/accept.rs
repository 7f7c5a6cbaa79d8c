//! Accept: the one stage that takes a request to `/hooks/{source}` to its
//! [`Outcome`]: which source, which client, whether it may send, the body
//! read under its limits, verified, classified, routed and rendered, then
//! written to the spool before the answer.
//!
//! Order of checks: unknown source 404, client address unreadable or not
//! allowed 403, over the source's rate 429, token missing or wrong 401,
//! then `GET`/`HEAD` are probes and other methods but `POST` 405; then body
//! over the limit 413 or too slow 408, signature (`verify`) wrong or stale
//! 401, a probe body 200, body not JSON 400, draining or too much pending
//! work 503. A verified webhook whose `webhook-id` was already taken is
//! answered 200 and not forwarded again.
//!
//! Must not build HTTP answers or pick metric labels: that is
//! [`Outcome::answer`]'s, in one place.

use std::net::{IpAddr, SocketAddr};

use bytes::{Buf, Bytes};
use futures_util::Stream;
use http::{HeaderMap, Method};
use uuid::Uuid;

use super::Ingress;
use super::body::{BodyError, read_body};
use super::client::client_ip;
use super::outcome::{Outcome, Refusal};
use super::payload::Payload;
use super::render::{self, Routed};
use super::source::Source;
use super::stages;
use super::verify::{Claim, Verdict};
use crate::runtime::Runtime;
use crate::spool::{Admitted, NewEvent, SeenId, Spool};
use crate::trace::{Request, Value};

impl<S: Spool> Ingress<S> {
    /// Takes one request for source `name` from `peer` to its outcome;
    /// with tracing on, begins its ingress span in `trace` (for the caller
    /// to end with the answer) and keeps the stages' spans in it.
    pub async fn accept<T, B>(
        &self,
        peer: SocketAddr,
        name: &str,
        method: Method,
        headers: HeaderMap,
        body: T,
        trace: &mut Option<Request>,
    ) -> Outcome
    where
        T: Stream<Item = Result<B, warp::Error>> + Unpin,
        B: Buf,
    {
        let taken: Result<Outcome, Refusal> = async {
            let runtime = self.snapshot.load();
            let source = runtime
                .sources
                .get(name)
                .ok_or_else(|| Refusal::UnknownSource(name.to_owned()))?;
            if let Some(settings) = &runtime.server.tracing {
                *trace = Some(self.tracer.request(settings, &headers, name));
            }
            let client = sender(&runtime, source, peer.ip(), &headers)?;
            if let Some(t) = trace.as_mut() {
                t.set("client.address", Value::Text(client.to_string()));
            }
            if method == Method::GET || method == Method::HEAD {
                return Ok(Outcome::Probe);
            }
            if method != Method::POST {
                return Err(Refusal::BadMethod);
            }
            let max_body = runtime.server.max_body;
            let raw = read_body(body, &headers, max_body)
                .await
                .map_err(|e| body_refusal(e, max_body, name, client))?;
            // Before the probe check: a signed source's probes are signed too.
            let began = trace.as_ref().map_or(0, Request::begin);
            let verdict = verify(source, &headers, &raw, client);
            if let Some(t) = trace.as_mut() {
                stages::verified(t, began, &verdict);
            }
            let Some(claim) = verdict? else {
                return Ok(Outcome::Duplicate);
            };
            let doc = match Payload::read(&raw) {
                Ok(Payload::Probe) => return Ok(Outcome::Probe),
                Ok(Payload::Document(doc)) => doc,
                Err(e) => {
                    tracing::warn!(source = name, client_ip = %client, error = %e, "rejected: body is not JSON");
                    return Err(Refusal::NotJson(e));
                }
            };
            self.has_room(&runtime, name)?;
            let began = trace.as_ref().map_or(0, Request::begin);
            let routed = render::route(&runtime, source, &headers, &raw, &doc);
            if let Some(t) = trace.as_mut() {
                stages::routed(t, began, &routed);
            }
            // The parse is done with: free it before waiting for the commit.
            // A 200 KB call log parses to megabytes, and every connection
            // waiting for the same group commit would otherwise hold one.
            drop(doc);
            let webhook = Webhook {
                source,
                client,
                raw,
                claim,
                headers: &headers,
                version: &runtime.version,
            };
            self.store(webhook, routed, trace).await
        }
        .await;
        taken.unwrap_or_else(Outcome::Refused)
    }

    /// Refuses new work while draining or while too much is pending.
    fn has_room(&self, runtime: &Runtime, name: &str) -> Result<(), Refusal> {
        if self.is_draining() {
            return Err(Refusal::Draining);
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
            return Err(Refusal::Backlog);
        }
        Ok(())
    }

    /// Writes the webhook and its deliveries in one durable transaction.
    async fn store(
        &self,
        webhook: Webhook<'_>,
        routed: Routed,
        trace: &mut Option<Request>,
    ) -> Result<Outcome, Refusal> {
        let Webhook {
            source,
            client,
            raw,
            claim,
            headers,
            version,
        } = webhook;
        let token = source.token.as_ref().map(|t| &t.header);
        let source = source.name.as_str();
        let id = Uuid::now_v7();
        for d in &routed.deliveries {
            if let Some(reason) = &d.unrendered {
                tracing::error!(%id, target = %d.target, %reason, "could not render the body for this target; stored as unrendered, not sent until replayed");
            }
        }
        // What will be sent: an unrendered delivery waits for an operator.
        let deliveries = routed
            .deliveries
            .iter()
            .filter(|d| d.unrendered.is_none())
            .count();
        let seen = claim.id().map(|(id, until)| SeenId {
            id: id.to_owned(),
            expires_ms: i64::try_from(until.saturating_mul(1000)).unwrap_or(i64::MAX),
        });
        let event = NewEvent {
            id,
            source: source.to_owned(),
            client_ip: client.to_string(),
            received_ms: crate::time::now_ms(),
            routes: routed.matched,
            body: raw,
            content_type: headers
                .get(http::header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned),
            headers: crate::redact::headers_json(headers, token),
            keys: routed.keys,
            config_version: version.to_owned(),
            seen,
            trace: trace.as_ref().map(|t| t.context.clone()),
        };
        let began = trace.as_ref().map_or(0, Request::begin);
        // The `accepted` line is logged by the spool's writer, once the
        // commit is known and before the deliveries go to dispatch, so that
        // no delivery's line precedes it.
        let admitted = self.spool.accept(event, routed.deliveries).await;
        if let Some(t) = trace.as_mut() {
            stages::committed(t, began, id, deliveries, &admitted);
        }
        match admitted {
            Ok(Admitted::Stored) => {
                claim.keep();
                Ok(Outcome::Accepted { id, deliveries })
            }
            Ok(Admitted::Duplicate) => {
                // Taken before a restart, or by another replica.
                claim.keep();
                tracing::info!(source, client_ip = %client, "duplicate webhook-id: answered, not forwarded");
                Ok(Outcome::Duplicate)
            }
            Err(error) => {
                tracing::error!(%id, source, %error, "could not write the webhook to the spool (503)");
                Err(Refusal::NotStored)
            }
        }
    }
}

/// A verified webhook on its way to the spool.
struct Webhook<'a> {
    source: &'a Source,
    client: IpAddr,
    raw: Bytes,
    /// The headers it came with.
    headers: &'a HeaderMap,
    /// The version of the config routing it.
    version: &'a str,
    /// Its `webhook-id`, held until the spool has it (or forgotten if not).
    claim: Claim,
}

/// The claim on a verified webhook's `webhook-id`; `None` for a replay.
fn verify(
    source: &Source,
    headers: &HeaderMap,
    raw: &[u8],
    client: IpAddr,
) -> Result<Option<Claim>, Refusal> {
    let name = source.name.as_str();
    match source.verify(headers, raw, crate::time::now_secs()) {
        Verdict::Accept(claim) => Ok(Some(claim)),
        Verdict::Replay => {
            tracing::info!(source = name, client_ip = %client, "duplicate webhook-id: answered, not forwarded");
            Ok(None)
        }
        Verdict::Reject(reason) => {
            tracing::warn!(source = name, client_ip = %client, %reason, "rejected: signature");
            Err(Refusal::Signature(reason))
        }
    }
}

/// The client, if it may send to `source`: its address readable and
/// allowed, under the source's rate, with the token if one is set.
fn sender(
    runtime: &Runtime,
    source: &Source,
    peer: IpAddr,
    headers: &HeaderMap,
) -> Result<IpAddr, Refusal> {
    let name = source.name.as_str();
    let server = &runtime.server;
    let client = client_ip(
        peer,
        headers,
        &server.trusted_proxies,
        server.client_ip_header,
    )
    .map_err(|unreadable| {
        tracing::warn!(source = name, %unreadable, "rejected: client address unreadable");
        Refusal::ClientUnreadable
    })?;
    if !source.admits(client) {
        tracing::warn!(source = name, client_ip = %client, "rejected: address not allowed");
        return Err(Refusal::NotAllowed);
    }
    if let Some(limit) = &source.limit
        && let Err(wait) = limit.check(client)
    {
        tracing::warn!(source = name, client_ip = %client, "rejected: client over the source's rate (429)");
        return Err(Refusal::RateLimited { wait });
    }
    if !source.authenticates(headers) {
        tracing::warn!(source = name, client_ip = %client, "rejected: missing or wrong token");
        return Err(Refusal::Unauthorized);
    }
    Ok(client)
}

/// Why the body could not be read within `max_body` and in time.
fn body_refusal(error: BodyError, max_body: usize, name: &str, client: IpAddr) -> Refusal {
    match error {
        BodyError::TooLarge => {
            tracing::warn!(source = name, client_ip = %client, limit = max_body, "rejected: body too large");
            Refusal::TooLarge { limit: max_body }
        }
        BodyError::Broken => Refusal::BodyBroken,
        BodyError::TooSlow => {
            tracing::warn!(source = name, client_ip = %client, "rejected: body too slow (408)");
            Refusal::TooSlow
        }
    }
}
