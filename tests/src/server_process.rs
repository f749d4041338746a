//! The API server as a process of its own (`operatorkit-apiserver`), so
//! that a test can `kill -9` it and start it again with everything it
//! acknowledged: its data directory, port, serving certificate and admin
//! token stay the same across restarts, so every client (the test's, the
//! operators' ServiceAccount tokens, kubectl) keeps working once it is
//! back. RBAC is on, anonymous requests are refused.
//!
//! Files in its directory: `data/` (the server's `--data-dir`), `ca.crt`,
//! `tls.crt`, `tls.key`, `tokens.csv` (the admin token, group
//! `system:masters`), `admin.kubeconfig` (for the test and kubectl) and
//! `server.log`.

// Test support: a failed step must fail the test that called it, plainly.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::Duration;

/// How long a (re)started server may take to write its kubeconfig.
const READY: Duration = Duration::from_secs(60);

/// A restartable API server process.
pub struct ServerProcess {
    binary: PathBuf,
    dir: PathBuf,
    port: u16,
    child: Mutex<Option<Child>>,
}

impl ServerProcess {
    /// Writes the certificates, the token file and the admin kubeconfig
    /// into `dir`, starts `binary` on a free port and waits until it
    /// serves.
    pub async fn start(binary: &Path, dir: &Path) -> Self {
        std::fs::create_dir_all(dir.join("data")).unwrap();
        write_certificates(dir);
        let token = format!("admin-{:016x}", fastrand::u64(..));
        let tokens = format!("{token},admin,admin,\"system:masters\"\n");
        write_private(&dir.join("tokens.csv"), &tokens);
        let port = crate::support::free_port().unwrap();
        write_private(
            &dir.join("admin.kubeconfig"),
            &kubeconfig(dir, port, &token),
        );
        let server = Self {
            binary: binary.to_owned(),
            dir: dir.to_owned(),
            port,
            child: Mutex::new(None),
        };
        server.restart().await;
        server
    }

    /// The admin kubeconfig (the same across restarts).
    pub fn kubeconfig(&self) -> PathBuf {
        self.dir.join("admin.kubeconfig")
    }

    /// Kills the server with SIGKILL (nothing flushed, nothing shut down)
    /// and reaps it.
    pub fn kill(&self) {
        if let Some(mut child) = self.child.lock().unwrap().take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server (again) and waits until it serves: it writes its
    /// own kubeconfig once it listens.
    pub async fn restart(&self) {
        self.kill();
        let written = self.dir.join("server.kubeconfig");
        let _ = std::fs::remove_file(&written);
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("server.log"))
            .unwrap();
        let child = Command::new(&self.binary)
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .arg("--data-dir")
            .arg(self.dir.join("data"))
            .arg("--tls-cert-file")
            .arg(self.dir.join("tls.crt"))
            .arg("--tls-private-key-file")
            .arg(self.dir.join("tls.key"))
            .arg("--token-auth-file")
            .arg(self.dir.join("tokens.csv"))
            .args(["--authorization-mode", "RBAC", "--anonymous-auth", "false"])
            .args(["--log", "warn", "--kubeconfig"])
            .arg(&written)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e}", self.binary.display()));
        *self.child.lock().unwrap() = Some(child);
        let deadline = tokio::time::Instant::now() + READY;
        while !written.is_file() {
            let exited = self
                .child
                .lock()
                .unwrap()
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten());
            assert!(
                exited.is_none() && tokio::time::Instant::now() < deadline,
                "the API server did not start ({exited:?}):\n{}",
                self.log_tail()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Whether it exited on its own, with the end of its log.
    pub fn exited(&self) -> Option<String> {
        let mut child = self.child.lock().unwrap();
        let status = child.as_mut()?.try_wait().ok()??;
        Some(format!(
            "the API server exited ({status}):\n{}",
            self.log_tail()
        ))
    }

    /// The last lines of its log.
    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(self.dir.join("server.log")).unwrap_or_default();
        crate::support::last_lines(&text, 20).join("\n")
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The admin kubeconfig of a server on `port` serving the certificate of
/// `dir`'s `ca.crt`, authenticated with `token`.
fn kubeconfig(dir: &Path, port: u16, token: &str) -> String {
    let config = serde_json::json!({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "system", "cluster": {
            "server": format!("https://127.0.0.1:{port}"),
            "certificate-authority": dir.join("ca.crt"),
        }}],
        "users": [{"name": "admin", "user": {"token": token}}],
        "contexts": [{"name": "system", "context": {"cluster": "system", "user": "admin"}}],
        "current-context": "system",
    });
    serde_yaml::to_string(&config).unwrap()
}

/// A CA and the server's certificate (`127.0.0.1`, `localhost`) signed by
/// it, as PEM files.
fn write_certificates(dir: &Path) {
    use rcgen::{
        BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose,
        IsCa, Issuer, KeyPair, KeyUsagePurpose,
    };
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, "operatorkit e2e API server CA");
    ca.distinguished_name = dn;
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca_key = KeyPair::generate().unwrap();
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca, ca_key);

    let mut server = CertificateParams::new(vec!["127.0.0.1".into(), "localhost".into()]).unwrap();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, "127.0.0.1");
    server.distinguished_name = dn;
    server.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    server.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let server_key = KeyPair::generate().unwrap();
    let server_cert = server.signed_by(&server_key, &issuer).unwrap();
    std::fs::write(dir.join("ca.crt"), ca_cert.pem()).unwrap();
    std::fs::write(dir.join("tls.crt"), server_cert.pem()).unwrap();
    write_private(&dir.join("tls.key"), &server_key.serialize_pem());
}

/// Writes `text` to `path`, readable by this user only: keys and tokens.
fn write_private(path: &Path, text: &str) {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .unwrap();
    file.write_all(text.as_bytes()).unwrap();
}
