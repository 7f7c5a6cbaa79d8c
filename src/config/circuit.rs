//! `server.circuit` and `targets.NAME.circuit`, as written.
//!
//! Parsing only: `dispatch/circuit` compiles it into a `CircuitPolicy`.

use serde::Deserialize;

use super::Located;

/// `server.circuit` and `targets.NAME.circuit`. A target's fields override
/// the server's one by one (see [`compile_over`]).
#[derive(Debug, Clone, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CircuitConfig {
    /// Consecutive failed attempts that open the circuit. Default 5. Only
    /// failures that would be retried count (timeouts, connection errors,
    /// `retry_on` statuses); a 400 says nothing about the target's health.
    pub failures: Option<u32>,
    /// How long an open circuit holds deliveries back before one probe goes
    /// through, e.g. `30s`. Each failed probe doubles it, up to
    /// `max_cooldown`. Default `30s`; at most `1d`. Keep it longer than the
    /// target's `timeout`, or a slow probe is presumed lost and a second one
    /// sent.
    #[schemars(with = "Option<String>")]
    pub cooldown: Option<Located<String>>,
    /// The longest the doubling may stretch the cooldown, e.g. `1m`: a target
    /// that recovers is probed again within this long. Default `1m`; at most
    /// `1d`. A `cooldown` longer than this is used as it is, without
    /// doubling.
    #[schemars(with = "Option<String>")]
    pub max_cooldown: Option<Located<String>>,
}
