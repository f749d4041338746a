//! aws-operator's guest stack through a loopback fault proxy in front of
//! moto, which counts every AWS call and makes what moto cannot: a stack
//! that stays in progress, a stack that fails, throttling, 5xx answers and
//! reset connections. The operator runs as its ServiceAccount under the
//! roles of `manifests/aws-operator/`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use apiextensions::AWSConfig;
use aws_operator::names;
use aws_operator::stack::{STACK_READY, reasons};
use e2e::aws::{self, create, wait_reason};
use e2e::aws_proxy::{Fault, FaultProxy, failed_events, is_write, since};
use kube::api::{Patch, PatchParams};
use operatorkit::testing::{TestEnv, wait_for};
use serde_json::json;

/// A new AWSConfig `prefix` of the example, its credentials Secret made;
/// returns its name and cluster ID.
async fn new_cluster(env: &TestEnv, prefix: &str) -> (String, String) {
    let secret = env.name(&format!("{prefix}-creds"));
    aws::credentials(env, &secret, &aws::moto_credentials()).await;
    let cluster = aws::cluster_id(env, prefix);
    let name = env.name(prefix);
    create(env, &aws::aws_config(env, &name, &cluster, &secret)).await;
    (name, cluster)
}

#[tokio::test(flavor = "multi_thread")]
async fn steady_state_writes_nothing_and_a_changed_spec_updates_the_stack_once() {
    let (env, moto) = aws::env().await;
    let proxy = FaultProxy::start(moto.endpoint()).await;
    let (run, metrics) = aws::start_counted(&env, &proxy.endpoint()).await;
    let (name, cluster) = new_cluster(&env, "u").await;
    wait_reason(&env, &name, "Ready", "Reconciled").await;
    assert_eq!(proxy.calls().get("CreateStack"), Some(&1));

    // Steady state: a reconcile reads, and writes nothing in AWS.
    let before = proxy.calls();
    aws::touch(&env, &name, "1").await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let calls = since(&proxy.calls(), &before);
    assert!(
        calls.contains_key("DescribeStacks"),
        "reconciled: {calls:?}"
    );
    let writes: Vec<_> = calls.keys().filter(|a| is_write(a)).collect();
    assert!(writes.is_empty(), "AWS writes in steady state: {writes:?}");

    // One worker more: one UpdateStack, the group grows to four.
    let before = proxy.calls();
    let api = env.api::<AWSConfig>();
    let mut config = api.get(&name).await.unwrap();
    config.spec.workers.push(config.spec.workers[0].clone());
    let patch = json!({"spec": {"workers": config.spec.workers}});
    api.patch(&name, &PatchParams::default(), &Patch::Merge(patch))
        .await
        .unwrap();
    let four = wait_for(&api, &name, aws::WAIT, |c| {
        c.and_then(|c| c.status.as_ref())
            .is_some_and(|s| s.ready_workers == Some(4))
    })
    .await
    .unwrap()
    .unwrap();
    let status = four.status.unwrap();
    assert_eq!(status.stacks[0].status, "UPDATE_COMPLETE");
    tokio::time::sleep(Duration::from_secs(3)).await;
    let calls = since(&proxy.calls(), &before);
    assert_eq!(calls.get("UpdateStack"), Some(&1), "{calls:?}");
    assert_eq!(calls.get("CreateStack"), None, "{calls:?}");
    let moto_account = aws::account(&moto).await;
    let stack = moto_account
        .cloudformation
        .describe_stacks()
        .stack_name(names::stack(&cluster, "guest"))
        .send()
        .await
        .unwrap();
    let hash = stack.stacks()[0]
        .tags()
        .iter()
        .find(|t| t.key() == Some(names::TEMPLATE_HASH_TAG))
        .and_then(|t| t.value())
        .map(str::to_owned);
    assert_eq!(
        hash, status.stacks[0].hash,
        "the hash asked for is the stack's"
    );

    // The operator's metric counts what the proxy saw, for this cluster;
    // once the cluster is deleted its series are gone.
    let counted = |cluster: &str| -> u64 {
        run.metrics()
            .registry()
            .gather()
            .iter()
            .filter(|f| f.name() == "aws_operator_aws_calls_total")
            .flat_map(|f| f.get_metric())
            .filter(|m| m.get_label().iter().any(|l| l.value() == cluster))
            .map(|m| m.get_counter().get_value() as u64)
            .sum()
    };
    let proxied: usize = proxy.calls().values().sum();
    assert_eq!(counted(&cluster), proxied as u64, "{:?}", proxy.calls());
    aws::delete(&env, &name).await;
    assert_eq!(counted(&cluster), 0, "series of a deleted cluster");

    // Everything the operator called in this life of a cluster (creation,
    // an update, deletion and the sweep) is allowed by the IAM policy of
    // manifests/aws-operator/.
    let policy = aws::iam_policy_actions();
    let needed: Vec<String> = metrics
        .operations()
        .iter()
        .map(|(service, op)| aws::iam_action(service, op))
        .collect();
    for service in ["cloudformation", "ec2", "kms", "s3", "route53", "sts"] {
        assert!(
            needed.iter().any(|a| a.starts_with(&format!("{service}:"))),
            "no {service} call seen: {needed:?}"
        );
    }
    let missing: Vec<_> = needed
        .iter()
        .filter(|a| !aws::allowed(&policy, a))
        .collect();
    assert!(missing.is_empty(), "not in iam-policy.json: {missing:?}");
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stack_in_progress_is_polled_and_a_failed_one_is_reported_with_its_reason() {
    let (env, moto) = aws::env().await;
    let proxy = FaultProxy::start(moto.endpoint()).await;
    let _run = aws::start_at(&env, &proxy.endpoint()).await;

    // In progress for three looks: reported, then Ready.
    let in_progress = Fault::SetTag {
        tag: "StackStatus",
        value: "CREATE_IN_PROGRESS".into(),
    };
    proxy.inject("DescribeStacks", 3, in_progress);
    let (name, _) = new_cluster(&env, "p").await;
    let polled = wait_reason(&env, &name, STACK_READY, "CREATE_IN_PROGRESS").await;
    let ready = aws::condition(Some(&polled), "Ready").unwrap();
    assert_eq!(ready.status, "False");
    wait_reason(&env, &name, "Ready", "Reconciled").await;
    assert_eq!(proxy.served().get("DescribeStacks"), Some(&3));

    // Failed, with a resource's reason in the stack events: Ready=False
    // StackFailed naming both, and not retried.
    let (failing, cluster) = new_cluster(&env, "f").await;
    let stack = names::stack(&cluster, "guest");
    let reason = "The image id '[ami-0123456789abcdef0]' does not exist";
    let rolled_back = Fault::SetTag {
        tag: "StackStatus",
        value: "ROLLBACK_COMPLETE".into(),
    };
    proxy.inject("DescribeStacks", usize::MAX, rolled_back);
    let events = failed_events(&stack, "Master0", "AWS::EC2::Instance", reason);
    proxy.inject("DescribeStackEvents", usize::MAX, Fault::Answer(events));
    let failed = wait_reason(&env, &failing, "Ready", reasons::STACK_FAILED).await;
    let message = &aws::condition(Some(&failed), "Ready").unwrap().message;
    assert!(
        message.contains("ROLLBACK_COMPLETE")
            && message.contains("Master0 (AWS::EC2::Instance) CREATE_FAILED")
            && message.contains(reason)
            && message.contains("fix the spec"),
        "{message}"
    );
    let stack_ready = aws::condition(Some(&failed), STACK_READY).unwrap();
    assert_eq!(stack_ready.reason, reasons::STACK_FAILED);
    let before = proxy.calls();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let calls = since(&proxy.calls(), &before);
    assert!(
        !calls.keys().any(|a| is_write(a)),
        "a failed stack is not retried by itself: {calls:?}"
    );

    // Healed (the stack was fine in moto all along) and touched: Ready.
    proxy.heal();
    aws::touch(&env, &failing, "1").await;
    wait_reason(&env, &failing, "Ready", "Reconciled").await;
    aws::delete(&env, &failing).await;
    aws::delete(&env, &name).await;
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn throttling_server_errors_and_resets_are_survived() {
    let (env, moto) = aws::env().await;
    let proxy = FaultProxy::start(moto.endpoint()).await;
    let _run = aws::start_at(&env, &proxy.endpoint()).await;
    // More throttles than the SDK's three attempts: the step fails and
    // operatorkit's backoff tries again.
    proxy.inject("CreateStack", 4, Fault::Throttle);
    proxy.inject("DescribeStacks", 2, Fault::Unavailable);
    proxy.inject("CreateKey", 1, Fault::Reset);
    let (name, cluster) = new_cluster(&env, "t").await;
    let ready = wait_reason(&env, &name, "Ready", "Reconciled").await;
    let served = proxy.served();
    assert_eq!(served.get("CreateStack"), Some(&4));
    assert_eq!(served.get("DescribeStacks"), Some(&2));
    assert_eq!(served.get("CreateKey"), Some(&1));
    assert_eq!(proxy.calls().get("CreateStack"), Some(&5), "one stack made");
    assert_eq!(ready.status.unwrap().ready_masters, Some(3));

    // Deletion through throttling too: nothing tagged is left.
    proxy.inject("DeleteStack", 2, Fault::Throttle);
    proxy.inject("DeleteVpc", 4, Fault::Throttle);
    aws::delete(&env, &name).await;
    assert_eq!(
        aws::tagged_leftovers(&moto, &cluster).await,
        Vec::<String>::new()
    );
    env.stop().await;
}
