//! `cargo run -p operatorkit --example greeter -- --help`
//!
//! `greeter crd` prints the CustomResourceDefinition; `greeter [run]` runs
//! the operator with the standard flags of [`operatorkit::Args`].

mod operator;

fn main() -> std::process::ExitCode {
    operatorkit::main(
        "Turns every Greeting into a ConfigMap",
        |_: operatorkit::cli::NoFlags| Ok(operator::operator(env!("CARGO_PKG_VERSION"))),
    )
}
