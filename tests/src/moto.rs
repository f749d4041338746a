//! Test harness: moto's server (PyPI `moto[server]`, which `cargo xtask
//! tools` installs into its venv) on a free loopback port, with its own log
//! file, killed when the [`Moto`] value drops. Every AWS service the
//! operators use answers on one endpoint, in memory; nothing leaves the
//! machine. The binary is `$OPERATORKIT_MOTO`, else
//! `target/tools/venv/bin/moto_server`, else `PATH`.

use std::io::Error;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use tokio::process::{Child, Command};

use crate::support;

/// Environment variable naming the `moto_server` binary to use.
pub const MOTO_ENV: &str = "OPERATORKIT_MOTO";
/// Where `cargo xtask tools` puts it, relative to the cargo target dir.
const VENV_MOTO: &str = "tools/venv/bin/moto_server";
/// How long the server may take to answer.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// A moto server on a free loopback port, killed on drop.
pub struct Moto {
    port: u16,
    log_path: PathBuf,
    child: Child,
}

impl Moto {
    /// Starts `moto_server` on a free `127.0.0.1` port and waits (up to
    /// 30 s) until it answers.
    pub async fn start() -> Result<Self, Error> {
        let binary = support::find_tool(MOTO_ENV, VENV_MOTO, "moto_server")?;
        let deadline = tokio::time::Instant::now() + START_TIMEOUT;
        loop {
            let port = support::free_port()?;
            let log_path = std::env::temp_dir().join(format!(
                "moto-{port}-{}-{}.log",
                std::process::id(),
                fastrand::u32(..)
            ));
            let log = std::fs::File::create(&log_path)?;
            let child = Command::new(&binary)
                .args(["-H", "127.0.0.1", "-p", &port.to_string()])
                .stdin(Stdio::null())
                .stdout(log.try_clone()?)
                .stderr(log)
                .kill_on_drop(true)
                .spawn()?;
            let mut moto = Self {
                port,
                log_path,
                child,
            };
            match moto.wait_up(deadline).await {
                Ok(()) => return Ok(moto),
                // The port was taken in between: another one.
                Err(_) if tokio::time::Instant::now() < deadline => continue,
                Err(e) => return Err(e),
            }
        }
    }

    /// `http://127.0.0.1:<port>`: every service's endpoint.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    async fn wait_up(&mut self, deadline: tokio::time::Instant) -> Result<(), Error> {
        let url = format!("{}/moto-api/", self.endpoint());
        loop {
            if let Some(status) = self.child.try_wait()? {
                return Err(Error::other(format!(
                    "moto_server exited with {status}; log:\n{}",
                    self.log_tail()
                )));
            }
            if reqwest::get(&url)
                .await
                .is_ok_and(|r| r.status().is_success())
            {
                return Ok(());
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(Error::other(format!(
                    "moto_server did not answer at {url} within {START_TIMEOUT:?}; log:\n{}",
                    self.log_tail()
                )));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log_path).unwrap_or_default();
        support::last_lines(&text, 20).join("\n")
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
        let _ = std::fs::remove_file(&self.log_path);
    }
}
