//! deploy/systemd/switchboard.service: `systemd-analyze security` rates it
//! 2.0 or less, `systemd-analyze verify` finds nothing to say, and what the
//! relay needs to run and reload is still there.

use std::process::Command;

use crate::common::tools::{repo, tool};

const INSTALL: &str = "Debian package systemd";

fn unit() -> String {
    std::fs::read_to_string(repo("deploy/systemd/switchboard.service")).unwrap()
}

/// The "Overall exposure level for NAME: 1.2 OK" number.
fn exposure(report: &str) -> f64 {
    let line = report
        .lines()
        .find(|l| l.contains("Overall exposure level"))
        .unwrap_or_else(|| panic!("no overall exposure in:\n{report}"));
    let after = line.rsplit_once(": ").unwrap().1;
    after.split_whitespace().next().unwrap().parse().unwrap()
}

#[test]
fn the_unit_is_rated_an_exposure_of_2_or_less() {
    let Some(analyze) = tool("systemd-analyze", INSTALL) else {
        return;
    };
    // Offline: no running systemd is needed (CI machines and containers).
    let out = Command::new(analyze)
        .args(["security", "--offline=true", "--no-pager"])
        .arg(repo("deploy/systemd/switchboard.service"))
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{report}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let level = exposure(&report);
    assert!(level <= 2.0, "exposure {level} > 2.0:\n{report}");
}

#[test]
fn the_unit_verifies_without_warnings() {
    let Some(analyze) = tool("systemd-analyze", INSTALL) else {
        return;
    };
    // verify insists that the commands exist: the built binary stands in
    // for /usr/local/bin/switchboard.
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("switchboard.service");
    let binary = env!("CARGO_BIN_EXE_switchboard");
    std::fs::write(&copy, unit().replace("/usr/local/bin/switchboard", binary)).unwrap();
    let out = Command::new(analyze)
        .args(["verify", "--man=no", "--generators=no"])
        .arg(&copy)
        .output()
        .unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{said}");
    // Unknown keys and unparsable values are only warnings to verify.
    assert_eq!(said.trim(), "", "systemd-analyze verify warned");
}

#[test]
fn the_unit_keeps_what_the_relay_needs() {
    let unit = unit();
    let lines: Vec<&str> = unit.lines().map(str::trim).collect();
    for wanted in [
        "ExecReload=/bin/kill -HUP $MAINPID",
        "StateDirectory=switchboard",
        "WorkingDirectory=/var/lib/switchboard",
        "RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX",
    ] {
        assert!(lines.contains(&wanted), "missing {wanted}");
    }
    let nofile = lines
        .iter()
        .find_map(|l| l.strip_prefix("LimitNOFILE="))
        .expect("LimitNOFILE");
    // The defaults' caps (1024 + 64 connections, deliveries, spool) must fit.
    assert!(
        nofile.parse::<u64>().unwrap() >= 4096,
        "LimitNOFILE={nofile}"
    );
    let stop: u64 = lines
        .iter()
        .find_map(|l| l.strip_prefix("TimeoutStopSec="))
        .expect("TimeoutStopSec")
        .parse()
        .unwrap();
    // More than server.shutdown_grace's default (30s), so a drain finishes.
    assert!(stop > 30, "TimeoutStopSec={stop}");
}
