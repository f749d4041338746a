//! Kubernetes API paths, parsed into what they address.

/// What a request path addresses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Route {
    /// `/version`.
    Version,
    /// `/healthz`, `/livez`, `/readyz` and their sub-checks.
    Health,
    /// `/api`: core API versions.
    CoreVersions,
    /// `/apis`: API groups.
    Groups,
    /// `/apis/<group>`.
    Group(String),
    /// `/api/v1` or `/apis/<group>/<version>`: the resources of a group-version.
    Resources {
        /// Group ("" for core).
        group: String,
        /// Version.
        version: String,
    },
    /// `/openapi/v3`: the index of OpenAPI v3 documents.
    OpenApiV3Index,
    /// `/openapi/v3/api/v1` or `/openapi/v3/apis/<group>/<version>`.
    OpenApiV3 {
        /// Group ("" for core).
        group: String,
        /// Version.
        version: String,
    },
    /// `/openapi/v2`.
    OpenApiV2,
    /// A resource endpoint.
    Resource(ResourcePath),
}

/// A resource endpoint: a collection, an object or an object's subresource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ResourcePath {
    /// Group ("" for core).
    pub(crate) group: String,
    /// Version.
    pub(crate) version: String,
    /// Resource (plural).
    pub(crate) resource: String,
    /// Namespace in the path, if any.
    pub(crate) namespace: Option<String>,
    /// Object name, if any.
    pub(crate) name: Option<String>,
    /// Subresource (`status`, `finalize`, ...), if any.
    pub(crate) subresource: Option<String>,
    /// The legacy `/watch/` prefix was used.
    pub(crate) legacy_watch: bool,
}

/// Parses a request path (without query).
pub(crate) fn parse(path: &str) -> Option<Route> {
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    match segments.as_slice() {
        ["version"] => Some(Route::Version),
        [h, ..] if matches!(*h, "healthz" | "livez" | "readyz") => Some(Route::Health),
        ["api"] => Some(Route::CoreVersions),
        ["apis"] => Some(Route::Groups),
        ["apis", g] => Some(Route::Group((*g).to_owned())),
        ["api", v] => Some(Route::Resources {
            group: String::new(),
            version: (*v).to_owned(),
        }),
        ["apis", g, v] => Some(Route::Resources {
            group: (*g).to_owned(),
            version: (*v).to_owned(),
        }),
        ["openapi", "v2"] => Some(Route::OpenApiV2),
        ["openapi", "v3"] => Some(Route::OpenApiV3Index),
        ["openapi", "v3", "api", v] => Some(Route::OpenApiV3 {
            group: String::new(),
            version: (*v).to_owned(),
        }),
        ["openapi", "v3", "apis", g, v] => Some(Route::OpenApiV3 {
            group: (*g).to_owned(),
            version: (*v).to_owned(),
        }),
        ["api", v, rest @ ..] => resource("", v, rest),
        ["apis", g, v, rest @ ..] => resource(g, v, rest),
        _ => None,
    }
}

fn resource(group: &str, version: &str, rest: &[&str]) -> Option<Route> {
    let (legacy_watch, rest) = match rest {
        ["watch", rest @ ..] => (true, rest),
        _ => (false, rest),
    };
    if rest.iter().any(|s| s.is_empty()) {
        return None;
    }
    let p = |resource: &str, namespace: Option<&str>, name: Option<&str>, sub: Option<&str>| {
        Some(Route::Resource(ResourcePath {
            group: group.to_owned(),
            version: version.to_owned(),
            resource: resource.to_owned(),
            namespace: namespace.map(str::to_owned),
            name: name.map(str::to_owned),
            subresource: sub.map(str::to_owned),
            legacy_watch,
        }))
    };
    match rest {
        [r] => p(r, None, None, None),
        [r, name] => p(r, None, Some(name), None),
        // A namespace's own subresources, not a collection inside it.
        ["namespaces", name, sub] if matches!(*sub, "status" | "finalize") => {
            p("namespaces", None, Some(name), Some(sub))
        }
        ["namespaces", ns, r] => p(r, Some(ns), None, None),
        ["namespaces", ns, r, name] => p(r, Some(ns), Some(name), None),
        ["namespaces", ns, r, name, sub] => p(r, Some(ns), Some(name), Some(sub)),
        [r, name, sub] => p(r, None, Some(name), Some(sub)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn res(path: &str) -> ResourcePath {
        match parse(path) {
            Some(Route::Resource(r)) => r,
            other => panic!("{path}: {other:?}"),
        }
    }

    #[test]
    fn parses_every_shape_of_path() {
        assert_eq!(parse("/version"), Some(Route::Version));
        assert_eq!(parse("/readyz/ping"), Some(Route::Health));
        assert_eq!(parse("/apis/apps"), Some(Route::Group("apps".into())));
        let r = res("/api/v1/namespaces/default/configmaps/x");
        assert_eq!(
            (
                r.namespace.as_deref(),
                r.resource.as_str(),
                r.name.as_deref()
            ),
            (Some("default"), "configmaps", Some("x"))
        );
        let r = res("/api/v1/namespaces/default");
        assert_eq!(
            (r.resource.as_str(), r.name.as_deref(), r.namespace),
            ("namespaces", Some("default"), None)
        );
        let r = res("/api/v1/namespaces/default/status");
        assert_eq!(
            (r.resource.as_str(), r.subresource.as_deref()),
            ("namespaces", Some("status"))
        );
        let r = res("/apis/apps/v1/namespaces/a/deployments/d/status");
        assert_eq!(r.subresource.as_deref(), Some("status"));
        let r = res("/apis/apps/v1/deployments");
        assert_eq!((r.namespace, r.name), (None, None));
        let r = res("/api/v1/watch/namespaces/a/pods");
        assert!(r.legacy_watch);
        assert_eq!(r.resource, "pods");
        let r = res("/apis/apiextensions.k8s.io/v1/customresourcedefinitions/x.y/status");
        assert_eq!(
            (r.name.as_deref(), r.subresource.as_deref()),
            (Some("x.y"), Some("status"))
        );
        assert_eq!(parse("/nothing/here"), None);
    }
}
