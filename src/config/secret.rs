//! Secret-bearing values as written: a string, where `${NAME}` reads the
//! environment, or `{file: /path}`; and a Standard Webhooks secret or
//! several.
//!
//! Parsing only: reading the environment or the file is `secret.rs`'s
//! job, at compile time.

use std::fmt;

use serde::Deserialize;
use serde::de::{self, Deserializer, EnumAccess, VariantAccess, Visitor};

use serde_saphyr::Location;

use super::Located;

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

impl SecretConfig {
    /// Where the value is in `routes.yaml`.
    pub fn referenced(&self) -> &Location {
        &self.0.referenced
    }

    /// Whether the value comes from the environment or a file, rather than
    /// being written out in `routes.yaml`.
    pub fn is_secret(&self) -> bool {
        match &self.0.value {
            SecretSource::Text(text) => text.contains("${"),
            SecretSource::File(_) => true,
        }
    }
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

/// `targets.NAME.sign` and `sources.NAME.verify.standard_webhooks`: one
/// Standard Webhooks secret, or several while rotating.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WebhookSecretsConfig {
    /// `whsec_` followed by base64, e.g. `"${CRM_SIGNING_SECRET}"` or
    /// `{file: /run/secrets/crm_signing}`. Generate one with
    /// `echo whsec_$(openssl rand -base64 32)`.
    pub secret: Option<SecretConfig>,
    /// Several secrets, for rotation: outbound, each signs (one
    /// `webhook-signature` entry per secret); inbound, any may verify.
    pub secrets: Option<Vec<SecretConfig>>,
}
