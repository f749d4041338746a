//! API errors as Kubernetes returns them: a `meta.k8s.io/v1` `Status` with code,
//! reason, message and details (including field causes for 422 Invalid).

use serde_json::{Value, json};

/// Where a field error points, as Kubernetes reports it in `details.causes`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Cause {
    /// Machine-readable reason, e.g. `FieldValueRequired`.
    pub(crate) reason: String,
    /// Human-readable message, e.g. `Required value`.
    pub(crate) message: String,
    /// The field, e.g. `spec.commonName`.
    pub(crate) field: String,
}

/// An error the API answers with.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    /// HTTP status code.
    pub(crate) code: u16,
    /// `StatusReason`, e.g. `NotFound`.
    pub(crate) reason: &'static str,
    /// Message shown to people.
    pub(crate) message: String,
    /// `details` of the Status: name, group, kind, causes.
    pub(crate) details: Option<Box<Details>>,
}

/// `details` of a Status.
#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) struct Details {
    /// Name of the object concerned.
    pub(crate) name: Option<String>,
    /// API group of the object concerned.
    pub(crate) group: Option<String>,
    /// Resource (plural) or kind of the object concerned.
    pub(crate) kind: Option<String>,
    /// UID of the object concerned.
    pub(crate) uid: Option<String>,
    /// Field causes.
    pub(crate) causes: Vec<Cause>,
    /// Seconds a client should wait before retrying.
    pub(crate) retry_after_seconds: Option<u32>,
}

/// Result of an API operation.
pub(crate) type ApiResult<T> = Result<T, ApiError>;

/// Identifies an object in messages: its group-qualified resource and name.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Target<'a> {
    /// API group ("" for core).
    pub(crate) group: &'a str,
    /// Resource (plural), e.g. `configmaps`.
    pub(crate) resource: &'a str,
    /// Object name.
    pub(crate) name: &'a str,
}

impl Target<'_> {
    /// `configmaps` or `deployments.apps`, as Kubernetes writes a group-resource.
    pub(crate) fn qualified(&self) -> String {
        if self.group.is_empty() {
            self.resource.to_owned()
        } else {
            format!("{}.{}", self.resource, self.group)
        }
    }

    fn details(&self) -> Details {
        Details {
            name: Some(self.name.to_owned()),
            group: Some(self.group.to_owned()),
            kind: Some(self.resource.to_owned()),
            ..Details::default()
        }
    }
}

impl ApiError {
    fn new(code: u16, reason: &'static str, message: impl Into<String>) -> Self {
        Self {
            code,
            reason,
            message: message.into(),
            details: None,
        }
    }

    fn with_details(mut self, details: Details) -> Self {
        self.details = Some(Box::new(details));
        self
    }

    /// 404 for an object that does not exist.
    pub(crate) fn not_found(t: Target<'_>) -> Self {
        Self::new(
            404,
            "NotFound",
            format!("{} \"{}\" not found", t.qualified(), t.name),
        )
        .with_details(t.details())
    }

    /// 404 for a path the server does not serve.
    pub(crate) fn path_not_found() -> Self {
        Self::new(
            404,
            "NotFound",
            "the server could not find the requested resource",
        )
        .with_details(Details::default())
    }

    /// 409 on create of an existing object.
    pub(crate) fn already_exists(t: Target<'_>) -> Self {
        Self::new(
            409,
            "AlreadyExists",
            format!("{} \"{}\" already exists", t.qualified(), t.name),
        )
        .with_details(t.details())
    }

    /// 429 for a request refused for now (an eviction a disruption budget
    /// does not allow), with the cause.
    pub(crate) fn too_many_requests(message: impl Into<String>, cause: Cause) -> Self {
        Self::new(429, "TooManyRequests", message).with_details(Details {
            causes: vec![cause],
            ..Details::default()
        })
    }

    /// 409 with a message of its own.
    pub(crate) fn conflict_message(message: String) -> Self {
        Self::new(409, "Conflict", message)
    }

    /// 409 on a stale resourceVersion or a failed precondition.
    pub(crate) fn conflict(t: Target<'_>, why: &str) -> Self {
        Self::new(
            409,
            "Conflict",
            format!(
                "Operation cannot be fulfilled on {} \"{}\": {why}",
                t.qualified(),
                t.name
            ),
        )
        .with_details(t.details())
    }

    /// The Conflict message for a stale resourceVersion.
    pub(crate) const MODIFIED: &'static str = "the object has been modified; please apply your changes to the latest version and try again";

    /// 422 with field causes.
    pub(crate) fn invalid(kind: &str, group: &str, name: &str, causes: Vec<Cause>) -> Self {
        let list = causes
            .iter()
            .map(|c| {
                if c.field.is_empty() {
                    c.message.clone()
                } else {
                    format!("{}: {}", c.field, c.message)
                }
            })
            .collect::<Vec<_>>();
        let summary = if list.len() == 1 {
            list.join("")
        } else {
            format!("[{}]", list.join(", "))
        };
        let qualified = if group.is_empty() {
            kind.to_owned()
        } else {
            format!("{kind}.{group}")
        };
        Self::new(
            422,
            "Invalid",
            format!("{qualified} \"{name}\" is invalid: {summary}"),
        )
        .with_details(Details {
            name: Some(name.to_owned()),
            group: Some(group.to_owned()),
            kind: Some(kind.to_owned()),
            causes,
            ..Details::default()
        })
    }

    /// 400 for a malformed request.
    pub(crate) fn bad_request(message: impl Into<String>) -> Self {
        Self::new(400, "BadRequest", message)
    }

    /// 403 for a forbidden operation.
    pub(crate) fn forbidden(t: Target<'_>, why: &str) -> Self {
        Self::new(
            403,
            "Forbidden",
            format!("{} \"{}\" is forbidden: {why}", t.qualified(), t.name),
        )
        .with_details(t.details())
    }

    /// 403 for a resource request the authorizer refused, as kube-apiserver's
    /// `NewForbidden`: `pods "p" is forbidden: <why>` (or `pods is forbidden`
    /// without a name).
    pub(crate) fn forbidden_resource(resource: &str, group: &str, name: &str, why: &str) -> Self {
        let qualified = match group {
            "" => resource.to_owned(),
            g => format!("{resource}.{g}"),
        };
        let message = match name {
            "" => format!("{qualified} is forbidden: {why}"),
            n => format!("{qualified} {n:?} is forbidden: {why}"),
        };
        Self::new(403, "Forbidden", message).with_details(Details {
            name: (!name.is_empty()).then(|| name.to_owned()),
            group: (!group.is_empty()).then(|| group.to_owned()),
            kind: Some(resource.to_owned()),
            ..Details::default()
        })
    }

    /// 403 for a non-resource path: `forbidden: <why>`.
    pub(crate) fn forbidden_path(why: String) -> Self {
        Self::new(403, "Forbidden", format!("forbidden: {why}")).with_details(Details::default())
    }

    /// 401 for a request without valid credentials.
    pub(crate) fn unauthorized() -> Self {
        Self::new(401, "Unauthorized", "Unauthorized")
    }

    /// 405 for a verb the resource does not support.
    pub(crate) fn method_not_allowed(method: &str) -> Self {
        Self::new(
            405,
            "MethodNotAllowed",
            format!("the server does not allow this method on the requested resource ({method})"),
        )
        .with_details(Details::default())
    }

    /// 406 for an Accept header the server cannot satisfy.
    pub(crate) fn not_acceptable(accept: &str) -> Self {
        Self::new(
            406,
            "NotAcceptable",
            format!(
                "the server was unable to respond with a content type that the client supports ({accept})"
            ),
        )
    }

    /// 415 for an unsupported Content-Type (for example an unknown patch type).
    pub(crate) fn unsupported_media_type(content_type: &str) -> Self {
        Self::new(
            415,
            "UnsupportedMediaType",
            format!(
                "the body of the request was in an unknown format - accepted media types include: application/json, application/yaml, application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml, application/strategic-merge-patch+json (got {content_type})"
            ),
        )
    }

    /// 415 for a create, update or delete body in a format this server does
    /// not decode for the resource (CBOR, `text/plain`, protobuf for a custom
    /// resource, ...), listing what it does decode.
    pub(crate) fn unsupported_body_type(protobuf: bool) -> Self {
        let mut accepted = String::from("application/json, application/yaml");
        if protobuf {
            accepted.push_str(", application/vnd.kubernetes.protobuf");
        }
        Self::new(
            415,
            "UnsupportedMediaType",
            format!(
                "the body of the request was in an unknown format - accepted media types include: {accepted}"
            ),
        )
    }

    /// 410 for a resourceVersion older than the history kept.
    pub(crate) fn expired(message: impl Into<String>) -> Self {
        Self::new(410, "Expired", message)
    }

    /// 410 for a continue token older than the history kept.
    pub(crate) fn continue_expired() -> Self {
        Self::expired(
            "The provided continue parameter is too old to display a consistent list result. \
             You can start a new list without the continue parameter, or use the continue token \
             in this response to retrieve the remainder of the results. Continuing with the \
             provided token results in an inconsistent list - objects that were created, \
             modified, or deleted between the time the first chunk was returned and now may \
             show up in the list.",
        )
    }

    /// 500 for a failure inside the server (for example a failed disk write).
    pub(crate) fn internal(message: impl Into<String>) -> Self {
        Self::new(500, "InternalError", message)
    }

    /// 500 without a reason, as kube-apiserver answers an error that is not
    /// a Status (the reason is `StatusReasonUnknown`, which is omitted).
    pub(crate) fn untyped_internal(message: impl Into<String>) -> Self {
        Self::new(500, "", message)
    }

    /// 500 for an object larger than etcd accepts in one request, with the
    /// message kube-apiserver passes on from etcd (and, as there, no reason).
    pub(crate) fn request_too_large_for_storage() -> Self {
        Self::new(500, "", "etcdserver: request is too large")
    }

    /// 504 for a resourceVersion the server has not reached in time.
    pub(crate) fn too_large_resource_version(rv: u64) -> Self {
        Self::new(
            504,
            "Timeout",
            format!("Too large resource version: {rv}, current: older"),
        )
        .with_details(Details {
            causes: vec![Cause {
                reason: "ResourceVersionTooLarge".to_owned(),
                message: "Too large resource version".to_owned(),
                field: String::new(),
            }],
            retry_after_seconds: Some(1),
            ..Details::default()
        })
    }

    /// The `Status` object of this error.
    pub(crate) fn to_status(&self) -> Value {
        let mut status = json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        });
        if self.reason.is_empty() {
            // StatusReasonUnknown is "" and omitted, as in Go's encoding.
            if let Some(m) = status.as_object_mut() {
                m.remove("reason");
            }
        }
        if let Some(d) = &self.details {
            let mut details = serde_json::Map::new();
            if let Some(n) = &d.name {
                details.insert("name".into(), n.clone().into());
            }
            if let Some(g) = d.group.as_ref().filter(|g| !g.is_empty()) {
                details.insert("group".into(), g.clone().into());
            }
            if let Some(k) = &d.kind {
                details.insert("kind".into(), k.clone().into());
            }
            if let Some(u) = &d.uid {
                details.insert("uid".into(), u.clone().into());
            }
            if !d.causes.is_empty() {
                let causes = d
                    .causes
                    .iter()
                    .map(|c| {
                        let mut m = json!({"reason": c.reason, "message": c.message});
                        if !c.field.is_empty() {
                            m["field"] = c.field.clone().into();
                        }
                        m
                    })
                    .collect::<Vec<_>>();
                details.insert("causes".into(), causes.into());
            }
            if let Some(s) = d.retry_after_seconds {
                details.insert("retryAfterSeconds".into(), s.into());
            }
            status["details"] = Value::Object(details);
        }
        status
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({}): {}", self.code, self.reason, self.message)
    }
}

impl std::error::Error for ApiError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn not_found_reads_like_kubernetes() {
        let e = ApiError::not_found(Target {
            group: "apps",
            resource: "deployments",
            name: "web",
        });
        let s = e.to_status();
        assert_eq!(s["message"], "deployments.apps \"web\" not found");
        assert_eq!(s["reason"], "NotFound");
        assert_eq!(s["code"], 404);
        assert_eq!(s["details"]["kind"], "deployments");
        assert_eq!(s["details"]["group"], "apps");
    }

    #[test]
    fn invalid_lists_every_cause() {
        let cause = |f: &str, m: &str| Cause {
            reason: "FieldValueRequired".into(),
            message: m.into(),
            field: f.into(),
        };
        let one = ApiError::invalid(
            "CertConfig",
            "core.operatorkit.dev",
            "x",
            vec![cause("spec.a", "Required value")],
        );
        assert_eq!(
            one.message,
            "CertConfig.core.operatorkit.dev \"x\" is invalid: spec.a: Required value"
        );
        let two = ApiError::invalid(
            "ConfigMap",
            "",
            "x",
            vec![cause("a", "Required value"), cause("b", "Required value")],
        );
        assert_eq!(
            two.message,
            "ConfigMap \"x\" is invalid: [a: Required value, b: Required value]"
        );
        assert_eq!(two.to_status()["details"]["causes"][1]["field"], "b");
    }
}
