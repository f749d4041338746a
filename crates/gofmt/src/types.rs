//! The dynamic Go type of a decoded JSON value, and the renderings that show
//! it: `reflect.Type.String()`, `%s` of an `interface{}` (`%!s(int64=1)`) and
//! `fmt.Sprint` of a `[][]interface{}`, as `strategicpatch`'s error messages
//! print them.

use std::fmt::Write as _;

use serde_json::{Number, Value};

use crate::{GoLayout, GoNumber, go_number, number_v, render, sprint_list, write_joined};

/// Go type name of a `map[string]interface{}` as `reflect.Type.String()` prints it.
pub const GO_MAP: &str = "map[string]interface {}";
/// Go type name of a `[]interface{}` as `reflect.Type.String()` prints it.
pub const GO_SLICE: &str = "[]interface {}";
/// What Go prints for `%s` of a nil `reflect.Type`.
pub const GO_NIL_TYPE: &str = "%!s(<nil>)";

/// The dynamic Go type of a decoded JSON value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GoType {
    /// `nil` (JSON `null`).
    Nil,
    /// `bool`.
    Bool,
    /// `string`.
    String,
    /// `int64` (an integer literal that fits).
    Int64,
    /// `float64` (any other number).
    Float64,
    /// `map[string]interface{}`.
    Map,
    /// `[]interface{}`.
    Slice,
}

impl GoType {
    /// `reflect.TypeOf(v).String()`, with Go's `%s` rendering of a nil type.
    pub fn name(self) -> &'static str {
        match self {
            GoType::Nil => GO_NIL_TYPE,
            GoType::Bool => "bool",
            GoType::String => "string",
            GoType::Int64 => "int64",
            GoType::Float64 => "float64",
            GoType::Map => GO_MAP,
            GoType::Slice => GO_SLICE,
        }
    }
}

/// The dynamic Go type of a number: `int64` if it fits, else `float64`.
fn number_type(n: &Number) -> GoType {
    match go_number(n) {
        GoNumber::Int(_) => GoType::Int64,
        GoNumber::Float(_) => GoType::Float64,
    }
}

/// The dynamic Go type of `v`.
pub fn go_type(v: &Value) -> GoType {
    match v {
        Value::Null => GoType::Nil,
        Value::Bool(_) => GoType::Bool,
        Value::String(_) => GoType::String,
        Value::Number(n) => number_type(n),
        Value::Array(_) => GoType::Slice,
        Value::Object(_) => GoType::Map,
    }
}

/// Go's `fmt` `%s` of a value nested in a `map[string]interface{}` or
/// `[]interface{}`: strings bare, other leaves as `%!s(type=value)`, nil as `<nil>`.
struct PercentS;

impl GoLayout for PercentS {
    /// Values are depth-checked before processing, so this only guards against misuse.
    const MAX_DEPTH: usize = 4096;

    fn bool(out: &mut String, b: bool) {
        let _ = write!(out, "%!s(bool={b})");
    }

    fn number(out: &mut String, n: &Number) {
        let _ = write!(out, "%!s({}={})", number_type(n).name(), number_v(n));
    }
}

/// Go's `fmt` `%s` of a decoded JSON value held in an `interface{}` (non-strings print as
/// `%!s(type=value)`, nil as `%!s(<nil>)`).
pub fn fmt_s(v: &Value) -> String {
    match v {
        Value::Null => "%!s(<nil>)".to_string(),
        _ => render::<PercentS>(v),
    }
}

/// `fmt.Sprint` of a `[][]interface{}` (the variadic argument of `sliceElementType`).
pub fn fmt_slices(slices: &[&[Value]]) -> String {
    let mut out = String::new();
    write_joined(&mut out, ["[", " ", "]"], slices, |out, s| {
        out.push_str(&sprint_list(s));
    });
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    //! Go type names and `%s` renderings.

    use super::*;
    use serde_json::json;

    #[test]
    fn values_print_like_go() {
        assert_eq!(fmt_s(&json!("replace2")), "replace2");
        assert_eq!(fmt_s(&json!(1)), "%!s(int64=1)");
        assert_eq!(fmt_s(&json!(1.5)), "%!s(float64=1.5)");
        assert_eq!(fmt_s(&json!(true)), "%!s(bool=true)");
        assert_eq!(fmt_s(&Value::Null), "%!s(<nil>)");
        assert_eq!(
            fmt_s(&json!({"a": 1, "b": null})),
            "map[a:%!s(int64=1) b:<nil>]"
        );
        let a = [json!(1), json!(2)];
        let b = [json!("a")];
        assert_eq!(fmt_slices(&[&a, &b]), "[[1 2] [a]]");
    }
}
