//! The console's files, embedded at build time. Adding a file to
//! `assets/` means adding it here; nothing else serves it.

/// One embedded file.
pub(super) struct Asset {
    /// Its name under `/console/` (`index.html` is also `/`).
    pub(super) name: &'static str,
    pub(super) content_type: &'static str,
    pub(super) bytes: &'static [u8],
}

const JS: &str = "text/javascript; charset=utf-8";

macro_rules! asset {
    ($name:literal, $type:expr) => {
        Asset {
            name: $name,
            content_type: $type,
            bytes: include_bytes!(concat!("assets/", $name)),
        }
    };
}

/// Every file the console has.
pub(super) const ASSETS: &[Asset] = &[
    asset!("index.html", "text/html; charset=utf-8"),
    asset!("console.css", "text/css; charset=utf-8"),
    asset!("icon.svg", "image/svg+xml"),
    asset!("app.js", JS),
    asset!("api.js", JS),
    asset!("dom.js", JS),
    asset!("diff.js", JS),
    asset!("spark.js", JS),
    asset!("bulk.js", JS),
    asset!("curl.js", JS),
    asset!("explain.js", JS),
    asset!("overview.js", JS),
    asset!("events.js", JS),
    asset!("journey.js", JS),
    asset!("dead.js", JS),
    asset!("playground.js", JS),
    asset!("config.js", JS),
    asset!("audit.js", JS),
];
