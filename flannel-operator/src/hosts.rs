//! What a cluster's network runs on the host cluster, as objects (pure):
//! its namespace, the ServiceAccount of its pods, the flanneld DaemonSet
//! (flanneld and the bridge container on every host node that may run the
//! cluster's VMs), and the cleanup DaemonSet that removes the bridge and
//! the VXLAN device from those nodes on deletion.
//!
//! None of them has an owner reference: a namespaced FlannelConfig cannot
//! own a namespace, nor objects in another namespace (the garbage
//! collector would take them for orphans). They carry the cluster label,
//! the managed-by label, their role in [`COMPONENT_LABEL`] and the
//! FlannelConfig in [`FLANNELCONFIG_ANNOTATION`], which maps their events
//! back and says whose they are.

use std::collections::BTreeMap;

use apiextensions::FlannelConfig;
use apiextensions::keys::{CLUSTER_LABEL, COMPONENT_LABEL, MANAGED_BY_LABEL};
use k8s_openapi::api::apps::v1::DaemonSet;
use k8s_openapi::api::core::v1::{Namespace, ServiceAccount};
use kube::ResourceExt;
use serde_json::{Value, json};

use crate::network::{Network, cluster_prefix, fnv1a, namespace_name};
use crate::settings::FlannelArgs;
use crate::{FLANNELCONFIG_ANNOTATION, NETWORK_HASH_ANNOTATION, OPERATOR};

/// Name of the ServiceAccount of a cluster's flannel pods.
pub const SERVICE_ACCOUNT: &str = "flannel";
/// Name (and component) of the flanneld DaemonSet.
pub const FLANNELD: &str = "flanneld";
/// Name (and component) of the cleanup DaemonSet.
pub const CLEANUP: &str = "flannel-cleanup";
/// Where flanneld writes each cluster's subnet file on the host.
const RUN_FLANNEL: &str = "/run/flannel";
/// Where the bridge container writes what guests on a bridge get (DNS, NTP).
const BRIDGES_DIR: &str = "/run/flannel/bridges";

/// The bridge container: waits for flanneld's subnet lease, makes the
/// bridge with the subnet's gateway address and flannel's MTU, records the
/// DNS and NTP servers the VMs' DHCP hands out, and keeps it so.
const BRIDGE_SCRIPT: &str = r#"set -eu
mkdir -p "$BRIDGES_DIR"
while [ ! -s "$SUBNET_FILE" ]; do sleep 1; done
. "$SUBNET_FILE"
ip link show "$BRIDGE" >/dev/null 2>&1 || ip link add name "$BRIDGE" type bridge
ip link set dev "$BRIDGE" mtu "$FLANNEL_MTU"
ip addr replace "$FLANNEL_SUBNET" dev "$BRIDGE"
ip link set dev "$BRIDGE" up
printf 'dns=%s\nntp=%s\nsubnet=%s\n' "$DNS_SERVERS" "$NTP_SERVERS" "$FLANNEL_SUBNET" > "$BRIDGES_DIR/$BRIDGE.conf"
trap 'exit 0' TERM INT
while :; do sleep 3600 & wait $!; done
"#;

/// The cleanup container: removes the bridge, the VXLAN device and the
/// files of the cluster from its node, then stays (Ready once they are gone).
const CLEANUP_SCRIPT: &str = r#"set -u
ip link delete "$BRIDGE" 2>/dev/null || true
ip link delete "$VXLAN" 2>/dev/null || true
rm -f "$SUBNET_FILE" "$BRIDGES_DIR/$BRIDGE.conf"
trap 'exit 0' TERM INT
while :; do sleep 3600 & wait $!; done
"#;

/// The readiness of the cleanup container: both devices gone.
const CLEANED: &str =
    r#"! ip link show "$BRIDGE" >/dev/null 2>&1 && ! ip link show "$VXLAN" >/dev/null 2>&1"#;

/// What every object of a cluster's network carries.
struct Identity<'a> {
    cluster: &'a str,
    owner: String,
}

impl Identity<'_> {
    fn labels(&self, component: Option<&str>) -> BTreeMap<String, String> {
        let mut labels = BTreeMap::from([
            (CLUSTER_LABEL.to_owned(), self.cluster.to_owned()),
            (MANAGED_BY_LABEL.to_owned(), OPERATOR.to_string()),
        ]);
        if let Some(c) = component {
            labels.insert(COMPONENT_LABEL.to_owned(), c.to_owned());
        }
        labels
    }

    fn metadata(&self, name: &str, namespace: Option<&str>, component: Option<&str>) -> Value {
        json!({
            "name": name,
            "namespace": namespace,
            "labels": self.labels(component),
            "annotations": {FLANNELCONFIG_ANNOTATION: self.owner},
        })
    }
}

/// `<namespace>/<name>` of a FlannelConfig: the value of
/// [`FLANNELCONFIG_ANNOTATION`].
pub fn owner_of(config: &FlannelConfig) -> String {
    format!(
        "{}/{}",
        config.namespace().unwrap_or_default(),
        config.name_any()
    )
}

/// Whether an object of a cluster's network belongs to `config`.
pub fn belongs_to(meta: &kube::api::ObjectMeta, config: &FlannelConfig) -> bool {
    meta.annotations
        .as_ref()
        .and_then(|a| a.get(FLANNELCONFIG_ANNOTATION))
        .is_some_and(|v| *v == owner_of(config))
}

/// The host objects of a cluster's network, rendered.
pub struct Hosts<'a> {
    flags: &'a FlannelArgs,
    network: &'a Network,
    id: Identity<'a>,
    namespace: String,
    dns: String,
    ntp: String,
}

impl<'a> Hosts<'a> {
    /// The objects `config` (whose checked network is `network`) needs.
    pub fn new(flags: &'a FlannelArgs, config: &FlannelConfig, network: &'a Network) -> Self {
        let bridge = &config.spec.bridge;
        Self {
            flags,
            network,
            id: Identity {
                cluster: &network.cluster,
                owner: owner_of(config),
            },
            namespace: namespace_name(&network.cluster),
            dns: bridge.dns.servers.join(","),
            ntp: bridge.ntp.servers.join(","),
        }
    }

    /// The cluster's namespace on the host.
    pub fn namespace_name(&self) -> &str {
        &self.namespace
    }

    /// The namespace.
    pub fn namespace(&self) -> Result<Namespace, serde_json::Error> {
        serde_json::from_value(json!({"metadata": self.id.metadata(&self.namespace, None, None)}))
    }

    /// The ServiceAccount of the flannel pods (no API token: flanneld talks
    /// to etcd, not to the API server).
    pub fn service_account(&self) -> Result<ServiceAccount, serde_json::Error> {
        serde_json::from_value(json!({
            "metadata": self.id.metadata(SERVICE_ACCOUNT, Some(&self.namespace), None),
            "automountServiceAccountToken": false,
        }))
    }

    fn subnet_file(&self) -> String {
        format!("{RUN_FLANNEL}/networks/{}.env", self.network.cluster)
    }

    /// The environment both scripts read.
    fn env(&self) -> Value {
        json!([
            {"name": "BRIDGE", "value": self.network.bridge()},
            {"name": "VXLAN", "value": self.network.vxlan_device()},
            {"name": "SUBNET_FILE", "value": self.subnet_file()},
            {"name": "BRIDGES_DIR", "value": BRIDGES_DIR},
            {"name": "DNS_SERVERS", "value": self.dns},
            {"name": "NTP_SERVERS", "value": self.ntp},
        ])
    }

    /// flanneld's arguments: etcd from the operator's configuration,
    /// the cluster's prefix, the interface and the subnet file.
    fn flanneld_args(&self) -> Vec<String> {
        let mut args = vec![
            format!("--etcd-endpoints={}", self.flags.etcd_endpoints.join(",")),
            format!(
                "--etcd-prefix={}",
                cluster_prefix(&self.flags.etcd_prefix, &self.network.cluster)
            ),
            format!("--iface={}", self.network.interface),
            format!("--subnet-file={}", self.subnet_file()),
        ];
        if self.flags.etcd_tls() {
            let dir = self.flags.flanneld_etcd_tls_dir.trim_end_matches('/');
            args.push(format!("--etcd-cafile={dir}/ca.crt"));
            args.push(format!("--etcd-certfile={dir}/tls.crt"));
            args.push(format!("--etcd-keyfile={dir}/tls.key"));
        }
        args
    }

    /// What a container may do: only the capabilities it needs (the
    /// network ones), nothing else, no escalation, a read-only root.
    fn security(capabilities: &[&str]) -> Value {
        json!({
            "privileged": false,
            "allowPrivilegeEscalation": false,
            "readOnlyRootFilesystem": true,
            "runAsUser": 0,
            "capabilities": {"add": capabilities, "drop": ["ALL"]},
        })
    }

    /// The pod spec parts every flannel pod shares: host network, every
    /// host node tolerated, the node selector of the flags.
    fn pod_spec(&self, containers: Value, volumes: Value) -> Value {
        let selector: BTreeMap<&str, &str> = self
            .flags
            .node_selector
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        json!({
            "serviceAccountName": SERVICE_ACCOUNT,
            "automountServiceAccountToken": false,
            "hostNetwork": true,
            "dnsPolicy": "ClusterFirstWithHostNet",
            "nodeSelector": selector,
            "tolerations": [{"operator": "Exists"}],
            "terminationGracePeriodSeconds": 10,
            "containers": containers,
            "volumes": volumes,
        })
    }

    fn daemon_set(
        &self,
        component: &str,
        pod: Value,
        annotations: Value,
    ) -> Result<DaemonSet, serde_json::Error> {
        let labels = self.id.labels(Some(component));
        let selector = json!({
            CLUSTER_LABEL: self.network.cluster,
            COMPONENT_LABEL: component,
        });
        serde_json::from_value(json!({
            "metadata": self.id.metadata(component, Some(&self.namespace), Some(component)),
            "spec": {
                "selector": {"matchLabels": selector},
                "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1}},
                "template": {
                    "metadata": {"labels": labels, "annotations": annotations},
                    "spec": pod,
                },
            },
        }))
    }

    /// The flanneld DaemonSet. Its pods restart when the network config
    /// changes (its hash is a template annotation): flanneld reads the
    /// config once, at start.
    pub fn flanneld(&self) -> Result<DaemonSet, serde_json::Error> {
        let run = json!({"name": "run-flannel", "mountPath": RUN_FLANNEL});
        let mut flanneld_mounts = vec![
            run.clone(),
            json!({"name": "xtables-lock", "mountPath": "/run/xtables.lock"}),
        ];
        let mut volumes = vec![
            json!({"name": "run-flannel", "hostPath": {"path": RUN_FLANNEL, "type": "DirectoryOrCreate"}}),
            json!({"name": "xtables-lock", "hostPath": {"path": "/run/xtables.lock", "type": "FileOrCreate"}}),
        ];
        if self.flags.etcd_tls() {
            let dir = self.flags.flanneld_etcd_tls_dir.trim_end_matches('/');
            flanneld_mounts.push(json!({"name": "etcd-tls", "mountPath": dir, "readOnly": true}));
            volumes
                .push(json!({"name": "etcd-tls", "hostPath": {"path": dir, "type": "Directory"}}));
        }
        let containers = json!([
            {
                "name": "flanneld",
                "image": self.flags.flanneld_image,
                "command": ["/opt/bin/flanneld"],
                "args": self.flanneld_args(),
                "securityContext": Self::security(&["NET_ADMIN", "NET_RAW"]),
                "resources": {"requests": {"cpu": "50m", "memory": "50Mi"}, "limits": {"memory": "100Mi"}},
                "volumeMounts": flanneld_mounts,
                "readinessProbe": {
                    "exec": {"command": ["test", "-s", self.subnet_file()]},
                    "periodSeconds": 5,
                },
            },
            {
                "name": "bridge",
                "image": self.flags.bridge_image(),
                "command": ["/bin/sh", "-c", BRIDGE_SCRIPT],
                "env": self.env(),
                "securityContext": Self::security(&["NET_ADMIN"]),
                "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}, "limits": {"memory": "32Mi"}},
                "volumeMounts": [run],
                "readinessProbe": {
                    "exec": {"command": ["/bin/sh", "-c", "test -s \"$BRIDGES_DIR/$BRIDGE.conf\" && ip link show \"$BRIDGE\" up | grep -q UP"]},
                    "periodSeconds": 5,
                },
            },
        ]);
        let hash = format!("{:016x}", fnv1a(self.network.config().as_bytes()));
        self.daemon_set(
            FLANNELD,
            self.pod_spec(containers, Value::Array(volumes)),
            json!({NETWORK_HASH_ANNOTATION: hash}),
        )
    }

    /// The cleanup DaemonSet: on the same nodes as flanneld, removes the
    /// bridge and the VXLAN device; Ready on a node once they are gone.
    pub fn cleanup(&self) -> Result<DaemonSet, serde_json::Error> {
        let containers = json!([{
            "name": "cleanup",
            "image": self.flags.bridge_image(),
            "command": ["/bin/sh", "-c", CLEANUP_SCRIPT],
            "env": self.env(),
            "securityContext": Self::security(&["NET_ADMIN"]),
            "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}, "limits": {"memory": "32Mi"}},
            "volumeMounts": [{"name": "run-flannel", "mountPath": RUN_FLANNEL}],
            "readinessProbe": {"exec": {"command": ["/bin/sh", "-c", CLEANED]}, "periodSeconds": 2},
        }]);
        let volumes = json!([
            {"name": "run-flannel", "hostPath": {"path": RUN_FLANNEL, "type": "DirectoryOrCreate"}},
        ]);
        self.daemon_set(CLEANUP, self.pod_spec(containers, volumes), json!({}))
    }
}

/// A DaemonSet's rollout, as its status says: `(ready, desired)` once the
/// controller has seen the current generation, else `None`.
pub fn rollout(ds: &DaemonSet) -> Option<(i32, i32)> {
    let status = ds.status.as_ref()?;
    let seen = status.observed_generation? >= ds.metadata.generation.unwrap_or(0);
    let updated = status.updated_number_scheduled.unwrap_or(0) >= status.desired_number_scheduled;
    (seen && updated).then_some((status.number_ready, status.desired_number_scheduled))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::parse;

    fn config() -> FlannelConfig {
        let mut c = FlannelConfig::new(
            "abc12-flannel",
            serde_json::from_value(json!({
                "clusterID": "abc12", "network": "10.1.0.0/16", "subnetLen": 24, "vni": 7,
                "bridge": {"interface": "eth1", "dns": {"servers": ["10.0.0.10"]}, "ntp": {"servers": ["ntp.example.com", "10.0.0.11"]}},
            }))
            .unwrap(),
        );
        c.metadata.namespace = Some("ns1".into());
        c
    }

    #[test]
    fn flanneld_runs_with_the_clusters_prefix_and_little_privilege() {
        let flags = parse(&[
            "x",
            "--etcd-endpoints=https://e1:2379,https://e2:2379",
            "--etcd-ca=/x/ca",
            "--node-selector=role=vm",
        ])
        .unwrap();
        let c = config();
        let n = Network::from_spec(&c.spec).unwrap();
        let hosts = Hosts::new(&flags, &c, &n);
        let ds = serde_json::to_value(hosts.flanneld().unwrap()).unwrap();
        assert_eq!(ds["metadata"]["namespace"], "flannel-network-abc12");
        assert_eq!(
            ds["metadata"]["annotations"][FLANNELCONFIG_ANNOTATION],
            "ns1/abc12-flannel"
        );
        let pod = &ds["spec"]["template"]["spec"];
        assert_eq!(pod["hostNetwork"], true);
        assert_eq!(pod["tolerations"], json!([{"operator": "Exists"}]));
        assert_eq!(pod["nodeSelector"], json!({"role": "vm"}));
        let flanneld = &pod["containers"][0];
        assert_eq!(
            flanneld["args"],
            json!([
                "--etcd-endpoints=https://e1:2379,https://e2:2379",
                "--etcd-prefix=/coreos.com/network/abc12",
                "--iface=eth1",
                "--subnet-file=/run/flannel/networks/abc12.env",
                "--etcd-cafile=/etc/kubernetes/ssl/etcd/ca.crt",
                "--etcd-certfile=/etc/kubernetes/ssl/etcd/tls.crt",
                "--etcd-keyfile=/etc/kubernetes/ssl/etcd/tls.key",
            ])
        );
        assert_eq!(flanneld["securityContext"]["privileged"], false);
        assert_eq!(
            flanneld["securityContext"]["capabilities"],
            json!({"add": ["NET_ADMIN", "NET_RAW"], "drop": ["ALL"]})
        );
        let env = &pod["containers"][1]["env"];
        assert!(
            env.as_array()
                .unwrap()
                .contains(&json!({"name": "NTP_SERVERS", "value": "ntp.example.com,10.0.0.11"}))
        );
        assert!(
            env.as_array()
                .unwrap()
                .contains(&json!({"name": "BRIDGE", "value": "br-abc12"}))
        );
        // Selector labels are in the template.
        let labels = &ds["spec"]["template"]["metadata"]["labels"];
        for (k, v) in ds["spec"]["selector"]["matchLabels"].as_object().unwrap() {
            assert_eq!(&labels[k], v);
        }
    }

    #[test]
    fn a_changed_network_rolls_flanneld() {
        let flags = parse(&["x"]).unwrap();
        let c = config();
        let n = Network::from_spec(&c.spec).unwrap();
        let hash = |n: &Network| {
            let ds = Hosts::new(&flags, &c, n).flanneld().unwrap();
            ds.spec
                .unwrap()
                .template
                .metadata
                .unwrap()
                .annotations
                .unwrap()[NETWORK_HASH_ANNOTATION]
                .clone()
        };
        let mut other = n.clone();
        other.vni = 8;
        assert_ne!(hash(&n), hash(&other));
        assert!(belongs_to(
            &Hosts::new(&flags, &c, &n).namespace().unwrap().metadata,
            &c
        ));
    }
}
