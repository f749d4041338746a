//! PATCH bodies: JSON patch (RFC 6902, including `test`), JSON merge patch
//! (RFC 7386), strategic merge patch (built-in kinds only, as in Kubernetes),
//! and the merge step of server-side apply.

use serde_json::Value;

use crate::error::{ApiError, ApiResult};
use crate::resources::{Builtin, ResourceType};

/// A patch's Content-Type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PatchType {
    /// `application/json-patch+json`.
    Json,
    /// `application/merge-patch+json`.
    Merge,
    /// `application/strategic-merge-patch+json`.
    Strategic,
    /// `application/apply-patch+yaml` (server-side apply).
    Apply,
}

impl PatchType {
    /// The patch type of a Content-Type header; 415 for anything else.
    pub(crate) fn from_content_type(ct: &str) -> ApiResult<Self> {
        match ct.split(';').next().unwrap_or_default().trim() {
            "application/json-patch+json" => Ok(Self::Json),
            "application/merge-patch+json" => Ok(Self::Merge),
            "application/strategic-merge-patch+json" => Ok(Self::Strategic),
            "application/apply-patch+yaml" | "application/apply-patch+cbor" => Ok(Self::Apply),
            other => Err(ApiError::unsupported_media_type(other)),
        }
    }
}

/// Applies a JSON, merge or strategic patch to `current`.
pub(crate) fn apply(
    rt: &ResourceType,
    patch_type: PatchType,
    current: &Value,
    body: &[u8],
) -> ApiResult<Value> {
    let patch: Value = serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("error decoding patch: {e}")))?;
    let mut doc = current.clone();
    match patch_type {
        PatchType::Json => {
            let ops: json_patch::Patch = serde_json::from_value(patch).map_err(|e| {
                ApiError::bad_request(format!(
                    "the server rejected our request due to an error in our request: {e}"
                ))
            })?;
            // Every failure, a failed `test` included, is 422 as in kube-apiserver.
            json_patch::patch(&mut doc, &ops).map_err(|e| {
                ApiError::invalid(
                    &rt.kind,
                    &rt.group,
                    crate::meta::name(current).unwrap_or_default(),
                    vec![crate::error::Cause {
                        reason: "FieldValueInvalid".into(),
                        message: format!(
                            "the server rejected our request due to an error in our request: {e}"
                        ),
                        field: String::new(),
                    }],
                )
            })?;
            Ok(doc)
        }
        PatchType::Merge => {
            if !patch.is_object() {
                return Err(ApiError::bad_request("a merge patch must be a JSON object"));
            }
            json_patch::merge(&mut doc, &patch);
            Ok(doc)
        }
        PatchType::Strategic => {
            if rt.custom.is_some() {
                return Err(ApiError::unsupported_media_type(
                    "application/strategic-merge-patch+json is not supported for custom resources",
                ));
            }
            strategic(rt, &doc, &patch)
        }
        PatchType::Apply => Err(ApiError::internal(
            "apply patches take the server-side apply path",
        )),
    }
}

/// A strategic merge patch of a built-in kind, with the patch metadata of its
/// Go type; errors carry the status kube-apiserver answers with.
fn strategic(rt: &ResourceType, doc: &Value, patch: &Value) -> ApiResult<Value> {
    let result = match operatorkit_strategic_merge::patch_meta(&rt.group, &rt.kind) {
        Some(meta) => operatorkit_strategic_merge::apply(doc, patch, meta),
        None => operatorkit_strategic_merge::apply_without_schema(doc, patch),
    };
    result.map_err(|e| {
        let mut err = ApiError::bad_request(e.status_message());
        err.code = e.http_status();
        err.reason = e.status_reason();
        err
    })
}

/// Parses an apply configuration (YAML or JSON).
pub(crate) fn parse_apply(body: &[u8]) -> ApiResult<Value> {
    let value: Value = serde_yaml::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("error decoding YAML: {e}")))?;
    if !value.is_object() {
        return Err(ApiError::bad_request(
            "an apply configuration must be an object",
        ));
    }
    Ok(value)
}

/// Merges an applied configuration into the current object: maps merge, lists
/// keyed in the schema (`x-kubernetes-list-type: map`, or merge keys of built-in
/// kinds) merge by key, other lists are replaced.
pub(crate) fn apply_merge(rt: &ResourceType, current: &Value, applied: &Value) -> Value {
    if rt.custom.is_none()
        && let Ok(mut v) = strategic(rt, current, applied)
    {
        merge_service_ports(rt, current, applied, &mut v);
        return v;
    }
    let schema = rt.custom.as_ref().and_then(|c| c.schema.as_ref());
    merge_value(current, applied, schema, 0)
}

/// A Service's ports are keyed by port *and* protocol in server-side apply
/// (structured-merge-diff's list-map keys), where the strategic merge key is
/// the port alone: the same number over TCP and UDP are two ports, merged
/// here by both keys (a missing protocol is TCP, its default).
fn merge_service_ports(rt: &ResourceType, current: &Value, applied: &Value, merged: &mut Value) {
    if rt.builtin != Some(Builtin::Service) {
        return;
    }
    let Some(Value::Array(applied_ports)) = applied.pointer("/spec/ports") else {
        return;
    };
    let key = |p: &Value| {
        (
            p.get("port").cloned().unwrap_or(Value::Null),
            p.get("protocol")
                .cloned()
                .unwrap_or_else(|| Value::from("TCP")),
        )
    };
    let mut out: Vec<Value> = match current.pointer("/spec/ports") {
        Some(Value::Array(ports)) => ports.clone(),
        _ => Vec::new(),
    };
    for port in applied_ports {
        match out.iter_mut().find(|p| key(p) == key(port)) {
            Some(existing) => {
                if let (Value::Object(e), Value::Object(a)) = (existing, port) {
                    e.extend(a.iter().map(|(k, v)| (k.clone(), v.clone())));
                }
            }
            None => out.push(port.clone()),
        }
    }
    if let Some(spec) = merged.get_mut("spec").and_then(Value::as_object_mut) {
        spec.insert("ports".into(), Value::Array(out));
    }
}

const MAX_DEPTH: usize = 128;

fn merge_value(current: &Value, applied: &Value, schema: Option<&Value>, depth: usize) -> Value {
    if depth > MAX_DEPTH {
        return applied.clone();
    }
    match (current, applied) {
        (Value::Object(c), Value::Object(a)) => {
            let mut out = c.clone();
            for (k, v) in a {
                let sub = schema
                    .and_then(|s| s.get("properties"))
                    .and_then(|p| p.get(k))
                    .or_else(|| {
                        schema
                            .and_then(|s| s.get("additionalProperties"))
                            .filter(|s| s.is_object())
                    });
                let merged = match out.get(k) {
                    Some(existing) => merge_value(existing, v, sub, depth + 1),
                    None => v.clone(),
                };
                out.insert(k.clone(), merged);
            }
            Value::Object(out)
        }
        (Value::Array(c), Value::Array(a)) => {
            let keys: Vec<String> = schema
                .filter(|s| s.get("x-kubernetes-list-type").and_then(Value::as_str) == Some("map"))
                .and_then(|s| s.get("x-kubernetes-list-map-keys"))
                .and_then(Value::as_array)
                .map(|ks| {
                    ks.iter()
                        .filter_map(|k| k.as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default();
            if keys.is_empty() {
                return applied.clone();
            }
            let item_schema = schema.and_then(|s| s.get("items"));
            let key_of = |v: &Value| {
                keys.iter()
                    .map(|k| v.get(k).cloned().unwrap_or(Value::Null))
                    .collect::<Vec<_>>()
            };
            let mut out = c.clone();
            for item in a {
                let k = key_of(item);
                match out.iter_mut().find(|e| key_of(e) == k) {
                    Some(e) => *e = merge_value(e, item, item_schema, depth + 1),
                    None => out.push(item.clone()),
                }
            }
            Value::Array(out)
        }
        _ => applied.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn keyed_lists_merge_by_key_and_others_are_replaced() {
        let schema = json!({"properties": {
            "conditions": {"type": "array", "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["type"],
                "items": {"type": "object"}},
            "tags": {"type": "array", "items": {"type": "string"}}}});
        let current = json!({"conditions": [{"type": "A", "status": "True"}, {"type": "B", "status": "True"}], "tags": ["x"]});
        let applied = json!({"conditions": [{"type": "B", "status": "False"}, {"type": "C", "status": "True"}], "tags": ["y"]});
        let merged = merge_value(&current, &applied, Some(&schema), 0);
        assert_eq!(
            merged["conditions"],
            json!([{"type": "A", "status": "True"}, {"type": "B", "status": "False"}, {"type": "C", "status": "True"}])
        );
        assert_eq!(merged["tags"], json!(["y"]));
    }

    #[test]
    fn unknown_patch_types_are_415() {
        assert_eq!(
            PatchType::from_content_type("application/json")
                .unwrap_err()
                .code,
            415
        );
        assert_eq!(
            PatchType::from_content_type("application/merge-patch+json; charset=utf-8").unwrap(),
            PatchType::Merge
        );
    }
}
