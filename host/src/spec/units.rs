//! `spec` → units: how job.yaml, the host configuration and the command line write durations,
//! byte sizes and counts, parsed in one place (`humantime` for durations, `parse-size` for
//! sizes).

use std::time::Duration;

/// Parses a duration: `250ms`, `2s`, `1m30s`, `1h 15m` (humantime's spans), a decimal with one
/// unit such as `1.5s`, or a bare number of seconds.
pub fn parse_duration(text: &str) -> Option<Duration> {
    let t = text.trim();
    if let Ok(d) = humantime::parse_duration(t) {
        return Some(d);
    }
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: f64 = num.parse().ok()?;
    let secs = match unit.trim() {
        "ms" => n / 1000.0,
        "" | "s" => n,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        _ => return None,
    };
    (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs))
}

/// Parses a byte size: `64MiB`, `512KiB`, `1GiB` (binary), `1MB`, `10kB` (decimal), or plain
/// bytes.
pub fn parse_size(text: &str) -> Option<usize> {
    parse_size::parse_size(text.trim())
        .ok()
        .and_then(|n| usize::try_from(n).ok())
}

/// Parses a count such as a fuel budget: `1000`, `50K`, `50M`, `2G`.
pub fn parse_count(text: &str) -> Option<u64> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: u64 = num.parse().ok()?;
    let factor: u64 = match unit.trim() {
        "" => 1,
        "K" | "k" => 1_000,
        "M" => 1_000_000,
        "G" => 1_000_000_000,
        _ => return None,
    };
    n.checked_mul(factor)
}

/// A byte size as people write it (`64MiB`, `1000 bytes`).
pub fn show_size(n: usize) -> String {
    match n {
        n if n >= 1 << 30 && n % (1 << 30) == 0 => format!("{}GiB", n >> 30),
        n if n >= 1 << 20 && n % (1 << 20) == 0 => format!("{}MiB", n >> 20),
        n if n >= 1 << 10 && n % (1 << 10) == 0 => format!("{}KiB", n >> 10),
        n => format!("{n} bytes"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_take_spans_decimals_and_bare_seconds() {
        assert_eq!(parse_duration("1m30s"), Some(Duration::from_secs(90)));
        assert_eq!(parse_duration("250ms"), Some(Duration::from_millis(250)));
        assert_eq!(parse_duration("1.5s"), Some(Duration::from_millis(1500)));
        assert_eq!(parse_duration("60"), Some(Duration::from_secs(60)));
        assert_eq!(parse_duration("2h"), Some(Duration::from_secs(7200)));
        assert_eq!(parse_duration("soon"), None);
        assert_eq!(parse_duration("-1s"), None);
    }

    #[test]
    fn sizes_are_binary_with_i_and_decimal_without() {
        assert_eq!(parse_size("64MiB"), Some(64 << 20));
        assert_eq!(parse_size("1MB"), Some(1_000_000));
        assert_eq!(parse_size("4096"), Some(4096));
        assert_eq!(parse_size("64 potatoes"), None);
        assert_eq!(show_size(64 << 20), "64MiB");
        assert_eq!(show_size(1000), "1000 bytes");
    }

    #[test]
    fn counts_take_k_m_g() {
        assert_eq!(parse_count("50M"), Some(50_000_000));
        assert_eq!(parse_count("7"), Some(7));
        assert_eq!(parse_count("5T"), None);
    }
}
