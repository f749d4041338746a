//! The operator's etcd: one lazily connected v3 client (the `etcd-client`
//! crate) with a deadline on every request, TLS client certificates, and a
//! count of requests by operation and result
//! (`flannel_operator_etcd_requests_total`).
//!
//! etcd being down is an error like any other here, never a panic and never
//! a wait without end: every request gives up after `--etcd-timeout`, the
//! step reports `EtcdUnavailable` and operatorkit backs off; the client's
//! channel reconnects by itself when etcd is back.

use std::time::Duration;

use etcd_client::{
    Certificate, Client, ConnectOptions, GetOptions, Identity, KeyValue, TlsOptions, Txn,
    TxnResponse,
};
use prometheus::{IntCounterVec, Opts, Registry};
use tokio::sync::OnceCell;
use tonic::Code;

use crate::settings::FlannelArgs;

/// What can go wrong talking to etcd.
#[derive(Debug, thiserror::Error)]
pub enum EtcdError {
    /// etcd did not answer in time, or could not be reached.
    #[error("etcd is unavailable: {0}")]
    Unavailable(String),
    /// etcd answered with an error (permissions, a request it refused).
    #[error("etcd refused the request: {0}")]
    Refused(String),
    /// The TLS files named on the command line could not be read.
    #[error("reading {path}: {source}")]
    TlsFile {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
}

impl EtcdError {
    fn from_client(e: etcd_client::Error) -> Self {
        use etcd_client::Error as E;
        match e {
            E::GRpcStatus(s)
                if matches!(
                    s.code(),
                    Code::Unavailable | Code::DeadlineExceeded | Code::Unknown | Code::Cancelled
                ) =>
            {
                Self::Unavailable(s.message().to_owned())
            }
            E::GRpcStatus(s) => Self::Refused(format!("{:?}: {}", s.code(), s.message())),
            E::TransportError(e) => Self::Unavailable(e.to_string()),
            E::IoError(e) => Self::Unavailable(e.to_string()),
            other => Self::Refused(other.to_string()),
        }
    }
}

/// The operator's etcd client. Cheap to clone.
#[derive(Clone)]
pub struct Etcd {
    endpoints: Vec<String>,
    options: ConnectOptions,
    timeout: Duration,
    client: std::sync::Arc<OnceCell<Client>>,
    requests: IntCounterVec,
}

impl std::fmt::Debug for Etcd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Etcd")
            .field("endpoints", &self.endpoints)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl Etcd {
    /// A client for the etcd the flags name; reads the TLS files now, and
    /// connects at the first request.
    pub fn new(flags: &FlannelArgs) -> Result<Self, EtcdError> {
        let mut options = ConnectOptions::new()
            .with_timeout(flags.etcd_timeout)
            .with_connect_timeout(flags.etcd_timeout)
            .with_keep_alive(Duration::from_secs(10), flags.etcd_timeout);
        if flags.etcd_tls() {
            let mut tls = TlsOptions::new();
            if let Some(ca) = &flags.etcd_ca {
                tls = tls.ca_certificate(Certificate::from_pem(read(ca)?));
            }
            if let (Some(cert), Some(key)) = (&flags.etcd_cert, &flags.etcd_key) {
                tls = tls.identity(Identity::from_pem(read(cert)?, read(key)?));
            }
            options = options.with_tls(tls);
        }
        let requests = IntCounterVec::new(
            Opts::new(
                "flannel_operator_etcd_requests_total",
                "etcd requests of flannel-operator, by operation (txn, range) and result (ok, error)",
            ),
            &["operation", "result"],
        )
        .map_err(|e| EtcdError::Refused(e.to_string()))?;
        Ok(Self {
            endpoints: flags.etcd_endpoints.clone(),
            options,
            timeout: flags.etcd_timeout,
            client: std::sync::Arc::default(),
            requests,
        })
    }

    /// Registers the request counter in `registry`.
    pub fn register(&self, registry: &Registry) -> Result<(), prometheus::Error> {
        registry.register(Box::new(self.requests.clone()))
    }

    /// Requests so far with this operation and result (for tests and
    /// benchmarks).
    pub fn requests(&self, operation: &str, result: &str) -> u64 {
        self.requests
            .get_metric_with_label_values(&[operation, result])
            .map(|c| c.get())
            .unwrap_or(0)
    }

    async fn client(&self) -> Result<Client, EtcdError> {
        let client = self
            .client
            .get_or_try_init(|| async {
                Client::connect(&self.endpoints, Some(self.options.clone()))
                    .await
                    .map_err(EtcdError::from_client)
            })
            .await?;
        Ok(client.clone())
    }

    /// Runs `txn`.
    pub async fn txn(&self, txn: Txn) -> Result<TxnResponse, EtcdError> {
        let result = self
            .bounded(async {
                let mut client = self.client().await?;
                client.txn(txn).await.map_err(EtcdError::from_client)
            })
            .await;
        self.count("txn", result.is_ok());
        result
    }

    /// Every key under `prefix`, with the revision they were read at.
    pub async fn range(&self, prefix: &str) -> Result<(Vec<KeyValue>, i64), EtcdError> {
        let result = self
            .bounded(async {
                let mut client = self.client().await?;
                let mut response = client
                    .get(prefix, Some(GetOptions::new().with_prefix()))
                    .await
                    .map_err(EtcdError::from_client)?;
                let revision = response.header().map_or(0, |h| h.revision());
                Ok((response.take_kvs(), revision))
            })
            .await;
        self.count("range", result.is_ok());
        result
    }

    /// `work` within the request timeout (connecting included).
    async fn bounded<T>(
        &self,
        work: impl Future<Output = Result<T, EtcdError>>,
    ) -> Result<T, EtcdError> {
        tokio::time::timeout(self.timeout, work)
            .await
            .unwrap_or_else(|_| {
                Err(EtcdError::Unavailable(format!(
                    "no answer from {} within {:?}",
                    self.endpoints.join(","),
                    self.timeout
                )))
            })
    }

    fn count(&self, operation: &str, ok: bool) {
        self.requests
            .with_label_values(&[operation, if ok { "ok" } else { "error" }])
            .inc();
    }
}

fn read(path: &std::path::Path) -> Result<Vec<u8>, EtcdError> {
    std::fs::read(path).map_err(|source| EtcdError::TlsFile {
        path: path.display().to_string(),
        source,
    })
}
