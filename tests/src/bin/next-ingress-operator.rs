//! ingress-operator serving the version label `$NEXT_OPERATOR_VERSION`
//! instead of its crate's version: the "v2" of the system's upgrade test
//! (`tests/tests/system_upgrade.rs`). The code is ingress-operator's own;
//! the handover between versions the test checks depends on the label only.

use ingress_operator::settings::{ABOUT, IngressArgs};

fn main() -> std::process::ExitCode {
    operatorkit::main(ABOUT, |flags: IngressArgs| {
        let version = e2e::system::next_version()?;
        Ok(ingress_operator::operator(&version, &flags))
    })
}
