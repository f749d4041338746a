//! Discovery and OpenAPI through kube's client, as an operator or kubectl
//! reaches them: aggregated discovery (`Discovery::run_aggregated`) finds
//! exactly what the legacy documents list, custom resources included and
//! gone with their CRD; the aggregated answer's ETag gives a 304; the OpenAPI
//! documents explain built-in kinds.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, DeleteParams, PostParams};
use kube::discovery::Discovery;
use serde_json::{Value, json};

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

fn widgets_crd() -> CustomResourceDefinition {
    serde_json::from_value(json!({
        "metadata": {"name": "widgets.example.com"},
        "spec": {
            "group": "example.com", "scope": "Namespaced",
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

async fn wait_for(client: &kube::Client, present: bool) -> Discovery {
    for _ in 0..100 {
        let d = Discovery::new(client.clone())
            .run_aggregated()
            .await
            .unwrap();
        if d.has_group("example.com") == present {
            return d;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("example.com never became {present}");
}

#[tokio::test(flavor = "multi_thread")]
async fn aggregated_discovery_finds_what_legacy_discovery_finds() {
    let server = operatorkit_apiserver::start(operatorkit_apiserver::Config::default())
        .await
        .unwrap();
    let client = kube::Client::try_from(server.kube_config(None)).unwrap();
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    crds.create(&PostParams::default(), &widgets_crd())
        .await
        .unwrap();
    let aggregated = wait_for(&client, true).await;
    let legacy = Discovery::new(client.clone()).run().await.unwrap();
    assert_eq!(found(&aggregated), found(&legacy));
    assert!(aggregated.has_group("apps"));
    let deployments =
        found(&aggregated)[&("apps".into(), "v1".into(), "deployments".into())].clone();
    assert!(
        deployments.contains("scale:get,patch,update"),
        "{deployments}"
    );
    let widgets = aggregated.get("example.com").unwrap();
    assert_eq!(widgets.versions().collect::<Vec<_>>(), ["v1", "v1beta1"]);
    let pods = found(&aggregated)[&("".into(), "v1".into(), "pods".into())].clone();
    assert!(
        pods.contains(
            "binding:create ephemeralcontainers:get,patch,update eviction:create log:get status:get,patch,update"
        ),
        "{pods}"
    );
    crds.delete("widgets.example.com", &DeleteParams::default())
        .await
        .unwrap();
    wait_for(&client, false).await;
    server.shutdown().await;
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
    let server = operatorkit_apiserver::start(operatorkit_apiserver::Config::default())
        .await
        .unwrap();
    let client = kube::Client::try_from(server.kube_config(None)).unwrap();
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
    server.shutdown().await;
}
