//! What one loop writes, decided from the host objects as they are: which
//! of an IngressConfig's ports it may serve (nobody else holds them), which
//! ConfigMaps and which Service need an apply for that (only those that
//! differ from what this cluster applied before: a steady state writes
//! nothing), and whether a ConfigMap would overflow. Pure: no API calls.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use apiextensions::core::ingress_config::{IngressController, Protocol};
use k8s_openapi::api::core::v1::{ConfigMap, Service};
use kube::ResourceExt;
use serde_json::Value;

use crate::nginx::{self, Mapping, Owner};

/// The host objects of one IngressConfig, as read.
#[derive(Clone, Debug, Default)]
pub struct Host {
    /// The TCP and UDP services ConfigMaps the spec names, by name; `None`
    /// when absent.
    pub config_maps: BTreeMap<String, Option<Arc<ConfigMap>>>,
    /// The controller Service the spec names.
    pub service: (String, Option<Arc<Service>>),
    /// Other ConfigMaps and Services of the namespace this cluster applied
    /// something to (the spec named them before).
    pub stale_config_maps: Vec<Arc<ConfigMap>>,
    /// See `stale_config_maps`.
    pub stale_services: Vec<Arc<Service>>,
}

/// One apply of a shared object: this cluster's whole set there after it
/// (`set`), and before it (`before`, to put back if a later apply of the
/// same loop is refused as too large: nothing partial).
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Apply<T> {
    /// The object's name.
    pub name: String,
    /// This cluster's entries (or ports) after the apply.
    pub set: T,
    /// This cluster's entries (or ports) before it.
    pub before: T,
}

/// What a loop does.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Plan {
    /// The ports served after the writes, in spec order.
    pub served: Vec<Mapping>,
    /// The ports someone else holds, with who.
    pub conflicts: Vec<(Mapping, Owner)>,
    /// Objects the spec needs that do not exist (`ConfigMap x`,
    /// `Service y`): nothing is added then, only withdrawn.
    pub missing: Vec<String>,
    /// An object that would exceed its size limit: nothing is written.
    pub full: Option<String>,
    /// ConfigMap applies (entries: key → value).
    pub config_maps: Vec<Apply<BTreeMap<String, String>>>,
    /// Service applies (ports, as applied).
    pub services: Vec<Apply<Vec<Value>>>,
}

impl Plan {
    /// Whether the plan writes nothing.
    pub fn is_quiet(&self) -> bool {
        self.config_maps.is_empty() && self.services.is_empty()
    }

    fn full(name: &str) -> Self {
        Self {
            full: Some(name.to_owned()),
            ..Self::default()
        }
    }
}

/// The plan for `wanted` (an IngressConfig's mappings, in spec order) of
/// the cluster applying as `manager`; `wanted` empty withdraws everything
/// (deletion). While an object the spec needs is missing, nothing is added
/// (an apply would create it), but what is no longer wanted is withdrawn.
pub fn plan(
    controller: &IngressController,
    host: &Host,
    wanted: &[Mapping],
    manager: &str,
) -> Plan {
    let mut plan = Plan {
        missing: missing(controller, host, wanted),
        ..Plan::default()
    };
    let service = host.service.1.as_deref();
    for m in wanted {
        let cm = host
            .config_maps
            .get(&nginx::config_map(controller, m.protocol))
            .and_then(Option::as_deref);
        if !plan.missing.is_empty() {
            if already_applied(cm, service, m, manager) {
                plan.served.push(m.clone());
            }
            continue;
        }
        match entry_holder(cm, m, manager).or_else(|| port_holder(service, m, manager)) {
            Some(owner) => plan.conflicts.push((m.clone(), owner)),
            None => plan.served.push(m.clone()),
        }
    }
    for (name, cm) in &host.config_maps {
        let Some(cm) = cm else { continue };
        let entries: BTreeMap<String, String> = plan
            .served
            .iter()
            .filter(|m| &nginx::config_map(controller, m.protocol) == name)
            .map(|m| (m.key(), m.target.clone()))
            .collect();
        if entries_as_applied(cm, &entries, manager) {
            continue;
        }
        if !room_for(cm, &entries, manager) {
            return Plan::full(name);
        }
        plan.config_maps.push(Apply {
            name: name.clone(),
            before: applied_entries(cm, manager),
            set: entries,
        });
    }
    if let (name, Some(service)) = &host.service
        && !ports_as_applied(service, &plan.served, manager)
    {
        let ports: Vec<Value> = plan.served.iter().map(Mapping::service_port).collect();
        if !object_room(service, &ports) {
            return Plan::full(name);
        }
        plan.services.push(Apply {
            name: name.clone(),
            before: applied_service_ports(service, manager),
            set: ports,
        });
    }
    for cm in &host.stale_config_maps {
        plan.config_maps.push(Apply {
            name: cm.name_any(),
            before: applied_entries(cm, manager),
            set: BTreeMap::new(),
        });
    }
    for service in &host.stale_services {
        plan.services.push(Apply {
            name: service.name_any(),
            before: applied_service_ports(service, manager),
            set: Vec::new(),
        });
    }
    plan
}

/// Whether `m` is in place as this cluster applied it (entry and port).
fn already_applied(
    cm: Option<&ConfigMap>,
    service: Option<&Service>,
    m: &Mapping,
    manager: &str,
) -> bool {
    let entry = cm.is_some_and(|cm| applied_entries(cm, manager).get(&m.key()) == Some(&m.target));
    let port =
        service.is_some_and(|s| applied_service_ports(s, manager).contains(&m.service_port()));
    entry && port
}

/// This cluster's applied entries of `cm`, with their values now.
fn applied_entries(cm: &ConfigMap, manager: &str) -> BTreeMap<String, String> {
    let managed = nginx::managed(cm);
    let data = cm.data.as_ref();
    nginx::applied_keys(managed, manager)
        .into_iter()
        .filter_map(|k| Some((k.clone(), data?.get(&k)?.clone())))
        .collect()
}

/// This cluster's applied ports of `service`, as applied (name, port,
/// targetPort, protocol of each, as they are now).
fn applied_service_ports(service: &Service, manager: &str) -> Vec<Value> {
    let managed = nginx::managed(service);
    nginx::applied_ports(managed, manager)
        .into_iter()
        .filter_map(|(port, protocol)| service_port(service, port, protocol))
        .map(|p| {
            let mut v = serde_json::json!({
                "name": p.name,
                "port": p.port,
                "protocol": p.protocol.clone().unwrap_or_else(|| "TCP".to_owned()),
            });
            if let Some(target) = &p.target_port {
                v["targetPort"] = serde_json::to_value(target).unwrap_or(Value::Null);
            }
            v
        })
        .collect()
}

/// Whether `service` stays within the API server's object size once
/// `ports` are in it (a rough upper bound: each port's JSON three times,
/// for the port, its managedFields entry and slack).
fn object_room(service: &Service, ports: &[Value]) -> bool {
    let now = serde_json::to_vec(service).map_or(usize::MAX, |v| v.len());
    let added: usize = ports.iter().map(|p| 3 * p.to_string().len()).sum();
    now.saturating_add(added) <= nginx::MAX_OBJECT_BYTES
}

/// The objects `wanted` needs that are absent.
fn missing(controller: &IngressController, host: &Host, wanted: &[Mapping]) -> Vec<String> {
    let protocols: BTreeSet<Protocol> = wanted.iter().map(|m| m.protocol).collect();
    let mut missing: Vec<String> = protocols
        .into_iter()
        .map(|p| nginx::config_map(controller, p))
        .filter(|name| !matches!(host.config_maps.get(name), Some(Some(_))))
        .map(|name| format!("ConfigMap {}/{name}", controller.namespace))
        .collect();
    if !wanted.is_empty() && host.service.1.is_none() {
        missing.push(format!(
            "Service {}/{}",
            controller.namespace, host.service.0
        ));
    }
    missing
}

/// Who holds the ConfigMap entry of `m`, if not this cluster. An entry
/// that is there and owned by nobody is held too, whatever it says: it is
/// not this cluster's to take (nor, later, to remove).
fn entry_holder(cm: Option<&ConfigMap>, m: &Mapping, manager: &str) -> Option<Owner> {
    let cm = cm?;
    let key = m.key();
    let present = cm.data.as_ref().is_some_and(|d| d.contains_key(&key));
    let managed = nginx::managed(cm);
    let path = nginx::entry_path(&key);
    nginx::holder(managed, &[&path[0], &path[1]], present, manager)
}

/// Who holds the Service port of `m`, if not this cluster.
fn port_holder(service: Option<&Service>, m: &Mapping, manager: &str) -> Option<Owner> {
    let service = service?;
    let present = service_port(service, m.lb_port, m.protocol).is_some();
    let managed = nginx::managed(service);
    let path = nginx::port_path(m.lb_port, m.protocol);
    nginx::holder(managed, &[&path[0], &path[1], &path[2]], present, manager)
}

fn service_port(
    service: &Service,
    port: i32,
    protocol: Protocol,
) -> Option<&k8s_openapi::api::core::v1::ServicePort> {
    service
        .spec
        .as_ref()?
        .ports
        .as_ref()?
        .iter()
        .find(|p| p.port == port && nginx::protocol_of(p.protocol.as_deref()) == Some(protocol))
}

/// Whether this cluster's applied entries of `cm` are exactly `entries`.
fn entries_as_applied(cm: &ConfigMap, entries: &BTreeMap<String, String>, manager: &str) -> bool {
    let managed = nginx::managed(cm);
    let applied: BTreeSet<String> = nginx::applied_keys(managed, manager).into_iter().collect();
    applied.len() == entries.len()
        && entries
            .iter()
            .all(|(k, v)| applied.contains(k) && cm.data.as_ref().and_then(|d| d.get(k)) == Some(v))
}

/// Whether `cm` has room for `entries` once this cluster's others are gone:
/// always when nothing is added (a withdrawal is never refused), else
/// within the data limit and, roughly, the whole object's.
fn room_for(cm: &ConfigMap, entries: &BTreeMap<String, String>, manager: &str) -> bool {
    let data = cm.data.clone().unwrap_or_default();
    let added: Vec<(&String, &String)> = entries
        .iter()
        .filter(|(k, v)| data.get(*k) != Some(*v))
        .collect();
    if added.is_empty() {
        return true;
    }
    let managed = nginx::managed(cm);
    let withdrawn: Vec<String> = nginx::applied_keys(managed, manager)
        .into_iter()
        .filter(|k| !entries.contains_key(k))
        .collect();
    let binary: usize = cm
        .binary_data
        .iter()
        .flatten()
        .map(|(_, v)| v.0.len())
        .sum();
    let now = serde_json::to_vec(cm).map_or(usize::MAX, |v| v.len());
    // Key and value, and the key again in managedFields, with slack.
    let more: usize = added.iter().map(|(k, v)| 2 * k.len() + v.len() + 16).sum();
    nginx::fits(&data, binary, &withdrawn, entries)
        && now.saturating_add(more) <= nginx::MAX_OBJECT_BYTES
}

/// Whether this cluster's applied ports of `service` are exactly those of
/// `served`, as it would write them.
fn ports_as_applied(service: &Service, served: &[Mapping], manager: &str) -> bool {
    let managed = nginx::managed(service);
    let applied: BTreeSet<(i32, Protocol)> =
        nginx::applied_ports(managed, manager).into_iter().collect();
    applied.len() == served.len()
        && served.iter().all(|m| {
            applied.contains(&(m.lb_port, m.protocol))
                && service_port(service, m.lb_port, m.protocol).is_some_and(|p| {
                    p.name.as_deref() == Some(m.port_name().as_str())
                        && p.target_port == Some(m.target_port())
                })
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use apiextensions::core::ingress_config::IngressController;
    use k8s_openapi::api::core::v1::{ServicePort, ServiceSpec};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ManagedFieldsEntry;
    use kube::api::ObjectMeta;
    use serde_json::{Value, json};

    fn controller() -> IngressController {
        IngressController {
            config_map: "tcp-services".into(),
            namespace: "ingress".into(),
            service: "ctl".into(),
        }
    }

    fn mapping(port: i32, protocol: Protocol, target: &str) -> Mapping {
        Mapping {
            lb_port: port,
            protocol,
            ingress_port: 30000,
            target: target.into(),
        }
    }

    fn managed(entries: Vec<(&str, Value)>) -> Option<Vec<ManagedFieldsEntry>> {
        Some(nginx::applied_entries(entries))
    }

    fn cm(name: &str, data: &[(&str, &str)], owners: Vec<(&str, Value)>) -> Arc<ConfigMap> {
        Arc::new(ConfigMap {
            metadata: ObjectMeta {
                name: Some(name.into()),
                managed_fields: managed(owners),
                ..ObjectMeta::default()
            },
            data: Some(
                data.iter()
                    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                    .collect(),
            ),
            ..ConfigMap::default()
        })
    }

    fn service(ports: &[(i32, &str)], owners: Vec<(&str, Value)>) -> Arc<Service> {
        Arc::new(Service {
            metadata: ObjectMeta {
                name: Some("ctl".into()),
                managed_fields: managed(owners),
                ..ObjectMeta::default()
            },
            spec: Some(ServiceSpec {
                ports: Some(
                    ports
                        .iter()
                        .map(|(p, name)| ServicePort {
                            name: Some((*name).into()),
                            port: *p,
                            protocol: Some("TCP".into()),
                            target_port: Some(
                                k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::Int(*p),
                            ),
                            ..ServicePort::default()
                        })
                        .collect(),
                ),
                ..ServiceSpec::default()
            }),
            ..Service::default()
        })
    }

    fn host(cms: Vec<Arc<ConfigMap>>, svc: Option<Arc<Service>>) -> Host {
        let mut config_maps: BTreeMap<String, Option<Arc<ConfigMap>>> = [
            ("tcp-services".to_owned(), None),
            ("udp-services".to_owned(), None),
        ]
        .into();
        for c in cms {
            config_maps.insert(c.name_any(), Some(c));
        }
        Host {
            config_maps,
            service: ("ctl".into(), svc),
            ..Host::default()
        }
    }

    const A: &str = "ingress-operator.aaa11";

    #[test]
    fn a_new_cluster_applies_its_entries_and_ports_once() {
        let h = host(
            vec![cm(
                "tcp-services",
                &[("80", "web/x:80")],
                vec![("helm", json!({"f:data": {"f:80": {}}}))],
            )],
            Some(service(&[(80, "http")], vec![])),
        );
        let wanted = [mapping(31000, Protocol::Tcp, "a/w:30000")];
        let p = plan(&controller(), &h, &wanted, A);
        assert_eq!(p.served, wanted);
        let entry: BTreeMap<String, String> = [("31000".to_owned(), "a/w:30000".to_owned())].into();
        assert_eq!(
            p.config_maps,
            vec![Apply {
                name: "tcp-services".to_owned(),
                set: entry.clone(),
                before: BTreeMap::new(),
            }]
        );
        let port = wanted[0].service_port();
        assert_eq!(
            p.services,
            vec![Apply {
                name: "ctl".to_owned(),
                set: vec![port.clone()],
                before: vec![],
            }]
        );
        // As applied: nothing to write.
        let key = format!("k:{}", json!({"port": 31000, "protocol": "TCP"}));
        let applied = host(
            vec![cm(
                "tcp-services",
                &[("80", "web/x:80"), ("31000", "a/w:30000")],
                vec![(A, json!({"f:data": {"f:31000": {}}}))],
            )],
            Some(service(
                &[(80, "http"), (31000, "tcp-31000")],
                vec![(A, json!({"f:spec": {"f:ports": {key: {}}}}))],
            )),
        );
        let quiet = plan(&controller(), &applied, &wanted, A);
        assert!(quiet.is_quiet(), "{quiet:?}");
        assert_eq!(quiet.served, wanted);
        // Withdrawing (deletion): an empty apply to each.
        let gone = plan(&controller(), &applied, &[], A);
        assert_eq!(
            gone.config_maps,
            vec![Apply {
                name: "tcp-services".to_owned(),
                set: BTreeMap::new(),
                before: entry,
            }]
        );
        assert_eq!(
            gone.services,
            vec![Apply {
                name: "ctl".to_owned(),
                set: vec![],
                before: vec![port],
            }]
        );
        // An unmanaged entry saying exactly what this cluster would write is
        // not taken either.
        let unmanaged = host(
            vec![cm("tcp-services", &[("31000", "a/w:30000")], vec![])],
            Some(service(&[], vec![])),
        );
        let p = plan(&controller(), &unmanaged, &wanted, A);
        assert_eq!(p.conflicts, vec![(wanted[0].clone(), Owner::Unmanaged)]);
    }

    #[test]
    fn held_ports_are_refused_and_the_others_served() {
        let h = host(
            vec![cm(
                "tcp-services",
                &[("31000", "b/w:30000"), ("8080", "web/x:80")],
                vec![
                    ("ingress-operator.bbb22", json!({"f:data": {"f:31000": {}}})),
                    ("kubectl-edit", json!({"f:data": {"f:8080": {}}})),
                ],
            )],
            Some(service(&[], vec![])),
        );
        let wanted = [
            mapping(31000, Protocol::Tcp, "a/w:30000"),
            mapping(8080, Protocol::Tcp, "a/w:30001"),
            mapping(31001, Protocol::Tcp, "a/w:30002"),
        ];
        let p = plan(&controller(), &h, &wanted, A);
        assert_eq!(p.served, vec![wanted[2].clone()]);
        assert_eq!(
            p.conflicts,
            vec![
                (wanted[0].clone(), Owner::Cluster("bbb22".into())),
                (wanted[1].clone(), Owner::Other("kubectl-edit".into())),
            ]
        );
        assert_eq!(p.config_maps[0].set.len(), 1);
    }

    #[test]
    fn missing_objects_add_nothing_and_full_config_maps_write_nothing() {
        let wanted = [
            mapping(31000, Protocol::Tcp, "a/w:30000"),
            mapping(31001, Protocol::Udp, "a/w:30001"),
        ];
        let h = host(vec![cm("tcp-services", &[], vec![])], None);
        let p = plan(&controller(), &h, &wanted, A);
        assert_eq!(
            p.missing,
            vec![
                "ConfigMap ingress/udp-services".to_owned(),
                "Service ingress/ctl".to_owned()
            ]
        );
        assert!(p.is_quiet());
        // Missing, yet what is no longer wanted is withdrawn.
        let key = format!("k:{}", json!({"port": 31005, "protocol": "TCP"}));
        let mut was = host(
            vec![cm(
                "tcp-services",
                &[("31005", "a/w:1")],
                vec![(A, json!({"f:data": {"f:31005": {}}}))],
            )],
            Some(service(
                &[(31005, "tcp-31005")],
                vec![(A, json!({"f:spec": {"f:ports": {key: {}}}}))],
            )),
        );
        was.service.1 = None;
        let p = plan(&controller(), &was, &wanted, A);
        assert!(p.served.is_empty());
        assert_eq!(p.config_maps.len(), 1);
        assert!(p.config_maps[0].set.is_empty());
        // 5 bytes left: not enough for `a/w:30000`.
        let big = "x".repeat(nginx::MAX_CONFIG_MAP_DATA - 5);
        let full = host(
            vec![
                cm("tcp-services", &[("a", &big)], vec![]),
                cm("udp-services", &[], vec![]),
            ],
            Some(service(&[], vec![])),
        );
        let p = plan(&controller(), &full, &wanted, A);
        assert_eq!(p.full.as_deref(), Some("tcp-services"));
        assert!(p.is_quiet());
    }
}
