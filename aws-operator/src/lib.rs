//! aws-operator: runs a guest cluster on AWS as CloudFormation stacks,
//! reconciling `AWSConfig`.
//!
//! It reaches the account with the AWSConfig's credentials (checked with
//! STS), asks cert-operator for the cluster's certificates, keeps the
//! cluster's KMS key, its encrypted S3 bucket with the nodes' boot
//! configurations, the guest stack (created, updated on a changed hash,
//! polled without blocking, failures reported from the stack events) and
//! the host-side peering stack, writes the admin kubeconfig Secret, and
//! deletes backwards, sweeping what the stack left. The binary runs the
//! operator (`run`, `crd`).
//!
//! ```text
//!   lib (operator) ─── AWSConfig, its finalizer, the steps in order:
//!   access ─────────── credentials Secret → account (STS), CredentialsValid
//!   certificates ───── the CertConfigs (operatorkit `children`)
//!   pki ────────────── waits for their Secrets, CertificatesReady
//!   encryption ─────── KMS key alias/operatorkit/<id>, EncryptionKeyReady
//!   bucket ─────────── S3 <id>-<account>-boot, SSE-KMS, BucketReady
//!   boot ───────────── boot/master-<i>.json, boot/worker.json, BootConfigReady
//!   stack ──────────── CloudFormation <id>-guest (StackReady, status),
//!      │                then <id>-host (HostStackReady) when peered
//!      ├── nodes ───── ready masters and workers (EC2, Auto Scaling)
//!      └── sweep ───── after deletion: what is still tagged, in order
//!   kubeconfig ─────── Secret <id>-kubeconfig (key `value`)
//!   guest_stack ────── the guest cluster's template (pure)
//!   host_stack ─────── the peering with vpc.peerID (pure)
//!   template,
//!   resources ──────── typed CloudFormation values (pure)
//!   aws ────────────── SDK clients, endpoint, timeouts, error → step error
//!   calls ──────────── AWS calls counted per cluster, rate-limited per account
//!   credentials ────── the Secret's keys (pure)
//!   names ──────────── names and tags in AWS (pure)
//!   settings ───────── the command line
//! ```

#![forbid(unsafe_code)]

pub mod access;
pub mod aws;
pub mod boot;
pub mod bucket;
pub mod calls;
pub mod credentials;
pub mod encryption;
pub mod guest_stack;
pub mod host_stack;
pub mod kubeconfig;
pub mod names;
pub mod nodes;
pub mod pki;
pub mod resources;
pub mod settings;
pub mod stack;
pub mod sweep;
pub mod template;

use apiextensions::certificates::ClusterIndex;
use apiextensions::keys::{AWS_OPERATOR, CLUSTER_LABEL, OperatorName};
use apiextensions::{AWSConfig, CertConfig};
use k8s_openapi::api::core::v1::Secret;
use kube::runtime::watcher;
use operatorkit::Operator;

use crate::access::{Access, Accounts};
use crate::aws::Connector;
use crate::boot::{Boot, PruneBoot};
use crate::bucket::Bucket;
use crate::calls::CallMetrics;
use crate::encryption::Encryption;
use crate::kubeconfig::AdminKubeconfig;
use crate::pki::Issued;
use crate::settings::AwsArgs;
use crate::stack::{StackKind, Stacks};

/// This operator.
pub const OPERATOR: OperatorName = AWS_OPERATOR;

/// aws-operator at `version`, configured by `flags`, its AWS calls counted
/// in `metrics` (registered with the operator's).
pub fn operator(version: &str, flags: AwsArgs, metrics: CallMetrics) -> Operator<AWSConfig> {
    let connector = Connector::new(
        flags.endpoint_url.clone(),
        flags.aws_timeout,
        flags.aws_rate,
        metrics.clone(),
    );
    let accounts = Accounts::new(connector, metrics.clone());
    let index = ClusterIndex::<AWSConfig>::default();
    let secrets = index.clone();
    let cert_operator = flags
        .cert_operator_version
        .clone()
        .unwrap_or_else(|| version.to_owned());
    Operator::new(OPERATOR, version)
        .metrics(move |registry| metrics.register(registry))
        .step(Access::new(accounts.clone(), flags.recheck))
        .children::<CertConfig>("certificates", move |cx| {
            pki::cert_configs(cx.object(), &cert_operator)
        })
        .step(Issued::new(index))
        .step(Encryption::new(accounts.clone(), version))
        .step(Bucket::new(accounts.clone(), version))
        .step(Boot::new(accounts.clone()))
        .step(Stacks::new(StackKind::Guest, accounts.clone(), version))
        .step(Stacks::new(StackKind::Host, accounts.clone(), version))
        .step(PruneBoot::new(accounts))
        .step(AdminKubeconfig)
        // The certificate Secrets cert-operator writes (labelled with
        // their cluster), found through the index; and the kubeconfig
        // Secret, which carries the label too.
        .watches_all_namespaces::<Secret>(
            watcher::Config::default().labels(CLUSTER_LABEL),
            move |s| secrets.of_secret(s),
        )
}
