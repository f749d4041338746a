//! What a step sees of one loop: the object, a client, reads from the caches
//! that see this operator's own writes, writes that are remembered for those
//! reads, the typed status, Events, and what earlier steps of the loop
//! shared with later ones.

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::api::{Api, DeleteParams, Patch, PatchParams, Preconditions};
use kube::core::object::HasStatus;
use kube::runtime::events::EventType;
use kube::runtime::reflector::{ObjectRef, Store};
use kube::{Client, ResourceExt};
use serde_json::Value;

use crate::cache::{Caches, is_controlled_by};
use crate::events::Events;
use crate::keys::OperatorName;
use crate::kind::{Kind, OperatorKind};
use crate::status::{ConditionUpdate, OperatorStatus, READY, StatusChanges, condition};
use crate::writes::{Resolved, Writes, may_have_landed};

/// One loop over one object, as the steps see it.
pub struct Context<K: OperatorKind> {
    object: Arc<K>,
    client: Client,
    operator: OperatorName,
    caches: Caches,
    writes: Arc<Writes>,
    events: Events,
    status: Mutex<StatusChanges<K::Status>>,
    shared: Shared,
}

/// What a context is made of (built by the loop).
pub(crate) struct Parts {
    pub client: Client,
    pub operator: OperatorName,
    pub caches: Caches,
    pub writes: Arc<Writes>,
    pub events: Events,
}

impl<K: OperatorKind> Context<K> {
    pub(crate) fn new(object: Arc<K>, parts: Parts) -> Self {
        Self {
            object,
            client: parts.client,
            operator: parts.operator,
            caches: parts.caches,
            writes: parts.writes,
            events: parts.events,
            status: Mutex::default(),
            shared: Shared::default(),
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
    pub fn operator(&self) -> &OperatorName {
        &self.operator
    }

    /// A client (the operator's own).
    pub fn client(&self) -> Client {
        self.client.clone()
    }

    /// An `Api` for `C` in `namespace`.
    pub fn api_in<C: Kind>(&self, namespace: &str) -> Api<C> {
        Api::namespaced(self.client.clone(), namespace)
    }

    /// The raw cache of `C`, if the operator reconciles, owns or watches `C`.
    /// It does not see this operator's latest writes: prefer
    /// [`Context::get`] and [`Context::owned`].
    pub fn cache<C: Kind>(&self) -> Option<Store<C>> {
        self.caches.get::<C>()
    }

    /// The object `namespace/name` of kind `C`, as fresh as this process
    /// knows it: from the cache, unless this operator wrote it since and the
    /// cache does not show that yet (then as written), or a write of it
    /// failed in a way that may have landed (then from the API server). A
    /// kind that is not cached is read from the API server.
    pub async fn get<C: Kind>(
        &self,
        namespace: &str,
        name: &str,
    ) -> Result<Option<Arc<C>>, kube::Error> {
        let (Some(store), Some(progress)) = (self.caches.get::<C>(), self.caches.progress::<C>())
        else {
            return Ok(self
                .api_in::<C>(namespace)
                .get_opt(name)
                .await?
                .map(Arc::new));
        };
        // Progress first: read after the cache, it could overstate it.
        let applied = progress.applied();
        let cached = store.get(&ObjectRef::new(name).within(namespace));
        match self.writes.resolve(namespace, name, cached, applied) {
            Resolved::Known(object) => Ok(object),
            Resolved::Unknown => {
                let live = self.api_in::<C>(namespace).get_opt(name).await?;
                match &live {
                    Some(o) => self.writes.wrote(o),
                    None => self.writes.forget::<C>(namespace, name),
                }
                Ok(live.map(Arc::new))
            }
        }
    }

    /// The `C` objects this object controls (owner reference with
    /// `controller: true`), as fresh as this process knows them; empty when
    /// `C` is not cached.
    pub fn owned<C: Kind>(&self) -> Vec<Arc<C>> {
        let (Some(store), Some(progress)) = (self.caches.get::<C>(), self.caches.progress::<C>())
        else {
            return Vec::new();
        };
        let uid = self.uid();
        let ns = self.namespace();
        let applied = progress.applied();
        let cached = store
            .state()
            .into_iter()
            .filter(|c| is_controlled_by(c.as_ref(), &uid));
        let candidates = cached.chain(self.writes.written_for::<C>(&uid));
        let mut names = std::collections::BTreeSet::new();
        let mut owned = Vec::new();
        for candidate in candidates {
            let name = candidate.name_any();
            if candidate.namespace().as_deref() != Some(ns.as_str()) || !names.insert(name.clone())
            {
                continue;
            }
            let in_cache = store.get(&ObjectRef::new(&name).within(&ns));
            let fresh = match self.writes.resolve(&ns, &name, in_cache.clone(), applied) {
                Resolved::Known(o) => o,
                // Versions not comparable: the cached object, as a plain cache would.
                Resolved::Unknown => in_cache,
            };
            owned.extend(fresh.filter(|c| is_controlled_by(c.as_ref(), &uid)));
        }
        owned
    }

    /// Server-side applies `object` as this operator (its field manager,
    /// taking over conflicting fields: the operator is the authority on what
    /// it applies), and remembers the result for reads.
    pub async fn apply<C: Kind>(&self, object: &C) -> Result<C, kube::Error> {
        let namespace = object.namespace().unwrap_or_else(|| self.namespace());
        let mut body = serde_json::to_value(object).map_err(kube::Error::SerdeError)?;
        if let Some(obj) = body.as_object_mut() {
            obj.insert("apiVersion".into(), C::api_version(&()).into());
            obj.insert("kind".into(), C::kind(&()).into());
            if let Some(Value::Object(meta)) = obj.get_mut("metadata") {
                meta.remove("resourceVersion");
                meta.remove("managedFields");
            }
        }
        let params = PatchParams::apply(self.operator.as_str()).force();
        let name = object.name_any();
        let written = self
            .api_in::<C>(&namespace)
            .patch(&name, &params, &Patch::Apply(&body))
            .await
            .inspect_err(|e| self.record_failed_write::<C>(e, &namespace, &name))?;
        self.writes.wrote(&written);
        Ok(written)
    }

    /// Remembers `object` as written by this operator by other means than
    /// [`Context::apply`] (a create, an update): pass the object the API
    /// server returned, and reads see it even before the cache does.
    pub fn record_write<C: Kind>(&self, object: &C) {
        self.writes.wrote(object);
    }

    /// Deletes `object` (only that very object: its uid is a precondition)
    /// in the background, and remembers it for reads. An object already gone
    /// or replaced is not an error.
    pub async fn delete<C: Kind>(&self, object: &C) -> Result<(), kube::Error> {
        let namespace = object.namespace().unwrap_or_else(|| self.namespace());
        let name = object.name_any();
        let params = DeleteParams {
            preconditions: Some(Preconditions {
                uid: object.uid(),
                resource_version: None,
            }),
            ..DeleteParams::background()
        };
        match self.api_in::<C>(&namespace).delete(&name, &params).await {
            Ok(either) => match either
                .left()
                .filter(|o| o.meta().deletion_timestamp.is_some())
            {
                Some(terminating) => self.writes.wrote(&terminating),
                None => {
                    self.writes
                        .deleted::<C>(&namespace, &name, &object.uid().unwrap_or_default())
                }
            },
            Err(kube::Error::Api(s)) if s.code == 404 || s.code == 409 => {}
            Err(e) => {
                self.record_failed_write::<C>(&e, &namespace, &name);
                return Err(e);
            }
        }
        Ok(())
    }

    /// Remembers that a write of `namespace/name` by other means than
    /// [`Context::apply`] and [`Context::delete`] (which do this
    /// themselves) failed with `error`. If it may have landed (the answer
    /// was lost, or the server answered 5xx), the next [`Context::get`] of
    /// it reads the API server, not a cache that may not show the write
    /// yet; a refusal (4xx) changes nothing.
    pub fn record_failed_write<C: Kind>(&self, error: &kube::Error, namespace: &str, name: &str) {
        if may_have_landed(error) {
            self.writes.unsure::<C>(namespace, name);
        }
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

    /// Sets a status condition (written at the end of the loop); build it
    /// with [`crate::status::condition`].
    pub fn set_condition(&self, update: ConditionUpdate) {
        self.changes().set_condition(update);
    }

    /// Marks the object not Ready with this reason and message, instead of
    /// the Ready condition operatorkit would otherwise set.
    pub fn not_ready(&self, reason: &str, message: impl Into<String>) {
        self.set_condition(condition(READY).is(false).because(reason).message(message));
    }

    /// Sets condition `type_` False with `reason` and `message`, marks the
    /// object not Ready the same way, and publishes a Warning Event only
    /// when the condition said something else before: a problem found
    /// again on every recheck is reported once, not once per loop.
    pub async fn not_ready_with_event(
        &self,
        type_: &str,
        reason: &str,
        message: impl Into<String>,
    ) {
        let message = message.into();
        let before = self.object.status().and_then(|s| s.condition(type_));
        let same = before
            .is_some_and(|c| c.status == "False" && c.reason == reason && c.message == message);
        if !same {
            self.event(EventType::Warning, reason, message.clone())
                .await;
        }
        self.set_condition(
            condition(type_)
                .is(false)
                .because(reason)
                .message(message.clone()),
        );
        self.not_ready(reason, message);
    }

    /// Changes the kind's own status fields (written at the end of the loop):
    /// `cx.status(move |s| s.secret_name = Some(name.clone()))`. The change
    /// may be applied more than once (again on a fresher status after a
    /// conflict), so it should set, not accumulate.
    pub fn status(&self, edit: impl Fn(&mut <K as HasStatus>::Status) + Send + Sync + 'static) {
        self.changes().edits.push(Arc::new(edit));
    }

    /// Shares `value` with the later steps of this loop, which read it with
    /// [`Context::shared`]: what one step found or made (an account, a key,
    /// an address) that others need, so they do not ask for it again. One
    /// value per type (a second replaces the first); nothing outlives the
    /// loop, so nothing goes stale between loops. A step must still work
    /// when nothing was shared (on deletion, steps run backwards).
    pub fn share<T: Any + Clone + Send + Sync>(&self, value: T) {
        self.shared.put(value);
    }

    /// The value of type `T` an earlier step of this loop shared, if any.
    pub fn shared<T: Any + Clone + Send + Sync>(&self) -> Option<T> {
        self.shared.get()
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

    pub(crate) fn take_changes(&self) -> StatusChanges<K::Status> {
        std::mem::take(&mut *self.changes())
    }

    fn changes(&self) -> std::sync::MutexGuard<'_, StatusChanges<K::Status>> {
        // A panic while holding the lock leaves plain data behind: still usable.
        self.status.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Values the steps of one loop share, one per type.
#[derive(Default)]
struct Shared(Mutex<HashMap<TypeId, Box<dyn Any + Send + Sync>>>);

impl Shared {
    fn put<T: Any + Clone + Send + Sync>(&self, value: T) {
        self.lock().insert(TypeId::of::<T>(), Box::new(value));
    }

    fn get<T: Any + Clone + Send + Sync>(&self) -> Option<T> {
        self.lock()
            .get(&TypeId::of::<T>())
            .and_then(|v| v.downcast_ref::<T>())
            .cloned()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<TypeId, Box<dyn Any + Send + Sync>>> {
        // A panic while the lock was held left nothing half-written: each
        // change is one insert.
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::Shared;

    #[test]
    fn a_shared_value_is_found_by_its_type_and_replaced_by_the_next() {
        #[derive(Clone, Debug, PartialEq)]
        struct Key(&'static str);
        let shared = Shared::default();
        assert_eq!(shared.get::<Key>(), None);
        shared.put(Key("a"));
        shared.put(7_u32);
        assert_eq!(shared.get::<Key>(), Some(Key("a")));
        assert_eq!(shared.get::<u32>(), Some(7));
        assert_eq!(shared.get::<u64>(), None, "another type");
        shared.put(Key("b"));
        assert_eq!(shared.get::<Key>(), Some(Key("b")));
    }
}
