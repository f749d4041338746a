//! `resource.Quantity.String()`: how kube-apiserver prints a stored quantity
//! (`ParseQuantity` then the canonical form, or the input itself where
//! `ParseQuantity` keeps it because it is already canonical).
//!
//! Values are held as `m × 10^e` in an `i128` (Go uses `int64` with an
//! `inf.Dec` fallback); a quantity that does not parse, or whose value does
//! not fit, prints as stored.

use serde_json::Value;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    DecimalSI,
    BinarySI,
    DecimalExponent,
}

/// The suffix's base (10 or 2), exponent and format (`quantitySuffixer.interpret`).
fn interpret(suffix: &str) -> Option<(u32, i32, Format)> {
    const DEC: [(&str, i32); 10] = [
        ("n", -9),
        ("u", -6),
        ("m", -3),
        ("", 0),
        ("k", 3),
        ("M", 6),
        ("G", 9),
        ("T", 12),
        ("P", 15),
        ("E", 18),
    ];
    const BIN: [(&str, i32); 6] = [
        ("Ki", 10),
        ("Mi", 20),
        ("Gi", 30),
        ("Ti", 40),
        ("Pi", 50),
        ("Ei", 60),
    ];
    if let Some((_, e)) = DEC.iter().find(|(s, _)| *s == suffix) {
        return Some((10, *e, Format::DecimalSI));
    }
    if let Some((_, e)) = BIN.iter().find(|(s, _)| *s == suffix) {
        return Some((2, *e, Format::BinarySI));
    }
    let rest = suffix.strip_prefix(['e', 'E'])?;
    let digits = rest.strip_prefix(['+', '-']).unwrap_or(rest);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((10, rest.parse().ok()?, Format::DecimalExponent))
}

/// `parseQuantityString`: sign, numerator (leading zeros stripped, `"0"` if
/// none), denominator, suffix.
fn split(s: &str) -> (bool, &str, &str, &str) {
    let (positive, rest) = match s.as_bytes().first() {
        Some(b'-') => (false, &s[1..]),
        Some(b'+') => (true, &s[1..]),
        _ => (true, s),
    };
    let rest = rest.trim_start_matches('0');
    let num_end = rest
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(rest.len());
    let num = if num_end == 0 { "0" } else { &rest[..num_end] };
    let mut rest = &rest[num_end..];
    let mut denom = "";
    if let Some(after) = rest.strip_prefix('.') {
        let end = after
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(after.len());
        denom = &after[..end];
        rest = &after[end..];
    }
    (positive, num, denom, rest)
}

fn pow10(e: u32) -> Option<i128> {
    10i128.checked_pow(e)
}

/// Whether `ParseQuantity`'s int64 fast path keeps `s` as its string.
fn keeps_input(num: &str, denom: &str, base: u32, exponent: i32) -> bool {
    let shifted = format!("{num}{denom}");
    if base == 2 {
        let precision = 15 - num.len() as i64 - (exponent as f32 * 3.0 / 10.0) as i64 - 1;
        let Ok(value) = shifted.parse::<i64>() else {
            return false;
        };
        let fits = value.checked_mul(1i64 << exponent).is_some();
        return denom.is_empty() && precision >= 0 && fits && exponent % 10 == 0 && value & 7 != 0;
    }
    let scale = exponent - denom.len() as i32;
    num.len() + denom.len() <= 18
        && scale >= -9
        && scale % 3 == 0
        && !shifted.ends_with("000")
        && !shifted.starts_with('0')
}

/// The value as `(m, e)` with `m × 10^e`, rounded away from zero to 10^-9.
fn value(positive: bool, num: &str, denom: &str, base: u32, exponent: i32) -> Option<(i128, i32)> {
    let mut m: i128 = format!("{num}{denom}").parse().ok()?;
    let mut e = -(denom.len() as i32);
    if base == 2 {
        m = m.checked_mul(1i128.checked_shl(u32::try_from(exponent).ok()?)?)?;
    } else {
        e = e.checked_add(exponent)?;
    }
    if e < -9 && m != 0 {
        let d = pow10(u32::try_from(-9 - e).ok()?)?;
        m = m / d + i128::from(m % d != 0);
        e = -9;
    }
    Some((if positive { m } else { -m }, e))
}

/// `m × 10^e` as an integer, if it is one and fits.
fn as_integer(m: i128, e: i32) -> Option<i128> {
    if e >= 0 {
        m.checked_mul(pow10(e.unsigned_abs())?)
    } else {
        let d = pow10(e.unsigned_abs())?;
        (m % d == 0).then_some(m / d)
    }
}

fn decimal(mut m: i128, mut e: i32, format: Format) -> Option<String> {
    while m % 10 == 0 {
        m /= 10;
        e += 1;
    }
    match e % 3 {
        1 | -2 => {
            m = m.checked_mul(10)?;
            e -= 1;
        }
        2 | -1 => {
            m = m.checked_mul(100)?;
            e -= 2;
        }
        _ => {}
    }
    let suffix = match (format, e) {
        (Format::DecimalExponent, 0) => String::new(),
        (Format::DecimalExponent, e) => format!("e{e}"),
        (_, -9) => "n".into(),
        (_, -6) => "u".into(),
        (_, -3) => "m".into(),
        (_, 3) => "k".into(),
        (_, 6) => "M".into(),
        (_, 9) => "G".into(),
        (_, 12) => "T".into(),
        (_, 15) => "P".into(),
        (_, 18) => "E".into(),
        _ => String::new(),
    };
    Some(format!("{m}{suffix}"))
}

fn binary(mut n: i128) -> String {
    let mut e = 0;
    while n % 1024 == 0 && e < 6 {
        n /= 1024;
        e += 1;
    }
    let suffix = ["", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"][e];
    format!("{n}{suffix}")
}

fn canonical(s: &str) -> Option<String> {
    if s == "0" {
        return Some(s.to_string());
    }
    if s.is_empty() {
        return None;
    }
    let (positive, num, denom, suffix) = split(s);
    let (base, exponent, format) = interpret(suffix)?;
    if keeps_input(num, denom, base, exponent) {
        return Some(s.to_string());
    }
    let (m, e) = value(positive, num, denom, base, exponent)?;
    if m == 0 {
        return Some("0".to_string());
    }
    if format == Format::BinarySI {
        let small = as_integer(m, e).is_some_and(|n| n > -1024 && n < 1024)
            || (e < 0 && m.abs() < 1024 * pow10(e.unsigned_abs())?);
        if !small && let Some(n) = as_integer(m, e) {
            return Some(binary(n));
        }
        return decimal(m, e, Format::DecimalSI);
    }
    decimal(m, e, format)
}

/// `Quantity.String()` of a stored quantity: `0` for none (the zero
/// quantity), else its canonical form (`1Gi`, `500m`, `1k`, `1e3`).
pub(super) fn quantity_string(v: &Value) -> String {
    let s = match v {
        Value::Null => return "0".to_string(),
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        other => other.to_string(),
    };
    canonical(&s).unwrap_or(s)
}

/// A `*resource.Quantity` printed with `%s`/`String()`: `<nil>` when unset.
pub(super) fn quantity_ptr_string(v: &Value) -> String {
    if v.is_null() {
        return "<nil>".to_string();
    }
    quantity_string(v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn q(s: &str) -> String {
        quantity_string(&json!(s))
    }

    #[test]
    fn canonical_forms_match_go() {
        for (input, want) in [
            ("1Gi", "1Gi"),
            ("1024Mi", "1Gi"),
            ("1536Mi", "1536Mi"),
            ("0.5Gi", "512Mi"),
            ("1.5Ki", "1536"),
            ("512", "512"),
            ("100M", "100M"),
            ("1000M", "1G"),
            ("0.5", "500m"),
            ("500m", "500m"),
            ("1500m", "1500m"),
            ("2000m", "2"),
            ("0.1", "100m"),
            ("1e3", "1e3"),
            ("1000e0", "1e3"),
            ("0", "0"),
            ("0Gi", "0"),
            ("00", "0"),
            ("1n", "1n"),
            ("0.0000000001", "1n"),
            ("-1.5", "-1500m"),
            ("+1", "+1"),
            ("8Gi", "8Gi"),
            ("10Gi", "10Gi"),
            ("12Ki", "12Ki"),
            ("1k", "1k"),
            ("10000", "10k"),
        ] {
            assert_eq!(q(input), want, "{input}");
        }
    }

    #[test]
    fn odd_input_prints_as_stored() {
        assert_eq!(q("lots"), "lots");
        assert_eq!(q("1 Gi"), "1 Gi");
        assert_eq!(quantity_string(&Value::Null), "0");
        assert_eq!(quantity_string(&json!(2)), "2");
        assert_eq!(quantity_ptr_string(&Value::Null), "<nil>");
        assert_eq!(
            q("99999999999999999999999999999999999999999Ei"),
            "99999999999999999999999999999999999999999Ei"
        );
    }
}
