//! The operator console's files over a real socket: `/` and every file the
//! page loads (found from the page itself: its `src`/`href`, then each
//! module's imports) come with the security headers and their content
//! type, without a token; the first screen stays under 200 KB; no file
//! names another origin, and none turns text into markup; a current copy
//! is a 304; unknown console paths
//! are 404 and other methods 405, with the same headers.

use std::collections::BTreeMap;

use regex::Regex;
use reqwest::Response;

use crate::common::{FakeTarget, TestRelay};

const TOKEN: &str = "console-test-token";

async fn relay() -> (TestRelay, FakeTarget) {
    let target = FakeTarget::start().await;
    let yaml = format!(
        "server:\n  admin_tokens:\n    - {{name: ops, token: {TOKEN}, role: operate}}\n\
         sources:\n  console_src: {{}}\ntargets:\n  console_t: {{url: \"{}\"}}\nroutes:\n  - to: [console_t]\n",
        target.url("/t")
    );
    (TestRelay::start(&yaml).await, target)
}

/// Asserts the headers every console answer carries.
fn assert_secure(path: &str, response: &Response) {
    let h = response.headers();
    let get = |name: &str| {
        h.get(name)
            .unwrap_or_else(|| panic!("{path}: no {name}"))
            .to_str()
            .unwrap()
            .to_owned()
    };
    let csp = get("content-security-policy");
    for part in [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "frame-ancestors 'none'",
        "object-src 'none'",
    ] {
        assert!(csp.contains(part), "{path}: CSP lacks {part}: {csp}");
    }
    assert!(
        !csp.contains("unsafe-inline") && !csp.contains("unsafe-eval"),
        "{csp}"
    );
    assert_eq!(get("x-frame-options"), "DENY", "{path}");
    assert_eq!(get("referrer-policy"), "no-referrer", "{path}");
    assert_eq!(get("x-content-type-options"), "nosniff", "{path}");
    assert_eq!(get("cache-control"), "no-cache", "{path}");
}

/// Every file the page loads at start, by path, with its body: the page's
/// own references, then the modules' imports, transitively.
async fn first_screen(relay: &TestRelay) -> BTreeMap<String, (String, Vec<u8>)> {
    let reference = Regex::new(r#"(?:src|href)="(/console/[^"]+)""#).unwrap();
    let import = Regex::new(r#"(?:import|from)\s*"\./([^"]+)""#).unwrap();
    let mut files = BTreeMap::new();
    let mut todo = vec!["/".to_owned()];
    while let Some(path) = todo.pop() {
        if files.contains_key(&path) {
            continue;
        }
        let response = relay.client.get(relay.admin(&path)).send().await.unwrap();
        assert_eq!(response.status(), 200, "{path}");
        assert_secure(&path, &response);
        assert!(response.headers().get("etag").is_some(), "{path}: no ETag");
        let kind = response.headers()["content-type"]
            .to_str()
            .unwrap()
            .to_owned();
        let body = response.bytes().await.unwrap().to_vec();
        let text = String::from_utf8_lossy(&body).into_owned();
        if path == "/" {
            todo.extend(reference.captures_iter(&text).map(|c| c[1].to_owned()));
        } else if path.ends_with(".js") {
            todo.extend(
                import
                    .captures_iter(&text)
                    .map(|c| format!("/console/{}", &c[1])),
            );
        }
        files.insert(path, (kind, body));
    }
    files
}

#[tokio::test]
async fn the_page_and_every_file_it_loads_are_served_safely_and_without_a_token() {
    let (relay, _t) = relay().await;
    let files = first_screen(&relay).await;
    let expected = [
        ("/", "text/html; charset=utf-8"),
        ("/console/app.js", "text/javascript; charset=utf-8"),
        ("/console/journey.js", "text/javascript; charset=utf-8"),
        ("/console/console.css", "text/css; charset=utf-8"),
        ("/console/icon.svg", "image/svg+xml"),
    ];
    for (path, kind) in expected {
        let (found, _) = files
            .get(path)
            .unwrap_or_else(|| panic!("{path} not loaded"));
        assert_eq!(found, kind, "{path}");
    }
    for (path, (kind, _)) in &files {
        let ok = match path.rsplit('.').next() {
            Some("js") => kind == "text/javascript; charset=utf-8",
            Some("css") => kind == "text/css; charset=utf-8",
            Some("svg") => kind == "image/svg+xml",
            _ => path == "/",
        };
        assert!(ok, "{path}: {kind}");
    }
    // Every screen's module is among them (all are imported at start).
    for screen in [
        "overview",
        "events",
        "journey",
        "dead",
        "playground",
        "config",
        "audit",
    ] {
        assert!(
            files.contains_key(&format!("/console/{screen}.js")),
            "{screen}"
        );
    }
    // The API behind it still wants the token.
    let api = relay
        .client
        .get(relay.admin("/api/status"))
        .send()
        .await
        .unwrap();
    assert_eq!(api.status(), 401);
}

#[tokio::test]
async fn the_first_screen_is_under_200_kb() {
    let (relay, _t) = relay().await;
    let files = first_screen(&relay).await;
    let total: usize = files.values().map(|(_, b)| b.len()).sum();
    assert!(files.len() >= 10, "only {} files found", files.len());
    assert!(total < 200 * 1024, "first screen is {total} bytes");
}

#[tokio::test]
async fn no_file_names_another_origin_runs_inline_code_or_writes_markup() {
    let (relay, _t) = relay().await;
    let files = first_screen(&relay).await;
    // A URL with a literal host; the SVG namespace is a name, not a request.
    let url = Regex::new(r#"(?i)(?:https?:)?//[a-z0-9\[][^\s"'`)]*"#).unwrap();
    let inline =
        Regex::new(r#"(?i)<script(?:\s[^>]*)?>\s*[^<\s]|\sstyle=|\son[a-z]+=|javascript:"#)
            .unwrap();
    for (path, (_, body)) in &files {
        let text = String::from_utf8_lossy(body);
        for m in url.find_iter(&text) {
            assert!(
                m.as_str().starts_with("http://www.w3.org/2000/svg"),
                "{path} names another origin: {}",
                m.as_str()
            );
        }
        if path == "/" || path.ends_with(".svg") {
            assert!(!inline.is_match(&text), "{path} has inline script or style");
        }
        // Text from webhooks reaches the page only as text nodes.
        for markup in [
            "innerHTML",
            "outerHTML",
            "insertAdjacentHTML",
            "document.write",
            "eval(",
            "new Function",
        ] {
            assert!(!text.contains(markup), "{path} uses {markup}");
        }
    }
}

#[tokio::test]
async fn a_current_copy_is_not_sent_again_and_a_changed_one_would_be() {
    let (relay, _t) = relay().await;
    let first = relay
        .client
        .get(relay.admin("/console/app.js"))
        .send()
        .await
        .unwrap();
    let etag = first.headers()["etag"].to_str().unwrap().to_owned();
    assert!(etag.starts_with('"') && etag.len() == 18, "{etag}");
    let again = relay
        .client
        .get(relay.admin("/console/app.js"))
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 304);
    assert_secure("/console/app.js (304)", &again);
    let other = relay
        .client
        .get(relay.admin("/console/app.js"))
        .header("if-none-match", "\"0000000000000000\"")
        .send()
        .await
        .unwrap();
    assert_eq!(other.status(), 200);
    let page = relay.client.get(relay.admin("/")).send().await.unwrap();
    assert_ne!(
        page.headers()["etag"].to_str().unwrap(),
        etag,
        "each file has its own tag"
    );
}

#[tokio::test]
async fn unknown_console_paths_are_404_and_other_methods_405() {
    let (relay, _t) = relay().await;
    for path in [
        "/console/nope.js",
        "/console/",
        "/console/..%2FCargo.toml",
        "/console/app.js/x",
    ] {
        let response = relay.client.get(relay.admin(path)).send().await.unwrap();
        assert_eq!(response.status(), 404, "{path}");
        assert_secure(path, &response);
    }
    let index = relay
        .client
        .get(relay.admin("/index.html"))
        .send()
        .await
        .unwrap();
    assert_eq!(index.status(), 404);
    let post = relay
        .client
        .post(relay.admin("/"))
        .header("content-type", "application/json")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(post.status(), 405);
    assert_eq!(post.headers()["allow"], "GET, HEAD");
    assert_secure("POST /", &post);
}
