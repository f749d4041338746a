//! Tests: ports of the k8s.io/apimachinery `strategicpatch` test cases (which run against
//! the `MergeItem` test type declared here), error and robustness cases, and scenarios on
//! built-in kinds.

use serde_json::Value;

use super::schema::{
    FieldMeta, FieldType, PatchMeta, Strategy, merge_list, merge_list_retain_keys, merge_scalars,
};
use super::{Error, apply};

mod errors;
mod kinds;
mod upstream;

/// `MergeItem` from patch_test.go (untagged fields omitted: they have the default strategy).
pub(crate) static MERGE_ITEM: PatchMeta = PatchMeta {
    type_name: "MergeItem",
    fields: &[
        merge_list("mergingList", "name", &MERGE_ITEM),
        merge_scalars("mergingIntList", "int"),
        FieldMeta {
            name: "mergeItemPtr",
            strategy: Strategy::Merge,
            retain_keys: false,
            merge_key: Some("name"),
            ty: FieldType::PtrStruct(&MERGE_ITEM),
        },
        FieldMeta {
            name: "replacingItem",
            strategy: Strategy::Replace,
            retain_keys: false,
            merge_key: None,
            ty: FieldType::Struct(&RAW_EXTENSION),
        },
        FieldMeta {
            name: "retainKeysMap",
            strategy: Strategy::Default,
            retain_keys: true,
            merge_key: None,
            ty: FieldType::Struct(&RETAIN_KEYS_MERGE_ITEM),
        },
        merge_list_retain_keys("retainKeysMergingList", "name", &MERGE_ITEM),
    ],
};

/// `RetainKeysMergeItem` from patch_test.go.
static RETAIN_KEYS_MERGE_ITEM: PatchMeta = PatchMeta {
    type_name: "RetainKeysMergeItem",
    fields: &[
        merge_scalars("mergingIntList", "int"),
        merge_list("mergingList", "name", &MERGE_ITEM),
    ],
};

/// `runtime.RawExtension` (no JSON fields).
static RAW_EXTENSION: PatchMeta = PatchMeta {
    type_name: "RawExtension",
    fields: &[],
};

/// Apply `patch` to `original` with `meta` and compare with `expected`.
#[track_caller]
pub(crate) fn check_with(
    meta: &'static PatchMeta,
    desc: &str,
    original: &Value,
    patch: &Value,
    expected: &Value,
) {
    match apply(original, patch, meta) {
        Ok(got) => assert_eq!(
            &got, expected,
            "{desc}\n original: {original}\n patch:    {patch}\n expected: {expected}\n got:      {got}"
        ),
        Err(e) => panic!("{desc}: unexpected error {e:?}\n original: {original}\n patch: {patch}"),
    }
}

/// [`check_with`] on the `MergeItem` test type.
#[track_caller]
pub(crate) fn check(desc: &str, original: &Value, patch: &Value, expected: &Value) {
    check_with(&MERGE_ITEM, desc, original, patch, expected);
}

/// Apply and return the error (failing the test when the patch applies).
#[track_caller]
pub(crate) fn apply_err(meta: &'static PatchMeta, original: &Value, patch: &Value) -> Error {
    match apply(original, patch, meta) {
        Ok(v) => panic!("expected an error\n original: {original}\n patch: {patch}\n got: {v}"),
        Err(e) => e,
    }
}
