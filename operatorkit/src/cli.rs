//! The standard command line and `main` of every operator:
//!
//! ```text
//! my-operator [run] [operatorkit's flags] [the operator's own flags]
//! my-operator crd        # the CRD of the operator's kind, as YAML
//! ```
//!
//! `run` is the default, so a Deployment's `args` need no subcommand. Logging
//! is set up from the flags before the operator is built, so whatever the
//! operator's own setup warns about (a flag it ignores, a token it renews) is
//! logged, in the chosen format.
//!
//! ```no_run
//! # use operatorkit::{Operator, keys::OperatorName, cli::NoFlags};
//! # use operatorkit::k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
//! # #[derive(operatorkit::kube::CustomResource, Clone, Debug, serde::Deserialize, serde::Serialize, operatorkit::schemars::JsonSchema)]
//! # #[kube(group = "example.dev", version = "v1", kind = "Thing", namespaced, status = "ThingStatus")]
//! # pub struct ThingSpec { size: u32 }
//! # #[derive(Clone, Debug, Default, PartialEq, serde::Deserialize, serde::Serialize, operatorkit::schemars::JsonSchema)]
//! # pub struct ThingStatus { conditions: Vec<Condition>, observed_generation: Option<i64> }
//! # operatorkit::operator_status!(ThingStatus);
//! fn main() -> std::process::ExitCode {
//!     operatorkit::main("Keeps things", |_: NoFlags| {
//!         Ok(Operator::<Thing>::new(OperatorName::from_static("thing-operator"), "1.0.0"))
//!     })
//! }
//! ```

use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches};
use kube::CustomResourceExt;

use crate::args::Args;
use crate::keys::OperatorName;
use crate::kind::OperatorKind;
use crate::operator::Operator;
use crate::step::BoxError;

/// The command line of an operator whose own flags are `E`.
#[derive(clap::Parser, Debug)]
#[command(args_conflicts_with_subcommands = true)]
pub struct Cli<E: clap::Args> {
    #[command(subcommand)]
    command: Option<Command<E>>,
    #[command(flatten)]
    run: RunArgs<E>,
}

impl<E: clap::Args> Cli<E> {
    /// What to do: the subcommand given, else `run` with the top-level flags.
    pub fn into_command(self) -> Command<E> {
        self.command.unwrap_or(Command::Run(self.run))
    }
}

/// The subcommands.
#[derive(clap::Subcommand, Debug)]
#[allow(
    clippy::large_enum_variant,
    reason = "made once per process from the command line; boxing would only obscure clap's derive"
)]
pub enum Command<E: clap::Args> {
    /// Run the operator (the default).
    Run(RunArgs<E>),
    /// Print the CustomResourceDefinition of the operator's kind as YAML.
    Crd,
}

/// The flags of `run`: operatorkit's and the operator's own.
#[derive(clap::Args, Debug)]
pub struct RunArgs<E: clap::Args> {
    /// operatorkit's flags.
    #[command(flatten)]
    pub operator: Args,
    /// The operator's own.
    #[command(flatten)]
    pub own: E,
}

/// The own flags of an operator that has none.
#[derive(clap::Args, Clone, Copy, Debug, Default)]
pub struct NoFlags {}

/// Why an operator's `main` failed.
#[derive(Debug, thiserror::Error)]
pub enum MainError {
    /// Logging could not be set up.
    #[error(transparent)]
    Logging(#[from] crate::logging::LoggingError),
    /// The flags could not be used.
    #[error(transparent)]
    Args(#[from] crate::args::ArgsError),
    /// The operator could not be built from its flags.
    #[error("setting up the operator: {0}")]
    Build(BoxError),
    /// The operator could not run.
    #[error(transparent)]
    Run(#[from] crate::runtime::RunError),
    /// The CRD could not be printed.
    #[error("printing the CRD: {0}")]
    Crd(String),
    /// The async runtime could not start.
    #[error("starting the async runtime: {0}")]
    Runtime(std::io::Error),
}

/// The whole of an operator's `main`: parses the command line (`about` is
/// the one-line description `--help` shows); for `crd` prints the CRD of
/// `K`; for `run` sets up logging, builds the operator with `build` from its
/// own flags, and runs it until SIGTERM or SIGINT. Errors are logged (or,
/// before logging is up, printed) and end the process with status 1.
pub fn main<K, E>(
    about: &'static str,
    build: impl FnOnce(E) -> Result<Operator<K>, BoxError>,
) -> ExitCode
where
    K: OperatorKind + CustomResourceExt,
    E: clap::Args,
{
    let matches = Cli::<E>::command().about(about).get_matches();
    let cli = match Cli::<E>::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
    let result = match cli.into_command() {
        Command::Crd => print_crd::<K>(),
        Command::Run(run) => run_main(run, build),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            if tracing::dispatcher::has_been_set() {
                tracing::error!(error = %e, "operator failed");
            } else {
                eprintln!("error: {e}");
            }
            ExitCode::FAILURE
        }
    }
}

fn print_crd<K: CustomResourceExt>() -> Result<(), MainError> {
    let yaml = serde_yaml::to_string(&K::crd()).map_err(|e| MainError::Crd(e.to_string()))?;
    print!("{yaml}");
    Ok(())
}

fn run_main<K: OperatorKind, E: clap::Args>(
    run: RunArgs<E>,
    build: impl FnOnce(E) -> Result<Operator<K>, BoxError>,
) -> Result<(), MainError> {
    let args = run.operator;
    crate::logging::init(&args.log_level, args.log_format)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(MainError::Runtime)?;
    runtime.block_on(async move {
        let operator = build(run.own).map_err(MainError::Build)?;
        let settings = args.settings(operator.name());
        let agent = user_agent(operator.name(), operator.version(), &settings.instance);
        let client = args.client_with_agent(&agent).await?;
        tracing::info!(
            operator = %operator.name(),
            version = operator.version(),
            namespace = settings.namespace.as_deref().unwrap_or("(all)"),
            leader_election = settings.leader_election.is_some(),
            "starting"
        );
        operator
            .run(client, settings, crate::shutdown_signal())
            .await?;
        Ok(())
    })
}

/// The User-Agent of an operator's requests: `<operator>/<version>
/// (<instance>)`, as client-go's `<binary>/<version> (<os>/<arch>)` names
/// the program, with the replica instead of the platform.
fn user_agent(name: &OperatorName, version: &str, instance: &str) -> String {
    format!("{name}/{version} ({instance})")
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[test]
    fn the_user_agent_names_operator_version_and_replica() {
        let name = OperatorName::new("cert-operator").unwrap();
        assert_eq!(
            user_agent(&name, "0.2.0", "cert-operator-7d9f-x2k4q"),
            "cert-operator/0.2.0 (cert-operator-7d9f-x2k4q)"
        );
    }

    #[derive(clap::Args, Debug)]
    struct Own {
        /// A flag of the operator's own.
        #[arg(long, default_value = "builtin")]
        backend: String,
    }

    fn parse(args: &[&str]) -> Result<Command<Own>, clap::Error> {
        Cli::<Own>::try_parse_from(args).map(Cli::into_command)
    }

    #[test]
    fn run_is_the_default_and_takes_both_flag_sets() {
        for args in [
            &["op", "--backend=vault", "--resync=1m"][..],
            &["op", "run", "--backend=vault", "--resync=1m"][..],
        ] {
            match parse(args) {
                Ok(Command::Run(run)) => {
                    assert_eq!(run.own.backend, "vault");
                    assert_eq!(
                        run.operator.resync,
                        Some(std::time::Duration::from_secs(60))
                    );
                }
                other => panic!("{args:?}: {other:?}"),
            }
        }
    }

    #[test]
    fn crd_is_a_subcommand() {
        assert!(matches!(parse(&["op", "crd"]), Ok(Command::Crd)));
        assert!(parse(&["op", "crd", "--resync=1m"]).is_err());
        assert!(parse(&["op", "--resync=30"]).is_err());
    }
}
