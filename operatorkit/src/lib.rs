//! operatorkit: a framework for Kubernetes operators on kube-runtime.
//!
//! An operator is its CRD type, an ordered list of [`Resource`]s and a
//! `main.rs` of a few lines; operatorkit owns the rest:
//!
//! - the watch of the kind (label-selected by the version label, so versions
//!   run side by side) and of the child kinds it owns or watches, with caches
//!   ([`Operator`], [`Request::owned`]);
//! - the loop on kube-runtime's `Controller`: bounded concurrency, one loop per
//!   object at a time, per-object exponential backoff with jitter, resync, and
//!   panics contained to the object ([`reconcile`]);
//! - the finalizer `operatorkit.dev/<operator>`, resources in reverse on
//!   deletion, explicit [`Outcome`]s (continue, cancel resource, cancel loop,
//!   requeue after, keep finalizer);
//! - the CRUD helper that makes a steady state write nothing ([`crud`],
//!   [`Children`]);
//! - status conditions with real transitions and observedGeneration, written
//!   through `/status` with conflict retry ([`status`]); Events;
//! - Prometheus metrics, `/metrics`, `/healthz`, `/readyz` ([`metrics`],
//!   [`http`]); leader election on a Lease ([`leader`]); graceful shutdown;
//! - the pause annotation; a shared command line ([`Args`]) and logging;
//! - [`testing`] (feature `testing`): the test environment.
//!
//! ```no_run
//! # use operatorkit::{Operator, Args};
//! # use k8s_openapi::api::core::v1::ConfigMap as MyKind;
//! # async fn demo(args: Args) -> Result<(), operatorkit::MainError> {
//! let operator = Operator::<MyKind>::new("demo-operator", "1.0.0");
//! operatorkit::run(operator, args).await
//! # }
//! ```

#![forbid(unsafe_code)]

pub mod args;
pub mod backoff;
pub mod cache;
pub mod children;
mod controller;
pub mod crud;
pub mod events;
pub mod finalizer;
pub mod http;
pub mod leader;
pub mod logging;
pub mod metrics;
pub mod operator;
pub mod outcome;
pub mod reconcile;
pub mod request;
pub mod resource;
pub mod runtime;
pub mod selection;
pub mod status;
mod watch;

#[cfg(feature = "testing")]
pub mod testing;

/// For implementing [`Resource`] and [`crud::Crud`].
pub use async_trait::async_trait;
/// The `k8s-openapi` every operator builds against (feature `v1_33`, set once
/// in the workspace).
pub use k8s_openapi;
/// The `kube` every operator builds against (client, runtime, derive, CEL).
pub use kube;
/// The `schemars` every operator derives CRD schemas with.
pub use schemars;

pub use crate::args::Args;
pub use crate::children::Children;
pub use crate::operator::{Object, Operator, Selection};
pub use crate::outcome::Outcome;
pub use crate::request::Request;
pub use crate::resource::{Resource, ResourceError};
pub use crate::runtime::{RunError, Running, Settings};

/// Why [`run`] failed.
#[derive(Debug, thiserror::Error)]
pub enum MainError {
    /// Logging could not be set up.
    #[error(transparent)]
    Logging(#[from] logging::LoggingError),
    /// The flags could not be used.
    #[error(transparent)]
    Args(#[from] args::ArgsError),
    /// The operator could not run.
    #[error(transparent)]
    Run(#[from] RunError),
}

/// The whole of an operator's `main`: logging, client, and the operator until
/// SIGTERM or SIGINT.
pub async fn run<K: Object>(operator: Operator<K>, args: Args) -> Result<(), MainError> {
    logging::init(&args.log_level, args.log_format)?;
    let client = args.client().await?;
    let settings = args.settings(operator.name());
    tracing::info!(
        operator = operator.name(),
        version = operator.version(),
        namespace = settings.namespace.as_deref().unwrap_or("(all)"),
        leader_election = settings.leader_election.is_some(),
        "starting"
    );
    operator.run(client, settings, shutdown_signal()).await?;
    Ok(())
}

/// Resolves on SIGTERM or SIGINT (Ctrl-C).
pub async fn shutdown_signal() {
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGTERM; only SIGINT stops the operator");
                std::future::pending::<()>().await;
            }
        }
    };
    tokio::select! {
        () = terminate => tracing::info!("SIGTERM: shutting down"),
        r = tokio::signal::ctrl_c() => match r {
            Ok(()) => tracing::info!("SIGINT: shutting down"),
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGINT");
                std::future::pending::<()>().await;
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::ConfigMap;
    use kube::Resource as _;

    #[test]
    fn reexports_are_one_version_set() {
        // The re-exported k8s-openapi and kube agree on what a ConfigMap is.
        assert_eq!(ConfigMap::kind(&()), "ConfigMap");
        assert_eq!(ConfigMap::api_version(&()), "v1");
        let _generator: schemars::SchemaGenerator = schemars::SchemaGenerator::default();
    }
}
