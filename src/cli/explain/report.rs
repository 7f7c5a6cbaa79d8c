//! What `explain` reports: one value, printed by `--json` through serde and
//! in a terminal by `display`. Plain data; must not decide anything.

use serde::Serialize;

use crate::rules::Trace;

/// What the relay would do with one payload.
#[derive(Debug, Serialize)]
pub struct Explanation {
    /// The source it is explained for.
    pub source: String,
    /// Things `serve` would do differently before routing (a missing token,
    /// a body over `max_body`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    /// Every route, in order.
    pub routes: Vec<RouteReport>,
    /// One per target that would receive the webhook, in decision order.
    pub deliveries: Vec<Delivery>,
}

/// One route and whether it matched.
#[derive(Debug, Serialize)]
pub struct RouteReport {
    /// Its name (`routes[i]` if unnamed).
    pub name: String,
    /// Whether it matched.
    pub matched: bool,
    /// Why, condition by condition; absent for a route without `when`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub when: Option<Trace>,
    /// The targets it names.
    pub to: Vec<String>,
}

/// What one target would receive.
#[derive(Debug, Serialize)]
pub struct Delivery {
    /// The target.
    pub target: String,
    /// The first matching route that named it.
    pub route: String,
    /// `none`, `select`, `omit` or `jq`.
    pub transform: &'static str,
    /// HTTP method.
    pub method: String,
    /// The target's URL with everything after the origin redacted.
    pub url: String,
    /// The request headers, configured values redacted, in send order.
    pub headers: Vec<Header>,
    /// The exact body, as text; absent when rendering failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    /// Why the body could not be rendered: `serve` logs this and sends
    /// nothing to this target.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// One request header.
#[derive(Debug, Serialize)]
pub struct Header {
    /// Lower-case name.
    pub name: String,
    /// The value, [`REDACTED`](super::REDACTED) or a `<placeholder>` for per-attempt values.
    pub value: String,
}
