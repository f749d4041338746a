//! RBAC's own escalation check: nobody writes a role with permissions they do
//! not hold, or binds a role whose permissions they do not hold, unless they
//! may `escalate` (roles) or `bind` (that role). Members of `system:masters`
//! are exempt, as in kube-apiserver.

use serde_json::Value;

use super::rbac::Index;
use super::rules::Rule;
use super::{Attributes, Authorizer, Mode, ResourceAttributes, Target};
use crate::error::{ApiError, ApiResult, Target as Target404};
use crate::meta;
use crate::rest::EscalationCheck;
use crate::store::State;
use crate::user::User;

const GROUP: &str = "rbac.authorization.k8s.io";

impl EscalationCheck for Authorizer {
    /// Judged on `state`, the store as the write sees it under its lock (the
    /// authorizer's cache would take the lock again).
    fn check(
        &self,
        state: &State,
        user: &User,
        kind: (&str, &str),
        obj: &Value,
        creating: bool,
    ) -> ApiResult<()> {
        check(self, state, user, kind, obj, creating)
    }
}

/// Refuses `obj` (a role or binding about to be stored by `user`) if it
/// grants more than `user` holds.
fn check(
    authz: &Authorizer,
    state: &State,
    user: &User,
    (group, resource): (&str, &str),
    obj: &Value,
    creating: bool,
) -> ApiResult<()> {
    if group != GROUP
        || authz.mode() == Mode::AlwaysAllow
        || user.groups.iter().any(|g| g == "system:masters")
    {
        return Ok(());
    }
    let index = Index::from_state(state);
    let namespace = meta::namespace(obj).unwrap_or_default().to_owned();
    let name = meta::name(obj).unwrap_or_default().to_owned();
    let may = |verb: &str, resource: &str, name: &str| {
        let attrs = Attributes {
            verb: verb.into(),
            target: Target::Resource(ResourceAttributes {
                group: GROUP.into(),
                resource: resource.into(),
                subresource: String::new(),
                namespace: namespace.clone(),
                name: name.into(),
            }),
        };
        index.allows(user, &attrs).is_some()
    };
    let granted = match resource {
        "roles" | "clusterroles" => {
            // As kube-apiserver: `escalate` is asked with the request's name,
            // which a create does not have.
            let request_name = if creating { "" } else { name.as_str() };
            if may("escalate", resource, request_name) {
                return Ok(());
            }
            if obj.get("aggregationRule").is_some_and(|a| !a.is_null()) {
                return Err(ApiError::forbidden_resource(
                    resource,
                    GROUP,
                    &name,
                    &format!(
                        "user {:?} must have cluster-admin privileges to use the aggregationRule",
                        user.name
                    ),
                ));
            }
            Rule::all_of(obj)
        }
        "rolebindings" | "clusterrolebindings" => {
            let role_ref = obj.get("roleRef").cloned().unwrap_or_default();
            let kind = role_ref
                .get("kind")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let role = role_ref
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let role_resource = if kind == "Role" {
                "roles"
            } else {
                "clusterroles"
            };
            if may("bind", role_resource, role) {
                return Ok(());
            }
            index.role_rules(kind, &namespace, role).ok_or_else(|| {
                ApiError::not_found(Target404 {
                    group: GROUP,
                    resource: role_resource,
                    name: role,
                })
            })?
        }
        _ => return Ok(()),
    };
    let held = index.rules_for(user, &namespace);
    let missing: Vec<String> = granted
        .iter()
        .flat_map(Rule::atoms)
        .filter(|atom| !held.iter().any(|h| h.covers(atom)))
        .map(|atom| atom.go_string())
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    let groups = user
        .groups
        .iter()
        .map(|g| format!("{g:?}"))
        .collect::<Vec<_>>()
        .join(" ");
    Err(ApiError::forbidden_resource(
        resource,
        GROUP,
        &name,
        &format!(
            "user {:?} (groups=[{groups}]) is attempting to grant RBAC permissions not currently held:\n{}",
            user.name,
            missing.join("\n")
        ),
    ))
}
