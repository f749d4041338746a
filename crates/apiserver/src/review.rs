//! The review APIs, answered and never stored, as kube-apiserver answers
//! them: `SelfSubjectReview` (`kubectl auth whoami`), `TokenReview`,
//! `SelfSubjectAccessReview`, `SubjectAccessReview` and
//! `LocalSubjectAccessReview` (`kubectl auth can-i`), and
//! `SelfSubjectRulesReview` (`kubectl auth can-i --list`).

use serde_json::{Value, json};

use crate::auth::Authenticator;
use crate::authz::{Attributes, Authorizer, ResourceAttributes, Rule, Target};
use crate::error::{ApiError, ApiResult};
use crate::meta;
use crate::resources::Builtin;
use crate::user::User;

/// Answers review `kind` asked by `user` (in `namespace` for a local one).
pub(crate) fn answer(
    kind: Builtin,
    body: &Value,
    user: &User,
    namespace: Option<&str>,
    auth: &Authenticator,
    authz: &Authorizer,
) -> ApiResult<Value> {
    if !body.is_object() {
        return Err(ApiError::bad_request("a review must be a JSON object"));
    }
    let spec = body.get("spec").cloned().unwrap_or_else(|| json!({}));
    if !spec.is_object() {
        return Err(ApiError::bad_request("spec must be an object"));
    }
    let status = match kind {
        Builtin::SelfSubjectReview => json!({"userInfo": user_info(user)}),
        Builtin::TokenReview => token_review(&spec, auth),
        Builtin::SelfSubjectAccessReview => access(&spec, user, authz)?,
        Builtin::SubjectAccessReview => access(&spec, &subject(&spec)?, authz)?,
        Builtin::LocalSubjectAccessReview => {
            let ns = namespace.unwrap_or_default();
            let asked = spec
                .pointer("/resourceAttributes/namespace")
                .and_then(Value::as_str)
                .unwrap_or(ns);
            if asked != ns {
                return Err(ApiError::bad_request(format!(
                    "spec.resourceAttributes.namespace must match namespace: {ns}"
                )));
            }
            let mut spec = spec.clone();
            if let Some(r) = spec
                .get_mut("resourceAttributes")
                .and_then(Value::as_object_mut)
            {
                r.insert("namespace".into(), ns.into());
            }
            access(&spec, &subject(&spec)?, authz)?
        }
        Builtin::SelfSubjectRulesReview => rules(&spec, user, authz)?,
        _ => return Err(ApiError::method_not_allowed("POST")),
    };
    let mut out = body.clone();
    out["metadata"] = match namespace {
        Some(ns) if kind == Builtin::LocalSubjectAccessReview => {
            json!({"namespace": ns, "creationTimestamp": null})
        }
        _ => json!({"creationTimestamp": null}),
    };
    out["spec"] = spec;
    out["status"] = status;
    Ok(out)
}

fn user_info(user: &User) -> Value {
    let mut info = json!({"username": user.name, "groups": user.groups});
    if !user.uid.is_empty() {
        info["uid"] = user.uid.clone().into();
    }
    info
}

/// A TokenReview's status: the token's user and the audiences (of those
/// `spec.audiences` asks for, the API's when none) it is valid for.
fn token_review(spec: &Value, auth: &Authenticator) -> Value {
    let token = spec
        .get("token")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let audiences = meta::strings(spec.get("audiences"));
    match auth.authenticate_token(token, &audiences) {
        Ok((user, audiences)) => json!({"authenticated": true, "user": user_info(&user),
            "audiences": audiences}),
        Err(_) => json!({"user": {}, "error": "invalid bearer token"}),
    }
}

/// The user a SubjectAccessReview asks about; 400 without a user or group.
fn subject(spec: &Value) -> ApiResult<User> {
    let s = |k: &str| {
        spec.get(k)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    let user = User {
        name: s("user"),
        uid: s("uid"),
        groups: meta::strings(spec.get("groups")),
    };
    if user.name.is_empty() && user.groups.is_empty() {
        return Err(ApiError::bad_request(
            "at least one of user or group must be specified",
        ));
    }
    Ok(user)
}

fn access(spec: &Value, user: &User, authz: &Authorizer) -> ApiResult<Value> {
    let attrs = if let Some(r) = spec.get("resourceAttributes").filter(|r| r.is_object()) {
        let s = |k: &str| {
            r.get(k)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned()
        };
        Attributes {
            verb: s("verb"),
            target: Target::Resource(ResourceAttributes {
                group: s("group"),
                resource: s("resource"),
                subresource: s("subresource"),
                namespace: s("namespace"),
                name: s("name"),
            }),
        }
    } else if let Some(n) = spec.get("nonResourceAttributes").filter(|n| n.is_object()) {
        let s = |k: &str| {
            n.get(k)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned()
        };
        Attributes {
            verb: s("verb"),
            target: Target::Path(s("path")),
        }
    } else {
        return Err(ApiError::bad_request(
            "exactly one of nonResourceAttributes or resourceAttributes must be specified",
        ));
    };
    let (allowed, grant) = authz.check(user, &attrs);
    let mut status = json!({"allowed": allowed});
    if let Some(g) = grant {
        status["reason"] = g.reason().into();
    }
    Ok(status)
}

fn rules(spec: &Value, user: &User, authz: &Authorizer) -> ApiResult<Value> {
    let namespace = spec
        .get("namespace")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if namespace.is_empty() {
        return Err(ApiError::bad_request("no namespace on request"));
    }
    let all: Vec<Rule> = authz.rules_for(user, namespace);
    let resource_rules: Vec<Value> = all
        .iter()
        .filter(|r| r.non_resource_urls.is_empty())
        .map(Rule::to_json)
        .collect();
    let non_resource_rules: Vec<Value> = all
        .iter()
        .filter(|r| !r.non_resource_urls.is_empty())
        .map(Rule::to_json)
        .collect();
    Ok(json!({
        "resourceRules": resource_rules,
        "nonResourceRules": non_resource_rules,
        "incomplete": false,
    }))
}
