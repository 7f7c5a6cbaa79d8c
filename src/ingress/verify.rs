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

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, KeyInit, Mac};
use http::{HeaderMap, HeaderName};
use sha2::{Sha256, Sha512};
use subtle::ConstantTimeEq;

use crate::config::interpolate::Env;
use crate::config::problems::Problems;
use crate::config::{Algorithm, Encoding, VerifyConfig};
use crate::dispatch::sign::{self, Key};

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

/// Standard Webhooks keys and the ids already taken.
pub struct StandardWebhooks {
    keys: Vec<Key>,
    seen: Arc<Mutex<SeenIds>>,
}

impl fmt::Debug for StandardWebhooks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StandardWebhooks")
            .field("keys", &self.keys.len())
            .finish_non_exhaustive()
    }
}

/// A single-header HMAC check.
pub struct HmacCheck {
    header: HeaderName,
    prefix: String,
    encoding: Encoding,
    /// Boxed: a keyed SHA-512 state is ten times the size of the rest.
    key: Box<HmacKey>,
}

#[derive(Clone)]
enum HmacKey {
    Sha256(Hmac<Sha256>),
    Sha512(Hmac<Sha512>),
}

impl fmt::Debug for HmacCheck {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HmacCheck")
            .field("header", &self.header)
            .field("prefix", &self.prefix)
            .field("encoding", &self.encoding)
            .finish_non_exhaustive()
    }
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
                    Err(reason) => return Verdict::Reject(reason),
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
                Err(reason) => Verdict::Reject(reason),
            },
        }
    }
}

/// A `webhook-id` held for a request in progress.
pub struct Claim(Option<Held>);

struct Held {
    seen: Arc<Mutex<SeenIds>>,
    id: String,
    /// When its window closes, Unix seconds.
    until: u64,
}

impl Claim {
    /// A claim on nothing: for sources without replay protection.
    pub fn none() -> Claim {
        Claim(None)
    }

    /// The `webhook-id` held, and when its window closes (Unix seconds):
    /// what the spool must remember with the webhook.
    pub fn id(&self) -> Option<(&str, u64)> {
        self.0.as_ref().map(|held| (held.id.as_str(), held.until))
    }

    /// The webhook is stored: remember its id for the rest of the window.
    pub fn keep(mut self) {
        self.0 = None;
    }
}

impl Drop for Claim {
    fn drop(&mut self) {
        if let Some(held) = self.0.take() {
            lock(&held.seen).release(&held.id);
        }
    }
}

impl fmt::Debug for Claim {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Some(held) => write!(f, "Claim({})", held.id),
            None => f.write_str("Claim(none)"),
        }
    }
}

fn lock(seen: &Mutex<SeenIds>) -> MutexGuard<'_, SeenIds> {
    // The store stays consistent whatever a panicking holder was doing: every
    // change is a single insert or remove.
    seen.lock().unwrap_or_else(|e| e.into_inner())
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
) -> Result<Message<'h>, String> {
    let header = |name: &'static str| {
        headers
            .get(name)
            .ok_or_else(|| format!("missing {name} header"))?
            .to_str()
            .map_err(|_| format!("the {name} header is not visible ASCII"))
    };
    let id = header("webhook-id")?;
    let timestamp = header("webhook-timestamp")?;
    let signatures = header(sign::SIGNATURE_HEADER)?;
    let timestamp: u64 = timestamp
        .parse()
        .map_err(|_| "webhook-timestamp is not a Unix time in seconds".to_owned())?;
    if timestamp.saturating_add(TOLERANCE) < now {
        return Err("webhook-timestamp is more than 5 minutes old".to_owned());
    }
    if timestamp > now.saturating_add(TOLERANCE) {
        return Err("webhook-timestamp is more than 5 minutes in the future".to_owned());
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
        Err("no webhook-signature entry matches".to_owned())
    }
}

/// Checks a single-header HMAC of `body`.
pub fn check_hmac(check: &HmacCheck, headers: &HeaderMap, body: &[u8]) -> Result<(), String> {
    let name = check.header.as_str();
    let value = headers
        .get(&check.header)
        .ok_or_else(|| format!("missing {name} header"))?
        .to_str()
        .map_err(|_| format!("the {name} header is not visible ASCII"))?;
    let Some(encoded) = value.trim().strip_prefix(check.prefix.as_str()) else {
        return Err(format!(
            "the {name} header does not start with `{}`",
            check.prefix
        ));
    };
    let presented = match check.encoding {
        Encoding::Hex => {
            decode_hex(encoded).ok_or_else(|| format!("the {name} signature is not hex"))?
        }
        Encoding::Base64 => STANDARD
            .decode(encoded)
            .map_err(|_| format!("the {name} signature is not base64"))?,
    };
    let matched = match check.key.as_ref() {
        HmacKey::Sha256(key) => {
            let mut mac = key.clone();
            mac.update(body);
            mac.verify_slice(&presented).is_ok()
        }
        HmacKey::Sha512(key) => {
            let mut mac = key.clone();
            mac.update(body);
            mac.verify_slice(&presented).is_ok()
        }
    };
    if matched {
        Ok(())
    } else {
        Err(format!("the {name} signature does not match"))
    }
}

fn decode_hex(text: &str) -> Option<Vec<u8>> {
    let digits = text.as_bytes();
    if !digits.len().is_multiple_of(2) {
        return None;
    }
    let nibble = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
    digits
        .chunks_exact(2)
        .map(|pair| Some(nibble(pair[0])? << 4 | nibble(pair[1])?))
        .collect()
}

/// The `webhook-id`s one source has taken, each until its window closes.
/// Bounded: expired ids are dropped on every claim, and past `cap` the
/// oldest goes first.
#[derive(Debug)]
pub struct SeenIds {
    until: HashMap<String, u64>,
    /// `(until, id)` in claim order; may hold released ids, which count
    /// toward `cap` until they age out, so the queue is bounded too.
    order: VecDeque<(u64, String)>,
    cap: usize,
}

impl SeenIds {
    /// An empty store holding at most `cap` ids.
    pub fn new(cap: usize) -> SeenIds {
        SeenIds {
            until: HashMap::new(),
            order: VecDeque::new(),
            cap: cap.max(1),
        }
    }

    /// Takes `id` until `until` (Unix seconds). False if it is already taken
    /// and its window has not closed at `now`.
    pub fn claim(&mut self, id: &str, now: u64, until: u64) -> bool {
        while let Some((expires, _)) = self.order.front() {
            if *expires > now && self.order.len() < self.cap {
                break;
            }
            self.evict_oldest();
        }
        if self.until.get(id).is_some_and(|&expires| expires > now) {
            return false;
        }
        self.until.insert(id.to_owned(), until);
        self.order.push_back((until, id.to_owned()));
        true
    }

    /// Forgets `id`: its request did not go through.
    pub fn release(&mut self, id: &str) {
        self.until.remove(id);
    }

    /// How many ids are held.
    pub fn len(&self) -> usize {
        self.until.len()
    }

    /// Whether no id is held.
    pub fn is_empty(&self) -> bool {
        self.until.is_empty()
    }

    fn evict_oldest(&mut self) {
        if let Some((expires, id)) = self.order.pop_front()
            && self.until.get(&id) == Some(&expires)
        {
            self.until.remove(&id);
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
        VerifyConfig::StandardWebhooks(secrets) => {
            let place = format!("{place}.standard_webhooks");
            // The sender chose the key; any non-empty one is taken.
            let keys = sign::compile_keys(secrets, &place, env, 1, problems)?;
            Some(Verifier::StandardWebhooks(StandardWebhooks {
                keys,
                seen: Arc::new(Mutex::new(SeenIds::new(MAX_SEEN))),
            }))
        }
        VerifyConfig::Hmac(hmac) => {
            let place = format!("{place}.hmac");
            let header = HeaderName::try_from(hmac.header.value.as_str())
                .map_err(|_| {
                    problems.push(
                        format!("{place}.header"),
                        Some(&hmac.header.referenced),
                        format!("`{}` is not a valid header name", hmac.header.value),
                    )
                })
                .ok();
            let secret = hmac
                .secret
                .resolve(env)
                .and_then(|s| {
                    if s.is_empty() {
                        Err("the secret is empty".to_owned())
                    } else {
                        Ok(s)
                    }
                })
                .map_err(|e| {
                    problems.push(format!("{place}.secret"), Some(hmac.secret.referenced()), e)
                })
                .ok()?;
            let key = match hmac.algorithm {
                Algorithm::Sha256 => {
                    Hmac::<Sha256>::new_from_slice(secret.as_bytes()).map(HmacKey::Sha256)
                }
                Algorithm::Sha512 => {
                    Hmac::<Sha512>::new_from_slice(secret.as_bytes()).map(HmacKey::Sha512)
                }
            }
            .map_err(|_| {
                problems.push(
                    format!("{place}.secret"),
                    Some(hmac.secret.referenced()),
                    "HMAC refused the key",
                )
            })
            .ok()?;
            Some(Verifier::Hmac(HmacCheck {
                header: header?,
                prefix: hmac.prefix.clone(),
                encoding: hmac.encoding,
                key: Box::new(key),
            }))
        }
    }
}

#[cfg(test)]
mod tests;
