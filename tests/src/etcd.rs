//! Test harness: a single-member etcd v3 server on free loopback ports.
//!
//! Each [`Etcd`] runs its own `etcd` process with its own client port, its
//! own peer port (etcd always listens for peers, even alone) and its own data
//! directory, all under a fresh directory of [`std::env::temp_dir`] that also
//! holds the server log and, with [`Etcd::start_tls`], the PEM files of a CA,
//! a server certificate and a client certificate generated for it. The
//! guarantees:
//!
//! - nothing is shared between instances, nor with an etcd already running
//!   on the machine: every port and path is picked at start;
//! - [`Etcd::stop`] kills the server (SIGKILL: an outage, not a shutdown)
//!   and keeps its data directory; [`Etcd::restart`] starts it again on the
//!   same ports with the same data directory and certificates, so what was
//!   written survives;
//! - the server is killed, and its directory removed, when the [`Etcd`]
//!   value drops.
//!
//! [`Etcd::metrics`] counts the KV requests the server handled and the keys
//! it wrote, so that a test can check how much a client asked of etcd.
//!
//! The binary comes from `$OPERATORKIT_ETCD`, else `etcd` on `PATH` (Debian's
//! `etcd-server`, which `cargo xtask tools` installs; tested with 3.4.23).

use std::collections::BTreeMap;
use std::io::{Error, ErrorKind};
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use tokio::process::{Child, Command};

use crate::support;

/// Environment variable naming the `etcd` binary to use.
pub const ETCD_ENV: &str = "OPERATORKIT_ETCD";
/// How long the server may take to report itself healthy.
const START_TIMEOUT: Duration = Duration::from_secs(30);
/// How long one health or metrics request may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(2);
/// How long one health probe may take while waiting for a start (shorter:
/// a process that holds the port may accept and never answer).
const PROBE_TIMEOUT: Duration = Duration::from_millis(500);
/// Raft timings, in milliseconds: a single member elects itself after an
/// election timeout at each start, 1 s (of 100 ms heartbeats) by default.
const HEARTBEAT_MS: &str = "25";
const ELECTION_MS: &str = "250";
/// Lines of the server log quoted when it fails to start.
const LOG_TAIL_LINES: usize = 20;
/// What the server logs when a port it should listen on is still held.
const PORT_IN_USE: &str = "address already in use";

/// The files of an instance's directory.
const DATA_DIR: &str = "data";
const LOG_FILE: &str = "etcd.log";
const CA_CERT: &str = "ca.crt";
const SERVER_CERT: &str = "server.crt";
const SERVER_KEY: &str = "server.key";
const CLIENT_CERT: &str = "client.crt";
const CLIENT_KEY: &str = "client.key";

/// The gRPC service of etcd's key-value requests, as its metrics label it.
const KV_SERVICE: &str = "etcdserverpb.KV";
/// Requests handled by the gRPC server, by service, method and status code.
const GRPC_HANDLED: &str = "grpc_server_handled_total";
/// Keys put and deleted by the MVCC store: etcd 3.4's `debugging` names first,
/// then the `etcd_mvcc_*` ones, which 3.4.23 exports with the same values
/// and later versions keep when they drop the `debugging` ones.
const PUTS: [&str; 2] = ["etcd_debugging_mvcc_put_total", "etcd_mvcc_put_total"];
const DELETES: [&str; 2] = ["etcd_debugging_mvcc_delete_total", "etcd_mvcc_delete_total"];

/// A single-member etcd server on free loopback ports, with its own data
/// directory, killed (and its directory removed) on drop.
pub struct Etcd {
    binary: PathBuf,
    port: u16,
    peer_port: u16,
    /// The instance's directory: data, log and certificates.
    dir: PathBuf,
    tls: bool,
    /// Trusts the server's CA and presents the client certificate with TLS.
    http: reqwest::Client,
    child: Option<Child>,
}

impl std::fmt::Debug for Etcd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Etcd")
            .field("endpoint", &self.endpoint())
            .field("peer_port", &self.peer_port)
            .field("dir", &self.dir)
            .field("running", &self.child.is_some())
            .finish_non_exhaustive()
    }
}

impl Etcd {
    /// Starts etcd serving plain HTTP (and gRPC) on a free `127.0.0.1` port,
    /// with a fresh data directory, and waits (up to 30 s) until `/health`
    /// says it is healthy. Fails naming what is missing when `etcd` cannot be
    /// found, and with the end of its log when it does not come up.
    pub async fn start() -> Result<Self, Error> {
        Self::start_with(false).await
    }

    /// Like [`Etcd::start`], serving HTTPS and requiring a client
    /// certificate signed by the CA generated for this instance
    /// (`--client-cert-auth`). Reach it trusting [`Etcd::ca_file`] and
    /// presenting [`Etcd::client_cert_file`] with [`Etcd::client_key_file`];
    /// the server's certificate is for `127.0.0.1` and `localhost`.
    pub async fn start_tls() -> Result<Self, Error> {
        Self::start_with(true).await
    }

    async fn start_with(tls: bool) -> Result<Self, Error> {
        let binary = find_etcd()?;
        let (port, peer_port) = free_ports()?;
        let dir = std::env::temp_dir().join(format!(
            "etcd-{port}-{}-{}",
            std::process::id(),
            fastrand::u32(..)
        ));
        std::fs::create_dir_all(&dir)?;
        // From here on, dropping `etcd` removes the directory.
        let mut etcd = Self {
            binary,
            port,
            peer_port,
            dir,
            tls,
            http: reqwest::Client::new(),
            child: None,
        };
        if tls {
            etcd.write_certificates()?;
        }
        etcd.http = etcd.build_client()?;
        etcd.launch().await?;
        Ok(etcd)
    }

    /// The client URL: `http://127.0.0.1:<port>` (`https` with TLS). etcd
    /// serves gRPC, `/health`, `/metrics` and the JSON gateway (`/v3/...`)
    /// on it.
    pub fn endpoint(&self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://127.0.0.1:{}", self.port)
    }

    /// The client port (the same across [`Etcd::restart`]).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The peer port (the same across [`Etcd::restart`]).
    pub fn peer_port(&self) -> u16 {
        self.peer_port
    }

    /// The data directory (`--data-dir`), kept across [`Etcd::stop`] and
    /// [`Etcd::restart`], removed on drop.
    pub fn data_dir(&self) -> PathBuf {
        self.dir.join(DATA_DIR)
    }

    /// The server log (stdout and stderr of every start).
    pub fn log_file(&self) -> PathBuf {
        self.dir.join(LOG_FILE)
    }

    /// The PEM file of the CA that signed the server and client
    /// certificates, with TLS. The same across [`Etcd::restart`].
    pub fn ca_file(&self) -> Option<PathBuf> {
        self.tls.then(|| self.dir.join(CA_CERT))
    }

    /// The PEM file of a client certificate the server accepts, with TLS.
    pub fn client_cert_file(&self) -> Option<PathBuf> {
        self.tls.then(|| self.dir.join(CLIENT_CERT))
    }

    /// The PEM file (PKCS#8) of the key of [`Etcd::client_cert_file`], with
    /// TLS.
    pub fn client_key_file(&self) -> Option<PathBuf> {
        self.tls.then(|| self.dir.join(CLIENT_KEY))
    }

    /// An HTTP client of the server: with TLS, it trusts [`Etcd::ca_file`]
    /// (and nothing else) and presents the client certificate.
    pub fn http_client(&self) -> &reqwest::Client {
        &self.http
    }

    /// Whether the server is running (not stopped, not exited).
    pub fn is_running(&mut self) -> bool {
        match self.child.as_mut() {
            Some(child) => matches!(child.try_wait(), Ok(None)),
            None => false,
        }
    }

    /// Whether `GET /health` answers `{"health":"true"}` now.
    pub async fn healthy(&self) -> bool {
        self.probe(REQUEST_TIMEOUT).await
    }

    /// Whether `GET /health` answers `{"health":"true"}` within `timeout`.
    async fn probe(&self, timeout: Duration) -> bool {
        let response = match self
            .http
            .get(format!("{}/health", self.endpoint()))
            .timeout(timeout)
            .send()
            .await
        {
            Ok(response) => response,
            Err(_) => return false,
        };
        match response.json::<serde_json::Value>().await {
            Ok(body) => body.get("health").and_then(|h| h.as_str()) == Some("true"),
            Err(_) => false,
        }
    }

    /// Scrapes `/metrics` and returns the counts of KV requests and writes
    /// since the server (re)started (see [`EtcdCounts`]).
    pub async fn metrics(&self) -> Result<EtcdCounts, Error> {
        let url = format!("{}/metrics", self.endpoint());
        let response = self
            .http
            .get(&url)
            .send()
            .await
            .map_err(|e| Error::other(format!("GET {url}: {e}")))?;
        let status = response.status();
        let text = response
            .text()
            .await
            .map_err(|e| Error::other(format!("GET {url}: {e}")))?;
        if !status.is_success() {
            return Err(Error::other(format!("GET {url}: {status}: {text}")));
        }
        Ok(EtcdCounts::parse(&text))
    }

    /// Kills the server (SIGKILL, to test outages) and waits until it is
    /// gone: its ports refuse connections. Keeps the data directory. Does
    /// nothing when stopped.
    pub async fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            // kill() sends SIGKILL and reaps the process.
            if let Err(e) = child.kill().await {
                tracing::warn!(error = %e, "killing etcd");
            }
        }
    }

    /// Stops the server if running and starts it again on the same ports
    /// with the same data directory (and certificates): what was written
    /// before is still there. Retries while a port is still held.
    pub async fn restart(&mut self) -> Result<(), Error> {
        self.stop().await;
        self.launch().await
    }

    /// Spawns the server and waits until it is healthy. Retries while a port
    /// is still held (e.g. just after a stop); fails at once, with the end of
    /// the log, when it exits for any other reason.
    async fn launch(&mut self) -> Result<(), Error> {
        let deadline = tokio::time::Instant::now() + START_TIMEOUT;
        loop {
            // Where this attempt's lines start in the (appended) log.
            let log_start = std::fs::metadata(self.log_file()).map_or(0, |m| m.len());
            let mut child = self.spawn()?;
            loop {
                if let Some(status) = child.try_wait()? {
                    let log = self.log_since(log_start);
                    if !log.contains(PORT_IN_USE) || tokio::time::Instant::now() >= deadline {
                        return Err(Error::other(format!(
                            "etcd exited with {status} before becoming healthy; log {}:\n{}",
                            self.log_file().display(),
                            self.log_tail()
                        )));
                    }
                    tracing::debug!(%status, "etcd's port still held; retrying");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    break;
                }
                // Still running after a healthy answer: the answer was ours,
                // not from a server that held the port while ours failed.
                if self.probe(PROBE_TIMEOUT).await && child.try_wait()?.is_none() {
                    self.child = Some(child);
                    return Ok(());
                }
                if tokio::time::Instant::now() >= deadline {
                    // kill_on_drop would only signal: kill and reap.
                    let _ = child.kill().await;
                    return Err(Error::new(
                        ErrorKind::TimedOut,
                        format!(
                            "etcd at {} not healthy within {START_TIMEOUT:?}; log {}:\n{}",
                            self.endpoint(),
                            self.log_file().display(),
                            self.log_tail()
                        ),
                    ));
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }

    fn spawn(&self) -> Result<Child, Error> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_file())?;
        let client_url = self.endpoint();
        let peer_url = format!("http://127.0.0.1:{}", self.peer_port);
        let mut command = Command::new(&self.binary);
        // etcd reads every flag from ETCD_<FLAG> too: none of the caller's.
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("ETCD_") {
                command.env_remove(key);
            }
        }
        command
            .arg("--name")
            .arg("default")
            .arg("--data-dir")
            .arg(self.data_dir())
            .arg("--listen-client-urls")
            .arg(&client_url)
            .arg("--advertise-client-urls")
            .arg(&client_url)
            .arg("--listen-peer-urls")
            .arg(&peer_url)
            .arg("--initial-advertise-peer-urls")
            .arg(&peer_url)
            .arg("--initial-cluster")
            .arg(format!("default={peer_url}"))
            .arg("--initial-cluster-state")
            .arg("new")
            .arg("--heartbeat-interval")
            .arg(HEARTBEAT_MS)
            .arg("--election-timeout")
            .arg(ELECTION_MS);
        if self.tls {
            command
                .arg("--client-cert-auth")
                .arg("--trusted-ca-file")
                .arg(self.dir.join(CA_CERT))
                .arg("--cert-file")
                .arg(self.dir.join(SERVER_CERT))
                .arg("--key-file")
                .arg(self.dir.join(SERVER_KEY));
        }
        command
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| {
                Error::new(
                    e.kind(),
                    format!(
                        "starting {}: {e} (run `cargo xtask tools` to install etcd)",
                        self.binary.display()
                    ),
                )
            })
    }

    /// Generates the CA, the server certificate (`127.0.0.1`, `localhost`;
    /// server and client use: etcd's gRPC gateway dials the server with it)
    /// and the client certificate, and writes them as PEM files.
    fn write_certificates(&self) -> Result<(), Error> {
        use rcgen::{
            BasicConstraints, CertificateParams, DistinguishedName, DnType,
            ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose,
        };
        let tls_err = |e: rcgen::Error| Error::other(format!("generating etcd certificates: {e}"));
        let named = |sans: &[&str], cn: &str| -> Result<CertificateParams, Error> {
            let mut params =
                CertificateParams::new(sans.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>())
                    .map_err(tls_err)?;
            let mut dn = DistinguishedName::new();
            dn.push(DnType::CommonName, cn);
            params.distinguished_name = dn;
            Ok(params)
        };

        let mut ca = named(&[], "operatorkit e2e etcd CA")?;
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let ca_key = KeyPair::generate().map_err(tls_err)?;
        let ca_cert = ca.self_signed(&ca_key).map_err(tls_err)?;
        let issuer = Issuer::new(ca, ca_key);

        let mut server = named(&["127.0.0.1", "localhost"], "127.0.0.1")?;
        server.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        server.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ];
        let server_key = KeyPair::generate().map_err(tls_err)?;
        let server_cert = server.signed_by(&server_key, &issuer).map_err(tls_err)?;

        let mut client = named(&[], "operatorkit-e2e")?;
        client.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        client.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        let client_key = KeyPair::generate().map_err(tls_err)?;
        let client_cert = client.signed_by(&client_key, &issuer).map_err(tls_err)?;

        for (file, pem) in [
            (CA_CERT, ca_cert.pem()),
            (SERVER_CERT, server_cert.pem()),
            (SERVER_KEY, server_key.serialize_pem()),
            (CLIENT_CERT, client_cert.pem()),
            (CLIENT_KEY, client_key.serialize_pem()),
        ] {
            std::fs::write(self.dir.join(file), pem)?;
        }
        Ok(())
    }

    /// The client of [`Etcd::http_client`], from the files of
    /// [`Etcd::write_certificates`] with TLS.
    fn build_client(&self) -> Result<reqwest::Client, Error> {
        let http_err = |e: reqwest::Error| Error::other(format!("etcd HTTP client: {e}"));
        let mut builder = reqwest::Client::builder()
            .connect_timeout(REQUEST_TIMEOUT)
            .timeout(REQUEST_TIMEOUT)
            // Never through a proxy of the environment.
            .no_proxy();
        if self.tls {
            let ca = std::fs::read(self.dir.join(CA_CERT))?;
            let mut identity = std::fs::read(self.dir.join(CLIENT_CERT))?;
            identity.extend(std::fs::read(self.dir.join(CLIENT_KEY))?);
            builder = builder
                .use_rustls_tls()
                .tls_built_in_root_certs(false)
                .add_root_certificate(reqwest::Certificate::from_pem(&ca).map_err(http_err)?)
                .identity(reqwest::Identity::from_pem(&identity).map_err(http_err)?);
        }
        builder.build().map_err(http_err)
    }

    /// The log written from byte `start` on.
    fn log_since(&self, start: u64) -> String {
        let bytes = std::fs::read(self.log_file()).unwrap_or_default();
        let start = usize::try_from(start)
            .unwrap_or(usize::MAX)
            .min(bytes.len());
        String::from_utf8_lossy(&bytes[start..]).into_owned()
    }

    fn log_tail(&self) -> String {
        support::last_lines(&self.log_since(0), LOG_TAIL_LINES).join("\n")
    }
}

impl Drop for Etcd {
    fn drop(&mut self) {
        if let Some(child) = self.child.as_mut() {
            // Also done by kill_on_drop; explicit so the order is clear.
            let _ = child.start_kill();
            // Let it die before its directory goes, so that it writes no
            // file back into it (SIGKILL takes milliseconds).
            for _ in 0..100 {
                if !matches!(child.try_wait(), Ok(None)) {
                    break;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// What an etcd server did since it (re)started, from its `/metrics`
/// (Prometheus text). Counters restart at zero with the server: compare two
/// scrapes of the same run with [`EtcdCounts::since`].
///
/// - `requests`: the KV requests the gRPC server handled, by method (`Range`,
///   `Put`, `DeleteRange`, `Txn`, `Compact`), whatever their status code:
///   `grpc_server_handled_total{grpc_service="etcdserverpb.KV"}` summed over
///   `grpc_code`. The JSON gateway (`/v3/kv/...`) goes through gRPC, so its
///   requests count too; `/health` does not.
/// - `writes`: the keys the store wrote: `etcd_debugging_mvcc_put_total` +
///   `etcd_debugging_mvcc_delete_total` (or `etcd_mvcc_put_total` +
///   `etcd_mvcc_delete_total`, where the first are missing, as in later
///   etcd versions; 3.4.23 exports both, with the same values). A put counts one, in a `Txn` too; a delete counts each key it
///   removes, and nothing when it removes none.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EtcdCounts {
    /// KV requests handled, by gRPC method.
    pub requests: BTreeMap<String, f64>,
    /// Keys put plus keys deleted.
    pub writes: f64,
}

impl EtcdCounts {
    /// The counts in a Prometheus text exposition of etcd's `/metrics`;
    /// lines it does not understand are skipped.
    pub fn parse(text: &str) -> Self {
        let mut counts = Self::default();
        let mut singles: BTreeMap<&str, f64> = BTreeMap::new();
        for line in text.lines() {
            let Some(sample) = parse_sample(line) else {
                continue;
            };
            if sample.name == GRPC_HANDLED {
                if sample.label("grpc_service") == Some(KV_SERVICE)
                    && let Some(method) = sample.label("grpc_method")
                {
                    *counts.requests.entry(method.to_owned()).or_default() += sample.value;
                }
            } else if let Some(known) = PUTS
                .iter()
                .chain(DELETES.iter())
                .find(|n| **n == sample.name)
            {
                singles.insert(known, sample.value);
            }
        }
        let first_of = |names: &[&str]| {
            names
                .iter()
                .find_map(|n| singles.get(n).copied())
                .unwrap_or(0.0)
        };
        counts.writes = first_of(&PUTS) + first_of(&DELETES);
        counts
    }

    /// All KV requests handled, whatever the method.
    pub fn kv_requests(&self) -> f64 {
        self.requests.values().sum()
    }

    /// The requests of one method (`"Range"`, `"Put"`, ...); zero when none.
    pub fn method(&self, method: &str) -> f64 {
        self.requests.get(method).copied().unwrap_or(0.0)
    }

    /// What happened between `earlier` and `self` (two scrapes of the same
    /// run of the server): the difference of every count.
    pub fn since(&self, earlier: &EtcdCounts) -> EtcdCounts {
        let mut requests = self.requests.clone();
        for (method, before) in &earlier.requests {
            *requests.entry(method.clone()).or_default() -= before;
        }
        EtcdCounts {
            requests,
            writes: self.writes - earlier.writes,
        }
    }
}

/// One sample line of the Prometheus text format.
#[derive(Debug, PartialEq)]
struct Sample<'a> {
    name: &'a str,
    labels: Vec<(String, String)>,
    value: f64,
}

impl Sample<'_> {
    fn label(&self, key: &str) -> Option<&str> {
        self.labels
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// A sample line of the Prometheus text format: its metric name, labels and
/// value (a timestamp after it is ignored). `None` for comments, blank and
/// malformed lines.
fn parse_sample(line: &str) -> Option<Sample<'_>> {
    let line = line.trim();
    if line.is_empty() || line.starts_with('#') {
        return None;
    }
    let name_end = line
        .find(|c: char| c == '{' || c.is_whitespace())
        .unwrap_or(line.len());
    let name = &line[..name_end];
    let mut rest = &line[name_end..];
    let mut labels = Vec::new();
    if let Some(inner) = rest.strip_prefix('{') {
        let mut chars = inner.char_indices();
        let mut key = String::new();
        let close = loop {
            let (i, c) = chars.next()?;
            match c {
                '}' => break i,
                ',' | ' ' => {}
                '=' => {
                    if chars.next()?.1 != '"' {
                        return None;
                    }
                    let mut value = String::new();
                    loop {
                        match chars.next()?.1 {
                            '"' => break,
                            '\\' => match chars.next()?.1 {
                                'n' => value.push('\n'),
                                other => value.push(other),
                            },
                            other => value.push(other),
                        }
                    }
                    labels.push((std::mem::take(&mut key), value));
                }
                other => key.push(other),
            }
        };
        rest = &inner[close + 1..];
    }
    // The value, then maybe a timestamp.
    let value = rest.split_whitespace().next()?.parse().ok()?;
    Some(Sample {
        name,
        labels,
        value,
    })
}

/// The `etcd` binary: `$OPERATORKIT_ETCD`, else `etcd` on `PATH`.
fn find_etcd() -> Result<PathBuf, Error> {
    let instead = "the etcd on PATH, which `cargo xtask tools` installs";
    if let Some(path) = support::binary_from_env(ETCD_ENV, instead)? {
        return Ok(path);
    }
    support::on_path("etcd").ok_or_else(|| {
        Error::new(
            ErrorKind::NotFound,
            format!(
                "`etcd` not found (${ETCD_ENV} unset; not on PATH): run `cargo xtask tools` (Debian package etcd-server)"
            ),
        )
    })
}

/// Two distinct ports free on 127.0.0.1 right now, for the client and the
/// peer URL (the OS picks; small race until etcd binds them).
fn free_ports() -> Result<(u16, u16), Error> {
    // Both bound at once, so the OS cannot hand out the same port twice.
    let client = std::net::TcpListener::bind(("127.0.0.1", 0))?;
    let peer = std::net::TcpListener::bind(("127.0.0.1", 0))?;
    Ok((client.local_addr()?.port(), peer.local_addr()?.port()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Lines as etcd 3.4.23 exposes them, after two puts (one in a `Txn`),
    /// a range, a delete of two keys and a rejected put.
    const SCRAPE: &str = r#"# HELP etcd_debugging_mvcc_delete_total Total number of deletes seen by this member.
# TYPE etcd_debugging_mvcc_delete_total counter
etcd_debugging_mvcc_delete_total 2
etcd_debugging_mvcc_put_total 2
etcd_mvcc_delete_total 2
etcd_mvcc_put_total 2
grpc_server_handled_total{grpc_code="InvalidArgument",grpc_method="Put",grpc_service="etcdserverpb.KV",grpc_type="unary"} 1
grpc_server_handled_total{grpc_code="OK",grpc_method="Compact",grpc_service="etcdserverpb.KV",grpc_type="unary"} 0
grpc_server_handled_total{grpc_code="OK",grpc_method="DeleteRange",grpc_service="etcdserverpb.KV",grpc_type="unary"} 1
grpc_server_handled_total{grpc_code="OK",grpc_method="Put",grpc_service="etcdserverpb.KV",grpc_type="unary"} 1
grpc_server_handled_total{grpc_code="OK",grpc_method="Range",grpc_service="etcdserverpb.KV",grpc_type="unary"} 1
grpc_server_handled_total{grpc_code="OK",grpc_method="Txn",grpc_service="etcdserverpb.KV",grpc_type="unary"} 1
grpc_server_handled_total{grpc_code="OK",grpc_method="Status",grpc_service="etcdserverpb.Maintenance",grpc_type="unary"} 7
"#;

    #[test]
    fn counts_kv_requests_by_method_and_writes() {
        let counts = EtcdCounts::parse(SCRAPE);
        let expected: BTreeMap<String, f64> = [
            ("Compact", 0.0),
            ("DeleteRange", 1.0),
            ("Put", 2.0),
            ("Range", 1.0),
            ("Txn", 1.0),
        ]
        .into_iter()
        .map(|(m, n)| (m.to_owned(), n))
        .collect();
        assert_eq!(counts.requests, expected);
        assert_eq!(counts.kv_requests(), 5.0);
        // Not twice: the etcd_mvcc_* copies are only a fallback.
        assert_eq!(counts.writes, 4.0);
    }

    #[test]
    fn falls_back_to_the_etcd_3_5_names() {
        let counts = EtcdCounts::parse("etcd_mvcc_put_total 3\netcd_mvcc_delete_total 1\n");
        assert_eq!(counts.writes, 4.0);
    }

    #[test]
    fn since_subtracts_every_count() {
        let earlier = EtcdCounts::parse(SCRAPE);
        let later = EtcdCounts::parse(&SCRAPE.replace(
            "grpc_method=\"Range\",grpc_service=\"etcdserverpb.KV\",grpc_type=\"unary\"} 1",
            "grpc_method=\"Range\",grpc_service=\"etcdserverpb.KV\",grpc_type=\"unary\"} 4",
        ));
        let delta = later.since(&earlier);
        assert_eq!(delta.method("Range"), 3.0);
        assert_eq!(delta.kv_requests(), 3.0);
        assert_eq!(delta.writes, 0.0);
    }

    #[test]
    fn parses_escaped_label_values_and_timestamps() {
        let sample = parse_sample(r#"m{a="x\"y,z}",b="2"} 1.5 1700000000"#).unwrap();
        assert_eq!(
            sample,
            Sample {
                name: "m",
                labels: vec![
                    ("a".to_owned(), "x\"y,z}".to_owned()),
                    ("b".to_owned(), "2".to_owned())
                ],
                value: 1.5,
            }
        );
        assert_eq!(sample.label("a"), Some("x\"y,z}"));
        assert_eq!(parse_sample("# TYPE m counter"), None);
        assert_eq!(parse_sample(r#"m{a="1" 2"#), None);
    }
}
