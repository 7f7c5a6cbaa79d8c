//! One compiled source: who may send to `POST /hooks/{name}` and where its
//! payloads keep topics, playbooks and answers.
//!
//! Decisions only (admits this address? carries the right token?); the HTTP
//! side lives in `ingress.rs`.

use std::net::IpAddr;
use std::sync::Arc;

use http::{HeaderMap, HeaderName};
use ipnet::IpNet;

use crate::config::interpolate::Env;
use crate::config::problems::Problems;
use crate::config::{FieldsConfig, Located, SourceConfig, TokenConfig};
use crate::ingress::keys::Keys;
use crate::ingress::throttle::ClientLimit;
use crate::ingress::verify::{self, Claim, Verdict, Verifier};
use crate::rate::RateLimit;
use crate::rules::{Event, Fields};
use crate::secret::SecretDigest;
use crate::transform::path::Path;

/// A compiled source.
#[derive(Debug)]
pub struct Source {
    /// Its name, the last segment of its URL.
    pub name: String,
    /// Allowed client networks; `None` admits any address.
    pub allow: Option<Vec<IpNet>>,
    /// The shared-secret header, if any.
    pub token: Option<Token>,
    /// Where the domain conditions look.
    pub fields: Fields,
    /// The signature check on the body, if any.
    pub verifier: Option<Verifier>,
    /// Requests per client address, if limited; carried over a reload when
    /// unchanged.
    pub limit: Option<Arc<ClientLimit>>,
    /// The lookup keys stored with each webhook.
    pub keys: Keys,
}

/// A shared secret expected in a header. Only its SHA-256 is kept, so the
/// comparison takes the same time whatever the length of the guess.
pub struct Token {
    /// The header carrying it.
    pub header: HeaderName,
    digest: SecretDigest,
}

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Token")
            .field("header", &self.header)
            .finish_non_exhaustive()
    }
}

impl Source {
    /// A webhook that came in on this source, as the rules see it.
    pub fn event<'a>(&'a self, headers: &'a HeaderMap, body: &'a serde_json::Value) -> Event<'a> {
        Event {
            source: &self.name,
            fields: &self.fields,
            headers,
            body,
        }
    }

    /// Whether `ip` may send. IPv4-mapped IPv6 addresses match IPv4 networks.
    pub fn admits(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.allow
            .as_ref()
            .is_none_or(|nets| nets.iter().any(|net| net.contains(&ip)))
    }

    /// Whether the request carries the token, when one is configured.
    pub fn authenticates(&self, headers: &HeaderMap) -> bool {
        let Some(token) = &self.token else {
            return true;
        };
        let Some(presented) = headers.get(&token.header) else {
            return false;
        };
        token.digest.matches(presented.as_bytes())
    }

    /// Checks the body's signature, when one is configured; `now` is Unix
    /// seconds. Without a check every request is accepted.
    pub fn verify(&self, headers: &HeaderMap, body: &[u8], now: u64) -> Verdict {
        match &self.verifier {
            Some(verifier) => verifier.verify(headers, body, now),
            None => Verdict::Accept(Claim::none()),
        }
    }
}

/// An allow-list or trusted-proxy entry that is not a network, as written
/// (trimmed).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not an IP address or CIDR (e.g. 217.116.118.254, 10.0.0.0/8, 2001:db8::/32)")]
pub struct NetError(String);

/// Parses an allow-list or trusted-proxy entry: a CIDR, or a bare address as
/// a single-host network. An IPv4-mapped entry (`::ffff:127.0.0.1`,
/// `::ffff:10.0.0.0/104`) becomes the IPv4 network it names, because clients
/// are compared in canonical form (a mapped client address is IPv4), so the
/// entry as written would never match.
pub fn parse_net(text: &str) -> Result<IpNet, NetError> {
    let text = text.trim();
    let net = text
        .parse::<IpNet>()
        .or_else(|_| text.parse::<IpAddr>().map(IpNet::from))
        .map_err(|_| NetError(text.to_owned()))?;
    Ok(match net {
        IpNet::V6(v6) if v6.prefix_len() >= 96 => match v6.addr().to_ipv4_mapped() {
            Some(v4) => ipnet::Ipv4Net::new(v4, v6.prefix_len() - 96)
                .map(IpNet::V4)
                .unwrap_or(net),
            None => net,
        },
        other => other,
    })
}

/// Parses a list of networks, recording each bad entry.
pub fn parse_nets(items: &[Located<String>], place: &str, problems: &mut Problems) -> Vec<IpNet> {
    items
        .iter()
        .enumerate()
        .filter_map(|(i, item)| {
            parse_net(&item.value)
                .map_err(|e| problems.push(format!("{place}[{i}]"), Some(&item.referenced), e))
                .ok()
        })
        .collect()
}

/// Compiles `sources.NAME`. `previous` is the same-named source in force,
/// whose replay memory and client budgets carry over.
pub fn compile(
    name: &str,
    cfg: SourceConfig,
    env: &Env,
    previous: Option<&Source>,
    problems: &mut Problems,
) -> Option<Source> {
    let place = format!("sources.{name}");
    let before = problems.clone();
    let allow = cfg
        .allow
        .map(|items| parse_nets(&items, &format!("{place}.allow"), problems));
    let token = cfg
        .token
        .and_then(|t| compile_token(t, env, &format!("{place}.token"), problems));
    let mut verifier = cfg
        .verify
        .as_ref()
        .and_then(|v| verify::compile(v, &format!("{place}.verify"), env, problems));
    if let (Some(new), Some(old)) = (&mut verifier, previous.and_then(|p| p.verifier.as_ref())) {
        new.inherit(old);
    }
    let limit = RateLimit::compile(cfg.rate.as_ref(), cfg.burst, &place, problems)
        .flatten()
        .map(|settings| {
            previous
                .and_then(|p| p.limit.clone())
                .filter(|l| l.is(settings))
                .unwrap_or_else(|| Arc::new(ClientLimit::new(settings)))
        });
    let fields = compile_fields(cfg.fields, &format!("{place}.fields"), problems);
    let keys = Keys::compile(
        cfg.keys.unwrap_or_else(crate::config::default_keys),
        &format!("{place}.keys"),
        problems,
    );
    if *problems != before {
        return None;
    }
    Some(Source {
        name: name.to_owned(),
        allow,
        token,
        fields: fields?,
        verifier,
        limit,
        keys,
    })
}

/// `sources.NAME.token`: a header name and a non-empty secret.
fn compile_token(
    cfg: TokenConfig,
    env: &Env,
    place: &str,
    problems: &mut Problems,
) -> Option<Token> {
    let header = HeaderName::try_from(cfg.header.value.as_str())
        .map_err(|_| {
            problems.push(
                format!("{place}.header"),
                Some(&cfg.header.referenced),
                format!("`{}` is not a valid header name", cfg.header.value),
            )
        })
        .ok();
    let value = cfg
        .value
        .resolve(env)
        .map_err(|e| problems.push(format!("{place}.value"), Some(cfg.value.referenced()), e))
        .ok();
    if value.as_deref() == Some("") {
        problems.push(
            format!("{place}.value"),
            Some(cfg.value.referenced()),
            "the token is empty",
        );
        return None;
    }
    Some(Token {
        header: header?,
        digest: SecretDigest::of(value?.as_bytes()),
    })
}

/// `sources.NAME.fields`: the paths behind the domain conditions.
fn compile_fields(cfg: FieldsConfig, place: &str, problems: &mut Problems) -> Option<Fields> {
    let mut path = |text: &Located<String>, field: &str| {
        Path::parse(&text.value)
            .map_err(|e| {
                problems.push(
                    format!("{place}.{field}"),
                    Some(&text.referenced),
                    e.to_string(),
                )
            })
            .ok()
    };
    let topics = path(&cfg.topics, "topics");
    let playbooks: Option<Vec<Path>> = cfg.playbooks.iter().map(|p| path(p, "playbooks")).collect();
    let answers = path(&cfg.answers, "answers");
    Some(Fields {
        topics: topics?,
        playbooks: playbooks?,
        answers: answers?,
        question: cfg.question,
        answer: cfg.answer,
    })
}

#[cfg(test)]
mod tests;
