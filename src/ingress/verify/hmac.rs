//! A single-header HMAC of the body, inbound: GitHub's
//! `X-Hub-Signature-256: sha256=<hex>`, Shopify's base64 one. No timestamp,
//! so no replay protection.
//!
//! Pure: a function of the headers and the body.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, KeyInit, Mac};
use http::{HeaderMap, HeaderName};
use sha2::{Sha256, Sha512};

use super::Rejection;
use crate::config::interpolate::Env;
use crate::config::problems::Problems;
use crate::config::{Algorithm, Encoding, HmacConfig};

/// A single-header HMAC check.
pub struct HmacCheck {
    pub(super) header: HeaderName,
    pub(super) prefix: String,
    pub(super) encoding: Encoding,
    /// Boxed: a keyed SHA-512 state is ten times the size of the rest.
    pub(super) key: Box<HmacKey>,
}

#[derive(Clone)]
pub(super) enum HmacKey {
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

/// Compiles `verify.hmac` at `place`.
pub(super) fn compile(
    hmac: &HmacConfig,
    place: &str,
    env: &Env,
    problems: &mut Problems,
) -> Option<HmacCheck> {
    let header = HeaderName::try_from(hmac.header.value.as_str())
        .map_err(|_| {
            problems.push(
                format!("{place}.header"),
                Some(&hmac.header.referenced),
                format!("`{}` is not a valid header name", hmac.header.value),
            )
        })
        .ok();
    let at = hmac.secret.referenced();
    let secret = match hmac.secret.resolve(env) {
        Ok(secret) if secret.is_empty() => {
            problems.push(format!("{place}.secret"), Some(at), "the secret is empty");
            return None;
        }
        Ok(secret) => secret,
        Err(e) => {
            problems.push(format!("{place}.secret"), Some(at), e);
            return None;
        }
    };
    let key = match hmac.algorithm {
        Algorithm::Sha256 => Hmac::<Sha256>::new_from_slice(secret.as_bytes()).map(HmacKey::Sha256),
        Algorithm::Sha512 => Hmac::<Sha512>::new_from_slice(secret.as_bytes()).map(HmacKey::Sha512),
    }
    .map_err(|_| problems.push(format!("{place}.secret"), Some(at), "HMAC refused the key"))
    .ok()?;
    Some(HmacCheck {
        header: header?,
        prefix: hmac.prefix.clone(),
        encoding: hmac.encoding,
        key: Box::new(key),
    })
}

/// Checks a single-header HMAC of `body`.
pub fn check_hmac(check: &HmacCheck, headers: &HeaderMap, body: &[u8]) -> Result<(), Rejection> {
    let name = check.header.as_str();
    let value = headers
        .get(&check.header)
        .ok_or_else(|| Rejection::Missing(name.to_owned()))?
        .to_str()
        .map_err(|_| Rejection::NotAscii(name.to_owned()))?;
    let Some(encoded) = value.trim().strip_prefix(check.prefix.as_str()) else {
        return Err(Rejection::NoPrefix {
            header: name.to_owned(),
            prefix: check.prefix.clone(),
        });
    };
    let presented = match check.encoding {
        Encoding::Hex => decode_hex(encoded).ok_or_else(|| Rejection::NotHex(name.to_owned()))?,
        Encoding::Base64 => STANDARD
            .decode(encoded)
            .map_err(|_| Rejection::NotBase64(name.to_owned()))?,
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
        Err(Rejection::Mismatch(name.to_owned()))
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
