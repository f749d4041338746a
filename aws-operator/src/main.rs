//! Binary of aws-operator; see the library for what it does.

use aws_operator::calls::CallMetrics;
use aws_operator::settings::{ABOUT, AwsArgs};

fn main() -> std::process::ExitCode {
    operatorkit::main(ABOUT, |flags: AwsArgs| {
        let metrics = CallMetrics::new()?;
        Ok(aws_operator::operator(
            env!("CARGO_PKG_VERSION"),
            flags,
            metrics,
        ))
    })
}
