//! Kubernetes protobuf on the wire, as kube-apiserver speaks it for built-in
//! kinds: request bodies in the `k8s\0` envelope decoded to the JSON the rest
//! of the server works with, and responses (objects, lists, Status errors,
//! watch frames) encoded when the client's `Accept` asks for protobuf first.
//! The mapping itself is `operatorkit-protobuf`'s; custom resources have no
//! protobuf form (415 for a body, protobuf skipped in `Accept`).

use serde_json::Value;

use crate::error::{ApiError, ApiResult};

pub(crate) use operatorkit_protobuf::{MEDIA_TYPE, WATCH_MEDIA_TYPE};

/// A protobuf body as JSON; `default` (apiVersion, kind) is the type assumed
/// when the envelope names none.
pub(crate) fn decode(body: &[u8], default: (&str, &str)) -> ApiResult<Value> {
    operatorkit_protobuf::decode(body, default).map_err(|e| match e {
        operatorkit_protobuf::Error::UnknownKind { .. } => ApiError::unsupported_body_type(false),
        e => ApiError::bad_request(format!("decoding protobuf: {e}")),
    })
}

/// `value` as a protobuf body, or `None` when it has no protobuf form (the
/// caller answers JSON then, and logs why).
pub(crate) fn encode(value: &Value) -> Option<Vec<u8>> {
    operatorkit_protobuf::encode(value)
        .map_err(|e| {
            tracing::warn!(
                api_version = %value["apiVersion"], kind = %value["kind"],
                name = %value["metadata"]["name"], error = %e,
                "answering JSON: no protobuf form"
            );
        })
        .ok()
}

/// A watch frame of `event` (`{"type", "object"}`), or `None` as [`encode`].
pub(crate) fn watch_frame(event: &Value) -> Option<Vec<u8>> {
    let object = encode(&event["object"])?;
    let kind = event["type"].as_str().unwrap_or_default();
    Some(operatorkit_protobuf::watch_frame(kind, object))
}

/// Whether kind `kind` of `api_version` has a protobuf form.
pub(crate) fn supports(api_version: &str, kind: &str) -> bool {
    operatorkit_protobuf::supports(api_version, kind)
}
