//! cert-operator serving the version label `$NEXT_OPERATOR_VERSION` instead
//! of its crate's version: the "v2" of the system's upgrade test
//! (`tests/tests/system_upgrade.rs`). The code is cert-operator's own; the
//! handover between versions the test checks depends on the label only.

use cert_operator::settings::{ABOUT, CertArgs};

fn main() -> std::process::ExitCode {
    operatorkit::main(ABOUT, |flags: CertArgs| {
        let version = e2e::system::next_version()?;
        Ok(cert_operator::operator(
            &version,
            flags.backend()?,
            flags.settings(),
        )?)
    })
}
