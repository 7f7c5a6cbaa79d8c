//! Inbound verification: did this webhook come from the holder of the
//! source's secret, recently, and only once?
//!
//! Two schemes. `standard_webhooks`: the `webhook-id`, `webhook-timestamp`
//! and `webhook-signature` headers, a timestamp within [`TOLERANCE`] of now
//! either way, and a per-source memory of ids already taken, so a replay is
//! answered without being forwarded again. The memory here is this
//! process's fast first check; the spool, which stores each taken id with
//! its webhook ([`Claim::id`]), is the authority that outlives restarts and
//! is shared by replicas. `hmac`: one header carrying an HMAC of the body
//! (GitHub's `X-Hub-Signature-256: sha256=<hex>`, Shopify's base64 one),
//! with no timestamp and so no replay protection.
//!
//! Decisions are functions of (headers, body, now, seen ids); ingress turns
//! a [`Verdict`] into a status. A rejection's reason says what was wrong,
//! never what was expected.
//!
//! Files: `standard` (Standard Webhooks), `hmac` (one header), `seen` (the
//! replay memory and the claim a request holds).

use http::HeaderMap;

use crate::config::VerifyConfig;
use crate::config::interpolate::Env;
use crate::config::problems::Problems;

mod hmac;
mod seen;
mod standard;

pub use hmac::{HmacCheck, check_hmac};
pub use seen::{Claim, SeenIds};
pub use standard::{Message, StandardWebhooks, check_standard};

use seen::{Held, lock};

/// How far `webhook-timestamp` may be from now, either way, in seconds: the
/// reference libraries' five minutes.
pub const TOLERANCE: u64 = 5 * 60;

/// Most `webhook-id`s remembered per source. Past this the oldest is
/// forgotten early: at more than 333 webhooks a second its replay window
/// shrinks, but memory stays bounded.
pub const MAX_SEEN: usize = 100_000;

/// A compiled check for one source.
#[derive(Debug)]
pub enum Verifier {
    /// Standard Webhooks, with this source's memory of ids.
    StandardWebhooks(StandardWebhooks),
    /// One HMAC header.
    Hmac(HmacCheck),
}

/// Why a request is not authentic, or not now. Says what was wrong, never
/// what was expected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    #[error("missing {0} header")]
    Missing(String),
    #[error("the {0} header is not visible ASCII")]
    NotAscii(String),
    #[error("webhook-timestamp is not a Unix time in seconds")]
    NotUnixTime,
    #[error("webhook-timestamp is more than 5 minutes old")]
    TooOld,
    #[error("webhook-timestamp is more than 5 minutes in the future")]
    TooNew,
    #[error("no webhook-signature entry matches")]
    NoEntryMatches,
    #[error("the {header} header does not start with `{prefix}`")]
    NoPrefix { header: String, prefix: String },
    #[error("the {0} signature is not hex")]
    NotHex(String),
    #[error("the {0} signature is not base64")]
    NotBase64(String),
    #[error("the {0} signature does not match")]
    Mismatch(String),
}

/// What to do with a request.
#[derive(Debug)]
pub enum Verdict {
    /// Authentic and new: take it. Keep the [`Claim`] once the webhook is
    /// stored; dropping it instead forgets the id, so that the sender's retry
    /// of a webhook that was refused (503, 400) is not taken for a replay.
    Accept(Claim),
    /// Authentic, but this `webhook-id` was already taken: answer 200 and
    /// forward nothing.
    Replay,
    /// Not authentic, or not now: answer 401 with the reason.
    Reject(String),
}

impl Verifier {
    /// Checks a request whose body is `body`; `now` is Unix seconds.
    pub fn verify(&self, headers: &HeaderMap, body: &[u8], now: u64) -> Verdict {
        match self {
            Verifier::StandardWebhooks(sw) => {
                let message = match check_standard(&sw.keys, headers, body, now) {
                    Ok(message) => message,
                    Err(reason) => return Verdict::Reject(reason.to_string()),
                };
                let until = message.timestamp.max(now) + TOLERANCE;
                if lock(&sw.seen).claim(message.id, now, until) {
                    Verdict::Accept(Claim(Some(Held {
                        seen: sw.seen.clone(),
                        id: message.id.to_owned(),
                        until,
                    })))
                } else {
                    Verdict::Replay
                }
            }
            Verifier::Hmac(check) => match check_hmac(check, headers, body) {
                Ok(()) => Verdict::Accept(Claim::none()),
                Err(reason) => Verdict::Reject(reason.to_string()),
            },
        }
    }
}

impl Verifier {
    /// Keeps the replay memory of the verifier this one replaces on reload,
    /// so a reload does not let a recently seen `webhook-id` through again.
    pub fn inherit(&mut self, previous: &Verifier) {
        if let (Verifier::StandardWebhooks(new), Verifier::StandardWebhooks(old)) = (self, previous)
        {
            new.seen = old.seen.clone();
        }
    }
}

/// Compiles `sources.NAME.verify`.
pub fn compile(
    cfg: &VerifyConfig,
    place: &str,
    env: &Env,
    problems: &mut Problems,
) -> Option<Verifier> {
    match cfg {
        VerifyConfig::StandardWebhooks(secrets) => standard::compile(
            secrets,
            &format!("{place}.standard_webhooks"),
            env,
            problems,
        )
        .map(Verifier::StandardWebhooks),
        VerifyConfig::Hmac(cfg) => {
            hmac::compile(cfg, &format!("{place}.hmac"), env, problems).map(Verifier::Hmac)
        }
    }
}

#[cfg(test)]
mod tests;
