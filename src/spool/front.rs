//! What both backends put in front of their writer, so that the [`Spool`]
//! trait can forward to it once: the writer's command channel, the attached
//! windows and the pending count.
//!
//! Sealed: only the backends in this crate implement [`HasFront`]; the
//! types it hands out cannot be named outside the spool. Must not hold any
//! backend's own state.
//!
//! [`Spool`]: super::Spool

use super::command::Commands;
use super::windows::{PendingCount, Windows};

/// Borrowed parts of a backend that [`Spool`](super::Spool)'s forwarding
/// methods use.
pub struct Front<'a> {
    pub(super) commands: &'a Commands,
    pub(super) windows: &'a Windows,
    pub(super) pending: &'a PendingCount,
}

/// A backend with a [`Front`]: the supertrait of [`Spool`](super::Spool).
pub trait HasFront {
    fn front(&self) -> Front<'_>;
}
