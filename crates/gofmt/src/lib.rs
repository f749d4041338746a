//! Go-compatible formatting of JSON values, so that messages match
//! Kubernetes byte for byte.
//!
//! kube-apiserver builds its error messages, table cells and field values with
//! Go's `fmt`, `strconv` and `encoding/json` on decoded JSON
//! (`map[string]interface{}`, `[]interface{}`, `string`, `int64`, `float64`,
//! `bool`, `nil`). This crate owns, once for the Kubernetes ports
//! (`operatorkit-query`, `operatorkit-structural`,
//! `operatorkit-strategic-merge`) and the API server, the ports of the
//! primitives they share:
//!
//! * how the unstructured decoder types a number ([`GoNumber`], [`go_number`]),
//! * `strconv.IsPrint` and `strconv.Quote` (what `%q` prints),
//! * `%v` of a `float64` and of a number, and of a whole value
//!   (`map[a:1 b:x]`, `[a b]`, `<nil>`),
//! * `encoding/json.Marshal` of a value (sorted keys, HTML escaping, its own
//!   float format),
//! * one bounded walk over a value ([`render`]) that every such rendering
//!   plugs its leaves and delimiters into ([`GoLayout`]).
//!
//! and the renderings fewer of them need, built on these: `%#v` and how
//! `field.Error` prints a value ([`sharp_v`], [`error_value`]), Go's type
//! names and `%s` ([`GoType`], [`fmt_s`]), `%#U` ([`hash_u`]), and
//! `json.Marshal` of a `[]string` ([`json_string_slice_or_null`]).
//!
//! # Why a port and not a general crate
//! Rust's formatting and `serde_json`'s differ from Go's where clients can
//! see it: `%v` of a float (`1e+21`, `3`), `%q` of a string (Go's escapes and
//! `strconv.IsPrint`), `encoding/json`'s HTML escaping and float format, and
//! Go's map and slice renderings. No crate ports them.

mod scalars;
mod sharp;
mod types;

pub use scalars::{I64_MIN_F, float_to_json_value, hash_u, json_string_slice_or_null};
pub use sharp::{SHARP_V_MAX_DEPTH, error_value, sharp_v};
pub use types::{GO_MAP, GO_NIL_TYPE, GO_SLICE, GoType, fmt_s, fmt_slices, go_type};

use serde_json::{Map, Number, Value};
use unicode_properties::{GeneralCategoryGroup, UnicodeGeneralCategory};

/// Lower-case hexadecimal digits, as `strconv` and `encoding/json` print them.
const LOWER_HEX: &[u8; 16] = b"0123456789abcdef";

/// How Kubernetes' JSON decoding (`k8s.io/apimachinery/pkg/util/json`) types
/// a JSON number: `int64` when it fits, `float64` otherwise.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum GoNumber {
    /// An `int64`.
    Int(i64),
    /// A `float64`.
    Float(f64),
}

/// Classifies a serde_json number the way the apiserver's unstructured
/// decoder does (`json.Number.Int64()` first, then `Float64()`).
pub fn go_number(n: &Number) -> GoNumber {
    if let Some(i) = n.as_i64() {
        GoNumber::Int(i)
    } else if let Some(u) = n.as_u64() {
        // Does not fit an int64: Go falls back to float64.
        GoNumber::Float(u as f64)
    } else {
        GoNumber::Float(n.as_f64().unwrap_or(0.0))
    }
}

/// Go's `strconv.IsPrint` (the same set as `unicode.IsPrint`): letters,
/// marks, numbers, punctuation, symbols and the ASCII space. Unassigned code
/// points are not printable.
pub fn is_print(c: char) -> bool {
    let r = c as u32;
    if r <= 0xFF {
        if (0x20..0x7F).contains(&r) {
            return true;
        }
        if (0xA1..=0xFF).contains(&r) {
            // U+00AD SOFT HYPHEN is a format character (Cf).
            return r != 0xAD;
        }
        return false;
    }
    matches!(
        c.general_category_group(),
        GeneralCategoryGroup::Letter
            | GeneralCategoryGroup::Mark
            | GeneralCategoryGroup::Number
            | GeneralCategoryGroup::Punctuation
            | GeneralCategoryGroup::Symbol
    )
}

/// Appends the low `digits` hexadecimal digits of `v`, lower case.
fn push_hex(out: &mut String, v: u32, digits: u32) {
    for i in (0..digits).rev() {
        let nibble = ((v >> (i * 4)) & 0xF) as usize;
        out.push(char::from(LOWER_HEX[nibble]));
    }
}

/// Go's `strconv.Quote` (what `%q` prints for a string).
pub fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if is_print(c) => out.push(c),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{b}' => out.push_str("\\v"),
            c => {
                let r = c as u32;
                if r < 0x20 || r == 0x7F {
                    out.push_str("\\x");
                    push_hex(&mut out, r, 2);
                } else if r < 0x10000 {
                    out.push_str("\\u");
                    push_hex(&mut out, r, 4);
                } else {
                    out.push_str("\\U");
                    push_hex(&mut out, r, 8);
                }
            }
        }
    }
    out.push('"');
    out
}

/// Shortest round-trip decimal digits of a finite, non-negative float and the
/// position of the decimal point (`value = 0.DIGITS * 10^point`); zero is
/// `("0", 1)`.
fn shortest_digits(abs: f64) -> (String, i32) {
    // Rust's `{:e}` prints the shortest representation that round-trips,
    // the same digits as Go's `strconv.FormatFloat(f, 'e', -1, 64)`.
    let s = format!("{abs:e}");
    let (mant, exp) = match s.split_once('e') {
        Some((m, e)) => (m, e.parse::<i32>().unwrap_or(0)),
        None => (s.as_str(), 0),
    };
    let digits: String = mant.chars().filter(char::is_ascii_digit).collect();
    let digits = digits.trim_end_matches('0');
    let digits = if digits.is_empty() { "0" } else { digits };
    (digits.to_string(), exp + 1)
}

/// strconv's `%e` layout of shortest `digits` (non-zero): `d.ddde±dd`, with
/// at least two exponent digits.
fn format_e(digits: &str, point: i32) -> String {
    let mut out = String::new();
    let (first, rest) = digits.split_at(digits.len().min(1));
    out.push_str(if first.is_empty() { "0" } else { first });
    if !rest.is_empty() {
        out.push('.');
        out.push_str(rest);
    }
    let exp = point - 1;
    out.push('e');
    out.push(if exp < 0 { '-' } else { '+' });
    let abs = exp.unsigned_abs();
    if abs < 10 {
        out.push('0');
    }
    out.push_str(&abs.to_string());
    out
}

/// strconv's `%f` layout of shortest `digits` (as many fraction digits as
/// needed, none for integers).
fn format_f(digits: &str, point: i32) -> String {
    if digits == "0" {
        return "0".to_string();
    }
    let len = i32::try_from(digits.len()).unwrap_or(i32::MAX);
    if point <= 0 {
        let zeros = usize::try_from(-point).unwrap_or(0);
        format!("0.{}{}", "0".repeat(zeros), digits)
    } else if point >= len {
        let zeros = usize::try_from(point - len).unwrap_or(0);
        format!("{}{}", digits, "0".repeat(zeros))
    } else {
        let p = usize::try_from(point).unwrap_or(0);
        format!("{}.{}", &digits[..p], &digits[p..])
    }
}

/// A finite float from its shortest digits, with its sign: strconv's `%e`
/// layout when it is non-zero and `use_e` holds for its decimal exponent,
/// `%f` otherwise.
fn format_shortest(f: f64, use_e: impl Fn(i32) -> bool) -> String {
    let (digits, point) = shortest_digits(f.abs());
    let body = if f != 0.0 && use_e(point - 1) {
        format_e(&digits, point)
    } else {
        format_f(&digits, point)
    };
    if f.is_sign_negative() {
        format!("-{body}")
    } else {
        body
    }
}

/// Go's `%v` (and `%#v`, `fmt.Sprint`) of a `float64`, i.e.
/// `strconv.FormatFloat(f, 'g', -1, 64)`: shortest digits, exponent form when
/// the decimal exponent is < -4 or >= 6 (shortest `%g` decides with precision
/// 6): `1e+06`, `123456`, `1.234567e+06`, `1e-05`, `0.0001`, `-0`, `+Inf`.
pub fn float_v(f: f64) -> String {
    if f.is_nan() {
        return "NaN".to_string();
    }
    if f.is_infinite() {
        return if f > 0.0 { "+Inf" } else { "-Inf" }.to_string();
    }
    format_shortest(f, |exp| !(-4..6).contains(&exp))
}

/// `encoding/json`'s rendering of a `float64`: fixed notation unless the
/// magnitude is < 1e-6 or >= 1e21, with `e-07` shortened to `e-7`.
pub fn float_json(f: f64) -> String {
    if !f.is_finite() {
        // encoding/json refuses these; JSON input can never produce them.
        return "null".to_string();
    }
    let abs = f.abs();
    let mut s = format_shortest(f, |_| !(1e-6..1e21).contains(&abs));
    // clean up e-09 to e-9
    let b = s.as_bytes();
    let n = b.len();
    if n >= 4 && b[n - 4] == b'e' && b[n - 3] == b'-' && b[n - 2] == b'0' {
        s.remove(n - 2);
    }
    s
}

/// `%v` (`fmt.Sprint`) of a JSON number as the apiserver holds it.
pub fn number_v(n: &Number) -> String {
    match go_number(n) {
        GoNumber::Int(i) => i.to_string(),
        GoNumber::Float(f) => float_v(f),
    }
}

/// The entries of a map in the order Go prints and marshals them (keys
/// sorted bytewise), whatever order serde_json keeps them in.
fn sorted_entries(m: &Map<String, Value>) -> Vec<(&String, &Value)> {
    let mut entries: Vec<(&String, &Value)> = m.iter().collect();
    entries.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    entries
}

/// Appends a composite value the way Go lays one out: `open`, the `items`
/// (each written by `item`) separated by `sep`, then `close`; e.g. `[`, ` `,
/// `]` for `%v` of a slice or `{`, `,`, `}` for a JSON object.
pub fn write_joined<T>(
    out: &mut String,
    [open, sep, close]: [&str; 3],
    items: impl IntoIterator<Item = T>,
    mut item: impl FnMut(&mut String, T),
) {
    out.push_str(open);
    for (i, x) in items.into_iter().enumerate() {
        if i > 0 {
            out.push_str(sep);
        }
        item(out, x);
    }
    out.push_str(close);
}

/// One Go rendering of decoded JSON values (`%v`, `%#v`, `%s`,
/// `json.Marshal`, ...): what it prints for nil and for each kind of leaf, and
/// how it lays out slices and maps. [`render`] walks a value with it, map keys
/// sorted, recursion bounded by [`GoLayout::MAX_DEPTH`]. The defaults are
/// `%v`'s: `map[k:v k:v]`, `[a b]`, `<nil>`, strings bare.
pub trait GoLayout {
    /// Nesting beyond which the walk stops descending (Go has no limit; every
    /// caller bounds its input below this, so it only guards against misuse).
    const MAX_DEPTH: usize = 512;
    /// Printed in place of a value nested deeper than [`Self::MAX_DEPTH`].
    const TOO_DEEP: &'static str = "...";
    /// Printed for nil (JSON `null`) inside the value.
    const NIL: &'static str = "<nil>";
    /// Opening, separator and closing of a slice.
    const LIST: [&'static str; 3] = ["[", " ", "]"];
    /// Opening, separator and closing of a map.
    const MAP: [&'static str; 3] = ["map[", " ", "]"];

    /// Appends a `bool`.
    fn bool(out: &mut String, b: bool) {
        out.push_str(if b { "true" } else { "false" });
    }

    /// Appends a number (an `int64` or `float64`, see [`go_number`]).
    fn number(out: &mut String, n: &Number) {
        out.push_str(&number_v(n));
    }

    /// Appends a string.
    fn string(out: &mut String, s: &str) {
        out.push_str(s);
    }

    /// Appends a map key and what separates it from its value.
    fn key(out: &mut String, k: &str) {
        out.push_str(k);
        out.push(':');
    }
}

/// Renders `v` with layout `L`.
pub fn render<L: GoLayout>(v: &Value) -> String {
    let mut out = String::new();
    render_into::<L>(&mut out, v, 0);
    out
}

/// Appends `v` rendered with `L`, nested `depth` levels deep.
fn render_into<L: GoLayout>(out: &mut String, v: &Value, depth: usize) {
    if depth > L::MAX_DEPTH {
        out.push_str(L::TOO_DEEP);
        return;
    }
    match v {
        Value::Null => out.push_str(L::NIL),
        Value::Bool(b) => L::bool(out, *b),
        Value::Number(n) => L::number(out, n),
        Value::String(s) => L::string(out, s),
        Value::Array(a) => render_list_into::<L>(out, a, depth),
        Value::Object(m) => render_map_into::<L>(out, m, depth),
    }
}

/// Appends a slice rendered with `L`, its elements at `depth + 1`.
fn render_list_into<L: GoLayout>(out: &mut String, a: &[Value], depth: usize) {
    write_joined(out, L::LIST, a, |out, e| {
        render_into::<L>(out, e, depth + 1)
    });
}

/// Appends a map rendered with `L`, its values at `depth + 1`.
fn render_map_into<L: GoLayout>(out: &mut String, m: &Map<String, Value>, depth: usize) {
    write_joined(out, L::MAP, sorted_entries(m), |out, (k, e)| {
        L::key(out, k);
        render_into::<L>(out, e, depth + 1);
    });
}

/// Go's `%v` (`fmt.Sprint`) of a decoded JSON value held in an
/// `interface{}`: maps as `map[k:v ...]`, slices as `[a b]`, nil as `<nil>`,
/// strings bare.
struct PlainV;

impl GoLayout for PlainV {}

/// `fmt.Sprint(v)` / `%v` of a decoded JSON value held in an `interface{}`
/// (`map[a:1 b:x]`, `[a b]`, `<nil>`).
pub fn sprint(v: &Value) -> String {
    render::<PlainV>(v)
}

/// `%v` of a `map[string]interface{}`.
pub fn sprint_map(m: &Map<String, Value>) -> String {
    let mut out = String::new();
    render_map_into::<PlainV>(&mut out, m, 0);
    out
}

/// `%v` of a `[]interface{}`.
pub fn sprint_list(a: &[Value]) -> String {
    let mut out = String::new();
    render_list_into::<PlainV>(&mut out, a, 0);
    out
}

/// Appends a JSON string the way `encoding/json` writes it: HTML-safe
/// (`<`, `>`, `&` as `\u003c`...), U+2028/U+2029 escaped, `\b` `\f` `\n` `\r`
/// `\t` short forms, other control characters as `\u00XX`.
pub fn json_string_into(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 || matches!(c, '<' | '>' | '&' | '\u{2028}' | '\u{2029}') => {
                out.push_str("\\u");
                push_hex(out, c as u32, 4);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// `encoding/json.Marshal` of a decoded JSON value: compact, map keys sorted,
/// HTML-escaped strings, Go's float formatting.
struct Json;

impl GoLayout for Json {
    const TOO_DEEP: &'static str = "null";
    const NIL: &'static str = "null";
    const LIST: [&'static str; 3] = ["[", ",", "]"];
    const MAP: [&'static str; 3] = ["{", ",", "}"];

    fn number(out: &mut String, n: &Number) {
        match go_number(n) {
            GoNumber::Int(i) => out.push_str(&i.to_string()),
            GoNumber::Float(f) => out.push_str(&float_json(f)),
        }
    }

    fn string(out: &mut String, s: &str) {
        json_string_into(out, s);
    }

    fn key(out: &mut String, k: &str) {
        json_string_into(out, k);
        out.push(':');
    }
}

/// `encoding/json.Marshal` of a decoded JSON value (`{"a":[1,2.5,"x\u003cy"]}`).
pub fn json_marshal(v: &Value) -> String {
    render::<Json>(v)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    //! The shared Go formatting primitives against what Go prints.

    use super::*;
    use serde_json::json;

    /// Checks `f` against `(input, what Go prints)` pairs.
    fn check<I: Copy + std::fmt::Debug>(f: impl Fn(I) -> String, cases: &[(I, &str)]) {
        for &(input, want) in cases {
            assert_eq!(f(input), want, "input {input:?}");
        }
    }

    #[test]
    fn quote_matches_go() {
        check(
            quote,
            &[
                ("abc", r#""abc""#),
                ("a\"b\\c", r#""a\"b\\c""#),
                ("a\nb\tc\u{7}", r#""a\nb\tc\a""#),
                ("\u{1}\u{7f}", r#""\x01\x7f""#),
                ("héllo✓", r#""héllo✓""#),
                ("\u{200b}", r#""\u200b""#),
                ("\u{f0000}", r#""\U000f0000""#),
                ("", r#""""#),
            ],
        );
    }

    #[test]
    fn quote_escapes_what_go_finds_unprintable() {
        check(
            quote,
            &[
                ("\n\t\u{1}\u{7f}", r#""\n\t\x01\x7f""#),
                ("µs é 日本", r#""µs é 日本""#),
                ("\u{a0}\u{ad}\u{200b}", r#""\u00a0\u00ad\u200b""#),
                ("\u{e0001}", r#""\U000e0001""#),
                // Unassigned code points (Cn) are not printable in Go.
                ("\u{378}", r#""\u0378""#),
                ("\u{1fffd}", r#""\U0001fffd""#),
                // Nor are line separators or other format characters.
                ("\u{2028}\u{61c}", r#""\u2028\u061c""#),
            ],
        );
        assert!(is_print(' ') && is_print('€') && is_print('\u{301}'));
        assert!(!is_print('\u{85}') && !is_print('\u{3000}'));
    }

    #[test]
    fn float_v_matches_go() {
        check(
            float_v,
            &[
                (1.0, "1"),
                (1.5, "1.5"),
                (-2.25, "-2.25"),
                (100000.0, "100000"),
                (1e6, "1e+06"),
                (1234567.0, "1.234567e+06"),
                (123456789.0, "1.23456789e+08"),
                (0.0001, "0.0001"),
                (0.00001, "1e-05"),
                (0.0, "0"),
                (1e21, "1e+21"),
                (1e100, "1e+100"),
                (3.3, "3.3"),
            ],
        );
    }

    #[test]
    fn float_v_around_the_exponent_switch() {
        check(
            float_v,
            &[
                (65535.0, "65535"),
                (16777215.0, "1.6777215e+07"),
                (1e6, "1e+06"),
                (123456.0, "123456"),
                (1.5, "1.5"),
                (0.0001, "0.0001"),
                (0.00001, "1e-05"),
                (-2.5e100, "-2.5e+100"),
                (0.1, "0.1"),
            ],
        );
    }

    #[test]
    fn float_v_extremes() {
        check(
            float_v,
            &[
                (1000000.0, "1e+06"),
                (-2.5e-7, "-2.5e-07"),
                (1.7976931348623157e308, "1.7976931348623157e+308"),
                (5e-324, "5e-324"),
                (123.456, "123.456"),
                (-0.0, "-0"),
                (f64::NAN, "NaN"),
                (f64::INFINITY, "+Inf"),
                (f64::NEG_INFINITY, "-Inf"),
            ],
        );
    }

    #[test]
    fn float_json_matches_go() {
        check(
            float_json,
            &[
                (1.0, "1"),
                (1.5, "1.5"),
                (1e6, "1000000"),
                (1e20, "100000000000000000000"),
                (1e21, "1e+21"),
                (1e-7, "1e-7"),
                (1.5e-7, "1.5e-7"),
                (0.000001, "0.000001"),
                (-0.5, "-0.5"),
                (1.23e-10, "1.23e-10"),
            ],
        );
    }

    #[test]
    fn float_json_signs_and_boundaries() {
        check(
            float_json,
            &[
                (-12.25, "-12.25"),
                (-0.0, "-0"),
                (-1.5e-7, "-1.5e-7"),
                (-1e21, "-1e+21"),
                (f64::NAN, "null"),
            ],
        );
    }

    #[test]
    fn sprint_matches_go() {
        let cases = [
            (json!({"b": [1, "x"], "a": 1.5}), "map[a:1.5 b:[1 x]]"),
            (json!(null), "<nil>"),
            (json!([true, null, {}]), "[true <nil> map[]]"),
            (json!(12345678901_i64), "12345678901"),
            (json!(2.0), "2"),
            (
                json!({"b": [1, "x", null, 2.5], "a": {"z": true, "y": null}}),
                "map[a:map[y:<nil> z:true] b:[1 x <nil> 2.5]]",
            ),
        ];
        check(
            sprint,
            &cases.iter().map(|(v, w)| (v, *w)).collect::<Vec<_>>(),
        );
        let list = [json!("TCP"), json!("UDP"), json!(1)];
        assert_eq!(sprint_list(&list), "[TCP UDP 1]");
        let Value::Object(m) = json!({"k": [1], "a": "b"}) else {
            unreachable!()
        };
        assert_eq!(sprint_map(&m), "map[a:b k:[1]]");
    }

    #[test]
    fn json_marshal_matches_go() {
        let cases = [
            (
                json!({"z": 1, "a": "<&>", "m": [1.0, 2.5, null, true]}),
                r#"{"a":"\u003c\u0026\u003e","m":[1,2.5,null,true],"z":1}"#,
            ),
            (json!("a\u{1}\u{8}\u{2028}"), r#""a\u0001\b\u2028""#),
            (
                json!({"b": [1, 2.5, "x<y"], "a": null, "c": {"z": true}}),
                r#"{"a":null,"b":[1,2.5,"x\u003cy"],"c":{"z":true}}"#,
            ),
            (json!(1e-7), "1e-7"),
            (json!(u64::MAX), "18446744073709552000"),
        ];
        check(
            json_marshal,
            &cases.iter().map(|(v, w)| (v, *w)).collect::<Vec<_>>(),
        );
    }

    #[test]
    fn go_number_classification() {
        assert_eq!(go_number(&Number::from(5)), GoNumber::Int(5));
        assert_eq!(
            go_number(&Number::from(u64::MAX)),
            GoNumber::Float(u64::MAX as f64)
        );
        let f = serde_json::from_str::<Value>("1.0").unwrap();
        assert_eq!(go_number(f.as_number().unwrap()), GoNumber::Float(1.0));
        assert_eq!(number_v(&Number::from(u64::MAX)), "1.8446744073709552e+19");
        assert_eq!(number_v(&Number::from(-7)), "-7");
    }
}
