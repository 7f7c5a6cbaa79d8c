//! jq programs from `routes.yaml`, run with jaq.
//!
//! jaq's API changes about once a year, so it is confined to this file:
//! [`Program::compile`] at config time, [`Program::run`] per webhook. Programs
//! come only from the operator's config, never from a request: jaq has no
//! resource limits, so a request-supplied program could loop forever.

use std::fmt;

use jaq_core::data::JustLut;
use jaq_core::load::{Arena, File, Loader};
use jaq_core::{Ctx, Vars, unwrap_valr};
use serde_json::Value;

type Filter = jaq_core::Filter<JustLut<jaq_json::Val>>;

/// How many outputs of a program are looked at; the rest are ignored.
const MAX_OUTPUTS: usize = 16;

/// A compiled jq program.
pub struct Program {
    source: String,
    filter: Filter,
}

/// A program that does not compile, or failed on an input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct JqError(String);

/// The longest program accepted, in bytes. jaq recurses once per nesting
/// level and per `|`, when parsing and when running; a program this long
/// runs within a tokio worker's 2 MiB stack whatever its shape.
const MAX_SOURCE: usize = 2048;

/// Stack for compiling: parsing takes about 2.6 KiB per nesting level, so
/// a tokio worker (2 MiB, where SIGHUP reloads) overflows at ~800 levels.
const COMPILE_STACK: usize = 32 << 20;

impl Program {
    /// Compiles a program with jq's standard library, on a thread with room
    /// for any program of at most [`MAX_SOURCE`] bytes: a stack overflow
    /// cannot be caught, and would end the relay.
    pub fn compile(code: &str) -> Result<Program, JqError> {
        if code.len() > MAX_SOURCE {
            return Err(JqError(format!(
                "jq program is {} bytes long; at most {MAX_SOURCE} are accepted",
                code.len()
            )));
        }
        std::thread::scope(|scope| {
            std::thread::Builder::new()
                .name("jq-compile".to_owned())
                .stack_size(COMPILE_STACK)
                .spawn_scoped(scope, || Program::compile_here(code))
                .map_err(|e| JqError(format!("cannot start the jq compiler: {e}")))?
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
        })
    }

    fn compile_here(code: &str) -> Result<Program, JqError> {
        let defs = jaq_core::defs()
            .chain(jaq_std::defs())
            .chain(jaq_json::defs());
        let funs = jaq_core::funs()
            .chain(jaq_std::funs())
            .chain(jaq_json::funs());
        let arena = Arena::default();
        let modules = Loader::new(defs)
            .load(&arena, File { code, path: () })
            .map_err(|errors| {
                JqError(format!(
                    "jq program does not parse: {}",
                    load_errors(errors)
                ))
            })?;
        let filter = jaq_core::Compiler::default()
            .with_funs(funs)
            .compile(modules)
            .map_err(|errors| {
                JqError(format!(
                    "jq program does not compile: {}",
                    compile_errors(errors)
                ))
            })?;
        Ok(Program {
            source: code.to_owned(),
            filter,
        })
    }

    /// Runs the program on `input` and returns its first output, or `None`
    /// when it produced none.
    pub fn first(&self, input: &Value) -> Result<Option<Value>, JqError> {
        Ok(self.run(input)?.into_iter().next())
    }

    /// Runs the program on `input` and returns up to 16 outputs.
    pub fn run(&self, input: &Value) -> Result<Vec<Value>, JqError> {
        let input: jaq_json::Val =
            serde_json::from_value(input.clone()).map_err(|e| JqError(e.to_string()))?;
        let ctx = Ctx::<JustLut<jaq_json::Val>>::new(&self.filter.lut, Vars::new([]));
        self.filter
            .id
            .run((ctx, input))
            .map(unwrap_valr)
            .take(MAX_OUTPUTS)
            .map(|out| {
                let out = out.map_err(|e| JqError(format!("jq error: {e}")))?;
                serde_json::from_str(&out.to_string()).map_err(|e| JqError(e.to_string()))
            })
            .collect()
    }
}

impl fmt::Debug for Program {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Program").field(&self.source).finish()
    }
}

/// Where a parse error happened: the start of the rest of the program, on
/// one line so that each problem stays one line.
fn near(at: &str) -> String {
    let line = at.trim_start().lines().next().unwrap_or_default();
    if line.is_empty() {
        "at the end of the program".to_owned()
    } else {
        format!("at `{}`", line.chars().take(20).collect::<String>())
    }
}

/// What the lexer expected. jaq's `Expect::as_str` panics on a delimiter it
/// does not know, and a panic while compiling config kills a running relay.
fn lexed(expect: &jaq_core::load::lex::Expect<&str>) -> String {
    use jaq_core::load::lex::Expect;
    match expect {
        Expect::Delim("(") => "closing parenthesis".to_owned(),
        Expect::Delim("[") => "closing bracket".to_owned(),
        Expect::Delim("{") => "closing brace".to_owned(),
        Expect::Delim("\"") => "closing quote".to_owned(),
        Expect::Delim(open) => format!("a match for `{open}`"),
        other => other.as_str().to_owned(),
    }
}

/// jaq's load errors as one line: what was expected, and where.
fn load_errors(errors: jaq_core::load::Errors<&str, ()>) -> String {
    use jaq_core::load::Error;
    let mut out = Vec::new();
    for (_, error) in errors {
        match error {
            Error::Io(list) => out.extend(
                list.into_iter()
                    .map(|(path, e)| format!("cannot load `{path}`: {e}")),
            ),
            Error::Lex(list) => out.extend(
                list.into_iter()
                    .map(|(expect, at)| format!("expected {} {}", lexed(&expect), near(at))),
            ),
            Error::Parse(list) => out.extend(
                list.into_iter()
                    .map(|(expect, at)| format!("expected {} {}", expect.as_str(), near(at))),
            ),
        }
    }
    out.join("; ")
}

/// jaq's compile errors as one line: the names that are not defined.
fn compile_errors(errors: jaq_core::compile::Errors<&str, ()>) -> String {
    use jaq_core::compile::Undefined;
    errors
        .into_iter()
        .flat_map(|(_, list)| list)
        .map(|(name, undefined)| match undefined {
            Undefined::Filter(arity) => format!("undefined filter `{name}/{arity}`"),
            other => format!("undefined {} `{name}`", other.as_str()),
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// jq's truthiness: everything but `false` and `null`.
pub fn truthy(value: &Value) -> bool {
    !matches!(value, Value::Null | Value::Bool(false))
}

#[cfg(test)]
mod tests;
