//! Child objects as a CRUD step: the operator says which objects should
//! exist for its object; [`Children`] reads the existing ones through the
//! context (the cache, seeing this operator's own writes), server-side
//! applies only what drifted, and deletes the ones no longer wanted.
//! Children carry a controller owner reference, so a change to one brings
//! its owner back to the loop and the garbage collector removes them with it.
//!
//! Declared with [`Operator::children`](crate::Operator::children), which
//! also registers the watch of the child kind: one call, nothing to forget.
//!
//! **Drift.** A child has drifted when a field the desired object sets has
//! another value (or is missing), or when this operator's field manager owns
//! a field that the desired object no longer sets: a key removed from the
//! desired object is removed from the child by the next apply.

use std::marker::PhantomData;

use async_trait::async_trait;
use kube::ResourceExt;

use crate::context::Context;
use crate::crud::Crud;
use crate::drift::is_applied;
use crate::keys::{MANAGED_BY_LABEL, OperatorName};
use crate::kind::{Kind, OperatorKind};
use crate::step::StepError;

type DesiredFn<K, C> = dyn Fn(&Context<K>) -> Result<Vec<C>, StepError> + Send + Sync;

/// The children of kind `C` an object of kind `K` should have.
pub struct Children<K: OperatorKind, C> {
    name: String,
    manager: OperatorName,
    desired: Box<DesiredFn<K, C>>,
    _kinds: PhantomData<fn() -> C>,
}

impl<K: OperatorKind, C> Children<K, C> {
    /// A step named `name` of operator `manager` that keeps the children
    /// `desired` computes.
    pub(crate) fn new(
        name: String,
        manager: OperatorName,
        desired: impl Fn(&Context<K>) -> Result<Vec<C>, StepError> + Send + Sync + 'static,
    ) -> Self {
        Self {
            name,
            manager,
            desired: Box::new(desired),
            _kinds: PhantomData,
        }
    }
}

#[async_trait]
impl<K: OperatorKind, C: Kind> Crud<K> for Children<K, C> {
    type Item = C;

    fn name(&self) -> &str {
        &self.name
    }

    async fn current(&self, cx: &Context<K>) -> Result<Vec<C>, StepError> {
        Ok(cx.owned::<C>().iter().map(|c| C::clone(c)).collect())
    }

    async fn desired(&self, cx: &Context<K>) -> Result<Vec<C>, StepError> {
        let mut children = (self.desired)(cx)?;
        for child in &mut children {
            let meta = child.meta_mut();
            meta.namespace = Some(cx.namespace());
            meta.labels
                .get_or_insert_default()
                .insert(MANAGED_BY_LABEL.to_owned(), self.manager.to_string());
            let owner = cx.owner_reference();
            let owners = meta.owner_references.get_or_insert_default();
            if !owners.iter().any(|o| o.uid == owner.uid) {
                owners.push(owner);
            }
        }
        Ok(children)
    }

    fn key(&self, item: &C) -> String {
        item.name_any()
    }

    fn is_up_to_date(&self, current: &C, desired: &C) -> bool {
        is_applied(current, desired, self.manager.as_str())
    }

    async fn create(&self, cx: &Context<K>, desired: &C) -> Result<(), StepError> {
        cx.apply(desired).await?;
        Ok(())
    }

    async fn update(&self, cx: &Context<K>, _: &C, desired: &C) -> Result<(), StepError> {
        cx.apply(desired).await?;
        Ok(())
    }

    async fn delete(&self, cx: &Context<K>, current: &C) -> Result<(), StepError> {
        cx.delete(current).await?;
        Ok(())
    }
}
