//! The ReplicaSet controller: keeps `spec.replicas` active pods for every
//! ReplicaSet (creating them from its template, named after it, or deleting
//! the ones kube would give up first) and reports `replicas`,
//! `fullyLabeledReplicas`, `readyReplicas`, `availableReplicas` and
//! `observedGeneration`, as kube-controller-manager's replicaset controller.
//! A failed create sets `ReplicaFailure` (`FailedCreate`).

use std::sync::Arc;

use futures::{StreamExt, stream};
use k8s_openapi::api::apps::v1::{ReplicaSet, ReplicaSetCondition};
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::api::{DeleteParams, PostParams, Preconditions};
use kube::runtime::controller::Action;
use kube::runtime::reflector::Store;
use kube::{Api, Client, ResourceExt};
use serde_json::json;

use crate::expectations::Expectations;
use crate::{keys, pods, status};

/// Pod creations and deletions in flight per ReplicaSet.
const PARALLEL: usize = 16;

/// What the controller reads and remembers (the Job controller's too).
pub struct Context {
    pub client: Client,
    pub pods: Store<Pod>,
    pub expectations: Expectations,
}

/// Brings `rs`'s pods to its replicas and reports its status.
pub async fn reconcile(rs: Arc<ReplicaSet>, ctx: Arc<Context>) -> Result<Action, kube::Error> {
    let uid = rs.metadata.uid.clone().unwrap_or_default();
    let ns = rs.namespace().unwrap_or_default();
    if rs.metadata.deletion_timestamp.is_some() {
        ctx.expectations.forget(&uid);
        return Ok(Action::await_change());
    }
    // Expectations first, the pods after: a pod that reaches the cache in
    // between is then counted, never created twice.
    let synced = ctx.expectations.satisfied(&uid, &ctx.pods);
    let owned = owned_pods(&ctx.pods, &ns, &uid);
    // Pods whose labels left the selector are released (kube's ClaimPods):
    // they are no longer this ReplicaSet's, and are replaced.
    let selector = rs
        .spec
        .as_ref()
        .map(|s| s.selector.clone())
        .unwrap_or_default();
    let (owned, strays): (Vec<Arc<Pod>>, Vec<Arc<Pod>>) = owned
        .into_iter()
        .partition(|p| pods::selected_by(&selector, p.labels()));
    release(&ctx.client, &uid, &strays).await?;
    let mut active: Vec<Arc<Pod>> = owned
        .iter()
        .filter(|p| pods::is_active(p))
        .cloned()
        .collect();
    let mut failure = None;
    if synced {
        let want =
            usize::try_from(rs.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1)).unwrap_or(0);
        let api: Api<Pod> = Api::namespaced(ctx.client.clone(), &ns);
        if active.len() < want {
            failure = create(&api, &rs, want - active.len(), &ctx.expectations).await;
        } else if active.len() > want {
            pods::deletion_order(&mut active);
            let doomed: Vec<Arc<Pod>> = active.drain(..active.len() - want).collect();
            delete(&api, &uid, &doomed, &ctx.expectations).await?;
        }
    }
    let failed = failure.is_some();
    let wait = report(&ctx.client, &rs, &active, failure).await?;
    Ok(pods::next_action(synced, failed, wait))
}

/// Removes owner `uid`'s reference from `strays` (only while each is still
/// the pod it was).
pub async fn release(client: &Client, uid: &str, strays: &[Arc<Pod>]) -> Result<(), kube::Error> {
    for pod in strays {
        let kept: Vec<_> = pod
            .metadata
            .owner_references
            .iter()
            .flatten()
            .filter(|r| r.uid != uid)
            .cloned()
            .collect();
        let patch = json!({"metadata": {
            "ownerReferences": kept,
            "uid": pod.metadata.uid,
            "resourceVersion": pod.metadata.resource_version,
        }});
        let api: Api<Pod> = Api::namespaced(client.clone(), &pod.namespace().unwrap_or_default());
        let pp = kube::api::PatchParams {
            field_manager: Some(keys::CONTROLLER_MANAGER.into()),
            ..Default::default()
        };
        match api
            .patch(&pod.name_any(), &pp, &kube::api::Patch::Merge(&patch))
            .await
        {
            Ok(_) => {}
            Err(kube::Error::Api(e)) if e.code == 404 || e.code == 409 => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// The pods `uid` controls in `ns`.
pub fn owned_pods(store: &Store<Pod>, ns: &str, uid: &str) -> Vec<Arc<Pod>> {
    store.state_filter(|p| {
        p.metadata.namespace.as_deref() == Some(ns) && pods::controlled_by(&p.metadata, uid)
    })
}

/// Creates `n` pods from `rs`'s template; the first failure's message.
async fn create(
    api: &Api<Pod>,
    rs: &ReplicaSet,
    n: usize,
    expectations: &Expectations,
) -> Option<String> {
    let Some(template) = rs.spec.as_ref().and_then(|s| s.template.clone()) else {
        return Some("the ReplicaSet has no pod template".into());
    };
    let owner = pods::owner("apps/v1", "ReplicaSet", &rs.metadata);
    let ns = rs.namespace().unwrap_or_default();
    let uid = rs.metadata.uid.clone().unwrap_or_default();
    let pod = pods::from_template(&template, owner, &ns, &rs.name_any(), &[]);
    let pp = PostParams {
        field_manager: Some(keys::CONTROLLER_MANAGER.into()),
        ..PostParams::default()
    };
    let results: Vec<Result<Pod, kube::Error>> = stream::iter(0..n)
        .map(|_| api.create(&pp, &pod))
        .buffer_unordered(PARALLEL)
        .collect()
        .await;
    let mut failure = None;
    for result in results {
        match result {
            Ok(created) => expectations.created(&uid, &ns, &created.name_any()),
            Err(e) => {
                tracing::warn!(replicaset = %rs.name_any(), namespace = %ns, error = %e, "creating a pod failed");
                failure.get_or_insert(e.to_string());
            }
        }
    }
    failure
}

/// Deletes `doomed` (each only if it is still the pod it was).
pub async fn delete(
    api: &Api<Pod>,
    owner_uid: &str,
    doomed: &[Arc<Pod>],
    expectations: &Expectations,
) -> Result<(), kube::Error> {
    let results: Vec<(Arc<Pod>, Result<(), kube::Error>)> = stream::iter(doomed.iter().cloned())
        .map(|pod| async move {
            let dp = DeleteParams {
                preconditions: Some(Preconditions {
                    uid: pod.metadata.uid.clone(),
                    resource_version: None,
                }),
                ..DeleteParams::default()
            };
            let r = match api.delete(&pod.name_any(), &dp).await {
                Ok(_) => Ok(()),
                Err(kube::Error::Api(e)) if e.code == 404 || e.code == 409 => Ok(()),
                Err(e) => Err(e),
            };
            (pod, r)
        })
        .buffer_unordered(PARALLEL)
        .collect()
        .await;
    for (pod, result) in results {
        result?;
        expectations.deleted(
            owner_uid,
            &pod.namespace().unwrap_or_default(),
            &pod.name_any(),
        );
    }
    Ok(())
}

/// Writes `rs`'s status if it changed; seconds until a ready pod becomes
/// available, if one will.
async fn report(
    client: &Client,
    rs: &ReplicaSet,
    active: &[Arc<Pod>],
    failure: Option<String>,
) -> Result<Option<i64>, kube::Error> {
    let spec = rs.spec.clone().unwrap_or_default();
    let min_ready = spec.min_ready_seconds.unwrap_or(0);
    let now = pods::now();
    let template_labels = spec
        .template
        .as_ref()
        .and_then(|t| t.metadata.as_ref())
        .and_then(|m| m.labels.clone())
        .unwrap_or_default();
    let count = |f: &dyn Fn(&Pod) -> bool| {
        i32::try_from(active.iter().filter(|p| f(p)).count()).unwrap_or(i32::MAX)
    };
    let fully_labeled = count(&|p: &Pod| {
        let labels = p.labels();
        template_labels
            .iter()
            .all(|(k, v)| labels.get(k) == Some(v))
    });
    let ready = count(&|p: &Pod| pods::is_ready(p));
    let available = count(&|p: &Pod| pods::is_available(p, min_ready, now));
    let wait = pods::first_available_in(active, min_ready);
    let current = rs.status.clone().unwrap_or_default();
    let mut conditions: Vec<ReplicaSetCondition> = current.conditions.clone().unwrap_or_default();
    conditions.retain(|c| c.type_ != "ReplicaFailure");
    if let Some(message) = failure {
        let kept = current
            .conditions
            .iter()
            .flatten()
            .find(|c| c.type_ == "ReplicaFailure" && c.message.as_deref() == Some(&message))
            .cloned();
        conditions.push(kept.unwrap_or(ReplicaSetCondition {
            type_: "ReplicaFailure".into(),
            status: "True".into(),
            reason: Some("FailedCreate".into()),
            message: Some(message),
            last_transition_time: Some(Time(jiff::Timestamp::now())),
        }));
    }
    let replicas = i32::try_from(active.len()).unwrap_or(i32::MAX);
    let desired = json!({
        "replicas": replicas,
        "fullyLabeledReplicas": fully_labeled,
        "readyReplicas": ready,
        "availableReplicas": available,
        "observedGeneration": rs.metadata.generation,
        "conditions": conditions,
    });
    let desired = status::go_encoded(
        desired,
        &["fullyLabeledReplicas", "readyReplicas", "availableReplicas"],
    );
    let api: Api<ReplicaSet> = Api::namespaced(client.clone(), &rs.namespace().unwrap_or_default());
    status::write(&api, &rs.name_any(), rs.status.as_ref(), desired).await?;
    Ok(wait)
}
