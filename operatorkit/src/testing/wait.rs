//! Waiting for an object (or a number of objects) to reach a state, by
//! watching (never by polling).

use std::collections::HashSet;
use std::fmt::Debug;
use std::time::{Duration, Instant};

use futures::TryStreamExt;
use k8s_openapi::api::events::v1::Event;
use kube::Resource;
use kube::api::Api;
use kube::runtime::{WatchStreamExt, watcher};
use serde::de::DeserializeOwned;

use super::TestError;

/// Waits until `predicate` holds for the object `name` (`None`: it does not
/// exist), watching it, for at most `timeout`; returns the object then.
pub async fn wait_for<K>(
    api: &Api<K>,
    name: &str,
    timeout: Duration,
    predicate: impl Fn(Option<&K>) -> bool,
) -> Result<Option<K>, TestError>
where
    K: Resource + Clone + DeserializeOwned + Debug + Send + 'static,
    K::DynamicType: Default,
{
    let current = api.get_opt(name).await?;
    if predicate(current.as_ref()) {
        return Ok(current);
    }
    let config = watcher::Config::default().fields(&format!("metadata.name={name}"));
    let mut stream = std::pin::pin!(watcher(api.clone(), config).default_backoff());
    let wait = async {
        let mut latest: Option<K> = current;
        // During a (re-)list the view is incomplete: judge it only when done.
        let mut listing: Option<Option<K>> = None;
        while let Some(event) = stream
            .try_next()
            .await
            .map_err(|e| TestError::Watch(e.to_string()))?
        {
            match event {
                watcher::Event::Init => {
                    listing = Some(None);
                    continue;
                }
                watcher::Event::InitApply(o) => {
                    listing = Some(Some(o));
                    continue;
                }
                watcher::Event::InitDone => latest = listing.take().flatten(),
                watcher::Event::Apply(o) => latest = Some(o),
                watcher::Event::Delete(_) => latest = None,
            }
            if predicate(latest.as_ref()) {
                return Ok(latest);
            }
        }
        Ok(latest)
    };
    match tokio::time::timeout(timeout, wait).await {
        Ok(r) => r,
        Err(_) => Err(TestError::Timeout {
            what: format!("{} {name}", K::kind(&Default::default())),
            timeout,
        }),
    }
}

/// Waits until an events.k8s.io Event with `reason` regarding the object
/// `regarding` (by name) is in `events`' namespace, watching, for at most
/// `timeout`; returns it. An operator's Warning about bad input, or its
/// Normal `Ready`, is found this way.
pub async fn wait_for_event(
    events: &Api<Event>,
    regarding: &str,
    reason: &str,
    timeout: Duration,
) -> Result<Event, TestError> {
    let config = watcher::Config::default().fields(&format!("regarding.name={regarding}"));
    let stream = watcher(events.clone(), config)
        .default_backoff()
        .applied_objects();
    let mut stream = std::pin::pin!(stream);
    let wait = async {
        while let Some(event) = stream
            .try_next()
            .await
            .map_err(|e| TestError::Watch(e.to_string()))?
        {
            if event.reason.as_deref() == Some(reason) {
                return Ok(event);
            }
        }
        Err(TestError::Watch("the Event watch ended".to_owned()))
    };
    match tokio::time::timeout(timeout, wait).await {
        Ok(r) => r,
        Err(_) => Err(TestError::Timeout {
            what: format!("a {reason} Event about {regarding}"),
            timeout,
        }),
    }
}

/// Watches every object of `api`: sends on `listed` once the watch has
/// listed (start the work to be measured after that), then returns the
/// instant the watch saw `count` objects for which `predicate` holds at once.
/// Has no deadline of its own: wrap it in a timeout. Made for benchmarks,
/// which time "all N objects Ready" from a watch, not from polling.
pub async fn wait_for_count<K>(
    api: Api<K>,
    count: usize,
    predicate: impl Fn(&K) -> bool,
    listed: tokio::sync::oneshot::Sender<()>,
) -> Result<Instant, TestError>
where
    K: Resource + Clone + DeserializeOwned + Debug + Send + 'static,
    K::DynamicType: Default,
{
    // Namespace and name: what tells two objects of one kind apart.
    let key = |o: &K| (o.meta().namespace.clone(), o.meta().name.clone());
    let mut listed = Some(listed);
    let mut matching = HashSet::new();
    let mut stream = std::pin::pin!(watcher(api, watcher::Config::default()));
    while let Some(event) = stream
        .try_next()
        .await
        .map_err(|e| TestError::Watch(e.to_string()))?
    {
        match event {
            watcher::Event::InitDone => {
                if let Some(l) = listed.take() {
                    // The receiver may have gone: nobody waits for the list.
                    let _ = l.send(());
                }
            }
            watcher::Event::Apply(o) | watcher::Event::InitApply(o) => {
                let key = key(&o);
                if predicate(&o) {
                    matching.insert(key);
                } else {
                    matching.remove(&key);
                }
                if matching.len() == count {
                    return Ok(Instant::now());
                }
            }
            watcher::Event::Delete(o) => {
                matching.remove(&key(&o));
            }
            watcher::Event::Init => {}
        }
    }
    Err(TestError::Watch(format!(
        "the watch of {} ended",
        K::kind(&Default::default())
    )))
}
