//! Kubernetes strategic merge patch (`application/strategic-merge-patch+json`) for built-in
//! kinds, as kube-apiserver 1.33 applies it, on `serde_json` values.
//!
//! This is a port of `StrategicMergeMapPatch` from k8s.io/apimachinery/pkg/util/strategicpatch
//! (`mergeMap` and helpers) together with a static table of the Go struct tags
//! (`patchStrategy`, `patchMergeKey`, published as `x-kubernetes-patch-strategy` /
//! `x-kubernetes-patch-merge-key`) of the built-in kinds an API server test double needs.
//!
//! # Usage
//!
//! ```
//! use serde_json::json;
//! use operatorkit_strategic_merge::{apply, patch_meta};
//!
//! let meta = patch_meta("apps", "Deployment").unwrap();
//! let live = json!({"spec": {"template": {"spec": {"containers": [
//!     {"name": "app", "image": "app:1"}, {"name": "sidecar", "image": "proxy:1"}]}}}});
//! let patch = json!({"spec": {"template": {"spec": {"containers": [
//!     {"name": "app", "image": "app:2"}]}}}});
//! let out = apply(&live, &patch, meta).unwrap();
//! assert_eq!(out["spec"]["template"]["spec"]["containers"][0]["image"], "app:2");
//! assert_eq!(out["spec"]["template"]["spec"]["containers"][1]["name"], "sidecar");
//! ```
//!
//! # Semantics (those of `strategicpatch`)
//!
//! * Objects merge recursively; a `null` value deletes the key.  A value for a key absent
//!   from the original (or of a different JSON type) is taken as is, minus its `null`
//!   map entries at any depth.
//! * Lists without the `merge` strategy are replaced.  Lists with it merge: lists of objects
//!   element-wise by the merge key (new elements appended in patch order, then ordered by
//!   the patch), lists of scalars as a set.
//! * Directives: `$patch: replace|delete` in an object, `$patch: replace|delete` list
//!   elements (`merge` is rejected), `$retainKeys`, `$deleteFromPrimitiveList/<field>`,
//!   `$setElementOrder/<field>`; malformed ones fail with Kubernetes' messages ([`Error`]).
//! * Fields absent from the table behave as untagged Go fields: objects merge, lists are
//!   replaced.  (The Go code errors with "unable to find api field" only when the stored
//!   object itself contains an unknown field, which a typed store never does.)
//!
//! # Why a port and not a general crate
//! No Rust crate implements strategic merge patch. `json-patch` does RFC 6902
//! patches and RFC 7386 merge patches, whose lists are always replaced:
//! merging containers by `name` or ports by `containerPort`, the `$patch`,
//! `$retainKeys`, `$setElementOrder` and `$deleteFromPrimitiveList`
//! directives, and kube-apiserver's error messages (Go's panics on
//! unhashable keys included) exist only here. Nothing here depends on an API
//! server: `cargo test -p operatorkit-strategic-merge` builds this crate
//! alone.
//!
//! The result may still contain directive keys that Kubernetes keeps verbatim (for example
//! inside a value added under a previously absent key); kube-apiserver drops them when it
//! decodes the result into the typed object, so callers that store JSON should decode or
//! prune unknown fields the same way.

mod error;
mod goeq;
mod gosort;
mod merge;
mod schema;
mod table;

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests;

use serde_json::Value;

pub use error::Error;
pub use schema::{
    FieldMeta, FieldType, PatchMeta, Strategy, merge_list, merge_list_retain_keys, merge_scalars,
    nested, nested_ptr,
};
pub use table::{CONTAINER, KINDS, OBJECT_META, POD_SPEC, POD_TEMPLATE_SPEC};

use schema::Schema;

/// Maximum nesting of the original document or the patch.  Deeper input is rejected with
/// [`Error::TooDeep`] before any processing, which bounds recursion.  (serde_json's default
/// parser already stops at 128 levels.)
pub const MAX_DEPTH: usize = 256;

/// The patch metadata of a built-in kind, e.g. `patch_meta("apps", "Deployment")`; the core
/// group is `""`.  `None` for kinds not in the table (custom resources do not support
/// strategic merge patch at all; kube-apiserver answers 415 for them).
pub fn patch_meta(group: &str, kind: &str) -> Option<&'static PatchMeta> {
    KINDS
        .iter()
        .find(|(g, k, _)| *g == group && *k == kind)
        .map(|(_, _, m)| *m)
}

/// The metadata of the field at `path` (JSON field names, no list indices) in `group`/`kind`,
/// e.g. `lookup_path("apps", "Deployment", &["spec", "template", "spec", "containers"])`.
/// `None` when the kind is unknown or the field has the default strategy and leads to no
/// tagged field.
pub fn lookup_path(group: &str, kind: &str, path: &[&str]) -> Option<&'static FieldMeta> {
    let mut meta = patch_meta(group, kind)?;
    let (last, init) = path.split_last()?;
    for segment in init {
        meta = meta.field(segment)?.child()?;
    }
    meta.field(last)
}

/// Apply the strategic merge `patch` to `original` (a stored object of the type `meta`
/// describes) and return the patched document.
///
/// `original` must be a JSON object ([`Error::BadJsonDoc`] otherwise).  A `null` patch is a
/// no-op; any other non-object patch fails like kube-apiserver's decoder
/// ([`Error::PatchNotObject`]).  Neither input is modified.
pub fn apply(original: &Value, patch: &Value, meta: &'static PatchMeta) -> Result<Value, Error> {
    apply_with_schema(original, patch, Schema::Struct(meta))
}

/// Like [`apply`] for a type without any tagged field (every object merges, every list is
/// replaced).
pub fn apply_without_schema(original: &Value, patch: &Value) -> Result<Value, Error> {
    apply_with_schema(original, patch, Schema::Unknown)
}

fn apply_with_schema(original: &Value, patch: &Value, schema: Schema) -> Result<Value, Error> {
    let Value::Object(original_map) = original else {
        return Err(Error::BadJsonDoc);
    };
    let patch_map = match patch {
        Value::Object(m) => m,
        Value::Null => return Ok(original.clone()),
        Value::Array(_) => return Err(Error::PatchNotObject("array")),
        Value::String(_) => return Err(Error::PatchNotObject("string")),
        Value::Number(_) => return Err(Error::PatchNotObject("number")),
        Value::Bool(_) => return Err(Error::PatchNotObject("bool")),
    };
    if exceeds_depth(original) || exceeds_depth(patch) {
        return Err(Error::TooDeep);
    }
    merge::merge_map(original_map.clone(), patch_map.clone(), schema, 0).map(Value::Object)
}

/// Whether `v` nests deeper than [`MAX_DEPTH`] (checked without recursion).
fn exceeds_depth(v: &Value) -> bool {
    let mut stack: Vec<(&Value, usize)> = vec![(v, 0)];
    while let Some((cur, depth)) = stack.pop() {
        let children: Box<dyn Iterator<Item = &Value>> = match cur {
            Value::Object(m) => Box::new(m.values()),
            Value::Array(a) => Box::new(a.iter()),
            _ => continue,
        };
        if depth >= MAX_DEPTH {
            return true;
        }
        stack.extend(children.map(|c| (c, depth + 1)));
    }
    false
}
