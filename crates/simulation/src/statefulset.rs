//! The StatefulSet controller, as kube-controller-manager's: pods named
//! `<set>-<ordinal>` with stable hostnames under the governing Service, each
//! with its PersistentVolumeClaims `<template>-<set>-<ordinal>` made from
//! `volumeClaimTemplates` before the pod (and kept when it goes, as the
//! default `Retain` policy keeps them); `OrderedReady` creating one pod at a
//! time once the ones before it are Ready and removing from the highest
//! ordinal down, `Parallel` all at once; `RollingUpdate` replacing pods from
//! the highest ordinal down, one at a time; and its status. Not simulated:
//! `partition`, `maxUnavailable`, `ordinals.start`, PVC retention policies
//! other than `Retain`, ControllerRevision objects.

use std::collections::BTreeMap;
use std::sync::Arc;

use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::{PersistentVolumeClaim, Pod, PodTemplateSpec, Volume};
use kube::api::{DeleteParams, PostParams, Preconditions};
use kube::runtime::controller::Action;
use kube::runtime::reflector::{ObjectRef, Store};
use kube::{Api, Client, ResourceExt};
use serde_json::json;

use crate::expectations::Expectations;
use crate::{keys, pods, replicaset, status};

/// Label of a StatefulSet's pod: its own name.
pub const POD_NAME: &str = "statefulset.kubernetes.io/pod-name";
/// Label of a StatefulSet's pod: its ordinal.
pub const POD_INDEX: &str = "apps.kubernetes.io/pod-index";

/// What the controller reads and remembers.
pub struct Context {
    pub client: Client,
    pub pods: Store<Pod>,
    pub claims: Store<PersistentVolumeClaim>,
    pub expectations: Expectations,
}

/// Brings `set`'s pods one step towards its replicas and reports its status.
pub async fn reconcile(set: Arc<StatefulSet>, ctx: Arc<Context>) -> Result<Action, kube::Error> {
    let uid = set.metadata.uid.clone().unwrap_or_default();
    if set.metadata.deletion_timestamp.is_some() {
        ctx.expectations.forget(&uid);
        return Ok(Action::await_change());
    }
    let ns = set.namespace().unwrap_or_default();
    let name = set.name_any();
    let spec = set.spec.clone().unwrap_or_default();
    let replicas = usize::try_from(spec.replicas.unwrap_or(1)).unwrap_or(0);
    // The revision's name, `<set>-<hash>`: the pods' label and the status's
    // revisions, as kube's ControllerRevision names them.
    let revision = format!("{name}-{}", pods::hash(&spec.template, 0));
    // Expectations first, the pods after: a pod that reaches the cache in
    // between is then counted, never created twice.
    let synced = ctx.expectations.satisfied(&uid, &ctx.pods);
    let owned = replicaset::owned_pods(&ctx.pods, &ns, &uid);
    let by_ordinal: BTreeMap<usize, Arc<Pod>> = owned
        .iter()
        .filter_map(|p| Some((ordinal(&name, &p.name_any())?, p.clone())))
        .collect();
    if synced {
        let parallel = spec.pod_management_policy.as_deref() == Some("Parallel");
        step(&ctx, &set, replicas, &revision, &by_ordinal, parallel).await?;
    }
    report(&ctx.client, &set, &revision, &by_ordinal, replicas).await?;
    let min_ready = spec.min_ready_seconds.unwrap_or(0);
    let wait = pods::first_available_in(by_ordinal.values(), min_ready);
    Ok(pods::next_action(synced, false, wait))
}

/// The ordinal of pod `pod` of set `set`, if it is one of its names.
fn ordinal(set: &str, pod: &str) -> Option<usize> {
    pod.strip_prefix(set)?.strip_prefix('-')?.parse().ok()
}

/// One step: create the lowest missing pod (or all, `Parallel`), remove the
/// highest surplus one, or replace the highest outdated one.
async fn step(
    ctx: &Context,
    set: &StatefulSet,
    replicas: usize,
    hash: &str,
    by_ordinal: &BTreeMap<usize, Arc<Pod>>,
    parallel: bool,
) -> Result<(), kube::Error> {
    let uid = set.metadata.uid.clone().unwrap_or_default();
    let ns = set.namespace().unwrap_or_default();
    let api: Api<Pod> = Api::namespaced(ctx.client.clone(), &ns);
    // A pod terminating holds everything in OrderedReady.
    let terminating = by_ordinal.values().any(|p| pods::is_deleting(p));
    for i in 0..replicas {
        match by_ordinal.get(&i) {
            None => {
                if terminating && !parallel {
                    return Ok(());
                }
                claims(ctx, set, i).await?;
                let pod = pod_for(set, i, hash);
                let pp = PostParams {
                    field_manager: Some(keys::CONTROLLER_MANAGER.into()),
                    ..PostParams::default()
                };
                match api.create(&pp, &pod).await {
                    Ok(p) => ctx.expectations.created(&uid, &ns, &p.name_any()),
                    Err(kube::Error::Api(e)) if e.code == 409 => {}
                    Err(e) => return Err(e),
                }
                if !parallel {
                    return Ok(());
                }
            }
            Some(pod) if !parallel && (!pods::is_ready(pod) || pods::is_deleting(pod)) => {
                return Ok(());
            }
            Some(_) => {}
        }
    }
    // Surplus pods: the highest first (all at once under Parallel).
    let surplus: Vec<Arc<Pod>> = by_ordinal
        .range(replicas..)
        .rev()
        .map(|(_, p)| p.clone())
        .filter(|p| !pods::is_deleting(p))
        .collect();
    if !surplus.is_empty() {
        let doomed = if parallel {
            surplus
        } else {
            surplus.into_iter().take(1).collect()
        };
        replicaset::delete(&api, &uid, &doomed, &ctx.expectations).await?;
        return Ok(());
    }
    // Rolling update: the highest outdated pod, once all are Ready.
    let rolling = set
        .spec
        .as_ref()
        .and_then(|s| s.update_strategy.as_ref())
        .and_then(|u| u.type_.as_deref())
        != Some("OnDelete");
    if rolling && !terminating && by_ordinal.values().all(|p| pods::is_ready(p)) {
        let outdated = by_ordinal.range(..replicas).rev().find(|(_, p)| {
            p.labels()
                .get(keys::CONTROLLER_REVISION_HASH)
                .map(String::as_str)
                != Some(hash)
        });
        if let Some((_, pod)) = outdated {
            let dp = DeleteParams {
                preconditions: Some(Preconditions {
                    uid: pod.metadata.uid.clone(),
                    resource_version: None,
                }),
                ..DeleteParams::default()
            };
            match api.delete(&pod.name_any(), &dp).await {
                Ok(_) => ctx.expectations.deleted(&uid, &ns, &pod.name_any()),
                Err(kube::Error::Api(e)) if e.code == 404 || e.code == 409 => {}
                Err(e) => return Err(e),
            }
        }
    }
    Ok(())
}

/// Pod `i` of `set`: its name, hostname, subdomain, labels, and volumes
/// naming its claims.
fn pod_for(set: &StatefulSet, i: usize, hash: &str) -> Pod {
    let spec = set.spec.clone().unwrap_or_default();
    let name = format!("{}-{i}", set.name_any());
    let mut template: PodTemplateSpec = spec.template.clone();
    let mut pod = pods::from_template(
        &template,
        pods::owner("apps/v1", "StatefulSet", &set.metadata),
        &set.namespace().unwrap_or_default(),
        &set.name_any(),
        &[
            (keys::CONTROLLER_REVISION_HASH, hash),
            (POD_NAME, &name),
            (POD_INDEX, &i.to_string()),
        ],
    );
    pod.metadata.generate_name = None;
    pod.metadata.name = Some(name.clone());
    let pod_spec = template.spec.get_or_insert_with(Default::default);
    pod_spec.hostname = Some(name.clone());
    if !spec.service_name.as_deref().unwrap_or_default().is_empty() {
        pod_spec.subdomain = spec.service_name.clone();
    }
    let volumes = pod_spec.volumes.get_or_insert_with(Vec::new);
    for claim in spec.volume_claim_templates.iter().flatten() {
        let claim_name = claim.metadata.name.clone().unwrap_or_default();
        volumes.retain(|v| v.name != claim_name);
        let volume: Option<Volume> = serde_json::from_value(json!({
            "name": claim_name,
            "persistentVolumeClaim": {"claimName": format!("{claim_name}-{name}")},
        }))
        .ok();
        volumes.extend(volume);
    }
    pod.spec = template.spec;
    pod
}

/// Creates pod `i`'s claims that do not exist yet.
async fn claims(ctx: &Context, set: &StatefulSet, i: usize) -> Result<(), kube::Error> {
    let ns = set.namespace().unwrap_or_default();
    let api: Api<PersistentVolumeClaim> = Api::namespaced(ctx.client.clone(), &ns);
    let templates = set
        .spec
        .as_ref()
        .and_then(|s| s.volume_claim_templates.clone())
        .unwrap_or_default();
    for template in templates {
        let name = format!(
            "{}-{}-{i}",
            template.metadata.name.clone().unwrap_or_default(),
            set.name_any()
        );
        if ctx.claims.get(&ObjectRef::new(&name).within(&ns)).is_some() {
            continue;
        }
        let mut claim = template.clone();
        claim.metadata.name = Some(name);
        claim.metadata.namespace = Some(ns.clone());
        let labels = claim.metadata.labels.get_or_insert_with(BTreeMap::new);
        for (k, v) in set
            .spec
            .as_ref()
            .and_then(|s| s.selector.match_labels.clone())
            .unwrap_or_default()
        {
            labels.insert(k, v);
        }
        claim.status = None;
        let pp = PostParams {
            field_manager: Some(keys::CONTROLLER_MANAGER.into()),
            ..PostParams::default()
        };
        match api.create(&pp, &claim).await {
            Ok(_) => {}
            Err(kube::Error::Api(e)) if e.code == 409 => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Writes the StatefulSet's status if it changed.
async fn report(
    client: &Client,
    set: &StatefulSet,
    hash: &str,
    by_ordinal: &BTreeMap<usize, Arc<Pod>>,
    replicas: usize,
) -> Result<(), kube::Error> {
    let live: Vec<&Arc<Pod>> = by_ordinal.values().filter(|p| pods::is_active(p)).collect();
    let count =
        |f: &dyn Fn(&Pod) -> bool| i32::try_from(live.iter().filter(|p| f(p)).count()).unwrap_or(0);
    let min_ready = set
        .spec
        .as_ref()
        .and_then(|s| s.min_ready_seconds)
        .unwrap_or(0);
    let now = pods::now();
    let updated = count(&|p: &Pod| {
        p.labels()
            .get(keys::CONTROLLER_REVISION_HASH)
            .map(String::as_str)
            == Some(hash)
    });
    let revision = format!("{}-{hash}", set.name_any());
    let complete = updated == i32::try_from(replicas).unwrap_or(0);
    let current_revision = match (
        complete,
        set.status.as_ref().and_then(|s| s.current_revision.clone()),
    ) {
        (false, Some(r)) => r,
        _ => revision.clone(),
    };
    let desired = json!({
        "observedGeneration": set.metadata.generation,
        "replicas": count(&|_: &Pod| true),
        "readyReplicas": count(&|p: &Pod| pods::is_ready(p)),
        "availableReplicas": count(&|p: &Pod| pods::is_available(p, min_ready, now)),
        "currentReplicas": if complete { updated } else { count(&|p: &Pod| p.labels().get(keys::CONTROLLER_REVISION_HASH).map(String::as_str) != Some(hash)) },
        "updatedReplicas": updated,
        "currentRevision": current_revision,
        "updateRevision": revision,
        "collisionCount": set.status.as_ref().and_then(|s| s.collision_count).unwrap_or(0),
    });
    let desired = status::go_encoded(
        desired,
        &["readyReplicas", "currentReplicas", "updatedReplicas"],
    );
    let api: Api<StatefulSet> =
        Api::namespaced(client.clone(), &set.namespace().unwrap_or_default());
    status::write(&api, &set.name_any(), set.status.as_ref(), desired).await?;
    Ok(())
}
