//! `apiserver`: runs the embedded Kubernetes API server, writes a kubeconfig for
//! it and prints that file's path.

use std::io::IsTerminal;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

use anyhow::Context;
use clap::Parser;

/// Embedded Kubernetes API server (tests and local development only).
#[derive(Parser)]
#[command(name = "operatorkit-apiserver", version)]
struct Args {
    /// Port to listen on (0: any free port).
    #[arg(long, default_value_t = 6443)]
    port: u16,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    bind: IpAddr,
    /// Keep every acknowledged write durable here and restore it on start.
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Start from a damaged data directory: keep everything before the damage
    /// and move the damaged files to <data-dir>/damaged-<time>/.
    #[arg(long, requires = "data_dir")]
    recover_data_dir: bool,
    /// Compact the write-ahead log once its newest segment holds this many
    /// bytes (and four times the last snapshot).
    #[arg(long, default_value_t = operatorkit_apiserver::DataDirOptions::default().compaction_min_bytes)]
    compaction_min_bytes: u64,
    /// Serve plain HTTP instead of HTTPS.
    #[arg(long)]
    http: bool,
    /// RBAC (roles and bindings decide) or AlwaysAllow.
    #[arg(long, default_value = "RBAC")]
    authorization_mode: operatorkit_apiserver::authorization::Mode,
    /// Serve requests without credentials as system:anonymous.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    anonymous_auth: bool,
    /// CA bundle that client certificates are verified against (CN: user,
    /// O: groups).
    #[arg(long)]
    client_ca_file: Option<PathBuf>,
    /// The certificate (chain, PEM) to serve HTTPS with; self-signed when
    /// not given.
    #[arg(long, requires = "tls_private_key_file")]
    tls_cert_file: Option<PathBuf>,
    /// The private key (PEM) of --tls-cert-file.
    #[arg(long, requires = "tls_cert_file")]
    tls_private_key_file: Option<PathBuf>,
    /// Bearer-token users, in kube-apiserver's --token-auth-file format.
    #[arg(long)]
    token_auth_file: Option<PathBuf>,
    /// Where to write the kubeconfig (default: <data-dir>/kubeconfig, or ./kubeconfig).
    #[arg(long)]
    kubeconfig: Option<PathBuf>,
    /// Log filter, e.g. `info` or `apiserver=debug`.
    #[arg(long, default_value = "info")]
    log: String,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    tracing_subscriber::fmt()
        .with_env_filter(&args.log)
        .with_writer(std::io::stderr)
        // Colour only on a terminal, and not with NO_COLOR set: a log file
        // gets plain lines.
        .with_ansi(
            std::io::stderr().is_terminal()
                && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()),
        )
        .init();
    let serving_cert = serving_cert(&args)?;
    let config = operatorkit_apiserver::Config {
        address: SocketAddr::new(args.bind, args.port),
        tls: !args.http,
        data_dir: args.data_dir.clone(),
        data_dir_options: operatorkit_apiserver::DataDirOptions {
            recover: args.recover_data_dir,
            compaction_min_bytes: args.compaction_min_bytes,
        },
        token_file: args.token_auth_file,
        authorization_mode: args.authorization_mode,
        serving_cert,
        client_ca: args
            .client_ca_file
            .as_deref()
            .map(|path| {
                std::fs::read_to_string(path)
                    .with_context(|| format!("reading --client-ca-file {}", path.display()))
            })
            .transpose()?,
        anonymous: args.anonymous_auth,
        ..operatorkit_apiserver::Config::default()
    };
    let server = operatorkit_apiserver::start(config)
        .await
        .context("starting the API server")?;
    let path = args
        .kubeconfig
        .or_else(|| args.data_dir.map(|d| d.join("kubeconfig")))
        .unwrap_or_else(|| PathBuf::from("kubeconfig"));
    server
        .write_kubeconfig(&path, None)
        .with_context(|| format!("writing {}", path.display()))?;
    println!("{}", std::path::absolute(&path).unwrap_or(path).display());
    tokio::signal::ctrl_c()
        .await
        .context("waiting for Ctrl-C")?;
    server.shutdown().await;
    Ok(())
}

/// `--tls-cert-file` and `--tls-private-key-file`, read.
fn serving_cert(args: &Args) -> anyhow::Result<Option<operatorkit_apiserver::ServingCert>> {
    let (Some(cert), Some(key)) = (&args.tls_cert_file, &args.tls_private_key_file) else {
        return Ok(None);
    };
    let read = |p: &PathBuf| {
        std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))
    };
    Ok(Some(operatorkit_apiserver::ServingCert {
        cert_pem: read(cert)?,
        key_pem: read(key)?,
        ca_pem: None,
    }))
}
