//! Standard Webhooks, inbound: the `webhook-id`, `webhook-timestamp` and
//! `webhook-signature` headers, checked against the source's keys.
//!
//! Pure: `now` is an argument; remembering ids is `seen.rs`'s job.

use std::fmt;
use std::sync::{Arc, Mutex};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::Mac;
use http::HeaderMap;
use subtle::ConstantTimeEq;

use super::seen::SeenIds;
use super::{MAX_SEEN, Rejection, TOLERANCE};
use crate::config::WebhookSecretsConfig;
use crate::config::interpolate::Env;
use crate::config::problems::Problems;
use crate::dispatch::sign::{self, Key};

/// Standard Webhooks keys and the ids already taken.
pub struct StandardWebhooks {
    pub(super) keys: Vec<Key>,
    pub(super) seen: Arc<Mutex<SeenIds>>,
}

impl fmt::Debug for StandardWebhooks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StandardWebhooks")
            .field("keys", &self.keys.len())
            .finish_non_exhaustive()
    }
}

/// Compiles `verify.standard_webhooks` at `place`, with an empty memory.
pub(super) fn compile(
    secrets: &WebhookSecretsConfig,
    place: &str,
    env: &Env,
    problems: &mut Problems,
) -> Option<StandardWebhooks> {
    // The sender chose the key; any non-empty one is taken.
    let keys = sign::compile_keys(secrets, place, env, 1, problems)?;
    Some(StandardWebhooks {
        keys,
        seen: Arc::new(Mutex::new(SeenIds::new(MAX_SEEN))),
    })
}

/// The authenticated parts of a Standard Webhooks request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Message<'a> {
    /// `webhook-id`.
    pub id: &'a str,
    /// `webhook-timestamp`, Unix seconds.
    pub timestamp: u64,
}

/// Checks the Standard Webhooks headers: present, a timestamp within
/// [`TOLERANCE`] of `now`, and a `v1` signature by one of `keys`.
pub fn check_standard<'h>(
    keys: &[Key],
    headers: &'h HeaderMap,
    body: &[u8],
    now: u64,
) -> Result<Message<'h>, Rejection> {
    let header = |name: &'static str| {
        headers
            .get(name)
            .ok_or_else(|| Rejection::Missing(name.to_owned()))?
            .to_str()
            .map_err(|_| Rejection::NotAscii(name.to_owned()))
    };
    let id = header("webhook-id")?;
    let timestamp = header("webhook-timestamp")?;
    let signatures = header(sign::SIGNATURE_HEADER)?;
    let timestamp: u64 = timestamp.parse().map_err(|_| Rejection::NotUnixTime)?;
    if timestamp.saturating_add(TOLERANCE) < now {
        return Err(Rejection::TooOld);
    }
    if timestamp > now.saturating_add(TOLERANCE) {
        return Err(Rejection::TooNew);
    }
    // One MAC per key, compared with every entry: the work does not grow with
    // the number of entries a sender (or an attacker) puts in the header.
    let expected: Vec<_> = keys
        .iter()
        .map(|key| sign::mac(key, id, timestamp, body).finalize().into_bytes())
        .collect();
    let matched = signatures
        .split(' ')
        .filter_map(|entry| entry.split_once(','))
        .filter(|(version, _)| *version == "v1")
        .filter_map(|(_, encoded)| STANDARD.decode(encoded).ok())
        .any(|presented| {
            expected
                .iter()
                .any(|tag| bool::from(tag.as_slice().ct_eq(&presented)))
        });
    if matched {
        Ok(Message { id, timestamp })
    } else {
        Err(Rejection::NoEntryMatches)
    }
}
