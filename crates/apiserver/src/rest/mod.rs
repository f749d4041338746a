//! The REST verbs with kube-apiserver's semantics, independent of HTTP: create,
//! get, list, update (main and `/status`), patch, delete and deletecollection.
//!
//! Every write runs under the store's lock from read to commit, so it is atomic
//! and a stale resourceVersion is always caught (no lost update). A write that
//! changes nothing is not stored and does not move the resourceVersion.

mod binding;
pub(crate) mod convert;
mod eviction;
mod fields;
mod graceful;
mod list;
pub(crate) mod options;
mod patch;
mod scale;
mod strict;

use std::sync::Arc;

use serde_json::{Value, json};

use self::graceful::Graceful;
pub(crate) use self::list::Filter;
use self::options::{DeleteOptions, Propagation, WriteOptions};
pub(crate) use self::patch::{PatchType, apply as apply_patch};
pub(crate) use self::scale::has_scale;
use crate::admission::{self, Operation};
use crate::error::{ApiError, ApiResult, Cause, Target};
use crate::fieldmanager;
use crate::meta;
use crate::resources::{Builtin, Registry, ResourceType};
use crate::store::{ObjectKey, State, StorageKey, Store, Stored};
use crate::user::User;

/// Finalizer the server adds for `propagationPolicy=Foreground`.
pub(crate) const FOREGROUND_FINALIZER: &str = "foregroundDeletion";
/// Finalizer the server adds for `propagationPolicy=Orphan`.
pub(crate) const ORPHAN_FINALIZER: &str = "orphan";
/// Namespaces that cannot be deleted (kube-apiserver's NamespaceLifecycle
/// admission plugin: `immortalNamespaces`).
const IMMORTAL_NAMESPACES: &[&str] = &["default", "kube-system", "kube-public"];

/// Which endpoint of an object a write goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Subresource {
    /// The object itself.
    Main,
    /// `/status`: only `status` changes.
    Status,
    /// Spec and status at once, as the server's own writes through a
    /// subresource of their own do (`pods/binding`); never a client's path.
    Whole,
}

/// What a PATCH wrote.
#[derive(Debug)]
pub(crate) struct Patched {
    /// The object as stored.
    pub(crate) object: Value,
    /// Warnings for the client.
    pub(crate) warnings: Vec<String>,
    /// Whether the patch (a server-side apply) created the object.
    pub(crate) created: bool,
}

/// The existing object (or its status) a write addresses.
#[derive(Debug, Clone, Copy)]
struct Existing<'a> {
    ns: Option<&'a str>,
    name: &'a str,
    sub: Subresource,
}

/// What a delete did.
#[derive(Debug)]
pub(crate) enum Deleted {
    /// The object is gone; here is its last state.
    Now(Value),
    /// Finalizers keep it; here it is with its deletionTimestamp.
    Pending(Value),
}

/// The REST layer over one store and registry.
pub(crate) struct Rest {
    /// Where objects live.
    pub(crate) store: Arc<Store>,
    /// What is served.
    pub(crate) registry: Arc<Registry>,
    /// Checks RBAC writes for escalation, when the server authorizes.
    escalation: Option<Arc<dyn EscalationCheck>>,
}

/// RBAC's escalation check on writes of roles and bindings, which the
/// authorizer above this layer gives it ([`Rest::with_escalation_check`]).
pub(crate) trait EscalationCheck: Send + Sync {
    /// Refuses `obj` (a role or binding of `kind`, its group and resource,
    /// about to be stored by `user`) if it grants more than `user` holds, judged on
    /// `state` (the store under the write's lock). `creating` tells a create
    /// from an update.
    fn check(
        &self,
        state: &State,
        user: &User,
        kind: (&str, &str),
        obj: &Value,
        creating: bool,
    ) -> ApiResult<()>;
}

/// The namespace an object of `rt` lives in, given the request's.
pub(crate) fn scoped_namespace<'a>(rt: &ResourceType, ns: Option<&'a str>) -> &'a str {
    if rt.namespaced { ns.unwrap_or("") } else { "" }
}

fn target<'a>(rt: &'a ResourceType, name: &'a str) -> Target<'a> {
    Target {
        group: &rt.group,
        resource: &rt.plural,
        name,
    }
}

fn namespaces() -> StorageKey {
    Builtin::Namespace.storage_key()
}

/// The parts of an object that make its `generation`: everything but metadata
/// (and status when status is a subresource).
fn generation_relevant(rt: &ResourceType, obj: &Value) -> Value {
    let mut v = obj.clone();
    if let Value::Object(m) = &mut v {
        m.remove("metadata");
        m.remove("apiVersion");
        m.remove("kind");
        if rt.status_subresource {
            m.remove("status");
        }
    }
    v
}

/// Metadata the server owns: copied from the stored object on every update.
const SERVER_OWNED_METADATA: &[&str] = &[
    "uid",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "generation",
    "selfLink",
];

impl Rest {
    /// A REST layer.
    pub(crate) fn new(store: Arc<Store>, registry: Arc<Registry>) -> Self {
        Self {
            store,
            registry,
            escalation: None,
        }
    }

    /// Checks writes of roles and bindings by requesting users with `check`
    /// (RBAC's escalation check).
    pub(crate) fn with_escalation_check(mut self, check: Arc<dyn EscalationCheck>) -> Self {
        self.escalation = Some(check);
        self
    }

    /// Refuses a role or binding that grants more than the requesting user
    /// holds.
    fn check_escalation(
        &self,
        state: &State,
        rt: &ResourceType,
        opts: &WriteOptions,
        obj: &Value,
        creating: bool,
    ) -> ApiResult<()> {
        match (&self.escalation, &opts.user) {
            (Some(check), Some(user)) => {
                check.check(state, user, (&rt.group, &rt.plural), obj, creating)
            }
            _ => Ok(()),
        }
    }

    /// GET of one object.
    pub(crate) fn get(&self, rt: &ResourceType, ns: Option<&str>, name: &str) -> ApiResult<Value> {
        Ok(convert::from_stored(rt, &self.get_stored(rt, ns, name)?))
    }

    /// GET of one object as the store keeps it (see [`convert`]).
    pub(crate) fn get_stored(
        &self,
        rt: &ResourceType,
        ns: Option<&str>,
        name: &str,
    ) -> ApiResult<Stored> {
        let key = ObjectKey::new(scoped_namespace(rt, ns), name);
        self.store
            .read(|s| s.get(&rt.storage_key(), &key))
            .ok_or_else(|| ApiError::not_found(target(rt, name)))
    }

    /// POST: creates an object in `ns`.
    pub(crate) fn create(
        &self,
        rt: &ResourceType,
        ns: Option<&str>,
        body: Value,
        opts: &WriteOptions,
    ) -> ApiResult<(Value, Vec<String>)> {
        let origin = strict::Origin::Body(opts.raw_body.as_deref());
        self.create_owned(rt, ns, body, opts, None, origin)
    }

    /// Creates an object; `applied` is the apply configuration when server-side
    /// apply creates it (ownership is then the apply's).
    fn create_owned(
        &self,
        rt: &ResourceType,
        ns: Option<&str>,
        body: Value,
        opts: &WriteOptions,
        applied: Option<&Value>,
        origin: strict::Origin<'_>,
    ) -> ApiResult<(Value, Vec<String>)> {
        let ns = scoped_namespace(rt, ns);
        let mut obj = check_type(rt, body)?;
        let warnings = strict::check(rt, &mut obj, origin, opts.field_validation)?;
        place_in_namespace(rt, ns, &mut obj)?;
        let name = name_new(rt, &mut obj)?;
        stamp_new(rt, &mut obj);
        admission::admit(rt, &mut obj, None, Operation::Create)?;
        match applied {
            Some(config) => {
                obj =
                    fieldmanager::apply(rt, None, config, obj, &opts.manager(), opts.force, None)?;
            }
            None => fieldmanager::record_update(rt, None, &mut obj, &opts.manager(), None),
        }
        let stored = self.store_new(rt, &ObjectKey::new(ns, &name), obj, opts)?;
        Ok((convert::into_version(rt, stored), warnings))
    }

    /// Stores a new object at `key` (nothing there yet), after the checks
    /// that need the store: its namespace, escalation, allocations.
    fn store_new(
        &self,
        rt: &ResourceType,
        key: &ObjectKey,
        obj: Value,
        opts: &WriteOptions,
    ) -> ApiResult<Value> {
        let storage = rt.storage_key();
        self.store.write(|state| {
            if rt.namespaced {
                check_namespace_accepts(state, rt, &key.namespace, &key.name)?;
            }
            if state.get(&storage, key).is_some() {
                return Err(ApiError::already_exists(target(rt, &key.name)));
            }
            self.check_escalation(state, rt, opts, &obj, true)?;
            let obj = admission::allocate(rt, state, obj)?;
            let obj = convert::to_storage(rt, obj);
            if opts.dry_run {
                return Ok(obj);
            }
            let stored = state.put_fitting(&storage, key, obj)?;
            if rt.builtin == Some(Builtin::CustomResourceDefinition) {
                let (registry, crd) = (self.registry.clone(), stored.clone());
                state.on_commit(move || crate::resources::crd::register(&registry, &crd));
            }
            Ok(stored)
        })
    }

    /// PUT of the object or its status.
    pub(crate) fn update(
        &self,
        rt: &ResourceType,
        ns: Option<&str>,
        name: &str,
        sub: Subresource,
        body: Value,
        opts: &WriteOptions,
    ) -> ApiResult<(Value, Vec<String>)> {
        let mut body = check_type(rt, body)?;
        let origin = strict::Origin::Body(opts.raw_body.as_deref());
        let strict = strict::check(rt, &mut body, origin, opts.field_validation)?;
        match meta::name(&body) {
            Some(n) if n != name => {
                return Err(ApiError::bad_request(format!(
                    "the name of the object ({n}) does not match the name on the URL ({name})"
                )));
            }
            _ => {}
        }
        if rt.namespaced
            && let Some(body_ns) = meta::namespace(&body)
            && Some(body_ns) != ns
        {
            return Err(ApiError::bad_request(
                "the namespace of the provided object does not match the namespace sent on the request",
            ));
        }
        self.write_existing(rt, Existing { ns, name, sub }, opts, None, |_| {
            Ok((body, strict))
        })
    }

    /// PATCH of the object or its status.
    pub(crate) fn patch(
        &self,
        rt: &ResourceType,
        ns: Option<&str>,
        name: &str,
        sub: Subresource,
        patch: (PatchType, &[u8]),
        opts: &WriteOptions,
    ) -> ApiResult<Patched> {
        let (patch_type, body) = patch;
        if patch_type == PatchType::Apply {
            return self.apply(rt, ns, name, sub, body, opts);
        }
        let (object, warnings) =
            self.write_existing(rt, Existing { ns, name, sub }, opts, None, |current| {
                let patched = patch::apply(rt, patch_type, current, body)?;
                let mut patched = check_type(rt, patched)?;
                check_patched_name(rt, &patched, ns, name)?;
                let origin = match patch_type {
                    PatchType::Json => strict::Origin::JsonPatch(body),
                    _ => strict::Origin::Patch(body),
                };
                let warnings = strict::check(rt, &mut patched, origin, opts.field_validation)?;
                Ok((patched, warnings))
            })?;
        Ok(Patched {
            object,
            warnings,
            created: false,
        })
    }

    /// Server-side apply: creates the object if missing, else merges the applied
    /// configuration into it.
    fn apply(
        &self,
        rt: &ResourceType,
        ns: Option<&str>,
        name: &str,
        sub: Subresource,
        config: &[u8],
        opts: &WriteOptions,
    ) -> ApiResult<Patched> {
        let (applied, strict) = read_apply_config(rt, name, config, opts)?;
        let exists = self.store.read(|s| {
            s.get(
                &rt.storage_key(),
                &ObjectKey::new(scoped_namespace(rt, ns), name),
            )
            .is_some()
        });
        if !exists && sub == Subresource::Main {
            if let Some(refused) = opts.create_check.as_ref().and_then(|c| c.refused()) {
                return Err(refused);
            }
            let mut obj = applied.clone();
            meta::metadata_mut(&mut obj).insert("name".into(), name.into());
            let origin = strict::Origin::Body(None);
            let (object, warnings) =
                self.create_owned(rt, ns, obj, opts, Some(&applied), origin)?;
            return Ok(Patched {
                object,
                warnings: [strict, warnings].concat(),
                created: true,
            });
        }
        let (object, warnings) = self.write_existing(
            rt,
            Existing { ns, name, sub },
            opts,
            Some(&applied),
            |current| {
                let merged = patch::apply_merge(rt, current, &applied);
                Ok((check_type(rt, merged)?, Vec::new()))
            },
        )?;
        Ok(Patched {
            object,
            warnings: [strict, warnings].concat(),
            created: false,
        })
    }

    /// Shared path of PUT, PATCH and apply on an existing object: `f` turns the
    /// current object into the requested one; the rest is Kubernetes' update.
    fn write_existing(
        &self,
        rt: &ResourceType,
        at: Existing<'_>,
        opts: &WriteOptions,
        applied: Option<&Value>,
        f: impl FnOnce(&Value) -> ApiResult<(Value, Vec<String>)>,
    ) -> ApiResult<(Value, Vec<String>)> {
        let Existing { ns, name, sub } = at;
        let storage = rt.storage_key();
        let key = ObjectKey::new(scoped_namespace(rt, ns), name);
        let (stored, warnings) = self.store.write(|state| {
            let current = state
                .value(&storage, &key)
                .ok_or_else(|| ApiError::not_found(target(rt, name)))?;
            let current_view = convert::from_storage(rt, &current);
            let (requested, warnings) = f(&current_view)?;
            let current_rv = meta::resource_version(&current).unwrap_or_default();
            check_update_version(rt, name, &requested, current_rv)?;
            let mut new = merge_update(rt, sub, &current_view, requested);
            check_no_new_finalizers(rt, name, &current_view, &new)?;
            admission::admit(rt, &mut new, Some(&current_view), Operation::Update)?;
            self.check_escalation(state, rt, opts, &new, false)?;
            let subresource = (sub == Subresource::Status).then_some("status");
            match applied {
                Some(config) => {
                    new = fieldmanager::apply(
                        rt,
                        Some(&current_view),
                        config,
                        new,
                        &opts.manager(),
                        opts.force,
                        subresource,
                    )?;
                }
                None => fieldmanager::record_update(
                    rt,
                    Some(&current_view),
                    &mut new,
                    &opts.manager(),
                    subresource,
                ),
            }
            bump_generation(rt, &current_view, &mut new);
            let new = convert::to_storage(rt, new);
            let mut unchanged = new.clone();
            meta::set_resource_version(&mut unchanged, current_rv);
            if unchanged == current {
                return Ok((current, warnings));
            }
            if opts.dry_run {
                return Ok((new, warnings));
            }
            let stored = self.replace_in(state, rt, &key, current, new)?;
            Ok((stored, warnings))
        })?;
        Ok((convert::into_version(rt, stored), warnings))
    }

    /// Replaces `current` at `key` by `new` inside a write, or removes it
    /// when `new` is released (no finalizer left on a deleted object);
    /// keeps the served CRDs in step. Returns what is stored (or was last).
    fn replace_in(
        &self,
        state: &mut State,
        rt: &ResourceType,
        key: &ObjectKey,
        current: Value,
        new: Value,
    ) -> ApiResult<Value> {
        let storage = rt.storage_key();
        let is_crd = rt.builtin == Some(Builtin::CustomResourceDefinition);
        if released(&storage, &new) {
            let gone = state.remove(&storage, key).unwrap_or(current);
            if is_crd {
                let (registry, name) = (self.registry.clone(), key.name.clone());
                state.on_commit(move || registry.remove_crd(&name));
            }
            return Ok(gone);
        }
        let stored = state.put_fitting(&storage, key, new)?;
        if is_crd && !meta::is_deleting(&stored) {
            let (registry, crd) = (self.registry.clone(), stored.clone());
            state.on_commit(move || crate::resources::crd::register(&registry, &crd));
        }
        Ok(stored)
    }

    /// DELETE of a collection: every object the list options select.
    pub(crate) fn delete_collection(
        &self,
        rt: &ResourceType,
        ns: Option<&str>,
        list_opts: &options::ListOptions,
        opts: &DeleteOptions,
    ) -> ApiResult<Value> {
        let filter = Filter::new(rt, ns, list_opts)?;
        let storage = rt.storage_key();
        let deleted = self.store.write(|state| {
            let mut out = Vec::new();
            for (key, stored) in state.list(&storage, filter.namespace()) {
                if !filter.matches_stored(rt, &key, &stored) {
                    continue;
                }
                match delete_in(state, rt, &storage, &key, opts)? {
                    Deleted::Now(v) | Deleted::Pending(v) => {
                        out.push(convert::from_storage(rt, &v))
                    }
                }
            }
            Ok((out, state.revision()))
        })?;
        Ok(json!({
            "apiVersion": rt.api_version(),
            "kind": rt.list_kind(),
            "metadata": {"resourceVersion": deleted.1.to_string()},
            "items": deleted.0,
        }))
    }

    /// DELETE of one object.
    pub(crate) fn delete(
        &self,
        rt: &ResourceType,
        ns: Option<&str>,
        name: &str,
        opts: &DeleteOptions,
    ) -> ApiResult<Deleted> {
        let storage = rt.storage_key();
        let key = ObjectKey::new(scoped_namespace(rt, ns), name);
        let out = self
            .store
            .write(|state| delete_in(state, rt, &storage, &key, opts))?;
        Ok(match out {
            Deleted::Now(v) => Deleted::Now(convert::from_storage(rt, &v)),
            Deleted::Pending(v) => Deleted::Pending(convert::from_storage(rt, &v)),
        })
    }
}

/// As kube-apiserver checks a patch's result: it keeps the name and the
/// namespace of the URL (a patch cannot rename or move an object).
fn check_patched_name(
    rt: &ResourceType,
    patched: &Value,
    ns: Option<&str>,
    name: &str,
) -> ApiResult<()> {
    let got = meta::name(patched).unwrap_or_default();
    if got != name {
        return Err(ApiError::bad_request(format!(
            "the name of the object ({got}) does not match the name on the URL ({name})"
        )));
    }
    if rt.namespaced
        && let (Some(want), Some(got)) = (ns, meta::namespace(patched))
        && !got.is_empty()
        && got != want
    {
        return Err(ApiError::bad_request(format!(
            "the namespace of the object ({got}) does not match the namespace on the URL ({want})"
        )));
    }
    Ok(())
}

/// Deletes the object at `key` inside a write: marks it (finalizers pending) or
/// removes it.
pub(crate) fn delete_in(
    state: &mut State,
    rt: &ResourceType,
    storage: &StorageKey,
    key: &ObjectKey,
    opts: &DeleteOptions,
) -> ApiResult<Deleted> {
    if rt.builtin == Some(Builtin::Namespace) && IMMORTAL_NAMESPACES.contains(&key.name.as_str()) {
        return Err(ApiError::forbidden(
            target(rt, &key.name),
            "this namespace may not be deleted",
        ));
    }
    let current = state
        .value(storage, key)
        .ok_or_else(|| ApiError::not_found(target(rt, &key.name)))?;
    check_delete_preconditions(rt, &key.name, &current, opts)?;
    let how = graceful::decide(rt, &current, opts);
    if how == Graceful::Pending {
        return Ok(Deleted::Pending(current));
    }
    let policy = opts.propagation.unwrap_or(Propagation::Background);
    let finalizers = finalizers_for(&current, policy);
    let mut obj = current.clone();
    if matches!(how, Graceful::Start(_) | Graceful::Shorten(_)) {
        let period = graceful::mark(&mut obj, how);
        meta::set_finalizers(&mut obj, &finalizers);
        if period == 0 && !held(storage, &obj, &finalizers) {
            return Ok(remove_now(state, storage, key, current, opts.dry_run));
        }
        let pending = keep_pending(state, storage, key, obj, opts.dry_run);
        return Ok(Deleted::Pending(pending));
    }
    if !held(storage, &obj, &finalizers) {
        return Ok(remove_now(state, storage, key, current, opts.dry_run));
    }
    let already = meta::is_deleting(&obj);
    if already && finalizers == meta::finalizers(&obj) {
        return Ok(Deleted::Pending(current));
    }
    if !already {
        mark_deleting(rt, &mut obj);
    }
    meta::set_finalizers(&mut obj, &finalizers);
    let pending = keep_pending(state, storage, key, obj, opts.dry_run);
    Ok(Deleted::Pending(pending))
}

/// Refuses a delete whose UID or resourceVersion precondition `current`
/// does not meet.
fn check_delete_preconditions(
    rt: &ResourceType,
    name: &str,
    current: &Value,
    opts: &DeleteOptions,
) -> ApiResult<()> {
    if let Some(uid) = &opts.precondition_uid
        && meta::uid(current) != Some(uid.as_str())
    {
        return Err(ApiError::conflict(
            target(rt, name),
            &format!(
                "Precondition failed: UID in precondition: {uid}, UID in object meta: {}",
                meta::uid(current).unwrap_or_default()
            ),
        ));
    }
    if let Some(rv) = &opts.precondition_rv {
        let actual = meta::str_field(current, "resourceVersion").unwrap_or_default();
        if rv != actual {
            return Err(ApiError::conflict(
                target(rt, name),
                &format!(
                    "Precondition failed: ResourceVersion in precondition: {rv}, ResourceVersion in object meta: {actual}"
                ),
            ));
        }
    }
    Ok(())
}

/// The object's finalizers with the one its propagation policy adds.
fn finalizers_for(obj: &Value, policy: Propagation) -> Vec<String> {
    let mut finalizers = meta::finalizers(obj);
    let added = match policy {
        Propagation::Foreground => FOREGROUND_FINALIZER,
        Propagation::Orphan => ORPHAN_FINALIZER,
        Propagation::Background => return finalizers,
    };
    if !finalizers.iter().any(|f| f == added) {
        finalizers.push(added.to_owned());
    }
    finalizers
}

/// Removes the object at `key` (nothing on a dry run): deleted now, as its
/// last state.
fn remove_now(
    state: &mut State,
    storage: &StorageKey,
    key: &ObjectKey,
    current: Value,
    dry_run: bool,
) -> Deleted {
    if dry_run {
        return Deleted::Now(current);
    }
    Deleted::Now(state.remove(storage, key).unwrap_or(current))
}

/// Stores `obj`, marked for deletion but held (nothing on a dry run).
fn keep_pending(
    state: &mut State,
    storage: &StorageKey,
    key: &ObjectKey,
    obj: Value,
    dry_run: bool,
) -> Value {
    if dry_run {
        return obj;
    }
    state.put(storage, key, obj)
}

/// Sets the deletion timestamp (and a namespace's Terminating phase).
fn mark_deleting(rt: &ResourceType, obj: &mut Value) {
    let m = meta::metadata_mut(obj);
    m.insert("deletionTimestamp".into(), meta::now().into());
    m.insert("deletionGracePeriodSeconds".into(), 0.into());
    if rt.builtin == Some(Builtin::Namespace) {
        obj["status"] = json!({"phase": "Terminating"});
    }
}

/// Whether something still keeps `obj` (with these finalizers) from being
/// removed: a finalizer, or, for a namespace, `spec.finalizers` (its contents
/// are being removed while `kubernetes` is there).
fn held(storage: &StorageKey, obj: &Value, finalizers: &[String]) -> bool {
    !finalizers.is_empty()
        || (*storage == namespaces()
            && obj
                .pointer("/spec/finalizers")
                .and_then(Value::as_array)
                .is_some_and(|a| !a.is_empty()))
}

/// Whether a stored object being deleted has nothing left holding it and must
/// now be removed: no finalizer, and no grace period left (a terminating pod
/// waits for its kubelet).
pub(crate) fn released(storage: &StorageKey, obj: &Value) -> bool {
    meta::is_deleting(obj)
        && !held(storage, obj, &meta::finalizers(obj))
        && graceful::grace_period(obj).unwrap_or(0) == 0
}

/// The object an update stores: the request, with server-owned metadata from
/// the stored object, and status or everything-but-status kept as the
/// subresource dictates.
fn merge_update(rt: &ResourceType, sub: Subresource, current: &Value, requested: Value) -> Value {
    let mut new = match sub {
        Subresource::Main | Subresource::Whole => requested,
        Subresource::Status => {
            let mut new = current.clone();
            match requested.get("status") {
                Some(status) => new["status"] = status.clone(),
                None => {
                    if let Value::Object(m) = &mut new {
                        m.remove("status");
                    }
                }
            }
            new
        }
    };
    if sub == Subresource::Main
        && rt.status_subresource
        && let Value::Object(m) = &mut new
    {
        match current.get("status") {
            Some(s) => {
                m.insert("status".into(), s.clone());
            }
            None => {
                m.remove("status");
            }
        }
    }
    let current_meta = meta::metadata(current).cloned().unwrap_or_default();
    let m = meta::metadata_mut(&mut new);
    for f in SERVER_OWNED_METADATA
        .iter()
        .chain(["name", "namespace"].iter())
    {
        match current_meta.get(*f) {
            Some(v) => {
                m.insert((*f).to_owned(), v.clone());
            }
            None => {
                m.remove(*f);
            }
        }
    }
    new
}

/// An apply configuration, parsed and checked (type, unknown fields, name)
/// with the warnings of its field validation.
fn read_apply_config(
    rt: &ResourceType,
    name: &str,
    config: &[u8],
    opts: &WriteOptions,
) -> ApiResult<(Value, Vec<String>)> {
    if opts.field_manager.is_none() {
        return Err(ApiError::bad_request(
            "PATCH, application/apply-patch+yaml requires fieldManager to be set",
        ));
    }
    let applied = patch::parse_apply(config)?;
    let mut applied = check_type(rt, applied)?;
    let strict = strict::check(
        rt,
        &mut applied,
        strict::Origin::Apply(config),
        opts.field_validation,
    )?;
    if meta::name(&applied).is_some_and(|n| n != name) {
        return Err(ApiError::bad_request(format!(
            "the name of the object ({}) does not match the name on the URL ({name})",
            meta::name(&applied).unwrap_or_default()
        )));
    }
    Ok((applied, strict))
}

/// Refuses an update whose `resourceVersion` is not the current one, or
/// that has none where the kind requires it.
fn check_update_version(
    rt: &ResourceType,
    name: &str,
    requested: &Value,
    current_rv: u64,
) -> ApiResult<()> {
    match meta::str_field(requested, "resourceVersion").filter(|s| !s.is_empty()) {
        None if !rt.unconditional_update => Err(ApiError::invalid(
            &rt.kind,
            &rt.group,
            name,
            vec![Cause {
                reason: "FieldValueInvalid".into(),
                message: "Invalid value: 0x0: must be specified for an update".into(),
                field: "metadata.resourceVersion".into(),
            }],
        )),
        None => Ok(()),
        Some(rv) if rv.parse::<u64>().ok() == Some(current_rv) => Ok(()),
        Some(_) => Err(ApiError::conflict(target(rt, name), ApiError::MODIFIED)),
    }
}

/// Refuses finalizers added to an object being deleted.
fn check_no_new_finalizers(
    rt: &ResourceType,
    name: &str,
    current: &Value,
    new: &Value,
) -> ApiResult<()> {
    if !meta::is_deleting(current) {
        return Ok(());
    }
    let old: Vec<String> = meta::finalizers(current);
    let added: Vec<String> = meta::finalizers(new)
        .into_iter()
        .filter(|f| !old.contains(f))
        .collect();
    if added.is_empty() {
        return Ok(());
    }
    Err(ApiError::invalid(
        &rt.kind,
        &rt.group,
        name,
        vec![Cause {
            reason: "FieldValueForbidden".into(),
            message: format!(
                "Forbidden: no new finalizers can be added if the object is being deleted, found new finalizers []string{{{}}}",
                added
                    .iter()
                    .map(|f| format!("{f:?}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            field: "metadata.finalizers".into(),
        }],
    ))
}

/// Increments `metadata.generation` when the update changes what it counts.
fn bump_generation(rt: &ResourceType, current: &Value, new: &mut Value) {
    if (rt.generation || rt.custom.is_some())
        && generation_relevant(rt, new) != generation_relevant(rt, current)
    {
        let g = meta::generation(current).unwrap_or(0) + 1;
        meta::metadata_mut(new).insert("generation".into(), g.into());
    }
}

/// Sets a new object's namespace to the request's (refusing a body naming
/// another), or removes it for a cluster-scoped kind.
fn place_in_namespace(rt: &ResourceType, ns: &str, obj: &mut Value) -> ApiResult<()> {
    if !rt.namespaced {
        meta::metadata_mut(obj).remove("namespace");
        return Ok(());
    }
    match meta::namespace(obj) {
        Some(body_ns) if body_ns != ns => Err(ApiError::bad_request(
            "the namespace of the provided object does not match the namespace sent on the request",
        )),
        _ => {
            meta::metadata_mut(obj).insert("namespace".into(), ns.into());
            Ok(())
        }
    }
}

/// A new object's name: its own, or one generated from `generateName`;
/// refuses one without either, or with a resourceVersion set.
fn name_new(rt: &ResourceType, obj: &mut Value) -> ApiResult<String> {
    if meta::name(obj).is_none() {
        let Some(prefix) = meta::str_field(obj, "generateName").filter(|g| !g.is_empty()) else {
            return Err(ApiError::invalid(
                &rt.kind,
                &rt.group,
                "",
                vec![Cause {
                    reason: "FieldValueRequired".into(),
                    message: "Required value: name or generateName is required".into(),
                    field: "metadata.name".into(),
                }],
            ));
        };
        let name = format!("{prefix}{}", meta::random_suffix());
        meta::metadata_mut(obj).insert("name".into(), name.into());
    }
    if meta::str_field(obj, "resourceVersion").is_some_and(|rv| !rv.is_empty()) {
        return Err(ApiError::internal(
            "resourceVersion should not be set on objects to be created",
        ));
    }
    Ok(meta::name(obj).unwrap_or_default().to_owned())
}

/// Replaces what the server owns in a new object's metadata (uid, creation
/// time, generation) and drops a custom resource's status when it has a
/// status subresource.
fn stamp_new(rt: &ResourceType, obj: &mut Value) {
    let m = meta::metadata_mut(obj);
    for f in SERVER_OWNED_METADATA {
        m.remove(*f);
    }
    m.insert("uid".into(), meta::new_uid().into());
    m.insert("creationTimestamp".into(), meta::now().into());
    if rt.generation || rt.custom.is_some() {
        m.insert("generation".into(), 1.into());
    }
    if rt.status_subresource
        && rt.custom.is_some()
        && let Value::Object(m) = obj
    {
        m.remove("status");
    }
}

/// Checks `apiVersion` and `kind` of a request body against the endpoint and
/// fills them in when missing.
fn check_type(rt: &ResourceType, mut body: Value) -> ApiResult<Value> {
    let Value::Object(map) = &mut body else {
        return Err(ApiError::bad_request(
            "the request body must be a JSON object",
        ));
    };
    let expected = rt.api_version();
    match map.get("apiVersion").and_then(Value::as_str) {
        None | Some("") => {
            map.insert("apiVersion".into(), expected.clone().into());
        }
        Some(v) if v == expected => {}
        Some(v) => {
            return Err(ApiError::bad_request(format!(
                "the API version in the data ({v}) does not match the expected API version ({expected})"
            )));
        }
    }
    match map.get("kind").and_then(Value::as_str) {
        None | Some("") => {
            map.insert("kind".into(), rt.kind.clone().into());
        }
        Some(k) if k == rt.kind => {}
        Some(k) => {
            return Err(ApiError::bad_request(format!(
                "the kind in the data ({k}) does not match the expected kind ({})",
                rt.kind
            )));
        }
    }
    Ok(body)
}

/// A namespaced create must name an existing namespace that is not terminating.
fn check_namespace_accepts(
    state: &State,
    rt: &ResourceType,
    ns: &str,
    name: &str,
) -> ApiResult<()> {
    let Some(namespace) = state.value(&namespaces(), &ObjectKey::new("", ns)) else {
        return Err(ApiError::not_found(Target {
            group: "",
            resource: "namespaces",
            name: ns,
        }));
    };
    if meta::is_deleting(&namespace) {
        return Err(ApiError::forbidden(
            target(rt, name),
            &format!(
                "unable to create new content in namespace {ns} because it is being terminated"
            ),
        ));
    }
    Ok(())
}
