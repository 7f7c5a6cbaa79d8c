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

use serde::Deserialize;
use serde::de::{self, Deserializer, EnumAccess, VariantAccess, Visitor};
use serde_saphyr::Location;

use crate::config::Located;
use crate::config::interpolate::{self, Env};

/// A secret as written in `routes.yaml`: `"Bearer ${CRM_TOKEN}"`, a plain
/// string, or `{file: /run/secrets/crm_token}`.
///
/// The whole value carries its position, so a problem can point at it.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(transparent)]
pub struct SecretConfig(#[schemars(with = "SecretShape")] pub Located<SecretSource>);

// The JSON Schema of a `SecretConfig`; never constructed.
/// A secret: a string (`${NAME}` reads the environment) or `{file: /path}`.
#[derive(schemars::JsonSchema)]
#[serde(untagged)]
#[allow(dead_code)]
enum SecretShape {
    /// The secret; `${NAME}` and `${NAME:-default}` read the environment.
    Text(String),
    /// `{file: /path}`: read at start-up and on every reload.
    File(FileShape),
}

/// `{file: /path}`.
#[derive(schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct FileShape {
    /// The file holding the secret; trailing line breaks are dropped.
    file: String,
}

/// Where a secret comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretSource {
    /// The text itself; `${NAME}` and `${NAME:-default}` read the environment.
    Text(String),
    /// A file, read whole; trailing line breaks are dropped. The path may use
    /// `${NAME}`, e.g. `${CREDENTIALS_DIRECTORY}/crm_token`. A relative path is
    /// relative to the relay's working directory.
    File(String),
}

impl SecretConfig {
    /// Where the value is in `routes.yaml`.
    pub fn referenced(&self) -> &Location {
        &self.0.referenced
    }

    /// The secret. Reads the file, if it is one, now. The error never
    /// contains the secret or the file's contents.
    pub fn resolve(&self, env: &Env) -> Result<String, String> {
        match &self.0.value {
            SecretSource::Text(text) => interpolate::resolve(text, env).map_err(|e| e.to_string()),
            SecretSource::File(path) => {
                let path = interpolate::resolve(path, env).map_err(|e| e.to_string())?;
                if env.is_stand_in() {
                    return Ok(interpolate::STAND_IN.to_owned());
                }
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
fn read(path: &str) -> Result<String, String> {
    use std::io::Read;
    let cannot = |e: std::io::Error| format!("cannot read secret file {path}: {e}");
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
    let too_big = || format!("secret file {path} is larger than {MAX_FILE} bytes");
    let meta = std::fs::metadata(path).map_err(cannot)?;
    if let Some(kind) = kind(&meta) {
        return Err(format!("secret file {path} is {kind}"));
    }
    if meta.len() > MAX_FILE {
        return Err(too_big());
    }
    // Checked again on the opened file, and read with a bound, for a path
    // swapped or grown since (the window left is between `metadata` and
    // `open`, in a directory the operator controls).
    let file = std::fs::File::open(path).map_err(cannot)?;
    if let Some(kind) = file.metadata().ok().as_ref().and_then(kind) {
        return Err(format!("secret file {path} is {kind}"));
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
    let text =
        String::from_utf8(bytes).map_err(|_| format!("secret file {path} is not UTF-8 text"))?;
    let secret = text.trim_end_matches(['\n', '\r']);
    if secret.is_empty() {
        return Err(format!("secret file {path} is empty"));
    }
    Ok(secret.to_owned())
}

/// A plain scalar stays the text it was written as (`007`, `yes`, `0x1F` are
/// strings, not numbers or booleans), which an untagged enum cannot promise:
/// serde buffers untagged input as typed values and loses the spelling and
/// the position. Read as an externally tagged enum instead, a scalar arrives
/// as a variant name with its exact text, and `{file: ..}` as the `file`
/// variant with its payload.
impl<'de> Deserialize<'de> for SecretSource {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_enum("SecretSource", &["file"], SourceVisitor)
    }
}

struct SourceVisitor;

impl<'de> Visitor<'de> for SourceVisitor {
    type Value = SecretSource;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a string (`${NAME}` reads the environment) or `{file: /path}`")
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<SecretSource, E> {
        Ok(SecretSource::Text(text.to_owned()))
    }

    fn visit_enum<A: EnumAccess<'de>>(self, data: A) -> Result<SecretSource, A::Error> {
        let (name, variant): (String, _) = data.variant()?;
        if name == "file" {
            Ok(SecretSource::File(variant.newtype_variant()?))
        } else {
            variant.unit_variant()?;
            Ok(SecretSource::Text(name))
        }
    }
}

#[cfg(test)]
mod tests;
