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

/// The flags of cert-operator.
#[derive(clap::Parser, Debug)]
#[command(
    name = "cert-operator",
    about = "Issues TLS certificates for guest clusters (CertConfig)"
)]
pub struct Cli {
    /// operatorkit's flags.
    #[command(flatten)]
    pub operator: operatorkit::Args,
    /// cert-operator's own.
    #[command(flatten)]
    pub cert: CertArgs,
}

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
    #[arg(long, default_value = "720h", value_parser = parse_go_duration)]
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

fn parse_go_duration(s: &str) -> Result<Duration, String> {
    crate::pki::request::parse_duration(s)
        .ok_or_else(|| format!("{s:?} is not a duration such as 720h"))
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

    #[test]
    fn defaults_and_overrides() {
        let cli = Cli::try_parse_from(["cert-operator"]).unwrap_or_else(|e| panic!("{e}"));
        let s = cli.cert.settings();
        assert_eq!(s.default_key, KeyAlgorithm::EcdsaP256);
        assert_eq!(s.renew_before, Duration::from_secs(720 * 3600));
        let cli = Cli::try_parse_from([
            "cert-operator",
            "--key-algorithm=rsa-2048",
            "--renew-before=48h",
            "--secret-namespace=certs",
        ])
        .unwrap_or_else(|e| panic!("{e}"));
        let s = cli.cert.settings();
        assert_eq!(s.default_key, KeyAlgorithm::Rsa2048);
        assert_eq!(s.renew_before, Duration::from_secs(48 * 3600));
        assert_eq!(s.secret_namespace.as_deref(), Some("certs"));
        assert!(Cli::try_parse_from(["cert-operator", "--renew-before=soon"]).is_err());
        let vault = Cli::try_parse_from(["cert-operator", "--backend=vault"])
            .unwrap_or_else(|e| panic!("{e}"));
        if std::env::var_os("VAULT_ADDR").is_none() {
            assert!(matches!(
                vault.cert.backend(),
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
            let cli = Cli::try_parse_from([
                "cert-operator".to_owned(),
                "--backend=vault".to_owned(),
                "--vault-address=https://vault.example:8200".to_owned(),
                format!("--vault-token-file={}", token.display()),
                format!("--vault-ca-file={}", ca.display()),
            ])
            .unwrap_or_else(|e| panic!("{e}"));
            cli.cert.backend().err().map(|e| e.to_string())
        };
        let e = backend(&missing).unwrap_or_default();
        assert!(e.contains("missing-ca.pem"), "{e}");
        let e = backend(&empty).unwrap_or_default();
        assert!(e.contains("no PEM CERTIFICATE"), "{e}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
