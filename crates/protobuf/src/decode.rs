//! Protobuf to JSON: a message read as the JSON apimachinery's Go types would
//! write after decoding it.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use prost_reflect::{DynamicMessage, FieldDescriptor, MapKey, ReflectMessage, Value as Pb};
use serde_json::{Map, Value, json};

use crate::schema::{META, Schema, schema};
use crate::{Error, envelope, gotime};

const APIEXTENSIONS: &str = "k8s.io.apiextensions_apiserver.pkg.apis.apiextensions.v1";

/// The JSON object of an enveloped protobuf `body`, with its `apiVersion` and
/// `kind`. `default` (apiVersion, kind) stands in when the envelope names no
/// type, as kube-apiserver defaults it from the URL.
pub fn decode(body: &[u8], default: (&str, &str)) -> Result<Value, Error> {
    let (mut api_version, mut kind, raw) = envelope::open(body)?;
    if api_version.is_empty() {
        api_version = default.0.to_owned();
    }
    if kind.is_empty() {
        kind = default.1.to_owned();
    }
    let s = schema().ok_or_else(|| unknown(&api_version, &kind))?;
    let desc = s
        .message(&api_version, &kind)
        .ok_or_else(|| unknown(&api_version, &kind))?;
    let msg = DynamicMessage::decode(desc, raw.as_slice())?;
    let mut obj = Map::new();
    obj.insert("apiVersion".into(), api_version.into());
    obj.insert("kind".into(), kind.into());
    fields_into(s, &msg, &mut obj);
    Ok(Value::Object(obj))
}

fn unknown(api_version: &str, kind: &str) -> Error {
    Error::UnknownKind {
        api_version: api_version.to_owned(),
        kind: kind.to_owned(),
    }
}

/// Adds the JSON of `msg`'s set fields to `out`.
fn fields_into(s: &Schema, msg: &DynamicMessage, out: &mut Map<String, Value>) {
    for (field, value) in msg.fields() {
        if s.is_inline(&field) {
            if let Pb::Message(inner) = value {
                fields_into(s, inner, out);
            }
            continue;
        }
        if let Some(v) = field_value(s, &field, value) {
            out.insert(s.json_name(&field).to_owned(), v);
        }
    }
}

/// A field's JSON, or `None` where Go's JSON would leave it out: empty lists
/// and maps, and zero scalars of `omitempty` fields.
fn field_value(s: &Schema, field: &FieldDescriptor, value: &Pb) -> Option<Value> {
    match value {
        Pb::List(items) if items.is_empty() => None,
        Pb::List(items) => Some(items.iter().map(|v| element(s, v)).collect()),
        Pb::Map(entries) if entries.is_empty() => None,
        Pb::Map(entries) => {
            let map = entries
                .iter()
                .map(|(k, v)| (map_key(k), element(s, v)))
                .collect();
            Some(Value::Object(map))
        }
        Pb::Message(m) if m.descriptor().full_name() == INT_OR_STRING => {
            let v = int_or_string(m);
            (s.keeps_zero(field) || !is_zero(&v)).then_some(v)
        }
        Pb::Message(m) => Some(message(s, m)),
        scalar => {
            let v = scalar_value(scalar);
            (s.keeps_zero(field) || !is_zero(&v)).then_some(v)
        }
    }
}

const INT_OR_STRING: &str = "k8s.io.apimachinery.pkg.util.intstr.IntOrString";

/// A list item or map value: always written, zero or not.
fn element(s: &Schema, value: &Pb) -> Value {
    match value {
        Pb::Message(m) => message(s, m),
        scalar => scalar_value(scalar),
    }
}

fn map_key(k: &MapKey) -> String {
    match k {
        MapKey::String(s) => s.clone(),
        MapKey::Bool(b) => b.to_string(),
        MapKey::I32(n) => n.to_string(),
        MapKey::I64(n) => n.to_string(),
        MapKey::U32(n) => n.to_string(),
        MapKey::U64(n) => n.to_string(),
    }
}

fn is_zero(v: &Value) -> bool {
    match v {
        Value::String(s) => s.is_empty(),
        Value::Number(n) => n.as_f64() == Some(0.0),
        Value::Bool(b) => !b,
        Value::Null => true,
        _ => false,
    }
}

fn scalar_value(v: &Pb) -> Value {
    match v {
        Pb::Bool(b) => json!(b),
        Pb::I32(n) | Pb::EnumNumber(n) => json!(n),
        Pb::I64(n) => json!(n),
        Pb::U32(n) => json!(n),
        Pb::U64(n) => json!(n),
        Pb::F32(n) => go_float(f64::from(*n)),
        Pb::F64(n) => go_float(*n),
        Pb::String(s) => json!(s),
        Pb::Bytes(b) => json!(STANDARD.encode(b)),
        Pb::Message(_) | Pb::List(_) | Pb::Map(_) => Value::Null,
    }
}

/// A float as Go's JSON writes it: a whole number without a fraction (`0`,
/// not `0.0`).
fn go_float(n: f64) -> Value {
    if n.fract() == 0.0 && n.abs() < 9.0e15 {
        json!(n as i64)
    } else {
        json!(n)
    }
}

/// A message's JSON: the special types as apimachinery marshals them, any
/// other message as an object (`{}` when empty, as Go writes a struct).
fn message(s: &Schema, m: &DynamicMessage) -> Value {
    let desc = m.descriptor();
    let name = desc.full_name();
    match name.strip_prefix(META).and_then(|n| n.strip_prefix('.')) {
        Some("Time") => return time(m, false),
        Some("MicroTime") => return time(m, true),
        Some("Duration") => return json!(gotime::duration(int(m, "duration"))),
        Some("FieldsV1") => return embedded_json(m),
        _ => {}
    }
    match name {
        INT_OR_STRING => return int_or_string(m),
        "k8s.io.apimachinery.pkg.api.resource.Quantity" => return json!(string(m, "string")),
        "k8s.io.apimachinery.pkg.runtime.RawExtension" => return embedded_json(m),
        _ => {}
    }
    if let Some(special) = name
        .strip_prefix(APIEXTENSIONS)
        .and_then(|n| n.strip_prefix('.'))
        && let Some(v) = schema_props(s, m, special)
    {
        return v;
    }
    let mut out = Map::new();
    fields_into(s, m, &mut out);
    Value::Object(out)
}

/// apiextensions' union types, one JSON shape or another.
fn schema_props(s: &Schema, m: &DynamicMessage, name: &str) -> Option<Value> {
    let schema = || {
        m.get_field_by_name("schema")
            .filter(|_| has(m, "schema"))
            .map(|v| element(s, &v))
    };
    let list = |field: &str| match m.get_field_by_name(field).as_deref() {
        Some(Pb::List(items)) => items.iter().map(|v| element(s, v)).collect(),
        _ => json!([]),
    };
    match name {
        "JSON" => Some(embedded_json(m)),
        "JSONSchemaPropsOrArray" => Some(schema().unwrap_or_else(|| list("jSONSchemas"))),
        "JSONSchemaPropsOrBool" => Some(schema().unwrap_or_else(|| json!(bool_field(m, "allows")))),
        "JSONSchemaPropsOrStringArray" => Some(schema().unwrap_or_else(|| list("property"))),
        _ => None,
    }
}

fn has(m: &DynamicMessage, field: &str) -> bool {
    m.descriptor()
        .get_field_by_name(field)
        .is_some_and(|f| m.has_field(&f))
}

fn int(m: &DynamicMessage, field: &str) -> i64 {
    match m.get_field_by_name(field).as_deref() {
        Some(Pb::I64(n)) => *n,
        Some(Pb::I32(n)) => i64::from(*n),
        _ => 0,
    }
}

fn string(m: &DynamicMessage, field: &str) -> String {
    match m.get_field_by_name(field).as_deref() {
        Some(Pb::String(s)) => s.clone(),
        _ => String::new(),
    }
}

fn bool_field(m: &DynamicMessage, field: &str) -> bool {
    matches!(m.get_field_by_name(field).as_deref(), Some(Pb::Bool(true)))
}

/// `metav1.Time`/`MicroTime`: `null` when empty (Go's zero time), else UTC.
fn time(m: &DynamicMessage, micro: bool) -> Value {
    if !has(m, "seconds") {
        return Value::Null;
    }
    let seconds = int(m, "seconds");
    let text = if micro {
        gotime::micro_time(seconds, i32::try_from(int(m, "nanos")).unwrap_or(0))
    } else {
        gotime::time(seconds)
    };
    text.map_or(Value::Null, Value::String)
}

/// `intstr.IntOrString`: `type` 1 is the string, anything else the number.
fn int_or_string(m: &DynamicMessage) -> Value {
    if int(m, "type") == 1 {
        json!(string(m, "strVal"))
    } else {
        json!(int(m, "intVal"))
    }
}

/// The JSON inside a `raw` bytes field (RawExtension, FieldsV1, JSON); an
/// enveloped protobuf object inside a RawExtension is decoded too.
fn embedded_json(m: &DynamicMessage) -> Value {
    // `raw` is field 1 of all three (FieldsV1 spells it `Raw`).
    let raw = match m.get_field_by_number(1).as_deref() {
        Some(Pb::Bytes(b)) => b.to_vec(),
        _ => return Value::Null,
    };
    if raw.is_empty() {
        return Value::Null;
    }
    if raw.starts_with(b"k8s\0") {
        return decode(&raw, ("", "")).unwrap_or(Value::Null);
    }
    serde_json::from_slice(&raw).unwrap_or(Value::Null)
}

#[cfg(test)]
mod tests {
    use prost::Message;
    use prost_reflect::{DynamicMessage, Value as Pb};
    use serde_json::json;

    use super::*;

    /// A message as Go writes it: every non-pointer field, zero or not.
    fn go_message(name: &str, fields: &[(&str, Pb)]) -> DynamicMessage {
        let desc = schema().unwrap().by_name(name).unwrap();
        let mut m = DynamicMessage::new(desc);
        for (f, v) in fields {
            m.set_field_by_name(f, v.clone());
        }
        m
    }

    #[test]
    fn go_zeros_of_omitempty_fields_are_unset_and_pointer_zeros_are_kept() {
        let meta = go_message(
            "k8s.io.apimachinery.pkg.apis.meta.v1.ObjectMeta",
            &[
                ("name", Pb::String("web".into())),
                ("generateName", Pb::String(String::new())),
                ("uid", Pb::String(String::new())),
                ("generation", Pb::I64(0)),
                (
                    "creationTimestamp",
                    Pb::Message(go_message("k8s.io.apimachinery.pkg.apis.meta.v1.Time", &[])),
                ),
            ],
        );
        let spec = go_message(
            "k8s.io.api.apps.v1.DeploymentSpec",
            &[
                ("replicas", Pb::I32(0)),
                ("minReadySeconds", Pb::I32(0)),
                ("paused", Pb::Bool(false)),
            ],
        );
        let deployment = go_message(
            "k8s.io.api.apps.v1.Deployment",
            &[("metadata", Pb::Message(meta)), ("spec", Pb::Message(spec))],
        );
        let body = envelope::seal("apps/v1", "Deployment", deployment.encode_to_vec());
        assert_eq!(
            decode(&body, ("", "")).unwrap(),
            json!({"apiVersion": "apps/v1", "kind": "Deployment",
                "metadata": {"name": "web", "creationTimestamp": null},
                "spec": {"replicas": 0}})
        );
        let unset = go_message(
            "k8s.io.apimachinery.pkg.util.intstr.IntOrString",
            &[("type", Pb::I64(0)), ("intVal", Pb::I32(0))],
        );
        let port = go_message(
            "k8s.io.api.core.v1.ServicePort",
            &[
                ("port", Pb::I32(80)),
                ("targetPort", Pb::Message(unset)),
                ("nodePort", Pb::I32(0)),
            ],
        );
        let mut out = Map::new();
        fields_into(schema().unwrap(), &port, &mut out);
        assert_eq!(Value::Object(out), json!({"port": 80}));
    }
}
