//! The PersistentVolume controller and a provisioner: every pending
//! PersistentVolumeClaim is bound to an Available PersistentVolume that
//! fits it (storage class, access modes, capacity), or to a new one
//! provisioned for it (`pvc-<claim uid>`, deleted with its claim as the
//! default `Delete` reclaim policy does); both sides get `Bound` and the
//! annotations kube's binder sets.

use std::sync::Arc;

use k8s_openapi::api::core::v1::{PersistentVolume, PersistentVolumeClaim};
use kube::api::{Patch, PatchParams, PostParams};
use kube::runtime::controller::Action;
use kube::runtime::reflector::{ObjectRef, Store};
use kube::{Api, Client, ResourceExt};
use serde_json::json;

use crate::{keys, quantity, status};

/// The provisioner named on volumes the simulation makes.
const PROVISIONER: &str = "simulation.operatorkit.dev/hostpath";

/// What the controller reads.
pub struct Context {
    pub client: Client,
    pub volumes: Store<PersistentVolume>,
    pub claims: Store<PersistentVolumeClaim>,
}

fn params() -> PatchParams {
    PatchParams {
        field_manager: Some(keys::CONTROLLER_MANAGER.into()),
        ..PatchParams::default()
    }
}

/// Binds `claim` if it is pending.
pub async fn reconcile(
    claim: Arc<PersistentVolumeClaim>,
    ctx: Arc<Context>,
) -> Result<Action, kube::Error> {
    let phase = claim.status.as_ref().and_then(|s| s.phase.as_deref());
    if claim.metadata.deletion_timestamp.is_some() || phase == Some("Bound") {
        return Ok(Action::await_change());
    }
    let ns = claim.namespace().unwrap_or_default();
    let name = claim.name_any();
    let uid = claim.metadata.uid.clone().unwrap_or_default();
    let spec = claim.spec.clone().unwrap_or_default();
    let wanted = spec
        .resources
        .as_ref()
        .and_then(|r| r.requests.as_ref())
        .and_then(|r| r.get("storage"))
        .map(|q| q.0.clone())
        .unwrap_or_else(|| "1Gi".into());
    let class = spec.storage_class_name.clone().unwrap_or_default();
    let modes = spec.access_modes.clone().unwrap_or_default();
    let volumes: Api<PersistentVolume> = Api::all(ctx.client.clone());
    let fits = |pv: &PersistentVolume| {
        let s = pv.spec.clone().unwrap_or_default();
        let available = pv.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Available");
        let claimed_by_us = s
            .claim_ref
            .as_ref()
            .is_some_and(|r| r.uid.as_deref() == Some(uid.as_str()));
        let size = s
            .capacity
            .as_ref()
            .and_then(|c| c.get("storage"))
            .and_then(|q| quantity::milli(&q.0));
        (claimed_by_us || (available && s.claim_ref.is_none()))
            && s.storage_class_name.clone().unwrap_or_default() == class
            && modes
                .iter()
                .all(|m| s.access_modes.iter().flatten().any(|x| x == m))
            && size >= quantity::milli(&wanted)
    };
    // A claim naming its volume gets that one; otherwise one that fits, or
    // a new one.
    let named = spec.volume_name.clone().filter(|v| !v.is_empty());
    let found = match &named {
        Some(v) => ctx.volumes.get(&ObjectRef::new(v)),
        None => ctx.volumes.state().into_iter().find(|pv| fits(pv)),
    };
    let (volume, version) = match (found, named) {
        (Some(pv), _) => (pv.name_any(), pv.metadata.resource_version.clone()),
        // Named but not there (yet): wait for it, as kube's binder does.
        (None, Some(_)) => return Ok(Action::await_change()),
        (None, None) => (
            provision(&volumes, &claim, &wanted, &class, &modes).await?,
            None,
        ),
    };
    let claim_ref = json!({"kind": "PersistentVolumeClaim", "apiVersion": "v1", "namespace": ns, "name": name, "uid": uid});
    // The volume's resourceVersion as read: a second claim racing for it
    // gets a conflict instead of taking it too.
    let patch = json!({"metadata": {"resourceVersion": version}, "spec": {"claimRef": claim_ref}});
    volumes
        .patch(
            &volume,
            &params(),
            &Patch::Merge(status::without_nulls(&patch)),
        )
        .await?;
    volumes
        .patch_status(
            &volume,
            &params(),
            &Patch::Merge(json!({"status": {"phase": "Bound"}})),
        )
        .await?;
    let claims: Api<PersistentVolumeClaim> = Api::namespaced(ctx.client.clone(), &ns);
    let bound = json!({
        "metadata": {"annotations": {
            "pv.kubernetes.io/bind-completed": "yes",
            "pv.kubernetes.io/bound-by-controller": "yes",
        }},
        "spec": {"volumeName": volume},
    });
    claims
        .patch(&name, &params(), &Patch::Merge(&bound))
        .await?;
    let status = json!({"status": {
        "phase": "Bound",
        "accessModes": modes,
        "capacity": {"storage": wanted},
    }});
    claims
        .patch_status(&name, &params(), &Patch::Merge(&status))
        .await?;
    Ok(Action::await_change())
}

/// Makes a volume for `claim`, as a dynamic provisioner does.
async fn provision(
    volumes: &Api<PersistentVolume>,
    claim: &PersistentVolumeClaim,
    size: &str,
    class: &str,
    modes: &[String],
) -> Result<String, kube::Error> {
    let name = format!("pvc-{}", claim.metadata.uid.clone().unwrap_or_default());
    let pv: PersistentVolume = serde_json::from_value(json!({
        "metadata": {
            "name": name,
            "annotations": {"pv.kubernetes.io/provisioned-by": PROVISIONER},
        },
        "spec": {
            "capacity": {"storage": size},
            "accessModes": if modes.is_empty() { vec!["ReadWriteOnce".to_owned()] } else { modes.to_vec() },
            "persistentVolumeReclaimPolicy": "Delete",
            // Pre-bound to its claim, as a provisioner makes it.
            "claimRef": {
                "kind": "PersistentVolumeClaim", "apiVersion": "v1",
                "namespace": claim.namespace(), "name": claim.name_any(),
                "uid": claim.metadata.uid,
            },
            "storageClassName": class,
            "hostPath": {"path": format!("/tmp/simulation/{name}")},
        },
    }))
    .map_err(kube::Error::SerdeError)?;
    let pp = PostParams {
        field_manager: Some(keys::CONTROLLER_MANAGER.into()),
        ..PostParams::default()
    };
    match volumes.create(&pp, &pv).await {
        Ok(_) => {}
        Err(kube::Error::Api(e)) if e.code == 409 => {}
        Err(e) => return Err(e),
    }
    Ok(name)
}

/// A new volume without a claim becomes `Available`; a bound volume whose
/// claim is gone is deleted under the `Delete` reclaim policy, `Released`
/// under `Retain`.
pub async fn release(pv: Arc<PersistentVolume>, ctx: Arc<Context>) -> Result<Action, kube::Error> {
    let phase = pv.status.as_ref().and_then(|s| s.phase.as_deref());
    let spec = pv.spec.clone().unwrap_or_default();
    if matches!(phase, None | Some("Pending")) && spec.claim_ref.is_none() {
        let volumes: Api<PersistentVolume> = Api::all(ctx.client.clone());
        // Only the volume as read: a binder that claimed it meanwhile wins.
        let patch = json!({
            "metadata": {"resourceVersion": pv.metadata.resource_version},
            "status": {"phase": "Available"},
        });
        match volumes
            .patch_status(&pv.name_any(), &params(), &Patch::Merge(&patch))
            .await
        {
            Ok(_) => {}
            Err(kube::Error::Api(e)) if e.code == 409 || e.code == 404 => {}
            Err(e) => return Err(e),
        }
        return Ok(Action::await_change());
    }
    let Some(claim) = spec.claim_ref.as_ref().filter(|_| phase == Some("Bound")) else {
        return Ok(Action::await_change());
    };
    let key = ObjectRef::new(claim.name.as_deref().unwrap_or_default())
        .within(claim.namespace.as_deref().unwrap_or_default());
    let present = ctx
        .claims
        .get(&key)
        .is_some_and(|c| c.metadata.uid == claim.uid);
    if present {
        return Ok(Action::await_change());
    }
    let volumes: Api<PersistentVolume> = Api::all(ctx.client.clone());
    match spec.persistent_volume_reclaim_policy.as_deref() {
        Some("Delete") => match volumes.delete(&pv.name_any(), &Default::default()).await {
            Ok(_) => {}
            Err(kube::Error::Api(e)) if e.code == 404 => {}
            Err(e) => return Err(e),
        },
        _ => {
            let patch = json!({"status": {"phase": "Released"}});
            volumes
                .patch_status(&pv.name_any(), &params(), &Patch::Merge(&patch))
                .await?;
        }
    }
    Ok(Action::await_change())
}
