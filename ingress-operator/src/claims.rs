//! What each IngressConfig asked of the shared host objects at its last
//! loop, so that a change of a ConfigMap or of the Service brings back
//! exactly the IngressConfigs it concerns: those whose entries or ports are
//! not, or no longer, as asked (taken by hand, removed by someone, freed by
//! the cluster that held them, or an object that appeared). A thousand
//! guest clusters share one ConfigMap: one cluster's write must not wake
//! the 999 others.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex, PoisonError};

use apiextensions::IngressConfig;
use apiextensions::core::ingress_config::Protocol;
use k8s_openapi::api::core::v1::{ConfigMap, Service};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ManagedFieldsEntry;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::ResourceExt;
use kube::runtime::reflector::ObjectRef;
use serde_json::Value;

use crate::nginx;

/// What one IngressConfig asks of the host objects.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Claim {
    /// Namespace of the ingress controller's objects.
    pub namespace: String,
    /// The field manager its entries and ports are applied under.
    pub manager: String,
    /// Entries asked for, by ConfigMap name (key → value).
    pub config_maps: BTreeMap<String, BTreeMap<String, String>>,
    /// The controller Service's name.
    pub service: String,
    /// Ports asked for on it: (port, protocol) → port name.
    pub ports: BTreeMap<(i32, Protocol), String>,
}

/// The claims of every IngressConfig this process reconciles.
#[derive(Clone, Default)]
pub struct Claims {
    inner: Arc<Mutex<HashMap<ObjectRef<IngressConfig>, Claim>>>,
}

impl Claims {
    /// Records what `config` asks for now.
    pub fn claim(&self, config: ObjectRef<IngressConfig>, claim: Claim) {
        self.lock().insert(config, claim);
    }

    /// Forgets `config` (its deletion is done).
    pub fn release(&self, config: &ObjectRef<IngressConfig>) {
        self.lock().remove(config);
    }

    /// The IngressConfigs whose claims on this ConfigMap are not met.
    pub fn unmet_in_config_map(&self, cm: &ConfigMap) -> Vec<ObjectRef<IngressConfig>> {
        let (namespace, name) = (cm.namespace().unwrap_or_default(), cm.name_any());
        let applied = by_manager(cm.metadata.managed_fields.as_deref());
        let data = cm.data.as_ref();
        let empty = BTreeMap::new();
        self.unmet(&namespace, |claim| {
            let wanted = claim.config_maps.get(&name).unwrap_or(&empty);
            let keys: BTreeSet<String> = applied
                .get(claim.manager.as_str())
                .map(|f| nginx::keys_in(f).into_iter().collect())
                .unwrap_or_default();
            let as_asked = wanted
                .iter()
                .all(|(k, v)| data.and_then(|d| d.get(k)) == Some(v));
            keys.len() == wanted.len() && wanted.keys().all(|k| keys.contains(k)) && as_asked
        })
    }

    /// The IngressConfigs whose claims on this Service are not met.
    pub fn unmet_in_service(&self, service: &Service) -> Vec<ObjectRef<IngressConfig>> {
        let (namespace, name) = (service.namespace().unwrap_or_default(), service.name_any());
        let applied = by_manager(service.metadata.managed_fields.as_deref());
        // (port, protocol) → whether name and targetPort are as a mapping
        // writes them; SCTP ports are nobody's here.
        let present: BTreeMap<(i32, Protocol), (Option<&str>, bool)> = service
            .spec
            .iter()
            .flat_map(|s| s.ports.iter().flatten())
            .filter_map(|p| {
                let protocol = nginx::protocol_of(p.protocol.as_deref())?;
                let target_as_port = p.target_port == Some(IntOrString::Int(p.port));
                Some(((p.port, protocol), (p.name.as_deref(), target_as_port)))
            })
            .collect();
        let empty = BTreeMap::new();
        self.unmet(&namespace, |claim| {
            let wanted = if claim.service == name {
                &claim.ports
            } else {
                &empty
            };
            // Looked up in the per-event map: scanning every manager for
            // every claim would cost managers x claims per event.
            let ports: BTreeSet<(i32, Protocol)> = applied
                .get(claim.manager.as_str())
                .map(|f| nginx::ports_in(f).into_iter().collect())
                .unwrap_or_default();
            ports.len() == wanted.len()
                && wanted.iter().all(|(port, port_name)| {
                    ports.contains(port)
                        && present.get(port) == Some(&(Some(port_name.as_str()), true))
                })
        })
    }

    fn unmet(
        &self,
        namespace: &str,
        met: impl Fn(&Claim) -> bool,
    ) -> Vec<ObjectRef<IngressConfig>> {
        self.lock()
            .iter()
            .filter(|(_, claim)| claim.namespace == namespace && !met(claim))
            .map(|(config, _)| config.clone())
            .collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<ObjectRef<IngressConfig>, Claim>> {
        // Plain data: usable after a panic elsewhere.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Each manager's applied fields, looked up once per event instead of once
/// per claim.
fn by_manager(managed: Option<&[ManagedFieldsEntry]>) -> HashMap<&str, &Value> {
    managed
        .unwrap_or(&[])
        .iter()
        .filter(|m| m.operation.as_deref() == Some("Apply"))
        .filter_map(|m| Some((m.manager.as_deref()?, &m.fields_v1.as_ref()?.0)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{ServicePort, ServiceSpec};
    use kube::api::ObjectMeta;
    use serde_json::json;

    fn claim(cluster: &str, key: &str, value: &str) -> Claim {
        Claim {
            namespace: "ingress".into(),
            manager: nginx::field_manager(cluster),
            config_maps: [(
                "tcp".to_owned(),
                [(key.to_owned(), value.to_owned())].into(),
            )]
            .into(),
            service: "ctl".into(),
            ports: [(
                (key.parse().unwrap_or(0), Protocol::Tcp),
                format!("tcp-{key}"),
            )]
            .into(),
        }
    }

    fn meta(name: &str, managed: Vec<(&str, Value)>) -> ObjectMeta {
        ObjectMeta {
            name: Some(name.into()),
            namespace: Some("ingress".into()),
            managed_fields: Some(nginx::applied_entries(managed)),
            ..ObjectMeta::default()
        }
    }

    fn claims() -> (Claims, ObjectRef<IngressConfig>, ObjectRef<IngressConfig>) {
        let claims = Claims::default();
        let (a, b) = (
            ObjectRef::new("a").within("x"),
            ObjectRef::new("b").within("x"),
        );
        claims.claim(a.clone(), claim("aaa11", "31000", "a/w:1"));
        claims.claim(b.clone(), claim("bbb22", "31001", "b/w:1"));
        (claims, a, b)
    }

    #[test]
    fn a_config_map_wakes_only_the_configs_it_does_not_satisfy() {
        let (claims, a, b) = claims();
        let cm = ConfigMap {
            metadata: meta(
                "tcp",
                vec![(
                    &nginx::field_manager("aaa11"),
                    json!({"f:data": {"f:31000": {}}}),
                )],
            ),
            data: Some([("31000".to_owned(), "a/w:1".to_owned())].into()),
            ..ConfigMap::default()
        };
        assert_eq!(claims.unmet_in_config_map(&cm), vec![b.clone()]);
        // Someone edited a's entry: a is back too.
        let mut edited = cm.clone();
        edited.data = Some([("31000".to_owned(), "evil/x:1".to_owned())].into());
        let mut woken = claims.unmet_in_config_map(&edited);
        woken.sort_by_key(|r| r.name.clone());
        assert_eq!(woken, vec![a.clone(), b.clone()]);
        // Another namespace's ConfigMap of the same name: nobody.
        let mut elsewhere = cm;
        elsewhere.metadata.namespace = Some("other".into());
        assert!(claims.unmet_in_config_map(&elsewhere).is_empty());
        claims.release(&b);
        claims.release(&a);
        assert!(claims.unmet_in_config_map(&edited).is_empty());
    }

    #[test]
    fn a_service_wakes_the_configs_whose_ports_are_missing_or_renamed() {
        let (claims, a, b) = claims();
        let port = |p: i32, name: &str| ServicePort {
            name: Some(name.into()),
            port: p,
            protocol: Some("TCP".into()),
            target_port: Some(IntOrString::Int(p)),
            ..ServicePort::default()
        };
        let key = |p: i32| format!("k:{}", json!({"port": p, "protocol": "TCP"}));
        let mut service = Service {
            metadata: meta(
                "ctl",
                vec![
                    (
                        &nginx::field_manager("aaa11"),
                        json!({"f:spec": {"f:ports": {key(31000): {}}}}),
                    ),
                    (
                        &nginx::field_manager("bbb22"),
                        json!({"f:spec": {"f:ports": {key(31001): {}}}}),
                    ),
                ],
            ),
            spec: Some(ServiceSpec {
                ports: Some(vec![port(31000, "tcp-31000"), port(31001, "tcp-31001")]),
                ..ServiceSpec::default()
            }),
            ..Service::default()
        };
        assert!(claims.unmet_in_service(&service).is_empty());
        if let Some(ports) = service.spec.as_mut().and_then(|s| s.ports.as_mut()) {
            ports[0].name = Some("renamed".into());
        }
        assert_eq!(claims.unmet_in_service(&service), vec![a.clone()]);
        if let Some(ports) = service.spec.as_mut().and_then(|s| s.ports.as_mut()) {
            ports[0].name = Some("tcp-31000".into());
            ports[0].target_port = Some(IntOrString::Int(8080));
        }
        assert_eq!(
            claims.unmet_in_service(&service),
            vec![a],
            "targetPort edited"
        );
        service.metadata.managed_fields = None;
        let mut woken = claims.unmet_in_service(&service);
        woken.sort_by_key(|r| r.name.clone());
        assert_eq!(woken.len(), 2);
        assert_eq!(woken[1], b);
    }
}
