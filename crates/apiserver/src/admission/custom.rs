//! Admission of custom resources, in kube-apiserver's order: prune unknown
//! fields, apply schema defaults, validate against the OpenAPI schema, then
//! evaluate the CEL `x-kubernetes-validations` (with `oldSelf` on updates).

use kube::core::cel::Validator;
use serde_json::Value;

use super::FieldError;
use crate::error::ApiResult;
use crate::resources::CustomVersion;
use operatorkit_structural as schema;

/// Admits a custom resource against its version's schema.
pub(crate) fn admit(
    version: &CustomVersion,
    obj: &mut Value,
    old: Option<&Value>,
    errors: &mut Vec<FieldError>,
) -> ApiResult<()> {
    let Some(s) = &version.schema else {
        return Ok(());
    };
    // Unknown fields were dropped and reported by strict decoding
    // (rest::strict) before admission; this prune only drops non-nullable
    // nulls and anything a server-side merge brought back.
    schema::prune(s, obj);
    schema::default(s, obj);
    let schema_errors = schema::validate(s, obj);
    // Some schema errors stop CEL from running, as in kube-apiserver.
    let blocking = schema::cel_blocking_error(&schema_errors);
    errors.extend(schema_errors.iter().map(|e| FieldError {
        field: e.field.clone(),
        reason: e.kind.reason(),
        message: e.body(),
    }));
    if let Some(b) = blocking {
        errors.push(FieldError {
            field: b.field.clone(),
            reason: b.kind.reason(),
            message: b.body(),
        });
        return Ok(());
    }
    if let Some(cel) = &version.compiled.cel
        && let Err(failures) = Validator::new().validate_compiled(cel, obj, old)
    {
        for f in failures.iter() {
            let ty = type_at(s, &f.field_path).unwrap_or("object");
            let reason = match f.reason.as_deref() {
                Some("FieldValueForbidden") => "FieldValueForbidden",
                Some("FieldValueRequired") => "FieldValueRequired",
                Some("FieldValueDuplicate") => "FieldValueDuplicate",
                _ => "FieldValueInvalid",
            };
            errors.push(FieldError {
                field: f.field_path.clone(),
                reason,
                message: format!("Invalid value: {ty:?}: {}", f.message),
            });
        }
    }
    Ok(())
}

/// The schema `type` at a field path like `spec.masters[0].memory`.
fn type_at<'a>(schema: &'a Value, path: &str) -> Option<&'a str> {
    let mut node = schema;
    for part in path.split('.').filter(|p| !p.is_empty()) {
        let (name, indexes) = match part.find('[') {
            Some(i) => (&part[..i], part[i..].matches('[').count()),
            None => (part, 0),
        };
        if !name.is_empty() {
            node = node
                .get("properties")
                .and_then(|p| p.get(name))
                .or_else(|| node.get("additionalProperties").filter(|a| a.is_object()))?;
        }
        for _ in 0..indexes {
            node = node
                .get("items")
                .or_else(|| node.get("additionalProperties").filter(|a| a.is_object()))?;
        }
    }
    node.get("type").and_then(Value::as_str)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn finds_the_schema_type_of_a_path() {
        let s = json!({"type": "object", "properties": {"spec": {"type": "object", "properties": {
            "masters": {"type": "array", "items": {"type": "object", "properties": {"memory": {"type": "string"}}}}}}}});
        assert_eq!(type_at(&s, "spec"), Some("object"));
        assert_eq!(type_at(&s, "spec.masters"), Some("array"));
        assert_eq!(type_at(&s, "spec.masters[0].memory"), Some("string"));
        assert_eq!(type_at(&s, "spec.nothing"), None);
    }
}
