//! Response shapes a client can ask for with `Accept`: the objects, a
//! `meta.k8s.io/v1` Table (kubectl get), or PartialObjectMetadata (metadata-only
//! watches and lists); each in JSON, or in protobuf where the kind has a
//! protobuf form (Tables are JSON only here).

use serde_json::{Value, json};

use crate::error::{ApiError, ApiResult};
use crate::resources::ResourceType;
use operatorkit_query::table;

/// What the response body should be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Shape {
    /// The objects themselves.
    Object,
    /// A `meta.k8s.io/v1` Table.
    Table(table::Include),
    /// `PartialObjectMetadata(List)`.
    Metadata,
}

/// How the response body is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Encoding {
    /// `application/json`.
    Json,
    /// `application/vnd.kubernetes.protobuf`.
    Protobuf,
}

/// The encoding of the first media type in `accept` this server writes, for
/// answers outside the negotiated REST verbs (errors, reviews). Protobuf
/// only if `protobuf` (the kind has a protobuf form).
pub(crate) fn encoding(accept: Option<&str>, protobuf: bool) -> Encoding {
    match shape(accept, None, protobuf) {
        Ok((_, e)) => e,
        Err(_) => Encoding::Json,
    }
}

/// The shape and encoding asked for by `accept` (and `includeObject` for
/// tables); protobuf is offered only if `protobuf` (the kind has a protobuf
/// form), except for PartialObjectMetadata, which every kind has.
pub(crate) fn shape(
    accept: Option<&str>,
    include_object: Option<&str>,
    protobuf: bool,
) -> ApiResult<(Shape, Encoding)> {
    let Some(accept) = accept.filter(|a| !a.trim().is_empty()) else {
        return Ok((Shape::Object, Encoding::Json));
    };
    for part in accept.split(',') {
        let mut params = part.split(';').map(str::trim);
        let media = params.next().unwrap_or_default();
        let encoding = match media {
            "application/json" | "application/*" | "*/*" | "application/yaml" => Encoding::Json,
            super::protobuf::MEDIA_TYPE => Encoding::Protobuf,
            _ => continue,
        };
        let pb = encoding == Encoding::Protobuf;
        let mut as_ = None;
        let mut g = None;
        let mut v = None;
        for p in params {
            match p.split_once('=') {
                Some(("as", x)) => as_ = Some(x),
                Some(("g", x)) => g = Some(x),
                Some(("v", x)) => v = Some(x),
                _ => {}
            }
        }
        match (as_, g, v) {
            (None, _, _) if pb && !protobuf => continue,
            (None, _, _) => return Ok((Shape::Object, encoding)),
            (Some("Table"), Some("meta.k8s.io"), Some("v1")) if !pb => {
                let include = table::Include::from_query(include_object.filter(|s| !s.is_empty()))
                    .map_err(|e| ApiError::bad_request(e.to_string()))?;
                return Ok((Shape::Table(include), encoding));
            }
            (
                Some("PartialObjectMetadata" | "PartialObjectMetadataList"),
                Some("meta.k8s.io"),
                Some("v1"),
            ) => {
                return Ok((Shape::Metadata, encoding));
            }
            _ => continue,
        }
    }
    Err(ApiError::not_acceptable(accept))
}

/// One object in `shape`.
pub(crate) fn object(rt: &ResourceType, shape: Shape, obj: Value) -> Value {
    match shape {
        Shape::Object => obj,
        Shape::Metadata => partial(&obj),
        Shape::Table(include) => {
            let meta = table::single_object_list_meta(&obj);
            to_table(rt, &[obj], meta, include, true)
        }
    }
}

/// A list in `shape`.
pub(crate) fn list(rt: &ResourceType, shape: Shape, list: Value) -> Value {
    match shape {
        Shape::Object => list,
        Shape::Metadata => {
            let items: Vec<Value> = list["items"]
                .as_array()
                .into_iter()
                .flatten()
                .map(partial)
                .collect();
            json!({"apiVersion": "meta.k8s.io/v1", "kind": "PartialObjectMetadataList", "metadata": list["metadata"], "items": items})
        }
        Shape::Table(include) => {
            let items: Vec<Value> = list["items"].as_array().cloned().unwrap_or_default();
            to_table(rt, &items, list["metadata"].clone(), include, true)
        }
    }
}

/// A watch event's object in `shape`; tables carry column definitions only in
/// the first event, as kube-apiserver sends them.
pub(crate) fn watch_event(rt: &ResourceType, shape: Shape, mut event: Value, first: bool) -> Value {
    if event["type"] == "ERROR" || event["type"] == "BOOKMARK" {
        return event;
    }
    let obj = event["object"].take();
    event["object"] = match shape {
        Shape::Object => obj,
        Shape::Metadata => partial(&obj),
        Shape::Table(include) => {
            let meta = table::single_object_list_meta(&obj);
            to_table(rt, &[obj], meta, include, first)
        }
    };
    event
}

fn partial(obj: &Value) -> Value {
    json!({"apiVersion": "meta.k8s.io/v1", "kind": "PartialObjectMetadata", "metadata": obj.get("metadata").cloned().unwrap_or(json!({}))})
}

fn to_table(
    rt: &ResourceType,
    items: &[Value],
    list_meta: Value,
    include: table::Include,
    columns: bool,
) -> Value {
    let opts = table::TableOptions {
        include,
        no_headers: !columns,
        ..table::TableOptions::default()
    };
    match &rt.custom {
        Some(c) => table::table_for_custom_resources(&c.printer_columns, items, &list_meta, &opts),
        None => table::builtin_table(&rt.kind, &rt.group, items, &list_meta, &opts)
            .unwrap_or_else(|| table::default_table(items, &list_meta, &opts)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picks_the_first_acceptable_shape() {
        let kubectl = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json";
        let json = Encoding::Json;
        assert_eq!(
            shape(Some(kubectl), None, true).unwrap(),
            (Shape::Table(table::Include::Metadata), json)
        );
        assert_eq!(
            shape(Some("application/json"), None, true).unwrap(),
            (Shape::Object, json)
        );
        assert_eq!(shape(None, None, true).unwrap(), (Shape::Object, json));
        assert_eq!(
            shape(
                Some("application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1"),
                None,
                true
            )
            .unwrap(),
            (Shape::Metadata, json)
        );
    }

    #[test]
    fn protobuf_only_for_kinds_that_have_it_and_never_for_tables() {
        let pb = "application/vnd.kubernetes.protobuf";
        let client_go = "application/vnd.kubernetes.protobuf, */*";
        assert_eq!(
            shape(Some(client_go), None, true).unwrap(),
            (Shape::Object, Encoding::Protobuf)
        );
        assert_eq!(
            shape(Some(client_go), None, false).unwrap(),
            (Shape::Object, Encoding::Json)
        );
        assert_eq!(shape(Some(pb), None, false).unwrap_err().code, 406);
        let metadata = "application/vnd.kubernetes.protobuf;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json";
        assert_eq!(
            shape(Some(metadata), None, false).unwrap(),
            (Shape::Metadata, Encoding::Protobuf)
        );
        let table =
            "application/vnd.kubernetes.protobuf;as=Table;g=meta.k8s.io;v=v1,application/json";
        assert_eq!(
            shape(Some(table), None, true).unwrap(),
            (Shape::Object, Encoding::Json)
        );
        assert_eq!(encoding(Some(client_go), true), Encoding::Protobuf);
        assert_eq!(encoding(Some("text/html"), true), Encoding::Json);
    }
}
