//! Compiles `routes[i].when` into a [`Condition`], reporting every problem
//! with its place (`routes[2].when.any[1].matches`).
//!
//! Config to condition only; evaluating is `rules/mod.rs`'s. `field` and
//! its operators are `compile/field.rs`.

use http::HeaderName;
use regex::Regex;

use super::{Condition, Text};
use crate::config::problems::Problems;
use crate::config::{AnswerConfig, ConditionConfig, HeaderConditionConfig, Located};
use crate::transform::jq::Program;
use crate::transform::path::Path;

mod field;

use field::{Operators, compile_field};

/// Compiles one condition; problems go to `problems` under `place`.
pub fn compile(cfg: ConditionConfig, place: &str, problems: &mut Problems) -> Option<Condition> {
    let ConditionConfig {
        topic,
        playbook,
        answer,
        has,
        field,
        equals,
        in_,
        contains,
        matches,
        gt,
        lt,
        source,
        header,
        all,
        any,
        not,
        jq,
    } = cfg;
    let operators = Operators {
        equals,
        in_,
        contains,
        matches,
        gt,
        lt,
    };
    // In the order of `ConditionConfig`'s fields, so problems come in the
    // order they always have.
    let mut parts: Vec<Option<Condition>> = Vec::new();
    if let Some(topics) = topic {
        parts.push(Some(Condition::Topic(lower(topics.into_vec()))));
    }
    if let Some(playbooks) = playbook {
        parts.push(Some(Condition::Playbook(lower(playbooks.into_vec()))));
    }
    if let Some(answer) = answer {
        parts.push(compile_answer(answer, &format!("{place}.answer"), problems));
    }
    if let Some(has) = has {
        parts.push(path(&has, &format!("{place}.has"), problems).map(Condition::Has));
    }
    parts.extend(compile_field(field, operators, place, problems));
    if let Some(sources) = source {
        parts.push(Some(Condition::Source(sources.into_vec())));
    }
    if let Some(header) = header {
        parts.push(compile_header(header, &format!("{place}.header"), problems));
    }
    parts.extend(compile_logic(all, any, not, place, problems));
    if let Some(code) = jq {
        parts.push(compile_jq(&code, &format!("{place}.jq"), problems));
    }
    combine(parts, place, problems)
}

/// `all`, `any` and `not`, each compiled where written.
fn compile_logic(
    all: Option<Vec<ConditionConfig>>,
    any: Option<Vec<ConditionConfig>>,
    not: Option<Box<ConditionConfig>>,
    place: &str,
    problems: &mut Problems,
) -> Vec<Option<Condition>> {
    let mut parts = Vec::new();
    if let Some(all) = all {
        parts.push(list(all, &format!("{place}.all"), problems).map(Condition::All));
    }
    if let Some(any) = any {
        parts.push(list(any, &format!("{place}.any"), problems).map(Condition::Any));
    }
    if let Some(not) = not {
        parts.push(
            compile(*not, &format!("{place}.not"), problems).map(|c| Condition::Not(Box::new(c))),
        );
    }
    parts
}

fn compile_jq(code: &Located<String>, place: &str, problems: &mut Problems) -> Option<Condition> {
    Program::compile(&code.value)
        .map(Condition::Jq)
        .map_err(|e| problems.push(place, Some(&code.referenced), e.to_string()))
        .ok()
}

/// The parts of one mapping: all must hold. An empty mapping is a problem.
fn combine(
    parts: Vec<Option<Condition>>,
    place: &str,
    problems: &mut Problems,
) -> Option<Condition> {
    if parts.is_empty() {
        problems.push(
            place.to_owned(),
            None,
            "empty condition: use one of topic, playbook, answer, has, field, source, header, all, any, not, jq",
        );
        return None;
    }
    let mut parts: Vec<Condition> = parts.into_iter().collect::<Option<_>>()?;
    Some(if parts.len() == 1 {
        parts.remove(0)
    } else {
        Condition::All(parts)
    })
}

fn list(
    items: Vec<ConditionConfig>,
    place: &str,
    problems: &mut Problems,
) -> Option<Vec<Condition>> {
    let compiled: Vec<Option<Condition>> = items
        .into_iter()
        .enumerate()
        .map(|(i, c)| compile(c, &format!("{place}[{i}]"), problems))
        .collect();
    compiled.into_iter().collect()
}

fn compile_answer(
    cfg: Located<AnswerConfig>,
    place: &str,
    problems: &mut Problems,
) -> Option<Condition> {
    let at = cfg.referenced;
    let AnswerConfig {
        question,
        equals,
        in_,
        matches,
    } = cfg.value;
    let test = text(
        equals.map(|s| s.to_lowercase()),
        in_.map(lower),
        matches,
        "equals, in, matches",
        place,
        &at,
        problems,
    )?;
    Some(Condition::Answer {
        question: question.to_lowercase(),
        test,
    })
}

fn compile_header(
    cfg: Located<HeaderConditionConfig>,
    place: &str,
    problems: &mut Problems,
) -> Option<Condition> {
    let at = cfg.referenced;
    let HeaderConditionConfig {
        name,
        equals,
        matches,
    } = cfg.value;
    let name = match HeaderName::try_from(name.as_str()) {
        Ok(name) => Some(name),
        Err(_) => {
            problems.push(
                format!("{place}.name"),
                Some(&at),
                format!("`{name}` is not a valid header name"),
            );
            None
        }
    };
    let test = text(
        equals,
        None,
        matches,
        "equals, matches",
        place,
        &at,
        problems,
    );
    Some(Condition::Header {
        name: name?,
        test: test?,
    })
}

fn text(
    equals: Option<String>,
    in_: Option<Vec<String>>,
    matches: Option<String>,
    expected: &str,
    place: &str,
    at: &serde_saphyr::Location,
    problems: &mut Problems,
) -> Option<Text> {
    match (equals, in_, matches) {
        (Some(v), None, None) => Some(Text::Equals(v)),
        (None, Some(v), None) => Some(Text::In(v)),
        (None, None, Some(re)) => {
            regex(&re, &format!("{place}.matches"), Some(at), problems).map(Text::Matches)
        }
        _ => {
            problems.push(
                place.to_owned(),
                Some(at),
                format!("needs exactly one of {expected}"),
            );
            None
        }
    }
}

fn path(text: &Located<String>, place: &str, problems: &mut Problems) -> Option<Path> {
    Path::parse(&text.value)
        .map_err(|e| problems.push(place.to_owned(), Some(&text.referenced), e.to_string()))
        .ok()
}

fn regex(
    re: &str,
    place: &str,
    at: Option<&serde_saphyr::Location>,
    problems: &mut Problems,
) -> Option<Regex> {
    Regex::new(re)
        .map_err(|e| {
            // A syntax error's Display is a multi-line drawing; keep its last line.
            let detail = match &e {
                regex::Error::Syntax(text) => text
                    .lines()
                    .last()
                    .unwrap_or_default()
                    .trim_start_matches("error: ")
                    .to_owned(),
                other => other.to_string(),
            };
            problems.push(
                place.to_owned(),
                at,
                format!("invalid regex `{re}`: {detail}"),
            )
        })
        .ok()
}

fn lower(values: Vec<String>) -> Vec<String> {
    values.into_iter().map(|v| v.to_lowercase()).collect()
}
