//! End-to-end tests of the whole system, and the helpers they share.
//!
//! The library part loads the repository's example manifests
//! (`manifests/examples/`) with their expectations, so that every test that needs
//! them (deserialisation here, admission against the API server later) reads them
//! the same way. The tests themselves live in `tests/`.

#![forbid(unsafe_code)]

pub mod aws;
pub mod aws_proxy;
pub mod certs;
pub mod deployment;
pub mod etcd;
pub mod examples;
pub mod flannel;
pub mod ingress;
pub mod kubectl;
pub mod kvm;
pub mod manifests;
pub mod moto;
pub mod openbao;
pub mod rbac;
pub mod server_process;
pub mod support;
pub mod system;
pub mod terms;
pub mod widget;
