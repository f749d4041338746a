//! The definition of an operator: its name and version, the kind it
//! reconciles, its ordered steps, the child kinds it owns or watches, and
//! the defaults of its loop.

use std::sync::Arc;
use std::time::Duration;

use kube::runtime::reflector::ObjectRef;
use kube::runtime::watcher;

use crate::backoff::BackoffConfig;
use crate::children::Children;
use crate::context::Context;
use crate::crud::CrudStep;
use crate::keys::{OperatorName, label};
use crate::kind::{Kind, OperatorKind};
use crate::step::{Step, StepError};
use crate::watch::{ChildWatch, WatchScope};

/// Which objects of its kind an operator reconciles.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Selection {
    /// Those labelled `<name>.operatorkit.dev/version=<version>` (the
    /// default), so several versions run side by side. Objects without the
    /// label are reported (a Warning Event `NotReconciled`, a log line and
    /// the `operatorkit_unselected_objects` gauge), never silently ignored.
    VersionLabel,
    /// Those matching this label selector.
    Labels(String),
    /// All of them.
    All,
}

/// An operator: build it with [`Operator::new`] and the builder methods, run
/// it with [`Operator::start`] (or [`crate::main`] from `main`).
pub struct Operator<K: OperatorKind> {
    pub(crate) name: OperatorName,
    pub(crate) version: String,
    pub(crate) steps: Vec<Arc<dyn Step<K>>>,
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

impl<K: OperatorKind> Operator<K> {
    /// Operator `name` at `version` (a label value such as `1.2.0`).
    pub fn new(name: OperatorName, version: impl Into<String>) -> Self {
        Self {
            name,
            version: version.into(),
            steps: Vec::new(),
            children: Vec::new(),
            namespace: None,
            selection: Selection::VersionLabel,
            resync: Duration::from_secs(300),
            concurrency: 4,
            backoff: BackoffConfig::default(),
            metrics: Vec::new(),
        }
    }

    /// Appends a step: steps run in the order added, and in reverse order on
    /// deletion.
    #[must_use]
    pub fn step(mut self, step: impl Step<K>) -> Self {
        self.steps.push(Arc::new(step));
        self
    }

    /// Appends a step named `name` that keeps the child objects of kind `C`
    /// that `desired` computes for an object, and caches `C` so that a change
    /// to a child brings its owner back. Children get a controller owner
    /// reference; only the ones that drifted are applied (server-side apply),
    /// the ones no longer desired are deleted, and a steady state writes
    /// nothing. A child has drifted when a field `desired` sets has another
    /// value, or when a field this operator applied before is no longer set.
    #[must_use]
    pub fn children<C: Kind>(
        self,
        name: impl Into<String>,
        desired: impl Fn(&Context<K>) -> Result<Vec<C>, StepError> + Send + Sync + 'static,
    ) -> Self {
        let children = Children::<K, C>::new(name.into(), self.name.clone(), desired);
        self.owns::<C>().step(CrudStep(children))
    }

    /// Caches `C` and reconciles an object whenever a `C` it controls (owner
    /// reference with `controller: true`) changes or is deleted. Owning a
    /// kind twice caches it once.
    #[must_use]
    pub fn owns<C: Kind>(self) -> Self {
        self.owns_with::<C>(watcher::Config::default())
    }

    /// [`Operator::owns`] with a watcher configuration (for example a label
    /// selector to cache fewer objects).
    #[must_use]
    pub fn owns_with<C: Kind>(self, config: watcher::Config) -> Self {
        self.with_child(ChildWatch::owned::<C>(config))
    }

    /// Caches `C` and reconciles the objects `mapper` names whenever a `C`
    /// changes or is deleted.
    ///
    /// [`Context::get`](crate::Context::get) of a `C` then answers from this
    /// cache: with a selector in `config`, an object outside it reads as
    /// absent, so read such objects with [`Context::api_in`](crate::Context::api_in).
    #[must_use]
    pub fn watches<C: Kind>(
        self,
        config: watcher::Config,
        mapper: impl Fn(&C) -> Vec<ObjectRef<K>> + Send + Sync + 'static,
    ) -> Self {
        self.with_child(ChildWatch::mapped::<C>(
            config,
            WatchScope::Operator,
            mapper,
        ))
    }

    /// [`Operator::watches`] in `namespace`, whatever the operator's scope
    /// (for objects kept in another namespace than the objects they serve).
    #[must_use]
    pub fn watches_in<C: Kind>(
        self,
        namespace: impl Into<String>,
        config: watcher::Config,
        mapper: impl Fn(&C) -> Vec<ObjectRef<K>> + Send + Sync + 'static,
    ) -> Self {
        self.with_child(ChildWatch::mapped::<C>(
            config,
            WatchScope::Namespace(namespace.into()),
            mapper,
        ))
    }

    /// [`Operator::watches`] in every namespace, whatever the operator's
    /// scope (for objects an operator keeps in namespaces of their own,
    /// such as a namespace per guest cluster).
    #[must_use]
    pub fn watches_all_namespaces<C: Kind>(
        self,
        config: watcher::Config,
        mapper: impl Fn(&C) -> Vec<ObjectRef<K>> + Send + Sync + 'static,
    ) -> Self {
        self.with_child(ChildWatch::mapped::<C>(config, WatchScope::All, mapper))
    }

    fn with_child(mut self, watch: ChildWatch<K>) -> Self {
        // One cache per owned kind: owning a kind again (say, two `children`
        // steps of ConfigMaps) shares the first one's.
        let again = watch.is_owned()
            && self
                .children
                .iter()
                .any(|c| c.is_owned() && c.kind() == watch.kind());
        if !again {
            self.children.push(watch);
        }
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

    /// The backoff of objects failing with transient errors.
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
    pub fn name(&self) -> &OperatorName {
        &self.name
    }

    /// The operator's version.
    pub fn version(&self) -> &str {
        &self.version
    }

    /// The label selector of its watch, if any.
    pub fn label_selector(&self) -> Option<String> {
        match &self.selection {
            Selection::VersionLabel => {
                Some(format!("{}={}", self.name.version_label(), self.version))
            }
            Selection::Labels(s) => Some(s.clone()),
            Selection::All => None,
        }
    }

    /// Whether the operator reconciles `object` (re-checked in the loop, in
    /// case a cache is behind a relabelling).
    pub fn selects(&self, object: &K) -> bool {
        match &self.selection {
            Selection::VersionLabel => {
                label(object, &self.name.version_label()) == Some(self.version.as_str())
            }
            // The API server applied the selector; a stale cache is caught by
            // the next watch event.
            Selection::Labels(_) | Selection::All => true,
        }
    }
}
