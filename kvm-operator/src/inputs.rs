//! What kvm-operator asks the other operators for (pure): one CertConfig
//! per component, the FlannelConfig and the IngressConfig of a guest
//! cluster, each labelled with the cluster and with the version of the
//! operator that should reconcile it. They are kept by operatorkit's
//! `children` steps (owner-referenced to the KVMConfig, applied when they
//! drift, deleted last); [`crate::readiness`] reads whether they have been served.
//!
//! Names: CertConfig `<id>-<component>` (cert-operator's Secret has the
//! same name), FlannelConfig and IngressConfig `<id>`.

use std::collections::BTreeMap;

use apiextensions::certificates::{self, Component};
use apiextensions::core::flannel_config::BridgeSpec;
use apiextensions::core::ingress_config::{
    GuestCluster, HostCluster, IngressController, Protocol, ProtocolPort,
};
use apiextensions::keys::{
    CLUSTER_LABEL, COMPONENT_LABEL, FLANNEL_OPERATOR, INGRESS_OPERATOR, OperatorName,
};
use apiextensions::{
    CertConfig, FlannelConfig, FlannelConfigSpec, IngressConfig, IngressConfigSpec, KVMConfig,
};
use kube::api::ObjectMeta;

use crate::guest::Guest;
use crate::objects::WORKER_SERVICE;
use crate::settings::KvmArgs;

/// The certificates a guest cluster run by kvm-operator has: every
/// guest's, and kvm-operator's own client certificate for the guest API.
pub const COMPONENTS: [Component; 6] = [
    Component::GUEST[0],
    Component::GUEST[1],
    Component::GUEST[2],
    Component::GUEST[3],
    Component::GUEST[4],
    OWN_CERTIFICATE,
];

/// kvm-operator's own client certificate (`<id>-kvm-operator`), which it
/// reaches the guest API with.
pub const OWN_CERTIFICATE: Component = Component::Operator(&crate::OPERATOR);

/// The version label (and value) of operator `name` per the flags.
fn version_label(name: OperatorName, version: Option<&str>, own: &str) -> (String, String) {
    (name.version_label(), version.unwrap_or(own).to_owned())
}

/// Metadata of an input: name, the cluster label, the component label
/// and the version label of the operator that serves it.
fn meta(guest: &Guest<'_>, name: String, component: &str, version: (String, String)) -> ObjectMeta {
    let labels = BTreeMap::from([
        (CLUSTER_LABEL.to_owned(), guest.id.to_owned()),
        (COMPONENT_LABEL.to_owned(), component.to_owned()),
        version,
    ]);
    ObjectMeta {
        name: Some(name),
        labels: Some(labels),
        ..Default::default()
    }
}

/// The CertConfigs of a guest cluster; the API and etcd certificates also
/// name the masters' in-cluster Service.
pub fn cert_configs(
    config: &KVMConfig,
    flags: &KvmArgs,
    own_version: &str,
) -> Result<Vec<CertConfig>, String> {
    let guest = Guest::new(config);
    let internal = [format!(
        "{}.{}.svc",
        crate::objects::MASTER_SERVICE,
        guest.namespace()
    )];
    let version = flags
        .cert_operator_version
        .as_deref()
        .unwrap_or(own_version);
    COMPONENTS
        .into_iter()
        .map(|c| certificates::cert_config(&config.spec.cluster, c, &internal, version))
        .collect()
}

/// The FlannelConfig of a guest cluster: its VNI, its network carved from
/// the pool, and the host interface from the flags. flannel-operator names
/// the bridge from the cluster ID ([`apiextensions::names::bridge_name`]).
pub fn flannel_config(config: &KVMConfig, flags: &KvmArgs, own_version: &str) -> FlannelConfig {
    let guest = Guest::new(config);
    let version = flags.flannel_operator_version.as_deref();
    FlannelConfig {
        metadata: meta(
            &guest,
            guest.id.to_owned(),
            "network",
            version_label(FLANNEL_OPERATOR, version, own_version),
        ),
        spec: FlannelConfigSpec {
            cluster_id: guest.id.to_owned(),
            network: guest.flannel_network(flags),
            subnet_len: i32::from(flags.flannel_subnet_len),
            vni: config.spec.flannel.vni,
            bridge: BridgeSpec {
                interface: flags.flannel_interface.clone(),
                dns: Default::default(),
                ntp: Default::default(),
            },
        },
        status: None,
    }
}

/// The IngressConfig of a guest cluster: each port mapping's node port on
/// the host ingress controller, sent to the workers' Service. None when
/// the cluster maps no ports.
pub fn ingress_config(
    config: &KVMConfig,
    flags: &KvmArgs,
    own_version: &str,
) -> Option<IngressConfig> {
    let guest = Guest::new(config);
    let mappings = &config.spec.port_mappings;
    if mappings.is_empty() {
        return None;
    }
    let version = flags.ingress_operator_version.as_deref();
    Some(IngressConfig {
        metadata: meta(
            &guest,
            guest.id.to_owned(),
            "ingress",
            version_label(INGRESS_OPERATOR, version, own_version),
        ),
        spec: IngressConfigSpec {
            guest_cluster: GuestCluster {
                id: guest.id.to_owned(),
                namespace: guest.namespace().to_owned(),
                service: WORKER_SERVICE.to_owned(),
            },
            host_cluster: HostCluster {
                ingress_controller: IngressController {
                    config_map: flags.ingress_config_map.clone(),
                    namespace: flags.ingress_namespace.clone(),
                    service: flags.ingress_service.clone(),
                },
            },
            protocol_ports: mappings
                .iter()
                .map(|m| ProtocolPort {
                    ingress_port: m.target_port,
                    lb_port: m.node_port,
                    protocol: Protocol::Tcp,
                })
                .collect(),
        },
        status: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::guest::tests::{example, flags};

    #[test]
    fn certificates_name_what_the_guest_serves() {
        let certs = cert_configs(&example(), &flags(), "1.0.0").unwrap();
        let names: Vec<_> = certs
            .iter()
            .map(|c| c.metadata.name.clone().unwrap())
            .collect();
        assert_eq!(
            names,
            [
                "def34-api",
                "def34-etcd",
                "def34-worker",
                "def34-service-account",
                "def34-admin",
                "def34-kvm-operator"
            ]
        );
        let api = &certs[0];
        assert_eq!(api.spec.common_name, "api.def34");
        assert!(
            api.spec
                .alt_names
                .contains(&"api.def34.k8s.example.com".to_owned())
        );
        assert!(
            api.spec
                .alt_names
                .contains(&"kubernetes.default.svc.cluster.local".to_owned())
        );
        assert_eq!(api.spec.ip_sans, ["172.31.0.1", "127.0.0.1"]);
        let labels = api.metadata.labels.as_ref().unwrap();
        assert_eq!(labels[CLUSTER_LABEL], "def34");
        assert_eq!(labels["cert-operator.operatorkit.dev/version"], "1.0.0");
        assert_eq!(certs[4].spec.organizations, ["system:masters"]);
    }

    #[test]
    fn versions_come_from_the_flags() {
        let flags = crate::settings::parse(&[
            "x",
            "--flannel-operator-version=2.1.0",
            "--ingress-operator-version=3.0.0",
        ])
        .unwrap();
        let f = flannel_config(&example(), &flags, "1.0.0");
        assert_eq!(
            f.metadata.labels.unwrap()["flannel-operator.operatorkit.dev/version"],
            "2.1.0"
        );
        assert_eq!(f.spec.network, "10.129.176.0/20");
        assert_eq!(f.spec.vni, 27);
        let i = ingress_config(&example(), &flags, "1.0.0").unwrap();
        assert_eq!(
            i.metadata.labels.unwrap()["ingress-operator.operatorkit.dev/version"],
            "3.0.0"
        );
        assert_eq!(i.spec.guest_cluster.namespace, "def34");
        assert_eq!(i.spec.protocol_ports[0].lb_port, 31010);
        assert_eq!(i.spec.protocol_ports[0].ingress_port, 30010);
    }

    #[test]
    fn no_port_mappings_no_ingress_config() {
        let mut config = example();
        config.spec.port_mappings.clear();
        assert!(ingress_config(&config, &flags(), "1.0.0").is_none());
    }
}
