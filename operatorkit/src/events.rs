//! Kubernetes Events about objects, through kube-runtime's `Recorder`
//! (events.k8s.io/v1, with series for repeats). Publishing is best effort: a
//! failure is logged and never fails a reconcile.

use std::sync::Arc;

use k8s_openapi::api::core::v1::ObjectReference;
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use kube::{Client, Resource as KubeResource};

/// The event publisher of one operator.
#[derive(Clone)]
pub struct Events {
    recorder: Arc<Recorder>,
}

impl Events {
    /// A publisher reporting as `controller` (instance `instance`).
    pub fn new(client: Client, controller: &str, instance: Option<String>) -> Self {
        let reporter = Reporter {
            controller: controller.to_owned(),
            instance,
        };
        Self {
            recorder: Arc::new(Recorder::new(client, reporter)),
        }
    }

    /// Publishes an event about `object`; logs when that fails.
    pub async fn publish<K>(
        &self,
        object: &K,
        type_: EventType,
        reason: &str,
        action: &str,
        note: String,
    ) where
        K: KubeResource<DynamicType = ()>,
    {
        self.publish_to(&object.object_ref(&()), type_, reason, action, note)
            .await;
    }

    /// Publishes an event about the object `reference` names (action
    /// `Reconcile`); logs when that fails.
    pub async fn publish_ref(
        &self,
        reference: &ObjectReference,
        type_: EventType,
        reason: &str,
        note: String,
    ) {
        self.publish_to(reference, type_, reason, "Reconcile", note)
            .await;
    }

    async fn publish_to(
        &self,
        reference: &ObjectReference,
        type_: EventType,
        reason: &str,
        action: &str,
        note: String,
    ) {
        let event = Event {
            type_,
            reason: reason.to_owned(),
            // The API limits a note to 1 kB.
            note: Some(truncate(note, 1024)),
            action: action.to_owned(),
            secondary: None,
        };
        if let Err(e) = self.recorder.publish(&event, reference).await {
            let object = reference.name.as_deref().unwrap_or_default();
            tracing::warn!(object, reason, error = %e, "could not publish event");
        }
    }
}

/// `s` cut to at most `max` bytes, on a character boundary.
fn truncate(mut s: String, max: usize) -> String {
    if s.len() > max {
        let mut end = max;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::truncate;

    #[test]
    fn notes_are_cut_on_char_boundaries() {
        assert_eq!(truncate("abc".into(), 10), "abc");
        assert_eq!(truncate("ééé".into(), 3), "é");
        assert_eq!(truncate("x".repeat(2000), 1024).len(), 1024);
    }
}
