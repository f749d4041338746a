//! JSON to protobuf: an object as Go would marshal it after reading its JSON.
//! Keys the message does not have are dropped, as Go's (non-strict) decoder
//! drops them.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use prost::Message;
use prost::encoding::{WireType, encode_key, encode_varint};
use prost_reflect::{
    DynamicMessage, FieldDescriptor, Kind, MapKey, MessageDescriptor, Value as Pb,
};
use serde_json::Value;

use crate::schema::{Schema, schema};
use crate::{Error, envelope, gotime};

const TIME: &str = "k8s.io.apimachinery.pkg.apis.meta.v1.Time";
const MICRO_TIME: &str = "k8s.io.apimachinery.pkg.apis.meta.v1.MicroTime";
const DURATION: &str = "k8s.io.apimachinery.pkg.apis.meta.v1.Duration";
const FIELDS_V1: &str = "k8s.io.apimachinery.pkg.apis.meta.v1.FieldsV1";
const INT_OR_STRING: &str = "k8s.io.apimachinery.pkg.util.intstr.IntOrString";
const QUANTITY: &str = "k8s.io.apimachinery.pkg.api.resource.Quantity";
const RAW_EXTENSION: &str = "k8s.io.apimachinery.pkg.runtime.RawExtension";
const JSON: &str = "k8s.io.apiextensions_apiserver.pkg.apis.apiextensions.v1.JSON";
const SCHEMA_UNION: &str =
    "k8s.io.apiextensions_apiserver.pkg.apis.apiextensions.v1.JSONSchemaPropsOr";

/// Where a value is, for error messages only: built as the walk goes down,
/// rendered (`.spec.ports[0].port`) only when something is wrong.
#[derive(Clone, Copy)]
struct At<'a> {
    parent: Option<&'a At<'a>>,
    step: Step<'a>,
}

#[derive(Clone, Copy)]
enum Step<'a> {
    Root,
    Key(&'a str),
    Index(usize),
}

impl<'a> At<'a> {
    const ROOT: At<'static> = At {
        parent: None,
        step: Step::Root,
    };

    fn key(&'a self, key: &'a str) -> At<'a> {
        At {
            parent: Some(self),
            step: Step::Key(key),
        }
    }

    fn index(&'a self, i: usize) -> At<'a> {
        At {
            parent: Some(self),
            step: Step::Index(i),
        }
    }

    fn render(&self) -> String {
        let mut out = self.parent.map(At::render).unwrap_or_default();
        match self.step {
            Step::Root => {}
            Step::Key(k) => {
                out.push('.');
                out.push_str(k);
            }
            Step::Index(i) => out.push_str(&format!("[{i}]")),
        }
        out
    }

    fn error(&self, message: impl Into<String>) -> Error {
        Error::field(&self.render(), message)
    }
}

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
    let mut raw = Vec::with_capacity(256);
    write_message(s, &desc, obj, &At::ROOT, &mut raw)?;
    Ok(envelope::seal(api_version, kind, raw))
}

/// Writes `v` as the fields of message `desc`, straight from the JSON to the
/// wire (no dynamic message in between, but for the types whose JSON is not
/// an object of their fields, which are small).
fn write_message(
    s: &Schema,
    desc: &MessageDescriptor,
    v: &Value,
    at: &At<'_>,
    out: &mut Vec<u8>,
) -> Result<(), Error> {
    if let Some(special) = special(desc, v, at)? {
        out.extend(special.encode_to_vec());
        return Ok(());
    }
    let Some(obj) = v.as_object() else {
        return match v {
            Value::Null => Ok(()),
            _ => Err(at.error("expected an object")),
        };
    };
    // Keys of embedded structs (inlined in JSON) go into their own message.
    let mut inlined: Vec<(FieldDescriptor, serde_json::Map<String, Value>)> = Vec::new();
    for (key, val) in obj {
        let Some(route) = s.route(desc, key) else {
            continue;
        };
        match route.via.first() {
            None => write_field(s, &route.field, val, &at.key(key), out)?,
            Some(via) => match inlined.iter_mut().find(|(f, _)| f == via) {
                Some((_, m)) => drop(m.insert(key.clone(), val.clone())),
                None => inlined.push((
                    via.clone(),
                    [(key.clone(), val.clone())].into_iter().collect(),
                )),
            },
        }
    }
    for (via, fields) in inlined {
        write_field(s, &via, &Value::Object(fields), at, out)?;
    }
    Ok(())
}

/// Writes one field: every item of a list, every entry of a map.
fn write_field(
    s: &Schema,
    field: &FieldDescriptor,
    v: &Value,
    at: &At<'_>,
    out: &mut Vec<u8>,
) -> Result<(), Error> {
    if v.is_null() {
        if is_time(field) {
            // Go's zero time: present, empty.
            length_delimited(field.number(), &[], out);
        }
        return Ok(());
    }
    if field.is_map() {
        let Kind::Message(entry) = field.kind() else {
            return Err(at.error("map without an entry message"));
        };
        let (key_field, value_field) = (entry.map_entry_key_field(), entry.map_entry_value_field());
        let obj = v
            .as_object()
            .ok_or_else(|| at.error("expected an object"))?;
        for (k, item) in obj {
            let mut buf = Vec::new();
            write_single(s, &key_field, &Value::String(k.clone()), at, &mut buf)?;
            write_single(s, &value_field, item, &at.key(k), &mut buf)?;
            length_delimited(field.number(), &buf, out);
        }
        return Ok(());
    }
    if field.is_list() {
        let items = v.as_array().ok_or_else(|| at.error("expected an array"))?;
        for (i, item) in items.iter().enumerate() {
            write_single(s, field, item, &at.index(i), out)?;
        }
        return Ok(());
    }
    write_single(s, field, v, at, out)
}

/// Writes one value of `field` with its key.
fn write_single(
    s: &Schema,
    field: &FieldDescriptor,
    v: &Value,
    at: &At<'_>,
    out: &mut Vec<u8>,
) -> Result<(), Error> {
    let number = field.number();
    match field.kind() {
        Kind::Message(m) => {
            let mut buf = Vec::new();
            write_message(s, &m, v, at, &mut buf)?;
            length_delimited(number, &buf, out);
        }
        Kind::String => {
            let text = v
                .as_str()
                .ok_or_else(|| at.error(format!("expected a string, got {v}")))?;
            length_delimited(number, text.as_bytes(), out);
        }
        kind => {
            // The other scalars, checked as the dynamic path checks them.
            let value = element(s, field, v, at)?;
            write_scalar(number, &kind, &value, out);
        }
    }
    Ok(())
}

/// Writes field `number` as length-delimited `bytes` (a message, string,
/// bytes or map entry).
fn length_delimited(number: u32, bytes: &[u8], out: &mut Vec<u8>) {
    encode_key(number, WireType::LengthDelimited, out);
    encode_varint(bytes.len() as u64, out);
    out.extend_from_slice(bytes);
}

/// Writes a scalar with its key, in the wire type of its kind.
fn write_scalar(number: u32, kind: &Kind, value: &Pb, out: &mut Vec<u8>) {
    let bits64 = |n: u64, out: &mut Vec<u8>| {
        encode_key(number, WireType::SixtyFourBit, out);
        out.extend(n.to_le_bytes());
    };
    let bits32 = |n: u32, out: &mut Vec<u8>| {
        encode_key(number, WireType::ThirtyTwoBit, out);
        out.extend(n.to_le_bytes());
    };
    let varint = |n: u64, out: &mut Vec<u8>| {
        encode_key(number, WireType::Varint, out);
        encode_varint(n, out);
    };
    match (kind, value) {
        (_, Pb::Bytes(b)) => length_delimited(number, b, out),
        (_, Pb::F64(f)) => bits64(f.to_bits(), out),
        (_, Pb::F32(f)) => bits32(f.to_bits(), out),
        (Kind::Sfixed32, Pb::I32(n)) => bits32(*n as u32, out),
        (Kind::Fixed32, Pb::U32(n)) => bits32(*n, out),
        (Kind::Sfixed64, Pb::I64(n)) => bits64(*n as u64, out),
        (Kind::Fixed64, Pb::U64(n)) => bits64(*n, out),
        (Kind::Sint32, Pb::I32(n)) => varint(u64::from(((n << 1) ^ (n >> 31)) as u32), out),
        (Kind::Sint64, Pb::I64(n)) => varint(((n << 1) ^ (n >> 63)) as u64, out),
        (_, Pb::Bool(b)) => varint(u64::from(*b), out),
        // Negative int32s are sign-extended to ten bytes, as Go writes them.
        (_, Pb::I32(n) | Pb::EnumNumber(n)) => varint(i64::from(*n) as u64, out),
        (_, Pb::I64(n)) => varint(*n as u64, out),
        (_, Pb::U32(n)) => varint(u64::from(*n), out),
        (_, Pb::U64(n)) => varint(*n, out),
        (_, Pb::String(_) | Pb::Message(_) | Pb::List(_) | Pb::Map(_)) => {}
    }
}

fn message(
    s: &Schema,
    desc: &MessageDescriptor,
    v: &Value,
    path: &At<'_>,
) -> Result<DynamicMessage, Error> {
    if let Some(special) = special(desc, v, path)? {
        return Ok(special);
    }
    let mut msg = DynamicMessage::new(desc.clone());
    let Some(obj) = v.as_object() else {
        return match v {
            Value::Null => Ok(msg),
            _ => Err(path.error("expected an object")),
        };
    };
    for (key, val) in obj {
        let Some(route) = s.route(desc, key) else {
            continue;
        };
        if val.is_null() && !is_time(&route.field) {
            continue;
        }
        let path = path.key(key);
        let value = field_value(s, &route.field, val, &path)?;
        let mut target = &mut msg;
        for via in &route.via {
            match target.get_field_mut(via) {
                Pb::Message(inner) => target = inner,
                _ => return Err(path.error("inline field is not a message")),
            }
        }
        target.set_field(&route.field, value);
    }
    Ok(msg)
}

fn field_value(s: &Schema, field: &FieldDescriptor, v: &Value, path: &At<'_>) -> Result<Pb, Error> {
    if field.is_map() {
        let Kind::Message(entry) = field.kind() else {
            return Err(path.error("map without an entry message"));
        };
        let value_field = entry.map_entry_value_field();
        let obj = v
            .as_object()
            .ok_or_else(|| path.error("expected an object"))?;
        let mut map = std::collections::HashMap::new();
        for (k, item) in obj {
            let item = element(s, &value_field, item, &path.key(k))?;
            map.insert(MapKey::String(k.clone()), item);
        }
        return Ok(Pb::Map(map));
    }
    if field.is_list() {
        let items = v
            .as_array()
            .ok_or_else(|| path.error("expected an array"))?;
        return items
            .iter()
            .enumerate()
            .map(|(i, item)| element(s, field, item, &path.index(i)))
            .collect::<Result<_, _>>()
            .map(Pb::List);
    }
    element(s, field, v, path)
}

fn element(s: &Schema, field: &FieldDescriptor, v: &Value, path: &At<'_>) -> Result<Pb, Error> {
    let wrong = |what: &str| path.error(format!("expected {what}, got {v}"));
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
        Kind::Message(m) if !field.is_list() => matches!(m.full_name(), TIME | MICRO_TIME),
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
    path: &At<'_>,
) -> Result<Option<DynamicMessage>, Error> {
    let name = desc.full_name();
    if !matches!(
        name,
        TIME | MICRO_TIME | DURATION | INT_OR_STRING | QUANTITY | FIELDS_V1 | RAW_EXTENSION | JSON
    ) {
        return if name.starts_with(SCHEMA_UNION) {
            union(desc, v, path)
        } else {
            Ok(None)
        };
    }
    let mut msg = DynamicMessage::new(desc.clone());
    let wrong = |what: &str| path.error(format!("expected {what}, got {v}"));
    let fields: Vec<(&str, Pb)> = match name {
        // Go's zero time: an empty message, read back as null.
        TIME | MICRO_TIME if v.is_null() => Vec::new(),
        TIME | MICRO_TIME => {
            let text = v.as_str().ok_or_else(|| wrong("a time"))?;
            let (seconds, nanos) =
                gotime::parse_time(text).ok_or_else(|| wrong("an RFC 3339 time"))?;
            vec![("seconds", Pb::I64(seconds)), ("nanos", Pb::I32(nanos))]
        }
        DURATION => {
            let text = v.as_str().ok_or_else(|| wrong("a duration"))?;
            let nanos = gotime::parse_duration(text).ok_or_else(|| wrong("a Go duration"))?;
            vec![("duration", Pb::I64(nanos))]
        }
        INT_OR_STRING => match v {
            Value::String(text) => vec![("type", Pb::I64(1)), ("strVal", Pb::String(text.clone()))],
            _ => {
                let n = integer(v).ok_or_else(|| wrong("an integer or a string"))?;
                let n = i32::try_from(n).map_err(|_| wrong("a 32-bit integer"))?;
                vec![("type", Pb::I64(0)), ("intVal", Pb::I32(n))]
            }
        },
        QUANTITY => match v {
            Value::String(t) => vec![("string", Pb::String(t.clone()))],
            Value::Number(n) => vec![("string", Pb::String(n.to_string()))],
            _ => return Err(wrong("a quantity")),
        },
        // `raw` is field 1 of the embedded-JSON types (FieldsV1 spells it `Raw`).
        _ => {
            let raw = serde_json::to_vec(v).unwrap_or_default();
            if let Some(f) = desc.get_field(1) {
                msg.set_field(&f, Pb::Bytes(raw.into()));
            }
            Vec::new()
        }
    };
    for (field, value) in fields {
        msg.set_field_by_name(field, value);
    }
    Ok(Some(msg))
}

/// apiextensions' `JSONSchemaPropsOr{Array,Bool,StringArray}`.
fn union(
    desc: &MessageDescriptor,
    v: &Value,
    path: &At<'_>,
) -> Result<Option<DynamicMessage>, Error> {
    let Some(kind) = desc.full_name().strip_prefix(SCHEMA_UNION) else {
        return Ok(None);
    };
    let Some(s) = schema() else { return Ok(None) };
    let mut msg = DynamicMessage::new(desc.clone());
    let field = |name: &str| {
        desc.get_field_by_name(name)
            .ok_or_else(|| path.error(format!("no field {name}")))
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
