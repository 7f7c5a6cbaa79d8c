//! A bulk action through a relay's admin API: the request the flags say,
//! sent with the bearer token from `SWITCHBOARD_ADMIN_TOKEN`, then the job
//! followed. Must not check the request itself: the API does.

use serde_json::Value;

use super::BulkError;
use super::job::{Outcome, ended, follow};
use crate::admin::bulk::Request;

/// Over the admin API.
pub(super) async fn remote(
    url: &str,
    verb: &str,
    body: &Request,
    json: bool,
) -> Result<Outcome, BulkError> {
    let base = url.trim_end_matches('/');
    let token = std::env::var("SWITCHBOARD_ADMIN_TOKEN").ok();
    let client = reqwest::Client::new();
    let send = |request: reqwest::RequestBuilder| {
        let request = match &token {
            Some(token) => request.bearer_auth(token),
            None => request,
        };
        async move {
            let response = request.send().await.map_err(|source| BulkError::Http {
                url: base.to_owned(),
                source,
            })?;
            let status = response.status();
            let answer: Value = response.json().await.unwrap_or(Value::Null);
            if !status.is_success() {
                let error = answer["error"].as_str().unwrap_or("no reason given");
                return Err(BulkError::Refused(format!(
                    "the admin API answered {status}: {error}"
                )));
            }
            Ok(answer)
        }
    };
    let started = send(
        client
            .post(format!("{base}/api/deliveries/{verb}"))
            .json(body),
    )
    .await?;
    if body.dry_run {
        return Ok(Outcome::Counted(started["count"].as_u64().unwrap_or(0)));
    }
    let id = started["job"].as_str().unwrap_or_default().to_owned();
    let job = follow(json, || send(client.get(format!("{base}/api/jobs/{id}")))).await?;
    ended(job)
}
