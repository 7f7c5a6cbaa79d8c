//! The serde mirror of `routes.yaml`: parsing only.
//!
//! Every struct here is what the operator writes, field for field, with its
//! defaults. Turning it into something that can run (URLs, header maps, regexes,
//! jq programs, rate quotas) is `runtime.rs`'s job, so this module must not touch
//! tokio, warp, reqwest or the environment. [`Config::read`] reports every
//! unknown key, duplicate key and wrong type at once, with its place, line
//! and column: `tree` reads the YAML with positions, `shape` checks it
//! against [`Config::schema`] and repairs it, `de` fills these types from
//! it, `read` puts the three together.

use indexmap::IndexMap;
use schemars::JsonSchema;
use serde::Deserialize;
use serde_saphyr::Spanned;

pub mod interpolate;
pub mod problems;
pub mod units;

mod de;
mod read;
mod shape;
mod tree;

pub use read::{ParseError, Parsed, read_file};

pub use crate::dispatch::circuit::CircuitConfig;
pub use crate::dispatch::retry::RetryConfig;
pub use crate::dispatch::sign::WebhookSecretsConfig;
pub use crate::ingress::verify::VerifyConfig;
pub use crate::secret::SecretConfig;

/// A value together with the place in `routes.yaml` it came from, so that a
/// compile error can say "line 12 column 9".
pub type Located<T> = Spanned<T>;

/// The whole file.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Listener and process-wide settings.
    #[serde(default)]
    pub server: ServerConfig,
    /// Who may send, by name: `POST /hooks/{name}`.
    #[serde(default)]
    pub sources: IndexMap<String, SourceConfig>,
    /// Where webhooks go, by name.
    #[serde(default)]
    pub targets: IndexMap<String, TargetConfig>,
    /// Evaluated in order for every accepted webhook.
    #[serde(default)]
    pub routes: Vec<RouteConfig>,
}

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
            admin_hosts: Vec::new(),
            retry: RetryConfig::default(),
            circuit: CircuitConfig::default(),
        }
    }
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

/// `sources.NAME`: one sender, reached at `POST /hooks/NAME`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SourceConfig {
    /// Client addresses allowed to send: IPs or CIDRs, IPv4 or IPv6.
    /// Absent means any address (then set a `token`).
    #[schemars(with = "Option<Vec<String>>")]
    pub allow: Option<Vec<Located<String>>>,
    /// A shared secret the sender puts in a header.
    pub token: Option<TokenConfig>,
    /// Check a signature over the body: `{standard_webhooks: {secret}}` or
    /// `{hmac: {header, algorithm, encoding, prefix, secret}}`. Checked
    /// after `allow` and `token`; a failure is 401. Default: none.
    pub verify: Option<VerifyConfig>,
    /// Requests per client address: `60/min`, `10/s`. Beyond it, 429 with
    /// `Retry-After`. IPv6 clients count per /64. Default: no limit.
    #[schemars(with = "Option<String>")]
    pub rate: Option<Located<String>>,
    /// Requests a client may send at once above the steady rate. Default:
    /// the rate's count.
    pub burst: Option<u32>,
    /// Where `topic`, `playbook` and `answer` conditions look. Default:
    /// sipgate AI Agents' layout.
    #[serde(default)]
    pub fields: FieldsConfig,
}

/// `sources.NAME.token`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenConfig {
    /// Header that carries the secret, e.g. `X-Switchboard-Token`.
    #[schemars(with = "String")]
    pub header: Located<String>,
    /// The secret; `${NAME}` reads it from the environment,
    /// `{file: /run/secrets/x}` from a file (re-read on reload).
    pub value: SecretConfig,
}

/// `sources.NAME.fields`: the payload layout behind the domain conditions.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FieldsConfig {
    /// Path of the recognized topics. Default `assist.summary.topics[*]`.
    #[serde(default = "default_topics")]
    #[schemars(with = "String")]
    pub topics: Located<String>,
    /// Paths naming a completed playbook. Default
    /// `[assist.callScenarios[*].name, assist.callScenarios[*].id]`.
    #[serde(default = "default_playbooks")]
    #[schemars(with = "Vec<String>")]
    pub playbooks: Vec<Located<String>>,
    /// Path of the recorded answers. Default
    /// `assist.callScenarios[*].smartAnswers[*].setItems[*]`.
    #[serde(default = "default_answers")]
    #[schemars(with = "String")]
    pub answers: Located<String>,
    /// Key of the question within an answer item. Default `question`.
    #[serde(default = "default_question")]
    pub question: String,
    /// Key of the answer within an answer item. Default `answer`.
    #[serde(default = "default_answer")]
    pub answer: String,
}

impl Default for FieldsConfig {
    fn default() -> Self {
        FieldsConfig {
            topics: default_topics(),
            playbooks: default_playbooks(),
            answers: default_answers(),
            question: default_question(),
            answer: default_answer(),
        }
    }
}

/// `targets.NAME`: one downstream.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TargetConfig {
    /// Where to send; `${NAME}` and `${NAME:-default}` read the environment.
    #[schemars(with = "String")]
    pub url: Located<String>,
    /// HTTP method. Default `POST`.
    #[serde(default = "default_method")]
    #[schemars(with = "String")]
    pub method: Located<String>,
    /// Extra request headers; values may use `${NAME}` or be
    /// `{file: /run/secrets/x}` (re-read on reload).
    #[serde(default)]
    pub headers: IndexMap<String, SecretConfig>,
    /// Sign every delivery (Standard Webhooks `webhook-signature`) with
    /// `{secret: whsec_...}`, or `{secrets: [..]}` while rotating. Default: unsigned.
    pub sign: Option<WebhookSecretsConfig>,
    /// Time for one attempt, from connect to the last response byte.
    /// Default `10s`.
    #[serde(default = "default_timeout")]
    #[schemars(with = "String")]
    pub timeout: Located<String>,
    /// Most requests per time unit: `10/s`, `600/min`, `5000/h`. Default: no limit.
    #[schemars(with = "Option<String>")]
    pub rate: Option<Located<String>>,
    /// Requests allowed at once above the steady rate. Default: the rate's count.
    pub burst: Option<u32>,
    /// Attempts in flight at once. Default 8.
    #[serde(default = "default_concurrency")]
    pub concurrency: u32,
    /// Default transform for this target; a route's `transform` wins.
    pub transform: Option<TransformConfig>,
    /// Retry policy; unset fields come from `server.retry`.
    #[serde(default)]
    pub retry: RetryConfig,
    /// Circuit breaker; unset fields come from `server.circuit`.
    #[serde(default)]
    pub circuit: CircuitConfig,
}

/// A transform: `none`, `{select: [..]}`, `{omit: [..]}` or `{jq: '..'}`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum TransformConfig {
    /// Forward the original bytes unchanged.
    None,
    /// Keep only these paths, structure preserved.
    #[schemars(with = "Vec<String>")]
    Select(Vec<Located<String>>),
    /// Drop these paths.
    #[schemars(with = "Vec<String>")]
    Omit(Vec<Located<String>>),
    /// Reshape with a jq program; its first output is the body.
    #[schemars(with = "String")]
    Jq(Located<String>),
}

/// `routes[i]`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RouteConfig {
    /// Shown in logs and `explain`. Default `routes[i]`.
    pub name: Option<String>,
    /// When the route matches; absent means always.
    pub when: Option<ConditionConfig>,
    /// Target names.
    #[schemars(with = "Vec<String>")]
    pub to: Vec<Located<String>>,
    /// Overrides each target's default transform.
    pub transform: Option<TransformConfig>,
}

/// One or several values: `topic: complaint` or `topic: [complaint, refund]`.
#[derive(Debug, Deserialize, Clone, JsonSchema)]
#[serde(untagged)]
pub enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl OneOrMany {
    /// The values as a list.
    pub fn into_vec(self) -> Vec<String> {
        match self {
            OneOrMany::One(one) => vec![one],
            OneOrMany::Many(many) => many,
        }
    }
}

/// A condition. Each key is one kind; several kinds in one mapping must all
/// hold. `equals`, `in`, `contains`, `matches`, `gt` and `lt` are the operator
/// of `field` (or of `header` / `answer`, which carry their own).
#[derive(Debug, Deserialize, Default, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ConditionConfig {
    /// Any recognized topic equals one of these, case-insensitively.
    pub topic: Option<OneOrMany>,
    /// A completed playbook's name or id equals one of these, case-insensitively.
    pub playbook: Option<OneOrMany>,
    /// A recorded answer to a question.
    #[schemars(with = "Option<AnswerConfig>")]
    pub answer: Option<Located<AnswerConfig>>,
    /// The path is present, not null and not an empty array.
    #[schemars(with = "Option<String>")]
    pub has: Option<Located<String>>,
    /// A path compared with one operator below.
    #[schemars(with = "Option<String>")]
    pub field: Option<Located<String>>,
    /// Operator: equal to this JSON value.
    pub equals: Option<serde_json::Value>,
    /// Operator: equal to one of these values.
    #[serde(rename = "in")]
    pub in_: Option<Vec<serde_json::Value>>,
    /// Operator: a string containing this text, or an array containing this value.
    pub contains: Option<serde_json::Value>,
    /// Operator: a string matching this regex.
    #[schemars(with = "Option<String>")]
    pub matches: Option<Located<String>>,
    /// Operator: a number (or string) greater than this.
    pub gt: Option<serde_json::Value>,
    /// Operator: a number (or string) less than this.
    pub lt: Option<serde_json::Value>,
    /// The webhook came in on one of these sources.
    pub source: Option<OneOrMany>,
    /// A request header equals or matches.
    #[schemars(with = "Option<HeaderConditionConfig>")]
    pub header: Option<Located<HeaderConditionConfig>>,
    /// Every condition holds.
    pub all: Option<Vec<ConditionConfig>>,
    /// At least one condition holds.
    pub any: Option<Vec<ConditionConfig>>,
    /// The condition does not hold.
    pub not: Option<Box<ConditionConfig>>,
    /// A jq program whose first output is truthy (not `false`, not `null`).
    #[schemars(with = "Option<String>")]
    pub jq: Option<Located<String>>,
}

/// `answer: {question, equals|in|matches}`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AnswerConfig {
    /// The question, compared case-insensitively.
    pub question: String,
    /// The answer equals this, case-insensitively.
    pub equals: Option<String>,
    /// The answer equals one of these, case-insensitively.
    #[serde(rename = "in")]
    pub in_: Option<Vec<String>>,
    /// The answer matches this regex.
    pub matches: Option<String>,
}

/// `header: {name, equals|matches}`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HeaderConditionConfig {
    /// Header name, case-insensitive.
    pub name: String,
    /// The value equals this exactly.
    pub equals: Option<String>,
    /// The value matches this regex.
    pub matches: Option<String>,
}

impl Config {
    /// The JSON Schema of `routes.yaml`, derived from these types: every
    /// key with its doc as description, unknown keys rejected. Editors use
    /// it for completion; `switchboard schema` prints it; [`Config::read`]
    /// checks the file's shape against it.
    pub fn schema() -> serde_json::Value {
        let mut schema = schemars::schema_for!(Config);
        schema.insert("title".to_owned(), "switchboard routes.yaml".into());
        schema.to_value()
    }
}

fn located(value: &str) -> Located<String> {
    Spanned::new(
        value.to_owned(),
        serde_saphyr::Location::UNKNOWN,
        serde_saphyr::Location::UNKNOWN,
    )
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
fn default_topics() -> Located<String> {
    located("assist.summary.topics[*]")
}
fn default_playbooks() -> Vec<Located<String>> {
    vec![
        located("assist.callScenarios[*].name"),
        located("assist.callScenarios[*].id"),
    ]
}
fn default_answers() -> Located<String> {
    located("assist.callScenarios[*].smartAnswers[*].setItems[*]")
}
fn default_question() -> String {
    "question".to_owned()
}
fn default_answer() -> String {
    "answer".to_owned()
}
fn default_method() -> Located<String> {
    located("POST")
}
fn default_timeout() -> Located<String> {
    located("10s")
}
fn default_concurrency() -> u32 {
    8
}
