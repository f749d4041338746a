//! One stored object, kept once as its JSON: the store's collections, the
//! event log behind watches and the write-ahead log all share these bytes.
//!
//! Why bytes and not a decoded `serde_json::Value`: every JSON object in a
//! `Value` is a B-tree whose first node has room for eleven 56-byte entries,
//! so a 0.5 KiB ConfigMap with its `managedFields` took about 8 KB decoded;
//! its JSON takes about 0.7 KB. Code that reads an object's fields decodes it
//! ([`Stored::value`]); answers that only pass the object on splice its bytes
//! ([`Stored::json`], [`Stored::item_json`]).
//!
//! The JSON starts with `apiVersion` then `kind` (the rest in key order), so
//! that a list of a built-in kind, whose items carry no type, can splice
//! each item after that prefix without decoding it.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::value::RawValue;
use serde_json::{Map, Value};

/// The fields written first, in this order.
const TYPE_KEYS: [&str; 2] = ["apiVersion", "kind"];

/// The part of `metadata` [`Stored::head`] reads.
#[derive(Deserialize, Default)]
struct Metadata {
    labels: Option<BTreeMap<String, Value>>,
    #[serde(rename = "resourceVersion")]
    resource_version: Option<String>,
}

/// A stored object's JSON. Cheap to clone.
#[derive(Clone)]
pub struct Stored(Arc<RawValue>);

impl PartialEq for Stored {
    fn eq(&self, other: &Self) -> bool {
        self.json() == other.json()
    }
}

impl std::fmt::Debug for Stored {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.json())
    }
}

/// Writes an object's `apiVersion` and `kind` first, then its other fields.
struct TypeFirst<'a>(&'a Map<String, Value>);

impl Serialize for TypeFirst<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(self.0.len()))?;
        for key in TYPE_KEYS {
            if let Some(v) = self.0.get(key) {
                map.serialize_entry(key, v)?;
            }
        }
        for (k, v) in self.0 {
            if !TYPE_KEYS.contains(&k.as_str()) {
                map.serialize_entry(k, v)?;
            }
        }
        map.end()
    }
}

impl Stored {
    /// The object's JSON, type first.
    pub(crate) fn encode(object: &Value) -> Self {
        let raw = match object {
            Value::Object(map) => serde_json::value::to_raw_value(&TypeFirst(map)),
            other => serde_json::value::to_raw_value(other),
        };
        // Writing a `Value` as JSON cannot fail: its map keys are strings
        // and its numbers finite, and the writer is a Vec. The fallback
        // keeps this total without a panic path.
        let raw = raw.unwrap_or_else(|_| RawValue::NULL.to_owned());
        Self(Arc::from(raw))
    }

    /// The object's JSON.
    pub(crate) fn json(&self) -> &str {
        self.0.get()
    }

    /// The object's size in bytes as JSON.
    pub(crate) fn len(&self) -> usize {
        self.json().len()
    }

    /// The object, decoded.
    pub(crate) fn value(&self) -> Value {
        decode(self.json())
    }

    /// The metadata fields the store reads without decoding the object:
    /// `None` when metadata or these fields have another JSON type.
    fn head(&self) -> Option<Metadata> {
        #[derive(Deserialize)]
        struct Head {
            metadata: Option<Metadata>,
        }
        let head = serde_json::from_str::<Head>(self.json()).ok()?;
        Some(head.metadata.unwrap_or_default())
    }

    /// Its `metadata.labels`, as [`crate::meta::labels`] reads them, decoding
    /// nothing else.
    pub(crate) fn labels(&self) -> BTreeMap<String, String> {
        let Some(head) = self.head() else {
            // Metadata or labels of another JSON type: read as the whole
            // object reads them.
            return crate::meta::labels(&self.value());
        };
        head.labels
            .into_iter()
            .flatten()
            .filter_map(|(k, v)| match v {
                Value::String(v) => Some((k, v)),
                _ => None,
            })
            .collect()
    }

    /// Its `metadata.resourceVersion`, as [`crate::meta::resource_version`]
    /// reads it, decoding nothing else.
    pub(crate) fn resource_version(&self) -> Option<u64> {
        match self.head() {
            Some(head) => head.resource_version?.parse().ok(),
            None => crate::meta::resource_version(&self.value()),
        }
    }

    /// The object's JSON without its type, as an item of a typed list
    /// carries it, when its type is `prefix` ([`type_prefix`]); `None` when
    /// it is another (the caller decodes and converts instead). Returned
    /// without the opening brace: the caller writes `{` then this.
    pub(crate) fn item_json(&self, prefix: &str) -> Option<&str> {
        let rest = self.json().strip_prefix(prefix)?;
        match rest.strip_prefix(',') {
            Some(fields) => Some(fields),
            None if rest == "}" => Some(rest),
            None => None,
        }
    }
}

/// How a stored object of `api_version` and `kind` begins.
pub(crate) fn type_prefix(api_version: &str, kind: &str) -> String {
    format!(
        "{{\"apiVersion\":{},\"kind\":{}",
        Value::from(api_version),
        Value::from(kind)
    )
}

/// JSON this store wrote, decoded. Without a recursion limit: the bytes are
/// serde_json's own output for a `Value` that already existed at this depth
/// (an object's `managedFields` can nest a few levels deeper than the
/// request body that was depth-checked on the way in).
fn decode(json: &str) -> Value {
    let mut de = serde_json::Deserializer::from_str(json);
    de.disable_recursion_limit();
    // Decoding what serde_json wrote for a `Value` cannot fail; `Null` keeps
    // this total without a panic path.
    Value::deserialize(&mut de).unwrap_or(Value::Null)
}

impl Serialize for Stored {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(s)
    }
}

impl<'de> Deserialize<'de> for Stored {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = Box::<RawValue>::deserialize(d)?;
        Ok(Self(Arc::from(raw)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_type_comes_first_and_the_object_round_trips() {
        let cm = json!({"data": {"k": "v"}, "kind": "ConfigMap", "apiVersion": "v1", "metadata": {"name": "a"}});
        let stored = Stored::encode(&cm);
        assert!(
            stored
                .json()
                .starts_with(r#"{"apiVersion":"v1","kind":"ConfigMap","#)
        );
        assert_eq!(stored.value(), cm);
        assert_eq!(
            stored.item_json(&type_prefix("v1", "ConfigMap")),
            Some(r#""data":{"k":"v"},"metadata":{"name":"a"}}"#)
        );
        assert!(stored.item_json(&type_prefix("v2", "ConfigMap")).is_none());
        assert!(stored.item_json(&type_prefix("v1", "Config")).is_none());
    }

    #[test]
    fn an_object_of_nothing_but_its_type_is_an_empty_item() {
        let stored = Stored::encode(&json!({"apiVersion": "v1", "kind": "List"}));
        assert_eq!(stored.item_json(&type_prefix("v1", "List")), Some("}"));
        let untyped = Stored::encode(&json!({"metadata": {}}));
        assert_eq!(untyped.item_json(&type_prefix("v1", "List")), None);
    }

    #[test]
    fn labels_and_resource_version_read_as_the_whole_object_reads_them() {
        let cases = [
            json!({"metadata": {"labels": {"a": "1", "n": 2}, "resourceVersion": "7"}}),
            json!({"metadata": {"labels": "odd", "resourceVersion": 7}}),
            json!({"metadata": null}),
            json!({"spec": {}}),
        ];
        for object in cases {
            let stored = Stored::encode(&object);
            assert_eq!(stored.labels(), crate::meta::labels(&object), "{object}");
            assert_eq!(
                stored.resource_version(),
                crate::meta::resource_version(&object),
                "{object}"
            );
        }
        let cm =
            Stored::encode(&json!({"metadata": {"labels": {"a": "1"}, "resourceVersion": "7"}}));
        assert_eq!(cm.resource_version(), Some(7));
        assert_eq!(cm.labels().get("a").map(String::as_str), Some("1"));
    }

    #[test]
    fn deeper_than_a_request_may_be_still_decodes() {
        let mut deep = json!("leaf");
        for _ in 0..300 {
            deep = json!({ "a": deep });
        }
        let stored = Stored::encode(&json!({"apiVersion": "v1", "kind": "X", "spec": deep}));
        assert_eq!(stored.value()["kind"], "X");
    }

    #[test]
    fn it_is_written_to_the_log_as_its_json() {
        let stored = Stored::encode(&json!({"apiVersion": "v1", "kind": "X"}));
        let text = serde_json::to_string(&vec![stored.clone()]).unwrap();
        assert_eq!(text, format!("[{}]", stored.json()));
        let back: Vec<Stored> = serde_json::from_str(&text).unwrap();
        assert_eq!(back[0].json(), stored.json());
    }
}
