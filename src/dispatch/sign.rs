//! Standard Webhooks v1 signatures for outbound deliveries.
//!
//! `webhook-signature: v1,<base64(HMAC-SHA256(key, "{id}.{timestamp}.{body}"))>`,
//! one entry per key, space-separated, so that a receiver can move to a new
//! secret while the old one still verifies. Secrets are written
//! `whsec_<base64>`; the key is the decoded part.
//!
//! Pure: the id, the timestamp and the exact bytes come from `deliver.rs`;
//! nothing here reads a clock or sends anything. `verify.rs` checks inbound
//! signatures with the same [`mac`].

use std::fmt;

use base64::Engine;
use base64::alphabet;
use base64::engine::DecodePaddingMode;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use crate::config::interpolate::Env;
use crate::config::problems::Problems;
use crate::config::{SecretConfig, WebhookSecretsConfig};

/// What a Standard Webhooks secret starts with.
pub const SECRET_PREFIX: &str = "whsec_";

/// The shortest key `sign` accepts, in bytes: the spec asks senders for 24
/// to 64 random bytes.
pub const MIN_SIGNING_KEY: usize = 24;

/// The header the signatures go in.
pub const SIGNATURE_HEADER: &str = "webhook-signature";

/// Decodes with or without `=` padding: both spellings are in circulation.
const LENIENT: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// The advice a key's error ends with.
const GENERATE: &str = "generate one with `echo whsec_$(openssl rand -base64 32)`";

/// Why a Standard Webhooks secret is not a usable key. Describes the
/// shape, never the secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// No `whsec_` in front.
    #[error(
        "not a Standard Webhooks secret: it must be `{SECRET_PREFIX}` followed by base64 ({GENERATE})"
    )]
    NoPrefix,
    /// The decoder's own message would quote the offending character.
    #[error("the part after `{SECRET_PREFIX}` is not base64 (A-Z, a-z, 0-9, `+`, `/`)")]
    NotBase64,
    /// Fewer bytes than the caller asked for.
    #[error("the key is {len} bytes; at least {min} are needed ({GENERATE})")]
    TooShort { len: usize, min: usize },
    /// The MAC would not take it.
    #[error("HMAC refused the key")]
    Refused,
    /// [`Signer::from_secrets`] with an empty list.
    #[error("no secret given")]
    NoSecret,
}

/// An HMAC-SHA256 key, with its key schedule done once at compile time.
pub type Key = Hmac<Sha256>;

/// Signs deliveries for one target with one or more keys.
#[derive(Clone)]
pub struct Signer {
    keys: Vec<Key>,
}

impl fmt::Debug for Signer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Signer")
            .field("keys", &self.keys.len())
            .finish()
    }
}

impl Signer {
    /// A signer from `whsec_` secrets, for tools and tests; config goes
    /// through [`compile`].
    pub fn from_secrets<S: AsRef<str>>(secrets: &[S]) -> Result<Signer, KeyError> {
        let keys = secrets
            .iter()
            .map(|s| key(s.as_ref(), MIN_SIGNING_KEY))
            .collect::<Result<Vec<_>, _>>()?;
        if keys.is_empty() {
            return Err(KeyError::NoSecret);
        }
        Ok(Signer { keys })
    }

    /// The `webhook-signature` value for `body` sent as message `id` at
    /// `timestamp` (Unix seconds): `v1,<base64>` per key, space-separated.
    pub fn sign(&self, id: &str, timestamp: u64, body: &[u8]) -> String {
        self.keys
            .iter()
            .map(|key| {
                let tag = mac(key, id, timestamp, body).finalize().into_bytes();
                format!("v1,{}", STANDARD.encode(tag))
            })
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// The MAC over `{id}.{timestamp}.{body}`, ready to finalize or verify.
pub fn mac(key: &Key, id: &str, timestamp: u64, body: &[u8]) -> Key {
    let mut mac = key.clone();
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

/// Parses a `whsec_<base64>` secret into a key of at least `min_len` bytes.
/// The error describes the shape, never the secret.
pub fn key(secret: &str, min_len: usize) -> Result<Key, KeyError> {
    let secret = secret.trim();
    let encoded = secret
        .strip_prefix(SECRET_PREFIX)
        .ok_or(KeyError::NoPrefix)?;
    let bytes = LENIENT.decode(encoded).map_err(|_| KeyError::NotBase64)?;
    let min = min_len.max(1);
    if bytes.len() < min {
        return Err(KeyError::TooShort {
            len: bytes.len(),
            min,
        });
    }
    Key::new_from_slice(&bytes).map_err(|_| KeyError::Refused)
}

/// Compiles `secret` / `secrets` into keys of at least `min_len` bytes,
/// recording every problem under `place`.
pub fn compile_keys(
    cfg: &WebhookSecretsConfig,
    place: &str,
    env: &Env,
    min_len: usize,
    problems: &mut Problems,
) -> Option<Vec<Key>> {
    let secrets: Vec<(String, &SecretConfig)> = match (&cfg.secret, &cfg.secrets) {
        (Some(one), None) => vec![(format!("{place}.secret"), one)],
        (None, Some(many)) if !many.is_empty() => many
            .iter()
            .enumerate()
            .map(|(i, s)| (format!("{place}.secrets[{i}]"), s))
            .collect(),
        (None, Some(_)) => {
            problems.push(format!("{place}.secrets"), None, "lists no secret");
            return None;
        }
        (None, None) => {
            problems.push(
                place,
                None,
                "needs `secret` or `secrets`, e.g. `{secret: \"${WEBHOOK_SECRET}\"}`",
            );
            return None;
        }
        (Some(_), Some(_)) => {
            problems.push(place, None, "set `secret` or `secrets`, not both");
            return None;
        }
    };
    let mut keys = Vec::with_capacity(secrets.len());
    let mut complete = true;
    for (place, secret) in secrets {
        let at = Some(secret.referenced());
        match secret.resolve(env).map(|text| key(&text, min_len)) {
            Ok(Ok(key)) => keys.push(key),
            Ok(Err(e)) => {
                problems.push(place, at, e);
                complete = false;
            }
            Err(e) => {
                problems.push(place, at, e);
                complete = false;
            }
        }
    }
    complete.then_some(keys)
}

/// Compiles `targets.NAME.sign`.
pub fn compile(
    cfg: &WebhookSecretsConfig,
    place: &str,
    env: &Env,
    problems: &mut Problems,
) -> Option<Signer> {
    compile_keys(cfg, place, env, MIN_SIGNING_KEY, problems).map(|keys| Signer { keys })
}

#[cfg(test)]
mod tests;
