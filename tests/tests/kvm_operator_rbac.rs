//! kvm-operator as its ServiceAccount under the embedded server's RBAC,
//! with the ClusterRole and the leader-election Role of
//! `manifests/kvm-operator/`: the server refuses nothing while a KVMConfig
//! becomes Ready, loses a worker and is deleted (with leader election on);
//! every rule is needed and every verb used (except the documented
//! conflict and repeat paths); without any one rule the server refuses a
//! request the operator makes.
//!
//! cert-operator issues the certificates (as its own ServiceAccount); the
//! test marks the FlannelConfig and IngressConfig Ready as their operators
//! would. The server keeps its authorization decisions for these tests;
//! against a real cluster they are skipped, and the cluster's own RBAC
//! judges kvm-operator's other tests (which all run as its ServiceAccount).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use apiextensions::KVMConfig;
use e2e::kvm::{self, create, kvm_config, start_as, wait_gone, wait_ready};
use e2e::rbac::{
    Roles, assert_enough_and_used, decisions_of, expect_refusal, forget_leader, refused_for,
    rules_of, without_rule_identity,
};
use kube::api::DeleteParams;
use operatorkit::testing::TestEnv;

/// Paths a run does not reliably take: re-reads after a conflict, reads the
/// cache could not answer, the series of a repeated Event.
const ONLY_ON_CONFLICT_OR_REPEAT: [(&str, &str, &str); 13] = [
    ("provider.operatorkit.dev", "kvmconfigs", "get"),
    ("provider.operatorkit.dev", "kvmconfigs/status", "get"),
    ("core.operatorkit.dev", "certconfigs", "get"),
    ("core.operatorkit.dev", "flannelconfigs", "get"),
    ("core.operatorkit.dev", "ingressconfigs", "get"),
    ("", "secrets", "get"),
    ("", "serviceaccounts", "get"),
    ("", "services", "get"),
    ("", "persistentvolumeclaims", "get"),
    ("apps", "deployments", "get"),
    ("networking.k8s.io", "ingresses", "get"),
    ("policy", "poddisruptionbudgets", "get"),
    ("events.k8s.io", "events", "patch"),
];

/// An environment whose server keeps its authorization decisions, the
/// roles of `manifests/kvm-operator/`, and cert-operator running.
async fn recording_env() -> Option<(TestEnv, Roles, operatorkit::testing::OperatorRun)> {
    let env = kvm::env().await;
    env.embedded()?.authorizer().start_recording();
    let certs = kvm::start_cert_operator(&env).await;
    Some((env, e2e::manifests::rbac_roles("kvm-operator"), certs))
}

#[tokio::test(flavor = "multi_thread")]
async fn the_manifests_roles_are_enough_and_every_verb_is_used() {
    let Some((env, roles, _certs)) = recording_env().await else {
        eprintln!("skipped: reads the embedded server's authorization decisions");
        return;
    };
    let identity = env
        .service_account("kvm-operator", roles.0.clone(), roles.1.clone())
        .await
        .unwrap();
    let run = start_as(&env, &identity, kvm::args(), true).await;
    let cluster = kvm::cluster_id(&env, "r");
    let name = env.name("kvm");
    create(
        &env,
        &kvm_config(&name, &cluster, 201, &["m1"], &["w1", "w2"], &[31201]),
    )
    .await;
    kvm::serve_network_and_ingress(&env, &cluster).await;
    wait_ready(&env, &name).await;
    // A worker removed: its Deployment, boot Secret go.
    kvm::set_workers(&env, &name, &["w1"]).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    wait_ready(&env, &name).await;
    env.api::<KVMConfig>()
        .delete(&name, &DeleteParams::default())
        .await
        .unwrap();
    wait_gone(&env, &name).await;
    run.stop().await;
    let decisions = decisions_of(&env, &identity.user());
    let granted = rules_of(&roles, env.namespace());
    assert_enough_and_used(&decisions, &granted, &ONLY_ON_CONFLICT_OR_REPEAT);
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn without_any_one_rule_the_server_refuses_the_operator() {
    let Some((env, roles, _certs)) = recording_env().await else {
        eprintln!("skipped: reads the embedded server's authorization decisions");
        return;
    };
    let granted = rules_of(&roles, env.namespace());
    let api = env.api::<KVMConfig>();
    for (i, removed) in granted.iter().enumerate() {
        let identity = without_rule_identity(&env, &roles, i, "kvm-operator").await;
        let run = start_as(&env, &identity, kvm::args(), true).await;
        let cluster = kvm::cluster_id(&env, "w");
        let name = format!("without{i:02}");
        let vni = 300 + i as i32;
        create(
            &env,
            &kvm_config(&name, &cluster, vni, &["m1"], &["w1"], &[31300 + i as i32]),
        )
        .await;
        kvm::serve_when_created(&env, &cluster, Duration::from_secs(20));
        let user = identity.user();
        let mut refused = refused_for(&env, &user, removed, Duration::from_secs(20)).await;
        if refused.is_none() {
            // Rules only the deletion path needs.
            api.delete(&name, &DeleteParams::default()).await.unwrap();
            refused = refused_for(&env, &user, removed, Duration::from_secs(30)).await;
        }
        run.stop().await;
        expect_refusal(removed, refused);
        // Cleaned up by an operator with every rule, for the next round.
        let full = env
            .service_account(
                &format!("kvm-operator-full-{i}"),
                roles.0.clone(),
                roles.1.clone(),
            )
            .await
            .unwrap();
        forget_leader(&env, &kvm_operator::OPERATOR).await;
        let cleaner = start_as(&env, &full, kvm::args(), false).await;
        kvm::serve_when_created(&env, &cluster, Duration::from_secs(20));
        api.delete(&name, &DeleteParams::default()).await.ok();
        wait_gone(&env, &name).await;
        cleaner.stop().await;
    }
    env.stop().await;
}
