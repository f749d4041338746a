//! Binary of ingress-operator; see the library for what it does.

use ingress_operator::settings::{ABOUT, IngressArgs};

fn main() -> std::process::ExitCode {
    operatorkit::main(ABOUT, |flags: IngressArgs| {
        Ok(ingress_operator::operator(
            env!("CARGO_PKG_VERSION"),
            &flags,
        ))
    })
}
