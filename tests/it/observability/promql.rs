//! A small PromQL reader for the observability tests: the series selectors
//! an expression names (metric name and matchers), the label lists of its
//! `by`/`without`/`on`/`ignoring`/`group_*` clauses with the selectors
//! they apply to, and whether a selector sits inside `rate`, `irate` or
//! `increase`. Not a parser: enough of PromQL's lexical structure to check
//! names and labels against a scrape. Strict about what it does not know: a
//! bare word that is not a keyword is reported as a metric name, so a typo
//! fails the test rather than passing unseen. Grafana's `$variables` and
//! range durations are skipped.

mod lex;

use lex::{Token, lex};

/// A series selector: `name{label op "value", ...}` or a bare `name`.
#[derive(Debug, Clone, PartialEq)]
pub struct Selector {
    pub name: String,
    pub matchers: Vec<(String, String, String)>,
    /// Inside `rate`, `irate` or `increase`: must be a counter.
    pub in_rate: bool,
}

/// A grouping or matching clause and the selectors it applies to.
#[derive(Debug, Clone, PartialEq)]
pub struct Grouping {
    pub clause: String,
    pub labels: Vec<String>,
    /// Indices into [`Expr::selectors`].
    pub selectors: Vec<usize>,
}

/// What an expression names.
#[derive(Debug, Default, PartialEq)]
pub struct Expr {
    pub selectors: Vec<Selector>,
    pub groupings: Vec<Grouping>,
}

const GROUPING: &[&str] = &[
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
];
const KEYWORDS: &[&str] = &[
    "bool", "and", "or", "unless", "offset", "inf", "nan", "atan2",
];
const RATES: &[&str] = &["rate", "irate", "increase"];
/// Aggregation operators: `sum by (x) (...)` puts the clause between the
/// word and its argument.
const AGGREGATIONS: &[&str] = &[
    "sum",
    "min",
    "max",
    "avg",
    "group",
    "stddev",
    "stdvar",
    "count",
    "count_values",
    "bottomk",
    "topk",
    "quantile",
    "limitk",
    "limit_ratio",
];

/// Reads `expr`; an error names what it could not read.
pub fn read(expr: &str) -> Result<Expr, String> {
    let tokens = lex(expr)?;
    let pairs = matching(&tokens)?;
    let mut out = Expr::default();
    let mut at = Vec::new(); // token index of each selector
    let mut rates = Vec::new(); // (open, close) of each rate-like call
    let mut pending = Vec::new(); // (clause, labels, scope or None = whole)
    let mut i = 0;
    while i < tokens.len() {
        let Token::Ident(word) = &tokens[i] else {
            i += 1;
            continue;
        };
        let next = tokens.get(i + 1);
        if GROUPING.contains(&word.as_str()) {
            let open = i + 1;
            if next != Some(&Token::Punct('(')) {
                // `group_left` without labels.
                i += 1;
                continue;
            }
            let close = pairs[open];
            let labels = idents(&tokens[open + 1..close])?;
            let scope = if word == "by" || word == "without" {
                Some(aggregated(&tokens, &pairs, i, close)?)
            } else {
                None
            };
            pending.push((word.clone(), labels, scope));
            i = close + 1;
        } else if next == Some(&Token::Punct('(')) {
            if RATES.contains(&word.as_str()) {
                rates.push((i + 1, pairs[i + 1]));
            }
            i += 1;
        } else if next == Some(&Token::Punct('{')) {
            let close = pairs[i + 1];
            let matchers = matchers(&tokens[i + 2..close])?;
            at.push(i);
            out.selectors.push(selector(word, matchers));
            i = close + 1;
        } else if KEYWORDS.contains(&word.as_str()) || AGGREGATIONS.contains(&word.as_str()) {
            i += 1;
        } else {
            at.push(i);
            out.selectors.push(selector(word, Vec::new()));
            i += 1;
        }
    }
    for (n, s) in out.selectors.iter_mut().enumerate() {
        s.in_rate = rates.iter().any(|(o, c)| (*o..*c).contains(&at[n]));
    }
    for (clause, labels, scope) in pending {
        let selectors = (0..at.len())
            .filter(|n| scope.is_none_or(|(o, c)| (o..c).contains(&at[*n])))
            .collect();
        out.groupings.push(Grouping {
            clause,
            labels,
            selectors,
        });
    }
    Ok(out)
}

fn selector(name: &str, matchers: Vec<(String, String, String)>) -> Selector {
    Selector {
        name: name.to_owned(),
        matchers,
        in_rate: false,
    }
}

/// The tokens an aggregation's `by (...)` at `by` (its list closing at
/// `close`) applies to: the parenthesised argument after the list
/// (`sum by (x) (...)`) or before the keyword (`sum(...) by (x)`).
fn aggregated(
    tokens: &[Token],
    pairs: &[usize],
    by: usize,
    close: usize,
) -> Result<(usize, usize), String> {
    if tokens.get(close + 1) == Some(&Token::Punct('(')) {
        return Ok((close + 1, pairs[close + 1]));
    }
    if by > 0 && tokens[by - 1] == Token::Punct(')') {
        return Ok((pairs[by - 1], by - 1));
    }
    Err("a `by` clause with no argument next to it".into())
}

/// A comma-separated list of label names.
fn idents(tokens: &[Token]) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    for t in tokens {
        match t {
            Token::Ident(l) => out.push(l.clone()),
            Token::Punct(',') => {}
            other => return Err(format!("{other:?} in a label list")),
        }
    }
    Ok(out)
}

/// `label op "value"` triples between braces.
fn matchers(tokens: &[Token]) -> Result<Vec<(String, String, String)>, String> {
    let mut out = Vec::new();
    for part in tokens.split(|t| *t == Token::Punct(',')) {
        match part {
            [] => {}
            [Token::Ident(l), Token::Op(op), Token::Str(v)] => {
                out.push((l.clone(), op.clone(), v.clone()))
            }
            other => return Err(format!("not a matcher: {other:?}")),
        }
    }
    Ok(out)
}

/// For each bracket, the index of its partner.
fn matching(tokens: &[Token]) -> Result<Vec<usize>, String> {
    let mut pairs = vec![usize::MAX; tokens.len()];
    let mut stack = Vec::new();
    for (i, t) in tokens.iter().enumerate() {
        match t {
            Token::Punct('(' | '{') => stack.push(i),
            Token::Punct(c @ (')' | '}')) => {
                let open = stack.pop().ok_or(format!("unopened `{c}`"))?;
                pairs[open] = i;
                pairs[i] = open;
            }
            _ => {}
        }
    }
    if stack.is_empty() {
        Ok(pairs)
    } else {
        Err("unclosed bracket".into())
    }
}

#[test]
fn reads_selectors_groupings_and_rates_and_skips_variables() {
    let e = read(
        r#"histogram_quantile(0.99, sum by (source, le) (rate(a_bucket{job=~"$job", source=~"$source"}[$__rate_interval])))
           / ignoring(le) b unless on (target) max(c{x!="}"}) by (target) > 0.5 # d"#,
    )
    .unwrap();
    let names: Vec<(&str, bool)> = e
        .selectors
        .iter()
        .map(|s| (s.name.as_str(), s.in_rate))
        .collect();
    assert_eq!(names, [("a_bucket", true), ("b", false), ("c", false)]);
    assert_eq!(
        e.selectors[0].matchers[1],
        ("source".into(), "=~".into(), "$source".into())
    );
    assert_eq!(
        e.selectors[2].matchers,
        [("x".into(), "!=".into(), "}".into())]
    );
    let groups: Vec<(&str, Vec<&str>, Vec<usize>)> = e
        .groupings
        .iter()
        .map(|g| {
            (
                g.clause.as_str(),
                g.labels.iter().map(String::as_str).collect(),
                g.selectors.clone(),
            )
        })
        .collect();
    assert_eq!(
        groups,
        [
            ("by", vec!["source", "le"], vec![0]),
            ("ignoring", vec!["le"], vec![0, 1, 2]),
            ("on", vec!["target"], vec![0, 1, 2]),
            ("by", vec!["target"], vec![2]),
        ]
    );
    assert!(read("sum(a{b=}").is_err());
    assert!(read("a{b=\"c\"").is_err());
    assert!(read("a{b=\"c}").is_err(), "an unclosed string");
    assert_eq!(
        read(r#"a{b="\"}"}"#).unwrap().selectors[0].matchers[0].2,
        "\"}",
        "an escaped quote"
    );
}
