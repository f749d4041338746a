//! aws-operator as its ServiceAccount under the embedded server's RBAC, with
//! the ClusterRole and the leader-election Role of `manifests/aws-operator/`:
//! the server refuses nothing while an AWSConfig becomes Ready and is
//! deleted (with leader election on); every rule is needed and every verb
//! used (except the documented conflict and repeat paths); without any one
//! rule the server refuses a request the operator makes. Against a real
//! cluster these are skipped (they read the embedded server's decisions).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use apiextensions::AWSConfig;
use e2e::aws::{self, create, start_as, wait_gone, wait_reason};

use e2e::rbac::{
    Roles, assert_enough_and_used, decisions_of, expect_refusal, forget_leader, refused_for,
    rules_of, without_rule_identity,
};
use kube::api::DeleteParams;
use operatorkit::testing::TestEnv;

/// Paths a run does not reliably take: re-reads after a conflict, the
/// series of a repeated Event.
const ONLY_ON_CONFLICT_OR_REPEAT: [(&str, &str, &str); 4] = [
    ("provider.operatorkit.dev", "awsconfigs", "get"),
    ("provider.operatorkit.dev", "awsconfigs/status", "get"),
    ("core.operatorkit.dev", "certconfigs", "get"),
    ("events.k8s.io", "events", "patch"),
];

/// An environment whose server keeps its authorization decisions, moto,
/// the roles of `manifests/aws-operator/`, and moto's credentials Secret.
async fn recording_env() -> Option<(TestEnv, aws::Aws, Roles, String)> {
    let (env, moto) = aws::env().await;
    env.embedded()?.authorizer().start_recording();
    let secret = env.name("aws-creds");
    aws::credentials(&env, &secret, &aws::moto_credentials()).await;
    Some((
        env,
        moto,
        e2e::manifests::rbac_roles("aws-operator"),
        secret,
    ))
}

#[tokio::test(flavor = "multi_thread")]
async fn the_manifests_roles_are_enough_and_every_verb_is_used() {
    let Some((env, moto, roles, secret)) = recording_env().await else {
        eprintln!("skipped: reads the embedded server's authorization decisions");
        return;
    };
    let identity = env
        .service_account("aws-operator", roles.0.clone(), roles.1.clone())
        .await
        .unwrap();
    let run = start_as(&env, &moto.endpoint(), &identity, true).await;
    let cluster = aws::cluster_id(&env, "r");
    let name = env.name("aws");
    create(&env, &aws::aws_config(&env, &name, &cluster, &secret)).await;
    wait_reason(&env, &name, "Ready", "Reconciled").await;
    env.api::<AWSConfig>()
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
    let Some((env, moto, roles, secret)) = recording_env().await else {
        eprintln!("skipped: reads the embedded server's authorization decisions");
        return;
    };
    let granted = rules_of(&roles, env.namespace());
    let api = env.api::<AWSConfig>();
    for (i, removed) in granted.iter().enumerate() {
        let identity = without_rule_identity(&env, &roles, i, "aws-operator").await;
        let run = start_as(&env, &moto.endpoint(), &identity, true).await;
        let cluster = aws::cluster_id(&env, "w");
        let name = format!("without{i:02}");
        create(&env, &aws::aws_config(&env, &name, &cluster, &secret)).await;
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
                &format!("aws-operator-full-{i}"),
                roles.0.clone(),
                roles.1.clone(),
            )
            .await
            .unwrap();
        forget_leader(&env, &aws_operator::OPERATOR).await;
        let cleaner = start_as(&env, &moto.endpoint(), &full, false).await;
        api.delete(&name, &DeleteParams::default()).await.ok();
        wait_gone(&env, &name).await;
        cleaner.stop().await;
    }
    env.stop().await;
}
