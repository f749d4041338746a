//! The CRUD helper: a resource described by its current and desired state.
//!
//! Like Giant Swarm's CRUD resources (GetCurrentState, GetDesiredState,
//! NewUpdatePatch, ApplyCreate/Update/DeleteChange), an implementation says
//! how to read the current state, what the desired state is, and how to
//! create, update and delete one item; [`CrudResource`] works out the changes,
//! so a steady state makes no writes at all.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

use async_trait::async_trait;

use crate::outcome::Outcome;
use crate::request::Request;
use crate::resource::{Resource, ResourceError};

/// State split into keyed items (objects, Vault roles, DNS records, ...).
#[async_trait]
pub trait Crud<K>: Send + Sync + 'static {
    /// One item of state.
    type Item: Send + Sync;

    /// The resource's name.
    fn name(&self) -> &str;

    /// The items that exist now. Should read caches, not the API, when it can.
    async fn current(&self, request: &Request<K>) -> Result<Vec<Self::Item>, ResourceError>;

    /// The items that should exist.
    async fn desired(&self, request: &Request<K>) -> Result<Vec<Self::Item>, ResourceError>;

    /// The identity of an item: a current and a desired item with the same
    /// key are the same thing.
    fn key(&self, item: &Self::Item) -> String;

    /// Whether `current` already is what `desired` asks for.
    fn is_up_to_date(&self, current: &Self::Item, desired: &Self::Item) -> bool;

    /// Creates a missing item.
    async fn create(&self, request: &Request<K>, desired: &Self::Item)
    -> Result<(), ResourceError>;

    /// Brings `current` in line with `desired`.
    async fn update(
        &self,
        request: &Request<K>,
        current: &Self::Item,
        desired: &Self::Item,
    ) -> Result<(), ResourceError>;

    /// Deletes an item that should not exist (or, on deletion, every item).
    async fn delete(&self, request: &Request<K>, current: &Self::Item)
    -> Result<(), ResourceError>;
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
pub fn plan<K, C: Crud<K> + ?Sized>(crud: &C, current: &[C::Item], desired: &[C::Item]) -> Plan {
    let current_by_key: BTreeMap<String, usize> = current
        .iter()
        .enumerate()
        .map(|(i, c)| (crud.key(c), i))
        .collect();
    let mut wanted = BTreeSet::new();
    let mut plan = Plan::default();
    for (d, item) in desired.iter().enumerate() {
        let key = crud.key(item);
        match current_by_key.get(&key) {
            None => plan.create.push(d),
            Some(&c) if !crud.is_up_to_date(&current[c], item) => plan.update.push((c, d)),
            Some(_) => {}
        }
        wanted.insert(key);
    }
    plan.delete = current
        .iter()
        .enumerate()
        .filter(|(_, c)| !wanted.contains(&crud.key(c)))
        .map(|(i, _)| i)
        .collect();
    plan
}

/// A [`Crud`] used as a [`Resource`].
pub struct CrudResource<T>(pub T);

#[async_trait]
impl<K, T> Resource<K> for CrudResource<T>
where
    K: Send + Sync + 'static,
    T: Crud<K>,
{
    fn name(&self) -> &str {
        self.0.name()
    }

    async fn ensure_created(&self, request: &Request<K>) -> Result<Outcome, ResourceError> {
        let current = self.0.current(request).await?;
        let desired = self.0.desired(request).await?;
        let plan = plan(&self.0, &current, &desired);
        if plan.is_empty() {
            return Ok(Outcome::Continue);
        }
        let started = Instant::now();
        for &d in &plan.create {
            self.0.create(request, &desired[d]).await?;
        }
        for &(c, d) in &plan.update {
            self.0.update(request, &current[c], &desired[d]).await?;
        }
        for &c in &plan.delete {
            self.0.delete(request, &current[c]).await?;
        }
        tracing::debug!(
            resource = self.0.name(),
            created = plan.create.len(),
            updated = plan.update.len(),
            deleted = plan.delete.len(),
            elapsed = ?started.elapsed(),
            "applied changes"
        );
        Ok(Outcome::Continue)
    }

    async fn ensure_deleted(&self, request: &Request<K>) -> Result<Outcome, ResourceError> {
        for item in self.0.current(request).await? {
            self.0.delete(request, &item).await?;
        }
        Ok(Outcome::Continue)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Items are (key, value) pairs.
    struct Pairs;

    #[async_trait]
    impl Crud<()> for Pairs {
        type Item = (&'static str, u32);
        fn name(&self) -> &str {
            "pairs"
        }
        async fn current(&self, _: &Request<()>) -> Result<Vec<Self::Item>, ResourceError> {
            Ok(vec![])
        }
        async fn desired(&self, _: &Request<()>) -> Result<Vec<Self::Item>, ResourceError> {
            Ok(vec![])
        }
        fn key(&self, item: &Self::Item) -> String {
            item.0.to_owned()
        }
        fn is_up_to_date(&self, current: &Self::Item, desired: &Self::Item) -> bool {
            current.1 == desired.1
        }
        async fn create(&self, _: &Request<()>, _: &Self::Item) -> Result<(), ResourceError> {
            Ok(())
        }
        async fn update(
            &self,
            _: &Request<()>,
            _: &Self::Item,
            _: &Self::Item,
        ) -> Result<(), ResourceError> {
            Ok(())
        }
        async fn delete(&self, _: &Request<()>, _: &Self::Item) -> Result<(), ResourceError> {
            Ok(())
        }
    }

    #[test]
    fn steady_state_plans_nothing() {
        let items = [("a", 1), ("b", 2)];
        assert!(plan(&Pairs, &items, &items).is_empty());
    }

    #[test]
    fn creates_updates_and_deletes_by_key() {
        let current = [("a", 1), ("b", 2), ("gone", 0)];
        let desired = [("b", 3), ("a", 1), ("new", 7)];
        let p = plan(&Pairs, &current, &desired);
        assert_eq!(p.create, [2]);
        assert_eq!(p.update, [(1, 0)]);
        assert_eq!(p.delete, [2]);
    }
}
