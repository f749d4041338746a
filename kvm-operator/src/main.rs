//! Binary of kvm-operator; see the library for what it does.

use kvm_operator::settings::{ABOUT, KvmArgs};

fn main() -> std::process::ExitCode {
    operatorkit::main(ABOUT, |flags: KvmArgs| {
        Ok(kvm_operator::operator(env!("CARGO_PKG_VERSION"), flags)?)
    })
}
