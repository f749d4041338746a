//! Running an operator: the health and metrics endpoints, leader election
//! (only the leader reconciles; a standby is ready and idle), and a graceful
//! shutdown that stops taking work, lets in-flight loops finish up to a
//! deadline and then releases the lease.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use futures::FutureExt;
use futures::future::Shared as SharedFuture;
use kube::Client;
use tokio::sync::watch;

use crate::backoff::Backoff;
use crate::controller::{self, Shared};
use crate::events::Events;
use crate::http::{Health, HealthServer};
use crate::kind::OperatorKind;
use crate::leader::{LeaderElectionConfig, LeaderElector, LeaderError};
use crate::metrics::Metrics;
use crate::operator::Operator;

/// How an operator runs (as opposed to what it is): the settings a deployment
/// chooses, usually from [`crate::Args`].
#[derive(Clone, Debug)]
pub struct Settings {
    /// Watch only this namespace (overrides the operator's own scope).
    pub namespace: Option<String>,
    /// Objects reconciled at once (overrides the operator's default).
    pub concurrency: Option<u16>,
    /// Resync period (overrides the operator's default).
    pub resync: Option<Duration>,
    /// Where to serve `/metrics`, `/healthz` and `/readyz` (`None`: nowhere).
    pub health_address: Option<SocketAddr>,
    /// Leader election; `None` runs as the only replica.
    pub leader_election: Option<LeaderElectionConfig>,
    /// How long in-flight loops may run after a stop was requested.
    pub shutdown_timeout: Duration,
    /// This replica's name in Events and the Lease (pod name in a cluster).
    pub instance: String,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            namespace: None,
            concurrency: None,
            resync: None,
            health_address: None,
            leader_election: None,
            shutdown_timeout: Duration::from_secs(25),
            instance: default_instance(),
        }
    }
}

/// This replica's name: `$POD_NAME`, else the host name, plus a random suffix.
pub fn default_instance() -> String {
    let base = std::env::var("POD_NAME")
        .or_else(|_| std::env::var("HOSTNAME"))
        .unwrap_or_else(|_| "operator".to_owned());
    let suffix: String = (0..6)
        .map(|_| fastrand::alphanumeric().to_ascii_lowercase())
        .collect();
    format!("{base}-{suffix}")
}

/// Why an operator could not run.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The metrics could not be registered.
    #[error("registering metrics: {0}")]
    Metrics(#[from] prometheus::Error),
    /// The health endpoint could not bind.
    #[error("binding the health endpoint on {address}: {source}")]
    Bind {
        /// The address.
        address: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// The leader election settings are invalid.
    #[error(transparent)]
    Leader(#[from] LeaderError),
    /// The operator's version cannot be a label value.
    #[error(
        "operator version {0:?} is not a valid label value (at most 63 of [A-Za-z0-9._-], alphanumeric at both ends)"
    )]
    Version(String),
}

/// A started operator: its metrics and health, and the address it serves them on.
pub struct Running {
    /// The operator's metrics.
    pub metrics: Metrics,
    /// Its readiness.
    pub health: Health,
    /// Where `/metrics`, `/healthz` and `/readyz` are served, if anywhere.
    pub health_address: Option<SocketAddr>,
    task: tokio::task::JoinHandle<()>,
}

impl Running {
    /// Stops the operator at once, without a graceful shutdown (tests use it
    /// to play a crashed replica).
    pub fn abort(self) {
        self.task.abort();
    }

    /// Waits until the operator has stopped.
    pub async fn stopped(self) {
        if let Err(e) = self.task.await {
            tracing::error!(error = %e, "operator task ended abnormally");
        }
    }
}

impl<K: OperatorKind> Operator<K> {
    /// Runs the operator until `shutdown` resolves.
    pub async fn run(
        self,
        client: Client,
        settings: Settings,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), RunError> {
        self.start(client, settings, shutdown)
            .await?
            .stopped()
            .await;
        Ok(())
    }

    /// Starts the operator in the background; it stops when `shutdown` resolves.
    pub async fn start(
        mut self,
        client: Client,
        settings: Settings,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<Running, RunError> {
        if !is_label_value(&self.version) {
            return Err(RunError::Version(self.version));
        }
        if let Some(c) = settings.concurrency {
            self.concurrency = c.max(1);
        }
        if let Some(r) = settings.resync {
            self.resync = r;
        }
        let namespace = settings
            .namespace
            .clone()
            .or_else(|| self.namespace.clone());
        let metrics = Metrics::new(self.name.as_str())?;
        for register in &self.metrics {
            register(metrics.registry())?;
        }
        let watched: Arc<std::sync::Mutex<Option<kube::runtime::reflector::Store<K>>>> =
            Arc::default();
        let render = metrics.clone();
        let refresh_metrics = metrics.clone();
        let refresh_watched = watched.clone();
        let health = Health::new(move || render.encode().map_err(|e| e.to_string())).with_refresh(
            move || {
                let n = refresh_watched
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .as_ref()
                    .map_or(0, |s| s.state().len());
                refresh_metrics.set_watched_objects(n);
            },
        );
        let (stop_tx, stop_rx) = watch::channel(false);
        let stop = signal(stop_rx.clone());
        tokio::spawn(async move {
            shutdown.await;
            let _ = stop_tx.send(true);
        });
        let server = match settings.health_address {
            Some(address) => Some(
                HealthServer::bind(address, health.clone(), stop.clone())
                    .await
                    .map_err(|source| RunError::Bind { address, source })?,
            ),
            None => None,
        };
        let health_address = server.as_ref().map(HealthServer::local_addr);
        let elector = match settings.leader_election.clone() {
            Some(mut config) => {
                if config.namespace.is_empty() {
                    config.namespace = namespace.clone().unwrap_or_else(|| "default".to_owned());
                }
                Some(LeaderElector::new(client.clone(), config)?)
            }
            None => None,
        };
        let events = Events::new(
            client.clone(),
            self.name.as_str(),
            Some(settings.instance.clone()),
        );
        let shared = Shared {
            backoff: Arc::new(Backoff::new(self.backoff)),
            operator: Arc::new(self),
            client,
            metrics: metrics.clone(),
            events,
            health: health.clone(),
            namespace,
            shutdown_timeout: settings.shutdown_timeout,
            watched,
        };
        let task = tokio::spawn(async move {
            match elector {
                None => {
                    shared.metrics.set_leader(true);
                    controller::run(&shared, stop).await;
                    shared.metrics.set_leader(false);
                }
                Some(elector) => campaign(&shared, elector, stop).await,
            }
            if let Some(server) = server {
                server.stopped().await;
            }
            tracing::info!(controller = %shared.operator.name, "stopped");
        });
        Ok(Running {
            metrics,
            health,
            health_address,
            task,
        })
    }
}

/// Standby until elected, reconcile while leading, back to standby when the
/// lease is lost; on stop, finish the run and then release the lease.
async fn campaign<K: OperatorKind>(
    shared: &Shared<K>,
    elector: LeaderElector,
    stop: SharedFuture<futures::future::BoxFuture<'static, ()>>,
) {
    let (release_tx, release_rx) = watch::channel(false);
    let (mut leading, election) = elector.spawn(signal(release_rx));
    // If this future is dropped (the operator task aborted), the election
    // must die with it, as it would with the process.
    let election = AbortOnDrop(Some(election));
    let name = shared.operator.name.clone();
    loop {
        shared.metrics.set_leader(false);
        // A standby replica is ready: it is healthy and waiting.
        shared.health.set_ready(true);
        tokio::select! {
            () = stop.clone() => break,
            elected = leading.wait_for(|l| *l) => if elected.is_err() {
                tracing::error!(controller = %name, "leader election ended unexpectedly");
                break;
            },
        }
        tracing::info!(controller = %name, "leading; starting to reconcile");
        shared.health.set_ready(false);
        shared.metrics.set_leader(true);
        let mut lost = leading.clone();
        let until = {
            let stop = stop.clone();
            async move {
                tokio::select! {
                    () = stop => {}
                    _ = lost.wait_for(|l| !*l) => {}
                }
            }
            .boxed()
            .shared()
        };
        controller::run(shared, until).await;
        if stop.clone().now_or_never().is_some() {
            break;
        }
        tracing::warn!(controller = %name, "lost the lease; stopped reconciling");
    }
    shared.metrics.set_leader(false);
    let _ = release_tx.send(true);
    if let Err(e) = election.join().await {
        tracing::warn!(controller = %name, error = %e, "leader election task failed");
    }
}

/// Whether `s` is a valid label value: empty, or at most 63 characters of
/// `[A-Za-z0-9._-]` beginning and ending with an alphanumeric one.
fn is_label_value(s: &str) -> bool {
    let b = s.as_bytes();
    b.is_empty()
        || (b.len() <= 63
            && b.iter()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b'-'))
            && b.first().is_some_and(u8::is_ascii_alphanumeric)
            && b.last().is_some_and(u8::is_ascii_alphanumeric))
}

/// A cloneable future that resolves once `rx` says true (or its sender is gone).
fn signal(mut rx: watch::Receiver<bool>) -> SharedFuture<futures::future::BoxFuture<'static, ()>> {
    async move {
        let _ = rx.wait_for(|s| *s).await;
    }
    .boxed()
    .shared()
}

/// A task handle that aborts the task when dropped unjoined.
struct AbortOnDrop(Option<tokio::task::JoinHandle<()>>);

impl AbortOnDrop {
    async fn join(mut self) -> Result<(), tokio::task::JoinError> {
        match self.0.take() {
            Some(handle) => handle.await,
            None => Ok(()),
        }
    }
}

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        if let Some(handle) = self.0.take() {
            handle.abort();
        }
    }
}
