//! A Vault (or OpenBao) PKI client over Vault's HTTP API, for cert-operator.
//!
//! Each guest cluster gets its own PKI mount, `pki-<cluster_id>`, holding one
//! root CA (EC P-256, generated inside Vault so its key never leaves it) and
//! one role per set of organisations, key type and bare-domain policy.
//! Certificates are issued through `/issue/<role>` with `no_store`, so Vault
//! keeps nothing per certificate.
//!
//! Errors say whether to retry: [`VaultError::is_transient`] is true for
//! outages (connection refused, timeouts, 429, 5xx, a sealed Vault) and false
//! for a refused token or a wrong request. The client token and issued private
//! keys never appear in `Debug` output, error messages or logs.
//!
//! The HTTP client is `reqwest` 0.12 with rustls on the `ring` provider (the
//! TLS stack kube already uses); `https` addresses are verified against the
//! Mozilla roots of `webpki-roots`.

use std::collections::HashSet;
use std::fmt;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderValue};
use reqwest::{Method, StatusCode};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

/// The header Vault reads the client token from.
const TOKEN_HEADER: &str = "X-Vault-Token";
/// Lifetime of each cluster's root CA, and the mount's maximum lease TTL.
const CA_TTL: &str = "87600h";
/// Largest TTL a role allows (a certificate still cannot outlive its CA).
const ROLE_MAX_TTL: &str = "87600h";
/// Name given to the root issuer: Vault refuses a second issuer of the same
/// name, so two racing `ensure_ca` calls cannot make two roots.
const ROOT_ISSUER_NAME: &str = "root";
/// How much of a response body an error message quotes when it is not JSON.
const MAX_QUOTED_BODY: usize = 200;

/// How to reach Vault.
#[derive(Clone, Debug)]
pub struct VaultConfig {
    /// Base address, e.g. `https://vault.example:8200` (no `/v1`).
    pub address: String,
    /// The client token sent as `X-Vault-Token`.
    pub token: Token,
    /// Upper bound on each HTTP request, connecting included.
    pub request_timeout: Duration,
    /// PEM certificates of CAs to trust besides the built-in (Mozilla) roots,
    /// such as the private CA of Vault's listener certificate. `None`: the
    /// built-in roots only.
    pub ca_pem: Option<Vec<u8>>,
}

/// A Vault token. Never printed: `Debug` shows `Token(***)`.
#[derive(Clone)]
pub struct Token(String);

impl Token {
    /// Wraps a token string (surrounding whitespace is dropped).
    pub fn new(s: impl Into<String>) -> Self {
        let s = s.into();
        let trimmed = s.trim();
        if trimmed.len() == s.len() {
            Self(s)
        } else {
            Self(trimmed.to_owned())
        }
    }

    /// Reads a token from a file such as a mounted Secret (trailing newline
    /// ignored). An empty file is an error.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self, VaultError> {
        let path = path.as_ref();
        let text =
            std::fs::read_to_string(path).map_err(|e| VaultError::Io(path.to_path_buf(), e))?;
        let token = Self::new(text);
        if token.0.is_empty() {
            return Err(VaultError::Config(format!(
                "token file {} is empty",
                path.display()
            )));
        }
        Ok(token)
    }

    /// Reads a token from the environment variable `var`. Unset or empty is an
    /// error.
    pub fn from_env(var: &str) -> Result<Self, VaultError> {
        let value = std::env::var(var).map_err(|e| match e {
            std::env::VarError::NotPresent => {
                VaultError::Config(format!("environment variable {var} is not set"))
            }
            std::env::VarError::NotUnicode(_) => {
                VaultError::Config(format!("environment variable {var} is not valid UTF-8"))
            }
        })?;
        let token = Self::new(value);
        if token.0.is_empty() {
            return Err(VaultError::Config(format!(
                "environment variable {var} is empty"
            )));
        }
        Ok(token)
    }

    /// The secret itself, for the request header only.
    fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Token(***)")
    }
}

/// The key a certificate is issued with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum KeyType {
    /// ECDSA on NIST P-256.
    EcP256,
    /// ECDSA on NIST P-384.
    EcP384,
    /// RSA, 2048-bit modulus.
    Rsa2048,
    /// RSA, 4096-bit modulus.
    Rsa4096,
}

impl KeyType {
    /// Vault's `key_type` and `key_bits`.
    fn vault_params(self) -> (&'static str, u32) {
        match self {
            Self::EcP256 => ("ec", 256),
            Self::EcP384 => ("ec", 384),
            Self::Rsa2048 => ("rsa", 2048),
            Self::Rsa4096 => ("rsa", 4096),
        }
    }

    /// The role-name suffix, e.g. `ec256`.
    fn suffix(self) -> &'static str {
        match self {
            Self::EcP256 => "ec256",
            Self::EcP384 => "ec384",
            Self::Rsa2048 => "rsa2048",
            Self::Rsa4096 => "rsa4096",
        }
    }
}

/// One certificate to issue.
#[derive(Clone, Debug)]
pub struct IssueRequest {
    /// Subject common name (not required to be a hostname).
    pub common_name: String,
    /// DNS subject alternative names (no commas: Vault takes them as a
    /// comma-separated list).
    pub alt_names: Vec<String>,
    /// IP subject alternative names.
    pub ip_sans: Vec<IpAddr>,
    /// Subject `O=` entries, e.g. Kubernetes groups. Order and duplicates do
    /// not matter.
    pub organizations: Vec<String>,
    /// Requested validity (rounded up to whole seconds); zero means Vault's
    /// default (the mount's default lease TTL, 768h unless tuned).
    pub ttl: Duration,
    /// Key algorithm of the generated key pair.
    pub key_type: KeyType,
    /// The role's `allow_bare_domains`.
    pub allow_bare_domains: bool,
}

/// What Vault issued, all PEM. `Debug` never shows the private key.
#[derive(Clone)]
pub struct Issued {
    /// The leaf certificate.
    pub certificate: String,
    /// The CA certificate that signed it.
    pub issuing_ca: String,
    /// The private key, PKCS#8 (`-----BEGIN PRIVATE KEY-----`).
    pub private_key: String,
    /// Serial number as Vault prints it (colon-separated hex).
    pub serial_number: String,
}

impl fmt::Debug for Issued {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Issued")
            .field("certificate", &self.certificate)
            .field("issuing_ca", &self.issuing_ca)
            .field("private_key", &"***")
            .field("serial_number", &self.serial_number)
            .finish()
    }
}

/// Why a Vault call failed. Messages never hold the token or a private key.
#[derive(Debug, thiserror::Error)]
pub enum VaultError {
    /// Vault cannot answer now (connection refused, timeout, 429, 5xx,
    /// sealed): retry later.
    #[error("Vault unavailable: {0}")]
    Unavailable(String),
    /// The token was refused (401/403): a new token or policy is needed.
    #[error("Vault denied access: {0}")]
    Denied(String),
    /// Vault rejected the request itself (400 and other 4xx), or it failed
    /// local validation.
    #[error("invalid Vault request: {0}")]
    Invalid(String),
    /// The path does not exist (404), e.g. the cluster's mount is missing.
    #[error("not found in Vault: {0}")]
    NotFound(String),
    /// The client is misconfigured (address, token, timeout).
    #[error("Vault client configuration: {0}")]
    Config(String),
    /// Reading a file (the token file, the CA file) failed.
    #[error("reading {path}: {source}", path = .0.display(), source = .1)]
    Io(PathBuf, #[source] std::io::Error),
    /// Vault answered something this client does not understand.
    #[error("unexpected Vault response: {0}")]
    Protocol(String),
}

impl VaultError {
    /// True when retrying later may succeed (Vault unreachable, overloaded or
    /// sealed); false when the request or the credentials must change.
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Unavailable(_))
    }
}

/// A Vault PKI client. Cheap to clone; clones share connections and the
/// cache of roles already written.
#[derive(Clone)]
pub struct Vault {
    inner: Arc<Inner>,
}

struct Inner {
    http: reqwest::Client,
    /// `<address>/v1`, without a trailing slash.
    api: String,
    address: String,
    /// Roles written by this client, as `pki-<cluster>/roles/<name>`.
    known_roles: Mutex<HashSet<String>>,
    /// Held while this client changes Vault's mount table. Two unmounts of
    /// one path at once wedge OpenBao 2.7.2 (the loser fails with "failed to
    /// remove entry in mounts table" and every later mount request hangs), and
    /// the last two CertConfigs of a cluster deleted together both unmount.
    mount_table: tokio::sync::Mutex<()>,
}

impl fmt::Debug for Vault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Vault")
            .field("address", &self.inner.address)
            .finish_non_exhaustive()
    }
}

/// A response: status and raw body.
struct Reply {
    status: StatusCode,
    body: Vec<u8>,
}

impl Vault {
    /// Builds a client. Fails on an address that is not `http(s)://host[:port]`,
    /// an empty or non-ASCII token, or a zero timeout; does not contact Vault.
    pub fn new(config: VaultConfig) -> Result<Self, VaultError> {
        let address = config.address.trim().trim_end_matches('/').to_owned();
        let url = reqwest::Url::parse(&address)
            .map_err(|e| VaultError::Config(format!("address {address:?}: {e}")))?;
        if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
            return Err(VaultError::Config(format!(
                "address {address:?} is not an http(s) URL"
            )));
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err(VaultError::Config(format!(
                "address {address:?} must not have a query or fragment"
            )));
        }
        if config.token.expose().is_empty() {
            return Err(VaultError::Config("the token is empty".to_owned()));
        }
        if config.request_timeout.is_zero() {
            return Err(VaultError::Config(
                "request_timeout must be positive".to_owned(),
            ));
        }
        let mut token = HeaderValue::from_str(config.token.expose()).map_err(|_| {
            VaultError::Config("the token holds characters not allowed in a header".to_owned())
        })?;
        token.set_sensitive(true);
        let mut headers = HeaderMap::new();
        headers.insert(TOKEN_HEADER, token);
        // Asked for by Vault on some endpoints; marks API (not browser) calls.
        headers.insert("X-Vault-Request", HeaderValue::from_static("true"));
        let mut http = reqwest::Client::builder()
            .default_headers(headers)
            .timeout(config.request_timeout)
            .connect_timeout(config.request_timeout)
            .user_agent(concat!("cert-operator/", env!("CARGO_PKG_VERSION")));
        if let Some(pem) = &config.ca_pem {
            let certs = reqwest::Certificate::from_pem_bundle(pem).map_err(|e| {
                VaultError::Config(format!("reading the CA certificates: {}", chain(&e)))
            })?;
            if certs.is_empty() {
                return Err(VaultError::Config(
                    "the CA certificates hold no PEM CERTIFICATE block".to_owned(),
                ));
            }
            for cert in certs {
                http = http.add_root_certificate(cert);
            }
        }
        let http = http
            .build()
            .map_err(|e| VaultError::Config(format!("building the HTTP client: {}", chain(&e))))?;
        Ok(Self {
            inner: Arc::new(Inner {
                http,
                api: format!("{address}/v1"),
                address,
                known_roles: Mutex::new(HashSet::new()),
                mount_table: tokio::sync::Mutex::new(()),
            }),
        })
    }

    /// Ensures mount `pki-<cluster_id>` (type pki, max lease TTL 87600h) exists
    /// and has a root CA (generated inside Vault: common name
    /// `<cluster_id> CA`, EC P-256, 87600h). Idempotent: an existing CA is
    /// kept. Returns the CA certificate PEM (mount's default issuer).
    pub async fn ensure_ca(&self, cluster_id: &str) -> Result<String, VaultError> {
        let mount = mount_path(cluster_id)?;
        self.ensure_mount(&mount).await?;
        if let Some(pem) = self.ca_pem(&mount).await? {
            return Ok(pem);
        }
        let body = json!({
            "common_name": format!("{cluster_id} CA"),
            "key_type": "ec",
            "key_bits": 256,
            "ttl": CA_TTL,
            "issuer_name": ROOT_ISSUER_NAME,
        });
        let what = format!("generating the root CA of {mount}");
        let reply = self
            .send(
                Method::POST,
                &format!("{mount}/root/generate/internal"),
                Some(&body),
                &what,
            )
            .await?;
        match check(&reply, &what) {
            Ok(()) => tracing::info!(mount = %mount, "generated root CA"),
            // Another caller generated it between our read and write.
            Err(VaultError::Invalid(msg)) if msg.contains("already in use") => {
                tracing::debug!(mount = %mount, "root CA generated concurrently");
            }
            Err(e) => return Err(e),
        }
        self.ca_pem(&mount)
            .await?
            .ok_or_else(|| VaultError::Protocol(format!("{mount} has no CA after generating one")))
    }

    /// Ensures a role for this organisation set, key type and bare-domain
    /// policy, and issues a certificate through `pki-<cluster_id>/issue/<role>`.
    /// The mount and CA must exist ([`Vault::ensure_ca`]); otherwise the error
    /// is [`VaultError::NotFound`] (or `Denied` for a token without rights).
    pub async fn issue(
        &self,
        cluster_id: &str,
        request: &IssueRequest,
    ) -> Result<Issued, VaultError> {
        let mount = mount_path(cluster_id)?;
        validate_request(request)?;
        let organizations = normalized_orgs(&request.organizations);
        let role = role_name(&organizations, request.key_type, request.allow_bare_domains);
        let role_path = format!("{mount}/roles/{role}");
        let cached = self.role_known(&role_path);
        if !cached {
            self.write_role(&role_path, &organizations, request).await?;
        }
        match self.issue_with_role(&mount, &role, request).await {
            // The role vanished behind our back (mount recreated, role
            // deleted): write it again and retry once.
            Err(VaultError::Invalid(msg)) if cached && msg.contains("unknown role") => {
                self.forget_role(&role_path);
                tracing::debug!(role = %role_path, "role missing in Vault; rewriting it");
                self.write_role(&role_path, &organizations, request).await?;
                self.issue_with_role(&mount, &role, request).await
            }
            Err(e @ VaultError::NotFound(_)) => {
                self.forget_role(&role_path);
                Err(e)
            }
            other => other,
        }
    }

    /// Removes mount `pki-<cluster_id>` with its CA and roles. Ok if absent.
    pub async fn delete_cluster(&self, cluster_id: &str) -> Result<(), VaultError> {
        let mount = mount_path(cluster_id)?;
        let what = format!("deleting mount {mount}");
        let _changing = self.inner.mount_table.lock().await;
        let reply = self
            .send(Method::DELETE, &format!("sys/mounts/{mount}"), None, &what)
            .await?;
        match check(&reply, &what) {
            Ok(()) | Err(VaultError::NotFound(_)) => {}
            Err(e) => return Err(e),
        }
        let prefix = format!("{mount}/");
        self.inner
            .known_roles
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .retain(|r| !r.starts_with(&prefix));
        tracing::info!(mount = %mount, "deleted PKI mount");
        Ok(())
    }

    /// Renews the client's own token (`auth/token/renew-self`) if it is
    /// renewable and returns its new TTL; `None` for a token that cannot be
    /// renewed (e.g. a root token).
    pub async fn renew_token(&self) -> Result<Option<Duration>, VaultError> {
        #[derive(Deserialize)]
        struct Lookup {
            #[serde(default)]
            renewable: bool,
        }
        #[derive(Deserialize)]
        struct Auth {
            lease_duration: u64,
        }
        let lookup: Lookup = self
            .read_data(
                Method::GET,
                "auth/token/lookup-self",
                None,
                "looking up the token",
            )
            .await?;
        if !lookup.renewable {
            return Ok(None);
        }
        let what = "renewing the token";
        let reply = self
            .send(
                Method::POST,
                "auth/token/renew-self",
                Some(&json!({})),
                what,
            )
            .await?;
        check(&reply, what)?;
        let auth: Auth = decode_field(&reply.body, "auth", what)?;
        Ok(Some(Duration::from_secs(auth.lease_duration)))
    }

    /// Spawns a task that renews the token at once and then at half its TTL
    /// until `shutdown` resolves. Failures are logged (never the token) and retried with
    /// backoff (1 s doubling to 30 s). The task ends early when the token is
    /// not renewable.
    pub fn spawn_token_renewal(
        &self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> tokio::task::JoinHandle<()> {
        const MIN_DELAY: Duration = Duration::from_secs(1);
        const MAX_RETRY: Duration = Duration::from_secs(30);
        let vault = self.clone();
        tokio::spawn(async move {
            tokio::pin!(shutdown);
            let mut delay = Duration::ZERO;
            let mut retry = MIN_DELAY;
            loop {
                tokio::select! {
                    () = &mut shutdown => return,
                    () = tokio::time::sleep(delay) => {}
                }
                match vault.renew_token().await {
                    Ok(Some(ttl)) => {
                        tracing::debug!(ttl_secs = ttl.as_secs(), "renewed the Vault token");
                        retry = MIN_DELAY;
                        delay = (ttl / 2).max(MIN_DELAY);
                    }
                    Ok(None) => {
                        tracing::info!("the Vault token is not renewable; not renewing it");
                        return;
                    }
                    Err(e) => {
                        tracing::warn!(
                            error = %e,
                            retry_secs = retry.as_secs(),
                            "renewing the Vault token failed"
                        );
                        delay = retry;
                        retry = (retry * 2).min(MAX_RETRY);
                    }
                }
            }
        })
    }

    /// `GET sys/health`: Ok when Vault is initialized and unsealed (a standby
    /// counts), [`VaultError::Unavailable`] otherwise.
    pub async fn health(&self) -> Result<(), VaultError> {
        #[derive(Deserialize)]
        struct Health {
            initialized: bool,
            sealed: bool,
        }
        let what = "checking health";
        let reply = self
            .send(
                Method::GET,
                "sys/health?standbyok=true&perfstandbyok=true",
                None,
                what,
            )
            .await?;
        // sys/health answers with a JSON body on every status it defines.
        match serde_json::from_slice::<Health>(&reply.body) {
            Ok(h) if h.initialized && !h.sealed => Ok(()),
            Ok(h) if !h.initialized => Err(VaultError::Unavailable(
                "Vault is not initialized".to_owned(),
            )),
            Ok(_) => Err(VaultError::Unavailable("Vault is sealed".to_owned())),
            Err(_) => {
                check(&reply, what)?;
                Err(VaultError::Protocol(format!(
                    "{what}: HTTP {} without a health body",
                    reply.status
                )))
            }
        }
    }

    /// Creates the PKI mount unless it exists; an existing mount of another
    /// type is an error.
    async fn ensure_mount(&self, mount: &str) -> Result<(), VaultError> {
        #[derive(Deserialize)]
        struct MountInfo {
            #[serde(rename = "type")]
            kind: String,
        }
        let path = format!("sys/mounts/{mount}");
        let what = format!("reading mount {mount}");
        let _changing = self.inner.mount_table.lock().await;
        let reply = self.send(Method::GET, &path, None, &what).await?;
        match check(&reply, &what) {
            Ok(()) => {
                let info: MountInfo = decode_field(&reply.body, "data", &what)?;
                return if info.kind == "pki" {
                    Ok(())
                } else {
                    Err(VaultError::Invalid(format!(
                        "{mount} is mounted with type {:?}, not pki",
                        info.kind
                    )))
                };
            }
            // Vault answers 400 "No secret engine mount at ..." when absent.
            Err(VaultError::NotFound(_)) => {}
            Err(VaultError::Invalid(msg)) if msg.contains("No secret engine mount") => {}
            Err(e) => return Err(e),
        }
        let body = json!({
            "type": "pki",
            "description": "cert-operator: guest cluster PKI",
            "config": { "max_lease_ttl": CA_TTL },
        });
        let what = format!("creating mount {mount}");
        let reply = self.send(Method::POST, &path, Some(&body), &what).await?;
        match check(&reply, &what) {
            Ok(()) => {
                tracing::info!(mount = %mount, "created PKI mount");
                Ok(())
            }
            // Created concurrently.
            Err(VaultError::Invalid(msg)) if msg.contains("already in use") => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// The mount's default CA certificate, or `None` when it has none yet.
    async fn ca_pem(&self, mount: &str) -> Result<Option<String>, VaultError> {
        let what = format!("reading the CA of {mount}");
        let reply = self
            .send(Method::GET, &format!("{mount}/ca/pem"), None, &what)
            .await?;
        check(&reply, &what)?;
        let text = String::from_utf8(reply.body)
            .map_err(|_| VaultError::Protocol(format!("{what}: body is not UTF-8")))?;
        if text.trim().is_empty() {
            return Ok(None);
        }
        if !text.contains("-----BEGIN CERTIFICATE-----") {
            return Err(VaultError::Protocol(format!("{what}: body is not PEM")));
        }
        Ok(Some(normalize_pem(&text)))
    }

    /// Writes (creates or overwrites) the role for this request.
    async fn write_role(
        &self,
        role_path: &str,
        organizations: &[String],
        request: &IssueRequest,
    ) -> Result<(), VaultError> {
        let (key_type, key_bits) = request.key_type.vault_params();
        let body = json!({
            "allow_any_name": true,
            "enforce_hostnames": false,
            "allow_ip_sans": true,
            "allow_localhost": true,
            "allow_bare_domains": request.allow_bare_domains,
            "organization": organizations,
            "key_type": key_type,
            "key_bits": key_bits,
            "key_usage": ["DigitalSignature", "KeyAgreement", "KeyEncipherment"],
            "server_flag": true,
            "client_flag": true,
            "max_ttl": ROLE_MAX_TTL,
            "no_store": true,
            "generate_lease": false,
        });
        let what = format!("writing role {role_path}");
        let reply = self
            .send(Method::POST, role_path, Some(&body), &what)
            .await?;
        check(&reply, &what)?;
        self.inner
            .known_roles
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(role_path.to_owned());
        tracing::debug!(role = %role_path, "wrote PKI role");
        Ok(())
    }

    async fn issue_with_role(
        &self,
        mount: &str,
        role: &str,
        request: &IssueRequest,
    ) -> Result<Issued, VaultError> {
        #[derive(Deserialize)]
        struct Data {
            certificate: String,
            issuing_ca: String,
            private_key: String,
            serial_number: String,
        }
        let mut body = json!({
            "common_name": request.common_name,
            "alt_names": request.alt_names.join(","),
            "ip_sans": request
                .ip_sans
                .iter()
                .map(IpAddr::to_string)
                .collect::<Vec<_>>()
                .join(","),
            "format": "pem",
            "private_key_format": "pkcs8",
            "exclude_cn_from_sans": false,
        });
        // Whole seconds, rounded up so a sub-second TTL does not mean "default".
        let ttl = request.ttl.as_secs() + u64::from(request.ttl.subsec_nanos() > 0);
        if ttl > 0
            && let Value::Object(map) = &mut body
        {
            map.insert("ttl".to_owned(), Value::String(format!("{ttl}s")));
        }
        let what = format!(
            "issuing {:?} from {mount}/issue/{role}",
            request.common_name
        );
        let data: Data = self
            .read_data(
                Method::POST,
                &format!("{mount}/issue/{role}"),
                Some(&body),
                &what,
            )
            .await?;
        tracing::info!(
            mount = %mount,
            role = %role,
            common_name = %request.common_name,
            serial = %data.serial_number,
            "issued certificate"
        );
        Ok(Issued {
            certificate: normalize_pem(&data.certificate),
            issuing_ca: normalize_pem(&data.issuing_ca),
            private_key: normalize_pem(&data.private_key),
            serial_number: data.serial_number,
        })
    }

    fn role_known(&self, role_path: &str) -> bool {
        self.inner
            .known_roles
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .contains(role_path)
    }

    fn forget_role(&self, role_path: &str) {
        self.inner
            .known_roles
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(role_path);
    }

    /// Sends a request, checks the status and decodes the `data` field.
    async fn read_data<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        what: &str,
    ) -> Result<T, VaultError> {
        let reply = self.send(method, path, body, what).await?;
        check(&reply, what)?;
        decode_field(&reply.body, "data", what)
    }

    /// Sends one request to `<address>/v1/<path>`. Transport failures
    /// (refused, reset, timeout) are [`VaultError::Unavailable`].
    async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        what: &str,
    ) -> Result<Reply, VaultError> {
        let url = format!("{}/{}", self.inner.api, path);
        let mut request = self.inner.http.request(method, url);
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request
            .send()
            .await
            .map_err(|e| transport_error(&e, what))?;
        let status = response.status();
        let body = response
            .bytes()
            .await
            .map_err(|e| transport_error(&e, what))?;
        Ok(Reply {
            status,
            body: body.to_vec(),
        })
    }
}

/// `pki-<cluster_id>`, after checking the id cannot escape the path.
fn mount_path(cluster_id: &str) -> Result<String, VaultError> {
    let valid = !cluster_id.is_empty()
        && cluster_id.len() <= 100
        && cluster_id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if valid {
        Ok(format!("pki-{cluster_id}"))
    } else {
        Err(VaultError::Invalid(format!(
            "cluster id {cluster_id:?} must be 1-100 characters of [A-Za-z0-9_-]"
        )))
    }
}

fn validate_request(request: &IssueRequest) -> Result<(), VaultError> {
    if request.common_name.trim().is_empty() {
        return Err(VaultError::Invalid("common_name is empty".to_owned()));
    }
    for name in &request.alt_names {
        if name.is_empty() || name.contains(',') {
            return Err(VaultError::Invalid(format!(
                "alt name {name:?} is empty or contains a comma"
            )));
        }
    }
    Ok(())
}

/// Organisations sorted and without duplicates: the role's identity.
fn normalized_orgs(organizations: &[String]) -> Vec<String> {
    let mut orgs = organizations.to_vec();
    orgs.sort();
    orgs.dedup();
    orgs
}

/// `org-<hash>-<key>[-bare]`: deterministic, and distinct for distinct sets
/// (128 bits of SHA-256 over the length-prefixed sorted organisations and the
/// bare-domain flag, so crafted organisation names cannot collide).
fn role_name(organizations: &[String], key_type: KeyType, allow_bare_domains: bool) -> String {
    let mut hasher = Sha256::new();
    hasher.update((organizations.len() as u64).to_be_bytes());
    for org in organizations {
        hasher.update((org.len() as u64).to_be_bytes());
        hasher.update(org.as_bytes());
    }
    hasher.update([u8::from(allow_bare_domains)]);
    let digest = hasher.finalize();
    let hash: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
    let bare = if allow_bare_domains { "-bare" } else { "" };
    format!("org-{hash}-{}{bare}", key_type.suffix())
}

/// PEM with surrounding whitespace removed and one trailing newline.
fn normalize_pem(pem: &str) -> String {
    let mut s = pem.trim().to_owned();
    s.push('\n');
    s
}

/// Maps a non-2xx status to an error quoting Vault's `errors`.
fn check(reply: &Reply, what: &str) -> Result<(), VaultError> {
    let status = reply.status;
    if status.is_success() {
        return Ok(());
    }
    let msg = format!(
        "{what}: HTTP {}: {}",
        status.as_u16(),
        vault_errors(&reply.body)
    );
    Err(match status.as_u16() {
        401 | 403 => VaultError::Denied(msg),
        404 => VaultError::NotFound(msg),
        // 412: a performance standby has not caught up yet.
        412 | 429 => VaultError::Unavailable(msg),
        400..=499 => VaultError::Invalid(msg),
        500..=599 => VaultError::Unavailable(msg),
        _ => VaultError::Protocol(msg),
    })
}

/// The text of Vault's `{"errors": [...]}`, or a short quote of the body.
fn vault_errors(body: &[u8]) -> String {
    #[derive(Deserialize)]
    struct Errors {
        errors: Vec<String>,
    }
    if let Ok(e) = serde_json::from_slice::<Errors>(body) {
        if e.errors.is_empty() {
            return "(no error text)".to_owned();
        }
        return e.errors.join("; ");
    }
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    if text.is_empty() {
        return "(empty body)".to_owned();
    }
    let mut quoted: String = text.chars().take(MAX_QUOTED_BODY).collect();
    if quoted.len() < text.len() {
        quoted.push('…');
    }
    quoted
}

/// Decodes `body[field]`. The error never quotes the body (it may hold a
/// private key): only where decoding failed.
fn decode_field<T: DeserializeOwned>(
    body: &[u8],
    field: &str,
    what: &str,
) -> Result<T, VaultError> {
    let malformed = |e: serde_json::Error| {
        VaultError::Protocol(format!(
            "{what}: malformed JSON ({:?} error at line {} column {})",
            e.classify(),
            e.line(),
            e.column()
        ))
    };
    let mut value: Value = serde_json::from_slice(body).map_err(malformed)?;
    let inner = value
        .get_mut(field)
        .map(Value::take)
        .filter(|v| !v.is_null())
        .ok_or_else(|| VaultError::Protocol(format!("{what}: response has no {field:?}")))?;
    serde_json::from_value(inner).map_err(|_| {
        VaultError::Protocol(format!(
            "{what}: {field:?} does not have the expected fields"
        ))
    })
}

/// A transport failure: Vault unreachable, or the client misconfigured.
fn transport_error(e: &reqwest::Error, what: &str) -> VaultError {
    let msg = format!("{what}: {}", chain(e));
    if e.is_builder() {
        VaultError::Config(msg)
    } else if e.is_decode() {
        VaultError::Protocol(msg)
    } else {
        // connect, timeout, request, body, redirect
        VaultError::Unavailable(msg)
    }
}

/// An error and its sources, `: `-separated.
fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !s.contains(&text) {
            s.push_str(": ");
            s.push_str(&text);
        }
        source = cause.source();
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_names_are_deterministic_and_distinct() {
        let a = normalized_orgs(&["b".into(), "a".into(), "a".into()]);
        let b = normalized_orgs(&["a".into(), "b".into()]);
        assert_eq!(
            role_name(&a, KeyType::EcP256, false),
            role_name(&b, KeyType::EcP256, false)
        );
        let name = role_name(&a, KeyType::EcP256, false);
        assert!(
            name.starts_with("org-") && name.ends_with("-ec256"),
            "{name}"
        );
        assert_ne!(name, role_name(&a, KeyType::Rsa2048, false));
        assert_ne!(name, role_name(&a, KeyType::EcP256, true));
        // Concatenation ambiguity: ["ab"] vs ["a", "b"].
        assert_ne!(
            role_name(&["ab".into()], KeyType::EcP256, false),
            role_name(&["a".into(), "b".into()], KeyType::EcP256, false)
        );
    }

    #[test]
    fn cluster_ids_cannot_escape_the_mount() {
        assert_eq!(mount_path("abc-1_2").ok().as_deref(), Some("pki-abc-1_2"));
        for bad in ["", "../sys", "a/b", "a b", "a?x=1"] {
            assert!(
                matches!(mount_path(bad), Err(VaultError::Invalid(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn statuses_map_to_errors() {
        let reply = |status: u16, body: &str| Reply {
            status: StatusCode::from_u16(status).unwrap_or(StatusCode::IM_A_TEAPOT),
            body: body.as_bytes().to_vec(),
        };
        assert!(check(&reply(204, ""), "x").is_ok());
        let e = check(&reply(400, r#"{"errors":["bad ttl","two"]}"#), "x");
        assert!(
            matches!(&e, Err(VaultError::Invalid(m)) if m.contains("bad ttl; two")),
            "{e:?}"
        );
        assert!(matches!(
            check(&reply(403, ""), "x"),
            Err(VaultError::Denied(_))
        ));
        assert!(matches!(
            check(&reply(401, ""), "x"),
            Err(VaultError::Denied(_))
        ));
        assert!(matches!(
            check(&reply(404, ""), "x"),
            Err(VaultError::NotFound(_))
        ));
        for s in [429, 500, 502, 503] {
            let e = check(&reply(s, r#"{"errors":["Vault is sealed"]}"#), "x");
            assert!(
                e.as_ref().is_err_and(VaultError::is_transient),
                "{s}: {e:?}"
            );
        }
    }

    #[test]
    fn decode_errors_do_not_quote_the_body() {
        let body =
            br#"{"data":{"private_key":"-----BEGIN PRIVATE KEY-----SECRET","certificate":1}}"#;
        #[derive(Deserialize, Debug)]
        #[allow(dead_code)]
        struct D {
            certificate: String,
            private_key: String,
        }
        let e = decode_field::<D>(body, "data", "issuing")
            .err()
            .map(|e| e.to_string());
        assert!(e.as_deref().is_some_and(|m| !m.contains("SECRET")), "{e:?}");
    }

    #[test]
    fn config_is_checked() {
        let config = |address: &str, token: &str| VaultConfig {
            address: address.to_owned(),
            token: Token::new(token),
            request_timeout: Duration::from_secs(1),
            ca_pem: None,
        };
        assert!(Vault::new(config("http://127.0.0.1:8200/", "t")).is_ok());
        assert!(matches!(
            Vault::new(config("127.0.0.1:8200", "t")),
            Err(VaultError::Config(_))
        ));
        assert!(matches!(
            Vault::new(config("ftp://x", "t")),
            Err(VaultError::Config(_))
        ));
        assert!(matches!(
            Vault::new(config("http://x", " ")),
            Err(VaultError::Config(_))
        ));
        let e = Vault::new(config("http://x", "sec\nret"))
            .err()
            .map(|e| e.to_string());
        assert!(e.as_deref().is_some_and(|m| !m.contains("sec")), "{e:?}");
    }

    #[test]
    fn extra_ca_certificates_must_be_pem_certificates() {
        let config = |ca_pem: &[u8]| VaultConfig {
            address: "https://vault.example:8200".to_owned(),
            token: Token::new("t"),
            request_timeout: Duration::from_secs(1),
            ca_pem: Some(ca_pem.to_vec()),
        };
        let ca = crate::pki::ca::Ca::generate("abc12").unwrap_or_else(|e| panic!("{e}"));
        assert!(Vault::new(config(ca.cert_pem().as_bytes())).is_ok());
        let two = format!("{}\n{}", ca.cert_pem(), ca.cert_pem());
        assert!(Vault::new(config(two.as_bytes())).is_ok());
        for bad in [
            &b""[..],
            b"not a certificate",
            b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
        ] {
            let e = Vault::new(config(bad)).err();
            assert!(matches!(e, Some(VaultError::Config(_))), "{bad:?}: {e:?}");
        }
    }
}
