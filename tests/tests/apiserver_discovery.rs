//! Discovery, black-box: what kube's discovery and kubectl read to find
//! resources, the version, health endpoints, and lists across namespaces;
//! aggregated discovery (`Discovery::run_aggregated`) finds exactly what the
//! legacy documents list, custom resources included and gone with their CRD,
//! and its ETag gives a 304; the OpenAPI documents describe built-in kinds.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::api::core::v1::ConfigMap;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, DeleteParams, ListParams, PostParams};
use kube::discovery::{Discovery, Scope, verbs};
use operatorkit::testing::TestEnv;
use serde_json::{Value, json};

#[tokio::test(flavor = "multi_thread")]
async fn discovery_finds_builtin_and_custom_resources() {
    let env = TestEnv::start().await.unwrap();
    env.install_crds(apiextensions::crds::all()).await.unwrap();
    let client = env.client();
    let version = client.apiserver_version().await.unwrap();
    assert_eq!(version.major, "1");
    let discovery = Discovery::new(client.clone()).run().await.unwrap();
    let find = |group: &str, kind: &str| {
        discovery
            .groups()
            .filter(|g| g.name() == group)
            .flat_map(|g| g.recommended_resources())
            .find(|(ar, _)| ar.kind == kind)
            .unwrap_or_else(|| panic!("{group}/{kind} not discovered"))
    };
    let (deploy, caps) = find("apps", "Deployment");
    assert_eq!(
        (deploy.plural.as_str(), caps.scope.clone()),
        ("deployments", Scope::Namespaced)
    );
    assert!(caps.supports_operation(verbs::WATCH) && caps.supports_operation(verbs::PATCH));
    assert!(
        caps.subresources.iter().any(|(s, _)| s.plural == "status"),
        "deployments/status"
    );
    let (ns, caps) = find("", "Namespace");
    assert_eq!(
        (ns.plural.as_str(), caps.scope.clone()),
        ("namespaces", Scope::Cluster)
    );
    let (kvm, caps) = find("provider.operatorkit.dev", "KVMConfig");
    assert_eq!(
        (kvm.plural.as_str(), kvm.version.as_str()),
        ("kvmconfigs", "v1alpha1")
    );
    assert!(caps.subresources.iter().any(|(s, _)| s.plural == "status"));
    for path in ["/healthz", "/livez", "/readyz"] {
        let req = http::Request::get(path).body(Vec::new()).unwrap();
        assert_eq!(client.request_text(req).await.unwrap(), "ok", "{path}");
    }
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn lists_across_namespaces() {
    let env = TestEnv::start().await.unwrap();
    let mine: Api<ConfigMap> = env.api();
    let label = env.name("across");
    let cm: ConfigMap =
        serde_json::from_value(json!({"metadata": {"name": "here", "labels": {"mark": label}}}))
            .unwrap();
    mine.create(&PostParams::default(), &cm).await.unwrap();
    let other = env.extra_namespace().await.unwrap();
    let theirs: Api<ConfigMap> = Api::namespaced(env.client(), &other);
    let cm: ConfigMap =
        serde_json::from_value(json!({"metadata": {"name": "there", "labels": {"mark": label}}}))
            .unwrap();
    theirs.create(&PostParams::default(), &cm).await.unwrap();
    let all: Api<ConfigMap> = Api::all(env.client());
    let found = all
        .list(&ListParams::default().labels(&format!("mark={label}")))
        .await
        .unwrap();
    let mut at: Vec<(String, String)> = found
        .items
        .into_iter()
        .map(|c| (c.metadata.namespace.unwrap(), c.metadata.name.unwrap()))
        .collect();
    at.sort();
    let mut expected = vec![
        (env.namespace().to_owned(), "here".to_owned()),
        (other, "there".to_owned()),
    ];
    expected.sort();
    assert_eq!(at, expected);
    env.stop().await;
}

const AGGREGATED: &str =
    "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json";

/// (group, version, plural) -> kind, scope, verbs, subresources, as found.
type Found = BTreeMap<(String, String, String), String>;

fn found(discovery: &Discovery) -> Found {
    let mut out = Found::new();
    for group in discovery.groups() {
        for version in group.versions() {
            for (ar, caps) in group.versioned_resources(version) {
                let mut subs: Vec<String> = caps
                    .subresources
                    .iter()
                    .map(|(s, c)| format!("{}:{}", s.plural, c.operations.join(",")))
                    .collect();
                subs.sort();
                let key = (ar.group.clone(), ar.version.clone(), ar.plural.clone());
                let value = format!(
                    "{} {:?} {} [{}]",
                    ar.kind,
                    caps.scope,
                    caps.operations.join(","),
                    subs.join(" ")
                );
                out.insert(key, value);
            }
        }
    }
    out
}

/// A CRD of two versions in a group of this run's own.
fn widgets_crd(group: &str) -> CustomResourceDefinition {
    serde_json::from_value(json!({
        "metadata": {"name": format!("widgets.{group}")},
        "spec": {
            "group": group, "scope": "Namespaced",
            "names": {"plural": "widgets", "singular": "widget", "kind": "Widget", "shortNames": ["wd"]},
            "versions": [
                {"name": "v1", "served": true, "storage": true, "subresources": {"status": {}},
                 "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}},
                {"name": "v1beta1", "served": true, "storage": false,
                 "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}},
            ],
        },
    }))
    .unwrap()
}

/// Aggregated discovery once `group` is there (`present`) or gone.
async fn wait_for(client: &kube::Client, group: &str, present: bool) -> Discovery {
    for _ in 0..100 {
        let d = Discovery::new(client.clone())
            .run_aggregated()
            .await
            .unwrap();
        if d.has_group(group) == present {
            return d;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{group} never became {present}");
}

#[tokio::test(flavor = "multi_thread")]
async fn aggregated_discovery_finds_what_legacy_discovery_finds() {
    let env = TestEnv::start().await.unwrap();
    let client = env.client();
    let group = format!("{}.example.com", env.name("agg"));
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    crds.create(&PostParams::default(), &widgets_crd(&group))
        .await
        .unwrap();
    let aggregated = wait_for(&client, &group, true).await;
    let legacy = Discovery::new(client.clone()).run().await.unwrap();
    assert_eq!(found(&aggregated), found(&legacy));
    assert!(aggregated.has_group("apps"));
    let deployments =
        found(&aggregated)[&("apps".into(), "v1".into(), "deployments".into())].clone();
    assert!(
        deployments.contains("scale:get,patch,update"),
        "{deployments}"
    );
    let widgets = aggregated.get(&group).unwrap();
    assert_eq!(widgets.versions().collect::<Vec<_>>(), ["v1", "v1beta1"]);
    let pods = found(&aggregated)[&("".into(), "v1".into(), "pods".into())].clone();
    assert!(
        pods.contains(
            "binding:create ephemeralcontainers:get,patch,update eviction:create log:get status:get,patch,update"
        ),
        "{pods}"
    );
    crds.delete(&format!("widgets.{group}"), &DeleteParams::default())
        .await
        .unwrap();
    wait_for(&client, &group, false).await;
    env.stop().await;
}

async fn get(
    client: &kube::Client,
    path: &str,
    headers: &[(&str, &str)],
) -> http::Response<kube::client::Body> {
    let mut request = http::Request::get(path);
    for (k, v) in headers {
        request = request.header(*k, *v);
    }
    client
        .send(request.body(kube::client::Body::from(Vec::new())).unwrap())
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_aggregated_etag_answers_304_and_openapi_explains_builtin_kinds() {
    let env = TestEnv::start().await.unwrap();
    let client = env.client();
    let first = get(&client, "/apis", &[("Accept", AGGREGATED)]).await;
    assert_eq!(first.status(), 200);
    assert_eq!(
        first.headers()["content-type"],
        "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"
    );
    let etag = first.headers()["etag"].to_str().unwrap().to_owned();
    let again = get(
        &client,
        "/apis",
        &[("Accept", AGGREGATED), ("If-None-Match", &etag)],
    )
    .await;
    assert_eq!(again.status(), 304);
    let legacy = get(&client, "/apis", &[("Accept", "application/json, */*")]).await;
    assert_eq!(legacy.headers()["content-type"], "application/json");

    let text = |path: &str| {
        let request = http::Request::get(path).body(Vec::new()).unwrap();
        let client = client.clone();
        async move { client.request_text(request).await.unwrap() }
    };
    let apps: Value = serde_json::from_str(&text("/openapi/v3/apis/apps/v1").await).unwrap();
    let deployment = &apps["components"]["schemas"]["io.k8s.api.apps.v1.Deployment"];
    assert_eq!(
        deployment["x-kubernetes-group-version-kind"][0]["kind"],
        "Deployment"
    );
    assert!(
        deployment["description"]
            .as_str()
            .unwrap()
            .contains("Deployment")
    );
    let v2: Value = serde_json::from_str(&text("/openapi/v2").await).unwrap();
    assert_eq!(v2["swagger"], "2.0");
    assert!(v2["definitions"]["io.k8s.api.core.v1.Pod"].is_object());
    let pb = "application/com.github.proto-openapi.spec.v2@v1.0+protobuf";
    let protobuf = get(&client, "/openapi/v2", &[("Accept", pb)]).await;
    assert_eq!(
        protobuf.headers()["content-type"],
        "application/com.github.proto-openapi.spec.v2.v1.0+protobuf"
    );
    env.stop().await;
}
