//! cert-operator as its ServiceAccount under the embedded server's RBAC, with
//! the ClusterRole and Role of `manifests/cert-operator/`: the server refuses
//! nothing while a CertConfig is issued, changed and deleted (with leader
//! election on); every rule is needed (without any one of them the server
//! refuses a request the operator makes) and every verb of every rule is used
//! (except the documented conflict and repeat paths).
//!
//! The server keeps its authorization decisions for these tests
//! (`Handle::authorizer`); against a real cluster they are skipped, and the
//! cluster's own RBAC judges cert-operator's other tests.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use apiextensions::{CertConfig, OperatorStatus};
use e2e::certs::{WAIT, args, certconfig, env, start_as};
use e2e::rbac::{
    Roles, assert_enough_and_used, decisions_of, expect_refusal, forget_leader, refused_for,
    rules_of, without_rule_identity,
};
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use operatorkit::testing::{TestEnv, wait_for};
use serde_json::json;

/// Issues a CertConfig, changes it, deletes it; waits for each step.
async fn exercise(env: &TestEnv, name: &str) {
    let api: Api<CertConfig> = env.api();
    let cluster = env.name("c");
    api.create(
        &PostParams::default(),
        &certconfig(name, &cluster, "api", json!({})),
    )
    .await
    .unwrap();
    let ready_at = |generation: i64| {
        move |c: Option<&CertConfig>| {
            c.and_then(|c| c.status.as_ref())
                .is_some_and(|s| s.observed_generation == Some(generation) && s.is_ready())
        }
    };
    wait_for(&api, name, WAIT, ready_at(1)).await.unwrap();
    let change = json!({"spec": {"commonName": format!("api2.{cluster}.k8s.example.com")}});
    api.patch(name, &PatchParams::default(), &Patch::Merge(&change))
        .await
        .unwrap();
    wait_for(&api, name, WAIT, ready_at(2)).await.unwrap();
    api.delete(name, &DeleteParams::default()).await.unwrap();
    wait_for(&api, name, WAIT, |c| c.is_none()).await.unwrap();
}

/// An environment whose server keeps its authorization decisions, and the
/// roles of `manifests/cert-operator/`; `None` against a real cluster.
async fn recording_env() -> Option<(TestEnv, Roles)> {
    let env = env().await;
    env.embedded()?.authorizer().start_recording();
    Some((env, e2e::manifests::rbac_roles("cert-operator")))
}

/// Grants only the rare paths need: re-reads after a write conflict, the CA
/// Secret after a create that lost a race, the series of a repeated Event.
const ONLY_ON_CONFLICT_OR_REPEAT: [(&str, &str, &str); 4] = [
    ("core.operatorkit.dev", "certconfigs", "get"),
    ("core.operatorkit.dev", "certconfigs/status", "get"),
    ("", "secrets", "get"),
    ("events.k8s.io", "events", "patch"),
];

#[tokio::test(flavor = "multi_thread")]
async fn the_manifests_roles_are_enough_and_every_verb_is_used() {
    let Some((env, roles)) = recording_env().await else {
        eprintln!("skipped: reads the embedded server's authorization decisions");
        return;
    };
    let identity = env
        .service_account("cert-operator", roles.0.clone(), roles.1.clone())
        .await
        .unwrap();
    let run = start_as(&env, &identity, &args("720h"), true).await;
    exercise(&env, "rbac-api").await;
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
        let started = std::time::Instant::now();
        let identity = without_rule_identity(&env, &roles, i, "cert-operator").await;
        let run = start_as(&env, &identity, &args("720h"), true).await;
        let api: Api<CertConfig> = env.api();
        let name = format!("rbac-without-{i}");
        api.create(
            &PostParams::default(),
            &certconfig(&name, &env.name("c"), "api", json!({})),
        )
        .await
        .unwrap();
        let refused_for_it =
            refused_for(&env, &identity.user(), removed, Duration::from_secs(30)).await;
        run.stop().await;
        expect_refusal(removed, refused_for_it);
        eprintln!("  after {:?}", started.elapsed());
        api.delete(&name, &DeleteParams::default()).await.ok();
        forget_leader(&env, &cert_operator::OPERATOR).await;
    }
    env.stop().await;
}

/// An operator whose watch RBAC refuses never listed anything, so it has no
/// loop to finish: it stops at once instead of waiting out its shutdown
/// timeout (it used to wait all 25 s of the default).
#[tokio::test(flavor = "multi_thread")]
async fn an_operator_refused_its_watch_stops_at_once() {
    let env = env().await;
    let (mut cluster_roles, roles) = e2e::manifests::rbac_roles("cert-operator");
    for role in &mut cluster_roles {
        // Without the CertConfig rule (the first): the main watch is refused.
        role.rules = role.rules.take().map(|r| r.into_iter().skip(1).collect());
    }
    let identity = env
        .service_account("refused", cluster_roles, roles)
        .await
        .unwrap();
    let op = cert_operator::operator(
        e2e::certs::VERSION,
        args("720h").backend().unwrap(),
        args("720h").settings(),
    )
    .unwrap();
    let settings = operatorkit::Settings {
        shutdown_timeout: Duration::from_secs(120),
        ..operatorkit::Settings::default()
    };
    let run = env.run_operator_as(&identity, op, settings).await.unwrap();
    // Stopped well before the 120 s shutdown timeout would end it.
    tokio::time::timeout(Duration::from_secs(30), run.stop())
        .await
        .expect("the operator waited out its shutdown timeout");
    env.stop().await;
}
