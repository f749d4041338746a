//! An operator's RBAC roles judged against what it did: the rules of the
//! roles of `manifests/<operator>/` ([`rules_of`]), the embedded server's
//! recorded authorization decisions for its user ([`decisions_of`]), and
//! the checks every operator's RBAC test makes: nothing refused, every rule
//! needed by some request, every verb used ([`assert_enough_and_used`]);
//! without any one rule something is refused ([`without_rule`],
//! [`refused_for`]).

// Test support: a failed check must fail the test that called it, plainly.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::rbac::v1::{ClusterRole, Role};
use kube::api::DeleteParams;
use operatorkit::keys::OperatorName;
use operatorkit::testing::{ServiceAccountIdentity, TestEnv};
use operatorkit_apiserver::authorization::{Attributes, Decision, Rule, Target};

/// The ClusterRoles and Roles of an operator.
pub type Roles = (Vec<ClusterRole>, Vec<Role>);

/// A rule of the operator's roles: where it comes from and what it says.
pub struct Granted {
    /// `ClusterRole rule 2`, `Role rule 0`.
    pub origin: String,
    /// The rule.
    pub rule: Rule,
    /// Role rules hold in the namespace they are bound in only.
    pub namespace: Option<String>,
}

impl Granted {
    /// Whether the rule allows `a`.
    pub fn allows(&self, a: &Attributes) -> bool {
        let in_scope = match (&self.namespace, &a.target) {
            (Some(ns), Target::Resource(r)) => r.namespace == *ns,
            (Some(_), Target::Path(_)) => false,
            (None, _) => true,
        };
        in_scope && self.rule.allows(a)
    }
}

/// Every rule of `roles`, in order (ClusterRoles first); Role rules hold in
/// `namespace`, where the test binds them.
pub fn rules_of(roles: &Roles, namespace: &str) -> Vec<Granted> {
    let mut out = Vec::new();
    for role in &roles.0 {
        let v = serde_json::to_value(role).unwrap();
        for (i, r) in Rule::all_of(&v).into_iter().enumerate() {
            out.push(Granted {
                origin: format!("ClusterRole rule {i}"),
                rule: r,
                namespace: None,
            });
        }
    }
    for role in &roles.1 {
        let v = serde_json::to_value(role).unwrap();
        let name = role.metadata.name.clone().unwrap_or_default();
        for (i, r) in Rule::all_of(&v).into_iter().enumerate() {
            out.push(Granted {
                origin: format!("Role {name} rule {i}"),
                rule: r,
                namespace: Some(namespace.to_owned()),
            });
        }
    }
    out
}

/// `roles` with rule `i` (in [`rules_of`]'s order) left out.
pub fn without_rule(roles: &Roles, i: usize) -> Roles {
    let mut reduced = roles.clone();
    let mut k = 0;
    let mut keep = |rules: Option<Vec<_>>| {
        rules.map(|rules: Vec<_>| {
            rules
                .into_iter()
                .filter(|_| {
                    k += 1;
                    k - 1 != i
                })
                .collect()
        })
    };
    for role in &mut reduced.0 {
        role.rules = keep(role.rules.take());
    }
    for role in &mut reduced.1 {
        role.rules = keep(role.rules.take());
    }
    reduced
}

/// The decisions the embedded server recorded for `user`.
pub fn decisions_of(env: &TestEnv, user: &str) -> Vec<Decision> {
    env.embedded()
        .unwrap()
        .authorizer()
        .decisions()
        .into_iter()
        .filter(|d| d.user == user)
        .collect()
}

/// Nothing was refused; every rule of `granted` allowed some request no
/// other rule allows; every verb on every resource of every rule was used,
/// except the `(group, resource, verb)`s in `rare` (paths a run does not
/// reliably take: re-reads after a conflict, an Event's series).
pub fn assert_enough_and_used(
    decisions: &[Decision],
    granted: &[Granted],
    rare: &[(&str, &str, &str)],
) {
    assert!(decisions.len() > 10, "the run was recorded: {decisions:#?}");
    let refused: Vec<&Decision> = decisions.iter().filter(|d| d.grant.is_none()).collect();
    assert!(refused.is_empty(), "refused: {refused:#?}");
    for (i, g) in granted.iter().enumerate() {
        let only_this = decisions.iter().any(|d| {
            g.allows(&d.attributes)
                && granted
                    .iter()
                    .enumerate()
                    .all(|(j, other)| j == i || !other.allows(&d.attributes))
        });
        assert!(
            only_this,
            "{}: no request needed it: {:?}",
            g.origin, g.rule
        );
        for atom in g.rule.atoms() {
            let (group, resource, verb) = (&atom.api_groups[0], &atom.resources[0], &atom.verbs[0]);
            let is_rare = rare.contains(&(group.as_str(), resource.as_str(), verb.as_str()));
            let atom = Granted {
                origin: g.origin.clone(),
                rule: atom.clone(),
                namespace: g.namespace.clone(),
            };
            assert!(
                is_rare || decisions.iter().any(|d| atom.allows(&d.attributes)),
                "{}: {verb} {resource} {:?} in {group:?} is granted and never used",
                g.origin,
                atom.rule.resource_names
            );
        }
    }
}

/// The first request of `user` refused that `removed` would have allowed,
/// waiting for it at most `timeout`.
pub async fn refused_for(
    env: &TestEnv,
    user: &str,
    removed: &Granted,
    timeout: Duration,
) -> Option<Decision> {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let refused = decisions_of(env, user)
            .into_iter()
            .find(|d| d.grant.is_none() && removed.allows(&d.attributes));
        if refused.is_some() || tokio::time::Instant::now() > deadline {
            return refused;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The ServiceAccount `<prefix>-<i>` in `env`, bound to `roles` without rule
/// `i`: the operator under test for one round of "without any one rule".
pub async fn without_rule_identity(
    env: &TestEnv,
    roles: &Roles,
    i: usize,
    prefix: &str,
) -> ServiceAccountIdentity {
    let reduced = without_rule(roles, i);
    env.service_account(&format!("{prefix}-{i}"), reduced.0, reduced.1)
        .await
        .unwrap()
}

/// The refusal a round without `removed` must have caused: fails the test
/// naming the rule when there is none, and says what was refused.
pub fn expect_refusal(removed: &Granted, refused: Option<Decision>) -> Decision {
    let d = refused.unwrap_or_else(|| {
        panic!(
            "without {} ({:?}) nothing was refused",
            removed.origin, removed.rule
        )
    });
    eprintln!(
        "without {}: refused {} {:?}",
        removed.origin, d.attributes.verb, d.attributes.target
    );
    d
}

/// Deletes the leader-election Lease of `operator` in the environment's
/// namespace, so that the next round's operator creates it again (its
/// create is a rule too).
pub async fn forget_leader(env: &TestEnv, operator: &OperatorName) {
    let lease = format!("{}-leader", operator.as_str());
    env.api::<Lease>()
        .delete(&lease, &DeleteParams::default())
        .await
        .ok();
}
