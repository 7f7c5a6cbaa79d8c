//! The one way the command line reaches a running relay's admin API: the
//! bearer token from `SWITCHBOARD_ADMIN_TOKEN`, JSON requests, and a
//! refusal told in the API's own words (a 401 also says where the token
//! comes from). `events` asks and acts through [`Api`]; `tap` opens its
//! stream with the same token and reads a refusal with [`refusal`]. Must
//! not know what an endpoint answers: the callers read it.

use std::time::Duration;

use bytes::Bytes;
use http::StatusCode;
use serde::Serialize;

/// The environment variable holding the admin API's bearer token.
pub const TOKEN_VAR: &str = "SWITCHBOARD_ADMIN_TOKEN";

/// How long a read may take.
const TIMEOUT: Duration = Duration::from_secs(30);
/// How long a POST may take: a bulk action counts every delivery its
/// filter selects before it answers.
const POST_TIMEOUT: Duration = Duration::from_secs(600);

/// Why the admin API gave no answer.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("cannot reach the admin API at {url}")]
    Unreachable {
        url: String,
        #[source]
        source: reqwest::Error,
    },
    #[error("the admin API answered {status}: {message}")]
    Refused { status: u16, message: String },
    #[error("cannot write the request's JSON body")]
    Body(#[source] serde_json::Error),
}

/// The token in the environment, if one is set (an empty one is none).
pub fn token() -> Option<String> {
    std::env::var(TOKEN_VAR).ok().filter(|t| !t.is_empty())
}

/// A refusal with the body the API sent: its `error`, or the body as
/// text; a 401 says where the token is read from.
pub fn refusal(status: StatusCode, body: &[u8]) -> ApiError {
    let mut message = serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v["error"].as_str().map(str::to_owned))
        .unwrap_or_else(|| String::from_utf8_lossy(body).into_owned());
    if message.trim().is_empty() {
        message = "(no reason given)".to_owned();
    }
    if status == StatusCode::UNAUTHORIZED {
        message.push_str(&format!(" (the token is read from {TOKEN_VAR})"));
    }
    ApiError::Refused {
        status: status.as_u16(),
        message,
    }
}

/// A relay's admin API at `base`, with the token from the environment.
pub struct Api {
    client: reqwest::Client,
    base: url::Url,
    token: Option<String>,
}

impl Api {
    /// The API at `base` (`http://127.0.0.1:9090`).
    pub fn new(base: &url::Url) -> Result<Api, ApiError> {
        let client = reqwest::Client::builder()
            .timeout(TIMEOUT)
            .build()
            .map_err(|source| ApiError::Unreachable {
                url: base.to_string(),
                source,
            })?;
        Ok(Api {
            client,
            base: base.clone(),
            token: token(),
        })
    }

    /// GET `path`: the body of a 2xx, the API's refusal otherwise.
    pub async fn get(&self, path: &str) -> Result<Bytes, ApiError> {
        self.send(self.client.get(self.url(path))).await
    }

    /// GET `path`: the body of a 2xx, `None` for a 404.
    pub async fn find(&self, path: &str) -> Result<Option<Bytes>, ApiError> {
        match self.get(path).await {
            Err(ApiError::Refused { status: 404, .. }) => Ok(None),
            other => other.map(Some),
        }
    }

    /// POST `body` as JSON to `path`: the body of a 2xx, the API's refusal
    /// otherwise.
    pub async fn post(&self, path: &str, body: &impl Serialize) -> Result<Bytes, ApiError> {
        // By hand: reqwest's `json` feature is a dev-dependency's only.
        let json = serde_json::to_vec(body).map_err(ApiError::Body)?;
        let request = self
            .client
            .post(self.url(path))
            .timeout(POST_TIMEOUT)
            .header(http::header::CONTENT_TYPE, "application/json")
            .body(json);
        self.send(request).await
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base.as_str().trim_end_matches('/'))
    }

    async fn send(&self, request: reqwest::RequestBuilder) -> Result<Bytes, ApiError> {
        let request = match &self.token {
            Some(token) => request.bearer_auth(token),
            None => request,
        };
        let unreachable = |source| ApiError::Unreachable {
            url: self.base.to_string(),
            source,
        };
        let response = request.send().await.map_err(unreachable)?;
        let status = response.status();
        let body = response.bytes().await.map_err(unreachable)?;
        if status.is_success() {
            return Ok(body);
        }
        Err(refusal(status, &body))
    }
}
