//! Adding and removing the operator's finalizer, with optimistic concurrency
//! so that no other writer's finalizer is lost, and never adding one to an
//! object that is already being deleted.

use std::fmt::Debug;

use kube::api::{Api, Patch, PatchParams};
use kube::{Resource as KubeResource, ResourceExt};
use serde::de::DeserializeOwned;
use serde_json::json;

/// How often a finalizer write is retried after a 409 Conflict.
const CONFLICT_RETRIES: usize = 5;

/// Why a finalizer write failed.
#[derive(Debug, thiserror::Error)]
pub enum FinalizerError {
    /// The API server refused the write or could not be reached.
    #[error("writing finalizers: {0}")]
    Api(#[from] kube::Error),
    /// Every retry met a conflict.
    #[error("finalizer write still conflicting after {CONFLICT_RETRIES} retries")]
    Conflicts,
}

/// Adds `finalizer` to `object` unless present; returns the object as written
/// (`None`: it is being deleted or is gone, so nothing was added).
pub async fn add<K>(api: &Api<K>, object: &K, finalizer: &str) -> Result<Option<K>, FinalizerError>
where
    K: KubeResource + Clone + DeserializeOwned + Debug,
{
    update(
        api,
        object,
        |finalizers| {
            if finalizers.iter().any(|f| f == finalizer) {
                None
            } else {
                let mut next = finalizers.to_vec();
                next.push(finalizer.to_owned());
                Some(next)
            }
        },
        true,
    )
    .await
}

/// Removes `finalizer` from `object` if present; returns the object as written
/// (`None`: it is gone).
pub async fn remove<K>(
    api: &Api<K>,
    object: &K,
    finalizer: &str,
) -> Result<Option<K>, FinalizerError>
where
    K: KubeResource + Clone + DeserializeOwned + Debug,
{
    update(
        api,
        object,
        |finalizers| {
            finalizers.iter().any(|f| f == finalizer).then(|| {
                finalizers
                    .iter()
                    .filter(|f| *f != finalizer)
                    .cloned()
                    .collect()
            })
        },
        false,
    )
    .await
}

/// Applies `change` to the finalizers, re-reading on conflict. `adding`
/// refuses objects with a deletionTimestamp.
async fn update<K>(
    api: &Api<K>,
    object: &K,
    change: impl Fn(&[String]) -> Option<Vec<String>>,
    adding: bool,
) -> Result<Option<K>, FinalizerError>
where
    K: KubeResource + Clone + DeserializeOwned + Debug,
{
    let mut current = object.clone();
    for _ in 0..=CONFLICT_RETRIES {
        if adding && current.meta().deletion_timestamp.is_some() {
            return Ok(None);
        }
        let Some(next) = change(current.finalizers()) else {
            return Ok(Some(current));
        };
        let patch = json!({
            "metadata": {
                "resourceVersion": current.resource_version(),
                "finalizers": next,
            }
        });
        match api
            .patch(
                &current.name_any(),
                &PatchParams::default(),
                &Patch::Merge(&patch),
            )
            .await
        {
            Ok(written) => return Ok(Some(written)),
            Err(kube::Error::Api(s)) if s.code == 404 => return Ok(None),
            Err(kube::Error::Api(s)) if s.code == 409 => {
                match api.get_opt(&current.name_any()).await? {
                    Some(fresh) if fresh.uid() == current.uid() => current = fresh,
                    _ => return Ok(None),
                }
            }
            Err(e) => return Err(e.into()),
        }
    }
    Err(FinalizerError::Conflicts)
}
