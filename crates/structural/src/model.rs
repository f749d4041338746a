//! The parsed form of a CRD `openAPIV3Schema` node.
//!
//! This module owns the conversion of the schema JSON (as found in
//! `spec.versions[*].schema.openAPIV3Schema`) into a typed tree that the
//! pruning, defaulting, validation and structural-check passes walk. It
//! mirrors apiextensions' `JSONSchemaProps` (every field a CRD may carry,
//! including the ones structural schemas forbid, so that they can be
//! reported) and bounds the nesting depth so that hostile schemas cannot
//! exhaust the stack.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

/// Maximum nesting depth accepted for schemas and walked in objects.
///
/// It matches serde_json's default parser recursion limit, so every value
/// parsed by `serde_json::from_*` with default settings is fully handled.
pub(crate) const MAX_DEPTH: usize = 128;

/// Returned when a schema nests deeper than [`MAX_DEPTH`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct DepthExceeded;

/// `additionalProperties`: either a boolean or a schema.
#[derive(Debug, Clone)]
pub(crate) enum AdditionalProperties {
    /// `additionalProperties: true|false`
    Bool(bool),
    /// `additionalProperties: {schema}`
    Schema(Box<Schema>),
}

impl AdditionalProperties {
    /// The schema that applies to additional properties, if any (the
    /// structural schema's `AdditionalProperties.Structural`).
    pub(crate) fn schema(&self) -> Option<&Schema> {
        match self {
            AdditionalProperties::Schema(s) => Some(s),
            AdditionalProperties::Bool(_) => None,
        }
    }
}

/// One `JSONSchemaProps` node.
#[derive(Debug, Clone, Default)]
pub(crate) struct Schema {
    pub(crate) id: String,
    pub(crate) ref_: Option<String>,
    pub(crate) description: String,
    pub(crate) type_: String,
    pub(crate) format: String,
    pub(crate) title: String,
    /// `default`, `None` when absent or `null` (a JSON `null` default is no default).
    pub(crate) default: Option<Value>,
    pub(crate) maximum: Option<f64>,
    pub(crate) exclusive_maximum: bool,
    pub(crate) minimum: Option<f64>,
    pub(crate) exclusive_minimum: bool,
    pub(crate) max_length: Option<i64>,
    pub(crate) min_length: Option<i64>,
    pub(crate) pattern: String,
    pub(crate) max_items: Option<i64>,
    pub(crate) min_items: Option<i64>,
    pub(crate) unique_items: bool,
    pub(crate) multiple_of: Option<f64>,
    /// `enum`, `None` when absent.
    pub(crate) enum_: Option<Vec<Value>>,
    pub(crate) max_properties: Option<i64>,
    pub(crate) min_properties: Option<i64>,
    pub(crate) required: Vec<String>,
    pub(crate) items: Option<Box<Schema>>,
    /// `items` given as an array of schemas (forbidden in CRDs).
    pub(crate) items_array: Option<Vec<Schema>>,
    pub(crate) all_of: Vec<Schema>,
    pub(crate) one_of: Vec<Schema>,
    pub(crate) any_of: Vec<Schema>,
    pub(crate) not: Option<Box<Schema>>,
    pub(crate) properties: BTreeMap<String, Schema>,
    pub(crate) additional_properties: Option<AdditionalProperties>,
    pub(crate) has_pattern_properties: bool,
    pub(crate) has_dependencies: bool,
    pub(crate) has_additional_items: bool,
    pub(crate) definitions: BTreeMap<String, Schema>,
    pub(crate) has_external_docs: bool,
    pub(crate) nullable: bool,
    pub(crate) x_preserve_unknown_fields: Option<bool>,
    pub(crate) x_embedded_resource: bool,
    pub(crate) x_int_or_string: bool,
    pub(crate) x_list_map_keys: Vec<String>,
    pub(crate) x_list_type: Option<String>,
    pub(crate) x_map_type: Option<String>,
    pub(crate) x_validations: Vec<Value>,
}

/// Formats Kubernetes validates for CRDs (apiextensions-apiserver
/// `supportedVersionedFormats`, Kubernetes 1.0 set); any other format is
/// stripped before validation.
const SUPPORTED_FORMATS: &[&str] = &[
    "bsonobjectid",
    "uri",
    "email",
    "hostname",
    "ipv4",
    "ipv6",
    "cidr",
    "mac",
    "uuid",
    "uuid3",
    "uuid4",
    "uuid5",
    "isbn",
    "isbn10",
    "isbn13",
    "creditcard",
    "ssn",
    "hexcolor",
    "rgbcolor",
    "byte",
    "password",
    "date",
    "duration",
    "datetime",
];

fn get_i64(m: &Map<String, Value>, k: &str) -> Option<i64> {
    match m.get(k)? {
        Value::Number(n) => n.as_i64().or_else(|| {
            let f = n.as_f64()?;
            if f.fract() == 0.0 && f.abs() < 9.2e18 {
                Some(f as i64)
            } else {
                None
            }
        }),
        _ => None,
    }
}

fn get_f64(m: &Map<String, Value>, k: &str) -> Option<f64> {
    m.get(k)?.as_f64()
}

fn get_bool(m: &Map<String, Value>, k: &str) -> bool {
    matches!(m.get(k), Some(Value::Bool(true)))
}

fn get_str(m: &Map<String, Value>, k: &str) -> String {
    match m.get(k) {
        Some(Value::String(s)) => s.clone(),
        _ => String::new(),
    }
}

fn get_opt_str(m: &Map<String, Value>, k: &str) -> Option<String> {
    match m.get(k) {
        Some(Value::String(s)) => Some(s.clone()),
        _ => None,
    }
}

fn get_str_list(m: &Map<String, Value>, k: &str) -> Vec<String> {
    match m.get(k) {
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect(),
        _ => Vec::new(),
    }
}

fn present(m: &Map<String, Value>, k: &str) -> bool {
    !matches!(m.get(k), None | Some(Value::Null))
}

impl Schema {
    /// Parses a schema node. Non-object input yields an empty schema (which
    /// accepts anything); unknown keys are ignored.
    pub(crate) fn parse(v: &Value) -> Result<Schema, DepthExceeded> {
        Self::parse_at(v, 0).map(|b| *b)
    }

    fn parse_list(v: Option<&Value>, depth: usize) -> Result<Vec<Schema>, DepthExceeded> {
        let mut out = Vec::new();
        if let Some(Value::Array(a)) = v {
            for e in a {
                out.push(*Self::parse_at(e, depth + 1)?);
            }
        }
        Ok(out)
    }

    fn parse_map(
        v: Option<&Value>,
        depth: usize,
    ) -> Result<BTreeMap<String, Schema>, DepthExceeded> {
        let mut out = BTreeMap::new();
        if let Some(Value::Object(m)) = v {
            for (k, e) in m {
                out.insert(k.clone(), *Self::parse_at(e, depth + 1)?);
            }
        }
        Ok(out)
    }

    fn parse_at(v: &Value, depth: usize) -> Result<Box<Schema>, DepthExceeded> {
        if depth > MAX_DEPTH {
            return Err(DepthExceeded);
        }
        let Value::Object(m) = v else {
            return Ok(Box::default());
        };
        // Built field by field on the heap: a struct literal of this size
        // costs kilobytes of stack per nesting level in debug builds.
        let mut s: Box<Schema> = Box::default();
        Self::parse_scalars(&mut s, m);
        match m.get("items") {
            Some(Value::Array(_)) => {
                s.items_array = Some(Self::parse_list(m.get("items"), depth)?);
            }
            Some(i @ Value::Object(_)) => {
                s.items = Some(Self::parse_at(i, depth + 1)?);
            }
            _ => {}
        }
        s.all_of = Self::parse_list(m.get("allOf"), depth)?;
        s.one_of = Self::parse_list(m.get("oneOf"), depth)?;
        s.any_of = Self::parse_list(m.get("anyOf"), depth)?;
        if let Some(n @ Value::Object(_)) = m.get("not") {
            s.not = Some(Self::parse_at(n, depth + 1)?);
        }
        s.properties = Self::parse_map(m.get("properties"), depth)?;
        s.definitions = Self::parse_map(m.get("definitions"), depth)?;
        s.additional_properties = match m.get("additionalProperties") {
            Some(Value::Bool(b)) => Some(AdditionalProperties::Bool(*b)),
            Some(a @ Value::Object(_)) => {
                Some(AdditionalProperties::Schema(Self::parse_at(a, depth + 1)?))
            }
            _ => None,
        };
        Ok(s)
    }

    /// Parses the non-recursive keywords of a node.
    fn parse_scalars(s: &mut Schema, m: &Map<String, Value>) {
        s.id = get_str(m, "id");
        s.ref_ = get_opt_str(m, "$ref");
        s.description = get_str(m, "description");
        s.type_ = get_str(m, "type");
        s.format = get_str(m, "format");
        s.title = get_str(m, "title");
        s.default = m.get("default").filter(|d| !d.is_null()).cloned();
        s.maximum = get_f64(m, "maximum");
        s.exclusive_maximum = get_bool(m, "exclusiveMaximum");
        s.minimum = get_f64(m, "minimum");
        s.exclusive_minimum = get_bool(m, "exclusiveMinimum");
        s.max_length = get_i64(m, "maxLength");
        s.min_length = get_i64(m, "minLength");
        s.pattern = get_str(m, "pattern");
        s.max_items = get_i64(m, "maxItems");
        s.min_items = get_i64(m, "minItems");
        s.unique_items = get_bool(m, "uniqueItems");
        s.multiple_of = get_f64(m, "multipleOf");
        s.enum_ = match m.get("enum") {
            Some(Value::Array(a)) => Some(a.clone()),
            _ => None,
        };
        s.max_properties = get_i64(m, "maxProperties");
        s.min_properties = get_i64(m, "minProperties");
        s.required = get_str_list(m, "required");
        s.has_pattern_properties =
            matches!(m.get("patternProperties"), Some(Value::Object(p)) if !p.is_empty());
        s.has_dependencies = present(m, "dependencies");
        s.has_additional_items = present(m, "additionalItems");
        s.has_external_docs = present(m, "externalDocs");
        s.nullable = get_bool(m, "nullable");
        s.x_preserve_unknown_fields = m
            .get("x-kubernetes-preserve-unknown-fields")
            .and_then(Value::as_bool);
        s.x_embedded_resource = get_bool(m, "x-kubernetes-embedded-resource");
        s.x_int_or_string = get_bool(m, "x-kubernetes-int-or-string");
        s.x_list_map_keys = get_str_list(m, "x-kubernetes-list-map-keys");
        s.x_list_type = get_opt_str(m, "x-kubernetes-list-type");
        s.x_map_type = get_opt_str(m, "x-kubernetes-map-type");
        s.x_validations = match m.get("x-kubernetes-validations") {
            Some(Value::Array(a)) => a.clone(),
            _ => Vec::new(),
        };
    }

    /// The OpenAPI `type` list kube-openapi validates against: `[integer,
    /// string]` for `x-kubernetes-int-or-string`, `[type]` when set, else empty.
    pub(crate) fn types(&self) -> Vec<&str> {
        if self.x_int_or_string {
            vec!["integer", "string"]
        } else if self.type_.is_empty() {
            Vec::new()
        } else {
            vec![self.type_.as_str()]
        }
    }

    /// The format after apiextensions' `StripUnsupportedFormatsPostProcess`:
    /// the original string if its dash-less form is supported, else `""`.
    pub(crate) fn effective_format(&self) -> &str {
        if self.format.is_empty() {
            return "";
        }
        let normalized = self.format.replace('-', "");
        if SUPPORTED_FORMATS.contains(&normalized.as_str()) {
            &self.format
        } else {
            ""
        }
    }

    /// `x-kubernetes-preserve-unknown-fields: true`.
    pub(crate) fn preserves_unknown_fields(&self) -> bool {
        self.x_preserve_unknown_fields == Some(true)
    }

    /// Names of the non-zero fields of the structural representation of this
    /// node (`Generic`, `Extensions`, `ValidationExtensions`, `ValueValidation`,
    /// `Items`, `Properties`, `AdditionalProperties`). Used for the
    /// "nothing but ..." checks of structural schemas.
    pub(crate) fn non_zero_structural_fields(&self) -> Vec<&'static str> {
        let mut out = Vec::new();
        let mut push = |cond: bool, name: &'static str| {
            if cond {
                out.push(name);
            }
        };
        push(!self.description.is_empty(), "description");
        push(!self.type_.is_empty(), "type");
        push(!self.title.is_empty(), "title");
        push(self.default.is_some(), "default");
        push(self.nullable, "nullable");
        push(self.has_external_docs, "externalDocs");
        push(
            self.preserves_unknown_fields(),
            "x-kubernetes-preserve-unknown-fields",
        );
        push(self.x_embedded_resource, "x-kubernetes-embedded-resource");
        push(self.x_int_or_string, "x-kubernetes-int-or-string");
        push(
            !self.x_list_map_keys.is_empty(),
            "x-kubernetes-list-map-keys",
        );
        push(self.x_list_type.is_some(), "x-kubernetes-list-type");
        push(self.x_map_type.is_some(), "x-kubernetes-map-type");
        push(!self.x_validations.is_empty(), "x-kubernetes-validations");
        push(!self.format.is_empty(), "format");
        push(self.maximum.is_some(), "maximum");
        push(self.exclusive_maximum, "exclusiveMaximum");
        push(self.minimum.is_some(), "minimum");
        push(self.exclusive_minimum, "exclusiveMinimum");
        push(self.max_length.is_some(), "maxLength");
        push(self.min_length.is_some(), "minLength");
        push(!self.pattern.is_empty(), "pattern");
        push(self.max_items.is_some(), "maxItems");
        push(self.min_items.is_some(), "minItems");
        push(self.unique_items, "uniqueItems");
        push(self.multiple_of.is_some(), "multipleOf");
        push(self.enum_.as_ref().is_some_and(|e| !e.is_empty()), "enum");
        push(self.max_properties.is_some(), "maxProperties");
        push(self.min_properties.is_some(), "minProperties");
        push(!self.required.is_empty(), "required");
        push(!self.all_of.is_empty(), "allOf");
        push(!self.one_of.is_empty(), "oneOf");
        push(!self.any_of.is_empty(), "anyOf");
        push(self.not.is_some(), "not");
        push(self.items.is_some() || self.items_array.is_some(), "items");
        push(!self.properties.is_empty(), "properties");
        push(self.additional_properties.is_some(), "additionalProperties");
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parses_fields() {
        let s = Schema::parse(&json!({
            "type": "object",
            "required": ["a"],
            "properties": {"a": {"type": "string", "maxLength": 3.0, "format": "date-time"}},
            "additionalProperties": false,
            "default": null
        }))
        .unwrap();
        assert_eq!(s.type_, "object");
        assert_eq!(s.required, vec!["a".to_string()]);
        assert!(s.default.is_none());
        let a = &s.properties["a"];
        assert_eq!(a.max_length, Some(3));
        assert_eq!(a.effective_format(), "date-time");
        assert!(matches!(
            s.additional_properties,
            Some(AdditionalProperties::Bool(false))
        ));
    }

    #[test]
    fn strips_unknown_formats() {
        let s = Schema::parse(&json!({"type": "integer", "format": "int32"})).unwrap();
        assert_eq!(s.effective_format(), "");
    }

    #[test]
    fn bounds_depth() {
        let mut v = json!({"type": "string"});
        for _ in 0..(MAX_DEPTH + 5) {
            v = json!({"type": "array", "items": v});
        }
        assert_eq!(Schema::parse(&v).err(), Some(DepthExceeded));
    }
}
