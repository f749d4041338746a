//! Checks of a CRD's `openAPIV3Schema` at CRD creation/update.
//!
//! This module owns the ports of the schema checks apiextensions-apiserver
//! runs in `validateCustomResourceDefinitionValidation` for a new CRD:
//!
//! 1. `nullable cannot be true at the root`;
//! 2. `structuralschema.ValidateStructural` (structural invariants and
//!    completeness, errors sorted by message);
//! 3. if structural, `structuraldefaulting.ValidateDefaults` (defaults must
//!    validate against their schema and be pruned);
//! 4. `ValidateCustomResourceDefinitionOpenAPISchema` (unsupported keywords,
//!    `uniqueItems`, `additionalProperties` vs `properties`, list/map types,
//!    list-map keys, `x-kubernetes-validations` rule/message sanity, forbidden
//!    defaults in top-level metadata).

use serde_json::Value;

use super::embedded;
use super::errors::{self, FieldError};
use super::goregex;
use super::model::{AdditionalProperties, Schema};
use super::path::FPath;
use super::prune;
use super::validation;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Level {
    Root,
    Item,
    Field,
}

/// Runs all checks on `schema` located at `base` (e.g.
/// `spec.validation.openAPIV3Schema`).
pub(crate) fn check(schema: &Value, base: &str) -> Vec<FieldError> {
    let p = FPath::new(base);
    let s = match Schema::parse(schema) {
        Ok(s) => s,
        Err(_) => return vec![errors::schema_too_deep(Some(base))],
    };
    let mut errs = Vec::new();
    if s.nullable {
        errs.push(errors::forbidden(
            p.child("nullable").str(),
            "nullable cannot be true at the root",
        ));
    }
    let mut structural = Vec::new();
    invariants(&s, Level::Root, &p, &mut structural);
    completeness(&s, &p, &mut structural);
    structural.sort_by_key(|e| e.to_string());
    if !structural.is_empty() {
        errs.extend(structural);
    } else {
        // ValidateDefaults treats the root as an embedded resource.
        let mut root = s.clone();
        root.x_embedded_resource = true;
        validate_defaults(&p, &root, false, &mut errs);
    }
    let ssv = Ssv {
        disallow_defaults_reason: None,
        inside_resource_meta: false,
    };
    openapi_schema(&s, &p, &ssv, true, &mut errs);
    errs
}

// ---------------------------------------------------------------------------
// ValidateStructural

fn is_only_type(s: &Schema, t: &str) -> bool {
    s.type_ == t && s.non_zero_structural_fields() == ["type"]
}

fn is_int_or_string_any_of(s: &Schema) -> bool {
    s.any_of.len() == 2
        && is_only_type(&s.any_of[0], "integer")
        && is_only_type(&s.any_of[1], "string")
}

fn is_int_or_string_all_of(s: &Schema) -> bool {
    s.all_of.first().is_some_and(|a| {
        a.any_of.len() == 2
            && is_only_type(&a.any_of[0], "integer")
            && is_only_type(&a.any_of[1], "string")
    })
}

fn invariants(s: &Schema, lvl: Level, p: &FPath, errs: &mut Vec<FieldError>) {
    if s.type_ == "array" && s.items.is_none() {
        errs.push(errors::required(
            p.child("items").str(),
            "must be specified",
        ));
    }
    if let Some(items) = &s.items {
        invariants(items, Level::Item, &p.child("items"), errs);
    }
    for (k, v) in &s.properties {
        invariants(v, Level::Field, &p.child("properties").key(k), errs);
    }
    if let Some(ap) = &s.additional_properties {
        if lvl == Level::Root {
            errs.push(errors::forbidden(
                p.child("additionalProperties").str(),
                "must not be used at the root",
            ));
        }
        if let AdditionalProperties::Schema(aps) = ap {
            invariants(aps, Level::Field, &p.child("additionalProperties"), errs);
        }
    }
    if s.x_int_or_string && s.preserves_unknown_fields() {
        errs.push(errors::invalid(
            p.child("x-kubernetes-preserve-unknown-fields").str(),
            Value::Bool(true),
            "must be false if x-kubernetes-int-or-string is true",
        ));
    }
    if s.x_int_or_string && s.x_embedded_resource {
        errs.push(errors::invalid(
            p.child("x-kubernetes-embedded-resource").str(),
            Value::Bool(true),
            "must be false if x-kubernetes-int-or-string is true",
        ));
    }
    value_validation(
        s,
        is_int_or_string_any_of(s),
        is_int_or_string_all_of(s),
        lvl,
        p,
        errs,
    );
    type_invariants(s, lvl, p, errs);
    let check_metadata = lvl == Level::Root || s.x_embedded_resource;
    metadata_invariants(s, lvl, check_metadata, p, errs);
    if s.x_embedded_resource && !s.preserves_unknown_fields() && s.properties.is_empty() {
        errs.push(errors::required(
            p.child("properties").str(),
            "must not be empty if x-kubernetes-embedded-resource is true without x-kubernetes-preserve-unknown-fields",
        ));
    }
}

/// Pushes `Required` on `type` if it is empty, else `Invalid` with `detail`.
fn wrong_type(s: &Schema, p: &FPath, detail: &str, errs: &mut Vec<FieldError>) {
    if s.type_.is_empty() {
        errs.push(errors::required(p.child("type").str(), detail));
    } else {
        errs.push(errors::invalid(
            p.child("type").str(),
            Value::String(s.type_.clone()),
            detail,
        ));
    }
}

/// The invariants on `type` (and `additionalProperties`) of a node, given
/// its level and `x-kubernetes-embedded-resource`.
fn type_invariants(s: &Schema, lvl: Level, p: &FPath, errs: &mut Vec<FieldError>) {
    if s.x_embedded_resource && s.type_ != "object" {
        wrong_type(
            s,
            p,
            "must be object if x-kubernetes-embedded-resource is true",
            errs,
        );
    } else if s.type_.is_empty() && !s.x_int_or_string && !s.preserves_unknown_fields() {
        let detail = match lvl {
            Level::Root => "must not be empty at the root",
            Level::Item => "must not be empty for specified array items",
            Level::Field => "must not be empty for specified object fields",
        };
        errs.push(errors::required(p.child("type").str(), detail));
    }
    if s.x_embedded_resource && s.additional_properties.is_some() {
        errs.push(errors::forbidden(
            p.child("additionalProperties").str(),
            "must not be used if x-kubernetes-embedded-resource is set",
        ));
    }
    if lvl == Level::Root && !s.type_.is_empty() && s.type_ != "object" {
        errs.push(errors::invalid(
            p.child("type").str(),
            Value::String(s.type_.clone()),
            "must be object at the root",
        ));
    }
}

/// The invariants on the `kind`, `apiVersion` and `metadata` properties of
/// the root or of an embedded resource.
fn metadata_invariants(
    s: &Schema,
    lvl: Level,
    check_metadata: bool,
    p: &FPath,
    errs: &mut Vec<FieldError>,
) {
    for meta in ["kind", "apiVersion"] {
        if let Some(m) = s.properties.get(meta)
            && check_metadata
            && m.type_ != "string"
        {
            errs.push(errors::invalid(
                p.child("properties").key(meta).child("type").str(),
                Value::String(m.type_.clone()),
                "must be string",
            ));
        }
    }
    let Some(md) = s.properties.get("metadata") else {
        return;
    };
    let mp = p.child("properties").key("metadata");
    if check_metadata && md.type_ != "object" {
        errs.push(errors::invalid(
            mp.child("type").str(),
            Value::String(md.type_.clone()),
            "must be object",
        ));
    }
    if lvl == Level::Root {
        let names: Vec<&str> = md.properties.keys().map(String::as_str).collect();
        let props_ok = matches!(
            names.as_slice(),
            ["generateName", "name"] | ["name"] | ["generateName"]
        );
        let leftover: Vec<&str> = md
            .non_zero_structural_fields()
            .into_iter()
            .filter(|f| !(matches!(*f, "type" | "default") || (*f == "properties" && props_ok)))
            .collect();
        if !leftover.is_empty() {
            errs.push(errors::forbidden(
                mp.str(),
                "must not specify anything other than name and generateName, but metadata is implicitly specified",
            ));
        }
    }
}

fn value_validation(
    v: &Schema,
    skip_any_of: bool,
    skip_first_all_of_any_of: bool,
    lvl: Level,
    p: &FPath,
    errs: &mut Vec<FieldError>,
) {
    if !skip_any_of {
        for (i, a) in v.any_of.iter().enumerate() {
            nested(a, false, false, lvl, &p.child("anyOf").index(i), errs);
        }
    }
    for (i, a) in v.all_of.iter().enumerate() {
        nested(
            a,
            skip_first_all_of_any_of && i == 0,
            false,
            lvl,
            &p.child("allOf").index(i),
            errs,
        );
    }
    for (i, a) in v.one_of.iter().enumerate() {
        nested(a, false, false, lvl, &p.child("oneOf").index(i), errs);
    }
    if let Some(n) = &v.not {
        nested(n, false, false, lvl, &p.child("not"), errs);
    }
    if !v.pattern.is_empty()
        && let Err(e) = goregex::compile(&v.pattern)
    {
        errs.push(errors::invalid(
            p.child("pattern").str(),
            Value::String(v.pattern.clone()),
            format!("must be a valid regular expression, but isn't: {e}"),
        ));
    }
}

fn nested(
    v: &Schema,
    skip_any_of: bool,
    skip_all_of_any_of: bool,
    lvl: Level,
    p: &FPath,
    errs: &mut Vec<FieldError>,
) {
    value_validation(v, skip_any_of, skip_all_of_any_of, lvl, p, errs);
    if let Some(items) = &v.items {
        nested(items, false, false, lvl, &p.child("items"), errs);
    }
    for (k, f) in &v.properties {
        nested(
            f,
            false,
            false,
            Level::Field,
            &p.child("properties").key(k),
            errs,
        );
    }
    nested_forbidden(v, p, errs);
    if v.properties.contains_key("metadata") {
        errs.push(errors::forbidden(
            p.child("properties").key("metadata").str(),
            "must not be specified in a nested context",
        ));
    }
}

/// Forbids, in a nested value validation, every field that only a
/// structural node may set (a table of condition, field, detail).
fn nested_forbidden(v: &Schema, p: &FPath, errs: &mut Vec<FieldError>) {
    const EMPTY: &str = "must be empty to be structural";
    const UNDEFINED: &str = "must be undefined to be structural";
    const FALSE: &str = "must be false to be structural";
    let checks: [(bool, &str, &str); 14] = [
        (!v.type_.is_empty(), "type", EMPTY),
        (
            v.additional_properties.is_some(),
            "additionalProperties",
            UNDEFINED,
        ),
        (v.default.is_some(), "default", UNDEFINED),
        (!v.title.is_empty(), "title", EMPTY),
        (!v.description.is_empty(), "description", EMPTY),
        (v.nullable, "nullable", FALSE),
        (v.has_external_docs, "externalDocs", UNDEFINED),
        (
            v.preserves_unknown_fields(),
            "x-kubernetes-preserve-unknown-fields",
            FALSE,
        ),
        (
            v.x_embedded_resource,
            "x-kubernetes-embedded-resource",
            FALSE,
        ),
        (v.x_int_or_string, "x-kubernetes-int-or-string", FALSE),
        (
            !v.x_list_map_keys.is_empty(),
            "x-kubernetes-list-map-keys",
            EMPTY,
        ),
        (v.x_list_type.is_some(), "x-kubernetes-list-type", UNDEFINED),
        (v.x_map_type.is_some(), "x-kubernetes-map-type", UNDEFINED),
        (
            !v.x_validations.is_empty(),
            "x-kubernetes-validations",
            EMPTY,
        ),
    ];
    for (cond, name, detail) in checks {
        if cond {
            errs.push(errors::forbidden(p.child(name).str(), detail));
        }
    }
}

/// `validateStructuralCompleteness`: everything the root's value validations
/// (`allOf`/`anyOf`/`oneOf`/`not`) specify must be specified structurally.
/// Like Kubernetes, only the value validations of the root node are checked.
fn completeness(s: &Schema, p: &FPath, errs: &mut Vec<FieldError>) {
    vv_completeness(s, Some(s), p, p, errs);
}

fn vv_completeness(
    v: &Schema,
    s: Option<&Schema>,
    sp: &FPath,
    vp: &FPath,
    errs: &mut Vec<FieldError>,
) {
    if let Some(n) = &v.not {
        nested_completeness(n, s, sp, &vp.child("not"), errs);
    }
    for (i, a) in v.all_of.iter().enumerate() {
        nested_completeness(a, s, sp, &vp.child("allOf").index(i), errs);
    }
    for (i, a) in v.any_of.iter().enumerate() {
        nested_completeness(a, s, sp, &vp.child("anyOf").index(i), errs);
    }
    for (i, a) in v.one_of.iter().enumerate() {
        nested_completeness(a, s, sp, &vp.child("oneOf").index(i), errs);
    }
}

fn nested_completeness(
    v: &Schema,
    s: Option<&Schema>,
    sp: &FPath,
    vp: &FPath,
    errs: &mut Vec<FieldError>,
) {
    let Some(s) = s else {
        errs.push(errors::required(
            sp.str(),
            format!("because it is defined in {}", vp.str()),
        ));
        return;
    };
    vv_completeness(v, Some(s), sp, vp, errs);
    if let Some(vi) = &v.items {
        nested_completeness(
            vi,
            s.items.as_deref(),
            &sp.child("items"),
            &vp.child("items"),
            errs,
        );
    }
    for (k, vf) in &v.properties {
        match s.properties.get(k) {
            Some(sf) => nested_completeness(
                vf,
                Some(sf),
                &sp.child("properties").key(k),
                &vp.child("properties").key(k),
                errs,
            ),
            None => errs.push(errors::required(
                sp.child("properties").key(k).str(),
                format!(
                    "because it is defined in {}",
                    vp.child("properties").key(k).str()
                ),
            )),
        }
    }
}

// ---------------------------------------------------------------------------
// ValidateDefaults

/// `defaulting.validate`: `inside_meta` is true below the `apiVersion`,
/// `kind` and `metadata` properties of an embedded resource (or the root),
/// where defaults are checked against the schema only (Kubernetes also
/// checks them as part of the surrounding ObjectMeta, which is not done here).
fn validate_defaults(p: &FPath, s: &Schema, inside_meta: bool, errs: &mut Vec<FieldError>) {
    let inside_meta = inside_meta && !s.x_embedded_resource;
    if let Some(d) = &s.default {
        let dp = p.child("default");
        if inside_meta {
            errs.extend(validation::validate_custom_resource(Some(&dp.str()), s, d));
        } else {
            let mut pruned = d.clone();
            prune::prune_value(s, &mut pruned, s.x_embedded_resource);
            if !validation::deep_equal(&pruned, d, 0) {
                errs.push(errors::invalid(
                    dp.str(),
                    d.clone(),
                    "must not have unknown fields",
                ));
            }
            let mut meta_errs = Vec::new();
            embedded::validate_at(&dp, d, s, &mut meta_errs);
            if !meta_errs.is_empty() {
                errs.extend(meta_errs);
            } else {
                errs.extend(validation::validate_custom_resource(Some(&dp.str()), s, d));
            }
        }
    }
    // additionalProperties are not followed: defaults are forbidden there.
    if let Some(items) = &s.items {
        validate_defaults(&p.child("items"), items, inside_meta, errs);
    }
    for (k, sub) in &s.properties {
        let sub_inside_meta =
            inside_meta || (s.x_embedded_resource && META_FIELDS.contains(&k.as_str()));
        validate_defaults(&p.child("properties").key(k), sub, sub_inside_meta, errs);
    }
}

// ---------------------------------------------------------------------------
// ValidateCustomResourceDefinitionOpenAPISchema

#[derive(Clone)]
struct Ssv {
    disallow_defaults_reason: Option<String>,
    inside_resource_meta: bool,
}

const OPENAPI_V3_TYPES: [&str; 6] = ["array", "boolean", "integer", "number", "object", "string"];
const META_FIELDS: [&str; 3] = ["apiVersion", "kind", "metadata"];

fn ssv_validate(s: &Schema, p: &FPath, ssv: &Ssv, errs: &mut Vec<FieldError>) {
    if !s.type_.is_empty() && !OPENAPI_V3_TYPES.contains(&s.type_.as_str()) {
        let valid: Vec<String> = OPENAPI_V3_TYPES.iter().map(|t| t.to_string()).collect();
        errs.push(errors::not_supported(
            p.child("type").str(),
            Value::String(s.type_.clone()),
            &valid,
        ));
    }
    if s.default.is_some()
        && let Some(reason) = &ssv.disallow_defaults_reason
    {
        errs.push(errors::forbidden(
            p.child("default").str(),
            format!("must not be set {reason}"),
        ));
    }
    let checks: [(bool, &str, &str); 9] = [
        (!s.id.is_empty(), "id", "id is not supported"),
        (
            s.has_additional_items,
            "additionalItems",
            "additionalItems is not supported",
        ),
        (
            s.has_pattern_properties,
            "patternProperties",
            "patternProperties is not supported",
        ),
        (
            !s.definitions.is_empty(),
            "definitions",
            "definitions is not supported",
        ),
        (
            s.has_dependencies,
            "dependencies",
            "dependencies is not supported",
        ),
        (s.ref_.is_some(), "$ref", "$ref is not supported"),
        (
            s.type_ == "null",
            "type",
            "type cannot be set to null, use nullable as an alternative",
        ),
        (
            s.items_array.as_ref().is_some_and(|a| !a.is_empty()),
            "items",
            "items must be a schema object and not an array",
        ),
        (
            ssv.inside_resource_meta && s.x_embedded_resource,
            "x-kubernetes-embedded-resource",
            "must not be used inside of resource meta",
        ),
    ];
    for (cond, name, detail) in checks {
        if cond {
            errs.push(errors::forbidden(p.child(name).str(), detail));
        }
    }
}

fn opt_str(v: &Option<String>) -> Value {
    v.as_ref()
        .map(|s| Value::String(s.clone()))
        .unwrap_or(Value::Null)
}

fn openapi_schema(s: &Schema, p: &FPath, ssv: &Ssv, is_root: bool, errs: &mut Vec<FieldError>) {
    ssv_validate(s, p, ssv, errs);
    if s.unique_items {
        errs.push(errors::forbidden(
            p.child("uniqueItems").str(),
            "uniqueItems cannot be set to true since the runtime complexity becomes quadratic",
        ));
    }
    openapi_subschemas(s, p, ssv, is_root, errs);
    if s.x_preserve_unknown_fields == Some(false) {
        errs.push(errors::invalid(
            p.child("x-kubernetes-preserve-unknown-fields").str(),
            Value::Bool(false),
            "must be true or undefined",
        ));
    }
    if let Some(mt) = &s.x_map_type {
        map_type(s, mt, p, errs);
    }
    if let Some(lt) = &s.x_list_type {
        list_type(s, lt, p, errs);
    }
    if !s.x_list_map_keys.is_empty() {
        match &s.x_list_type {
            None => errs.push(errors::required(
                p.child("x-kubernetes-list-type").str(),
                "must be map if x-kubernetes-list-map-keys is non-empty",
            )),
            Some(lt) if lt != "map" => errs.push(errors::invalid(
                p.child("x-kubernetes-list-type").str(),
                Value::String(lt.clone()),
                "must be map if x-kubernetes-list-map-keys is non-empty",
            )),
            _ => {}
        }
    }
    if s.x_list_type.as_deref() == Some("map") {
        list_type_map(s, p, errs);
    }
    map_list_keys_map_set(s, p, errs);
    x_validations(s, p, errs);
}

/// Checks `additionalProperties` against `properties`, then recurses into
/// every subschema with the context (`Ssv`) each one inherits.
fn openapi_subschemas(s: &Schema, p: &FPath, ssv: &Ssv, is_root: bool, errs: &mut Vec<FieldError>) {
    if let Some(ap) = &s.additional_properties {
        let conflicting = matches!(
            ap,
            AdditionalProperties::Bool(false) | AdditionalProperties::Schema(_)
        );
        if !s.properties.is_empty() && conflicting {
            errs.push(errors::forbidden(
                p.child("additionalProperties").str(),
                "additionalProperties and properties are mutual exclusive",
            ));
        }
        let mut sub = ssv.clone();
        if ssv.inside_resource_meta {
            sub.disallow_defaults_reason =
                Some("inside additionalProperties applying to object metadata".to_string());
        }
        if let AdditionalProperties::Schema(aps) = ap {
            openapi_schema(aps, &p.child("additionalProperties"), &sub, false, errs);
        }
    }
    for (name, prop) in &s.properties {
        let mut sub = ssv.clone();
        if (is_root || s.x_embedded_resource) && META_FIELDS.contains(&name.as_str()) {
            sub.inside_resource_meta = true;
            if is_root {
                sub.disallow_defaults_reason = Some(format!("in top-level {name}"));
            }
        }
        openapi_schema(prop, &p.child("properties").key(name), &sub, false, errs);
    }
    if let Some(n) = &s.not {
        openapi_schema(n, &p.child("not"), ssv, false, errs);
    }
    for (i, a) in s.all_of.iter().enumerate() {
        openapi_schema(a, &p.child("allOf").index(i), ssv, false, errs);
    }
    for (i, a) in s.one_of.iter().enumerate() {
        openapi_schema(a, &p.child("oneOf").index(i), ssv, false, errs);
    }
    for (i, a) in s.any_of.iter().enumerate() {
        openapi_schema(a, &p.child("anyOf").index(i), ssv, false, errs);
    }
    for (k, d) in &s.definitions {
        openapi_schema(d, &p.child("definitions").key(k), ssv, false, errs);
    }
    if let Some(items) = &s.items {
        openapi_schema(items, &p.child("items"), ssv, false, errs);
    }
    if let Some(arr) = &s.items_array {
        for (i, it) in arr.iter().enumerate() {
            openapi_schema(it, &p.child("items").index(i), ssv, false, errs);
        }
    }
}

/// The checks of `x-kubernetes-map-type`: an object's, `atomic` or `granular`.
fn map_type(s: &Schema, mt: &str, p: &FPath, errs: &mut Vec<FieldError>) {
    if s.type_ != "object" {
        wrong_type(
            s,
            p,
            "must be object if x-kubernetes-map-type is specified",
            errs,
        );
    }
    if mt != "atomic" && mt != "granular" {
        errs.push(errors::not_supported(
            p.child("x-kubernetes-map-type").str(),
            Value::String(mt.to_string()),
            &["atomic".to_string(), "granular".to_string()],
        ));
    }
}

/// The checks of `x-kubernetes-list-type`: an array's, with atomic items
/// for `set`, one of `atomic`, `set` or `map`.
fn list_type(s: &Schema, lt: &str, p: &FPath, errs: &mut Vec<FieldError>) {
    if s.type_ != "array" {
        wrong_type(
            s,
            p,
            "must be array if x-kubernetes-list-type is specified",
            errs,
        );
    } else if lt == "set"
        && let Some(is) = &s.items
    {
        match is.type_.as_str() {
            "array" if is.x_list_type.as_deref().is_some_and(|t| t != "atomic") => {
                errs.push(errors::invalid(
                    p.child("items").child("x-kubernetes-list-type").str(),
                    opt_str(&is.x_list_type),
                    "must be atomic as item of a list with x-kubernetes-list-type=set",
                ));
            }
            "object" if is.x_map_type.as_deref() != Some("atomic") => {
                // Kubernetes reports the items' list type here, not the map type.
                errs.push(errors::invalid(
                    p.child("items").child("x-kubernetes-map-type").str(),
                    opt_str(&is.x_list_type),
                    "must be atomic as item of a list with x-kubernetes-list-type=set",
                ));
            }
            _ => {}
        }
    }
    if lt != "atomic" && lt != "set" && lt != "map" {
        errs.push(errors::not_supported(
            p.child("x-kubernetes-list-type").str(),
            Value::String(lt.to_string()),
            &["atomic".to_string(), "set".to_string(), "map".to_string()],
        ));
    }
}

/// The checks of `x-kubernetes-list-type: map`: keys are given and items
/// are objects holding the keys.
fn list_type_map(s: &Schema, p: &FPath, errs: &mut Vec<FieldError>) {
    if s.x_list_map_keys.is_empty() {
        errs.push(errors::required(
            p.child("x-kubernetes-list-map-keys").str(),
            "must not be empty if x-kubernetes-list-type is map",
        ));
    }
    if s.items.is_none() && s.items_array.is_none() {
        errs.push(errors::required(
            p.child("items").str(),
            "must have a schema if x-kubernetes-list-type is map",
        ));
    }
    let Some(is) = &s.items else {
        return;
    };
    if is.type_ != "object" {
        errs.push(errors::invalid(
            p.child("items").child("type").str(),
            Value::String(is.type_.clone()),
            "must be object if parent array's x-kubernetes-list-type is map",
        ));
        return;
    }
    list_map_keys_in_items(s, is, p, errs);
}

/// For `x-kubernetes-list-type: map` with object items: each list-map key
/// names a scalar item property and is listed once.
fn list_map_keys_in_items(s: &Schema, is: &Schema, p: &FPath, errs: &mut Vec<FieldError>) {
    let keys_value = Value::Array(
        s.x_list_map_keys
            .iter()
            .map(|k| Value::String(k.clone()))
            .collect(),
    );
    let mut seen: Vec<&str> = Vec::new();
    for k in &s.x_list_map_keys {
        match is.properties.get(k) {
            Some(ks) if ks.type_ == "array" || ks.type_ == "object" => {
                errs.push(errors::invalid(
                    p.child("items")
                        .child("properties")
                        .key(k)
                        .child("type")
                        .str(),
                    Value::String(is.type_.clone()),
                    "must be a scalar type if parent array's x-kubernetes-list-type is map",
                ));
            }
            Some(_) => {}
            None => errs.push(errors::invalid(
                p.child("x-kubernetes-list-map-keys").str(),
                keys_value.clone(),
                "entries must all be names of item properties",
            )),
        }
        if seen.contains(&k.as_str()) {
            errs.push(errors::invalid(
                p.child("x-kubernetes-list-map-keys").str(),
                keys_value.clone(),
                "must not contain duplicate entries",
            ));
        }
        seen.push(k);
    }
}

/// `validateMapListKeysMapSet`.
fn map_list_keys_map_set(s: &Schema, p: &FPath, errs: &mut Vec<FieldError>) {
    let (Some(is), Some(lt)) = (&s.items, &s.x_list_type) else {
        return;
    };
    if lt != "set" && lt != "map" {
        return;
    }
    if is.nullable {
        errs.push(errors::forbidden(
            p.child("items.nullable").str(),
            format!("cannot be nullable when x-kubernetes-list-type is {lt}"),
        ));
    }
    if lt == "map" {
        for k in &s.x_list_map_keys {
            let Some(obj) = is.properties.get(k) else {
                continue;
            };
            if !is.required.contains(k) && obj.default.is_none() {
                errs.push(errors::required(
                    p.child(&format!("items.properties.{k}.default")).str(),
                    "this property is in x-kubernetes-list-map-keys, so it must have a default or be a required property",
                ));
            }
            if obj.nullable {
                errs.push(errors::forbidden(
                    p.child(&format!("items.properties.{k}.nullable")).str(),
                    "this property is in x-kubernetes-list-map-keys, so it cannot be nullable",
                ));
            }
        }
    }
}

/// The static (non-CEL) checks of `x-kubernetes-validations` rules.
fn x_validations(s: &Schema, p: &FPath, errs: &mut Vec<FieldError>) {
    for (i, rule) in s.x_validations.iter().enumerate() {
        let rp = p.child("x-kubernetes-validations").index(i);
        x_validation_rule(rule, &rp, errs);
    }
}

/// The static checks of one `x-kubernetes-validations` rule at `rp`.
fn x_validation_rule(rule: &Value, rp: &FPath, errs: &mut Vec<FieldError>) {
    const REASONS: [&str; 4] = [
        "FieldValueDuplicate",
        "FieldValueForbidden",
        "FieldValueInvalid",
        "FieldValueRequired",
    ];
    let get = |k: &str| rule.get(k).and_then(Value::as_str).unwrap_or("");
    let (r, msg, msg_expr, fpath) = (
        get("rule"),
        get("message"),
        get("messageExpression"),
        get("fieldPath"),
    );
    rule_and_message(r, msg, rp, errs);
    if !msg_expr.is_empty() && msg_expr.trim().is_empty() {
        errs.push(errors::required(
            rp.child("messageExpression").str(),
            "messageExpression must be non-empty if specified",
        ));
    }
    if let Some(reason) = rule.get("reason").and_then(Value::as_str)
        && !REASONS.contains(&reason)
    {
        let valid: Vec<String> = REASONS.iter().map(|r| r.to_string()).collect();
        errs.push(errors::not_supported(
            rp.child("reason").str(),
            Value::String(reason.to_string()),
            &valid,
        ));
    }
    if !fpath.is_empty() && fpath.trim().is_empty() {
        errs.push(errors::invalid(
            rp.child("fieldPath").str(),
            Value::String(fpath.to_string()),
            "fieldPath must be non-empty if specified",
        ));
    }
    if has_newlines(fpath) {
        errs.push(errors::invalid(
            rp.child("fieldPath").str(),
            Value::String(fpath.to_string()),
            "fieldPath must not contain line breaks",
        ));
    }
}

/// Whether `t` contains a line break.
fn has_newlines(t: &str) -> bool {
    t.contains('\n') || t.contains('\r')
}

/// The first failing check of a rule's `rule` and `message` (at most one
/// error, as in Kubernetes).
fn rule_and_message(r: &str, msg: &str, rp: &FPath, errs: &mut Vec<FieldError>) {
    if r.trim().is_empty() {
        errs.push(errors::required(
            rp.child("rule").str(),
            "rule is not specified",
        ));
    } else if !msg.is_empty() && msg.trim().is_empty() {
        errs.push(errors::invalid(
            rp.child("message").str(),
            Value::String(msg.to_string()),
            "message must be non-empty if specified",
        ));
    } else if has_newlines(msg.trim()) {
        errs.push(errors::invalid(
            rp.child("message").str(),
            Value::String(msg.to_string()),
            "message must not contain line breaks",
        ));
    } else if has_newlines(r.trim()) && msg.trim().is_empty() {
        errs.push(errors::required(
            rp.child("message").str(),
            "message must be specified if rule contains line breaks",
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn run(schema: Value) -> Vec<String> {
        check(&schema, "spec.validation.openAPIV3Schema")
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    #[test]
    fn missing_types() {
        assert_eq!(
            run(json!({"type": "object", "properties": {"spec": {"properties": {"a": {}}}}})),
            vec![
                "spec.validation.openAPIV3Schema.properties[spec].properties[a].type: Required value: must not be empty for specified object fields",
                "spec.validation.openAPIV3Schema.properties[spec].type: Required value: must not be empty for specified object fields",
            ]
        );
        assert_eq!(
            run(json!({"properties": {"l": {"type": "array"}}})),
            vec![
                "spec.validation.openAPIV3Schema.properties[l].items: Required value: must be specified",
                "spec.validation.openAPIV3Schema.type: Required value: must not be empty at the root",
            ]
        );
        assert_eq!(
            run(json!({"type": "object", "properties": {"l": {"type": "array", "items": {}}}})),
            vec![
                "spec.validation.openAPIV3Schema.properties[l].items.type: Required value: must not be empty for specified array items"
            ]
        );
        assert!(run(json!({"type": "object", "properties": {
            "p": {"x-kubernetes-int-or-string": true, "anyOf": [{"type": "integer"}, {"type": "string"}]},
            "f": {"x-kubernetes-preserve-unknown-fields": true}
        }})).is_empty());
    }

    #[test]
    fn metadata_restrictions() {
        assert!(
            run(
                json!({"type": "object", "properties": {"metadata": {"type": "object",
            "properties": {"name": {"type": "string", "maxLength": 10}}}}})
            )
            .is_empty()
        );
        assert_eq!(
            run(
                json!({"type": "object", "properties": {"metadata": {"type": "object",
                "properties": {"labels": {"type": "object"}}}}})
            ),
            vec![
                "spec.validation.openAPIV3Schema.properties[metadata]: Forbidden: must not specify anything other than name and generateName, but metadata is implicitly specified"
            ]
        );
        assert_eq!(
            run(json!({"type": "object", "properties": {"metadata": {"type": "string"}}})),
            vec![
                "spec.validation.openAPIV3Schema.properties[metadata].type: Invalid value: \"string\": must be object"
            ]
        );
        assert_eq!(
            run(
                json!({"type": "object", "properties": {"metadata": {"type": "object", "default": {"name": "x"}}}})
            ),
            vec![
                "spec.validation.openAPIV3Schema.properties[metadata].default: Forbidden: must not be set in top-level metadata"
            ]
        );
    }

    #[test]
    fn openapi_keywords() {
        assert_eq!(
            run(json!({"type": "object", "properties": {"a": {"$ref": "#/x"}}})),
            vec![
                "spec.validation.openAPIV3Schema.properties[a].type: Required value: must not be empty for specified object fields",
                "spec.validation.openAPIV3Schema.properties[a].$ref: Forbidden: $ref is not supported",
            ]
        );
        assert_eq!(
            run(
                json!({"type": "object", "properties": {"a": {"type": "object", "properties": {"x": {"type": "string"}},
                "additionalProperties": {"type": "string"}}}})
            ),
            vec![
                "spec.validation.openAPIV3Schema.properties[a].additionalProperties: Forbidden: additionalProperties and properties are mutual exclusive"
            ]
        );
        assert_eq!(
            run(
                json!({"type": "object", "properties": {"a": {"type": "array", "uniqueItems": true, "items": {"type": "string"}}}})
            ),
            vec![
                "spec.validation.openAPIV3Schema.properties[a].uniqueItems: Forbidden: uniqueItems cannot be set to true since the runtime complexity becomes quadratic"
            ]
        );
        assert_eq!(
            run(json!({"type": "object", "properties": {"a": {"type": "strin"}}})),
            vec![
                "spec.validation.openAPIV3Schema.properties[a].type: Unsupported value: \"strin\": supported values: \"array\", \"boolean\", \"integer\", \"number\", \"object\", \"string\""
            ]
        );
        assert_eq!(
            run(json!({"type": "object", "nullable": true})),
            vec![
                "spec.validation.openAPIV3Schema.nullable: Forbidden: nullable cannot be true at the root"
            ]
        );
        assert_eq!(
            run(
                json!({"type": "object", "properties": {"a": {"type": "string", "pattern": "(x"}}})
            ),
            vec![
                "spec.validation.openAPIV3Schema.properties[a].pattern: Invalid value: \"(x\": must be a valid regular expression, but isn't: error parsing regexp: missing closing ): `(x`"
            ]
        );
    }

    #[test]
    fn value_validations_must_be_structural() {
        assert_eq!(
            run(
                json!({"type": "object", "properties": {"a": {"type": "string", "anyOf": [{"type": "string", "description": "d"}, {"properties": {"b": {"type": "string"}}}]}}})
            ),
            vec![
                "spec.validation.openAPIV3Schema.properties[a].anyOf[0].description: Forbidden: must be empty to be structural",
                "spec.validation.openAPIV3Schema.properties[a].anyOf[0].type: Forbidden: must be empty to be structural",
                "spec.validation.openAPIV3Schema.properties[a].anyOf[1].properties[b].type: Forbidden: must be empty to be structural",
            ]
        );
        assert_eq!(
            run(
                json!({"type": "object", "properties": {"a": {"type": "string"}},
                "allOf": [{"properties": {"b": {"items": {"maxLength": 1}}}}]})
            ),
            vec![
                "spec.validation.openAPIV3Schema.properties[b]: Required value: because it is defined in spec.validation.openAPIV3Schema.allOf[0].properties[b]",
            ]
        );
    }

    #[test]
    fn list_types() {
        assert_eq!(
            run(
                json!({"type": "object", "properties": {"c": {"type": "array", "x-kubernetes-list-type": "map",
                "items": {"type": "object", "properties": {"name": {"type": "string"}}}}}})
            ),
            vec![
                "spec.validation.openAPIV3Schema.properties[c].x-kubernetes-list-map-keys: Required value: must not be empty if x-kubernetes-list-type is map"
            ]
        );
        assert_eq!(
            run(
                json!({"type": "object", "properties": {"c": {"type": "array", "x-kubernetes-list-type": "map",
                "x-kubernetes-list-map-keys": ["name"],
                "items": {"type": "object", "properties": {"name": {"type": "string"}}}}}})
            ),
            vec![
                "spec.validation.openAPIV3Schema.properties[c].items.properties.name.default: Required value: this property is in x-kubernetes-list-map-keys, so it must have a default or be a required property"
            ]
        );
        assert_eq!(
            run(
                json!({"type": "object", "properties": {"c": {"type": "array", "x-kubernetes-list-type": "sorted",
                "items": {"type": "string"}}}})
            ),
            vec![
                "spec.validation.openAPIV3Schema.properties[c].x-kubernetes-list-type: Unsupported value: \"sorted\": supported values: \"atomic\", \"set\", \"map\""
            ]
        );
        assert_eq!(
            run(
                json!({"type": "object", "properties": {"c": {"type": "array", "x-kubernetes-list-type": "set",
                "items": {"type": "object"}}}})
            ),
            vec![
                "spec.validation.openAPIV3Schema.properties[c].items.x-kubernetes-map-type: Invalid value: null: must be atomic as item of a list with x-kubernetes-list-type=set"
            ]
        );
    }

    #[test]
    fn defaults_must_validate_and_be_pruned() {
        assert_eq!(
            run(
                json!({"type": "object", "properties": {"spec": {"type": "object", "properties": {
                    "port": {"type": "integer", "minimum": 1.0, "default": 0},
                    "name": {"type": "string", "default": 5},
                    "o": {"type": "object", "properties": {"a": {"type": "string"}}, "default": {"a": "x", "b": "y"}}
                }}}})
            ),
            vec![
                "spec.validation.openAPIV3Schema.properties[spec].properties[name].default: Invalid value: \"integer\":  in body must be of type string: \"integer\"",
                "spec.validation.openAPIV3Schema.properties[spec].properties[o].default: Invalid value: map[string]interface {}{\"a\":\"x\", \"b\":\"y\"}: must not have unknown fields",
                "spec.validation.openAPIV3Schema.properties[spec].properties[port].default: Invalid value: 0:  in body should be greater than or equal to 1",
            ]
        );
    }

    #[test]
    fn x_validations_static_checks() {
        assert_eq!(
            run(
                json!({"type": "object", "x-kubernetes-validations": [{"rule": " "}, {"rule": "a\nb"}, {"rule": "x", "reason": "Nope"}]})
            ),
            vec![
                "spec.validation.openAPIV3Schema.x-kubernetes-validations[0].rule: Required value: rule is not specified",
                "spec.validation.openAPIV3Schema.x-kubernetes-validations[1].message: Required value: message must be specified if rule contains line breaks",
                "spec.validation.openAPIV3Schema.x-kubernetes-validations[2].reason: Unsupported value: \"Nope\": supported values: \"FieldValueDuplicate\", \"FieldValueForbidden\", \"FieldValueInvalid\", \"FieldValueRequired\"",
            ]
        );
    }
}
