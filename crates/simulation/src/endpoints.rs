//! The EndpointSlice and Endpoints controllers, as kube-controller-manager's:
//! for every Service with a selector, one EndpointSlice (labelled
//! `kubernetes.io/service-name`, managed by `endpointslice-controller.k8s.io`,
//! owned by the Service) listing each selected pod that has an IP, with its
//! `ready`/`serving`/`terminating` conditions, node and target, and the
//! Service's ports resolved against the pods' named ports; and the Endpoints
//! of the same name (`addresses`, `notReadyAddresses`). Both are written only
//! when they change. Not simulated: slices split at 100 endpoints (one
//! slice holds them all), dual stack, topology hints,
//! `publishNotReadyAddresses`. Each pass reads the Service's slice and
//! Endpoints from the API server (no cache of its own).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};

use k8s_openapi::api::core::v1::{Endpoints, Pod, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::api::{ListParams, Patch, PatchParams, PostParams};
use kube::runtime::controller::Action;
use kube::runtime::reflector::{ObjectRef, Store};
use kube::{Api, Client, ResourceExt};
use serde_json::{Value, json};

use crate::{keys, pods, status};

/// Label naming an EndpointSlice's Service.
pub const SERVICE_NAME: &str = "kubernetes.io/service-name";
/// Label naming who manages an EndpointSlice.
const MANAGED_BY: &str = "endpointslice.kubernetes.io/managed-by";
/// kube's EndpointSlice controller's name in [`MANAGED_BY`].
const CONTROLLER: &str = "endpointslice-controller.k8s.io";

/// What the controller reads, and which Services list each pod (by UID), so
/// a pod relabelled out of a Service still wakes it.
pub struct Context {
    pub client: Client,
    pub pods: Store<Pod>,
    pub members: Members,
}

/// The Services each pod is an endpoint of, by pod UID.
pub type Members = Arc<Mutex<HashMap<String, HashSet<ObjectRef<Service>>>>>;

/// The Services `pod` was last listed in.
pub fn listed_in(members: &Members, pod: &Pod) -> Vec<ObjectRef<Service>> {
    let members = members
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    members
        .get(pod.metadata.uid.as_deref().unwrap_or_default())
        .map(|s| s.iter().cloned().collect())
        .unwrap_or_default()
}

/// Records that `svc` now lists exactly `selected`.
fn remember(members: &Members, svc: &Service, selected: &[Arc<Pod>]) {
    let key = ObjectRef::from_obj(svc);
    let uids: HashSet<&str> = selected
        .iter()
        .filter_map(|p| p.metadata.uid.as_deref())
        .collect();
    let mut members = members
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    members.retain(|uid, services| {
        if !uids.contains(uid.as_str()) {
            services.remove(&key);
        }
        !services.is_empty()
    });
    for uid in uids {
        members
            .entry(uid.to_owned())
            .or_default()
            .insert(key.clone());
    }
}

/// Whether `selector` (a Service's) selects `labels`.
pub fn selects(selector: &BTreeMap<String, String>, labels: &BTreeMap<String, String>) -> bool {
    !selector.is_empty() && selector.iter().all(|(k, v)| labels.get(k) == Some(v))
}

/// Writes `svc`'s EndpointSlice and Endpoints from the pods it selects.
pub async fn reconcile(svc: Arc<Service>, ctx: Arc<Context>) -> Result<Action, kube::Error> {
    let selector = svc
        .spec
        .as_ref()
        .and_then(|s| s.selector.clone())
        .unwrap_or_default();
    if selector.is_empty() || svc.metadata.deletion_timestamp.is_some() {
        return Ok(Action::await_change());
    }
    let ns = svc.namespace().unwrap_or_default();
    let mut selected: Vec<Arc<Pod>> = ctx.pods.state_filter(|p| {
        p.metadata.namespace.as_deref() == Some(ns.as_str())
            && !pods::is_terminal(p)
            && p.status.as_ref().and_then(|s| s.pod_ip.as_ref()).is_some()
            && selects(&selector, p.labels())
    });
    selected.sort_by_key(|p| p.name_any());
    slice(&ctx.client, &svc, &selected).await?;
    endpoints(&ctx.client, &svc, &selected).await?;
    remember(&ctx.members, &svc, &selected);
    Ok(Action::await_change())
}

/// The pod's port for a Service port's target (a number, or a container
/// port's name).
fn target_port(pod: &Pod, port: &k8s_openapi::api::core::v1::ServicePort) -> Option<i32> {
    match &port.target_port {
        None => Some(port.port),
        Some(IntOrString::Int(n)) => Some(*n),
        Some(IntOrString::String(name)) => pod
            .spec
            .iter()
            .flat_map(|s| s.containers.iter())
            .flat_map(|c| c.ports.iter().flatten())
            .find(|p| p.name.as_deref() == Some(name.as_str()))
            .map(|p| p.container_port),
    }
}

fn ports(svc: &Service, pod: Option<&Pod>) -> Vec<Value> {
    svc.spec
        .iter()
        .flat_map(|s| s.ports.iter().flatten())
        .filter_map(|p| {
            let port = match pod {
                Some(pod) => target_port(pod, p)?,
                None => match &p.target_port {
                    Some(IntOrString::Int(n)) => *n,
                    _ => p.port,
                },
            };
            Some(json!({
                "name": p.name.clone().unwrap_or_default(),
                "port": port,
                "protocol": p.protocol.clone().unwrap_or_else(|| "TCP".into()),
            }))
        })
        .collect()
}

async fn slice(client: &Client, svc: &Service, selected: &[Arc<Pod>]) -> Result<(), kube::Error> {
    let ns = svc.namespace().unwrap_or_default();
    let name = svc.name_any();
    let api: Api<EndpointSlice> = Api::namespaced(client.clone(), &ns);
    let endpoints: Vec<Value> = selected
        .iter()
        .map(|p| {
            let terminating = pods::is_deleting(p);
            let ready = pods::is_ready(p);
            json!({
                "addresses": [p.status.as_ref().and_then(|s| s.pod_ip.clone())],
                "conditions": {"ready": ready && !terminating, "serving": ready, "terminating": terminating},
                "nodeName": pods::node_name(p),
                "targetRef": {"kind": "Pod", "namespace": ns, "name": p.name_any(), "uid": p.metadata.uid},
            })
        })
        .collect();
    let desired = json!({
        "addressType": "IPv4",
        "endpoints": endpoints,
        "ports": ports(svc, selected.first().map(AsRef::as_ref)),
    });
    let lp =
        ListParams::default().labels(&format!("{SERVICE_NAME}={name},{MANAGED_BY}={CONTROLLER}"));
    let existing = api.list(&lp).await?.items;
    let pp = PatchParams {
        field_manager: Some(keys::CONTROLLER_MANAGER.into()),
        ..PatchParams::default()
    };
    match existing.first() {
        Some(current) => {
            let now = json!({
                "addressType": current.address_type,
                "endpoints": current.endpoints,
                "ports": current.ports.clone().unwrap_or_default(),
            });
            if now != status::without_nulls(&desired) {
                api.patch(&current.name_any(), &pp, &Patch::Merge(&desired))
                    .await?;
            }
        }
        None => {
            let mut object = desired;
            object["metadata"] = json!({
                "generateName": format!("{name}-"),
                "labels": {SERVICE_NAME: name, MANAGED_BY: CONTROLLER},
                "ownerReferences": [pods::owner("v1", "Service", &svc.metadata)],
            });
            let slice: EndpointSlice =
                serde_json::from_value(object).map_err(kube::Error::SerdeError)?;
            let pp = PostParams {
                field_manager: Some(keys::CONTROLLER_MANAGER.into()),
                ..PostParams::default()
            };
            api.create(&pp, &slice).await?;
        }
    }
    Ok(())
}

async fn endpoints(
    client: &Client,
    svc: &Service,
    selected: &[Arc<Pod>],
) -> Result<(), kube::Error> {
    let ns = svc.namespace().unwrap_or_default();
    let name = svc.name_any();
    let api: Api<Endpoints> = Api::namespaced(client.clone(), &ns);
    let address = |p: &Pod| {
        json!({
            "ip": p.status.as_ref().and_then(|s| s.pod_ip.clone()),
            "nodeName": pods::node_name(p),
            "targetRef": {"kind": "Pod", "namespace": ns, "name": p.name_any(), "uid": p.metadata.uid},
        })
    };
    let live: Vec<&Arc<Pod>> = selected.iter().filter(|p| !pods::is_deleting(p)).collect();
    let ready: Vec<Value> = live
        .iter()
        .filter(|p| pods::is_ready(p))
        .map(|p| address(p))
        .collect();
    let not_ready: Vec<Value> = live
        .iter()
        .filter(|p| !pods::is_ready(p))
        .map(|p| address(p))
        .collect();
    let mut subset = serde_json::Map::new();
    if !ready.is_empty() {
        subset.insert("addresses".into(), ready.into());
    }
    if !not_ready.is_empty() {
        subset.insert("notReadyAddresses".into(), not_ready.into());
    }
    let subsets: Vec<Value> = match subset.is_empty() {
        true => Vec::new(),
        false => {
            let ports: Vec<Value> = ports(svc, live.first().map(|p| p.as_ref()));
            subset.insert("ports".into(), ports.into());
            vec![Value::Object(subset)]
        }
    };
    let current = api.get_opt(&name).await?;
    let pp = PatchParams {
        field_manager: Some(keys::CONTROLLER_MANAGER.into()),
        ..PatchParams::default()
    };
    match current {
        Some(current) => {
            let now = serde_json::to_value(current.subsets.clone().unwrap_or_default())
                .unwrap_or_default();
            if status::without_nulls(&now) != status::without_nulls(&Value::Array(subsets.clone()))
            {
                let patch = json!({"subsets": subsets});
                api.patch(&name, &pp, &Patch::Merge(&patch)).await?;
            }
        }
        None => {
            let object: Endpoints = serde_json::from_value(json!({
                "metadata": {"name": name, "labels": svc.labels()},
                "subsets": subsets,
            }))
            .map_err(kube::Error::SerdeError)?;
            let pp = PostParams {
                field_manager: Some(keys::CONTROLLER_MANAGER.into()),
                ..PostParams::default()
            };
            match api.create(&pp, &object).await {
                Err(kube::Error::Api(e)) if e.code == 409 => {}
                other => {
                    other?;
                }
            }
        }
    }
    Ok(())
}
