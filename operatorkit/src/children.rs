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
use serde_json::Value;

use crate::context::Context;
use crate::crud::Crud;
use crate::drift::removed_fields;
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
        let (Ok(d), Ok(c)) = (serde_json::to_value(desired), serde_json::to_value(current)) else {
            return false;
        };
        is_subset(&d, &c) && owned_fields(current, self.manager.as_str()).is_none_or(|owned| {
            let removed = removed_fields(&owned, &d);
            if !removed.is_empty() {
                tracing::debug!(child = %current.name_any(), ?removed, "fields removed from the desired child");
            }
            removed.is_empty()
        })
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

/// The fields `manager` owns on `object` through server-side apply (its
/// `fieldsV1`), if the server records managed fields.
fn owned_fields<C: Kind>(object: &C, manager: &str) -> Option<Value> {
    object
        .meta()
        .managed_fields
        .iter()
        .flatten()
        .find(|m| m.manager.as_deref() == Some(manager) && m.operation.as_deref() == Some("Apply"))
        .and_then(|m| m.fields_v1.as_ref())
        .map(|f| f.0.clone())
}

/// Whether every field set in `desired` has the same value in `current`
/// (fields the server added, such as defaults and metadata, are ignored).
/// Lists must have the same length, element by element.
pub fn is_subset(desired: &Value, current: &Value) -> bool {
    match (desired, current) {
        (Value::Object(d), Value::Object(c)) => d.iter().all(|(k, dv)| match c.get(k) {
            Some(cv) => is_subset(dv, cv),
            None => is_empty(dv),
        }),
        (Value::Array(d), Value::Array(c)) => {
            d.len() == c.len() && d.iter().zip(c).all(|(dv, cv)| is_subset(dv, cv))
        }
        (d, c) => d == c,
    }
}

/// Values the API server drops: null, empty objects and lists.
fn is_empty(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Object(o) => o.is_empty(),
        Value::Array(a) => a.is_empty(),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn server_additions_do_not_count_as_drift() {
        let desired = json!({"metadata": {"name": "a", "labels": {"x": "1"}}, "data": {"k": "v"}});
        let current = json!({
            "metadata": {"name": "a", "uid": "u", "resourceVersion": "7", "labels": {"x": "1", "y": "2"}},
            "data": {"k": "v"}
        });
        assert!(is_subset(&desired, &current));
    }

    #[test]
    fn changed_or_missing_fields_are_drift() {
        let current = json!({"data": {"k": "v"}, "list": [1, 2]});
        assert!(!is_subset(&json!({"data": {"k": "w"}}), &current));
        assert!(!is_subset(&json!({"data": {"other": "v"}}), &current));
        assert!(!is_subset(&json!({"list": [1]}), &current));
        assert!(is_subset(&json!({"list": [1, 2], "empty": {}}), &current));
    }
}
