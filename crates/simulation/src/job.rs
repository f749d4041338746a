//! The Job controller, as kube-controller-manager's for `NonIndexed` Jobs:
//! up to `parallelism` pods at once until `completions` pods succeeded
//! (`Complete`, with `SuccessCriteriaMet` before it, and `completionTime`),
//! or more than `backoffLimit` pods failed (`Failed`, `BackoffLimitExceeded`,
//! its active pods deleted); `startTime`, `active`, `ready`, `succeeded` and
//! `failed` in its status. Not simulated: `Indexed` completion mode, pod
//! failure policies, `activeDeadlineSeconds`, suspension, TTL after finish.

use std::sync::Arc;

use k8s_openapi::api::batch::v1::{Job, JobCondition};
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::api::PostParams;
use kube::runtime::controller::Action;
use kube::{Api, Client, ResourceExt};
use serde_json::json;

use crate::expectations::Expectations;
use crate::replicaset::Context;
use crate::{keys, pods, replicaset, status};

/// Runs `job`'s pods one step and reports its status.
pub async fn reconcile(job: Arc<Job>, ctx: Arc<Context>) -> Result<Action, kube::Error> {
    let uid = job.metadata.uid.clone().unwrap_or_default();
    if job.metadata.deletion_timestamp.is_some() {
        ctx.expectations.forget(&uid);
        return Ok(Action::await_change());
    }
    let ns = job.namespace().unwrap_or_default();
    let spec = job.spec.clone().unwrap_or_default();
    // Expectations first, the pods after: a pod that reaches the cache in
    // between is then counted, never created twice.
    let synced = ctx.expectations.satisfied(&uid, &ctx.pods);
    let owned = replicaset::owned_pods(&ctx.pods, &ns, &uid);
    let count = |phase: &str| {
        i32::try_from(owned.iter().filter(|p| pods::phase(p) == phase).count()).unwrap_or(i32::MAX)
    };
    let (succeeded, failed) = (count("Succeeded"), count("Failed"));
    let active: Vec<Arc<Pod>> = owned
        .iter()
        .filter(|p| pods::is_active(p))
        .cloned()
        .collect();
    let completions = spec.completions;
    let parallelism = spec.parallelism.unwrap_or(1);
    let finished = finished(&job);
    let complete = match completions {
        Some(c) => succeeded >= c,
        None => succeeded > 0 && active.is_empty(),
    };
    // Failed pods and container restarts (`OnFailure`) count against the
    // backoff limit, as kube counts them.
    let restarts: i32 = owned
        .iter()
        .filter_map(|p| p.status.as_ref()?.container_statuses.as_ref())
        .flatten()
        .map(|c| c.restart_count)
        .fold(0, i32::saturating_add);
    let backoff_exceeded = failed.saturating_add(restarts) > spec.backoff_limit.unwrap_or(6);
    let api: Api<Pod> = Api::namespaced(ctx.client.clone(), &ns);
    let mut create_failed = false;
    if synced && finished.is_none() {
        if backoff_exceeded {
            replicaset::delete(&api, &uid, &active, &ctx.expectations).await?;
        } else if !(complete || (completions.is_none() && succeeded > 0)) {
            // Without completions, the first success ends the creating.
            let left = completions.map_or(parallelism, |c| (c - succeeded).min(parallelism));
            let missing =
                usize::try_from(left - i32::try_from(active.len()).unwrap_or(0)).unwrap_or(0);
            create_failed = create(&api, &job, missing, &ctx.expectations).await;
        }
    }
    let ready = i32::try_from(active.iter().filter(|p| pods::is_ready(p)).count()).unwrap_or(0);
    let outcome = finished.or(match (complete, backoff_exceeded) {
        (true, _) => Some(Outcome::Complete),
        (_, true) => Some(Outcome::Failed),
        _ => None,
    });
    let counts = Counts {
        active: i32::try_from(active.len()).unwrap_or(0),
        ready,
        succeeded,
        failed,
    };
    report(&ctx.client, &job, counts, outcome).await?;
    Ok(pods::next_action(synced, create_failed, None))
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Complete,
    Failed,
}

struct Counts {
    active: i32,
    ready: i32,
    succeeded: i32,
    failed: i32,
}

/// How the Job ended, if it did.
fn finished(job: &Job) -> Option<Outcome> {
    let conditions = job.status.as_ref()?.conditions.as_ref()?;
    let has = |t: &str| {
        conditions
            .iter()
            .any(|c| c.type_ == t && c.status == "True")
    };
    match (has("Complete"), has("Failed")) {
        (true, _) => Some(Outcome::Complete),
        (_, true) => Some(Outcome::Failed),
        _ => None,
    }
}

/// Creates `n` pods; whether one failed.
async fn create(api: &Api<Pod>, job: &Job, n: usize, expectations: &Expectations) -> bool {
    let Some(template) = job.spec.as_ref().map(|s| s.template.clone()) else {
        return false;
    };
    let owner = pods::owner("batch/v1", "Job", &job.metadata);
    let ns = job.namespace().unwrap_or_default();
    let uid = job.metadata.uid.clone().unwrap_or_default();
    let pod = pods::from_template(&template, owner, &ns, &job.name_any(), &[]);
    let pp = PostParams {
        field_manager: Some(keys::CONTROLLER_MANAGER.into()),
        ..PostParams::default()
    };
    let mut failed = false;
    for _ in 0..n {
        match api.create(&pp, &pod).await {
            Ok(created) => expectations.created(&uid, &ns, &created.name_any()),
            Err(e) => {
                failed = true;
                tracing::warn!(job = %job.name_any(), namespace = %ns, error = %e, "creating a pod failed");
            }
        }
    }
    failed
}

/// Writes the Job's status if it changed.
async fn report(
    client: &Client,
    job: &Job,
    counts: Counts,
    outcome: Option<Outcome>,
) -> Result<(), kube::Error> {
    let current = job.status.clone().unwrap_or_default();
    let now = Time(jiff::Timestamp::now());
    let mut conditions: Vec<JobCondition> = current.conditions.clone().unwrap_or_default();
    let mut completion_time = current.completion_time.clone();
    let mut add = |type_: &str, reason: &str, message: &str| {
        if !conditions.iter().any(|c| c.type_ == type_) {
            conditions.push(JobCondition {
                type_: type_.into(),
                status: "True".into(),
                reason: Some(reason.into()),
                message: Some(message.into()),
                last_probe_time: Some(now.clone()),
                last_transition_time: Some(now.clone()),
            });
        }
    };
    match outcome {
        Some(Outcome::Complete) => {
            add(
                "SuccessCriteriaMet",
                "CompletionsReached",
                "Reached expected number of succeeded pods",
            );
            add(
                "Complete",
                "CompletionsReached",
                "Reached expected number of succeeded pods",
            );
            completion_time.get_or_insert(now.clone());
        }
        Some(Outcome::Failed) => {
            add(
                "FailureTarget",
                "BackoffLimitExceeded",
                "Job has reached the specified backoff limit",
            );
            add(
                "Failed",
                "BackoffLimitExceeded",
                "Job has reached the specified backoff limit",
            );
        }
        None => {}
    }
    let desired = json!({
        "startTime": current.start_time.clone().unwrap_or(now),
        "active": counts.active,
        "ready": counts.ready,
        "succeeded": counts.succeeded,
        "failed": counts.failed,
        "terminating": current.terminating.unwrap_or(0),
        "uncountedTerminatedPods": current.uncounted_terminated_pods.clone().unwrap_or_default(),
        "completionTime": completion_time,
        "conditions": conditions,
    });
    let desired = status::go_encoded(desired, &["active", "succeeded", "failed"]);
    let api: Api<Job> = Api::namespaced(client.clone(), &job.namespace().unwrap_or_default());
    status::write(&api, &job.name_any(), job.status.as_ref(), desired).await?;
    Ok(())
}
