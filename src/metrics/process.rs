//! The process's own metrics in Prometheus's standard names
//! (`process_cpu_seconds_total`, `process_resident_memory_bytes`,
//! `process_virtual_memory_bytes`, `process_open_fds`, `process_max_fds`,
//! `process_start_time_seconds`, `process_threads`), read from `/proc` at
//! scrape time. Linux only: elsewhere nothing is set. Reads only.
//! `process_cpu_seconds_total` counts whole seconds (the `metrics`
//! facade's counters are integers).

use std::sync::OnceLock;

use metrics::{counter, describe_counter, describe_gauge, gauge};

/// Clock ticks per second in `/proc/<pid>/stat` (`USER_HZ`): 100 on every
/// Linux architecture this relay builds for.
const TICKS: f64 = 100.0;

/// What `/proc` says of this process now.
#[derive(Debug, Default, PartialEq)]
struct Sample {
    cpu_seconds: f64,
    start_ticks: u64,
    threads: u64,
    virtual_bytes: u64,
    resident_bytes: u64,
}

/// Names the process series (`# HELP`).
pub(super) fn describe() {
    describe_counter!(
        "process_cpu_seconds_total",
        "Total user and system CPU time spent in seconds."
    );
    describe_gauge!(
        "process_resident_memory_bytes",
        "Resident memory size in bytes."
    );
    describe_gauge!(
        "process_virtual_memory_bytes",
        "Virtual memory size in bytes."
    );
    describe_gauge!("process_open_fds", "Number of open file descriptors.");
    describe_gauge!(
        "process_max_fds",
        "Maximum number of open file descriptors."
    );
    describe_gauge!(
        "process_start_time_seconds",
        "Start time of the process since the Unix epoch in seconds."
    );
    describe_gauge!("process_threads", "Number of OS threads in the process.");
}

/// Sets the process series from `/proc/self`; leaves them as they were
/// where it cannot be read.
pub fn collect() {
    if let Some(s) = std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|t| parse_stat(&t))
    {
        // The facade's counters are whole numbers: whole seconds, as the
        // Prometheus clients that export counters as integers do.
        counter!("process_cpu_seconds_total").absolute(s.cpu_seconds as u64);
        gauge!("process_threads").set(s.threads as f64);
        gauge!("process_virtual_memory_bytes").set(s.virtual_bytes as f64);
        gauge!("process_resident_memory_bytes").set(s.resident_bytes as f64);
        if let Some(boot) = boot_time() {
            gauge!("process_start_time_seconds").set(boot + s.start_ticks as f64 / TICKS);
        }
    }
    if let Ok(fds) = std::fs::read_dir("/proc/self/fd") {
        gauge!("process_open_fds").set(fds.count() as f64);
    }
    if let Ok((soft, _)) = rlimit::Resource::NOFILE.get() {
        gauge!("process_max_fds").set(soft as f64);
    }
}

/// The boot time from `/proc/stat` (`btime`), read once.
fn boot_time() -> Option<f64> {
    static BOOT: OnceLock<Option<f64>> = OnceLock::new();
    *BOOT.get_or_init(|| {
        let stat = std::fs::read_to_string("/proc/stat").ok()?;
        stat.lines()
            .find_map(|l| l.strip_prefix("btime "))
            .and_then(|v| v.trim().parse().ok())
    })
}

/// `/proc/self/stat`: the fields after the command name, which sits in
/// parentheses and may hold spaces. RSS is in pages of 4 KiB.
fn parse_stat(text: &str) -> Option<Sample> {
    let rest = &text[text.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split(' ').collect();
    // `rest` starts at field 3 (state): field n is fields[n - 3].
    let field = |n: usize| fields.get(n - 3).and_then(|f| f.parse::<u64>().ok());
    Some(Sample {
        cpu_seconds: (field(14)? + field(15)?) as f64 / TICKS,
        threads: field(20)?,
        start_ticks: field(22)?,
        virtual_bytes: field(23)?,
        resident_bytes: field(24)? * 4096,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_fields_after_a_command_name_with_spaces_and_parentheses() {
        let stat = "4242 (tokio (rt) x) S 1 4242 4242 0 -1 4194560 1500 0 0 0 250 50 0 0 20 0 7 0 12345 104857600 2560 18446744073709551615";
        assert_eq!(
            parse_stat(stat),
            Some(Sample {
                cpu_seconds: 3.0,
                start_ticks: 12345,
                threads: 7,
                virtual_bytes: 104_857_600,
                resident_bytes: 2560 * 4096,
            })
        );
        assert_eq!(parse_stat("garbage"), None);
    }
}
