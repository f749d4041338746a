//! The ingress-nginx contract, and who owns what in the objects many guest
//! clusters share.
//!
//! ingress-nginx exposes TCP and UDP services through two ConfigMaps (its
//! `--tcp-services-configmap` and `--udp-services-configmap`): each key is
//! the port opened on the controller, each value
//! `<namespace>/<service>:<port>` of the Service traffic goes to. The
//! controller's own Service must open the same port. Here:
//! - a TCP mapping is an entry of the IngressConfig's `configMap`, a UDP one
//!   of the same name with `tcp` turned into `udp` (ingress-nginx's
//!   `tcp-services`/`udp-services` convention), or with `-udp` appended when
//!   the name has no `tcp`;
//! - the controller Service's port is named `<tcp|udp>-<lbPort>` (a valid
//!   IANA service name, unique per port and protocol), with `targetPort`
//!   equal to the port, as ingress-nginx listens on it;
//! - every guest cluster writes its entries and ports by server-side apply
//!   under a field manager of its own ([`field_manager`]), so the API
//!   server records which cluster owns each entry and port ([`owner`]),
//!   refuses a second cluster's apply of a taken one (409), and removes a
//!   cluster's entries when it stops applying them, touching nobody else's.

use apiextensions::core::ingress_config::{IngressConfigSpec, IngressController, Protocol};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ManagedFieldsEntry;
use serde_json::Value;

/// Prefix of every field manager of this operator: `<prefix><cluster id>`.
pub const MANAGER_PREFIX: &str = "ingress-operator.";

/// The most data a ConfigMap may hold: kube-apiserver refuses more
/// (`must have at most 1048576 bytes`).
pub const MAX_CONFIG_MAP_DATA: usize = 1024 * 1024;

/// One port of a guest cluster on the ingress controller.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mapping {
    /// Port opened on the controller.
    pub lb_port: i32,
    /// Transport protocol.
    pub protocol: Protocol,
    /// Port of the guest cluster's Service.
    pub ingress_port: i32,
    /// The entry's value: `<namespace>/<service>:<ingressPort>`.
    pub target: String,
}

impl Mapping {
    /// The entry's key: the port, in decimal.
    pub fn key(&self) -> String {
        self.lb_port.to_string()
    }

    /// The controller Service's port name: `tcp-31000`, `udp-31001`.
    pub fn port_name(&self) -> String {
        format!("{}-{}", protocol_name(self.protocol), self.lb_port)
    }

    /// The controller Service's port, as applied.
    pub fn service_port(&self) -> Value {
        serde_json::json!({
            "name": self.port_name(),
            "port": self.lb_port,
            "targetPort": self.lb_port,
            "protocol": protocol_upper(self.protocol),
        })
    }
}

fn protocol_name(p: Protocol) -> &'static str {
    match p {
        Protocol::Tcp => "tcp",
        Protocol::Udp => "udp",
    }
}

fn protocol_upper(p: Protocol) -> &'static str {
    match p {
        Protocol::Tcp => "TCP",
        Protocol::Udp => "UDP",
    }
}

/// The mappings an IngressConfig asks for, in its order.
pub fn mappings(spec: &IngressConfigSpec) -> Vec<Mapping> {
    let guest = &spec.guest_cluster;
    spec.protocol_ports
        .iter()
        .map(|p| Mapping {
            lb_port: p.lb_port,
            protocol: p.protocol,
            ingress_port: p.ingress_port,
            target: format!("{}/{}:{}", guest.namespace, guest.service, p.ingress_port),
        })
        .collect()
}

/// The services ConfigMap of `protocol` for `controller`.
pub fn config_map(controller: &IngressController, protocol: Protocol) -> String {
    let name = &controller.config_map;
    match protocol {
        Protocol::Tcp => name.clone(),
        Protocol::Udp if name.contains("tcp") => name.replacen("tcp", "udp", 1),
        Protocol::Udp => format!("{name}-udp"),
    }
}

/// The field manager a guest cluster's entries and ports are applied under.
pub fn field_manager(cluster_id: &str) -> String {
    format!("{MANAGER_PREFIX}{cluster_id}")
}

/// The guest cluster a field manager of this operator writes for.
pub fn cluster_of(manager: &str) -> Option<&str> {
    manager.strip_prefix(MANAGER_PREFIX)
}

/// Who owns a field, as `managedFields` tell.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Owner {
    /// Nobody: free to take.
    Nobody,
    /// A guest cluster, through this operator.
    Cluster(String),
    /// Someone else (a person's `kubectl edit`, another tool): the manager.
    Other(String),
}

impl std::fmt::Display for Owner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Owner::Nobody => write!(f, "nobody"),
            Owner::Cluster(c) => write!(f, "guest cluster {c}"),
            Owner::Other(m) => write!(f, "an entry nobody manages here (field manager {m:?})"),
        }
    }
}

/// Who owns the field at `path` (`["f:data", "f:31000"]`) in `managed`, other
/// than `except` (the asking cluster's own manager).
pub fn owner(managed: &[ManagedFieldsEntry], path: &[&str], except: &str) -> Owner {
    let owning = managed
        .iter()
        .filter(|m| m.manager.as_deref() != Some(except))
        .find(|m| {
            let mut node = m.fields_v1.as_ref().map(|f| &f.0);
            for step in path {
                node = node.and_then(|n| n.get(*step));
            }
            node.is_some()
        });
    match owning.and_then(|m| m.manager.clone()) {
        None => Owner::Nobody,
        Some(m) => match cluster_of(&m) {
            Some(c) => Owner::Cluster(c.to_owned()),
            None => Owner::Other(m),
        },
    }
}

/// `managedFields` path of a ConfigMap entry.
pub fn entry_path(key: &str) -> [String; 2] {
    ["f:data".to_owned(), format!("f:{key}")]
}

/// `managedFields` path of a Service port (ports are keyed by port and
/// protocol).
pub fn port_path(lb_port: i32, protocol: Protocol) -> [String; 3] {
    let key = serde_json::json!({"port": lb_port, "protocol": protocol_upper(protocol)});
    [
        "f:spec".to_owned(),
        "f:ports".to_owned(),
        format!("k:{key}"),
    ]
}

/// Whether `data` plus `added` (key, value) entries stays within
/// [`MAX_CONFIG_MAP_DATA`] (counted as kube-apiserver counts: keys and
/// values).
pub fn fits<'a>(
    data: impl IntoIterator<Item = (&'a String, &'a String)>,
    added: &[(String, String)],
) -> bool {
    let existing: usize = data.into_iter().map(|(k, v)| k.len() + v.len()).sum();
    let more: usize = added.iter().map(|(k, v)| k.len() + v.len()).sum();
    existing.saturating_add(more) <= MAX_CONFIG_MAP_DATA
}

#[cfg(test)]
mod tests {
    use super::*;
    use apiextensions::core::ingress_config::{GuestCluster, HostCluster, ProtocolPort};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::FieldsV1;
    use serde_json::json;

    fn spec() -> IngressConfigSpec {
        IngressConfigSpec {
            guest_cluster: GuestCluster {
                id: "abc12".into(),
                namespace: "abc12".into(),
                service: "worker".into(),
            },
            host_cluster: HostCluster {
                ingress_controller: IngressController {
                    config_map: "ingress-nginx-tcp-services".into(),
                    namespace: "ingress-nginx".into(),
                    service: "ingress-nginx-controller".into(),
                },
            },
            protocol_ports: vec![
                ProtocolPort {
                    ingress_port: 30010,
                    lb_port: 31000,
                    protocol: Protocol::Tcp,
                },
                ProtocolPort {
                    ingress_port: 30011,
                    lb_port: 31001,
                    protocol: Protocol::Udp,
                },
            ],
        }
    }

    #[test]
    fn entries_are_ingress_nginx_s_format() {
        let m = mappings(&spec());
        assert_eq!(
            (m[0].key(), m[0].target.as_str()),
            ("31000".to_owned(), "abc12/worker:30010")
        );
        assert_eq!(m[1].port_name(), "udp-31001");
        assert_eq!(
            m[0].service_port(),
            json!({"name": "tcp-31000", "port": 31000, "targetPort": 31000, "protocol": "TCP"})
        );
        let controller = &spec().host_cluster.ingress_controller;
        assert_eq!(
            config_map(controller, Protocol::Tcp),
            "ingress-nginx-tcp-services"
        );
        assert_eq!(
            config_map(controller, Protocol::Udp),
            "ingress-nginx-udp-services"
        );
        let plain = IngressController {
            config_map: "ports".into(),
            ..controller.clone()
        };
        assert_eq!(config_map(&plain, Protocol::Udp), "ports-udp");
    }

    #[test]
    fn owners_come_from_managed_fields() {
        let entry = |manager: &str, fields: Value| ManagedFieldsEntry {
            manager: Some(manager.into()),
            fields_v1: Some(FieldsV1(fields)),
            ..ManagedFieldsEntry::default()
        };
        let managed = vec![
            entry(&field_manager("abc12"), json!({"f:data": {"f:31000": {}}})),
            entry("kubectl-edit", json!({"f:data": {"f:8080": {}}})),
            entry(
                &field_manager("xyz89"),
                json!({"f:spec": {"f:ports": {"k:{\"port\":31002,\"protocol\":\"TCP\"}": {}}}}),
            ),
        ];
        fn path(p: &[String]) -> Vec<&str> {
            p.iter().map(String::as_str).collect()
        }
        let ours = field_manager("abc12");
        assert_eq!(
            owner(&managed, &path(&entry_path("31000")), &ours),
            Owner::Nobody
        );
        assert_eq!(
            owner(
                &managed,
                &path(&entry_path("31000")),
                &field_manager("other")
            ),
            Owner::Cluster("abc12".into())
        );
        assert_eq!(
            owner(&managed, &path(&entry_path("8080")), &ours),
            Owner::Other("kubectl-edit".into())
        );
        assert_eq!(
            owner(&managed, &path(&port_path(31002, Protocol::Tcp)), &ours),
            Owner::Cluster("xyz89".into())
        );
        assert_eq!(
            owner(&managed, &path(&port_path(31002, Protocol::Udp)), &ours),
            Owner::Nobody
        );
    }

    #[test]
    fn a_config_map_is_full_at_one_mebibyte() {
        let big = "x".repeat(MAX_CONFIG_MAP_DATA - 10);
        let data = [("a".to_owned(), big)];
        let refs = data.iter().map(|(k, v)| (k, v));
        assert!(fits(refs.clone(), &[("1".into(), "2".into())]));
        assert!(!fits(
            refs,
            &[("31000".into(), "abc12/worker:30010".into())]
        ));
    }
}
