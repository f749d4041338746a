//! Status writes of the workload controllers: the desired status as Go
//! encodes it (zero counts of `omitempty` fields left out), written as one
//! merge patch by `kube-controller-manager`, and only when it differs from
//! what is stored.

use kube::api::{Patch, PatchParams};
use kube::{Api, Resource};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::keys;

/// `status` (a JSON object) with null fields, empty lists and the zero
/// values of `omit_zero` left out, as Go's `omitempty` encodes them.
pub fn go_encoded(status: Value, omit_zero: &[&str]) -> Map<String, Value> {
    let Value::Object(mut status) = status else {
        return Map::new();
    };
    status.retain(|k, v| match v {
        Value::Null => false,
        Value::Array(a) => !a.is_empty(),
        Value::Number(n) if omit_zero.contains(&k.as_str()) => n.as_i64() != Some(0),
        _ => true,
    });
    status
}

/// `v` without its null fields, at every depth: as the API server returns
/// an object, and as a merge patch must be sent to set nothing to null.
pub fn without_nulls(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k.clone(), without_nulls(v)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(without_nulls).collect()),
        other => other.clone(),
    }
}

/// Writes `desired` as `name`'s status if it differs from `current`: keys
/// `current` has and `desired` lacks are removed (null in the merge patch).
pub async fn write<K, S>(
    api: &Api<K>,
    name: &str,
    current: Option<&S>,
    desired: Map<String, Value>,
) -> Result<bool, kube::Error>
where
    K: Resource + Clone + DeserializeOwned + std::fmt::Debug,
    S: Serialize,
{
    let before = match current.map(serde_json::to_value) {
        Some(Ok(Value::Object(m))) => m,
        _ => Map::new(),
    };
    if before == desired {
        return Ok(false);
    }
    let mut patch = desired;
    for key in before.keys() {
        patch.entry(key.clone()).or_insert(Value::Null);
    }
    let pp = PatchParams {
        field_manager: Some(keys::CONTROLLER_MANAGER.into()),
        ..PatchParams::default()
    };
    let body = serde_json::json!({"status": patch});
    api.patch_status(name, &pp, &Patch::Merge(&body)).await?;
    Ok(true)
}
