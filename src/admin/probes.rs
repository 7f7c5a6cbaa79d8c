//! The endpoints kubelet and Prometheus call: `/metrics`, `/healthz` and
//! `/readyz`. They take no token and do not check `Host` (see the module
//! above). Must not change anything but the gauges set at scrape time.

use std::time::Duration;

use http::StatusCode;
use serde_json::json;
use warp::reply::{Reply, Response};

use super::{Admin, Control};
use crate::spool::Ledger;

/// `GET /metrics`: the Prometheus text, with the backlog and memory gauges
/// set from the spool and the workers first.
pub(super) async fn metrics<C: Control>(admin: &Admin<C>) -> Response {
    if let Ok(backlog) = admin.ledger.backlog().await {
        let now = crate::time::now_ms();
        for name in admin.relay.runtime().targets.keys() {
            let b = backlog.get(name).cloned().unwrap_or_default();
            crate::metrics::backlog(name, &b);
            let age_ms = b
                .oldest_pending_ms
                .map_or(0, |oldest| (now - oldest).max(0));
            crate::metrics::oldest_pending(name, age_ms as f64 / 1000.0);
        }
    }
    for (name, bytes) in admin.relay.window_bytes() {
        crate::metrics::window_bytes(&name, bytes);
    }
    crate::metrics::collect_process();
    let mut response = admin.metrics.render().into_response();
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    response
}

/// `GET /healthz`: the process answers.
pub(super) fn healthz() -> Response {
    warp::reply::json(&json!({"status": "ok"})).into_response()
}

/// `GET /readyz`: a config is in force, the spool takes writes, and the
/// relay is not draining.
pub(super) async fn ready<C: Control>(admin: &Admin<C>) -> Response {
    let draining = admin.relay.draining();
    let spool = tokio::time::timeout(Duration::from_secs(2), admin.relay.flush()).await;
    let spool_ok = matches!(spool, Ok(Ok(())));
    let ok = spool_ok && !draining;
    let body =
        json!({"ready": ok, "config": true, "spool_writable": spool_ok, "draining": draining});
    let code = if ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    warp::reply::with_status(warp::reply::json(&body), code).into_response()
}
