//! The API server's CRUD semantics, black-box through `kube::Client`: metadata,
//! optimistic concurrency, generation, status subresource, patches, dry run and
//! the Status errors Kubernetes returns.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use e2e::support::api_error;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Secret, Service};
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use operatorkit::testing::TestEnv;
use serde_json::json;

fn configmap(name: &str) -> ConfigMap {
    serde_json::from_value(json!({"metadata": {"name": name}, "data": {"a": "1"}})).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn create_get_update_delete_with_server_metadata() {
    let env = TestEnv::start().await.unwrap();
    let api: Api<ConfigMap> = env.api();
    let name = env.name("cm");
    let created = api
        .create(&PostParams::default(), &configmap(&name))
        .await
        .unwrap();
    let meta = &created.metadata;
    assert!(meta.uid.as_ref().is_some_and(|u| u.len() == 36));
    assert!(meta.creation_timestamp.is_some());
    assert_eq!(meta.namespace.as_deref(), Some(env.namespace()));
    let rv1: u64 = meta.resource_version.as_ref().unwrap().parse().unwrap();

    let err = api_error(
        api.create(&PostParams::default(), &configmap(&name))
            .await
            .unwrap_err(),
    );
    assert_eq!((err.code, err.reason.as_str()), (409, "AlreadyExists"));
    assert_eq!(err.message, format!("configmaps \"{name}\" already exists"));

    let mut changed = created.clone();
    changed.data = Some([("a".to_owned(), "2".to_owned())].into());
    let updated = api
        .replace(&name, &PostParams::default(), &changed)
        .await
        .unwrap();
    let rv2: u64 = updated
        .metadata
        .resource_version
        .as_ref()
        .unwrap()
        .parse()
        .unwrap();
    assert!(rv2 > rv1, "resourceVersion moves forward");
    assert_eq!(updated.metadata.uid, created.metadata.uid);

    // The stale copy now conflicts.
    let err = api_error(
        api.replace(&name, &PostParams::default(), &changed)
            .await
            .unwrap_err(),
    );
    assert_eq!((err.code, err.reason.as_str()), (409, "Conflict"));
    assert!(
        err.message.contains("the object has been modified"),
        "{}",
        err.message
    );

    // An update that changes nothing is not a write.
    let same = api
        .replace(&name, &PostParams::default(), &updated)
        .await
        .unwrap();
    assert_eq!(
        same.metadata.resource_version,
        updated.metadata.resource_version
    );

    api.delete(&name, &DeleteParams::default()).await.unwrap();
    let err = api_error(api.get(&name).await.unwrap_err());
    assert_eq!((err.code, err.reason.as_str()), (404, "NotFound"));
    assert_eq!(err.message, format!("configmaps \"{name}\" not found"));
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn generate_name_and_dry_run() {
    let env = TestEnv::start().await.unwrap();
    let api: Api<ConfigMap> = env.api();
    let cm: ConfigMap =
        serde_json::from_value(json!({"metadata": {"generateName": "gen-"}})).unwrap();
    let created = api.create(&PostParams::default(), &cm).await.unwrap();
    let name = created.metadata.name.unwrap();
    assert!(
        name.starts_with("gen-") && name.len() == "gen-".len() + 5,
        "{name}"
    );

    let name = env.name("dry");
    let dry = PostParams {
        dry_run: true,
        ..PostParams::default()
    };
    api.create(&dry, &configmap(&name)).await.unwrap();
    assert!(
        api.get_opt(&name).await.unwrap().is_none(),
        "dry run stores nothing"
    );
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn generation_follows_spec_and_status_is_a_subresource() {
    let env = TestEnv::start().await.unwrap();
    let api: Api<Deployment> = env.api();
    let name = env.name("web");
    let d: Deployment = serde_json::from_value(json!({
        "metadata": {"name": name},
        "spec": {"selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "web", "image": "nginx:1.27"}]}}}
    }))
    .unwrap();
    let created = api.create(&PostParams::default(), &d).await.unwrap();
    assert_eq!(created.metadata.generation, Some(1));
    let spec = created.spec.as_ref().unwrap();
    assert_eq!(spec.replicas, Some(1), "server default");
    let c = &spec.template.spec.as_ref().unwrap().containers[0];
    assert_eq!(c.image_pull_policy.as_deref(), Some("IfNotPresent"));

    let labelled = api
        .patch(
            &name,
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"labels": {"x": "y"}}})),
        )
        .await
        .unwrap();
    assert_eq!(
        labelled.metadata.generation,
        Some(1),
        "metadata does not bump generation"
    );

    let scaled = api
        .patch(
            &name,
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"replicas": 3}})),
        )
        .await
        .unwrap();
    assert_eq!(scaled.metadata.generation, Some(2));

    // The main endpoint ignores status; /status ignores everything else.
    let ignored = api
        .patch(
            &name,
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {"replicas": 7}})),
        )
        .await
        .unwrap();
    assert_ne!(ignored.status.as_ref().and_then(|s| s.replicas), Some(7));
    let status = api
        .patch_status(
            &name,
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"replicas": 9}, "status": {"replicas": 7}})),
        )
        .await
        .unwrap();
    assert_eq!(status.status.as_ref().and_then(|s| s.replicas), Some(7));
    assert_eq!(status.spec.as_ref().and_then(|s| s.replicas), Some(3));
    assert_eq!(
        status.metadata.generation,
        Some(2),
        "status does not bump generation"
    );
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn patches_of_every_type() {
    let env = TestEnv::start().await.unwrap();
    let api: Api<ConfigMap> = env.api();
    let name = env.name("p");
    api.create(&PostParams::default(), &configmap(&name))
        .await
        .unwrap();
    let pp = PatchParams::default();

    let merged = api
        .patch(
            &name,
            &pp,
            &Patch::Merge(json!({"data": {"b": "2", "a": null}})),
        )
        .await
        .unwrap();
    assert_eq!(
        merged.data.unwrap(),
        [("b".to_owned(), "2".to_owned())].into()
    );

    let ops: json_patch_ops::Ops = serde_json::from_value(json!([
        {"op": "test", "path": "/data/b", "value": "2"},
        {"op": "add", "path": "/data/c", "value": "3"}
    ]))
    .unwrap();
    let patched = api
        .patch(&name, &pp, &Patch::Json::<()>(ops.0))
        .await
        .unwrap();
    assert_eq!(
        patched.data.unwrap().get("c").map(String::as_str),
        Some("3")
    );

    let failing: json_patch_ops::Ops =
        serde_json::from_value(json!([{"op": "test", "path": "/data/b", "value": "nope"}]))
            .unwrap();
    let err = api_error(
        api.patch(&name, &pp, &Patch::Json::<()>(failing.0))
            .await
            .unwrap_err(),
    );
    assert_eq!(err.code, 422, "{err:?}");

    let strategic = api
        .patch(
            &name,
            &pp,
            &Patch::Strategic(json!({"metadata": {"labels": {"s": "t"}}})),
        )
        .await
        .unwrap();
    assert_eq!(
        strategic
            .metadata
            .labels
            .unwrap()
            .get("s")
            .map(String::as_str),
        Some("t")
    );

    let applied = api
        .patch(
            &name,
            &PatchParams::apply("crud-test"),
            &Patch::Apply(json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": {"d": "4"}})),
        )
        .await
        .unwrap();
    assert_eq!(
        applied.data.unwrap().get("d").map(String::as_str),
        Some("4")
    );

    let fresh = env.name("applied");
    let created = api
        .patch(
            &fresh,
            &PatchParams::apply("crud-test"),
            &Patch::Apply(json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": fresh}, "data": {"x": "1"}})),
        )
        .await
        .unwrap();
    assert_eq!(
        created.metadata.name.as_deref(),
        Some(fresh.as_str()),
        "apply creates"
    );
    env.stop().await;
}

/// kube's `Patch::Json` takes json_patch's type.
mod json_patch_ops {
    #[derive(serde::Deserialize)]
    pub struct Ops(pub json_patch::Patch);
}

#[tokio::test(flavor = "multi_thread")]
async fn server_set_defaults_of_secrets_and_services() {
    let env = TestEnv::start().await.unwrap();
    let secrets: Api<Secret> = env.api();
    let name = env.name("s");
    let s: Secret =
        serde_json::from_value(json!({"metadata": {"name": name}, "stringData": {"k": "v"}}))
            .unwrap();
    let created = secrets.create(&PostParams::default(), &s).await.unwrap();
    assert_eq!(created.type_.as_deref(), Some("Opaque"));
    assert_eq!(
        created.data.unwrap().get("k").map(|b| b.0.clone()),
        Some(b"v".to_vec())
    );

    let services: Api<Service> = env.api();
    let name = env.name("svc");
    let svc: Service = serde_json::from_value(
        json!({"metadata": {"name": name}, "spec": {"ports": [{"port": 80}]}}),
    )
    .unwrap();
    let created = services.create(&PostParams::default(), &svc).await.unwrap();
    let spec = created.spec.unwrap();
    assert!(
        spec.cluster_ip
            .as_deref()
            .is_some_and(|ip| ip.parse::<std::net::IpAddr>().is_ok())
    );
    assert_eq!(spec.type_.as_deref(), Some("ClusterIP"));
    let port = &spec.ports.unwrap()[0];
    assert_eq!(port.protocol.as_deref(), Some("TCP"));
    assert_eq!(
        port.target_port,
        Some(k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::Int(80))
    );

    // Another Service cannot have that cluster IP.
    let taken = spec.cluster_ip.clone().unwrap();
    let clash: Service = serde_json::from_value(json!({"metadata": {"name": env.name("clash")},
        "spec": {"clusterIP": taken, "ports": [{"port": 80}]}}))
    .unwrap();
    let err = api_error(
        services
            .create(&PostParams::default(), &clash)
            .await
            .unwrap_err(),
    );
    assert_eq!(err.code, 422);
    assert!(err.message.contains("already allocated"), "{}", err.message);

    // NodePort Services get distinct ports of the node port range.
    let mut node_ports = Vec::new();
    for _ in 0..2 {
        let np: Service = serde_json::from_value(json!({"metadata": {"name": env.name("np")},
            "spec": {"type": "NodePort", "ports": [{"port": 80}]}}))
        .unwrap();
        let created = services.create(&PostParams::default(), &np).await.unwrap();
        let port = created.spec.unwrap().ports.unwrap()[0].node_port.unwrap();
        assert!((30000..=32767).contains(&port), "{port}");
        node_ports.push(port);
    }
    assert_ne!(node_ports[0], node_ports[1]);
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn invalid_objects_get_422_with_causes() {
    let env = TestEnv::start().await.unwrap();
    let api: Api<ConfigMap> = env.api();
    let bad = configmap("Not_A_Valid_Name");
    let err = api_error(api.create(&PostParams::default(), &bad).await.unwrap_err());
    assert_eq!((err.code, err.reason.as_str()), (422, "Invalid"));
    assert!(
        err.message
            .contains("metadata.name: Invalid value: \"Not_A_Valid_Name\""),
        "{}",
        err.message
    );

    let deployments: Api<Deployment> = env.api();
    let d: Deployment = serde_json::from_value(json!({"metadata": {"name": env.name("d")},
        "spec": {"selector": {"matchLabels": {"app": "a"}}, "template": {"metadata": {"labels": {"app": "b"}},
        "spec": {"containers": [{"name": "c", "image": "i"}]}}}}))
    .unwrap();
    let err = api_error(
        deployments
            .create(&PostParams::default(), &d)
            .await
            .unwrap_err(),
    );
    assert_eq!(err.code, 422);
    assert!(
        err.message
            .contains("`selector` does not match template `labels`"),
        "{}",
        err.message
    );
    env.stop().await;
}

/// ConfigMaps and Secrets hold at most 1 MiB of values (keys do not count;
/// binaryData and Secret data count decoded), as kube-apiserver validates.
#[tokio::test(flavor = "multi_thread")]
async fn config_maps_and_secrets_hold_at_most_a_mebibyte_of_values() {
    let env = TestEnv::start().await.unwrap();
    let api: Api<ConfigMap> = env.api();
    let mib = 1024 * 1024;
    let sized = |name: &str, bytes: usize| -> ConfigMap {
        serde_json::from_value(json!({"metadata": {"name": name},
            "data": {"a-long-key-that-does-not-count": "x".repeat(bytes - 1), "b": "y"}}))
        .unwrap()
    };
    api.create(&PostParams::default(), &sized("full", mib))
        .await
        .unwrap();
    let err = api_error(
        api.create(&PostParams::default(), &sized("over", mib + 1))
            .await
            .unwrap_err(),
    );
    assert_eq!(
        (err.code, err.message.as_str()),
        (
            422,
            "ConfigMap \"over\" is invalid: []: Too long: may not be more than 1048576 bytes"
        )
    );
    // Growing a full one by patch is refused the same way.
    let more = json!({"data": {"c": "z"}});
    let err = api_error(
        api.patch("full", &PatchParams::default(), &Patch::Merge(&more))
            .await
            .unwrap_err(),
    );
    assert_eq!(err.code, 422);
    let secrets: Api<Secret> = env.api();
    let secret: Secret = serde_json::from_value(json!({"metadata": {"name": "big"},
        "stringData": {"k": "x".repeat(mib + 1)}}))
    .unwrap();
    let err = api_error(
        secrets
            .create(&PostParams::default(), &secret)
            .await
            .unwrap_err(),
    );
    assert_eq!(
        (err.code, err.message.as_str()),
        (
            422,
            "Secret \"big\" is invalid: data: Too long: may not be more than 1048576 bytes"
        )
    );
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn wire_level_errors_and_content_types() {
    let env = TestEnv::start().await.unwrap();
    let client = env.client();
    let ns = env.namespace();
    // 415 for an unknown patch type.
    let req = http::Request::patch(format!("/api/v1/namespaces/{ns}/configmaps/x"))
        .header("Content-Type", "application/foo")
        .body(b"{}".to_vec())
        .unwrap();
    let err = api_error(client.request::<ConfigMap>(req).await.unwrap_err());
    assert_eq!(err.code, 415);
    // 400 for a body of the wrong kind.
    let req = http::Request::post(format!("/api/v1/namespaces/{ns}/configmaps"))
        .header("Content-Type", "application/json")
        .body(
            serde_json::to_vec(
                &json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "x"}}),
            )
            .unwrap(),
        )
        .unwrap();
    let err = api_error(client.request::<ConfigMap>(req).await.unwrap_err());
    assert_eq!(err.code, 400);
    // 404 in a namespace that does not exist.
    let missing: Api<ConfigMap> = Api::namespaced(client.clone(), &env.name("nowhere"));
    let err = api_error(
        missing
            .create(&PostParams::default(), &configmap("x"))
            .await
            .unwrap_err(),
    );
    assert_eq!((err.code, err.reason.as_str()), (404, "NotFound"));
    env.stop().await;
}

/// A patch cannot rename or move an object: kube-apiserver checks the
/// patched object's name and namespace against the URL (400).
#[tokio::test(flavor = "multi_thread")]
async fn a_patch_that_renames_or_moves_the_object_is_400() {
    let env = TestEnv::start().await.unwrap();
    let api: Api<ConfigMap> = env.api();
    let ns = env.namespace().to_owned();
    api.create(&PostParams::default(), &configmap("named"))
        .await
        .unwrap();
    let rename = json!({"metadata": {"name": "other"}});
    let err = api_error(
        api.patch("named", &PatchParams::default(), &Patch::Merge(&rename))
            .await
            .unwrap_err(),
    );
    assert_eq!(err.code, 400);
    assert_eq!(
        err.message,
        "the name of the object (other) does not match the name on the URL (named)"
    );
    let moving: json_patch::Patch = serde_json::from_value(
        json!([{"op": "replace", "path": "/metadata/namespace", "value": "elsewhere"}]),
    )
    .unwrap();
    let err = api_error(
        api.patch("named", &PatchParams::default(), &Patch::<()>::Json(moving))
            .await
            .unwrap_err(),
    );
    assert_eq!(err.code, 400);
    assert_eq!(
        err.message,
        format!(
            "the namespace of the object (elsewhere) does not match the namespace on the URL ({ns})"
        )
    );
    let kept = api.get("named").await.unwrap();
    assert_eq!(kept.metadata.namespace.as_deref(), Some(ns.as_str()));
    assert!(api.get_opt("other").await.unwrap().is_none());
    env.stop().await;
}

/// A body in a format the server does not decode is 415 (kube-apiserver's
/// input negotiation), not a 400 parse error; without a Content-Type it is
/// JSON. (Protobuf bodies of built-in kinds are decoded: apiserver_protobuf.rs.)
#[tokio::test(flavor = "multi_thread")]
async fn a_body_of_an_unknown_media_type_is_415() {
    let env = TestEnv::start().await.unwrap();
    let client = env.client();
    let ns = env.namespace();
    let body = serde_json::to_vec(
        &json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "typed"}}),
    )
    .unwrap();
    for content_type in ["text/plain", "application/cbor"] {
        let req = http::Request::post(format!("/api/v1/namespaces/{ns}/configmaps"))
            .header("Content-Type", content_type)
            .body(body.clone())
            .unwrap();
        let err = api_error(client.request::<ConfigMap>(req).await.unwrap_err());
        assert_eq!(err.code, 415, "{content_type}: {err:?}");
        assert_eq!(err.reason, "UnsupportedMediaType");
    }
    let api: Api<ConfigMap> = env.api();
    assert!(api.get_opt("typed").await.unwrap().is_none());
    let req = http::Request::post(format!("/api/v1/namespaces/{ns}/configmaps"))
        .body(body)
        .unwrap();
    let created = client.request::<ConfigMap>(req).await.unwrap();
    assert_eq!(created.metadata.name.as_deref(), Some("typed"));
    env.stop().await;
}

/// An object larger than etcd stores (1.5 MiB) is refused with the 500 that
/// kube-apiserver passes on from etcd; a body over 3 MiB is 413. Neither
/// stores anything.
#[tokio::test(flavor = "multi_thread")]
async fn objects_and_bodies_over_the_limits_are_refused_as_kube_apiserver_does() {
    use k8s_openapi::api::coordination::v1::Lease;
    let env = TestEnv::start().await.unwrap();
    let api: Api<Lease> = env.api();
    let lease = |name: &str, bytes: usize| -> Lease {
        serde_json::from_value(
            json!({"metadata": {"name": name}, "spec": {"holderIdentity": "h".repeat(bytes)}}),
        )
        .unwrap()
    };
    let err = api_error(
        api.create(&PostParams::default(), &lease("big", 1600 * 1024))
            .await
            .unwrap_err(),
    );
    assert_eq!(err.code, 500, "{err:?}");
    assert_eq!(err.message, "etcdserver: request is too large");
    assert_eq!(err.reason, "");
    assert!(api.get_opt("big").await.unwrap().is_none());
    // Just under the limit is stored; growing it past the limit is refused.
    let fits = api
        .create(&PostParams::default(), &lease("fits", 1500 * 1024))
        .await
        .unwrap();
    let grow = json!({"spec": {"holderIdentity": "h".repeat(1600 * 1024)}});
    let err = api_error(
        api.patch("fits", &PatchParams::default(), &Patch::Merge(&grow))
            .await
            .unwrap_err(),
    );
    assert_eq!(
        (err.code, err.message.as_str()),
        (500, "etcdserver: request is too large")
    );
    let kept = api.get("fits").await.unwrap();
    assert_eq!(
        kept.metadata.resource_version,
        fits.metadata.resource_version
    );

    let err = api_error(
        api.create(&PostParams::default(), &lease("huge", 3 * 1024 * 1024))
            .await
            .unwrap_err(),
    );
    assert_eq!(
        (err.code, err.reason.as_str()),
        (413, "RequestEntityTooLarge")
    );
    assert_eq!(err.message, "Request entity too large: limit is 3145728");
    env.stop().await;
}

/// `pods/binding`, as a scheduler uses it: the pod gets its node and a
/// `PodScheduled` condition once; a second binding is a 409; an
/// EndpointSlice (discovery.k8s.io/v1) is served.
#[tokio::test(flavor = "multi_thread")]
async fn pods_are_bound_once_through_the_binding_subresource() {
    use k8s_openapi::api::core::v1::{Binding, Pod};
    use k8s_openapi::api::discovery::v1::EndpointSlice;
    let env = TestEnv::start().await.unwrap();
    let pods: Api<Pod> = env.api();
    let pod: Pod = serde_json::from_value(json!({
        "metadata": {"name": "unbound"},
        "spec": {"containers": [{"name": "c", "image": "busybox"}]}
    }))
    .unwrap();
    pods.create(&PostParams::default(), &pod).await.unwrap();
    let binding: Binding = serde_json::from_value(json!({
        "metadata": {"name": "unbound", "annotations": {"scheduled-by": "test"}},
        "target": {"kind": "Node", "name": "node-7"}
    }))
    .unwrap();
    let status = pods
        .create_subresource::<_, serde_json::Value>(
            "binding",
            "unbound",
            &PostParams {
                field_manager: Some("kube-scheduler".into()),
                ..Default::default()
            },
            &binding,
        )
        .await
        .unwrap();
    assert_eq!(status["status"], "Success");
    let bound = pods.get("unbound").await.unwrap();
    assert_eq!(bound.spec.unwrap().node_name.as_deref(), Some("node-7"));
    let scheduled = bound.status.unwrap().conditions.unwrap();
    assert!(
        scheduled
            .iter()
            .any(|c| c.type_ == "PodScheduled" && c.status == "True")
    );
    assert_eq!(bound.metadata.annotations.unwrap()["scheduled-by"], "test");
    let again = pods
        .create_subresource::<_, serde_json::Value>(
            "binding",
            "unbound",
            &PostParams::default(),
            &binding,
        )
        .await
        .unwrap_err();
    let err = api_error(again);
    assert_eq!(err.code, 409);
    assert!(
        err.message
            .contains("pod unbound is already assigned to node \"node-7\""),
        "{}",
        err.message
    );

    let slices: Api<EndpointSlice> = env.api();
    let slice: EndpointSlice = serde_json::from_value(json!({
        "metadata": {"name": "s", "labels": {"kubernetes.io/service-name": "svc"}},
        "addressType": "IPv4",
        "endpoints": [{"addresses": ["10.0.0.1"], "conditions": {"ready": true}}],
        "ports": [{"name": "http", "port": 80, "protocol": "TCP"}]
    }))
    .unwrap();
    slices.create(&PostParams::default(), &slice).await.unwrap();
    assert_eq!(slices.get("s").await.unwrap().endpoints.len(), 1);
    env.stop().await;
}
