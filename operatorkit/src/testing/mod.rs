//! The test environment every integration test of an operator goes through.
//!
//! [`TestEnv::start`] starts the embedded API server, or, when the environment
//! variable `OPERATORKIT_TEST_KUBECONFIG` names a kubeconfig, uses that cluster
//! instead, so the same test runs unchanged against a real cluster. Each
//! environment makes its own namespace with a unique name, and hands out unique
//! object names, so tests never see each other's objects.
//!
//! ```no_run
//! # async fn demo() -> Result<(), operatorkit::testing::TestError> {
//! use operatorkit::testing::TestEnv;
//! let env = TestEnv::start().await?;
//! let configmaps: kube::Api<k8s_openapi::api::core::v1::ConfigMap> = env.api();
//! // ... create objects, run an operator, wait_for(...) ...
//! env.stop().await;
//! # Ok(()) }
//! ```
//!
//! The crate root shows a whole operator with its test.
//!
//! # The same test against a real cluster
//!
//! ```sh
//! cargo test                                               # embedded API server
//! OPERATORKIT_TEST_KUBECONFIG=$HOME/.kube/config cargo test  # the cluster it names
//! ```
//!
//! Against a real cluster the test needs rights to create namespaces and
//! CustomResourceDefinitions ([`TestEnv::install_crds`] creates or updates
//! them; they are left installed, shared by every test). Each environment's
//! namespace is labelled [`TEST_LABEL`] and deleted by [`TestEnv::stop`]; a
//! test killed halfway leaves it behind, found with
//! `kubectl get namespaces -l operatorkit.dev/test=true`. The operator runs
//! in-process, with the kubeconfig's identity ([`TestEnv::run_operator`]) or,
//! better, as its own ServiceAccount bound to the roles it ships
//! ([`TestEnv::service_account`], [`TestEnv::run_operator_as`]), so every
//! request it makes is authorized as in production (the embedded server
//! enforces RBAC like a real one). Keep the tests that way to run on both:
//! - wait for what you expect with [`wait_for`] / [`wait_for_count`], never
//!   with a fixed sleep: a real cluster is slower than the embedded server;
//! - make objects in [`TestEnv::namespace`] under [`TestEnv::name`] names;
//! - read embedded-only facts (request counts at the server,
//!   [`TestEnv::embedded`]) only when `embedded()` is `Some`.
//!
//! # Nodes and pods
//!
//! The embedded server has no nodes and no kubelet. [`TestEnv::simulate`]
//! adds a simulated cluster (`operatorkit-simulation`): fake nodes with
//! KWOK's conventions, a scheduler, kubelets, and the Deployment, ReplicaSet
//! and DaemonSet controllers, so pods are scheduled, start, become Ready and
//! take time to terminate. Pods reach the fake nodes by tolerating their
//! taint (`kwok.x-k8s.io/node=fake:NoSchedule`, see [`simulation_keys`]).
//! Against a real cluster `simulate` does nothing: run KWOK there (its
//! nodes carry the same labels and taint) and the cluster's own controllers
//! do the rest; the failure annotations of [`simulation_keys`] are the
//! simulation's own.

mod identity;
mod operator;
mod wait;

use std::time::Duration;

use k8s_openapi::api::core::v1::{ConfigMap, Namespace, ServiceAccount};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Resource};

pub use self::operator::{OperatorRun, RequestCounts, is_write, min_mean_max};
pub use self::wait::{wait_for, wait_for_count, wait_for_event};
/// Configuration of the embedded API server (HTTPS, data dir, watch history).
pub use operatorkit_apiserver::Config as ServerConfig;

pub use self::identity::ServiceAccountIdentity;
/// What [`TestEnv::simulate`] simulates (node count, start and stop delays).
pub use operatorkit_simulation::Options as SimulationOptions;
/// The labels, taint and test annotations of the simulated cluster.
pub use operatorkit_simulation::keys as simulation_keys;

/// Environment variable naming a kubeconfig: tests then run against that cluster.
pub const KUBECONFIG_ENV: &str = "OPERATORKIT_TEST_KUBECONFIG";

/// Label on every namespace a test environment makes, so leftovers can be found.
pub const TEST_LABEL: &str = crate::key!("test");

/// Why the test environment failed.
#[derive(Debug, thiserror::Error)]
pub enum TestError {
    /// The embedded API server did not start.
    #[error("starting the embedded API server: {0}")]
    Start(#[from] operatorkit_apiserver::StartError),
    /// The kubeconfig named by the environment could not be used.
    #[error("using the kubeconfig in {KUBECONFIG_ENV}: {0}")]
    Kubeconfig(String),
    /// A watch failed.
    #[error("watch failed: {0}")]
    Watch(String),
    /// A request to the API server failed.
    #[error("API request failed: {0}")]
    Api(#[from] kube::Error),
    /// The simulated cluster did not start.
    #[error("starting the simulated cluster: {0}")]
    Simulation(#[from] operatorkit_simulation::Error),
    /// The operator under test could not start.
    #[error("starting the operator: {0}")]
    Operator(String),
    /// A wait ran out of time.
    #[error("timed out after {timeout:?} waiting for {what}")]
    Timeout {
        /// What was awaited.
        what: String,
        /// How long.
        timeout: Duration,
    },
}

/// A running test environment: a client, a namespace of its own, and (when
/// embedded) the server.
pub struct TestEnv {
    config: kube::Config,
    client: Client,
    namespace: String,
    extra_namespaces: std::sync::Mutex<Vec<String>>,
    /// Cluster-scoped RBAC objects made for the environment: (resource, name).
    cluster_objects: std::sync::Mutex<Vec<(&'static str, String)>>,
    server: Option<operatorkit_apiserver::Handle>,
    /// The kubeconfig [`TestEnv::connect`] was given.
    kubeconfig: Option<std::path::PathBuf>,
    simulation: std::sync::Mutex<Option<operatorkit_simulation::Simulation>>,
}

impl TestEnv {
    /// Starts the environment: the cluster of `OPERATORKIT_TEST_KUBECONFIG`, or
    /// an embedded API server; then makes a fresh namespace.
    pub async fn start() -> Result<Self, TestError> {
        Self::start_with(operatorkit_apiserver::Config::default()).await
    }

    /// Like [`TestEnv::start`], with this configuration for the embedded server
    /// (ignored against a real cluster).
    pub async fn start_with(config: operatorkit_apiserver::Config) -> Result<Self, TestError> {
        let (config, server) = match std::env::var_os(KUBECONFIG_ENV) {
            Some(path) => {
                let kubeconfig = Kubeconfig::read_from(&path)
                    .map_err(|e| TestError::Kubeconfig(e.to_string()))?;
                let config =
                    kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
                        .await
                        .map_err(|e| TestError::Kubeconfig(e.to_string()))?;
                (config, None)
            }
            None => {
                let server = operatorkit_apiserver::start(config).await?;
                (server.kube_config(None), Some(server))
            }
        };
        let client = Client::try_from(config.clone())?;
        let namespace = create_namespace(&client).await?;
        Ok(Self {
            config,
            client,
            namespace,
            extra_namespaces: std::sync::Mutex::default(),
            cluster_objects: std::sync::Mutex::default(),
            server,
            kubeconfig: None,
            simulation: std::sync::Mutex::default(),
        })
    }

    /// Uses the cluster of `kubeconfig` (for tests that run their own server
    /// process). With `namespace`, uses that existing namespace; otherwise makes
    /// a fresh one.
    pub async fn connect(
        kubeconfig: &std::path::Path,
        namespace: Option<&str>,
    ) -> Result<Self, TestError> {
        let kc =
            Kubeconfig::read_from(kubeconfig).map_err(|e| TestError::Kubeconfig(e.to_string()))?;
        let config = kube::Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default())
            .await
            .map_err(|e| TestError::Kubeconfig(e.to_string()))?;
        let client = Client::try_from(config.clone())?;
        let namespace = match namespace {
            Some(ns) => ns.to_owned(),
            None => create_namespace(&client).await?,
        };
        Ok(Self {
            config,
            client,
            namespace,
            extra_namespaces: std::sync::Mutex::default(),
            cluster_objects: std::sync::Mutex::default(),
            server: None,
            kubeconfig: Some(kubeconfig.to_owned()),
            simulation: std::sync::Mutex::default(),
        })
    }

    /// A client for the environment's API server.
    pub fn client(&self) -> Client {
        self.client.clone()
    }

    /// The environment's own namespace.
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// An `Api` for `K` in the environment's namespace.
    pub fn api<K>(&self) -> Api<K>
    where
        K: Resource<Scope = k8s_openapi::NamespaceResourceScope>,
        K::DynamicType: Default,
    {
        Api::namespaced(self.client.clone(), &self.namespace)
    }

    /// Makes another namespace of this environment (for tests that span
    /// namespaces); it is deleted with the environment.
    pub async fn extra_namespace(&self) -> Result<String, TestError> {
        let ns = create_namespace(&self.client).await?;
        self.extra_namespaces
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(ns.clone());
        Ok(ns)
    }

    /// A name no other test uses, starting with `prefix`.
    pub fn name(&self, prefix: &str) -> String {
        unique_name(prefix)
    }

    /// The embedded server, when not running against a real cluster. Tests of
    /// embedded-only facts (request counts) use it; everything else must not.
    pub fn embedded(&self) -> Option<&operatorkit_apiserver::Handle> {
        self.server.as_ref()
    }

    /// A kubeconfig file for the environment's cluster, for tools such as
    /// kubectl: the one [`TestEnv::connect`] was given, the one
    /// `OPERATORKIT_TEST_KUBECONFIG` names, or one written for the embedded
    /// server.
    pub fn kubeconfig_path(&self) -> Result<std::path::PathBuf, TestError> {
        if let Some(path) = &self.kubeconfig {
            return Ok(path.clone());
        }
        match &self.server {
            None => std::env::var_os(KUBECONFIG_ENV)
                .map(std::path::PathBuf::from)
                .ok_or_else(|| TestError::Kubeconfig(format!("{KUBECONFIG_ENV} is not set"))),
            Some(server) => {
                let path = std::env::temp_dir().join(format!("{}.kubeconfig", self.namespace));
                server.write_kubeconfig(&path, None).map_err(|e| {
                    TestError::Kubeconfig(format!("writing {}: {e}", path.display()))
                })?;
                Ok(path)
            }
        }
    }

    /// Installs (or updates) CRDs and waits until each is Established.
    pub async fn install_crds(
        &self,
        crds: impl IntoIterator<Item = CustomResourceDefinition>,
    ) -> Result<(), TestError> {
        let api = Api::<CustomResourceDefinition>::all(self.client.clone());
        for crd in crds {
            let name = crd.metadata.name.clone().unwrap_or_default();
            api.patch(
                &name,
                &PatchParams::apply("operatorkit-testing").force(),
                &Patch::Apply(&crd),
            )
            .await?;
            wait_for(
                &api,
                &name,
                Duration::from_secs(30),
                |c: Option<&CustomResourceDefinition>| {
                    c.and_then(|c| c.status.as_ref())
                        .and_then(|s| s.conditions.as_ref())
                        .is_some_and(|cs| {
                            cs.iter()
                                .any(|c| c.type_ == "Established" && c.status == "True")
                        })
                },
            )
            .await?;
        }
        Ok(())
    }

    fn remember_cluster_object(&self, resource: &'static str, name: &str) {
        self.cluster_objects
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push((resource, name.to_owned()));
    }

    /// Starts the simulated cluster against the embedded server (see "Nodes
    /// and pods" above); returns once its nodes exist and its controllers
    /// run. Against a real cluster it does nothing. Calling it again does
    /// nothing either.
    pub async fn simulate(&self, options: SimulationOptions) -> Result<(), TestError> {
        if self.server.is_none() || self.simulation_slot().is_some() {
            return Ok(());
        }
        let simulation =
            operatorkit_simulation::Simulation::start(self.client.clone(), options).await?;
        *self.simulation_slot() = Some(simulation);
        Ok(())
    }

    fn simulation_slot(
        &self,
    ) -> std::sync::MutexGuard<'_, Option<operatorkit_simulation::Simulation>> {
        self.simulation
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Deletes the namespaces and cluster-scoped objects made for the
    /// environment, and stops the simulation and the embedded server.
    pub async fn stop(self) {
        let cluster_objects = std::mem::take(
            &mut *self
                .cluster_objects
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        );
        for (resource, name) in cluster_objects {
            delete_cluster_rbac(&self.client, resource, &name).await;
        }
        let namespaces = Api::<Namespace>::all(self.client.clone());
        let extra = std::mem::take(
            &mut *self
                .extra_namespaces
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        );
        for ns in extra.iter().chain(std::iter::once(&self.namespace)) {
            let _ = namespaces.delete(ns, &DeleteParams::default()).await;
        }
        drop(self.simulation_slot().take());
        if let Some(server) = self.server {
            server.shutdown().await;
        }
    }
}

/// Deletes a ClusterRole or ClusterRoleBinding (cleanup: errors are ignored).
async fn delete_cluster_rbac(client: &Client, resource: &str, name: &str) {
    use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding};
    let dp = DeleteParams::default();
    let _ = match resource {
        "clusterroles" => Api::<ClusterRole>::all(client.clone())
            .delete(name, &dp)
            .await
            .map(|_| ()),
        _ => Api::<ClusterRoleBinding>::all(client.clone())
            .delete(name, &dp)
            .await
            .map(|_| ()),
    };
}

/// How long a new namespace may take to get what the control plane puts in
/// every namespace.
const NAMESPACE_READY: Duration = Duration::from_secs(30);

/// Makes a namespace with a unique name and the test label, and waits, as
/// Kubernetes' own e2e framework does, until the control plane has put its
/// `default` ServiceAccount and `kube-root-ca.crt` ConfigMap in it, so that
/// a test never sees them appear after it starts.
async fn create_namespace(client: &Client) -> Result<String, TestError> {
    let namespace = unique_name("okt");
    let ns = Namespace {
        metadata: kube::api::ObjectMeta {
            name: Some(namespace.clone()),
            labels: Some([(TEST_LABEL.to_owned(), "true".to_owned())].into()),
            ..Default::default()
        },
        ..Default::default()
    };
    Api::<Namespace>::all(client.clone())
        .create(&PostParams::default(), &ns)
        .await?;
    let accounts: Api<ServiceAccount> = Api::namespaced(client.clone(), &namespace);
    wait_for(&accounts, "default", NAMESPACE_READY, |a| a.is_some()).await?;
    let configmaps: Api<ConfigMap> = Api::namespaced(client.clone(), &namespace);
    wait_for(&configmaps, "kube-root-ca.crt", NAMESPACE_READY, |c| {
        c.is_some()
    })
    .await?;
    Ok(namespace)
}

/// `prefix-` and eight random lowercase characters: a DNS label unique per call.
pub fn unique_name(prefix: &str) -> String {
    let id = uuid::Uuid::new_v4().simple().to_string();
    format!("{prefix}-{}", &id[..8])
}
