//! `{{name}} [run]` reconciles {{Kind}}s with the standard flags
//! (`--help`); `{{name}} crd` prints the CustomResourceDefinition.

fn main() -> std::process::ExitCode {
    operatorkit::main({{crate}}::ABOUT, |_: operatorkit::cli::NoFlags| {
        Ok({{crate}}::operator(env!("CARGO_PKG_VERSION")))
    })
}
