//! flannel-operator as its ServiceAccount under the embedded server's RBAC,
//! with the ClusterRole and the leader-election Role of
//! `manifests/flannel-operator/`: the server refuses nothing while a
//! FlannelConfig becomes Ready and is deleted (flanneld, the cleanup, the
//! namespace; with leader election on); every rule is needed and every verb
//! used (except the documented conflict and repeat paths); without any one
//! rule the server refuses a request the operator makes.
//!
//! The server keeps its authorization decisions for these tests; against a
//! real cluster they are skipped, and the cluster's own RBAC judges
//! flannel-operator's other tests (which all run as its ServiceAccount).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use apiextensions::FlannelConfig;
use e2e::etcd::Etcd;
use e2e::flannel::{self, VERSION, create, flannel_config, start_as, wait_ready};
use e2e::rbac::{
    Roles, assert_enough_and_used, decisions_of, expect_refusal, forget_leader, refused_for,
    rules_of, without_rule_identity,
};
use kube::api::DeleteParams;
use operatorkit::testing::TestEnv;

/// Paths a run does not reliably take: re-reads after a conflict, reads the
/// cache could not answer, the series of a repeated Event.
const ONLY_ON_CONFLICT_OR_REPEAT: [(&str, &str, &str); 5] = [
    ("core.operatorkit.dev", "flannelconfigs", "get"),
    ("core.operatorkit.dev", "flannelconfigs/status", "get"),
    ("", "serviceaccounts", "get"),
    ("apps", "daemonsets", "get"),
    ("events.k8s.io", "events", "patch"),
];

/// An environment whose server keeps its authorization decisions, and the
/// roles of `manifests/flannel-operator/`; `None` against a real cluster.
async fn recording_env() -> Option<(TestEnv, Roles)> {
    let env = flannel::env().await;
    env.embedded()?.authorizer().start_recording();
    Some((env, e2e::manifests::rbac_roles("flannel-operator")))
}

#[tokio::test(flavor = "multi_thread")]
async fn the_manifests_roles_are_enough_and_every_verb_is_used() {
    let Some((env, roles)) = recording_env().await else {
        eprintln!("skipped: reads the embedded server's authorization decisions");
        return;
    };
    let etcd = Etcd::start().await.unwrap();
    let identity = env
        .service_account("flannel-operator", roles.0.clone(), roles.1.clone())
        .await
        .unwrap();
    let running = start_as(&env, &identity, VERSION, flannel::args(&etcd), true).await;
    let (_, name) = flannel::created(&env, "r", "10.8.0.0/16", 14).await;
    wait_ready(&env, &name).await;
    let api = env.api::<FlannelConfig>();
    api.delete(&name, &DeleteParams::default()).await.unwrap();
    flannel::wait_gone(&env, &name).await;
    running.run.stop().await;
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
    let etcd = Etcd::start().await.unwrap();
    let granted = rules_of(&roles, env.namespace());
    let api = env.api::<FlannelConfig>();
    for (i, removed) in granted.iter().enumerate() {
        let identity = without_rule_identity(&env, &roles, i, "flannel-operator").await;
        let running = start_as(&env, &identity, VERSION, flannel::args(&etcd), true).await;
        let cluster = flannel::cluster_id(&env, "w");
        let name = format!("without{i:02}");
        let network = format!("10.{}.0.0/16", 100 + i);
        create(
            &env,
            &flannel_config(&name, &cluster, &network, 500 + i as i32, VERSION),
        )
        .await;
        let user = identity.user();
        let mut refused = refused_for(&env, &user, removed, Duration::from_secs(15)).await;
        if refused.is_none() {
            // Rules only the deletion path needs.
            api.delete(&name, &DeleteParams::default()).await.unwrap();
            refused = refused_for(&env, &user, removed, Duration::from_secs(30)).await;
        }
        running.run.stop().await;
        expect_refusal(removed, refused);
        // Cleaned up by an operator with every rule, for the next round.
        let full = env
            .service_account(
                &format!("flannel-operator-full-{i}"),
                roles.0.clone(),
                roles.1.clone(),
            )
            .await
            .unwrap();
        forget_leader(&env, &flannel_operator::OPERATOR).await;
        let cleaner = start_as(&env, &full, VERSION, flannel::args(&etcd), false).await;
        api.delete(&name, &DeleteParams::default()).await.ok();
        flannel::wait_gone(&env, &name).await;
        cleaner.run.stop().await;
    }
    env.stop().await;
}
