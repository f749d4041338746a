//! What authorization is asked about a request: its verb and target,
//! derived from the route as kube-apiserver's request-info resolver derives
//! them (`watch` from the query, a namespace request in its own namespace,
//! a list by `metadata.name` as a request for that name).

use http::Method;

use super::route::{ResourcePath, Route};
use crate::authz::{Attributes, ResourceAttributes, Target};
use crate::rest::options::{Query, watch_requested};

/// The attributes of a request, as kube-apiserver's request-info resolver
/// derives them: a resource request's verb and target, or a plain path.
pub(super) fn of_request(
    method: &Method,
    path: &str,
    route: Option<&Route>,
    query: &Query,
) -> Attributes {
    let Some(Route::Resource(p)) = route else {
        return Attributes {
            verb: method.as_str().to_ascii_lowercase(),
            target: Target::Path(path.to_owned()),
        };
    };
    // As kube-apiserver: a request for a namespace object is in that
    // namespace, so namespaced rights on it apply.
    let namespace = match (p.group.as_str(), p.resource.as_str(), &p.name) {
        ("", "namespaces", Some(name)) => name.clone(),
        _ => p.namespace.clone().unwrap_or_default(),
    };
    Attributes {
        verb: resource_verb(method, p, query).to_owned(),
        target: Target::Resource(ResourceAttributes {
            group: p.group.clone(),
            resource: p.resource.clone(),
            subresource: p.subresource.clone().unwrap_or_default(),
            namespace,
            name: p
                .name
                .clone()
                .or_else(|| name_from_field_selector(method, query))
                .unwrap_or_default(),
        }),
    }
}

fn resource_verb(method: &Method, p: &ResourcePath, query: &Query) -> &'static str {
    let watch = p.legacy_watch || watch_requested(query);
    match (method.as_str(), p.name.is_some()) {
        ("GET" | "HEAD", _) if watch => "watch",
        ("GET" | "HEAD", true) => "get",
        ("GET" | "HEAD", false) => "list",
        ("POST", _) => "create",
        ("PUT", _) => "update",
        ("PATCH", _) => "patch",
        ("DELETE", true) => "delete",
        ("DELETE", false) => "deletecollection",
        _ => "",
    }
}

/// A list or watch with `fieldSelector=metadata.name=x` is authorized as a
/// request for `x`, so `resourceNames` rules can grant it.
fn name_from_field_selector(method: &Method, query: &Query) -> Option<String> {
    if method != Method::GET {
        return None;
    }
    let selector = query.get("fieldSelector")?;
    let mut parts = selector.split(',');
    let only = parts.next()?;
    if parts.next().is_some() {
        return None;
    }
    only.strip_prefix("metadata.name==")
        .or_else(|| only.strip_prefix("metadata.name="))
        .map(str::to_owned)
}
