//! Binary of cert-operator; see the library for what it does.

use cert_operator::settings::Cli;
use clap::Parser;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let operator = cert_operator::operator(
        env!("CARGO_PKG_VERSION"),
        cli.cert.backend()?,
        cli.cert.settings(),
    )?;
    operatorkit::run(operator, cli.operator).await?;
    Ok(())
}
