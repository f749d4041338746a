//! Names more than one operator derives from a guest cluster's ID: what
//! one operator makes and another must find under the same name, without
//! asking it (flannel-operator makes the bridge, kvm-operator plugs its VMs
//! into it).

/// Linux interface names have at most 15 bytes.
const IFNAMSIZ: usize = 15;
const BRIDGE_PREFIX: &str = "br-";

/// The bridge of a cluster's flannel network on every host: `br-<clusterID>`
/// when that fits in a Linux interface name (15 bytes), else `br-` and 12
/// hex digits of a hash of the ID. Two clusters can get one name;
/// flannel-operator's claims refuse the second.
pub fn bridge_name(cluster: &str) -> String {
    if BRIDGE_PREFIX.len() + cluster.len() <= IFNAMSIZ {
        return format!("{BRIDGE_PREFIX}{cluster}");
    }
    let hash = fnv1a(cluster.as_bytes());
    let digits = IFNAMSIZ - BRIDGE_PREFIX.len();
    let hex = format!("{hash:016x}");
    format!("{BRIDGE_PREFIX}{}", &hex[..digits])
}

/// FNV-1a, 64 bits: stable across versions and machines (std's hasher is
/// not), for names and change-detecting hashes.
pub fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bridge_names_fit_an_interface_name() {
        assert_eq!(bridge_name("abc12"), "br-abc12");
        assert_eq!(bridge_name("abcdefghijkl"), "br-abcdefghijkl");
        let long = bridge_name("abcdefghijklm");
        assert_eq!(long.len(), IFNAMSIZ);
        assert!(long.starts_with("br-"));
        assert_ne!(long, bridge_name("abcdefghijkln"));
    }
}
