//! Aggregated discovery: `/api` and `/apis` as one `APIGroupDiscoveryList`
//! each (`apidiscovery.k8s.io/v2`, or `v2beta1` for older clients), every
//! group with its versions and their resources in a single request, as
//! kube-apiserver answers a client whose `Accept` asks for it. The content
//! comes from the same [`Served`] model as the legacy documents.

use serde_json::{Value, json};

use super::{Served, in_group_version, ordered_groups};
use crate::resources::Registry;

/// The aggregated discovery formats kube-apiserver serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Format {
    /// `apidiscovery.k8s.io/v2`.
    V2,
    /// `apidiscovery.k8s.io/v2beta1`: the same document, its own apiVersion.
    V2Beta1,
}

impl Format {
    fn version(self) -> &'static str {
        match self {
            Format::V2 => "v2",
            Format::V2Beta1 => "v2beta1",
        }
    }

    /// The document's `apiVersion`.
    pub(crate) fn api_version(self) -> String {
        format!("apidiscovery.k8s.io/{}", self.version())
    }

    /// The response's `Content-Type`.
    pub(crate) fn content_type(self) -> String {
        format!(
            "application/json;g=apidiscovery.k8s.io;v={};as=APIGroupDiscoveryList",
            self.version()
        )
    }
}

/// What `accept` asks `/api` or `/apis` for: an aggregated format, or the
/// legacy document (`None`). Media ranges are taken by quality, then in the
/// order given; the first one served here decides (protobuf is not, so a
/// client listing it first gets its next choice).
pub(crate) fn negotiate(accept: Option<&str>) -> Option<Format> {
    let mut ranges: Vec<(f32, MediaRange)> = accept
        .unwrap_or_default()
        .split(',')
        .filter_map(MediaRange::parse)
        .collect();
    ranges.sort_by(|a, b| b.0.total_cmp(&a.0));
    for (_, range) in ranges {
        match range {
            MediaRange::Aggregated(format) => return Some(format),
            MediaRange::Legacy => return None,
            MediaRange::Other => {}
        }
    }
    None
}

enum MediaRange {
    Aggregated(Format),
    Legacy,
    Other,
}

impl MediaRange {
    /// One entry of an `Accept` header with its quality; `None` for q=0.
    fn parse(entry: &str) -> Option<(f32, Self)> {
        let mut parts = entry.split(';').map(str::trim);
        let media = parts.next()?.to_ascii_lowercase();
        let (mut q, mut g, mut v, mut r#as) = (1.0_f32, None, None, None);
        for p in parts {
            let (k, val) = p.split_once('=').unwrap_or((p, ""));
            let val = val.trim().trim_matches('"');
            match k.trim().to_ascii_lowercase().as_str() {
                "q" => q = val.parse().unwrap_or(1.0),
                "g" => g = Some(val),
                "v" => v = Some(val),
                "as" => r#as = Some(val),
                _ => {}
            }
        }
        if q <= 0.0 || media.is_empty() {
            return None;
        }
        let json = matches!(media.as_str(), "application/json" | "application/*" | "*/*");
        let range = match (json, g, v, r#as) {
            (true, None, None, None) => MediaRange::Legacy,
            (true, Some("apidiscovery.k8s.io"), Some("v2"), Some("APIGroupDiscoveryList")) => {
                MediaRange::Aggregated(Format::V2)
            }
            (true, Some("apidiscovery.k8s.io"), Some("v2beta1"), Some("APIGroupDiscoveryList")) => {
                MediaRange::Aggregated(Format::V2Beta1)
            }
            _ => MediaRange::Other,
        };
        Some((q, range))
    }
}

/// `/api`: the core group.
pub(crate) fn core(registry: &Registry, format: Format) -> Value {
    let versions = vec![version_json(&in_group_version(registry, "", "v1"), "v1")];
    let group = json!({"metadata": {"creationTimestamp": null}, "versions": versions});
    list(format, vec![group])
}

/// `/apis`: every other group, in kube-apiserver's order.
pub(crate) fn groups(registry: &Registry, format: Format) -> Value {
    let items = ordered_groups(registry)
        .into_iter()
        .map(|(name, versions)| {
            let versions: Vec<Value> = versions
                .iter()
                .map(|v| version_json(&in_group_version(registry, &name, v), v))
                .collect();
            json!({"metadata": {"name": name, "creationTimestamp": null}, "versions": versions})
        })
        .collect();
    list(format, items)
}

fn list(format: Format, items: Vec<Value>) -> Value {
    json!({
        "kind": "APIGroupDiscoveryList",
        "apiVersion": format.api_version(),
        "metadata": {},
        "items": items,
    })
}

fn version_json(served: &[Served], version: &str) -> Value {
    let resources: Vec<Value> = served.iter().map(resource_json).collect();
    json!({"version": version, "resources": resources, "freshness": "Current"})
}

fn resource_json(s: &Served) -> Value {
    let rt = &s.rt;
    let mut r = json!({
        "resource": rt.plural,
        "responseKind": {"group": rt.group, "version": rt.version, "kind": rt.kind},
        "scope": if rt.namespaced { "Namespaced" } else { "Cluster" },
        "singularResource": rt.singular,
        "verbs": s.verbs,
    });
    if !rt.short_names.is_empty() {
        r["shortNames"] = json!(rt.short_names);
    }
    if !rt.categories.is_empty() {
        r["categories"] = json!(rt.categories);
    }
    if !s.subresources.is_empty() {
        let subs: Vec<Value> = s
            .subresources
            .iter()
            .map(|sub| {
                json!({
                    "subresource": sub.name,
                    "responseKind": {"group": sub.group, "version": sub.version, "kind": sub.kind},
                    "verbs": sub.verbs,
                })
            })
            .collect();
        r["subresources"] = subs.into();
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::discovery::resource_list;

    const KUBECTL: &str = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json";

    fn with_crd(versions: &[&str]) -> Registry {
        let reg = Registry::with_builtins();
        let versions: Vec<Value> = versions
            .iter()
            .map(|v| json!({"name": v, "served": true, "storage": *v == "v1", "subresources": {"status": {}}}))
            .collect();
        crate::resources::crd::register(
            &reg,
            &json!({"metadata": {"name": "widgets.example.com"}, "spec": {
                "group": "example.com", "scope": "Cluster",
                "names": {"plural": "widgets", "singular": "widget", "kind": "Widget",
                    "shortNames": ["wd"], "categories": ["all"]},
                "versions": versions,
            }}),
        );
        reg
    }

    #[test]
    fn accept_negotiates_aggregated_or_legacy_as_kube_apiserver() {
        assert_eq!(negotiate(Some(KUBECTL)), Some(Format::V2));
        let beta = "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList";
        assert_eq!(negotiate(Some(beta)), Some(Format::V2Beta1));
        assert_eq!(negotiate(Some("application/json, */*")), None);
        assert_eq!(negotiate(Some("application/json")), None);
        assert_eq!(negotiate(None), None);
        assert_eq!(negotiate(Some("")), None);
        let protobuf_first = "application/vnd.kubernetes.protobuf;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList";
        assert_eq!(negotiate(Some(protobuf_first)), Some(Format::V2));
        let weighted = "application/json;q=0.5, application/json ; g=apidiscovery.k8s.io ; v=v2 ; as=APIGroupDiscoveryList";
        assert_eq!(negotiate(Some(weighted)), Some(Format::V2));
        let refused = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList;q=0";
        assert_eq!(negotiate(Some(refused)), None);
        assert_eq!(negotiate(Some(";;,=,q=x")), None);
    }

    #[test]
    fn groups_come_in_kube_apiserver_order_with_versions_preferred_first() {
        let reg = with_crd(&["v1beta1", "v2alpha1", "v1"]);
        let doc = groups(&reg, Format::V2);
        assert_eq!(doc["kind"], "APIGroupDiscoveryList");
        assert_eq!(doc["apiVersion"], "apidiscovery.k8s.io/v2");
        let names: Vec<&str> = doc["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|g| g["metadata"]["name"].as_str().unwrap())
            .collect();
        assert_eq!(
            names,
            [
                "apiregistration.k8s.io",
                "apps",
                "events.k8s.io",
                "authentication.k8s.io",
                "authorization.k8s.io",
                "autoscaling",
                "batch",
                "certificates.k8s.io",
                "networking.k8s.io",
                "policy",
                "rbac.authorization.k8s.io",
                "storage.k8s.io",
                "admissionregistration.k8s.io",
                "apiextensions.k8s.io",
                "scheduling.k8s.io",
                "coordination.k8s.io",
                "node.k8s.io",
                "discovery.k8s.io",
                "example.com",
            ]
        );
        let widgets = &doc["items"][18];
        let versions: Vec<&str> = widgets["versions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v["version"].as_str().unwrap())
            .collect();
        assert_eq!(versions, ["v1", "v1beta1", "v2alpha1"]);
        let v1 = &widgets["versions"][0];
        assert_eq!(v1["freshness"], "Current");
        assert_eq!(
            v1["resources"][0],
            json!({
                "resource": "widgets",
                "responseKind": {"group": "example.com", "version": "v1", "kind": "Widget"},
                "scope": "Cluster",
                "singularResource": "widget",
                "verbs": ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"],
                "shortNames": ["wd"],
                "categories": ["all"],
                "subresources": [{
                    "subresource": "status",
                    "responseKind": {"group": "example.com", "version": "v1", "kind": "Widget"},
                    "verbs": ["get", "patch", "update"],
                }],
            })
        );
        let beta = groups(&reg, Format::V2Beta1);
        assert_eq!(beta["apiVersion"], "apidiscovery.k8s.io/v2beta1");
        assert_eq!(beta["items"], doc["items"]);
    }

    #[test]
    fn core_lists_pods_with_their_subresources_and_scopes() {
        let doc = core(&Registry::with_builtins(), Format::V2);
        let group = &doc["items"][0];
        assert_eq!(group["metadata"], json!({"creationTimestamp": null}));
        assert_eq!(group["versions"][0]["version"], "v1");
        let resources = group["versions"][0]["resources"].as_array().unwrap();
        let find = |name: &str| resources.iter().find(|r| r["resource"] == name).unwrap();
        let pods = find("pods");
        assert_eq!(pods["scope"], "Namespaced");
        let subs: Vec<(&str, &str)> = pods["subresources"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| {
                (
                    s["subresource"].as_str().unwrap(),
                    s["responseKind"]["kind"].as_str().unwrap(),
                )
            })
            .collect();
        assert_eq!(
            subs,
            [
                ("binding", "Binding"),
                ("ephemeralcontainers", "Pod"),
                ("eviction", "Eviction"),
                ("log", "Pod"),
                ("status", "Pod")
            ]
        );
        assert_eq!(pods["subresources"][2]["responseKind"]["group"], "policy");
        assert_eq!(find("namespaces")["scope"], "Cluster");
        assert_eq!(
            find("serviceaccounts")["subresources"][0]["responseKind"]["kind"],
            "TokenRequest"
        );
        assert!(find("configmaps").get("subresources").is_none());
    }

    #[test]
    fn custom_resources_come_and_go() {
        let reg = with_crd(&["v1"]);
        let has = |reg: &Registry| {
            groups(reg, Format::V2)["items"]
                .as_array()
                .unwrap()
                .iter()
                .any(|g| g["metadata"]["name"] == "example.com")
        };
        assert!(has(&reg));
        reg.remove_crd("widgets.example.com");
        assert!(!has(&reg));
    }

    /// Every legacy APIResource has its aggregated counterpart and back.
    #[test]
    fn aggregated_and_legacy_documents_agree() {
        let reg = with_crd(&["v1", "v1beta1"]);
        let mut docs = vec![core(&reg, Format::V2)["items"][0].clone()];
        docs.extend(
            groups(&reg, Format::V2)["items"]
                .as_array()
                .unwrap()
                .iter()
                .cloned(),
        );
        for group in docs {
            let name = group["metadata"]["name"].as_str().unwrap_or_default();
            for version in group["versions"].as_array().unwrap() {
                let v = version["version"].as_str().unwrap();
                let mut aggregated = Vec::new();
                for r in version["resources"].as_array().unwrap() {
                    let plural = r["resource"].as_str().unwrap();
                    aggregated.push((
                        plural.to_owned(),
                        r["responseKind"]["kind"].clone(),
                        r["verbs"].clone(),
                    ));
                    for s in r["subresources"].as_array().into_iter().flatten() {
                        let sub = format!("{plural}/{}", s["subresource"].as_str().unwrap());
                        aggregated.push((
                            sub,
                            s["responseKind"]["kind"].clone(),
                            s["verbs"].clone(),
                        ));
                    }
                }
                let legacy: Vec<_> = resource_list(&reg, name, v).unwrap()["resources"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|r| {
                        (
                            r["name"].as_str().unwrap().to_owned(),
                            r["kind"].clone(),
                            r["verbs"].clone(),
                        )
                    })
                    .collect();
                assert_eq!(aggregated, legacy, "{name}/{v}");
            }
        }
    }
}
