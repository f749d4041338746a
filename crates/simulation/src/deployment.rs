//! The Deployment controller, as kube-controller-manager's: a ReplicaSet per
//! pod template (named `<deployment>-<pod-template-hash>`, the hash also a
//! label and selector of its pods), rolling updates within `maxSurge` and
//! `maxUnavailable` (unhealthy old pods first), `Recreate`, the revision
//! annotations, old ReplicaSets kept up to `revisionHistoryLimit`, and the
//! status `kubectl rollout status` reads (`observedGeneration`,
//! `updatedReplicas`, `availableReplicas`, the `Available` and
//! `Progressing` conditions, `ProgressDeadlineExceeded`).
//!
//! Not simulated: proportional scaling of several ReplicaSets in the middle
//! of a rollout (a scale during a rollout goes to the new ReplicaSet), scaling
//! while paused, `minReadySeconds` changes reaching existing ReplicaSets,
//! `collisionCount`, adoption of orphaned ReplicaSets (a Deployment recreated
//! over an orphaned ReplicaSet of the same template does not progress),
//! rollbacks through the old `rollbackTo` field. Pods are given up in kube's
//! order without `controller.kubernetes.io/pod-deletion-cost`.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use k8s_openapi::api::apps::v1::{Deployment, DeploymentCondition, ReplicaSet};
use k8s_openapi::api::core::v1::PodTemplateSpec;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::api::{DeleteParams, Patch, PatchParams, PostParams};
use kube::runtime::controller::Action;
use kube::runtime::reflector::Store;
use kube::{Api, Client, ResourceExt};
use serde_json::{Value, json};

use crate::{keys, pods, status};

/// How soon a Deployment is looked at again while its own writes are not in
/// the cache yet.
const SETTLE: Duration = Duration::from_millis(200);

/// What the controller reads and remembers.
pub struct Context {
    pub client: Client,
    pub replica_sets: Store<ReplicaSet>,
    pub pods: Store<k8s_openapi::api::core::v1::Pod>,
    /// The resourceVersion of each ReplicaSet as this controller last wrote
    /// it (by UID), or `""` for one created and not yet seen (by name), and
    /// when; forgotten after [`SETTLE_TIMEOUT`] (a ReplicaSet deleted before
    /// the cache saw it must not hold its Deployment forever).
    pub written: Mutex<HashMap<String, (String, Instant)>>,
}

/// How long a write may take to show in the cache before it is forgotten.
const SETTLE_TIMEOUT: Duration = Duration::from_secs(30);

impl Context {
    fn written(&self) -> std::sync::MutexGuard<'_, HashMap<String, (String, Instant)>> {
        self.written
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Whether the cache shows every write this controller made to `owned`.
    fn settled(&self, owned: &[Arc<ReplicaSet>], ns: &str) -> bool {
        let mut written = self.written();
        let rv = |s: &str| s.parse::<u64>().unwrap_or(0);
        written.retain(|key, (want, at)| {
            if at.elapsed() > SETTLE_TIMEOUT {
                return false;
            }
            if want.is_empty() {
                // A ReplicaSet created (key: namespace/name): until it is seen.
                return self.replica_sets.state().iter().all(|r| {
                    format!("{}/{}", r.namespace().unwrap_or_default(), r.name_any()) != *key
                });
            }
            match self
                .replica_sets
                .state()
                .iter()
                .find(|r| r.metadata.uid.as_deref() == Some(key))
            {
                Some(r) => rv(r.metadata.resource_version.as_deref().unwrap_or("0")) < rv(want),
                None => false,
            }
        });
        !written.keys().any(|k| {
            k.starts_with(&format!("{ns}/"))
                || owned.iter().any(|r| r.metadata.uid.as_deref() == Some(k))
        })
    }

    fn wrote(&self, rs: &ReplicaSet) {
        if let (Some(uid), Some(rv)) = (&rs.metadata.uid, &rs.metadata.resource_version) {
            self.written()
                .insert(uid.clone(), (rv.clone(), Instant::now()));
        }
    }
}

/// Rolls `d` out one step and reports its status.
pub async fn reconcile(d: Arc<Deployment>, ctx: Arc<Context>) -> Result<Action, kube::Error> {
    if d.metadata.deletion_timestamp.is_some() {
        return Ok(Action::await_change());
    }
    let ns = d.namespace().unwrap_or_default();
    let uid = d.metadata.uid.clone().unwrap_or_default();
    let owned_now = || {
        ctx.replica_sets.state_filter(|r| {
            r.metadata.namespace.as_deref() == Some(ns.as_str())
                && pods::controlled_by(&r.metadata, &uid)
        })
    };
    if !ctx.settled(&owned_now(), &ns) {
        return Ok(Action::requeue(SETTLE));
    }
    // Listed again after the check: what reached the cache meanwhile counts.
    let mut owned: Vec<Arc<ReplicaSet>> = owned_now();
    owned.sort_by_key(|r| r.metadata.creation_timestamp.as_ref().map(|t| t.0));
    let spec = d.spec.clone().unwrap_or_default();
    let api: Api<ReplicaSet> = Api::namespaced(ctx.client.clone(), &ns);
    let template = spec.template.clone();
    let new_rs = owned.iter().find(|r| same_template(r, &template)).cloned();
    let old: Vec<Arc<ReplicaSet>> = owned
        .iter()
        .filter(|r| {
            new_rs
                .as_ref()
                .is_none_or(|n| n.metadata.uid != r.metadata.uid)
        })
        .cloned()
        .collect();
    let paused = spec.paused == Some(true);
    let new_rs = match (new_rs, paused) {
        (Some(rs), false) => rs,
        (found, true) => return finish(&ctx, &d, &owned, found.as_deref(), Step::Quiet).await,
        (None, false) => {
            let rs = create_replica_set(&api, &d, &old, &ctx).await?;
            return finish(&ctx, &d, &owned, None, Step::Created(rs.name_any())).await;
        }
    };
    let rollout = Rollout {
        api: &api,
        d: &d,
        new_rs: &new_rs,
        old: &old,
        ctx: &ctx,
    };
    rollout.sync_revision().await?;
    let (acted, waiting) = match spec.strategy.as_ref().and_then(|s| s.type_.as_deref()) {
        Some("Recreate") => rollout.recreate().await?,
        _ => (rollout.rolling().await?, false),
    };
    if !acted && complete(&d, &new_rs, &old) {
        cleanup(&api, &d, &old).await?;
    }
    let step = if acted { Step::Progressed } else { Step::Quiet };
    let action = finish(&ctx, &d, &owned, Some(&new_rs), step).await?;
    // A Recreate rollout waiting for old pods to go looks again soon: the
    // last pod's deletion may reach the pod cache after the ReplicaSet
    // event that brought the Deployment here, and nothing else would
    // (kube's deployment controller has a pod-deletion handler for this).
    Ok(if waiting {
        Action::requeue(SETTLE)
    } else {
        action
    })
}

/// What this pass did, for the `Progressing` condition.
enum Step {
    Created(String),
    Progressed,
    Quiet,
}

/// Whether `rs` runs `template` (its hash label aside).
fn same_template(rs: &ReplicaSet, template: &PodTemplateSpec) -> bool {
    let Some(mut theirs) = rs.spec.as_ref().and_then(|s| s.template.clone()) else {
        return false;
    };
    if let Some(labels) = theirs.metadata.as_mut().and_then(|m| m.labels.as_mut()) {
        labels.remove(keys::POD_TEMPLATE_HASH);
    }
    let mut ours = template.clone();
    if let Some(labels) = ours.metadata.as_mut().and_then(|m| m.labels.as_mut()) {
        labels.remove(keys::POD_TEMPLATE_HASH);
    }
    let normal = |t: &PodTemplateSpec| {
        let mut v = serde_json::to_value(t).unwrap_or(Value::Null);
        if let Some(m) = v.get_mut("metadata").and_then(Value::as_object_mut) {
            m.retain(|_, v| !matches!(v, Value::Object(o) if o.is_empty()));
        }
        v
    };
    normal(&theirs) == normal(&ours)
}

/// `rs`'s revision annotation.
fn revision(rs: &ReplicaSet) -> i64 {
    rs.annotations()
        .get(keys::REVISION)
        .and_then(|r| r.parse().ok())
        .unwrap_or(0)
}

fn desired(d: &Deployment) -> i32 {
    d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1)
}

fn replicas(rs: &ReplicaSet) -> i32 {
    rs.spec.as_ref().and_then(|s| s.replicas).unwrap_or(0)
}

fn available(rs: &ReplicaSet) -> i32 {
    rs.status
        .as_ref()
        .and_then(|s| s.available_replicas)
        .unwrap_or(0)
}

/// `maxSurge` and `maxUnavailable` for `d` (kube's `ResolveFenceposts`).
/// A Recreate Deployment has neither: every pod goes, then every pod comes.
fn fenceposts(d: &Deployment) -> (i32, i32) {
    let want = desired(d);
    let strategy = d.spec.as_ref().and_then(|s| s.strategy.as_ref());
    if strategy.and_then(|s| s.type_.as_deref()) == Some("Recreate") || want == 0 {
        return (0, 0);
    }
    let rolling = d
        .spec
        .as_ref()
        .and_then(|s| s.strategy.as_ref())
        .and_then(|s| s.rolling_update.clone())
        .unwrap_or_default();
    let resolve =
        |v: Option<IntOrString>, up: bool| match v.unwrap_or(IntOrString::String("25%".into())) {
            IntOrString::Int(n) => n,
            IntOrString::String(s) => {
                let pct: i64 = s.trim_end_matches('%').parse().unwrap_or(25);
                let scaled = i64::from(want).saturating_mul(pct);
                let n = if up {
                    scaled.saturating_add(99) / 100
                } else {
                    scaled / 100
                };
                i32::try_from(n).unwrap_or(0).max(0)
            }
        };
    let surge = resolve(rolling.max_surge, true);
    let unavailable = resolve(rolling.max_unavailable, false);
    if surge == 0 && unavailable == 0 {
        return (0, 1);
    }
    (surge, unavailable.min(want))
}

/// Creates the ReplicaSet for `d`'s template at the next revision.
async fn create_replica_set(
    api: &Api<ReplicaSet>,
    d: &Deployment,
    old: &[Arc<ReplicaSet>],
    ctx: &Context,
) -> Result<ReplicaSet, kube::Error> {
    let spec = d.spec.clone().unwrap_or_default();
    let hash = pods::hash(&spec.template, 0);
    let mut template = spec.template.clone();
    let meta = template.metadata.get_or_insert_with(Default::default);
    meta.labels
        .get_or_insert_with(BTreeMap::new)
        .insert(keys::POD_TEMPLATE_HASH.into(), hash.clone());
    let mut selector = spec.selector.clone();
    selector
        .match_labels
        .get_or_insert_with(BTreeMap::new)
        .insert(keys::POD_TEMPLATE_HASH.into(), hash.clone());
    let next_revision = old.iter().map(|r| revision(r)).max().unwrap_or(0) + 1;
    let (surge, _) = fenceposts(d);
    let all: i32 = old.iter().map(|r| replicas(r)).sum();
    let want = desired(d);
    let initial = match spec.strategy.as_ref().and_then(|s| s.type_.as_deref()) {
        Some("Recreate") => 0,
        _ => i32::try_from(
            (i64::from(want) + i64::from(surge) - i64::from(all)).clamp(0, i64::from(want)),
        )
        .unwrap_or(0),
    };
    let mut labels = template
        .metadata
        .as_ref()
        .and_then(|m| m.labels.clone())
        .unwrap_or_default();
    labels.insert(keys::POD_TEMPLATE_HASH.into(), hash.clone());
    let rs: ReplicaSet = serde_json::from_value(json!({
        "metadata": {
            "name": format!("{}-{hash}", d.name_any()),
            "namespace": d.namespace(),
            "labels": labels,
            "annotations": {
                keys::REVISION: next_revision.to_string(),
                keys::DESIRED_REPLICAS: want.to_string(),
                keys::MAX_REPLICAS: want.saturating_add(surge).to_string(),
            },
            "ownerReferences": [pods::owner("apps/v1", "Deployment", &d.metadata)],
        },
        "spec": {
            "replicas": initial,
            "minReadySeconds": spec.min_ready_seconds.unwrap_or(0),
            "selector": selector,
            "template": template,
        },
    }))
    .map_err(kube::Error::SerdeError)?;
    let pp = PostParams {
        field_manager: Some(keys::CONTROLLER_MANAGER.into()),
        ..PostParams::default()
    };
    let created = match api.create(&pp, &rs).await {
        Ok(created) => created,
        Err(kube::Error::Api(e)) if e.code == 409 => api.get(&rs.name_any()).await?,
        Err(e) => return Err(e),
    };
    ctx.written().insert(
        format!(
            "{}/{}",
            created.namespace().unwrap_or_default(),
            created.name_any()
        ),
        (String::new(), Instant::now()),
    );
    Ok(created)
}

fn params() -> PatchParams {
    PatchParams {
        field_manager: Some(keys::CONTROLLER_MANAGER.into()),
        ..PatchParams::default()
    }
}

/// One pass of a rollout: the Deployment, its new and old ReplicaSets.
#[derive(Clone, Copy)]
struct Rollout<'a> {
    api: &'a Api<ReplicaSet>,
    d: &'a Deployment,
    new_rs: &'a ReplicaSet,
    old: &'a [Arc<ReplicaSet>],
    ctx: &'a Context,
}

impl Rollout<'_> {
    /// Makes the new ReplicaSet the newest revision (a template rolled back to
    /// gets the next revision again) and copies it to the Deployment.
    async fn sync_revision(&self) -> Result<(), kube::Error> {
        let Rollout {
            api,
            d,
            new_rs,
            old,
            ctx,
        } = *self;
        let newest_old = old.iter().map(|r| revision(r)).max().unwrap_or(0);
        let mut rev = revision(new_rs);
        if rev <= newest_old {
            rev = newest_old + 1;
            let patch = json!({"metadata": {"annotations": {keys::REVISION: rev.to_string()}}});
            let written = api
                .patch(&new_rs.name_any(), &params(), &Patch::Merge(&patch))
                .await?;
            ctx.wrote(&written);
        }
        if d.annotations().get(keys::REVISION) != Some(&rev.to_string()) {
            let deployments: Api<Deployment> =
                Api::namespaced(ctx.client.clone(), &d.namespace().unwrap_or_default());
            let patch = json!({"metadata": {"annotations": {keys::REVISION: rev.to_string()}}});
            deployments
                .patch(&d.name_any(), &params(), &Patch::Merge(&patch))
                .await?;
        }
        Ok(())
    }

    /// Sets `rs`'s replicas (and the annotations kube keeps beside them).
    async fn scale(&self, rs: &ReplicaSet, to: i32) -> Result<(), kube::Error> {
        let Rollout { api, d, ctx, .. } = *self;
        let (surge, _) = fenceposts(d);
        let want = desired(d);
        let patch = json!({
            "metadata": {"annotations": {
                keys::DESIRED_REPLICAS: want.to_string(),
                keys::MAX_REPLICAS: want.saturating_add(surge).to_string(),
            }},
            "spec": {"replicas": to},
        });
        let written = api
            .patch(&rs.name_any(), &params(), &Patch::Merge(&patch))
            .await?;
        ctx.wrote(&written);
        Ok(())
    }

    /// One step of a rolling update; whether it scaled anything.
    async fn rolling(&self) -> Result<bool, kube::Error> {
        let Rollout { d, new_rs, old, .. } = *self;
        let want = desired(d);
        let (surge, unavailable) = fenceposts(d);
        let all: i32 = old.iter().map(|r| replicas(r)).sum::<i32>() + replicas(new_rs);
        // Scale the new ReplicaSet up (or down to the desired count).
        let current = replicas(new_rs);
        let target = if current > want {
            want
        } else {
            let room = (i64::from(want) + i64::from(surge) - i64::from(all)).max(0);
            i32::try_from((i64::from(current) + room).min(i64::from(want)))
                .unwrap_or(want)
                .max(current)
        };
        if target != current {
            self.scale(new_rs, target).await?;
            return Ok(true);
        }
        // Scale old ReplicaSets down as far as availability allows.
        let old_count: i32 = old.iter().map(|r| replicas(r)).sum();
        if old_count == 0 {
            return Ok(false);
        }
        let min_available = want - unavailable;
        let new_unavailable = replicas(new_rs) - available(new_rs);
        let mut budget = all - min_available - new_unavailable;
        if budget <= 0 {
            return Ok(false);
        }
        let mut scaled = false;
        // Unhealthy old pods first.
        let mut remaining: Vec<(Arc<ReplicaSet>, i32)> =
            old.iter().map(|r| (r.clone(), replicas(r))).collect();
        for (rs, count) in remaining.iter_mut() {
            if budget <= 0 {
                break;
            }
            let unhealthy = *count - available(rs);
            if *count == 0 || unhealthy <= 0 {
                continue;
            }
            let down = unhealthy.min(budget);
            *count -= down;
            budget -= down;
            self.scale(rs, *count).await?;
            scaled = true;
        }
        // Then healthy ones, oldest first, keeping minAvailable.
        let available_now: i32 = old.iter().map(|r| available(r)).sum::<i32>() + available(new_rs);
        let mut allowed = available_now - min_available;
        for (rs, count) in remaining.iter_mut() {
            if allowed <= 0 {
                break;
            }
            if *count == 0 {
                continue;
            }
            let down = (*count).min(allowed);
            *count -= down;
            allowed -= down;
            self.scale(rs, *count).await?;
            scaled = true;
        }
        Ok(scaled)
    }

    /// `Recreate`: every old pod goes before the new ReplicaSet scales up.
    /// Returns whether it acted, and whether it waits for old pods.
    async fn recreate(&self) -> Result<(bool, bool), kube::Error> {
        let Rollout { d, new_rs, old, .. } = *self;
        let mut acted = false;
        for rs in old.iter().filter(|r| replicas(r) > 0) {
            self.scale(rs, 0).await?;
            acted = true;
        }
        // Old pods still running, terminating ones included (kube's
        // oldPodsRunning): the new ones wait for every one of them.
        let old_uids: Vec<&str> = old
            .iter()
            .filter_map(|r| r.metadata.uid.as_deref())
            .collect();
        let ns = d.namespace().unwrap_or_default();
        let old_running = self.ctx.pods.state().iter().any(|p| {
            p.metadata.namespace.as_deref() == Some(ns.as_str())
                && !pods::is_terminal(p)
                && old_uids
                    .iter()
                    .any(|uid| pods::controlled_by(&p.metadata, uid))
        });
        if acted || old_running {
            return Ok((acted, true));
        }
        if replicas(new_rs) != desired(d) {
            self.scale(new_rs, desired(d)).await?;
            return Ok((true, false));
        }
        Ok((false, false))
    }
}

/// Whether the rollout is done: the new ReplicaSet has every replica
/// updated and available, and no old one has any.
fn complete(d: &Deployment, new_rs: &ReplicaSet, old: &[Arc<ReplicaSet>]) -> bool {
    let want = desired(d);
    let new_status = new_rs.status.clone().unwrap_or_default();
    new_status.replicas == want
        && new_status.available_replicas.unwrap_or(0) == want
        && old
            .iter()
            .all(|r| replicas(r) == 0 && r.status.as_ref().is_none_or(|s| s.replicas == 0))
}

/// Deletes the oldest empty ReplicaSets beyond `revisionHistoryLimit`.
async fn cleanup(
    api: &Api<ReplicaSet>,
    d: &Deployment,
    old: &[Arc<ReplicaSet>],
) -> Result<(), kube::Error> {
    let limit = d
        .spec
        .as_ref()
        .and_then(|s| s.revision_history_limit)
        .unwrap_or(10);
    let empty: Vec<&Arc<ReplicaSet>> = old
        .iter()
        .filter(|r| replicas(r) == 0 && r.status.as_ref().is_none_or(|s| s.replicas == 0))
        .collect();
    let excess = empty
        .len()
        .saturating_sub(usize::try_from(limit).unwrap_or(0));
    for rs in empty.iter().take(excess) {
        match api.delete(&rs.name_any(), &DeleteParams::default()).await {
            Ok(_) => {}
            Err(kube::Error::Api(e)) if e.code == 404 => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Writes `d`'s status; when to look again (the progress deadline).
async fn finish(
    ctx: &Context,
    d: &Deployment,
    owned: &[Arc<ReplicaSet>],
    new_rs: Option<&ReplicaSet>,
    step: Step,
) -> Result<Action, kube::Error> {
    let spec = d.spec.clone().unwrap_or_default();
    let want = desired(d);
    let (_, unavailable) = fenceposts(d);
    let sum = |f: &dyn Fn(&ReplicaSet) -> i32| owned.iter().map(|r| f(r)).sum::<i32>();
    let status_of = |r: &ReplicaSet| r.status.clone().unwrap_or_default();
    let replicas_now = sum(&|r| status_of(r).replicas);
    let updated = new_rs.map_or(0, |r| status_of(r).replicas);
    let ready = sum(&|r| status_of(r).ready_replicas.unwrap_or(0));
    let available_now = sum(&|r| status_of(r).available_replicas.unwrap_or(0));
    let total: i32 = sum(&|r| replicas(r));
    let current = d.status.clone().unwrap_or_default();
    let mut conditions = current.conditions.clone().unwrap_or_default();
    let now = Time(jiff::Timestamp::now());
    let (status, reason, message) = if available_now >= want - unavailable {
        (
            "True",
            "MinimumReplicasAvailable",
            "Deployment has minimum availability.",
        )
    } else {
        (
            "False",
            "MinimumReplicasUnavailable",
            "Deployment does not have minimum availability.",
        )
    };
    set_condition(
        &mut conditions,
        "Available",
        status,
        reason,
        message.into(),
        &now,
        false,
    );
    let name = new_rs.map(|r| r.name_any()).unwrap_or_default();
    let is_complete = updated == want && replicas_now == want && available_now == want;
    let deadline = spec.progress_deadline_seconds.unwrap_or(600);
    let mut requeue = None;
    let moved = matches!(step, Step::Progressed)
        || progressed(&current, updated, replicas_now, ready, available_now);
    match step {
        Step::Created(rs) => set_condition(
            &mut conditions,
            "Progressing",
            "True",
            "NewReplicaSetCreated",
            format!("Created new replica set \"{rs}\""),
            &now,
            true,
        ),
        _ if spec.paused == Some(true) => set_condition(
            &mut conditions,
            "Progressing",
            "Unknown",
            "DeploymentPaused",
            "Deployment is paused".into(),
            &now,
            false,
        ),
        _ if is_complete && new_rs.is_some() => set_condition(
            &mut conditions,
            "Progressing",
            "True",
            "NewReplicaSetAvailable",
            format!("ReplicaSet \"{name}\" has successfully progressed."),
            &now,
            false,
        ),
        // This pass scaled something, or the ReplicaSets moved since the
        // stored status.
        _ if moved => set_condition(
            &mut conditions,
            "Progressing",
            "True",
            "ReplicaSetUpdated",
            format!("ReplicaSet \"{name}\" is progressing."),
            &now,
            true,
        ),
        Step::Progressed | Step::Quiet => {
            // A rollout that completed cannot time out (kube's
            // DeploymentTimedOut skips NewReplicaSetAvailable).
            let since = conditions
                .iter()
                .find(|c| {
                    c.type_ == "Progressing"
                        && c.status == "True"
                        && c.reason.as_deref() != Some("NewReplicaSetAvailable")
                })
                .and_then(|c| c.last_update_time.as_ref())
                .map(|t| t.0.as_second());
            if let Some(since) = since {
                let left = since + i64::from(deadline) - pods::now();
                if left <= 0 {
                    set_condition(
                        &mut conditions,
                        "Progressing",
                        "False",
                        "ProgressDeadlineExceeded",
                        format!("ReplicaSet \"{name}\" has timed out progressing."),
                        &now,
                        false,
                    );
                } else {
                    requeue = Some(left);
                }
            } else if conditions.iter().all(|c| c.type_ != "Progressing") && new_rs.is_some() {
                set_condition(
                    &mut conditions,
                    "Progressing",
                    "True",
                    "FoundNewReplicaSet",
                    format!("Found new replica set \"{name}\""),
                    &now,
                    true,
                );
            }
        }
    }
    let desired_status = json!({
        "observedGeneration": d.metadata.generation,
        "replicas": replicas_now,
        "updatedReplicas": updated,
        "readyReplicas": ready,
        "availableReplicas": available_now,
        "unavailableReplicas": (total - available_now).max(0),
        "collisionCount": current.collision_count,
        "conditions": conditions,
    });
    let desired_status = status::go_encoded(
        desired_status,
        &[
            "replicas",
            "updatedReplicas",
            "readyReplicas",
            "availableReplicas",
            "unavailableReplicas",
        ],
    );
    let api: Api<Deployment> =
        Api::namespaced(ctx.client.clone(), &d.namespace().unwrap_or_default());
    status::write(&api, &d.name_any(), d.status.as_ref(), desired_status).await?;
    Ok(match requeue {
        Some(s) if !is_complete => {
            Action::requeue(Duration::from_secs(u64::try_from(s).unwrap_or(1)))
        }
        _ => Action::await_change(),
    })
}

/// Whether the ReplicaSets moved since the stored status (kube's `DeploymentProgressing`).
fn progressed(
    current: &k8s_openapi::api::apps::v1::DeploymentStatus,
    updated: i32,
    replicas_now: i32,
    ready: i32,
    available_now: i32,
) -> bool {
    updated > current.updated_replicas.unwrap_or(0)
        || replicas_now < current.replicas.unwrap_or(0) && current.replicas.unwrap_or(0) > updated
        || ready > current.ready_replicas.unwrap_or(0)
        || available_now > current.available_replicas.unwrap_or(0)
}

/// Sets condition `type_`, keeping its transition time while its status
/// stays; `touch` moves its update time even when nothing else changes.
fn set_condition(
    conditions: &mut Vec<DeploymentCondition>,
    type_: &str,
    status: &str,
    reason: &str,
    message: String,
    now: &Time,
    touch: bool,
) {
    if let Some(c) = conditions.iter_mut().find(|c| c.type_ == type_) {
        let same = c.status == status
            && c.reason.as_deref() == Some(reason)
            && c.message.as_deref() == Some(&message);
        if same && !touch {
            return;
        }
        if c.status != status {
            c.last_transition_time = Some(now.clone());
        }
        c.status = status.into();
        c.reason = Some(reason.into());
        c.message = Some(message);
        c.last_update_time = Some(now.clone());
        return;
    }
    conditions.push(DeploymentCondition {
        type_: type_.into(),
        status: status.into(),
        reason: Some(reason.into()),
        message: Some(message),
        last_transition_time: Some(now.clone()),
        last_update_time: Some(now.clone()),
    });
}
