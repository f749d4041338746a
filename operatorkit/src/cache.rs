//! Reflector caches of the child kinds an operator owns or watches, so that
//! resources read children from memory instead of a GET on every loop.

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::sync::Arc;

use kube::Resource as KubeResource;
use kube::runtime::reflector::Store;

/// The caches of one controller run, by child type.
#[derive(Default, Clone)]
pub struct Caches {
    stores: HashMap<TypeId, Arc<dyn Any + Send + Sync>>,
}

impl Caches {
    /// Registers the store of `C`.
    pub(crate) fn insert<C>(&mut self, store: Store<C>)
    where
        C: KubeResource<DynamicType = ()> + Clone + Send + Sync + 'static,
    {
        self.stores.insert(TypeId::of::<C>(), Arc::new(store));
    }

    /// The store of `C`, if the operator owns or watches `C`.
    pub fn get<C>(&self) -> Option<Store<C>>
    where
        C: KubeResource<DynamicType = ()> + Clone + Send + Sync + 'static,
    {
        self.stores
            .get(&TypeId::of::<C>())
            .and_then(|s| s.downcast_ref::<Store<C>>())
            .cloned()
    }
}

/// Whether `child` has a controller owner reference to the object with `uid`.
pub fn is_controlled_by<C: KubeResource>(child: &C, uid: &str) -> bool {
    child
        .meta()
        .owner_references
        .iter()
        .flatten()
        .any(|o| o.uid == uid && o.controller == Some(true))
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{ConfigMap, Secret};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
    use kube::runtime::reflector;

    #[test]
    fn stores_are_found_by_type() {
        let (reader, _writer) = reflector::store::<ConfigMap>();
        let mut caches = Caches::default();
        caches.insert(reader);
        assert!(caches.get::<ConfigMap>().is_some());
        assert!(caches.get::<Secret>().is_none());
    }

    #[test]
    fn controller_references_only() {
        let mut cm = ConfigMap::default();
        cm.metadata.owner_references = Some(vec![OwnerReference {
            uid: "u1".into(),
            controller: Some(false),
            ..Default::default()
        }]);
        assert!(!is_controlled_by(&cm, "u1"));
        cm.metadata.owner_references = Some(vec![OwnerReference {
            uid: "u1".into(),
            controller: Some(true),
            ..Default::default()
        }]);
        assert!(is_controlled_by(&cm, "u1"));
        assert!(!is_controlled_by(&cm, "u2"));
    }
}
