//! The status contract and its write.
//!
//! A reconciled kind's status type implements [`OperatorStatus`] (usually
//! through [`operator_status!`](crate::operator_status)): it has
//! `conditions` and `observedGeneration`, so a kind that cannot carry them
//! does not compile. Steps contribute conditions with the builder
//! ([`condition`]) and set their own typed fields with a closure
//! ([`Context::status`](crate::Context::status)); no step knows a JSON path.
//!
//! At the end of a loop the changes are applied to the object's current
//! status: `lastTransitionTime` moves only when a condition's status really
//! changes, every condition carries the generation it describes, and
//! `observedGeneration` is set. What differs from the current status is sent
//! as a JSON merge patch through `/status`, carrying the resourceVersion; a
//! 409 is retried on the fresh object (other writers' conditions are kept),
//! and when nothing changed nothing is written.

use std::fmt::Debug;
use std::sync::Arc;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::api::{Api, Patch, PatchParams};
use kube::core::object::HasStatus;
use kube::{Resource as KubeResource, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value, json};

/// Condition every operatorkit object carries: fully reconciled.
pub const READY: &str = "Ready";

/// Reasons of the Ready condition that operatorkit itself sets.
pub mod reasons {
    /// Every step ran to completion.
    pub const RECONCILED: &str = "Reconciled";
    /// A step failed with a transient error; it is retried with backoff.
    pub const RECONCILE_FAILED: &str = "ReconcileFailed";
    /// A step failed with a permanent error; it is not retried until the
    /// object or a watched child changes.
    pub const RECONCILE_REJECTED: &str = "ReconcileRejected";
    /// A step is waiting ([`Outcome::Wait`](crate::Outcome::Wait)).
    pub const IN_PROGRESS: &str = "InProgress";
    /// A step's `ensure_deleted` failed with a transient error; the
    /// finalizer stays and the deletion is retried with backoff.
    pub const DELETION_FAILED: &str = "DeletionFailed";
    /// A step's `ensure_deleted` failed with a permanent error; the finalizer
    /// stays until the object or a watched child changes.
    pub const DELETION_REJECTED: &str = "DeletionRejected";
}

/// How many times a status write is retried after a 409 Conflict.
const CONFLICT_RETRIES: usize = 5;

/// The status type of a reconciled kind: it carries conditions and
/// observedGeneration, which operatorkit writes.
pub trait OperatorStatus:
    Serialize + DeserializeOwned + Default + Clone + PartialEq + Debug + Send + Sync + 'static
{
    /// The conditions.
    fn conditions(&self) -> &[Condition];
    /// The conditions, to change.
    fn conditions_mut(&mut self) -> &mut Vec<Condition>;
    /// The generation of the spec this status describes.
    fn observed_generation(&self) -> Option<i64>;
    /// Sets the generation this status describes.
    fn set_observed_generation(&mut self, generation: Option<i64>);

    /// The condition of type `type_`, if set.
    fn condition(&self, type_: &str) -> Option<&Condition> {
        self.conditions().iter().find(|c| c.type_ == type_)
    }

    /// Whether the `Ready` condition is `True`.
    fn is_ready(&self) -> bool {
        self.condition(READY).is_some_and(|c| c.status == "True")
    }
}

/// Implements [`OperatorStatus`] for status structs with the fields
/// `conditions: Vec<Condition>` and `observed_generation: Option<i64>`.
#[macro_export]
macro_rules! operator_status {
    ($($status:ty),+ $(,)?) => {
        $(impl $crate::status::OperatorStatus for $status {
            fn conditions(&self) -> &[$crate::k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition] {
                &self.conditions
            }
            fn conditions_mut(&mut self) -> &mut Vec<$crate::k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition> {
                &mut self.conditions
            }
            fn observed_generation(&self) -> Option<i64> {
                self.observed_generation
            }
            fn set_observed_generation(&mut self, generation: Option<i64>) {
                self.observed_generation = generation;
            }
        })+
    };
}

/// The status of a condition.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConditionStatus {
    /// `"True"`.
    True,
    /// `"False"`.
    False,
    /// `"Unknown"`.
    Unknown,
}

impl ConditionStatus {
    /// The API string.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::True => "True",
            Self::False => "False",
            Self::Unknown => "Unknown",
        }
    }
}

impl From<bool> for ConditionStatus {
    fn from(b: bool) -> Self {
        if b { Self::True } else { Self::False }
    }
}

/// One condition a loop wants set; build it with [`condition`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConditionUpdate {
    type_: String,
    status: ConditionStatus,
    reason: String,
    message: String,
}

/// The condition builder: `condition("SecretReady").is(true).because("Issued")
/// .message("certificate in Secret x")`. Unset, a condition is `Unknown`
/// with reason `Unknown` and no message.
pub fn condition(type_: impl Into<String>) -> ConditionUpdate {
    ConditionUpdate {
        type_: type_.into(),
        status: ConditionStatus::Unknown,
        reason: "Unknown".to_owned(),
        message: String::new(),
    }
}

impl ConditionUpdate {
    /// Its status.
    #[must_use]
    pub fn is(mut self, status: impl Into<ConditionStatus>) -> Self {
        self.status = status.into();
        self
    }

    /// Its reason: one CamelCase word, as Kubernetes requires.
    #[must_use]
    pub fn because(mut self, reason: impl Into<String>) -> Self {
        self.reason = reason.into();
        self
    }

    /// Its message, for humans.
    #[must_use]
    pub fn message(mut self, message: impl Into<String>) -> Self {
        self.message = message.into();
        self
    }

    /// The condition type.
    pub fn type_(&self) -> &str {
        &self.type_
    }

    /// The reason.
    pub fn reason(&self) -> &str {
        &self.reason
    }

    /// The message.
    pub fn message_text(&self) -> &str {
        &self.message
    }

    /// Whether the status is `True`.
    pub fn is_true(&self) -> bool {
        self.status == ConditionStatus::True
    }
}

/// Merges `updates` into `conditions`: conditions of other types are kept;
/// `lastTransitionTime` changes only on a change of status.
pub fn merge_conditions(
    conditions: &mut Vec<Condition>,
    updates: &[ConditionUpdate],
    generation: Option<i64>,
    now: jiff::Timestamp,
) {
    for u in updates {
        let fresh = Condition {
            type_: u.type_.clone(),
            status: u.status.as_str().to_owned(),
            reason: u.reason.clone(),
            message: u.message.clone(),
            observed_generation: generation,
            last_transition_time: Time(now),
        };
        match conditions.iter_mut().find(|c| c.type_ == u.type_) {
            Some(c) if c.status == fresh.status => {
                c.reason = fresh.reason;
                c.message = fresh.message;
                c.observed_generation = fresh.observed_generation;
            }
            Some(c) => *c = fresh,
            None => conditions.push(fresh),
        }
    }
}

/// A typed change of a status's own fields, replayed on the fresh status
/// after a conflict.
pub(crate) type StatusEdit<S> = Arc<dyn Fn(&mut S) + Send + Sync>;

/// What one loop wants in the status.
pub(crate) struct StatusChanges<S> {
    /// Conditions, in the order first set; a later update of a type wins.
    pub conditions: Vec<ConditionUpdate>,
    /// Changes of the kind's own fields, in order.
    pub edits: Vec<StatusEdit<S>>,
}

impl<S> Default for StatusChanges<S> {
    fn default() -> Self {
        Self {
            conditions: Vec::new(),
            edits: Vec::new(),
        }
    }
}

impl<S: OperatorStatus> StatusChanges<S> {
    /// Sets (or replaces) the condition of `update`'s type.
    pub fn set_condition(&mut self, update: ConditionUpdate) {
        match self.conditions.iter_mut().find(|c| c.type_ == update.type_) {
            Some(c) => *c = update,
            None => self.conditions.push(update),
        }
    }

    /// The condition of `type_` this loop set.
    pub fn condition(&self, type_: &str) -> Option<&ConditionUpdate> {
        self.conditions.iter().find(|c| c.type_ == type_)
    }

    /// Whether nothing was asked for.
    pub fn is_empty(&self) -> bool {
        self.conditions.is_empty() && self.edits.is_empty()
    }

    /// The status `current` becomes with these changes.
    pub fn apply(&self, current: Option<&S>, generation: Option<i64>, now: jiff::Timestamp) -> S {
        let mut status = current.cloned().unwrap_or_default();
        for edit in &self.edits {
            edit(&mut status);
        }
        merge_conditions(status.conditions_mut(), &self.conditions, generation, now);
        status.set_observed_generation(generation);
        status
    }
}

/// The JSON merge patch (RFC 7386) that turns `old` into `new`; `None` when
/// they are equal.
pub fn merge_diff(old: &Value, new: &Value) -> Option<Value> {
    match (old, new) {
        (Value::Object(o), Value::Object(n)) => {
            let mut patch = Map::new();
            for (k, nv) in n {
                match o.get(k) {
                    Some(ov) => {
                        if let Some(d) = merge_diff(ov, nv) {
                            patch.insert(k.clone(), d);
                        }
                    }
                    None => {
                        patch.insert(k.clone(), nv.clone());
                    }
                }
            }
            for k in o.keys().filter(|k| !n.contains_key(*k)) {
                patch.insert(k.clone(), Value::Null);
            }
            (!patch.is_empty()).then_some(Value::Object(patch))
        }
        (o, n) if o == n => None,
        (_, n) => Some(n.clone()),
    }
}

/// Why a status write failed.
#[derive(Debug, thiserror::Error)]
pub enum StatusError {
    /// The API server refused the write or could not be reached.
    #[error("writing status: {0}")]
    Api(#[from] kube::Error),
    /// The status could not be serialized.
    #[error("serializing status: {0}")]
    Serialize(#[from] serde_json::Error),
    /// Every retry met a conflict.
    #[error("status write still conflicting after {CONFLICT_RETRIES} retries")]
    Conflicts,
}

/// What a status write found and did.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct StatusWrite<K> {
    /// The conditions the status had before (on the freshest object read,
    /// which after a conflict is newer than the one passed in).
    pub previous: Vec<Condition>,
    /// The object as the API server returned it, if anything was written.
    pub written: Option<K>,
}

impl<K> StatusWrite<K> {
    /// The condition `type_` before the write.
    pub fn previous(&self, type_: &str) -> Option<&Condition> {
        self.previous.iter().find(|c| c.type_ == type_)
    }
}

/// Writes `changes` into the status of `object` (through `/status`, carrying
/// its resourceVersion); on 409 re-reads the object and applies them again.
/// `on_conflict` is called for each conflict met.
pub(crate) async fn write_status<K>(
    api: &Api<K>,
    object: &K,
    changes: &StatusChanges<K::Status>,
    field_manager: &str,
    on_conflict: impl Fn(),
) -> Result<StatusWrite<K>, StatusError>
where
    K: KubeResource + HasStatus + Clone + Serialize + DeserializeOwned + Debug,
    K::Status: OperatorStatus,
{
    // The generation the steps saw: a spec change that caused a 409 is not
    // reconciled by this loop and must not be claimed.
    let generation = object.meta().generation;
    let mut current = object.clone();
    let mut conflicts = 0;
    loop {
        let before = current.status();
        let previous = before.map(|s| s.conditions().to_vec()).unwrap_or_default();
        let after = changes.apply(before, generation, jiff::Timestamp::now());
        let old = serde_json::to_value(before.cloned().unwrap_or_default())?;
        let Some(diff) = merge_diff(&old, &serde_json::to_value(&after)?) else {
            return Ok(StatusWrite {
                previous,
                written: None,
            });
        };
        // A status the server has not seen at all is sent whole.
        let status = if before.is_none() {
            serde_json::to_value(&after)?
        } else {
            diff
        };
        let body = json!({
            "metadata": { "resourceVersion": current.resource_version() },
            "status": status,
        });
        let params = PatchParams {
            field_manager: Some(field_manager.to_owned()),
            ..Default::default()
        };
        match api
            .patch_status(&current.name_any(), &params, &Patch::Merge(&body))
            .await
        {
            Ok(written) => {
                return Ok(StatusWrite {
                    previous,
                    written: Some(written),
                });
            }
            Err(kube::Error::Api(s)) if s.code == 409 && conflicts < CONFLICT_RETRIES => {
                conflicts += 1;
                on_conflict();
                tracing::debug!(object = %current.name_any(), "status write conflicted; retrying on the fresh object");
                current = api.get_status(&current.name_any()).await?;
            }
            Err(kube::Error::Api(s)) if s.code == 409 => return Err(StatusError::Conflicts),
            Err(e) => return Err(e.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Clone, Debug, Default, PartialEq, serde::Deserialize, Serialize)]
    #[serde(rename_all = "camelCase")]
    struct TestStatus {
        #[serde(default)]
        conditions: Vec<Condition>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        observed_generation: Option<i64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        secret_name: Option<String>,
    }
    crate::operator_status!(TestStatus);

    fn ts(s: i64) -> jiff::Timestamp {
        jiff::Timestamp::from_second(s).unwrap_or_default()
    }

    fn merged(
        current: &[Condition],
        u: ConditionUpdate,
        generation: i64,
        at: i64,
    ) -> Vec<Condition> {
        let mut c = current.to_vec();
        merge_conditions(&mut c, &[u], Some(generation), ts(at));
        c
    }

    #[test]
    fn transition_time_moves_only_on_status_change() {
        let ready = || condition(READY);
        let first = merged(&[], ready().is(false).because("Pending"), 1, 100);
        assert_eq!(first[0].last_transition_time.0, ts(100));
        let second = merged(&first, ready().is(false).because("StillPending"), 2, 200);
        assert_eq!(second[0].last_transition_time.0, ts(100));
        assert_eq!(second[0].reason, "StillPending");
        assert_eq!(second[0].observed_generation, Some(2));
        let third = merged(&second, ready().is(true).because("Reconciled"), 2, 300);
        assert_eq!(third[0].last_transition_time.0, ts(300));
        assert_eq!(third[0].status, "True");
    }

    #[test]
    fn other_writers_conditions_are_kept() {
        let theirs = merged(&[], condition("External").is(true).because("Theirs"), 1, 1);
        let both = merged(
            &theirs,
            condition(READY).is(true).because("Reconciled"),
            1,
            2,
        );
        let types: Vec<_> = both.iter().map(|c| c.type_.as_str()).collect();
        assert_eq!(types, ["External", READY]);
    }

    #[test]
    fn typed_edits_and_conditions_make_the_status() {
        let mut changes = StatusChanges::<TestStatus>::default();
        changes.set_condition(condition(READY).is(false).because("A"));
        changes.set_condition(condition(READY).is(true).because("B"));
        changes.edits.push(Arc::new(|s: &mut TestStatus| {
            s.secret_name = Some("abc".into());
        }));
        let status = changes.apply(None, Some(3), ts(10));
        assert_eq!(status.observed_generation, Some(3));
        assert_eq!(status.secret_name.as_deref(), Some("abc"));
        assert!(status.is_ready());
        assert_eq!(status.conditions.len(), 1);
        // The same changes later on that status: nothing to write.
        let again = changes.apply(Some(&status), Some(3), ts(99));
        assert_eq!(again, status);
    }

    #[test]
    fn merge_diff_sets_changes_and_removes_what_went() {
        let old = json!({"a": 1, "b": {"c": 2, "d": 3}, "gone": true, "list": [1, 2]});
        let new = json!({"a": 1, "b": {"c": 5, "d": 3}, "list": [1], "new": "x"});
        assert_eq!(
            merge_diff(&old, &new),
            Some(json!({"b": {"c": 5}, "gone": null, "list": [1], "new": "x"}))
        );
        assert_eq!(merge_diff(&old, &old), None);
    }
}
