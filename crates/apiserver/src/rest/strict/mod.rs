//! Strict decoding, as kube-apiserver's decoders and `fieldValidation` do it:
//! fields a body gives twice ([`scan`]) and fields the kind does not declare
//! ([`typed`] for built-in kinds and every object's metadata, the CRD's
//! structural schema for custom resources) are dropped, and then reported as
//! `Warning` headers (`Warn`, the default), refused with 400 (`Strict`), or
//! dropped silently (`Ignore`).
//!
//! The order of the reports is kube-apiserver's:
//! - create and update of a built-in kind: one pass over the body, so
//!   duplicates and unknown fields interleave in document order, and a field
//!   both unknown and duplicated is reported once, as unknown;
//! - create and update of a custom resource: the body's duplicates, then the
//!   pruned fields;
//! - merge and strategic merge patches: the patch's duplicates, then the
//!   unknown fields of the patched object (keys sorted, as it is re-encoded);
//! - JSON patches: `json patch unknown field "[0].foo"` and `json patch
//!   duplicate field "[1].path"` of the operations, then the patched object's;
//! - apply: an unknown field is not a strict decoding problem but the 500
//!   structured-merge-diff gives (`failed to create typed patch object (...):
//!   .spec.bogus: field not declared in schema`) under every mode; then
//!   duplicates as YAML reports them (`line 10: key "paused" already set in
//!   map`);
//! - create and update with a YAML body: the unknown fields, then one
//!   `error converting YAML to JSON: yaml: unmarshal errors:` listing the
//!   repeated keys by line (kube-apiserver's YAML serializer runs the strict
//!   YAML conversion after the JSON decoding).
//!
//! Create and update bodies also decode `[]byte` fields (Secret `data`,
//! ConfigMap `binaryData`) as Go does: bad base64 is a 400 naming the byte.

mod scan;
mod typed;
mod yaml;

use std::collections::HashSet;

use serde_json::Value;

use crate::error::{ApiError, ApiResult};
use crate::resources::{Builtin, ResourceType};
use crate::rest::options::FieldValidation;

/// Where an object came from, which decides what is checked and how it is said.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Origin<'a> {
    /// The body of a create or update, as sent (`None` when there is none,
    /// e.g. objects the server writes itself).
    Body(Option<&'a [u8]>),
    /// A merge or strategic merge patch.
    Patch(&'a [u8]),
    /// A JSON patch (RFC 6902).
    JsonPatch(&'a [u8]),
    /// A server-side apply configuration.
    Apply(&'a [u8]),
}

/// Drops what `obj` has that its kind does not declare; returns the warnings
/// to send, or the 400 that `Strict` (or undecodable bytes) gives.
pub(crate) fn check(
    rt: &ResourceType,
    obj: &mut Value,
    origin: Origin<'_>,
    mode: FieldValidation,
) -> ApiResult<Vec<String>> {
    if let Origin::Body(_) = origin {
        decode_bytes(rt, obj)?;
    }
    let unknown = prune(rt, obj);
    if matches!(origin, Origin::Apply(_)) && !unknown.is_empty() {
        return Err(crate::fieldmanager::untyped_apply_error(rt, obj, &unknown));
    }
    let problems = problems(rt, origin, &unknown);
    if problems.is_empty() {
        return Ok(Vec::new());
    }
    match mode {
        FieldValidation::Ignore => Ok(Vec::new()),
        FieldValidation::Warn => Ok(problems),
        FieldValidation::Strict => Err(strict_error(rt, origin, &problems)),
    }
}

/// Prunes `obj`; the unknown fields' paths.
fn prune(rt: &ResourceType, obj: &mut Value) -> Vec<String> {
    if let Some(b) = rt.builtin {
        return typed::prune(b, obj);
    }
    let mut unknown = typed::prune_metadata(obj);
    if let Some(schema) = rt.custom.as_ref().and_then(|c| c.schema.as_ref()) {
        unknown.extend(operatorkit_structural::prune(schema, obj));
    }
    unknown
}

/// The messages for `origin`, in kube-apiserver's order.
fn problems(rt: &ResourceType, origin: Origin<'_>, unknown: &[String]) -> Vec<String> {
    let unknown_messages = || {
        unknown
            .iter()
            .map(|p| scan::Problem::Unknown(p.clone()).message())
    };
    match origin {
        Origin::Body(Some(raw)) if !yaml::is_json(raw) => {
            let converting = yaml_converting_error(raw);
            unknown_messages().chain(converting).collect()
        }
        Origin::Body(Some(raw)) if rt.builtin.is_some() => typed_body_problems(raw, unknown),
        Origin::Body(raw) => {
            let dups = raw.map(duplicates).unwrap_or_default();
            dups.iter()
                .map(scan::Problem::message)
                .chain(unknown_messages())
                .collect()
        }
        Origin::Patch(raw) => duplicates(raw)
            .iter()
            .map(scan::Problem::message)
            .chain(unknown_messages())
            .collect(),
        Origin::JsonPatch(raw) => json_patch_problems(raw)
            .into_iter()
            .chain(unknown_messages())
            .collect(),
        Origin::Apply(raw) => duplicates(raw)
            .iter()
            .filter_map(yaml_duplicate)
            .chain(unknown_messages())
            .collect(),
    }
}

/// The fields a JSON or YAML body gives twice.
fn duplicates(raw: &[u8]) -> Vec<scan::Problem> {
    match yaml::is_json(raw) {
        true => scan::scan(raw, &HashSet::new()),
        false => yaml::duplicates(raw),
    }
}

/// The error kube-apiserver's YAML serializer adds after the JSON decoding
/// of a YAML body that repeats keys: one message listing them by line.
fn yaml_converting_error(raw: &[u8]) -> Option<String> {
    let lines: Vec<String> = yaml::duplicates(raw)
        .iter()
        .filter_map(yaml_duplicate)
        .collect();
    (!lines.is_empty()).then(|| {
        format!(
            "error converting YAML to JSON: yaml: unmarshal errors:\n  {}",
            lines.join("\n  ")
        )
    })
}

/// A built-in kind's JSON body's problems, from one pass in document order
/// (a field both unknown and duplicated once, as unknown); unknown fields the
/// pass did not meet come last.
fn typed_body_problems(raw: &[u8], unknown: &[String]) -> Vec<String> {
    let set: HashSet<String> = unknown.iter().cloned().collect();
    let found = scan::scan(raw, &set);
    let said: HashSet<&str> = found
        .iter()
        .filter_map(|p| match p {
            scan::Problem::Unknown(path) => Some(path.as_str()),
            _ => None,
        })
        .collect();
    let rest = unknown.iter().filter(|p| !said.contains(p.as_str()));
    let rest: Vec<String> = rest
        .map(|p| scan::Problem::Unknown(p.clone()).message())
        .collect();
    found
        .iter()
        .map(scan::Problem::message)
        .chain(rest)
        .collect()
}

/// A duplicate as the YAML decoder of apply bodies reports it.
fn yaml_duplicate(p: &scan::Problem) -> Option<String> {
    let scan::Problem::Duplicate { path, line } = p else {
        return None;
    };
    let key = path.rsplit('.').next().unwrap_or(path);
    Some(format!("line {line}: key \"{key}\" already set in map"))
}

/// The fields of JSON patch operations that are unknown or given twice.
fn json_patch_problems(raw: &[u8]) -> Vec<String> {
    let Ok(Value::Array(ops)) = serde_json::from_slice::<Value>(raw) else {
        return Vec::new();
    };
    let known = ["op", "path", "value", "from"];
    let unknown: HashSet<String> = ops
        .iter()
        .enumerate()
        .filter_map(|(i, op)| Some((i, op.as_object()?)))
        .flat_map(|(i, op)| {
            op.keys()
                .filter(|k| !known.contains(&k.as_str()))
                .map(move |k| format!("[{i}].{k}"))
        })
        .collect();
    scan::scan(raw, &unknown)
        .iter()
        .map(|p| format!("json patch {}", p.message()))
        .collect()
}

/// The 400 for `Strict`.
fn strict_error(rt: &ResourceType, origin: Origin<'_>, problems: &[String]) -> ApiError {
    let joined = problems.join(", ");
    let message = match origin {
        Origin::Body(_) => format!(
            "{kind} in version \"{version}\" cannot be handled as a {kind}: strict decoding error: {joined}",
            kind = rt.kind,
            version = rt.version
        ),
        Origin::Apply(_) if problems.iter().any(|p| p.starts_with("line ")) => {
            let (yaml, rest): (Vec<&String>, Vec<&String>) =
                problems.iter().partition(|p| p.starts_with("line "));
            let yaml: Vec<&str> = yaml.iter().map(|s| s.as_str()).collect();
            let mut m = format!(
                "error strict decoding YAML: error converting YAML to JSON: yaml: unmarshal errors:\n  {}",
                yaml.join("\n  ")
            );
            for r in rest {
                m.push_str(", ");
                m.push_str(r);
            }
            m
        }
        _ => format!("strict decoding error: {joined}"),
    };
    ApiError::bad_request(message)
}

/// Decodes the `[]byte` fields of a body as Go does, so bad base64 is the
/// 400 kube-apiserver's decoder gives, and good base64 is stored canonical.
fn decode_bytes(rt: &ResourceType, obj: &mut Value) -> ApiResult<()> {
    let field = match rt.builtin {
        Some(Builtin::Secret) => "data",
        Some(Builtin::ConfigMap) => "binaryData",
        _ => return Ok(()),
    };
    let Some(Value::Object(map)) = obj.get_mut(field) else {
        return Ok(());
    };
    for value in map.values_mut() {
        let Value::String(s) = value else { continue };
        match crate::gobase64::canonical(s) {
            Ok(canonical) => *s = canonical,
            Err(offset) => {
                return Err(ApiError::bad_request(format!(
                    "{kind} in version \"{version}\" cannot be handled as a {kind}: {}",
                    crate::gobase64::error_message(offset),
                    kind = rt.kind,
                    version = rt.version
                )));
            }
        }
    }
    Ok(())
}
