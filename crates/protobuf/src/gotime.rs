//! Times and durations as apimachinery's JSON writes and reads them:
//! `metav1.Time` in RFC 3339 seconds, `MicroTime` with six fraction digits
//! (both UTC), `metav1.Duration` as Go's `time.Duration.String()`.

use jiff::Timestamp;

/// `metav1.Time` of `seconds` since the epoch: `2006-01-02T15:04:05Z`.
pub(crate) fn time(seconds: i64) -> Option<String> {
    let t = Timestamp::from_second(seconds).ok()?;
    Some(t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string())
}

/// `metav1.MicroTime`: `2006-01-02T15:04:05.000000Z`.
pub(crate) fn micro_time(seconds: i64, nanos: i32) -> Option<String> {
    let t = Timestamp::from_second(seconds).ok()?;
    let micros = nanos.clamp(0, 999_999_999) / 1000;
    Some(format!("{}.{micros:06}Z", t.strftime("%Y-%m-%dT%H:%M:%S")))
}

/// Seconds and nanoseconds of an RFC 3339 time.
pub(crate) fn parse_time(s: &str) -> Option<(i64, i32)> {
    let t: Timestamp = s.parse().ok()?;
    Some((t.as_second(), t.subsec_nanosecond()))
}

const SECOND: u64 = 1_000_000_000;

/// Go's `time.Duration.String()` of `nanos`.
pub(crate) fn duration(nanos: i64) -> String {
    if nanos == 0 {
        return "0s".into();
    }
    let sign = if nanos < 0 { "-" } else { "" };
    let u = nanos.unsigned_abs();
    if u < SECOND {
        let (unit, scale, digits) = match u {
            0..1_000 => ("ns", 1, 0),
            1_000..1_000_000 => ("µs", 1_000, 3),
            _ => ("ms", 1_000_000, 6),
        };
        return format!("{sign}{}{unit}", fraction(u, scale, digits));
    }
    let (secs, frac) = (u / SECOND, u % SECOND);
    let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
    let mut out = String::from(sign);
    if h > 0 {
        out.push_str(&format!("{h}h{m}m"));
    } else if m > 0 {
        out.push_str(&format!("{m}m"));
    }
    out.push_str(&fraction(s * SECOND + frac, SECOND, 9));
    out.push('s');
    out
}

/// `u / scale` with its remainder as a decimal fraction of `digits` digits,
/// trailing zeros dropped.
fn fraction(u: u64, scale: u64, digits: usize) -> String {
    let (whole, rem) = (u / scale, u % scale);
    if rem == 0 {
        return whole.to_string();
    }
    let frac = format!("{rem:0digits$}");
    format!("{whole}.{}", frac.trim_end_matches('0'))
}

/// Go's `time.ParseDuration`: `1h30m`, `1.5s`, `-2ms`, `0`.
pub(crate) fn parse_duration(s: &str) -> Option<i64> {
    let (neg, mut rest) = match s.as_bytes().first()? {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    if rest == "0" {
        return Some(0);
    }
    let mut total: f64 = 0.0;
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .filter(|&n| n > 0)?;
        let number: f64 = rest[..num_len].parse().ok()?;
        rest = &rest[num_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let scale = match &rest[..unit_len] {
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return None,
        };
        rest = &rest[unit_len..];
        total += number * scale;
    }
    // Durations beyond i64 nanoseconds (292 years) are refused, as Go does.
    (total <= i64::MAX as f64).then_some(if neg { -total } else { total } as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_and_write_as_go_does() {
        for (nanos, text) in [
            (0, "0s"),
            (1, "1ns"),
            (1_500, "1.5µs"),
            (100_000_000, "100ms"),
            (1_500_000_000, "1.5s"),
            (90 * SECOND as i64, "1m30s"),
            (3600 * SECOND as i64, "1h0m0s"),
            (-(3723 * SECOND as i64), "-1h2m3s"),
        ] {
            assert_eq!(duration(nanos), text);
            assert_eq!(parse_duration(text), Some(nanos), "{text}");
        }
        assert_eq!(parse_duration("2h"), Some(7200 * SECOND as i64));
        assert_eq!(parse_duration("1x"), None);
        assert_eq!(parse_duration(""), None);
    }

    #[test]
    fn times_are_utc_seconds_or_microseconds() {
        assert_eq!(time(0).unwrap(), "1970-01-01T00:00:00Z");
        assert_eq!(
            micro_time(1_700_000_000, 123_456_789).unwrap(),
            "2023-11-14T22:13:20.123456Z"
        );
        assert_eq!(
            parse_time("2023-11-14T23:13:20+01:00"),
            Some((1_700_000_000, 0))
        );
    }
}
