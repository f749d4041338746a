//! What every cluster has from its first second, kept current as a real
//! control plane keeps it:
//! - the `kubernetes` Service in `default` (ClusterIP `10.96.0.1`, port 443
//!   named `https`), with the Endpoints and EndpointSlice of the server's own
//!   address and port, as kube-apiserver's bootstrap controller and endpoint
//!   reconciler write them (recreated when deleted, corrected when changed,
//!   checked every ten seconds);
//! - in every active namespace the `default` ServiceAccount and the
//!   `kube-root-ca.crt` ConfigMap (`ca.crt`: the CA clients verify the server
//!   with), as kube-controller-manager's serviceaccount and
//!   root-ca-cert-publisher controllers publish them.
//!
//! It follows the store's event log (`follow`) and writes through the
//! REST layer (defaults, validation, allocation, managedFields) under the
//! field managers those components use.

use std::net::SocketAddr;
use std::time::Duration;

use serde_json::{Value, json};

use crate::error::ApiResult;
use crate::follow::Follower;
use crate::meta;
use crate::resources::Builtin;
use crate::rest::options::WriteOptions;
use crate::rest::{Rest, Subresource};
use crate::store::{Event, EventKind};

/// The ConfigMap the root CA is published in.
pub(crate) const ROOT_CA_CONFIGMAP: &str = "kube-root-ca.crt";
/// kube-apiserver's Service for itself, in `default`.
pub(crate) const KUBERNETES_SERVICE: &str = "kubernetes";
/// The first address of the Service range, the `kubernetes` Service's.
const KUBERNETES_SERVICE_IP: &str = "10.96.0.1";
/// How often the `kubernetes` Service and its endpoints are checked, as
/// kube-apiserver's endpoint reconciler does.
pub(crate) const RECONCILE_EVERY: Duration = Duration::from_secs(10);
const ROOT_CA_DESCRIPTION: &str = "Contains a CA bundle that can be used to verify the kube-apiserver when using internal endpoints such as the internal service IP or kubernetes.default.svc. No other usage is guaranteed across distributions of Kubernetes clusters.";

/// What is published: where the server is, and the CA it is verified with.
pub(crate) struct Published {
    /// The server's address (an unspecified one is published as loopback).
    pub(crate) address: SocketAddr,
    /// PEM of the CA clients verify the server with.
    pub(crate) ca_pem: String,
}

/// Publishes everything at once, then keeps it current, as a follower of
/// the event log that checks the `kubernetes` Service on every tick.
pub(crate) fn follower(rest: Rest, published: Published) -> Box<dyn Follower> {
    Box::new(Publisher { rest, published })
}

struct Publisher {
    rest: Rest,
    published: Published,
}

impl Follower for Publisher {
    /// Publishes everything: the `kubernetes` Service and each namespace's
    /// ServiceAccount and ConfigMap.
    fn resync(&mut self) {
        self.kubernetes_service();
        let namespaces = self
            .rest
            .store
            .read(|s| s.values(&Builtin::Namespace.storage_key(), None));
        for (_, ns) in namespaces {
            self.namespace(&ns);
        }
    }

    /// Acts on one change: a namespace made or changed, or something
    /// published deleted or edited.
    fn observe(&mut self, e: &Event) {
        let name = e.key.name.as_str();
        let ns = e.key.namespace.as_str();
        let s = &e.storage;
        if *s == Builtin::Namespace.storage_key() && e.kind != EventKind::Deleted {
            self.namespace(&e.object.value());
        } else if (*s == Builtin::ServiceAccount.storage_key() && name == "default")
            || (*s == Builtin::ConfigMap.storage_key() && name == ROOT_CA_CONFIGMAP)
        {
            if e.kind != EventKind::Added {
                self.namespace_named(ns);
            }
        } else if ns == "default"
            && name == KUBERNETES_SERVICE
            && [Builtin::Service, Builtin::Endpoints, Builtin::EndpointSlice]
                .iter()
                .any(|b| b.storage_key() == *s)
            && e.kind != EventKind::Added
        {
            self.kubernetes_service();
        }
    }

    fn tick(&mut self) {
        self.kubernetes_service();
    }
}

impl Publisher {
    fn namespace_named(&self, ns: &str) {
        let Some(rt) = self.rest.registry.builtin(Builtin::Namespace) else {
            return;
        };
        if let Ok(obj) = self.rest.get(&rt, None, ns) {
            self.namespace(&obj);
        }
    }

    /// The `default` ServiceAccount and `kube-root-ca.crt` of an active
    /// namespace.
    fn namespace(&self, namespace: &Value) {
        let Some(ns) = meta::name(namespace) else {
            return;
        };
        let terminating = namespace.pointer("/metadata/deletionTimestamp").is_some()
            || namespace.pointer("/status/phase").and_then(Value::as_str) == Some("Terminating");
        if terminating {
            return;
        }
        let account = json!({"apiVersion": "v1", "kind": "ServiceAccount",
            "metadata": {"name": "default", "namespace": ns}});
        self.ensure(
            Builtin::ServiceAccount,
            ns,
            account,
            &[],
            "kube-controller-manager",
        );
        let ca = json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": ROOT_CA_CONFIGMAP, "namespace": ns,
                "annotations": {"kubernetes.io/description": ROOT_CA_DESCRIPTION}},
            "data": {"ca.crt": self.published.ca_pem}});
        self.ensure(
            Builtin::ConfigMap,
            ns,
            ca,
            &["/data"],
            "kube-controller-manager",
        );
    }

    /// The `kubernetes` Service, its Endpoints and EndpointSlice.
    fn kubernetes_service(&self) {
        let address = self.published.address;
        let ip = if address.ip().is_unspecified() {
            "127.0.0.1".to_owned()
        } else {
            address.ip().to_string()
        };
        let port = address.port();
        let labels = json!({"component": "apiserver", "provider": "kubernetes"});
        let service = json!({"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": KUBERNETES_SERVICE, "namespace": "default", "labels": labels},
            "spec": {"type": "ClusterIP", "clusterIP": KUBERNETES_SERVICE_IP, "sessionAffinity": "None",
                "ports": [{"name": "https", "port": 443, "protocol": "TCP", "targetPort": port}]}});
        let endpoints = json!({"apiVersion": "v1", "kind": "Endpoints",
            "metadata": {"name": KUBERNETES_SERVICE, "namespace": "default",
                "labels": {"endpointslice.kubernetes.io/skip-mirror": "true"}},
            "subsets": [{"addresses": [{"ip": ip}],
                "ports": [{"name": "https", "port": port, "protocol": "TCP"}]}]});
        let slice = json!({"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
            "metadata": {"name": KUBERNETES_SERVICE, "namespace": "default",
                "labels": {"kubernetes.io/service-name": KUBERNETES_SERVICE}},
            "addressType": "IPv4",
            "endpoints": [{"addresses": [ip], "conditions": {"ready": true}}],
            "ports": [{"name": "https", "port": port, "protocol": "TCP"}]});
        let published: [(Builtin, Value, &[&str]); 3] = [
            (Builtin::Service, service, &["/spec/ports"]),
            (Builtin::Endpoints, endpoints, &["/subsets"]),
            (
                Builtin::EndpointSlice,
                slice,
                &["/endpoints", "/ports", "/addressType"],
            ),
        ];
        for (b, desired, kept) in published {
            self.ensure(b, "default", desired, kept, "kube-apiserver");
        }
    }

    /// Creates `desired` if it is missing, or puts back the parts at
    /// `pointers` when they differ; a failure (a namespace going away) is
    /// logged and retried on the next change.
    fn ensure(&self, b: Builtin, ns: &str, desired: Value, pointers: &[&str], manager: &str) {
        let Some(rt) = self.rest.registry.builtin(b) else {
            return;
        };
        let name = meta::name(&desired).unwrap_or_default().to_owned();
        let opts = WriteOptions {
            field_manager: Some(manager.to_owned()),
            ..WriteOptions::default()
        };
        let result: ApiResult<()> = match self.rest.get(&rt, Some(ns), &name) {
            Err(e) if e.code == 404 => self.rest.create(&rt, Some(ns), desired, &opts).map(|_| ()),
            Err(e) => Err(e),
            Ok(current) => {
                let differs = pointers
                    .iter()
                    .any(|p| current.pointer(p) != desired.pointer(p));
                if differs {
                    let mut fixed = current;
                    for p in pointers {
                        meta::set_pointer(&mut fixed, p, desired.pointer(p).cloned());
                    }
                    self.rest
                        .update(&rt, Some(ns), &name, Subresource::Main, fixed, &opts)
                        .map(|_| ())
                } else {
                    Ok(())
                }
            }
        };
        if let Err(e) = result {
            tracing::debug!(kind = %rt.kind, %ns, %name, error = %e.message, "not published");
        }
    }
}
