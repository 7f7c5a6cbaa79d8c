//! How log lines are written; `main` decides what is logged and where.
//!
//! - `escape`: lines that input cannot forge: control characters in logged
//!   values are written escaped, in both formats.
//! - `json`: the JSON line, with list fields ([`List`]) as arrays.

mod escape;
mod json;

pub use escape::{Escape, EscapedFields, JsonSafe, JsonSafeWriter};
pub use json::{JsonLines, List};
