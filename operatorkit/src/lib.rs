//! operatorkit: a framework for Kubernetes operators on kube-runtime.
//!
//! An operator is its CRD type, an ordered list of [`Step`]s and a
//! `main.rs` of a few lines; operatorkit owns the rest:
//!
//! ```text
//!   cli, main ─────────── the command line (run, crd), logging first
//!      │
//!   runtime ───────────── health and metrics endpoints, leader election, shutdown
//!      │
//!   controller ────────── kube-runtime's Controller: watches, caches, unselected objects
//!      │
//!   reconcile ─────────── one loop: selection, pause, finalizer, steps, status, Events
//!      │
//!   operator ──────────── the definition: name, version, steps, children, owned/watched kinds
//!      │
//!   children ── crud ──── child objects and other keyed state, no writes in a steady state
//!      │
//!   step ──────────────── Step, Outcome, StepError (transient or permanent)
//!      │
//!   context ───────────── what a step sees: object, reads that see its writes, typed status
//!      │
//!   status, writes, cache, watch, events, finalizer, metrics, keys, kind, ...
//! ```
//!
//! Modules import only from the layers below them (a test checks it).
//!
//! - [`keys`]: every well-known label, annotation and finalizer, from one
//!   prefix; [`kind`]: the kinds it works with, and the status contract;
//! - [`Operator`]: the watch of the kind (label-selected by the version
//!   label, so versions run side by side; unlabelled objects are reported,
//!   not ignored silently) and of the child kinds, with caches;
//! - the loop on kube-runtime's `Controller`: bounded concurrency, one loop
//!   per object at a time, per-object exponential backoff with jitter for
//!   transient errors, no retry for permanent ones until something changes,
//!   resync, and panics contained to the object ([`reconcile`], which also
//!   documents the deletion path and its guarantees);
//! - the CRUD helper that makes a steady state write nothing ([`crud`],
//!   [`Operator::children`]), with drift detection that notices removed keys
//!   and reads that see the operator's own writes ([`Context::get`]);
//! - typed status conditions with real transitions and observedGeneration
//!   ([`status`]); Events;
//! - Prometheus metrics, `/metrics`, `/healthz`, `/readyz` ([`metrics`],
//!   [`http`]); leader election on a Lease ([`leader`]); graceful shutdown;
//! - the pause annotation; the command line ([`cli`], [`Args`]), one Go-style
//!   [`duration`] grammar, and logging;
//! - [`testing`] (feature `testing`): the test environment.

#![forbid(unsafe_code)]

pub mod args;
pub mod backoff;
pub mod cache;
mod children;
pub mod cli;
pub mod context;
mod controller;
pub mod crud;
mod drift;
pub mod duration;
pub mod events;
pub mod finalizer;
pub mod http;
pub mod keys;
pub mod kind;
pub mod leader;
pub mod logging;
pub mod metrics;
pub mod operator;
pub mod reconcile;
pub mod runtime;
pub mod status;
pub mod step;
mod unselected;
mod watch;
mod writes;

#[cfg(feature = "testing")]
pub mod testing;

/// For implementing [`Step`] and [`crud::Crud`].
pub use async_trait::async_trait;
/// The `k8s-openapi` every operator builds against (feature `v1_33`, set once
/// in the workspace).
pub use k8s_openapi;
/// The `kube` every operator builds against (client, runtime, derive, CEL).
pub use kube;
/// The `schemars` every operator derives CRD schemas with.
pub use schemars;

pub use crate::args::Args;
pub use crate::cli::{MainError, main};
pub use crate::context::Context;
pub use crate::kind::{Kind, OperatorKind};
pub use crate::operator::{Operator, Selection};
pub use crate::runtime::{RunError, Running, Settings};
pub use crate::status::{OperatorStatus, condition};
pub use crate::step::{Category, Outcome, Step, StepError};
pub use crate::unselected::NOT_RECONCILED;

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
