//! The subresources and read-only kinds answered outside the plain REST
//! verbs: `scale` (GET, PUT, PATCH), `pods/log` (an empty log: no kubelet
//! runs here), `pods/ephemeralcontainers`, `certificatesigningrequests/approval`,
//! and `componentstatuses` (a healthy single-node control plane, with
//! kube-apiserver's deprecation warning).

use http::{Method, StatusCode};
use serde_json::{Value, json};

use super::{App, Asked, Body, decode, full, respond, with_warnings};
use crate::error::{ApiError, ApiResult};
use crate::resources::{Builtin, ResourceType};
use crate::rest::PatchType;
use crate::rest::options::WriteOptions;

/// The components `kubectl get componentstatuses` lists.
const COMPONENTS: [(&str, &str); 3] = [
    ("controller-manager", "ok"),
    ("etcd-0", "{\"health\":\"true\",\"reason\":\"\"}"),
    ("scheduler", "ok"),
];
const COMPONENT_STATUS_WARNING: &str = "v1 ComponentStatus is deprecated in v1.19+";

impl App {
    /// Answers `subresource` of `name`, if it is one of this module's.
    pub(super) fn subresource(
        &self,
        rt: &ResourceType,
        (ns, name, subresource): (Option<&str>, Option<&str>, Option<&str>),
        request: Asked<'_>,
        write_options: &dyn Fn() -> ApiResult<WriteOptions>,
    ) -> ApiResult<Option<http::Response<Body>>> {
        if rt.builtin == Some(Builtin::ComponentStatus) {
            return component_statuses(name, subresource, request).map(Some);
        }
        if rt.builtin == Some(Builtin::APIService) {
            if subresource.is_some() {
                return Err(ApiError::path_not_found());
            }
            return self.api_services(name, request).map(Some);
        }
        let (Some(name), Some(sub)) = (name, subresource) else {
            return Ok(None);
        };
        let answer = |v: &Value| Ok(Some(respond(200, v, request.encoding)));
        match (rt.builtin, sub) {
            (_, "scale") if crate::rest::has_scale(rt) => {
                self.scale(rt, ns, name, request, write_options).map(Some)
            }
            (Some(Builtin::Pod), "log") => {
                only(request.method, &[Method::GET])?;
                self.rest.get(rt, ns, name)?;
                Ok(Some(full(StatusCode::OK, "text/plain", Vec::new())))
            }
            (Some(Builtin::Pod), "ephemeralcontainers") => {
                let Some(pod) = self.asked_parent(rt, ns, name, request)? else {
                    return answer(&self.rest.get(rt, ns, name)?);
                };
                let ns = ns.unwrap_or_default();
                let opts = write_options()?;
                answer(
                    &self
                        .rest
                        .update_ephemeral_containers(rt, ns, name, &pod, &opts)?,
                )
            }
            (Some(Builtin::CertificateSigningRequest), "approval") => {
                let Some(csr) = self.asked_parent(rt, None, name, request)? else {
                    return answer(&self.rest.get(rt, None, name)?);
                };
                answer(
                    &self
                        .rest
                        .update_approval(rt, name, &csr, &write_options()?)?,
                )
            }
            _ => Ok(None),
        }
    }

    /// For the subresources that write one part of their parent: the
    /// parent a PUT sends, or the stored one with a PATCH applied (not
    /// stored); `None` for a GET.
    fn asked_parent(
        &self,
        rt: &ResourceType,
        ns: Option<&str>,
        name: &str,
        request: Asked<'_>,
    ) -> ApiResult<Option<Value>> {
        match *request.method {
            Method::GET => Ok(None),
            Method::PUT => {
                let kind = (rt.api_version(), rt.kind.as_str());
                decode(request.body, request.content_type, Some((&kind.0, kind.1))).map(Some)
            }
            Method::PATCH => {
                let patch_type = PatchType::from_content_type(request.content_type)?;
                let current = self.rest.get(rt, ns, name)?;
                crate::rest::apply_patch(rt, patch_type, &current, request.body).map(Some)
            }
            ref m => Err(ApiError::method_not_allowed(m.as_str())),
        }
    }

    fn scale(
        &self,
        rt: &ResourceType,
        ns: Option<&str>,
        name: &str,
        request: Asked<'_>,
        write_options: &dyn Fn() -> ApiResult<WriteOptions>,
    ) -> ApiResult<http::Response<Body>> {
        let scale = match *request.method {
            Method::GET => self.rest.get_scale(rt, ns, name)?,
            Method::PUT => {
                let asked = decode(
                    request.body,
                    request.content_type,
                    Some(("autoscaling/v1", "Scale")),
                )?;
                self.rest
                    .update_scale(rt, ns, name, &asked, &write_options()?)?
            }
            Method::PATCH => {
                let patch_type = PatchType::from_content_type(request.content_type)?;
                let patch = (patch_type, request.body);
                self.rest
                    .patch_scale(rt, ns, name, patch, &write_options()?)?
            }
            ref m => return Err(ApiError::method_not_allowed(m.as_str())),
        };
        Ok(respond(200, &scale, request.encoding))
    }
}

fn only(method: &Method, allowed: &[Method]) -> ApiResult<()> {
    if allowed.contains(method) {
        Ok(())
    } else {
        Err(ApiError::method_not_allowed(method.as_str()))
    }
}

/// GET of `componentstatuses` or one of them.
fn component_statuses(
    name: Option<&str>,
    subresource: Option<&str>,
    request: Asked<'_>,
) -> ApiResult<http::Response<Body>> {
    only(request.method, &[Method::GET])?;
    if subresource.is_some() {
        return Err(ApiError::path_not_found());
    }
    let status = |(name, message): &(&str, &str)| {
        json!({"kind": "ComponentStatus", "apiVersion": "v1", "metadata": {"name": name},
            "conditions": [{"type": "Healthy", "status": "True", "message": message}]})
    };
    let body = match name {
        None => json!({"kind": "ComponentStatusList", "apiVersion": "v1", "metadata": {},
            "items": COMPONENTS.iter().map(status).collect::<Vec<_>>()}),
        Some(n) => COMPONENTS
            .iter()
            .find(|(c, _)| *c == n)
            .map(status)
            .ok_or_else(|| {
                ApiError::not_found(crate::error::Target {
                    group: "",
                    resource: "componentstatuses",
                    name: n,
                })
            })?,
    };
    let encoding = request.encoding;
    let warnings = [COMPONENT_STATUS_WARNING.to_owned()];
    Ok(with_warnings(respond(200, &body, encoding), &warnings))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::negotiate::Encoding;

    #[test]
    fn component_statuses_are_healthy_and_read_only() {
        let user = crate::user::User::service_account("ns", "test", "uid");
        let asked = |method: &'static Method| Asked {
            method,
            body: &[],
            content_type: "application/json",
            user: &user,
            encoding: Encoding::Json,
        };
        let list = component_statuses(None, None, asked(&Method::GET)).unwrap();
        assert_eq!(list.status(), 200);
        assert!(list.headers().get("warning").is_some());
        assert_eq!(
            component_statuses(Some("nope"), None, asked(&Method::GET))
                .unwrap_err()
                .code,
            404
        );
        assert_eq!(
            component_statuses(None, None, asked(&Method::POST))
                .unwrap_err()
                .code,
            405
        );
    }
}
