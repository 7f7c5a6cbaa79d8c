//! Tests of `admin/guard.rs`.

use super::*;

#[test]
fn routes_unknown_paths_to_404_and_wrong_methods_to_405() {
    let get = Method::GET;
    let post = Method::POST;
    let table: &[(&Method, &str, Result<Endpoint, Refusal>)] = &[
        (&get, "/metrics", Ok(Endpoint::Metrics)),
        (&Method::HEAD, "/healthz", Ok(Endpoint::Healthz)),
        (&get, "/api/events/019a", Ok(Endpoint::Event("019a".into()))),
        (&post, "/api/dead-letters/purge", Ok(Endpoint::Purge)),
        (&get, "/nope", Err(Refusal::NotFound)),
        (&post, "/nope", Err(Refusal::NotFound)),
        (&get, "/api/events/", Err(Refusal::NotFound)),
        (&get, "/api/dead-letters/other", Err(Refusal::NotFound)),
        (
            &post,
            "/api/status",
            Err(Refusal::MethodNotAllowed { allow: "GET, HEAD" }),
        ),
        (
            &get,
            "/api/reload",
            Err(Refusal::MethodNotAllowed { allow: "POST" }),
        ),
        (
            &Method::DELETE,
            "/api/dead-letters",
            Err(Refusal::MethodNotAllowed { allow: "GET, HEAD" }),
        ),
    ];
    for (method, path, expected) in table {
        assert_eq!(&route(method, path), expected, "{method} {path}");
    }
}

#[test]
fn a_job_is_read_with_get_and_stopped_with_delete() {
    let job = |method: Method| route(&method, "/api/jobs/019a");
    assert_eq!(job(Method::GET), Ok(Endpoint::Job("019a".into())));
    assert_eq!(job(Method::DELETE), Ok(Endpoint::StopJob("019a".into())));
    assert_eq!(
        job(Method::POST),
        Err(Refusal::MethodNotAllowed {
            allow: "GET, HEAD, DELETE"
        })
    );
    assert_eq!(
        route(&Method::POST, "/api/deliveries/cancel"),
        Ok(Endpoint::BulkCancel)
    );
    assert_eq!(
        route(&Method::GET, "/api/deliveries/replay"),
        Err(Refusal::MethodNotAllowed { allow: "POST" })
    );
    assert_eq!(route(&Method::GET, "/api/audit"), Ok(Endpoint::Audit));
}

#[test]
fn routes_the_targets_and_the_tail() {
    let get = Method::GET;
    let post = Method::POST;
    let action = |name: &str, action| Ok(Endpoint::TargetAction(name.into(), action));
    let table: &[(&Method, &str, Result<Endpoint, Refusal>)] = &[
        (&get, "/api/targets", Ok(Endpoint::Targets)),
        (
            &get,
            "/api/targets/crm/series",
            Ok(Endpoint::TargetSeries("crm".into())),
        ),
        (
            &post,
            "/api/targets/crm/pause",
            action("crm", TargetAction::Pause),
        ),
        (
            &post,
            "/api/targets/crm/resume",
            action("crm", TargetAction::Resume),
        ),
        (
            &post,
            "/api/targets/crm/probe",
            action("crm", TargetAction::Probe),
        ),
        (&get, "/api/tail", Ok(Endpoint::Tail)),
        (&post, "/api/targets/crm/other", Err(Refusal::NotFound)),
        (&post, "/api/targets//pause", Err(Refusal::NotFound)),
        (
            &get,
            "/api/targets/crm/pause",
            Err(Refusal::MethodNotAllowed { allow: "POST" }),
        ),
        (
            &post,
            "/api/tail",
            Err(Refusal::MethodNotAllowed { allow: "GET, HEAD" }),
        ),
    ];
    for (method, path, expected) in table {
        assert_eq!(&route(method, path), expected, "{method} {path}");
    }
}

#[test]
fn host_must_name_the_listener() {
    let loopback: SocketAddr = "127.0.0.1:9090".parse().unwrap();
    let any: SocketAddr = "0.0.0.0:9090".parse().unwrap();
    let pod: SocketAddr = "10.1.2.3:9090".parse().unwrap();
    let v6: SocketAddr = "[::1]:9090".parse().unwrap();
    let named = vec!["relay.internal:9090".to_owned(), "admin.example".to_owned()];
    let table: &[(&str, SocketAddr, bool)] = &[
        ("127.0.0.1:9090", loopback, true),
        ("localhost:9090", loopback, true),
        ("LOCALHOST:9090", loopback, true),
        ("[::1]:9090", loopback, true),
        ("[::1]:9090", v6, true),
        ("localhost:9090", v6, true),
        ("127.0.0.1:9091", loopback, false),
        ("127.0.0.1", loopback, false),
        ("evil.example:9090", loopback, false),
        ("localhost.evil.example:9090", loopback, false),
        ("user@127.0.0.1:9090", loopback, false),
        ("10.1.2.3:9090", pod, true),
        ("10.1.2.4:9090", pod, false),
        ("localhost:9090", pod, false),
        ("10.1.2.4:9090", any, true),
        ("localhost:9090", any, true),
        ("evil.example:9090", any, false),
        ("relay.internal:9090", pod, true),
        ("Relay.Internal:9090", pod, true),
        ("relay.internal:9091", pod, false),
        ("admin.example", pod, true),
        ("admin.example:9090", pod, false),
    ];
    for (host, listener, expected) in table {
        assert_eq!(
            names_listener(host, *listener, &named),
            *expected,
            "{host} on {listener}"
        );
    }
}

fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
    pairs
        .iter()
        .map(|(k, v)| {
            (
                http::HeaderName::from_static(k),
                http::HeaderValue::from_static(v),
            )
        })
        .collect()
}

#[test]
fn requests_from_other_pages_are_refused() {
    let listener: SocketAddr = "127.0.0.1:9090".parse().unwrap();
    let table: &[(&[(&str, &str)], bool)] = &[
        (&[], true),
        (&[("sec-fetch-site", "same-origin")], true),
        (&[("sec-fetch-site", "none")], true),
        (&[("origin", "http://127.0.0.1:9090")], true),
        (&[("origin", "http://localhost:9090")], true),
        (&[("sec-fetch-site", "cross-site")], false),
        (&[("sec-fetch-site", "same-site")], false),
        (&[("origin", "http://evil.example")], false),
        (&[("origin", "http://localhost:3000")], false),
        (&[("origin", "null")], false),
        (
            &[
                ("origin", "http://127.0.0.1:9090"),
                ("sec-fetch-site", "cross-site"),
            ],
            false,
        ),
    ];
    for (pairs, expected) in table {
        assert_eq!(
            check_same_origin(&headers(pairs), listener, &[]).is_ok(),
            *expected,
            "{pairs:?}"
        );
    }
}

#[test]
fn a_post_must_say_json() {
    assert!(check_content_type(&headers(&[("content-type", "application/json")])).is_ok());
    assert!(
        check_content_type(&headers(&[(
            "content-type",
            "Application/JSON; charset=utf-8"
        )]))
        .is_ok()
    );
    for refused in [
        &[][..],
        &[("content-type", "text/plain")][..],
        &[("content-type", "application/x-www-form-urlencoded")][..],
        &[("content-type", "application/jsonx")][..],
    ] {
        let refusal = check_content_type(&headers(refused)).unwrap_err();
        assert_eq!(refusal.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
        assert!(refusal.message().contains("application/json"));
    }
}
