//! Validation of `metadata` common to every kind: names, labels, annotations,
//! finalizers and owner references. Name, key and value rules are the ports in
//! [`operatorkit_query::labels`], with Kubernetes' messages.

use serde_json::{Map, Value};

use super::FieldError;
use crate::resources::{Builtin, ResourceType};
use operatorkit_query::labels;

/// RFC 1123 DNS label (namespace names).
pub(crate) fn is_dns_label(s: &str) -> bool {
    s.len() <= 63 && labels::is_dns1123_label(s)
}

/// RFC 1035 DNS label (Service names: must start with a letter).
pub(crate) fn is_dns1035_label(s: &str) -> bool {
    is_dns_label(s) && s.starts_with(|c: char| c.is_ascii_lowercase())
}

/// Why `name` is not a valid name for an object of `rt` (empty: it is).
fn name_problems(rt: &ResourceType, name: &str) -> Vec<String> {
    let bad = |ok: bool, why: &str| if ok { Vec::new() } else { vec![why.to_owned()] };
    match rt.builtin {
        Some(Builtin::Namespace) => bad(
            is_dns_label(name),
            "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')",
        ),
        Some(Builtin::Service) => bad(
            is_dns1035_label(name),
            "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')",
        ),
        // Path segment names.
        Some(
            Builtin::CoreEvent
            | Builtin::Event
            | Builtin::Role
            | Builtin::ClusterRole
            | Builtin::RoleBinding
            | Builtin::ClusterRoleBinding,
        ) => bad(
            !name.contains('/') && !name.contains('%') && name != "." && name != "..",
            "may not contain '/' or '%'",
        ),
        _ => labels::validate_dns1123_subdomain(name),
    }
}

/// One `Invalid value` error per problem Kubernetes reports for `value`.
fn invalid_each(errors: &mut Vec<FieldError>, field: &str, value: &Value, problems: Vec<String>) {
    errors.extend(
        problems
            .iter()
            .map(|p| FieldError::invalid(field, value, p)),
    );
}

/// Validates `metadata` of `obj` as an object of `rt`.
pub(crate) fn validate(rt: &ResourceType, obj: &Value, errors: &mut Vec<FieldError>) {
    let Some(meta) = crate::meta::metadata(obj) else {
        errors.push(FieldError::required("metadata", ""));
        return;
    };
    let name = meta.get("name").and_then(Value::as_str).unwrap_or_default();
    if name.is_empty() {
        errors.push(FieldError::required(
            "metadata.name",
            "name or generateName is required",
        ));
    } else {
        invalid_each(
            errors,
            "metadata.name",
            &Value::String(name.to_owned()),
            name_problems(rt, name),
        );
    }
    if let Some(map) = meta.get("labels").and_then(Value::as_object) {
        validate_labels(map, errors);
    }
    if let Some(ann) = meta.get("annotations").and_then(Value::as_object) {
        validate_annotations(ann, errors);
    }
    if let Some(fs) = meta.get("finalizers").and_then(Value::as_array) {
        for (i, f) in fs.iter().enumerate() {
            let problems = labels::validate_qualified_name(f.as_str().unwrap_or_default());
            invalid_each(errors, &format!("metadata.finalizers[{i}]"), f, problems);
        }
    }
    if let Some(refs) = meta.get("ownerReferences").and_then(Value::as_array) {
        validate_owner_references(refs, errors);
    }
}

/// Label keys are qualified names; values are strings of label syntax.
fn validate_labels(map: &Map<String, Value>, errors: &mut Vec<FieldError>) {
    for (k, v) in map {
        invalid_each(
            errors,
            "metadata.labels",
            &Value::String(k.clone()),
            labels::validate_qualified_name(k),
        );
        match v.as_str() {
            Some(s) => invalid_each(
                errors,
                "metadata.labels",
                v,
                labels::validate_label_value(s),
            ),
            None => errors.push(FieldError::invalid(
                "metadata.labels",
                v,
                "label values must be strings",
            )),
        }
    }
}

/// Annotation keys are qualified names (any case); keys and values hold at
/// most 256 KiB together.
fn validate_annotations(ann: &Map<String, Value>, errors: &mut Vec<FieldError>) {
    let mut total = 0usize;
    for (k, v) in ann {
        let problems = labels::validate_qualified_name(&k.to_ascii_lowercase());
        invalid_each(
            errors,
            "metadata.annotations",
            &Value::String(k.clone()),
            problems,
        );
        total += k.len() + v.as_str().map_or(0, str::len);
    }
    if total > 256 * 1024 {
        errors.push(FieldError {
            field: "metadata.annotations".into(),
            reason: "FieldValueTooLong",
            message: "Too long: may not be more than 262144 bytes".into(),
        });
    }
}

/// Each owner reference names its owner fully; at most one is the
/// controller.
fn validate_owner_references(refs: &[Value], errors: &mut Vec<FieldError>) {
    let mut controllers = 0;
    for (i, r) in refs.iter().enumerate() {
        for field in ["apiVersion", "kind", "name", "uid"] {
            if r.get(field)
                .and_then(Value::as_str)
                .is_none_or(str::is_empty)
            {
                errors.push(FieldError::invalid(
                    format!("metadata.ownerReferences[{i}].{field}"),
                    &Value::String(String::new()),
                    &format!("{field} must not be empty"),
                ));
            }
        }
        if r.get("controller").and_then(Value::as_bool) == Some(true) {
            controllers += 1;
        }
    }
    if controllers > 1 {
        errors.push(FieldError::invalid(
            "metadata.ownerReferences",
            &Value::Array(refs.to_vec()),
            "Only one reference can have Controller set to true",
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_rfc_1123() {
        let is_dns_subdomain = |s: &str| labels::validate_dns1123_subdomain(s).is_empty();
        assert!(is_dns_subdomain("a.b-c.d"));
        assert!(!is_dns_subdomain("A"));
        assert!(!is_dns_subdomain("a..b"));
        assert!(is_dns_label("abc-1"));
        assert!(!is_dns_label("a.b"));
        assert!(!is_dns1035_label("1abc"));
    }

    #[test]
    fn qualified_names_and_label_values() {
        let qualified_name_ok = |s: &str| labels::validate_qualified_name(s).is_empty();
        let label_value_ok = |s: &str| labels::validate_label_value(s).is_empty();
        assert!(qualified_name_ok("operatorkit.dev/cluster"));
        assert!(qualified_name_ok("app"));
        assert!(!qualified_name_ok("Bad_Prefix/x"));
        assert!(!qualified_name_ok("x/"));
        assert!(label_value_ok(""));
        assert!(label_value_ok("v1.2_3"));
        assert!(!label_value_ok("-x"));
    }
}
