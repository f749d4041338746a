//! Authorization: whether an authenticated user may do what a request asks,
//! as kube-apiserver decides it with `--authorization-mode AlwaysAllow` or
//! `RBAC`.
//!
//! ```text
//!  request ──► attributes (verb, group, resource/subresource, namespace, name │ path)
//!                 │
//!                 ▼
//!  Authorizer ── AlwaysAllow: yes
//!             └─ RBAC (rbac): bindings of the user ─► role rules (rules) ─► grant │ 403
//! ```
//!
//! Also here: the policy a real server bootstraps (`bootstrap`), RBAC's own
//! escalation check on roles and bindings (`escalation`), and the record of
//! decisions tests read to prove a role is least privilege.

mod aggregation;
mod bootstrap;
mod escalation;
mod impersonate;
mod rbac;
mod rules;

use std::sync::{Arc, Mutex};

use crate::error::ApiError;
use crate::store::Store;
use crate::user::User;

pub(crate) use self::aggregation::reconcile as aggregate;
pub(crate) use self::bootstrap::policy as bootstrap_policy;
pub(crate) use self::impersonate::apply as impersonate;
pub use self::rules::Rule;

/// `--authorization-mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    /// Every authenticated request is allowed.
    AlwaysAllow,
    /// Roles and bindings decide (the default, as on every real cluster).
    #[default]
    Rbac,
}

impl std::str::FromStr for Mode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "AlwaysAllow" => Ok(Self::AlwaysAllow),
            "RBAC" => Ok(Self::Rbac),
            other => Err(format!(
                "unsupported authorization mode {other:?}: supported are AlwaysAllow and RBAC"
            )),
        }
    }
}

/// What a request asks to do (kube-apiserver's `authorizer.Attributes`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attributes {
    /// `get`, `list`, `watch`, `create`, `update`, `patch`, `delete`,
    /// `deletecollection`, `impersonate`, ...; for a path, the lower-case
    /// HTTP method.
    pub verb: String,
    /// A resource or a non-resource path.
    pub target: Target,
}

/// What a request addresses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// A resource.
    Resource(ResourceAttributes),
    /// A non-resource URL (`/healthz`, `/apis`).
    Path(String),
}

/// The resource a request addresses.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResourceAttributes {
    /// API group ("" for core).
    pub group: String,
    /// Resource (plural).
    pub resource: String,
    /// Subresource, or "".
    pub subresource: String,
    /// Namespace, or "" (cluster scope).
    pub namespace: String,
    /// Object name, or "".
    pub name: String,
}

impl Attributes {
    /// The 403 kube-apiserver answers when these attributes are refused.
    pub fn forbidden(&self, user: &str) -> ApiError {
        match &self.target {
            Target::Path(path) => ApiError::forbidden_path(format!(
                "User {user:?} cannot {} path {path:?}",
                self.verb
            )),
            Target::Resource(r) => {
                let resource = match r.subresource.as_str() {
                    "" => r.resource.clone(),
                    sub => format!("{}/{sub}", r.resource),
                };
                let scope = match r.namespace.as_str() {
                    "" => "at the cluster scope".to_owned(),
                    ns => format!("in the namespace {ns:?}"),
                };
                ApiError::forbidden_resource(
                    &r.resource,
                    &r.group,
                    &r.name,
                    &format!(
                        "User {user:?} cannot {} resource {resource:?} in API group {:?} {scope}",
                        self.verb, r.group
                    ),
                )
            }
        }
    }
}

/// Which binding, role and rule allowed a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    /// `ClusterRoleBinding` or `RoleBinding`.
    pub binding_kind: &'static str,
    /// The binding's name.
    pub binding: String,
    /// The binding's namespace ("" for a ClusterRoleBinding).
    pub namespace: String,
    /// `ClusterRole` or `Role`.
    pub role_kind: String,
    /// The role's name.
    pub role: String,
    /// Index of the rule in the role's `rules`.
    pub rule: usize,
    /// The subject that matched, e.g. `Group "system:masters"`.
    pub subject: String,
}

impl Grant {
    /// The reason a review gives: `RBAC: allowed by ClusterRoleBinding "x" of
    /// ClusterRole "y" to User "z"`.
    pub fn reason(&self) -> String {
        let binding = match self.namespace.as_str() {
            "" => self.binding.clone(),
            ns => format!("{}/{ns}", self.binding),
        };
        format!(
            "RBAC: allowed by {} {binding:?} of {} {:?} to {}",
            self.binding_kind, self.role_kind, self.role, self.subject
        )
    }
}

/// One decision, kept for tests that check which rules a client needed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// The user.
    pub user: String,
    /// What was asked.
    pub attributes: Attributes,
    /// What allowed it; `None` if refused.
    pub grant: Option<Grant>,
}

/// Decides requests.
pub struct Authorizer {
    mode: Mode,
    rbac: rbac::Rbac,
    decisions: Mutex<Option<Vec<Decision>>>,
}

impl Authorizer {
    /// An authorizer in `mode` over the roles and bindings in `store`.
    pub fn new(mode: Mode, store: Arc<Store>) -> Self {
        Self {
            mode,
            rbac: rbac::Rbac::new(store),
            decisions: Mutex::new(None),
        }
    }

    /// The mode.
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// Whether `user` may do `attrs`; `Err` is the 403.
    pub fn authorize(&self, user: &User, attrs: &Attributes) -> Result<Option<Grant>, ApiError> {
        let grant = match self.mode {
            Mode::AlwaysAllow => return Ok(None),
            Mode::Rbac => self.rbac.allows(user, attrs),
        };
        self.record(user, attrs, &grant);
        match grant {
            Some(g) => Ok(Some(g)),
            None => Err(attrs.forbidden(&user.name)),
        }
    }

    /// Whether `user` may do `attrs`, without recording or failing (reviews).
    pub fn check(&self, user: &User, attrs: &Attributes) -> (bool, Option<Grant>) {
        match self.mode {
            Mode::AlwaysAllow => (true, None),
            Mode::Rbac => {
                let grant = self.rbac.allows(user, attrs);
                (grant.is_some(), grant)
            }
        }
    }

    /// The rules that apply to `user` in `namespace` (cluster-wide ones too).
    pub fn rules_for(&self, user: &User, namespace: &str) -> Vec<Rule> {
        match self.mode {
            Mode::AlwaysAllow => vec![
                Rule {
                    verbs: vec!["*".into()],
                    api_groups: vec!["*".into()],
                    resources: vec!["*".into()],
                    ..Rule::default()
                },
                Rule {
                    verbs: vec!["*".into()],
                    non_resource_urls: vec!["*".into()],
                    ..Rule::default()
                },
            ],
            Mode::Rbac => self.rbac.rules_for(user, namespace),
        }
    }

    /// Starts keeping every decision (tests).
    pub fn start_recording(&self) {
        *self.lock() = Some(Vec::new());
    }

    /// The decisions kept since recording started.
    pub fn decisions(&self) -> Vec<Decision> {
        self.lock().clone().unwrap_or_default()
    }

    fn record(&self, user: &User, attrs: &Attributes, grant: &Option<Grant>) {
        if let Some(log) = self.lock().as_mut() {
            log.push(Decision {
                user: user.name.clone(),
                attributes: attrs.clone(),
                grant: grant.clone(),
            });
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<Vec<Decision>>> {
        self.decisions
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}
