//! flannel-operator serving the version label `$NEXT_OPERATOR_VERSION`
//! instead of its crate's version: the "v2" of the system's upgrade test
//! (`tests/tests/system_upgrade.rs`). The code is flannel-operator's own;
//! the handover between versions the test checks depends on the label only.

use flannel_operator::settings::{ABOUT, FlannelArgs};

fn main() -> std::process::ExitCode {
    operatorkit::main(ABOUT, |flags: FlannelArgs| {
        let version = e2e::system::next_version()?;
        Ok(flannel_operator::operator(&version, flags)?)
    })
}
