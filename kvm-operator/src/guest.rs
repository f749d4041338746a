//! A KVMConfig read as a guest cluster (pure): its namespace on the host,
//! its nodes by id (masters first), its DNS names and its flannel network.
//! Every other module names things through here, so a name has one home.

use std::net::Ipv4Addr;

use apiextensions::KVMConfig;
use apiextensions::provider::kvm_config::{KVMNode, NodeRole};
use kube::ResourceExt;

use crate::settings::KvmArgs;

/// One node of the guest cluster.
#[derive(Clone, Copy, Debug)]
pub struct Node<'a> {
    /// Its id from the spec.
    pub id: &'a str,
    /// Master or worker.
    pub role: NodeRole,
    /// Its size.
    pub spec: &'a KVMNode,
}

impl Node<'_> {
    /// Name of its VM Deployment, boot Secret and guest Node:
    /// `<role>-<id>`.
    pub fn name(&self) -> String {
        node_name(self.role, self.id)
    }
}

/// `<role>-<id>`: the name of a node's objects.
pub fn node_name(role: NodeRole, id: &str) -> String {
    format!("{}-{id}", role.as_str())
}

/// A KVMConfig as a guest cluster.
pub struct Guest<'a> {
    /// The object.
    pub config: &'a KVMConfig,
    /// The guest cluster ID.
    pub id: &'a str,
}

impl<'a> Guest<'a> {
    /// The guest cluster `config` describes.
    pub fn new(config: &'a KVMConfig) -> Self {
        Self {
            id: &config.spec.cluster.id,
            config,
        }
    }

    /// The host namespace of the cluster's VMs and Services: its ID.
    pub fn namespace(&self) -> &str {
        self.id
    }

    /// `<namespace>/<name>` of the KVMConfig, as the annotation of every
    /// host object says whose it is.
    pub fn owner(&self) -> String {
        format!(
            "{}/{}",
            self.config.namespace().unwrap_or_default(),
            self.config.name_any()
        )
    }

    /// The nodes of the spec, masters first, each in its list's order.
    pub fn nodes(&self) -> Vec<Node<'a>> {
        let spec = &self.config.spec;
        let masters = spec.masters.iter().map(|n| Node {
            id: &n.id,
            role: NodeRole::Master,
            spec: n,
        });
        let workers = spec.workers.iter().map(|n| Node {
            id: &n.id,
            role: NodeRole::Worker,
            spec: n,
        });
        masters.chain(workers).collect()
    }

    /// `<name>.<id>.<baseDomain>`: where the guest's API (`api`) and etcd
    /// (`etcd`) are served.
    pub fn domain(&self, name: &str) -> String {
        self.config.spec.cluster.domain(name)
    }

    /// The cluster's flannel network: the `--flannel-network-prefix` block
    /// of `--flannel-network-pool` numbered by the VNI (modulo the number
    /// of blocks; two VNIs on one block are refused by flannel-operator as
    /// overlapping).
    pub fn flannel_network(&self, flags: &KvmArgs) -> String {
        let (pool, pool_len) = flags.flannel_network_pool;
        let len = flags.flannel_network_prefix.max(pool_len);
        let blocks = 1u64 << (len - pool_len);
        let vni = u64::from(self.config.spec.flannel.vni.unsigned_abs());
        let index = vni % blocks;
        let offset = index << (32 - u32::from(len));
        // `offset` < 2^(32 - pool_len): it fits the pool, and in a u32.
        let base = u64::from(u32::from(pool)) + offset;
        let addr = Ipv4Addr::from(u32::try_from(base).unwrap_or(u32::MAX));
        format!("{addr}/{len}")
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// The example KVMConfig of `manifests/examples/kvmconfig.yaml`.
    pub(crate) fn example() -> KVMConfig {
        let yaml = include_str!("../../manifests/examples/kvmconfig.yaml");
        let mut config: KVMConfig = serde_yaml::from_str(yaml).unwrap();
        config.metadata.namespace = Some("team-a".into());
        config.metadata.uid = Some("uid-1".into());
        config
    }

    pub(crate) fn flags() -> KvmArgs {
        crate::settings::parse(&["kvm-operator"]).unwrap()
    }

    #[test]
    fn nodes_masters_first_named_by_role_and_id() {
        let config = example();
        let guest = Guest::new(&config);
        let names: Vec<_> = guest.nodes().iter().map(Node::name).collect();
        assert_eq!(names, ["master-m1", "worker-w1", "worker-w2"]);
        assert_eq!(guest.namespace(), "def34");
        assert_eq!(guest.owner(), "team-a/def34");
        assert_eq!(guest.domain("api"), "api.def34.k8s.example.com");
    }

    #[test]
    fn service_ip_and_flannel_network() {
        let mut config = example();
        let flags = flags();
        config.spec.flannel.vni = 26;
        // VNI 26 of 2048 /20 blocks of 10.128.0.0/9.
        assert_eq!(
            Guest::new(&config).flannel_network(&flags),
            "10.129.160.0/20"
        );
        config.spec.flannel.vni = 26 + 2048;
        assert_eq!(
            Guest::new(&config).flannel_network(&flags),
            "10.129.160.0/20"
        );
        config.spec.flannel.vni = 2047;
        assert_eq!(
            Guest::new(&config).flannel_network(&flags),
            "10.255.240.0/20"
        );
    }
}
