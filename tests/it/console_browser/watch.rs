//! What must fail a console test, watched on one tab over the DevTools
//! protocol: a JavaScript exception, a `console.error`, a
//! Content-Security-Policy violation (the browser's security log here,
//! the DOM's `securitypolicyviolation` events collected by [`CSP_WATCH`]
//! for `Ui::finish`), a request to any other origin, and a page asset
//! (anything outside `/api/`) answered 4xx or 5xx. A refused API call is
//! none of these: the console shows it, and the browser's own "failed to
//! load" line for it is left out.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use chromiumoxide::Page;
use chromiumoxide::cdp::browser_protocol::log::{
    self, EventEntryAdded, LogEntryLevel, LogEntrySource,
};
use chromiumoxide::cdp::browser_protocol::network::{
    self, EventRequestWillBeSent, EventResponseReceived,
};
use chromiumoxide::cdp::browser_protocol::page::AddScriptToEvaluateOnNewDocumentParams;
use chromiumoxide::cdp::js_protocol::runtime::{
    self, ConsoleApiCalledType, EventConsoleApiCalled, EventExceptionThrown,
};
use futures_util::StreamExt;
use serde_json::Value;

use crate::common::WAIT;

/// Collects the DOM's CSP violation events where the test can read them
/// (scripts the DevTools protocol adds are not subject to the page's CSP).
pub const CSP_WATCH: &str = "window.__cspViolations = []; \
    document.addEventListener('securitypolicyviolation', e => \
    window.__cspViolations.push(e.violatedDirective + ' blocked ' + e.blockedURI));";

/// The watchers of one tab.
pub struct Watch {
    origin: String,
    problems: Arc<Mutex<Vec<String>>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Watch {
    /// Enables the protocol's domains on `page` (before it loads anything)
    /// and starts watching it; `origin` is the console's.
    pub async fn start(page: &Page, origin: &str) -> Watch {
        page.execute(runtime::EnableParams::default())
            .await
            .unwrap();
        page.execute(log::EnableParams::default()).await.unwrap();
        page.execute(network::EnableParams::default())
            .await
            .unwrap();
        page.execute(AddScriptToEvaluateOnNewDocumentParams::new(CSP_WATCH))
            .await
            .unwrap();
        let mut watch = Watch {
            origin: origin.to_owned(),
            problems: Arc::default(),
            tasks: Vec::new(),
        };
        let problems = watch.problems.clone();
        let mut events = page.event_listener::<EventExceptionThrown>().await.unwrap();
        watch.tasks.push(tokio::spawn(async move {
            while let Some(e) = events.next().await {
                let details = &e.exception_details;
                let what = details
                    .exception
                    .as_ref()
                    .and_then(|o| o.description.clone());
                push(
                    &problems,
                    format!(
                        "JavaScript exception: {} {}",
                        details.text,
                        what.unwrap_or_default()
                    ),
                );
            }
        }));
        let problems = watch.problems.clone();
        let mut events = page
            .event_listener::<EventConsoleApiCalled>()
            .await
            .unwrap();
        watch.tasks.push(tokio::spawn(async move {
            while let Some(e) = events.next().await {
                if matches!(
                    e.r#type,
                    ConsoleApiCalledType::Error | ConsoleApiCalledType::Assert
                ) {
                    let args: Vec<String> = e
                        .args
                        .iter()
                        .map(|a| {
                            a.value.as_ref().map_or_else(
                                || a.description.clone().unwrap_or_default(),
                                Value::to_string,
                            )
                        })
                        .collect();
                    push(&problems, format!("console.error: {}", args.join(" ")));
                }
            }
        }));
        let problems = watch.problems.clone();
        let mut events = page.event_listener::<EventEntryAdded>().await.unwrap();
        watch.tasks.push(tokio::spawn(async move {
            while let Some(e) = events.next().await {
                let entry = &e.entry;
                // A refused API call is logged by the browser as a failed
                // resource load: the console shows it; assets are checked
                // by their responses below.
                let network = matches!(entry.source, LogEntrySource::Network);
                let security = matches!(
                    entry.source,
                    LogEntrySource::Security | LogEntrySource::Violation
                ) && entry.text.contains("Content Security Policy");
                if security || (matches!(entry.level, LogEntryLevel::Error) && !network) {
                    push(
                        &problems,
                        format!("browser log ({:?}): {}", entry.source, entry.text),
                    );
                }
            }
        }));
        let (problems, origin) = (watch.problems.clone(), watch.origin.clone());
        let mut events = page
            .event_listener::<EventRequestWillBeSent>()
            .await
            .unwrap();
        watch.tasks.push(tokio::spawn(async move {
            while let Some(e) = events.next().await {
                let url = &e.request.url;
                let own = url.starts_with(&format!("{origin}/")) || *url == origin;
                let local = url.starts_with("data:")
                    || url.starts_with("blob:")
                    || url.starts_with("about:");
                if !own && !local {
                    push(&problems, format!("request to another origin: {url}"));
                }
            }
        }));
        let problems = watch.problems.clone();
        let origin = watch.origin.clone();
        let mut events = page
            .event_listener::<EventResponseReceived>()
            .await
            .unwrap();
        watch.tasks.push(tokio::spawn(async move {
            while let Some(e) = events.next().await {
                let url = &e.response.url;
                let asset = !url.starts_with(&format!("{origin}/api/"));
                if asset && e.response.status >= 400 {
                    push(
                        &problems,
                        format!("asset answered {}: {url}", e.response.status),
                    );
                }
            }
        }));
        watch
    }

    /// Waits until a problem mentioning `needle` was caught.
    pub async fn caught(&self, needle: &str) {
        tokio::time::timeout(WAIT, async {
            while !self.problems().iter().any(|p| p.contains(needle)) {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
        .await
        .unwrap_or_else(|_| panic!("{needle} not caught: {:?}", self.problems()));
    }

    /// Everything that went wrong so far.
    pub fn problems(&self) -> Vec<String> {
        self.problems.lock().unwrap().clone()
    }

    /// Stops watching.
    pub fn stop(&self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

fn push(problems: &Mutex<Vec<String>>, problem: String) {
    problems.lock().unwrap().push(problem);
}
