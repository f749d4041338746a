//! The strategic merge algorithm: a line-by-line port of `mergeMap` and its helpers from
//! k8s.io/apimachinery/pkg/util/strategicpatch/patch.go, with the options kube-apiserver
//! uses (`MergeParallelList: true`, `IgnoreUnmatchedNulls: true`).
//!
//! Function names follow the Go ones so the two can be read side by side.  Where the Go code
//! depends on Go runtime behaviour, that behaviour is reproduced:
//!
//! * values are compared and hashed like Go `interface{}` values ([`super::gofmt`]), including
//!   the panics on uncomparable values, which become [`Error::Panic`];
//! * list ordering uses Go's `sort.SliceStable` ([`super::gosort`]);
//! * in `mergePatchIntoOriginal`, the original list shares its backing array with the slice
//!   that `mergeSlice` edits in place (deleting entries with `append(s[:i], s[i+1:]...)` and
//!   appending new ones into the freed capacity), and that modified array is then used as the
//!   "server order" when the `$setElementOrder` directive is applied.  [`AliasView`] replays
//!   those writes; kubectl's three-way patches (deletions plus `$setElementOrder`) depend on
//!   it for the position of server-only list items.
//!
//! Go iterates maps in random order; this port iterates keys in sorted order, which is one of
//! the orders Go may pick.

use std::collections::HashSet;

use serde_json::{Map, Value};

use super::MAX_DEPTH;
use super::error::Error;
use super::goeq::{HashKey, go_eq, hash_key};
use super::gosort::slice_stable;
use super::schema::{Lookup, Schema, Strategy};
use operatorkit_gofmt::{
    GO_MAP, GO_SLICE, GoType, fmt_s, fmt_slices, go_type, sprint_list, sprint_map,
};

type JMap = Map<String, Value>;

const DIRECTIVE_MARKER: &str = "$patch";
const DELETE_DIRECTIVE: &str = "delete";
const REPLACE_DIRECTIVE: &str = "replace";
const MERGE_DIRECTIVE: &str = "merge";
const RETAIN_KEYS_DIRECTIVE: &str = "$retainKeys";
const DELETE_FROM_PRIMITIVE_LIST_PREFIX: &str = "$deleteFromPrimitiveList";
const SET_ELEMENT_ORDER_PREFIX: &str = "$setElementOrder";

static NIL: Value = Value::Null;

fn is_str(v: &Value, s: &str) -> bool {
    matches!(v, Value::String(x) if x == s)
}

fn bad_arg_type(expected: &'static str, actual: &Value) -> Error {
    Error::BadArgType {
        expected,
        actual: go_type(actual).name(),
    }
}

fn no_merge_key(m: &JMap, key: &str) -> Error {
    Error::NoMergeKey {
        map: sprint_map(m),
        key: key.to_string(),
    }
}

fn type_assertion_panic(v: &Value) -> Error {
    Error::panic(format!(
        "interface conversion: interface {{}} is {}, not {GO_MAP}",
        go_type(v).name()
    ))
}

fn take_object(v: &mut Value) -> JMap {
    match std::mem::take(v) {
        Value::Object(m) => m,
        _ => JMap::new(),
    }
}

/// `mergeMap`: merge `patch` into `original`.
pub(crate) fn merge_map(
    mut original: JMap,
    mut patch: JMap,
    schema: Schema,
    depth: usize,
) -> Result<JMap, Error> {
    if depth > MAX_DEPTH {
        return Err(Error::TooDeep);
    }
    if let Some(directive) = patch.get(DIRECTIVE_MARKER) {
        let directive = directive.clone();
        return handle_directive_in_merge_map(&directive, patch);
    }

    apply_retain_keys_directive(&mut original, &mut patch)?;
    merge_patch_into_original(&mut original, &mut patch, schema, depth)?;

    let mut keys: Vec<String> = patch.keys().cloned().collect();
    keys.sort();
    for k in keys {
        let Some(mut patch_v) = patch.remove(&k) else {
            continue;
        };
        let (key, is_delete_list) = preprocess_deletion_list_for_merging(k)?;

        if patch_v.is_null() {
            original.remove(&key);
            continue;
        }

        if !original.contains_key(&key) {
            if !is_delete_list {
                discard_null_values_from_patch(&mut patch_v);
                original.insert(key, patch_v);
            }
            continue;
        }
        let Some(orig_v) = original.get_mut(&key) else {
            continue;
        };
        if go_type(orig_v) != go_type(&patch_v) {
            if !is_delete_list {
                discard_null_values_from_patch(&mut patch_v);
                *orig_v = patch_v;
            }
            continue;
        }
        merge_same_type(orig_v, patch_v, &key, is_delete_list, schema, depth)?;
    }
    Ok(original)
}

/// `preprocessDeletionListForMerging`: the field a `$deleteFromPrimitiveList/`
/// key names (the key itself otherwise) and whether it is such a key.
fn preprocess_deletion_list_for_merging(key: String) -> Result<(String, bool), Error> {
    if !key.starts_with(DELETE_FROM_PRIMITIVE_LIST_PREFIX) {
        return Ok((key, false));
    }
    let no_prefix = extract_key(&key, DELETE_FROM_PRIMITIVE_LIST_PREFIX)?;
    if no_prefix.is_empty() {
        Ok((key, true))
    } else {
        Ok((no_prefix, true))
    }
}

/// Merges `patch_v` into `orig_v` of the same Go type at field `key`:
/// objects and lists recursively by the field's strategy, scalars replaced.
fn merge_same_type(
    orig_v: &mut Value,
    patch_v: Value,
    key: &str,
    is_delete_list: bool,
    schema: Schema,
    depth: usize,
) -> Result<(), Error> {
    match patch_v {
        Value::Object(patch_m) => {
            let lookup = schema.for_struct(key)?;
            let orig_m = take_object(orig_v);
            let merged = if lookup.strategy != Strategy::Replace {
                merge_map(orig_m, patch_m, lookup.sub, depth + 1)?
            } else {
                patch_m
            };
            *orig_v = Value::Object(merged);
        }
        Value::Array(patch_a) => {
            let lookup = schema.for_slice(key)?;
            let orig_a = match std::mem::take(orig_v) {
                Value::Array(a) => a,
                _ => Vec::new(),
            };
            let (merged, _) =
                merge_slice_handler(orig_a, patch_a, lookup, is_delete_list, depth + 1, false)?;
            *orig_v = Value::Array(merged);
        }
        other => *orig_v = other,
    }
    Ok(())
}

/// `handleDirectiveInMergeMap`.
fn handle_directive_in_merge_map(directive: &Value, mut patch: JMap) -> Result<JMap, Error> {
    if is_str(directive, REPLACE_DIRECTIVE) {
        // The patch is used as is: nulls and nested directives are kept.
        patch.remove(DIRECTIVE_MARKER);
        return Ok(patch);
    }
    if is_str(directive, DELETE_DIRECTIVE) {
        return Ok(JMap::new());
    }
    Err(Error::BadPatchType {
        directive: fmt_s(directive),
        map: sprint_map(&patch),
    })
}

/// `discardNullValuesFromPatch` (iterative): drop every `null`-valued map entry, however
/// deep; `null` list elements stay.
fn discard_null_values_from_patch(v: &mut Value) {
    let mut stack: Vec<&mut Value> = vec![v];
    while let Some(cur) = stack.pop() {
        match cur {
            Value::Object(m) => {
                m.retain(|_, x| !x.is_null());
                stack.extend(m.values_mut());
            }
            Value::Array(a) => stack.extend(a.iter_mut()),
            _ => {}
        }
    }
}

/// `extractKey`: the field name after `prefix/`.
fn extract_key(s: &str, prefix: &str) -> Result<String, Error> {
    let mut parts = s.splitn(2, '/');
    let first = parts.next().unwrap_or("");
    match parts.next() {
        Some(rest) if first == prefix => Ok(rest.to_string()),
        _ => Err(if prefix == DELETE_FROM_PRIMITIVE_LIST_PREFIX {
            Error::BadPatchFormatForPrimitiveList
        } else {
            Error::BadPatchFormatForSetElementOrderList
        }),
    }
}

/// `applyRetainKeysDirective`: enforce a `$retainKeys` list.
fn apply_retain_keys_directive(original: &mut JMap, patch: &mut JMap) -> Result<(), Error> {
    let Some(retain) = patch.remove(RETAIN_KEYS_DIRECTIVE) else {
        return Ok(());
    };
    let Value::Array(list) = retain else {
        return Err(Error::BadPatchFormatForRetainKeys);
    };
    let mut set: HashSet<HashKey> = HashSet::new();
    for v in &list {
        set.insert(hash_key(v)?);
    }
    for (k, v) in patch.iter() {
        if v.is_null()
            || k.starts_with(DELETE_FROM_PRIMITIVE_LIST_PREFIX)
            || k.starts_with(SET_ELEMENT_ORDER_PREFIX)
        {
            continue;
        }
        if !set.contains(&HashKey::Str(k.clone())) {
            return Err(Error::BadPatchFormatForRetainKeys);
        }
    }
    original.retain(|k, _| set.contains(&HashKey::Str(k.clone())));
    Ok(())
}

/// `mergePatchIntoOriginal`: process every `$setElementOrder/<field>` directive together with
/// the patch list of `<field>`.
fn merge_patch_into_original(
    original: &mut JMap,
    patch: &mut JMap,
    schema: Schema,
    depth: usize,
) -> Result<(), Error> {
    let mut keys: Vec<String> = patch
        .keys()
        .filter(|k| k.starts_with(SET_ELEMENT_ORDER_PREFIX))
        .cloned()
        .collect();
    keys.sort();
    for key in keys {
        // A key removed by an earlier iteration is no longer visited, as in Go.
        let Some(order_v) = patch.remove(&key) else {
            continue;
        };
        let order = match order_v {
            Value::Array(a) => a,
            other => return Err(bad_arg_type(GO_SLICE, &other)),
        };
        let original_key = extract_key(&key, SET_ELEMENT_ORDER_PREFIX)?;
        let original_list = list_at(original, &original_key)?;
        let patch_list = list_at(patch, &original_key)?;
        let lookup = schema.for_slice(&original_key)?;
        validate_patch_with_set_order_list(
            patch_list.as_deref().unwrap_or(&[]),
            &order,
            lookup.merge_key,
        )?;

        let patch_field_value = patch_list.clone().unwrap_or_default();
        let (merged, original_field_value) = match (original_list, patch_list) {
            (Some(o), None) => (o.clone(), o),
            (None, Some(p)) => (p, Vec::new()),
            (Some(o), Some(p)) => {
                let (m, view) = merge_slice_handler(o.clone(), p, lookup, false, depth + 1, true)?;
                (m, view.unwrap_or(o))
            }
            (None, None) => continue,
        };

        let both = order_merged_list(
            merged,
            &order,
            &original_field_value,
            &patch_field_value,
            lookup.merge_key,
        )?;
        original.insert(original_key.clone(), Value::Array(both));
        patch.remove(&original_key);
    }
    Ok(())
}

/// A copy of the list at `key`, `None` if absent, an error if not a list.
fn list_at(m: &JMap, key: &str) -> Result<Option<Vec<Value>>, Error> {
    match m.get(key) {
        None => Ok(None),
        Some(Value::Array(a)) => Ok(Some(a.clone())),
        Some(other) => Err(bad_arg_type(GO_SLICE, other)),
    }
}

/// Orders a merged list by a `$setElementOrder` list: the items the order
/// names, then the server-only ones, as `normalizeElementOrder` places them.
fn order_merged_list(
    merged: Vec<Value>,
    order: &[Value],
    original_field_value: &[Value],
    patch_field_value: &[Value],
    merge_key: &str,
) -> Result<Vec<Value>, Error> {
    let (patch_items, server_only) = if merge_key.is_empty() {
        partition_primitives_by_present_in_list(merged, order)?
    } else {
        partition_maps_by_present_in_list(merged, order, merge_key)?
    };
    let kind = slice_element_type(&[original_field_value, patch_field_value])?;
    normalize_element_order(
        patch_items,
        server_only,
        order,
        original_field_value,
        merge_key,
        kind,
    )
}

/// `validatePatchWithSetOrderList`: the patch list must be a subsequence of the order list
/// (ignoring deletions and directive elements).
fn validate_patch_with_set_order_list(
    patch_list: &[Value],
    set_order: &[Value],
    merge_key: &str,
) -> Result<(), Error> {
    if set_order.is_empty() || patch_list.is_empty() {
        return Ok(());
    }
    let non_delete = if merge_key.is_empty() {
        patch_list.to_vec()
    } else {
        extract_to_delete_items(patch_list.to_vec())?.0
    };
    let (mut pi, mut si) = (0usize, 0usize);
    while pi < non_delete.len() && si < set_order.len() {
        if contains_directive_marker(&non_delete[pi]) {
            pi += 1;
            continue;
        }
        if merge_key_value_equal(&non_delete[pi], &set_order[si], merge_key)? {
            pi += 1;
        }
        si += 1;
    }
    if pi < non_delete.len() && si >= set_order.len() {
        return Err(Error::SetElementOrderMismatch {
            patch: sprint_list(patch_list),
            order: sprint_list(set_order),
        });
    }
    Ok(())
}

fn contains_directive_marker(v: &Value) -> bool {
    matches!(v, Value::Object(m) if m.contains_key(DIRECTIVE_MARKER))
}

/// `mergeKeyValueEqual`.
fn merge_key_value_equal(left: &Value, right: &Value, merge_key: &str) -> Result<bool, Error> {
    if merge_key.is_empty() {
        return go_eq(left, right);
    }
    let Value::Object(l) = left else {
        return Err(bad_arg_type(GO_MAP, left));
    };
    let Value::Object(r) = right else {
        return Err(bad_arg_type(GO_MAP, right));
    };
    let Some(lk) = l.get(merge_key) else {
        return Err(no_merge_key(l, merge_key));
    };
    let Some(rk) = r.get(merge_key) else {
        return Err(no_merge_key(r, merge_key));
    };
    go_eq(lk, rk)
}

/// `mergeSliceHandler`: merge lists with the `merge` strategy, otherwise take the patch
/// list.  With `track`, also return the [`AliasView`] of the original list.
fn merge_slice_handler(
    original: Vec<Value>,
    patch: Vec<Value>,
    lookup: Lookup,
    is_delete_list: bool,
    depth: usize,
    track: bool,
) -> Result<(Vec<Value>, Option<Vec<Value>>), Error> {
    if lookup.strategy == Strategy::Merge {
        merge_slice(
            original,
            patch,
            lookup.sub,
            lookup.merge_key,
            is_delete_list,
            depth,
            track,
        )
    } else {
        Ok((patch, None))
    }
}

/// What the caller's view of the original list (the Go slice header sharing the backing
/// array) shows after `mergeSlice` edited that array in place.
struct AliasView {
    /// The first `len(original)` slots of the backing array.
    view: Vec<Value>,
    /// Length of the slice `mergeSlice` is editing.
    len: usize,
    /// Once the edited slice no longer writes into the visible slots.
    detached: bool,
}

impl AliasView {
    fn new(original: &[Value]) -> Self {
        AliasView {
            view: original.to_vec(),
            len: original.len(),
            detached: false,
        }
    }

    /// `s = append(s[:k], s[k+1:]...)`: shift left, the last slot keeps its old value.
    fn delete(&mut self, k: usize) {
        if self.detached || k >= self.len {
            return;
        }
        for i in k..self.len - 1 {
            self.view[i] = self.view[i + 1].clone();
        }
        self.len -= 1;
    }

    /// `s = append(s, v)`: lands in a visible slot while the slice is shorter than the
    /// original (the backing array's capacity is at least that long).
    fn append(&mut self, v: &Value) {
        if self.detached {
            return;
        }
        if self.len < self.view.len() {
            self.view[self.len] = v.clone();
            self.len += 1;
        } else {
            self.detached = true;
        }
    }
}

/// `mergeSlice`: merge two lists with the `merge` strategy.
fn merge_slice(
    original: Vec<Value>,
    patch: Vec<Value>,
    schema: Schema,
    merge_key: &str,
    is_delete_list: bool,
    depth: usize,
    track: bool,
) -> Result<(Vec<Value>, Option<Vec<Value>>), Error> {
    if depth > MAX_DEPTH {
        return Err(Error::TooDeep);
    }
    if original.is_empty() && patch.is_empty() {
        return Ok((original, None));
    }
    let kind = slice_element_type(&[&original, &patch])?;

    if kind != GoType::Map {
        if is_delete_list {
            return Ok((delete_from_slice(&original, &patch)?, None));
        }
        let mut both = Vec::with_capacity(original.len() + patch.len());
        both.extend(original.iter().cloned());
        both.extend(patch.iter().cloned());
        let merged = deduplicate_scalars(both)?;
        let (patch_items, server_only) = if merge_key.is_empty() {
            partition_primitives_by_present_in_list(merged, &patch)?
        } else {
            partition_maps_by_present_in_list(merged, &patch, merge_key)?
        };
        let result =
            normalize_element_order(patch_items, server_only, &patch, &original, merge_key, kind)?;
        return Ok((result, None));
    }

    if merge_key.is_empty() {
        return Err(Error::NoMergeKeyForType(schema.name().to_string()));
    }
    let mut alias = track.then(|| AliasView::new(&original));
    let (original, patch) =
        merge_slice_with_special_elements(original, patch, merge_key, &mut alias)?;
    let patch = patch.unwrap_or_default();
    let merged = merge_slice_without_special_elements(
        original.clone(),
        patch.clone(),
        merge_key,
        schema,
        &mut alias,
        depth,
    )?;
    let (patch_items, server_only) = partition_maps_by_present_in_list(merged, &patch, merge_key)?;
    let result =
        normalize_element_order(patch_items, server_only, &patch, &original, merge_key, kind)?;
    Ok((result, alias.map(|a| a.view)))
}

/// `mergeSliceWithSpecialElements`: apply `$patch: delete` / `$patch: replace` elements.
/// Returns the updated original and the patch without special elements (`None` after a
/// replace, Go's nil slice).
fn merge_slice_with_special_elements(
    mut original: Vec<Value>,
    patch: Vec<Value>,
    merge_key: &str,
    alias: &mut Option<AliasView>,
) -> Result<(Vec<Value>, Option<Vec<Value>>), Error> {
    let mut without = Vec::new();
    let mut replace = false;
    for v in patch {
        let Value::Object(m) = &v else {
            return Err(type_assertion_panic(&v));
        };
        let Some(directive) = m.get(DIRECTIVE_MARKER) else {
            without.push(v);
            continue;
        };
        if is_str(directive, DELETE_DIRECTIVE) {
            let Some(merge_value) = m.get(merge_key) else {
                return Err(no_merge_key(m, merge_key));
            };
            original = delete_matching_entries(original, merge_key, merge_value, alias)?;
        } else if is_str(directive, REPLACE_DIRECTIVE) {
            // Keep iterating to prune the other directive elements.
            replace = true;
        } else if is_str(directive, MERGE_DIRECTIVE) {
            return Err(Error::MergeListDirective);
        } else {
            return Err(Error::BadPatchType {
                directive: fmt_s(directive),
                map: sprint_map(m),
            });
        }
    }
    if replace {
        if let Some(a) = alias.as_mut() {
            a.detached = true;
        }
        return Ok((without, None));
    }
    Ok((original, Some(without)))
}

/// `deleteMatchingEntries`: remove every element whose merge key equals `value`.
fn delete_matching_entries(
    mut original: Vec<Value>,
    merge_key: &str,
    value: &Value,
    alias: &mut Option<AliasView>,
) -> Result<Vec<Value>, Error> {
    while let Some(i) = find_map_in_slice_based_on_key_value(&original, merge_key, value)? {
        original.remove(i);
        if let Some(a) = alias.as_mut() {
            a.delete(i);
        }
    }
    Ok(original)
}

/// `mergeSliceWithoutSpecialElements`: merge each patch element into the original element
/// with the same merge key, or append it (verbatim) when there is none.
fn merge_slice_without_special_elements(
    mut original: Vec<Value>,
    patch: Vec<Value>,
    merge_key: &str,
    schema: Schema,
    alias: &mut Option<AliasView>,
    depth: usize,
) -> Result<Vec<Value>, Error> {
    for v in patch {
        let Value::Object(m) = v else {
            return Err(type_assertion_panic(&v));
        };
        let Some(merge_value) = m.get(merge_key) else {
            return Err(no_merge_key(&m, merge_key));
        };
        let merge_value = merge_value.clone();
        match find_map_in_slice_based_on_key_value(&original, merge_key, &merge_value)? {
            Some(i) => {
                let slot = &mut original[i];
                let orig_m = take_object(slot);
                *slot = Value::Object(merge_map(orig_m, m, schema, depth + 1)?);
            }
            None => {
                let v = Value::Object(m);
                if let Some(a) = alias.as_mut() {
                    a.append(&v);
                }
                original.push(v);
            }
        }
    }
    Ok(original)
}

/// `deleteFromSlice`: drop the elements of `current` listed in `to_delete`.
fn delete_from_slice(current: &[Value], to_delete: &[Value]) -> Result<Vec<Value>, Error> {
    let mut set: HashSet<HashKey> = HashSet::new();
    for v in to_delete {
        set.insert(hash_key(v)?);
    }
    let mut out = Vec::with_capacity(current.len());
    for v in current {
        if !set.contains(&hash_key(v)?) {
            out.push(v.clone());
        }
    }
    Ok(out)
}

/// `findMapInSliceBasedOnKeyValue`: index of the first map whose `key` equals `value`.
fn find_map_in_slice_based_on_key_value(
    m: &[Value],
    key: &str,
    value: &Value,
) -> Result<Option<usize>, Error> {
    for (i, v) in m.iter().enumerate() {
        let Value::Object(typed) = v else {
            return Err(Error::ValueNotAMap(i));
        };
        if let Some(x) = typed.get(key)
            && go_eq(x, value)?
        {
            return Ok(Some(i));
        }
    }
    Ok(None)
}

/// `deduplicateScalars`: Go's in-place "clever" deduplication (moves the last element into
/// each removed slot, so the result order is not first-occurrence order).
fn deduplicate_scalars(mut s: Vec<Value>) -> Result<Vec<Value>, Error> {
    if s.is_empty() {
        return Ok(s);
    }
    let mut length = s.len() - 1;
    let mut i = 0;
    while i < length {
        let mut j = i + 1;
        while j <= length {
            if go_eq(&s[i], &s[j])? {
                s.swap_remove(j);
                length -= 1;
                continue;
            }
            j += 1;
        }
        i += 1;
    }
    Ok(s)
}

/// `sliceElementType`: the single Go type of all elements of the given lists.
fn slice_element_type(slices: &[&[Value]]) -> Result<GoType, Error> {
    let mut prev: Option<GoType> = None;
    for s in slices {
        for v in s.iter() {
            let current = go_type(v);
            match prev {
                None => {
                    if current == GoType::Nil {
                        // `prevType.Kind()` on a nil reflect.Type.
                        return Err(Error::panic(
                            "runtime error: invalid memory address or nil pointer dereference",
                        ));
                    }
                    if current == GoType::Slice {
                        return Err(Error::NoListOfLists);
                    }
                    prev = Some(current);
                }
                Some(p) => {
                    if p != current {
                        return Err(Error::ElementTypesNotIdentical(fmt_slices(slices)));
                    }
                }
            }
        }
    }
    prev.ok_or(Error::NoElements)
}

/// `partitionPrimitivesByPresentInList`.
fn partition_primitives_by_present_in_list(
    original: Vec<Value>,
    partition_by: &[Value],
) -> Result<(Vec<Value>, Vec<Value>), Error> {
    let mut set: HashSet<HashKey> = HashSet::new();
    for v in partition_by {
        set.insert(hash_key(v)?);
    }
    let (mut patch, mut server_only) = (Vec::new(), Vec::new());
    for v in original {
        if set.contains(&hash_key(&v)?) {
            patch.push(v);
        } else {
            server_only.push(v);
        }
    }
    Ok((patch, server_only))
}

/// `partitionMapsByPresentInList`.
fn partition_maps_by_present_in_list(
    original: Vec<Value>,
    partition_by: &[Value],
    merge_key: &str,
) -> Result<(Vec<Value>, Vec<Value>), Error> {
    let (mut patch, mut server_only) = (Vec::new(), Vec::new());
    for v in original {
        let found = {
            let Value::Object(m) = &v else {
                return Err(bad_arg_type(GO_MAP, &v));
            };
            let Some(key_value) = m.get(merge_key) else {
                return Err(no_merge_key(m, merge_key));
            };
            find_map_in_slice_based_on_key_value(partition_by, merge_key, key_value)?.is_some()
        };
        if found {
            patch.push(v);
        } else {
            server_only.push(v);
        }
    }
    Ok((patch, server_only))
}

/// `normalizeElementOrder`: order patch items by the patch order, server-only items by the
/// server order, then interleave them.
fn normalize_element_order(
    patch: Vec<Value>,
    server_only: Vec<Value>,
    patch_order: &[Value],
    server_order: &[Value],
    merge_key: &str,
    kind: GoType,
) -> Result<Vec<Value>, Error> {
    let patch_order = Positions::new(patch_order, merge_key, kind);
    let server_order = Positions::new(server_order, merge_key, kind);
    let patch = normalize_slice_order(patch, &patch_order, merge_key, kind)?;
    let server_only = normalize_slice_order(server_only, &server_order, merge_key, kind)?;
    merge_sorted_slice(server_only, patch, &server_order)
}

/// `mergeSortedSlice`: insert the server-only items (`left`) into the patch items (`right`)
/// where the server order puts them.
fn merge_sorted_slice(
    mut left: Vec<Value>,
    mut right: Vec<Value>,
    server_order: &Positions<'_>,
) -> Result<Vec<Value>, Error> {
    let (ln, rn) = (left.len(), right.len());
    let mut out = Vec::with_capacity(ln + rn);
    let (mut i, mut j) = (0usize, 0usize);
    for _ in 0..ln + rn {
        if i >= ln && j < rn {
            out.push(std::mem::take(&mut right[j]));
            j += 1;
        } else if j >= rn && i < ln {
            out.push(std::mem::take(&mut left[i]));
            i += 1;
        } else {
            let li = server_order.index(&left[i])?;
            let ri = server_order.index(&right[j])?;
            let left_first = matches!((li, ri), (Some(a), Some(b)) if a < b);
            if left_first {
                out.push(std::mem::take(&mut left[i]));
                i += 1;
            } else {
                out.push(std::mem::take(&mut right[j]));
                j += 1;
            }
        }
    }
    Ok(out)
}

/// The positions of a list's items by merge key (the first of equal ones),
/// so that ordering a list of n items is n lookups instead of n² scans
/// (a Service with thousands of ports). Where a key is not hashable (a map
/// or a slice, which makes Go panic when compared) it falls back to Go's
/// scan, errors included.
struct Positions<'a> {
    list: &'a [Value],
    merge_key: &'a str,
    kind: GoType,
    by_key: Option<std::collections::HashMap<super::goeq::HashKey, usize>>,
}

impl<'a> Positions<'a> {
    fn new(list: &'a [Value], merge_key: &'a str, kind: GoType) -> Self {
        let mut by_key = std::collections::HashMap::with_capacity(list.len());
        let mut hashable = true;
        for (i, item) in list.iter().enumerate() {
            match super::goeq::hash_key(key_of(item, merge_key, kind)) {
                Ok(k) => {
                    by_key.entry(k).or_insert(i);
                }
                Err(_) => {
                    hashable = false;
                    break;
                }
            }
        }
        Self {
            list,
            merge_key,
            kind,
            by_key: hashable.then_some(by_key),
        }
    }

    /// Go's `index` of `val`: equal keys are equal Go values (`HashKey`
    /// keeps Go's int/float distinction).
    fn index(&self, val: &Value) -> Result<Option<usize>, Error> {
        let key = super::goeq::hash_key(key_of(val, self.merge_key, self.kind));
        match (&self.by_key, key) {
            (Some(by_key), Ok(k)) => Ok(by_key.get(&k).copied()),
            _ => index(self.list, val, self.merge_key, self.kind),
        }
    }
}

/// The value an item is compared by: its merge key for maps, itself else.
fn key_of<'a>(item: &'a Value, merge_key: &str, kind: GoType) -> &'a Value {
    if kind == GoType::Map {
        match item {
            Value::Object(m) => m.get(merge_key).unwrap_or(&NIL),
            _ => &NIL,
        }
    } else {
        item
    }
}

/// `index`: position in `l` of the first item matching `val` (by merge key for maps).
fn index(l: &[Value], val: &Value, merge_key: &str, kind: GoType) -> Result<Option<usize>, Error> {
    let get = key_of;
    let target = get(val, merge_key, kind);
    for (i, v) in l.iter().enumerate() {
        if go_eq(target, get(v, merge_key, kind))? {
            return Ok(Some(i));
        }
    }
    Ok(None)
}

/// `extractToDeleteItems`: split off the `$patch: delete` elements.
fn extract_to_delete_items(l: Vec<Value>) -> Result<(Vec<Value>, Vec<Value>), Error> {
    let (mut non_delete, mut to_delete) = (Vec::new(), Vec::new());
    for v in l {
        let is_delete = {
            let Value::Object(m) = &v else {
                return Err(bad_arg_type(GO_MAP, &v));
            };
            m.get(DIRECTIVE_MARKER)
                .is_some_and(|d| is_str(d, DELETE_DIRECTIVE))
        };
        if is_delete {
            to_delete.push(v);
        } else {
            non_delete.push(v);
        }
    }
    Ok((non_delete, to_delete))
}

/// `validateMergeKeyInLists`.
fn validate_merge_key_in_lists(merge_key: &str, lists: &[&[Value]]) -> Result<(), Error> {
    for list in lists {
        for item in list.iter() {
            let Value::Object(m) = item else {
                return Err(bad_arg_type(GO_MAP, item));
            };
            if !m.contains_key(merge_key) {
                return Err(no_merge_key(m, merge_key));
            }
        }
    }
    Ok(())
}

/// `normalizeSliceOrder`: sort by position in `order` with Go's stable sort and Go's
/// inconsistent comparator; `$patch: delete` elements go last.
fn normalize_slice_order(
    to_sort: Vec<Value>,
    order: &Positions<'_>,
    merge_key: &str,
    kind: GoType,
) -> Result<Vec<Value>, Error> {
    let mut to_sort = to_sort;
    let mut to_delete = Vec::new();
    if kind == GoType::Map {
        validate_merge_key_in_lists(merge_key, &[&to_sort, order.list])?;
        let (non_delete, deletes) = extract_to_delete_items(to_sort)?;
        to_sort = non_delete;
        to_delete = deletes;
    }
    let mut less = |a: &Value, b: &Value| -> Result<bool, Error> {
        if let Some(ii) = order.index(a)?
            && let Some(ij) = order.index(b)?
        {
            return Ok(ii < ij);
        }
        Ok(true)
    };
    slice_stable(&mut to_sort, &mut less)?;
    to_sort.extend(to_delete);
    Ok(to_sort)
}
