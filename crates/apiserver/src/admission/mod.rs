//! Admission: what happens to an object between the request and the store.
//! Metadata validation for every kind; defaults and validation of built-in
//! kinds; pruning, defaulting, OpenAPI and CEL validation of custom resources;
//! allocation of values that need the store (Service cluster IPs, node ports).

mod builtin;
pub(crate) mod crd;
mod custom;
mod metadata;
mod policy;

pub(crate) use self::policy::SYSTEM_PRIORITY_CLASSES;

use serde_json::Value;

use crate::error::{ApiError, ApiResult, Cause};
use crate::meta;
use crate::resources::ResourceType;
use crate::store::State;

/// Which write is admitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Operation {
    /// A create.
    Create,
    /// An update (PUT, PATCH, apply, status).
    Update,
}

/// A field error before it becomes part of a 422.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct FieldError {
    /// The field, e.g. `metadata.name`.
    pub(crate) field: String,
    /// Status cause reason, e.g. `FieldValueInvalid`.
    pub(crate) reason: &'static str,
    /// The message after the field, e.g. `Required value`.
    pub(crate) message: String,
}

impl FieldError {
    /// `Required value`.
    pub(crate) fn required(field: impl Into<String>, detail: &str) -> Self {
        let message = if detail.is_empty() {
            "Required value".to_owned()
        } else {
            format!("Required value: {detail}")
        };
        Self {
            field: field.into(),
            reason: "FieldValueRequired",
            message,
        }
    }

    /// `Invalid value: <value>: <detail>`.
    pub(crate) fn invalid(field: impl Into<String>, value: &Value, detail: &str) -> Self {
        Self {
            field: field.into(),
            reason: "FieldValueInvalid",
            message: format!("Invalid value: {}: {detail}", go_value(value)),
        }
    }

    /// `Forbidden: <detail>`.
    pub(crate) fn forbidden(field: impl Into<String>, detail: &str) -> Self {
        Self {
            field: field.into(),
            reason: "FieldValueForbidden",
            message: format!("Forbidden: {detail}"),
        }
    }

    /// `Unsupported value: <value>: supported values: ...`.
    pub(crate) fn not_supported(
        field: impl Into<String>,
        value: &Value,
        supported: &[&str],
    ) -> Self {
        let list = supported
            .iter()
            .map(|s| operatorkit_gofmt::quote(s))
            .collect::<Vec<_>>()
            .join(", ");
        Self {
            field: field.into(),
            reason: "FieldValueNotSupported",
            message: format!(
                "Unsupported value: {}: supported values: {list}",
                go_value(value)
            ),
        }
    }

    /// `Duplicate value: <value>`.
    pub(crate) fn duplicate(field: impl Into<String>, value: &Value) -> Self {
        Self {
            field: field.into(),
            reason: "FieldValueDuplicate",
            message: format!("Duplicate value: {}", go_value(value)),
        }
    }
}

/// A value printed as Kubernetes prints it in field errors (strings quoted).
pub(crate) fn go_value(v: &Value) -> String {
    match v {
        Value::String(s) => operatorkit_gofmt::quote(s),
        Value::Null => "null".to_owned(),
        Value::Object(_) => "\"object\"".to_owned(),
        Value::Array(_) => "\"array\"".to_owned(),
        other => other.to_string(),
    }
}

/// Turns field errors into a 422 Invalid for `obj`.
pub(crate) fn into_invalid(rt: &ResourceType, obj: &Value, errors: Vec<FieldError>) -> ApiError {
    ApiError::invalid(
        &rt.kind,
        &rt.group,
        meta::name(obj).unwrap_or_default(),
        errors
            .into_iter()
            .map(|e| Cause {
                reason: e.reason.to_owned(),
                message: e.message,
                field: e.field,
            })
            .collect(),
    )
}

/// Admits `obj` (mutating it with defaults). Unknown fields were dropped and
/// reported before (strict decoding, in the REST layer).
pub(crate) fn admit(
    rt: &ResourceType,
    obj: &mut Value,
    old: Option<&Value>,
    op: Operation,
) -> ApiResult<()> {
    let mut errors = Vec::new();
    if let Some(c) = &rt.custom {
        custom::admit(c, obj, old, &mut errors)?;
    }
    if let Some(b) = rt.builtin {
        builtin::default(b, obj, old, op);
        builtin::validate(b, obj, old, &mut errors);
    }
    metadata::validate(rt, obj, &mut errors);
    if errors.is_empty() {
        Ok(())
    } else {
        Err(into_invalid(rt, obj, errors))
    }
}

/// Fills values that need the store (cluster IPs, node ports) into a new object.
pub(crate) fn allocate(rt: &ResourceType, state: &State, obj: Value) -> ApiResult<Value> {
    match rt.builtin {
        Some(b) => builtin::allocate(b, state, obj),
        None => Ok(obj),
    }
}
