//! `cargo run -p operatorkit --example greeter -- --help`
//!
//! `greeter crd` prints the CustomResourceDefinition; without a subcommand the
//! operator runs with the standard flags of [`operatorkit::Args`].

use clap::Parser;
use kube::CustomResourceExt;

mod operator;

#[derive(Parser)]
#[command(about = "Turns every Greeting into a ConfigMap")]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    args: operatorkit::Args,
}

#[derive(clap::Subcommand)]
enum Command {
    /// Print the Greeting CRD as YAML.
    Crd,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Some(Command::Crd) => print!("{}", serde_yaml::to_string(&operator::Greeting::crd())?),
        None => operatorkit::run(operator::operator(env!("CARGO_PKG_VERSION")), cli.args).await?,
    }
    Ok(())
}
