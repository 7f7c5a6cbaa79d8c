//! The operator console: the static files a browser loads from the admin
//! listener (`/` and `/console/<file>`), embedded in the binary, with the
//! headers that keep them safe: a strict Content-Security-Policy (no inline
//! script or style, nothing from another origin), no framing, no referrer,
//! no content sniffing, and `Cache-Control: no-cache` with an `ETag` of the
//! file's content, so a browser revalidates every load and never runs a
//! stale console after an upgrade.
//!
//! The files hold no data and take no token; everything the console shows
//! comes from `/api/*` with the operator's bearer token. This module must
//! not read the relay, the spool or the config: it serves bytes.

mod assets;

use std::sync::OnceLock;

use http::header::{ALLOW, CACHE_CONTROL, CONTENT_TYPE, ETAG, IF_NONE_MATCH};
use http::{HeaderMap, HeaderValue, Method, StatusCode};
use sha2::{Digest, Sha256};
use warp::reply::{Reply, Response};

use assets::{ASSETS, Asset};

/// The console's Content-Security-Policy: everything from this origin only,
/// no inline script or style, no plugins, no `<base>`, no framing.
pub const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
img-src 'self'; connect-src 'self'; font-src 'self'; object-src 'none'; \
base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// Whether `path` is the console's: `/` or under `/console/`. The console
/// answers these itself (405, 404 included), with its headers.
pub(super) fn claims(path: &str) -> bool {
    path == "/" || path.starts_with("/console/")
}

/// The file a console path names: `/` is the page, `/console/<name>` one
/// of its files. `None` for anything else.
pub(super) fn file_of(path: &str) -> Option<&'static str> {
    let name = match path {
        "/" => "index.html",
        _ => path.strip_prefix("/console/")?,
    };
    ASSETS.iter().find(|a| a.name == name).map(|a| a.name)
}

/// The whole answer for a console path: the file with its headers, 304
/// when the browser's copy is current, or a 404 or 405 with the same
/// headers.
pub(super) fn serve(method: &Method, path: &str, request: &HeaderMap) -> Response {
    if method != Method::GET && method != Method::HEAD {
        let mut response = plain(StatusCode::METHOD_NOT_ALLOWED, "the console takes GET\n");
        response
            .headers_mut()
            .insert(ALLOW, HeaderValue::from_static("GET, HEAD"));
        return response;
    }
    let Some(index) = file_of(path).and_then(|n| ASSETS.iter().position(|a| a.name == n)) else {
        return plain(StatusCode::NOT_FOUND, "no such console file\n");
    };
    let asset: &Asset = &ASSETS[index];
    let etag = &etags()[index];
    let fresh = request
        .get(IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag.as_str()));
    let mut response = if fresh {
        warp::reply::with_status("", StatusCode::NOT_MODIFIED).into_response()
    } else {
        Response::new(asset.bytes.into())
    };
    let headers = response.headers_mut();
    secure(headers, asset.content_type);
    if let Ok(value) = HeaderValue::from_str(etag) {
        headers.insert(ETAG, value);
    }
    response
}

/// A short text answer with the console's headers.
fn plain(status: StatusCode, text: &'static str) -> Response {
    let mut response = warp::reply::with_status(text, status).into_response();
    secure(response.headers_mut(), "text/plain; charset=utf-8");
    response
}

/// The headers every console answer carries.
fn secure(headers: &mut HeaderMap, content_type: &'static str) {
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert("content-security-policy", HeaderValue::from_static(CSP));
    headers.insert("x-frame-options", HeaderValue::from_static("DENY"));
    headers.insert("referrer-policy", HeaderValue::from_static("no-referrer"));
    headers.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        "cross-origin-opener-policy",
        HeaderValue::from_static("same-origin"),
    );
    headers.insert(
        "cross-origin-resource-policy",
        HeaderValue::from_static("same-origin"),
    );
}

/// Each file's `ETag`: the first 16 hex digits of its SHA-256, quoted;
/// computed once, in [`ASSETS`]' order.
fn etags() -> &'static [String] {
    static ETAGS: OnceLock<Vec<String>> = OnceLock::new();
    ETAGS.get_or_init(|| {
        ASSETS
            .iter()
            .map(|a| {
                let digest = Sha256::digest(a.bytes);
                let hex: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
                format!("\"{hex}\"")
            })
            .collect()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_root_is_the_page_and_unknown_files_are_none() {
        assert_eq!(file_of("/"), Some("index.html"));
        assert_eq!(file_of("/console/app.js"), Some("app.js"));
        assert_eq!(file_of("/console/nope.js"), None);
        assert_eq!(file_of("/console/../Cargo.toml"), None);
        assert_eq!(file_of("/index.html"), None);
    }

    #[test]
    fn every_file_has_a_distinct_name_and_a_type() {
        for (i, a) in ASSETS.iter().enumerate() {
            assert!(ASSETS[..i].iter().all(|b| b.name != a.name), "{}", a.name);
            assert!(
                !a.content_type.is_empty() && !a.bytes.is_empty(),
                "{}",
                a.name
            );
        }
    }
}
