//! The answers of the discovery and OpenAPI routes, as kube-apiserver gives
//! them: content negotiation (aggregated or legacy discovery, OpenAPI v2 in
//! JSON or protobuf), ETags and 304s, and OpenAPI v3's `?hash=` URLs (cached
//! for good when current, redirected to the current hash when not).

use bytes::Bytes;
use http::{HeaderMap, StatusCode, header};
use serde_json::Value;

use super::route::Route;
use super::{Body, full, header_str, json_response};
use crate::discovery::aggregated::{self, Format};
use crate::discovery::{self, openapi, openapi_pb};
use crate::error::{ApiError, ApiResult};
use crate::resources::Registry;
use crate::rest::options::Query;

/// What the answers are computed from.
pub(super) struct Served<'a> {
    pub(crate) registry: &'a Registry,
    pub(crate) openapi: &'a openapi::Cache,
    /// `host:port` clients reach the server at.
    pub(crate) address: &'a str,
}

/// The answer to a discovery or OpenAPI `route` (404 for any other).
pub(super) fn answer(
    served: &Served<'_>,
    route: Route,
    headers: &HeaderMap,
    query: &Query,
) -> ApiResult<http::Response<Body>> {
    let Served {
        registry,
        openapi: cache,
        address,
    } = *served;
    let accept = header_str(headers, header::ACCEPT);
    let cached = header_str(headers, header::IF_NONE_MATCH);
    let not_found = ApiError::path_not_found;
    let doc = match route {
        Route::CoreVersions => match aggregated::negotiate(accept) {
            Some(f) => return Ok(aggregated_answer(&aggregated::core(registry, f), f, cached)),
            None => discovery::core_versions(address),
        },
        Route::Groups => match aggregated::negotiate(accept) {
            Some(f) => {
                return Ok(aggregated_answer(
                    &aggregated::groups(registry, f),
                    f,
                    cached,
                ));
            }
            None => discovery::group_list(registry),
        },
        Route::Group(g) => discovery::group(registry, &g).ok_or_else(not_found)?,
        Route::Resources { group, version } => {
            discovery::resource_list(registry, &group, &version).ok_or_else(not_found)?
        }
        Route::OpenApiV3Index => {
            let index = cache.get(registry).index();
            return Ok(full(StatusCode::OK, "application/json", index));
        }
        Route::OpenApiV3 { group, version } => {
            let path = openapi::v3_path(&group, &version);
            let documents = cache.get(registry);
            let (body, hash) = documents.document(&path).ok_or_else(not_found)?;
            let asked = query.get("hash").map(String::as_str);
            return Ok(openapi_v3_answer(body, (&path, hash), asked, cached));
        }
        Route::OpenApiV2 => return openapi_v2_answer(registry, accept, cached),
        Route::Version | Route::Health | Route::Resource(_) => return Err(not_found()),
    };
    Ok(json_response(200, &doc))
}

/// `body` with its ETag (the quoted hash), or an empty 304 when the client
/// already holds that ETag.
fn etagged(body: Bytes, content_type: &str, cached: Option<&str>) -> http::Response<Body> {
    let etag = format!("\"{}\"", discovery::hash(&body));
    let mut r = if cached == Some(etag.as_str()) {
        full(StatusCode::NOT_MODIFIED, content_type, Bytes::new())
    } else {
        full(StatusCode::OK, content_type, body)
    };
    if let Ok(v) = header::HeaderValue::from_str(&etag) {
        r.headers_mut().insert(header::ETAG, v);
    }
    r
}

/// An aggregated discovery document, with the headers kube-apiserver's
/// `ServeHTTPWithETag` sets.
fn aggregated_answer(doc: &Value, format: Format, cached: Option<&str>) -> http::Response<Body> {
    let body = serde_json::to_vec(doc).unwrap_or_default();
    let mut r = etagged(body.into(), &format.content_type(), cached);
    let headers = r.headers_mut();
    headers.insert(header::VARY, header::HeaderValue::from_static("Accept"));
    headers.insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("public"),
    );
    r
}

/// The OpenAPI v3 document at `path` whose hash is `current`. Asked by that
/// hash, it may be cached for a year; asked by another, the answer is a 301
/// to the current one (kube-openapi's handler).
fn openapi_v3_answer(
    body: Bytes,
    (path, current): (&str, &str),
    asked: Option<&str>,
    cached: Option<&str>,
) -> http::Response<Body> {
    if asked.is_some_and(|h| h != current) {
        let mut r = full(
            StatusCode::MOVED_PERMANENTLY,
            "text/html; charset=utf-8",
            Bytes::new(),
        );
        if let Ok(v) = header::HeaderValue::from_str(&format!("{path}?hash={current}")) {
            r.headers_mut().insert(header::LOCATION, v);
        }
        return r;
    }
    let mut r = etagged(body, "application/json", cached);
    if asked.is_some() {
        let headers = r.headers_mut();
        headers.insert(header::VARY, header::HeaderValue::from_static("Accept"));
        headers.insert(
            header::CACHE_CONTROL,
            header::HeaderValue::from_static("public, immutable"),
        );
        if let Ok(v) = header::HeaderValue::from_str(&a_year_from_now()) {
            headers.insert(header::EXPIRES, v);
        }
    }
    r
}

/// A year from now in Go's `time.RFC1123` form, UTC.
fn a_year_from_now() -> String {
    let now = jiff::Timestamp::now().to_zoned(jiff::tz::TimeZone::UTC);
    let later = now.checked_add(jiff::Span::new().years(1)).unwrap_or(now);
    later.strftime("%a, %d %b %Y %H:%M:%S UTC").to_string()
}

/// `/openapi/v2` in the form `accept` asks for first, with its ETag.
fn openapi_v2_answer(
    registry: &Registry,
    accept: Option<&str>,
    cached: Option<&str>,
) -> ApiResult<http::Response<Body>> {
    let doc = openapi::v2(registry);
    let (body, content_type) = match openapi_pb::negotiate(accept) {
        Some(openapi_pb::Form::Json) => (
            serde_json::to_vec(&doc).unwrap_or_default(),
            "application/json",
        ),
        Some(openapi_pb::Form::Protobuf) => (openapi_pb::encode(&doc), openapi_pb::MEDIA_TYPE),
        None => return Err(ApiError::not_acceptable(accept.unwrap_or_default())),
    };
    Ok(etagged(body.into(), content_type, cached))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use serde_json::json;

    use super::*;

    fn ask(
        registry: &Registry,
        route: Route,
        headers: &[(header::HeaderName, &str)],
        query: &[(&str, &str)],
    ) -> ApiResult<http::Response<Body>> {
        let mut map = HeaderMap::new();
        for (k, v) in headers {
            map.insert(k.clone(), header::HeaderValue::from_str(v).unwrap());
        }
        let query: Query = query
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        let cache = openapi::Cache::default();
        let served = Served {
            registry,
            openapi: &cache,
            address: "127.0.0.1:6443",
        };
        answer(&served, route, &map, &query)
    }

    fn get(
        route: Route,
        headers: &[(header::HeaderName, &str)],
        query: &[(&str, &str)],
    ) -> http::Response<Body> {
        ask(&Registry::with_builtins(), route, headers, query).unwrap()
    }

    fn block_on_collect(body: Body) -> Bytes {
        use http_body_util::BodyExt;
        let collected = futures::executor::block_on(body.collect());
        collected.map(|c| c.to_bytes()).unwrap_or_default()
    }

    const KUBECTL: &str = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json";

    #[test]
    fn aggregated_discovery_answers_304_for_the_etag_it_gave() {
        let first = get(Route::Groups, &[(header::ACCEPT, KUBECTL)], &[]);
        assert_eq!(first.status(), StatusCode::OK);
        let headers = first.headers();
        assert_eq!(
            headers[header::CONTENT_TYPE],
            "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"
        );
        assert_eq!(headers[header::VARY], "Accept");
        let etag = headers[header::ETAG].to_str().unwrap().to_owned();
        assert_eq!(etag.len(), 130);
        let again = get(
            Route::Groups,
            &[(header::ACCEPT, KUBECTL), (header::IF_NONE_MATCH, &etag)],
            &[],
        );
        assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
        assert_eq!(again.headers()[header::ETAG], etag.as_str());
        let core = get(
            Route::CoreVersions,
            &[(header::ACCEPT, KUBECTL), (header::IF_NONE_MATCH, &etag)],
            &[],
        );
        assert_eq!(
            core.status(),
            StatusCode::OK,
            "another document, another ETag"
        );
        let beta = "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList";
        let beta = get(Route::CoreVersions, &[(header::ACCEPT, beta)], &[]);
        assert_eq!(
            beta.headers()[header::CONTENT_TYPE],
            "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList"
        );
        let legacy = get(
            Route::Groups,
            &[(header::ACCEPT, "application/json, */*")],
            &[],
        );
        assert_eq!(legacy.headers()[header::CONTENT_TYPE], "application/json");
        assert!(legacy.headers().get(header::ETAG).is_none());
    }

    #[test]
    fn openapi_v3_by_hash_is_immutable_and_an_old_hash_redirects() {
        let v3 = || Route::OpenApiV3 {
            group: "apps".into(),
            version: "v1".into(),
        };
        let registry = Registry::with_builtins();
        let doc = openapi::v3(&registry, "apps", "v1").unwrap();
        let hash = discovery::hash(&serde_json::to_vec(&doc).unwrap());
        let index = get(Route::OpenApiV3Index, &[], &[]).into_body();
        let index: Value = serde_json::from_slice(&block_on_collect(index)).unwrap();
        assert_eq!(
            index["paths"]["apis/apps/v1"],
            json!({"serverRelativeURL": format!("/openapi/v3/apis/apps/v1?hash={hash}")})
        );
        let current = get(v3(), &[], &[("hash", &hash)]);
        assert_eq!(current.status(), StatusCode::OK);
        assert_eq!(
            current.headers()[header::CACHE_CONTROL],
            "public, immutable"
        );
        assert!(
            current.headers()[header::EXPIRES]
                .to_str()
                .unwrap()
                .ends_with(" UTC")
        );
        let old = get(v3(), &[], &[("hash", "0123")]);
        assert_eq!(old.status(), StatusCode::MOVED_PERMANENTLY);
        assert_eq!(
            old.headers()[header::LOCATION],
            format!("/openapi/v3/apis/apps/v1?hash={hash}").as_str()
        );
        let plain = get(v3(), &[], &[]);
        assert!(plain.headers().get(header::CACHE_CONTROL).is_none());
        let etag = plain.headers()[header::ETAG].to_str().unwrap().to_owned();
        assert_eq!(etag, format!("\"{hash}\""));
        let unchanged = get(v3(), &[(header::IF_NONE_MATCH, &etag)], &[]);
        assert_eq!(unchanged.status(), StatusCode::NOT_MODIFIED);
    }

    #[test]
    fn the_openapi_cache_follows_the_registry() {
        let registry = Registry::with_builtins();
        let cache = openapi::Cache::default();
        let before = cache.get(&registry);
        assert!(Arc::ptr_eq(&before, &cache.get(&registry)));
        assert!(before.document("/openapi/v3/apis/example.com/v1").is_none());
        crate::resources::crd::register(
            &registry,
            &json!({"metadata": {"name": "widgets.example.com"}, "spec": {
                "group": "example.com", "scope": "Namespaced",
                "names": {"plural": "widgets", "kind": "Widget"},
                "versions": [{"name": "v1", "served": true, "storage": true}],
            }}),
        );
        let after = cache.get(&registry);
        assert!(after.document("/openapi/v3/apis/example.com/v1").is_some());
        let index: Value = serde_json::from_slice(&after.index()).unwrap();
        assert!(index["paths"]["apis/example.com/v1"].is_object());
        registry.remove_crd("widgets.example.com");
        assert!(
            cache
                .get(&registry)
                .document("/openapi/v3/apis/example.com/v1")
                .is_none()
        );
    }

    #[test]
    fn openapi_v2_is_json_or_protobuf_as_asked_and_406_otherwise() {
        let json = get(Route::OpenApiV2, &[], &[]);
        assert_eq!(json.headers()[header::CONTENT_TYPE], "application/json");
        let kubectl = "application/com.github.proto-openapi.spec.v2@v1.0+protobuf";
        let pb = get(Route::OpenApiV2, &[(header::ACCEPT, kubectl)], &[]);
        assert_eq!(pb.headers()[header::CONTENT_TYPE], openapi_pb::MEDIA_TYPE);
        assert!(pb.headers().get(header::ETAG).is_some());
        let registry = Registry::with_builtins();
        let html = [(header::ACCEPT, "text/html")];
        let refused = ask(&registry, Route::OpenApiV2, &html, &[]);
        assert_eq!(refused.err().map(|e| e.code), Some(406));
    }
}
