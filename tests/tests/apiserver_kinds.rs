//! The kinds and subresources a cluster's users and operators touch, through
//! kube's client: CertificateSigningRequests created and approved, `scale`
//! of built-in workloads and of a CRD that declares it, ResourceQuota usage,
//! `patch_metadata` answered with PartialObjectMetadata, pod logs and
//! ephemeral containers, component statuses, TokenReviews with audiences.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::certificates::v1::CertificateSigningRequest;
use k8s_openapi::api::core::v1::{ConfigMap, Pod, ResourceQuota};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{DynamicObject, LogParams, Patch, PatchParams, PostParams};
use kube::core::{ApiResource, GroupVersionKind};
use kube::{Api, ResourceExt};
use operatorkit::testing::{TestEnv, wait_for};
use serde_json::json;

const WAIT: Duration = Duration::from_secs(10);

#[tokio::test(flavor = "multi_thread")]
async fn a_csr_is_created_and_approved() {
    let env = TestEnv::start().await.unwrap();
    let csrs: Api<CertificateSigningRequest> = Api::all(env.client());
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "ivy");
    let request = params.serialize_request(&key).unwrap().pem().unwrap();
    let name = env.name("csr");
    let csr: CertificateSigningRequest = serde_json::from_value(json!({
        "metadata": {"name": name},
        "spec": {"request": base64(request.as_bytes()), "signerName": "kubernetes.io/kube-apiserver-client",
            "usages": ["client auth"], "username": "someone-else"}
    }))
    .unwrap();
    let made = csrs.create(&PostParams::default(), &csr).await.unwrap();
    let spec = made.spec;
    assert_ne!(
        spec.username.as_deref(),
        Some("someone-else"),
        "the requester is the server's to set"
    );
    assert!(
        spec.groups
            .unwrap()
            .iter()
            .any(|g| g == "system:authenticated")
    );

    let approval = json!({"status": {"conditions": [{"type": "Approved", "status": "True",
        "reason": "TestApproved", "message": "approved by the test"}]}});
    let approved = csrs
        .patch_approval(&name, &PatchParams::default(), &Patch::Merge(&approval))
        .await
        .unwrap();
    let condition = &approved.status.unwrap().conditions.unwrap()[0];
    assert_eq!(
        (condition.type_.as_str(), condition.status.as_str()),
        ("Approved", "True")
    );
    assert!(condition.last_update_time.is_some() && condition.last_transition_time.is_some());

    let bad: CertificateSigningRequest = serde_json::from_value(json!({
        "metadata": {"name": env.name("bad")},
        "spec": {"request": base64(b"not a request"), "signerName": "example.com/x", "usages": ["client auth"]}
    }))
    .unwrap();
    let err = csrs.create(&PostParams::default(), &bad).await.unwrap_err();
    assert!(
        err.to_string()
            .contains("PEM block type must be CERTIFICATE REQUEST"),
        "{err}"
    );
    csrs.delete(&name, &Default::default()).await.unwrap();
    env.stop().await;
}

fn base64(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

#[tokio::test(flavor = "multi_thread")]
async fn scale_moves_the_replicas_of_workloads_and_custom_resources() {
    let env = TestEnv::start().await.unwrap();
    let deployments: Api<Deployment> = env.api();
    let d: Deployment = serde_json::from_value(json!({"metadata": {"name": "web"},
        "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "c", "image": "i"}]}}}}))
    .unwrap();
    deployments
        .create(&PostParams::default(), &d)
        .await
        .unwrap();
    let scale = deployments.get_scale("web").await.unwrap();
    assert_eq!(scale.spec.unwrap().replicas, Some(1));
    assert_eq!(scale.status.unwrap().selector.as_deref(), Some("app=web"));
    let patch = json!({"spec": {"replicas": 4}});
    deployments
        .patch_scale("web", &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .unwrap();
    assert_eq!(
        deployments.get("web").await.unwrap().spec.unwrap().replicas,
        Some(4)
    );

    env.install_crds([scaler_crd()]).await.unwrap();
    let gvk = GroupVersionKind::gvk("test.operatorkit.dev", "v1", "Scaler");
    let scalers: Api<DynamicObject> =
        Api::namespaced_with(env.client(), env.namespace(), &ApiResource::from_gvk(&gvk));
    let obj: DynamicObject = serde_json::from_value(
        json!({"apiVersion": "test.operatorkit.dev/v1", "kind": "Scaler",
        "metadata": {"name": "s"}, "spec": {"size": 2}}),
    )
    .unwrap();
    scalers.create(&PostParams::default(), &obj).await.unwrap();
    let status = json!({"status": {"ready": 2, "selector": "app=s"}});
    scalers
        .patch_status("s", &PatchParams::default(), &Patch::Merge(&status))
        .await
        .unwrap();
    let scale = scalers.get_scale("s").await.unwrap();
    assert_eq!(scale.spec.unwrap().replicas, Some(2));
    let s = scale.status.unwrap();
    assert_eq!((s.replicas, s.selector.as_deref()), (2, Some("app=s")));
    let patch = json!({"spec": {"replicas": 7}});
    scalers
        .patch_scale("s", &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .unwrap();
    assert_eq!(scalers.get("s").await.unwrap().data["spec"]["size"], 7);
    let negative = json!({"spec": {"replicas": -1}});
    let err = scalers
        .patch_scale("s", &PatchParams::default(), &Patch::Merge(&negative))
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("must be greater than or equal to 0"),
        "{err}"
    );
    env.stop().await;
}

/// A namespaced CRD whose scale subresource reads `.spec.size`.
fn scaler_crd() -> CustomResourceDefinition {
    serde_json::from_value(json!({
        "metadata": {"name": "scalers.test.operatorkit.dev"},
        "spec": {"group": "test.operatorkit.dev", "scope": "Namespaced",
            "names": {"plural": "scalers", "singular": "scaler", "kind": "Scaler"},
            "versions": [{"name": "v1", "served": true, "storage": true,
                "subresources": {"status": {}, "scale": {"specReplicasPath": ".spec.size",
                    "statusReplicasPath": ".status.ready", "labelSelectorPath": ".status.selector"}},
                "schema": {"openAPIV3Schema": {"type": "object", "properties": {
                    "spec": {"type": "object", "properties": {"size": {"type": "integer"}}},
                    "status": {"type": "object", "properties": {"ready": {"type": "integer"}, "selector": {"type": "string"}}}}}}}]}
    }))
    .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn quotas_count_patch_metadata_logs_and_ephemeral_containers() {
    let env = TestEnv::start().await.unwrap();
    let quotas: Api<ResourceQuota> = env.api();
    let q: ResourceQuota = serde_json::from_value(json!({"metadata": {"name": "q"},
        "spec": {"hard": {"pods": "3", "count/deployments.apps": "2"}}}))
    .unwrap();
    quotas.create(&PostParams::default(), &q).await.unwrap();
    let pods: Api<Pod> = env.api();
    let pod: Pod = serde_json::from_value(json!({"metadata": {"name": "p"},
        "spec": {"containers": [{"name": "c", "image": "i"}]}}))
    .unwrap();
    pods.create(&PostParams::default(), &pod).await.unwrap();
    let counted = wait_for(&quotas, "q", WAIT, |q| {
        q.and_then(|q| {
            q.status
                .as_ref()?
                .used
                .as_ref()?
                .get("pods")
                .map(|n| n.0 == "1")
        }) == Some(true)
    })
    .await
    .unwrap()
    .unwrap();
    let used = counted.status.unwrap().used.unwrap();
    assert_eq!(used["count/deployments.apps"].0, "0");

    let maps: Api<ConfigMap> = env.api();
    let cm: ConfigMap = serde_json::from_value(json!({"metadata": {"name": "m"}})).unwrap();
    maps.create(&PostParams::default(), &cm).await.unwrap();
    let labels = json!({"metadata": {"labels": {"seen": "yes"}}});
    let partial = maps
        .patch_metadata("m", &PatchParams::default(), &Patch::Merge(&labels))
        .await
        .unwrap();
    assert_eq!(partial.labels()["seen"], "yes");
    assert_eq!(partial.types.unwrap().kind, "PartialObjectMetadata");

    assert_eq!(pods.logs("p", &LogParams::default()).await.unwrap(), "");
    let mut debug = pods.get_ephemeral_containers("p").await.unwrap();
    debug.spec.as_mut().unwrap().ephemeral_containers = Some(vec![
        serde_json::from_value(json!({"name": "dbg", "image": "busybox"})).unwrap(),
    ]);
    let with = pods
        .replace_ephemeral_containers("p", &PostParams::default(), &debug)
        .await
        .unwrap();
    assert_eq!(
        with.spec.unwrap().ephemeral_containers.unwrap()[0].name,
        "dbg"
    );
    // The body's resourceVersion is a precondition: the one read before the
    // change is stale now.
    let stale = pods
        .replace_ephemeral_containers("p", &PostParams::default(), &debug)
        .await
        .unwrap_err();
    assert!(
        matches!(&stale, kube::Error::Api(e) if e.code == 409),
        "{stale:?}"
    );

    let statuses = env
        .client()
        .request_text(
            http::Request::get("/api/v1/componentstatuses")
                .body(Vec::new())
                .unwrap(),
        )
        .await
        .unwrap();
    let statuses: serde_json::Value = serde_json::from_str(&statuses).unwrap();
    let names: Vec<&str> = statuses["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["metadata"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["controller-manager", "etcd-0", "scheduler"]);
    env.stop().await;
}

/// DELETE answers what kube-apiserver's registry answers per kind: the
/// deleted object where it sets `ReturnDeletedObject` (Services,
/// ServiceAccounts), a Success Status elsewhere (ConfigMaps).
#[tokio::test(flavor = "multi_thread")]
async fn delete_answers_the_object_or_a_status_per_kind() {
    use k8s_openapi::api::core::v1::{Service, ServiceAccount};
    let env = TestEnv::start().await.unwrap();
    let services: Api<Service> = env.api();
    let svc: Service = serde_json::from_value(
        json!({"metadata": {"name": "s"}, "spec": {"ports": [{"port": 80}]}}),
    )
    .unwrap();
    services.create(&PostParams::default(), &svc).await.unwrap();
    let gone = services.delete("s", &Default::default()).await.unwrap();
    assert_eq!(gone.left().map(|s| s.name_any()).as_deref(), Some("s"));
    let accounts: Api<ServiceAccount> = env.api();
    let sa: ServiceAccount =
        serde_json::from_value(json!({"metadata": {"name": "robot"}})).unwrap();
    accounts.create(&PostParams::default(), &sa).await.unwrap();
    assert!(
        accounts
            .delete("robot", &Default::default())
            .await
            .unwrap()
            .is_left()
    );
    let maps: Api<ConfigMap> = env.api();
    let cm: ConfigMap = serde_json::from_value(json!({"metadata": {"name": "m"}})).unwrap();
    maps.create(&PostParams::default(), &cm).await.unwrap();
    assert!(
        maps.delete("m", &Default::default())
            .await
            .unwrap()
            .is_right()
    );
    env.stop().await;
}

/// Every served group-version has a local, Available APIService; CRD
/// groups too.
#[tokio::test(flavor = "multi_thread")]
async fn api_services_list_every_group_version() {
    use k8s_openapi::kube_aggregator::pkg::apis::apiregistration::v1::APIService;
    let env = TestEnv::start().await.unwrap();
    env.install_crds([scaler_crd()]).await.unwrap();
    let services: Api<APIService> = Api::all(env.client());
    let names: Vec<String> = services
        .list(&Default::default())
        .await
        .unwrap()
        .items
        .iter()
        .map(|s| s.name_any())
        .collect();
    for expected in [
        "v1.",
        "v1.apps",
        "v2.autoscaling",
        "v1.test.operatorkit.dev",
    ] {
        assert!(
            names.iter().any(|n| n == expected),
            "{expected} in {names:?}"
        );
    }
    let apps = services.get("v1.apps").await.unwrap();
    let available = &apps.status.unwrap().conditions.unwrap()[0];
    assert_eq!(
        (available.type_.as_str(), available.status.as_str()),
        ("Available", "True")
    );
    env.stop().await;
}

/// A TokenReview answers a ServiceAccount token's user and the audiences it
/// is valid for: the API's when the review names none, the asked ones when
/// the token was issued for them; a token for another audience, or garbage,
/// is not authenticated.
#[tokio::test(flavor = "multi_thread")]
async fn token_reviews_check_users_and_audiences() {
    use k8s_openapi::api::authentication::v1::{
        TokenRequest, TokenRequestSpec, TokenReview, TokenReviewSpec,
    };
    use k8s_openapi::api::core::v1::ServiceAccount;
    let env = TestEnv::start().await.unwrap();
    let name = env.name("reviewed");
    let accounts: Api<ServiceAccount> = env.api();
    let account = serde_json::from_value(json!({"metadata": {"name": name}})).unwrap();
    accounts
        .create(&PostParams::default(), &account)
        .await
        .unwrap();
    let token = |audiences: Vec<String>| {
        let accounts = accounts.clone();
        let name = name.clone();
        async move {
            let request = TokenRequest {
                spec: TokenRequestSpec {
                    audiences,
                    ..TokenRequestSpec::default()
                },
                ..TokenRequest::default()
            };
            let issued = accounts
                .create_token_request(&name, &PostParams::default(), &request)
                .await
                .unwrap();
            issued.status.unwrap().token
        }
    };
    let reviews: Api<TokenReview> = Api::all(env.client());
    let review = |token: String, audiences: Option<Vec<String>>| {
        let reviews = reviews.clone();
        async move {
            let asked = TokenReview {
                spec: TokenReviewSpec {
                    token: Some(token),
                    audiences,
                },
                ..TokenReview::default()
            };
            let answered = reviews
                .create(&PostParams::default(), &asked)
                .await
                .unwrap();
            answered.status.unwrap()
        }
    };
    let user = format!("system:serviceaccount:{}:{name}", env.namespace());

    let api = review(token(Vec::new()).await, None).await;
    assert_eq!(api.authenticated, Some(true), "{api:?}");
    assert_eq!(api.user.unwrap().username.as_deref(), Some(user.as_str()));
    assert!(!api.audiences.unwrap_or_default().is_empty());

    let vault = token(vec!["vault".into()]).await;
    let for_vault = review(vault.clone(), Some(vec!["vault".into()])).await;
    assert_eq!(for_vault.authenticated, Some(true), "{for_vault:?}");
    assert_eq!(for_vault.audiences.unwrap(), ["vault"]);
    let for_api = review(vault, None).await;
    assert_ne!(for_api.authenticated, Some(true), "{for_api:?}");

    let garbage = review("not-a-token".into(), None).await;
    assert_ne!(garbage.authenticated, Some(true));
    assert!(!garbage.error.unwrap_or_default().is_empty());
    env.stop().await;
}
