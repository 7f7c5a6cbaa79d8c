//! The mixed load of the crash and replica tests: six sipgate fixtures sent
//! round-robin to three targets whose rules each choose a different subset,
//! and the check that every accepted webhook reached every target it should.

use std::collections::{HashMap, HashSet};

use super::FakeTarget;
use super::fake::Received;

pub const TARGETS: [&str; 3] = ["crm", "tickets", "archive"];

/// The fixtures sent, round-robin, each with the targets the rules of
/// [`config_yaml`] choose for it: crm by topic `appointment` (only full.json
/// has it), tickets by `has: assist.callScenarios` (null and `[]` count as
/// absent), archive always.
pub const FIXTURES: &[(&str, &[&str])] = &[
    ("full.json", &["crm", "tickets", "archive"]),
    ("multiple-playbooks.json", &["tickets", "archive"]),
    ("no-summary.json", &["tickets", "archive"]),
    ("no-call-scenarios.json", &["archive"]),
    ("minimal.json", &["archive"]),
    ("nulls-and-unknown-fields.json", &["archive"]),
];

/// A config with source `s`, the three targets (at `fakes`, in [`TARGETS`]
/// order, each with `target_extra` after a 50 ms first retry) and their
/// routes. `server` is the inside of the `server: {...}` mapping.
pub fn config_yaml(server: &str, fakes: &[FakeTarget; 3], target_extra: &str) -> String {
    format!(
        r#"server: {{{server}}}
sources: {{s: {{}}}}
targets:
  crm: {{url: "{crm}", retry: {{first: 50ms}}{target_extra}}}
  tickets: {{url: "{tickets}", retry: {{first: 50ms}}{target_extra}}}
  archive: {{url: "{archive}", retry: {{first: 50ms}}{target_extra}}}
routes:
  - name: appointments
    when: {{topic: appointment}}
    to: [crm]
    transform: {{omit: [assist.transcription]}}
  - name: playbooks
    when: {{has: assist.callScenarios}}
    to: [tickets]
  - name: everything
    to: [archive]
"#,
        crm = fakes[0].url("/crm"),
        tickets = fakes[1].url("/tickets"),
        archive = fakes[2].url("/archive"),
    )
}

/// `(target, webhook id)` pairs of accepted webhooks (id → index into
/// [`FIXTURES`]) not yet seen at their targets, given each target's requests
/// so far.
pub fn missing(
    accepted: &HashMap<String, usize>,
    got: &[Vec<Received>],
) -> Vec<(&'static str, String)> {
    let mut missing = Vec::new();
    for (t, name) in TARGETS.iter().enumerate() {
        let seen: HashSet<&str> = got[t]
            .iter()
            .filter_map(|r| r.header("webhook-id"))
            .collect();
        for (id, &f) in accepted {
            if FIXTURES[f].1.contains(name) && !seen.contains(id.as_str()) {
                missing.push((*name, id.clone()));
            }
        }
    }
    missing.sort();
    missing
}
