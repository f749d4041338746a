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
    let asker = Asker {
        index: Index::from_state(state),
        user,
        namespace: meta::namespace(obj).unwrap_or_default().to_owned(),
        name: meta::name(obj).unwrap_or_default().to_owned(),
    };
    let granted = match resource {
        "roles" | "clusterroles" => asker.role_rules(resource, obj, creating)?,
        "rolebindings" | "clusterrolebindings" => asker.bound_rules(obj)?,
        _ => None,
    };
    match granted {
        Some(rules) => asker.holds(resource, &rules),
        None => Ok(()),
    }
}

/// The user writing a role or binding, and where.
struct Asker<'a> {
    index: Index,
    user: &'a User,
    namespace: String,
    name: String,
}

impl Asker<'_> {
    /// Whether the user may `verb` the RBAC `resource` named `name` here.
    fn may(&self, verb: &str, resource: &str, name: &str) -> bool {
        let attrs = Attributes {
            verb: verb.into(),
            target: Target::Resource(ResourceAttributes {
                group: GROUP.into(),
                resource: resource.into(),
                subresource: String::new(),
                namespace: self.namespace.clone(),
                name: name.into(),
            }),
        };
        self.index.allows(self.user, &attrs).is_some()
    }

    /// The rules a role grants, or `None` when the user may `escalate`.
    fn role_rules(
        &self,
        resource: &str,
        obj: &Value,
        creating: bool,
    ) -> ApiResult<Option<Vec<Rule>>> {
        // As kube-apiserver: `escalate` is asked with the request's name,
        // which a create does not have.
        let request_name = if creating { "" } else { self.name.as_str() };
        if self.may("escalate", resource, request_name) {
            return Ok(None);
        }
        if obj.get("aggregationRule").is_some_and(|a| !a.is_null()) {
            return Err(ApiError::forbidden_resource(
                resource,
                GROUP,
                &self.name,
                &format!(
                    "user {:?} must have cluster-admin privileges to use the aggregationRule",
                    self.user.name
                ),
            ));
        }
        Ok(Some(Rule::all_of(obj)))
    }

    /// The rules of the role a binding refers to, or `None` when the user
    /// may `bind` it; 404 when the role does not exist.
    fn bound_rules(&self, obj: &Value) -> ApiResult<Option<Vec<Rule>>> {
        let kind = meta::string_at(obj, "/roleRef/kind");
        let role = meta::string_at(obj, "/roleRef/name");
        let role_resource = if kind == "Role" {
            "roles"
        } else {
            "clusterroles"
        };
        if self.may("bind", role_resource, &role) {
            return Ok(None);
        }
        let rules = self.index.role_rules(&kind, &self.namespace, &role);
        rules.map(Some).ok_or_else(|| {
            ApiError::not_found(Target404 {
                group: GROUP,
                resource: role_resource,
                name: &role,
            })
        })
    }

    /// Refuses `granted` unless the user holds every permission in it.
    fn holds(&self, resource: &str, granted: &[Rule]) -> ApiResult<()> {
        let held = self.index.rules_for(self.user, &self.namespace);
        let missing: Vec<String> = granted
            .iter()
            .flat_map(Rule::atoms)
            .filter(|atom| !held.iter().any(|h| h.covers(atom)))
            .map(|atom| atom.go_string())
            .collect();
        if missing.is_empty() {
            return Ok(());
        }
        let groups = self
            .user
            .groups
            .iter()
            .map(|g| format!("{g:?}"))
            .collect::<Vec<_>>()
            .join(" ");
        Err(ApiError::forbidden_resource(
            resource,
            GROUP,
            &self.name,
            &format!(
                "user {:?} (groups=[{groups}]) is attempting to grant RBAC permissions not currently held:\n{}",
                self.user.name,
                missing.join("\n")
            ),
        ))
    }
}
