//! The greeter example operator (`operatorkit/examples/greeter`), tested as
//! the README walks through it: a Greeting becomes a ConfigMap and Ready; bad
//! input becomes a condition and a Warning Event; deletion cleans up.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../../operatorkit/examples/greeter/operator.rs"]
#[allow(dead_code)]
mod greeter;

use std::time::Duration;

use greeter::{Greeting, GreetingSpec};
use k8s_openapi::api::core::v1::ConfigMap;
use k8s_openapi::api::events::v1::Event;
use kube::CustomResourceExt;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use operatorkit::Settings;
use operatorkit::testing::{TestEnv, wait_for};
use serde_json::json;

const WAIT: Duration = Duration::from_secs(30);

fn ready_status(g: Option<&Greeting>) -> Option<String> {
    g?.status
        .as_ref()?
        .conditions
        .iter()
        .find(|c| c.type_ == "Ready")
        .map(|c| c.status.clone())
}

#[tokio::test(flavor = "multi_thread")]
async fn greetings_become_configmaps_bad_input_a_condition_and_deletion_cleans_up() {
    let env = TestEnv::start().await.unwrap();
    env.install_crds([Greeting::crd()]).await.unwrap();
    let run = env
        .run_operator(greeter::operator("1.0.0"), Settings::default())
        .await
        .unwrap();
    let api: Api<Greeting> = env.api();
    let name = env.name("hello");
    let mut g = Greeting::new(
        &name,
        GreetingSpec {
            message: "Hello".into(),
            name: Some("operators".into()),
        },
    );
    g.metadata.labels = Some([(greeter::NAME.version_label(), "1.0.0".to_owned())].into());
    api.create(&PostParams::default(), &g).await.unwrap();
    wait_for(&api, &name, WAIT, |g| {
        ready_status(g).as_deref() == Some("True")
    })
    .await
    .unwrap();
    let cms: Api<ConfigMap> = env.api();
    let cm = cms.get(&format!("{name}-greeting")).await.unwrap();
    assert_eq!(cm.data.unwrap()["greeting"], "Hello, operators!");

    // An empty message passes the schema; the operator says what is wrong.
    api.patch(
        &name,
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"message": " "}})),
    )
    .await
    .unwrap();
    let g = wait_for(&api, &name, WAIT, |g| {
        ready_status(g).as_deref() == Some("False")
    })
    .await
    .unwrap()
    .unwrap();
    let ready = g
        .status
        .unwrap()
        .conditions
        .into_iter()
        .find(|c| c.type_ == "Ready")
        .unwrap();
    // A permanent error (retrying cannot fix the spec): its reason, not
    // ReconcileFailed, which is the reason of transient errors.
    assert_eq!(ready.reason, "InvalidSpec");
    assert!(ready.message.contains("spec.message is empty"), "{ready:?}");
    let event = e2e::support::wait_for_event(&env.api::<Event>(), &name, "InvalidSpec", WAIT).await;
    assert_eq!(event.type_.as_deref(), Some("Warning"));
    // Nothing was lost: the ConfigMap still holds the last good greeting.
    let cm = cms.get(&format!("{name}-greeting")).await.unwrap();
    assert_eq!(cm.data.unwrap()["greeting"], "Hello, operators!");

    // Fixed, it converges; deleted, it cleans up.
    api.patch(
        &name,
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"message": "Hi"}})),
    )
    .await
    .unwrap();
    wait_for(
        &cms,
        &format!("{name}-greeting"),
        WAIT,
        |c: Option<&ConfigMap>| {
            c.and_then(|c| c.data.as_ref())
                .is_some_and(|d| d["greeting"] == "Hi, operators!")
        },
    )
    .await
    .unwrap();
    wait_for(&api, &name, WAIT, |g| {
        ready_status(g).as_deref() == Some("True")
    })
    .await
    .unwrap();
    api.delete(&name, &DeleteParams::default()).await.unwrap();
    wait_for(&api, &name, WAIT, |g: Option<&Greeting>| g.is_none())
        .await
        .unwrap();
    wait_for(
        &cms,
        &format!("{name}-greeting"),
        WAIT,
        |c: Option<&ConfigMap>| c.is_none(),
    )
    .await
    .unwrap();
    run.stop().await;
    env.stop().await;
}
