//! The command line's own work: what `switchboard` subcommands print,
//! beside the relay they drive.

pub mod explain;
