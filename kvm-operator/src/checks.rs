//! The first step: what only the operator can see about a spec, before
//! anything is created for it. A KVMConfig that wants a cluster ID, a VNI
//! or a node port another KVMConfig already has (the older one wins; ties
//! by namespace and name), or whose base domain no ingress controller of
//! the host serves (no IngressClass `--ingress-class`), gets `Admitted` and
//! `Ready` False with a reason naming the problem and one Warning Event,
//! and nothing is made for it: no inputs, no namespace, no VM. It is looked
//! at again every [`CONFLICT_RECHECK`], so it goes ahead once the other one
//! is gone or changed, or the ingress controller is installed.
//!
//! Only KVMConfigs this operator version reconciles are compared (its
//! cache); flannel-operator and ingress-operator still refuse a VNI or a
//! port held by anyone else, which `NetworkReady` and `IngressReady` report.

use std::collections::BTreeSet;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use apiextensions::{KVMConfig, OperatorStatus};
use async_trait::async_trait;
use k8s_openapi::api::networking::v1::IngressClass;
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
    /// No IngressClass of the host serves the API and etcd names.
    pub const NO_INGRESS_CONTROLLER: &str = "NoIngressController";
    /// No conflict.
    pub const NO_CONFLICT: &str = "NoConflict";
}

/// How long an IngressClass seen is taken to exist without reading it
/// again.
const INGRESS_CLASS_SEEN: Duration = Duration::from_secs(30);

/// The step of the checks.
pub struct Checks {
    ingress_class: String,
    /// When the IngressClass was last seen (shared by every loop).
    seen: Mutex<Option<Instant>>,
}

impl Checks {
    /// The checks, with the IngressClass the API and etcd names need.
    pub fn new(ingress_class: String) -> Self {
        Self {
            ingress_class,
            seen: Mutex::new(None),
        }
    }

    /// Whether the IngressClass was seen within [`INGRESS_CLASS_SEEN`].
    fn seen_lately(&self) -> bool {
        // Plain data: usable after a panic elsewhere.
        let seen = self.seen.lock().unwrap_or_else(PoisonError::into_inner);
        seen.is_some_and(|at| at.elapsed() < INGRESS_CLASS_SEEN)
    }

    /// Why the cluster's names cannot be served, if no IngressClass
    /// `--ingress-class` exists. Read live (a cluster-scoped kind, not
    /// cached), at most once per [`INGRESS_CLASS_SEEN`] while it exists.
    async fn no_ingress(&self, cx: &Context<KVMConfig>) -> Result<Option<String>, StepError> {
        if self.seen_lately() {
            return Ok(None);
        }
        let api = kube::Api::<IngressClass>::all(cx.client());
        if api.get_opt(&self.ingress_class).await?.is_some() {
            *self.seen.lock().unwrap_or_else(PoisonError::into_inner) = Some(Instant::now());
            return Ok(None);
        }
        let guest = crate::guest::Guest::new(cx.object());
        Ok(Some(format!(
            "base domain {}: the host cluster has no IngressClass {}, so {} and {} cannot be served",
            cx.object().spec.cluster.base_domain,
            self.ingress_class,
            guest.domain("api"),
            guest.domain("etcd"),
        )))
    }
}

/// Whether `a` came first: an admitted one before one that is not (a
/// running cluster keeps what it has, whoever arrives), then the older
/// (creation timestamps have one-second resolution), then by namespace and
/// name. Every loop orders the same way, so of two newcomers in the same
/// second exactly one is admitted.
fn first(a: &KVMConfig, b: &KVMConfig) -> bool {
    let key = |c: &KVMConfig| {
        let admitted = c
            .status
            .as_ref()
            .and_then(|s| s.condition(ADMITTED))
            .is_some_and(|c| c.status == "True");
        (
            !admitted,
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
        let mut problem = find_conflict(cx.object(), others.iter().map(|o| o.as_ref()));
        if problem.is_none() {
            problem = self
                .no_ingress(cx)
                .await?
                .map(|m| (reasons::NO_INGRESS_CONTROLLER, m));
        }
        match problem {
            Some((reason, message)) => {
                cx.not_ready_with_event(ADMITTED, reason, message).await;
                Ok(Outcome::Wait(CONFLICT_RECHECK))
            }
            None => {
                cx.set_condition(
                    operatorkit::condition(ADMITTED)
                        .is(true)
                        .because(reasons::NO_CONFLICT)
                        .message(format!(
                            "no other KVMConfig has this cluster ID, VNI or node ports; IngressClass {} exists",
                            self.ingress_class
                        )),
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
        assert!(message.contains("31010 (http)"), "{message}");
        new.spec.port_mappings.clear();
        let all = [old.clone(), new.clone()];
        assert!(find_conflict(&new, &all).is_none());

        // Created in the same second: the one admitted first keeps it.
        let mut admitted = at("zzz", 100, "ccc33", 7);
        admitted.status = Some(apiextensions::KVMConfigStatus {
            conditions: vec![k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition {
                type_: ADMITTED.into(),
                status: "True".into(),
                reason: reasons::NO_CONFLICT.into(),
                message: String::new(),
                last_transition_time: Time(jiff::Timestamp::from_second(100).unwrap()),
                observed_generation: None,
            }],
            ..Default::default()
        });
        let newcomer = at("aaa", 100, "ddd44", 7);
        let all = [admitted.clone(), newcomer.clone()];
        assert!(find_conflict(&admitted, &all).is_none());
        assert_eq!(
            find_conflict(&newcomer, &all).unwrap().0,
            reasons::VNI_CONFLICT
        );
    }
}
