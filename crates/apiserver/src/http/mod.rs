//! The HTTP(S) front: accepting connections, authenticating requests, routing
//! paths to discovery or the REST verbs, and writing Kubernetes responses
//! (JSON bodies, Status errors, streamed watches).

mod apiservices;
mod attributes;
mod documents;
mod negotiate;
mod protobuf;
mod requests;
pub(crate) mod route;
mod subresources;

use self::requests::resource_of;
pub use self::requests::{RequestCounter, Write};

use std::convert::Infallible;
use std::sync::Arc;

use bytes::Bytes;
use futures::StreamExt;
use http::{HeaderMap, Method, StatusCode, header};
use http_body_util::{BodyExt, Full, Limited, StreamBody, combinators::BoxBody};
use hyper::body::{Frame, Incoming};
use serde_json::{Value, json};
use tokio::sync::watch;

use self::negotiate::{Encoding, Shape};
use self::route::{ResourcePath, Route};
use crate::auth::Authenticator;
use crate::error::{ApiError, ApiResult};
use crate::meta;
use crate::resources::{Builtin, Gvr, Registry, ResourceType};
use crate::rest::options::{CreateCheck, DeleteOptions, ListOptions, Query, WriteOptions};
use crate::rest::{Deleted, PatchType, Rest, Subresource, convert};
use crate::store::Store;
use crate::user::User;
use crate::watch::{WatchConfig, json_line, watch};

/// Response body: a full buffer or a stream of watch events.
pub(crate) type Body = BoxBody<Bytes, Infallible>;

/// Largest request body accepted, as kube-apiserver's limit for JSON.
const MAX_BODY: usize = 3 * 1024 * 1024;

/// Everything a request needs.
pub(crate) struct App {
    /// The REST verbs.
    pub(crate) rest: Rest,
    /// Where objects live.
    pub(crate) store: Arc<Store>,
    /// What is served.
    pub(crate) registry: Arc<Registry>,
    /// Who is asking.
    pub(crate) auth: Authenticator,
    /// Whether they may.
    pub(crate) authz: Arc<crate::authz::Authorizer>,
    /// Issues ServiceAccount tokens.
    pub(crate) service_accounts: Arc<crate::auth::serviceaccount::ServiceAccounts>,
    /// Watch tuning.
    pub(crate) watch: WatchConfig,
    /// Turns true on shutdown; ends watches.
    pub(crate) shutdown: watch::Receiver<bool>,
    /// `host:port` clients reach the server at.
    pub(crate) address: String,
    /// Requests served.
    pub(crate) requests: RequestCounter,
    /// The OpenAPI v3 documents of the registry's current state.
    pub(crate) openapi: crate::discovery::openapi::Cache,
}

fn full(status: StatusCode, content_type: &str, body: impl Into<Bytes>) -> http::Response<Body> {
    let mut r = http::Response::new(Full::new(body.into()).boxed());
    *r.status_mut() = status;
    if let Ok(v) = header::HeaderValue::from_str(content_type) {
        r.headers_mut().insert(header::CONTENT_TYPE, v);
    }
    r
}

fn json_response(status: u16, value: &Value) -> http::Response<Body> {
    let body = serde_json::to_vec(value).unwrap_or_default();
    full(
        StatusCode::from_u16(status).unwrap_or(StatusCode::OK),
        "application/json",
        body,
    )
}

/// `value` in `encoding`: protobuf where it has a protobuf form, JSON
/// otherwise.
fn respond(status: u16, value: &Value, encoding: Encoding) -> http::Response<Body> {
    if encoding == Encoding::Protobuf
        && let Some(body) = protobuf::encode(value)
    {
        let code = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
        return full(code, protobuf::MEDIA_TYPE, body);
    }
    json_response(status, value)
}

fn error_response(e: &ApiError, encoding: Encoding) -> http::Response<Body> {
    respond(e.code, &e.to_status(), encoding)
}

fn with_warnings(mut r: http::Response<Body>, warnings: &[String]) -> http::Response<Body> {
    for w in warnings {
        let text = format!("299 - {:?}", w);
        if let Ok(v) = header::HeaderValue::from_str(&text) {
            r.headers_mut().append(header::WARNING, v);
        }
    }
    r
}

/// A REST verb's request, as `resource` has read and negotiated it.
struct Call<'a> {
    rt: Arc<ResourceType>,
    p: &'a ResourcePath,
    query: &'a Query,
    body: &'a Bytes,
    content_type: &'a str,
    user: &'a User,
    /// The client's User-Agent.
    user_agent: &'a str,
    negotiated: (Shape, Encoding),
    sub: Subresource,
    /// The type a protobuf body defaults to, if the kind has a protobuf form.
    own: Option<(&'a str, &'a str)>,
}

/// What a request asked, for the requests answered outside the REST verbs.
#[derive(Clone, Copy)]
struct Asked<'a> {
    method: &'a Method,
    body: &'a [u8],
    content_type: &'a str,
    user: &'a User,
    encoding: Encoding,
}

fn parse_query(q: Option<&str>) -> Query {
    q.map(|q| {
        form_urlencoded::parse(q.as_bytes())
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect()
    })
    .unwrap_or_default()
}

fn header_str(h: &HeaderMap, name: header::HeaderName) -> Option<&str> {
    h.get(name).and_then(|v| v.to_str().ok())
}

/// The request body, collected up to [`MAX_BODY`]; 413 if it is longer or
/// cannot be read.
async fn read_body(body: Incoming) -> ApiResult<Bytes> {
    match Limited::new(body, MAX_BODY).collect().await {
        Ok(b) => Ok(b.to_bytes()),
        Err(_) => Err(ApiError {
            code: 413,
            reason: "RequestEntityTooLarge",
            message: format!("Request entity too large: limit is {MAX_BODY}"),
            details: None,
        }),
    }
}

/// The namespace and name of a POST to one object's subresource; 405 for any
/// other method, or a path without both.
fn posted_to_object<'p>(p: &'p ResourcePath, method: &Method) -> ApiResult<(&'p str, &'p str)> {
    match (
        p.namespace.as_deref(),
        p.name.as_deref(),
        *method == Method::POST,
    ) {
        (Some(ns), Some(name), true) => Ok((ns, name)),
        _ => Err(ApiError::method_not_allowed(method.as_str())),
    }
}

impl App {
    /// Serves one request; `certificate` is the user of the connection's
    /// verified client certificate, if it presented one.
    pub(crate) async fn handle(
        self: Arc<Self>,
        req: http::Request<Incoming>,
        certificate: Option<Arc<User>>,
    ) -> http::Response<Body> {
        let (parts, body) = req.into_parts();
        // Errors are Status objects, which every client can take in protobuf.
        let error_encoding = negotiate::encoding(header_str(&parts.headers, header::ACCEPT), true);
        let error_response = |e: &ApiError| error_response(e, error_encoding);
        let user_agent = header_str(&parts.headers, header::USER_AGENT)
            .unwrap_or_default()
            .to_owned();
        let user = match self.authenticate(&parts.headers, certificate.as_deref()) {
            Ok(u) => u,
            Err(e) => return error_response(&e),
        };
        let path = parts.uri.path().to_owned();
        let query = parse_query(parts.uri.query());
        let route = route::parse(&path);
        let attributes = attributes::of_request(&parts.method, &path, route.as_ref(), &query);
        self.requests.record(
            &user_agent,
            verb_of(&parts.method, route.as_ref(), &query),
            resource_of(&attributes),
        );
        if let Err(e) = self.authz.authorize(&user, &attributes) {
            tracing::debug!(user = %user.name, ?attributes, "request forbidden");
            return error_response(&e);
        }
        let result = match route {
            Some(Route::Resource(p)) => {
                let body = match read_body(body).await {
                    Ok(b) => b,
                    Err(e) => return error_response(&e),
                };
                self.clone().resource(&parts, p, query, body, &user).await
            }
            Some(other) if parts.method == Method::GET || parts.method == Method::HEAD => {
                self.info(other, &parts.headers, &query)
            }
            Some(_) => Err(ApiError::method_not_allowed(parts.method.as_str())),
            None => Err(ApiError::path_not_found()),
        };
        match result {
            Ok(r) => r,
            Err(e) => {
                tracing::debug!(%path, code = e.code, message = %e.message, "request failed");
                error_response(&e)
            }
        }
    }

    /// Who sent the request: its client certificate's user, else its
    /// credentials', as any impersonation headers turn it into.
    fn authenticate(&self, headers: &HeaderMap, certificate: Option<&User>) -> ApiResult<User> {
        self.auth
            .authenticate(certificate, header_str(headers, header::AUTHORIZATION))
            .and_then(|u| crate::authz::impersonate(&self.authz, u, headers))
    }

    /// Requests answered without the REST verbs: reviews, TokenRequests, pod
    /// bindings and evictions.
    fn answered(
        &self,
        rt: &ResourceType,
        p: &ResourcePath,
        request: Asked<'_>,
        write_options: &dyn Fn() -> ApiResult<WriteOptions>,
    ) -> ApiResult<Option<http::Response<Body>>> {
        let Asked {
            method,
            body,
            content_type,
            user,
            encoding,
        } = request;
        let answer = |status: &Value| Ok(Some(respond(201, status, encoding)));
        let ns = p.namespace.as_deref();
        match rt.builtin {
            Some(b) if b.is_review() => {
                if *method != Method::POST || p.name.is_some() {
                    return Err(ApiError::method_not_allowed(method.as_str()));
                }
                let own = protobuf_type(rt);
                let asked = decode(body, content_type, pb(&own))?;
                answer(&crate::review::answer(
                    b,
                    &asked,
                    user,
                    ns,
                    &self.auth,
                    &self.authz,
                )?)
            }
            Some(Builtin::Pod) if p.subresource.as_deref() == Some("binding") => {
                let (ns, name) = posted_to_object(p, method)?;
                let binding = decode(body, content_type, Some(("v1", "Binding")))?;
                let opts = write_options()?;
                answer(&self.rest.bind(rt, ns, name, &binding, &opts)?)
            }
            Some(Builtin::Pod) if p.subresource.as_deref() == Some("eviction") => {
                let (ns, name) = posted_to_object(p, method)?;
                let eviction = decode(body, content_type, Some(("policy/v1", "Eviction")))?;
                let mut delete =
                    DeleteOptions::parse(&Query::new(), eviction.get("deleteOptions"))?;
                // `?dryRun=All` on the eviction, as kube-apiserver merges it.
                delete.dry_run |= write_options()?.dry_run;
                answer(&self.rest.evict(rt, ns, name, &eviction, &delete)?)
            }
            Some(Builtin::ServiceAccount) if p.subresource.as_deref() == Some("token") => {
                let (ns, name) = posted_to_object(p, method)?;
                let token_request = ("authentication.k8s.io/v1", "TokenRequest");
                let asked = decode(body, content_type, Some(token_request))?;
                answer(&self.service_accounts.token_request(ns, name, &asked)?)
            }
            _ => Ok(None),
        }
    }

    fn info(
        &self,
        route: Route,
        headers: &HeaderMap,
        query: &Query,
    ) -> ApiResult<http::Response<Body>> {
        match route {
            Route::Version => Ok(json_response(
                200,
                &json!({
                    "major": "1", "minor": "33", "gitVersion": "v1.33.0-operatorkit",
                    "gitCommit": "operatorkit-embedded", "gitTreeState": "clean",
                    "buildDate": "2026-01-01T00:00:00Z", "goVersion": "rust", "compiler": "rustc",
                    "platform": format!("{}/{}", std::env::consts::OS, std::env::consts::ARCH),
                }),
            )),
            Route::Health => Ok(full(StatusCode::OK, "text/plain; charset=utf-8", "ok")),
            other => {
                let served = documents::Served {
                    registry: &self.registry,
                    openapi: &self.openapi,
                    address: &self.address,
                };
                documents::answer(&served, other, headers, query)
            }
        }
    }

    /// The authorization of the create a server-side apply of `name` makes
    /// when the object does not exist: recorded like every decision, and
    /// refused with the 403 kube-apiserver gives (`configmaps "x" is
    /// forbidden: ` with RBAC's empty reason, as its patch handler words it).
    fn create_check(&self, user: &User, p: &ResourcePath, name: &str) -> CreateCheck {
        let attributes = crate::authz::Attributes {
            verb: "create".into(),
            target: crate::authz::Target::Resource(crate::authz::ResourceAttributes {
                group: p.group.clone(),
                resource: p.resource.clone(),
                subresource: p.subresource.clone().unwrap_or_default(),
                namespace: p.namespace.clone().unwrap_or_default(),
                name: name.to_owned(),
            }),
        };
        let (authz, user) = (Arc::clone(&self.authz), user.clone());
        let (resource, group, name) = (p.resource.clone(), p.group.clone(), name.to_owned());
        CreateCheck::new(move || {
            authz
                .authorize(&user, &attributes)
                .err()
                .map(|_| ApiError::forbidden_resource(&resource, &group, &name, ""))
        })
    }

    async fn resource(
        self: Arc<Self>,
        parts: &http::request::Parts,
        p: ResourcePath,
        query: Query,
        body: Bytes,
        user: &User,
    ) -> ApiResult<http::Response<Body>> {
        let (method, headers) = (&parts.method, &parts.headers);
        let content_type = header_str(headers, header::CONTENT_TYPE).unwrap_or("application/json");
        let write_options = || Self::write_options(headers, &query, &body, user);
        let rt = self.resource_type(&p)?;
        let ns = p.namespace.as_deref();
        let own = protobuf_type(&rt);
        let (shape, encoding) = negotiate::shape(
            header_str(headers, header::ACCEPT),
            query.get("includeObject").map(String::as_str),
            own.is_some(),
        )?;
        let request = Asked {
            method,
            body: &body,
            content_type,
            user,
            encoding,
        };
        if let Some(answered) = self.answered(&rt, &p, request, &write_options)? {
            return Ok(answered);
        }
        Self::refuse_read_only_watch(&rt, &p, &query)?;
        let at = (ns, p.name.as_deref(), p.subresource.as_deref());
        if let Some(answered) = self.subresource(&rt, at, request, &write_options)? {
            return Ok(answered);
        }
        if rt.namespaced && ns.is_none() && p.name.is_some() {
            return Err(ApiError::path_not_found());
        }
        let sub = Self::rest_subresource(&rt, &p)?;
        let call = Call {
            rt,
            p: &p,
            query: &query,
            body: &body,
            content_type,
            user,
            user_agent: header_str(headers, header::USER_AGENT).unwrap_or_default(),
            negotiated: (shape, encoding),
            sub,
            own: pb(&own),
        };
        match (method.clone(), p.name.as_deref()) {
            (Method::GET, name) => self.read(&call, name),
            (Method::DELETE, name) => self.remove(&call, name),
            (m, name) => self.write(&call, &m, name, &write_options),
        }
    }

    /// The options of a write: the query's, with who wrote it and (for the
    /// scan for repeated fields) the raw body.
    fn write_options(
        headers: &HeaderMap,
        query: &Query,
        body: &Bytes,
        user: &User,
    ) -> ApiResult<WriteOptions> {
        let user_agent = header_str(headers, header::USER_AGENT).unwrap_or_default();
        let content_type = header_str(headers, header::CONTENT_TYPE).unwrap_or("application/json");
        let mut o = WriteOptions::parse(query)?;
        o.user_agent = user_agent.to_owned();
        // JSON and YAML bodies are scanned for repeated fields; protobuf
        // cannot repeat one.
        if !content_type.contains("protobuf") {
            o.raw_body = Some(body.clone());
        }
        o.user = Some(user.clone());
        Ok(o)
    }

    /// The served type a path names; 404 for one not served, or a
    /// cluster-scoped one under a namespace.
    fn resource_type(&self, p: &ResourcePath) -> ApiResult<Arc<ResourceType>> {
        let rt = self
            .registry
            .get(&Gvr::new(&p.group, &p.version, &p.resource))
            .ok_or_else(ApiError::path_not_found)?;
        if !rt.namespaced && p.namespace.is_some() {
            return Err(ApiError::path_not_found());
        }
        Ok(rt)
    }

    /// 405 for a watch of the read-only ComponentStatuses and APIServices.
    fn refuse_read_only_watch(rt: &ResourceType, p: &ResourcePath, query: &Query) -> ApiResult<()> {
        let read_only = matches!(
            rt.builtin,
            Some(Builtin::ComponentStatus | Builtin::APIService)
        );
        if read_only && (p.legacy_watch || crate::rest::options::watch_requested(query)) {
            return Err(ApiError::method_not_allowed("WATCH"));
        }
        Ok(())
    }

    /// The part of the object the REST verbs read or write at the path's
    /// subresource; 404 for a subresource they do not serve.
    fn rest_subresource(rt: &ResourceType, p: &ResourcePath) -> ApiResult<Subresource> {
        Ok(match p.subresource.as_deref() {
            None => Subresource::Main,
            Some("status") if rt.status_subresource => Subresource::Status,
            Some("finalize") if rt.builtin == Some(Builtin::Namespace) => Subresource::Main,
            Some(_) => return Err(ApiError::path_not_found()),
        })
    }

    /// GET: a list, an object, or a watch of either.
    fn read(&self, call: &Call<'_>, name: Option<&str>) -> ApiResult<http::Response<Body>> {
        let (rt, ns) = (&call.rt, call.p.namespace.as_deref());
        let (shape, encoding) = call.negotiated;
        let Some(name) = name else {
            let opts = ListOptions::parse(call.query)?;
            if opts.watch || call.p.legacy_watch {
                return self.watch(rt.clone(), ns, &opts, call.negotiated);
            }
            let listed = self.rest.list(rt, ns, &opts)?;
            if (shape, encoding) == (Shape::Object, Encoding::Json) {
                return Ok(full(StatusCode::OK, "application/json", listed.to_json(rt)));
            }
            let list = listed.into_value(rt);
            return Ok(respond(200, &negotiate::list(rt, shape, list), encoding));
        };
        if call.p.legacy_watch || crate::rest::options::watch_requested(call.query) {
            let mut opts = ListOptions::parse(call.query)?;
            opts.field_selector = Some(format!("metadata.name={name}"));
            return self.watch(rt.clone(), ns, &opts, call.negotiated);
        }
        let stored = self.rest.get_stored(rt, ns, name)?;
        if (shape, encoding) == (Shape::Object, Encoding::Json)
            && convert::read_as_stored(rt, &stored)
        {
            return Ok(full(
                StatusCode::OK,
                "application/json",
                stored.json().to_owned(),
            ));
        }
        let obj = convert::from_stored(rt, &stored);
        Ok(respond(200, &negotiate::object(rt, shape, obj), encoding))
    }

    /// POST, PUT and PATCH.
    fn write(
        &self,
        call: &Call<'_>,
        method: &Method,
        name: Option<&str>,
        write_options: &dyn Fn() -> ApiResult<WriteOptions>,
    ) -> ApiResult<http::Response<Body>> {
        let (rt, ns, sub) = (&call.rt, call.p.namespace.as_deref(), call.sub);
        let (shape, encoding) = call.negotiated;
        let mut opts = write_options()?;
        let (code, object, warnings) = match (method, name) {
            (&Method::POST, None) => {
                let mut obj = decode(call.body, call.content_type, call.own)?;
                if rt.builtin == Some(Builtin::CertificateSigningRequest) {
                    requested_by(&mut obj, call.user);
                }
                let (created, warnings) = self.rest.create(rt, ns, obj, &opts)?;
                (201, created, warnings)
            }
            (&Method::PUT, Some(name)) => {
                let obj = decode(call.body, call.content_type, call.own)?;
                let (updated, warnings) = self.rest.update(rt, ns, name, sub, obj, &opts)?;
                (200, updated, warnings)
            }
            (&Method::PATCH, Some(name)) => {
                let patch_type = PatchType::from_content_type(call.content_type)?;
                if patch_type == PatchType::Apply {
                    opts.create_check = Some(self.create_check(call.user, call.p, name));
                }
                let patch = (patch_type, &call.body[..]);
                let patched = self.rest.patch(rt, ns, name, sub, patch, &opts)?;
                let code = if patched.created { 201 } else { 200 };
                (code, patched.object, patched.warnings)
            }
            (m, _) => return Err(ApiError::method_not_allowed(m.as_str())),
        };
        if !opts.dry_run {
            self.requests.wrote(|| Write {
                user_agent: opts.user_agent.clone(),
                field_manager: Some(opts.manager()),
                verb: written_verb(method),
                resource: resource_path(call.p),
                namespace: ns.map(str::to_owned),
                name: meta::name(&object).unwrap_or_default().to_owned(),
            });
        }
        let object = negotiate::object(rt, shape, object);
        Ok(with_warnings(respond(code, &object, encoding), &warnings))
    }

    /// DELETE of an object or a collection.
    fn remove(&self, call: &Call<'_>, name: Option<&str>) -> ApiResult<http::Response<Body>> {
        let (rt, ns) = (&call.rt, call.p.namespace.as_deref());
        let (shape, encoding) = call.negotiated;
        let delete_body = if call.body.is_empty() {
            None
        } else {
            // DeleteOptions are apimachinery's, whichever the resource.
            let options = Some(("meta.k8s.io/v1", "DeleteOptions"));
            Some(decode(call.body, call.content_type, options)?)
        };
        let opts = DeleteOptions::parse(call.query, delete_body.as_ref())?;
        let Some(name) = name else {
            let list_opts = ListOptions::parse(call.query)?;
            let list = self.rest.delete_collection(rt, ns, &list_opts, &opts)?;
            return Ok(respond(200, &negotiate::list(rt, shape, list), encoding));
        };
        let deleted = self.rest.delete(rt, ns, name, &opts)?;
        if !opts.dry_run {
            self.requests.wrote(|| Write {
                user_agent: call.user_agent.to_owned(),
                field_manager: None,
                verb: "delete",
                resource: resource_path(call.p),
                namespace: ns.map(str::to_owned),
                name: name.to_owned(),
            });
        }
        Ok(match deleted {
            Deleted::Pending(obj) => respond(202, &negotiate::object(rt, shape, obj), encoding),
            Deleted::Now(obj) => respond(200, &deleted_body(rt, shape, &obj), encoding),
        })
    }

    fn watch(
        &self,
        rt: Arc<ResourceType>,
        ns: Option<&str>,
        opts: &ListOptions,
        (shape, encoding): (Shape, Encoding),
    ) -> ApiResult<http::Response<Body>> {
        let events = watch(
            self.store.clone(),
            rt.clone(),
            ns,
            opts,
            self.watch,
            self.shutdown.clone(),
        )?;
        let mut first = true;
        let frames = events.map(move |event| {
            if shape == Shape::Object && encoding == Encoding::Json {
                return Ok::<_, Infallible>(Frame::data(Bytes::from(event.to_json_line())));
            }
            let event = negotiate::watch_event(&rt, shape, event.into_value(), first);
            first = false;
            let frame = match encoding {
                // An event without a protobuf form (none is expected: the
                // kind has one) is left out rather than sent as JSON inside a
                // protobuf stream; `protobuf::encode` logs it.
                Encoding::Protobuf => protobuf::watch_frame(&event).unwrap_or_default(),
                Encoding::Json => json_line(&event),
            };
            Ok::<_, Infallible>(Frame::data(Bytes::from(frame)))
        });
        let mut r = http::Response::new(BodyExt::boxed(StreamBody::new(frames)));
        let content_type = match encoding {
            Encoding::Protobuf => protobuf::WATCH_MEDIA_TYPE,
            Encoding::Json => "application/json",
        };
        r.headers_mut().insert(
            header::CONTENT_TYPE,
            header::HeaderValue::from_static(content_type),
        );
        r.headers_mut().insert(
            header::CACHE_CONTROL,
            header::HeaderValue::from_static("no-cache, private"),
        );
        Ok(r)
    }
}

/// What a DELETE that removed the object answers: the object (in the shape
/// asked) where kube-apiserver's registry sets `ReturnDeletedObject` (custom
/// resources, CRDs, namespaces, pods, Services, ServiceAccounts,
/// StorageClasses); a Success Status for other built-ins.
fn deleted_body(rt: &ResourceType, shape: Shape, obj: &Value) -> Value {
    let returns_object = rt.custom.is_some()
        || matches!(
            rt.builtin,
            Some(
                Builtin::Pod
                    | Builtin::Namespace
                    | Builtin::CustomResourceDefinition
                    | Builtin::Service
                    | Builtin::ServiceAccount
                    | Builtin::StorageClass
            )
        );
    if returns_object {
        return negotiate::object(rt, shape, obj.clone());
    }
    json!({
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Success",
        "details": {
            "name": meta::name(obj).unwrap_or_default(),
            "group": rt.group,
            "kind": rt.plural,
            "uid": meta::uid(obj).unwrap_or_default(),
        },
    })
}

/// A CertificateSigningRequest's requester, as kube-apiserver's strategy
/// records it on create (whatever the client wrote there).
fn requested_by(csr: &mut Value, user: &User) {
    let spec = crate::meta::object_field_mut(csr, "spec");
    spec.insert("username".into(), user.name.clone().into());
    spec.insert("groups".into(), json!(user.groups));
    if !user.uid.is_empty() {
        spec.insert("uid".into(), user.uid.clone().into());
    }
}

/// The type a protobuf body of `rt` defaults to, if `rt` has a protobuf form
/// (built-in kinds; custom resources have none).
fn protobuf_type(rt: &ResourceType) -> Option<(String, String)> {
    let api_version = rt.api_version();
    (rt.custom.is_none() && protobuf::supports(&api_version, &rt.kind))
        .then(|| (api_version, rt.kind.clone()))
}

fn pb(t: &Option<(String, String)>) -> Option<(&str, &str)> {
    t.as_ref().map(|(a, k)| (a.as_str(), k.as_str()))
}

/// Decodes a JSON, YAML or (for kinds that have it, `protobuf` naming the
/// type the envelope defaults to) protobuf request body. Without a
/// Content-Type the body is JSON (kube-apiserver takes its first
/// serializer); any other type is 415.
fn decode(body: &[u8], content_type: &str, protobuf: Option<(&str, &str)>) -> ApiResult<Value> {
    let media = content_type.split(';').next().unwrap_or_default().trim();
    match (media, protobuf) {
        ("application/yaml", _) => serde_yaml::from_slice(body)
            .map_err(|e| ApiError::bad_request(format!("error decoding YAML: {e}"))),
        ("" | "application/json", _) => serde_json::from_slice(body).map_err(|e| {
            ApiError::bad_request(format!("couldn't get version/kind; json parse error: {e}"))
        }),
        (protobuf::MEDIA_TYPE, Some(default)) => protobuf::decode(body, default),
        _ => Err(ApiError::unsupported_body_type(protobuf.is_some())),
    }
}

/// `<resource>` or `<resource>/<subresource>` of a path.
fn resource_path(p: &ResourcePath) -> String {
    match &p.subresource {
        Some(sub) => format!("{}/{sub}", p.resource),
        None => p.resource.clone(),
    }
}

/// The verb of a write the REST verbs committed.
fn written_verb(method: &Method) -> &'static str {
    match *method {
        Method::POST => "create",
        Method::PUT => "update",
        _ => "patch",
    }
}

/// The Kubernetes verb of a request, for counting.
fn verb_of(method: &Method, route: Option<&Route>, query: &Query) -> &'static str {
    let (legacy_watch, has_name) = match route {
        Some(Route::Resource(p)) => (p.legacy_watch, p.name.is_some()),
        _ => (false, false),
    };
    let watch = legacy_watch || crate::rest::options::watch_requested(query);
    match *method {
        Method::GET if watch => "watch",
        Method::GET if has_name => "get",
        Method::GET => "list",
        Method::POST => "create",
        Method::PUT => "update",
        Method::PATCH => "patch",
        Method::DELETE if has_name => "delete",
        Method::DELETE => "deletecollection",
        _ => "other",
    }
}
