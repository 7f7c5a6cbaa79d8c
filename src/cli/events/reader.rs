//! Where `events search|show` read the history: a running relay's admin
//! API ([`Api`]), or the spool itself through its [`Ledger`]. Both answer
//! with the same views; printing is the caller's.

use crate::admin::events::query::{SearchQuery, to_query};
use crate::cli::api::Api;
use crate::spool::{EventSummary, EventView, Ledger, LedgerBackend, Page};

use super::{EventsError, From};

/// Where the answers come from.
pub enum Reader {
    Api(Api),
    Spool(LedgerBackend),
}

impl Reader {
    /// The API, or the spool `from` names (which must exist).
    pub async fn open(from: &From) -> Result<Reader, EventsError> {
        if let Some(base) = &from.admin {
            return Ok(Reader::Api(Api::new(base)?));
        }
        match from.spool().await? {
            Some((ledger, _)) => Ok(Reader::Spool(ledger)),
            // clap requires one of the three.
            None => Err(EventsError::Value {
                flag: "config",
                problem: "say where the history is: --admin URL, --config FILE or --spool FILE"
                    .to_owned(),
            }),
        }
    }

    /// One page of the search.
    pub async fn search(&self, search: &SearchQuery) -> Result<Page<EventSummary>, EventsError> {
        match self {
            Reader::Spool(ledger) => Ok(ledger
                .search(&search.filter, search.limit, search.cursor)
                .await?),
            Reader::Api(api) => {
                let body = api
                    .get(&format!("/api/events?{}", to_query(search)))
                    .await?;
                Ok(serde_json::from_slice(&body)?)
            }
        }
    }

    /// One webhook's story, if there is such a webhook.
    pub async fn show(&self, id: &str) -> Result<Option<EventView>, EventsError> {
        match self {
            Reader::Spool(ledger) => Ok(ledger.event(id).await?),
            Reader::Api(api) => {
                let id = url::form_urlencoded::byte_serialize(id.as_bytes()).collect::<String>();
                match api.find(&format!("/api/events/{id}")).await? {
                    Some(body) => Ok(Some(serde_json::from_slice(&body)?)),
                    None => Ok(None),
                }
            }
        }
    }
}
