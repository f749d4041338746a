//! cert-operator's command line: operatorkit's standard flags plus the
//! backend, the default key algorithm, the renewal threshold and where the
//! Secrets go.

use std::sync::Arc;
use std::time::Duration;

use apiextensions::core::cert_config::KeyAlgorithm;

use std::path::PathBuf;

use crate::backend::Backend;
use crate::backend::builtin::Builtin;
use crate::backend::vault::client::{Token, Vault, VaultConfig, VaultError};
use crate::backend::vault::{REQUEST_TIMEOUT, VaultBackend};
use crate::certificate::CertSettings;

/// What `cert-operator --help` says it does.
pub const ABOUT: &str = "Issues TLS certificates for guest clusters (CertConfig)";

/// The command line of cert-operator: operatorkit's standard one (`run`,
/// the default, and `crd`) with [`CertArgs`] as its own flags.
pub type Cli = operatorkit::cli::Cli<CertArgs>;

/// Key algorithms on the command line.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyAlgorithmArg {
    /// ECDSA P-256.
    EcdsaP256,
    /// ECDSA P-384.
    EcdsaP384,
    /// RSA 2048.
    #[value(name = "rsa-2048")]
    Rsa2048,
    /// RSA 4096.
    #[value(name = "rsa-4096")]
    Rsa4096,
}

impl From<KeyAlgorithmArg> for KeyAlgorithm {
    fn from(a: KeyAlgorithmArg) -> Self {
        match a {
            KeyAlgorithmArg::EcdsaP256 => Self::EcdsaP256,
            KeyAlgorithmArg::EcdsaP384 => Self::EcdsaP384,
            KeyAlgorithmArg::Rsa2048 => Self::Rsa2048,
            KeyAlgorithmArg::Rsa4096 => Self::Rsa4096,
        }
    }
}

/// Which backend issues.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum BackendKind {
    /// A CA per cluster kept in a Secret; nothing to run.
    Builtin,
    /// Vault (or OpenBao) PKI: `--vault-address` and a token.
    Vault,
}

/// cert-operator's own flags.
#[derive(clap::Args, Clone, Debug)]
pub struct CertArgs {
    /// Where certificates come from.
    #[arg(long, value_enum, default_value = "builtin")]
    pub backend: BackendKind,
    /// Key algorithm of CertConfigs that name none.
    #[arg(long, value_enum, default_value = "ecdsa-p256")]
    pub key_algorithm: KeyAlgorithmArg,
    /// Re-issue a certificate when less than this remains of it (at most a
    /// third of its lifetime), e.g. `720h`.
    #[arg(long, default_value = "720h", value_parser = operatorkit::duration::parse_arg)]
    pub renew_before: Duration,
    /// Put the Secrets in this namespace instead of the CertConfig's.
    #[arg(long)]
    pub secret_namespace: Option<String>,
    /// Address of Vault, e.g. `https://vault.example.com:8200` (with `--backend vault`).
    #[arg(long, env = "VAULT_ADDR")]
    pub vault_address: Option<String>,
    /// File holding the Vault token (default: the `VAULT_TOKEN` environment variable).
    #[arg(long)]
    pub vault_token_file: Option<PathBuf>,
    /// PEM file of the CA(s) that signed Vault's TLS certificate, trusted
    /// besides the built-in roots (for a Vault behind a private CA).
    #[arg(long, env = "VAULT_CACERT")]
    pub vault_ca_file: Option<PathBuf>,
}

/// Why the backend flags cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum BackendSetupError {
    /// `--backend vault` without `--vault-address`.
    #[error("--backend vault needs --vault-address (or VAULT_ADDR)")]
    NoVaultAddress,
    /// The Vault client could not be set up (token, address).
    #[error(transparent)]
    Vault(#[from] VaultError),
}

impl CertArgs {
    /// The resource settings.
    pub fn settings(&self) -> CertSettings {
        CertSettings {
            default_key: self.key_algorithm.into(),
            renew_before: self.renew_before,
            secret_namespace: self.secret_namespace.clone(),
        }
    }

    /// The backend the flags choose. With Vault, the token is renewed in the
    /// background at half its lifetime, for as long as the process runs.
    pub fn backend(&self) -> Result<Arc<dyn Backend>, BackendSetupError> {
        match self.backend {
            BackendKind::Builtin => {
                if self.vault_token_file.is_some() || self.vault_ca_file.is_some() {
                    tracing::warn!(
                        "--backend builtin ignores --vault-token-file and --vault-ca-file"
                    );
                }
                Ok(Arc::new(Builtin::default()))
            }
            BackendKind::Vault => {
                let address = self
                    .vault_address
                    .clone()
                    .ok_or(BackendSetupError::NoVaultAddress)?;
                let token = match &self.vault_token_file {
                    Some(path) => Token::from_file(path)?,
                    None => Token::from_env("VAULT_TOKEN")?,
                };
                if self.vault_ca_file.is_some() && address.trim().starts_with("http://") {
                    tracing::warn!(%address, "--vault-ca-file is unused: Vault is addressed over plain http");
                }
                let ca_pem = match &self.vault_ca_file {
                    Some(path) => {
                        Some(std::fs::read(path).map_err(|e| VaultError::Io(path.clone(), e))?)
                    }
                    None => None,
                };
                let vault = Vault::new(VaultConfig {
                    address,
                    token,
                    request_timeout: REQUEST_TIMEOUT,
                    ca_pem,
                })?;
                vault.spawn_token_renewal(std::future::pending());
                Ok(Arc::new(VaultBackend::new(vault)))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;
    use operatorkit::cli::Command;

    /// The flags of `run` (the default) among `args`.
    fn cert_args(args: &[&str]) -> Result<CertArgs, clap::Error> {
        match Cli::try_parse_from(args)?.into_command() {
            Command::Run(run) => Ok(run.own),
            Command::Crd => panic!("{args:?} is not a run"),
        }
    }

    #[test]
    fn defaults_and_overrides() {
        let cert = cert_args(&["cert-operator"]).unwrap_or_else(|e| panic!("{e}"));
        let s = cert.settings();
        assert_eq!(s.default_key, KeyAlgorithm::EcdsaP256);
        assert_eq!(s.renew_before, Duration::from_secs(720 * 3600));
        let cert = cert_args(&[
            "cert-operator",
            "--key-algorithm=rsa-2048",
            "--renew-before=48h",
            "--secret-namespace=certs",
        ])
        .unwrap_or_else(|e| panic!("{e}"));
        let s = cert.settings();
        assert_eq!(s.default_key, KeyAlgorithm::Rsa2048);
        assert_eq!(s.renew_before, Duration::from_secs(48 * 3600));
        assert_eq!(s.secret_namespace.as_deref(), Some("certs"));
        assert!(cert_args(&["cert-operator", "--renew-before=soon"]).is_err());
        let vault =
            cert_args(&["cert-operator", "--backend=vault"]).unwrap_or_else(|e| panic!("{e}"));
        if std::env::var_os("VAULT_ADDR").is_none() {
            assert!(matches!(
                vault.backend(),
                Err(BackendSetupError::NoVaultAddress)
            ));
        }
    }

    #[test]
    fn an_unreadable_or_empty_vault_ca_file_is_refused_naming_it() {
        let dir =
            std::env::temp_dir().join(format!("cert-operator-settings-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
        let token = dir.join("token");
        std::fs::write(&token, "t").unwrap_or_else(|e| panic!("{e}"));
        let empty = dir.join("empty-ca.pem");
        std::fs::write(&empty, "").unwrap_or_else(|e| panic!("{e}"));
        let missing = dir.join("missing-ca.pem");
        let backend = |ca: &std::path::Path| {
            let token = format!("--vault-token-file={}", token.display());
            let ca = format!("--vault-ca-file={}", ca.display());
            let cert = cert_args(&[
                "cert-operator",
                "--backend=vault",
                "--vault-address=https://vault.example:8200",
                &token,
                &ca,
            ])
            .unwrap_or_else(|e| panic!("{e}"));
            cert.backend().err().map(|e| e.to_string())
        };
        let e = backend(&missing).unwrap_or_default();
        assert!(e.contains("missing-ca.pem"), "{e}");
        let e = backend(&empty).unwrap_or_default();
        assert!(e.contains("no PEM CERTIFICATE"), "{e}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
