//! Outside programs the deployment tests run (systemd-analyze, kubectl,
//! kubernetes-validate, hadolint): found on the `PATH`, or the test is
//! skipped with a message. In CI (`CI` set) a missing one is a failure:
//! scripts/test installs them.

use std::path::PathBuf;

/// `name` on the `PATH`, or `None` after saying how to get it; panics in CI.
pub fn tool(name: &str, install: &str) -> Option<PathBuf> {
    let found = on_path(name);
    if found.is_none() {
        assert!(
            std::env::var_os("CI").is_none(),
            "{name} is not installed; scripts/test installs it ({install})"
        );
        eprintln!("skipped: {name} is not installed ({install})");
    }
    found
}

/// `name` on the `PATH`, if it is there.
pub fn on_path(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .map(|dir| dir.join(name))
            .find(|candidate| candidate.is_file())
    })
}

/// The path of a file in the repository.
pub fn repo(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(path)
}
