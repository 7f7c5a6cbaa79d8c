//! The command line's own work: the arguments (`args`) and what each
//! subcommand does and prints, beside the relay they drive.
//!
//! `main.rs` parses the arguments, sets up logging and calls one of these;
//! each returns a typed error or an exit code, and prints its own output.

pub mod args;
pub mod check;
pub mod dlq;
pub mod events;
pub mod explain;
pub mod malloc;
pub mod schema;
pub mod serve;
pub mod sink;
pub mod tap;
