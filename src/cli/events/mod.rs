//! `switchboard events …`: webhooks and their deliveries in the spool,
//! through a relay's admin API or on the spool itself. One module per
//! action: `bulk` (replay, cancel; through the API in `remote`, followed
//! to the end by `job`).

pub mod bulk;
mod job;
mod remote;

use clap::Subcommand;

pub use bulk::{BulkArgs, BulkError};

/// What `events` does.
#[derive(Subcommand)]
pub enum EventsAction {
    /// Make dead, parked, cancelled and unrendered deliveries pending again
    /// (attempts reset); the relay sends them through each target's window,
    /// rate limit and circuit.
    ///
    /// Needs a filter or --all. Run --dry-run first: it counts and changes
    /// nothing.
    #[command(after_long_help = bulk::REPLAY_EXAMPLES)]
    Replay(BulkArgs),
    /// Stop pending and retrying deliveries: they become `cancelled`.
    ///
    /// Needs a filter or --all. Run --dry-run first: it counts and changes
    /// nothing.
    #[command(after_long_help = bulk::CANCEL_EXAMPLES)]
    Cancel(BulkArgs),
}

/// Runs an `events` action.
pub fn run(action: EventsAction) -> Result<(), BulkError> {
    match action {
        EventsAction::Replay(args) => bulk::run(crate::admin::bulk::Kind::Replay, args),
        EventsAction::Cancel(args) => bulk::run(crate::admin::bulk::Kind::Cancel, args),
    }
}
