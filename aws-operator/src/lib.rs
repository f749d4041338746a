//! aws-operator: runs a guest cluster on AWS as CloudFormation stacks,
//! reconciling `AWSConfig`.
//!
//! **In progress (issue 17).** Built: reaching the account with the
//! AWSConfig's credentials (checked with STS), the cluster's KMS key, its
//! encrypted S3 bucket, the guest stack (created, updated on a changed
//! hash, polled without blocking, failures reported from the stack
//! events), and deletion backwards with a sweep of what the stack left.
//! the host-side peering stack. Not built: the certificates and boot
//! configurations. The binary runs the operator (`run`, `crd`).
//!
//! ```text
//!   lib (operator) ─── AWSConfig, its finalizer, the steps in order:
//!   access ─────────── credentials Secret → account (STS), CredentialsValid
//!   encryption ─────── KMS key alias/operatorkit/<id>, EncryptionKeyReady
//!   bucket ─────────── S3 <id>-<account>-boot, SSE-KMS, BucketReady
//!   stack ──────────── CloudFormation <id>-guest (StackReady, status),
//!      │                then <id>-host (HostStackReady) when peered
//!      ├── nodes ───── ready masters and workers (EC2, Auto Scaling)
//!      └── sweep ───── after deletion: what is still tagged, in order
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
pub mod bucket;
pub mod calls;
pub mod credentials;
pub mod encryption;
pub mod guest_stack;
pub mod host_stack;
pub mod names;
pub mod nodes;
pub mod resources;
pub mod settings;
pub mod stack;
pub mod sweep;
pub mod template;

use apiextensions::AWSConfig;
use apiextensions::keys::{AWS_OPERATOR, OperatorName};
use operatorkit::Operator;

use crate::access::{Access, Accounts};
use crate::aws::Connector;
use crate::bucket::Bucket;
use crate::calls::CallMetrics;
use crate::encryption::Encryption;
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
    Operator::new(OPERATOR, version)
        .metrics(move |registry| metrics.register(registry))
        .step(Access::new(accounts.clone(), flags.recheck))
        .step(Encryption::new(accounts.clone(), version))
        .step(Bucket::new(accounts.clone(), version))
        .step(Stacks::new(StackKind::Guest, accounts.clone(), version))
        .step(Stacks::new(StackKind::Host, accounts, version))
}
