//! ingress-operator as its ServiceAccount under the embedded server's RBAC,
//! with the ClusterRole and Roles of `manifests/ingress-operator/` (its
//! Roles bound in the test's namespace, which plays ingress-nginx's): the
//! server refuses nothing while an IngressConfig is mapped, changed and
//! deleted (with leader election on); every rule is needed and every verb
//! used (except the documented conflict and repeat paths); without any one
//! rule the server refuses a request the operator makes. The patch rules
//! name ingress-nginx's objects: an IngressConfig naming others is refused
//! by the server, and says so.
//!
//! The server keeps its authorization decisions for these tests; against a
//! real cluster they are skipped, and the cluster's own RBAC judges
//! ingress-operator's other tests (which all run as its ServiceAccount).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use apiextensions::IngressConfig;
use apiextensions::core::ingress_config::Protocol::{Tcp, Udp};
use e2e::ingress::{
    VERSION, WAIT, controller_objects, create, env, ingress_config, start_as, wait_settled,
};
use e2e::rbac::{
    Roles, assert_enough_and_used, decisions_of, expect_refusal, forget_leader, refused_for,
    rules_of, without_rule_identity,
};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{DeleteParams, Patch, PatchParams, PostParams};
use operatorkit::testing::{TestEnv, wait_for};
use serde_json::json;

/// Paths a run does not reliably take: re-reads after a conflict or a
/// refused apply, the series of a repeated Event.
const ONLY_ON_CONFLICT_OR_REPEAT: [(&str, &str, &str); 5] = [
    ("core.operatorkit.dev", "ingressconfigs", "get"),
    ("core.operatorkit.dev", "ingressconfigs/status", "get"),
    ("", "configmaps", "get"),
    ("", "services", "get"),
    ("events.k8s.io", "events", "patch"),
];

/// An environment whose server keeps its authorization decisions, with the
/// ingress controller's objects, and the roles of
/// `manifests/ingress-operator/`; `None` against a real cluster.
async fn recording_env() -> Option<(TestEnv, Roles)> {
    let env = env().await;
    env.embedded()?.authorizer().start_recording();
    controller_objects(&env).await;
    Some((env, e2e::manifests::rbac_roles("ingress-operator")))
}

/// Maps an IngressConfig (a TCP and a UDP port), changes it, deletes it;
/// waits for each step.
async fn exercise(env: &TestEnv, name: &str) {
    let api = env.api::<IngressConfig>();
    create(
        env,
        &ingress_config(
            env,
            name,
            name,
            &[(31000, 30010, Tcp), (31000, 30011, Udp)],
            VERSION,
        ),
    )
    .await;
    wait_settled(env, name, 1, "Mapped").await;
    let change = json!({"spec": {"protocolPorts": [{"ingressPort": 30010, "lbPort": 31001, "protocol": "TCP"}]}});
    api.patch(name, &PatchParams::default(), &Patch::Merge(&change))
        .await
        .unwrap();
    wait_settled(env, name, 2, "Mapped").await;
    api.delete(name, &DeleteParams::default()).await.unwrap();
    wait_for(&api, name, WAIT, |c| c.is_none()).await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn the_manifests_roles_are_enough_and_every_verb_is_used() {
    let Some((env, roles)) = recording_env().await else {
        eprintln!("skipped: reads the embedded server's authorization decisions");
        return;
    };
    let identity = env
        .service_account("ingress-operator", roles.0.clone(), roles.1.clone())
        .await
        .unwrap();
    let run = start_as(&env, &identity, VERSION, true).await;
    exercise(&env, "rbac01").await;
    run.stop().await;
    let decisions = decisions_of(&env, &identity.user());
    let granted = rules_of(&roles, env.namespace());
    assert_enough_and_used(&decisions, &granted, &ONLY_ON_CONFLICT_OR_REPEAT);
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn without_any_one_rule_the_server_refuses_the_operator() {
    let Some((env, roles)) = recording_env().await else {
        eprintln!("skipped: reads the embedded server's authorization decisions");
        return;
    };
    let granted = rules_of(&roles, env.namespace());
    for (i, removed) in granted.iter().enumerate() {
        let identity = without_rule_identity(&env, &roles, i, "ingress-operator").await;
        let run = start_as(&env, &identity, VERSION, true).await;
        let name = format!("without{i:02}");
        let config = ingress_config(
            &env,
            &name,
            &name,
            &[(31100 + i as i32, 30010, Tcp)],
            VERSION,
        );
        create(&env, &config).await;
        let refused = refused_for(&env, &identity.user(), removed, Duration::from_secs(30)).await;
        run.stop().await;
        expect_refusal(removed, refused);
        // Cleaned up by an operator with every rule, for the next round.
        let full = env
            .service_account(
                &format!("ingress-operator-full-{i}"),
                roles.0.clone(),
                roles.1.clone(),
            )
            .await
            .unwrap();
        forget_leader(&env, &ingress_operator::OPERATOR).await;
        let cleaner = start_as(&env, &full, VERSION, false).await;
        let api = env.api::<IngressConfig>();
        api.delete(&name, &DeleteParams::default()).await.unwrap();
        wait_for(&api, &name, WAIT, |c| c.is_none()).await.unwrap();
        cleaner.stop().await;
    }
    env.stop().await;
}

/// The patch rules name ingress-nginx's objects: an IngressConfig that
/// names another ConfigMap in the namespace is refused by the server, and
/// its status says so; the ConfigMap is untouched.
#[tokio::test(flavor = "multi_thread")]
async fn objects_the_roles_do_not_name_are_refused_by_the_server() {
    let env = env().await;
    controller_objects(&env).await;
    let other: ConfigMap =
        serde_json::from_value(json!({"metadata": {"name": "someone-elses"}})).unwrap();
    env.api::<ConfigMap>()
        .create(&PostParams::default(), &other)
        .await
        .unwrap();
    let run = e2e::ingress::start(&env).await;
    let mut config = ingress_config(&env, "foreign", "abc12", &[(31000, 30010, Tcp)], VERSION);
    config.spec.host_cluster.ingress_controller.config_map = "someone-elses".into();
    create(&env, &config).await;
    let refused = wait_for(&env.api::<IngressConfig>(), "foreign", WAIT, |c| {
        e2e::ingress::condition_of(c, "Ready").is_some_and(|r| r.message.contains("forbidden"))
    })
    .await
    .unwrap()
    .unwrap();
    let ready = e2e::ingress::condition(&refused, "Ready").unwrap();
    assert_eq!(ready.status, "False");
    let untouched = env.api::<ConfigMap>().get("someone-elses").await.unwrap();
    assert!(untouched.data.is_none());
    run.stop().await;
    env.stop().await;
}
