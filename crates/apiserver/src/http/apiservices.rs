//! `apiregistration.k8s.io/v1` APIServices as kube-apiserver's aggregator
//! lists them for its own group-versions: one per served group-version
//! (`v1.apps`, `v1.` for the core group, the CRDs' too), local (no
//! `service`), `Available` with reason `Local`, and the group and version
//! priorities kube-apiserver gives the built-in groups (1000 and 100 for
//! CRD groups, as its CRD registration controller sets them). Read-only:
//! this server aggregates no other API server.

use std::collections::BTreeSet;

use http::Method;
use serde_json::{Value, json};

use super::{App, Asked, Body, respond};
use crate::error::{ApiError, ApiResult, Target};

/// Versions of a group with their `versionPriority`.
type VersionPriorities = &'static [(&'static str, u32)];

/// kube-apiserver's group priorities (`groupPriorityMinimum`) and version
/// priorities for the groups it serves itself.
const PRIORITIES: &[(&str, u32, VersionPriorities)] = &[
    ("", 18000, &[("v1", 1)]),
    ("apps", 17800, &[("v1", 15)]),
    ("events.k8s.io", 17750, &[("v1", 15)]),
    ("authentication.k8s.io", 17700, &[("v1", 15)]),
    ("authorization.k8s.io", 17600, &[("v1", 15)]),
    ("autoscaling", 17500, &[("v1", 15), ("v2", 30)]),
    ("batch", 17400, &[("v1", 15)]),
    ("certificates.k8s.io", 17300, &[("v1", 15)]),
    ("networking.k8s.io", 17200, &[("v1", 15)]),
    ("policy", 17100, &[("v1", 15)]),
    ("rbac.authorization.k8s.io", 17000, &[("v1", 15)]),
    ("storage.k8s.io", 16800, &[("v1", 15)]),
    ("admissionregistration.k8s.io", 16700, &[("v1", 15)]),
    ("apiextensions.k8s.io", 16700, &[("v1", 15)]),
    ("scheduling.k8s.io", 16600, &[("v1", 15)]),
    ("coordination.k8s.io", 16500, &[("v1", 15)]),
    ("node.k8s.io", 16300, &[("v1", 15)]),
    ("discovery.k8s.io", 16200, &[("v1", 15)]),
    ("apiregistration.k8s.io", 18000, &[("v1", 15)]),
];

impl App {
    /// GET of `apiservices` or one of them.
    pub(super) fn api_services(
        &self,
        name: Option<&str>,
        request: Asked<'_>,
    ) -> ApiResult<http::Response<Body>> {
        if *request.method != Method::GET {
            return Err(ApiError::method_not_allowed(request.method.as_str()));
        }
        let served: BTreeSet<(String, String)> = self
            .registry
            .all()
            .iter()
            .map(|rt| (rt.group.clone(), rt.version.clone()))
            .collect();
        let all: Vec<Value> = served.iter().map(|(g, v)| api_service(g, v)).collect();
        let body = match name {
            None => json!({"kind": "APIServiceList", "apiVersion": "apiregistration.k8s.io/v1",
                "metadata": {}, "items": all}),
            Some(n) => all
                .into_iter()
                .find(|s| s["metadata"]["name"] == n)
                .ok_or_else(|| {
                    ApiError::not_found(Target {
                        group: "apiregistration.k8s.io",
                        resource: "apiservices",
                        name: n,
                    })
                })?,
        };
        Ok(respond(200, &body, request.encoding))
    }
}

/// When this process first listed its APIServices: their creation time.
fn registered_at() -> &'static str {
    static AT: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    AT.get_or_init(crate::meta::now)
}

fn api_service(group: &str, version: &str) -> Value {
    let known = PRIORITIES.iter().find(|(g, _, _)| *g == group);
    let group_priority = known.map_or(1000, |(_, p, _)| *p);
    let version_priority = known
        .and_then(|(_, _, vs)| vs.iter().find(|(v, _)| *v == version))
        .map_or(100, |(_, p)| *p);
    json!({
        "kind": "APIService", "apiVersion": "apiregistration.k8s.io/v1",
        "metadata": {"name": format!("{version}.{group}"), "creationTimestamp": registered_at(),
            "labels": {"kube-aggregator.kubernetes.io/automanaged": if known.is_some() { "onstart" } else { "true" }}},
        "spec": {"group": group, "version": version,
            "groupPriorityMinimum": group_priority, "versionPriority": version_priority},
        "status": {"conditions": [{"type": "Available", "status": "True",
            "lastTransitionTime": registered_at(), "reason": "Local",
            "message": "Local APIServices are always available"}]},
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_api_services_are_named_and_prioritised_as_kube_apiserver_does() {
        let core = api_service("", "v1");
        assert_eq!(core["metadata"]["name"], "v1.");
        assert_eq!(core["spec"]["groupPriorityMinimum"], 18000);
        let crd = api_service("example.com", "v1alpha1");
        assert_eq!(crd["metadata"]["name"], "v1alpha1.example.com");
        assert_eq!(
            (
                crd["spec"]["groupPriorityMinimum"].as_u64(),
                crd["spec"]["versionPriority"].as_u64()
            ),
            (Some(1000), Some(100))
        );
        assert_eq!(crd["status"]["conditions"][0]["reason"], "Local");
    }
}
