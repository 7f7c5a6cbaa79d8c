//! `field` with its one operator (`equals`, `in`, `contains`, `matches`,
//! `gt`, `lt`), compiled into [`Condition::Field`].

use serde_json::Value;

use super::{path, regex};
use crate::config::Located;
use crate::config::problems::Problems;
use crate::rules::{Condition, Op};

/// The operators written beside a `field`.
pub(super) struct Operators {
    pub(super) equals: Option<Value>,
    pub(super) in_: Option<Vec<Value>>,
    pub(super) contains: Option<Value>,
    pub(super) matches: Option<Located<String>>,
    pub(super) gt: Option<Value>,
    pub(super) lt: Option<Value>,
}

impl Operators {
    fn count(&self) -> usize {
        [
            self.equals.is_some(),
            self.in_.is_some(),
            self.contains.is_some(),
            self.matches.is_some(),
            self.gt.is_some(),
            self.lt.is_some(),
        ]
        .iter()
        .filter(|x| **x)
        .count()
    }

    /// The one operator written (the caller checked there is one).
    fn compile(self, place: &str, problems: &mut Problems) -> Option<Op> {
        if let Some(v) = self.equals {
            Some(Op::Equals(v))
        } else if let Some(v) = self.in_ {
            Some(Op::In(v))
        } else if let Some(v) = self.contains {
            Some(Op::Contains(v))
        } else if let Some(re) = self.matches {
            regex(
                &re.value,
                &format!("{place}.matches"),
                Some(&re.referenced),
                problems,
            )
            .map(Op::Matches)
        } else if let Some(v) = self.gt {
            Some(Op::Gt(v))
        } else {
            self.lt.map(Op::Lt)
        }
    }
}

/// `field` with exactly one operator; `None` when neither is written.
pub(super) fn compile_field(
    field: Option<Located<String>>,
    operators: Operators,
    place: &str,
    problems: &mut Problems,
) -> Option<Option<Condition>> {
    match (field, operators.count()) {
        (Some(field), 1) => {
            let path = path(&field, &format!("{place}.field"), problems);
            let op = operators.compile(place, problems);
            Some(path.zip(op).map(|(path, op)| Condition::Field { path, op }))
        }
        (Some(field), n) => {
            problems.push(
                format!("{place}.field"),
                Some(&field.referenced),
                format!(
                    "`field` needs exactly one of equals, in, contains, matches, gt, lt; found {n} (e.g. `{{field: call.direction, equals: IN}}`)"
                ),
            );
            Some(None)
        }
        (None, 0) => None,
        (None, _) => {
            problems.push(
                place.to_owned(),
                None,
                "equals, in, contains, matches, gt and lt compare a `field`; add `field: some.path`",
            );
            Some(None)
        }
    }
}
