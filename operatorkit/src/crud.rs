//! The CRUD helper: a resource described by its current and desired state.
//!
//! Like Giant Swarm's CRUD resources (GetCurrentState, GetDesiredState,
//! NewUpdatePatch, ApplyCreate/Update/DeleteChange), an implementation says
//! how to read the current state, what the desired state is, and how to
//! create, update and delete one item; [`CrudStep`] works out the changes,
//! so a steady state makes no writes at all.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

use async_trait::async_trait;

use crate::context::Context;
pub use crate::drift::is_applied;
use crate::kind::OperatorKind;
use crate::step::{Outcome, Step, StepError};

/// State split into keyed items (objects, Vault roles, DNS records, ...).
#[async_trait]
pub trait Crud<K: OperatorKind>: Send + Sync + 'static {
    /// One item of state.
    type Item: Send + Sync;

    /// The resource's name.
    fn name(&self) -> &str;

    /// The items that exist now. Should read caches, not the API, when it can.
    async fn current(&self, cx: &Context<K>) -> Result<Vec<Self::Item>, StepError>;

    /// The items that should exist.
    async fn desired(&self, cx: &Context<K>) -> Result<Vec<Self::Item>, StepError>;

    /// The identity of an item: a current and a desired item with the same
    /// key are the same thing.
    fn key(&self, item: &Self::Item) -> String;

    /// Whether `current` already is what `desired` asks for.
    fn is_up_to_date(&self, current: &Self::Item, desired: &Self::Item) -> bool;

    /// Creates a missing item.
    async fn create(&self, cx: &Context<K>, desired: &Self::Item) -> Result<(), StepError>;

    /// Brings `current` in line with `desired`.
    async fn update(
        &self,
        cx: &Context<K>,
        current: &Self::Item,
        desired: &Self::Item,
    ) -> Result<(), StepError>;

    /// Deletes an item that should not exist (or, on deletion, every item).
    async fn delete(&self, cx: &Context<K>, current: &Self::Item) -> Result<(), StepError>;
}

/// What to change: indexes into the current and desired lists.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Plan {
    /// Desired items that do not exist.
    pub create: Vec<usize>,
    /// (current, desired) pairs that differ.
    pub update: Vec<(usize, usize)>,
    /// Current items nobody desires.
    pub delete: Vec<usize>,
}

impl Plan {
    /// Whether nothing needs changing.
    pub fn is_empty(&self) -> bool {
        self.create.is_empty() && self.update.is_empty() && self.delete.is_empty()
    }
}

/// Works out the changes from `current` to `desired`.
pub fn plan<K: OperatorKind, C: Crud<K> + ?Sized>(
    crud: &C,
    current: &[C::Item],
    desired: &[C::Item],
) -> Plan {
    plan_by(
        current,
        desired,
        |i| crud.key(i),
        |c, d| crud.is_up_to_date(c, d),
    )
}

/// [`plan`] with the key and the comparison as functions.
fn plan_by<T>(
    current: &[T],
    desired: &[T],
    key: impl Fn(&T) -> String,
    is_up_to_date: impl Fn(&T, &T) -> bool,
) -> Plan {
    let current_by_key: BTreeMap<String, usize> = current
        .iter()
        .enumerate()
        .map(|(i, c)| (key(c), i))
        .collect();
    let mut wanted = BTreeSet::new();
    let mut plan = Plan::default();
    for (d, item) in desired.iter().enumerate() {
        let k = key(item);
        match current_by_key.get(&k) {
            None => plan.create.push(d),
            Some(&c) if !is_up_to_date(&current[c], item) => plan.update.push((c, d)),
            Some(_) => {}
        }
        wanted.insert(k);
    }
    plan.delete = current
        .iter()
        .enumerate()
        .filter(|(_, c)| !wanted.contains(&key(c)))
        .map(|(i, _)| i)
        .collect();
    plan
}

/// A [`Crud`] used as a [`Step`].
pub struct CrudStep<T>(pub T);

#[async_trait]
impl<K, T> Step<K> for CrudStep<T>
where
    K: OperatorKind,
    T: Crud<K>,
{
    fn name(&self) -> &str {
        self.0.name()
    }

    async fn ensure_created(&self, cx: &Context<K>) -> Result<Outcome, StepError> {
        let current = self.0.current(cx).await?;
        let desired = self.0.desired(cx).await?;
        let plan = plan(&self.0, &current, &desired);
        if plan.is_empty() {
            return Ok(Outcome::Done);
        }
        let started = Instant::now();
        for &d in &plan.create {
            self.0.create(cx, &desired[d]).await?;
        }
        for &(c, d) in &plan.update {
            self.0.update(cx, &current[c], &desired[d]).await?;
        }
        for &c in &plan.delete {
            self.0.delete(cx, &current[c]).await?;
        }
        tracing::debug!(
            resource = self.0.name(),
            created = plan.create.len(),
            updated = plan.update.len(),
            deleted = plan.delete.len(),
            elapsed = ?started.elapsed(),
            "applied changes"
        );
        Ok(Outcome::Done)
    }

    async fn ensure_deleted(&self, cx: &Context<K>) -> Result<Outcome, StepError> {
        for item in self.0.current(cx).await? {
            self.0.delete(cx, &item).await?;
        }
        Ok(Outcome::Done)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Items are (key, value) pairs; equal values are up to date.
    fn pairs(current: &[(&str, u32)], desired: &[(&str, u32)]) -> Plan {
        plan_by(current, desired, |i| i.0.to_owned(), |c, d| c.1 == d.1)
    }

    #[test]
    fn steady_state_plans_nothing() {
        let items = [("a", 1), ("b", 2)];
        assert!(pairs(&items, &items).is_empty());
    }

    #[test]
    fn creates_updates_and_deletes_by_key() {
        let current = [("a", 1), ("b", 2), ("gone", 0)];
        let desired = [("b", 3), ("a", 1), ("new", 7)];
        let p = pairs(&current, &desired);
        assert_eq!(p.create, [2]);
        assert_eq!(p.update, [(1, 0)]);
        assert_eq!(p.delete, [2]);
    }
}
