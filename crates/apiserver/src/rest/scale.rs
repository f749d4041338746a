//! The `scale` subresource (`autoscaling/v1` Scale) of Deployments,
//! ReplicaSets, StatefulSets, ReplicationControllers and custom resources
//! whose CRD declares `subresources.scale`, as kube-apiserver's ScaleREST and
//! the CRD scale handler serve it: GET reads the replicas and selector of the
//! parent, PUT and PATCH change the parent's desired replicas (a stale
//! `resourceVersion` conflicts), nothing else of the parent.

use serde_json::{Value, json};

use super::options::WriteOptions;
use super::{Existing, PatchType, Rest, Subresource, patch};
use crate::error::{ApiError, ApiResult, Cause};
use crate::meta;
use crate::resources::{Builtin, ResourceType};

/// Where a kind keeps what its Scale shows, as JSON pointers.
struct Paths {
    spec: String,
    status: String,
    selector: Selector,
}

/// How the selector of the Scale's status is found.
enum Selector {
    /// A `metav1.LabelSelector` at this pointer (apps kinds).
    Label(&'static str),
    /// A plain map of labels (ReplicationController).
    Map(&'static str),
    /// A string at this pointer (a CRD's `labelSelectorPath`), if declared.
    Text(Option<String>),
}

/// `.spec.replicas` as the JSON pointer `/spec/replicas`.
fn pointer(json_path: &str) -> String {
    format!("/{}", json_path.trim_start_matches('.').replace('.', "/"))
}

fn paths(rt: &ResourceType) -> Option<Paths> {
    let builtin = |selector| Paths {
        spec: "/spec/replicas".into(),
        status: "/status/replicas".into(),
        selector,
    };
    match (rt.builtin, &rt.custom) {
        (Some(Builtin::Deployment | Builtin::ReplicaSet | Builtin::StatefulSet), _) => {
            Some(builtin(Selector::Label("/spec/selector")))
        }
        (Some(Builtin::ReplicationController), _) => Some(builtin(Selector::Map("/spec/selector"))),
        (None, Some(custom)) => custom.scale.as_ref().map(|s| Paths {
            spec: pointer(&s.spec_replicas_path),
            status: pointer(&s.status_replicas_path),
            selector: Selector::Text(s.label_selector_path.as_deref().map(pointer)),
        }),
        _ => None,
    }
}

/// Whether `rt` has a scale subresource.
pub(crate) fn has_scale(rt: &ResourceType) -> bool {
    paths(rt).is_some()
}

/// The Scale of `obj`.
fn scale_of(obj: &Value, p: &Paths) -> Value {
    let selector = match &p.selector {
        Selector::Label(at) => obj
            .pointer(at)
            .and_then(|s| operatorkit_query::labels::from_label_selector(s).ok())
            .map(|s| s.to_string()),
        // A map selector is a LabelSelector's `matchLabels` (SelectorFromSet).
        Selector::Map(at) => obj
            .pointer(at)
            .and_then(|m| {
                operatorkit_query::labels::from_label_selector(&json!({"matchLabels": m})).ok()
            })
            .map(|s| s.to_string()),
        Selector::Text(at) => at
            .as_deref()
            .and_then(|at| obj.pointer(at))
            .and_then(Value::as_str)
            .map(str::to_owned),
    };
    let md = obj.get("metadata").cloned().unwrap_or_default();
    let mut status = json!({"replicas": obj.pointer(&p.status).cloned().unwrap_or(json!(0))});
    if let Some(s) = selector.filter(|s| !s.is_empty()) {
        status["selector"] = s.into();
    }
    json!({
        "kind": "Scale", "apiVersion": "autoscaling/v1",
        "metadata": {"name": md["name"], "namespace": md["namespace"], "uid": md["uid"],
            "resourceVersion": md["resourceVersion"], "creationTimestamp": md["creationTimestamp"]},
        "spec": {"replicas": obj.pointer(&p.spec).cloned().unwrap_or(json!(0))},
        "status": status,
    })
}

impl Rest {
    /// GET of the Scale of `name`.
    pub(crate) fn get_scale(
        &self,
        rt: &ResourceType,
        ns: Option<&str>,
        name: &str,
    ) -> ApiResult<Value> {
        let p = paths(rt).ok_or_else(ApiError::path_not_found)?;
        Ok(scale_of(&self.get(rt, ns, name)?, &p))
    }

    /// PUT of a Scale: the parent's desired replicas become the Scale's.
    pub(crate) fn update_scale(
        &self,
        rt: &ResourceType,
        ns: Option<&str>,
        name: &str,
        scale: &Value,
        opts: &WriteOptions,
    ) -> ApiResult<Value> {
        let p = paths(rt).ok_or_else(ApiError::path_not_found)?;
        let replicas = desired(name, scale)?;
        let asked_rv = scale
            .pointer("/metadata/resourceVersion")
            .and_then(Value::as_str)
            .filter(|v| !v.is_empty())
            .map(str::to_owned);
        let at = Existing {
            ns,
            name,
            sub: Subresource::Main,
        };
        let (parent, _) = self.write_existing(rt, at, opts, None, |current| {
            let mut parent = current.clone();
            if let Some(rv) = asked_rv {
                // The Scale's resourceVersion is the parent's: a stale one conflicts.
                meta::metadata_mut(&mut parent).insert("resourceVersion".into(), rv.into());
            }
            meta::set_pointer(&mut parent, &p.spec, Some(replicas.into()));
            Ok((parent, Vec::new()))
        })?;
        Ok(scale_of(&parent, &p))
    }

    /// PATCH of a Scale (JSON, merge or strategic merge patch on the Scale).
    pub(crate) fn patch_scale(
        &self,
        rt: &ResourceType,
        ns: Option<&str>,
        name: &str,
        (patch_type, body): (PatchType, &[u8]),
        opts: &WriteOptions,
    ) -> ApiResult<Value> {
        if patch_type == PatchType::Apply {
            return Err(ApiError::unsupported_media_type(
                "application/apply-patch+yaml",
            ));
        }
        let current = self.get_scale(rt, ns, name)?;
        // A Scale has no lists: a strategic merge patch is a merge patch.
        let patch_type = match patch_type {
            PatchType::Strategic => PatchType::Merge,
            t => t,
        };
        let patched = patch::apply(rt, patch_type, &current, body)?;
        self.update_scale(rt, ns, name, &patched, opts)
    }
}

/// The Scale's `spec.replicas`: a whole number, at least 0 (422 otherwise).
fn desired(name: &str, scale: &Value) -> ApiResult<i64> {
    let replicas = scale.pointer("/spec/replicas").cloned().unwrap_or(json!(0));
    match replicas.as_i64() {
        Some(n) if n >= 0 => Ok(n),
        _ => Err(ApiError::invalid(
            "Scale",
            "autoscaling",
            name,
            vec![Cause {
                reason: "FieldValueInvalid".into(),
                message: format!(
                    "Invalid value: {}: must be greater than or equal to 0",
                    crate::admission::go_value(&replicas)
                ),
                field: "spec.replicas".into(),
            }],
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_scale_shows_replicas_and_the_selector() {
        let deployment = json!({"metadata": {"name": "web", "namespace": "n", "uid": "u", "resourceVersion": "7"},
            "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web", "tier": "fe"}}},
            "status": {"replicas": 2}});
        let p = Paths {
            spec: "/spec/replicas".into(),
            status: "/status/replicas".into(),
            selector: Selector::Label("/spec/selector"),
        };
        let scale = scale_of(&deployment, &p);
        assert_eq!(scale["spec"]["replicas"], 3);
        assert_eq!(
            scale["status"],
            json!({"replicas": 2, "selector": "app=web,tier=fe"})
        );
        assert_eq!(scale["metadata"]["resourceVersion"], "7");
        assert_eq!(pointer(".spec.size"), "/spec/size");
    }

    #[test]
    fn a_replication_controllers_map_selector_reads_as_a_sorted_label_selector() {
        let rc = json!({"metadata": {"name": "rc"},
            "spec": {"replicas": 1, "selector": {"tier": "fe", "app": "web"}}});
        let p = Paths {
            spec: "/spec/replicas".into(),
            status: "/status/replicas".into(),
            selector: Selector::Map("/spec/selector"),
        };
        let scale = scale_of(&rc, &p);
        assert_eq!(
            scale["status"],
            json!({"replicas": 0, "selector": "app=web,tier=fe"})
        );
    }
}
