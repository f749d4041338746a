//! Binary of cert-operator; see the library for what it does.

use cert_operator::settings::{ABOUT, CertArgs};

fn main() -> std::process::ExitCode {
    operatorkit::main(ABOUT, |flags: CertArgs| {
        let operator = cert_operator::operator(
            env!("CARGO_PKG_VERSION"),
            flags.backend()?,
            flags.settings(),
        )?;
        Ok(operator)
    })
}
