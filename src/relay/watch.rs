//! `server.watch_config`: reloading when the config file or a `{file: ...}`
//! secret changes, without a signal.
//!
//! The files are polled: once a second each one's [`Stamp`] (its metadata
//! through symlinks) is compared with the one taken when the config in force,
//! or the last reload tried, read it ([`Core::watched`]), so a change made
//! while a reload or the start-up ran is not missed, and a rejected version is
//! not tried again. A Kubernetes ConfigMap or Secret volume replaces its
//! files by swapping a `..data` symlink to a new directory, which gives every
//! file a new inode; an editor's write-and-rename does too; a write in place
//! changes the size or the times. Polling a handful of files costs a few
//! `stat` calls a second, needs no crate, and behaves the same on every file
//! system (inotify watches a directory entry, not the path through a swapped
//! symlink, and sees nothing on NFS). A change is put in force once the
//! files have been still for [`DEBOUNCE`], so a file written in several
//! steps or a config and its secret updated together cause one reload.
//!
//! The reload is [`Core::reload`], SIGHUP's: the same validation, the old
//! config kept on any problem, the outcome logged, counted and kept for the
//! status API. Must not read or parse the files itself.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::Core;
use crate::stamp::Stamp;

/// How often the files are looked at.
pub const POLL: Duration = Duration::from_secs(1);

/// How long the files must stay unchanged before a reload.
pub const DEBOUNCE: Duration = Duration::from_millis(500);

/// Watches until `stop`, while the config in force says `watch_config`.
pub async fn watch(core: Arc<Core>, stop: CancellationToken) {
    let mut every = tokio::time::interval(POLL);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = every.tick() => {}
            () = stop.cancelled() => return,
        }
        if !core.snapshot.load().server.watch_config {
            continue;
        }
        let read = core.watched();
        let files: Vec<PathBuf> = read.iter().map(|(file, _)| file.clone()).collect();
        let now = stamps(files.clone()).await;
        if read.iter().map(|(_, stamp)| *stamp).eq(now.iter().copied()) {
            continue;
        }
        if !settle(files, now, &stop).await {
            return;
        }
        tracing::info!("config or secrets file changed: reloading (server.watch_config)");
        // Problems are logged and recorded by reload; the old config stays.
        let _ = core.reload().await;
    }
}

/// Waits until the files have been still for [`DEBOUNCE`]; false when
/// stopped first.
async fn settle(files: Vec<PathBuf>, mut last: Vec<Stamp>, stop: &CancellationToken) -> bool {
    loop {
        tokio::select! {
            () = tokio::time::sleep(DEBOUNCE) => {}
            () = stop.cancelled() => return false,
        }
        let now = stamps(files.clone()).await;
        if now == last {
            return true;
        }
        last = now;
    }
}

/// The files' stamps, in order, read off the async threads (a `stat` on a
/// network file system may block).
async fn stamps(files: Vec<PathBuf>) -> Vec<Stamp> {
    let read = move || files.iter().map(|file| Stamp::of(file)).collect();
    tokio::task::spawn_blocking(read).await.unwrap_or_default()
}
