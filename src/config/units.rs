//! Durations (`10s`), sizes (`1MiB`) and rates (`10/s`) as operators write
//! them in `routes.yaml`. Pure parsing, with messages that show a valid form.

use std::num::NonZeroU32;
use std::time::Duration;

const RATE_EXAMPLE: &str = "(e.g. 10/s, 600/min, 5000/h)";

/// Why a duration, size or rate could not be read. Each message quotes
/// the text as written and shows a valid form.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UnitError {
    #[error("`{0}` is not a duration (e.g. 500ms, 10s, 5m, 6h)")]
    NotDuration(String),
    #[error("`{0}` has no known unit (ms, s, m, h, d), e.g. 10s")]
    DurationUnit(String),
    #[error("`{0}` is not a size (e.g. 1MiB, 512KiB, 65536)")]
    NotSize(String),
    #[error("`{0}` has no known unit (B, KiB, MiB, GiB), e.g. 1MiB")]
    SizeUnit(String),
    #[error("`{0}` is not a rate {RATE_EXAMPLE}")]
    NotRate(String),
    #[error("`{0}`: the count must be a whole number above 0 {RATE_EXAMPLE}")]
    RateCount(String),
    #[error("`{text}`: unknown period `{period}` {RATE_EXAMPLE}")]
    RatePeriod { text: String, period: String },
    #[error("`{0}`: the period must be longer than zero {RATE_EXAMPLE}")]
    ZeroPeriod(String),
    #[error("`{0}` is too high: one request per nanosecond at most {RATE_EXAMPLE}")]
    TooFast(String),
}

/// Parses `250ms`, `10s`, `5m`, `2h`, `1d`.
pub fn duration(text: &str) -> Result<Duration, UnitError> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let n: u64 = number
        .parse()
        .map_err(|_| UnitError::NotDuration(text.to_owned()))?;
    let secs = match unit.trim() {
        "ms" => return Ok(Duration::from_millis(n)),
        "s" => 1,
        "m" | "min" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => {
            return Err(UnitError::DurationUnit(text.to_owned()));
        }
    };
    Ok(Duration::from_secs(n.saturating_mul(secs)))
}

/// Parses `65536`, `512KB`, `512KiB`, `1MB`, `1MiB` (KB and KiB both mean 1024).
pub fn size(text: &str) -> Result<usize, UnitError> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let n: usize = number
        .parse()
        .map_err(|_| UnitError::NotSize(text.to_owned()))?;
    let factor = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        _ => {
            return Err(UnitError::SizeUnit(text.to_owned()));
        }
    };
    Ok(n.saturating_mul(factor))
}

/// A request rate: `count` per `per`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    /// Requests per period.
    pub count: NonZeroU32,
    /// The period.
    pub per: Duration,
}

/// Parses `10/s`, `600/min`, `5000/h`, `3/10s`.
pub fn rate(text: &str) -> Result<Rate, UnitError> {
    let (count, per) = text
        .trim()
        .split_once('/')
        .ok_or_else(|| UnitError::NotRate(text.to_owned()))?;
    let count = count
        .trim()
        .parse::<u32>()
        .ok()
        .and_then(NonZeroU32::new)
        .ok_or_else(|| UnitError::RateCount(text.to_owned()))?;
    let per = per.trim();
    let per = match per {
        "s" | "sec" | "second" => Duration::from_secs(1),
        "m" | "min" | "minute" => Duration::from_secs(60),
        "h" | "hour" => Duration::from_secs(3600),
        other => duration(other).map_err(|_| UnitError::RatePeriod {
            text: text.to_owned(),
            period: other.to_owned(),
        })?,
    };
    if per.is_zero() {
        return Err(UnitError::ZeroPeriod(text.to_owned()));
    }
    if (per / count.get()).is_zero() {
        return Err(UnitError::TooFast(text.to_owned()));
    }
    Ok(Rate { count, per })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_durations_sizes_and_rates() {
        assert_eq!(duration("250ms").unwrap(), Duration::from_millis(250));
        assert_eq!(duration("10s").unwrap(), Duration::from_secs(10));
        assert_eq!(duration("6h").unwrap(), Duration::from_secs(21_600));
        assert_eq!(size("1MiB").unwrap(), 1 << 20);
        assert_eq!(size("512 KB").unwrap(), 512 << 10);
        assert_eq!(size("100").unwrap(), 100);
        let r = rate("600/min").unwrap();
        assert_eq!((r.count.get(), r.per), (600, Duration::from_secs(60)));
        assert_eq!(rate("3/10s").unwrap().per, Duration::from_secs(10));
    }

    #[test]
    fn rejects_nonsense_with_an_example() {
        for bad in ["", "10", "ten s", "5 parsecs"] {
            assert!(
                duration(bad).unwrap_err().to_string().contains("e.g."),
                "{bad}"
            );
        }
        assert!(size("1TB").unwrap_err().to_string().contains("e.g."));
        for bad in ["10", "0/s", "x/s", "10/fortnight", "5/0s", "2000000000/s"] {
            assert!(rate(bad).unwrap_err().to_string().contains("e.g."), "{bad}");
        }
    }
}
