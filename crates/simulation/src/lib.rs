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
//!   ┌─────┴───────────┬───────────┬────────────┬─────────────┬───────────┐
//!   nodes             scheduler   kubelet      replicaset    deployment  daemonset
//!   (create, Ready,   (bind to    (phases,     (pods for     (ReplicaSets,
//!    heartbeats,       a node)     readiness,   replicas)     rollouts)
//!    NotReady hook)                deletion)
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
mod expectations;
pub mod keys;
mod kubelet;
mod nodes;
mod pods;
mod quantity;
mod replicaset;
mod scheduler;
mod status;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::{Node, Pod};
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
        let mut tasks = Vec::new();
        let mut pods: Cache<Pod> = Cache::new(Api::all(client.clone()));
        let mut node_cache: Cache<Node> = Cache::new(Api::all(client.clone()));
        let mut replica_sets: Cache<ReplicaSet> = Cache::new(Api::all(client.clone()));
        let mut deployments: Cache<Deployment> = Cache::new(Api::all(client.clone()));
        let mut daemon_sets: Cache<DaemonSet> = Cache::new(Api::all(client.clone()));

        let scheduler = Controller::for_shared_stream(pods.subscribe(), pods.store());
        let kubelet = {
            let on_node = pods.store();
            Controller::for_shared_stream(pods.subscribe(), pods.store()).watches_shared_stream(
                node_cache.subscribe(),
                move |node: Arc<Node>| {
                    let name = node.name_any();
                    on_node
                        .state()
                        .iter()
                        .filter(|p| pods::node_name(p) == Some(name.as_str()))
                        .map(|p| ObjectRef::from_obj(p.as_ref()))
                        .collect::<Vec<_>>()
                },
            )
        };
        let lifecycle = Controller::for_shared_stream(node_cache.subscribe(), node_cache.store());
        let rs_controller =
            Controller::for_shared_stream(replica_sets.subscribe(), replica_sets.store())
                .owns_shared_stream(pods.subscribe());
        let deployment_controller =
            Controller::for_shared_stream(deployments.subscribe(), deployments.store())
                .owns_shared_stream(replica_sets.subscribe());
        let ds_controller = {
            let all = daemon_sets.store();
            Controller::for_shared_stream(daemon_sets.subscribe(), daemon_sets.store())
                .owns_shared_stream(pods.subscribe())
                .watches_shared_stream(node_cache.subscribe(), move |_: Arc<Node>| {
                    all.state()
                        .iter()
                        .map(|d| ObjectRef::from_obj(d.as_ref()))
                        .collect::<Vec<_>>()
                })
        };

        tasks.extend(pods.run());
        tasks.extend(node_cache.run());
        tasks.extend(replica_sets.run());
        tasks.extend(deployments.run());
        tasks.extend(daemon_sets.run());
        let synced = async {
            pods.store().wait_until_ready().await?;
            node_cache.store().wait_until_ready().await?;
            replica_sets.store().wait_until_ready().await?;
            deployments.store().wait_until_ready().await?;
            daemon_sets.store().wait_until_ready().await
        };
        synced.await.map_err(|e| Error::Sync(e.to_string()))?;

        let scheduler_ctx = Arc::new(scheduler::Context {
            client: client.clone(),
            nodes: node_cache.store(),
            pods: pods.store(),
            assumed: tokio::sync::Mutex::new(HashMap::new()),
        });
        tasks.push(spawn(scheduler.run(
            scheduler::reconcile,
            retry,
            scheduler_ctx,
        )));
        let kubelet_ctx = Arc::new(kubelet::Context {
            client: client.clone(),
            nodes: node_cache.store(),
            pods: pods.store(),
            start_seconds: options.start_seconds,
            stop_seconds: options.stop_seconds,
            ips: Mutex::new(HashMap::new()),
        });
        tasks.push(spawn(kubelet.run(kubelet::reconcile, retry, kubelet_ctx)));
        tasks.push(spawn(lifecycle.run(
            nodes::reconcile,
            retry,
            Arc::new(client.clone()),
        )));
        tasks.push(tokio::spawn(nodes::heartbeat(
            client.clone(),
            node_cache.store(),
            options.heartbeat,
        )));
        let rs_ctx = Arc::new(replicaset::Context {
            client: client.clone(),
            pods: pods.store(),
            expectations: Default::default(),
        });
        tasks.push(spawn(rs_controller.run(
            replicaset::reconcile,
            retry,
            rs_ctx,
        )));
        let deployment_ctx = Arc::new(deployment::Context {
            client: client.clone(),
            replica_sets: replica_sets.store(),
            written: Mutex::new(HashMap::new()),
        });
        tasks.push(spawn(deployment_controller.run(
            deployment::reconcile,
            retry,
            deployment_ctx,
        )));
        let ds_ctx = Arc::new(daemonset::Context {
            client,
            pods: pods.store(),
            nodes: node_cache.store(),
            expectations: Default::default(),
        });
        tasks.push(spawn(ds_controller.run(
            daemonset::reconcile,
            retry,
            ds_ctx,
        )));
        Ok(Self { tasks })
    }

    /// Stops every controller (the fake nodes stay; their leases expire).
    pub fn stop(self) {
        drop(self);
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
