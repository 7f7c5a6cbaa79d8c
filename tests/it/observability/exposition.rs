//! Reads a Prometheus text exposition (`/metrics`) into what the
//! observability tests check names against: each sample name with the
//! labels seen on it, and each family's `# TYPE`.

use std::collections::{BTreeSet, HashMap};

/// One scrape.
#[derive(Debug, Default)]
pub struct Scrape {
    /// Family name (as in `# TYPE`) → counter, gauge, histogram, summary.
    pub types: HashMap<String, String>,
    /// Sample name (`x_bucket`, `x_total`, ...) → every label name seen.
    pub labels: HashMap<String, BTreeSet<String>>,
}

impl Scrape {
    /// Parses `text`, panicking on a line it cannot read.
    pub fn parse(text: &str) -> Scrape {
        let mut out = Scrape::default();
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                let (name, kind) = rest.split_once(' ').unwrap();
                out.types.insert(name.to_owned(), kind.trim().to_owned());
            } else if !line.starts_with('#') {
                let (name, labels) = sample(line).unwrap_or_else(|e| panic!("{e}: {line}"));
                out.labels.entry(name).or_default().extend(labels);
            }
        }
        out
    }

    /// The `# TYPE` of the family a sample name belongs to: its own, or for
    /// `_bucket`, `_sum` and `_count`, a histogram's or summary's.
    pub fn family_type<'a>(&'a self, sample: &'a str) -> Option<(&'a str, &'a str)> {
        if let Some(kind) = self.types.get(sample) {
            return Some((sample, kind));
        }
        ["_bucket", "_sum", "_count"].iter().find_map(|suffix| {
            let family = sample.strip_suffix(suffix)?;
            let kind = self.types.get(family)?;
            let fits =
                matches!(kind.as_str(), "histogram") || (kind == "summary" && *suffix != "_bucket");
            fits.then_some((family, kind.as_str()))
        })
    }
}

/// A sample line's name and label names.
fn sample(line: &str) -> Result<(String, Vec<String>), String> {
    let end = line.find(['{', ' ']).ok_or("no value")?;
    let name = line[..end].to_owned();
    let mut labels = Vec::new();
    if line[end..].starts_with('{') {
        let mut rest = &line[end + 1..];
        loop {
            rest = rest.trim_start_matches(',');
            if let Some(after) = rest.strip_prefix('}') {
                rest = after;
                break;
            }
            let (label, after) = rest.split_once("=\"").ok_or("no label value")?;
            labels.push(label.to_owned());
            rest = skip_value(after)?;
        }
        if !rest.starts_with(' ') {
            return Err("no value after the labels".into());
        }
    }
    Ok((name, labels))
}

/// What follows a quoted label value whose opening quote is consumed.
fn skip_value(text: &str) -> Result<&str, String> {
    let mut escaped = false;
    for (i, c) in text.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' => escaped = true,
            '"' => return Ok(&text[i + 1..]),
            _ => {}
        }
    }
    Err("unclosed label value".into())
}

#[test]
fn reads_names_labels_and_families_with_escaped_values() {
    let s = Scrape::parse(
        "# TYPE a histogram\na_bucket{x=\"1,\\\"}\",le=\"+Inf\"} 3\na_sum 1\n# TYPE b_total counter\nb_total{y=\"\"} 0\n",
    );
    assert_eq!(
        s.labels["a_bucket"],
        ["le".to_owned(), "x".to_owned()].into()
    );
    assert!(s.labels["a_sum"].is_empty());
    assert_eq!(s.family_type("a_bucket"), Some(("a", "histogram")));
    assert_eq!(s.family_type("b_total"), Some(("b_total", "counter")));
    assert_eq!(s.family_type("b_total_count"), None);
    assert_eq!(s.family_type("a"), Some(("a", "histogram")));
}
