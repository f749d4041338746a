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
//!   server records which cluster owns each entry and port ([`owners`]),
//!   refuses a second cluster's apply of a taken one (409), and removes a
//!   cluster's entries when it stops applying them, touching nobody else's;
//! - a field someone else holds is never taken ([`holder`]).

use apiextensions::core::ingress_config::{IngressConfigSpec, IngressController, Protocol};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ManagedFieldsEntry;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use std::collections::BTreeMap;

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

    /// The controller Service port's `targetPort`: the port itself,
    /// as ingress-nginx listens on it.
    pub fn target_port(&self) -> IntOrString {
        IntOrString::Int(self.lb_port)
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

/// A Service port's protocol (none is TCP); `None` for SCTP.
pub fn protocol_of(protocol: Option<&str>) -> Option<Protocol> {
    match protocol {
        None | Some("TCP") => Some(Protocol::Tcp),
        Some("UDP") => Some(Protocol::Udp),
        Some(_) => None,
    }
}

/// `TCP` or `UDP`.
pub fn protocol_upper(p: Protocol) -> &'static str {
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

/// Who holds a field another cluster wants, as `managedFields` tell.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Owner {
    /// A guest cluster, through this operator.
    Cluster(String),
    /// Someone else (a person's `kubectl edit`, another tool): the manager.
    Other(String),
    /// Nobody: the field is there, but no manager claims it (managedFields
    /// cleared by hand).
    Unmanaged,
}

impl std::fmt::Display for Owner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Owner::Cluster(c) => write!(f, "guest cluster {c}"),
            Owner::Other(m) => write!(f, "an entry nobody manages here (field manager {m:?})"),
            Owner::Unmanaged => write!(f, "an entry nobody manages (no field manager)"),
        }
    }
}

/// What owning a Service port means: the item itself (`.`) or a field a
/// mapping sets. A manager owning only another field of the item (someone
/// who set its `nodePort` by hand) does not hold the port.
const HOLDING: [&str; 5] = [".", "f:port", "f:protocol", "f:name", "f:targetPort"];

/// The managers that hold the field at `path` (`["f:data", "f:31000"]`, or
/// a Service port's `k:{...}`), in `managedFields` order.
pub fn owners<'a>(managed: &'a [ManagedFieldsEntry], path: &[&str]) -> Vec<&'a str> {
    managed
        .iter()
        .filter(|m| {
            let mut node = m.fields_v1.as_ref().map(|f| &f.0);
            for step in path {
                node = node.and_then(|n| n.get(*step));
            }
            node.is_some_and(|n| {
                n.as_object()
                    .is_none_or(|o| o.is_empty() || o.keys().any(|k| HOLDING.contains(&k.as_str())))
            })
        })
        .filter_map(|m| m.manager.as_deref())
        .collect()
}

/// Who keeps the field at `path` from `manager`, if anyone: `present` says
/// whether the field is set in the object (an entry or a port).
///
/// The rule: a field owned by anyone but `manager` is taken, except when
/// `manager` owns it too and every co-owner is a cluster of this operator
/// with a greater id (two clusters that applied the same value at once
/// both own it; the smaller id keeps it, the other withdraws). A field set
/// that nobody owns is taken as well.
pub fn holder(
    managed: &[ManagedFieldsEntry],
    path: &[&str],
    present: bool,
    manager: &str,
) -> Option<Owner> {
    let all = owners(managed, path);
    let ours = all.contains(&manager);
    let others: Vec<&str> = all.into_iter().filter(|m| *m != manager).collect();
    let Some(first) = others.first() else {
        return (present && !ours).then_some(Owner::Unmanaged);
    };
    let mine = cluster_of(manager).unwrap_or(manager);
    let outranked = others
        .iter()
        .any(|m| cluster_of(m).is_none_or(|c| c < mine));
    if ours && !outranked {
        return None;
    }
    let yielding_to = others
        .iter()
        .find(|m| cluster_of(m).is_none_or(|c| c < mine))
        .unwrap_or(first);
    Some(match cluster_of(yielding_to) {
        Some(c) => Owner::Cluster(c.to_owned()),
        None => Owner::Other((*yielding_to).to_owned()),
    })
}

/// An object's `managedFields` (none: empty).
pub fn managed<C: kube::Resource>(object: &C) -> &[ManagedFieldsEntry] {
    object.meta().managed_fields.as_deref().unwrap_or(&[])
}

/// The fields `manager` applied (its `Apply` entry), if any.
pub fn applied_by<'a>(managed: &'a [ManagedFieldsEntry], manager: &str) -> Option<&'a Value> {
    managed
        .iter()
        .find(|m| m.manager.as_deref() == Some(manager) && m.operation.as_deref() == Some("Apply"))
        .and_then(|m| m.fields_v1.as_ref())
        .map(|f| &f.0)
}

/// The ConfigMap keys `manager` applied.
pub fn applied_keys(managed: &[ManagedFieldsEntry], manager: &str) -> Vec<String> {
    applied_by(managed, manager)
        .map(keys_in)
        .unwrap_or_default()
}

/// The Service ports (port, protocol) `manager` applied.
pub fn applied_ports(managed: &[ManagedFieldsEntry], manager: &str) -> Vec<(i32, Protocol)> {
    applied_by(managed, manager)
        .map(ports_in)
        .unwrap_or_default()
}

/// The ConfigMap keys a manager's `fieldsV1` owns.
pub fn keys_in(fields: &Value) -> Vec<String> {
    fields
        .get("f:data")
        .and_then(Value::as_object)
        .map(|data| {
            data.keys()
                .filter_map(|k| k.strip_prefix("f:"))
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

/// The Service ports (port, protocol) a manager's `fieldsV1` owns.
pub fn ports_in(fields: &Value) -> Vec<(i32, Protocol)> {
    fields
        .pointer("/f:spec/f:ports")
        .and_then(Value::as_object)
        .map(|ports| ports.keys().filter_map(|k| port_of_key(k)).collect())
        .unwrap_or_default()
}

/// `k:{"port":31000,"protocol":"TCP"}` as (31000, TCP).
fn port_of_key(key: &str) -> Option<(i32, Protocol)> {
    let json: Value = serde_json::from_str(key.strip_prefix("k:")?).ok()?;
    let port = i32::try_from(json.get("port")?.as_i64()?).ok()?;
    let protocol = protocol_of(json.get("protocol").and_then(Value::as_str))?;
    Some((port, protocol))
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

/// Whether a ConfigMap holding `data` and `binary` bytes of binaryData
/// stays within [`MAX_CONFIG_MAP_DATA`] (counted as kube-apiserver counts:
/// the values, not the keys) once the keys `withdrawn` are gone and
/// `entries` are set.
pub fn fits(
    data: &BTreeMap<String, String>,
    binary: usize,
    withdrawn: &[String],
    entries: &BTreeMap<String, String>,
) -> bool {
    let kept: usize = data
        .iter()
        .filter(|(k, _)| !withdrawn.contains(k) && !entries.contains_key(*k))
        .map(|(_, v)| v.len())
        .sum();
    let added: usize = entries.values().map(String::len).sum();
    kept.saturating_add(added).saturating_add(binary) <= MAX_CONFIG_MAP_DATA
}

/// The most a whole object may take in etcd: kube-apiserver refuses a
/// larger one with `etcdserver: request is too large`. `managedFields`
/// count here: a thousand clusters' manager entries outweigh their entries.
pub const MAX_OBJECT_BYTES: usize = 1536 * 1024;

/// The ports ingress-nginx keeps for itself at its defaults (http, https,
/// ssl-proxy, health, default backend, profiler, status, stream): it
/// ignores TCP and UDP services on them ("It is reserved for the Ingress
/// controller").
pub const RESERVED_PORTS: [i32; 8] = [80, 443, 442, 10254, 8181, 10245, 10246, 10247];

/// `managedFields` of `Apply` entries (manager, fieldsV1), for tests.
#[cfg(test)]
pub(crate) fn applied_entries(entries: Vec<(&str, Value)>) -> Vec<ManagedFieldsEntry> {
    entries
        .into_iter()
        .map(|(m, f)| ManagedFieldsEntry {
            manager: Some(m.into()),
            operation: Some("Apply".into()),
            fields_v1: Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::FieldsV1(f)),
            ..ManagedFieldsEntry::default()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use apiextensions::core::ingress_config::{GuestCluster, HostCluster, ProtocolPort};
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

    fn entry(manager: &str, fields: Value) -> ManagedFieldsEntry {
        applied_entries(vec![(manager, fields)]).remove(0)
    }

    fn path(p: &[String]) -> Vec<&str> {
        p.iter().map(String::as_str).collect()
    }

    #[test]
    fn holders_come_from_managed_fields() {
        let managed = vec![
            entry(&field_manager("abc12"), json!({"f:data": {"f:31000": {}}})),
            entry("kubectl-edit", json!({"f:data": {"f:8080": {}}})),
            entry(
                &field_manager("xyz89"),
                json!({"f:spec": {"f:ports": {"k:{\"port\":31002,\"protocol\":\"TCP\"}": {}}}}),
            ),
        ];
        let ours = field_manager("abc12");
        let held = |p: &[String], present, by: &str| holder(&managed, &path(p), present, by);
        assert_eq!(held(&entry_path("31000"), true, &ours), None);
        assert_eq!(
            held(&entry_path("31000"), true, &field_manager("other")),
            Some(Owner::Cluster("abc12".into()))
        );
        assert_eq!(
            held(&entry_path("8080"), true, &ours),
            Some(Owner::Other("kubectl-edit".into()))
        );
        assert_eq!(
            held(&port_path(31002, Protocol::Tcp), true, &ours),
            Some(Owner::Cluster("xyz89".into()))
        );
        assert_eq!(held(&port_path(31002, Protocol::Udp), false, &ours), None);
        // Set, but nobody claims it: taken all the same.
        assert_eq!(
            held(&entry_path("9999"), true, &ours),
            Some(Owner::Unmanaged)
        );
        assert_eq!(applied_keys(&managed, &ours), vec!["31000".to_owned()]);
        assert_eq!(
            applied_ports(&managed, &field_manager("xyz89")),
            vec![(31002, Protocol::Tcp)]
        );
    }

    #[test]
    fn a_node_port_set_by_hand_does_not_hold_the_port() {
        let key = format!("k:{}", json!({"port": 31000, "protocol": "TCP"}));
        let managed = vec![
            entry(
                &field_manager("abc12"),
                json!({"f:spec": {"f:ports": {&key: {".": {}, "f:name": {}, "f:port": {}}}}}),
            ),
            entry(
                "kubectl-edit",
                json!({"f:spec": {"f:ports": {&key: {"f:nodePort": {}}}}}),
            ),
        ];
        let p = port_path(31000, Protocol::Tcp);
        assert_eq!(
            owners(&managed, &path(&p)),
            vec![field_manager("abc12").as_str()]
        );
        assert_eq!(
            holder(&managed, &path(&p), true, &field_manager("abc12")),
            None
        );
    }

    #[test]
    fn co_owners_yield_to_the_smaller_cluster_id() {
        let both = json!({"f:data": {"f:31000": {}}});
        let managed = vec![
            entry(&field_manager("bbb22"), both.clone()),
            entry(&field_manager("aaa11"), both.clone()),
        ];
        let p = entry_path("31000");
        assert_eq!(
            holder(&managed, &path(&p), true, &field_manager("aaa11")),
            None
        );
        assert_eq!(
            holder(&managed, &path(&p), true, &field_manager("bbb22")),
            Some(Owner::Cluster("aaa11".into()))
        );
        // Shared with someone who is not a cluster: the cluster yields.
        let shared = vec![
            entry(&field_manager("aaa11"), both.clone()),
            entry("helm", both),
        ];
        assert_eq!(
            holder(&shared, &path(&p), true, &field_manager("aaa11")),
            Some(Owner::Other("helm".into()))
        );
    }

    #[test]
    fn a_config_map_is_full_at_one_mebibyte_of_values() {
        let big = "x".repeat(MAX_CONFIG_MAP_DATA - 10);
        let data: BTreeMap<String, String> = [("a".to_owned(), big)].into();
        let small: BTreeMap<String, String> = [("1".to_owned(), "2".to_owned())].into();
        let entry: BTreeMap<String, String> =
            [("31000".to_owned(), "abc12/worker:30010".to_owned())].into();
        assert!(fits(&data, 0, &[], &small));
        assert!(!fits(&data, 0, &[], &entry));
        assert!(!fits(&data, 10, &[], &small), "binaryData counts too");
        // Keys do not count.
        let long_key: BTreeMap<String, String> = [("k".repeat(100), "2".to_owned())].into();
        assert!(fits(&data, 0, &[], &long_key));
        // Replacing or withdrawing entries frees their room.
        assert!(fits(&data, 0, &["a".to_owned()], &entry));
    }
}
