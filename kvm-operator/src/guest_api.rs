//! Talking to a guest cluster's own API server: where it answers, its
//! Nodes, and draining one before its VM goes. kvm-operator reaches it only
//! with what the system issued: the cluster CA to verify the server, and
//! its own client certificate (`<id>-kvm-operator`, in `system:masters`).
//!
//! # Where the guest API answers
//! - By default, for kvm-operator, at `https://master.<id>.svc:<apiPort>`
//!   (the masters' Service, through the host's cluster DNS); for people, in
//!   the kubeconfig Secret, at `https://api.<id>.<baseDomain>` (the API
//!   Ingress, TLS passed through).
//! - With `--guest-api-address-annotation <key>`, at the address that
//!   annotation of the masters' Service holds, for both (the simulation
//!   publishes a loopback address there, as kube-proxy would route it).
//!
//! # Draining a node, as `kubectl drain` does
//! 1. Cordon: `spec.unschedulable: true`.
//! 2. Evict every pod on the node (the Eviction API: the guest's
//!    PodDisruptionBudgets decide) but DaemonSet pods, mirror pods and
//!    finished pods. A refused eviction (429) is tried again on the next
//!    pass; the KVMConfig says which pod and which budget wait.
//! 3. Drained once none of those pods is left; only then is the VM
//!    deleted (a removed node), and its guest Node after it, or replaced
//!    (a changed node), and its Node uncordoned once the new VM is Ready.
//!
//! # Caveats
//! - The guest is read on every reconcile of its KVMConfig (VM pod events,
//!   `--recheck`), never watched.
//! - An unreachable guest never blocks for long: Ready waits for it up to
//!   `--guest-api-wait` (2 minutes) after the master VMs became
//!   ready, then the status falls back to the VM pods' readiness; a drain
//!   waits 5 minutes for the guest to answer, then the VM goes undrained
//!   (`GuestAPIAvailable` says why).
//! - A Node that is not Ready is drained once its pods are evicted: with
//!   its kubelet gone, nothing would confirm their deletion.

use std::collections::BTreeMap;
use std::time::Duration;

use apiextensions::certificates::{Pem, kubeconfig};
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::{DeleteParams, EvictParams, ListParams, Patch, PatchParams};
use kube::config::KubeConfigOptions;
use kube::{Api, Client, ResourceExt};
use serde_json::json;

use crate::OPERATOR;
use crate::guest::Guest;

/// How long connecting to a guest API may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long one guest API request may take.
const READ_TIMEOUT: Duration = Duration::from_secs(10);

/// Where a guest API answers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Endpoint {
    /// The URL kvm-operator reaches it at.
    pub operator: String,
    /// The URL people reach it at (the kubeconfig Secret's).
    pub public: String,
}

/// The endpoint of `guest`: by the masters' Service annotation `annotation`
/// when given (`None` while it holds no address), else by name.
pub fn endpoint(
    guest: &Guest<'_>,
    annotation: Option<&str>,
    master_service: Option<&k8s_openapi::api::core::v1::Service>,
) -> Option<Endpoint> {
    match annotation {
        Some(key) => {
            let address = master_service?.annotations().get(key)?;
            let url = format!("https://{address}");
            Some(Endpoint {
                operator: url.clone(),
                public: url,
            })
        }
        None => {
            let port = guest.config.spec.cluster.kubernetes.api_port;
            Some(Endpoint {
                operator: format!("https://master.{}.svc:{port}", guest.id),
                public: format!("https://{}", guest.domain("api")),
            })
        }
    }
}

/// Annotation of a guest Node kvm-operator cordoned to drain it: it
/// uncordons the Node once its replaced VM is Ready (a Node cordoned by
/// someone else stays cordoned).
pub const DRAINED_ANNOTATION: &str = operatorkit::key!("kvm-operator", "drained");

/// A client of one guest cluster's API.
pub struct GuestApi {
    client: Client,
}

/// What kvm-operator reads of a guest Node.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NodeState {
    /// Its Ready condition is True.
    pub ready: bool,
    /// kvm-operator cordoned it ([`DRAINED_ANNOTATION`]).
    pub drained: bool,
}

/// Where draining a node stands.
#[derive(Debug, PartialEq, Eq)]
pub enum Drain {
    /// No pod that must move is left on it.
    Done,
    /// Pods are still there: why.
    Waiting(String),
}

impl GuestApi {
    /// A client of `guest`'s API at `url`, with kvm-operator's issued
    /// certificate `own`. Makes no request.
    pub async fn new(guest: &Guest<'_>, url: &str, own: &Pem) -> Result<Self, String> {
        let user = OPERATOR.to_string();
        let file = kubeconfig(guest.id, url, &user, own);
        let mut config = kube::Config::from_custom_kubeconfig(file, &KubeConfigOptions::default())
            .await
            .map_err(|e| format!("the guest kubeconfig: {e}"))?;
        config.connect_timeout = Some(CONNECT_TIMEOUT);
        config.read_timeout = Some(READ_TIMEOUT);
        // A 429 is an eviction's answer (a budget refuses for now), to be
        // reported and tried on the next pass, not retried here for minutes.
        config.default_retry = false;
        let client = Client::try_from(config).map_err(|e| format!("a guest API client: {e}"))?;
        Ok(Self { client })
    }

    /// Every guest Node by name.
    pub async fn nodes(&self) -> Result<BTreeMap<String, NodeState>, kube::Error> {
        let nodes: Api<Node> = Api::all(self.client.clone());
        Ok(nodes
            .list(&ListParams::default())
            .await?
            .items
            .iter()
            .map(|n| {
                let state = NodeState {
                    ready: node_ready(n),
                    drained: n.annotations().contains_key(DRAINED_ANNOTATION),
                };
                (n.name_any(), state)
            })
            .collect())
    }

    /// Makes guest Node `name` schedulable again (its VM is back).
    pub async fn uncordon(&self, name: &str) -> Result<(), kube::Error> {
        let patch = json!({
            "metadata": {"annotations": {DRAINED_ANNOTATION: null}},
            "spec": {"unschedulable": null},
        });
        self.patch_node(name, &patch).await?;
        tracing::info!(node = name, "uncordoned the guest node of a replaced VM");
        Ok(())
    }

    async fn patch_node(&self, name: &str, patch: &serde_json::Value) -> Result<(), kube::Error> {
        let nodes: Api<Node> = Api::all(self.client.clone());
        let params = PatchParams {
            field_manager: Some(OPERATOR.to_string()),
            ..PatchParams::default()
        };
        nodes.patch(name, &params, &Patch::Merge(patch)).await?;
        Ok(())
    }

    /// Cordons guest Node `name` and evicts its pods (one pass).
    pub async fn drain(&self, name: &str) -> Result<Drain, kube::Error> {
        let nodes: Api<Node> = Api::all(self.client.clone());
        let Some(node) = nodes.get_opt(name).await? else {
            return Ok(Drain::Done);
        };
        if !node
            .spec
            .as_ref()
            .and_then(|s| s.unschedulable)
            .unwrap_or(false)
        {
            let cordon = json!({
                "metadata": {"annotations": {DRAINED_ANNOTATION: "true"}},
                "spec": {"unschedulable": true},
            });
            self.patch_node(name, &cordon).await?;
            tracing::info!(node = name, "cordoned the guest node");
        }
        let pods: Api<Pod> = Api::all(self.client.clone());
        let on_node = ListParams::default().fields(&format!("spec.nodeName={name}"));
        let moving: Vec<Pod> = pods
            .list(&on_node)
            .await?
            .items
            .into_iter()
            .filter(must_move)
            .collect();
        let mut refused = Vec::new();
        for pod in moving
            .iter()
            .filter(|p| p.metadata.deletion_timestamp.is_none())
        {
            if let Some(why) = self.evict(pod).await {
                refused.push(why);
            }
        }
        // A node whose kubelet is gone never confirms a deletion: its pods
        // are released once evicted (they go with the Node).
        let confirmed = node_ready(&node);
        Ok(match (moving.len(), refused.is_empty()) {
            (0, _) => Drain::Done,
            (_, true) if !confirmed => Drain::Done,
            (n, true) => {
                Drain::Waiting(format!("draining guest node {name}: {n} pods terminating"))
            }
            (_, false) => Drain::Waiting(format!(
                "draining guest node {name}: {}",
                refused.join("; ")
            )),
        })
    }

    /// Evicts `pod`; why not, when it is refused (its budget, for now) or
    /// fails (tried again next pass).
    async fn evict(&self, pod: &Pod) -> Option<String> {
        let ns = pod.namespace().unwrap_or_default();
        let api: Api<Pod> = Api::namespaced(self.client.clone(), &ns);
        let who = format!("{ns}/{}", pod.name_any());
        match api.evict(&pod.name_any(), &EvictParams::default()).await {
            Ok(_) => {
                tracing::info!(pod = %who, "evicted from a guest node");
                None
            }
            Err(kube::Error::Api(s)) if s.code == 404 => None,
            Err(kube::Error::Api(s)) if s.code == 429 => Some(format!(
                "evicting pod {who} is refused for now: {}",
                s.message
            )),
            Err(e) => Some(format!("evicting pod {who} failed: {e}")),
        }
    }

    /// Deletes guest Node `name` (its VM is gone).
    pub async fn forget(&self, name: &str) -> Result<(), kube::Error> {
        let nodes: Api<Node> = Api::all(self.client.clone());
        match nodes.delete(name, &DeleteParams::default()).await {
            Ok(_) => {
                tracing::info!(node = name, "deleted the guest node of a removed VM");
                Ok(())
            }
            Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
            Err(e) => Err(e),
        }
    }
}

/// A node's Ready condition.
fn node_ready(node: &Node) -> bool {
    node.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|cs| {
            cs.iter()
                .any(|c| c.type_ == apiextensions::status::READY && c.status == "True")
        })
}

/// Whether draining moves `pod`: not a DaemonSet's (it would come back),
/// not a mirror pod (the kubelet's own), not finished.
fn must_move(pod: &Pod) -> bool {
    let daemon = pod
        .owner_references()
        .iter()
        .any(|o| o.kind == "DaemonSet" && o.controller == Some(true));
    let mirror = pod
        .annotations()
        .contains_key("kubernetes.io/config.mirror");
    let finished = matches!(
        pod.status.as_ref().and_then(|s| s.phase.as_deref()),
        Some("Succeeded" | "Failed")
    );
    !(daemon || mirror || finished)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_endpoint_is_the_service_dns_name_or_the_annotated_address() {
        let config = crate::guest::tests::example();
        let guest = Guest::new(&config);
        let by_name = endpoint(&guest, None, None).unwrap();
        assert_eq!(
            by_name.operator,
            format!(
                "https://master.def34.svc:{}",
                config.spec.cluster.kubernetes.api_port
            )
        );
        assert_eq!(by_name.public, format!("https://{}", guest.domain("api")));
        let key = "example.com/address";
        assert_eq!(endpoint(&guest, Some(key), None), None);
        let mut svc = k8s_openapi::api::core::v1::Service::default();
        assert_eq!(endpoint(&guest, Some(key), Some(&svc)), None);
        svc.metadata.annotations = Some([(key.to_owned(), "127.0.0.1:4444".to_owned())].into());
        let annotated = endpoint(&guest, Some(key), Some(&svc)).unwrap();
        assert_eq!(annotated.operator, "https://127.0.0.1:4444");
        assert_eq!(annotated.public, "https://127.0.0.1:4444");
    }

    #[test]
    fn draining_leaves_daemon_set_mirror_and_finished_pods() {
        let pod = |v: serde_json::Value| -> Pod { serde_json::from_value(v).unwrap() };
        assert!(must_move(&pod(
            json!({"metadata": {"name": "a"}, "status": {"phase": "Running"}})
        )));
        let daemon = json!({"metadata": {"name": "d", "ownerReferences": [
            {"apiVersion": "apps/v1", "kind": "DaemonSet", "name": "ds", "uid": "1", "controller": true}]}});
        assert!(!must_move(&pod(daemon)));
        let mirror =
            json!({"metadata": {"name": "m", "annotations": {"kubernetes.io/config.mirror": "x"}}});
        assert!(!must_move(&pod(mirror)));
        assert!(!must_move(&pod(
            json!({"metadata": {"name": "f"}, "status": {"phase": "Succeeded"}})
        )));
    }
}
