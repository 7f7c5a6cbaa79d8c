//! One browser tab on the operator console, watched for what must fail a
//! test: a JavaScript exception, a `console.error`, a Content-Security-Policy
//! violation (the DOM's `securitypolicyviolation` events and the browser's
//! own security log), a request to any other origin, and a page asset
//! (anything outside `/api/`) answered 4xx or 5xx. [`Ui::finish`] asserts
//! none happened; every test ends with it.
//!
//! Elements are found by their `data-test` attribute only (the console's
//! docs/console/TESTING.md lists them), and every wait polls the DOM with a
//! timeout: nothing sleeps and then looks.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use chromiumoxide::Page;
use chromiumoxide::cdp::browser_protocol::emulation::{
    MediaFeature, SetDeviceMetricsOverrideParams,
};
use chromiumoxide::cdp::browser_protocol::log::{
    self, EventEntryAdded, LogEntryLevel, LogEntrySource,
};
use chromiumoxide::cdp::browser_protocol::network::{
    self, EventRequestWillBeSent, EventResponseReceived,
};
use chromiumoxide::cdp::browser_protocol::page::{
    AddScriptToEvaluateOnNewDocumentParams, CaptureScreenshotFormat,
};
use chromiumoxide::cdp::js_protocol::runtime::{
    self, ConsoleApiCalledType, EventConsoleApiCalled, EventExceptionThrown,
};
use chromiumoxide::page::ScreenshotParams;
use futures_util::StreamExt;
use serde_json::Value;

use super::chromium::Chromium;
use crate::common::WAIT;

/// Collects the DOM's CSP violation events where the test can read them
/// (scripts the DevTools protocol adds are not subject to the page's CSP).
const CSP_WATCH: &str = "window.__cspViolations = []; \
    document.addEventListener('securitypolicyviolation', e => \
    window.__cspViolations.push(e.violatedDirective + ' blocked ' + e.blockedURI));";

/// A screen size.
#[derive(Debug, Clone, Copy)]
pub struct Screen {
    pub name: &'static str,
    pub width: i64,
    pub height: i64,
    pub mobile: bool,
}

pub const DESKTOP: Screen = Screen {
    name: "desktop",
    width: 1280,
    height: 800,
    mobile: false,
};

pub const PHONE: Screen = Screen {
    name: "phone",
    width: 390,
    height: 844,
    mobile: true,
};

/// The CSS selector of a `data-test` name.
pub fn t(name: &str) -> String {
    format!("[data-test=\"{name}\"]")
}

/// A tab on the console at `origin`.
pub struct Ui {
    pub page: Page,
    origin: String,
    problems: Arc<Mutex<Vec<String>>>,
    /// Every response's URL and status, in order.
    responses: Arc<Mutex<Vec<(String, i64)>>>,
    watchers: Vec<tokio::task::JoinHandle<()>>,
}

impl Ui {
    /// Opens a new tab, starts watching it, and loads `origin/`.
    pub async fn open(chromium: &Chromium, origin: &str) -> Ui {
        let page = chromium.browser.new_page("about:blank").await.unwrap();
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
        let mut ui = Ui {
            page,
            origin: origin.trim_end_matches('/').to_owned(),
            problems: Arc::default(),
            responses: Arc::default(),
            watchers: Vec::new(),
        };
        ui.watch().await;
        ui.page.goto(format!("{}/", ui.origin)).await.unwrap();
        ui
    }

    /// Starts the watchers of what fails a test.
    async fn watch(&mut self) {
        let problems = self.problems.clone();
        let mut events = self
            .page
            .event_listener::<EventExceptionThrown>()
            .await
            .unwrap();
        self.watchers.push(tokio::spawn(async move {
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
        let problems = self.problems.clone();
        let mut events = self
            .page
            .event_listener::<EventConsoleApiCalled>()
            .await
            .unwrap();
        self.watchers.push(tokio::spawn(async move {
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
        let problems = self.problems.clone();
        let mut events = self.page.event_listener::<EventEntryAdded>().await.unwrap();
        self.watchers.push(tokio::spawn(async move {
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
        let (problems, origin) = (self.problems.clone(), self.origin.clone());
        let mut events = self
            .page
            .event_listener::<EventRequestWillBeSent>()
            .await
            .unwrap();
        self.watchers.push(tokio::spawn(async move {
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
        let (problems, responses) = (self.problems.clone(), self.responses.clone());
        let origin = self.origin.clone();
        let mut events = self
            .page
            .event_listener::<EventResponseReceived>()
            .await
            .unwrap();
        self.watchers.push(tokio::spawn(async move {
            while let Some(e) = events.next().await {
                let url = &e.response.url;
                responses
                    .lock()
                    .unwrap()
                    .push((url.clone(), e.response.status));
                let asset = !url.starts_with(&format!("{origin}/api/"));
                if asset && e.response.status >= 400 {
                    push(
                        &problems,
                        format!("asset answered {}: {url}", e.response.status),
                    );
                }
            }
        }));
    }

    /// Evaluates `js` (an expression) and returns its JSON value.
    pub async fn eval(&self, js: &str) -> Value {
        let result = self
            .page
            .evaluate(js)
            .await
            .unwrap_or_else(|e| panic!("evaluating `{js}`: {e}"));
        result.value().cloned().unwrap_or(Value::Null)
    }

    /// Polls until `js` is truthy, within [`WAIT`]; panics naming `what`.
    pub async fn wait(&self, what: &str, js: &str) -> Value {
        let poll = async {
            loop {
                // A navigation may destroy the context mid-poll: ask again.
                if let Ok(result) = self.page.evaluate(js).await {
                    let value = result.value().cloned().unwrap_or(Value::Null);
                    if truthy(&value) {
                        return value;
                    }
                }
                tokio::time::sleep(Duration::from_millis(40)).await;
            }
        };
        match tokio::time::timeout(WAIT, poll).await {
            Ok(value) => value,
            Err(_) => panic!(
                "waited {WAIT:?} for {what} (`{js}`); problems so far: {:?}; page text: {}",
                self.problems(),
                self.eval("document.body ? document.body.innerText.slice(0, 2000) : ''")
                    .await
            ),
        }
    }

    /// Waits until an element with `data-test` = `name` is shown.
    pub async fn shown(&self, name: &str) {
        let js = format!(
            "(() => {{ const e = document.querySelector('{}'); return !!e && e.getClientRects().length > 0; }})()",
            t(name)
        );
        self.wait(&format!("[data-test={name}] to be shown"), &js)
            .await;
    }

    /// Waits for `name`, then clicks it.
    pub async fn click(&self, name: &str) {
        self.shown(name).await;
        self.eval(&format!("document.querySelector('{}').click()", t(name)))
            .await;
    }

    /// Waits for the field `name`, then types `value` into it (as input
    /// and change events, as a person's typing ends).
    pub async fn fill(&self, name: &str, value: &str) {
        self.shown(name).await;
        let value = serde_json::to_string(value).unwrap();
        self.eval(&format!(
            "(() => {{ const e = document.querySelector('{}'); e.focus(); e.value = {value}; \
             e.dispatchEvent(new Event('input', {{bubbles: true}})); \
             e.dispatchEvent(new Event('change', {{bubbles: true}})); }})()",
            t(name)
        ))
        .await;
    }

    /// Waits until the text of `name` (every element of that name,
    /// joined) contains `needle`; the text then.
    pub async fn text_contains(&self, name: &str, needle: &str) -> String {
        let needle_js = serde_json::to_string(needle).unwrap();
        let js = format!(
            "(() => {{ const t = [...document.querySelectorAll('{}')].map(e => e.innerText || e.value || '').join('\\n'); return t.includes({needle_js}) ? t : null; }})()",
            t(name)
        );
        let found = self
            .wait(&format!("[data-test={name}] to contain {needle:?}"), &js)
            .await;
        found.as_str().unwrap_or_default().to_owned()
    }

    /// How many elements named `name` are in the page.
    pub async fn count(&self, name: &str) -> u64 {
        self.eval(&format!("document.querySelectorAll('{}').length", t(name)))
            .await
            .as_u64()
            .unwrap_or(0)
    }

    /// Sets the screen size and colour scheme.
    pub async fn screen(&self, screen: Screen, dark: bool) {
        self.page
            .execute(SetDeviceMetricsOverrideParams::new(
                screen.width,
                screen.height,
                1.0,
                screen.mobile,
            ))
            .await
            .unwrap();
        let scheme = MediaFeature {
            name: "prefers-color-scheme".to_owned(),
            value: if dark { "dark" } else { "light" }.to_owned(),
        };
        self.page
            .emulate_media_features(vec![scheme])
            .await
            .unwrap();
    }

    /// A PNG of the viewport as `<name>-<screen>[-dark].png` in the
    /// screenshot directory.
    pub async fn screenshot(&self, name: &str, screen: Screen, dark: bool) {
        self.screen(screen, dark).await;
        // Two frames, so the new size and scheme are laid out and painted.
        self.eval(
            "new Promise(r => requestAnimationFrame(() => requestAnimationFrame(() => r(true))))",
        )
        .await;
        let png = self
            .page
            .screenshot(
                ScreenshotParams::builder()
                    .format(CaptureScreenshotFormat::Png)
                    .build(),
            )
            .await
            .unwrap();
        let dir = super::screenshots();
        std::fs::create_dir_all(&dir).unwrap();
        let scheme = if dark { "-dark" } else { "" };
        std::fs::write(dir.join(format!("{name}-{}{scheme}.png", screen.name)), png).unwrap();
    }

    /// Shows the screen at `hash` (`#/event/<id>`), as a shared link
    /// does: the console's screens live in the URL's fragment.
    pub async fn visit(&self, hash: &str) {
        let hash = serde_json::to_string(hash).unwrap();
        self.eval(&format!("location.hash = {hash}; true")).await;
    }

    /// Waits until the page has had response headers for a request to
    /// `path` (on its origin, query aside); their status.
    pub async fn responded(&self, path: &str) -> i64 {
        let url = format!("{}{path}", self.origin);
        let found = || {
            self.responses
                .lock()
                .unwrap()
                .iter()
                .find(|(u, _)| u == &url || u.starts_with(&format!("{url}?")))
                .map(|(_, status)| *status)
        };
        tokio::time::timeout(WAIT, async {
            loop {
                if let Some(status) = found() {
                    return status;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
        .await
        .unwrap_or_else(|_| panic!("no response to {path} within {WAIT:?}"))
    }

    /// Clicks the element `css` selects, once it is shown.
    pub async fn click_css(&self, css: &str) {
        let css_js = serde_json::to_string(css).unwrap();
        self.wait(
            &format!("{css} to be shown"),
            &format!("(() => {{ const e = document.querySelector({css_js}); return !!e && e.getClientRects().length > 0; }})()"),
        )
        .await;
        self.eval(&format!("document.querySelector({css_js}).click()"))
            .await;
    }

    /// The `textContent` of the element `css` selects, once there.
    pub async fn content(&self, css: &str) -> String {
        let css_js = serde_json::to_string(css).unwrap();
        let js = format!(
            "(() => {{ const e = document.querySelector({css_js}); return e ? [e.textContent] : null; }})()"
        );
        let found = self.wait(&format!("{css} to be there"), &js).await;
        found[0].as_str().unwrap_or_default().to_owned()
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

    /// Asserts the tab saw no JavaScript error, no CSP violation, no request
    /// to another origin and no failed asset; closes it.
    pub async fn finish(self) {
        let csp = self
            .eval("JSON.stringify(window.__cspViolations || [])")
            .await;
        let csp: Vec<String> =
            serde_json::from_str(csp.as_str().unwrap_or("[]")).unwrap_or_default();
        let mut problems = self.problems();
        problems.extend(csp.into_iter().map(|v| format!("CSP violation: {v}")));
        for watcher in &self.watchers {
            watcher.abort();
        }
        let _ = self.page.close().await;
        assert!(problems.is_empty(), "the console went wrong: {problems:#?}");
    }
}

fn push(problems: &Mutex<Vec<String>>, problem: String) {
    problems.lock().unwrap().push(problem);
}

/// JavaScript's truthiness of a JSON value.
fn truthy(value: &Value) -> bool {
    match value {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|n| n != 0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(_) | Value::Object(_) => true,
    }
}
