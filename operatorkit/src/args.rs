//! The command line every operator shares (flatten [`Args`] into your own
//! clap struct, or use it as is), and how it becomes a client and [`Settings`].

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use kube::Client;
use kube::config::{KubeConfigOptions, Kubeconfig};

use crate::keys::OperatorName;
use crate::leader::LeaderElectionConfig;
use crate::logging::LogFormat;
use crate::runtime::{Settings, default_instance};

/// The standard flags of an operator.
#[derive(clap::Args, Clone, Debug)]
pub struct Args {
    /// Kubeconfig to use (default: in-cluster config, then ~/.kube/config).
    #[arg(long, env = "KUBECONFIG")]
    pub kubeconfig: Option<PathBuf>,
    /// Kubeconfig context to use.
    #[arg(long)]
    pub context: Option<String>,
    /// Watch only this namespace (default: all namespaces).
    #[arg(long, env = "WATCH_NAMESPACE")]
    pub namespace: Option<String>,
    /// Address of /metrics, /healthz and /readyz.
    #[arg(long, default_value = "0.0.0.0:8080")]
    pub metrics_address: SocketAddr,
    /// Elect a leader among replicas; only the leader reconciles.
    #[arg(long)]
    pub leader_elect: bool,
    /// Name of the Lease (default: `<operator>-leader`).
    #[arg(long)]
    pub lease_name: Option<String>,
    /// Namespace of the Lease (default: $POD_NAMESPACE, else --namespace, else `default`).
    #[arg(long, env = "POD_NAMESPACE")]
    pub lease_namespace: Option<String>,
    /// How long a lease lasts without renewal, e.g. `15s`.
    #[arg(long, default_value = "15s", value_parser = crate::duration::parse_arg)]
    pub lease_duration: Duration,
    /// Objects reconciled at once (default: the operator's).
    #[arg(long)]
    pub concurrency: Option<u16>,
    /// Resync period, e.g. `5m` (default: the operator's).
    #[arg(long, value_parser = crate::duration::parse_arg)]
    pub resync: Option<Duration>,
    /// How long in-flight reconciles may run after SIGTERM, e.g. `25s`.
    #[arg(long, default_value = "25s", value_parser = crate::duration::parse_arg)]
    pub shutdown_timeout: Duration,
    /// Log filter: a level (`info`) or tracing directives (`info,kube=debug`).
    #[arg(long, env = "LOG_LEVEL", default_value = "info")]
    pub log_level: String,
    /// Log format.
    #[arg(long, value_enum, default_value = "text")]
    pub log_format: LogFormat,
}

/// Why the flags could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ArgsError {
    /// The kubeconfig could not be read or used.
    #[error("kubeconfig: {0}")]
    Kubeconfig(String),
    /// No client could be made.
    #[error("client: {0}")]
    Client(#[from] kube::Error),
}

impl Args {
    /// A client from `--kubeconfig`/`--context`, or the environment.
    pub async fn client(&self) -> Result<Client, ArgsError> {
        Ok(Client::try_from(self.config().await?)?)
    }

    /// The client configuration from `--kubeconfig`/`--context`, or the
    /// environment.
    async fn config(&self) -> Result<kube::Config, ArgsError> {
        let options = KubeConfigOptions {
            context: self.context.clone(),
            ..Default::default()
        };
        let config = match &self.kubeconfig {
            Some(path) => {
                let kubeconfig = Kubeconfig::read_from(path)
                    .map_err(|e| ArgsError::Kubeconfig(format!("{}: {e}", path.display())))?;
                kube::Config::from_custom_kubeconfig(kubeconfig, &options)
                    .await
                    .map_err(|e| ArgsError::Kubeconfig(e.to_string()))?
            }
            None if self.context.is_some() => kube::Config::from_kubeconfig(&options)
                .await
                .map_err(|e| ArgsError::Kubeconfig(e.to_string()))?,
            None => kube::Config::infer()
                .await
                .map_err(|e| ArgsError::Kubeconfig(e.to_string()))?,
        };
        Ok(config)
    }

    /// [`Args::client`], sending `user_agent` as the User-Agent of every
    /// request, so that the API server's audit log and metrics tell this
    /// operator (and this replica) from the other clients of its account.
    pub async fn client_with_agent(&self, user_agent: &str) -> Result<Client, ArgsError> {
        let mut config = self.config().await?;
        let value = http::HeaderValue::from_str(user_agent)
            .map_err(|e| ArgsError::Kubeconfig(format!("user agent {user_agent:?}: {e}")))?;
        config.headers.push((http::header::USER_AGENT, value));
        Ok(Client::try_from(config)?)
    }

    /// The run settings these flags ask for, for operator `name`.
    pub fn settings(&self, name: &OperatorName) -> Settings {
        let instance = default_instance();
        let leader_election = self.leader_elect.then(|| {
            let namespace = self
                .lease_namespace
                .clone()
                .or_else(|| self.namespace.clone())
                .unwrap_or_else(|| "default".to_owned());
            let lease = self
                .lease_name
                .clone()
                .unwrap_or_else(|| format!("{name}-leader"));
            let mut config = LeaderElectionConfig::new(lease, namespace, instance.clone());
            // client-go's proportions: renew within 2/3 of the lease, retry
            // about seven times per lease.
            config.lease_duration = self.lease_duration;
            config.renew_deadline = self.lease_duration.mul_f64(2.0 / 3.0);
            config.retry_period = self.lease_duration / 7;
            config
        });
        Settings {
            namespace: self.namespace.clone(),
            concurrency: self.concurrency,
            resync: self.resync,
            health_address: Some(self.metrics_address),
            leader_election,
            shutdown_timeout: self.shutdown_timeout,
            instance,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: Args,
    }

    #[test]
    fn durations_are_go_durations() {
        let cli = Cli::try_parse_from(["op", "--resync=1h30m", "--shutdown-timeout=1.5s"])
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(cli.args.resync, Some(Duration::from_secs(5400)));
        assert_eq!(cli.args.shutdown_timeout, Duration::from_millis(1500));
        for bad in ["--resync=30", "--resync=-1m", "--lease-duration=5 parsecs"] {
            assert!(Cli::try_parse_from(["op", bad]).is_err(), "{bad}");
        }
    }

    #[test]
    fn flags_become_settings() {
        let cli = Cli::try_parse_from([
            "op",
            "--namespace=ns1",
            "--leader-elect",
            "--lease-duration=20s",
            "--concurrency=9",
            "--resync=1m",
            "--metrics-address=127.0.0.1:9000",
            "--log-format=json",
        ])
        .unwrap_or_else(|e| panic!("{e}"));
        let settings = cli
            .args
            .settings(&OperatorName::from_static("demo-operator"));
        assert_eq!(settings.namespace.as_deref(), Some("ns1"));
        assert_eq!(settings.concurrency, Some(9));
        assert_eq!(settings.resync, Some(Duration::from_secs(60)));
        assert_eq!(settings.health_address, Some(([127, 0, 0, 1], 9000).into()));
        let le = settings
            .leader_election
            .unwrap_or_else(|| panic!("leader election on"));
        assert_eq!(le.lease_name, "demo-operator-leader");
        assert_eq!(le.lease_duration, Duration::from_secs(20));
        assert_eq!(cli.args.log_format, LogFormat::Json);
    }

    #[test]
    fn defaults_leave_the_operator_defaults() {
        let cli = Cli::try_parse_from(["op"]).unwrap_or_else(|e| panic!("{e}"));
        let settings = cli.args.settings(&OperatorName::from_static("x"));
        assert_eq!(settings.concurrency, None);
        assert_eq!(settings.resync, None);
        assert!(settings.leader_election.is_none());
        assert!(Cli::try_parse_from(["op", "--log-format=xml"]).is_err());
    }
}
