//! Discovery documents: the legacy ones (`/api`, `/apis`, `/apis/<g>`,
//! `/api/v1`, `/apis/<g>/<v>`) here, the aggregated ones (`/api` and `/apis`
//! as `APIGroupDiscoveryList`) in [`aggregated`], and the OpenAPI documents
//! kubectl reads in [`openapi`] (v2's protobuf form in [`openapi_pb`]). All
//! are rendered from one model of what is served ([`Served`],
//! [`ordered_groups`]), so they cannot disagree.

pub(crate) mod aggregated;
pub(crate) mod openapi;
pub(crate) mod openapi_pb;
mod schemas;

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::{Value, json};
use sha2::{Digest, Sha512};

use crate::resources::{Builtin, Registry, ResourceType};

const VERBS: &[&str] = &[
    "create",
    "delete",
    "deletecollection",
    "get",
    "list",
    "patch",
    "update",
    "watch",
];
const SUB_VERBS: &[&str] = &["get", "patch", "update"];

/// A document's hash as kube-apiserver makes its ETags and OpenAPI v3
/// `?hash=` values: the SHA-512 of its JSON, in upper-case hex.
pub(crate) fn hash(body: &[u8]) -> String {
    Sha512::digest(body)
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect()
}

/// Kubernetes' version priority: GA before beta before alpha, higher numbers
/// first, non-Kubernetes-looking versions last alphabetically.
pub(crate) fn compare_versions(a: &str, b: &str) -> Ordering {
    fn parse(v: &str) -> Option<(u32, u8, u32)> {
        let rest = v.strip_prefix('v')?;
        let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
        let major: u32 = digits.parse().ok()?;
        let tail = &rest[digits.len()..];
        if tail.is_empty() {
            return Some((major, 2, 0));
        }
        let (stage, n) = if let Some(n) = tail.strip_prefix("beta") {
            (1, n)
        } else if let Some(n) = tail.strip_prefix("alpha") {
            (0, n)
        } else {
            return None;
        };
        Some((major, stage, n.parse().ok()?))
    }
    match (parse(a), parse(b)) {
        (Some((am, asg, an)), Some((bm, bsg, bn))) => (bsg, bm, bn).cmp(&(asg, am, an)),
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => a.cmp(b),
    }
}

/// The group priority kube-apiserver's aggregator gives a built-in group
/// (`DefaultGenericAPIServicePriorities`); custom resource groups get 1000,
/// as their automatically registered APIServices do.
fn group_priority(group: &str) -> u32 {
    match group {
        "apiregistration.k8s.io" => 18000,
        "apps" => 17800,
        "events.k8s.io" => 17750,
        "authentication.k8s.io" => 17700,
        "authorization.k8s.io" => 17600,
        "autoscaling" => 17500,
        "batch" => 17400,
        "certificates.k8s.io" => 17300,
        "networking.k8s.io" => 17200,
        "policy" => 17100,
        "rbac.authorization.k8s.io" => 17000,
        "storage.k8s.io" => 16800,
        "apiextensions.k8s.io" | "admissionregistration.k8s.io" => 16700,
        "scheduling.k8s.io" => 16600,
        "coordination.k8s.io" => 16500,
        "node.k8s.io" => 16300,
        "discovery.k8s.io" => 16200,
        "flowcontrol.apiserver.k8s.io" => 16100,
        _ => 1000,
    }
}

/// The served groups (not core), each with its versions, in the order
/// kube-apiserver lists them: by group priority, then by name; versions
/// GA before beta before alpha (the first is the preferred version).
pub(crate) fn ordered_groups(registry: &Registry) -> Vec<(String, Vec<String>)> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for rt in registry.all() {
        if rt.group.is_empty() {
            continue;
        }
        let versions = out.entry(rt.group.clone()).or_default();
        if !versions.contains(&rt.version) {
            versions.push(rt.version.clone());
        }
    }
    for v in out.values_mut() {
        v.sort_by(|a, b| compare_versions(a, b));
    }
    let mut groups: Vec<(String, Vec<String>)> = out.into_iter().collect();
    groups.sort_by(|(a, _), (b, _)| group_priority(b).cmp(&group_priority(a)).then(a.cmp(b)));
    groups
}

/// A subresource as discovery shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Subresource {
    /// `status`, `eviction`, ...
    pub(crate) name: &'static str,
    /// Group of the kind it takes and answers.
    pub(crate) group: String,
    /// Version of that kind.
    pub(crate) version: String,
    /// That kind.
    pub(crate) kind: String,
    /// Its verbs.
    pub(crate) verbs: &'static [&'static str],
}

/// A served resource as discovery shows it.
#[derive(Debug, Clone)]
pub(crate) struct Served {
    /// The resource.
    pub(crate) rt: Arc<ResourceType>,
    /// Its verbs.
    pub(crate) verbs: &'static [&'static str],
    /// Its subresources, by name.
    pub(crate) subresources: Vec<Subresource>,
}

impl Served {
    fn of(rt: Arc<ResourceType>) -> Self {
        let verbs = match rt.builtin {
            Some(b) if b.is_review() => &["create"][..],
            Some(Builtin::ComponentStatus | Builtin::APIService) => &["get", "list"],
            _ => VERBS,
        };
        let subresources = subresources(&rt);
        Self {
            rt,
            verbs,
            subresources,
        }
    }
}

/// The subresources of `rt` (`status`, `scale`, the pods', service accounts',
/// namespaces' and CSRs' own), sorted by name as kube-apiserver lists them.
fn subresources(rt: &ResourceType) -> Vec<Subresource> {
    let sub = |name, group: &str, version: &str, kind: &str, verbs| Subresource {
        name,
        group: group.to_owned(),
        version: version.to_owned(),
        kind: kind.to_owned(),
        verbs,
    };
    let mut out = Vec::new();
    match rt.builtin {
        Some(Builtin::Pod) => {
            out.push(sub("binding", "", "v1", "Binding", &["create"][..]));
            out.push(sub("eviction", "policy", "v1", "Eviction", &["create"]));
            out.push(sub("ephemeralcontainers", "", "v1", "Pod", SUB_VERBS));
            out.push(sub("log", "", "v1", "Pod", &["get"]));
        }
        Some(Builtin::CertificateSigningRequest) => {
            out.push(sub("approval", &rt.group, &rt.version, &rt.kind, SUB_VERBS));
        }
        Some(Builtin::ServiceAccount) => {
            let authn = "authentication.k8s.io";
            out.push(sub("token", authn, "v1", "TokenRequest", &["create"]));
        }
        Some(Builtin::Namespace) => out.push(sub("finalize", "", "v1", "Namespace", &["update"])),
        _ => {}
    }
    if crate::rest::has_scale(rt) {
        out.push(sub("scale", "autoscaling", "v1", "Scale", SUB_VERBS));
    }
    if rt.status_subresource {
        out.push(sub("status", &rt.group, &rt.version, &rt.kind, SUB_VERBS));
    }
    out.sort_by_key(|s| s.name);
    out
}

/// The resources served in `group`/`version`, by name.
pub(crate) fn in_group_version(registry: &Registry, group: &str, version: &str) -> Vec<Served> {
    registry
        .all()
        .into_iter()
        .filter(|rt| rt.group == group && rt.version == version)
        .map(Served::of)
        .collect()
}

fn group_json(name: &str, versions: &[String]) -> Value {
    let vs: Vec<Value> = versions
        .iter()
        .map(|v| json!({"groupVersion": format!("{name}/{v}"), "version": v}))
        .collect();
    let preferred = vs.first().cloned().unwrap_or(Value::Null);
    json!({"name": name, "versions": vs, "preferredVersion": preferred})
}

/// `/api`.
pub(crate) fn core_versions(server_address: &str) -> Value {
    json!({
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}],
    })
}

/// `/apis`.
pub(crate) fn group_list(registry: &Registry) -> Value {
    let groups: Vec<Value> = ordered_groups(registry)
        .iter()
        .map(|(g, vs)| group_json(g, vs))
        .collect();
    json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
}

/// `/apis/<group>`, if served.
pub(crate) fn group(registry: &Registry, name: &str) -> Option<Value> {
    let groups = ordered_groups(registry);
    let (_, versions) = groups.iter().find(|(g, _)| g == name)?;
    let mut g = group_json(name, versions);
    g["kind"] = "APIGroup".into();
    g["apiVersion"] = "v1".into();
    Some(g)
}

/// One legacy `APIResource` entry per resource and subresource.
fn legacy_resources(served: &Served) -> Vec<Value> {
    let rt = &served.rt;
    let mut r = json!({
        "name": rt.plural,
        "singularName": rt.singular,
        "namespaced": rt.namespaced,
        "kind": rt.kind,
        "verbs": served.verbs,
    });
    if !rt.short_names.is_empty() {
        r["shortNames"] = json!(rt.short_names);
    }
    if !rt.categories.is_empty() {
        r["categories"] = json!(rt.categories);
    }
    let mut out = vec![r];
    for sub in &served.subresources {
        let mut s = json!({
            "name": format!("{}/{}", rt.plural, sub.name),
            "singularName": "",
            "namespaced": rt.namespaced,
            "kind": sub.kind,
            "verbs": sub.verbs,
        });
        // Set only where the subresource's kind is of another group-version.
        if (sub.group.as_str(), sub.version.as_str()) != (rt.group.as_str(), rt.version.as_str()) {
            s["group"] = sub.group.clone().into();
            s["version"] = sub.version.clone().into();
        }
        out.push(s);
    }
    out
}

/// `/api/v1` or `/apis/<g>/<v>`, if served.
pub(crate) fn resource_list(registry: &Registry, group: &str, version: &str) -> Option<Value> {
    let served = in_group_version(registry, group, version);
    if served.is_empty() {
        return None;
    }
    let resources: Vec<Value> = served.iter().flat_map(legacy_resources).collect();
    let group_version = if group.is_empty() {
        version.to_owned()
    } else {
        format!("{group}/{version}")
    };
    Some(
        json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": group_version, "resources": resources}),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_are_upper_case_sha512_hex() {
        let h = hash(b"{}");
        assert_eq!(h.len(), 128);
        assert!(
            h.chars()
                .all(|c| c.is_ascii_digit() || c.is_ascii_uppercase())
        );
        assert_eq!(h, hash(b"{}"));
        assert_ne!(h, hash(b"[]"));
        assert!(h.starts_with("27C74670ADB75075FAD058D5CEAF7B20"));
    }

    #[test]
    fn versions_sort_by_kubernetes_priority() {
        let mut v = vec!["v1alpha1", "v2", "v1beta2", "v1", "foo", "v1beta1", "v10"];
        v.sort_by(|a, b| compare_versions(a, b));
        assert_eq!(
            v,
            ["v10", "v2", "v1", "v1beta2", "v1beta1", "v1alpha1", "foo"]
        );
    }

    #[test]
    fn discovery_lists_builtin_groups_and_subresources() {
        let reg = Registry::with_builtins();
        let groups = group_list(&reg);
        assert!(
            groups["groups"]
                .as_array()
                .unwrap()
                .iter()
                .any(|g| g["name"] == "apps")
        );
        let core = resource_list(&reg, "", "v1").unwrap();
        let names: Vec<&str> = core["resources"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|r| r["name"].as_str())
            .collect();
        assert!(
            names.contains(&"pods/status")
                && names.contains(&"configmaps")
                && names.contains(&"namespaces/finalize")
        );
        let doc = openapi::v3(&reg, "apps", "v1").unwrap();
        let path = &doc["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"];
        assert_eq!(
            path["patch"]["x-kubernetes-group-version-kind"]["kind"],
            "Deployment"
        );
    }
}
