//! What a resource sees of one loop: the object, a client, the child caches,
//! and the place to record status conditions and fields.

use std::sync::{Arc, Mutex, PoisonError};

use k8s_openapi::NamespaceResourceScope;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::api::Api;
use kube::runtime::events::EventType;
use kube::{Client, Resource as KubeResource, ResourceExt};
use serde::Serialize;

use crate::cache::{Caches, is_controlled_by};
use crate::events::Events;
use crate::status::{ConditionStatus, ConditionUpdate, READY, StatusChanges};

/// One loop over one object, as the resources see it.
pub struct Request<K> {
    object: Arc<K>,
    client: Client,
    operator: Arc<str>,
    caches: Caches,
    events: Events,
    status: Mutex<StatusChanges>,
}

impl<K> Request<K>
where
    K: KubeResource<DynamicType = (), Scope = NamespaceResourceScope> + Send + Sync + 'static,
{
    pub(crate) fn new(
        object: Arc<K>,
        client: Client,
        operator: Arc<str>,
        caches: Caches,
        events: Events,
    ) -> Self {
        Self {
            object,
            client,
            operator,
            caches,
            events,
            status: Mutex::default(),
        }
    }

    /// The object, as of the start of this loop (after the finalizer was added).
    pub fn object(&self) -> &K {
        &self.object
    }

    /// The object's name.
    pub fn name(&self) -> String {
        self.object.name_any()
    }

    /// The object's namespace.
    pub fn namespace(&self) -> String {
        self.object.namespace().unwrap_or_default()
    }

    /// The object's uid.
    pub fn uid(&self) -> String {
        self.object.uid().unwrap_or_default()
    }

    /// The operator's name; also its field manager for writes.
    pub fn operator(&self) -> &str {
        &self.operator
    }

    /// A client (the operator's own).
    pub fn client(&self) -> Client {
        self.client.clone()
    }

    /// An `Api` for `C` in the object's namespace.
    pub fn api<C>(&self) -> Api<C>
    where
        C: KubeResource<DynamicType = (), Scope = NamespaceResourceScope>,
    {
        Api::namespaced(self.client.clone(), &self.namespace())
    }

    /// The cache of `C`, if the operator owns or watches `C` (or `C` is the
    /// operator's own kind: its siblings).
    pub fn cache<C>(&self) -> Option<kube::runtime::reflector::Store<C>>
    where
        C: KubeResource<DynamicType = ()> + Clone + Send + Sync + 'static,
    {
        self.caches.get::<C>()
    }

    /// The cached `C` objects this object controls (owner reference with
    /// `controller: true`); empty when `C` is not cached.
    pub fn owned<C>(&self) -> Vec<Arc<C>>
    where
        C: KubeResource<DynamicType = ()> + Clone + Send + Sync + 'static,
    {
        let uid = self.uid();
        self.cache::<C>()
            .map(|s| {
                s.state()
                    .into_iter()
                    .filter(|c| is_controlled_by(c.as_ref(), &uid))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// An owner reference to this object, marking a child as controlled by it
    /// (garbage-collected with it, and mapped back to it by `owns`).
    pub fn owner_reference(&self) -> OwnerReference {
        OwnerReference {
            api_version: K::api_version(&()).into_owned(),
            kind: K::kind(&()).into_owned(),
            name: self.name(),
            uid: self.uid(),
            controller: Some(true),
            block_owner_deletion: Some(true),
        }
    }

    /// Sets a status condition (written at the end of the loop).
    pub fn set_condition(
        &self,
        type_: &str,
        status: impl Into<ConditionStatus>,
        reason: &str,
        message: impl Into<String>,
    ) {
        self.changes()
            .set_condition(ConditionUpdate::new(type_, status, reason, message));
    }

    /// Marks the object not Ready with this reason and message, instead of the
    /// Ready condition operatorkit would otherwise set.
    pub fn set_not_ready(&self, reason: &str, message: impl Into<String>) {
        self.set_condition(READY, false, reason, message);
    }

    /// Sets a top-level status field (by its JSON name) to `value`.
    pub fn set_status_field(
        &self,
        field: &str,
        value: impl Serialize,
    ) -> Result<(), serde_json::Error> {
        let value = serde_json::to_value(value)?;
        self.changes().fields.insert(field.to_owned(), value);
        Ok(())
    }

    /// Publishes an Event about the object. A failure to publish is logged,
    /// never returned: events are best effort.
    pub async fn event(&self, type_: EventType, reason: &str, note: impl Into<String>) {
        self.events
            .publish(
                self.object.as_ref(),
                type_,
                reason,
                "Reconcile",
                note.into(),
            )
            .await;
    }

    pub(crate) fn take_changes(&self) -> StatusChanges {
        std::mem::take(&mut *self.changes())
    }

    fn changes(&self) -> std::sync::MutexGuard<'_, StatusChanges> {
        // A panic while holding the lock leaves plain data behind: still usable.
        self.status.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
