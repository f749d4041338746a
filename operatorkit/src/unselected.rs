//! Objects no version will reconcile are not silent. With the default
//! [`Selection::VersionLabel`](crate::Selection), an object of the kind
//! without the operator's version label is seen by no version of it; the
//! leader watches for such objects (metadata only, label selector
//! `!<name>.operatorkit.dev/version`) and reports each once: a Warning Event
//! `NotReconciled` on the object naming the label to set, a log line, and
//! the `operatorkit_unselected_objects` gauge.
//!
//! Unlabelled objects are not adopted: with two versions running side by
//! side, both would claim them and fight. Labelling is the user's (or the
//! creating operator's) decision, and the Event says which label to set.

use std::collections::HashSet;
use std::sync::Arc;

use futures::StreamExt;
use kube::api::Api;
use kube::core::PartialObjectMeta;
use kube::runtime::events::EventType;
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Resource as KubeResource, ResourceExt};

use crate::events::Events;
use crate::kind::OperatorKind;
use crate::metrics::Metrics;
use crate::operator::Operator;

/// The reason of the Event about an unlabelled object.
pub const NOT_RECONCILED: &str = "NotReconciled";

/// Watches `api` (metadata only) for objects without the version label and reports them,
/// until the task is aborted.
pub(crate) async fn report<K: OperatorKind>(
    api: Api<PartialObjectMeta<K>>,
    operator: Arc<Operator<K>>,
    events: Events,
    metrics: Metrics,
) {
    let label = operator.name.version_label();
    let config = watcher::Config::default().labels(&format!("!{label}"));
    let note = format!(
        "no {label} label: no version of {} reconciles this object; label it \
         {label}={} to have version {} reconcile it",
        operator.name, operator.version, operator.version
    );
    let mut seen: HashSet<String> = HashSet::new();
    let mut listing: HashSet<String> = HashSet::new();
    let mut stream = std::pin::pin!(watcher(api, config).default_backoff());
    while let Some(event) = stream.next().await {
        match event {
            Ok(watcher::Event::Apply(o) | watcher::Event::InitApply(o)) => {
                let uid = o.uid().unwrap_or_default();
                listing.insert(uid.clone());
                if seen.insert(uid) {
                    // Counted before the Event goes out: whoever sees the
                    // Event sees the count too.
                    metrics.set_unselected_objects(seen.len());
                    tracing::warn!(object = %o.name_any(), namespace = %o.namespace().unwrap_or_default(), "{note}");
                    events
                        .publish_ref(
                            &o.object_ref(&()),
                            EventType::Warning,
                            NOT_RECONCILED,
                            note.clone(),
                        )
                        .await;
                }
            }
            Ok(watcher::Event::Delete(o)) => {
                let uid = o.uid().unwrap_or_default();
                seen.remove(&uid);
                listing.remove(&uid);
            }
            Ok(watcher::Event::Init) => listing.clear(),
            // After a re-list, objects that left the selection (labelled,
            // or deleted while the watch was down) are forgotten.
            Ok(watcher::Event::InitDone) => seen.retain(|uid| listing.contains(uid)),
            Err(e) => tracing::debug!(error = %e, "watch of unlabelled objects"),
        }
        metrics.set_unselected_objects(seen.len());
    }
}
