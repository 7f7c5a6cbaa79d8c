//! Config problems: every one found, each with its place in `routes.yaml`.
//!
//! Compiling collects problems instead of stopping at the first, so `check`,
//! start-up and reload can report them all at once.

use std::fmt;

use serde_saphyr::Location;

/// One thing wrong with the config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Where, as a path into the file: `routes[2].to[0]`.
    pub place: String,
    /// Line and column, where the parser recorded them.
    pub position: Option<(u64, u64)>,
    /// What is wrong, and where it helps, what would be right.
    pub message: String,
}

/// All problems found in one config.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Problems(Vec<Problem>);

impl Problems {
    /// Records a problem at `place`, with the YAML position when known.
    /// `message` is a text or a typed error, shown as it displays.
    pub fn push(
        &mut self,
        place: impl Into<String>,
        at: Option<&Location>,
        message: impl fmt::Display,
    ) {
        let position = at.filter(|l| l.line() > 0).map(|l| (l.line(), l.column()));
        self.0.push(Problem {
            place: place.into(),
            position,
            message: message.to_string(),
        });
    }

    /// Records a problem at `place`, at a line and column when known.
    pub fn push_at(
        &mut self,
        place: impl Into<String>,
        position: Option<(u64, u64)>,
        message: impl Into<String>,
    ) {
        self.0.push(Problem {
            place: place.into(),
            position: position.filter(|(line, _)| *line > 0),
            message: message.into(),
        });
    }

    /// Whether nothing was found.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The problems, in the order they were found.
    pub fn iter(&self) -> impl Iterator<Item = &Problem> {
        self.0.iter()
    }

    /// Keeps only the problems `keep` says yes to.
    pub fn retain(&mut self, keep: impl FnMut(&Problem) -> bool) {
        self.0.retain(keep);
    }

    /// `Ok(value)` when nothing was found.
    pub fn into_result<T>(self, value: T) -> Result<T, Problems> {
        if self.is_empty() {
            Ok(value)
        } else {
            Err(self)
        }
    }
}

impl Extend<Problem> for Problems {
    fn extend<I: IntoIterator<Item = Problem>>(&mut self, problems: I) {
        self.0.extend(problems);
    }
}

impl IntoIterator for Problems {
    type Item = Problem;
    type IntoIter = std::vec::IntoIter<Problem>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

impl Problem {
    /// The problem as editors and CI read it: `routes.yaml:12:9: place: message`.
    pub fn in_file<'a>(&'a self, file: &'a std::path::Path) -> impl fmt::Display + 'a {
        struct InFile<'a>(&'a Problem, &'a std::path::Path);
        impl fmt::Display for InFile<'_> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                let InFile(problem, file) = self;
                write!(f, "{}:", file.display())?;
                if let Some((line, column)) = problem.position {
                    write!(f, "{line}:{column}:")?;
                }
                if !problem.place.is_empty() {
                    write!(f, " {}:", problem.place)?;
                }
                write!(f, " {}", problem.message)
            }
        }
        InFile(self, file)
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.place.is_empty() {
            write!(f, "{}: ", self.place)?;
        }
        f.write_str(&self.message)?;
        if let Some((line, column)) = self.position {
            write!(f, " (line {line} column {column})")?;
        }
        Ok(())
    }
}

impl fmt::Display for Problems {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, problem) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{problem}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Problems {}
