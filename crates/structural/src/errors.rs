//! Field errors in the shape of apimachinery's `field.Error`.
//!
//! This module owns [`FieldError`] and [`ErrorKind`] and the exact
//! rendering of `field.Error.Error()` / `ErrorBody()` as of Kubernetes 1.33
//! (`k8s.io/apimachinery/pkg/util/validation/field/errors.go`), plus the
//! constructors mirroring `field.Required`, `field.Invalid`,
//! `field.NotSupported`, `field.TooLong`, `field.TooMany`, ...

use std::fmt;

use serde_json::Value;

use operatorkit_gofmt as gofmt;
use operatorkit_gofmt::error_value;

/// The type of a field error (`field.ErrorType`), which is also the `reason`
/// of the corresponding Status cause.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// `FieldValueNotFound`
    NotFound,
    /// `FieldValueRequired`
    Required,
    /// `FieldValueDuplicate`
    Duplicate,
    /// `FieldValueInvalid`
    Invalid,
    /// `FieldValueNotSupported`
    NotSupported,
    /// `FieldValueForbidden`
    Forbidden,
    /// `FieldValueTooLong`
    TooLong,
    /// `FieldValueTooMany`
    TooMany,
    /// `InternalError`
    Internal,
    /// `FieldValueTypeInvalid`
    TypeInvalid,
}

impl ErrorKind {
    /// The Status cause `reason` (`field.ErrorType` string), e.g. `FieldValueRequired`.
    pub fn reason(&self) -> &'static str {
        match self {
            ErrorKind::NotFound => "FieldValueNotFound",
            ErrorKind::Required => "FieldValueRequired",
            ErrorKind::Duplicate => "FieldValueDuplicate",
            ErrorKind::Invalid => "FieldValueInvalid",
            ErrorKind::NotSupported => "FieldValueNotSupported",
            ErrorKind::Forbidden => "FieldValueForbidden",
            ErrorKind::TooLong => "FieldValueTooLong",
            ErrorKind::TooMany => "FieldValueTooMany",
            ErrorKind::Internal => "InternalError",
            ErrorKind::TypeInvalid => "FieldValueTypeInvalid",
        }
    }

    /// The human-readable label (`ErrorType.String()`), e.g. `Required value`.
    pub fn label(&self) -> &'static str {
        match self {
            ErrorKind::NotFound => "Not found",
            ErrorKind::Required => "Required value",
            ErrorKind::Duplicate => "Duplicate value",
            ErrorKind::Invalid => "Invalid value",
            ErrorKind::NotSupported => "Unsupported value",
            ErrorKind::Forbidden => "Forbidden",
            ErrorKind::TooLong => "Too long",
            ErrorKind::TooMany => "Too many",
            ErrorKind::Internal => "Internal error",
            ErrorKind::TypeInvalid => "Invalid value",
        }
    }
}

/// A field-level validation error (`field.Error`).
///
/// `Display` renders exactly `field.Error.Error()`: `<field>: <body>`, where
/// the body is the kind's label, then (except for Required, Forbidden,
/// TooLong and Internal) the bad value, then `: <detail>` if the detail is
/// not empty.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldError {
    /// The field path as Kubernetes prints it (`spec.masters[0].memory`,
    /// `spec.labels[foo]`, or `<nil>` for errors without a path).
    pub field: String,
    /// The error type.
    pub kind: ErrorKind,
    /// The offending value as Kubernetes holds it. `Some(Value::Null)` is a
    /// Go `nil` (printed `null`); `None` means the value is omitted from the
    /// message (apimachinery's `omitValue`) or not part of it for this kind.
    /// Strings print with `%q`, numbers and booleans with `%v`, objects and
    /// arrays with `%#v` (`map[string]interface {}{"k":"v"}`).
    pub bad_value: Option<Value>,
    /// The detail appended after the value.
    pub detail: String,
}

impl FieldError {
    /// `field.Error.ErrorBody()`: the message without the field path; this is
    /// the `message` of the Status cause.
    pub fn body(&self) -> String {
        let mut s = match self.kind {
            ErrorKind::Required
            | ErrorKind::Forbidden
            | ErrorKind::TooLong
            | ErrorKind::Internal => self.kind.label().to_string(),
            _ => match &self.bad_value {
                None => self.kind.label().to_string(),
                Some(v) => format!("{}: {}", self.kind.label(), error_value(v)),
            },
        };
        if !self.detail.is_empty() {
            s.push_str(": ");
            s.push_str(&self.detail);
        }
        s
    }

    /// The Status cause `reason` of this error.
    pub fn reason(&self) -> &'static str {
        self.kind.reason()
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.body())
    }
}

impl std::error::Error for FieldError {}

/// `field.Required(path, detail)`.
pub(crate) fn required(field: impl Into<String>, detail: impl Into<String>) -> FieldError {
    FieldError {
        field: field.into(),
        kind: ErrorKind::Required,
        bad_value: None,
        detail: detail.into(),
    }
}

/// `field.Invalid(path, value, detail)`.
pub(crate) fn invalid(
    field: impl Into<String>,
    value: Value,
    detail: impl Into<String>,
) -> FieldError {
    FieldError {
        field: field.into(),
        kind: ErrorKind::Invalid,
        bad_value: Some(value),
        detail: detail.into(),
    }
}

/// `field.TypeInvalid(path, value, detail)`.
pub(crate) fn type_invalid(
    field: impl Into<String>,
    value: Value,
    detail: impl Into<String>,
) -> FieldError {
    FieldError {
        field: field.into(),
        kind: ErrorKind::TypeInvalid,
        bad_value: Some(value),
        detail: detail.into(),
    }
}

/// `field.Forbidden(path, detail)`.
pub(crate) fn forbidden(field: impl Into<String>, detail: impl Into<String>) -> FieldError {
    FieldError {
        field: field.into(),
        kind: ErrorKind::Forbidden,
        bad_value: None,
        detail: detail.into(),
    }
}

/// `field.Duplicate(path, value)`.
pub(crate) fn duplicate(field: impl Into<String>, value: Value) -> FieldError {
    FieldError {
        field: field.into(),
        kind: ErrorKind::Duplicate,
        bad_value: Some(value),
        detail: String::new(),
    }
}

/// `field.NotSupported(path, value, validValues)`.
pub(crate) fn not_supported(
    field: impl Into<String>,
    value: Value,
    valid: &[String],
) -> FieldError {
    let detail = if valid.is_empty() {
        String::new()
    } else {
        let quoted: Vec<String> = valid.iter().map(|v| gofmt::quote(v)).collect();
        format!("supported values: {}", quoted.join(", "))
    };
    FieldError {
        field: field.into(),
        kind: ErrorKind::NotSupported,
        bad_value: Some(value),
        detail,
    }
}

/// `field.TooLong(path, value, maxLength)` (1.33: the value is never shown).
pub(crate) fn too_long(field: impl Into<String>, max: i64) -> FieldError {
    let detail = if max >= 0 {
        format!(
            "may not be more than {} {}",
            max,
            if max == 1 { "byte" } else { "bytes" }
        )
    } else {
        "value is too long".to_string()
    };
    FieldError {
        field: field.into(),
        kind: ErrorKind::TooLong,
        bad_value: None,
        detail,
    }
}

/// `field.TooMany(path, actualQuantity, maxQuantity)`.
pub(crate) fn too_many(field: impl Into<String>, actual: i64, max: i64) -> FieldError {
    let detail = if max >= 0 {
        format!(
            "must have at most {} {}",
            max,
            if max == 1 { "item" } else { "items" }
        )
    } else {
        "has too many items".to_string()
    };
    FieldError {
        field: field.into(),
        kind: ErrorKind::TooMany,
        bad_value: (actual >= 0).then(|| Value::from(actual)),
        detail,
    }
}

/// Reported (as Forbidden) where an object nests deeper than
/// [`super::MAX_DEPTH`]; Kubernetes has no equivalent.
pub(crate) fn depth_exceeded(field: impl Into<String>) -> FieldError {
    forbidden(
        field,
        format!(
            "nesting depth exceeds the maximum of {}",
            super::model::MAX_DEPTH
        ),
    )
}

/// Reported when the schema itself nests deeper than [`super::MAX_DEPTH`].
pub(crate) fn schema_too_deep(field: Option<&str>) -> FieldError {
    FieldError {
        field: field.unwrap_or("<nil>").to_string(),
        kind: ErrorKind::Internal,
        bad_value: None,
        detail: format!(
            "the schema nests deeper than the maximum of {}",
            super::model::MAX_DEPTH
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn renders_like_field_error() {
        assert_eq!(
            required("spec.commonName", "").to_string(),
            "spec.commonName: Required value"
        );
        assert_eq!(
            invalid(
                "spec.vni",
                json!(0),
                "spec.vni in body should be greater than or equal to 1"
            )
            .to_string(),
            "spec.vni: Invalid value: 0: spec.vni in body should be greater than or equal to 1"
        );
        assert_eq!(
            not_supported(
                "spec.protocolPorts[0].protocol",
                json!("SCTP"),
                &["TCP".to_string(), "UDP".to_string()]
            )
            .to_string(),
            "spec.protocolPorts[0].protocol: Unsupported value: \"SCTP\": supported values: \"TCP\", \"UDP\""
        );
        assert_eq!(
            too_long("spec.x", 5).to_string(),
            "spec.x: Too long: may not be more than 5 bytes"
        );
        assert_eq!(
            too_long("spec.x", 1).to_string(),
            "spec.x: Too long: may not be more than 1 byte"
        );
        assert_eq!(
            too_long("spec.x", -1).to_string(),
            "spec.x: Too long: value is too long"
        );
        assert_eq!(
            too_many("spec.x", 8, 7).to_string(),
            "spec.x: Too many: 8: must have at most 7 items"
        );
        assert_eq!(
            too_many("spec.x", 2, 1).to_string(),
            "spec.x: Too many: 2: must have at most 1 item"
        );
        assert_eq!(
            too_many("spec.x", -1, -1).to_string(),
            "spec.x: Too many: has too many items"
        );
        assert_eq!(
            duplicate("spec.c[1]", json!({"type": "Ready"})).to_string(),
            "spec.c[1]: Duplicate value: map[string]interface {}{\"type\":\"Ready\"}"
        );
        assert_eq!(
            forbidden("spec.x", "must not be set").to_string(),
            "spec.x: Forbidden: must not be set"
        );
        assert_eq!(
            invalid("<nil>", Value::Null, "d").to_string(),
            "<nil>: Invalid value: null: d"
        );
    }

    #[test]
    fn reasons() {
        assert_eq!(ErrorKind::Required.reason(), "FieldValueRequired");
        assert_eq!(ErrorKind::Invalid.reason(), "FieldValueInvalid");
        assert_eq!(ErrorKind::NotSupported.reason(), "FieldValueNotSupported");
        assert_eq!(ErrorKind::Duplicate.reason(), "FieldValueDuplicate");
        assert_eq!(ErrorKind::TooLong.reason(), "FieldValueTooLong");
        assert_eq!(ErrorKind::TooMany.reason(), "FieldValueTooMany");
        assert_eq!(ErrorKind::TypeInvalid.reason(), "FieldValueTypeInvalid");
        assert_eq!(ErrorKind::Forbidden.reason(), "FieldValueForbidden");
        assert_eq!(ErrorKind::Internal.reason(), "InternalError");
        assert_eq!(ErrorKind::NotFound.reason(), "FieldValueNotFound");
    }
}
