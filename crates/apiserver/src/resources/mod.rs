//! What the server serves: one [`ResourceType`] per group/version/resource, for
//! the built-in kinds and for every version of every established CRD.

mod builtin;
mod compiled;
pub(crate) mod crd;
pub(crate) mod types;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use serde_json::Value;

pub(crate) use self::builtin::{ALL_KINDS, Builtin};
pub(crate) use self::compiled::Compiled;
use crate::store::StorageKey;

/// A served resource: one version of one resource.
#[derive(Debug, Clone)]
pub(crate) struct ResourceType {
    /// API group, "" for core.
    pub(crate) group: String,
    /// Version, e.g. `v1`.
    pub(crate) version: String,
    /// Kind, e.g. `ConfigMap`.
    pub(crate) kind: String,
    /// Resource (plural), e.g. `configmaps`.
    pub(crate) plural: String,
    /// Singular name, e.g. `configmap`.
    pub(crate) singular: String,
    /// Short names for kubectl.
    pub(crate) short_names: Vec<String>,
    /// Categories (`all`, `operatorkit`, ...).
    pub(crate) categories: Vec<String>,
    /// Namespaced or cluster-scoped.
    pub(crate) namespaced: bool,
    /// Whether `/status` is a subresource (the main endpoint then ignores status).
    pub(crate) status_subresource: bool,
    /// Whether spec changes bump `metadata.generation`.
    pub(crate) generation: bool,
    /// Whether PUT without `metadata.resourceVersion` is allowed.
    pub(crate) unconditional_update: bool,
    /// Built-in behaviour (defaults, validation), if a built-in kind.
    pub(crate) builtin: Option<Builtin>,
    /// For a custom resource: the CRD version's schema, columns and names.
    pub(crate) custom: Option<Arc<CustomVersion>>,
}

/// What a CRD says about one of its versions.
#[derive(Debug)]
pub(crate) struct CustomVersion {
    /// Name of the CRD (`<plural>.<group>`).
    pub(crate) crd_name: String,
    /// `openAPIV3Schema`, if the version has one.
    pub(crate) schema: Option<Value>,
    /// `additionalPrinterColumns`.
    pub(crate) printer_columns: Vec<Value>,
    /// `selectableFields[].jsonPath`, without the leading dot.
    pub(crate) selectable_fields: Vec<String>,
    /// Whether this is the storage version.
    pub(crate) storage: bool,
    /// The schema prepared for admission (CEL rules compiled once).
    pub(crate) compiled: Compiled,
    /// `subresources.scale`, if declared.
    pub(crate) scale: Option<ScalePaths>,
}

/// A CRD version's `subresources.scale`: JSONPaths such as `.spec.replicas`.
#[derive(Debug, Clone)]
pub(crate) struct ScalePaths {
    /// `specReplicasPath`.
    pub(crate) spec_replicas_path: String,
    /// `statusReplicasPath`.
    pub(crate) status_replicas_path: String,
    /// `labelSelectorPath`, if given.
    pub(crate) label_selector_path: Option<String>,
}

impl ResourceType {
    /// `group/version`, or `version` for core.
    pub(crate) fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.clone()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// Where objects of this resource are kept (shared by all its versions).
    pub(crate) fn storage_key(&self) -> StorageKey {
        match self.builtin {
            Some(b) => b.storage_key(),
            None => StorageKey::new(&self.group, &self.plural),
        }
    }

    /// `<Kind>List`.
    pub(crate) fn list_kind(&self) -> String {
        format!("{}List", self.kind)
    }
}

/// Key of a served resource.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Gvr {
    /// API group.
    pub(crate) group: String,
    /// Version.
    pub(crate) version: String,
    /// Resource (plural).
    pub(crate) resource: String,
}

impl Gvr {
    /// A key.
    pub(crate) fn new(group: &str, version: &str, resource: &str) -> Self {
        Self {
            group: group.to_owned(),
            version: version.to_owned(),
            resource: resource.to_owned(),
        }
    }
}

/// Every served resource; CRDs come and go at run time.
#[derive(Default)]
pub(crate) struct Registry {
    types: RwLock<BTreeMap<Gvr, Arc<ResourceType>>>,
    /// Bumped by every change, so documents computed from the registry know
    /// when they are stale.
    generation: AtomicU64,
}

impl Registry {
    /// A registry with the built-in kinds.
    pub(crate) fn with_builtins() -> Self {
        let registry = Self::default();
        for rt in builtin::all() {
            registry.insert(rt);
        }
        registry
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, BTreeMap<Gvr, Arc<ResourceType>>> {
        // Writers replace whole entries; a poisoned lock still holds a consistent map.
        self.types
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, BTreeMap<Gvr, Arc<ResourceType>>> {
        self.types
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Serves `rt`.
    pub(crate) fn insert(&self, rt: ResourceType) {
        let key = Gvr::new(&rt.group, &rt.version, &rt.plural);
        self.write().insert(key, Arc::new(rt));
        self.generation.fetch_add(1, Ordering::SeqCst);
    }

    /// Stops serving every version of the CRD named `crd_name`.
    pub(crate) fn remove_crd(&self, crd_name: &str) {
        self.write()
            .retain(|_, rt| rt.custom.as_ref().is_none_or(|c| c.crd_name != crd_name));
        self.generation.fetch_add(1, Ordering::SeqCst);
    }

    /// A number that changes whenever what is served changes.
    pub(crate) fn generation(&self) -> u64 {
        self.generation.load(Ordering::SeqCst)
    }

    /// The resource at `gvr`.
    pub(crate) fn get(&self, gvr: &Gvr) -> Option<Arc<ResourceType>> {
        self.read().get(gvr).cloned()
    }

    /// Every served resource.
    pub(crate) fn all(&self) -> Vec<Arc<ResourceType>> {
        self.read().values().cloned().collect()
    }

    /// The storage version's resource of the collection `storage` (for internal
    /// controllers that act on stored objects).
    pub(crate) fn for_storage(&self, storage: &StorageKey) -> Option<Arc<ResourceType>> {
        let all = self.read();
        let mut candidates = all.values().filter(|rt| rt.storage_key() == *storage);
        let first = candidates.next()?.clone();
        Some(
            std::iter::once(first.clone())
                .chain(candidates.cloned())
                .find(|rt| rt.custom.as_ref().is_none_or(|c| c.storage))
                .unwrap_or(first),
        )
    }

    /// The resource of built-in kind `b`.
    pub(crate) fn builtin(&self, b: Builtin) -> Option<Arc<ResourceType>> {
        self.read()
            .values()
            .find(|rt| rt.builtin == Some(b))
            .cloned()
    }

    /// The resource of `apiVersion` + `kind` (for owner references).
    pub(crate) fn by_kind(&self, api_version: &str, kind: &str) -> Option<Arc<ResourceType>> {
        self.read()
            .values()
            .find(|rt| rt.kind == kind && rt.api_version() == api_version)
            .cloned()
    }
}
