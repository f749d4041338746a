//! Subresources that write one part of their parent, as kube-apiserver's
//! registries for them do: `pods/ephemeralcontainers` (only
//! `spec.ephemeralContainers` changes; containers can be added, never changed
//! or removed) and `certificatesigningrequests/approval` (only
//! `status.conditions` change, with their timestamps filled in).

use serde_json::{Value, json};

use super::options::WriteOptions;
use super::{Existing, Rest, Subresource};
use crate::error::{ApiError, ApiResult, Cause};
use crate::meta;
use crate::resources::ResourceType;

impl Rest {
    /// Sets a pod's `spec.ephemeralContainers` to `asked`'s (a Pod); a
    /// container already there must stay as it is.
    pub(crate) fn update_ephemeral_containers(
        &self,
        pods: &ResourceType,
        ns: &str,
        name: &str,
        asked: &Value,
        opts: &WriteOptions,
    ) -> ApiResult<Value> {
        let wanted = asked
            .pointer("/spec/ephemeralContainers")
            .cloned()
            .unwrap_or(json!([]));
        self.write_part(pods, Some(ns), name, asked, opts, |pod| {
            let before = pod.pointer("/spec/ephemeralContainers").cloned();
            for (i, old) in before
                .iter()
                .flat_map(|b| b.as_array())
                .flatten()
                .enumerate()
            {
                if wanted.get(i) != Some(old) {
                    return Err(invalid(
                        pods,
                        name,
                        "spec.ephemeralContainers",
                        "existing ephemeral containers may not be changed or removed",
                    ));
                }
            }
            meta::set_pointer(pod, "/spec/ephemeralContainers", Some(wanted.clone()));
            Ok(())
        })
    }

    /// Sets a CertificateSigningRequest's `status.conditions` to `asked`'s,
    /// each with `lastUpdateTime` and `lastTransitionTime` (now, unless given).
    pub(crate) fn update_approval(
        &self,
        csrs: &ResourceType,
        name: &str,
        asked: &Value,
        opts: &WriteOptions,
    ) -> ApiResult<Value> {
        let mut conditions = asked
            .pointer("/status/conditions")
            .cloned()
            .unwrap_or(json!([]));
        check_approval(csrs, name, &conditions)?;
        let now = meta::now();
        for c in conditions.as_array_mut().into_iter().flatten() {
            if let Value::Object(c) = c {
                for key in ["lastUpdateTime", "lastTransitionTime"] {
                    // Go clients send an unset time as null.
                    if c.get(key).is_none_or(Value::is_null) {
                        c.insert(key.into(), now.clone().into());
                    }
                }
            }
        }
        self.write_part(csrs, None, name, asked, opts, |csr| {
            meta::set_pointer(csr, "/status/conditions", Some(conditions.clone()));
            Ok(())
        })
    }

    /// Writes `change` to the stored object, with the `resourceVersion` of
    /// `asked` (the client's body) as the precondition where it has one: a
    /// stale one is a 409, as for any update.
    fn write_part(
        &self,
        rt: &ResourceType,
        ns: Option<&str>,
        name: &str,
        asked: &Value,
        opts: &WriteOptions,
        change: impl FnOnce(&mut Value) -> ApiResult<()>,
    ) -> ApiResult<Value> {
        let precondition = meta::str_field(asked, "resourceVersion").filter(|rv| !rv.is_empty());
        let at = Existing {
            ns,
            name,
            sub: Subresource::Whole,
        };
        let (stored, _) = self.write_existing(rt, at, opts, None, |current| {
            let mut obj = current.clone();
            change(&mut obj)?;
            if let Some(rv) = precondition {
                meta::set_pointer(&mut obj, "/metadata/resourceVersion", Some(rv.into()));
            }
            Ok((obj, Vec::new()))
        })?;
        Ok(stored)
    }
}

/// kube-apiserver's approval checks: Approved and Denied exclude each
/// other, and both must be `True`.
fn check_approval(csrs: &ResourceType, name: &str, conditions: &Value) -> ApiResult<()> {
    let types: Vec<(&str, &str)> = conditions
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| {
            let s = |k: &str| c.get(k).and_then(Value::as_str).unwrap_or_default();
            (s("type"), s("status"))
        })
        .collect();
    let has = |t: &str| types.iter().any(|(ty, _)| *ty == t);
    if has("Approved") && has("Denied") {
        return Err(invalid(
            csrs,
            name,
            "status.conditions",
            "Approved and Denied conditions are mutually exclusive",
        ));
    }
    for (i, (ty, status)) in types.iter().enumerate() {
        if matches!(*ty, "Approved" | "Denied") && *status != "True" {
            return Err(invalid(
                csrs,
                name,
                &format!("status.conditions[{i}].status"),
                &format!("Unsupported value: \"{status}\": supported values: \"True\""),
            ));
        }
    }
    Ok(())
}

fn invalid(rt: &ResourceType, name: &str, field: &str, message: &str) -> ApiError {
    ApiError::invalid(
        &rt.kind,
        &rt.group,
        name,
        vec![Cause {
            reason: "FieldValueInvalid".into(),
            message: message.to_owned(),
            field: field.to_owned(),
        }],
    )
}
