//! The admin API's answers other than an endpoint's own: JSON
//! `{"error": message}` with the status that fits, and `Allow` or
//! `WWW-Authenticate` where one belongs.

use http::StatusCode;
use serde_json::json;
use warp::reply::{Reply, Response};

use super::guard::Refusal;

/// An answer other than the endpoint's own: `{"error": message}`.
pub(super) struct Problem {
    pub(super) status: StatusCode,
    pub(super) message: String,
    /// `Allow` on a 405, `WWW-Authenticate` on a 401.
    pub(super) header: Option<(http::header::HeaderName, &'static str)>,
}

impl Problem {
    pub(super) fn new(status: StatusCode, message: impl Into<String>) -> Problem {
        Problem {
            status,
            message: message.into(),
            header: None,
        }
    }

    pub(super) fn into_response(self) -> Response {
        let mut response = warp::reply::with_status(
            warp::reply::json(&json!({"error": self.message})),
            self.status,
        )
        .into_response();
        if let Some((name, value)) = self.header {
            response
                .headers_mut()
                .insert(name, http::HeaderValue::from_static(value));
        }
        response
    }
}

impl From<Refusal> for Problem {
    fn from(refusal: Refusal) -> Problem {
        Problem {
            status: refusal.status(),
            message: refusal.message(),
            header: match refusal {
                Refusal::MethodNotAllowed { allow } => Some((http::header::ALLOW, allow)),
                _ => None,
            },
        }
    }
}

pub(super) fn error(status: StatusCode, message: &str) -> Response {
    Problem::new(status, message).into_response()
}
