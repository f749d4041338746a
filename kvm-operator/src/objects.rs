//! The guest cluster's objects on the host (pure): its namespace, the
//! ServiceAccount of its VM pods, per node a boot Secret, an etcd volume
//! (masters, `storageType: PersistentVolume`) and a VM Deployment, the
//! Services of the masters and workers, the Ingresses of the API and etcd
//! names, and the PodDisruptionBudgets.
//!
//! **Networking.** A VM takes over its pod's address (as KubeVirt's bridge
//! binding does), so Services select VM pods, readiness probes reach the
//! node's API or kubelet port, and the simulation's EndpointSlices are
//! right. Its second NIC is plugged into the bridge of the cluster's
//! flannel network on the host (`br-<id>`, made by flannel-operator), which
//! is why the pod is privileged and shares the host's PID namespace.
//!
//! **Certificates.** They reach a VM only through its boot Secret, mounted
//! as a volume: a rotated certificate rewrites the Secret, the kubelet
//! updates the files, and the VM is not recreated (the pod template does
//! not change).
//!
//! None of these objects has an owner reference (a namespaced KVMConfig
//! cannot own a namespace, nor objects in another one): they carry the
//! cluster label, the managed-by label, a component label and
//! [`KVMCONFIG_ANNOTATION`], which maps their events back and says whose
//! they are.

use std::collections::BTreeMap;

use apiextensions::certificates::{Certificates, Component};
use apiextensions::keys::{CLUSTER_LABEL, COMPONENT_LABEL, MANAGED_BY_LABEL};
use apiextensions::names::{bridge_name, fnv1a};
use apiextensions::provider::kvm_config::{NodeRole, StorageType};
use k8s_openapi::ByteString;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{
    Namespace, PersistentVolumeClaim, Secret, Service, ServiceAccount,
};
use k8s_openapi::api::networking::v1::Ingress;
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use kube::api::ObjectMeta;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use crate::guest::{Guest, Node};
use crate::settings::KvmArgs;
use crate::{KVMCONFIG_ANNOTATION, NODE_LABEL, OPERATOR, VM_HASH_ANNOTATION};

/// ServiceAccount of the VM pods.
pub const SERVICE_ACCOUNT: &str = "vm";
/// Service of the masters (API and etcd ports).
pub const MASTER_SERVICE: &str = "master";
/// Service of the workers (the port mappings' node ports).
pub const WORKER_SERVICE: &str = "worker";
/// Name of the VM container.
pub const VM_CONTAINER: &str = "vm";
/// Where the boot Secret is mounted in the VM container.
pub const BOOT_DIR: &str = "/var/lib/kvm/boot";
/// The kubelet's health port (plain HTTP), a worker's readiness.
pub const KUBELET_HEALTHZ_PORT: i32 = 10248;
/// How long a VM has to shut down.
const GRACE_SECONDS: i64 = 120;

/// The components whose certificates a node of `role` boots with.
pub fn components(role: NodeRole) -> &'static [Component] {
    match role {
        NodeRole::Master => &Component::MASTER,
        NodeRole::Worker => &[Component::Worker],
    }
}

/// The host objects of one guest cluster, rendered.
pub struct Objects<'a> {
    guest: &'a Guest<'a>,
    flags: &'a KvmArgs,
}

impl<'a> Objects<'a> {
    /// The objects of `guest` under `flags`.
    pub fn new(guest: &'a Guest<'a>, flags: &'a KvmArgs) -> Self {
        Self { guest, flags }
    }

    fn labels(&self, component: &str) -> BTreeMap<String, String> {
        BTreeMap::from([
            (CLUSTER_LABEL.to_owned(), self.guest.id.to_owned()),
            (MANAGED_BY_LABEL.to_owned(), OPERATOR.to_string()),
            (COMPONENT_LABEL.to_owned(), component.to_owned()),
        ])
    }

    fn meta(&self, name: &str, component: &str) -> ObjectMeta {
        ObjectMeta {
            name: Some(name.to_owned()),
            namespace: Some(self.guest.namespace().to_owned()),
            labels: Some(self.labels(component)),
            annotations: Some(BTreeMap::from([(
                KVMCONFIG_ANNOTATION.to_owned(),
                self.guest.owner(),
            )])),
            ..Default::default()
        }
    }

    /// The cluster's namespace (its ID).
    pub fn namespace(&self) -> Namespace {
        let mut metadata = self.meta(self.guest.namespace(), "namespace");
        metadata.namespace = None;
        Namespace {
            metadata,
            ..Default::default()
        }
    }

    /// The ServiceAccount of the VM pods (no API access: no token).
    pub fn service_account(&self) -> ServiceAccount {
        ServiceAccount {
            metadata: self.meta(SERVICE_ACCOUNT, "vm"),
            automount_service_account_token: Some(false),
            ..Default::default()
        }
    }

    /// What a node boots with, without secrets: `node.json`.
    pub fn boot_config(&self, node: &Node<'_>) -> Value {
        let spec = &self.guest.config.spec;
        let k8s = &spec.cluster.kubernetes;
        json!({
            "cluster": {
                "id": self.guest.id,
                "version": spec.cluster.version,
                "apiDomain": self.guest.domain("api"),
                "etcdDomain": self.guest.domain("etcd"),
                "apiPort": k8s.api_port,
                "etcdPort": spec.cluster.etcd.port,
                "serviceCIDR": k8s.service_cidr,
                "podCIDR": k8s.pod_cidr,
                "dnsIP": k8s.dns_ip,
                "clusterDomain": k8s.cluster_domain,
                "masters": spec.masters.iter().map(|m| crate::guest::node_name(NodeRole::Master, &m.id)).collect::<Vec<_>>(),
            },
            "node": {
                "id": node.id,
                "name": node.name(),
                "role": node.role.as_str(),
            },
            "network": {
                "bridge": bridge_name(self.guest.id),
                "flannelNetwork": self.guest.flannel_network(self.flags),
                "vni": spec.flannel.vni,
            },
            "certificates": components(node.role).iter().map(|c| c.as_str()).collect::<Vec<_>>(),
        })
    }

    /// A node's boot Secret `<role>-<id>`: `node.json`, the cluster CA
    /// (`ca.crt`) and per component `<component>.crt` and `<component>.key`.
    /// `None` while a certificate it needs is not issued.
    pub fn boot_secret(&self, node: &Node<'_>, certs: &Certificates) -> Option<Secret> {
        let mut data = BTreeMap::new();
        let config = serde_json::to_vec_pretty(&self.boot_config(node)).ok()?;
        data.insert("node.json".to_owned(), ByteString(config));
        for component in components(node.role) {
            let pem = certs.get(component)?;
            data.insert("ca.crt".to_owned(), pem.ca.clone());
            data.insert(format!("{}.crt", component.as_str()), pem.crt.clone());
            data.insert(format!("{}.key", component.as_str()), pem.key.clone());
        }
        Some(Secret {
            metadata: self.meta(&node.name(), node.role.as_str()),
            type_: Some("Opaque".to_owned()),
            data: Some(data),
            ..Default::default()
        })
    }

    /// Name of a master's etcd volume claim.
    pub fn etcd_claim_name(node: &Node<'_>) -> String {
        format!("{}-etcd", node.name())
    }

    /// A master's etcd volume claim (`storageType: PersistentVolume`).
    pub fn etcd_claim(&self, node: &Node<'_>) -> Option<PersistentVolumeClaim> {
        if node.role != NodeRole::Master
            || self.guest.config.spec.storage_type != StorageType::PersistentVolume
        {
            return None;
        }
        let mut spec = json!({
            "accessModes": ["ReadWriteOnce"],
            "resources": {"requests": {"storage": self.flags.etcd_volume_size}},
        });
        if let Some(class) = &self.flags.storage_class {
            spec["storageClassName"] = json!(class);
        }
        Some(PersistentVolumeClaim {
            metadata: self.meta(&Self::etcd_claim_name(node), "etcd"),
            spec: serde_json::from_value(spec).ok(),
            ..Default::default()
        })
    }

    /// Labels of a node's pod: its cluster, role and id.
    fn pod_labels(&self, node: &Node<'_>) -> BTreeMap<String, String> {
        let mut labels = self.labels(node.role.as_str());
        labels.insert(NODE_LABEL.to_owned(), node.id.to_owned());
        labels
    }

    fn selector(&self, node: &Node<'_>) -> Value {
        json!({CLUSTER_LABEL: self.guest.id, NODE_LABEL: node.id})
    }

    fn readiness(&self, node: &Node<'_>) -> Value {
        match node.role {
            NodeRole::Master => json!({
                "httpGet": {"path": "/readyz", "port": "api", "scheme": "HTTPS"},
                "periodSeconds": 10,
                "failureThreshold": 3,
            }),
            NodeRole::Worker => json!({
                "httpGet": {"path": "/healthz", "port": "kubelet", "scheme": "HTTP"},
                "periodSeconds": 10,
                "failureThreshold": 3,
            }),
        }
    }

    fn ports(&self, node: &Node<'_>) -> Value {
        let spec = &self.guest.config.spec;
        match node.role {
            NodeRole::Master => json!([
                {"name": "api", "containerPort": spec.cluster.kubernetes.api_port, "protocol": "TCP"},
                {"name": "etcd", "containerPort": spec.cluster.etcd.port, "protocol": "TCP"},
            ]),
            NodeRole::Worker => {
                let mut ports = vec![
                    json!({"name": "kubelet", "containerPort": KUBELET_HEALTHZ_PORT, "protocol": "TCP"}),
                ];
                ports.extend(spec.port_mappings.iter().map(
                    |m| json!({"name": m.name, "containerPort": m.target_port, "protocol": "TCP"}),
                ));
                json!(ports)
            }
        }
    }

    fn volumes(&self, node: &Node<'_>) -> (Vec<Value>, Vec<Value>) {
        let spec = node.spec;
        let mut volumes = vec![
            json!({"name": "boot", "secret": {"secretName": node.name(), "defaultMode": 0o400}}),
            json!({"name": "dev-kvm", "hostPath": {"path": "/dev/kvm", "type": "CharDevice"}}),
            json!({"name": "dev-tun", "hostPath": {"path": "/dev/net/tun", "type": "CharDevice"}}),
            json!({"name": "flannel", "hostPath": {"path": "/run/flannel", "type": "Directory"}}),
            json!({"name": "disk", "emptyDir": {"sizeLimit": spec.disk.0}}),
            json!({"name": "docker", "emptyDir": {"sizeLimit": spec.docker_volume_size.0}}),
        ];
        let mut mounts = vec![
            json!({"name": "boot", "mountPath": BOOT_DIR, "readOnly": true}),
            json!({"name": "dev-kvm", "mountPath": "/dev/kvm"}),
            json!({"name": "dev-tun", "mountPath": "/dev/net/tun"}),
            json!({"name": "flannel", "mountPath": "/run/flannel", "readOnly": true}),
            json!({"name": "disk", "mountPath": "/var/lib/kvm/disk"}),
            json!({"name": "docker", "mountPath": "/var/lib/kvm/docker"}),
        ];
        if node.role == NodeRole::Master {
            let etcd = match self.guest.config.spec.storage_type {
                StorageType::PersistentVolume => json!({
                    "name": "etcd",
                    "persistentVolumeClaim": {"claimName": Self::etcd_claim_name(node)},
                }),
                StorageType::HostPath => json!({
                    "name": "etcd",
                    "hostPath": {
                        "path": format!("{}/{}/{}", self.flags.host_path.trim_end_matches('/'), self.guest.id, node.id),
                        "type": "DirectoryOrCreate",
                    },
                }),
            };
            volumes.push(etcd);
            mounts.push(json!({"name": "etcd", "mountPath": "/var/lib/kvm/etcd"}));
        }
        (volumes, mounts)
    }

    /// The pod template of a node's VM.
    fn pod_template(&self, node: &Node<'_>) -> Value {
        let cluster = &self.guest.config.spec.cluster;
        let spec = node.spec;
        let image = self
            .guest
            .config
            .spec
            .images
            .vm
            .clone()
            .unwrap_or_else(|| self.flags.vm_image.clone());
        let (volumes, mounts) = self.volumes(node);
        let selector: BTreeMap<&str, &str> = self
            .flags
            .node_selector
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let env = [
            ("CLUSTER_ID", self.guest.id.to_owned()),
            ("NODE_ID", node.id.to_owned()),
            ("ROLE", node.role.as_str().to_owned()),
            ("KUBERNETES_VERSION", cluster.version.clone()),
            ("CPUS", spec.cpus.to_string()),
            ("MEMORY", spec.memory.0.clone()),
            ("DISK", spec.disk.0.clone()),
            ("DOCKER_VOLUME_SIZE", spec.docker_volume_size.0.clone()),
            ("BRIDGE", bridge_name(self.guest.id)),
            ("BOOT_DIR", BOOT_DIR.to_owned()),
        ]
        .map(|(name, value)| json!({"name": name, "value": value}));
        json!({
            "metadata": {"labels": self.pod_labels(node), "annotations": {KVMCONFIG_ANNOTATION: self.guest.owner()}},
            "spec": {
                "serviceAccountName": SERVICE_ACCOUNT,
                "automountServiceAccountToken": false,
                "hostPID": true,
                "nodeSelector": selector,
                "tolerations": self.flags.tolerate_taints.iter().map(|k| json!({"key": k, "operator": "Exists"})).collect::<Vec<_>>(),
                "terminationGracePeriodSeconds": GRACE_SECONDS,
                "affinity": {"podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [{
                    "weight": 100,
                    "podAffinityTerm": {
                        "topologyKey": "kubernetes.io/hostname",
                        "labelSelector": {"matchLabels": {CLUSTER_LABEL: self.guest.id, COMPONENT_LABEL: node.role.as_str()}},
                    },
                }]}},
                "containers": [{
                    "name": VM_CONTAINER,
                    "image": image,
                    "env": env,
                    "ports": self.ports(node),
                    "readinessProbe": self.readiness(node),
                    "resources": {
                        "requests": {"cpu": spec.cpus.to_string(), "memory": spec.memory.0},
                        "limits": {"cpu": spec.cpus.to_string()},
                    },
                    "securityContext": {"privileged": true},
                    "volumeMounts": mounts,
                }],
                "volumes": volumes,
            },
        })
    }

    /// A node's VM Deployment `<role>-<id>`: one replica, `Recreate` (two
    /// VMs of one node must never run at once), and the hash of its pod
    /// template in [`VM_HASH_ANNOTATION`]: a changed hash is a VM
    /// replacement, rolled one node at a time.
    pub fn deployment(&self, node: &Node<'_>) -> Result<Deployment, serde_json::Error> {
        let template = self.pod_template(node);
        let hash = vm_hash(&template);
        let mut metadata = self.meta(&node.name(), node.role.as_str());
        metadata
            .annotations
            .get_or_insert_default()
            .insert(VM_HASH_ANNOTATION.to_owned(), hash);
        metadata
            .labels
            .get_or_insert_default()
            .insert(NODE_LABEL.to_owned(), node.id.to_owned());
        let spec = json!({
            "replicas": 1,
            "strategy": {"type": "Recreate"},
            "revisionHistoryLimit": 2,
            "selector": {"matchLabels": self.selector(node)},
            "template": template,
        });
        Ok(Deployment {
            metadata,
            spec: Some(from(spec)?),
            ..Default::default()
        })
    }

    /// The masters' Service: the guest API and etcd.
    pub fn master_service(&self) -> Result<Service, serde_json::Error> {
        let spec = &self.guest.config.spec.cluster;
        Ok(Service {
            metadata: self.meta(MASTER_SERVICE, "master"),
            spec: Some(from(json!({
                "type": "ClusterIP",
                "selector": {CLUSTER_LABEL: self.guest.id, COMPONENT_LABEL: "master"},
                "ports": [
                    {"name": "api", "port": spec.kubernetes.api_port, "targetPort": "api", "protocol": "TCP"},
                    {"name": "etcd", "port": spec.etcd.port, "targetPort": "etcd", "protocol": "TCP"},
                ],
            }))?),
            ..Default::default()
        })
    }

    /// The workers' Service: each port mapping as a node port (None when
    /// there is none).
    pub fn worker_service(&self) -> Result<Option<Service>, serde_json::Error> {
        let mappings = &self.guest.config.spec.port_mappings;
        if mappings.is_empty() {
            return Ok(None);
        }
        let ports: Vec<Value> = mappings
            .iter()
            .map(|m| json!({"name": m.name, "port": m.target_port, "targetPort": m.target_port, "nodePort": m.node_port, "protocol": "TCP"}))
            .collect();
        Ok(Some(Service {
            metadata: self.meta(WORKER_SERVICE, "worker"),
            spec: Some(from(json!({
                "type": "NodePort",
                "selector": {CLUSTER_LABEL: self.guest.id, COMPONENT_LABEL: "worker"},
                "ports": ports,
            }))?),
            ..Default::default()
        }))
    }

    /// The Ingresses of the API (`api.<id>.<baseDomain>`) and etcd
    /// (`etcd.<id>.<baseDomain>`): TLS passed through ingress-nginx to the
    /// masters, which terminate it with the issued certificates.
    pub fn ingresses(&self) -> Result<Vec<Ingress>, serde_json::Error> {
        ["api", "etcd"]
            .into_iter()
            .map(|name| {
                let host = self.guest.domain(name);
                let mut metadata = self.meta(name, name);
                let annotations = metadata.annotations.get_or_insert_default();
                annotations.insert("nginx.ingress.kubernetes.io/ssl-passthrough".into(), "true".into());
                annotations.insert("nginx.ingress.kubernetes.io/backend-protocol".into(), "HTTPS".into());
                Ok(Ingress {
                    metadata,
                    spec: Some(from(json!({
                        "ingressClassName": self.flags.ingress_class,
                        "tls": [{"hosts": [host]}],
                        "rules": [{"host": host, "http": {"paths": [{
                            "path": "/",
                            "pathType": "Prefix",
                            "backend": {"service": {"name": MASTER_SERVICE, "port": {"name": name}}},
                        }]}}],
                    }))?),
                    ..Default::default()
                })
            })
            .collect()
    }

    /// PodDisruptionBudgets of the masters and the workers: one VM of each
    /// may be down at a time (for three masters, etcd keeps quorum).
    pub fn disruption_budgets(&self) -> Result<Vec<PodDisruptionBudget>, serde_json::Error> {
        [NodeRole::Master, NodeRole::Worker]
            .into_iter()
            .map(|role| {
                Ok(PodDisruptionBudget {
                    metadata: self.meta(role.as_str(), role.as_str()),
                    spec: Some(from(json!({
                        "maxUnavailable": 1,
                        "selector": {"matchLabels": {CLUSTER_LABEL: self.guest.id, COMPONENT_LABEL: role.as_str()}},
                    }))?),
                    ..Default::default()
                })
            })
            .collect()
    }
}

fn from<T: DeserializeOwned>(value: Value) -> Result<T, serde_json::Error> {
    serde_json::from_value(value)
}

/// The hash of a pod template: what a VM is (its size, version, image and
/// wiring). Certificates are not part of it.
fn vm_hash(template: &Value) -> String {
    format!("{:016x}", fnv1a(template.to_string().as_bytes()))
}

/// Whether an object of a guest cluster belongs to the KVMConfig `owner`
/// (`<namespace>/<name>`).
pub fn belongs_to(meta: &ObjectMeta, owner: &str) -> bool {
    meta.annotations
        .as_ref()
        .and_then(|a| a.get(KVMCONFIG_ANNOTATION))
        .is_some_and(|v| v == owner)
}

/// The VM hash a Deployment was applied with.
pub fn applied_hash(deployment: &Deployment) -> Option<&str> {
    deployment
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(VM_HASH_ANNOTATION))
        .map(String::as_str)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::guest::tests::{example, flags};
    use apiextensions::certificates::Pem;

    fn pem(tag: &str) -> Pem {
        let b = |s: &str| ByteString(format!("{tag}-{s}").into_bytes());
        Pem {
            ca: b("ca"),
            crt: b("crt"),
            key: b("key"),
        }
    }

    #[test]
    fn a_bundle_never_shows_its_key() {
        let shown = format!("{:?}", pem("secret"));
        assert!(!shown.contains("secret-key"), "{shown}");
        assert!(!shown.contains("secret-crt"), "{shown}");
    }

    #[test]
    fn the_vm_hash_follows_the_vm_not_the_certificates() {
        let flags = flags();
        let mut config = example();
        let guest = Guest::new(&config);
        let node = guest.nodes()[1];
        let objects = Objects::new(&guest, &flags);
        let before = objects.deployment(&node).unwrap();
        let certs_a: Certificates = crate::inputs::COMPONENTS
            .iter()
            .map(|c| (*c, pem("a")))
            .collect();
        let certs_b: Certificates = crate::inputs::COMPONENTS
            .iter()
            .map(|c| (*c, pem("b")))
            .collect();
        let (sa, sb) = (
            objects.boot_secret(&node, &certs_a).unwrap(),
            objects.boot_secret(&node, &certs_b).unwrap(),
        );
        assert_ne!(sa.data, sb.data);
        assert_eq!(
            applied_hash(&before),
            applied_hash(&objects.deployment(&node).unwrap())
        );
        config.spec.cluster.version = "1.34.0".into();
        let guest = Guest::new(&config);
        let objects = Objects::new(&guest, &flags);
        let after = objects.deployment(&guest.nodes()[1]).unwrap();
        assert_ne!(applied_hash(&before), applied_hash(&after));
    }

    #[test]
    fn a_worker_boots_with_its_own_certificate_only() {
        let flags = flags();
        let config = example();
        let guest = Guest::new(&config);
        let objects = Objects::new(&guest, &flags);
        let certs: Certificates = crate::inputs::COMPONENTS
            .iter()
            .map(|c| (*c, pem("x")))
            .collect();
        let worker = objects.boot_secret(&guest.nodes()[1], &certs).unwrap();
        let keys: Vec<_> = worker.data.unwrap().into_keys().collect();
        assert_eq!(keys, ["ca.crt", "node.json", "worker.crt", "worker.key"]);
        let mut partial = certs.clone();
        partial.remove(&Component::Etcd);
        assert!(
            objects.boot_secret(&guest.nodes()[0], &partial).is_none(),
            "a master needs etcd's"
        );
        assert!(objects.boot_secret(&guest.nodes()[1], &partial).is_some());
        assert!(objects.etcd_claim(&guest.nodes()[0]).is_some());
        assert!(objects.etcd_claim(&guest.nodes()[1]).is_none());
    }
}
