//! JSON to protobuf: an object as Go would marshal it after reading its JSON.
//! Keys the message does not have are dropped, as Go's (non-strict) decoder
//! drops them.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use prost::Message;
use prost_reflect::{
    DynamicMessage, FieldDescriptor, Kind, MapKey, MessageDescriptor, Value as Pb,
};
use serde_json::Value;

use crate::schema::{META, Schema, schema};
use crate::{Error, envelope, gotime};

const APIEXTENSIONS: &str = "k8s.io.apiextensions_apiserver.pkg.apis.apiextensions.v1";

/// `obj` (with its `apiVersion` and `kind`) as an enveloped protobuf body.
pub fn encode(obj: &Value) -> Result<Vec<u8>, Error> {
    let api_version = obj["apiVersion"].as_str().unwrap_or_default();
    let kind = obj["kind"].as_str().unwrap_or_default();
    let unknown = || Error::UnknownKind {
        api_version: api_version.to_owned(),
        kind: kind.to_owned(),
    };
    let s = schema().ok_or_else(unknown)?;
    let desc = s.message(api_version, kind).ok_or_else(unknown)?;
    let msg = message(s, &desc, obj, "")?;
    Ok(envelope::seal(api_version, kind, msg.encode_to_vec()))
}

fn message(
    s: &Schema,
    desc: &MessageDescriptor,
    v: &Value,
    path: &str,
) -> Result<DynamicMessage, Error> {
    if let Some(special) = special(desc, v, path)? {
        return Ok(special);
    }
    let mut msg = DynamicMessage::new(desc.clone());
    let Some(obj) = v.as_object() else {
        return match v {
            Value::Null => Ok(msg),
            _ => Err(Error::field(path, "expected an object")),
        };
    };
    for (key, val) in obj {
        let Some(route) = s.route(desc, key) else {
            continue;
        };
        if val.is_null() && !is_time(&route.field) {
            continue;
        }
        let path = format!("{path}.{key}");
        let value = field_value(s, &route.field, val, &path)?;
        let mut target = &mut msg;
        for via in &route.via {
            match target.get_field_mut(via) {
                Pb::Message(inner) => target = inner,
                _ => return Err(Error::field(&path, "inline field is not a message")),
            }
        }
        target.set_field(&route.field, value);
    }
    Ok(msg)
}

fn field_value(s: &Schema, field: &FieldDescriptor, v: &Value, path: &str) -> Result<Pb, Error> {
    if field.is_map() {
        let Kind::Message(entry) = field.kind() else {
            return Err(Error::field(path, "map without an entry message"));
        };
        let value_field = entry.map_entry_value_field();
        let obj = v
            .as_object()
            .ok_or_else(|| Error::field(path, "expected an object"))?;
        let mut map = std::collections::HashMap::new();
        for (k, item) in obj {
            let item = element(s, &value_field, item, &format!("{path}.{k}"))?;
            map.insert(MapKey::String(k.clone()), item);
        }
        return Ok(Pb::Map(map));
    }
    if field.is_list() {
        let items = v
            .as_array()
            .ok_or_else(|| Error::field(path, "expected an array"))?;
        return items
            .iter()
            .enumerate()
            .map(|(i, item)| element(s, field, item, &format!("{path}[{i}]")))
            .collect::<Result<_, _>>()
            .map(Pb::List);
    }
    element(s, field, v, path)
}

fn element(s: &Schema, field: &FieldDescriptor, v: &Value, path: &str) -> Result<Pb, Error> {
    let wrong = |what: &str| Error::field(path, format!("expected {what}, got {v}"));
    Ok(match field.kind() {
        Kind::Message(m) => Pb::Message(message(s, &m, v, path)?),
        Kind::String => Pb::String(v.as_str().ok_or_else(|| wrong("a string"))?.to_owned()),
        Kind::Bool => Pb::Bool(v.as_bool().ok_or_else(|| wrong("a boolean"))?),
        Kind::Bytes => {
            let text = v.as_str().ok_or_else(|| wrong("base64"))?;
            let bytes = STANDARD.decode(text).map_err(|_| wrong("base64"))?;
            Pb::Bytes(bytes.into())
        }
        Kind::Double | Kind::Float => {
            let n = v.as_f64().ok_or_else(|| wrong("a number"))?;
            match field.kind() {
                Kind::Float => Pb::F32(n as f32),
                _ => Pb::F64(n),
            }
        }
        Kind::Enum(_) => Pb::EnumNumber(integer(v).ok_or_else(|| wrong("an integer"))? as i32),
        kind => {
            let n = integer(v).ok_or_else(|| wrong("an integer"))?;
            let out_of_range = || wrong("an integer in range");
            match kind {
                Kind::Int32 | Kind::Sint32 | Kind::Sfixed32 => {
                    Pb::I32(i32::try_from(n).map_err(|_| out_of_range())?)
                }
                Kind::Uint32 | Kind::Fixed32 => {
                    Pb::U32(u32::try_from(n).map_err(|_| out_of_range())?)
                }
                Kind::Uint64 | Kind::Fixed64 => {
                    Pb::U64(u64::try_from(n).map_err(|_| out_of_range())?)
                }
                _ => Pb::I64(n),
            }
        }
    })
}

/// Whether `field` is a `metav1.Time` or `MicroTime`, whose `null` (Go's
/// zero time) is an empty message rather than no field.
fn is_time(field: &FieldDescriptor) -> bool {
    match field.kind() {
        Kind::Message(m) if !field.is_list() => {
            m.full_name() == format!("{META}.Time") || m.full_name() == format!("{META}.MicroTime")
        }
        _ => false,
    }
}

/// An integer, also when JSON wrote it as `1.0` or `1e3`.
fn integer(v: &Value) -> Option<i64> {
    v.as_i64().or_else(|| {
        let f = v.as_f64()?;
        (f.fract() == 0.0 && f.abs() < 9.0e18).then_some(f as i64)
    })
}

/// The messages whose JSON is not an object of their fields.
fn special(
    desc: &MessageDescriptor,
    v: &Value,
    path: &str,
) -> Result<Option<DynamicMessage>, Error> {
    let name = desc.full_name();
    let mut msg = DynamicMessage::new(desc.clone());
    let mut set = |field: &str, value: Pb| {
        msg.set_field_by_name(field, value);
    };
    let wrong = |what: &str| Error::field(path, format!("expected {what}, got {v}"));
    if (name == format!("{META}.Time") || name == format!("{META}.MicroTime")) && v.is_null() {
        // Go's zero time: an empty message, read back as null.
    } else if name == format!("{META}.Time") || name == format!("{META}.MicroTime") {
        let text = v.as_str().ok_or_else(|| wrong("a time"))?;
        let (seconds, nanos) = gotime::parse_time(text).ok_or_else(|| wrong("an RFC 3339 time"))?;
        set("seconds", Pb::I64(seconds));
        set("nanos", Pb::I32(nanos));
    } else if name == format!("{META}.Duration") {
        let text = v.as_str().ok_or_else(|| wrong("a duration"))?;
        let nanos = gotime::parse_duration(text).ok_or_else(|| wrong("a Go duration"))?;
        set("duration", Pb::I64(nanos));
    } else if name == "k8s.io.apimachinery.pkg.util.intstr.IntOrString" {
        match v {
            Value::String(text) => {
                set("type", Pb::I64(1));
                set("strVal", Pb::String(text.clone()));
            }
            _ => {
                let n = integer(v).ok_or_else(|| wrong("an integer or a string"))?;
                set("type", Pb::I64(0));
                set(
                    "intVal",
                    Pb::I32(i32::try_from(n).map_err(|_| wrong("a 32-bit integer"))?),
                );
            }
        }
    } else if name == "k8s.io.apimachinery.pkg.api.resource.Quantity" {
        let text = match v {
            Value::String(t) => t.clone(),
            Value::Number(n) => n.to_string(),
            _ => return Err(wrong("a quantity")),
        };
        set("string", Pb::String(text));
    } else if name == format!("{META}.FieldsV1")
        || name == "k8s.io.apimachinery.pkg.runtime.RawExtension"
        || name == format!("{APIEXTENSIONS}.JSON")
    {
        // `raw` is field 1 of all three (FieldsV1 spells it `Raw`).
        let raw = serde_json::to_vec(v).unwrap_or_default();
        if let Some(f) = desc.get_field(1) {
            msg.set_field(&f, Pb::Bytes(raw.into()));
        }
        return Ok(Some(msg));
    } else {
        return union(desc, v, path);
    }
    Ok(Some(msg))
}

/// apiextensions' `JSONSchemaPropsOr{Array,Bool,StringArray}`.
fn union(desc: &MessageDescriptor, v: &Value, path: &str) -> Result<Option<DynamicMessage>, Error> {
    let Some(kind) = desc
        .full_name()
        .strip_prefix(&format!("{APIEXTENSIONS}.JSONSchemaPropsOr"))
    else {
        return Ok(None);
    };
    let Some(s) = schema() else { return Ok(None) };
    let mut msg = DynamicMessage::new(desc.clone());
    let field = |name: &str| {
        desc.get_field_by_name(name)
            .ok_or_else(|| Error::field(path, format!("no field {name}")))
    };
    match (kind, v) {
        ("Bool", Value::Bool(b)) => msg.set_field(&field("allows")?, Pb::Bool(*b)),
        ("Bool", _) => {
            msg.set_field(&field("allows")?, Pb::Bool(true));
            let schema_field = field("schema")?;
            msg.set_field(&schema_field, field_value(s, &schema_field, v, path)?);
        }
        ("Array", Value::Array(_)) => {
            let f = field("jSONSchemas")?;
            msg.set_field(&f, field_value(s, &f, v, path)?);
        }
        ("StringArray", Value::Array(_)) => {
            let f = field("property")?;
            msg.set_field(&f, field_value(s, &f, v, path)?);
        }
        _ => {
            let f = field("schema")?;
            msg.set_field(&f, field_value(s, &f, v, path)?);
        }
    }
    Ok(Some(msg))
}
