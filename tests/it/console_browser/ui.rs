//! One browser tab on the operator console, watched (`watch`) for what
//! must fail a test; [`Ui::finish`] asserts none happened, and every test
//! ends with it. Screen sizes and screenshots are `screen`'s.
//!
//! Elements are found by their `data-test` attribute only (the console's
//! docs/console/TESTING.md lists them), and every wait polls the DOM with a
//! timeout: nothing sleeps and then looks.

use std::time::Duration;

use chromiumoxide::Page;
use serde_json::Value;

use super::chromium::Chromium;
use super::watch::Watch;
use crate::common::WAIT;

pub use super::screen::{DESKTOP, PHONE};

/// The CSS selector of a `data-test` name.
pub fn t(name: &str) -> String {
    format!("[data-test=\"{name}\"]")
}

/// A tab on the console at `origin`.
pub struct Ui {
    pub page: Page,
    watch: Watch,
}

impl Ui {
    /// Opens a new tab, starts watching it, and loads `origin/`.
    pub async fn open(chromium: &Chromium, origin: &str) -> Ui {
        let page = chromium.browser.new_page("about:blank").await.unwrap();
        let origin = origin.trim_end_matches('/');
        let watch = Watch::start(&page, origin).await;
        page.goto(format!("{origin}/")).await.unwrap();
        Ui { page, watch }
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

    /// Shows the screen at `hash` (`#/event/<id>`), as a shared link
    /// does: the console's screens live in the URL's fragment.
    pub async fn visit(&self, hash: &str) {
        let hash = serde_json::to_string(hash).unwrap();
        self.eval(&format!("location.hash = {hash}; true")).await;
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

    /// Everything that went wrong so far.
    pub fn problems(&self) -> Vec<String> {
        self.watch.problems()
    }

    /// Waits until a problem mentioning `needle` was caught.
    pub async fn caught(&self, needle: &str) {
        self.watch.caught(needle).await;
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
        self.watch.stop();
        let _ = self.page.close().await;
        assert!(problems.is_empty(), "the console went wrong: {problems:#?}");
    }
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
