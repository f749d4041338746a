//! Validation of embedded resources (`x-kubernetes-embedded-resource`).
//!
//! This module owns the port of apiextensions' `objectmeta.Validate` for
//! nested embedded resources: `apiVersion` and `kind` must be present,
//! non-empty strings, `apiVersion` must parse as a group/version and the
//! lower-cased `kind` must be a DNS-1035 label. (The embedded `metadata`
//! is not validated here; see the crate report.)

use serde_json::{Map, Value};

use super::errors::{self, FieldError};
use super::model::{MAX_DEPTH, Schema};
use super::path::FPath;

/// `objectmeta.Validate(nil, obj, schema, false)` for a custom resource.
pub(crate) fn validate(s: &Schema, obj: &Value) -> Vec<FieldError> {
    let mut errs = Vec::new();
    walk(&FPath::nil(), obj, Some(s), 0, &mut errs);
    errs
}

/// Validates embedded resources below `p` (used for defaults too).
pub(crate) fn validate_at(p: &FPath, obj: &Value, s: &Schema, errs: &mut Vec<FieldError>) {
    walk(p, obj, Some(s), 0, errs);
}

fn walk(p: &FPath, x: &Value, s: Option<&Schema>, depth: usize, errs: &mut Vec<FieldError>) {
    let Some(s) = s else { return };
    if depth > MAX_DEPTH {
        errs.push(errors::depth_exceeded(p.str()));
        return;
    }
    match x {
        Value::Object(m) => {
            if s.x_embedded_resource {
                validate_embedded_resource(p, m, errs);
            }
            for (k, v) in m {
                if let Some(prop) = s.properties.get(k) {
                    walk(&p.child(k), v, Some(prop), depth + 1, errs);
                } else if let Some(ap) = &s.additional_properties {
                    walk(&p.key(k), v, ap.schema(), depth + 1, errs);
                }
            }
        }
        Value::Array(a) => {
            for (i, v) in a.iter().enumerate() {
                walk(&p.index(i), v, s.items.as_deref(), depth + 1, errs);
            }
        }
        _ => {}
    }
}

const DNS1035_MSG: &str = "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')";

/// `validation.IsDNS1035Label`.
fn dns1035_errors(v: &str) -> Vec<String> {
    let mut out = Vec::new();
    if v.len() > 63 {
        out.push("must be no more than 63 characters".to_string());
    }
    let b = v.as_bytes();
    let ok = !b.is_empty()
        && b[0].is_ascii_lowercase()
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        && b[b.len() - 1] != b'-';
    if !ok {
        out.push(DNS1035_MSG.to_string());
    }
    out
}

fn validate_embedded_resource(p: &FPath, x: &Map<String, Value>, errs: &mut Vec<FieldError>) {
    if !x.contains_key("apiVersion") {
        errs.push(errors::required(p.child("apiVersion").str(), ""));
    }
    if !x.contains_key("kind") {
        errs.push(errors::required(p.child("kind").str(), ""));
    }
    if let Some(v) = x.get("apiVersion") {
        match v {
            Value::String(av) if av.is_empty() => {
                errs.push(errors::required(p.child("apiVersion").str(), ""));
            }
            Value::String(av) => {
                if av != "/" && av.matches('/').count() > 1 {
                    errs.push(errors::invalid(
                        p.child("apiVersion").str(),
                        v.clone(),
                        format!("unexpected GroupVersion string: {av}"),
                    ));
                }
            }
            other => errs.push(errors::invalid(
                p.child("apiVersion").str(),
                other.clone(),
                "must be a string",
            )),
        }
    }
    if let Some(v) = x.get("kind") {
        match v {
            Value::String(k) if k.is_empty() => {
                errs.push(errors::required(p.child("kind").str(), ""));
            }
            Value::String(k) => {
                let problems = dns1035_errors(&k.to_lowercase());
                if !problems.is_empty() {
                    errs.push(errors::invalid(
                        p.child("kind").str(),
                        v.clone(),
                        format!(
                            "may have mixed case, but should otherwise match: {}",
                            problems.join(",")
                        ),
                    ));
                }
            }
            other => errs.push(errors::invalid(
                p.child("kind").str(),
                other.clone(),
                "must be a string",
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn run(obj: Value) -> Vec<String> {
        let s = Schema::parse(&json!({"type": "object", "properties": {"spec": {"type": "object", "properties": {
            "template": {"type": "object", "x-kubernetes-embedded-resource": true, "x-kubernetes-preserve-unknown-fields": true},
            "list": {"type": "array", "items": {"type": "object", "x-kubernetes-embedded-resource": true, "x-kubernetes-preserve-unknown-fields": true}}
        }}}}))
        .unwrap();
        validate(&s, &obj).iter().map(ToString::to_string).collect()
    }

    #[test]
    fn embedded_type_meta() {
        assert!(run(json!({"spec": {"template": {"apiVersion": "v1", "kind": "Pod"}}})).is_empty());
        assert_eq!(
            run(json!({"spec": {"template": {}}})),
            vec![
                "spec.template.apiVersion: Required value",
                "spec.template.kind: Required value"
            ]
        );
        assert_eq!(
            run(json!({"spec": {"list": [{"apiVersion": "a/b/c", "kind": 5}]}})),
            vec![
                "spec.list[0].apiVersion: Invalid value: \"a/b/c\": unexpected GroupVersion string: a/b/c",
                "spec.list[0].kind: Invalid value: 5: must be a string",
            ]
        );
        assert_eq!(
            run(json!({"spec": {"template": {"apiVersion": "v1", "kind": "My_Kind"}}})),
            vec![format!(
                "spec.template.kind: Invalid value: \"My_Kind\": may have mixed case, but should otherwise match: {DNS1035_MSG}"
            )]
        );
    }
}
