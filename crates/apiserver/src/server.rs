//! Starting and stopping a server: listener (HTTP or HTTPS with a self-signed
//! certificate made at start), restored or fresh store, built-in namespaces,
//! controllers, and a [`Handle`] with the URL and a ready `kube::Config`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use hyper_util::rt::{TokioExecutor, TokioIo};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::auth::serviceaccount::ServiceAccounts;
use crate::auth::{Authenticator, TokenFileError};
use crate::http::{App, RequestCounter};
use crate::resources::{Builtin, Registry};
use crate::rest::Rest;
use crate::rest::options::WriteOptions;
use crate::store::{Store, wal::Wal};
use crate::watch::WatchConfig;

/// How to run a server.
#[derive(Debug, Clone)]
pub struct Config {
    /// Address to listen on; port 0 picks a free one.
    pub address: SocketAddr,
    /// Serve HTTPS (else plain HTTP), with [`Config::serving_cert`] or a
    /// self-signed certificate.
    pub tls: bool,
    /// The certificate to serve HTTPS with (kube-apiserver's
    /// `--tls-cert-file` and `--tls-private-key-file`); a self-signed one
    /// for localhost when `None`.
    pub serving_cert: Option<ServingCert>,
    /// Keep every acknowledged write durable here and restore it on start.
    pub data_dir: Option<PathBuf>,
    /// How the data directory is opened: recovery from damage, compaction.
    pub data_dir_options: crate::store::wal::Options,
    /// Bearer-token users (kube-apiserver `--token-auth-file` format).
    pub token_file: Option<PathBuf>,
    /// CA bundle (PEM) that client certificates are verified against
    /// (the contents of `--client-ca-file`); HTTPS only.
    pub client_ca: Option<String>,
    /// Allow requests without credentials, as `system:anonymous`
    /// (kube-apiserver's `--anonymous-auth`).
    pub anonymous: bool,
    /// `--authorization-mode`: RBAC (default) or AlwaysAllow.
    pub authorization_mode: crate::authz::Mode,
    /// Change events kept for watches and old-revision reads.
    pub watch_history: usize,
    /// How often watches that ask for bookmarks get one.
    pub bookmark_interval: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            address: SocketAddr::from(([127, 0, 0, 1], 0)),
            tls: false,
            serving_cert: None,
            data_dir: None,
            data_dir_options: Default::default(),
            token_file: None,
            client_ca: None,
            anonymous: true,
            authorization_mode: crate::authz::Mode::default(),
            watch_history: 100_000,
            bookmark_interval: Duration::from_secs(60),
        }
    }
}

/// A certificate to serve with, in PEM.
#[derive(Clone)]
pub struct ServingCert {
    /// The certificate chain, leaf first.
    pub cert_pem: String,
    /// Its private key (PKCS#8, PKCS#1 or SEC1).
    pub key_pem: String,
    /// The CA clients verify it with, for the kubeconfigs this server
    /// writes ([`Handle::kubeconfig`]); the leaf itself when `None`.
    pub ca_pem: Option<String>,
}

impl std::fmt::Debug for ServingCert {
    /// Never the key.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServingCert").finish_non_exhaustive()
    }
}

/// Why a server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// Binding the listener failed.
    #[error("listening on {address}: {source}")]
    Listen {
        /// The address.
        address: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// The data directory could not be opened or replayed.
    #[error("opening data directory {path}: {source}")]
    DataDir {
        /// The directory.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The token file is unusable.
    #[error(transparent)]
    Tokens(#[from] TokenFileError),
    /// The ServiceAccount signing key could not be loaded or made.
    #[error(transparent)]
    ServiceAccountKey(#[from] crate::auth::serviceaccount::KeyError),
    /// Making the TLS certificate failed.
    #[error("creating the TLS certificate: {0}")]
    Tls(String),
    /// Creating the built-in namespaces failed.
    #[error("bootstrapping: {0}")]
    Bootstrap(crate::error::ApiError),
}

/// A running server.
pub struct Handle {
    url: String,
    cert: Option<Certificate>,
    admin_token: String,
    app: Arc<App>,
    shutdown: watch::Sender<bool>,
    tasks: JoinSet<()>,
}

/// Namespaces every cluster has.
const SYSTEM_NAMESPACES: &[&str] = &["default", "kube-system", "kube-public", "kube-node-lease"];

/// Starts a server.
pub async fn start(config: Config) -> Result<Handle, StartError> {
    let store = open_store(&config)?;
    let registry = Arc::new(Registry::with_builtins());
    let crd_storage = Builtin::CustomResourceDefinition.storage_key();
    for (_, crd) in store.read(|s| s.values(&crd_storage, None)) {
        crate::resources::crd::register(&registry, &crd);
    }
    let authz = Arc::new(crate::authz::Authorizer::new(
        config.authorization_mode,
        store.clone(),
    ));
    let rest = Rest::new(store.clone(), registry.clone()).with_escalation_check(authz.clone());
    bootstrap(&rest, &registry).map_err(StartError::Bootstrap)?;
    // Like a real cluster, the server has an admin credential; its kubeconfig
    // carries it (kubectl prompts for a password over HTTPS without one).
    let admin_token = uuid::Uuid::new_v4().simple().to_string();
    let (auth, service_accounts) = authenticator(&config, &store, &admin_token)?;
    let (listener, local) = listen(config.address).await?;
    let (tls, cert, ca_pem) = serving(&config, local)?;
    let scheme = if tls.is_some() { "https" } else { "http" };
    let url = format!("{scheme}://{local}");
    let (shutdown, shutdown_rx) = watch::channel(false);
    let app = Arc::new(App {
        rest,
        store: store.clone(),
        registry: registry.clone(),
        auth,
        authz,
        service_accounts,
        watch: WatchConfig {
            bookmark_interval: config.bookmark_interval,
            ..WatchConfig::default()
        },
        shutdown: shutdown_rx.clone(),
        address: local.to_string(),
        requests: RequestCounter::default(),
        openapi: Default::default(),
    });
    let mut tasks = JoinSet::new();
    let published = crate::publish::Published {
        address: local,
        ca_pem,
    };
    tasks.spawn(controllers(store, registry, published, shutdown_rx.clone()));
    tasks.spawn(accept_loop(listener, tls, app.clone(), shutdown_rx));
    tracing::info!(%url, "embedded API server listening");
    Ok(Handle {
        url,
        cert,
        admin_token,
        app,
        shutdown,
        tasks,
    })
}

/// The store, restored from `config.data_dir` if there is one.
fn open_store(config: &Config) -> Result<Arc<Store>, StartError> {
    let (wal, revision, objects) = match &config.data_dir {
        Some(dir) => {
            let (wal, restored) =
                Wal::open(dir, config.data_dir_options.clone()).map_err(|source| {
                    StartError::DataDir {
                        path: dir.clone(),
                        source,
                    }
                })?;
            (Some(wal), restored.revision, restored.objects)
        }
        None => (None, 0, Vec::new()),
    };
    Ok(Arc::new(Store::new(
        config.watch_history,
        wal,
        revision,
        objects,
    )))
}

/// Who may ask: the token file's users (or none), the admin token, and the
/// ServiceAccount tokens this server issues.
fn authenticator(
    config: &Config,
    store: &Arc<Store>,
    admin_token: &str,
) -> Result<(Authenticator, Arc<ServiceAccounts>), StartError> {
    let auth = match &config.token_file {
        Some(f) => Authenticator::from_token_file(f, config.anonymous)?,
        None => Authenticator::without_tokens(config.anonymous),
    }
    .with_admin_token(admin_token);
    let service_accounts = Arc::new(ServiceAccounts::new(
        store.clone(),
        config.data_dir.as_deref(),
    )?);
    Ok((
        auth.with_service_accounts(service_accounts.clone()),
        service_accounts,
    ))
}

/// The bound listener and its address (the port chosen, for port 0).
async fn listen(address: SocketAddr) -> Result<(TcpListener, SocketAddr), StartError> {
    let error = |source| StartError::Listen { address, source };
    let listener = TcpListener::bind(address).await.map_err(error)?;
    let local = listener.local_addr().map_err(error)?;
    Ok((listener, local))
}

/// TLS (when configured) with the certificate served, and the CA PEM
/// `kube-root-ca.crt` publishes: the one clients verify the server with, or
/// over plain HTTP a self-signed one of this address that nothing serves
/// with (the ConfigMap exists as on every cluster).
fn serving(
    config: &Config,
    local: SocketAddr,
) -> Result<
    (
        Option<tokio_rustls::TlsAcceptor>,
        Option<Certificate>,
        String,
    ),
    StartError,
> {
    if !config.tls {
        return Ok((None, None, self_signed(local)?.2.pem));
    }
    let (acceptor, cert) = tls_acceptor(
        local,
        config.serving_cert.as_ref(),
        config.client_ca.as_deref(),
    )?;
    let ca_pem = cert.pem.clone();
    Ok((Some(acceptor), Some(cert), ca_pem))
}

/// The server's own controllers, as followers of one event-log loop.
async fn controllers(
    store: Arc<Store>,
    registry: Arc<Registry>,
    published: crate::publish::Published,
    shutdown: watch::Receiver<bool>,
) {
    let followers = vec![
        crate::controllers::follower(store.clone(), registry.clone()),
        crate::quota::follower(Rest::new(store.clone(), registry.clone())),
        crate::publish::follower(Rest::new(store.clone(), registry), published),
    ];
    crate::follow::run(store, followers, crate::publish::RECONCILE_EVERY, shutdown).await;
}

/// The system PriorityClasses, as kube-apiserver's scheduling bootstrap
/// creates them.
fn system_priority_classes() -> Vec<serde_json::Value> {
    let described = [
        "Used for system critical pods that must run in the cluster, but can be moved to another node if necessary.",
        "Used for system critical pods that must not be moved from their current node.",
    ];
    crate::admission::SYSTEM_PRIORITY_CLASSES
        .iter()
        .zip(described)
        .map(|((name, value), description)| {
            json!({"apiVersion": "scheduling.k8s.io/v1", "kind": "PriorityClass",
                "metadata": {"name": name}, "value": value, "description": description})
        })
        .collect()
}

/// Creates what every cluster has and is missing: the system namespaces,
/// the system PriorityClasses and the bootstrap RBAC policy.
fn bootstrap(rest: &Rest, registry: &Registry) -> crate::error::ApiResult<()> {
    let namespaces = SYSTEM_NAMESPACES
        .iter()
        .map(|ns| json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}));
    let all = namespaces
        .chain(system_priority_classes())
        .chain(crate::authz::bootstrap_policy());
    for obj in all {
        let (Some(api_version), Some(kind)) = (obj["apiVersion"].as_str(), obj["kind"].as_str())
        else {
            continue;
        };
        let Some(rt) = registry.by_kind(api_version, kind) else {
            continue;
        };
        let name = crate::meta::name(&obj).unwrap_or_default().to_owned();
        if rest.get(&rt, None, &name).is_ok() {
            continue;
        }
        rest.create(&rt, None, obj, &WriteOptions::default())?;
    }
    Ok(())
}

/// The self-signed server certificate, as clients are given it.
struct Certificate {
    /// PEM, for kubeconfig files.
    pem: String,
    /// DER, for `kube::Config`.
    der: Vec<u8>,
}

fn tls_acceptor(
    local: SocketAddr,
    serving: Option<&ServingCert>,
    client_ca: Option<&str>,
) -> Result<(tokio_rustls::TlsAcceptor, Certificate), StartError> {
    let tls_err = |e: &dyn std::fmt::Display| StartError::Tls(e.to_string());
    let (chain, key_der, cert) = match serving {
        Some(s) => given_cert(s)?,
        None => self_signed(local)?,
    };
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| tls_err(&e))?;
    let builder = match client_ca {
        Some(pem) => builder.with_client_cert_verifier(
            crate::auth::x509::verifier(pem.as_bytes(), provider).map_err(|e| tls_err(&e))?,
        ),
        None => builder.with_no_client_auth(),
    };
    let mut server = builder
        .with_single_cert(chain, key_der)
        .map_err(|e| tls_err(&e))?;
    server.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok((tokio_rustls::TlsAcceptor::from(Arc::new(server)), cert))
}

/// What a TLS server serves with: its chain, its key, and what clients trust.
type Served = (
    Vec<rustls::pki_types::CertificateDer<'static>>,
    rustls::pki_types::PrivateKeyDer<'static>,
    Certificate,
);

/// A self-signed certificate for localhost and the listening address.
fn self_signed(local: SocketAddr) -> Result<Served, StartError> {
    let tls_err = |e: &dyn std::fmt::Display| StartError::Tls(e.to_string());
    let mut names = vec![
        "localhost".to_owned(),
        "127.0.0.1".to_owned(),
        "::1".to_owned(),
    ];
    let ip = local.ip().to_string();
    if !names.contains(&ip) {
        names.push(ip);
    }
    let certified = rcgen::generate_simple_self_signed(names).map_err(|e| tls_err(&e))?;
    let cert = Certificate {
        pem: certified.cert.pem(),
        der: certified.cert.der().to_vec(),
    };
    let key_der = rustls::pki_types::PrivateKeyDer::try_from(certified.signing_key.serialize_der())
        .map_err(|e| tls_err(&e))?;
    Ok((vec![certified.cert.der().clone()], key_der, cert))
}

/// The configured certificate, and its CA (or itself) for clients.
fn given_cert(s: &ServingCert) -> Result<Served, StartError> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let tls_err = |what: &str, e: &dyn std::fmt::Display| StartError::Tls(format!("{what}: {e}"));
    let chain = CertificateDer::pem_slice_iter(s.cert_pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| tls_err("the serving certificate", &e))?;
    let key = PrivateKeyDer::from_pem_slice(s.key_pem.as_bytes())
        .map_err(|e| tls_err("the serving key", &e))?;
    let trusted = s.ca_pem.as_deref().unwrap_or(&s.cert_pem);
    let der = CertificateDer::pem_slice_iter(trusted.as_bytes())
        .next()
        .ok_or_else(|| StartError::Tls("the CA holds no certificate".into()))?
        .map_err(|e| tls_err("the CA", &e))?;
    let cert = Certificate {
        pem: trusted.to_owned(),
        der: der.to_vec(),
    };
    Ok((chain, key, cert))
}

async fn accept_loop(
    listener: TcpListener,
    tls: Option<tokio_rustls::TlsAcceptor>,
    app: Arc<App>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                let _ = stream.set_nodelay(true);
                let app = app.clone();
                let tls = tls.clone();
                let shutdown = shutdown.clone();
                connections.spawn(async move {
                    match tls {
                        Some(acceptor) => match acceptor.accept(stream).await {
                            Ok(s) => {
                                let certificate = s
                                    .get_ref()
                                    .1
                                    .peer_certificates()
                                    .and_then(|c| c.first())
                                    .and_then(|c| crate::auth::x509::user(c))
                                    .map(Arc::new);
                                serve(TokioIo::new(s), app, shutdown, certificate).await
                            }
                            Err(e) => tracing::debug!(error = %e, "TLS handshake failed"),
                        },
                        None => serve(TokioIo::new(stream), app, shutdown, None).await,
                    }
                });
            }
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            _ = shutdown.changed() => break,
        }
    }
    // Let in-flight requests finish; watches end on the shutdown signal.
    let drain = async { while connections.join_next().await.is_some() {} };
    if tokio::time::timeout(Duration::from_secs(5), drain)
        .await
        .is_err()
    {
        connections.abort_all();
    }
}

async fn serve<I>(
    io: I,
    app: Arc<App>,
    mut shutdown: watch::Receiver<bool>,
    certificate: Option<Arc<crate::user::User>>,
) where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let service = hyper::service::service_fn(move |req| {
        let app = app.clone();
        let certificate = certificate.clone();
        async move { Ok::<_, std::convert::Infallible>(app.handle(req, certificate).await) }
    });
    let builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
    let conn = builder.serve_connection(io, service);
    tokio::pin!(conn);
    tokio::select! {
        res = conn.as_mut() => {
            if let Err(e) = res {
                tracing::debug!(error = %e, "connection ended with an error");
            }
        }
        _ = shutdown.changed() => {
            conn.as_mut().graceful_shutdown();
            let _ = conn.await;
        }
    }
}

impl Handle {
    /// Base URL, e.g. `http://127.0.0.1:43123`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// PEM of the server certificate, when serving HTTPS.
    pub fn ca_pem(&self) -> Option<&str> {
        self.cert.as_ref().map(|c| c.pem.as_str())
    }

    /// The authorizer: its mode, and the decisions it keeps once asked to
    /// (tests that prove a role is least privilege).
    pub fn authorizer(&self) -> &crate::authz::Authorizer {
        &self.app.authz
    }

    /// Requests served so far.
    pub fn requests(&self) -> &RequestCounter {
        &self.app.requests
    }

    /// The store's current revision (resourceVersion).
    pub fn revision(&self) -> u64 {
        self.app.store.revision()
    }

    /// A `kube::Config` for this server, authenticating with `token` (the
    /// server's admin token when `None`).
    pub fn kube_config(&self, token: Option<&str>) -> kube::Config {
        let url: http::Uri = self.url.parse().unwrap_or_default();
        let mut config = kube::Config::new(url);
        config.default_namespace = "default".to_owned();
        if let Some(cert) = &self.cert {
            config.root_cert = Some(vec![cert.der.clone()]);
        }
        config.auth_info.token = Some(token.unwrap_or(&self.admin_token).to_owned().into());
        config
    }

    /// A kubeconfig file's contents for this server, with `token` (the admin
    /// token when `None`).
    pub fn kubeconfig(&self, token: Option<&str>) -> Value {
        let mut cluster = json!({"server": self.url});
        if let Some(pem) = self.ca_pem() {
            cluster["certificate-authority-data"] =
                base64::engine::general_purpose::STANDARD.encode(pem).into();
        }
        let user = json!({"token": token.unwrap_or(&self.admin_token)});
        json!({
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "operatorkit", "cluster": cluster}],
            "users": [{"name": "operatorkit", "user": user}],
            "contexts": [{"name": "operatorkit", "context": {"cluster": "operatorkit", "user": "operatorkit", "namespace": "default"}}],
            "current-context": "operatorkit",
        })
    }

    /// Writes the kubeconfig to `path`.
    pub fn write_kubeconfig(&self, path: &Path, token: Option<&str>) -> std::io::Result<()> {
        let text = serde_yaml::to_string(&self.kubeconfig(token)).map_err(std::io::Error::other)?;
        std::fs::write(path, text)
    }

    /// Stops accepting, ends watches, finishes in-flight requests (up to a few
    /// seconds) and stops the controllers.
    pub async fn shutdown(mut self) {
        let _ = self.shutdown.send(true);
        while self.tasks.join_next().await.is_some() {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::Namespace;
    use kube::Api;

    #[tokio::test(flavor = "multi_thread")]
    async fn token_users_and_refused_anonymous_requests() {
        let dir = std::env::temp_dir().join(format!("apiserver-tokens-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let tokens = dir.join("tokens.csv");
        std::fs::write(&tokens, "alice-token,alice,1001,\"devs\"\n").unwrap();
        let config = Config {
            token_file: Some(tokens),
            anonymous: false,
            tls: true,
            ..Config::default()
        };
        let server = start(config).await.unwrap();
        let list = |token: Option<&str>| {
            let mut config = server.kube_config(token);
            if token == Some("") {
                config.auth_info.token = None;
            }
            async move {
                let client = kube::Client::try_from(config).unwrap();
                Api::<Namespace>::all(client)
                    .list(&Default::default())
                    .await
            }
        };
        assert!(list(None).await.is_ok(), "the admin token works");
        // A token from the file authenticates; RBAC then refuses alice, who
        // has no binding.
        match list(Some("alice-token")).await {
            Err(kube::Error::Api(s)) => {
                assert_eq!(s.code, 403);
                assert_eq!(
                    s.message,
                    "namespaces is forbidden: User \"alice\" cannot list resource \"namespaces\" in API group \"\" at the cluster scope"
                );
            }
            other => panic!("alice: expected 403, got {other:?}"),
        }
        for refused in [Some(""), Some("wrong")] {
            match list(refused).await {
                Err(kube::Error::Api(s)) => assert_eq!(s.code, 401, "{refused:?}"),
                other => panic!("{refused:?}: expected 401, got {other:?}"),
            }
        }
        server.shutdown().await;
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
