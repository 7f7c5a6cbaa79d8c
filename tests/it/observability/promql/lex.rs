//! The PromQL reader's lexer: strings, ranges, Grafana variables,
//! numbers, identifiers, operators and brackets. Knows no grammar.

/// One lexical token.
#[derive(Debug, Clone, PartialEq)]
pub enum Token {
    Ident(String),
    Str(String),
    /// A number or a duration: skipped.
    Num,
    /// `[5m]`, `[$__rate_interval]`, `[1h:1m]`: skipped.
    Range,
    /// A Grafana variable outside a string (`$var`, `${var}`).
    Var,
    /// A comparison or matcher operator (`=`, `=~`, `!=`, `>`, `==`, ...).
    Op(String),
    Punct(char),
}

/// Splits an expression into tokens.
pub fn lex(text: &str) -> Result<Vec<Token>, String> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    let ident = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == ':';
    while i < chars.len() {
        let c = chars[i];
        let start = i;
        i += 1;
        match c {
            _ if c.is_whitespace() => {}
            '#' => i = past(&chars, i, '\n').unwrap_or(chars.len()),
            '"' | '\'' | '`' => {
                let (value, end) =
                    string(&chars, i, c).ok_or(format!("unclosed string at {start}"))?;
                i = end;
                out.push(Token::Str(value));
            }
            '[' => {
                i = past(&chars, i, ']').ok_or("unclosed `[`")?;
                out.push(Token::Range);
            }
            '$' => {
                i = if chars.get(i) == Some(&'{') {
                    past(&chars, i, '}').ok_or("unclosed `${`")?
                } else {
                    while_from(&chars, i, ident)
                };
                out.push(Token::Var);
            }
            _ if c.is_ascii_digit()
                || (c == '.' && chars.get(i).is_some_and(char::is_ascii_digit)) =>
            {
                i = while_from(&chars, i, |c| c.is_ascii_alphanumeric() || c == '.');
                out.push(Token::Num);
            }
            _ if ident(c) => {
                i = while_from(&chars, i, ident);
                out.push(Token::Ident(chars[start..i].iter().collect()));
            }
            '=' | '!' | '<' | '>' => {
                if matches!(chars.get(i), Some('=' | '~')) {
                    i += 1;
                }
                out.push(Token::Op(chars[start..i].iter().collect()));
            }
            '(' | ')' | '{' | '}' | ',' | '+' | '-' | '*' | '/' | '%' | '^' => {
                out.push(Token::Punct(c))
            }
            other => return Err(format!("unexpected `{other}` at {start}")),
        }
    }
    Ok(out)
}

/// The string whose opening `quote` is just before `from`, and the index
/// after its closing quote; `None` if it does not close. Backslash escapes
/// except in backquoted (raw) strings.
fn string(chars: &[char], from: usize, quote: char) -> Option<(String, usize)> {
    let mut value = String::new();
    let mut i = from;
    while *chars.get(i)? != quote {
        if chars[i] == '\\' && quote != '`' {
            i += 1;
        }
        value.push(*chars.get(i)?);
        i += 1;
    }
    Some((value, i + 1))
}

/// The index just after the first `end` at or after `from`.
fn past(chars: &[char], from: usize, end: char) -> Option<usize> {
    Some(from + chars[from..].iter().position(|c| *c == end)? + 1)
}

/// The index of the first char at or after `from` that is not `keep`.
fn while_from(chars: &[char], from: usize, keep: impl Fn(char) -> bool) -> usize {
    from + chars[from..].iter().take_while(|c| keep(**c)).count()
}
