//! Reading and writing `metadata` of objects held as JSON, and the values the
//! server generates: UIDs, timestamps, generateName suffixes.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

/// Kubernetes' `Ready` condition type of pods and nodes (what the kubelet
/// sets and evictions read), as the query crate's printers spell it for
/// the whole repository.
pub const READY: &str = operatorkit_query::printers::READY;

/// `metadata` of `obj`, if it is an object.
pub(crate) fn metadata(obj: &Value) -> Option<&Map<String, Value>> {
    obj.get("metadata").and_then(Value::as_object)
}

/// `metadata` of `obj`, created if missing (and replaced if not an object).
pub(crate) fn metadata_mut(obj: &mut Value) -> &mut Map<String, Value> {
    object_field_mut(obj, "metadata")
}

/// The object at `key` of `v`, created if missing; `v` and the field are made
/// objects when they are not.
pub(crate) fn object_field_mut<'a>(v: &'a mut Value, key: &str) -> &'a mut Map<String, Value> {
    if !v.is_object() {
        *v = Value::Object(Map::new());
    }
    match v {
        Value::Object(m) => map_field_mut(m, key),
        _ => unreachable!("v was made an object above"),
    }
}

/// The object at `key` of `m`, created if missing (and replaced if not an object).
pub(crate) fn map_field_mut<'a>(
    m: &'a mut Map<String, Value>,
    key: &str,
) -> &'a mut Map<String, Value> {
    let entry = m.entry(key).or_insert_with(|| Value::Object(Map::new()));
    if !entry.is_object() {
        *entry = Value::Object(Map::new());
    }
    match entry {
        Value::Object(o) => o,
        _ => unreachable!("entry was made an object above"),
    }
}

/// A string field of `metadata`.
pub(crate) fn str_field<'a>(obj: &'a Value, field: &str) -> Option<&'a str> {
    metadata(obj)?.get(field)?.as_str()
}

/// `metadata.name`.
pub(crate) fn name(obj: &Value) -> Option<&str> {
    str_field(obj, "name").filter(|s| !s.is_empty())
}

/// `metadata.namespace`.
pub(crate) fn namespace(obj: &Value) -> Option<&str> {
    str_field(obj, "namespace").filter(|s| !s.is_empty())
}

/// `metadata.uid`.
pub(crate) fn uid(obj: &Value) -> Option<&str> {
    str_field(obj, "uid").filter(|s| !s.is_empty())
}

/// `metadata.resourceVersion` as a number.
pub(crate) fn resource_version(obj: &Value) -> Option<u64> {
    str_field(obj, "resourceVersion")?.parse().ok()
}

/// Sets `metadata.resourceVersion`.
pub(crate) fn set_resource_version(obj: &mut Value, rv: u64) {
    metadata_mut(obj).insert("resourceVersion".into(), Value::String(rv.to_string()));
}

/// `metadata.generation`.
pub(crate) fn generation(obj: &Value) -> Option<i64> {
    metadata(obj)?.get("generation")?.as_i64()
}

/// A string map field of `metadata` (`labels`, `annotations`).
pub(crate) fn string_map(obj: &Value, field: &str) -> BTreeMap<String, String> {
    metadata(obj)
        .and_then(|m| m.get(field))
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned())))
                .collect()
        })
        .unwrap_or_default()
}

/// `metadata.labels`.
pub(crate) fn labels(obj: &Value) -> BTreeMap<String, String> {
    string_map(obj, "labels")
}

/// `metadata.finalizers`.
pub(crate) fn finalizers(obj: &Value) -> Vec<String> {
    strings(metadata(obj).and_then(|m| m.get("finalizers")))
}

/// The strings of a JSON array (others skipped); none if it is not one.
pub(crate) fn strings(list: Option<&Value>) -> Vec<String> {
    list.and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// The array at JSON `pointer` in `v` (a copy), or an empty one.
pub(crate) fn array_at(v: &Value, pointer: &str) -> Vec<Value> {
    v.pointer(pointer)
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
}

/// The string at JSON `pointer` in `v`, or "".
pub(crate) fn string_at(v: &Value, pointer: &str) -> String {
    v.pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned()
}

/// Sets `metadata.finalizers` (removing the field when empty).
pub(crate) fn set_finalizers(obj: &mut Value, finalizers: &[String]) {
    let meta = metadata_mut(obj);
    if finalizers.is_empty() {
        meta.remove("finalizers");
    } else {
        meta.insert(
            "finalizers".into(),
            finalizers.iter().cloned().map(Value::String).collect(),
        );
    }
}

/// Whether `metadata.deletionTimestamp` is set.
pub(crate) fn is_deleting(obj: &Value) -> bool {
    metadata(obj).is_some_and(|m| m.get("deletionTimestamp").is_some_and(|v| !v.is_null()))
}

/// `metadata.ownerReferences`.
pub(crate) fn owner_references(obj: &Value) -> Vec<Value> {
    metadata(obj)
        .and_then(|m| m.get("ownerReferences"))
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
}

/// Now, as Kubernetes writes timestamps (RFC 3339, seconds, UTC).
pub(crate) fn now() -> String {
    let now = jiff::Timestamp::now();
    // Kubernetes' metav1.Time has second precision.
    let secs = now.as_second();
    jiff::Timestamp::from_second(secs)
        .unwrap_or(now)
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

/// Now plus `seconds`, as a `metav1.Time` (second precision).
pub(crate) fn now_plus(seconds: i64) -> String {
    let secs = jiff::Timestamp::now().as_second();
    format_seconds(secs.saturating_add(seconds)).unwrap_or_else(now)
}

/// The `metav1.Time` `time` moved by `seconds`; `None` if it is not one.
pub(crate) fn shift(time: &str, seconds: i64) -> Option<String> {
    let t: jiff::Timestamp = time.parse().ok()?;
    format_seconds(t.as_second().saturating_add(seconds))
}

fn format_seconds(secs: i64) -> Option<String> {
    let t = jiff::Timestamp::from_second(secs).ok()?;
    Some(t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string())
}

/// A new random UID.
pub(crate) fn new_uid() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// A random 5-character suffix for `generateName`, from the alphabet Kubernetes
/// uses (no vowels, no confusable characters).
pub(crate) fn random_suffix() -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    uuid::Uuid::new_v4()
        .as_bytes()
        .iter()
        .take(5)
        .map(|b| char::from(ALPHABET[usize::from(*b) % ALPHABET.len()]))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_and_writes_metadata() {
        let mut o = json!({"metadata": {"name": "a", "labels": {"x": "1"}, "finalizers": ["f"]}});
        assert_eq!(name(&o), Some("a"));
        assert_eq!(namespace(&o), None);
        assert_eq!(labels(&o).get("x").map(String::as_str), Some("1"));
        set_resource_version(&mut o, 7);
        assert_eq!(resource_version(&o), Some(7));
        set_finalizers(&mut o, &[]);
        assert!(finalizers(&o).is_empty());
        assert!(o["metadata"].get("finalizers").is_none());
        let mut bare = json!(null);
        set_resource_version(&mut bare, 1);
        assert_eq!(bare["metadata"]["resourceVersion"], "1");
    }

    #[test]
    fn generated_values_have_kubernetes_shapes() {
        assert_eq!(now().len(), "2026-01-01T00:00:00Z".len());
        assert!(now().ends_with('Z'));
        assert_eq!(new_uid().len(), 36);
        let s = random_suffix();
        assert_eq!(s.len(), 5);
        assert!(s.chars().all(|c| "bcdfghjklmnpqrstvwxz2456789".contains(c)));
    }
}

/// Sets (or with `None` removes) the value at JSON pointer `p` of `obj`,
/// making the objects on the way (replacing what is not an object).
pub(crate) fn set_pointer(obj: &mut Value, p: &str, value: Option<Value>) {
    let parts: Vec<&str> = p.trim_start_matches('/').split('/').collect();
    let Some((last, path)) = parts.split_last() else {
        return;
    };
    let mut at = obj;
    for part in path {
        let Some(map) = as_object(at) else { return };
        at = map
            .entry(*part)
            .or_insert_with(|| Value::Object(Map::new()));
    }
    if let Some(map) = as_object(at) {
        match value {
            Some(v) => map.insert((*last).to_owned(), v),
            None => map.remove(*last),
        };
    }
}

/// `v` as an object, made one if it is not.
fn as_object(v: &mut Value) -> Option<&mut Map<String, Value>> {
    if !v.is_object() {
        *v = Value::Object(Map::new());
    }
    v.as_object_mut()
}

#[cfg(test)]
mod set_pointer_tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn set_pointer_makes_the_way_and_removes() {
        let mut obj = json!({"spec": {"a": 1}});
        set_pointer(&mut obj, "/spec/ports", Some(json!([1])));
        set_pointer(&mut obj, "/data", Some(json!({"k": "v"})));
        set_pointer(&mut obj, "/spec/a", None);
        assert_eq!(obj, json!({"spec": {"ports": [1]}, "data": {"k": "v"}}));
    }
}
