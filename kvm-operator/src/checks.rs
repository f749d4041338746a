//! The first step: what only the operator can see about a spec, before
//! anything is created for it. A KVMConfig that wants a cluster ID, a VNI
//! or a node port another KVMConfig already has (the older one wins; ties
//! by namespace and name) gets `Ready` False with a reason naming the other
//! one and one Warning Event, and nothing is made for it: no inputs, no
//! namespace, no VM. It is looked at again every [`CONFLICT_RECHECK`], so
//! it goes ahead once the other one is gone or changed.
//!
//! Only KVMConfigs this operator version reconciles are compared (its
//! cache); flannel-operator and ingress-operator still refuse a VNI or a
//! port held by anyone else, which `NetworkReady` and `IngressReady` report.

use std::collections::BTreeSet;
use std::time::Duration;

use apiextensions::KVMConfig;
use async_trait::async_trait;
use kube::ResourceExt;
use operatorkit::{Context, Outcome, Step, StepError};

/// Condition: the spec does not collide with another KVMConfig.
pub const ADMITTED: &str = "Admitted";

/// How often a refused KVMConfig is looked at again.
pub const CONFLICT_RECHECK: Duration = Duration::from_secs(30);

/// Condition reasons.
pub mod reasons {
    /// The spec cannot be served.
    pub const INVALID_SPEC: &str = "InvalidSpec";
    /// Another KVMConfig runs the same cluster ID.
    pub const CLUSTER_ID_CONFLICT: &str = "ClusterIDConflict";
    /// Another KVMConfig has the VNI.
    pub const VNI_CONFLICT: &str = "VNIConflict";
    /// Another KVMConfig maps one of the node ports.
    pub const PORT_CONFLICT: &str = "PortConflict";
    /// No conflict.
    pub const NO_CONFLICT: &str = "NoConflict";
}

/// The step of the checks.
pub struct Checks;

/// Whether `a` came first: older, then by namespace and name.
fn first(a: &KVMConfig, b: &KVMConfig) -> bool {
    let key = |c: &KVMConfig| {
        (
            c.metadata.creation_timestamp.clone().map(|t| t.0),
            c.namespace().unwrap_or_default(),
            c.name_any(),
        )
    };
    key(a) < key(b)
}

/// What `mine` collides with in `other`, as (reason, message).
fn conflict(mine: &KVMConfig, other: &KVMConfig) -> Option<(&'static str, String)> {
    let whose = format!(
        "KVMConfig {}/{}",
        other.namespace().unwrap_or_default(),
        other.name_any()
    );
    let (a, b) = (&mine.spec, &other.spec);
    if a.cluster.id == b.cluster.id {
        return Some((
            reasons::CLUSTER_ID_CONFLICT,
            format!(
                "guest cluster ID {} is already run by {whose}",
                a.cluster.id
            ),
        ));
    }
    if a.flannel.vni == b.flannel.vni {
        return Some((
            reasons::VNI_CONFLICT,
            format!(
                "VNI {} is already used by guest cluster {} ({whose})",
                a.flannel.vni, b.cluster.id
            ),
        ));
    }
    let theirs: BTreeSet<i32> = b.port_mappings.iter().map(|p| p.node_port).collect();
    let taken: Vec<String> = a
        .port_mappings
        .iter()
        .filter(|p| theirs.contains(&p.node_port))
        .map(|p| format!("{} ({})", p.node_port, p.name))
        .collect();
    if !taken.is_empty() {
        return Some((
            reasons::PORT_CONFLICT,
            format!(
                "node ports {} are already mapped by guest cluster {} ({whose})",
                taken.join(", "),
                b.cluster.id
            ),
        ));
    }
    None
}

/// The first conflict of `mine` with an older KVMConfig of `all`.
pub fn find_conflict<'a>(
    mine: &KVMConfig,
    all: impl IntoIterator<Item = &'a KVMConfig>,
) -> Option<(&'static str, String)> {
    all.into_iter()
        .filter(|o| o.uid() != mine.uid() && first(o, mine))
        .find_map(|o| conflict(mine, o))
}

#[async_trait]
impl Step<KVMConfig> for Checks {
    fn name(&self) -> &str {
        "checks"
    }

    async fn ensure_created(&self, cx: &Context<KVMConfig>) -> Result<Outcome, StepError> {
        let others = cx
            .cache::<KVMConfig>()
            .map(|s| s.state())
            .unwrap_or_default();
        match find_conflict(cx.object(), others.iter().map(|o| o.as_ref())) {
            Some((reason, message)) => {
                cx.not_ready_with_event(ADMITTED, reason, message).await;
                Ok(Outcome::Wait(CONFLICT_RECHECK))
            }
            None => {
                cx.set_condition(
                    operatorkit::condition(ADMITTED)
                        .is(true)
                        .because(reasons::NO_CONFLICT)
                        .message("no other KVMConfig has this cluster ID, VNI or node ports"),
                );
                Ok(Outcome::Done)
            }
        }
    }

    async fn ensure_deleted(&self, _: &Context<KVMConfig>) -> Result<Outcome, StepError> {
        Ok(Outcome::Done)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::guest::tests::example;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

    fn at(name: &str, secs: i64, id: &str, vni: i32) -> KVMConfig {
        let mut c = example();
        c.metadata.name = Some(name.into());
        c.metadata.uid = Some(format!("uid-{name}"));
        c.metadata.creation_timestamp = Some(Time(jiff::Timestamp::from_second(secs).unwrap()));
        c.spec.cluster.id = id.into();
        c.spec.flannel.vni = vni;
        c
    }

    #[test]
    fn the_older_keeps_what_both_want() {
        let old = at("old", 100, "aaa11", 1);
        let mut new = at("new", 200, "aaa11", 2);
        let all = [old.clone(), new.clone()];
        assert!(find_conflict(&old, &all).is_none());
        let (reason, message) = find_conflict(&new, &all).unwrap();
        assert_eq!(reason, reasons::CLUSTER_ID_CONFLICT);
        assert!(message.contains("team-a/old"), "{message}");
        new.spec.cluster.id = "bbb22".into();
        new.spec.flannel.vni = 1;
        let all = [old.clone(), new.clone()];
        assert_eq!(find_conflict(&new, &all).unwrap().0, reasons::VNI_CONFLICT);
        new.spec.flannel.vni = 2;
        let all = [old.clone(), new.clone()];
        let (reason, message) = find_conflict(&new, &all).unwrap();
        assert_eq!(reason, reasons::PORT_CONFLICT);
        assert!(message.contains("31000 (http)"), "{message}");
        new.spec.port_mappings.clear();
        let all = [old, new.clone()];
        assert!(find_conflict(&new, &all).is_none());
    }
}
