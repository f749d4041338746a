//! {{name}} against the embedded API server, or the cluster
//! `OPERATORKIT_TEST_KUBECONFIG` names: a {{Kind}} gets its ConfigMap and
//! follows spec changes, bad input is a condition and an Event, and deleting
//! the {{Kind}} takes the ConfigMap with it. The operator runs as its own
//! ServiceAccount bound to the roles in `manifests/`, so a rule missing there
//! fails here, as it would in production.

// A test: a failed step must stop it, and unwrap says so most plainly.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use operatorkit::OperatorStatus;
use operatorkit::k8s_openapi::api::core::v1::ConfigMap;
use operatorkit::k8s_openapi::api::events::v1::Event;
use operatorkit::k8s_openapi::api::rbac::v1::{ClusterRole, Role};
use operatorkit::kube::api::{Api, Patch, PatchParams, PostParams};
use operatorkit::kube::{CustomResourceExt, ResourceExt};
use operatorkit::testing::{
    OperatorRun, ServiceAccountIdentity, TestEnv, wait_for, wait_for_event,
};

use {{crate}}::{NAME, {{Kind}}, {{Kind}}Spec};

/// The version the test runs and labels its objects with.
const VERSION: &str = "test";
/// How long anything may take (a real cluster is slower than the embedded one).
const WAIT: Duration = Duration::from_secs(60);

/// The operator's ServiceAccount, bound to the ClusterRole and the
/// leader-election Role of `{{manifests_path}}/`.
async fn service_account(env: &TestEnv) -> ServiceAccountIdentity {
    let read = |file: &str| {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("{{manifests_from_crate}}")
            .join(file);
        std::fs::read_to_string(&path).unwrap()
    };
    let cluster_role: ClusterRole = serde_yaml::from_str(&read("cluster-role.yaml")).unwrap();
    let role: Role = serde_yaml::from_str(&read("leader-election-role.yaml")).unwrap();
    env.service_account(NAME.as_str(), [cluster_role], [role])
        .await
        .unwrap()
}

async fn start() -> (TestEnv, OperatorRun) {
    let env = TestEnv::start().await.unwrap();
    env.install_crds([{{Kind}}::crd()]).await.unwrap();
    let identity = service_account(&env).await;
    let run = env
        .run_operator_as(
            &identity,
            {{crate}}::operator(VERSION),
            operatorkit::Settings::default(),
        )
        .await
        .unwrap();
    (env, run)
}

fn object(name: &str, message: &str) -> {{Kind}} {
    let mut object = {{Kind}}::new(
        name,
        {{Kind}}Spec {
            message: message.to_owned(),
        },
    );
    object
        .labels_mut()
        .insert(NAME.version_label(), VERSION.to_owned());
    object
}

fn ready_reason(object: Option<&{{Kind}}>) -> Option<String> {
    let status = object?.status.as_ref()?;
    status.condition("Ready").map(|c| c.reason.clone())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_{{kind_snake}}_gets_its_configmap_and_takes_it_when_deleted() {
    let (env, run) = start().await;
    let objects: Api<{{Kind}}> = env.api();
    let configmaps: Api<ConfigMap> = env.api();
    let name = env.name("{{kind_lower}}");
    objects
        .create(&PostParams::default(), &object(&name, "hello"))
        .await
        .unwrap();

    let ready = wait_for(&objects, &name, WAIT, |o: Option<&{{Kind}}>| {
        o.and_then(|o| o.status.as_ref()).is_some_and(|s| s.is_ready())
    })
    .await
    .unwrap()
    .unwrap();
    let configmap_name = format!("{name}-{{kind_lower}}");
    assert_eq!(
        ready.status.unwrap().config_map_name.as_deref(),
        Some(configmap_name.as_str())
    );
    let configmap = configmaps.get(&configmap_name).await.unwrap();
    assert_eq!(configmap.data.unwrap()["message"], "hello");

    // A spec change reaches the ConfigMap.
    let change = serde_json::json!({"spec": {"message": "hello again"}});
    objects
        .patch(&name, &PatchParams::default(), &Patch::Merge(&change))
        .await
        .unwrap();
    wait_for(&configmaps, &configmap_name, WAIT, |c: Option<&ConfigMap>| {
        c.and_then(|c| c.data.as_ref())
            .is_some_and(|d| d["message"] == "hello again")
    })
    .await
    .unwrap();

    // Deleted: the ConfigMap goes, then the finalizer, then the object.
    objects.delete(&name, &Default::default()).await.unwrap();
    wait_for(&objects, &name, WAIT, |o: Option<&{{Kind}}>| o.is_none())
        .await
        .unwrap();
    wait_for(&configmaps, &configmap_name, WAIT, |c: Option<&ConfigMap>| {
        c.is_none()
    })
    .await
    .unwrap();
    run.stop().await;
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_empty_message_is_a_condition_and_an_event_and_writes_nothing() {
    let (env, run) = start().await;
    let objects: Api<{{Kind}}> = env.api();
    let name = env.name("{{kind_lower}}");
    objects
        .create(&PostParams::default(), &object(&name, " "))
        .await
        .unwrap();

    wait_for(&objects, &name, WAIT, |o: Option<&{{Kind}}>| {
        ready_reason(o).as_deref() == Some("InvalidSpec")
    })
    .await
    .unwrap();
    // One Warning Event with the same reason.
    wait_for_event(&env.api::<Event>(), &name, "InvalidSpec", WAIT)
        .await
        .unwrap();
    let configmaps: Api<ConfigMap> = env.api();
    assert!(
        configmaps
            .get_opt(&format!("{name}-{{kind_lower}}"))
            .await
            .unwrap()
            .is_none()
    );
    run.stop().await;
    env.stop().await;
}
