//! Where `events` reads the history: a running relay's admin API over
//! HTTP, or the spool itself through its [`Ledger`]. Both answer with the
//! same views; printing is the caller's.

use crate::admin::events::query::{SearchQuery, to_query};
use crate::config::interpolate::Env;
use crate::spool::{EventSummary, EventView, Ledger, LedgerBackend, Location, Page};

use super::{EventsError, From};

/// The environment variable holding the admin API's bearer token.
pub const TOKEN_VAR: &str = "SWITCHBOARD_ADMIN_TOKEN";

/// Where the answers come from.
pub enum Reader {
    Api {
        client: reqwest::Client,
        base: url::Url,
        token: Option<String>,
    },
    Spool(LedgerBackend),
}

impl Reader {
    /// The API, or the spool `from` names (which must exist).
    pub async fn open(from: &From) -> Result<Reader, EventsError> {
        if let Some(base) = &from.admin {
            let client = reqwest::Client::builder()
                .timeout(std::time::Duration::from_secs(30))
                .build()
                .map_err(|source| EventsError::Unreachable {
                    url: base.to_string(),
                    source,
                })?;
            let token = std::env::var(TOKEN_VAR).ok().filter(|t| !t.is_empty());
            return Ok(Reader::Api {
                client,
                base: base.clone(),
                token,
            });
        }
        let location = match (&from.config, &from.spool) {
            (Some(config), _) => crate::relay::load(config, &Env::from_process(), None)
                .map_err(|error| EventsError::Load {
                    path: config.clone(),
                    error,
                })?
                .server
                .spool
                .clone(),
            (None, Some(file)) => Location::Sqlite(file.clone()),
            // clap requires one of the three.
            (None, None) => {
                return Err(EventsError::Value {
                    flag: "config",
                    problem: "say where the history is: --admin URL, --config FILE or --spool FILE"
                        .to_owned(),
                });
            }
        };
        let ledger = LedgerBackend::open(&location)
            .await
            .map_err(|source| EventsError::Open {
                spool: location.to_string(),
                source,
            })?;
        Ok(Reader::Spool(ledger))
    }

    /// One page of the search.
    pub async fn search(&self, search: &SearchQuery) -> Result<Page<EventSummary>, EventsError> {
        match self {
            Reader::Spool(ledger) => Ok(ledger
                .search(&search.filter, search.limit, search.cursor)
                .await?),
            Reader::Api { .. } => {
                let body = self
                    .get(&format!("/api/events?{}", to_query(search)))
                    .await?;
                Ok(serde_json::from_slice(&body.unwrap_or_default())?)
            }
        }
    }

    /// One webhook's story, if there is such a webhook.
    pub async fn show(&self, id: &str) -> Result<Option<EventView>, EventsError> {
        match self {
            Reader::Spool(ledger) => Ok(ledger.event(id).await?),
            Reader::Api { .. } => {
                let id = url::form_urlencoded::byte_serialize(id.as_bytes()).collect::<String>();
                match self.get(&format!("/api/events/{id}")).await? {
                    Some(body) => Ok(Some(serde_json::from_slice(&body)?)),
                    None => Ok(None),
                }
            }
        }
    }

    /// GET `path` on the API: the body of a 2xx, `None` for a 404, the
    /// API's error otherwise.
    async fn get(&self, path: &str) -> Result<Option<bytes::Bytes>, EventsError> {
        let Reader::Api {
            client,
            base,
            token,
        } = self
        else {
            return Ok(None);
        };
        let url = format!("{}{path}", base.as_str().trim_end_matches('/'));
        let mut request = client.get(&url);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let unreachable = |source| EventsError::Unreachable {
            url: base.to_string(),
            source,
        };
        let response = request.send().await.map_err(unreachable)?;
        let status = response.status();
        let body = response.bytes().await.map_err(unreachable)?;
        if status.is_success() {
            return Ok(Some(body));
        }
        if status == http::StatusCode::NOT_FOUND && path.starts_with("/api/events/") {
            return Ok(None);
        }
        let mut message = serde_json::from_slice::<serde_json::Value>(&body)
            .ok()
            .and_then(|v| v["error"].as_str().map(str::to_owned))
            .unwrap_or_else(|| String::from_utf8_lossy(&body).into_owned());
        if status == http::StatusCode::UNAUTHORIZED {
            message.push_str(&format!(" (the token is read from {TOKEN_VAR})"));
        }
        Err(EventsError::Api {
            status: status.as_u16(),
            message,
        })
    }
}
