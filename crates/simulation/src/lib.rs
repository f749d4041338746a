//! A simulated cluster behind a Kubernetes API server, for tests and local
//! development: fake nodes with [KWOK]'s conventions, a scheduler, a kubelet
//! per fake node, and the workload controllers of kube-controller-manager.
//! It is a client of the API server like any other (it writes through the
//! REST API, with kube's field-manager names), so operators see what they
//! would see on a real cluster: pods that are scheduled, start, become
//! Ready, crash, and take time to terminate.
//!
//! ```text
//!                 API server (embedded, or any other)
//!   watch ▲  │ writes (kube-scheduler, kubelet, kube-controller-manager)
//!         │  ▼
//!   cache: one watch per kind, shared (Pods, Nodes, ReplicaSets, ...)
//!         │
//!   ┌─────┴──────┬───────────┬────────────┬──────────────────────────────┐
//!   nodes        scheduler   kubelet      workloads                      services, volumes
//!   (create,     (bind to    (phases,     replicaset, deployment,        endpointslices +
//!    Ready,       a node)     readiness,   daemonset, statefulset, job    endpoints, PV binder
//!    heartbeats,              deletion)                                   + provisioner
//!    NotReady)
//! ```
//!
//! Each controller is a kube-runtime `Controller` fed by the shared caches;
//! each waits for its caches to be listed before it acts, and remembers its
//! own writes until its cache shows them (so it never creates a pod twice).
//!
//! Tests steer it through ordinary objects: the annotations of [`keys`]
//! make a pod's containers fail, crash-loop or take time, and take a node
//! NotReady.
//!
//! [KWOK]: https://kwok.sigs.k8s.io

#![forbid(unsafe_code)]

mod cache;
mod daemonset;
mod deployment;
mod endpoints;
mod expectations;
mod guests;
mod job;
pub mod keys;
mod kubelet;
mod nodes;
mod pods;
mod quantity;
mod replicaset;
mod scheduler;
mod statefulset;
mod status;
mod volumes;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, ReplicaSet, StatefulSet};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{Node, PersistentVolume, PersistentVolumeClaim, Pod, Service};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::reflector::ObjectRef;
use kube::{Api, Client, Resource, ResourceExt};
use tokio::task::JoinHandle;

use crate::cache::Cache;

/// What the simulation simulates.
#[derive(Debug, Clone)]
pub struct Options {
    /// Fake nodes to create (existing ones are kept as they are).
    pub nodes: usize,
    /// Fake nodes are named `<prefix>-<i>`.
    pub node_prefix: String,
    /// Each node's CPU (a quantity).
    pub node_cpu: String,
    /// Each node's memory (a quantity).
    pub node_memory: String,
    /// Pods each node takes.
    pub node_pods: u32,
    /// Seconds from binding to a running pod (a pod's annotation may say otherwise).
    pub start_seconds: i64,
    /// Seconds a pod takes to stop once deleted, at most its grace period.
    pub stop_seconds: i64,
    /// How often nodes renew their Leases.
    pub heartbeat: Duration,
    /// Play the VM image of kvm-operator's pods: bring up a guest cluster's
    /// API server once its master VM is Ready, with a Node per Ready VM
    /// (see the `guests` contract in [`keys`]).
    pub guest_clusters: bool,
}

impl Default for Options {
    /// Three nodes as KWOK's example describes them (32 CPUs, 256 GiB, 110
    /// pods); pods start and stop in a second.
    fn default() -> Self {
        Self {
            nodes: 3,
            node_prefix: "kwok-node".into(),
            node_cpu: "32".into(),
            node_memory: "256Gi".into(),
            node_pods: 110,
            start_seconds: 1,
            stop_seconds: 1,
            heartbeat: Duration::from_secs(10),
            guest_clusters: false,
        }
    }
}

/// Why the simulation could not start.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The API server refused or failed a request.
    #[error("{what}: {source}")]
    Api {
        /// What was being done.
        what: &'static str,
        /// The failure.
        source: kube::Error,
    },
    /// A cache never finished its first list.
    #[error("the caches did not sync: {0}")]
    Sync(String),
    /// A bug: an object the simulation builds did not serialize.
    #[error("internal: {0}")]
    Internal(String),
}

impl Error {
    fn api(what: &'static str) -> impl Fn(kube::Error) -> Self {
        move |source| Error::Api { what, source }
    }
}

/// A running simulation; stopped when dropped.
pub struct Simulation {
    tasks: Vec<JoinHandle<()>>,
}

impl Simulation {
    /// Creates the fake nodes and starts every controller against `client`'s
    /// API server; returns once every cache has listed.
    pub async fn start(client: Client, options: Options) -> Result<Self, Error> {
        nodes::create(&client, &options).await?;
        let mut c = Caches::new(&client);
        let controllers = Controllers::new(&c);
        let guest_changes = options
            .guest_clusters
            .then(|| guests::changes(c.pods.subscribe(), c.pods.deleted(), c.services.subscribe()));
        let mut tasks = c.run();
        c.synced().await?;
        tasks.extend(controllers.spawn(&client, &c, &options));
        if let Some(changes) = guest_changes {
            let guests = guests::Guests::new(
                client.clone(),
                options.clone(),
                c.pods.store(),
                c.services.store(),
            );
            tasks.push(tokio::spawn(guests.run(changes)));
        }
        Ok(Self { tasks })
    }

    /// Stops every controller (the fake nodes stay; their leases expire).
    pub fn stop(self) {
        drop(self);
    }
}

/// One cache per kind the controllers read.
struct Caches {
    pods: Cache<Pod>,
    nodes: Cache<Node>,
    replica_sets: Cache<ReplicaSet>,
    deployments: Cache<Deployment>,
    daemon_sets: Cache<DaemonSet>,
    stateful_sets: Cache<StatefulSet>,
    jobs: Cache<Job>,
    services: Cache<Service>,
    claims: Cache<PersistentVolumeClaim>,
    volumes: Cache<PersistentVolume>,
}

impl Caches {
    fn new(client: &Client) -> Self {
        Self {
            pods: Cache::new(Api::all(client.clone())),
            nodes: Cache::new(Api::all(client.clone())),
            replica_sets: Cache::new(Api::all(client.clone())),
            deployments: Cache::new(Api::all(client.clone())),
            daemon_sets: Cache::new(Api::all(client.clone())),
            stateful_sets: Cache::new(Api::all(client.clone())),
            jobs: Cache::new(Api::all(client.clone())),
            services: Cache::new(Api::all(client.clone())),
            claims: Cache::new(Api::all(client.clone())),
            volumes: Cache::new(Api::all(client.clone())),
        }
    }

    fn run(&mut self) -> Vec<JoinHandle<()>> {
        [
            self.pods.run(),
            self.nodes.run(),
            self.replica_sets.run(),
            self.deployments.run(),
            self.daemon_sets.run(),
            self.stateful_sets.run(),
            self.jobs.run(),
            self.services.run(),
            self.claims.run(),
            self.volumes.run(),
        ]
        .into_iter()
        .flatten()
        .collect()
    }

    async fn synced(&self) -> Result<(), Error> {
        let sync = |e: kube::runtime::reflector::store::WriterDropped| Error::Sync(e.to_string());
        self.pods.store().wait_until_ready().await.map_err(sync)?;
        self.nodes.store().wait_until_ready().await.map_err(sync)?;
        self.replica_sets
            .store()
            .wait_until_ready()
            .await
            .map_err(sync)?;
        self.deployments
            .store()
            .wait_until_ready()
            .await
            .map_err(sync)?;
        self.daemon_sets
            .store()
            .wait_until_ready()
            .await
            .map_err(sync)?;
        self.stateful_sets
            .store()
            .wait_until_ready()
            .await
            .map_err(sync)?;
        self.jobs.store().wait_until_ready().await.map_err(sync)?;
        self.services
            .store()
            .wait_until_ready()
            .await
            .map_err(sync)?;
        self.claims.store().wait_until_ready().await.map_err(sync)?;
        self.volumes.store().wait_until_ready().await.map_err(sync)
    }
}

/// A controller of `K` woken by its own changes and by its children's
/// (changes and deletions).
fn owning<K, C>(parent: &Cache<K>, children: &Cache<C>) -> Controller<K>
where
    K: Resource<DynamicType = ()>
        + Clone
        + serde::de::DeserializeOwned
        + std::fmt::Debug
        + Send
        + Sync
        + 'static,
    C: Resource<DynamicType = ()>
        + Clone
        + serde::de::DeserializeOwned
        + std::fmt::Debug
        + Send
        + Sync
        + 'static,
{
    Controller::for_shared_stream(parent.subscribe(), parent.store())
        .owns_shared_stream(children.subscribe())
        .owns_shared_stream(children.deleted())
}

/// Every controller, built (subscribed) before the caches run.
struct Controllers {
    scheduler: Controller<Pod>,
    kubelet: Controller<Pod>,
    lifecycle: Controller<Node>,
    replica_sets: Controller<ReplicaSet>,
    deployments: Controller<Deployment>,
    daemon_sets: Controller<DaemonSet>,
    stateful_sets: Controller<StatefulSet>,
    jobs: Controller<Job>,
    endpoints: Controller<Service>,
    binder: Controller<PersistentVolumeClaim>,
    releaser: Controller<PersistentVolume>,
    /// The endpoints controller's record of which Services list each pod.
    members: endpoints::Members,
}

impl Controllers {
    fn new(c: &Caches) -> Self {
        let on_node = c.pods.store();
        let pods_of_node = move |node: Arc<Node>| {
            let name = node.name_any();
            on_node
                .state()
                .iter()
                .filter(|p| pods::node_name(p) == Some(name.as_str()))
                .map(|p| ObjectRef::from_obj(p.as_ref()))
                .collect::<Vec<_>>()
        };
        let all_daemon_sets = c.daemon_sets.store();
        let every_daemon_set = move |_: Arc<Node>| {
            all_daemon_sets
                .state()
                .iter()
                .map(|d| ObjectRef::from_obj(d.as_ref()))
                .collect::<Vec<_>>()
        };
        let services = c.services.store();
        let members = endpoints::Members::default();
        let listed = members.clone();
        let services_of = move |pod: Arc<Pod>| {
            let ns = pod.namespace();
            let mut of: Vec<ObjectRef<Service>> = endpoints::listed_in(&listed, &pod);
            let selecting = services
                .state()
                .iter()
                .filter(|s| s.namespace() == ns)
                .filter(|s| {
                    let selector = s
                        .spec
                        .as_ref()
                        .and_then(|s| s.selector.clone())
                        .unwrap_or_default();
                    endpoints::selects(&selector, pod.labels())
                })
                .map(|s| ObjectRef::from_obj(s.as_ref()))
                .collect::<Vec<_>>();
            of.extend(selecting);
            of
        };
        let services_of_deleted = services_of.clone();
        let volume_of = |claim: Arc<PersistentVolumeClaim>| {
            claim
                .spec
                .as_ref()
                .and_then(|s| s.volume_name.clone())
                .map(|v| ObjectRef::<PersistentVolume>::new(&v))
        };
        Self {
            scheduler: Controller::for_shared_stream(c.pods.subscribe(), c.pods.store()),
            kubelet: Controller::for_shared_stream(c.pods.subscribe(), c.pods.store())
                .watches_shared_stream(c.nodes.subscribe(), pods_of_node),
            lifecycle: Controller::for_shared_stream(c.nodes.subscribe(), c.nodes.store()),
            replica_sets: owning(&c.replica_sets, &c.pods),
            deployments: owning(&c.deployments, &c.replica_sets),
            daemon_sets: owning(&c.daemon_sets, &c.pods)
                .watches_shared_stream(c.nodes.subscribe(), every_daemon_set),
            stateful_sets: owning(&c.stateful_sets, &c.pods),
            jobs: owning(&c.jobs, &c.pods),
            endpoints: Controller::for_shared_stream(c.services.subscribe(), c.services.store())
                .watches_shared_stream(c.pods.subscribe(), services_of)
                .watches_shared_stream(c.pods.deleted(), services_of_deleted),
            binder: Controller::for_shared_stream(c.claims.subscribe(), c.claims.store()),
            releaser: Controller::for_shared_stream(c.volumes.subscribe(), c.volumes.store())
                .watches_shared_stream(c.claims.deleted(), volume_of),
            members,
        }
    }

    fn spawn(self, client: &Client, c: &Caches, options: &Options) -> Vec<JoinHandle<()>> {
        let client = || client.clone();
        let expectations = expectations::Expectations::default;
        // The binder and the releaser read the same caches.
        let volumes = Arc::new(volumes::Context {
            client: client(),
            volumes: c.volumes.store(),
            claims: c.claims.store(),
        });
        vec![
            spawn(self.scheduler.run(
                scheduler::reconcile,
                retry,
                Arc::new(scheduler::Context {
                    client: client(),
                    nodes: c.nodes.store(),
                    pods: c.pods.store(),
                    state: tokio::sync::Mutex::default(),
                }),
            )),
            spawn(self.kubelet.run(
                kubelet::reconcile,
                retry,
                Arc::new(kubelet::Context {
                    client: client(),
                    nodes: c.nodes.store(),
                    pods: c.pods.store(),
                    start_seconds: options.start_seconds,
                    stop_seconds: options.stop_seconds,
                    ips: Mutex::new(HashMap::new()),
                }),
            )),
            spawn(
                self.lifecycle
                    .run(nodes::reconcile, retry, Arc::new(client())),
            ),
            tokio::spawn(nodes::heartbeat(
                client(),
                c.nodes.store(),
                options.heartbeat,
            )),
            spawn(self.replica_sets.run(
                replicaset::reconcile,
                retry,
                Arc::new(replicaset::Context {
                    client: client(),
                    pods: c.pods.store(),
                    expectations: expectations(),
                }),
            )),
            spawn(self.deployments.run(
                deployment::reconcile,
                retry,
                Arc::new(deployment::Context {
                    client: client(),
                    replica_sets: c.replica_sets.store(),
                    pods: c.pods.store(),
                    written: Mutex::new(HashMap::new()),
                }),
            )),
            spawn(self.daemon_sets.run(
                daemonset::reconcile,
                retry,
                Arc::new(daemonset::Context {
                    client: client(),
                    pods: c.pods.store(),
                    nodes: c.nodes.store(),
                    expectations: expectations(),
                }),
            )),
            spawn(self.stateful_sets.run(
                statefulset::reconcile,
                retry,
                Arc::new(statefulset::Context {
                    client: client(),
                    pods: c.pods.store(),
                    claims: c.claims.store(),
                    expectations: expectations(),
                }),
            )),
            spawn(self.jobs.run(
                job::reconcile,
                retry,
                Arc::new(replicaset::Context {
                    client: client(),
                    pods: c.pods.store(),
                    expectations: expectations(),
                }),
            )),
            spawn(self.endpoints.run(
                endpoints::reconcile,
                retry,
                Arc::new(endpoints::Context {
                    client: client(),
                    pods: c.pods.store(),
                    members: self.members.clone(),
                }),
            )),
            spawn(self.binder.run(volumes::reconcile, retry, volumes.clone())),
            spawn(self.releaser.run(volumes::release, retry, volumes)),
        ]
    }
}

impl Drop for Simulation {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// Runs a controller's stream to its end.
fn spawn<S>(stream: S) -> JoinHandle<()>
where
    S: futures::Stream + Send + 'static,
    S::Item: Send,
{
    tokio::spawn(stream.for_each(|_| futures::future::ready(())))
}

/// Every failed reconcile is tried again in a second (conflicts with other
/// writers are normal).
fn retry<K: Resource, C>(object: Arc<K>, error: &kube::Error, _: Arc<C>) -> Action {
    tracing::debug!(name = %object.meta().name.as_deref().unwrap_or_default(), %error, "reconcile failed; retrying");
    Action::requeue(Duration::from_secs(1))
}
