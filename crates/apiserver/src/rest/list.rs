//! LIST: selectors, consistent pages with continue tokens, and the filter that
//! watches share.

use base64::Engine as _;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::options::ListOptions;
use super::{Rest, convert};
use crate::error::{ApiError, ApiResult};
use crate::meta;
use crate::resources::ResourceType;
use crate::store::{ObjectKey, Stored, type_prefix};
use operatorkit_query::{fields, labels};

/// Which objects a list or watch returns.
pub(crate) struct Filter {
    namespace: Option<String>,
    group: String,
    kind: String,
    custom: bool,
    labels: Option<labels::Selector>,
    fields: Option<fields::FieldSelector>,
}

impl Filter {
    /// The filter of a list or watch request on `rt` in `ns`.
    pub(crate) fn new(rt: &ResourceType, ns: Option<&str>, opts: &ListOptions) -> ApiResult<Self> {
        let labels = opts
            .label_selector
            .as_deref()
            .map(|s| labels::parse(s).map_err(|e| ApiError::bad_request(e.to_string())))
            .transpose()?;
        let fields = opts
            .field_selector
            .as_deref()
            .map(|s| {
                let parsed = fields::parse(s).map_err(|e| ApiError::bad_request(e.to_string()))?;
                let converted = match &rt.custom {
                    Some(c) => {
                        let selectable: Vec<&str> =
                            c.selectable_fields.iter().map(String::as_str).collect();
                        parsed.convert_custom_resource(rt.namespaced, &selectable)
                    }
                    None => parsed.convert_builtin(&rt.group, &rt.kind),
                };
                converted.map_err(|e| ApiError::bad_request(e.to_string()))
            })
            .transpose()?;
        Ok(Self {
            namespace: if rt.namespaced {
                ns.map(str::to_owned)
            } else {
                None
            },
            group: rt.group.clone(),
            kind: rt.kind.clone(),
            custom: rt.custom.is_some(),
            labels,
            fields,
        })
    }

    /// The namespace the request is limited to.
    pub(crate) fn namespace(&self) -> Option<&str> {
        self.namespace.as_deref()
    }

    /// Whether the request's selectors select at all (a paged list then has no
    /// `remainingItemCount`).
    pub(crate) fn selects(&self) -> bool {
        self.labels.is_some() || self.fields.is_some()
    }

    /// Whether a stored object of `rt` passes, decoding it only when a field
    /// selector reads it.
    pub(crate) fn matches_stored(
        &self,
        rt: &ResourceType,
        key: &ObjectKey,
        stored: &Stored,
    ) -> bool {
        if self.fields.is_some() {
            return self.matches(key, &convert::from_stored(rt, stored));
        }
        if self
            .namespace
            .as_deref()
            .is_some_and(|ns| ns != key.namespace)
        {
            return false;
        }
        self.labels
            .as_ref()
            .is_none_or(|l| l.matches(&stored.labels()))
    }

    /// Whether `obj` (in the form the client reads) passes.
    pub(crate) fn matches(&self, key: &ObjectKey, obj: &Value) -> bool {
        if self
            .namespace
            .as_deref()
            .is_some_and(|ns| ns != key.namespace)
        {
            return false;
        }
        if let Some(l) = &self.labels
            && !l.matches(&meta::labels(obj))
        {
            return false;
        }
        if let Some(f) = &self.fields {
            let passes = if self.custom {
                f.matches(|label| {
                    fields::custom_resource_field_value(obj, &format!(".{label}")).ok()
                })
            } else {
                f.matches_builtin(&self.group, &self.kind, obj)
            };
            if !passes {
                return false;
            }
        }
        true
    }
}

/// Where a paged list continues: the revision it reads at and the last key sent.
#[derive(Debug, Serialize, Deserialize, PartialEq)]
pub(crate) struct ContinueToken {
    /// Token format version.
    v: String,
    /// Revision the list reads at.
    rv: u64,
    /// Last key returned (`namespace/name`).
    start: String,
}

impl ContinueToken {
    fn encode(rv: u64, key: &ObjectKey) -> String {
        let token = ContinueToken {
            v: "meta.k8s.io/v1".into(),
            rv,
            start: format!("{}/{}", key.namespace, key.name),
        };
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(serde_json::to_vec(&token).unwrap_or_default())
    }

    fn decode(s: &str) -> ApiResult<(u64, ObjectKey)> {
        let invalid = || ApiError::bad_request(format!("continue key is not valid: {s:?}"));
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(s.trim_end_matches('='))
            .map_err(|_| invalid())?;
        let token: ContinueToken = serde_json::from_slice(&bytes).map_err(|_| invalid())?;
        if token.v != "meta.k8s.io/v1" {
            return Err(invalid());
        }
        let (ns, name) = token.start.split_once('/').ok_or_else(invalid)?;
        Ok((token.rv, ObjectKey::new(ns, name)))
    }
}

impl Rest {
    /// LIST of `rt` in `ns` (or every namespace).
    pub(crate) fn list(
        &self,
        rt: &ResourceType,
        ns: Option<&str>,
        opts: &ListOptions,
    ) -> ApiResult<Listed> {
        let filter = Filter::new(rt, ns, opts)?;
        let ns = filter.namespace().map(str::to_owned);
        let storage = rt.storage_key();
        let requested_rv = opts.resource_version()?;
        let (at, after, items) = self.store.read(|state| -> ApiResult<_> {
            let (at, after) = read_point(opts, requested_rv, state.revision())?;
            let items = state.list_at(&storage, ns.as_deref(), at).map_err(|e| {
                if opts.continue_token.is_some() {
                    ApiError::continue_expired()
                } else {
                    e
                }
            })?;
            Ok((at, after, items))
        })?;
        let mut items = items
            .into_iter()
            .filter(|(key, _)| after.as_ref().is_none_or(|a| key > a))
            .filter(|(key, stored)| filter.matches_stored(rt, key, stored));
        let out: Vec<(ObjectKey, Stored)> = match opts.limit {
            0 => items.by_ref().collect(),
            limit => items.by_ref().take(limit).collect(),
        };
        let remaining = items.count();
        let mut metadata = json!({"resourceVersion": at.to_string()});
        if remaining > 0
            && let Some((k, _)) = out.last()
        {
            metadata["continue"] = ContinueToken::encode(at, k).into();
            if !filter.selects() {
                metadata["remainingItemCount"] = remaining.into();
            }
        }
        Ok(Listed {
            metadata,
            items: out.into_iter().map(|(_, stored)| stored).collect(),
        })
    }
}

/// The revision a list reads at and the key it continues after: the
/// continue token's, else the requested resourceVersion (refused when
/// ahead of `current`), else `current`.
fn read_point(
    opts: &ListOptions,
    requested_rv: Option<u64>,
    current: u64,
) -> ApiResult<(u64, Option<ObjectKey>)> {
    if let Some(token) = &opts.continue_token {
        let (rv, key) = ContinueToken::decode(token)?;
        return Ok((rv, Some(key)));
    }
    match (requested_rv, opts.resource_version_match.as_deref()) {
        (Some(rv), Some("Exact")) if rv <= current => Ok((rv, None)),
        (Some(rv), _) if rv > current => Err(ApiError::too_large_resource_version(rv)),
        _ => Ok((current, None)),
    }
}

/// What a LIST selected: the objects as the store keeps them, and the list's
/// metadata. Its JSON splices their stored bytes; other shapes decode them.
#[derive(Debug)]
pub(crate) struct Listed {
    metadata: Value,
    items: Vec<Stored>,
}

impl Listed {
    /// The list as a client of `rt` reads it.
    pub(crate) fn into_value(self, rt: &ResourceType) -> Value {
        let items: Vec<Value> = self
            .items
            .iter()
            .map(|s| list_item(rt, convert::from_stored(rt, s)))
            .collect();
        json!({
            "apiVersion": rt.api_version(),
            "kind": rt.list_kind(),
            "metadata": self.metadata,
            "items": items,
        })
    }

    /// [`Listed::into_value`] as JSON, written from the stored bytes of every
    /// item already in `rt`'s version.
    pub(crate) fn to_json(&self, rt: &ResourceType) -> Vec<u8> {
        let size: usize = self.items.iter().map(Stored::len).sum();
        let mut out = Vec::with_capacity(size + 256);
        out.extend_from_slice(b"{\"apiVersion\":");
        write_json(&mut out, &rt.api_version());
        out.extend_from_slice(b",\"kind\":");
        write_json(&mut out, &rt.list_kind());
        out.extend_from_slice(b",\"metadata\":");
        write_json(&mut out, &self.metadata);
        out.extend_from_slice(b",\"items\":[");
        let prefix = type_prefix(&rt.api_version(), &rt.kind);
        for (i, stored) in self.items.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            match convert::unconverted(rt, stored, &prefix) {
                Some(fields) if rt.builtin.is_some() => {
                    out.push(b'{');
                    out.extend_from_slice(fields.as_bytes());
                }
                Some(_) => out.extend_from_slice(stored.json().as_bytes()),
                None => write_json(&mut out, &list_item(rt, convert::from_stored(rt, stored))),
            }
        }
        out.extend_from_slice(b"]}");
        out
    }
}

/// Appends `value` as JSON.
fn write_json(out: &mut Vec<u8>, value: &impl Serialize) {
    // Writing into a Vec cannot fail, nor can serializing these values
    // (strings and `Value`s).
    let _ = serde_json::to_writer(out, value);
}

/// An item of a list: built-in kinds' items carry no apiVersion/kind, as
/// kube-apiserver encodes typed lists; custom resources keep theirs.
fn list_item(rt: &ResourceType, mut obj: Value) -> Value {
    if rt.builtin.is_some()
        && let Value::Object(m) = &mut obj
    {
        m.remove("apiVersion");
        m.remove("kind");
    }
    obj
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_continue_token_older_than_the_history_is_expired() {
        use crate::resources::{Gvr, Registry};
        use crate::rest::options::WriteOptions;
        use crate::store::Store;
        use std::sync::Arc;
        let rest = Rest::new(
            Arc::new(Store::new(4, None, 0, Vec::new())),
            Arc::new(Registry::with_builtins()),
        );
        let ns = rest
            .registry
            .get(&Gvr::new("", "v1", "namespaces"))
            .unwrap();
        let cms = rest
            .registry
            .get(&Gvr::new("", "v1", "configmaps"))
            .unwrap();
        let w = WriteOptions::default();
        rest.create(
            &ns,
            None,
            serde_json::json!({"metadata": {"name": "ns"}}),
            &w,
        )
        .unwrap();
        let create = |name: String| {
            rest.create(
                &cms,
                Some("ns"),
                serde_json::json!({"metadata": {"name": name}}),
                &w,
            )
            .unwrap()
        };
        (0..5).for_each(|i| drop(create(format!("a{i}"))));
        let first = rest
            .list(
                &cms,
                Some("ns"),
                &ListOptions {
                    limit: 2,
                    ..ListOptions::default()
                },
            )
            .unwrap();
        let first = first.into_value(&cms);
        let token = first["metadata"]["continue"].as_str().unwrap().to_owned();
        (0..10).for_each(|i| drop(create(format!("b{i}"))));
        let next = ListOptions {
            limit: 2,
            continue_token: Some(token),
            ..ListOptions::default()
        };
        let err = rest.list(&cms, Some("ns"), &next).unwrap_err();
        assert_eq!((err.code, err.reason), (410, "Expired"));
        assert!(
            err.message
                .starts_with("The provided continue parameter is too old"),
            "{}",
            err.message
        );
    }

    #[test]
    fn a_list_written_from_stored_bytes_is_the_list_decoded() {
        use crate::resources::{Gvr, Registry};
        use crate::rest::options::WriteOptions;
        use crate::store::Store;
        use std::sync::Arc;
        let rest = Rest::new(
            Arc::new(Store::new(100, None, 0, Vec::new())),
            Arc::new(Registry::with_builtins()),
        );
        let rt = |g: &str, r: &str| rest.registry.get(&Gvr::new(g, "v1", r)).unwrap();
        let w = WriteOptions::default();
        let ns = json!({"metadata": {"name": "ns"}});
        rest.create(&rt("", "namespaces"), None, ns, &w).unwrap();
        let cm = json!({"metadata": {"name": "a", "labels": {"x": "1"}}, "data": {"k": "v"}});
        rest.create(&rt("", "configmaps"), Some("ns"), cm, &w)
            .unwrap();
        let event = json!({"metadata": {"name": "e"}, "involvedObject": {"kind": "Pod", "name": "p"},
            "message": "hello", "reason": "R"});
        rest.create(&rt("", "events"), Some("ns"), event, &w)
            .unwrap();
        // Spliced (ConfigMaps, core Events) and converted (events.k8s.io).
        for rt in [
            rt("", "configmaps"),
            rt("", "events"),
            rt("events.k8s.io", "events"),
        ] {
            let listed = rest.list(&rt, Some("ns"), &ListOptions::default()).unwrap();
            let written: Value = serde_json::from_slice(&listed.to_json(&rt)).unwrap();
            let decoded = listed.into_value(&rt);
            assert_eq!(written, decoded, "{}", rt.kind);
            assert_eq!(decoded["items"].as_array().unwrap().len(), 1, "{}", rt.kind);
            assert!(decoded["items"][0].get("apiVersion").is_none());
        }
        let regarding = rest
            .list(
                &rt("events.k8s.io", "events"),
                Some("ns"),
                &ListOptions::default(),
            )
            .unwrap()
            .into_value(&rt("events.k8s.io", "events"));
        assert_eq!(regarding["items"][0]["note"], "hello");
        let by_label = ListOptions {
            label_selector: Some("x=1".into()),
            ..ListOptions::default()
        };
        let selected = rest.list(&rt("", "configmaps"), None, &by_label).unwrap();
        assert_eq!(selected.items.len(), 1);
        let none = ListOptions {
            label_selector: Some("x=2".into()),
            ..ListOptions::default()
        };
        assert!(
            rest.list(&rt("", "configmaps"), None, &none)
                .unwrap()
                .items
                .is_empty()
        );
    }

    #[test]
    fn continue_tokens_round_trip_and_refuse_garbage() {
        let t = ContinueToken::encode(42, &ObjectKey::new("ns", "b"));
        assert_eq!(
            ContinueToken::decode(&t).unwrap(),
            (42, ObjectKey::new("ns", "b"))
        );
        assert_eq!(ContinueToken::decode("garbage!").unwrap_err().code, 400);
    }
}
