//! Binary of flannel-operator; see the library for what it does.

use flannel_operator::settings::{ABOUT, FlannelArgs};

fn main() -> std::process::ExitCode {
    operatorkit::main(ABOUT, |flags: FlannelArgs| {
        Ok(flannel_operator::operator(
            env!("CARGO_PKG_VERSION"),
            flags,
        )?)
    })
}
