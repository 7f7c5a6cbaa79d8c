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

impl Program {
    /// Compiles a program with jq's standard library.
    pub fn compile(code: &str) -> Result<Program, JqError> {
        let defs = jaq_core::defs()
            .chain(jaq_std::defs())
            .chain(jaq_json::defs());
        let funs = jaq_core::funs()
            .chain(jaq_std::funs())
            .chain(jaq_json::funs());
        let arena = Arena::default();
        let modules = Loader::new(defs)
            .load(&arena, File { code, path: () })
            .map_err(|errors| JqError(format!("jq program does not parse: {errors:?}")))?;
        let filter = jaq_core::Compiler::default()
            .with_funs(funs)
            .compile(modules)
            .map_err(|errors| JqError(format!("jq program does not compile: {errors:?}")))?;
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

/// jq's truthiness: everything but `false` and `null`.
pub fn truthy(value: &Value) -> bool {
    !matches!(value, Value::Null | Value::Bool(false))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    #[test]
    fn reshapes_and_keeps_key_order() {
        let p = Program::compile(r#"{text: "from \(.call.from)", b: 1, a: 2}"#).unwrap();
        let out = p.first(&json!({"call": {"from": "49"}})).unwrap().unwrap();
        assert_eq!(
            serde_json::to_string(&out).unwrap(),
            r#"{"text":"from 49","b":1,"a":2}"#
        );
    }

    #[test]
    fn reports_compile_and_runtime_errors() {
        assert!(Program::compile("{").is_err());
        assert!(Program::compile("nosuchfn(1)").is_err());
        let p = Program::compile(".a + 1").unwrap();
        assert!(p.run(&json!({"a": "x"})).is_err());
    }

    #[test]
    fn empty_output_is_none() {
        let p = Program::compile("empty").unwrap();
        assert_eq!(p.first(&json!({})).unwrap(), None);
    }
}
