//! `POST pods/<name>/binding`: how a scheduler assigns a pod to a node, as
//! kube-apiserver's `BindingREST` does it: the pod gets `spec.nodeName` and a
//! `PodScheduled=True` condition, once; binding a pod that is already bound
//! is a 409, one that is being deleted a 409 too.

use serde_json::{Value, json};

use super::options::WriteOptions;
use super::{Existing, Rest, Subresource};
use crate::error::{ApiError, ApiResult};
use crate::meta;
use crate::resources::ResourceType;

impl Rest {
    /// Binds pod `name` in `ns` to the node the `binding` names; the
    /// `Status` to answer.
    pub(crate) fn bind(
        &self,
        pods: &ResourceType,
        ns: &str,
        name: &str,
        binding: &Value,
        opts: &WriteOptions,
    ) -> ApiResult<Value> {
        let node = target_node(binding)?;
        if let Some(n) = meta::name(binding).filter(|n| *n != name) {
            return Err(ApiError::bad_request(format!(
                "the name of the object ({n}) does not match the name on the URL ({name})"
            )));
        }
        let annotations = binding.pointer("/metadata/annotations").cloned();
        let at = Existing {
            ns: Some(ns),
            name,
            sub: Subresource::Whole,
        };
        self.write_existing(pods, at, opts, None, |current| {
            let mut pod = current.clone();
            if meta::is_deleting(&pod) {
                return Err(ApiError::conflict_message(format!(
                    "Operation cannot be fulfilled on pods/binding \"{name}\": pod {name} is being deleted, cannot be assigned to a host"
                )));
            }
            match pod.pointer("/spec/nodeName").and_then(Value::as_str) {
                Some(bound) if !bound.is_empty() => {
                    return Err(ApiError::conflict_message(format!(
                        "Operation cannot be fulfilled on pods/binding \"{name}\": pod {name} is already assigned to node \"{bound}\""
                    )));
                }
                _ => {}
            }
            pod["spec"]["nodeName"] = node.clone().into();
            if let Some(Value::Object(extra)) = &annotations {
                let m = meta::metadata_mut(&mut pod);
                let entry = m.entry("annotations").or_insert_with(|| json!({}));
                if let Value::Object(a) = entry {
                    a.extend(extra.clone());
                }
            }
            set_scheduled(&mut pod);
            Ok((pod, Vec::new()))
        })?;
        Ok(json!({
            "kind": "Status", "apiVersion": "v1", "metadata": {},
            "status": "Success", "code": 201,
        }))
    }
}

/// `target.name` of a Binding (its kind, if given, must be Node).
fn target_node(binding: &Value) -> ApiResult<String> {
    let target = binding.get("target").cloned().unwrap_or(Value::Null);
    match target.get("kind").and_then(Value::as_str) {
        None | Some("" | "Node") => {}
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "Binding.target.kind: Unsupported value: {other:?}: supported values: \"Node\""
            )));
        }
    }
    match target.get("name").and_then(Value::as_str) {
        Some(n) if !n.is_empty() => Ok(n.to_owned()),
        _ => Err(ApiError::bad_request(
            "Binding.target.name: Required value: a node to bind to",
        )),
    }
}

/// `status.conditions[PodScheduled] = True`, replacing one that was there.
fn set_scheduled(pod: &mut Value) {
    let condition = json!({
        "type": "PodScheduled", "status": "True",
        "lastProbeTime": null, "lastTransitionTime": meta::now(),
    });
    let status = pod
        .as_object_mut()
        .map(|o| o.entry("status").or_insert_with(|| json!({})));
    let Some(Value::Object(status)) = status else {
        return;
    };
    let conditions = status.entry("conditions").or_insert_with(|| json!([]));
    if let Value::Array(list) = conditions {
        list.retain(|c| c.get("type").and_then(Value::as_str) != Some("PodScheduled"));
        list.push(condition);
    }
}
