//! `server:`: the listener and process-wide settings, as written.
//!
//! Parsing only: `runtime/server.rs` turns these strings into addresses,
//! sizes and durations; nothing here reads the environment or the network.

use schemars::JsonSchema;
use serde::Deserialize;

use super::{CircuitConfig, Located, RetryConfig, SecretConfig, located};

/// `server:`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    /// Ingress address. Default `0.0.0.0:8080`. Not reloadable.
    #[serde(default = "default_listen")]
    #[schemars(with = "String")]
    pub listen: Located<String>,
    /// Peers (IPs or CIDRs) whose `client_ip_header` is believed. Default:
    /// none, so the socket peer is the client.
    #[serde(default)]
    #[schemars(with = "Vec<String>")]
    pub trusted_proxies: Vec<Located<String>>,
    /// The one header that carries the client's address when the peer is a
    /// trusted proxy: `x-forwarded-for` (default), `forwarded` (RFC 7239) or
    /// `x-real-ip`. The others are ignored, whoever sent them. An entry that
    /// is not an address is answered 403.
    #[serde(default)]
    pub client_ip_header: ClientIpHeader,
    /// Largest accepted body, e.g. `1MiB`, `512KB`, `65536`. Default `1MiB`.
    #[serde(default = "default_max_body")]
    #[schemars(with = "String")]
    pub max_body: Located<String>,
    /// How long a client may take, from connecting or from the end of its
    /// previous response, to send a request's headers (the first byte
    /// included); then the connection is closed. So it is also how long a
    /// kept-alive connection may sit idle. Both listeners. Default `10s`.
    #[serde(default = "default_header_timeout")]
    #[schemars(with = "String")]
    pub header_timeout: Located<String>,
    /// How long a client may take to send a request's body once its headers
    /// are in; slower bodies are answered 408 and the connection is closed.
    /// Also how long a response may wait for a client that takes none of
    /// it. Both listeners. Default `30s`.
    #[serde(default = "default_body_timeout")]
    #[schemars(with = "String")]
    pub body_timeout: Located<String>,
    /// Open ingress connections at most; more wait in the kernel's accept
    /// queue. Default 1024.
    #[serde(default = "default_max_connections")]
    pub max_connections: usize,
    /// Open admin connections at most (metrics, health, API). Default 64.
    #[serde(default = "default_admin_max_connections")]
    pub admin_max_connections: usize,
    /// How long SIGTERM waits for queued and in-flight deliveries. Default `30s`.
    #[serde(default = "default_shutdown_grace")]
    #[schemars(with = "String")]
    pub shutdown_grace: Located<String>,
    /// Where accepted webhooks wait: a SQLite file (its directory is
    /// created), or a PostgreSQL URL `postgres://user:${PGPASSWORD}@host:5432/db`
    /// shared by several replicas (`${NAME}` is resolved in the URL). A
    /// relative path is relative to the config file's directory. Default
    /// `./data/switchboard.db`. Not reloadable.
    #[serde(default = "default_spool")]
    #[schemars(with = "String")]
    pub spool: Located<String>,
    /// PostgreSQL spool only: how long a replica's claim on a delivery
    /// outlives its last heartbeat (sent every third of this). A replica that
    /// dies has its deliveries sent by another after at most this long.
    /// Default `30s`.
    #[serde(default = "default_lease")]
    #[schemars(with = "String")]
    pub lease: Located<String>,
    /// Most webhooks and outcomes written in one transaction (group commit);
    /// 1 commits each on its own. Default 512.
    #[serde(default = "default_commit_batch")]
    pub commit_batch: usize,
    /// How long delivered records stay in the spool for status queries.
    /// Default `24h`.
    #[serde(default = "default_retention")]
    #[schemars(with = "String")]
    pub retention: Located<String>,
    /// Pending deliveries (all targets) beyond which ingress answers 503
    /// with `Retry-After`. Default 1000000.
    #[serde(default = "default_max_pending")]
    pub max_pending: u64,
    /// Pending body bytes beyond which ingress answers 503. Default `1GiB`.
    #[serde(default = "default_max_pending_bytes")]
    #[schemars(with = "String")]
    pub max_pending_bytes: Located<String>,
    /// Deliveries per target held in memory; the rest wait in the spool.
    /// Default 256.
    #[serde(default = "default_window")]
    pub window: usize,
    /// Body bytes per target held in memory, whatever `window` says (one
    /// delivery is always allowed, however large). Default `32MiB`.
    #[serde(default = "default_window_bytes")]
    #[schemars(with = "String")]
    pub window_bytes: Located<String>,
    /// Admin listener: metrics, health, status and dead-letter API. Default
    /// `127.0.0.1:9090`; `off` turns it off. Not reloadable.
    #[serde(default = "default_admin_listen")]
    #[schemars(with = "String")]
    pub admin_listen: Located<String>,
    /// Bearer token for `/api/*` on the admin listener; `${NAME}` reads the
    /// environment. Required when `admin_listen` is not a loopback address.
    #[schemars(with = "Option<String>")]
    pub admin_token: Option<Located<String>>,
    /// Named tokens for `/api/*`, each with a role: `read` may only look
    /// (GET), `operate` may also act (replay, purge, reload). `admin_token`,
    /// when set, is one more `operate` token named `admin`. Default: none.
    #[serde(default)]
    pub admin_tokens: Vec<AdminTokenConfig>,
    /// More `Host` values `/api/*` accepts, written as clients send them
    /// (`relay.internal:9090`, or `admin.example.com` behind a proxy on the
    /// default port). Without them `/api/*` answers 403 to any `Host` but the
    /// listener's address (and `localhost` on loopback), so that a web page
    /// cannot reach it through a DNS name it controls. Default: none.
    #[serde(default)]
    #[schemars(with = "Vec<String>")]
    pub admin_hosts: Vec<Located<String>>,
    /// Default retry policy for every target.
    #[serde(default)]
    pub retry: RetryConfig,
    /// Default circuit breaker for every target.
    #[serde(default)]
    pub circuit: CircuitConfig,
    /// What the delivery history keeps of each attempt.
    #[serde(default)]
    pub history: HistoryConfig,
    /// Reload, as SIGHUP does, when the config file or a `{file: ...}`
    /// secret it reads changes (a Kubernetes ConfigMap's or Secret's
    /// symlink swap too); the files are looked at every second and a change
    /// is put in force once they have been still for half a second. Default
    /// `false`.
    #[serde(default)]
    pub watch_config: bool,
    /// Traces over OTLP; absent (the default): off.
    pub tracing: Option<super::TracingConfig>,
}

/// `server.history`: what is kept of each attempt, beside its time, status
/// or error, and headers. Kept as long as `server.retention` says.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HistoryConfig {
    /// The first bytes of each response body kept, e.g. `4KiB`; `0` keeps
    /// none. Default `4KiB`.
    #[serde(default = "default_response_bytes")]
    #[schemars(with = "String")]
    pub response_bytes: Located<String>,
}

impl Default for HistoryConfig {
    fn default() -> Self {
        HistoryConfig {
            response_bytes: default_response_bytes(),
        }
    }
}

fn default_response_bytes() -> Located<String> {
    located("4KiB")
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: default_listen(),
            trusted_proxies: Vec::new(),
            max_body: default_max_body(),
            client_ip_header: ClientIpHeader::default(),
            header_timeout: default_header_timeout(),
            body_timeout: default_body_timeout(),
            admin_max_connections: default_admin_max_connections(),
            shutdown_grace: default_shutdown_grace(),
            max_connections: default_max_connections(),
            spool: default_spool(),
            lease: default_lease(),
            commit_batch: default_commit_batch(),
            retention: default_retention(),
            max_pending: default_max_pending(),
            max_pending_bytes: default_max_pending_bytes(),
            window: default_window(),
            window_bytes: default_window_bytes(),
            admin_listen: default_admin_listen(),
            admin_token: None,
            admin_tokens: Vec::new(),
            admin_hosts: Vec::new(),
            retry: RetryConfig::default(),
            circuit: CircuitConfig::default(),
            history: HistoryConfig::default(),
            watch_config: false,
            tracing: None,
        }
    }
}

/// One entry of `server.admin_tokens`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AdminTokenConfig {
    /// Who holds the token (a person, a team, a tool): says which token an
    /// answer refused.
    #[schemars(with = "String")]
    pub name: Located<String>,
    /// The token: a string (`${NAME}` reads the environment) or
    /// `{file: /path}`.
    pub token: SecretConfig,
    /// `read` (GET only) or `operate` (everything).
    pub role: AdminRole,
}

/// What an admin token may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum AdminRole {
    /// Status, events, dead letters, metrics: GET only.
    Read,
    /// Also replay, purge and reload.
    Operate,
}

/// `server.client_ip_header`: where a trusted proxy puts the client's address.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum ClientIpHeader {
    /// `X-Forwarded-For: client, proxy1`, read right to left past trusted proxies.
    #[default]
    XForwardedFor,
    /// `Forwarded: for=client, for=proxy1` (RFC 7239), read the same way.
    Forwarded,
    /// `X-Real-IP: client`: one address, set by the proxy.
    XRealIp,
}

fn default_listen() -> Located<String> {
    located("0.0.0.0:8080")
}
fn default_max_body() -> Located<String> {
    located("1MiB")
}
fn default_header_timeout() -> Located<String> {
    located("10s")
}
fn default_body_timeout() -> Located<String> {
    located("30s")
}
fn default_admin_max_connections() -> usize {
    64
}
fn default_shutdown_grace() -> Located<String> {
    located("30s")
}
fn default_spool() -> Located<String> {
    located("./data/switchboard.db")
}
fn default_lease() -> Located<String> {
    located("30s")
}
fn default_commit_batch() -> usize {
    512
}
fn default_retention() -> Located<String> {
    located("24h")
}
fn default_max_pending() -> u64 {
    1_000_000
}
fn default_max_pending_bytes() -> Located<String> {
    located("1GiB")
}
fn default_max_connections() -> usize {
    1024
}
fn default_admin_listen() -> Located<String> {
    located("127.0.0.1:9090")
}
fn default_window() -> usize {
    256
}
fn default_window_bytes() -> Located<String> {
    located("32MiB")
}
