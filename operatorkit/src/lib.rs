//! operatorkit: a framework for Kubernetes operators on kube-runtime.
//!
//! An operator is its CRD type, an ordered list of [`Step`]s and a
//! `main.rs` of a few lines; operatorkit owns the rest.
//!
//! # Your first operator
//!
//! For every `Greeting`, a ConfigMap holding its message. The kind is a
//! `kube` custom resource whose status carries the contract every operator
//! writes (conditions and observedGeneration, [`OperatorStatus`]); the
//! operator is a name, a version and its steps, here one that keeps child
//! objects. The test below starts the embedded API server (or uses the
//! cluster `OPERATORKIT_TEST_KUBECONFIG` names), runs the operator in-process
//! and waits for the ConfigMap: the same shape as every integration test of
//! an operator ([`testing`], feature `testing`). The doctest runs that test
//! when the feature is on (`cargo test -p operatorkit --features testing
//! --doc`; the workspace's `cargo test` turns it on) and only compiles the
//! operator without it.
//!
//! ```
//! use k8s_openapi::api::core::v1::ConfigMap;
//! use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
//! use kube::api::ObjectMeta;
//! use kube::CustomResource;
//! use operatorkit::keys::OperatorName;
//! use operatorkit::{Context, Operator, StepError};
//! use schemars::JsonSchema;
//! use serde::{Deserialize, Serialize};
//!
//! /// What a greeting says.
//! #[derive(CustomResource, Clone, Debug, Deserialize, Serialize, JsonSchema)]
//! #[kube(group = "example.com", version = "v1alpha1", kind = "Greeting")]
//! #[kube(namespaced, status = "GreetingStatus")]
//! pub struct GreetingSpec {
//!     pub message: String,
//! }
//!
//! /// The status contract, nothing of its own.
//! #[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize, JsonSchema)]
//! #[serde(rename_all = "camelCase")]
//! pub struct GreetingStatus {
//!     #[serde(default)]
//!     pub conditions: Vec<Condition>,
//!     #[serde(default, skip_serializing_if = "Option::is_none")]
//!     pub observed_generation: Option<i64>,
//! }
//! operatorkit::operator_status!(GreetingStatus);
//!
//! /// Checked at compile time: a DNS-1123 label.
//! const NAME: OperatorName = OperatorName::from_static("greeter-operator");
//!
//! /// The ConfigMap a greeting should have; an empty message is bad input
//! /// that no retry fixes (Ready False, reason InvalidSpec, one Warning Event).
//! fn desired(cx: &Context<Greeting>) -> Result<Vec<ConfigMap>, StepError> {
//!     let message = &cx.object().spec.message;
//!     if message.is_empty() {
//!         return Err(StepError::permanent("spec.message is empty").reason("InvalidSpec"));
//!     }
//!     Ok(vec![ConfigMap {
//!         metadata: ObjectMeta {
//!             name: Some(format!("{}-greeting", cx.name())),
//!             ..Default::default()
//!         },
//!         data: Some([("greeting".to_owned(), message.clone())].into()),
//!         ..Default::default()
//!     }])
//! }
//!
//! fn operator(version: &str) -> Operator<Greeting> {
//!     Operator::new(NAME, version).children("configmap", desired)
//! }
//!
//! // In `main.rs`: `run` (the default) and `crd` subcommands, the standard
//! // flags, logging, health and metrics endpoints, leader election.
//! # #[allow(dead_code)]
//! fn real_main() -> std::process::ExitCode {
//!     operatorkit::main("Turns every Greeting into a ConfigMap", |_: operatorkit::cli::NoFlags| {
//!         Ok(operator(env!("CARGO_PKG_VERSION")))
//!     })
//! }
//!
//! // In `tests/`: the operator against the embedded API server.
//! # #[cfg(feature = "testing")]
//! #[tokio::main]
//! async fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     use kube::{CustomResourceExt, ResourceExt};
//!     use operatorkit::testing::{TestEnv, wait_for};
//!
//!     let env = TestEnv::start().await?;
//!     env.install_crds([Greeting::crd()]).await?;
//!     let run = env.run_operator(operator("0.1.0"), operatorkit::Settings::default()).await?;
//!     let mut hello = Greeting::new(&env.name("hello"), GreetingSpec { message: "Hello".into() });
//!     // The operator reconciles the objects labelled for its version.
//!     hello.labels_mut().insert(NAME.version_label(), "0.1.0".into());
//!     env.api::<Greeting>().create(&Default::default(), &hello).await?;
//!
//!     let name = format!("{}-greeting", hello.name_any());
//!     let timeout = std::time::Duration::from_secs(30);
//!     let configmap = wait_for(&env.api::<ConfigMap>(), &name, timeout, |c: Option<&ConfigMap>| {
//!         c.is_some()
//!     })
//!     .await?;
//!     assert_eq!(configmap.unwrap().data.unwrap()["greeting"], "Hello");
//!     run.stop().await;
//!     env.stop().await;
//!     Ok(())
//! }
//! # #[cfg(not(feature = "testing"))]
//! # fn main() {}
//! ```
//!
//! `cargo xtask new-operator` in the operatorkit repository writes such an
//! operator as a project of its own, with manifests, a Dockerfile, a test and
//! a benchmark (docs/operatorkit.md).
//!
//! # Layers
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
// Every public item is documented: this is the crate others build on.
#![deny(missing_docs)]

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
