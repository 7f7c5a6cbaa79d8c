//! The command line's own work: the arguments (`args`) and what each
//! subcommand does and prints, beside the relay they drive.
//!
//! `main.rs` parses the arguments, sets up logging and calls one of these;
//! each returns a typed error or an exit code, and prints its own output.

pub mod api;
pub mod args;
pub mod check;
pub mod dlq;
pub mod events;
pub mod explain;
pub mod health;
pub mod malloc;
pub mod schema;
pub mod serve;
pub mod sink;
pub mod spool;
pub mod tap;

/// The async runtime a command that asks a relay or a spool runs on: one
/// thread, the caller's.
pub fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
}
