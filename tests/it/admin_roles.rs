//! `server.admin_tokens`: named admin API tokens with roles. A `read` token
//! may look (GET) and nothing else; an `operate` token may act; the old
//! `admin_token` is an `operate` token named `admin`; a wrong token is 401.
//! And `check` refuses names or tokens given twice.

use reqwest::Method;
use serde_json::Value;

use crate::common::{FakeTarget, TestRelay};

fn config(target: &str, admin: &str) -> String {
    format!(
        r#"
server:
{admin}
sources:
  s: {{allow: [127.0.0.1]}}
targets:
  t: {{url: "{target}"}}
routes:
  - to: [t]
"#
    )
}

/// The status of `method path` with `token` (if any) as the bearer token.
async fn answer(
    relay: &TestRelay,
    method: Method,
    path: &str,
    token: Option<&str>,
) -> (u16, Value) {
    let mut request = relay.client.request(method.clone(), relay.admin(path));
    if let Some(token) = token {
        request = request.header("authorization", format!("Bearer {token}"));
    }
    if method == Method::POST {
        request = request
            .header("content-type", "application/json")
            .body("{}");
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let body = response.json().await.unwrap_or(Value::Null);
    (status, body)
}

#[tokio::test]
async fn a_read_token_may_look_but_not_act_and_an_operate_token_may_do_both() {
    let target = FakeTarget::start().await;
    let relay = TestRelay::start_with_env(
        &config(
            &target.url("/t"),
            "  admin_token: ${ADMIN_TOKEN}\n  admin_tokens:\n    - {name: dashboards, token: \"${READ_TOKEN}\", role: read}\n    - {name: oncall, token: oncall-s3cret, role: operate}",
        ),
        &[("ADMIN_TOKEN", "adm-s3cret"), ("READ_TOKEN", "read-s3cret")],
    )
    .await;

    for token in ["read-s3cret", "oncall-s3cret", "adm-s3cret"] {
        let (status, body) = answer(&relay, Method::GET, "/api/status", Some(token)).await;
        assert_eq!(status, 200, "GET /api/status with {token}: {body}");
        let (status, _) = answer(&relay, Method::GET, "/api/dead-letters", Some(token)).await;
        assert_eq!(status, 200, "GET /api/dead-letters with {token}");
    }

    let (status, body) = answer(&relay, Method::POST, "/api/reload", Some("read-s3cret")).await;
    assert_eq!(status, 403, "{body}");
    let message = body["error"].as_str().unwrap_or_default();
    assert!(
        message.contains("dashboards") && message.contains("role read"),
        "the refusal names the token and its role: {body}"
    );
    let (status, body) = answer(
        &relay,
        Method::POST,
        "/api/dead-letters/purge",
        Some("read-s3cret"),
    )
    .await;
    assert_eq!(status, 403, "a read token cannot purge: {body}");

    for token in ["oncall-s3cret", "adm-s3cret"] {
        let (status, body) = answer(&relay, Method::POST, "/api/reload", Some(token)).await;
        assert_eq!(status, 200, "POST /api/reload with {token}: {body}");
        assert_eq!(body["ok"], true);
    }

    for token in [None, Some("wrong"), Some("read-s3cre"), Some("")] {
        let (status, _) = answer(&relay, Method::GET, "/api/status", token).await;
        assert_eq!(status, 401, "GET /api/status with {token:?}");
    }
    // Probes and metrics stay open.
    let (status, _) = answer(&relay, Method::GET, "/healthz", None).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn named_tokens_alone_protect_the_api() {
    let target = FakeTarget::start().await;
    let relay = TestRelay::start(&config(
        &target.url("/t"),
        "  admin_tokens:\n    - {name: ci, token: ci-s3cret, role: operate}",
    ))
    .await;
    assert_eq!(
        answer(&relay, Method::GET, "/api/status", None).await.0,
        401
    );
    assert_eq!(
        answer(&relay, Method::GET, "/api/status", Some("ci-s3cret"))
            .await
            .0,
        200
    );
}

#[test]
fn check_refuses_a_name_or_a_token_given_twice() {
    use switchboard::config::Config;
    use switchboard::config::interpolate::Env;
    use switchboard::runtime::Runtime;

    let problems = |admin: &str| -> Vec<String> {
        let yaml = config("http://127.0.0.1:9/t", admin);
        let config = Config::parse(&yaml).unwrap_or_else(|e| panic!("{e}\n{yaml}"));
        match Runtime::compile(config, &Env::default(), None) {
            Ok(_) => Vec::new(),
            Err(p) => p.iter().map(ToString::to_string).collect(),
        }
    };
    let twice = problems(
        "  admin_token: same\n  admin_tokens:\n    - {name: admin, token: other, role: read}\n    - {name: b, token: same, role: read}\n    - {name: c, token: \"\", role: read}",
    );
    assert_eq!(twice.len(), 3, "{twice:#?}");
    assert!(
        twice[0].contains("server.admin_tokens[0].name") && twice[0].contains("`admin`"),
        "{twice:#?}"
    );
    assert!(
        twice[1].contains("server.admin_tokens[1].token") && twice[1].contains("another token's"),
        "{twice:#?}"
    );
    assert!(
        twice[2].contains("server.admin_tokens[2].token") && twice[2].contains("must not be empty"),
        "{twice:#?}"
    );
    let unknown_role = Config::parse(&config(
        "http://127.0.0.1:9/t",
        "  admin_tokens:\n    - {name: x, token: y, role: admin}",
    ));
    assert!(unknown_role.is_err(), "role must be read or operate");
    // A non-loopback admin listener is allowed with named tokens only.
    assert_eq!(
        problems(
            "  admin_listen: 0.0.0.0:0\n  admin_tokens:\n    - {name: ci, token: ci-s3cret, role: read}"
        ),
        Vec::<String>::new()
    );
    let open = problems("  admin_listen: 0.0.0.0:0");
    assert!(open.iter().any(|p| p.contains("admin_tokens")), "{open:#?}");
}
