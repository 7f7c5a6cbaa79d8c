//! The admin listener's decisions about a request before any handler runs:
//! which endpoint a method and path name (or why none: 404, 405), and
//! whether a request may reach `/api/*` at all: its `Host` must name the
//! listener (against DNS rebinding), it must not come from another web page
//! (`Origin`, `Sec-Fetch-Site`), and a POST must carry JSON (an HTML form
//! cannot send `application/json`, and a script on another page cannot
//! without a CORS preflight this listener never grants).
//!
//! Pure functions of the request line, the headers, the listener's address
//! and `server.admin_hosts`; they must not read the spool, the config in
//! force or a clock.

use std::net::{IpAddr, SocketAddr};

use http::header::{CONTENT_TYPE, ORIGIN};
use http::uri::Authority;
use http::{HeaderMap, Method, StatusCode};

/// What the admin listener serves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    Metrics,
    Healthz,
    Readyz,
    Status,
    /// One webhook's story, by id.
    Event(String),
    /// The event search.
    Events,
    /// One webhook's original bytes, by id.
    EventBody(String),
    /// One webhook's stored body explained against the rules in force.
    EventExplain(String),
    DeadLetters,
    Replay,
    Purge,
    Reload,
    /// `POST /api/deliveries/replay`.
    BulkReplay,
    /// `POST /api/deliveries/cancel`.
    BulkCancel,
    /// A bulk job's progress, by id.
    Job(String),
    /// Stop a bulk job, by id.
    StopJob(String),
    /// The audit log.
    Audit,
    /// Every target's state and recent counts.
    Targets,
    /// One target's counts per minute.
    TargetSeries(String),
    /// An operator's action on one target.
    TargetAction(String, TargetAction),
    /// The live tail (Server-Sent Events).
    Tail,
    /// This API's OpenAPI document.
    OpenApi,
    /// `POST /api/explain`: a payload explained against the rules in
    /// force; a read, though a POST (the payload is its body).
    Explain,
    /// `GET /api/config`: the config in force, secrets redacted.
    Config,
    /// `GET /api/dead-letters/groups`: dead and parked deliveries by
    /// target and error class.
    DeadGroups,
    /// `GET /api/whoami`: the caller's token name and role.
    Whoami,
}

impl Endpoint {
    /// Whether the endpoint only looks, whatever its method: what a token
    /// of role `read` may call.
    pub fn reads(&self, method: &Method) -> bool {
        *method == Method::GET || *method == Method::HEAD || matches!(self, Endpoint::Explain)
    }
}

/// What `POST /api/targets/<name>/<action>` does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TargetAction {
    Pause,
    Resume,
    Probe,
}

impl TargetAction {
    /// `pause`, `resume`, `probe`: the path's last segment, and the audit
    /// log's action.
    pub fn label(self) -> &'static str {
        match self {
            TargetAction::Pause => "pause",
            TargetAction::Resume => "resume",
            TargetAction::Probe => "probe",
        }
    }
}

/// Why a request is answered without reaching a handler.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// 404.
    NotFound,
    /// 405, with the methods the path takes.
    MethodNotAllowed { allow: &'static str },
    /// 403: the `Host` does not name this listener.
    Host { host: String, listener: SocketAddr },
    /// 403: sent by another web page; says which header showed it.
    CrossSite { evidence: String },
    /// 415: a POST without `Content-Type: application/json`.
    ContentType { found: Option<String> },
}

impl Refusal {
    pub fn status(&self) -> StatusCode {
        match self {
            Refusal::NotFound => StatusCode::NOT_FOUND,
            Refusal::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            Refusal::Host { .. } | Refusal::CrossSite { .. } => StatusCode::FORBIDDEN,
            Refusal::ContentType { .. } => StatusCode::UNSUPPORTED_MEDIA_TYPE,
        }
    }

    /// The `error` of the JSON answer: what was wrong and what would do.
    pub fn message(&self) -> String {
        match self {
            Refusal::NotFound => "no such path; the admin listener serves /metrics, /healthz, /readyz, /api/status, /api/events, /api/events/<id>(/body, /explain), /api/dead-letters, /api/dead-letters/replay, /api/dead-letters/purge, /api/deliveries/replay, /api/deliveries/cancel, /api/jobs/<id>, /api/audit, /api/reload, /api/targets, /api/targets/<name>/series, /api/targets/<name>/pause|resume|probe, /api/tail, /api/explain, /api/config, /api/dead-letters/groups, /api/whoami and /api/openapi.json (which describes them all)".to_owned(),
            Refusal::MethodNotAllowed { allow } => format!("method not allowed here; use {allow}"),
            Refusal::Host { host, listener } => format!(
                "Host `{host}` does not name this admin listener ({listener}); if the API is reached under that name (a proxy, a DNS name), add it to server.admin_hosts"
            ),
            Refusal::CrossSite { evidence } => format!(
                "cross-site request refused ({evidence}): the admin API takes no requests from other web pages"
            ),
            Refusal::ContentType { found } => format!(
                "POST bodies must be JSON: send `Content-Type: application/json` (got {})",
                found.as_deref().map_or_else(|| "none".to_owned(), |t| format!("`{t}`"))
            ),
        }
    }
}

/// The endpoint `method` and `path` name. A known path with another method
/// is a 405 (never a 404, and never the other way round).
pub fn route(method: &Method, path: &str) -> Result<Endpoint, Refusal> {
    let segments: Vec<&str> = path.strip_prefix('/').unwrap_or(path).split('/').collect();
    let (endpoint, takes) = match segments.as_slice() {
        ["metrics"] => (Endpoint::Metrics, Method::GET),
        ["healthz"] => (Endpoint::Healthz, Method::GET),
        ["readyz"] => (Endpoint::Readyz, Method::GET),
        ["api", "status"] => (Endpoint::Status, Method::GET),
        ["api", "events", id] if !id.is_empty() => (Endpoint::Event((*id).to_owned()), Method::GET),
        ["api", "events"] => (Endpoint::Events, Method::GET),
        ["api", "events", id, "body"] if !id.is_empty() => {
            (Endpoint::EventBody((*id).to_owned()), Method::GET)
        }
        ["api", "events", id, "explain"] if !id.is_empty() => {
            (Endpoint::EventExplain((*id).to_owned()), Method::GET)
        }
        ["api", "dead-letters"] => (Endpoint::DeadLetters, Method::GET),
        ["api", "dead-letters", "replay"] => (Endpoint::Replay, Method::POST),
        ["api", "dead-letters", "purge"] => (Endpoint::Purge, Method::POST),
        ["api", "reload"] => (Endpoint::Reload, Method::POST),
        ["api", "deliveries", "replay"] => (Endpoint::BulkReplay, Method::POST),
        ["api", "deliveries", "cancel"] => (Endpoint::BulkCancel, Method::POST),
        ["api", "jobs", id] if !id.is_empty() && *method == Method::DELETE => {
            (Endpoint::StopJob((*id).to_owned()), Method::DELETE)
        }
        ["api", "jobs", id] if !id.is_empty() => (Endpoint::Job((*id).to_owned()), Method::GET),
        ["api", "audit"] => (Endpoint::Audit, Method::GET),
        ["api", "targets"] => (Endpoint::Targets, Method::GET),
        ["api", "targets", name, "series"] if !name.is_empty() => {
            (Endpoint::TargetSeries((*name).to_owned()), Method::GET)
        }
        ["api", "targets", name, action] if !name.is_empty() => {
            let action = match *action {
                "pause" => TargetAction::Pause,
                "resume" => TargetAction::Resume,
                "probe" => TargetAction::Probe,
                _ => return Err(Refusal::NotFound),
            };
            (
                Endpoint::TargetAction((*name).to_owned(), action),
                Method::POST,
            )
        }
        ["api", "tail"] => (Endpoint::Tail, Method::GET),
        ["api", "openapi.json"] => (Endpoint::OpenApi, Method::GET),
        ["api", "explain"] => (Endpoint::Explain, Method::POST),
        ["api", "config"] => (Endpoint::Config, Method::GET),
        ["api", "dead-letters", "groups"] => (Endpoint::DeadGroups, Method::GET),
        ["api", "whoami"] => (Endpoint::Whoami, Method::GET),
        _ => return Err(Refusal::NotFound),
    };
    // HEAD is GET without the body (hyper leaves the body out).
    let allowed = *method == takes || (takes == Method::GET && *method == Method::HEAD);
    if !allowed {
        let allow = if matches!(endpoint, Endpoint::Job(_)) {
            "GET, HEAD, DELETE"
        } else if takes == Method::GET {
            "GET, HEAD"
        } else {
            "POST"
        };
        return Err(Refusal::MethodNotAllowed { allow });
    }
    Ok(endpoint)
}

/// Whether `authority` (a `Host` value, or an `Origin`'s host and port)
/// names the listener at `listener`: its own address; `localhost`, or any
/// loopback address, when it listens on loopback; any IP address when it
/// listens on all of them (`0.0.0.0`, `::`), as a Kubernetes probe's
/// `Host: <pod-ip>:port` does; always with the listener's port (80 when
/// none is written). A DNS name other than `localhost` only when
/// `server.admin_hosts` lists it exactly as sent: a rebinding attack comes
/// with a name the attacker controls, never with an IP address.
pub fn names_listener(authority: &str, listener: SocketAddr, admin_hosts: &[String]) -> bool {
    let authority = authority.to_ascii_lowercase();
    if admin_hosts.contains(&authority) {
        return true;
    }
    let Ok(parsed) = authority.parse::<Authority>() else {
        return false;
    };
    if parsed.as_str().contains('@') || parsed.port_u16().unwrap_or(80) != listener.port() {
        return false;
    }
    let host = parsed.host();
    let ip = listener.ip();
    match host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .parse::<IpAddr>()
    {
        Ok(asked) => {
            asked == ip || ip.is_unspecified() || (ip.is_loopback() && asked.is_loopback())
        }
        Err(_) => host == "localhost" && (ip.is_loopback() || ip.is_unspecified()),
    }
}

/// Refuses `/api/*` requests whose `Host` names something other than the
/// listener. A request without one (HTTP/1.0 tools) passes: browsers always
/// send it, and the rebinding attack needs a browser.
pub fn check_host(
    host: Option<&Authority>,
    listener: SocketAddr,
    admin_hosts: &[String],
) -> Result<(), Refusal> {
    match host {
        Some(host) if !names_listener(host.as_str(), listener, admin_hosts) => Err(Refusal::Host {
            host: host.as_str().to_owned(),
            listener,
        }),
        _ => Ok(()),
    }
}

/// Refuses requests another web page made: `Sec-Fetch-Site: cross-site` or
/// `same-site` (another port or subdomain is another application), or an
/// `Origin` that is not this listener's (`null` included). A request with
/// neither header (curl, the CLI, scripts) passes.
pub fn check_same_origin(
    headers: &HeaderMap,
    listener: SocketAddr,
    admin_hosts: &[String],
) -> Result<(), Refusal> {
    if let Some(site) = headers.get("sec-fetch-site") {
        let site = String::from_utf8_lossy(site.as_bytes()).to_ascii_lowercase();
        if site == "cross-site" || site == "same-site" {
            return Err(Refusal::CrossSite {
                evidence: format!("Sec-Fetch-Site: {site}"),
            });
        }
    }
    if let Some(origin) = headers.get(ORIGIN) {
        let origin = String::from_utf8_lossy(origin.as_bytes()).into_owned();
        let authority = origin
            .strip_prefix("http://")
            .or_else(|| origin.strip_prefix("https://"));
        if !authority.is_some_and(|a| names_listener(a, listener, admin_hosts)) {
            return Err(Refusal::CrossSite {
                evidence: format!("Origin: {origin}"),
            });
        }
    }
    Ok(())
}

/// A POST must say its body is JSON (`application/json`, parameters such as
/// `charset` allowed), whether or not it has one.
pub fn check_content_type(headers: &HeaderMap) -> Result<(), Refusal> {
    let found = headers
        .get(CONTENT_TYPE)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
    let essence = found
        .as_deref()
        .and_then(|t| t.split(';').next())
        .map(|t| t.trim().to_ascii_lowercase());
    if essence.as_deref() == Some("application/json") {
        Ok(())
    } else {
        Err(Refusal::ContentType { found })
    }
}

#[cfg(test)]
mod tests;
