//! kvm-operator's command line: operatorkit's standard flags plus which
//! versions of the other operators reconcile what it asks them for, the
//! images its VMs run, and how the host's network and ingress controller
//! are laid out.

use std::time::Duration;

/// What `kvm-operator --help` says it does.
pub const ABOUT: &str =
    "Runs guest Kubernetes clusters as KVM virtual-machine pods on the host cluster (KVMConfig)";

/// kvm-operator's own flags.
#[derive(clap::Args, Clone, Debug)]
pub struct KvmArgs {
    /// Version label put on the CertConfigs it creates: the cert-operator
    /// version that should issue them (default: this operator's version).
    #[arg(long)]
    pub cert_operator_version: Option<String>,
    /// Version label put on the FlannelConfig it creates (default: this
    /// operator's version).
    #[arg(long)]
    pub flannel_operator_version: Option<String>,
    /// Version label put on the IngressConfig it creates (default: this
    /// operator's version).
    #[arg(long)]
    pub ingress_operator_version: Option<String>,
    /// Image of the VM container (QEMU/KVM and the node's boot logic),
    /// unless a KVMConfig names its own in `spec.images.vm`.
    #[arg(long, default_value = "ghcr.io/operatorkit/k8s-kvm:0.1.0")]
    pub vm_image: String,
    /// Where the flannel networks of the guest clusters are carved from:
    /// each cluster gets the `--flannel-network-prefix` block numbered by
    /// its VNI (modulo the number of blocks).
    #[arg(long, default_value = "10.128.0.0/9", value_parser = parse_ipv4_net)]
    pub flannel_network_pool: (std::net::Ipv4Addr, u8),
    /// Prefix length of one cluster's flannel network.
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u8).range(8..=28))]
    pub flannel_network_prefix: u8,
    /// Prefix length of the subnet flanneld leases to each host node.
    #[arg(long, default_value_t = 25, value_parser = clap::value_parser!(u8).range(9..=30))]
    pub flannel_subnet_len: u8,
    /// Host interface flanneld sends the clusters' VXLAN traffic through.
    #[arg(long, default_value = "eth0")]
    pub flannel_interface: String,
    /// Namespace of the host's ingress controller (ingress-nginx).
    #[arg(long, default_value = "ingress-nginx")]
    pub ingress_namespace: String,
    /// ConfigMap of the ingress controller's TCP services.
    #[arg(long, default_value = "ingress-nginx-tcp-services")]
    pub ingress_config_map: String,
    /// Service of the ingress controller.
    #[arg(long, default_value = "ingress-nginx-controller")]
    pub ingress_service: String,
    /// IngressClass of the API and etcd Ingresses (TLS passthrough).
    #[arg(long, default_value = "nginx")]
    pub ingress_class: String,
    /// Size of a master's etcd volume (`storageType: PersistentVolume`).
    #[arg(long, default_value = "10Gi")]
    pub etcd_volume_size: String,
    /// StorageClass of the etcd volumes (default: the cluster's default).
    #[arg(long)]
    pub storage_class: Option<String>,
    /// Directory on the host nodes under which `storageType: HostPath`
    /// keeps each node's etcd data (`<dir>/<cluster>/<node>`).
    #[arg(long, default_value = "/var/lib/kvm-operator")]
    pub host_path: String,
    /// Host nodes that may run VM pods (label selector terms `key=value`,
    /// comma-separated; default: every node). Give flannel-operator the
    /// same, so the clusters' bridges are where their VMs are.
    #[arg(long, value_delimiter = ',', value_parser = parse_label)]
    pub node_selector: Vec<(String, String)>,
    /// Taints (by key) the VM pods tolerate, comma-separated: for host
    /// nodes reserved for VMs (say `dedicated`), or the simulation's fake
    /// nodes (`kwok.x-k8s.io/node`).
    #[arg(long, value_delimiter = ',')]
    pub tolerate_taints: Vec<String>,
    /// Reach each guest API at the address (`host:port`) this annotation of
    /// the cluster's masters' Service holds, for kvm-operator and in the
    /// kubeconfig Secret, instead of `master.<id>.svc` and
    /// `api.<id>.<baseDomain>`. For where those names do not resolve: the
    /// simulation publishes a loopback address in
    /// `simulation.operatorkit.dev/guest-api-address`.
    #[arg(long)]
    pub guest_api_address_annotation: Option<String>,
    /// How long a guest cluster's Ready waits for its API to answer after
    /// the master VMs became ready (its Nodes count as not joined
    /// yet), before readiness falls back to the VM pods, e.g. `2m`.
    #[arg(long, default_value = "2m", value_parser = operatorkit::duration::parse_arg)]
    pub guest_api_wait: Duration,
    /// How often a Ready cluster is looked at again even if nothing
    /// changed, e.g. `5m`.
    #[arg(long, default_value = "5m", value_parser = operatorkit::duration::parse_arg)]
    pub recheck: Duration,
}

impl KvmArgs {
    /// Flags that do not fit together, said plainly.
    pub fn check(&self) -> Result<(), String> {
        let (_, pool) = self.flannel_network_pool;
        if self.flannel_network_prefix < pool {
            return Err(format!(
                "--flannel-network-prefix /{} is wider than --flannel-network-pool's /{pool}",
                self.flannel_network_prefix
            ));
        }
        if self.flannel_subnet_len <= self.flannel_network_prefix {
            return Err(format!(
                "--flannel-subnet-len /{} must be longer than --flannel-network-prefix /{}",
                self.flannel_subnet_len, self.flannel_network_prefix
            ));
        }
        Ok(())
    }
}

/// `key=value`.
fn parse_label(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_owned(), v.to_owned())),
        _ => Err(format!("{s:?} is not key=value")),
    }
}

/// `a.b.c.d/len`, the address the first of its block.
fn parse_ipv4_net(s: &str) -> Result<(std::net::Ipv4Addr, u8), String> {
    let (addr, len) = s
        .split_once('/')
        .ok_or_else(|| format!("{s:?} is not an IPv4 CIDR"))?;
    let addr: std::net::Ipv4Addr = addr.parse().map_err(|e| format!("{s:?}: {e}"))?;
    let len: u8 = len.parse().map_err(|e| format!("{s:?}: {e}"))?;
    if len > 32 || (len < 32 && u32::from(addr) & (u32::MAX >> len) != 0) {
        return Err(format!("{s:?} is not the first address of a block"));
    }
    Ok((addr, len))
}

/// The flags a command line (`args[0]` is the program) gives, for tests.
pub fn parse(args: &[&str]) -> Result<KvmArgs, clap::Error> {
    use clap::Parser;
    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        flags: KvmArgs,
    }
    Cli::try_parse_from(args).map(|c| c.flags)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_checks() {
        let flags = parse(&["x"]).unwrap();
        assert_eq!(
            flags.flannel_network_pool,
            ("10.128.0.0".parse().unwrap(), 9)
        );
        assert_eq!(flags.flannel_network_prefix, 20);
        assert!(flags.node_selector.is_empty());
        assert!(parse(&["x", "--flannel-network-pool=10.128.0.1/9"]).is_err());
        assert!(parse(&["x", "--flannel-network-pool=10.128.0.0"]).is_err());
        assert!(parse(&["x", "--flannel-network-prefix=40"]).is_err());
        let flags = parse(&[
            "x",
            "--node-selector=role=vm",
            "--cert-operator-version=2.0.0",
        ])
        .unwrap();
        assert_eq!(flags.node_selector, [("role".into(), "vm".into())]);
        assert_eq!(flags.cert_operator_version.as_deref(), Some("2.0.0"));
        assert!(flags.check().is_ok());
        let wide = parse(&["x", "--flannel-network-prefix=8"]).unwrap();
        assert!(wide.check().unwrap_err().contains("wider"));
        let short = parse(&["x", "--flannel-subnet-len=20"]).unwrap();
        assert!(short.check().unwrap_err().contains("longer"));
    }
}
