//! Cell formatting shared by the printers: reading a stored object's fields
//! the way a decoded Go struct holds them (a missing, `null` or mistyped field
//! is the zero value, a pointer field is "nil"), ages, and the list formats
//! the printers share (`layoutContainerCells`, `labels.FormatLabels`,
//! `metav1.FormatLabelSelector`, `listWithMoreString`).

use std::time::SystemTime;

use serde_json::Value;

use crate::labels;
use crate::table;

static NULL: Value = Value::Null;

/// The value at `path` (object keys), `null` when any step is missing or not
/// an object.
pub(super) fn at<'a>(v: &'a Value, path: &[&str]) -> &'a Value {
    path.iter()
        .try_fold(v, |cur, key| cur.as_object().and_then(|m| m.get(*key)))
        .unwrap_or(&NULL)
}

/// A string field; `""` when missing or not a string.
pub(super) fn str_at<'a>(v: &'a Value, path: &[&str]) -> &'a str {
    at(v, path).as_str().unwrap_or_default()
}

/// A `*string` field: `None` when missing or `null`.
pub(super) fn opt_str_at<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    at(v, path).as_str()
}

/// An integer as Go decodes it into an `int32`/`int64` field: JSON integers,
/// and floats with no fractional part; else `None`.
pub(super) fn as_int(v: &Value) -> Option<i64> {
    v.as_i64().or_else(|| {
        v.as_f64()
            .filter(|f| f.fract() == 0.0 && f.abs() < 9.2e18)
            .map(|f| f as i64)
    })
}

/// An integer field; 0 when missing.
pub(super) fn int_at(v: &Value, path: &[&str]) -> i64 {
    as_int(at(v, path)).unwrap_or(0)
}

/// A `*int32` field: `None` when missing or `null`.
pub(super) fn opt_int_at(v: &Value, path: &[&str]) -> Option<i64> {
    as_int(at(v, path))
}

/// A `bool` field; `false` when missing.
pub(super) fn bool_at(v: &Value, path: &[&str]) -> bool {
    at(v, path).as_bool().unwrap_or(false)
}

/// A slice field; empty when missing or not an array.
pub(super) fn arr_at<'a>(v: &'a Value, path: &[&str]) -> &'a [Value] {
    at(v, path)
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
}

/// The number of entries of a map field.
pub(super) fn map_len(v: &Value, path: &[&str]) -> usize {
    at(v, path).as_object().map_or(0, serde_json::Map::len)
}

/// Whether a pointer-to-struct field is set (present and an object).
pub(super) fn is_set(v: &Value, path: &[&str]) -> bool {
    at(v, path).is_object()
}

/// A string cell.
pub(super) fn text(s: impl Into<String>) -> Value {
    Value::String(s.into())
}

/// `s`, or `default` when `s` is empty.
pub(super) fn or(s: &str, default: &str) -> Value {
    text(if s.is_empty() { default } else { s })
}

/// The `Name` cell: `metadata.name`.
pub(super) fn name(obj: &Value) -> Value {
    text(str_at(obj, &["metadata", "name"]))
}

/// A time field as Unix nanoseconds (Go's zero time when unset).
pub(super) fn time_at(v: &Value, path: &[&str]) -> i128 {
    table::time_nanos(Some(at(v, path)))
}

/// `translateTimestampSince` of a time field.
pub(super) fn since_at(v: &Value, path: &[&str], now: SystemTime) -> String {
    table::since(time_at(v, path), now)
}

/// The `Age` cell: `translateTimestampSince(metadata.creationTimestamp)`.
pub(super) fn age(obj: &Value, now: SystemTime) -> Value {
    text(since_at(obj, &["metadata", "creationTimestamp"], now))
}

/// Whether `metadata.deletionTimestamp` is set.
pub(super) fn deleting(obj: &Value) -> bool {
    !at(obj, &["metadata", "deletionTimestamp"]).is_null()
}

/// `layoutContainerCells`: the containers' names and images, each joined by
/// `,`, as two cells.
pub(super) fn containers(containers: &[Value]) -> [Value; 2] {
    let names: Vec<&str> = containers.iter().map(|c| str_at(c, &["name"])).collect();
    let images: Vec<&str> = containers.iter().map(|c| str_at(c, &["image"])).collect();
    [text(names.join(",")), text(images.join(","))]
}

/// `labels.FormatLabels` of a `map[string]string`: `k=v` sorted by key,
/// joined by `,`; `<none>` when empty.
pub(super) fn format_labels(map: &Value) -> String {
    let Some(m) = map.as_object() else {
        return "<none>".to_string();
    };
    let mut pairs: Vec<String> = m
        .iter()
        .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
        .collect();
    pairs.sort();
    if pairs.is_empty() {
        return "<none>".to_string();
    }
    pairs.join(",")
}

/// `metav1.FormatLabelSelector`: the selector's string form, `<none>` for a
/// nil or empty selector, `<error>` for one that does not convert.
pub(super) fn format_label_selector(selector: &Value) -> String {
    match labels::from_label_selector(selector) {
        Err(_) => "<error>".to_string(),
        Ok(s) => {
            let l = s.to_string();
            if l.is_empty() {
                "<none>".to_string()
            } else {
                l
            }
        }
    }
}

/// `metav1.LabelSelectorAsSelector(s).String()`, `<invalid>` on error (what
/// the Deployment printer shows; empty for a nil or empty selector).
pub(super) fn selector_string(selector: &Value) -> String {
    match labels::from_label_selector(selector) {
        Err(_) => "<invalid>".to_string(),
        Ok(s) => s.to_string(),
    }
}

/// `listWithMoreString`: the first `max` entries joined by `,`, then
/// ` + N more...`; `<unset>` for none.
pub(super) fn list_with_more(list: &[String], more: bool, count: usize, max: usize) -> String {
    let ret = list.join(",");
    if more {
        return format!("{ret} + {} more...", count - max);
    }
    if ret.is_empty() {
        return "<unset>".to_string();
    }
    ret
}

/// `printBoolPtr`: `True`, `False` or `<unset>`.
pub(super) fn bool_ptr(v: &Value) -> String {
    match v.as_bool() {
        Some(true) => "True".to_string(),
        Some(false) => "False".to_string(),
        None => "<unset>".to_string(),
    }
}

/// `helper.GetAccessModesAsString`: the modes present, in the order RWO,
/// ROX, RWX, RWOP, joined by `,`.
pub(super) fn access_modes(modes: &[Value]) -> String {
    let has = |m: &str| modes.iter().any(|v| v.as_str() == Some(m));
    [
        ("ReadWriteOnce", "RWO"),
        ("ReadOnlyMany", "ROX"),
        ("ReadWriteMany", "RWX"),
        ("ReadWriteOncePod", "RWOP"),
    ]
    .iter()
    .filter(|(mode, _)| has(mode))
    .map(|(_, short)| *short)
    .collect::<Vec<_>>()
    .join(",")
}

#[cfg(test)]
pub(super) mod testing {
    //! Helpers for the printers' tests.
    use std::time::{Duration, SystemTime, UNIX_EPOCH};

    /// 2025-06-01T12:00:00Z, the "now" of the printers' tests.
    pub fn now() -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(1_748_779_200)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn zero_values_for_missing_fields() {
        let v = json!({"a": {"b": "x", "n": 3, "f": 2.0, "bad": 2.5}});
        assert_eq!(str_at(&v, &["a", "b"]), "x");
        assert_eq!(str_at(&v, &["a", "n"]), "");
        assert_eq!(str_at(&v, &["a", "b", "c"]), "");
        assert_eq!(int_at(&v, &["a", "n"]), 3);
        assert_eq!(int_at(&v, &["a", "f"]), 2);
        assert_eq!(int_at(&v, &["a", "bad"]), 0);
        assert_eq!(opt_int_at(&v, &["a", "missing"]), None);
        assert!(arr_at(&json!(null), &["x"]).is_empty());
    }

    #[test]
    fn label_formats() {
        assert_eq!(format_labels(&json!({"b": "2", "a": "1"})), "a=1,b=2");
        assert_eq!(format_labels(&json!({})), "<none>");
        assert_eq!(format_labels(&Value::Null), "<none>");
        let sel = json!({"matchLabels": {"app": "web"}, "matchExpressions": [
            {"key": "tier", "operator": "In", "values": ["b", "a"]},
            {"key": "canary", "operator": "DoesNotExist"}]});
        assert_eq!(format_label_selector(&sel), "app=web,!canary,tier in (a,b)");
        assert_eq!(format_label_selector(&Value::Null), "<none>");
        assert_eq!(format_label_selector(&json!({})), "<none>");
        let bad = json!({"matchExpressions": [{"key": "a", "operator": "Near"}]});
        assert_eq!(format_label_selector(&bad), "<error>");
        assert_eq!(selector_string(&bad), "<invalid>");
        assert_eq!(selector_string(&Value::Null), "");
    }

    #[test]
    fn container_layout_and_lists() {
        let cs = [
            json!({"name": "a", "image": "nginx"}),
            json!({"name": "b", "image": "busybox:1"}),
        ];
        assert_eq!(containers(&cs), [json!("a,b"), json!("nginx,busybox:1")]);
        assert_eq!(containers(&[]), [json!(""), json!("")]);
        let l = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(list_with_more(&l(&[]), false, 0, 3), "<unset>");
        assert_eq!(
            list_with_more(&l(&["a", "b", "c"]), true, 5, 3),
            "a,b,c + 2 more..."
        );
        assert_eq!(
            access_modes(&[json!("ReadWriteMany"), json!("ReadWriteOnce")]),
            "RWO,RWX"
        );
        assert_eq!(bool_ptr(&Value::Null), "<unset>");
    }
}
