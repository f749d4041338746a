//! aws-operator crashing at every AWS write of a cluster's creation and
//! deletion, and at its writes to the API server (the CertConfigs, the
//! kubeconfig Secret), then started again: it converges, with nothing made
//! twice and nothing left behind.
//!
//! A crash at an AWS write is exact: the loopback fault proxy lets moto do
//! the call and never answers it ([`Fault::Hold`]), so AWS has acted and
//! the operator has not seen it. A crash at an API write comes as soon as
//! the test sees the write (the first CertConfig of five, the kubeconfig
//! Secret made or gone). Either way the operator is killed (no shutdown,
//! no cleanup) and a new one started, as the same ServiceAccount under the
//! roles of `manifests/aws-operator/`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use apiextensions::certificates::kubeconfig_secret_name;
use apiextensions::{AWSConfig, CertConfig};
use aws_operator::names;
use e2e::aws::{self, create, wait_gone, wait_reason};
use e2e::aws_proxy::{Fault, FaultProxy};
use k8s_openapi::api::core::v1::Secret;
use kube::api::DeleteParams;
use operatorkit::testing::{OperatorRun, ServiceAccountIdentity, TestEnv};

/// The AWS writes of a creation, in the order the steps make them.
const CREATION: [&str; 8] = [
    "CreateKey",
    "CreateAlias",
    "s3 CreateBucket",
    "s3 PutBucketEncryption",
    "s3 PutPublicAccessBlock",
    "s3 PutBucketTagging",
    "s3 PutObject",
    "CreateStack",
];

/// The AWS writes of a deletion, in order (the stack first, the sweep of
/// what moto's DeleteStack leaves, then the bucket's boot configurations,
/// the bucket and the key).
const DELETION: [&str; 6] = [
    "DeleteStack",
    "DeleteNatGateway",
    "DeleteVpc",
    "s3 DeleteObject",
    "s3 DeleteBucket",
    "ScheduleKeyDeletion",
];

struct Crashing {
    env: TestEnv,
    moto: aws::Aws,
    proxy: FaultProxy,
    identity: ServiceAccountIdentity,
    secret: String,
}

impl Crashing {
    async fn new() -> Self {
        let (env, moto) = aws::env().await;
        let proxy = FaultProxy::start(moto.endpoint()).await;
        let (cluster_roles, roles) = e2e::manifests::rbac_roles("aws-operator");
        let identity = env
            .service_account(&env.name("aws-operator"), cluster_roles, roles)
            .await
            .unwrap();
        let secret = env.name("aws-creds");
        aws::credentials(&env, &secret, &aws::moto_credentials()).await;
        Self {
            env,
            moto,
            proxy,
            identity,
            secret,
        }
    }

    async fn start(&self) -> OperatorRun {
        aws::start_as(&self.env, &self.proxy.endpoint(), &self.identity, false).await
    }

    /// Holds the next `action`, waits until the operator made it, kills
    /// the operator, and starts a new one.
    async fn crash_at(&self, run: OperatorRun, action: &str) -> OperatorRun {
        let held = self.proxy.served().get(action).copied().unwrap_or(0);
        self.proxy.inject(action, 1, Fault::Hold);
        let deadline = tokio::time::Instant::now() + aws::WAIT;
        while self.proxy.served().get(action).copied().unwrap_or(0) == held {
            assert!(
                tokio::time::Instant::now() < deadline,
                "the operator never called {action}: {:?}",
                self.proxy.calls()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        // Let moto finish the call the proxy passed on.
        tokio::time::sleep(Duration::from_millis(300)).await;
        run.kill();
        self.start().await
    }

    /// Waits until `seen` says the operator made the write `what`, kills
    /// the operator at once, and starts a new one.
    async fn crash_when<F, Fut>(&self, run: OperatorRun, what: &str, seen: F) -> OperatorRun
    where
        F: Fn() -> Fut,
        Fut: Future<Output = bool>,
    {
        let deadline = tokio::time::Instant::now() + aws::WAIT;
        while !seen().await {
            assert!(
                tokio::time::Instant::now() < deadline,
                "the operator never made {what}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        run.kill();
        self.start().await
    }

    /// How many CertConfigs of `cluster` exist.
    async fn cert_configs(&self, cluster: &str) -> usize {
        let all = self.env.api::<CertConfig>().list(&Default::default()).await;
        all.unwrap()
            .items
            .iter()
            .filter(|c| c.spec.cluster_id == cluster)
            .count()
    }

    /// Whether `cluster`'s kubeconfig Secret exists.
    async fn kubeconfig(&self, cluster: &str) -> bool {
        let secrets = self.env.api::<Secret>();
        let found = secrets.get_opt(&kubeconfig_secret_name(cluster)).await;
        found.unwrap().is_some()
    }

    /// The cluster's KMS keys that are not pending deletion.
    async fn live_keys(&self, cluster: &str) -> usize {
        let account = aws::account(&self.moto).await;
        let keys = account.kms.list_keys().send().await.unwrap();
        let mut n = 0;
        for k in keys.keys() {
            let id = k.key_id().unwrap();
            let tags = account.kms.list_resource_tags().key_id(id).send().await;
            let ours = tags.is_ok_and(|t| t.tags().iter().any(|t| t.tag_value() == cluster));
            let d = account.kms.describe_key().key_id(id).send().await.unwrap();
            let state = d.key_metadata().unwrap().key_state().cloned();
            if ours && state != Some(aws_sdk_kms::types::KeyState::PendingDeletion) {
                n += 1;
            }
        }
        n
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_crash_after_every_write_of_a_creation_converges_to_one_of_everything() {
    let c = Crashing::new().await;
    let mut run = c.start().await;
    for (i, action) in CREATION.iter().enumerate() {
        let cluster = aws::cluster_id(&c.env, &format!("c{i}"));
        let name = c.env.name(&format!("c{i}"));
        create(&c.env, &aws::aws_config(&c.env, &name, &cluster, &c.secret)).await;
        run = c.crash_at(run, action).await;
        let ready = wait_reason(&c.env, &name, "Ready", "Reconciled").await;
        let status = ready.status.unwrap();
        assert_eq!(
            status.stacks[0].status, "CREATE_COMPLETE",
            "crash at {action}"
        );
        assert_eq!(
            c.live_keys(&cluster).await,
            1,
            "one key after a crash at {action}"
        );
        let account = aws::account(&c.moto).await;
        let stacks = account
            .cloudformation
            .describe_stacks()
            .send()
            .await
            .unwrap();
        let of_cluster = stacks
            .stacks()
            .iter()
            .filter(|s| s.stack_name() == Some(names::stack(&cluster, "guest").as_str()))
            .count();
        assert_eq!(of_cluster, 1, "one stack after a crash at {action}");
    }
    run.stop().await;
    c.env.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_crash_after_every_write_of_a_deletion_converges_to_nothing_left() {
    let c = Crashing::new().await;
    let mut run = c.start().await;
    for (i, action) in DELETION.iter().enumerate() {
        let cluster = aws::cluster_id(&c.env, &format!("d{i}"));
        let name = c.env.name(&format!("d{i}"));
        create(&c.env, &aws::aws_config(&c.env, &name, &cluster, &c.secret)).await;
        wait_reason(&c.env, &name, "Ready", "Reconciled").await;
        c.env
            .api::<AWSConfig>()
            .delete(&name, &DeleteParams::default())
            .await
            .unwrap();
        run = c.crash_at(run, action).await;
        wait_gone(&c.env, &name).await;
        assert_eq!(
            aws::tagged_leftovers(&c.moto, &cluster).await,
            Vec::<String>::new(),
            "after a crash at {action}"
        );
        assert_eq!(c.live_keys(&cluster).await, 0, "after a crash at {action}");
        let account = aws::account(&c.moto).await;
        let bucket = names::bucket(&cluster, "123456789012");
        let head = account.s3.head_bucket().bucket(&bucket).send().await;
        assert!(head.is_err(), "bucket left after a crash at {action}");
    }
    run.stop().await;
    c.env.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_crash_after_each_api_write_converges() {
    let c = Crashing::new().await;
    let mut run = c.start().await;

    // Creation: killed after the first CertConfig, then after the
    // kubeconfig Secret; Ready with five CertConfigs and the kubeconfig.
    let cluster = aws::cluster_id(&c.env, "a");
    let name = c.env.name("a");
    create(&c.env, &aws::aws_config(&c.env, &name, &cluster, &c.secret)).await;
    run = c
        .crash_when(run, "a CertConfig", || async {
            c.cert_configs(&cluster).await > 0
        })
        .await;
    run = c
        .crash_when(run, "the kubeconfig Secret", || c.kubeconfig(&cluster))
        .await;
    wait_reason(&c.env, &name, "Ready", "Reconciled").await;
    assert_eq!(c.cert_configs(&cluster).await, 5, "one CertConfig each");
    assert!(c.kubeconfig(&cluster).await);

    // Deletion: killed once the kubeconfig Secret is gone, then once the
    // first CertConfig is; nothing of the cluster is left.
    c.env
        .api::<AWSConfig>()
        .delete(&name, &DeleteParams::default())
        .await
        .unwrap();
    run = c
        .crash_when(run, "the kubeconfig Secret's deletion", || async {
            !c.kubeconfig(&cluster).await
        })
        .await;
    run = c
        .crash_when(run, "a CertConfig's deletion", || async {
            c.cert_configs(&cluster).await < 5
        })
        .await;
    wait_gone(&c.env, &name).await;
    // cert-operator's finalizer may keep the last ones a moment longer.
    let deadline = tokio::time::Instant::now() + aws::WAIT;
    while c.cert_configs(&cluster).await > 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "CertConfigs of a deleted cluster left"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(!c.kubeconfig(&cluster).await);
    assert_eq!(
        aws::tagged_leftovers(&c.moto, &cluster).await,
        Vec::<String>::new()
    );
    run.stop().await;
    c.env.stop().await;
}
