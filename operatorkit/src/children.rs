//! Child objects as a CRUD resource: the operator says which objects should
//! exist for its object; [`Children`] reads the existing ones from the cache,
//! creates and updates through server-side apply only what differs, and
//! deletes the ones no longer wanted. Children carry a controller owner
//! reference, so a change to one brings its owner back to the loop and the
//! garbage collector removes them with it.

use std::marker::PhantomData;

use async_trait::async_trait;
use kube::ResourceExt;
use kube::api::{Api, DeleteParams, Patch, PatchParams, Preconditions};
use serde_json::Value;

use crate::crud::{Crud, CrudResource};
use crate::operator::Object;
use crate::request::Request;
use crate::resource::ResourceError;

/// Label set on every child, naming the operator that manages it.
pub const MANAGED_BY_LABEL: &str = "app.kubernetes.io/managed-by";

type DesiredFn<K, C> = dyn Fn(&Request<K>) -> Result<Vec<C>, ResourceError> + Send + Sync;

/// The children of kind `C` an object of kind `K` should have.
pub struct Children<K, C> {
    name: String,
    desired: Box<DesiredFn<K, C>>,
    _kinds: PhantomData<fn() -> (K, C)>,
}

impl<K, C> Children<K, C> {
    /// A resource named `name` that keeps the children `desired` computes.
    /// The operator must own `C` (`Operator::owns::<C>()`), so they are cached.
    pub fn new(
        name: impl Into<String>,
        desired: impl Fn(&Request<K>) -> Result<Vec<C>, ResourceError> + Send + Sync + 'static,
    ) -> CrudResource<Self> {
        CrudResource(Self {
            name: name.into(),
            desired: Box::new(desired),
            _kinds: PhantomData,
        })
    }
}

#[async_trait]
impl<K: Object, C: Object> Crud<K> for Children<K, C> {
    type Item = C;

    fn name(&self) -> &str {
        &self.name
    }

    async fn current(&self, request: &Request<K>) -> Result<Vec<C>, ResourceError> {
        if request.cache::<C>().is_none() {
            return Err(format!(
                "resource {}: {} is not cached; the operator must own or watch it",
                self.name,
                C::kind(&())
            )
            .into());
        }
        Ok(request.owned::<C>().iter().map(|c| C::clone(c)).collect())
    }

    async fn desired(&self, request: &Request<K>) -> Result<Vec<C>, ResourceError> {
        let mut children = (self.desired)(request)?;
        for child in &mut children {
            let meta = child.meta_mut();
            meta.namespace = Some(request.namespace());
            meta.labels
                .get_or_insert_default()
                .insert(MANAGED_BY_LABEL.to_owned(), request.operator().to_owned());
            let owner = request.owner_reference();
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
        match (serde_json::to_value(desired), serde_json::to_value(current)) {
            (Ok(d), Ok(c)) => is_subset(&d, &c),
            _ => false,
        }
    }

    async fn create(&self, request: &Request<K>, desired: &C) -> Result<(), ResourceError> {
        apply(request, desired).await
    }

    async fn update(&self, request: &Request<K>, _: &C, desired: &C) -> Result<(), ResourceError> {
        apply(request, desired).await
    }

    async fn delete(&self, request: &Request<K>, current: &C) -> Result<(), ResourceError> {
        let api: Api<C> = request.api();
        let params = DeleteParams {
            preconditions: Some(Preconditions {
                uid: current.uid(),
                resource_version: None,
            }),
            ..DeleteParams::background()
        };
        match api.delete(&current.name_any(), &params).await {
            Ok(_) => Ok(()),
            // Gone already, or replaced by another object of that name.
            Err(kube::Error::Api(s)) if s.code == 404 || s.code == 409 => Ok(()),
            Err(e) => Err(e.into()),
        }
    }
}

/// Server-side apply of `desired` by the operator, taking over conflicting
/// fields (the operator is the authority on its children).
async fn apply<K: Object, C: Object>(
    request: &Request<K>,
    desired: &C,
) -> Result<(), ResourceError> {
    let api: Api<C> = request.api();
    let mut body = serde_json::to_value(desired)?;
    if let Some(obj) = body.as_object_mut() {
        obj.insert("apiVersion".into(), C::api_version(&()).into());
        obj.insert("kind".into(), C::kind(&()).into());
        if let Some(Value::Object(meta)) = obj.get_mut("metadata") {
            meta.remove("resourceVersion");
            meta.remove("managedFields");
        }
    }
    api.patch(
        &desired.name_any(),
        &PatchParams::apply(request.operator()).force(),
        &Patch::Apply(&body),
    )
    .await?;
    Ok(())
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
