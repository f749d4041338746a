//! `/openapi/v2` in protobuf, the only form kubectl asks for
//! (`application/com.github.proto-openapi.spec.v2@v1.0+protobuf`): the
//! Swagger 2.0 JSON document written as gnostic's `openapi.v2.Document`
//! (google/gnostic `openapiv2/OpenAPIv2.proto`, whose field numbers this
//! module names), as kube-openapi serves it. Vendor extensions, defaults,
//! examples and enum values are gnostic `Any`s carrying their YAML text (JSON
//! is YAML).

use serde_json::{Map, Value};

/// The media type the protobuf document is answered with, as kube-openapi
/// writes it (the `@` spelling clients ask for is no valid Content-Type: Go's
/// `mime` refuses it).
pub(crate) const MEDIA_TYPE: &str = "application/com.github.proto-openapi.spec.v2.v1.0+protobuf";

/// Whether `media` (without parameters) names the protobuf document, in
/// either spelling.
pub(crate) fn is_media_type(media: &str) -> bool {
    matches!(
        media,
        MEDIA_TYPE | "application/com.github.proto-openapi.spec.v2@v1.0+protobuf"
    )
}

/// The forms `/openapi/v2` is served in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Form {
    /// Swagger 2.0 JSON.
    Json,
    /// gnostic's protobuf.
    Protobuf,
}

/// The form `accept` asks for: its first media range served here (JSON
/// without a header); `None` if it takes neither.
pub(crate) fn negotiate(accept: Option<&str>) -> Option<Form> {
    let Some(accept) = accept.filter(|a| !a.trim().is_empty()) else {
        return Some(Form::Json);
    };
    accept.split(',').find_map(|range| {
        let media = range.split(';').next().unwrap_or_default().trim();
        match media {
            "application/json" | "application/*" | "*/*" => Some(Form::Json),
            m if is_media_type(m) => Some(Form::Protobuf),
            _ => None,
        }
    })
}

/// Nesting deeper than this is not written (the JSON parser already stops
/// at 128 levels).
const MAX_DEPTH: usize = 128;

/// A protobuf message being written.
#[derive(Default)]
struct Writer(Vec<u8>);

impl Writer {
    fn varint(&mut self, mut v: u64) {
        while v >= 0x80 {
            self.0.push((v as u8) | 0x80);
            v >>= 7;
        }
        self.0.push(v as u8);
    }

    fn key(&mut self, field: u32, wire: u8) {
        self.varint((u64::from(field) << 3) | u64::from(wire));
    }

    fn bytes(&mut self, field: u32, b: &[u8]) {
        self.key(field, 2);
        self.varint(b.len() as u64);
        self.0.extend_from_slice(b);
    }

    fn string(&mut self, field: u32, s: &str) {
        self.bytes(field, s.as_bytes());
    }

    fn message(&mut self, field: u32, write: impl FnOnce(&mut Writer)) {
        let mut child = Writer::default();
        write(&mut child);
        self.bytes(field, &child.0);
    }

    fn bool(&mut self, field: u32, b: bool) {
        self.key(field, 0);
        self.varint(u64::from(b));
    }

    fn double(&mut self, field: u32, f: f64) {
        self.key(field, 1);
        self.0.extend_from_slice(&f.to_le_bytes());
    }

    fn int64(&mut self, field: u32, i: i64) {
        self.key(field, 0);
        self.varint(i as u64);
    }

    /// A gnostic `Any`: the value's YAML (here JSON) text.
    fn any(&mut self, field: u32, v: &Value) {
        let text = serde_json::to_string(v).unwrap_or_default();
        self.message(field, |w| w.string(2, &text));
    }

    /// `repeated NamedAny vendor_extension` from the `x-` keys of `m`.
    fn extensions(&mut self, field: u32, m: &Map<String, Value>) {
        for (k, v) in m.iter().filter(|(k, _)| k.starts_with("x-")) {
            self.message(field, |w| {
                w.string(1, k);
                w.any(2, v);
            });
        }
    }

    fn strings(&mut self, field: u32, v: Option<&Value>) {
        for s in v.and_then(Value::as_array).into_iter().flatten() {
            if let Some(s) = s.as_str() {
                self.string(field, s);
            }
        }
    }
}

/// The protobuf form of a Swagger 2.0 document.
pub(crate) fn encode(doc: &Value) -> Vec<u8> {
    let mut w = Writer::default();
    let Some(d) = doc.as_object() else {
        return w.0;
    };
    if let Some(s) = d.get("swagger").and_then(Value::as_str) {
        w.string(1, s);
    }
    if let Some(info) = d.get("info").and_then(Value::as_object) {
        w.message(2, |w| {
            for (field, key) in [(1, "title"), (2, "version"), (3, "description")] {
                if let Some(s) = info.get(key).and_then(Value::as_str) {
                    w.string(field, s);
                }
            }
        });
    }
    if let Some(paths) = d.get("paths").and_then(Value::as_object) {
        w.message(8, |w| {
            for (name, item) in paths {
                w.message(2, |w| {
                    w.string(1, name);
                    w.message(2, |w| path_item(w, item));
                });
            }
        });
    }
    if let Some(defs) = d.get("definitions").and_then(Value::as_object) {
        w.message(9, |w| named_schemas(w, defs, 0));
    }
    w.extensions(16, d);
    w.0
}

fn path_item(w: &mut Writer, item: &Value) {
    let Some(item) = item.as_object() else {
        return;
    };
    let methods = [
        (2, "get"),
        (3, "put"),
        (4, "post"),
        (5, "delete"),
        (6, "options"),
        (7, "head"),
        (8, "patch"),
    ];
    for (field, method) in methods {
        if let Some(op) = item.get(method).and_then(Value::as_object) {
            w.message(field, |w| operation(w, op));
        }
    }
    for p in item
        .get("parameters")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        w.message(9, |w| parameter(w, p));
    }
    w.extensions(10, item);
}

fn operation(w: &mut Writer, op: &Map<String, Value>) {
    w.strings(1, op.get("tags"));
    for (field, key) in [(2, "summary"), (3, "description"), (5, "operationId")] {
        if let Some(s) = op.get(key).and_then(Value::as_str) {
            w.string(field, s);
        }
    }
    w.strings(6, op.get("produces"));
    w.strings(7, op.get("consumes"));
    for p in op
        .get("parameters")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        w.message(8, |w| parameter(w, p));
    }
    if let Some(responses) = op.get("responses").and_then(Value::as_object) {
        w.message(9, |w| {
            for (code, r) in responses {
                w.message(1, |w| {
                    w.string(1, code);
                    w.message(2, |w| w.message(1, |w| response(w, r)));
                });
            }
        });
    }
    w.strings(10, op.get("schemes"));
    w.extensions(13, op);
}

fn response(w: &mut Writer, r: &Value) {
    if let Some(s) = r.get("description").and_then(Value::as_str) {
        w.string(1, s);
    }
    if let Some(schema) = r.get("schema") {
        w.message(2, |w| w.message(1, |w| self::schema(w, schema, 0)));
    }
}

/// A `ParametersItem`: a body parameter, or a query, path or header one.
fn parameter(w: &mut Writer, p: &Value) {
    let Some(p) = p.as_object() else {
        return;
    };
    let text = |k: &str| p.get(k).and_then(Value::as_str);
    let required = p.get("required").and_then(Value::as_bool).unwrap_or(false);
    w.message(1, |w| match text("in").unwrap_or_default() {
        "body" => w.message(1, |w| {
            text("description").into_iter().for_each(|s| w.string(1, s));
            text("name").into_iter().for_each(|s| w.string(2, s));
            w.string(3, "body");
            w.bool(4, required);
            if let Some(s) = p.get("schema") {
                w.message(5, |w| schema(w, s, 0));
            }
        }),
        location => w.message(2, |w| {
            // NonBodyParameter's oneof: header 1, query 3, path 4; then the
            // sub-schema's own numbering (query's has allowEmptyValue at 5).
            let (which, shift) = match location {
                "header" => (1, 0),
                "path" => (4, 0),
                _ => (3, 1),
            };
            w.message(which, |w| {
                w.bool(1, required);
                w.string(2, location);
                text("description").into_iter().for_each(|s| w.string(3, s));
                text("name").into_iter().for_each(|s| w.string(4, s));
                text("type")
                    .into_iter()
                    .for_each(|s| w.string(5 + shift, s));
                let unique = p.get("uniqueItems").and_then(Value::as_bool);
                unique.into_iter().for_each(|u| w.bool(19 + shift, u));
            });
        }),
    });
}

fn named_schemas(w: &mut Writer, m: &Map<String, Value>, depth: usize) {
    for (name, s) in m {
        w.message(1, |w| {
            w.string(1, name);
            w.message(2, |w| schema(w, s, depth + 1));
        });
    }
}

fn schema(w: &mut Writer, s: &Value, depth: usize) {
    let Some(s) = s.as_object() else {
        return;
    };
    if depth > MAX_DEPTH {
        return;
    }
    let strings = [(1, "$ref"), (2, "format"), (3, "title"), (4, "description")];
    for (field, key) in strings {
        if let Some(v) = s.get(key).and_then(Value::as_str) {
            w.string(field, v);
        }
    }
    if let Some(d) = s.get("default") {
        w.any(5, d);
    }
    numbers(w, s);
    w.strings(19, s.get("required"));
    for e in s
        .get("enum")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        w.any(20, e);
    }
    nested(w, s, depth);
    for a in s
        .get("allOf")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        w.message(24, |w| schema(w, a, depth + 1));
    }
    if let Some(p) = s.get("properties").and_then(Value::as_object) {
        w.message(25, |w| named_schemas(w, p, depth));
    }
    if let Some(v) = s.get("readOnly").and_then(Value::as_bool) {
        w.bool(27, v);
    }
    if let Some(e) = s.get("example") {
        w.any(30, e);
    }
    w.extensions(31, s);
}

/// A schema's `additionalProperties`, `type` and `items`.
fn nested(w: &mut Writer, s: &Map<String, Value>, depth: usize) {
    match s.get("additionalProperties") {
        Some(Value::Bool(b)) => w.message(21, |w| w.bool(2, *b)),
        Some(a @ Value::Object(_)) => w.message(21, |w| w.message(1, |w| schema(w, a, depth + 1))),
        _ => {}
    }
    match s.get("type") {
        Some(Value::String(t)) => w.message(22, |w| w.string(1, t)),
        Some(t @ Value::Array(_)) => w.message(22, |w| w.strings(1, Some(t))),
        _ => {}
    }
    match s.get("items") {
        Some(Value::Array(items)) => w.message(23, |w| {
            items
                .iter()
                .for_each(|i| w.message(1, |w| schema(w, i, depth + 1)));
        }),
        Some(i @ Value::Object(_)) => w.message(23, |w| w.message(1, |w| schema(w, i, depth + 1))),
        _ => {}
    }
}

/// The numeric and boolean validations of a schema.
fn numbers(w: &mut Writer, s: &Map<String, Value>) {
    let doubles = [(6, "multipleOf"), (7, "maximum"), (9, "minimum")];
    for (field, key) in doubles {
        if let Some(v) = s.get(key).and_then(Value::as_f64) {
            w.double(field, v);
        }
    }
    let bools = [
        (8, "exclusiveMaximum"),
        (10, "exclusiveMinimum"),
        (16, "uniqueItems"),
    ];
    for (field, key) in bools {
        if let Some(v) = s.get(key).and_then(Value::as_bool) {
            w.bool(field, v);
        }
    }
    let ints = [
        (11, "maxLength"),
        (12, "minLength"),
        (14, "maxItems"),
        (15, "minItems"),
        (17, "maxProperties"),
        (18, "minProperties"),
    ];
    for (field, key) in ints {
        if let Some(v) = s.get(key).and_then(Value::as_i64) {
            w.int64(field, v);
        }
    }
    if let Some(p) = s.get("pattern").and_then(Value::as_str) {
        w.string(13, p);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// A field as read back: a varint, 8 bytes, or length-delimited bytes.
    #[derive(Debug, Clone, PartialEq)]
    enum Field {
        Varint(u64),
        Fixed64([u8; 8]),
        Bytes(Vec<u8>),
    }

    fn read_varint(b: &[u8], at: &mut usize) -> u64 {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let byte = b[*at];
            *at += 1;
            v |= u64::from(byte & 0x7f) << shift;
            if byte < 0x80 {
                break;
            }
        }
        v
    }

    fn fields(b: &[u8]) -> Vec<(u32, Field)> {
        let mut out = Vec::new();
        let mut at = 0;
        while at < b.len() {
            let key = read_varint(b, &mut at);
            let field = match key & 7 {
                0 => Field::Varint(read_varint(b, &mut at)),
                1 => {
                    let f = Field::Fixed64(b[at..at + 8].try_into().unwrap());
                    at += 8;
                    f
                }
                2 => {
                    let len = read_varint(b, &mut at) as usize;
                    let f = Field::Bytes(b[at..at + len].to_vec());
                    at += len;
                    f
                }
                w => panic!("wire type {w}"),
            };
            out.push(((key >> 3) as u32, field));
        }
        out
    }

    fn all(b: &[u8], n: u32) -> Vec<Vec<u8>> {
        fields(b)
            .into_iter()
            .filter_map(|(f, v)| match (f == n, v) {
                (true, Field::Bytes(b)) => Some(b),
                _ => None,
            })
            .collect()
    }

    fn one(b: &[u8], n: u32) -> Vec<u8> {
        all(b, n).into_iter().next().unwrap()
    }

    fn text(b: &[u8], n: u32) -> String {
        String::from_utf8(one(b, n)).unwrap()
    }

    /// The value of the named entry (NamedX: 1 name, 2 value) called `name`.
    fn named(entries: Vec<Vec<u8>>, name: &str) -> Vec<u8> {
        entries
            .into_iter()
            .find(|e| text(e, 1) == name)
            .map(|e| one(&e, 2))
            .unwrap()
    }

    #[test]
    fn negotiates_json_or_gnostic_protobuf() {
        assert_eq!(negotiate(None), Some(Form::Json));
        assert_eq!(negotiate(Some("application/json, */*")), Some(Form::Json));
        assert_eq!(negotiate(Some(MEDIA_TYPE)), Some(Form::Protobuf));
        let kubectl = "application/com.github.proto-openapi.spec.v2@v1.0+protobuf";
        assert_eq!(negotiate(Some(kubectl)), Some(Form::Protobuf));
        assert_eq!(negotiate(Some("text/html")), None);
    }

    fn sample() -> Value {
        json!({
            "swagger": "2.0",
            "info": {"title": "Kubernetes", "version": "v1.33.0"},
            "paths": {"/api/v1/namespaces/{namespace}/pods/{name}": {"patch": {
                "consumes": ["application/merge-patch+json"],
                "parameters": [{"name": "fieldValidation", "in": "query", "type": "string", "uniqueItems": true}],
                "responses": {"200": {"description": "OK", "schema": {"$ref": "#/definitions/P"}}},
                "x-kubernetes-action": "patch",
            }}},
            "definitions": {"P": {
                "description": "A pod.",
                "type": "object",
                "required": ["spec"],
                "properties": {
                    "spec": {"$ref": "#/definitions/S", "description": "Its spec."},
                    "n": {"type": "integer", "minimum": 1.5, "maxLength": 3},
                    "m": {"type": "object", "additionalProperties": {"type": "string"}},
                    "l": {"type": "array", "items": {"type": "string"}, "x-kubernetes-list-type": "set"},
                },
                "x-kubernetes-group-version-kind": [{"group": "", "kind": "Pod", "version": "v1"}],
            }},
        })
    }

    #[test]
    fn paths_read_back_as_gnostic_writes_them() {
        let b = encode(&sample());
        assert_eq!(text(&b, 1), "2.0");
        assert_eq!(text(&one(&b, 2), 2), "v1.33.0");
        let path = named(
            all(&one(&b, 8), 2),
            "/api/v1/namespaces/{namespace}/pods/{name}",
        );
        let patch = one(&path, 8);
        assert_eq!(text(&patch, 7), "application/merge-patch+json");
        let query = one(&one(&one(&one(&patch, 8), 1), 2), 3);
        assert_eq!(
            (text(&query, 2), text(&query, 4), text(&query, 6)),
            ("query".into(), "fieldValidation".into(), "string".into())
        );
        assert!(fields(&query).contains(&(20, Field::Varint(1))));
        let ok = named(all(&one(&patch, 9), 1), "200");
        let response = one(&ok, 1);
        assert_eq!(text(&response, 1), "OK");
        assert_eq!(text(&one(&one(&response, 2), 1), 1), "#/definitions/P");
        let extension = named(all(&patch, 13), "x-kubernetes-action");
        assert_eq!(text(&extension, 2), "\"patch\"");
    }

    #[test]
    fn definitions_read_back_as_gnostic_writes_them() {
        let b = encode(&sample());
        let pod = named(all(&one(&b, 9), 1), "P");
        assert_eq!(text(&pod, 4), "A pod.");
        assert_eq!(text(&one(&pod, 22), 1), "object");
        assert_eq!(text(&pod, 19), "spec");
        let gvk = named(all(&pod, 31), "x-kubernetes-group-version-kind");
        assert_eq!(
            text(&gvk, 2),
            r#"[{"group":"","kind":"Pod","version":"v1"}]"#
        );
        let props = all(&one(&pod, 25), 1);
        let spec = named(props.clone(), "spec");
        assert_eq!(
            (text(&spec, 1), text(&spec, 4)),
            ("#/definitions/S".into(), "Its spec.".into())
        );
        let n = named(props.clone(), "n");
        assert!(fields(&n).contains(&(9, Field::Fixed64(1.5f64.to_le_bytes()))));
        assert!(fields(&n).contains(&(11, Field::Varint(3))));
        let m = named(props.clone(), "m");
        assert_eq!(text(&one(&one(&one(&m, 21), 1), 22), 1), "string");
        let l = named(props, "l");
        assert_eq!(text(&one(&one(&one(&l, 23), 1), 22), 1), "string");
        assert_eq!(
            text(&named(all(&l, 31), "x-kubernetes-list-type"), 2),
            "\"set\""
        );
    }

    #[test]
    fn odd_documents_encode_without_panicking() {
        for doc in [
            json!(null),
            json!([]),
            json!({"paths": {"/x": 1}, "definitions": {"a": "b"}}),
        ] {
            encode(&doc);
        }
        let mut deep = json!({"type": "string"});
        for _ in 0..200 {
            deep = json!({"type": "object", "properties": {"a": deep}});
        }
        encode(&json!({"definitions": {"deep": deep}}));
    }
}
