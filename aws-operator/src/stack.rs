//! The step of a cluster's guest stack, `<cluster-id>-guest`: created and
//! updated without ever waiting on CloudFormation inside a reconcile.
//!
//! # Expected flow
//! 1. No stack: `CreateStack` (returns at once), its hash recorded in
//!    `status.stacks`; the step waits (requeue) and looks again.
//! 2. `*_IN_PROGRESS`: `StackReady=False` with the status as reason; the
//!    step looks again after a backoff that grows with the operation's age
//!    (2 s, up to 60 s), so a restart resumes it with no state of its own.
//! 3. `CREATE_COMPLETE`, `UPDATE_COMPLETE` (or a rolled-back update that
//!    left the stack as it was): the stack's hash tag is compared with the
//!    hash of the template and parameters wanted now. Equal: nothing is
//!    written; `StackReady=True`, and the status gets the VPC, the API
//!    endpoint and the ready masters and workers (read, not written).
//!    Different: `UpdateStack` with the new hash tag ("No updates are to
//!    be performed" is success), then back to 2.
//!
//! # Failures, and how to recover
//! - `ROLLBACK_COMPLETE`, `CREATE_FAILED`, `ROLLBACK_FAILED`: creation
//!   failed; the stack cannot be updated. `Ready=False` (`StackFailed`),
//!   naming the first resource that failed and CloudFormation's reason from
//!   the stack events; not retried. Fix the spec: a spec with a new hash
//!   deletes the failed stack and creates it again.
//! - `UPDATE_ROLLBACK_COMPLETE` after an update of the hash wanted now:
//!   the update failed and CloudFormation put the stack back. Reported the
//!   same way; the cluster keeps running as before. A changed spec is
//!   tried again.
//! - `UPDATE_ROLLBACK_FAILED`, `DELETE_FAILED`: reported; these need a
//!   person (CloudFormation's `ContinueUpdateRollback`, or deleting what
//!   blocks the deletion by hand); a DeleteStack is tried again on every
//!   pass of a deletion.
//!
//! # Deletion
//! `DeleteStack` (moto may answer an error yet remove the stack: the step
//! only ever trusts `DescribeStacks`), then wait until the stack is gone;
//! then [`crate::sweep`] deletes what is still tagged with the cluster.

use std::time::{Duration, SystemTime};

use apiextensions::AWSConfig;
use apiextensions::provider::aws_config::AWSStackStatus;
use async_trait::async_trait;
use aws_sdk_cloudformation::error::ProvideErrorMetadata;
use aws_sdk_cloudformation::types::{Capability, Parameter, Stack, StackStatus, Tag};
use operatorkit::{Context, Outcome, Step, StepError, condition};

use crate::access::Accounts;
use crate::aws::{Account, code, step_error};
use crate::encryption::cluster_key;
use crate::guest_stack::{BuildError, Inputs, StackInput, guest_stack, outputs};
use crate::host_stack::{HostInputs, host_stack};
use crate::names::{TEMPLATE_HASH_TAG, bucket, stack, tags};
use crate::{nodes, sweep};

/// Condition: the guest stack is complete and as wanted.
pub const STACK_READY: &str = "StackReady";
/// Condition: the host-side stack is complete and as wanted (or not
/// needed: no `vpc.peerID`).
pub const HOST_STACK_READY: &str = "HostStackReady";

/// Reasons this step gives.
pub mod reasons {
    /// The stack failed; see the message.
    pub const STACK_FAILED: &str = "StackFailed";
    /// The spec cannot be a stack.
    pub const INVALID_SPEC: &str = "InvalidSpec";
    /// The stack is as wanted.
    pub const STACK_COMPLETE: &str = "StackComplete";
    /// A hosted zone of `spec.hostedZones` is not in the account.
    pub const HOSTED_ZONE_MISSING: &str = "HostedZoneMissing";
    /// `vpc.peerID` names no VPC of the account and region.
    pub const PEER_VPC_MISSING: &str = "PeerVPCMissing";
    /// No `vpc.peerID`: no host-side stack.
    pub const NO_PEERING: &str = "NoPeering";
}

/// What CloudFormation answers an update that changes nothing.
const NO_UPDATES: &str = "No updates are to be performed";

/// A change of a stack.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Change {
    Create,
    Update,
}

impl Change {
    fn verb(self) -> &'static str {
        match self {
            Change::Create => "creating",
            Change::Update => "updating",
        }
    }
}

/// Shortest and longest wait between looks at a stack in progress.
const POLL_MIN: Duration = Duration::from_secs(2);
const POLL_MAX: Duration = Duration::from_secs(60);

/// Which of a cluster's stacks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StackKind {
    /// `<id>-guest`: the cluster ([`crate::guest_stack`]).
    Guest,
    /// `<id>-host`: the peering with `vpc.peerID` ([`crate::host_stack`]).
    Host,
}

impl StackKind {
    fn suffix(self) -> &'static str {
        match self {
            StackKind::Guest => "guest",
            StackKind::Host => "host",
        }
    }

    fn condition(self) -> &'static str {
        match self {
            StackKind::Guest => STACK_READY,
            StackKind::Host => HOST_STACK_READY,
        }
    }
}

/// What a stack should be now.
enum Wanted {
    /// This template and parameters.
    Stack(StackInput),
    /// No stack (a host-side stack without `vpc.peerID`).
    Absent,
}

/// The step of one of a cluster's stacks.
pub struct Stacks {
    accounts: Accounts,
    version: String,
    kind: StackKind,
}

impl Stacks {
    /// The step of the `kind` stack, of aws-operator `version`.
    pub fn new(kind: StackKind, accounts: Accounts, version: &str) -> Self {
        Self {
            accounts,
            version: version.to_owned(),
            kind,
        }
    }
}

/// How a stack stands, from its status.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    InProgress,
    Complete,
    /// An update failed and was rolled back: usable, as before.
    RolledBack,
    /// Creation failed: to be deleted before it is made again.
    CreateFailed,
    /// Needs a person.
    Stuck,
}

fn phase(status: &StackStatus) -> Phase {
    match status {
        StackStatus::CreateComplete | StackStatus::UpdateComplete | StackStatus::ImportComplete => {
            Phase::Complete
        }
        StackStatus::UpdateRollbackComplete | StackStatus::ImportRollbackComplete => {
            Phase::RolledBack
        }
        StackStatus::RollbackComplete | StackStatus::CreateFailed | StackStatus::RollbackFailed => {
            Phase::CreateFailed
        }
        StackStatus::UpdateRollbackFailed
        | StackStatus::DeleteFailed
        | StackStatus::ImportRollbackFailed
        | StackStatus::UpdateFailed => Phase::Stuck,
        _ => Phase::InProgress,
    }
}

/// The wait before looking again at a stack whose operation began at
/// `since`: a quarter of its age, within [`POLL_MIN`], [`POLL_MAX`].
fn backoff(stack: &Stack) -> Duration {
    let since = stack
        .last_updated_time()
        .or(stack.creation_time())
        .map(|t| t.secs())
        .unwrap_or_default();
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default();
    let age = now.saturating_sub(u64::try_from(since).unwrap_or_default());
    (Duration::from_secs(age) / 4).clamp(POLL_MIN, POLL_MAX)
}

/// Checks that every hosted zone the records go to is in the account:
/// CloudFormation's own answer to a missing one comes late and vague.
async fn check_zones(account: &Account, config: &AWSConfig) -> Result<(), StepError> {
    let zones = &config.spec.hosted_zones;
    let mut names = vec![&zones.api, &zones.etcd, &zones.ingress];
    names.sort();
    names.dedup();
    for name in names {
        let wanted = format!("{}.", name.trim_end_matches('.'));
        let found = account
            .route53
            .list_hosted_zones_by_name()
            .dns_name(&wanted)
            .max_items(1)
            .send()
            .await
            .map_err(|e| step_error(&format!("looking up hosted zone {name}"), &e))?;
        if !found.hosted_zones().iter().any(|z| z.name() == wanted) {
            return Err(StepError::permanent(format!(
                "hosted zone {name} (spec.hostedZones) is not in account {}",
                account.id
            ))
            .reason(reasons::HOSTED_ZONE_MISSING));
        }
    }
    Ok(())
}

/// The stack named `name`, if it exists.
pub async fn describe(account: &Account, name: &str) -> Result<Option<Stack>, StepError> {
    match account
        .cloudformation
        .describe_stacks()
        .stack_name(name)
        .send()
        .await
    {
        Ok(out) => Ok(out.stacks().first().cloned()),
        Err(e)
            if code(&e) == "ValidationError"
                && e.message().is_some_and(|m| m.contains("does not exist")) =>
        {
            Ok(None)
        }
        Err(e) => Err(step_error(&format!("reading stack {name}"), &e)),
    }
}

fn status_of(stack: &Stack) -> StackStatus {
    stack
        .stack_status()
        .cloned()
        .unwrap_or_else(|| StackStatus::from("NONE"))
}

fn hash_tag(stack: &Stack) -> Option<&str> {
    stack
        .tags()
        .iter()
        .find(|t| t.key() == Some(TEMPLATE_HASH_TAG))
        .and_then(|t| t.value())
}

fn output<'a>(stack: &'a Stack, key: &str) -> Option<&'a str> {
    stack
        .outputs()
        .iter()
        .find(|o| o.output_key() == Some(key))
        .and_then(|o| o.output_value())
}

/// The first resource that failed in the stack's last operation, and
/// CloudFormation's reason, from the stack events (newest first).
async fn failure(account: &Account, stack: &Stack) -> String {
    let name = stack.stack_name().unwrap_or_default();
    let fallback = stack
        .stack_status_reason()
        .unwrap_or("no reason given")
        .to_owned();
    let Ok(out) = account
        .cloudformation
        .describe_stack_events()
        .stack_name(name)
        .send()
        .await
    else {
        return fallback;
    };
    let mut first = None;
    for event in out.stack_events() {
        let status = event
            .resource_status()
            .map(|s| s.as_str())
            .unwrap_or_default();
        let is_stack = event.logical_resource_id() == Some(name);
        if is_stack
            && status.ends_with("_IN_PROGRESS")
            && event.resource_status_reason() == Some("User Initiated")
        {
            break;
        }
        let reason = event.resource_status_reason().unwrap_or_default();
        if !is_stack && status.ends_with("_FAILED") && !reason.contains("cancelled") {
            first = Some(format!(
                "{} ({}) {status}: {reason}",
                event.logical_resource_id().unwrap_or_default(),
                event.resource_type().unwrap_or_default()
            ));
        }
    }
    first.unwrap_or(fallback)
}

impl Stacks {
    async fn wanted(
        &self,
        cx: &Context<AWSConfig>,
        account: &Account,
    ) -> Result<Wanted, StepError> {
        let built = match self.kind {
            StackKind::Guest => self.guest(cx, account).await?,
            StackKind::Host => match &cx.object().spec.vpc.peer_id {
                Some(peer) => self.host(cx, account, peer).await?,
                None => return Ok(Wanted::Absent),
            },
        };
        built.map(Wanted::Stack).map_err(|e| match e {
            BuildError::InvalidSpec(m) => StepError::permanent(m).reason(reasons::INVALID_SPEC),
            BuildError::Template(e) => StepError::permanent(e),
        })
    }

    async fn host(
        &self,
        cx: &Context<AWSConfig>,
        account: &Account,
        peer: &str,
    ) -> Result<Result<StackInput, BuildError>, StepError> {
        let spec = &cx.object().spec;
        let guest = describe(account, &stack(&spec.cluster.id, StackKind::Guest.suffix()))
            .await?
            .ok_or_else(|| StepError::transient("the guest stack is gone; made again"))?;
        let guest_vpc = output(&guest, outputs::VPC_ID)
            .ok_or_else(|| StepError::transient("the guest stack has no VPC output yet"))?;
        let guest_tables: Vec<String> = output(&guest, outputs::PRIVATE_ROUTE_TABLES)
            .unwrap_or_default()
            .split(',')
            .filter(|t| !t.is_empty())
            .map(str::to_owned)
            .collect();
        let (peer_cidr, peer_tables) = nodes::peer_vpc(account, peer).await?.ok_or_else(|| {
            StepError::permanent(format!(
                "vpc.peerID {peer} is not a VPC of account {} in {}",
                account.id, account.region
            ))
            .reason(reasons::PEER_VPC_MISSING)
        })?;
        Ok(host_stack(&HostInputs {
            cluster: &spec.cluster.id,
            version: &self.version,
            guest_vpc,
            guest_cidr: &spec.vpc.cidr,
            guest_route_tables: &guest_tables,
            peer_vpc: peer,
            peer_cidr: &peer_cidr,
            peer_route_tables: &peer_tables,
        }))
    }

    async fn guest(
        &self,
        cx: &Context<AWSConfig>,
        account: &Account,
    ) -> Result<Result<StackInput, BuildError>, StepError> {
        let config = cx.object();
        let cluster = &config.spec.cluster.id;
        let key = cluster_key(cx, account).await?;
        let bucket = bucket(cluster, &account.id);
        let inputs = Inputs {
            config,
            bucket: &bucket,
            key_arn: &key.arn,
            version: &self.version,
        };
        Ok(guest_stack(&inputs))
    }

    fn tags(&self, cluster: &str, hash: &str) -> Vec<Tag> {
        let mut pairs = tags(cluster, &self.version);
        pairs.push((TEMPLATE_HASH_TAG.to_owned(), hash.to_owned()));
        pairs
            .into_iter()
            .map(|(k, v)| Tag::builder().key(k).value(v).build())
            .collect()
    }

    fn parameters(input: &StackInput) -> Vec<Parameter> {
        input
            .parameters
            .iter()
            .map(|(k, v)| {
                Parameter::builder()
                    .parameter_key(k)
                    .parameter_value(v)
                    .build()
            })
            .collect()
    }

    /// Creates or updates the stack to `input`; `false` when there was
    /// nothing to do (an update CloudFormation found empty, a create of a
    /// stack a pass that did not live to record it already made).
    async fn change(
        &self,
        change: Change,
        account: &Account,
        name: &str,
        cluster: &str,
        input: &StackInput,
    ) -> Result<bool, StepError> {
        let hash = input.hash();
        let (body, parameters) = (input.template.body(), Some(Self::parameters(input)));
        let tags = Some(self.tags(cluster, &hash));
        let cfn = &account.cloudformation;
        let what = format!("{} stack {name}", change.verb());
        let result = match change {
            Change::Create => cfn
                .create_stack()
                .stack_name(name)
                .template_body(body)
                .set_parameters(parameters)
                .capabilities(Capability::CapabilityIam)
                .set_tags(tags)
                .send()
                .await
                .map(drop)
                .map_err(|e| (code(&e).to_owned(), step_error(&what, &e))),
            Change::Update => cfn
                .update_stack()
                .stack_name(name)
                .template_body(body)
                .set_parameters(parameters)
                .capabilities(Capability::CapabilityIam)
                .set_tags(tags)
                .send()
                .await
                .map(drop)
                .map_err(|e| (code(&e).to_owned(), step_error(&what, &e))),
        };
        match result {
            Ok(()) => {
                tracing::info!(stack = name, hash, "{} the stack", change.verb());
                Ok(true)
            }
            Err((code, _)) if change == Change::Create && code == "AlreadyExistsException" => {
                Ok(false)
            }
            Err((_, e)) if change == Change::Update && e.to_string().contains(NO_UPDATES) => {
                Ok(false)
            }
            Err((_, e)) => Err(e),
        }
    }
}

/// Records stack `name`'s status (and the hash last asked for).
fn record(cx: &Context<AWSConfig>, name: &str, status: &str, hash: Option<&str>) {
    let (name, status, hash) = (name.to_owned(), status.to_owned(), hash.map(str::to_owned));
    cx.status(move |s| {
        let entry = match s.stacks.iter_mut().find(|e| e.name == name) {
            Some(e) => e,
            None => {
                s.stacks.push(AWSStackStatus {
                    name: name.clone(),
                    ..Default::default()
                });
                // Just pushed: the list is not empty.
                let last = s.stacks.len() - 1;
                &mut s.stacks[last]
            }
        };
        entry.status = status.clone();
        if let Some(h) = &hash {
            entry.hash = Some(h.clone());
        }
    });
}

/// The hash last asked for, from the status.
fn asked(cx: &Context<AWSConfig>, name: &str) -> Option<String> {
    cx.object()
        .status
        .as_ref()?
        .stacks
        .iter()
        .find(|e| e.name == name)?
        .hash
        .clone()
}

fn in_progress(cx: &Context<AWSConfig>, kind: StackKind, name: &str, status: &str) {
    cx.set_condition(
        condition(kind.condition())
            .is(false)
            .because(status.to_owned())
            .message(format!("stack {name} is {status}")),
    );
}

impl Stacks {
    async fn failed(
        &self,
        cx: &Context<AWSConfig>,
        account: &Account,
        stack: &Stack,
        recovery: &str,
    ) -> StepError {
        let name = stack.stack_name().unwrap_or_default();
        let status = status_of(stack);
        let message = format!(
            "stack {name} is {}: {}; {recovery}",
            status.as_str(),
            failure(account, stack).await
        );
        cx.set_condition(
            condition(self.kind.condition())
                .is(false)
                .because(reasons::STACK_FAILED)
                .message(message.clone()),
        );
        StepError::permanent(message).reason(reasons::STACK_FAILED)
    }

    /// The status of a complete stack as wanted: VPC, endpoint, nodes.
    async fn complete(
        &self,
        cx: &Context<AWSConfig>,
        account: &Account,
        stack: &Stack,
    ) -> Result<Outcome, StepError> {
        let name = stack.stack_name().unwrap_or_default().to_owned();
        cx.set_condition(
            condition(self.kind.condition())
                .is(true)
                .because(reasons::STACK_COMPLETE)
                .message(format!("stack {name} is {}", status_of(stack).as_str())),
        );
        if self.kind == StackKind::Host {
            return Ok(Outcome::Done);
        }
        let masters = output(stack, outputs::MASTER_INSTANCES).unwrap_or_default();
        let groups = output(stack, outputs::WORKER_GROUPS).unwrap_or_default();
        let ready_masters = nodes::running_instances(account, masters).await?;
        let ready_workers = nodes::in_service(account, groups).await?;
        let vpc = output(stack, outputs::VPC_ID).map(str::to_owned);
        let endpoint = crate::names::api_endpoint(&cx.object().spec.cluster);
        cx.status(move |s| {
            s.vpc_id = vpc.clone();
            s.api_endpoint = Some(endpoint.clone());
            s.ready_masters = Some(ready_masters);
            s.ready_workers = Some(ready_workers);
        });
        Ok(Outcome::Done)
    }
}

#[async_trait]
impl Step<AWSConfig> for Stacks {
    fn name(&self) -> &str {
        match self.kind {
            StackKind::Guest => "guest-stack",
            StackKind::Host => "host-stack",
        }
    }

    async fn ensure_created(&self, cx: &Context<AWSConfig>) -> Result<Outcome, StepError> {
        let account = self.accounts.of(cx).await?;
        let cluster = cx.object().spec.cluster.id.clone();
        let name = stack(&cluster, self.kind.suffix());
        let input = match self.wanted(cx, &account).await? {
            Wanted::Stack(input) => input,
            Wanted::Absent => return self.absent(cx, &account, &name).await,
        };
        let hash = input.hash();
        let Some(current) = describe(&account, &name).await? else {
            check_zones(&account, cx.object()).await?;
            self.change(Change::Create, &account, &name, &cluster, &input)
                .await?;
            record(
                cx,
                &name,
                StackStatus::CreateInProgress.as_str(),
                Some(&hash),
            );
            in_progress(cx, self.kind, &name, StackStatus::CreateInProgress.as_str());
            return Ok(Outcome::Wait(POLL_MIN));
        };
        let status = status_of(&current);
        record(cx, &name, status.as_str(), None);
        let is_current = hash_tag(&current) == Some(hash.as_str());
        match phase(&status) {
            Phase::InProgress => {
                in_progress(cx, self.kind, &name, status.as_str());
                Ok(Outcome::Wait(backoff(&current)))
            }
            Phase::Complete | Phase::RolledBack if is_current => {
                self.complete(cx, &account, &current).await
            }
            Phase::RolledBack if asked(cx, &name).as_deref() == Some(hash.as_str()) => Err(self
                .failed(
                    cx,
                    &account,
                    &current,
                    "the cluster runs as before the update; change the spec to try again",
                )
                .await),
            Phase::Complete | Phase::RolledBack => {
                check_zones(&account, cx.object()).await?;
                if self
                    .change(Change::Update, &account, &name, &cluster, &input)
                    .await?
                {
                    record(
                        cx,
                        &name,
                        StackStatus::UpdateInProgress.as_str(),
                        Some(&hash),
                    );
                    in_progress(cx, self.kind, &name, StackStatus::UpdateInProgress.as_str());
                    return Ok(Outcome::Wait(POLL_MIN));
                }
                record(cx, &name, status.as_str(), Some(&hash));
                self.complete(cx, &account, &current).await
            }
            Phase::CreateFailed if is_current => Err(self
                .failed(
                    cx,
                    &account,
                    &current,
                    "fix the spec: a changed spec deletes the stack and creates it again",
                )
                .await),
            Phase::CreateFailed => {
                self.delete(&account, &name).await?;
                in_progress(cx, self.kind, &name, StackStatus::DeleteInProgress.as_str());
                Ok(Outcome::Wait(POLL_MIN))
            }
            Phase::Stuck => Err(self
                .failed(
                    cx,
                    &account,
                    &current,
                    "this needs a person: see docs/aws-operator.md, failure recovery",
                )
                .await),
        }
    }

    async fn ensure_deleted(&self, cx: &Context<AWSConfig>) -> Result<Outcome, StepError> {
        let Some(account) = self.accounts.for_deletion(cx).await? else {
            return Ok(Outcome::Done);
        };
        let cluster = cx.object().spec.cluster.id.clone();
        let name = stack(&cluster, self.kind.suffix());
        match describe(&account, &name).await? {
            Some(current) => {
                let status = status_of(&current);
                record(cx, &name, status.as_str(), None);
                if status != StackStatus::DeleteInProgress {
                    if status == StackStatus::DeleteFailed {
                        let why = failure(&account, &current).await;
                        tracing::warn!(
                            stack = name,
                            why,
                            "the stack's deletion failed; trying again"
                        );
                    }
                    self.delete(&account, &name).await?;
                }
                in_progress(cx, self.kind, &name, StackStatus::DeleteInProgress.as_str());
                Ok(Outcome::Wait(backoff(&current)))
            }
            None => {
                cx.status(move |s| s.stacks.retain(|e| e.name != name));
                match self.kind {
                    StackKind::Guest => sweep::sweep(&account, &cluster).await,
                    StackKind::Host => Ok(Outcome::Done),
                }
            }
        }
    }
}

impl Stacks {
    /// No stack wanted: the one there is deleted (waited for).
    async fn absent(
        &self,
        cx: &Context<AWSConfig>,
        account: &Account,
        name: &str,
    ) -> Result<Outcome, StepError> {
        if let Some(current) = describe(account, name).await? {
            if status_of(&current) != StackStatus::DeleteInProgress {
                self.delete(account, name).await?;
            }
            in_progress(cx, self.kind, name, StackStatus::DeleteInProgress.as_str());
            return Ok(Outcome::Wait(backoff(&current)));
        }
        let name = name.to_owned();
        cx.status(move |s| s.stacks.retain(|e| e.name != name));
        cx.set_condition(
            condition(self.kind.condition())
                .is(true)
                .because(reasons::NO_PEERING)
                .message("vpc.peerID is not set: no host-side stack"),
        );
        Ok(Outcome::Done)
    }

    async fn delete(&self, account: &Account, name: &str) -> Result<(), StepError> {
        match account
            .cloudformation
            .delete_stack()
            .stack_name(name)
            .send()
            .await
        {
            Ok(_) => {
                tracing::info!(stack = name, "deleting the stack");
                Ok(())
            }
            // moto answers DependencyViolation yet removes the stack; real
            // AWS may too, in its own way. Only DescribeStacks is trusted:
            // the next pass sees what became of it.
            Err(e) => {
                tracing::warn!(stack = name, error = %step_error(&format!("deleting stack {name}"), &e), "DeleteStack answered an error; looking again");
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn phases_of_statuses() {
        assert_eq!(phase(&StackStatus::CreateComplete), Phase::Complete);
        assert_eq!(
            phase(&StackStatus::UpdateCompleteCleanupInProgress),
            Phase::InProgress
        );
        assert_eq!(phase(&StackStatus::RollbackComplete), Phase::CreateFailed);
        assert_eq!(
            phase(&StackStatus::UpdateRollbackComplete),
            Phase::RolledBack
        );
        assert_eq!(phase(&StackStatus::DeleteFailed), Phase::Stuck);
        assert_eq!(phase(&StackStatus::from("NEW_STATUS")), Phase::InProgress);
    }

    #[test]
    fn backoff_grows_with_the_operations_age() {
        let now = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64;
        let at = |age: i64| {
            Stack::builder()
                .creation_time(aws_sdk_cloudformation::primitives::DateTime::from_secs(
                    now - age,
                ))
                .build()
        };
        assert_eq!(backoff(&at(0)), POLL_MIN);
        assert_eq!(backoff(&at(40)), Duration::from_secs(10));
        assert_eq!(backoff(&at(3600)), POLL_MAX);
    }

    #[test]
    fn parameters_keep_their_names() {
        let input = StackInput {
            template: crate::template::Template::new("t"),
            parameters: BTreeMap::from([("A".to_owned(), "x,y".to_owned())]),
        };
        let p = Stacks::parameters(&input);
        assert_eq!(p[0].parameter_key(), Some("A"));
        assert_eq!(p[0].parameter_value(), Some("x,y"));
    }
}
