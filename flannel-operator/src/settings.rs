//! flannel-operator's command line: operatorkit's standard flags plus where
//! etcd is (and how to reach it), where flannel's keys live, and what the
//! flanneld DaemonSets run.

use std::path::PathBuf;
use std::time::Duration;

/// What `flannel-operator --help` says it does.
pub const ABOUT: &str = "Writes guest clusters' flannel networks into etcd and runs flanneld on the host nodes (FlannelConfig)";

/// flannel-operator's own flags.
#[derive(clap::Args, Clone, Debug)]
pub struct FlannelArgs {
    /// etcd v3 endpoints, comma-separated (`https://` ones with the TLS
    /// flags). The operator and every flanneld use them.
    #[arg(
        long,
        env = "ETCD_ENDPOINTS",
        value_delimiter = ',',
        default_value = "http://127.0.0.1:2379"
    )]
    pub etcd_endpoints: Vec<String>,
    /// CA certificate (PEM file) that signed etcd's serving certificate.
    #[arg(long, env = "ETCD_CA")]
    pub etcd_ca: Option<PathBuf>,
    /// Client certificate (PEM file) for etcd, with `--etcd-key`.
    #[arg(long, env = "ETCD_CERT", requires = "etcd_key")]
    pub etcd_cert: Option<PathBuf>,
    /// Private key (PEM file) of `--etcd-cert`.
    #[arg(long, env = "ETCD_KEY", requires = "etcd_cert")]
    pub etcd_key: Option<PathBuf>,
    /// How long one etcd request may take before etcd counts as
    /// unavailable, e.g. `5s`.
    #[arg(long, default_value = "5s", value_parser = operatorkit::duration::parse_arg)]
    pub etcd_timeout: Duration,
    /// How often a network's etcd config (and a conflicted FlannelConfig's
    /// claims) is looked at again, e.g. `1m`: a config changed or deleted
    /// by hand in etcd is put back within this long.
    #[arg(long, default_value = "1m", value_parser = operatorkit::duration::parse_arg)]
    pub recheck: Duration,
    /// flannel's etcd prefix: a cluster's network config is
    /// `<prefix>/<clusterID>/config`, its subnet leases are under
    /// `<prefix>/<clusterID>/subnets/`.
    #[arg(long, default_value = "/coreos.com/network")]
    pub etcd_prefix: String,
    /// Where the claims of VNIs, networks and bridge names are kept in etcd
    /// (shared by every replica and version of the operator).
    #[arg(long, default_value = "/flannel-operator.operatorkit.dev/claims")]
    pub claims_prefix: String,
    /// Directory on every host node holding flanneld's etcd client
    /// certificates (`ca.crt`, `tls.crt`, `tls.key`), mounted into the
    /// flanneld pods when the operator talks TLS to etcd.
    #[arg(long, default_value = "/etc/kubernetes/ssl/etcd")]
    pub flanneld_etcd_tls_dir: String,
    /// Image of flanneld.
    #[arg(long, default_value = "ghcr.io/flannel-io/flannel:v0.26.7")]
    pub flanneld_image: String,
    /// Image of the bridge and cleanup containers: a shell and iproute2
    /// (default: the flanneld image, which has both).
    #[arg(long)]
    pub bridge_image: Option<String>,
    /// Host nodes that may run guest clusters' VM pods (label selector
    /// terms `key=value`, comma-separated; default: every node). flanneld
    /// and the bridges run there.
    #[arg(long, value_delimiter = ',', value_parser = parse_label)]
    pub node_selector: Vec<(String, String)>,
}

impl FlannelArgs {
    /// The image of the bridge and cleanup containers.
    pub fn bridge_image(&self) -> &str {
        self.bridge_image.as_deref().unwrap_or(&self.flanneld_image)
    }

    /// Whether the operator (and flanneld) talk TLS to etcd.
    pub fn etcd_tls(&self) -> bool {
        self.etcd_ca.is_some() || self.etcd_cert.is_some()
    }
}

/// `key=value`.
fn parse_label(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_owned(), v.to_owned())),
        _ => Err(format!("{s:?} is not key=value")),
    }
}

/// The flags a command line (`args[0]` is the program) gives, for tests.
#[cfg(test)]
pub(crate) fn parse(args: &[&str]) -> Result<FlannelArgs, clap::Error> {
    use clap::Parser;
    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        flags: FlannelArgs,
    }
    Cli::try_parse_from(args).map(|c| c.flags)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_lists() {
        let flags = parse(&["x"]).unwrap();
        assert_eq!(flags.etcd_endpoints, ["http://127.0.0.1:2379"]);
        assert_eq!(flags.etcd_prefix, "/coreos.com/network");
        assert_eq!(flags.bridge_image(), flags.flanneld_image);
        assert!(!flags.etcd_tls());
        let flags = parse(&[
            "x",
            "--etcd-endpoints=https://a:2379,https://b:2379",
            "--node-selector=role=vm,zone=a",
            "--etcd-ca=/ca.crt",
        ])
        .unwrap();
        assert_eq!(flags.etcd_endpoints.len(), 2);
        assert_eq!(
            flags.node_selector,
            [("role".into(), "vm".into()), ("zone".into(), "a".into())]
        );
        assert!(flags.etcd_tls());
        assert!(parse(&["x", "--node-selector=novalue"]).is_err());
        assert!(parse(&["x", "--etcd-cert=/c"]).is_err());
    }
}
