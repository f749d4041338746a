//! Which objects an operator touches: its version label, the pause
//! annotation, and the changes that are worth a reconcile.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};

use kube::Resource as KubeResource;

/// Annotation that, set to `"true"`, makes every operator leave an object alone.
pub const PAUSED_ANNOTATION: &str = "operatorkit.dev/paused";

/// The label naming which version of operator `name` reconciles an object.
pub fn version_label(operator: &str) -> String {
    format!("{operator}.operatorkit.dev/version")
}

/// The finalizer of operator `name`: one per operator, shared by its versions,
/// so that relabelling hands the cleanup duty over with the object.
pub fn finalizer(operator: &str) -> String {
    format!("operatorkit.dev/{operator}")
}

/// Whether `object` carries the pause annotation.
pub fn is_paused<K: KubeResource>(object: &K) -> bool {
    object
        .meta()
        .annotations
        .as_ref()
        .and_then(|a| a.get(PAUSED_ANNOTATION))
        .is_some_and(|v| v == "true")
}

/// Whether `object` has label `key` = `value`.
pub fn has_label<K: KubeResource>(object: &K, key: &str, value: &str) -> bool {
    object
        .meta()
        .labels
        .as_ref()
        .and_then(|l| l.get(key))
        .is_some_and(|v| v == value)
}

/// A hash of what makes an object worth reconciling again: its spec
/// (generation), labels, annotations, finalizers and deletion. Status-only
/// writes (including the operator's own) do not change it, so they do not
/// trigger a loop, nor cut a backoff short.
pub fn reconcile_relevant_hash<K: KubeResource>(object: &K) -> Option<u64> {
    let meta = object.meta();
    let mut h = DefaultHasher::new();
    meta.uid.hash(&mut h);
    meta.generation.hash(&mut h);
    meta.labels.hash(&mut h);
    meta.annotations.hash(&mut h);
    meta.finalizers.hash(&mut h);
    meta.deletion_timestamp
        .as_ref()
        .map(|t| t.0.as_second())
        .hash(&mut h);
    Some(h.finish())
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::ConfigMap;

    #[test]
    fn names_follow_the_conventions() {
        assert_eq!(
            version_label("cert-operator"),
            "cert-operator.operatorkit.dev/version"
        );
        assert_eq!(finalizer("cert-operator"), "operatorkit.dev/cert-operator");
    }

    #[test]
    fn paused_only_when_true() {
        let mut cm = ConfigMap::default();
        assert!(!is_paused(&cm));
        cm.metadata.annotations = Some([(PAUSED_ANNOTATION.into(), "false".into())].into());
        assert!(!is_paused(&cm));
        cm.metadata.annotations = Some([(PAUSED_ANNOTATION.into(), "true".into())].into());
        assert!(is_paused(&cm));
    }

    #[test]
    fn status_and_resource_version_do_not_count() {
        let mut cm = ConfigMap::default();
        cm.metadata.generation = Some(1);
        let before = reconcile_relevant_hash(&cm);
        cm.metadata.resource_version = Some("42".into());
        cm.data = Some([("k".into(), "v".into())].into());
        assert_eq!(reconcile_relevant_hash(&cm), before);
        cm.metadata.labels = Some([("a".into(), "b".into())].into());
        assert_ne!(reconcile_relevant_hash(&cm), before);
    }
}
