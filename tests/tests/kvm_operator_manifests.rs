//! `manifests/kvm-operator/`: rendered with `kubectl kustomize`, validated
//! with kubernetes-validate against Kubernetes 1.33, and read for what the
//! deployment promises: least-privilege RBAC (the exact grants of the
//! ClusterRole and of the leader-election Role), a hardened Deployment with
//! probes, resources and leader election, a metrics Service, all in
//! namespace operatorkit-system; the versions of cert-operator,
//! flannel-operator and ingress-operator that serve what kvm-operator asks
//! for named explicitly, each the workspace version (the version the
//! repository's manifests of those operators deploy). That the ClusterRole
//! is enough, and that every rule is needed, is shown by the API server's
//! RBAC itself (`kvm_operator_rbac.rs`).
//!
//! The checks every operator's manifests share are `e2e::deployment`'s; the
//! version flags' are here. `a_broken_manifest_is_caught` breaks the
//! rendered objects one way at a time and expects each break to be
//! reported, so none of the checks can pass vacuously.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use apiextensions::{CertConfig, FlannelConfig, IngressConfig, KVMConfig};
use e2e::deployment::{
    self, Break, COMMON_BREAKS, Expected, ExpectedRole, Problems, array_mut, assert_no_problems,
    container_mut, first_mut, flag_value, grant, one, remove_arg, rules_mut, set_arg,
};
use e2e::manifests::{self, strings};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{
    Namespace, PersistentVolumeClaim, Pod, Secret, Service, ServiceAccount,
};
use k8s_openapi::api::networking::v1::{Ingress, IngressClass};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use kvm_operator::settings::KvmArgs;
use operatorkit::cli::RunArgs;
use serde_json::{Value, json};

/// Where everything runs.
const NAMESPACE: &str = "operatorkit-system";
/// The image, without its tag.
const IMAGE: &str = "ghcr.io/operatorkit/kvm-operator";
/// The workspace version: the image tag, the version label of the
/// KVMConfigs the operator reconciles, and the version of the other
/// operators it asks for (the tag their manifests deploy).
const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Every verb of an object kvm-operator owns: list, watch (its caches), get
/// (a live read), create, patch (server-side apply), delete.
const OWNED: &[&str] = &["get", "list", "watch", "create", "patch", "delete"];

fn objects() -> Vec<Value> {
    manifests::objects("kvm-operator")
}

/// What manifests/kvm-operator holds: everything in operatorkit-system, a
/// ClusterRole granting what kvm-operator calls (see cluster-role.yaml):
/// the inputs it asks the other operators for, each guest cluster's
/// namespace and the objects in it, the IngressClass it reads, the VM pods
/// it waits for; and the leader-election Role.
fn expected() -> Expected {
    let operator = kvm_operator::OPERATOR;
    let operator = operator.as_str();
    Expected {
        operator: operator.to_owned(),
        namespace: NAMESPACE,
        elsewhere: Vec::new(),
        extra_kinds: Vec::new(),
        image: format!("{IMAGE}:{VERSION}"),
        parse_args: |args| parse_args(args).map(drop),
        roles: vec![
            ExpectedRole::cluster_role::<KVMConfig>(
                operator,
                [
                    grant::<CertConfig>("", OWNED, &[]),
                    grant::<FlannelConfig>("", OWNED, &[]),
                    grant::<IngressConfig>("", OWNED, &[]),
                    grant::<Namespace>("", &["get", "create", "patch", "delete"], &[]),
                    grant::<Secret>("", OWNED, &[]),
                    grant::<ServiceAccount>("", OWNED, &[]),
                    grant::<Service>("", OWNED, &[]),
                    grant::<PersistentVolumeClaim>("", OWNED, &[]),
                    grant::<Deployment>("", OWNED, &[]),
                    grant::<Ingress>("", OWNED, &[]),
                    grant::<PodDisruptionBudget>("", OWNED, &[]),
                    grant::<IngressClass>("", &["get"], &[]),
                    grant::<Pod>("", &["list", "watch"], &[]),
                ],
            ),
            ExpectedRole::leader_election(operator),
        ],
    }
}

/// `args` read by kvm-operator's own command line: the flags of `run`.
fn parse_args(args: &[String]) -> Result<RunArgs<KvmArgs>, clap::Error> {
    deployment::parse_run_args(kvm_operator::OPERATOR.as_str(), args)
}

/// The versions of the other operators: each flag given explicitly (left
/// out, it would follow kvm-operator's own version, so upgrading
/// kvm-operator would silently move every cluster's inputs to operators
/// that may not be deployed), and each, as kvm-operator reads it, the
/// workspace version: the version of the image the repository's manifests
/// of that operator deploy, which reconciles only objects labelled with it.
fn check_versions(objects: &[Value]) -> Vec<String> {
    let mut p = Problems::default();
    let Some(d) = one(objects, "Deployment", &mut p) else {
        return p.0;
    };
    let args = strings(&d["spec"]["template"]["spec"]["containers"][0]["args"]);
    let cli = match parse_args(&args) {
        Ok(cli) => cli,
        Err(e) => {
            p.0.push(format!("the arguments {args:?} do not parse: {e}"));
            return p.0;
        }
    };
    let own = &cli.own;
    let versions = [
        (
            "--cert-operator-version",
            cert_operator::OPERATOR,
            &own.cert_operator_version,
        ),
        (
            "--flannel-operator-version",
            flannel_operator::OPERATOR,
            &own.flannel_operator_version,
        ),
        (
            "--ingress-operator-version",
            ingress_operator::OPERATOR,
            &own.ingress_operator_version,
        ),
    ];
    for (flag, operator, version) in versions {
        let given = flag_value(&args, flag).is_some();
        p.check(given, || {
            format!(
                "{flag} is not in the arguments: {operator}'s version would follow kvm-operator's"
            )
        });
        if given {
            p.check(version.as_deref() == Some(VERSION), || {
                format!(
                    "{flag} {version:?} is not the workspace version {VERSION} (the {operator} the manifests deploy)"
                )
            });
        }
    }
    p.0
}

fn all_problems(objects: &[Value]) -> Vec<String> {
    [expected().all_problems(objects), check_versions(objects)].concat()
}

e2e::manifest_tests!("kvm-operator", expected());

#[test]
fn everything_is_in_operatorkit_system() {
    assert_no_problems(expected().check_objects(&objects()));
}

#[test]
fn the_other_operators_are_asked_for_at_the_workspace_version() {
    assert_no_problems(check_versions(&objects()));
}

/// Each way of breaking the manifests, and a fragment of the problem it must
/// be reported as: every operator's ([`COMMON_BREAKS`]) and kvm-operator's.
#[test]
fn a_broken_manifest_is_caught() {
    fn cluster_role(objects: &mut [Value]) -> &mut Vec<Value> {
        rules_mut(first_mut(objects, "ClusterRole"))
    }
    /// The ClusterRole's rule on `resource` (a break's target).
    fn rule<'a>(objects: &'a mut [Value], resource: &str) -> &'a mut Value {
        cluster_role(objects)
            .iter_mut()
            .find(|r| strings(&r["resources"]).iter().any(|r| r == resource))
            .unwrap_or_else(|| panic!("no rule on {resource} to break"))
    }
    fn verbs<'a>(objects: &'a mut [Value], resource: &str) -> &'a mut Vec<Value> {
        array_mut(&mut rule(objects, resource)["verbs"])
    }
    const MORE: &str = "grants more than it needs (operatorkit:kvm-operator)";
    const LACKS: &str = "lacks grants it needs (operatorkit:kvm-operator)";
    let own: &[Break] = &[
        (
            "a flag the operator does not have",
            |o| set_arg(o, "--etcd-endpoints", "https://etcd.kube-system.svc:2379"),
            "do not parse",
        ),
        (
            "a value the operator refuses",
            |o| set_arg(o, "--flannel-network-prefix", "40"),
            "do not parse",
        ),
        (
            "the flannel-operator version left to its default",
            |o| remove_arg(o, "--flannel-operator-version"),
            "--flannel-operator-version is not in the arguments",
        ),
        (
            "no version of any other operator",
            |o| {
                remove_arg(o, "--cert-operator-version");
                remove_arg(o, "--flannel-operator-version");
                remove_arg(o, "--ingress-operator-version");
            },
            "--cert-operator-version is not in the arguments",
        ),
        (
            "cert-operator of an older version",
            |o| set_arg(o, "--cert-operator-version", "0.0.9"),
            "--cert-operator-version Some(\"0.0.9\") is not the workspace version",
        ),
        (
            "ingress-operator of a later version",
            |o| set_arg(o, "--ingress-operator-version", "99.0.0"),
            "--ingress-operator-version Some(\"99.0.0\") is not the workspace version",
        ),
        (
            "update KVMConfigs",
            |o| verbs(o, "kvmconfigs").push(json!("update")),
            MORE,
        ),
        (
            "status not patched",
            |o| verbs(o, "kvmconfigs/status").retain(|v| v != "patch"),
            LACKS,
        ),
        (
            "core Events",
            |o| rule(o, "events")["apiGroups"] = json!([""]),
            LACKS,
        ),
        (
            "the inputs never deleted",
            |o| verbs(o, "flannelconfigs").retain(|v| v != "delete"),
            LACKS,
        ),
        (
            "no IngressConfig asked for",
            |o| {
                array_mut(&mut rule(o, "ingressconfigs")["resources"])
                    .retain(|r| r != "ingressconfigs")
            },
            LACKS,
        ),
        (
            "namespaces listed",
            |o| verbs(o, "namespaces").push(json!("list")),
            MORE,
        ),
        (
            "Secrets not watched",
            |o| verbs(o, "secrets").retain(|v| v != "watch"),
            LACKS,
        ),
        (
            "Secrets of one name only",
            |o| rule(o, "secrets")["resourceNames"] = json!(["def34-api"]),
            LACKS,
        ),
        (
            "etcd volume claims never deleted",
            |o| {
                array_mut(&mut rule(o, "persistentvolumeclaims")["resources"])
                    .retain(|r| r != "persistentvolumeclaims");
            },
            LACKS,
        ),
        (
            "VM Deployments never deleted",
            |o| verbs(o, "deployments").retain(|v| v != "delete"),
            LACKS,
        ),
        (
            "Deployments in extensions",
            |o| rule(o, "deployments")["apiGroups"] = json!(["extensions"]),
            LACKS,
        ),
        (
            "Ingresses updated",
            |o| verbs(o, "ingresses").push(json!("update")),
            MORE,
        ),
        (
            "PodDisruptionBudgets not watched",
            |o| verbs(o, "poddisruptionbudgets").retain(|v| v != "watch"),
            LACKS,
        ),
        (
            "IngressClasses listed",
            |o| verbs(o, "ingressclasses").push(json!("list")),
            MORE,
        ),
        (
            "no IngressClass read",
            |o| {
                cluster_role(o).retain(|r| {
                    !strings(&r["resources"])
                        .iter()
                        .any(|r| r == "ingressclasses")
                });
            },
            LACKS,
        ),
        (
            "pods deleted",
            |o| verbs(o, "pods").push(json!("delete")),
            MORE,
        ),
        (
            "nodes read",
            |o| {
                cluster_role(o)
                    .push(json!({"apiGroups": [""], "resources": ["nodes"], "verbs": ["get"]}));
            },
            MORE,
        ),
        (
            "every kind in core",
            |o| rule(o, "pods")["resources"] = json!(["*"]),
            "wildcard (operatorkit:kvm-operator)",
        ),
        (
            "image of another operator",
            |o| {
                container_mut(o)["image"] =
                    json!(format!("ghcr.io/operatorkit/flannel-operator:{VERSION}"));
            },
            "image is",
        ),
    ];
    deployment::assert_breaks_caught(&objects(), &[COMMON_BREAKS, own].concat(), all_problems);
}
