//! Protobuf request bodies, as kubectl's typed clients send them for built-in
//! kinds: the `k8s\0` envelope (`runtime.Unknown`) around the object's
//! message. Decoded here, to the JSON the rest of the server speaks, for the
//! review kinds `kubectl auth whoami` and `kubectl auth can-i` send; any other
//! kind in protobuf is still 415 (issue 18).

use k8s_pb::api::{authentication::v1 as authn, authorization::v1 as authz};
use prost::Message;
use serde_json::{Map, Value, json};

use crate::error::{ApiError, ApiResult};
use crate::resources::Builtin;

/// The media type.
pub const MEDIA_TYPE: &str = "application/vnd.kubernetes.protobuf";
const MAGIC: &[u8] = b"k8s\0";

/// The review of kind `b` in a protobuf `body`, as JSON.
pub fn review(b: Builtin, body: &[u8]) -> ApiResult<Value> {
    let raw = &unwrap(body)?[..];
    let bad = |e: prost::DecodeError| ApiError::bad_request(format!("decoding protobuf: {e}"));
    let spec = match b {
        Builtin::SelfSubjectReview => json!({}),
        Builtin::TokenReview => {
            let spec = authn::TokenReview::decode(raw)
                .map_err(bad)?
                .spec
                .unwrap_or_default();
            json!({"token": spec.token.unwrap_or_default(), "audiences": spec.audiences})
        }
        Builtin::SelfSubjectAccessReview => {
            let spec = authz::SelfSubjectAccessReview::decode(raw)
                .map_err(bad)?
                .spec
                .unwrap_or_default();
            attributes(spec.resource_attributes, spec.non_resource_attributes)
        }
        Builtin::SubjectAccessReview | Builtin::LocalSubjectAccessReview => {
            let spec = match b {
                Builtin::SubjectAccessReview => {
                    authz::SubjectAccessReview::decode(raw).map_err(bad)?.spec
                }
                _ => {
                    authz::LocalSubjectAccessReview::decode(raw)
                        .map_err(bad)?
                        .spec
                }
            }
            .unwrap_or_default();
            let mut out = attributes(spec.resource_attributes, spec.non_resource_attributes);
            out["user"] = spec.user.unwrap_or_default().into();
            out["groups"] = spec.groups.into();
            out["uid"] = spec.uid.unwrap_or_default().into();
            out
        }
        Builtin::SelfSubjectRulesReview => {
            let spec = authz::SelfSubjectRulesReview::decode(raw)
                .map_err(bad)?
                .spec
                .unwrap_or_default();
            json!({"namespace": spec.namespace.unwrap_or_default()})
        }
        _ => return Err(ApiError::unsupported_body_type()),
    };
    Ok(json!({"spec": spec}))
}

/// The object bytes inside the envelope.
fn unwrap(body: &[u8]) -> ApiResult<Vec<u8>> {
    let inner = body
        .strip_prefix(MAGIC)
        .ok_or_else(|| ApiError::bad_request("protobuf body without the k8s envelope"))?;
    let unknown = k8s_pb::apimachinery::pkg::runtime::Unknown::decode(inner)
        .map_err(|e| ApiError::bad_request(format!("decoding protobuf: {e}")))?;
    Ok(unknown.raw.unwrap_or_default())
}

fn attributes(
    resource: Option<authz::ResourceAttributes>,
    non_resource: Option<authz::NonResourceAttributes>,
) -> Value {
    let mut out = Map::new();
    if let Some(r) = resource {
        let field = |v: Option<String>| Value::from(v.unwrap_or_default());
        out.insert(
            "resourceAttributes".into(),
            json!({
                "namespace": field(r.namespace), "verb": field(r.verb), "group": field(r.group),
                "version": field(r.version), "resource": field(r.resource),
                "subresource": field(r.subresource), "name": field(r.name),
            }),
        );
    }
    if let Some(n) = non_resource {
        out.insert(
            "nonResourceAttributes".into(),
            json!({"path": n.path.unwrap_or_default(), "verb": n.verb.unwrap_or_default()}),
        );
    }
    Value::Object(out)
}
