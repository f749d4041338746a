//! ingress-operator's command line: operatorkit's standard flags plus the
//! namespace of the ingress controller it maps ports on.

/// What `ingress-operator --help` says it does.
pub const ABOUT: &str =
    "Maps guest clusters' ports on the host's ingress controller (IngressConfig)";

/// ingress-operator's own flags.
#[derive(clap::Args, Clone, Debug)]
pub struct IngressArgs {
    /// Namespace of the ingress controller (its services ConfigMaps and its
    /// Service): the only namespace whose ConfigMaps and Services the
    /// operator reads and writes. IngressConfigs naming another one are
    /// refused (InvalidSpec).
    #[arg(
        long,
        env = "INGRESS_CONTROLLER_NAMESPACE",
        default_value = "ingress-nginx"
    )]
    pub controller_namespace: String,
}
