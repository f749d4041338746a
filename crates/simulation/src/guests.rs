//! Guest clusters: the simulation plays the VM image that kvm-operator's pods
//! run (see the `GUEST_*` contract in [`keys`]). Once a guest's master VM
//! pod is Ready, its control plane comes up: an embedded API server serving
//! with the master's issued API certificate, trusting the cluster CA for
//! client certificates, on a free loopback port published on the masters'
//! Service ([`keys::GUEST_API_ADDRESS`]), with a simulated cluster of its own
//! behind it. Each Ready VM pod's kubelet registers a guest Node (named as
//! the VM's boot file says); a VM pod that stops being Ready, or is gone,
//! takes its Node NotReady, as a kubelet that stops reporting does.
//!
//! ```text
//!   host pods (VMs) ──▶ guests ──start──▶ guest API server + guest simulation
//!        │ boot Secret       │                 ▲ Nodes join / go NotReady
//!        └───────────────────┴─────────────────┘
//! ```
//!
//! # Caveats
//! - The guest API keeps its state for as long as any VM pod of the cluster
//!   exists or the Service carries its address (as etcd on a volume would);
//!   it is gone with the cluster.
//! - The serving certificate is the one the first Ready master booted with;
//!   a rotated API certificate is not reloaded.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use futures::{FutureExt, Stream, StreamExt};
use k8s_openapi::api::core::v1::{Node, Pod, Secret, Service};
use kube::api::{Patch, PatchParams};
use kube::runtime::reflector::Store;
use kube::{Api, Client, ResourceExt};
use serde_json::{Value, json};

use crate::{Options, Simulation, keys, nodes, pods};

/// How often guests are looked at without a change (retries).
const TICK: Duration = Duration::from_secs(2);

/// What a VM pod's boot files say.
#[derive(Clone)]
struct Boot {
    cluster: String,
    node: String,
    role: String,
    /// A master's API certificate, key and cluster CA.
    serving: Option<operatorkit_apiserver::ServingCert>,
}

/// A running guest control plane.
struct Guest {
    server: operatorkit_apiserver::Handle,
    simulation: Simulation,
    nodes: Api<Node>,
    address: String,
    /// Registered Nodes and whether each is Ready.
    registered: HashMap<String, bool>,
    /// Nodes registered so far: the next one's index (its addresses), never
    /// reused.
    joined: usize,
}

/// The guests of one host cluster.
pub struct Guests {
    client: Client,
    options: Options,
    pods: Store<Pod>,
    services: Store<Service>,
    /// Boot files by pod uid (`None`: not a VM pod).
    boots: HashMap<String, Option<Boot>>,
    /// Running guests by `<namespace>/<cluster id>`.
    running: BTreeMap<String, Guest>,
}

impl Guests {
    /// Guests of the VM pods `client`'s server holds.
    pub fn new(
        client: Client,
        options: Options,
        pods: Store<Pod>,
        services: Store<Service>,
    ) -> Self {
        Self {
            client,
            options,
            pods,
            services,
            boots: HashMap::new(),
            running: BTreeMap::new(),
        }
    }

    /// Converges on every change `changes` reports, and every [`TICK`].
    pub async fn run(mut self, mut changes: Changes) {
        let mut tick = tokio::time::interval(TICK);
        loop {
            tokio::select! {
                _ = changes.next() => {
                    // Coalesce a burst into one pass.
                    while let Some(Some(())) = changes.next().now_or_never() {}
                }
                _ = tick.tick() => {}
            }
            self.converge().await;
        }
    }

    async fn converge(&mut self) {
        let mut clusters: BTreeMap<String, Vec<(Arc<Pod>, Boot)>> = BTreeMap::new();
        let mut seen = HashSet::new();
        for pod in self.pods.state() {
            let Some(uid) = pod.uid() else { continue };
            seen.insert(uid.clone());
            if let Some(boot) = self.boot(&pod, uid).await {
                let key = format!("{}/{}", pod.namespace().unwrap_or_default(), boot.cluster);
                clusters.entry(key).or_default().push((pod, boot));
            }
        }
        self.boots.retain(|uid, _| seen.contains(uid));
        for (key, vms) in &clusters {
            if let Err(e) = self.converge_cluster(key, vms).await {
                tracing::warn!(guest = %key, error = %e, "guest cluster: retrying");
            }
        }
        let gone: Vec<String> = self
            .running
            .keys()
            .filter(|k| !clusters.contains_key(*k) && self.published(k).is_none())
            .cloned()
            .collect();
        for key in gone {
            if let Some(guest) = self.running.remove(&key) {
                tracing::info!(guest = %key, "guest cluster gone: stopping its API server");
                guest.simulation.stop();
                guest.server.shutdown().await;
            }
        }
    }

    /// The boot files of `pod`, read once per pod (`None`: not a VM, or
    /// its Secret not readable yet).
    async fn boot(&mut self, pod: &Pod, uid: String) -> Option<Boot> {
        if let Some(known) = self.boots.get(&uid) {
            return known.clone();
        }
        let Some(secret) = boot_secret(pod) else {
            self.boots.insert(uid, None);
            return None;
        };
        let ns = pod.namespace().unwrap_or_default();
        let secrets: Api<Secret> = Api::namespaced(self.client.clone(), &ns);
        let read = match secrets.get_opt(&secret).await {
            Ok(Some(s)) => parse_boot(&s),
            Ok(None) => return None,
            Err(e) => {
                tracing::debug!(pod = %pod.name_any(), error = %e, "reading a VM's boot Secret");
                return None;
            }
        };
        match read {
            Ok(boot) => {
                self.boots.insert(uid, Some(boot.clone()));
                Some(boot)
            }
            Err(why) => {
                tracing::warn!(pod = %pod.name_any(), %secret, %why, "a VM's boot Secret is unusable");
                None
            }
        }
    }

    async fn converge_cluster(
        &mut self,
        key: &str,
        vms: &[(Arc<Pod>, Boot)],
    ) -> Result<(), String> {
        if !self.running.contains_key(key) {
            let Some(serving) = vms
                .iter()
                .filter(|(p, b)| b.role == "master" && up(p))
                .find_map(|(_, b)| b.serving.clone())
            else {
                return Ok(());
            };
            let guest = start(serving, self.options.clone()).await?;
            tracing::info!(guest = %key, address = %guest.address, "guest cluster: API server up");
            self.running.insert(key.to_owned(), guest);
        }
        let Some(guest) = self.running.get_mut(key) else {
            return Ok(());
        };
        let ns = key.split('/').next().unwrap_or_default();
        publish(&self.client, &self.services, ns, vms, &guest.address).await?;
        let mut present = Vec::new();
        for (pod, boot) in vms {
            present.push(boot.node.clone());
            guest
                .set(&self.options, &boot.node, &boot.role, up(pod))
                .await?;
        }
        let absent: Vec<String> = guest
            .registered
            .keys()
            .filter(|n| !present.contains(n))
            .cloned()
            .collect();
        for node in absent {
            guest.set(&self.options, &node, "", false).await?;
        }
        Ok(())
    }

    /// The address a Service of `key`'s namespace publishes, if any.
    fn published(&self, key: &str) -> Option<String> {
        let ns = key.split('/').next().unwrap_or_default();
        self.services
            .state()
            .iter()
            .filter(|s| s.namespace().as_deref() == Some(ns))
            .find_map(|s| s.annotations().get(keys::GUEST_API_ADDRESS).cloned())
    }
}

impl Guest {
    /// Brings guest Node `name` to `ready`: registered when it first is,
    /// taken NotReady (its kubelet silent) and back.
    async fn set(
        &mut self,
        options: &Options,
        name: &str,
        role: &str,
        ready: bool,
    ) -> Result<(), String> {
        match self.registered.get(name) {
            Some(was) if *was == ready => return Ok(()),
            None if !ready => return Ok(()),
            None => {
                let i = self.joined;
                self.joined += 1;
                let role_label = format!("node-role.kubernetes.io/{role}");
                let labels = [(role_label.as_str(), ""), ("kubernetes.io/role", role)];
                nodes::join(&self.nodes, options, name, i, &labels)
                    .await
                    .map_err(|e| e.to_string())?;
            }
            Some(_) => {
                let value = if ready { Value::Null } else { json!("true") };
                let patch = json!({"metadata": {"annotations": {keys::NODE_NOT_READY: value}}});
                let pp = PatchParams {
                    field_manager: Some(keys::KUBELET.into()),
                    ..PatchParams::default()
                };
                match self.nodes.patch(name, &pp, &Patch::Merge(&patch)).await {
                    Ok(_) => {}
                    // Deleted in the guest (a drained node removed): it
                    // registers again if its VM comes back.
                    Err(kube::Error::Api(e)) if e.code == 404 => {
                        self.registered.remove(name);
                        return Ok(());
                    }
                    Err(e) => return Err(e.to_string()),
                }
            }
        }
        self.registered.insert(name.to_owned(), ready);
        Ok(())
    }
}

/// A VM pod that is Ready and not terminating.
fn up(pod: &Pod) -> bool {
    pods::is_ready(pod) && !pods::is_deleting(pod)
}

/// The Secret mounted where the pod's [`keys::GUEST_BOOT_DIR_ENV`] points.
fn boot_secret(pod: &Pod) -> Option<String> {
    let spec = pod.spec.as_ref()?;
    let container = spec.containers.first()?;
    let dir = container
        .env
        .as_ref()?
        .iter()
        .find(|e| e.name == keys::GUEST_BOOT_DIR_ENV)?
        .value
        .clone()?;
    let mount = container
        .volume_mounts
        .as_ref()?
        .iter()
        .find(|m| m.mount_path == dir)?;
    spec.volumes
        .as_ref()?
        .iter()
        .find(|v| v.name == mount.name)?
        .secret
        .as_ref()?
        .secret_name
        .clone()
}

/// The boot files of a VM's Secret.
fn parse_boot(secret: &Secret) -> Result<Boot, String> {
    let data = secret.data.clone().unwrap_or_default();
    let file = |key: &str| {
        data.get(key)
            .map(|b| String::from_utf8_lossy(&b.0).into_owned())
    };
    let config: Value = serde_json::from_str(&file(keys::GUEST_BOOT_CONFIG).ok_or("no node.json")?)
        .map_err(|e| format!("node.json: {e}"))?;
    let text = |ptr: &str| {
        config
            .pointer(ptr)
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| format!("node.json has no {ptr}"))
    };
    let role = text("/node/role")?;
    let serving = match (
        file(keys::GUEST_API_CERT),
        file(keys::GUEST_API_KEY),
        file(keys::GUEST_CA),
    ) {
        (Some(cert_pem), Some(key_pem), Some(ca)) if role == "master" => {
            Some(operatorkit_apiserver::ServingCert {
                cert_pem,
                key_pem,
                ca_pem: Some(ca),
            })
        }
        _ => None,
    };
    Ok(Boot {
        cluster: text("/cluster/id")?,
        node: text("/node/name")?,
        role,
        serving,
    })
}

/// Starts a guest's API server and its simulated cluster (without nodes:
/// they join as VMs become Ready). Boxed: a simulation that starts
/// simulations is a recursive future.
fn start(
    serving: operatorkit_apiserver::ServingCert,
    options: Options,
) -> Pin<Box<dyn Future<Output = Result<Guest, String>> + Send>> {
    Box::pin(async move {
        let client_ca = serving.ca_pem.clone();
        let config = operatorkit_apiserver::Config {
            tls: true,
            serving_cert: Some(serving),
            client_ca,
            ..operatorkit_apiserver::Config::default()
        };
        let server = operatorkit_apiserver::start(config)
            .await
            .map_err(|e| e.to_string())?;
        let client = Client::try_from(server.kube_config(None)).map_err(|e| e.to_string())?;
        let inner = Options {
            nodes: 0,
            guest_clusters: false,
            ..options
        };
        let simulation = Simulation::start(client.clone(), inner)
            .await
            .map_err(|e| e.to_string())?;
        let address = server.url().trim_start_matches("https://").to_owned();
        Ok(Guest {
            server,
            simulation,
            nodes: Api::all(client),
            address,
            registered: HashMap::new(),
            joined: 0,
        })
    })
}

/// Writes `address` on the Services of `ns` that select a master VM and
/// have an API port, where it is not there yet.
async fn publish(
    client: &Client,
    services: &Store<Service>,
    ns: &str,
    vms: &[(Arc<Pod>, Boot)],
    address: &str,
) -> Result<(), String> {
    let masters: Vec<&Arc<Pod>> = vms
        .iter()
        .filter(|(_, b)| b.role == "master")
        .map(|(p, _)| p)
        .collect();
    let api: Api<Service> = Api::namespaced(client.clone(), ns);
    for svc in services.state() {
        if svc.namespace().as_deref() != Some(ns)
            || svc
                .annotations()
                .get(keys::GUEST_API_ADDRESS)
                .map(String::as_str)
                == Some(address)
        {
            continue;
        }
        let Some(spec) = svc.spec.as_ref() else {
            continue;
        };
        let has_api = spec
            .ports
            .iter()
            .flatten()
            .any(|p| p.name.as_deref() == Some(keys::GUEST_API_PORT));
        let selector = spec.selector.clone().unwrap_or_default();
        let selects = !selector.is_empty()
            && masters
                .iter()
                .any(|p| selector.iter().all(|(k, v)| p.labels().get(k) == Some(v)));
        if !(has_api && selects) {
            continue;
        }
        let patch = json!({"metadata": {"annotations": {keys::GUEST_API_ADDRESS: address}}});
        let pp = PatchParams {
            field_manager: Some(keys::KUBE_PROXY.into()),
            ..PatchParams::default()
        };
        api.patch(&svc.name_any(), &pp, &Patch::Merge(&patch))
            .await
            .map_err(|e| {
                format!(
                    "publishing the guest API on Service {ns}/{}: {e}",
                    svc.name_any()
                )
            })?;
    }
    Ok(())
}

/// What wakes the guests: one `()` per change of a pod or Service.
pub type Changes = Pin<Box<dyn Stream<Item = ()> + Send>>;

/// [`Changes`] of these streams.
pub fn changes(
    pods: impl Stream<Item = Arc<Pod>> + Send + 'static,
    deleted: impl Stream<Item = Arc<Pod>> + Send + 'static,
    services: impl Stream<Item = Arc<Service>> + Send + 'static,
) -> Changes {
    Box::pin(futures::stream::select(
        futures::stream::select(pods.map(|_| ()), deleted.map(|_| ())),
        services.map(|_| ()),
    ))
}
