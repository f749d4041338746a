//! The one duration grammar of every flag and field: Go's
//! `time.ParseDuration`, as Kubernetes, CEL's `duration()` and every Go
//! operator read durations (`300ms`, `1.5h`, `1h30m`, `2h45m10s`; units `ns`,
//! `us`/`µs`, `ms`, `s`, `m`, `h`; `0` needs no unit). Negative durations are
//! refused: no setting here means "in the past".
//!
//! kube-core's `Duration` parses the same grammar but panics on overflowing
//! values and accepts the empty string; this port of Go's integer algorithm
//! reports both as errors.

use std::time::Duration;

/// Why a string is not a duration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid duration {input:?}: {reason} (use e.g. 30s, 5m, 1h30m, 500ms)")]
pub struct DurationError {
    input: String,
    reason: &'static str,
}

/// Parses `s` as Go's `time.ParseDuration` does, refusing negatives.
pub fn parse(s: &str) -> Result<Duration, DurationError> {
    let fail = |reason| DurationError {
        input: s.to_owned(),
        reason,
    };
    let mut rest = s.strip_prefix('+').unwrap_or(s);
    if rest.starts_with('-') {
        return Err(fail("negative durations are not allowed"));
    }
    if rest == "0" {
        return Ok(Duration::ZERO);
    }
    if rest.is_empty() {
        return Err(fail("empty"));
    }
    let mut total: u128 = 0;
    while !rest.is_empty() {
        let (nanos, after) = component(rest).map_err(fail)?;
        total = total.checked_add(nanos).ok_or_else(|| fail("too large"))?;
        rest = after;
    }
    let nanos = u64::try_from(total).map_err(|_| fail("too large"))?;
    Ok(Duration::from_nanos(nanos))
}

/// One `<number><unit>` component at the start of `s`: its length in
/// nanoseconds and the rest of `s`.
fn component(s: &str) -> Result<(u128, &str), &'static str> {
    let int_end = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (int, rest) = s.split_at(int_end);
    let (frac, rest) = match rest.strip_prefix('.') {
        Some(r) => r.split_at(r.find(|c: char| !c.is_ascii_digit()).unwrap_or(r.len())),
        None => ("", rest),
    };
    if int.is_empty() && frac.is_empty() {
        return Err("expected a number");
    }
    let unit_end = rest
        .find(|c: char| c.is_ascii_digit() || c == '.')
        .unwrap_or(rest.len());
    let (unit, rest) = rest.split_at(unit_end);
    let scale: u128 = match unit {
        "ns" => 1,
        "us" | "µs" | "μs" => 1_000,
        "ms" => 1_000_000,
        "s" => 1_000_000_000,
        "m" => 60_000_000_000,
        "h" => 3_600_000_000_000,
        "" => return Err("missing unit"),
        _ => return Err("unknown unit"),
    };
    Ok((scaled(int, frac, scale).ok_or("too large")?, rest))
}

/// `int.frac` × `scale`, truncated to whole nanoseconds as Go does.
fn scaled(int: &str, frac: &str, scale: u128) -> Option<u128> {
    let whole: u128 = if int.is_empty() { 0 } else { int.parse().ok()? };
    let mut nanos = whole.checked_mul(scale)?;
    let mut unit = scale;
    for digit in frac.bytes().take(30) {
        unit /= 10;
        if unit == 0 {
            break;
        }
        nanos = nanos.checked_add(u128::from(digit - b'0') * unit)?;
    }
    // Go's time.Duration is an int64 of nanoseconds.
    (nanos <= u128::from(i64::MAX.unsigned_abs())).then_some(nanos)
}

/// For clap: `#[arg(value_parser = operatorkit::duration::parse_arg)]`.
pub fn parse_arg(s: &str) -> Result<Duration, String> {
    parse(s).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_durations() {
        let ok = |s: &str| parse(s).unwrap_or_else(|e| panic!("{s}: {e}"));
        assert_eq!(ok("0"), Duration::ZERO);
        assert_eq!(ok("300ms"), Duration::from_millis(300));
        assert_eq!(ok("1h30m"), Duration::from_secs(5400));
        assert_eq!(ok("1.5h"), Duration::from_secs(5400));
        assert_eq!(ok("2h45m10s"), Duration::from_secs(9910));
        assert_eq!(ok("720h"), Duration::from_secs(720 * 3600));
        assert_eq!(ok(".5s"), Duration::from_millis(500));
        assert_eq!(ok("1.s"), Duration::from_secs(1));
        assert_eq!(ok("+5m"), Duration::from_secs(300));
        assert_eq!(ok("10µs"), Duration::from_micros(10));
        assert_eq!(ok("10us"), Duration::from_micros(10));
        assert_eq!(ok("7ns"), Duration::from_nanos(7));
        assert_eq!(ok("1.0000000001s"), Duration::from_nanos(1_000_000_000));
    }

    #[test]
    fn bad_durations_are_errors_not_panics() {
        for bad in [
            "",
            "30",
            "5",
            "m",
            "h1",
            "-1s",
            "1y",
            "5 parsecs",
            "1.2.3s",
            ".s",
            "1e3s",
            "99999999999999999999999h",
            "3000000h",
            "1h-1m",
            "NaNs",
            "infh",
        ] {
            let err = parse(bad).err();
            assert!(err.is_some(), "{bad:?} parsed");
        }
        let msg = parse("30").err().map(|e| e.to_string()).unwrap_or_default();
        assert!(
            msg.contains("\"30\"") && msg.contains("missing unit"),
            "{msg}"
        );
    }
}
