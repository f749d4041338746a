//! `%#v` of the `interface{}`
//! values an unstructured object is made of (`map[string]interface {}{...}`,
//! `[]interface {}{...}`) and how `field.Error` prints a bad value.

use serde_json::Value;

use crate::{GoLayout, number_v, quote, render};

/// How deep `%#v` renders before printing `interface {}(nil)`: the nesting
/// limit of Kubernetes' structural schemas, whose errors print such values.
pub const SHARP_V_MAX_DEPTH: usize = 128;

/// `%#v` of an `interface{}` holding an unstructured value
/// (`map[string]interface {}{"a":1}`, `[]interface {}{"x", interface {}(nil)}`).
struct SharpV;

impl GoLayout for SharpV {
    const MAX_DEPTH: usize = SHARP_V_MAX_DEPTH;
    const TOO_DEEP: &'static str = "interface {}(nil)";
    const NIL: &'static str = "interface {}(nil)";
    const LIST: [&'static str; 3] = ["[]interface {}{", ", ", "}"];
    const MAP: [&'static str; 3] = ["map[string]interface {}{", ", ", "}"];

    fn string(out: &mut String, s: &str) {
        out.push_str(&quote(s));
    }

    fn key(out: &mut String, k: &str) {
        out.push_str(&quote(k));
        out.push(':');
    }
}

/// `%#v` of an `interface{}` holding an unstructured value.
pub fn sharp_v(v: &Value) -> String {
    render::<SharpV>(v)
}

/// How `field.Error.ErrorBody` prints a bad value: `%v` for numbers and
/// booleans, `%q` for strings, `null` for nil and `%#v` for anything else.
pub fn error_value(v: &Value) -> String {
    match v {
        Value::Null => "null".to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => number_v(n),
        Value::String(s) => quote(s),
        other => sharp_v(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn sharp_v_like_go() {
        let v = json!({"type": "Ready", "n": 1, "f": 1.5, "l": ["a", null], "m": {}});
        assert_eq!(
            sharp_v(&v),
            r#"map[string]interface {}{"f":1.5, "l":[]interface {}{"a", interface {}(nil)}, "m":map[string]interface {}{}, "n":1, "type":"Ready"}"#
        );
        assert_eq!(error_value(&json!("x")), "\"x\"");
        assert_eq!(error_value(&json!(0)), "0");
        assert_eq!(error_value(&json!(null)), "null");
        assert_eq!(error_value(&json!(2.0)), "2");
        assert_eq!(error_value(&json!(1e6)), "1e+06");
        assert_eq!(error_value(&json!([1e-7])), "[]interface {}{1e-07}");
    }
}
