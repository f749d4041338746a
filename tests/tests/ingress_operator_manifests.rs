//! `manifests/ingress-operator/`: rendered with `kubectl kustomize`,
//! validated with kubernetes-validate against Kubernetes 1.33, and read for
//! what the deployment promises: least-privilege RBAC (the exact grants of
//! the ClusterRole, of the Role in the ingress controller's namespace and of
//! the leader-election Role), a hardened Deployment with probes, resources
//! and leader election that edits the ingress controller of the namespace
//! its Role is in, a metrics Service. The Role on ingress-nginx's objects
//! and its binding live in namespace ingress-nginx, everything else in
//! operatorkit-system (the kustomization sets no namespace: every object
//! names its own). That the roles are enough, and that every rule is needed,
//! is shown by the API server's RBAC itself (`ingress_operator_rbac.rs`).
//!
//! The checks every operator's manifests share are `e2e::deployment`'s; the
//! controller namespace's is here. `a_broken_manifest_is_caught` breaks the
//! rendered objects one way at a time and expects each break to be reported,
//! so none of the checks can pass vacuously.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use apiextensions::IngressConfig;
use e2e::deployment::{
    self, Break, COMMON_BREAKS, Expected, ExpectedRole, Problems, array_mut, assert_no_problems,
    container_mut, first_mut, flag_value, grant, named_mut, one, remove_key, rules_mut, set_arg,
};
use e2e::manifests::{self, strings};
use ingress_operator::settings::IngressArgs;
use k8s_openapi::api::core::v1::{ConfigMap, Service};
use serde_json::{Value, json};

/// Where the operator runs.
const NAMESPACE: &str = "operatorkit-system";
/// Where the ingress controller runs: the namespace of the Role on its
/// objects (role.yaml) and of that Role's binding.
const CONTROLLER_NAMESPACE: &str = "ingress-nginx";
/// The Role on the ingress controller's objects, and its RoleBinding.
const CONTROLLER_ROLE: &str = "ingress-operator";
/// The image, without its tag.
const IMAGE: &str = "ghcr.io/operatorkit/ingress-operator";
/// The workspace version: the image tag, and the version label of the
/// IngressConfigs the operator reconciles.
const VERSION: &str = env!("CARGO_PKG_VERSION");

fn objects() -> Vec<Value> {
    manifests::objects("ingress-operator")
}

/// What manifests/ingress-operator holds: the Role on ingress-nginx's objects
/// and its binding in ingress-nginx, the rest in operatorkit-system; a
/// ClusterRole granting what ingress-operator calls on IngressConfigs and
/// Events (see cluster-role.yaml), the Role on exactly the ingress
/// controller's services ConfigMaps and Service (role.yaml), and the
/// leader-election Role.
fn expected() -> Expected {
    let operator = ingress_operator::OPERATOR;
    let operator = operator.as_str();
    Expected {
        operator: operator.to_owned(),
        namespace: NAMESPACE,
        elsewhere: vec![
            ("Role", CONTROLLER_ROLE, CONTROLLER_NAMESPACE),
            ("RoleBinding", CONTROLLER_ROLE, CONTROLLER_NAMESPACE),
        ],
        // The Role on ingress-nginx's objects and its binding, beside the
        // leader-election ones.
        extra_kinds: vec!["Role", "RoleBinding"],
        image: format!("{IMAGE}:{VERSION}"),
        parse_args: |args| {
            deployment::parse_run_args::<IngressArgs>(ingress_operator::OPERATOR.as_str(), args)
                .map(drop)
        },
        roles: vec![
            // Nothing beyond its own kind and Events.
            ExpectedRole::cluster_role::<IngressConfig>(operator, []),
            ExpectedRole::new(
                "Role",
                CONTROLLER_ROLE,
                [
                    grant::<ConfigMap>("", &["list", "watch"], &[]),
                    grant::<Service>("", &["list", "watch"], &[]),
                    grant::<ConfigMap>(
                        "",
                        &["get", "patch"],
                        &["ingress-nginx-tcp-services", "ingress-nginx-udp-services"],
                    ),
                    grant::<Service>("", &["get", "patch"], &["ingress-nginx-controller"]),
                ],
            ),
            ExpectedRole::leader_election(operator),
        ],
    }
}

/// The Deployment names, with `--controller-namespace`, the namespace the
/// Role on the ingress controller's objects is in: the operator edits the
/// controller it is allowed to. The flag must be there: its default (and
/// `INGRESS_CONTROLLER_NAMESPACE`, which the flag overrides) would leave the
/// namespace to the operator's build and to the pod's environment.
fn check_controller_namespace(objects: &[Value]) -> Vec<String> {
    let mut p = Problems::default();
    let Some(d) = one(objects, "Deployment", &mut p) else {
        return p.0;
    };
    let args = strings(&d["spec"]["template"]["spec"]["containers"][0]["args"]);
    let flag = flag_value(&args, "--controller-namespace");
    let roles: Vec<&Value> = objects
        .iter()
        .filter(|o| o["kind"] == "Role" && o["metadata"]["name"] == CONTROLLER_ROLE)
        .collect();
    let role_namespace = match roles[..] {
        [role] => role["metadata"]["namespace"].as_str(),
        _ => None,
    };
    p.check(
        role_namespace.is_some() && flag.as_deref() == role_namespace,
        || {
            format!(
                "--controller-namespace {flag:?} is not the namespace {role_namespace:?} of Role {CONTROLLER_ROLE} ({} such Roles)",
                roles.len()
            )
        },
    );
    p.0
}

fn all_problems(objects: &[Value]) -> Vec<String> {
    [
        expected().all_problems(objects),
        check_controller_namespace(objects),
    ]
    .concat()
}

e2e::manifest_tests!("ingress-operator", expected());

#[test]
fn the_controller_role_is_in_ingress_nginx_the_rest_in_operatorkit_system() {
    assert_no_problems(expected().check_objects(&objects()));
}

#[test]
fn the_controller_namespace_is_the_one_the_role_grants() {
    assert_no_problems(check_controller_namespace(&objects()));
}

/// Each way of breaking the manifests, and a fragment of the problem it must
/// be reported as: every operator's ([`COMMON_BREAKS`]) and ingress-operator's.
#[test]
fn a_broken_manifest_is_caught() {
    fn controller_role(objects: &mut [Value]) -> &mut Vec<Value> {
        rules_mut(named_mut(objects, "Role", CONTROLLER_ROLE))
    }
    let own: &[Break] = &[
        (
            "a flag the operator does not have",
            |o| set_arg(o, "--ingress-class", "nginx"),
            "do not parse",
        ),
        (
            "another controller namespace",
            |o| set_arg(o, "--controller-namespace", "kube-system"),
            "--controller-namespace",
        ),
        (
            "the controller namespace left to its default",
            |o| {
                deployment::remove_arg(o, "--controller-namespace");
                named_mut(o, "Role", CONTROLLER_ROLE)["metadata"]["namespace"] =
                    json!("nginx-system");
            },
            "--controller-namespace",
        ),
        (
            "Role in operatorkit-system",
            |o| {
                named_mut(o, "Role", CONTROLLER_ROLE)["metadata"]["namespace"] = json!(NAMESPACE);
            },
            "not ingress-nginx",
        ),
        (
            "no namespace (kubectl's current one)",
            |o| remove_key(&mut first_mut(o, "ServiceAccount")["metadata"], "namespace"),
            "not operatorkit-system",
        ),
        (
            "leader-election Role in ingress-nginx",
            |o| {
                named_mut(o, "Role", "ingress-operator-leader-election")["metadata"]["namespace"] =
                    json!(CONTROLLER_NAMESPACE);
            },
            "not operatorkit-system",
        ),
        (
            "RoleBinding apart from its Role",
            |o| {
                named_mut(o, "RoleBinding", CONTROLLER_ROLE)["metadata"]["namespace"] =
                    json!(NAMESPACE);
            },
            "RoleBinding refers",
        ),
        (
            "RoleBinding to the default account",
            |o| {
                named_mut(o, "RoleBinding", CONTROLLER_ROLE)["subjects"][0]["name"] =
                    json!("default");
            },
            "RoleBinding binds",
        ),
        (
            "Role bound twice",
            |o| {
                let mut again = named_mut(o, "RoleBinding", CONTROLLER_ROLE).clone();
                again["metadata"]["name"] = json!("ingress-operator-again");
                o.push(again);
            },
            "bound 2 times",
        ),
        (
            "Role renamed",
            |o| {
                named_mut(o, "Role", CONTROLLER_ROLE)["metadata"]["name"] = json!("ingress-nginx");
            },
            "expected one Role ingress-operator",
        ),
        (
            "any ConfigMap",
            |o| remove_key(&mut controller_role(o)[1], "resourceNames"),
            "grants more than it needs (ingress-operator)",
        ),
        (
            "create ConfigMaps",
            |o| array_mut(&mut controller_role(o)[1]["verbs"]).push(json!("create")),
            "grants more than it needs (ingress-operator)",
        ),
        (
            "delete the controller's Service",
            |o| array_mut(&mut controller_role(o)[2]["verbs"]).push(json!("delete")),
            "grants more than it needs (ingress-operator)",
        ),
        (
            "another Service",
            |o| controller_role(o)[2]["resourceNames"] = json!(["ingress-nginx-admission"]),
            "grants more than it needs (ingress-operator)",
        ),
        (
            "no watch",
            |o| controller_role(o)[0]["verbs"] = json!(["list"]),
            "lacks grants it needs (ingress-operator)",
        ),
        (
            "every kind in ingress-nginx",
            |o| controller_role(o)[0]["resources"] = json!(["*"]),
            "wildcard (ingress-operator)",
        ),
        (
            "ConfigMaps cluster-wide",
            |o| {
                rules_mut(first_mut(o, "ClusterRole")).push(
                    json!({"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "patch"]}),
                );
            },
            "grants more than it needs (operatorkit:ingress-operator)",
        ),
        (
            "update IngressConfigs",
            |o| {
                array_mut(&mut rules_mut(first_mut(o, "ClusterRole"))[0]["verbs"])
                    .push(json!("update"));
            },
            "grants more than it needs (operatorkit:ingress-operator)",
        ),
        (
            "status not patched",
            |o| {
                array_mut(&mut rules_mut(first_mut(o, "ClusterRole"))[1]["verbs"])
                    .retain(|v| v != "patch");
            },
            "lacks grants it needs (operatorkit:ingress-operator)",
        ),
        (
            "core Events",
            |o| rules_mut(first_mut(o, "ClusterRole"))[2]["apiGroups"] = json!([""]),
            "lacks grants it needs (operatorkit:ingress-operator)",
        ),
        (
            "no IngressConfig finalizer",
            |o| {
                array_mut(&mut rules_mut(first_mut(o, "ClusterRole"))[0]["verbs"])
                    .retain(|v| v != "patch");
            },
            "lacks grants it needs (operatorkit:ingress-operator)",
        ),
        (
            "image of another operator",
            |o| {
                container_mut(o)["image"] =
                    json!(format!("ghcr.io/operatorkit/cert-operator:{VERSION}"));
            },
            "image is",
        ),
    ];
    deployment::assert_breaks_caught(&objects(), &[COMMON_BREAKS, own].concat(), all_problems);
}
