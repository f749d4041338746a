//! What selectors, JSONPath and Tables print besides `%v` and `%q`: `%#U`
//! of a rune, `json.Marshal` of a Go `[]string`, and Go's float-to-JSON
//! conversion of computed numbers.

use serde_json::Value;

use crate::{is_print, json_string_into, write_joined};

/// Port of `fmt.Sprintf("%#U", r)`: `U+0023 '#'`, or just `U+0009` when the
/// rune is not printable (`strconv.IsPrint`).
pub fn hash_u(c: char) -> String {
    let mut s = format!("U+{:04X}", c as u32);
    if is_print(c) {
        s.push_str(" '");
        s.push(c);
        s.push('\'');
    }
    s
}

/// `json.Marshal` of a Go `[]string`; a nil/empty slice from
/// `append([]string(nil), ...)` marshals as `null`.
pub fn json_string_slice_or_null(vals: &[String]) -> String {
    if vals.is_empty() {
        return "null".to_string();
    }
    let mut out = String::new();
    write_joined(&mut out, ["[", ",", "]"], vals, |out, v| {
        json_string_into(out, v);
    });
    out
}

/// `-2^63` as a float (exact).
pub const I64_MIN_F: f64 = i64::MIN as f64;
/// `2^64` as a float (exact).
const U64_LIMIT_F: f64 = 18_446_744_073_709_551_616.0;

/// Converts a Go `float64` to a JSON value the way `encoding/json` would
/// print it: integral values in range become JSON integers (Go prints `3`,
/// serde_json would print `3.0`).
pub fn float_to_json_value(f: f64) -> Value {
    if f.is_finite() && f.fract() == 0.0 && f.abs() < 1e21 {
        if (I64_MIN_F..-I64_MIN_F).contains(&f) {
            return Value::from(f as i64);
        }
        if (0.0..U64_LIMIT_F).contains(&f) {
            return Value::from(f as u64);
        }
    }
    serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_u_matches_go() {
        assert_eq!(hash_u('#'), "U+0023 '#'");
        assert_eq!(hash_u('\t'), "U+0009");
        assert_eq!(hash_u('é'), "U+00E9 'é'");
        // Unassigned code points are not printable for strconv.IsPrint.
        assert_eq!(hash_u('\u{378}'), "U+0378");
    }

    #[test]
    fn json_string_slice_matches_go() {
        assert_eq!(json_string_slice_or_null(&[]), "null");
        assert_eq!(
            json_string_slice_or_null(&["a".into(), "b".into()]),
            r#"["a","b"]"#
        );
        assert_eq!(
            json_string_slice_or_null(&["<a&b>".into(), "\u{1}".into()]),
            r#"["\u003ca\u0026b\u003e","\u0001"]"#
        );
    }

    #[test]
    fn float_to_json_value_prints_like_go() {
        assert_eq!(float_to_json_value(3.0).to_string(), "3");
        assert_eq!(float_to_json_value(3.5).to_string(), "3.5");
        assert_eq!(
            float_to_json_value(-1e18).to_string(),
            "-1000000000000000000"
        );
    }
}
