//! flannel's contract, as flanneld reads it: the etcd key layout under a
//! prefix, the network config's JSON, and the names a cluster's network
//! gets on a host (bridge, VXLAN device, namespace). Pure: nothing here
//! talks to anything.
//!
//! flanneld started with `--etcd-prefix=<prefix>/<clusterID>` reads
//! `<prefix>/<clusterID>/config` and keeps its subnet leases under
//! `<prefix>/<clusterID>/subnets/`; the config is the JSON of flannel's
//! documentation (`Network`, `SubnetLen`, `Backend` with `Type` and `VNI`).

use std::fmt;
use std::net::Ipv4Addr;

use apiextensions::FlannelConfigSpec;
use serde_json::Value;

/// An IPv4 network: an address with no host bits set, and a prefix length.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ipv4Net {
    address: Ipv4Addr,
    prefix: u8,
}

impl Ipv4Net {
    /// Parses `a.b.c.d/len`, refusing host bits (`10.1.2.3/16`) and IPv6
    /// (flannel's `Network` is IPv4), with a message saying why.
    pub fn parse(s: &str) -> Result<Self, String> {
        let (ip, len) = s
            .split_once('/')
            .ok_or_else(|| format!("network {s:?} is not a CIDR (a.b.c.d/len)"))?;
        let address: Ipv4Addr = ip.parse().map_err(|_| {
            format!("network {s:?} is not an IPv4 CIDR: flannel's Network is IPv4 only")
        })?;
        let prefix: u8 = len
            .parse()
            .ok()
            .filter(|p| *p <= 32)
            .ok_or_else(|| format!("network {s:?} has no valid prefix length"))?;
        let net = Self { address, prefix };
        let base = Ipv4Addr::from(net.first());
        if base != address {
            return Err(format!(
                "network {s:?} has host bits set; did you mean {base}/{prefix}?"
            ));
        }
        Ok(net)
    }

    fn mask(self) -> u32 {
        if self.prefix == 0 {
            0
        } else {
            u32::MAX << (32 - u32::from(self.prefix))
        }
    }

    fn first(self) -> u32 {
        u32::from(self.address) & self.mask()
    }

    fn last(self) -> u32 {
        self.first() | !self.mask()
    }

    /// Whether the two networks share an address.
    pub fn overlaps(self, other: Self) -> bool {
        self.first() <= other.last() && other.first() <= self.last()
    }

    /// The prefix length.
    pub fn prefix(self) -> u8 {
        self.prefix
    }
}

impl fmt::Display for Ipv4Net {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.address, self.prefix)
    }
}

/// One cluster's network, checked: what the operator writes and claims.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Network {
    /// Guest cluster ID.
    pub cluster: String,
    /// The overlay network.
    pub network: Ipv4Net,
    /// Prefix length of each node's subnet.
    pub subnet_len: u8,
    /// VXLAN network identifier.
    pub vni: u32,
    /// Host interface flanneld sends VXLAN traffic through (`--iface`).
    pub interface: String,
}

impl Network {
    /// The network a spec asks for, or why it cannot be served.
    pub fn from_spec(spec: &FlannelConfigSpec) -> Result<Self, String> {
        let network = Ipv4Net::parse(&spec.network)?;
        let subnet_len = u8::try_from(spec.subnet_len)
            .ok()
            .filter(|l| *l > network.prefix() && *l <= 30)
            .ok_or_else(|| {
                format!(
                    "subnetLen {} must be longer than the network's prefix /{} and at most 30",
                    spec.subnet_len,
                    network.prefix()
                )
            })?;
        let vni = u32::try_from(spec.vni)
            .ok()
            .filter(|v| (1..=16_777_215).contains(v))
            .ok_or_else(|| format!("vni {} is not in 1..=16777215", spec.vni))?;
        Ok(Self {
            cluster: spec.cluster_id.clone(),
            network,
            subnet_len,
            vni,
            interface: spec.bridge.interface.clone(),
        })
    }

    /// The value of [`config_key`]: flannel's network config, byte for byte
    /// as flannel documents it (`{"Network":…,"SubnetLen":…,"Backend":{"Type":"vxlan","VNI":…}}`).
    pub fn config(&self) -> String {
        format!(
            r#"{{"Network":"{}","SubnetLen":{},"Backend":{{"Type":"vxlan","VNI":{}}}}}"#,
            self.network, self.subnet_len, self.vni
        )
    }

    /// The host bridge of the cluster's VMs.
    pub fn bridge(&self) -> String {
        bridge_name(&self.cluster)
    }

    /// The VXLAN device flanneld makes for this network (`flannel.<VNI>`).
    pub fn vxlan_device(&self) -> String {
        format!("flannel.{}", self.vni)
    }
}

/// Whether two config values say the same thing (JSON-equal: spacing and
/// key order do not matter). An equal value is never rewritten.
pub fn same_config(a: &[u8], b: &[u8]) -> bool {
    match (
        serde_json::from_slice::<Value>(a),
        serde_json::from_slice::<Value>(b),
    ) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    }
}

/// flanneld's `--etcd-prefix` for a cluster.
pub fn cluster_prefix(prefix: &str, cluster: &str) -> String {
    format!("{}/{cluster}", prefix.trim_end_matches('/'))
}

/// The key of a cluster's network config.
pub fn config_key(prefix: &str, cluster: &str) -> String {
    format!("{}/config", cluster_prefix(prefix, cluster))
}

/// The prefix of a cluster's subnet leases (flanneld writes them).
pub fn subnets_prefix(prefix: &str, cluster: &str) -> String {
    format!("{}/subnets/", cluster_prefix(prefix, cluster))
}

pub use apiextensions::names::{bridge_name, fnv1a};

/// The namespace of a cluster's flanneld on the host cluster.
pub fn namespace_name(cluster: &str) -> String {
    format!("flannel-network-{cluster}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use apiextensions::core::flannel_config::{BridgeSpec, NameServers, NtpServers};

    fn spec(network: &str, subnet_len: i32, vni: i32) -> FlannelConfigSpec {
        FlannelConfigSpec {
            cluster_id: "abc12".into(),
            network: network.into(),
            subnet_len,
            vni,
            bridge: BridgeSpec {
                interface: "eth0".into(),
                dns: NameServers::default(),
                ntp: NtpServers::default(),
            },
        }
    }

    #[test]
    fn the_config_is_flannels_documented_json() {
        let n = Network::from_spec(&spec("10.1.0.0/16", 24, 7)).unwrap();
        assert_eq!(
            n.config(),
            r#"{"Network":"10.1.0.0/16","SubnetLen":24,"Backend":{"Type":"vxlan","VNI":7}}"#
        );
        assert_eq!(
            config_key("/coreos.com/network", "abc12"),
            "/coreos.com/network/abc12/config"
        );
        assert_eq!(config_key("/p/", "abc12"), "/p/abc12/config");
        assert_eq!(
            subnets_prefix("/coreos.com/network", "abc12"),
            "/coreos.com/network/abc12/subnets/"
        );
        assert_eq!(n.vxlan_device(), "flannel.7");
        let v: Value = serde_json::from_str(&n.config()).unwrap();
        assert_eq!(v["Backend"]["VNI"], 7);
    }

    #[test]
    fn bad_networks_say_why() {
        assert!(
            Network::from_spec(&spec("10.1.2.3/16", 24, 1))
                .unwrap_err()
                .contains("did you mean 10.1.0.0/16")
        );
        assert!(
            Network::from_spec(&spec("fd00::/64", 80, 1))
                .unwrap_err()
                .contains("IPv4")
        );
        assert!(
            Network::from_spec(&spec("10.1.0.0/24", 24, 1))
                .unwrap_err()
                .contains("subnetLen 24")
        );
        assert!(
            Network::from_spec(&spec("10.1.0.0/16", 24, 0))
                .unwrap_err()
                .contains("vni 0")
        );
        assert!(Network::from_spec(&spec("10.1.0.0/33", 24, 1)).is_err());
    }

    #[test]
    fn overlap_is_any_shared_address() {
        let n = |s| Ipv4Net::parse(s).unwrap();
        assert!(n("10.1.0.0/16").overlaps(n("10.1.5.0/24")));
        assert!(n("10.1.5.0/24").overlaps(n("10.1.0.0/16")));
        assert!(n("10.0.0.0/8").overlaps(n("10.255.255.0/24")));
        assert!(!n("10.1.0.0/16").overlaps(n("10.2.0.0/16")));
        assert!(!n("10.1.0.0/24").overlaps(n("10.1.1.0/24")));
        assert!(n("0.0.0.0/0").overlaps(n("192.168.0.0/16")));
    }

    #[test]
    fn equal_configs_are_json_equal() {
        assert!(same_config(br#"{"a":1,"b":2}"#, br#"{ "b": 2, "a": 1 }"#));
        assert!(!same_config(br#"{"a":1}"#, br#"{"a":2}"#));
        assert!(!same_config(b"not json", br#"{"a":2}"#));
    }

    #[test]
    fn the_namespace_is_named_by_the_cluster() {
        assert_eq!(namespace_name("abc12"), "flannel-network-abc12");
    }
}
