//! The RBAC authorizer: bindings and roles read from the store into an index
//! (rebuilt when an RBAC object changes), and the rules that apply to a user
//! in a namespace, as kube-apiserver's `rbac` authorizer evaluates them.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use serde_json::Value;

use super::rules::Rule;
use super::{Attributes, Grant, Target};
use crate::store::{State, StorageKey, Store};
use crate::user::User;

/// The RBAC collections.
const GROUP: &str = "rbac.authorization.k8s.io";
const KINDS: [&str; 4] = [
    "roles",
    "clusterroles",
    "rolebindings",
    "clusterrolebindings",
];

/// A binding's subject.
#[derive(Debug, Clone)]
struct Subject {
    kind: String,
    name: String,
    namespace: String,
}

/// A RoleBinding or ClusterRoleBinding.
#[derive(Debug, Clone)]
struct Binding {
    kind: &'static str,
    name: String,
    namespace: String,
    role_kind: String,
    role_name: String,
    subjects: Vec<Subject>,
}

/// Every binding and role, as of one revision.
#[derive(Default)]
pub(super) struct Index {
    revision: u64,
    cluster_bindings: Vec<Binding>,
    bindings: HashMap<String, Vec<Binding>>,
    cluster_roles: HashMap<String, Arc<Vec<Rule>>>,
    roles: HashMap<(String, String), Arc<Vec<Rule>>>,
}

/// The RBAC authorizer over a store.
pub(crate) struct Rbac {
    store: Arc<Store>,
    index: RwLock<Arc<Index>>,
    /// The revision up to which the log was checked for RBAC changes.
    checked: AtomicU64,
}

impl Rbac {
    /// An authorizer reading `store`.
    pub(crate) fn new(store: Arc<Store>) -> Self {
        Self {
            store,
            index: RwLock::new(Arc::new(Index::default())),
            checked: AtomicU64::new(0),
        }
    }

    /// The grant that allows `attrs` for `user`, if any.
    pub(crate) fn allows(&self, user: &User, attrs: &Attributes) -> Option<Grant> {
        self.current().allows(user, attrs)
    }

    /// Every rule that applies to `user` in `namespace` ("" for cluster-wide
    /// rules only), as escalation checks and rules reviews need them.
    pub(crate) fn rules_for(&self, user: &User, namespace: &str) -> Vec<Rule> {
        self.current().rules_for(user, namespace)
    }
}

impl Index {
    /// The grant that allows `attrs` for `user`, if any.
    pub(super) fn allows(&self, user: &User, attrs: &Attributes) -> Option<Grant> {
        let index = self;
        let namespace = match &attrs.target {
            Target::Resource(r) => r.namespace.as_str(),
            Target::Path(_) => "",
        };
        index
            .applicable(user, namespace)
            .find_map(|(binding, rules)| {
                let i = rules.iter().position(|r| r.allows(attrs))?;
                Some(Grant {
                    binding_kind: binding.kind,
                    binding: binding.name.clone(),
                    namespace: binding.namespace.clone(),
                    role_kind: binding.role_kind.clone(),
                    role: binding.role_name.clone(),
                    rule: i,
                    subject: describe_match(binding, user),
                })
            })
    }

    /// Every rule that applies to `user` in `namespace`.
    pub(super) fn rules_for(&self, user: &User, namespace: &str) -> Vec<Rule> {
        self.applicable(user, namespace)
            .flat_map(|(_, rules)| rules.iter().cloned())
            .collect()
    }

    /// The rules of a role, if it exists.
    pub(super) fn role_rules(
        &self,
        role_kind: &str,
        namespace: &str,
        name: &str,
    ) -> Option<Vec<Rule>> {
        self.role(role_kind, namespace, name)
            .map(|r| r.as_ref().clone())
    }
}

impl Rbac {
    /// The index, rebuilt first if an RBAC object changed since it was built.
    /// Each change event is looked at once.
    fn current(&self) -> Arc<Index> {
        let revision = self.store.revision();
        let checked = self.checked.load(Ordering::Acquire);
        if revision == checked || (checked > 0 && !self.changed_since(checked)) {
            self.checked.fetch_max(revision, Ordering::AcqRel);
            return self.read_index();
        }
        // Rebuilds are serialized by the write lock, so the index and the
        // checked revision only move forward together.
        let mut index = self
            .index
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let fresh = Arc::new(self.build());
        self.checked.store(fresh.revision, Ordering::Release);
        *index = fresh.clone();
        fresh
    }

    fn read_index(&self) -> Arc<Index> {
        self.index
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Whether an RBAC object changed after `revision` (true when the event
    /// log no longer reaches back that far).
    fn changed_since(&self, revision: u64) -> bool {
        match self.store.events_after(revision, usize::MAX) {
            Ok(events) => events
                .iter()
                .any(|e| e.storage.group == GROUP && KINDS.contains(&e.storage.resource.as_str())),
            Err(_) => true,
        }
    }

    fn build(&self) -> Index {
        self.store.read(Index::from_state)
    }
}

impl Index {
    /// The index of the roles and bindings in `state` (a caller holding the
    /// store lock, such as RBAC's escalation check on a write, uses this
    /// instead of the cache, which would take the lock again).
    pub(super) fn from_state(state: &State) -> Self {
        {
            let list = |resource: &str| state.values(&StorageKey::new(GROUP, resource), None);
            let mut index = Index {
                revision: state.revision(),
                ..Index::default()
            };
            for (key, role) in list("clusterroles") {
                index
                    .cluster_roles
                    .insert(key.name, Arc::new(Rule::all_of(&role)));
            }
            for (key, role) in list("roles") {
                index
                    .roles
                    .insert((key.namespace, key.name), Arc::new(Rule::all_of(&role)));
            }
            for (_, b) in list("clusterrolebindings") {
                index
                    .cluster_bindings
                    .push(binding(&b, "ClusterRoleBinding"));
            }
            for (key, b) in list("rolebindings") {
                index
                    .bindings
                    .entry(key.namespace)
                    .or_default()
                    .push(binding(&b, "RoleBinding"));
            }
            index
        }
    }

    fn role(&self, kind: &str, namespace: &str, name: &str) -> Option<&Arc<Vec<Rule>>> {
        match kind {
            "ClusterRole" => self.cluster_roles.get(name),
            "Role" => self.roles.get(&(namespace.to_owned(), name.to_owned())),
            _ => None,
        }
    }

    /// The bindings of `user` (cluster-wide, then in `namespace`) with the
    /// rules of their roles.
    fn applicable<'a>(
        &'a self,
        user: &'a User,
        namespace: &'a str,
    ) -> impl Iterator<Item = (&'a Binding, &'a Arc<Vec<Rule>>)> + 'a {
        let local = match namespace {
            "" => None,
            ns => self.bindings.get(ns),
        };
        self.cluster_bindings
            .iter()
            .chain(local.into_iter().flatten())
            .filter(move |b| b.subjects.iter().any(|s| applies(s, &b.namespace, user)))
            .filter_map(move |b| Some((b, self.role(&b.role_kind, &b.namespace, &b.role_name)?)))
    }
}

fn binding(b: &Value, kind: &'static str) -> Binding {
    let s = |v: &Value, k: &str| {
        v.get(k)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    let meta = b.get("metadata").cloned().unwrap_or_default();
    let role_ref = b.get("roleRef").cloned().unwrap_or_default();
    Binding {
        kind,
        name: s(&meta, "name"),
        namespace: s(&meta, "namespace"),
        role_kind: s(&role_ref, "kind"),
        role_name: s(&role_ref, "name"),
        subjects: b
            .get("subjects")
            .and_then(Value::as_array)
            .map(|subjects| {
                subjects
                    .iter()
                    .map(|x| Subject {
                        kind: s(x, "kind"),
                        name: s(x, "name"),
                        namespace: s(x, "namespace"),
                    })
                    .collect()
            })
            .unwrap_or_default(),
    }
}

/// Whether `subject` of a binding in `binding_ns` is `user` (RBAC's
/// `appliesToUser`).
fn applies(subject: &Subject, binding_ns: &str, user: &User) -> bool {
    match subject.kind.as_str() {
        "User" => subject.name == user.name,
        "Group" => user.groups.contains(&subject.name),
        "ServiceAccount" => {
            let ns = if subject.namespace.is_empty() {
                binding_ns
            } else {
                &subject.namespace
            };
            // As RBAC: a subject without a namespace matches nobody.
            !ns.is_empty() && user.name == format!("system:serviceaccount:{ns}:{}", subject.name)
        }
        _ => false,
    }
}

/// How a binding names the user, for review reasons: `User "alice"`.
fn describe_match(binding: &Binding, user: &User) -> String {
    binding
        .subjects
        .iter()
        .find(|s| applies(s, &binding.namespace, user))
        .map(|s| match s.kind.as_str() {
            "ServiceAccount" => {
                let ns = if s.namespace.is_empty() {
                    &binding.namespace
                } else {
                    &s.namespace
                };
                format!("ServiceAccount \"{}/{ns}\"", s.name)
            }
            kind => format!("{kind} {:?}", s.name),
        })
        .unwrap_or_default()
}
