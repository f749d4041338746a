//! Kubernetes structural schemas: what apiextensions-apiserver does with a
//! CRD's `openAPIV3Schema` and the custom resources it describes, modelled on
//! Kubernetes 1.33 (apiextensions-apiserver, kube-openapi, apimachinery):
//!
//! * [`prune`]: drop fields the schema does not specify and report them the
//!   way `fieldValidation=Strict|Warn` does (see [`unknown_field_message`]);
//!   also removes non-nullable `null`s that have no default, as the
//!   apiserver's schema coercer does right after pruning.
//! * [`default`]: apply `default` values top-down.
//! * [`validate`]: OpenAPI v3 validation with Kubernetes' exact
//!   [`FieldError`] messages, followed by the embedded-resource and
//!   `x-kubernetes-list-type` checks the custom resource strategy runs.
//!   CEL (`x-kubernetes-validations`) is out of scope; see
//!   [`cel_blocking_error`] for the rule that decides whether CEL runs.
//! * [`check_structural`]: the main checks applied to a CRD's schema when the
//!   CRD is created or updated.
//!
//! An API server runs them in the order prune, default, validate.
//!
//! # Why a port and not a general crate
//! JSON Schema validators (`jsonschema`, `valico`) check a different dialect
//! (draft 2020-12 or draft 4, not OpenAPI v3 with Kubernetes' extensions) and
//! word their errors their own way, while clients match kube-apiserver's
//! messages. None prunes, defaults, knows `x-kubernetes-int-or-string`,
//! `x-kubernetes-embedded-resource`, `x-kubernetes-list-type` or
//! `x-kubernetes-preserve-unknown-fields`, or checks that a schema is
//! structural. Formats follow Kubernetes' own list (Go's regular expressions
//! where they differ from the `regex` crate's, in `goregex`).
//!
//! Nothing here depends on an API server: `cargo test -p
//! operatorkit-structural` builds this crate alone (its tests include every
//! CRD and example under the repository's `manifests/`).
mod defaulting;
mod embedded;
mod errors;
mod formats;
mod goregex;
mod listtype;
mod model;
mod path;
mod prune;
mod structural;
mod validation;

#[cfg(test)]
mod manifest_tests;

use serde_json::Value;

pub use errors::{ErrorKind, FieldError};

/// Maximum nesting depth (of schemas and of objects) that is processed.
/// Deeper input is reported (validation) or left untouched (prune/default)
/// instead of risking a stack overflow.
pub const MAX_DEPTH: usize = model::MAX_DEPTH;

/// Prunes `obj` in place against the structural `schema`, like
/// apiextensions-apiserver's pruning of a custom resource, and returns the
/// paths of the pruned fields (`spec.foo`, `spec.items[0].bar`,
/// `spec.labels.key.x`), sorted.
///
/// At the root `apiVersion`, `kind` and `metadata` are always kept and
/// `metadata` is not pruned by the schema; the same holds inside nodes with
/// `x-kubernetes-embedded-resource: true`. Below
/// `x-kubernetes-preserve-unknown-fields: true` unknown fields are kept but
/// fields that the schema does specify are still pruned inside. After
/// pruning, `null` values of non-nullable fields without a default are
/// removed (`PruneNonNullableNullsWithoutDefaults`); those are not reported.
///
/// Use [`unknown_field_message`] to turn a path into the message of a
/// `fieldValidation=Strict` error or `Warn` warning.
pub fn prune(schema: &Value, obj: &mut Value) -> Vec<String> {
    let Ok(s) = model::Schema::parse(schema) else {
        return Vec::new();
    };
    let paths = prune::prune_root(&s, obj);
    prune::prune_non_nullable_nulls(&s, obj);
    paths
}

/// The message Kubernetes reports for a pruned field under
/// `fieldValidation=Strict` (in the strict decoding error) or `Warn` (as a
/// warning): `unknown field "spec.foo"`.
pub fn unknown_field_message(path: &str) -> String {
    format!("unknown field \"{path}\"")
}

/// Applies the schema's `default`s to `obj` in place, like
/// apiextensions-apiserver's structural defaulting: missing properties with a
/// default are set (deep copies), `null` values of non-nullable fields that
/// have a default are replaced, and defaulting recurses top-down into
/// objects (including freshly defaulted ones), array items and
/// `additionalProperties` values.
pub fn default(schema: &Value, obj: &mut Value) {
    if let Ok(s) = model::Schema::parse(schema) {
        defaulting::default(&s, obj, 0);
    }
}

/// Validates `obj` (the whole custom resource) against `schema` and returns
/// the field errors Kubernetes would report, in the order the custom
/// resource strategy produces them: OpenAPI schema errors
/// (`ValidateCustomResource`), then embedded-resource errors, then
/// `x-kubernetes-list-type` (`set`/`map`) errors.
///
/// Call it after [`prune`] and [`default`], like the apiserver does.
pub fn validate(schema: &Value, obj: &Value) -> Vec<FieldError> {
    let s = match model::Schema::parse(schema) {
        Ok(s) => s,
        Err(_) => return vec![errors::schema_too_deep(None)],
    };
    let mut out = validation::validate_custom_resource(None, &s, obj);
    out.extend(embedded::validate(&s, obj));
    out.extend(listtype::validate(&s, obj));
    out
}

/// Checks a CRD `openAPIV3Schema` like apiextensions-apiserver does when the
/// CRD is created, reporting paths under `spec.validation.openAPIV3Schema`
/// (the path Kubernetes uses when all versions share one schema, e.g. a
/// single-version CRD). See [`check_structural_at`] to choose the path.
pub fn check_structural(schema: &Value) -> Vec<FieldError> {
    check_structural_at(schema, "spec.validation.openAPIV3Schema")
}

/// Like [`check_structural`], with the path of the schema given explicitly,
/// e.g. `spec.versions[1].schema.openAPIV3Schema` for CRDs whose versions
/// have different schemas.
pub fn check_structural_at(schema: &Value, base_path: &str) -> Vec<FieldError> {
    structural::check(schema, base_path)
}

/// The rule by which the custom resource strategy skips CEL
/// (`x-kubernetes-validations`) evaluation: if any of `errs` is
/// `FieldValueNotSupported`, `FieldValueRequired`, `FieldValueTooLong`,
/// `FieldValueTooMany` or `FieldValueTypeInvalid`, CEL rules are not run and
/// this error is appended instead:
/// `<nil>: Invalid value: null: some validation rules were not checked because the object was invalid; correct the existing errors to complete validation`.
pub fn cel_blocking_error(errs: &[FieldError]) -> Option<FieldError> {
    let blocking = errs.iter().any(|e| {
        matches!(
            e.kind,
            ErrorKind::NotSupported
                | ErrorKind::Required
                | ErrorKind::TooLong
                | ErrorKind::TooMany
                | ErrorKind::TypeInvalid
        )
    });
    blocking.then(|| FieldError {
        field: "<nil>".to_string(),
        kind: ErrorKind::Invalid,
        bad_value: Some(Value::Null),
        detail: "some validation rules were not checked because the object was invalid; correct the existing errors to complete validation".to_string(),
    })
}

/// The message of a `field.ErrorList` aggregate as used in an `Invalid`
/// status (`<Kind> "<name>" is invalid: <aggregate>`): duplicates (by
/// message) are dropped, a single error is printed alone, several are
/// printed as `[a, b]`.
pub fn aggregate_message(errs: &[FieldError]) -> String {
    let mut seen: Vec<String> = Vec::new();
    for e in errs {
        let m = e.to_string();
        if !seen.contains(&m) {
            seen.push(m);
        }
    }
    match seen.len() {
        0 => String::new(),
        1 => seen.remove(0),
        _ => format!("[{}]", seen.join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn schema() -> Value {
        json!({"type": "object", "required": ["spec"], "properties": {"spec": {"type": "object",
        "required": ["commonName"],
        "properties": {
            "commonName": {"type": "string", "minLength": 1},
            "ttl": {"type": "string", "default": "2160h", "pattern": "^([0-9]+(\\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$"},
            "keyAlgorithm": {"type": "string", "enum": ["ECDSA-P256", "RSA-2048"]},
            "ports": {"type": "array", "default": [], "maxItems": 2, "x-kubernetes-list-type": "map",
                "x-kubernetes-list-map-keys": ["port"], "items": {"type": "object", "required": ["port"],
                "properties": {"port": {"type": "integer", "minimum": 1.0, "maximum": 65535.0},
                               "protocol": {"type": "string", "default": "TCP"}}}},
            "list": {"type": "array"}
        }}}})
    }

    fn pipeline(mut obj: Value) -> (Value, Vec<String>, Vec<String>) {
        let s = schema();
        let pruned = prune(&s, &mut obj);
        default(&s, &mut obj);
        let errs = validate(&s, &obj).iter().map(ToString::to_string).collect();
        (obj, pruned, errs)
    }

    #[test]
    fn full_pipeline() {
        let (obj, pruned, errs) = pipeline(json!({
            "apiVersion": "x/v1", "kind": "K", "metadata": {"name": "n"},
            "spec": {"commonName": "a", "bogus": 1, "ports": [{"port": 80}, {"port": 443, "x": 1}]}
        }));
        assert_eq!(pruned, vec!["spec.bogus", "spec.ports[1].x"]);
        assert_eq!(
            pruned
                .iter()
                .map(|p| unknown_field_message(p))
                .collect::<Vec<_>>(),
            vec![
                "unknown field \"spec.bogus\"",
                "unknown field \"spec.ports[1].x\""
            ]
        );
        assert!(errs.is_empty(), "{errs:?}");
        assert_eq!(obj["spec"]["ttl"], "2160h");
        assert_eq!(
            obj["spec"]["ports"][1],
            json!({"port": 443, "protocol": "TCP"})
        );
        assert_eq!(obj["metadata"], json!({"name": "n"}));
    }

    #[test]
    fn pipeline_errors_in_order() {
        let (_, _, errs) = pipeline(
            json!({"spec": {"keyAlgorithm": "DSA", "ports": [{"port": 0}, {"port": 0}, {"port": 2}]}}),
        );
        assert_eq!(
            errs,
            vec![
                "spec.keyAlgorithm: Unsupported value: \"DSA\": supported values: \"ECDSA-P256\", \"RSA-2048\"",
                "spec.ports[0].port: Invalid value: 0: spec.ports[0].port in body should be greater than or equal to 1",
                "spec.ports[1].port: Invalid value: 0: spec.ports[1].port in body should be greater than or equal to 1",
                "spec.ports: Too many: 3: must have at most 2 items",
                "spec.commonName: Required value",
                "spec.ports[1]: Duplicate value: map[string]interface {}{\"port\":0}",
            ]
        );
    }

    #[test]
    fn cel_blocking_and_aggregate() {
        let s = schema();
        let errs = validate(&s, &json!({"spec": {"commonName": ""}}));
        assert_eq!(
            aggregate_message(&errs),
            "spec.commonName: Invalid value: \"\": spec.commonName in body should be at least 1 chars long"
        );
        assert!(cel_blocking_error(&errs).is_none());
        let errs = validate(&s, &json!({}));
        let blocking = cel_blocking_error(&errs).unwrap();
        assert_eq!(
            blocking.to_string(),
            "<nil>: Invalid value: null: some validation rules were not checked because the object was invalid; correct the existing errors to complete validation"
        );
        let two = vec![errs[0].clone(), errs[0].clone(), blocking.clone()];
        assert_eq!(
            aggregate_message(&two),
            format!("[spec: Required value, {blocking}]")
        );
        assert_eq!(errs[0].reason(), "FieldValueRequired");
        assert_eq!(errs[0].body(), "Required value");
    }

    #[test]
    fn hostile_depths_are_bounded() {
        // an object far deeper than MAX_DEPTH below an array without item schema
        let mut deep = json!(1);
        for _ in 0..600 {
            deep = json!([deep]);
        }
        let mut obj = json!({"spec": {"commonName": "a", "list": [deep]}});
        let s = schema();
        assert!(prune(&s, &mut obj).is_empty());
        default(&s, &mut obj);
        assert!(validate(&s, &obj).is_empty());
        // a schema deeper than MAX_DEPTH
        let mut deep_schema = json!({"type": "string"});
        for _ in 0..(MAX_DEPTH + 1) {
            deep_schema = json!({"type": "array", "items": deep_schema});
        }
        assert_eq!(
            validate(&deep_schema, &json!([]))
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>(),
            vec![format!(
                "<nil>: Internal error: the schema nests deeper than the maximum of {MAX_DEPTH}"
            )]
        );
        assert_eq!(check_structural(&deep_schema).len(), 1);
        let mut o = json!({"a": 1});
        assert!(prune(&deep_schema, &mut o).is_empty());
        assert_eq!(o, json!({"a": 1}));
    }

    #[test]
    fn check_structural_paths() {
        let errs: Vec<String> = check_structural_at(
            &json!({"type": "object", "properties": {"spec": {"properties": {}}}}),
            "spec.versions[1].schema.openAPIV3Schema",
        )
        .iter()
        .map(ToString::to_string)
        .collect();
        assert_eq!(
            errs,
            vec![
                "spec.versions[1].schema.openAPIV3Schema.properties[spec].type: Required value: must not be empty for specified object fields"
            ]
        );
    }

    #[test]
    fn odd_inputs_never_panic() {
        let schemas = vec![
            json!(null),
            json!("string"),
            json!({"type": 5, "properties": [], "items": "x", "required": [1, "a"], "enum": {}}),
            json!({"type": "integer", "multipleOf": 0.0, "minimum": 1e300, "maximum": -1e300}),
            json!({"type": "integer", "multipleOf": -2.0, "maxLength": -1, "minItems": -5}),
            json!({"type": "string", "pattern": "(", "format": "email", "maxLength": 1e30}),
            json!({"type": "string", "pattern": "\\", "enum": [null, 1, "a", [1], {"a": 1}]}),
            json!({"type": "array", "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": [],
                   "items": {"type": "object"}, "uniqueItems": true, "minItems": 3}),
            json!({"type": "object", "additionalProperties": false, "minProperties": 9,
                   "properties": {"metadata": {"type": "string"}, "a": {"allOf": [{"not": {}}], "oneOf": [{}, {}]}}}),
            json!({"x-kubernetes-embedded-resource": true, "x-kubernetes-int-or-string": true,
                   "x-kubernetes-preserve-unknown-fields": false, "default": {"apiVersion": 1}}),
        ];
        let values = vec![
            json!(null),
            json!(1),
            json!(-9223372036854775808i64),
            json!(18446744073709551615u64),
            json!(1.5e300),
            json!("\u{0}\u{7f}µ"),
            json!([null, 1, 1.0, "1", [1], {"a": 1}, {"a": 1}]),
            json!({"apiVersion": 5, "kind": "", "metadata": [], "a": {"b": [null]}}),
        ];
        for sch in &schemas {
            let _ = check_structural(sch);
            for v in &values {
                let mut o = v.clone();
                let _ = prune(sch, &mut o);
                default(sch, &mut o);
                for e in validate(sch, &o) {
                    let _ = (e.to_string(), e.reason());
                }
            }
        }
    }
}
