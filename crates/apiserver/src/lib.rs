//! An embedded Kubernetes API server for tests and local development.
//!
//! It serves the Kubernetes REST API over HTTP or HTTPS with the semantics
//! operators rely on, from memory, optionally durable in a data directory. It
//! is the ground every test of this project stands on and the "runs on one
//! machine" default of `cargo xtask dev`. It is never meant for production.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let server = operatorkit_apiserver::start(operatorkit_apiserver::Config::default()).await?;
//! let client = kube::Client::try_from(server.kube_config(None))?;
//! // ... use `client` as against any cluster ...
//! server.shutdown().await;
//! # Ok(()) }
//! ```
//!
//! # What behaves like kube-apiserver
//!
//! Discovery (`/version`, `/api`, `/apis`, group and resource lists; aggregated
//! discovery with its ETag; OpenAPI v3 per group-version and `/openapi/v2` with
//! the built-in and custom schemas `kubectl explain` and client-side apply
//! read), health endpoints; built-in kinds with their scope,
//! status subresources and server-set defaults; uid, creationTimestamp,
//! generateName, one monotonic resourceVersion, generation bumped by spec
//! changes only; get, list, create, update, patch (JSON patch with `test`,
//! merge, strategic merge for built-ins, server-side apply with
//! `managedFields`, conflicts and `force`), delete, deletecollection, `dryRun=All`;
//! status subresource semantics; Status errors (404, 409 AlreadyExists and
//! Conflict, 422 with causes, 400, 403, 410, 415); label and field selectors,
//! limit/continue with consistent pages, resourceVersion/resourceVersionMatch;
//! watch from a resourceVersion within a bounded history (older: 410) with
//! ADDED/MODIFIED/DELETED/BOOKMARK/ERROR, selector transitions, timeoutSeconds
//! and `sendInitialEvents`; finalizers and deletionTimestamp; propagation
//! Background/Foreground/Orphan with owner-reference garbage collection;
//! namespace lifecycle (system namespaces cannot be deleted); CRDs served with their names, scope and subresources,
//! with pruning, defaulting, OpenAPI and CEL validation and printer columns as
//! Tables; the built-in kinds' Tables from a port of kube-apiserver's printers
//! (`kubectl get` and `-o wide` columns); both Event APIs on one storage;
//! durable writes with `--data-dir`; anonymous or bearer-token authentication;
//! protobuf bodies and answers for every built-in kind; what a cluster has from
//! its first second (the `kubernetes` Service in `default` with the Endpoints
//! and EndpointSlice of this server's address, and the `default`
//! ServiceAccount and `kube-root-ca.crt` ConfigMap in every namespace, put back
//! when deleted).
//!
//! # Layers
//!
//! A request goes down this picture and nothing imports upwards: each
//! module uses only modules on lower lines (`tests/layers.rs` fails the
//! build's tests otherwise, so the picture stays true and no import cycle
//! comes back). The Kubernetes ports it builds on are crates of their own
//! below all of it: `operatorkit-query`, `operatorkit-structural`,
//! `operatorkit-strategic-merge`, `operatorkit-gofmt`, `operatorkit-protobuf`.
//!
//! ```text
//!  server                      start, shutdown, the tasks below
//!    │
//!  controllers quota publish   the server's own controllers, following the event log
//!    │
//!  http                        connections, routing, negotiation, responses
//!    │
//!  discovery review watch      discovery and OpenAPI, reviews, watch streams
//!    │
//!  auth authz                  who asks (authentication); may they (authorization)
//!    │
//!  rest                        the verbs and their semantics
//!    │
//!  admission fieldmanager      defaults, validation, allocation; managedFields, apply
//!    │
//!  resources                   the registry: what is served, built-in kinds, CRD versions
//!    │
//!  follow                      the loop that follows the event log
//!    │
//!  store                       objects, revisions, the event log, the write-ahead log
//!    │
//!  error meta user gobase64    shared vocabulary: Status errors, metadata, the user
//! ```
//!
//! # Performance
//!
//! `cargo xtask bench apiserver` (criterion, release, `kube::Client` over
//! loopback HTTP, in-memory store, 2-core machine, 2026-12-05 at 4b19870;
//! earlier runs and the comparisons are in `docs/apiserver.md`):
//!
//! | operation | result |
//! |---|---|
//! | create a ConfigMap | 225 µs each, about 4,400 creates/s (one client, sequential) |
//! | update (GET + PUT) | 409 µs each, about 2,400 updates/s |
//! | list 10,000 ConfigMaps | 64 ms, including the client decoding them (9.4 ms for the server's JSON) |
//! | list 1,000 of 10,000 by label | 19 ms |
//! | a write reaching 100 watchers | 1.3 ms from the create request to the last watcher's event |
//! | memory for 10,000 ConfigMaps (~0.5 KiB each) | 9.4 MiB resident, about 1 KB per object (each kept once as its JSON, shared by the store, the watch history and the write-ahead log) |
//!
//! # Not implemented (do not rely on these)
//!
//! | area | state |
//! |---|---|
//! | server-side apply | field ownership, conflicts (only where an applied leaf differs: equal values, and maps and keyed items themselves, are shared), `force` and removal of fields a manager stops applying work on managed-field paths; merging uses strategic merge keys (built-ins) or `x-kubernetes-list-type` (custom resources) rather than the full structured-merge-diff type system; `x-kubernetes-map-type: atomic` is not honoured; a Service's ports are keyed by port and protocol, container ports merged by `containerPort` alone |
//! | authorization | RBAC (enforced, the default) and AlwaysAllow only: no Node or Webhook authorizers; no OIDC, webhook token or front-proxy authentication |
//! | admission webhooks, ValidatingAdmissionPolicy | not implemented |
//! | CRD conversion webhooks | only `None` conversion (apiVersion rewritten) |
//! | subresources | `scale` (Deployments, ReplicaSets, StatefulSets, ReplicationControllers, CRDs that declare it), `pods/binding`, `pods/eviction` (honours PodDisruptionBudgets computed at request time: no disruption controller writes their `status`), `pods/log` (always empty: no kubelet), `pods/ephemeralcontainers`, `certificatesigningrequests/approval`; no `exec`, `attach`, `portforward`, `proxy`; `autoscaling/v1` HorizontalPodAutoscaler is not served (v2 is) |
//! | ResourceQuota, LimitRange | quota `status.used` counts objects (pods, services, secrets, configmaps, PVCs, RCs, quotas, `count/*`); compute resources are not summed and neither quotas nor limit ranges are enforced at admission |
//! | CertificateSigningRequests | created (requester recorded), approved or denied, `status.certificate` writable; nothing signs them |
//! | APIServices, ComponentStatuses | read-only and synthesized (get and list, no watch): local APIServices for the served group-versions, a healthy control plane; no API aggregation |
//! | protobuf, CBOR | protobuf bodies and answers (objects, lists, watch frames, Status errors, PartialObjectMetadata) for every built-in kind, through `operatorkit-protobuf`; Tables are JSON only; custom resources are JSON/YAML only (415 for a protobuf body, 406 for protobuf alone in `Accept`); no CBOR. The JSON path keeps an `omitempty` field's zero as sent (kube-apiserver's Go round trip drops it: `initialDelaySeconds: 0` reads back absent there) |
//! | aggregated discovery | `apidiscovery.k8s.io/v2` and `v2beta1` in JSON only (no protobuf form: a client asking for it alone gets the legacy documents); no `storageVersionHash` |
//! | `/openapi/v2`, `/openapi/v3` | v3 in JSON, v2 in JSON or gnostic protobuf (what kubectl asks for). Built-in schemas come from k8s-openapi's types (kube-apiserver's names and descriptions, GVKs, patch markers from the strategic merge table; list-map keys inferred from merge keys; no `enum`, no `default: {}`); list kinds' descriptions are ours; paths are the collections, objects and `/status` with the operations their verbs allow (no watch paths, no paths for `scale`, `pods/eviction`, `pods/binding`, `pods/log`, `pods/ephemeralcontainers`, `serviceaccounts/token`, `namespaces/finalize` or `certificatesigningrequests/approval`) |
//! | controllers | only garbage collection, namespace/CRD cleanup and the publishers of the `kubernetes` Service, `default` ServiceAccounts and `kube-root-ca.crt`; nodes, a scheduler, kubelets and workload controllers come from the simulated cluster (`operatorkit-simulation`), a separate client |
//! | built-in Tables | kube-apiserver's printers for the served built-in kinds (`kubectl get` and `-o wide` columns; `NAME`/`CREATED AT` where kube-apiserver has no printer); column descriptions are the current API version's field docs where kube-apiserver quotes an older version's |
//! | built-in validation | the common checks only (names, labels, selectors, containers, ports, Secret data); not every rule of kube-apiserver |
//! | `/status` of built-ins | replaces status and keeps everything else (kube-apiserver also lets some kinds change a few metadata fields there) |
//! | CRD name conflicts | not detected (`NamesAccepted` is always true) |

#![forbid(unsafe_code)]

mod admission;
mod auth;
mod authz;
mod controllers;
mod discovery;
mod error;
mod fieldmanager;
mod follow;
mod gobase64;
mod http;
mod meta;
mod publish;
mod quota;
mod resources;
mod rest;
mod review;
mod server;
mod store;
mod user;
mod watch;

pub use self::http::{RequestCounter, Write};
pub use self::meta::READY;
pub use self::server::{Config, Handle, ServingCert, StartError, start};
pub use self::store::wal::Options as DataDirOptions;

/// Authorization as callers see it: the mode a server runs in, and the
/// decisions its authorizer records for tests (`Handle::authorizer`).
pub mod authorization {
    pub use crate::authz::{
        Attributes, Authorizer, Decision, Grant, Mode, ResourceAttributes, Rule, Target,
    };
}

/// The store and its write-ahead log, for the durability benchmark only
/// (`--features bench-internals`); not an API.
#[cfg(feature = "bench-internals")]
pub mod bench_internals {
    pub use crate::store::wal::{Options, Wal};
    pub use crate::store::{ObjectKey, StorageKey, Store};
}
