//! `sources.NAME.verify`: the inbound signature check, as written.
//!
//! Parsing only: `ingress/verify` compiles it into a `Verifier`.

use serde::Deserialize;

use super::{Located, SecretConfig, WebhookSecretsConfig};

/// `sources.NAME.verify`: one scheme.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum VerifyConfig {
    /// Standard Webhooks: `{standard_webhooks: {secret: whsec_...}}`, or
    /// `secrets: [..]` while the sender rotates.
    StandardWebhooks(WebhookSecretsConfig),
    /// An HMAC of the body in one header.
    Hmac(HmacConfig),
}

/// `sources.NAME.verify.hmac`.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HmacConfig {
    /// The header carrying the signature, e.g. `X-Hub-Signature-256`.
    #[schemars(with = "String")]
    pub header: Located<String>,
    /// `sha256` (default) or `sha512`.
    #[serde(default)]
    pub algorithm: Algorithm,
    /// How the MAC is written: `hex` (default, either case) or `base64`.
    #[serde(default)]
    pub encoding: Encoding,
    /// Text before the MAC in the header, e.g. `sha256=`. Default none.
    #[serde(default)]
    pub prefix: String,
    /// The shared secret, used as bytes as written (not base64-decoded).
    pub secret: SecretConfig,
}

/// The hash under the HMAC.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Algorithm {
    /// HMAC-SHA256.
    #[default]
    Sha256,
    /// HMAC-SHA512.
    Sha512,
}

/// How the MAC is written in the header.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Encoding {
    /// Hexadecimal, upper or lower case.
    #[default]
    Hex,
    /// Standard base64, with or without padding.
    Base64,
}
