//! kubectl, black-box, against a [`TestEnv`]: `/usr/bin/kubectl` (or
//! `KUBECTL`) with the environment's kubeconfig and namespace.

use std::process::{Command, Output};

use operatorkit::testing::{ServerConfig, TestEnv};

/// kubectl pointed at one environment and namespace.
pub struct Kubectl {
    /// The kubeconfig it uses.
    pub kubeconfig: std::path::PathBuf,
    /// The namespace it passes with `--namespace`.
    pub namespace: String,
}

impl Kubectl {
    /// Runs kubectl with `args`.
    ///
    /// # Panics
    /// If kubectl cannot be started.
    pub fn run(&self, args: &[&str]) -> Output {
        let kubectl = std::env::var("KUBECTL").unwrap_or_else(|_| "/usr/bin/kubectl".into());
        Command::new(kubectl)
            .env("KUBECONFIG", &self.kubeconfig)
            .arg("--namespace")
            .arg(&self.namespace)
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("kubectl runs: {e}"))
    }

    /// Runs and expects success; returns stdout.
    ///
    /// # Panics
    /// If kubectl fails.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success(),
            "kubectl {}: {stderr}\n{stdout}",
            args.join(" ")
        );
        stdout
    }
}

/// An HTTPS server (kubectl's usual setting), or the cluster
/// `OPERATORKIT_TEST_KUBECONFIG` names, and kubectl pointed at it.
///
/// # Panics
/// If the environment does not start.
pub async fn session() -> (TestEnv, Kubectl) {
    let config = ServerConfig {
        tls: true,
        ..ServerConfig::default()
    };
    let env = TestEnv::start_with(config)
        .await
        .unwrap_or_else(|e| panic!("test environment: {e}"));
    let k = Kubectl {
        kubeconfig: env
            .kubeconfig_path()
            .unwrap_or_else(|e| panic!("kubeconfig: {e}")),
        namespace: env.namespace().to_owned(),
    };
    (env, k)
}
