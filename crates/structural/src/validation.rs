//! OpenAPI v3 validation of a custom resource, as kube-openapi does it.
//!
//! This module owns the port of kube-openapi's `validate.SchemaValidator`
//! (type, schema-props `allOf`/`anyOf`/`oneOf`/`not`, string, format,
//! number, slice, enum and object validators, in that order, with the same
//! messages, paths, de-duplication and `MatchCount` bookkeeping) and of
//! apiextensions' `kubeOpenAPIResultToFieldErrors`, which turns kube-openapi
//! errors into `field.Error`s (Required, NotSupported for enums, TooLong,
//! TooMany, TypeInvalid, Invalid for the rest and for composite errors).

use std::collections::HashSet;

use serde_json::{Map, Number, Value};

use super::errors::{self, FieldError};
use super::formats;
use super::goregex;
use super::model::{AdditionalProperties, MAX_DEPTH, Schema};
use operatorkit_gofmt::{self as gofmt, GoNumber, go_number};

/// kube-openapi error codes that the conversion distinguishes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Code {
    InvalidType,
    Required,
    TooLong,
    Enum,
    MaxItems,
    TooManyProperties,
    Other,
}

/// A kube-openapi error.
#[derive(Debug, Clone)]
enum KErr {
    /// `*errors.Validation`
    Validation {
        code: Code,
        name: String,
        /// `Value`; `None` is Go `nil`.
        value: Option<Value>,
        /// `Valid` (the limit) for TooLong/MaxItems/TooManyProperties.
        valid: Option<i64>,
        message: String,
        /// `Values` for enum errors.
        values: Vec<Value>,
    },
    /// `errors.New(CompositeErrorCode, ...)`
    Composite(String),
    /// Nesting too deep (not a Kubernetes error).
    Depth(String),
}

impl KErr {
    fn message(&self) -> &str {
        match self {
            KErr::Validation { message, .. } | KErr::Composite(message) => message,
            KErr::Depth(name) => name,
        }
    }
}

/// `validate.Result`: errors (unique by message) and the match count.
#[derive(Debug, Default)]
struct Res {
    errors: Vec<KErr>,
    seen: HashSet<String>,
    match_count: i64,
}

impl Res {
    fn add(&mut self, e: KErr) {
        let key = match &e {
            KErr::Depth(n) => format!("\u{0}depth:{n}"),
            other => other.message().to_string(),
        };
        if self.seen.insert(key) {
            self.errors.push(e);
        }
    }

    fn err(e: KErr) -> Res {
        let mut r = Res::default();
        r.add(e);
        r
    }

    fn merge(&mut self, other: Res) {
        for e in other.errors {
            self.add(e);
        }
        self.match_count += other.match_count;
    }

    fn inc(&mut self) {
        self.match_count += 1;
    }

    fn is_valid(&self) -> bool {
        self.errors.is_empty()
    }
}

const IN: &str = "body";

fn verr(code: Code, name: &str, value: Option<Value>, message: String) -> KErr {
    KErr::Validation {
        code,
        name: name.to_string(),
        value,
        valid: None,
        message,
        values: Vec::new(),
    }
}

/// `errors.InvalidType(name, in, typeName, value)` with a string value.
fn invalid_type(name: &str, type_name: &str, value: &str) -> KErr {
    verr(
        Code::InvalidType,
        name,
        Some(Value::String(value.to_string())),
        format!(
            "{name} in {IN} must be of type {type_name}: {}",
            gofmt::quote(value)
        ),
    )
}

/// Go's `float64 -> int64` conversion (truncation; saturating out of range).
fn f64_to_i64(f: f64) -> i64 {
    f as i64
}

/// `swag.IsFloat64AJSONInteger`.
pub(crate) fn is_float64_a_json_integer(f: f64) -> bool {
    const MAX_JSON_FLOAT: f64 = 9_007_199_254_740_991.0;
    const EPSILON: f64 = 1e-9;
    if f.is_nan() || f.is_infinite() || !(-MAX_JSON_FLOAT..=MAX_JSON_FLOAT).contains(&f) {
        return false;
    }
    let fa = f.abs();
    // float64(uint64(f)) on amd64: truncation for f >= 0, two's complement wrap below.
    let g = if f >= 0.0 {
        f.trunc()
    } else {
        ((f as i64) as u64) as f64
    };
    let ga = g.abs();
    let diff = (f - g).abs();
    if f == g || f == (f as i64) as f64 {
        return true;
    }
    if f == 0.0 || g == 0.0 || diff < f64::from_bits(1) {
        return diff < EPSILON * f64::from_bits(1);
    }
    diff / (fa + ga).min(f64::MAX) < EPSILON
}

/// Converts kube-openapi errors into field errors
/// (`kubeOpenAPIResultToFieldErrors`); `base` is the `fldPath` (nil for a
/// custom resource, `...default` when validating defaults).
fn to_field_errors(base: Option<&str>, errs: Vec<KErr>) -> Vec<FieldError> {
    let base_str = || {
        base.map(str::to_string)
            .unwrap_or_else(|| "<nil>".to_string())
    };
    let mut out = Vec::with_capacity(errs.len());
    for e in errs {
        match e {
            KErr::Validation {
                code,
                name,
                value,
                valid,
                message,
                values,
            } => {
                let field = if !name.is_empty() && name != "." {
                    let n = name.strip_prefix('.').unwrap_or(&name);
                    match base {
                        None => n.to_string(),
                        Some(b) if n.is_empty() => format!("{b}[]"),
                        Some(b) => format!("{b}.{n}"),
                    }
                } else {
                    base_str()
                };
                out.push(validation_field_error(
                    code, field, value, valid, message, &values,
                ));
            }
            KErr::Composite(message) => {
                out.push(errors::invalid(
                    base_str(),
                    Value::String(String::new()),
                    message,
                ));
            }
            KErr::Depth(name) => {
                let n = name.strip_prefix('.').unwrap_or(&name).to_string();
                let field = match (base, n.is_empty()) {
                    (None, true) => "<nil>".to_string(),
                    (None, false) => n,
                    (Some(b), true) => b.to_string(),
                    (Some(b), false) => format!("{b}.{n}"),
                };
                out.push(errors::depth_exceeded(field));
            }
        }
    }
    out
}

/// The field error for a kube-openapi `*errors.Validation` on `field`,
/// chosen by its code.
fn validation_field_error(
    code: Code,
    field: String,
    value: Option<Value>,
    valid: Option<i64>,
    message: String,
    values: &[Value],
) -> FieldError {
    let non_nil = || {
        value
            .clone()
            .unwrap_or_else(|| Value::String(String::new()))
    };
    match code {
        Code::Required => errors::required(field, ""),
        Code::Enum => {
            let valid: Vec<String> = values
                .iter()
                .map(|v| match v {
                    Value::String(s) => s.clone(),
                    other => gofmt::json_marshal(other),
                })
                .collect();
            errors::not_supported(field, value.clone().unwrap_or(Value::Null), &valid)
        }
        Code::TooLong => errors::too_long(field, valid.unwrap_or(-1)),
        Code::MaxItems | Code::TooManyProperties => {
            let actual = match &value {
                Some(Value::Number(n)) => n.as_i64().unwrap_or(-1),
                _ => -1,
            };
            errors::too_many(field, actual, valid.unwrap_or(-1))
        }
        Code::InvalidType => errors::type_invalid(field, non_nil(), message),
        Code::Other => errors::invalid(field, non_nil(), message),
    }
}

/// `ValidateCustomResource(fldPath, obj, validator)`: validates `obj`
/// against `s` and converts the result to field errors.
pub(crate) fn validate_custom_resource(
    base: Option<&str>,
    s: &Schema,
    obj: &Value,
) -> Vec<FieldError> {
    let res = validate_schema(s, "", obj, 0);
    to_field_errors(base, res.errors)
}

fn child_path(path: &str, name: &str) -> String {
    if path.is_empty() {
        name.to_string()
    } else {
        format!("{path}.{name}")
    }
}

/// `SchemaValidator.Validate`.
fn validate_schema(s: &Schema, path: &str, data: &Value, depth: usize) -> Res {
    if depth > MAX_DEPTH {
        return Res::err(KErr::Depth(path.to_string()));
    }
    let mut result = Res::default();
    if data.is_null() {
        result.merge(type_validate(s, path, data));
        if let Some(e) = enum_validate(s, path, data) {
            result.add(e);
        }
        return result;
    }
    let types = s.types();
    let format = s.effective_format();

    // typeValidator
    if !types.is_empty() || !format.is_empty() {
        result.merge(type_validate(s, path, data));
        result.inc();
    }
    // schemaPropsValidator
    result.merge(props_validate(s, path, data, depth));
    result.inc();
    if let Value::String(st) = data {
        // stringValidator
        if let Some(e) = string_validate(s, path, st) {
            result.add(e);
        }
        result.inc();
        // formatValidator
        if !format.is_empty() {
            if !formats::validates(format, st) {
                result.add(invalid_type(path, format, st));
            }
            result.inc();
        }
    }
    if let Value::Number(n) = data {
        result.merge(number_validate(s, path, n));
        result.inc();
    }
    if let Value::Array(a) = data {
        result.merge(slice_validate(s, path, a, depth));
        result.inc();
    }
    // commonValidator (enum)
    if let Some(e) = enum_validate(s, path, data) {
        result.add(e);
    }
    result.inc();
    if let Value::Object(m) = data {
        result.merge(object_validate(s, path, m, depth));
        result.inc();
    }
    result.inc();
    result
}

/// JSON type name and Go format of a value (`schemaInfoForType`).
fn schema_info(data: &Value) -> (&'static str, &'static str) {
    match data {
        Value::Null => ("null", ""),
        Value::Bool(_) => ("boolean", ""),
        Value::String(_) => ("string", ""),
        Value::Number(n) => match go_number(n) {
            GoNumber::Int(_) => ("integer", "int64"),
            GoNumber::Float(_) => ("number", "float64"),
        },
        Value::Array(_) => ("array", ""),
        Value::Object(_) => ("object", ""),
    }
}

/// `typeValidator.Validate`.
#[allow(clippy::nonminimal_bool)] // kept in kube-openapi's form
fn type_validate(s: &Schema, path: &str, data: &Value) -> Res {
    let types = s.types();
    let format = s.effective_format();
    let mut ok = Res::default();
    ok.inc();
    if data.is_null() {
        if !types.is_empty() && !types.contains(&"null") && !s.nullable {
            return Res::err(invalid_type(path, &types.join(","), "null"));
        }
        return ok;
    }
    let (sch_type, fmt) = schema_info(data);
    let contains = |t: &str| types.contains(&t);
    let is_float_int = match data {
        Value::Number(n) => match go_number(n) {
            GoNumber::Float(f) => is_float64_a_json_integer(f) && contains("integer"),
            GoNumber::Int(_) => false,
        },
        _ => false,
    };
    let is_int_float = sch_type == "integer" && contains("number");
    let str_or_slice = matches!(data, Value::String(_) | Value::Array(_));
    if !str_or_slice
        && !format.is_empty()
        && !(contains(sch_type) || fmt == format || is_float_int || is_int_float)
    {
        return Res::err(invalid_type(path, format, fmt));
    }
    if !(contains("number") || contains("integer")) && !format.is_empty() && str_or_slice {
        return ok;
    }
    if !(contains(sch_type) || is_float_int || is_int_float) {
        return Res::err(invalid_type(path, &types.join(","), sch_type));
    }
    ok
}

/// `stringValidator.Validate`: the first failing of maxLength, minLength, pattern.
fn string_validate(s: &Schema, path: &str, data: &str) -> Option<KErr> {
    let len = data.chars().count() as i64;
    if let Some(max) = s.max_length
        && len > max
    {
        return Some(KErr::Validation {
            code: Code::TooLong,
            name: path.to_string(),
            value: Some(Value::String(data.to_string())),
            valid: Some(max),
            message: format!("{path} in {IN} should be at most {max} chars long"),
            values: Vec::new(),
        });
    }
    if let Some(min) = s.min_length
        && len < min
    {
        return Some(verr(
            Code::Other,
            path,
            Some(Value::String(data.to_string())),
            format!("{path} in {IN} should be at least {min} chars long"),
        ));
    }
    if !s.pattern.is_empty() {
        match goregex::compile(&s.pattern) {
            Ok(re) => {
                if !re.is_match(data) {
                    return Some(verr(
                        Code::Other,
                        path,
                        Some(Value::String(data.to_string())),
                        format!("{path} in {IN} should match '{}'", s.pattern),
                    ));
                }
            }
            Err(e) => {
                return Some(verr(
                    Code::Other,
                    path,
                    Some(Value::String(data.to_string())),
                    format!(
                        "{path} in {IN} should match '{}, but pattern is invalid: {e}'",
                        s.pattern
                    ),
                ));
            }
        }
    }
    None
}

fn num_value(n: GoNumber) -> Value {
    match n {
        GoNumber::Int(i) => Value::from(i),
        GoNumber::Float(f) => Number::from_f64(f)
            .map(Value::Number)
            .unwrap_or(Value::Null),
    }
}

/// `numberValidator.Validate` (native int64/float64 paths of kube-openapi).
fn number_validate(s: &Schema, path: &str, n: &Number) -> Res {
    let data = go_number(n);
    let mut res = Res::default();
    let bad = Some(num_value(data));
    let r_mult = s
        .multiple_of
        .map(|factor| multiple_of_validate(factor, data, path, &bad))
        .unwrap_or_default();
    let r_max = s
        .maximum
        .map(|max| maximum_validate(max, s.exclusive_maximum, data, path, &bad))
        .unwrap_or_default();
    let r_min = s
        .minimum
        .map(|min| minimum_validate(min, s.exclusive_minimum, data, path, &bad))
        .unwrap_or_default();
    res.merge(r_mult);
    res.merge(r_min);
    res.merge(r_max);
    res.inc();
    res
}

/// The `multipleOf` check of `numberValidator.Validate`.
fn multiple_of_validate(factor: f64, data: GoNumber, path: &str, bad: &Option<Value>) -> Res {
    let mut r_mult = Res::default();
    if let Some((fs, negative)) = multiple_of_failure(factor, data) {
        if negative {
            r_mult.add(verr(
                Code::Other,
                path,
                Some(Value::String(fs.clone())),
                format!("factor MultipleOf declared for {path} must be positive: {fs}"),
            ));
        } else {
            r_mult.add(verr(
                Code::Other,
                path,
                bad.clone(),
                format!("{path} in {IN} should be a multiple of {fs}"),
            ));
        }
    }
    r_mult
}

/// Why `data` fails `multipleOf: factor`, if it does: the factor as Go
/// prints it and whether the failure is a negative factor.
fn multiple_of_failure(factor: f64, data: GoNumber) -> Option<(String, bool)> {
    match data {
        GoNumber::Int(i) if f64_to_i64(factor) != 0 => {
            let fi = f64_to_i64(factor);
            if fi < 0 {
                Some((fi.to_string(), true))
            } else if i.wrapping_div(fi).wrapping_mul(fi) != i {
                Some((fi.to_string(), false))
            } else {
                None
            }
        }
        other => {
            // Float data (or an integer factor truncating to 0, where Go
            // would divide by zero): the float64 path.
            let f = match other {
                GoNumber::Int(i) => i as f64,
                GoNumber::Float(f) => f,
            };
            if factor < 0.0 {
                Some((gofmt::float_v(factor), true))
            } else {
                let mult = if factor < 1.0 {
                    1.0 / factor * f
                } else {
                    f / factor
                };
                if is_float64_a_json_integer(mult) {
                    None
                } else {
                    Some((gofmt::float_v(factor), false))
                }
            }
        }
    }
}

/// The `maximum`/`exclusiveMaximum` check of `numberValidator.Validate`.
fn maximum_validate(max: f64, excl: bool, data: GoNumber, path: &str, bad: &Option<Value>) -> Res {
    let mut r_max = Res::default();
    let (fail, shown) = match data {
        GoNumber::Int(i) => {
            let m = f64_to_i64(max);
            ((!excl && i > m) || (excl && i >= m), m.to_string())
        }
        GoNumber::Float(f) => (
            (!excl && f > max) || (excl && f >= max),
            gofmt::float_v(max),
        ),
    };
    if fail {
        let msg = if excl {
            format!("{path} in {IN} should be less than {shown}")
        } else {
            format!("{path} in {IN} should be less than or equal to {shown}")
        };
        r_max.add(verr(Code::Other, path, bad.clone(), msg));
    }
    r_max
}

/// The `minimum`/`exclusiveMinimum` check of `numberValidator.Validate`.
fn minimum_validate(min: f64, excl: bool, data: GoNumber, path: &str, bad: &Option<Value>) -> Res {
    let mut r_min = Res::default();
    let (fail, shown) = match data {
        GoNumber::Int(i) => {
            let m = f64_to_i64(min);
            ((!excl && i < m) || (excl && i <= m), m.to_string())
        }
        GoNumber::Float(f) => (
            (!excl && f < min) || (excl && f <= min),
            gofmt::float_v(min),
        ),
    };
    if fail {
        let msg = if excl {
            format!("{path} in {IN} should be greater than {shown}")
        } else {
            format!("{path} in {IN} should be greater than or equal to {shown}")
        };
        r_min.add(verr(Code::Other, path, bad.clone(), msg));
    }
    r_min
}

/// Go's `reflect.DeepEqual` on unstructured values (`int64` and `float64`
/// are different types).
pub(crate) fn deep_equal(a: &Value, b: &Value, depth: usize) -> bool {
    if depth > MAX_DEPTH {
        return false;
    }
    match (a, b) {
        (Value::Null, Value::Null) => true,
        (Value::Bool(x), Value::Bool(y)) => x == y,
        (Value::String(x), Value::String(y)) => x == y,
        (Value::Number(x), Value::Number(y)) => match (go_number(x), go_number(y)) {
            (GoNumber::Int(p), GoNumber::Int(q)) => p == q,
            (GoNumber::Float(p), GoNumber::Float(q)) => p == q,
            _ => false,
        },
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| deep_equal(p, q, depth + 1))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| deep_equal(v, w, depth + 1)))
        }
        _ => false,
    }
}

/// Whether `data` equals the enum value `e` after Go's
/// `reflect.Value.Convert` to the enum value's type.
fn enum_matches(data: &Value, e: &Value) -> bool {
    match (data, e) {
        (Value::Null, _) | (_, Value::Null) => false,
        (Value::Number(d), Value::Number(ev)) => match (go_number(d), go_number(ev)) {
            (GoNumber::Int(x), GoNumber::Int(y)) => x == y,
            (GoNumber::Int(x), GoNumber::Float(y)) => x as f64 == y,
            (GoNumber::Float(x), GoNumber::Int(y)) => f64_to_i64(x) == y,
            (GoNumber::Float(x), GoNumber::Float(y)) => x == y,
        },
        // int64 is convertible to string in Go: string(rune(i)).
        (Value::Number(d), Value::String(es)) => match go_number(d) {
            GoNumber::Int(i) => {
                let c = u32::try_from(i)
                    .ok()
                    .and_then(char::from_u32)
                    .unwrap_or('\u{FFFD}');
                es.chars().count() == 1 && es.starts_with(c)
            }
            GoNumber::Float(_) => false,
        },
        (Value::String(_), Value::String(_))
        | (Value::Bool(_), Value::Bool(_))
        | (Value::Array(_), Value::Array(_))
        | (Value::Object(_), Value::Object(_)) => deep_equal(data, e, 0),
        _ => false,
    }
}

/// `basicCommonValidator.Validate` (enum).
fn enum_validate(s: &Schema, path: &str, data: &Value) -> Option<KErr> {
    let values = s.enum_.as_ref()?;
    if values.is_empty() {
        return None;
    }
    if values.iter().any(|e| enum_matches(data, e)) {
        return None;
    }
    let listed = gofmt::sprint_list(values);
    Some(KErr::Validation {
        code: Code::Enum,
        name: path.to_string(),
        value: if data.is_null() {
            None
        } else {
            Some(data.clone())
        },
        valid: None,
        message: format!("{path} in {IN} should be one of {listed}"),
        values: values.clone(),
    })
}

/// `schemaSliceValidator.Validate`.
fn slice_validate(s: &Schema, path: &str, a: &[Value], depth: usize) -> Res {
    let mut result = Res::default();
    if let Some(items) = &s.items {
        for (i, v) in a.iter().enumerate() {
            result.merge(validate_schema(
                items,
                &format!("{path}[{i}]"),
                v,
                depth + 1,
            ));
        }
    }
    let size = a.len() as i64;
    if let Some(min) = s.min_items
        && size < min
    {
        result.add(verr(
            Code::Other,
            path,
            Some(Value::from(size)),
            format!("{path} in {IN} should have at least {min} items"),
        ));
    }
    if let Some(max) = s.max_items
        && size > max
    {
        result.add(KErr::Validation {
            code: Code::MaxItems,
            name: path.to_string(),
            value: Some(Value::from(size)),
            valid: Some(max),
            message: format!("{path} in {IN} should have at most {max} items"),
            values: Vec::new(),
        });
    }
    if s.unique_items {
        let mut dup = false;
        'outer: for (i, v) in a.iter().enumerate() {
            for u in &a[..i] {
                if deep_equal(v, u, 0) {
                    dup = true;
                    break 'outer;
                }
            }
        }
        if dup {
            result.add(verr(
                Code::Other,
                path,
                None,
                format!("{path} in {IN} shouldn't contain duplicates"),
            ));
        }
    }
    result.inc();
    result
}

/// `objectValidator.Validate`.
fn object_validate(s: &Schema, path: &str, m: &Map<String, Value>, depth: usize) -> Res {
    let mut res = Res::default();
    let n = m.len() as i64;
    if let Some(min) = s.min_properties
        && n < min
    {
        res.add(verr(
            Code::Other,
            path,
            Some(Value::from(n)),
            format!("{path} in {IN} should have at least {min} properties"),
        ));
    }
    if let Some(max) = s.max_properties
        && n > max
    {
        res.add(KErr::Validation {
            code: Code::TooManyProperties,
            name: path.to_string(),
            value: Some(Value::from(n)),
            valid: Some(max),
            message: format!("{path} in {IN} should have at most {max} properties"),
            values: Vec::new(),
        });
    }
    additional_properties_validate(s, path, m, depth, &mut res);
    for (name, ps) in &s.properties {
        if let Some(v) = m.get(name) {
            res.merge(validate_schema(ps, &child_path(path, name), v, depth + 1));
        }
    }
    for k in &s.required {
        if !m.contains_key(k) {
            let name = format!("{path}.{k}");
            res.add(verr(
                Code::Required,
                &name,
                None,
                format!("{name} in {IN} is required"),
            ));
        }
    }
    res
}

/// The `additionalProperties` part of `objectValidator.Validate`: forbids
/// or validates the properties `properties` does not name.
fn additional_properties_validate(
    s: &Schema,
    path: &str,
    m: &Map<String, Value>,
    depth: usize,
    res: &mut Res,
) {
    match &s.additional_properties {
        Some(AdditionalProperties::Bool(false)) => {
            for k in m.keys() {
                if !s.properties.contains_key(k) {
                    res.add(verr(
                        Code::Other,
                        path,
                        Some(Value::String(k.clone())),
                        format!("{path}.{k} in {IN} is a forbidden property"),
                    ));
                }
            }
        }
        Some(AdditionalProperties::Schema(ap)) => {
            for (k, v) in m {
                if !s.properties.contains_key(k) {
                    res.merge(validate_schema(ap, &format!("{path}.{k}"), v, depth + 1));
                }
            }
        }
        _ => {}
    }
}

/// `schemaPropsValidator.Validate` (allOf, anyOf, oneOf, not).
fn props_validate(s: &Schema, path: &str, data: &Value, depth: usize) -> Res {
    let mut main = Res::default();
    let qpath = gofmt::quote(path);
    if !s.any_of.is_empty() {
        any_of_validate(&s.any_of, path, &qpath, data, depth, &mut main);
    }
    if !s.one_of.is_empty() {
        one_of_validate(&s.one_of, path, &qpath, data, depth, &mut main);
    }
    if !s.all_of.is_empty() {
        all_of_validate(&s.all_of, path, &qpath, data, depth, &mut main);
    }
    if let Some(not) = &s.not {
        let r = validate_schema(not, path, data, depth + 1);
        if r.is_valid() {
            main.add(KErr::Composite(format!(
                "{qpath} must not validate the schema (not)"
            )));
        }
    }
    main.inc();
    main
}

/// The `anyOf` part of `schemaPropsValidator.Validate`: keeps the first
/// success, else the best failure.
fn any_of_validate(
    any_of: &[Schema],
    path: &str,
    qpath: &str,
    data: &Value,
    depth: usize,
    main: &mut Res,
) {
    let mut best: Option<Res> = None;
    let mut first_success: Option<Res> = None;
    let mut succeeded = false;
    for sub in any_of {
        let r = validate_schema(sub, path, data, depth + 1);
        if r.is_valid() {
            best = None;
            succeeded = true;
            first_success = Some(r);
            break;
        }
        if best.as_ref().is_none_or(|b| r.match_count > b.match_count) {
            best = Some(r);
        }
    }
    if !succeeded {
        main.add(KErr::Composite(format!(
            "{qpath} must validate at least one schema (anyOf)"
        )));
    }
    if let Some(b) = best {
        main.merge(b);
    } else if let Some(f) = first_success {
        main.merge(f);
    }
}

/// The `oneOf` part of `schemaPropsValidator.Validate`: exactly one
/// subschema must validate.
fn one_of_validate(
    one_of: &[Schema],
    path: &str,
    qpath: &str,
    data: &Value,
    depth: usize,
    main: &mut Res,
) {
    let mut best: Option<Res> = None;
    let mut first_success: Option<Res> = None;
    let mut validated = 0usize;
    for sub in one_of {
        let r = validate_schema(sub, path, data, depth + 1);
        if r.is_valid() {
            validated += 1;
            best = None;
            if first_success.is_none() {
                first_success = Some(r);
            }
            continue;
        }
        if validated == 0 && best.as_ref().is_none_or(|b| r.match_count > b.match_count) {
            best = Some(r);
        }
    }
    if validated != 1 {
        let additional = if validated == 0 {
            "Found none valid".to_string()
        } else {
            format!("Found {validated} valid alternatives")
        };
        main.add(KErr::Composite(format!(
            "{qpath} must validate one and only one schema (oneOf). {additional}"
        )));
        if let Some(b) = best {
            main.merge(b);
        }
    } else if let Some(f) = first_success {
        main.merge(f);
    }
}

/// The `allOf` part of `schemaPropsValidator.Validate`: merges every
/// subschema's result.
fn all_of_validate(
    all_of: &[Schema],
    path: &str,
    qpath: &str,
    data: &Value,
    depth: usize,
    main: &mut Res,
) {
    let mut validated = 0usize;
    for sub in all_of {
        let r = validate_schema(sub, path, data, depth + 1);
        if r.is_valid() {
            validated += 1;
        }
        main.merge(r);
    }
    if validated != all_of.len() {
        let additional = if validated == 0 {
            ". None validated"
        } else {
            ""
        };
        main.add(KErr::Composite(format!(
            "{qpath} must validate all the schemas (allOf){additional}"
        )));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn run(schema: Value, obj: Value) -> Vec<String> {
        let s = Schema::parse(&schema).unwrap();
        validate_custom_resource(None, &s, &obj)
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    fn spec(props: Value) -> Value {
        json!({"type": "object", "properties": {"spec": {"type": "object", "properties": props}}})
    }

    #[test]
    fn json_integer_check() {
        assert!(is_float64_a_json_integer(1.0));
        assert!(is_float64_a_json_integer(-3.0));
        assert!(!is_float64_a_json_integer(1.5));
        assert!(is_float64_a_json_integer(1.0000000001));
        assert!(!is_float64_a_json_integer(-3.0000000001));
        assert!(!is_float64_a_json_integer(1e300));
    }

    #[test]
    fn type_errors() {
        let s = spec(
            json!({"vni": {"type": "integer"}, "s": {"type": "string"}, "b": {"type": "boolean"},
            "o": {"type": "object"}, "a": {"type": "array", "items": {"type": "string"}}, "n": {"type": "number"}}),
        );
        assert_eq!(
            run(s.clone(), json!({"spec": {"vni": "string"}})),
            vec![
                "spec.vni: Invalid value: \"string\": spec.vni in body must be of type integer: \"string\""
            ]
        );
        assert_eq!(
            run(s.clone(), json!({"spec": {"vni": 1.5}})),
            vec![
                "spec.vni: Invalid value: \"number\": spec.vni in body must be of type integer: \"number\""
            ]
        );
        assert!(run(s.clone(), json!({"spec": {"vni": 2.0, "n": 3}})).is_empty());
        assert_eq!(
            run(
                s.clone(),
                json!({"spec": {"s": 5, "b": "x", "o": [], "a": {}}})
            ),
            vec![
                "spec.a: Invalid value: \"object\": spec.a in body must be of type array: \"object\"",
                "spec.b: Invalid value: \"string\": spec.b in body must be of type boolean: \"string\"",
                "spec.o: Invalid value: \"array\": spec.o in body must be of type object: \"array\"",
                "spec.s: Invalid value: \"integer\": spec.s in body must be of type string: \"integer\"",
            ]
        );
        assert_eq!(
            run(s, json!({"spec": {"s": null}})),
            vec![
                "spec.s: Invalid value: \"null\": spec.s in body must be of type string: \"null\""
            ]
        );
    }

    #[test]
    fn nullable_and_int_or_string() {
        let s = spec(json!({
            "n": {"type": "string", "nullable": true},
            "p": {"x-kubernetes-int-or-string": true, "anyOf": [{"type": "integer"}, {"type": "string"}]}
        }));
        assert!(run(s.clone(), json!({"spec": {"n": null, "p": 80}})).is_empty());
        assert!(run(s.clone(), json!({"spec": {"p": "http"}})).is_empty());
        assert_eq!(
            run(s, json!({"spec": {"p": true}})),
            vec![
                "spec.p: Invalid value: \"boolean\": spec.p in body must be of type integer,string: \"boolean\"",
                "<nil>: Invalid value: \"\": \"spec.p\" must validate at least one schema (anyOf)",
                "spec.p: Invalid value: \"boolean\": spec.p in body must be of type integer: \"boolean\"",
            ]
        );
    }

    #[test]
    fn string_rules() {
        let s = spec(json!({
            "id": {"type": "string", "minLength": 3, "maxLength": 5, "pattern": "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"},
            "u": {"type": "string", "maxLength": 2},
            "bad": {"type": "string", "pattern": "(a"}
        }));
        assert_eq!(
            run(s.clone(), json!({"spec": {"id": "x"}})),
            vec!["spec.id: Invalid value: \"x\": spec.id in body should be at least 3 chars long"]
        );
        assert_eq!(
            run(s.clone(), json!({"spec": {"id": "toolong"}})),
            vec!["spec.id: Too long: may not be more than 5 bytes"]
        );
        assert_eq!(
            run(s.clone(), json!({"spec": {"id": "ABC12"}})),
            vec![
                "spec.id: Invalid value: \"ABC12\": spec.id in body should match '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$'"
            ]
        );
        // runes, not bytes
        assert!(run(s.clone(), json!({"spec": {"u": "éé"}})).is_empty());
        assert_eq!(
            run(s, json!({"spec": {"bad": "a"}})),
            vec![
                "spec.bad: Invalid value: \"a\": spec.bad in body should match '(a, but pattern is invalid: error parsing regexp: missing closing ): `(a`'"
            ]
        );
    }

    #[test]
    fn number_rules() {
        let s = spec(json!({
            "vni": {"type": "integer", "minimum": 1.0, "maximum": 16777215.0},
            "f": {"type": "number", "maximum": 16777215.0, "exclusiveMinimum": true, "minimum": 0.5},
            "m": {"type": "integer", "multipleOf": 3.0},
            "mf": {"type": "number", "multipleOf": 0.5}
        }));
        assert_eq!(
            run(s.clone(), json!({"spec": {"vni": 0}})),
            vec![
                "spec.vni: Invalid value: 0: spec.vni in body should be greater than or equal to 1"
            ]
        );
        assert_eq!(
            run(s.clone(), json!({"spec": {"vni": 16777216}})),
            vec![
                "spec.vni: Invalid value: 16777216: spec.vni in body should be less than or equal to 16777215"
            ]
        );
        assert_eq!(
            run(s.clone(), json!({"spec": {"f": 2e7}})),
            vec![
                "spec.f: Invalid value: 2e+07: spec.f in body should be less than or equal to 1.6777215e+07"
            ]
        );
        assert_eq!(
            run(s.clone(), json!({"spec": {"f": 0.5}})),
            vec!["spec.f: Invalid value: 0.5: spec.f in body should be greater than 0.5"]
        );
        assert_eq!(
            run(s.clone(), json!({"spec": {"m": 4, "mf": 0.75}})),
            vec![
                "spec.m: Invalid value: 4: spec.m in body should be a multiple of 3",
                "spec.mf: Invalid value: 0.75: spec.mf in body should be a multiple of 0.5",
            ]
        );
        assert!(run(s, json!({"spec": {"m": 9, "mf": 1.5}})).is_empty());
    }

    #[test]
    fn enum_rules() {
        let s = spec(json!({
            "p": {"type": "string", "enum": ["TCP", "UDP"]},
            "n": {"type": "integer", "enum": [1, 2]},
            "k": {"type": "string", "nullable": true, "enum": ["a"]}
        }));
        assert_eq!(
            run(s.clone(), json!({"spec": {"p": "SCTP"}})),
            vec!["spec.p: Unsupported value: \"SCTP\": supported values: \"TCP\", \"UDP\""]
        );
        assert_eq!(
            run(s.clone(), json!({"spec": {"n": 3}})),
            vec!["spec.n: Unsupported value: 3: supported values: \"1\", \"2\""]
        );
        assert!(run(s.clone(), json!({"spec": {"n": 2.0}})).is_empty());
        // kube-openapi checks enums even for null
        assert_eq!(
            run(s, json!({"spec": {"k": null}})),
            vec!["spec.k: Unsupported value: null: supported values: \"a\""]
        );
    }

    #[test]
    fn array_and_object_rules() {
        let s = spec(json!({
            "masters": {"type": "array", "minItems": 1, "maxItems": 2, "items": {"type": "object",
                "required": ["memory"], "properties": {"memory": {"type": "string", "pattern": "^[0-9]+Gi$"}}}},
            "u": {"type": "array", "uniqueItems": true, "items": {"type": "integer"}},
            "labels": {"type": "object", "maxProperties": 1, "minProperties": 1,
                "additionalProperties": {"type": "string", "maxLength": 3}},
            "closed": {"type": "object", "additionalProperties": false}
        }));
        assert_eq!(
            run(s.clone(), json!({"spec": {"masters": []}})),
            vec![
                "spec.masters: Invalid value: 0: spec.masters in body should have at least 1 items"
            ]
        );
        assert_eq!(
            run(
                s.clone(),
                json!({"spec": {"masters": [{"memory": "4Gi"}, {"memory": "x"}, {}]}})
            ),
            vec![
                "spec.masters[1].memory: Invalid value: \"x\": spec.masters[1].memory in body should match '^[0-9]+Gi$'",
                "spec.masters[2].memory: Required value",
                "spec.masters: Too many: 3: must have at most 2 items",
            ]
        );
        assert_eq!(
            run(s.clone(), json!({"spec": {"u": [1, 2, 1]}})),
            vec!["spec.u: Invalid value: \"\": spec.u in body shouldn't contain duplicates"]
        );
        assert_eq!(
            run(
                s.clone(),
                json!({"spec": {"labels": {"a": "toolong", "b": "x"}}})
            ),
            vec![
                "spec.labels: Too many: 2: must have at most 1 item",
                "spec.labels.a: Too long: may not be more than 3 bytes",
            ]
        );
        assert_eq!(
            run(s.clone(), json!({"spec": {"labels": {}}})),
            vec![
                "spec.labels: Invalid value: 0: spec.labels in body should have at least 1 properties"
            ]
        );
        assert_eq!(
            run(s, json!({"spec": {"closed": {"x": 1}}})),
            vec![
                "spec.closed: Invalid value: \"x\": spec.closed.x in body is a forbidden property"
            ]
        );
    }

    #[test]
    fn required_at_root_and_nested() {
        let s = json!({"type": "object", "required": ["spec"], "properties": {"spec": {"type": "object",
            "required": ["commonName"], "properties": {"commonName": {"type": "string"}}}}});
        assert_eq!(
            run(s.clone(), json!({"kind": "X"})),
            vec!["spec: Required value"]
        );
        assert_eq!(
            run(s, json!({"spec": {}})),
            vec!["spec.commonName: Required value"]
        );
    }

    #[test]
    fn formats_in_validation() {
        let s = spec(json!({
            "network": {"type": "string", "format": "cidr"},
            "t": {"type": "string", "format": "date-time"},
            "i": {"type": "integer", "format": "int32"},
            "arr": {"type": "string", "format": "cidr"}
        }));
        assert_eq!(
            run(s.clone(), json!({"spec": {"network": "10.1.0.0/33"}})),
            vec![
                "spec.network: Invalid value: \"10.1.0.0/33\": spec.network in body must be of type cidr: \"10.1.0.0/33\""
            ]
        );
        assert_eq!(
            run(s.clone(), json!({"spec": {"t": "yesterday"}})),
            vec![
                "spec.t: Invalid value: \"yesterday\": spec.t in body must be of type date-time: \"yesterday\""
            ]
        );
        // int32 is not a validated format; a map under a format'ed string type hits the format check
        assert!(run(s.clone(), json!({"spec": {"i": 5_000_000_000i64}})).is_empty());
        assert_eq!(
            run(s, json!({"spec": {"arr": {"a": 1}}})),
            vec!["spec.arr: Invalid value: \"\": spec.arr in body must be of type cidr: \"\""]
        );
    }

    #[test]
    fn all_of_one_of_not() {
        let s = spec(json!({
            "x": {"type": "integer", "allOf": [{"minimum": 2.0}, {"maximum": 5.0}]},
            "y": {"type": "integer", "oneOf": [{"minimum": 2.0}, {"maximum": 5.0}]},
            "z": {"type": "string", "not": {"enum": ["forbidden"]}}
        }));
        assert_eq!(
            run(s.clone(), json!({"spec": {"x": 1}})),
            vec![
                "spec.x: Invalid value: 1: spec.x in body should be greater than or equal to 2",
                "<nil>: Invalid value: \"\": \"spec.x\" must validate all the schemas (allOf)",
            ]
        );
        assert_eq!(
            run(s.clone(), json!({"spec": {"y": 3}})),
            vec![
                "<nil>: Invalid value: \"\": \"spec.y\" must validate one and only one schema (oneOf). Found 2 valid alternatives"
            ]
        );
        assert_eq!(
            run(s.clone(), json!({"spec": {"z": "forbidden"}})),
            vec!["<nil>: Invalid value: \"\": \"spec.z\" must not validate the schema (not)"]
        );
        assert!(run(s, json!({"spec": {"x": 3, "y": 1, "z": "ok"}})).is_empty());
    }

    #[test]
    fn deep_all_of_chains_do_not_overflow() {
        let mut deep = json!({"type": "object", "minProperties": 1});
        for _ in 0..(MAX_DEPTH - 2) {
            deep = json!({"type": "object", "allOf": [deep]});
        }
        let s = Schema::parse(&deep).unwrap();
        let errs = validate_custom_resource(None, &s, &json!({}));
        assert_eq!(
            errs[0].to_string(),
            "<nil>: Invalid value: 0:  in body should have at least 1 properties"
        );
    }
}
