//! The config text in force as JSON for operators (`GET /api/config`),
//! every secret value redacted: the tree as written (anchors expanded,
//! `${NAME}` left unresolved), where a value at a secret's place shows
//! only where it comes from (`${CRM_TOKEN}`, `{file: /run/secrets/x}`) and
//! a secret written in the file is [`REDACTED`]; target URLs keep their
//! origin only (a path or query may carry a token, as chat webhooks'
//! do), and a password in a PostgreSQL URL is hidden.
//!
//! Must not resolve the environment or read a secrets file: what it shows
//! is the text, never a value the relay read.

use serde_json::{Map, Value};

use super::tree::{self, Node, Scalar};
use crate::redact::REDACTED;

/// Keys whose value is a secret wherever they appear.
const SECRET_KEYS: [&str; 3] = ["token", "secret", "password"];

/// Keys under which every value is a secret: configured request headers
/// (`Authorization: Bearer …`) and rotation lists.
const SECRET_PARENTS: [&str; 2] = ["headers", "secrets"];

/// Auth schemes shown before a `${NAME}`: no secret in themselves.
const SCHEMES: [&str; 3] = ["bearer", "basic", "token"];

/// `yaml` as JSON with secrets redacted; `None` when it is not YAML (a
/// config in force always is).
pub fn redacted(yaml: &str) -> Option<Value> {
    let root = tree::parse(yaml).ok()?;
    let mut path = Vec::new();
    Some(shown(&root, &mut path))
}

fn shown(node: &Node, path: &mut Vec<String>) -> Value {
    match &node.value {
        tree::Value::Map(entries) => {
            let mut out = Map::new();
            for (key, value) in entries {
                let name = key.text().unwrap_or_default().to_owned();
                // `{file: /path}` names a file: no secret in it.
                let shown = if name == "file" && secret_place(path) {
                    plain(value)
                } else {
                    path.push(name.clone());
                    let shown = self::shown(value, path);
                    path.pop();
                    shown
                };
                out.insert(name, shown);
            }
            Value::Object(out)
        }
        tree::Value::Seq(items) => Value::Array(
            items
                .iter()
                .enumerate()
                .map(|(i, item)| {
                    path.push(i.to_string());
                    let shown = shown(item, path);
                    path.pop();
                    shown
                })
                .collect(),
        ),
        tree::Value::Scalar { text, .. } => {
            if secret_place(path) {
                Value::String(secret(text))
            } else if is_target_url(path) {
                Value::String(url(text))
            } else if path.len() == 2 && path[0] == "server" && path[1] == "spool" {
                Value::String(spool(text))
            } else {
                plain(node)
            }
        }
    }
}

/// A scalar as JSON by the YAML 1.2 core schema; a mapping or sequence
/// with nothing redacted (only under a place already judged plain).
fn plain(node: &Node) -> Value {
    match node.scalar() {
        Some(Scalar::Null) => Value::Null,
        Some(Scalar::Bool(b)) => Value::Bool(b),
        Some(Scalar::Int(i)) => i64::try_from(i).map_or_else(|_| i.to_string().into(), Value::from),
        Some(Scalar::Float(f)) => {
            serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)
        }
        Some(Scalar::Str(s)) => Value::String(s.to_owned()),
        None => shown(node, &mut Vec::new()),
    }
}

/// Whether a value at `path` is a secret.
fn secret_place(path: &[String]) -> bool {
    let under = |keys: &[&str], at: usize| path.get(at).is_some_and(|k| keys.contains(&k.as_str()));
    let n = path.len();
    n > 0
        && (under(&SECRET_KEYS, n - 1)
            || (0..n - 1).any(|i| under(&SECRET_PARENTS, i))
            || (n >= 2 && path[n - 1] == "value" && path[n - 2] == "token"))
}

fn is_target_url(path: &[String]) -> bool {
    path.len() == 3 && path[0] == "targets" && path[2] == "url"
}

/// A secret as written: its `${NAME}`s (and an auth scheme before them)
/// shown, anything else redacted.
fn secret(text: &str) -> String {
    let mut rest = String::new();
    let mut refs = 0;
    let mut tail = text;
    while let Some(start) = tail.find("${") {
        rest.push_str(&tail[..start]);
        match tail[start..].find('}') {
            Some(end) => {
                refs += 1;
                tail = &tail[start + end + 1..];
            }
            None => {
                rest.push_str(&tail[start..]);
                tail = "";
            }
        }
    }
    rest.push_str(tail);
    let rest = rest.trim().to_ascii_lowercase();
    if refs > 0 && (rest.is_empty() || SCHEMES.contains(&rest.as_str())) {
        text.to_owned()
    } else {
        REDACTED.to_owned()
    }
}

/// A target's URL: as written when it is only `${NAME}`s after an origin;
/// otherwise its origin, with the path shown only when it is `/`.
fn url(text: &str) -> String {
    match url::Url::parse(text) {
        Ok(url) => {
            crate::dispatch::target::redact_url(&url, url.path() == "/" && url.query().is_none())
        }
        Err(_) if text.contains("${") => secret(text),
        Err(_) => REDACTED.to_owned(),
    }
}

/// `server.spool`: a file path as written, a PostgreSQL URL without its
/// password.
fn spool(text: &str) -> String {
    match url::Url::parse(text) {
        Ok(mut url) if url.password().is_some() => {
            let _ = url.set_password(Some(REDACTED));
            url.to_string()
        }
        _ => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_show_where_they_come_from_and_literal_ones_are_redacted() {
        let yaml = "server:\n  spool: postgres://sb:hunter2@db/sb\n  admin_tokens:\n    - {name: oncall, token: s3cret, role: operate}\n\
                    sources:\n  pbx: {token: {header: X-Token, value: '${PBX_TOKEN}'}, verify: {hmac: {header: X-Sig, secret: {file: /run/s}}}}\n\
                    targets:\n  crm: {url: 'https://crm.example/hooks/abc?key=1', headers: {Authorization: 'Bearer ${CRM}', X-Api-Key: k3y}, timeout: 5s}\n  \
                    chat: {url: '${CHAT_URL}', sign: {secrets: [whsec_abc, '${NEXT}']}}\n\
                    routes:\n  - {name: all, to: [crm, chat]}\n";
        let shown = redacted(yaml).unwrap();
        let text = shown.to_string();
        for leak in ["hunter2", "s3cret", "k3y", "abc", "key=1"] {
            assert!(!text.contains(leak), "{leak} in {text}");
        }
        assert_eq!(shown["server"]["admin_tokens"][0]["name"], "oncall");
        assert_eq!(shown["server"]["admin_tokens"][0]["token"], REDACTED);
        assert_eq!(shown["sources"]["pbx"]["token"]["value"], "${PBX_TOKEN}");
        assert_eq!(shown["sources"]["pbx"]["token"]["header"], "X-Token");
        assert_eq!(
            shown["sources"]["pbx"]["verify"]["hmac"]["secret"]["file"],
            "/run/s"
        );
        let crm = &shown["targets"]["crm"];
        assert_eq!(crm["url"], "https://crm.example/<redacted>");
        assert_eq!(crm["headers"]["Authorization"], "Bearer ${CRM}");
        assert_eq!(crm["headers"]["X-Api-Key"], REDACTED);
        assert_eq!(crm["timeout"], "5s");
        assert_eq!(shown["targets"]["chat"]["url"], "${CHAT_URL}");
        assert_eq!(
            shown["targets"]["chat"]["sign"]["secrets"],
            serde_json::json!([REDACTED, "${NEXT}"])
        );
        assert!(
            shown["server"]["spool"]
                .as_str()
                .unwrap()
                .starts_with("postgres://sb:")
        );
        assert_eq!(shown["routes"][0]["to"][1], "chat");
    }
}
