//! A bulk action through a relay's admin API ([`Api`]): the request the
//! flags say, then the job followed. Must not check the request itself:
//! the API does.

use serde_json::Value;

use super::EventsError;
use super::job::{Outcome, ended, follow};
use crate::admin::bulk::Request;
use crate::cli::api::Api;

/// Over the admin API at `base`.
pub(super) async fn remote(
    base: &url::Url,
    verb: &str,
    body: &Request,
    json: bool,
) -> Result<Outcome, EventsError> {
    let api = Api::new(base)?;
    let answer = api.post(&format!("/api/deliveries/{verb}"), body).await?;
    let started: Value = serde_json::from_slice(&answer)?;
    if body.dry_run {
        return Ok(Outcome::Counted(started["count"].as_u64().unwrap_or(0)));
    }
    let id = started["job"].as_str().unwrap_or_default().to_owned();
    let path = format!("/api/jobs/{id}");
    let job = follow(json, || async {
        Ok(serde_json::from_slice(&api.get(&path).await?)?)
    })
    .await?;
    ended(job)
}
