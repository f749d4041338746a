//! Fake nodes, as KWOK makes them: created with KWOK's labels, annotation
//! and taint, reported Ready with capacity and addresses, and kept alive by
//! a heartbeat Lease in `kube-node-lease`, as a kubelet does. A node
//! annotated [`keys::NODE_NOT_READY`] stops its heartbeat and is marked as
//! the node lifecycle controller marks an unreachable node: `Ready=Unknown`
//! and the `node.kubernetes.io/unreachable` taints.

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Node, NodeCondition, Taint};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, Time};
use kube::api::{Patch, PatchParams, PostParams};
use kube::runtime::controller::Action;
use kube::runtime::reflector::Store;
use kube::{Api, Client, ResourceExt};
use serde_json::json;

use crate::keys;
use crate::{Error, Options};

/// The name of fake node `i` (0-based).
pub fn name(options: &Options, i: usize) -> String {
    format!("{}-{i}", options.node_prefix)
}

/// Whether `node` is one of the simulation's (KWOK's annotation).
pub fn is_fake(node: &Node) -> bool {
    node.annotations().get(keys::KWOK_NODE).map(String::as_str) == Some(keys::KWOK_NODE_FAKE)
}

/// Whether the node is taken NotReady by its annotation.
pub fn taken_down(node: &Node) -> bool {
    node.annotations()
        .get(keys::NODE_NOT_READY)
        .map(String::as_str)
        == Some("true")
}

/// Whether a node's Ready condition is True.
pub fn is_ready(node: &Node) -> bool {
    node.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .and_then(|cs| cs.iter().find(|c| c.type_ == keys::READY))
        .is_some_and(|c| c.status == "True")
}

/// Creates the fake nodes that do not exist yet, each reported Ready.
pub async fn create(client: &Client, options: &Options) -> Result<(), Error> {
    let nodes: Api<Node> = Api::all(client.clone());
    for i in 0..options.nodes {
        join(&nodes, options, &name(options, i), i, &[]).await?;
    }
    Ok(())
}

/// Registers fake node `name` (the `i`th, which picks its addresses) with
/// `labels` besides KWOK's, reported Ready, unless it exists.
pub async fn join(
    nodes: &Api<Node>,
    options: &Options,
    name: &str,
    i: usize,
    labels: &[(&str, &str)],
) -> Result<(), Error> {
    if nodes
        .get_opt(name)
        .await
        .map_err(Error::api("reading node"))?
        .is_some()
    {
        return Ok(());
    }
    let mut manifest = manifest(name, i);
    for (k, v) in labels {
        manifest["metadata"]["labels"][*k] = json!(v);
    }
    let node: Node = serde_json::from_value(manifest)
        .map_err(|e| Error::Internal(format!("node manifest: {e}")))?;
    let pp = PostParams {
        field_manager: Some(keys::KUBELET.into()),
        ..PostParams::default()
    };
    match nodes.create(&pp, &node).await {
        Ok(_) => {}
        Err(kube::Error::Api(e)) if e.code == 409 => return Ok(()),
        Err(e) => return Err(Error::api("creating node")(e)),
    }
    let status = json!({"status": status(options, name, i)});
    nodes
        .patch_status(name, &params(), &Patch::Merge(&status))
        .await
        .map_err(Error::api("reporting node status"))?;
    Ok(())
}

fn params() -> PatchParams {
    PatchParams {
        field_manager: Some(keys::KUBELET.into()),
        ..PatchParams::default()
    }
}

/// A fake node as KWOK's documentation writes one.
fn manifest(name: &str, i: usize) -> serde_json::Value {
    json!({
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "annotations": {
                "node.alpha.kubernetes.io/ttl": "0",
                keys::KWOK_NODE: keys::KWOK_NODE_FAKE,
            },
            "labels": {
                "beta.kubernetes.io/arch": "amd64",
                "beta.kubernetes.io/os": "linux",
                "kubernetes.io/arch": "amd64",
                "kubernetes.io/hostname": name,
                "kubernetes.io/os": "linux",
                "kubernetes.io/role": "agent",
                "node-role.kubernetes.io/agent": "",
                keys::NODE_TYPE: keys::NODE_TYPE_KWOK,
            },
        },
        "spec": {
            "podCIDR": pod_cidr(i),
            "podCIDRs": [pod_cidr(i)],
            "taints": [{"key": keys::KWOK_NODE, "value": keys::KWOK_NODE_FAKE, "effect": "NoSchedule"}],
        },
    })
}

/// Node `i`'s pod network: `10.<244 + i / 256>.<i % 256>.0/24`.
pub fn pod_cidr(i: usize) -> String {
    format!("10.{}.{}.0/24", 244 + i / 256, i % 256)
}

/// Node `i`'s address.
fn address(i: usize) -> String {
    format!("10.0.{}.{}", i / 250, i % 250 + 2)
}

fn status(options: &Options, name: &str, i: usize) -> serde_json::Value {
    let now = Time(jiff::Timestamp::now());
    let resources = json!({
        "cpu": options.node_cpu,
        "memory": options.node_memory,
        "pods": options.node_pods.to_string(),
        "ephemeral-storage": "100Gi",
    });
    json!({
        "phase": "Running",
        "capacity": resources,
        "allocatable": resources,
        "addresses": [
            {"type": "InternalIP", "address": address(i)},
            {"type": "Hostname", "address": name},
        ],
        "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
        "nodeInfo": {
            "architecture": "amd64", "bootID": "", "containerRuntimeVersion": "kwok://fake",
            "kernelVersion": "", "kubeProxyVersion": "fake", "kubeletVersion": "fake",
            "machineID": "", "operatingSystem": "linux", "osImage": "", "systemUUID": "",
        },
        "conditions": conditions(true, &now),
    })
}

/// The node's conditions: Ready as asked, no pressure.
fn conditions(ready: bool, now: &Time) -> Vec<NodeCondition> {
    let quiet = |type_: &str, reason: &str, message: &str| NodeCondition {
        type_: type_.into(),
        status: "False".into(),
        reason: Some(reason.into()),
        message: Some(message.into()),
        last_heartbeat_time: Some(now.clone()),
        last_transition_time: Some(now.clone()),
    };
    let ready = match ready {
        true => NodeCondition {
            type_: keys::READY.into(),
            status: "True".into(),
            reason: Some("KubeletReady".into()),
            message: Some("kubelet is posting ready status".into()),
            last_heartbeat_time: Some(now.clone()),
            last_transition_time: Some(now.clone()),
        },
        false => NodeCondition {
            type_: keys::READY.into(),
            status: "Unknown".into(),
            reason: Some("NodeStatusUnknown".into()),
            message: Some("Kubelet stopped posting node status.".into()),
            last_heartbeat_time: Some(now.clone()),
            last_transition_time: Some(now.clone()),
        },
    };
    vec![
        quiet(
            "MemoryPressure",
            "KubeletHasSufficientMemory",
            "kubelet has sufficient memory available",
        ),
        quiet(
            "DiskPressure",
            "KubeletHasNoDiskPressure",
            "kubelet has no disk pressure",
        ),
        quiet(
            "PIDPressure",
            "KubeletHasSufficientPID",
            "kubelet has sufficient PID available",
        ),
        ready,
    ]
}

/// Renews every fake node's Lease each `every`, but for nodes taken down.
pub async fn heartbeat(client: Client, nodes: Store<Node>, every: Duration) {
    let leases: Api<Lease> = Api::namespaced(client, keys::NODE_LEASE_NAMESPACE);
    let mut tick = tokio::time::interval(every);
    loop {
        tick.tick().await;
        for node in nodes.state() {
            if !is_fake(&node) || taken_down(&node) {
                continue;
            }
            if let Err(e) = renew(&leases, &node, every).await {
                tracing::debug!(node = %node.name_any(), error = %e, "renewing the node lease failed");
            }
        }
    }
}

async fn renew(leases: &Api<Lease>, node: &Node, every: Duration) -> Result<(), kube::Error> {
    let name = node.name_any();
    let now = MicroTime(jiff::Timestamp::now());
    let renew = json!({"spec": {"renewTime": now}});
    match leases.patch(&name, &params(), &Patch::Merge(&renew)).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(e)) if e.code == 404 => {
            let duration = (every.as_secs() * 4).max(40);
            let lease: Lease = serde_json::from_value(json!({
                "metadata": {
                    "name": name,
                    "ownerReferences": [{
                        "apiVersion": "v1", "kind": "Node", "name": name,
                        "uid": node.metadata.uid.clone().unwrap_or_default(),
                    }],
                },
                "spec": {"holderIdentity": name, "leaseDurationSeconds": duration, "renewTime": now},
            }))
            .map_err(kube::Error::SerdeError)?;
            let pp = PostParams {
                field_manager: Some(keys::KUBELET.into()),
                ..PostParams::default()
            };
            leases.create(&pp, &lease).await.map(|_| ())
        }
        Err(e) => Err(e),
    }
}

/// Keeps a fake node's Ready condition and unreachable taints in line with
/// its [`keys::NODE_NOT_READY`] annotation.
pub async fn reconcile(node: Arc<Node>, client: Arc<Client>) -> Result<Action, kube::Error> {
    if !is_fake(&node) {
        return Ok(Action::await_change());
    }
    let down = taken_down(&node);
    let nodes: Api<Node> = Api::all(Client::clone(&client));
    let name = node.name_any();
    if is_ready(&node) == down {
        let now = Time(jiff::Timestamp::now());
        let status = json!({"status": {"conditions": conditions(!down, &now)}});
        nodes
            .patch_status(&name, &params(), &Patch::Merge(&status))
            .await?;
    }
    let taints = node
        .spec
        .as_ref()
        .and_then(|s| s.taints.clone())
        .unwrap_or_default();
    let wanted = unreachable_taints(&taints, down);
    if wanted != taints {
        let spec = json!({"spec": {"taints": wanted}});
        nodes.patch(&name, &params(), &Patch::Merge(&spec)).await?;
    }
    Ok(Action::await_change())
}

/// `taints` without the unreachable ones, plus them when the node is down.
fn unreachable_taints(taints: &[Taint], down: bool) -> Vec<Taint> {
    let mut out: Vec<Taint> = taints
        .iter()
        .filter(|t| t.key != keys::TAINT_UNREACHABLE)
        .cloned()
        .collect();
    if down {
        let kept = |effect: &str| {
            taints
                .iter()
                .find(|t| t.key == keys::TAINT_UNREACHABLE && t.effect == effect)
                .cloned()
        };
        out.push(kept("NoSchedule").unwrap_or(Taint {
            key: keys::TAINT_UNREACHABLE.into(),
            effect: "NoSchedule".into(),
            time_added: None,
            value: None,
        }));
        out.push(kept("NoExecute").unwrap_or(Taint {
            key: keys::TAINT_UNREACHABLE.into(),
            effect: "NoExecute".into(),
            time_added: Some(Time(jiff::Timestamp::now())),
            value: None,
        }));
    }
    out
}
