//! The definition of an operator: its name and version, the kind it
//! reconciles, its ordered resources, the child kinds it owns or watches, and
//! the defaults of its loop.

use std::fmt::Debug;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::NamespaceResourceScope;
use kube::runtime::reflector::ObjectRef;
use kube::runtime::watcher;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::backoff::BackoffConfig;
use crate::resource::Resource;
use crate::selection::{finalizer, has_label, version_label};
use crate::watch::ChildWatch;

/// What a kind needs to be reconciled or cached: a namespaced Kubernetes type
/// with static type information.
pub trait Object:
    kube::Resource<DynamicType = (), Scope = NamespaceResourceScope>
    + Clone
    + Serialize
    + DeserializeOwned
    + Debug
    + Send
    + Sync
    + 'static
{
}

impl<T> Object for T where
    T: kube::Resource<DynamicType = (), Scope = NamespaceResourceScope>
        + Clone
        + Serialize
        + DeserializeOwned
        + Debug
        + Send
        + Sync
        + 'static
{
}

/// Which objects of its kind an operator reconciles.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Selection {
    /// Those labelled `<name>.operatorkit.dev/version=<version>` (the default),
    /// so several versions run side by side.
    VersionLabel,
    /// Those matching this label selector.
    Labels(String),
    /// All of them.
    All,
}

/// An operator: build it with [`Operator::new`] and the builder methods, run it
/// with [`Operator::run`] (or [`crate::run`] from `main`).
pub struct Operator<K: Object> {
    pub(crate) name: Arc<str>,
    pub(crate) version: String,
    pub(crate) resources: Vec<Arc<dyn Resource<K>>>,
    pub(crate) children: Vec<ChildWatch<K>>,
    pub(crate) namespace: Option<String>,
    pub(crate) selection: Selection,
    pub(crate) resync: Duration,
    pub(crate) concurrency: u16,
    pub(crate) backoff: BackoffConfig,
    pub(crate) metrics: Vec<RegisterFn>,
}

/// Registers an operator's own metrics in its registry.
pub(crate) type RegisterFn =
    Box<dyn Fn(&prometheus::Registry) -> Result<(), prometheus::Error> + Send + Sync>;

impl<K: Object> Operator<K> {
    /// Operator `name` (a DNS label such as `cert-operator`) at `version`.
    pub fn new(name: &str, version: &str) -> Self {
        Self {
            name: name.into(),
            version: version.to_owned(),
            resources: Vec::new(),
            children: Vec::new(),
            namespace: None,
            selection: Selection::VersionLabel,
            resync: Duration::from_secs(300),
            concurrency: 4,
            backoff: BackoffConfig::default(),
            metrics: Vec::new(),
        }
    }

    /// Appends a resource: resources run in the order added, and in reverse
    /// order on deletion.
    #[must_use]
    pub fn resource(mut self, resource: impl Resource<K>) -> Self {
        self.resources.push(Arc::new(resource));
        self
    }

    /// Caches `C` and reconciles an object whenever a `C` it controls (owner
    /// reference with `controller: true`) changes or is deleted.
    #[must_use]
    pub fn owns<C: Object>(self) -> Self {
        self.owns_with::<C>(watcher::Config::default())
    }

    /// [`Operator::owns`] with a watcher configuration (for example a label
    /// selector to cache fewer objects).
    #[must_use]
    pub fn owns_with<C: Object>(mut self, config: watcher::Config) -> Self {
        self.children.push(ChildWatch::owned::<C>(config));
        self
    }

    /// Caches `C` and reconciles the objects `mapper` names whenever a `C`
    /// changes or is deleted.
    #[must_use]
    pub fn watches<C: Object>(
        mut self,
        config: watcher::Config,
        mapper: impl Fn(&C) -> Vec<ObjectRef<K>> + Send + Sync + 'static,
    ) -> Self {
        self.children
            .push(ChildWatch::mapped::<C>(config, None, mapper));
        self
    }

    /// [`Operator::watches`] in `namespace`, whatever the operator's scope
    /// (for objects kept in another namespace than the objects they serve).
    #[must_use]
    pub fn watches_in<C: Object>(
        mut self,
        namespace: impl Into<String>,
        config: watcher::Config,
        mapper: impl Fn(&C) -> Vec<ObjectRef<K>> + Send + Sync + 'static,
    ) -> Self {
        self.children.push(ChildWatch::mapped::<C>(
            config,
            Some(namespace.into()),
            mapper,
        ));
        self
    }

    /// Watches only `namespace` (default: all namespaces).
    #[must_use]
    pub fn namespace(mut self, namespace: impl Into<String>) -> Self {
        self.namespace = Some(namespace.into());
        self
    }

    /// Which objects to reconcile (default: [`Selection::VersionLabel`]).
    #[must_use]
    pub fn selection(mut self, selection: Selection) -> Self {
        self.selection = selection;
        self
    }

    /// How often a reconciled object is looked at again without any change
    /// (default five minutes).
    #[must_use]
    pub fn resync(mut self, resync: Duration) -> Self {
        self.resync = resync;
        self
    }

    /// How many objects are reconciled at once (default 4, at least 1).
    #[must_use]
    pub fn concurrency(mut self, concurrency: u16) -> Self {
        self.concurrency = concurrency.max(1);
        self
    }

    /// The backoff of failing objects.
    #[must_use]
    pub fn backoff(mut self, backoff: BackoffConfig) -> Self {
        self.backoff = backoff;
        self
    }

    /// Registers the operator's own metrics (with `register`) in the registry
    /// `/metrics` serves, next to operatorkit's.
    #[must_use]
    pub fn metrics(
        mut self,
        register: impl Fn(&prometheus::Registry) -> Result<(), prometheus::Error>
        + Send
        + Sync
        + 'static,
    ) -> Self {
        self.metrics.push(Box::new(register));
        self
    }

    /// The operator's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The operator's version.
    pub fn version(&self) -> &str {
        &self.version
    }

    /// The finalizer it puts on objects: `operatorkit.dev/<name>`.
    pub fn finalizer(&self) -> String {
        finalizer(&self.name)
    }

    /// The label selector of its watch, if any.
    pub fn label_selector(&self) -> Option<String> {
        match &self.selection {
            Selection::VersionLabel => {
                Some(format!("{}={}", version_label(&self.name), self.version))
            }
            Selection::Labels(s) => Some(s.clone()),
            Selection::All => None,
        }
    }

    /// Whether the operator reconciles `object` (re-checked in the loop, in
    /// case a cache is behind a relabelling).
    pub fn selects(&self, object: &K) -> bool {
        match &self.selection {
            Selection::VersionLabel => has_label(object, &version_label(&self.name), &self.version),
            // The API server applied the selector; a stale cache is caught by
            // the next watch event.
            Selection::Labels(_) | Selection::All => true,
        }
    }
}
