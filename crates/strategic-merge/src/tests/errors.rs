//! Error and robustness cases: malformed directives (with Kubernetes' exact messages and
//! HTTP mapping), inputs on which the Go code panics, quirks kept for compatibility, and
//! bounded recursion.

use serde_json::{Value, json};

use super::super::{Error, MAX_DEPTH, apply, apply_without_schema};
use super::{MERGE_ITEM, apply_err, check};

fn err(original: Value, patch: Value) -> Error {
    apply_err(&MERGE_ITEM, &original, &patch)
}

#[test]
fn unknown_map_directive() {
    let e = err(json!({"name": 1}), json!({"$patch": "foo"}));
    assert_eq!(
        e.to_string(),
        "unknown patch type: foo in map: map[$patch:foo]"
    );
    assert_eq!((e.http_status(), e.status_reason()), (500, ""));
    assert_eq!(e.status_message(), e.to_string());

    let e = err(
        json!({"simpleMap": {"a": "b"}}),
        json!({"simpleMap": {"$patch": 1, "x": null}}),
    );
    assert_eq!(
        e.to_string(),
        "unknown patch type: %!s(int64=1) in map: map[$patch:1 x:<nil>]"
    );
    let e = err(
        json!({"simpleMap": {}}),
        json!({"simpleMap": {"$patch": true}}),
    );
    assert_eq!(
        e.to_string(),
        "unknown patch type: %!s(bool=true) in map: map[$patch:true]"
    );
}

#[test]
fn list_element_directives() {
    let original = json!({"mergingList": [{"name": 1}, {"name": 2}]});
    let e = err(
        original.clone(),
        json!({"mergingList": [{"name": 1, "$patch": "merge"}]}),
    );
    assert_eq!(e, Error::MergeListDirective);
    assert_eq!(
        e.to_string(),
        "merging lists cannot yet be specified in the patch"
    );

    let e = err(
        original.clone(),
        json!({"mergingList": [{"name": 1, "$patch": "foo"}]}),
    );
    assert_eq!(
        e.to_string(),
        "unknown patch type: foo in map: map[$patch:foo name:1]"
    );

    let e = err(
        original.clone(),
        json!({"mergingList": [{"$patch": "delete"}]}),
    );
    assert_eq!(
        e.to_string(),
        "map: map[$patch:delete] does not contain declared merge key: name"
    );

    // `$patch: replace` elements: the rest of the patch list replaces the list; their own
    // elements must carry the merge key.
    check(
        "replace list",
        &original,
        &json!({"mergingList": [{"name": 3, "value": null}, {"$patch": "replace"}]}),
        &json!({"mergingList": [{"name": 3, "value": null}]}),
    );
    let e = err(
        original,
        json!({"mergingList": [{"value": "x"}, {"$patch": "replace"}]}),
    );
    assert_eq!(
        e.to_string(),
        "map: map[value:x] does not contain declared merge key: name"
    );
}

#[test]
fn malformed_parallel_list_directives() {
    let e = err(json!({}), json!({"$deleteFromPrimitiveList": [1]}));
    assert_eq!(e, Error::BadPatchFormatForPrimitiveList);
    assert_eq!(e.to_string(), "invalid patch format of primitive list");
    assert_eq!((e.http_status(), e.status_reason()), (400, "BadRequest"));
    let e = err(json!({}), json!({"$deleteFromPrimitiveListX/a": [1]}));
    assert_eq!(e, Error::BadPatchFormatForPrimitiveList);

    let e = err(json!({}), json!({"$setElementOrder": [1]}));
    assert_eq!(
        e.to_string(),
        "invalid patch format of setElementOrder list"
    );
    assert_eq!(e.http_status(), 400);

    let e = err(
        json!({"mergingList": [{"name": 1}]}),
        json!({"$setElementOrder/mergingList": "x"}),
    );
    assert_eq!(
        e.to_string(),
        "expected a []interface {}, but received a string"
    );
    let e = err(json!({}), json!({"$setElementOrder/mergingList": null}));
    assert_eq!(
        e.to_string(),
        "expected a []interface {}, but received a %!s(<nil>)"
    );
    let e = err(
        json!({"mergingList": {"a": 1}}),
        json!({"$setElementOrder/mergingList": []}),
    );
    assert_eq!(
        e.to_string(),
        "expected a []interface {}, but received a map[string]interface {}"
    );
    let e = err(
        json!({"mergingList": [{"name": 1}]}),
        json!({"$setElementOrder/mergingList": ["x"]}),
    );
    assert_eq!(e.to_string(), "value for key 0 is not a map");
    let e = err(
        json!({"mergingIntList": []}),
        json!({"$setElementOrder/mergingIntList": []}),
    );
    assert_eq!(e.to_string(), "no elements in any of the given slices");
    // A `$setElementOrder` for a (non-pointer) struct field.
    let e = err(json!({}), json!({"$setElementOrder/retainKeysMap": []}));
    assert_eq!(
        e.to_string(),
        "expected slice or array type, but got: struct"
    );
}

#[test]
fn retain_keys_errors() {
    let e = err(
        json!({"retainKeysMap": {"name": "a"}}),
        json!({"retainKeysMap": {"$retainKeys": "name"}}),
    );
    assert_eq!(e.to_string(), "invalid patch format of retainKeys");
    assert_eq!(e.http_status(), 400);
    let e = err(
        json!({"retainKeysMap": {"name": "a"}}),
        json!({"retainKeysMap": {"$retainKeys": ["name"], "value": "b"}}),
    );
    assert_eq!(e, Error::BadPatchFormatForRetainKeys);
    // Nulls and parallel lists need not be retained.
    check(
        "retainKeys ignores nulls and parallel lists",
        &json!({"retainKeysMap": {"name": "a", "value": "b", "mergingIntList": [1, 2]}}),
        &json!({"retainKeysMap": {"$retainKeys": ["name", "mergingIntList"], "value": null,
                                  "$deleteFromPrimitiveList/mergingIntList": [1]}}),
        &json!({"retainKeysMap": {"name": "a", "mergingIntList": [2]}}),
    );
    // Unhashable entries make Go panic.
    let e = err(
        json!({"retainKeysMap": {}}),
        json!({"retainKeysMap": {"$retainKeys": [{"a": 1}]}}),
    );
    assert!(e.is_panic(), "{e:?}");
}

#[test]
fn list_type_errors() {
    let e = err(
        json!({"mergingIntList": [1, 2]}),
        json!({"mergingIntList": ["a"]}),
    );
    assert_eq!(
        e.to_string(),
        "list element types are not identical: [[1 2] [a]]"
    );
    let e = err(
        json!({"mergingIntList": [1]}),
        json!({"mergingIntList": [1.5]}),
    );
    assert_eq!(
        e.to_string(),
        "list element types are not identical: [[1] [1.5]]"
    );
    let e = err(
        json!({"mergingList": [{"name": 1}]}),
        json!({"mergingList": ["x"]}),
    );
    assert_eq!(
        e.to_string(),
        "list element types are not identical: [[map[name:1]] [x]]"
    );

    let e = err(
        json!({"mergingIntList": []}),
        json!({"mergingIntList": [[1]]}),
    );
    assert_eq!(e, Error::NoListOfLists);
    assert_eq!(e.to_string(), "lists of lists are not supported");
    assert_eq!((e.http_status(), e.status_reason()), (422, "Invalid"));
    assert_eq!(
        e.status_message(),
        "the server rejected our request due to an error in our request"
    );

    let e = err(
        json!({"mergingIntList": [{"a": 1}]}),
        json!({"mergingIntList": [{"a": 2}]}),
    );
    assert_eq!(
        e.to_string(),
        "cannot merge lists without merge key for int"
    );

    // A merge-by-key list given scalars on both sides reaches the partition step.
    let e = err(json!({"mergingList": []}), json!({"mergingList": ["a"]}));
    assert_eq!(
        e.to_string(),
        "expected a map[string]interface {}, but received a string"
    );
}

#[test]
fn inputs_on_which_go_panics() {
    // `sliceElementType` dereferences the nil type of a leading null element.
    let e = err(
        json!({"mergingIntList": []}),
        json!({"mergingIntList": [null]}),
    );
    assert!(e.is_panic(), "{e:?}");
    assert_eq!(e.http_status(), 500);
    assert_eq!(
        e.to_string(),
        "This request caused apiserver to panic. Look in the logs for details."
    );
    // A null after another element is merely a type mismatch.
    let e = err(
        json!({"mergingIntList": [1]}),
        json!({"mergingIntList": [null]}),
    );
    assert_eq!(
        e.to_string(),
        "list element types are not identical: [[1] [<nil>]]"
    );
    // Merge keys compared with Go's `==` on maps.
    let e = err(
        json!({"mergingList": [{"name": 1}]}),
        json!({"mergingList": [{"name": {"a": 1}}]}),
    );
    assert!(e.is_panic(), "{e:?}");
    // Hashing a map in a primitive `$setElementOrder`.
    let e = err(
        json!({"nonMergingList": [{"name": 1}]}),
        json!({"$setElementOrder/nonMergingList": [{"name": 1}]}),
    );
    assert!(e.is_panic(), "{e:?}");
}

#[test]
fn top_level_inputs() {
    let original = json!({"name": "a"});
    assert_eq!(
        apply(&original, &Value::Null, &MERGE_ITEM).unwrap(),
        original
    );
    for (patch, ty) in [
        (json!([1]), "array"),
        (json!("x"), "string"),
        (json!(1), "number"),
        (json!(true), "bool"),
    ] {
        let e = apply_err(&MERGE_ITEM, &original, &patch);
        assert_eq!(e, Error::PatchNotObject(ty));
        assert_eq!(
            e.to_string(),
            format!("json: cannot unmarshal {ty} into Go value of type map[string]interface {{}}")
        );
        assert_eq!(e.http_status(), 400);
    }
    assert_eq!(
        apply_err(&MERGE_ITEM, &json!([]), &json!({})),
        Error::BadJsonDoc
    );
    // Inputs are not modified.
    let patch = json!({"name": null, "mergingList": [{"name": 1}]});
    let before = (original.clone(), patch.clone());
    let _ = apply(&original, &patch, &MERGE_ITEM).unwrap();
    assert_eq!((original, patch), before);
}

#[test]
fn kept_quirks() {
    // `$patch: replace` returns the patch map as is: nulls and nested directives stay.
    check(
        "replace keeps nulls",
        &json!({"simpleMap": {"a": "1"}}),
        &json!({"simpleMap": {"$patch": "replace", "b": null, "c": "x"}}),
        &json!({"simpleMap": {"b": null, "c": "x"}}),
    );
    // A value for an absent key is taken verbatim except for nulls in maps.
    check(
        "absent key keeps directives",
        &json!({}),
        &json!({"mergingList": [{"name": 1, "$patch": "delete", "x": null}]}),
        &json!({"mergingList": [{"name": 1, "$patch": "delete"}]}),
    );
    // Appended list elements are not cleaned either.  (Without `$setElementOrder`, a new
    // element lands before the server-only elements: `mergeSortedSlice` cannot place it in
    // the server order and takes the patch side first.)
    check(
        "appended element keeps nulls",
        &json!({"mergingList": [{"name": 1}]}),
        &json!({"mergingList": [{"name": 2, "value": null}]}),
        &json!({"mergingList": [{"name": 2, "value": null}, {"name": 1}]}),
    );
    // A type change replaces the value.
    check(
        "type change",
        &json!({"simpleMap": {"a": "b"}}),
        &json!({"simpleMap": ["x", {"y": null}]}),
        &json!({"simpleMap": ["x", {}]}),
    );
    // `$deleteFromPrimitiveList` against a list with the default strategy replaces it.
    check(
        "delete list on non-merging list",
        &json!({"nonMergingIntList": [1, 2, 3]}),
        &json!({"$deleteFromPrimitiveList/nonMergingIntList": [2]}),
        &json!({"nonMergingIntList": [2]}),
    );
    // Deleting by merge key removes every element with that key.
    check(
        "delete removes duplicates",
        &json!({"mergingList": [{"name": 1, "v": "a"}, {"name": 2}, {"name": 1, "v": "b"}]}),
        &json!({"mergingList": [{"name": 1, "$patch": "delete"}]}),
        &json!({"mergingList": [{"name": 2}]}),
    );
    // Numbers keep Go's int64/float64 distinction: 1 and 1.0 are different keys.
    check(
        "int and float merge keys differ",
        &json!({"mergingList": [{"name": 1, "v": "a"}]}),
        &json!({"mergingList": [{"name": 1.0, "v": "b"}]}),
        &json!({"mergingList": [{"name": 1.0, "v": "b"}, {"name": 1, "v": "a"}]}),
    );
}

#[test]
fn schema_free_application() {
    let out = apply_without_schema(
        &json!({"a": {"b": 1, "c": [1, 2]}, "d": [{"name": "x"}]}),
        &json!({"a": {"b": null, "c": [3]}, "d": [{"name": "y"}]}),
    )
    .unwrap();
    assert_eq!(out, json!({"a": {"c": [3]}, "d": [{"name": "y"}]}));
}

fn nest(depth: usize, leaf: Value) -> Value {
    let mut v = leaf;
    for _ in 0..depth {
        v = json!({"a": v});
    }
    v
}

#[test]
fn recursion_is_bounded() {
    // Just inside the limit: works (and does not overflow the test thread's stack).
    let original = nest(MAX_DEPTH - 1, json!({"x": 1}));
    let patch = nest(MAX_DEPTH - 1, json!({"y": 2}));
    let out = apply_without_schema(&original, &patch).unwrap();
    assert_eq!(out, nest(MAX_DEPTH - 1, json!({"x": 1, "y": 2})));

    // Beyond it: rejected up front.
    let deep = nest(MAX_DEPTH + 1, json!({}));
    assert_eq!(apply_without_schema(&json!({}), &deep), Err(Error::TooDeep));
    assert_eq!(apply_without_schema(&deep, &json!({})), Err(Error::TooDeep));
    // Lists count too.
    let mut list = json!(1);
    for _ in 0..(MAX_DEPTH + 5) {
        list = json!([list]);
    }
    assert_eq!(
        apply_without_schema(&json!({}), &json!({"l": list})),
        Err(Error::TooDeep)
    );
}

#[test]
fn large_lists() {
    let n = 1000;
    let original: Vec<Value> = (0..n).map(|i| json!({"name": i, "v": i})).collect();
    let patch: Vec<Value> = (0..n)
        .rev()
        .step_by(3)
        .map(|i| json!({"name": i, "w": i}))
        .collect();
    let out = apply(
        &json!({"mergingList": original}),
        &json!({"mergingList": patch}),
        &MERGE_ITEM,
    )
    .unwrap();
    let list = out["mergingList"].as_array().unwrap();
    assert_eq!(list.len(), n);
    // Server-only items (in server order) come first: each precedes the first patch item
    // (n - 1) in the server order; then the patch items in patch order.
    let names: Vec<u64> = list.iter().map(|v| v["name"].as_u64().unwrap()).collect();
    let r = (n as u64 - 1) % 3;
    let server_only: Vec<u64> = (0..n as u64).filter(|i| i % 3 != r).collect();
    let patched: Vec<u64> = (0..n as u64).rev().filter(|i| i % 3 == r).collect();
    assert_eq!(names, [server_only.clone(), patched].concat());
    assert!(
        list[server_only.len()..]
            .iter()
            .all(|v| v["w"] == v["name"])
    );
}
