//! Secret-bearing config values: a string, where `${NAME}` reads the
//! environment, or `{file: /path}`, read when the config is compiled.
//!
//! Compiling runs at start-up and on every reload, so a rotated file (a
//! Docker or Kubernetes secret, a systemd credential) is picked up by the next
//! SIGHUP. This module resolves values only; what a value means (a token, a
//! header, a signing key) is its caller's business. No message it returns
//! contains a value: a missing variable is named, an unreadable file is named
//! by its path, never by its contents.

use std::fmt;

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::config::interpolate::{self, Env, InterpolateError};
use crate::config::{SecretConfig, SecretSource};

/// Why a secret could not be had. Names a variable or a path, never a
/// value or a file's contents.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    /// A `${NAME}` in the text or the path.
    #[error(transparent)]
    Interpolate(#[from] InterpolateError),
    /// The file could not be opened or read.
    #[error("cannot read secret file {path}: {source}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    /// A directory, a FIFO, a socket or a device.
    #[error("secret file {path} is {kind}")]
    NotAFile { path: String, kind: &'static str },
    /// More than [`MAX_FILE`] bytes.
    #[error("secret file {path} is larger than {MAX_FILE} bytes")]
    TooLarge { path: String },
    /// Not text.
    #[error("secret file {path} is not UTF-8 text")]
    NotUtf8 { path: String },
    /// Nothing but line breaks.
    #[error("secret file {path} is empty")]
    Empty { path: String },
}

impl SecretConfig {
    /// The secret. Reads the file, if it is one, now. The error never
    /// contains the secret or the file's contents.
    pub fn resolve(&self, env: &Env) -> Result<String, SecretError> {
        match &self.0.value {
            SecretSource::Text(text) => Ok(interpolate::resolve(text, env)?),
            SecretSource::File(path) => {
                let path = interpolate::resolve(path, env)?;
                if env.is_stand_in() {
                    return Ok(interpolate::STAND_IN.to_owned());
                }
                env.note_file(std::path::Path::new(&path));
                read(&path)
            }
        }
    }
}

/// The largest secrets file read: keys and tokens are far smaller, and a
/// file this big is a wrong path.
pub const MAX_FILE: u64 = 64 * 1024;

/// Reads a secrets file: a regular file (a symlink to one is fine) of at
/// most [`MAX_FILE`] bytes. A FIFO, a socket or a device is refused before it
/// is opened: opening a FIFO blocks until someone writes, and `/dev/zero`
/// never ends, which would hang `check`, start-up and every reload.
fn read(path: &str) -> Result<String, SecretError> {
    use std::io::Read;
    let cannot = |source| SecretError::Read {
        path: path.to_owned(),
        source,
    };
    let not_a_file = |kind| SecretError::NotAFile {
        path: path.to_owned(),
        kind,
    };
    let kind = |meta: &std::fs::Metadata| {
        let kind = meta.file_type();
        if kind.is_file() {
            None
        } else if kind.is_dir() {
            Some("a directory")
        } else {
            Some("not a regular file (a FIFO, socket or device)")
        }
    };
    let too_big = || SecretError::TooLarge {
        path: path.to_owned(),
    };
    let meta = std::fs::metadata(path).map_err(cannot)?;
    if let Some(kind) = kind(&meta) {
        return Err(not_a_file(kind));
    }
    if meta.len() > MAX_FILE {
        return Err(too_big());
    }
    // Checked again on the opened file, and read with a bound, for a path
    // swapped or grown since (the window left is between `metadata` and
    // `open`, in a directory the operator controls).
    let file = std::fs::File::open(path).map_err(cannot)?;
    if let Some(kind) = file.metadata().ok().as_ref().and_then(kind) {
        return Err(not_a_file(kind));
    }
    let mut bytes = Vec::new();
    file.take(MAX_FILE + 1)
        .read_to_end(&mut bytes)
        .map_err(cannot)?;
    if bytes.len() as u64 > MAX_FILE {
        return Err(too_big());
    }
    // The contents are not quoted in any error: a file that is not text may
    // still be a secret.
    let text = String::from_utf8(bytes).map_err(|_| SecretError::NotUtf8 {
        path: path.to_owned(),
    })?;
    let secret = text.trim_end_matches(['\n', '\r']);
    if secret.is_empty() {
        return Err(SecretError::Empty {
            path: path.to_owned(),
        });
    }
    Ok(secret.to_owned())
}

/// A secret kept only as its SHA-256, for comparing what a client
/// presents (a source's token, the admin API's bearer token). Digests are
/// compared in constant time, so neither the secret's length nor a matching
/// prefix leaks through timing.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretDigest([u8; 32]);

impl SecretDigest {
    /// The digest of `secret`.
    pub fn of(secret: &[u8]) -> SecretDigest {
        SecretDigest(Sha256::digest(secret).into())
    }

    /// Whether `presented` is the secret.
    pub fn matches(&self, presented: &[u8]) -> bool {
        SecretDigest::of(presented).0.ct_eq(&self.0).into()
    }
}

impl fmt::Debug for SecretDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretDigest(..)")
    }
}

/// Whether `presented` equals `secret`, in constant time (see
/// [`SecretDigest`]).
pub fn same(presented: &[u8], secret: &[u8]) -> bool {
    SecretDigest::of(secret).matches(presented)
}

#[cfg(test)]
mod tests;
