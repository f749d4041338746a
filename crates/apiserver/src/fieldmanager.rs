//! Field ownership (`metadata.managedFields`) and server-side apply.
//!
//! Every write records which manager set which fields, in Kubernetes' FieldsV1
//! form (`f:<field>`, `k:<keys>` for items of keyed lists, `v:<value>` for
//! sets). An update takes ownership of the fields it changes. An apply owns
//! exactly the fields of its configuration: applying a field another manager
//! owns with a different value is a 409 conflict unless forced (then ownership
//! moves), and a field the manager applied before but no longer applies is
//! removed when nobody else owns it.
//!
//! Lists follow the schema: `x-kubernetes-list-type: map` (custom resources) or
//! a strategic merge key (built-in kinds) makes a keyed list, a merge strategy
//! on scalars a set, anything else is atomic (owned as a whole).

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value, json};

use crate::error::{ApiError, ApiResult, Cause, Target};
use crate::meta;
use crate::resources::ResourceType;

/// A path to a field, as FieldsV1 element strings.
pub(crate) type Path = Vec<String>;

/// A set of owned paths (nodes and leaves).
pub(crate) type FieldSet = BTreeSet<Path>;

const MAX_DEPTH: usize = 64;

/// Metadata fields the server owns; nobody manages them.
const UNMANAGED_METADATA: &[&str] = &[
    "name",
    "namespace",
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "managedFields",
    "selfLink",
    "generateName",
];

/// How a list is merged and owned.
#[derive(Debug, Clone, PartialEq, Eq)]
enum ListKind {
    Atomic,
    Set,
    Map(Vec<String>),
}

/// Where lists' kinds come from: the CRD schema or the built-in patch metadata.
struct Shape<'a> {
    rt: &'a ResourceType,
}

impl Shape<'_> {
    /// The kind of the list at `fields` (field names only, list items skipped).
    fn list_kind(&self, fields: &[&str]) -> ListKind {
        if fields.first() == Some(&"metadata") {
            return match fields.get(1).copied() {
                Some("finalizers") => ListKind::Set,
                Some("ownerReferences") => ListKind::Map(vec!["uid".into()]),
                _ => ListKind::Atomic,
            };
        }
        if let Some(c) = &self.rt.custom {
            let mut node = c.schema.as_ref();
            for f in fields {
                node = node.and_then(|n| {
                    let n = n
                        .get("items")
                        .filter(|_| n.get("type").and_then(Value::as_str) == Some("array"))
                        .unwrap_or(n);
                    n.get("properties")
                        .and_then(|p| p.get(*f))
                        .or_else(|| n.get("additionalProperties").filter(|a| a.is_object()))
                });
            }
            let Some(node) = node else {
                return ListKind::Atomic;
            };
            return match node.get("x-kubernetes-list-type").and_then(Value::as_str) {
                Some("set") => ListKind::Set,
                Some("map") => ListKind::Map(
                    node.get("x-kubernetes-list-map-keys")
                        .and_then(Value::as_array)
                        .map(|ks| {
                            ks.iter()
                                .filter_map(|k| k.as_str().map(str::to_owned))
                                .collect()
                        })
                        .unwrap_or_default(),
                ),
                _ => ListKind::Atomic,
            };
        }
        if let Some(keys) = builtin_map_keys(&self.rt.group, &self.rt.kind, fields) {
            return ListKind::Map(keys);
        }
        match operatorkit_strategic_merge::lookup_path(&self.rt.group, &self.rt.kind, fields) {
            Some(f) if f.strategy == operatorkit_strategic_merge::Strategy::Merge => {
                match f.merge_key {
                    Some(k) => ListKind::Map(vec![k.to_owned()]),
                    None => ListKind::Set,
                }
            }
            _ => ListKind::Atomic,
        }
    }
}

/// Lists of built-in kinds whose structured-merge-diff keys are more than
/// their strategic merge key: ports are keyed by number and protocol, so the
/// same number over TCP and UDP are two items.
fn builtin_map_keys(group: &str, kind: &str, fields: &[&str]) -> Option<Vec<String>> {
    let keys = |a: &str, b: &str| Some(vec![a.to_owned(), b.to_owned()]);
    match fields {
        ["spec", "ports"] if group.is_empty() && kind == "Service" => keys("port", "protocol"),
        [
            ..,
            "containers" | "initContainers" | "ephemeralContainers",
            "ports",
        ] => keys("containerPort", "protocol"),
        _ => None,
    }
}

/// The `k:` element of `item` in a list keyed by `keys`; a `protocol` key
/// left out counts as its default, `TCP`, as the API server defaults it.
fn key_element(item: &Value, keys: &[String]) -> Option<String> {
    let mut m = Map::new();
    for k in keys {
        let value = match (item.get(k), k.as_str()) {
            (Some(v), _) => v.clone(),
            (None, "protocol") => Value::from("TCP"),
            (None, _) => return None,
        };
        m.insert(k.clone(), value);
    }
    Some(format!("k:{}", Value::Object(m)))
}

/// The paths `obj` sets (for an apply configuration: the fields it applies).
fn field_set(rt: &ResourceType, obj: &Value) -> FieldSet {
    let shape = Shape { rt };
    let mut out = FieldSet::new();
    let Value::Object(root) = obj else { return out };
    for (k, v) in root {
        if matches!(k.as_str(), "apiVersion" | "kind") {
            continue;
        }
        if k == "metadata" {
            if let Value::Object(m) = v {
                for (mk, mv) in m {
                    if UNMANAGED_METADATA.contains(&mk.as_str()) {
                        continue;
                    }
                    walk(
                        &shape,
                        mv,
                        &mut vec!["f:metadata".into(), format!("f:{mk}")],
                        &mut vec!["metadata", mk],
                        &mut out,
                        0,
                    );
                }
            }
            continue;
        }
        walk(
            &shape,
            v,
            &mut vec![format!("f:{k}")],
            &mut vec![k.as_str()],
            &mut out,
            0,
        );
    }
    out
}

fn walk<'v>(
    shape: &Shape<'_>,
    v: &'v Value,
    path: &mut Path,
    fields: &mut Vec<&'v str>,
    out: &mut FieldSet,
    depth: usize,
) {
    if depth > MAX_DEPTH {
        out.insert(path.clone());
        return;
    }
    match v {
        Value::Object(m) if !m.is_empty() => {
            for (k, child) in m {
                path.push(format!("f:{k}"));
                fields.push(k);
                walk(shape, child, path, fields, out, depth + 1);
                fields.pop();
                path.pop();
            }
        }
        Value::Array(items) => match shape.list_kind(fields) {
            ListKind::Atomic => {
                out.insert(path.clone());
            }
            ListKind::Set => {
                for item in items {
                    let mut p = path.clone();
                    p.push(format!("v:{item}"));
                    out.insert(p);
                }
            }
            ListKind::Map(keys) => {
                for item in items {
                    let Some(k) = key_element(item, &keys) else {
                        // An item without its keys cannot be addressed: own the list.
                        out.insert(path.clone());
                        continue;
                    };
                    path.push(k);
                    out.insert(path.clone());
                    walk(shape, item, path, fields, out, depth + 1);
                    path.pop();
                }
            }
        },
        _ => {
            out.insert(path.clone());
        }
    }
}

/// Whether applying `config` at `path` takes a value another manager owns
/// from it, as structured-merge-diff decides: only where the applied value
/// differs from the live one, and never for a map or a keyed list item
/// itself (their fields decide, each on its own: a container applied with
/// the same image as another manager's is shared, whatever the server
/// defaulted inside it).
fn clashes(config: &Value, live: &Value, path: &[String]) -> bool {
    let applied = get(config, path);
    if matches!(applied, Some(Value::Object(m)) if !m.is_empty()) {
        return false;
    }
    applied != get(live, path)
}

/// The value at `path` in `obj`.
fn get<'a>(obj: &'a Value, path: &[String]) -> Option<&'a Value> {
    let mut node = obj;
    for e in path {
        node = step(node, e)?;
    }
    Some(node)
}

fn step<'a>(node: &'a Value, e: &str) -> Option<&'a Value> {
    if let Some(f) = e.strip_prefix("f:") {
        return node.get(f);
    }
    let items = node.as_array()?;
    items.get(position(items, e)?)
}

fn step_mut<'a>(node: &'a mut Value, e: &str) -> Option<&'a mut Value> {
    if let Some(f) = e.strip_prefix("f:") {
        return node.get_mut(f);
    }
    let items = node.as_array_mut()?;
    let i = position(items, e)?;
    items.get_mut(i)
}

/// Index of the list item a `k:` or `v:` element names.
fn position(items: &[Value], e: &str) -> Option<usize> {
    if let Some(k) = e.strip_prefix("k:") {
        let keys: Map<String, Value> = serde_json::from_str(k).ok()?;
        let tcp = Value::from("TCP");
        return items.iter().position(|i| {
            keys.iter().all(|(kk, kv)| match (i.get(kk), kk.as_str()) {
                (Some(v), _) => v == kv,
                (None, "protocol") => *kv == tcp,
                (None, _) => false,
            })
        });
    }
    if let Some(v) = e.strip_prefix("v:") {
        let v: Value = serde_json::from_str(v).ok()?;
        return items.iter().position(|i| *i == v);
    }
    None
}

/// Removes the field or list item at `path` from `obj`.
fn remove(obj: &mut Value, path: &[String]) {
    let Some((last, init)) = path.split_last() else {
        return;
    };
    let mut node = obj;
    for e in init {
        match step_mut(node, e) {
            Some(n) => node = n,
            None => return,
        }
    }
    match node {
        Value::Object(m) => {
            if let Some(f) = last.strip_prefix("f:") {
                m.remove(f);
            }
        }
        Value::Array(items) => {
            if let Some(i) = position(items, last) {
                items.remove(i);
            }
        }
        _ => {}
    }
}

/// FieldsV1 JSON of a set.
fn to_fields_v1(set: &FieldSet) -> Value {
    let mut root = Map::new();
    for path in set {
        let mut node = &mut root;
        for (i, e) in path.iter().enumerate() {
            let entry = node.entry(e.clone()).or_insert_with(|| json!({}));
            let Value::Object(m) = entry else { break };
            node = m;
            // A node that is owned itself and has children carries ".".
            if i + 1 < path.len() && set.contains(&path[..=i]) {
                node.insert(".".into(), json!({}));
            }
        }
    }
    Value::Object(root)
}

/// The set a FieldsV1 JSON describes.
fn from_fields_v1(v: &Value) -> FieldSet {
    fn collect(v: &Value, path: &mut Path, out: &mut FieldSet, depth: usize) {
        let Value::Object(m) = v else { return };
        if depth > MAX_DEPTH {
            return;
        }
        if (m.is_empty() || m.contains_key(".")) && !path.is_empty() {
            out.insert(path.clone());
        }
        for (k, child) in m {
            if k == "." {
                continue;
            }
            path.push(k.clone());
            collect(child, path, out, depth + 1);
            path.pop();
        }
    }
    let mut out = FieldSet::new();
    collect(v, &mut Vec::new(), &mut out, 0);
    out
}

/// One `managedFields` entry.
#[derive(Debug, Clone, PartialEq)]
struct Entry {
    manager: String,
    operation: String,
    api_version: String,
    time: String,
    subresource: Option<String>,
    fields: FieldSet,
}

fn read_entries(obj: &Value) -> Vec<Entry> {
    meta::metadata(obj)
        .and_then(|m| m.get("managedFields"))
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|e| {
            Some(Entry {
                manager: e.get("manager")?.as_str()?.to_owned(),
                operation: e.get("operation")?.as_str()?.to_owned(),
                api_version: e
                    .get("apiVersion")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned(),
                time: e
                    .get("time")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned(),
                subresource: e
                    .get("subresource")
                    .and_then(Value::as_str)
                    .map(str::to_owned),
                fields: e.get("fieldsV1").map(from_fields_v1).unwrap_or_default(),
            })
        })
        .collect()
}

fn write_entries(obj: &mut Value, entries: &[Entry]) {
    let list: Vec<Value> = entries
        .iter()
        .filter(|e| !e.fields.is_empty())
        .map(|e| {
            let mut v = json!({
                "manager": e.manager,
                "operation": e.operation,
                "apiVersion": e.api_version,
                "time": e.time,
                "fieldsType": "FieldsV1",
                "fieldsV1": to_fields_v1(&e.fields),
            });
            if let Some(s) = &e.subresource {
                v["subresource"] = s.clone().into();
            }
            v
        })
        .collect();
    let m = meta::metadata_mut(obj);
    if list.is_empty() {
        m.remove("managedFields");
    } else {
        m.insert("managedFields".into(), Value::Array(list));
    }
}

/// The manager of a write: `fieldManager`, else the User-Agent up to its first
/// `/`, as kube-apiserver names it.
pub(crate) fn manager_name(field_manager: Option<&str>, user_agent: &str) -> String {
    match field_manager {
        Some(m) => m.to_owned(),
        None => user_agent
            .split('/')
            .next()
            .filter(|s| !s.is_empty())
            .unwrap_or("unknown")
            .to_owned(),
    }
}

/// Records an update (create, PUT, non-apply PATCH) of `old` into `new` by
/// `manager`: it takes the fields it changed from everyone else.
pub(crate) fn record_update(
    rt: &ResourceType,
    old: Option<&Value>,
    new: &mut Value,
    manager: &str,
    subresource: Option<&str>,
) {
    let mut entries = old.map(read_entries).unwrap_or_default();
    let new_set = field_set(rt, new);
    let old_set = old.map(|o| field_set(rt, o)).unwrap_or_default();
    let changed: FieldSet = new_set
        .iter()
        .filter(|p| old.is_none_or(|o| get(o, p) != get(new, p)))
        .cloned()
        .collect();
    let removed: FieldSet = old_set.difference(&new_set).cloned().collect();
    if changed.is_empty() && removed.is_empty() {
        write_entries(new, &entries);
        return;
    }
    for e in &mut entries {
        if e.subresource.as_deref() == subresource || subresource.is_none() {
            e.fields
                .retain(|p| !changed.contains(p) && !removed.contains(p));
        }
    }
    let api_version = rt.api_version();
    let idx = entries.iter().position(|e| {
        e.manager == manager
            && e.operation == "Update"
            && e.subresource.as_deref() == subresource
            && e.api_version == api_version
    });
    let entry = match idx {
        Some(i) => &mut entries[i],
        None => {
            entries.push(Entry {
                manager: manager.to_owned(),
                operation: "Update".into(),
                api_version,
                time: String::new(),
                subresource: subresource.map(str::to_owned),
                fields: FieldSet::new(),
            });
            let last = entries.len() - 1;
            &mut entries[last]
        }
    };
    entry.fields.extend(changed);
    entry.time = meta::now();
    write_entries(new, &entries);
}

/// Server-side apply of `config` by `manager` onto `live` (whose merge with the
/// configuration is `merged`): checks conflicts, moves ownership when forced,
/// removes fields the manager no longer applies, and records the apply.
pub(crate) fn apply(
    rt: &ResourceType,
    live: Option<&Value>,
    config: &Value,
    mut merged: Value,
    manager: &str,
    force: bool,
    subresource: Option<&str>,
) -> ApiResult<Value> {
    let mut entries = live.map(read_entries).unwrap_or_default();
    let applied = field_set(rt, config);
    if let Some(live) = live {
        let applier = Applier {
            manager,
            subresource,
            config,
            live,
            applied: &applied,
        };
        let conflicts = applier.take_over(&mut entries, force);
        if !conflicts.is_empty() {
            let name = meta::name(config).unwrap_or_default();
            return Err(conflict_error(rt, name, &conflicts));
        }
    }
    drop_unapplied(&mut merged, &entries, &applied, manager, subresource);
    record_apply(
        &mut entries,
        applied,
        rt.api_version(),
        manager,
        subresource,
    );
    write_entries(&mut merged, &entries);
    Ok(merged)
}

/// One apply, against the live object other managers own fields of.
struct Applier<'a> {
    manager: &'a str,
    subresource: Option<&'a str>,
    config: &'a Value,
    live: &'a Value,
    applied: &'a FieldSet,
}

impl Applier<'_> {
    /// The fields other managers own that this apply sets to another value:
    /// taken from them when `force`, else returned as conflicts (by
    /// "manager using apiVersion").
    fn take_over(&self, entries: &mut [Entry], force: bool) -> BTreeMap<String, Vec<String>> {
        let mut conflicts: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for e in entries.iter_mut() {
            if e.manager == self.manager || e.subresource.as_deref() != self.subresource {
                continue;
            }
            let clashing: Vec<Path> = e
                .fields
                .intersection(self.applied)
                .filter(|p| clashes(self.config, self.live, p))
                .cloned()
                .collect();
            if clashing.is_empty() {
                continue;
            }
            if force {
                e.fields.retain(|p| !clashing.contains(p));
            } else {
                let list = conflicts
                    .entry(format!("{} using {}", e.manager, e.api_version))
                    .or_default();
                list.extend(clashing.iter().map(|p| dotted(p)));
            }
        }
        conflicts
    }
}

/// Removes from `merged` the fields `manager` applied before and no longer
/// applies, unless another manager owns them too.
fn drop_unapplied(
    merged: &mut Value,
    entries: &[Entry],
    applied: &FieldSet,
    manager: &str,
    subresource: Option<&str>,
) {
    let previous: FieldSet = entries
        .iter()
        .filter(|e| is_apply_of(e, manager, subresource))
        .flat_map(|e| e.fields.iter().cloned())
        .collect();
    // Looked up per dropped field rather than collected: an object shared
    // by a thousand managers would otherwise copy all their fields on
    // every apply.
    let owned_by_others = |p: &Path| {
        entries
            .iter()
            .filter(|e| !(e.manager == manager && e.operation == "Apply"))
            .any(|e| e.fields.contains(p))
    };
    for p in previous.difference(applied) {
        if !owned_by_others(p) {
            remove(merged, p);
        }
    }
}

/// Whether `e` is `manager`'s apply entry for `subresource`.
fn is_apply_of(e: &Entry, manager: &str, subresource: Option<&str>) -> bool {
    e.manager == manager && e.operation == "Apply" && e.subresource.as_deref() == subresource
}

/// Records that `manager` applied `applied`. An apply that owns what it
/// owned before keeps its entry (and time), so re-applying the same
/// configuration is not a write.
fn record_apply(
    entries: &mut Vec<Entry>,
    applied: FieldSet,
    api_version: String,
    manager: &str,
    subresource: Option<&str>,
) {
    let existing = entries
        .iter()
        .position(|e| is_apply_of(e, manager, subresource));
    match existing {
        Some(i) if entries[i].fields == applied && entries[i].api_version == api_version => {}
        Some(i) => {
            entries[i].fields = applied;
            entries[i].api_version = api_version;
            entries[i].time = meta::now();
        }
        None => entries.push(Entry {
            manager: manager.to_owned(),
            operation: "Apply".into(),
            api_version,
            time: meta::now(),
            subresource: subresource.map(str::to_owned),
            fields: applied,
        }),
    }
}

/// The 500 kube-apiserver answers an apply configuration with fields its
/// kind does not declare (structured-merge-diff cannot type it), whatever
/// `fieldValidation` says: `failed to create typed patch object (ns/name;
/// apps/v1, Kind=Deployment): .spec.bogus: field not declared in schema`.
/// `unknown` are the fields' paths as strict decoding names them
/// (`spec.containers[0].bogus`); list items are named by their keys here.
pub(crate) fn untyped_apply_error(
    rt: &ResourceType,
    applied: &Value,
    unknown: &[String],
) -> ApiError {
    let shape = Shape { rt };
    let mut errors: Vec<String> = unknown
        .iter()
        .map(|p| {
            format!(
                "{}: field not declared in schema",
                schema_path(&shape, applied, p)
            )
        })
        .collect();
    errors.sort();
    let detail = match errors.len() {
        1 => errors.remove(0),
        _ => format!("errors:\n  {}", errors.join("\n  ")),
    };
    let group_version = match rt.group.as_str() {
        "" => format!("/{}", rt.version),
        g => format!("{g}/{}", rt.version),
    };
    let message = format!(
        "failed to create typed patch object ({}/{}; {group_version}, Kind={}): {detail}",
        meta::namespace(applied).unwrap_or_default(),
        meta::name(applied).unwrap_or_default(),
        rt.kind
    );
    ApiError::untyped_internal(message)
}

/// `spec.containers[0].bogus` as structured-merge-diff prints it:
/// `.spec.containers[name="c"].bogus` (a keyed list), `[="v"]` (a set),
/// `[0]` (an atomic list).
fn schema_path(shape: &Shape<'_>, obj: &Value, path: &str) -> String {
    let mut out = String::new();
    let mut fields: Vec<&str> = Vec::new();
    let mut node = Some(obj);
    for segment in path.split('.') {
        let (name, indexes) = match segment.find('[') {
            Some(i) => (&segment[..i], &segment[i..]),
            None => (segment, ""),
        };
        out.push('.');
        out.push_str(name);
        fields.push(name);
        node = node.and_then(|n| n.get(name));
        for index in indexes.split(']').filter_map(|i| i.strip_prefix('[')) {
            let item = index
                .parse::<usize>()
                .ok()
                .and_then(|i| node.and_then(|n| n.get(i)));
            let named = match (shape.list_kind(&fields), item) {
                (ListKind::Map(keys), Some(item)) => key_element(item, &keys).map(|k| dotted(&[k])),
                (ListKind::Set, Some(item)) => Some(format!("[={item}]")),
                _ => None,
            };
            out.push_str(&named.unwrap_or_else(|| format!("[{index}]")));
            node = item;
        }
    }
    out
}

/// `.spec.holderIdentity`, `.spec.containers[name="c"].image`: a path as
/// kube-apiserver prints it in conflicts.
fn dotted(path: &[String]) -> String {
    let mut s = String::new();
    for e in path {
        if let Some(f) = e.strip_prefix("f:") {
            s.push('.');
            s.push_str(f);
        } else if let Some(k) = e.strip_prefix("k:") {
            let keys: Map<String, Value> = serde_json::from_str(k).unwrap_or_default();
            let inner: Vec<String> = keys.iter().map(|(k, v)| format!("{k}={v}")).collect();
            s.push_str(&format!("[{}]", inner.join(",")));
        } else if let Some(v) = e.strip_prefix("v:") {
            s.push_str(&format!("[={v}]"));
        }
    }
    s
}

fn conflict_error(
    rt: &ResourceType,
    name: &str,
    conflicts: &BTreeMap<String, Vec<String>>,
) -> ApiError {
    let count: usize = conflicts.values().map(Vec::len).sum();
    let mut message = format!(
        "Apply failed with {count} conflict{}: ",
        if count == 1 { "" } else { "s" }
    );
    let mut causes = Vec::new();
    let parts: Vec<String> = conflicts
        .iter()
        .map(|(who, fields)| {
            for f in fields {
                causes.push(Cause {
                    reason: "FieldManagerConflict".into(),
                    message: format!("conflict with {who:?}"),
                    field: f.clone(),
                });
            }
            let (manager, version) = who.split_once(" using ").unwrap_or((who, ""));
            if fields.len() == 1 {
                format!("conflict with {manager:?} using {version}: {}", fields[0])
            } else {
                format!(
                    "conflicts with {manager:?} using {version}:\n- {}",
                    fields.join("\n- ")
                )
            }
        })
        .collect();
    message.push_str(&parts.join("\n"));
    let mut err = ApiError::conflict(
        Target {
            group: &rt.group,
            resource: &rt.plural,
            name,
        },
        "",
    );
    err.message = message;
    if let Some(d) = err.details.as_mut() {
        d.causes = causes;
    }
    err
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::{Gvr, Registry};

    fn lease() -> std::sync::Arc<ResourceType> {
        Registry::with_builtins()
            .get(&Gvr::new("coordination.k8s.io", "v1", "leases"))
            .unwrap()
    }

    #[test]
    fn fields_v1_round_trips() {
        let rt = Registry::with_builtins()
            .get(&Gvr::new("apps", "v1", "deployments"))
            .unwrap();
        let d = json!({"metadata": {"name": "d", "labels": {"a": "b"}}, "spec": {"replicas": 2,
            "template": {"spec": {"containers": [{"name": "c", "image": "i"}]}}}});
        let set = field_set(&rt, &d);
        assert!(set.contains(&vec![
            "f:metadata".to_owned(),
            "f:labels".into(),
            "f:a".into()
        ]));
        let item = vec![
            "f:spec".to_owned(),
            "f:template".into(),
            "f:spec".into(),
            "f:containers".into(),
            "k:{\"name\":\"c\"}".into(),
        ];
        assert!(set.contains(&item), "{set:?}");
        let v1 = to_fields_v1(&set);
        assert_eq!(
            v1["f:spec"]["f:template"]["f:spec"]["f:containers"]["k:{\"name\":\"c\"}"]["."],
            json!({})
        );
        assert_eq!(from_fields_v1(&v1), set);
    }

    #[test]
    fn apply_conflicts_with_another_owner_unless_forced() {
        let rt = lease();
        let a = json!({"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": {"name": "l"}, "spec": {"holderIdentity": "a"}});
        let live = apply(&rt, None, &a, a.clone(), "mgr-a", false, None).unwrap();
        let b = json!({"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": {"name": "l"}, "spec": {"holderIdentity": "b"}});
        let err = apply(&rt, Some(&live), &b, b.clone(), "mgr-b", false, None).unwrap_err();
        assert_eq!(err.code, 409);
        assert_eq!(
            err.message,
            "Apply failed with 1 conflict: conflict with \"mgr-a\" using coordination.k8s.io/v1: .spec.holderIdentity"
        );
        // The same value is no conflict: shared ownership.
        let shared = apply(&rt, Some(&live), &a, a.clone(), "mgr-b", false, None).unwrap();
        assert_eq!(read_entries(&shared).len(), 2);
        let forced = apply(&rt, Some(&live), &b, b.clone(), "mgr-b", true, None).unwrap();
        let owners: Vec<String> = read_entries(&forced)
            .into_iter()
            .map(|e| e.manager)
            .collect();
        assert_eq!(owners, ["mgr-b"]);
    }

    #[test]
    fn equal_leaves_of_keyed_items_are_shared_whatever_the_defaults_around_them() {
        let deployments = crate::resources::Registry::with_builtins()
            .builtin(crate::resources::Builtin::Deployment)
            .unwrap();
        let config = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"},
            "spec": {"template": {"spec": {"containers": [{"name": "nginx", "image": "nginx:1.27",
                "ports": [{"containerPort": 80}]}]}}}});
        let mut live = config.clone();
        live["spec"]["template"]["spec"]["containers"][0]["imagePullPolicy"] = json!("Always");
        live["spec"]["template"]["spec"]["containers"][0]["ports"][0]["protocol"] = json!("TCP");
        record_update(&deployments, None, &mut live, "kubectl-create", None);
        let merged = live.clone();
        apply(
            &deployments,
            Some(&live),
            &config,
            merged,
            "kubectl",
            false,
            None,
        )
        .expect("the same values are shared, not conflicts");
        let mut changed = config.clone();
        changed["spec"]["template"]["spec"]["containers"][0]["image"] = json!("nginx:1.28");
        let err = apply(
            &deployments,
            Some(&live),
            &changed,
            live.clone(),
            "kubectl",
            false,
            None,
        )
        .unwrap_err();
        assert!(err.message.contains(".image"), "{}", err.message);
        assert!(
            err.message.starts_with("Apply failed with 1 conflict"),
            "{}",
            err.message
        );
    }

    #[test]
    fn fields_dropped_from_an_apply_are_removed_unless_owned_by_others() {
        let rt = lease();
        let first = json!({"metadata": {"name": "l"}, "spec": {"holderIdentity": "a", "leaseDurationSeconds": 15}});
        let live = apply(&rt, None, &first, first.clone(), "m", false, None).unwrap();
        let second = json!({"metadata": {"name": "l"}, "spec": {"holderIdentity": "a"}});
        let mut merged = live.clone();
        merged["spec"]["holderIdentity"] = "a".into();
        let out = apply(&rt, Some(&live), &second, merged, "m", false, None).unwrap();
        assert!(out["spec"].get("leaseDurationSeconds").is_none(), "{out}");
    }

    #[test]
    fn updates_take_ownership_of_what_they_change() {
        let rt = lease();
        let a = json!({"metadata": {"name": "l"}, "spec": {"holderIdentity": "a"}});
        let live = apply(&rt, None, &a, a.clone(), "applier", false, None).unwrap();
        let mut updated = live.clone();
        updated["spec"]["holderIdentity"] = "z".into();
        record_update(&rt, Some(&live), &mut updated, "editor", None);
        let entries = read_entries(&updated);
        let editor = entries.iter().find(|e| e.manager == "editor").unwrap();
        assert!(
            editor
                .fields
                .contains(&vec!["f:spec".to_owned(), "f:holderIdentity".into()])
        );
        assert!(
            entries.iter().all(|e| e.manager != "applier"),
            "the applier lost its only field"
        );
    }
}
