//! The certificates of a guest cluster, as every provider operator asks
//! cert-operator for them and reads them back:
//! - which components a guest cluster has ([`Component`]) and the
//!   [`CertConfigSpec`] of each (names, IP addresses, groups);
//! - their names: CertConfig `<id>-<component>`, and cert-operator's Secret
//!   of the same name holding `ca.crt`, `tls.crt` and `tls.key` ([`Pem`]);
//! - the admin kubeconfig built from the issued admin certificate, written
//!   to Secret `<id>-kubeconfig` under key `value` (Cluster API's
//!   convention, so users and CAPI-style tooling find it);
//! - [`ClusterIndex`]: which provider object a certificate Secret (labelled
//!   with its cluster, naming only its CertConfig) belongs to, so a watch on
//!   Secrets brings the right object back.
//!
//! kvm-operator and aws-operator share this module; what differs between
//! them (kvm-operator's in-cluster Service names, its own client
//! certificate) comes in as arguments.

use std::collections::{BTreeMap, HashMap};
use std::net::Ipv4Addr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use kube::Resource;
use kube::config::{
    AuthInfo, Cluster, Context as KubeContext, Kubeconfig, NamedAuthInfo, NamedCluster,
    NamedContext,
};
use kube::runtime::reflector::ObjectRef;

use kube::api::ObjectMeta;
use operatorkit::{Context, OperatorKind};

use crate::keys::{CERT_OPERATOR, CLUSTER_LABEL, COMPONENT_LABEL, OperatorName};
use crate::{CertConfig, CertConfigSpec, ClusterSpec};

/// A certificate of a guest cluster.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Component {
    /// The guest API server's serving certificate.
    Api,
    /// etcd's serving and peer certificate.
    Etcd,
    /// The kubelets' certificate.
    Worker,
    /// The key pair that signs ServiceAccount tokens.
    ServiceAccount,
    /// The admin's client certificate (the kubeconfig Secret).
    Admin,
    /// A client certificate in `system:masters` for the named operator,
    /// which reaches the guest API with it (kvm-operator does).
    Operator(&'static OperatorName),
}

impl Component {
    /// The components every guest cluster has, in the order their
    /// CertConfigs are listed.
    pub const GUEST: [Component; 5] = [
        Component::Api,
        Component::Etcd,
        Component::Worker,
        Component::ServiceAccount,
        Component::Admin,
    ];

    /// The components a master boots with; a worker boots with
    /// [`Component::Worker`] only.
    pub const MASTER: [Component; 4] = [
        Component::Api,
        Component::Etcd,
        Component::ServiceAccount,
        Component::Worker,
    ];

    /// The `clusterComponent` of its CertConfig.
    pub fn as_str(self) -> &'static str {
        match self {
            Component::Api => "api",
            Component::Etcd => "etcd",
            Component::Worker => "worker",
            Component::ServiceAccount => "service-account",
            Component::Admin => "admin",
            Component::Operator(name) => name.as_str(),
        }
    }
}

/// Name of a component's CertConfig, and of the Secret cert-operator
/// issues for it: `<id>-<component>`.
pub fn cert_name(cluster: &str, component: Component) -> String {
    format!("{cluster}-{}", component.as_str())
}

/// The CertConfig spec of `component` of `cluster`. `internal` are more
/// names the API and etcd certificates must carry (kvm-operator's
/// in-cluster Service). An unusable service CIDR is an error naming it.
pub fn cert_spec(
    cluster: &ClusterSpec,
    component: Component,
    internal: &[String],
) -> Result<CertConfigSpec, String> {
    let k8s = &cluster.kubernetes;
    let localhost = || vec!["localhost".to_owned()];
    let loopback = || vec!["127.0.0.1".to_owned()];
    let (mut alt_names, ip_sans, organizations) = match component {
        Component::Api => {
            let mut names = vec![
                cluster.domain("api"),
                "kubernetes".to_owned(),
                "kubernetes.default".to_owned(),
                "kubernetes.default.svc".to_owned(),
                format!("kubernetes.default.svc.{}", k8s.cluster_domain),
            ];
            names.extend(internal.iter().cloned());
            let ips = vec![api_service_ip(cluster)?.to_string(), "127.0.0.1".to_owned()];
            (names, ips, vec![])
        }
        Component::Etcd => {
            let mut names = vec![cluster.domain("etcd")];
            names.extend(internal.iter().cloned());
            (names, loopback(), vec![])
        }
        Component::Worker => (
            vec![cluster.domain("worker")],
            loopback(),
            vec!["system:nodes".to_owned()],
        ),
        Component::ServiceAccount => (vec![], vec![], vec![]),
        Component::Admin | Component::Operator(_) => {
            (vec![], vec![], vec!["system:masters".to_owned()])
        }
    };
    if !alt_names.is_empty() {
        alt_names.extend(localhost());
    }
    Ok(CertConfigSpec {
        cluster_id: cluster.id.clone(),
        cluster_component: component.as_str().to_owned(),
        // `<component>.<id>`: at most 15 + 1 + 40 characters, inside a
        // common name's 64 whatever the base domain; the domains are in
        // the alternative names.
        common_name: format!("{}.{}", component.as_str(), cluster.id),
        alt_names,
        ip_sans,
        organizations,
        ttl: "2160h".to_owned(),
        key_algorithm: None,
        allow_bare_domains: false,
        disable_regeneration: false,
    })
}

/// The CertConfig of `component` of `cluster`: named `<id>-<component>`,
/// labelled with the cluster, the component and the version of
/// cert-operator that should issue it (`cert_operator_version`).
pub fn cert_config(
    cluster: &ClusterSpec,
    component: Component,
    internal: &[String],
    cert_operator_version: &str,
) -> Result<CertConfig, String> {
    let labels = BTreeMap::from([
        (CLUSTER_LABEL.to_owned(), cluster.id.clone()),
        (COMPONENT_LABEL.to_owned(), component.as_str().to_owned()),
        (
            CERT_OPERATOR.version_label(),
            cert_operator_version.to_owned(),
        ),
    ]);
    Ok(CertConfig {
        metadata: ObjectMeta {
            name: Some(cert_name(&cluster.id, component)),
            labels: Some(labels),
            ..ObjectMeta::default()
        },
        spec: cert_spec(cluster, component, internal)?,
        status: None,
    })
}

/// The issued certificates of `components` of `cluster` in the object's
/// namespace, read through the operator's cache when it watches Secrets,
/// or the names of the Secrets still missing (or incomplete).
pub async fn issued<K: OperatorKind>(
    cx: &Context<K>,
    cluster: &str,
    components: &[Component],
) -> Result<Result<Certificates, Vec<String>>, kube::Error> {
    let ns = cx.namespace();
    let mut certs = Certificates::new();
    let mut missing = Vec::new();
    for &component in components {
        let name = cert_name(cluster, component);
        match cx
            .get::<Secret>(&ns, &name)
            .await?
            .as_deref()
            .and_then(Pem::from_secret)
        {
            Some(p) => {
                certs.insert(component, p);
            }
            None => missing.push(name),
        }
    }
    Ok(if missing.is_empty() {
        Ok(certs)
    } else {
        Err(missing)
    })
}

/// The guest's `kubernetes` Service IP: the first address of its service
/// CIDR.
pub fn api_service_ip(cluster: &ClusterSpec) -> Result<Ipv4Addr, String> {
    let cidr = &cluster.kubernetes.service_cidr;
    let net: ipnet::Ipv4Net = cidr
        .parse()
        .map_err(|_| format!("serviceCIDR {cidr} is not an IPv4 CIDR"))?;
    if net.prefix_len() > 30 {
        return Err(format!("serviceCIDR {cidr} has no room for Services"));
    }
    // A prefix of at most 30 bits leaves the network address + 1 inside it.
    Ok(Ipv4Addr::from(u32::from(net.network()) + 1))
}

/// What a certificate Secret holds: PEM of the CA, certificate and key.
#[derive(Clone, PartialEq)]
pub struct Pem {
    /// `ca.crt`.
    pub ca: ByteString,
    /// `tls.crt`.
    pub crt: ByteString,
    /// `tls.key`.
    pub key: ByteString,
}

impl Pem {
    /// The Secret's three PEMs, if all are there and not empty.
    pub fn from_secret(secret: &Secret) -> Option<Pem> {
        let data = secret.data.as_ref()?;
        let get = |k: &str| data.get(k).filter(|v| !v.0.is_empty()).cloned();
        Some(Pem {
            ca: get("ca.crt")?,
            crt: get("tls.crt")?,
            key: get("tls.key")?,
        })
    }
}

impl std::fmt::Debug for Pem {
    /// The CA and certificate lengths only, never the private key.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pem")
            .field("ca_bytes", &self.ca.0.len())
            .field("crt_bytes", &self.crt.0.len())
            .finish_non_exhaustive()
    }
}

/// The issued certificates of a cluster, by component.
pub type Certificates = BTreeMap<Component, Pem>;

/// The Secret's key that holds the admin kubeconfig.
pub const KUBECONFIG_KEY: &str = "value";

/// `<cluster-id>-kubeconfig`: the admin kubeconfig Secret.
pub fn kubeconfig_secret_name(cluster: &str) -> String {
    format!("{cluster}-kubeconfig")
}

/// A kubeconfig for guest cluster `cluster` at `server`, as `user` with the
/// client certificate `pem` (the cluster CA is the one it verifies the
/// server with).
pub fn kubeconfig(cluster: &str, server: &str, user: &str, pem: &Pem) -> Kubeconfig {
    let b64 = |b: &ByteString| {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD.encode(&b.0)
    };
    let context = format!("{user}@{cluster}");
    Kubeconfig {
        clusters: vec![NamedCluster {
            name: cluster.to_owned(),
            cluster: Some(Cluster {
                server: Some(server.to_owned()),
                certificate_authority_data: Some(b64(&pem.ca)),
                ..Cluster::default()
            }),
            other: BTreeMap::new(),
        }],
        auth_infos: vec![NamedAuthInfo {
            name: user.to_owned(),
            auth_info: Some(AuthInfo {
                client_certificate_data: Some(b64(&pem.crt)),
                client_key_data: Some(b64(&pem.key).into()),
                ..AuthInfo::default()
            }),
            other: BTreeMap::new(),
        }],
        contexts: vec![NamedContext {
            name: context.clone(),
            context: Some(KubeContext {
                cluster: cluster.to_owned(),
                user: Some(user.to_owned()),
                ..KubeContext::default()
            }),
            other: BTreeMap::new(),
        }],
        current_context: Some(context),
        api_version: Some("v1".to_owned()),
        kind: Some("Config".to_owned()),
        ..Kubeconfig::default()
    }
}

/// The admin kubeconfig of `cluster` at `server` as the Secret's data
/// (YAML under [`KUBECONFIG_KEY`]).
pub fn admin_kubeconfig(
    cluster: &str,
    server: &str,
    admin: &Pem,
) -> Result<BTreeMap<String, ByteString>, serde_yaml::Error> {
    let text = serde_yaml::to_string(&kubeconfig(cluster, server, "admin", admin))?;
    Ok(BTreeMap::from([(
        KUBECONFIG_KEY.to_owned(),
        ByteString(text.into_bytes()),
    )]))
}

/// `(namespace, cluster ID)` to the objects naming that cluster there.
type Map<K> = HashMap<(String, String), Vec<ObjectRef<K>>>;

/// Which provider objects of kind `K` run which cluster, per namespace:
/// how a certificate Secret brings its object back. Filled by every
/// reconcile of an object (all run when the operator starts), emptied when
/// its deletion finishes. Clones share the map.
#[derive(Debug)]
pub struct ClusterIndex<K: Resource<DynamicType = ()>> {
    inner: Arc<Mutex<Map<K>>>,
}

impl<K: Resource<DynamicType = ()>> Clone for ClusterIndex<K> {
    fn clone(&self) -> Self {
        Self {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<K: Resource<DynamicType = ()>> Default for ClusterIndex<K> {
    fn default() -> Self {
        Self {
            inner: Arc::default(),
        }
    }
}

impl<K: Resource<DynamicType = ()>> ClusterIndex<K> {
    /// The map, even if a holder panicked (each change is one insert or
    /// remove: no invariant to break half-way).
    fn lock(&self) -> MutexGuard<'_, Map<K>> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// `object` runs `cluster` (in its namespace).
    pub fn record(&self, object: &K, cluster: &str) {
        let key = (
            object.meta().namespace.clone().unwrap_or_default(),
            cluster.to_owned(),
        );
        let object = ObjectRef::from_obj(object);
        let mut map = self.lock();
        let refs = map.entry(key).or_default();
        if !refs.contains(&object) {
            refs.push(object);
        }
    }

    /// `object` is gone (its deletion finished).
    pub fn forget(&self, object: &K, cluster: &str) {
        let key = (
            object.meta().namespace.clone().unwrap_or_default(),
            cluster.to_owned(),
        );
        let object = ObjectRef::from_obj(object);
        let mut map = self.lock();
        if let Some(refs) = map.get_mut(&key) {
            refs.retain(|r| r != &object);
            if refs.is_empty() {
                map.remove(&key);
            }
        }
    }

    /// The objects of `cluster` in `namespace`.
    pub fn get(&self, namespace: &str, cluster: &str) -> Vec<ObjectRef<K>> {
        self.lock()
            .get(&(namespace.to_owned(), cluster.to_owned()))
            .cloned()
            .unwrap_or_default()
    }

    /// The objects a Secret labelled with its cluster belongs to: a watch
    /// mapper for certificate Secrets.
    pub fn of_secret(&self, secret: &Secret) -> Vec<ObjectRef<K>> {
        let ns = secret.metadata.namespace.as_deref().unwrap_or_default();
        let cluster = secret
            .metadata
            .labels
            .as_ref()
            .and_then(|l| l.get(CLUSTER_LABEL));
        cluster.map(|c| self.get(ns, c)).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::AWSConfig;

    fn cluster() -> ClusterSpec {
        serde_json::from_value(serde_json::json!({
            "id": "def34", "organization": "acme", "version": "1.32.0",
            "baseDomain": "k8s.example.com",
            "kubernetes": {"serviceCIDR": "172.31.0.0/16"},
        }))
        .unwrap()
    }

    const KVM: Component = Component::Operator(&crate::keys::KVM_OPERATOR);

    #[test]
    fn certificates_name_what_the_guest_serves() {
        let c = cluster();
        let api = cert_spec(&c, Component::Api, &["master.def34.svc".into()]).unwrap();
        assert_eq!(api.common_name, "api.def34");
        assert!(api.alt_names.contains(&"api.def34.k8s.example.com".into()));
        assert!(api.alt_names.contains(&"master.def34.svc".into()));
        assert_eq!(api.ip_sans, ["172.31.0.1", "127.0.0.1"]);
        let worker = cert_spec(&c, Component::Worker, &[]).unwrap();
        assert_eq!(worker.organizations, ["system:nodes"]);
        assert!(!worker.alt_names.contains(&"master.def34.svc".into()));
        let sa = cert_spec(&c, Component::ServiceAccount, &[]).unwrap();
        assert!(sa.alt_names.is_empty());
        let own = cert_spec(&c, KVM, &[]).unwrap();
        assert_eq!(own.organizations, ["system:masters"]);
        assert_eq!(cert_name("def34", KVM), "def34-kvm-operator");
    }

    #[test]
    fn the_service_ip_is_the_first_of_the_range() {
        let mut c = cluster();
        assert_eq!(api_service_ip(&c).unwrap().to_string(), "172.31.0.1");
        c.kubernetes.service_cidr = "10.0.0.0/31".into();
        assert!(api_service_ip(&c).unwrap_err().contains("no room"));
        c.kubernetes.service_cidr = "nonsense".into();
        assert!(api_service_ip(&c).unwrap_err().contains("nonsense"));
        assert!(cert_spec(&c, Component::Api, &[]).is_err());
    }

    #[test]
    fn a_secret_is_complete_only_with_three_pems() {
        let b = |s: &str| ByteString(s.as_bytes().to_vec());
        let mut secret = Secret {
            data: Some(BTreeMap::from([
                ("ca.crt".to_owned(), b("CA")),
                ("tls.crt".to_owned(), b("CRT")),
                ("tls.key".to_owned(), b("")),
            ])),
            ..Secret::default()
        };
        assert!(Pem::from_secret(&secret).is_none());
        secret
            .data
            .as_mut()
            .unwrap()
            .insert("tls.key".into(), b("KEY"));
        let pem = Pem::from_secret(&secret).unwrap();
        assert!(!format!("{pem:?}").contains("KEY"));
    }

    #[test]
    fn the_kubeconfig_reads_back_with_the_issued_certificate() {
        let b = |s: &str| ByteString(s.as_bytes().to_vec());
        let pem = Pem {
            ca: b("CA"),
            crt: b("CRT"),
            key: b("KEY"),
        };
        let data = admin_kubeconfig("def34", "https://api.def34.example.com", &pem).unwrap();
        let text = &data[KUBECONFIG_KEY].0;
        let read: Kubeconfig = serde_yaml::from_slice(text).unwrap();
        let cluster = read.clusters[0].cluster.as_ref().unwrap();
        assert_eq!(
            cluster.server.as_deref(),
            Some("https://api.def34.example.com")
        );
        assert_eq!(cluster.certificate_authority_data.as_deref(), Some("Q0E="));
        let user = read.auth_infos[0].auth_info.as_ref().unwrap();
        assert_eq!(user.client_certificate_data.as_deref(), Some("Q1JU"));
        let yaml = String::from_utf8_lossy(text);
        assert!(yaml.contains("client-key-data: S0VZ"), "{yaml}");
        assert_eq!(read.current_context.as_deref(), Some("admin@def34"));
        assert_eq!(kubeconfig_secret_name("def34"), "def34-kubeconfig");
    }

    #[test]
    fn the_index_finds_and_forgets() {
        let index = ClusterIndex::<AWSConfig>::default();
        let mut config: AWSConfig =
            serde_yaml::from_str(include_str!("../../../manifests/examples/awsconfig.yaml"))
                .unwrap();
        config.metadata.name = Some("a".into());
        config.metadata.namespace = Some("ns".into());
        let a = ObjectRef::from_obj(&config);
        index.record(&config, "abc12");
        index.record(&config, "abc12");
        assert_eq!(index.get("ns", "abc12"), std::slice::from_ref(&a));
        let mut secret = Secret::default();
        secret.metadata.namespace = Some("ns".into());
        assert!(index.of_secret(&secret).is_empty());
        secret.metadata.labels = Some([(CLUSTER_LABEL.to_owned(), "abc12".to_owned())].into());
        assert_eq!(index.of_secret(&secret), std::slice::from_ref(&a));
        assert!(index.get("other", "abc12").is_empty());
        index.forget(&config, "abc12");
        assert!(index.get("ns", "abc12").is_empty());
    }
}
