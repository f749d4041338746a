//! `manifests/flannel-operator/`: rendered with `kubectl kustomize`,
//! validated with kubernetes-validate against Kubernetes 1.33, and read for
//! what the deployment promises: least-privilege RBAC (the exact grants of
//! the ClusterRole and of the leader-election Role), a hardened Deployment
//! with probes, resources and leader election, a metrics Service, all in
//! namespace operatorkit-system; etcd named explicitly, over TLS, with the
//! operator's client certificate read from Secret flannel-operator-etcd
//! (not part of the manifests) mounted read-only where the flags point.
//!
//! The checks every operator's manifests share are `e2e::deployment`'s; the
//! etcd flags' are here. `a_broken_manifest_is_caught` breaks the rendered
//! objects one way at a time and expects each break to be reported, so none
//! of the checks can pass vacuously.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use apiextensions::FlannelConfig;
use e2e::deployment::{
    self, Break, COMMON_BREAKS, Expected, ExpectedRole, Problems, array_mut, assert_no_problems,
    container_mut, first_mut, flag_value, grant, one, pod_mut, remove_arg, remove_key, rules_mut,
    set_arg,
};
use e2e::manifests::{self, strings};
use flannel_operator::settings::FlannelArgs;
use k8s_openapi::api::apps::v1::DaemonSet;
use k8s_openapi::api::core::v1::{Namespace, Pod, ServiceAccount};
use operatorkit::cli::RunArgs;
use serde_json::{Value, json};

/// Where everything runs.
const NAMESPACE: &str = "operatorkit-system";
/// The image, without its tag.
const IMAGE: &str = "ghcr.io/operatorkit/flannel-operator";
/// The workspace version: the image tag, and the version label of the
/// FlannelConfigs the operator reconciles.
const VERSION: &str = env!("CARGO_PKG_VERSION");
/// Where etcd's CA and the operator's client certificate come from
/// (created by hand, see kustomization.yaml).
const ETCD_SECRET: &str = "flannel-operator-etcd";

fn objects() -> Vec<Value> {
    manifests::objects("flannel-operator")
}

/// What manifests/flannel-operator holds: everything in operatorkit-system,
/// a ClusterRole granting what flannel-operator calls (see
/// cluster-role.yaml): the clusters' namespaces, the flanneld and cleanup
/// DaemonSets and their ServiceAccounts, the pods it waits for; and the
/// leader-election Role.
fn expected() -> Expected {
    let operator = flannel_operator::OPERATOR;
    let operator = operator.as_str();
    Expected {
        operator: operator.to_owned(),
        namespace: NAMESPACE,
        elsewhere: Vec::new(),
        extra_kinds: Vec::new(),
        image: format!("{IMAGE}:{VERSION}"),
        parse_args: |args| parse_args(args).map(drop),
        roles: vec![
            ExpectedRole::cluster_role::<FlannelConfig>(
                operator,
                [
                    grant::<Namespace>("", &["get", "create", "patch", "delete"], &[]),
                    grant::<ServiceAccount>("", &["get", "list", "watch", "create", "patch"], &[]),
                    grant::<DaemonSet>(
                        "",
                        &["get", "list", "watch", "create", "patch", "delete"],
                        &[],
                    ),
                    grant::<Pod>("", &["list", "watch"], &[]),
                ],
            ),
            ExpectedRole::leader_election(operator),
        ],
    }
}

/// `args` read by flannel-operator's own command line: the flags of `run`.
fn parse_args(args: &[String]) -> Result<RunArgs<FlannelArgs>, clap::Error> {
    deployment::parse_run_args(flannel_operator::OPERATOR.as_str(), args)
}

/// The etcd flags: endpoints given explicitly (not the loopback default,
/// nor `ETCD_ENDPOINTS` of the pod's environment) and all `https://`; the
/// CA, certificate and key given explicitly, each the file of its key
/// (`ca.crt`, `tls.crt`, `tls.key`) of Secret flannel-operator-etcd,
/// mounted read-only and readable by the operator's user only.
fn check_etcd(objects: &[Value]) -> Vec<String> {
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
    let endpoints = &cli.own.etcd_endpoints;
    p.check(flag_value(&args, "--etcd-endpoints").is_some(), || {
        format!("--etcd-endpoints is not in the arguments: etcd would be {endpoints:?}")
    });
    p.check(
        !endpoints.is_empty() && endpoints.iter().all(|e| e.starts_with("https://")),
        || {
            format!(
                "--etcd-endpoints {endpoints:?}: not all https (the client certificate is for TLS)"
            )
        },
    );
    let own = &cli.own;
    let files = [
        ("--etcd-ca", own.etcd_ca.as_deref(), "ca.crt"),
        ("--etcd-cert", own.etcd_cert.as_deref(), "tls.crt"),
        ("--etcd-key", own.etcd_key.as_deref(), "tls.key"),
    ];
    for (flag, _, _) in &files {
        p.check(flag_value(&args, flag).is_some(), || {
            format!("{flag} is not in the arguments")
        });
    }
    p.0.extend(deployment::check_secret_files(objects, ETCD_SECRET, &files));
    p.0
}

fn all_problems(objects: &[Value]) -> Vec<String> {
    [expected().all_problems(objects), check_etcd(objects)].concat()
}

e2e::manifest_tests!("flannel-operator", expected());

#[test]
fn everything_is_in_operatorkit_system() {
    assert_no_problems(expected().check_objects(&objects()));
}

#[test]
fn etcd_is_reached_over_tls_with_the_secrets_certificate() {
    assert_no_problems(check_etcd(&objects()));
}

/// Each way of breaking the manifests, and a fragment of the problem it must
/// be reported as: every operator's ([`COMMON_BREAKS`]) and flannel-operator's.
#[test]
fn a_broken_manifest_is_caught() {
    fn cluster_role(objects: &mut [Value]) -> &mut Vec<Value> {
        rules_mut(first_mut(objects, "ClusterRole"))
    }
    fn etcd_volume(objects: &mut [Value]) -> &mut Value {
        &mut pod_mut(objects)["volumes"][0]
    }
    // The ClusterRole's rules, in cluster-role.yaml's order.
    const FLANNELCONFIGS: usize = 0;
    const STATUS: usize = 1;
    const NAMESPACES: usize = 3;
    const SERVICE_ACCOUNTS: usize = 4;
    const DAEMON_SETS: usize = 5;
    const PODS: usize = 6;
    let own: &[Break] = &[
        (
            "a flag the operator does not have",
            |o| set_arg(o, "--etcd-username", "root"),
            "do not parse",
        ),
        (
            "etcd left to its default",
            |o| remove_arg(o, "--etcd-endpoints"),
            "--etcd-endpoints is not in the arguments",
        ),
        (
            "plain http to etcd",
            |o| set_arg(o, "--etcd-endpoints", "http://etcd.kube-system.svc:2379"),
            "not all https",
        ),
        (
            "one endpoint of several in plain http",
            |o| {
                set_arg(
                    o,
                    "--etcd-endpoints",
                    "https://etcd-0.etcd:2379,http://etcd-1.etcd:2379",
                );
            },
            "not all https",
        ),
        (
            "no etcd TLS at all",
            |o| {
                remove_arg(o, "--etcd-ca");
                remove_arg(o, "--etcd-cert");
                remove_arg(o, "--etcd-key");
            },
            "--etcd-ca None is not the file",
        ),
        (
            "the client key missing",
            |o| remove_arg(o, "--etcd-key"),
            "--etcd-key",
        ),
        (
            "the CA outside the mount",
            |o| set_arg(o, "--etcd-ca", "/etc/ssl/certs/ca.crt"),
            "--etcd-ca",
        ),
        (
            "the key under another name",
            |o| set_arg(o, "--etcd-key", "/etc/flannel-operator/etcd/key.pem"),
            "--etcd-key",
        ),
        (
            "the certificate is the CA",
            |o| set_arg(o, "--etcd-cert", "/etc/flannel-operator/etcd/ca.crt"),
            "--etcd-cert",
        ),
        (
            "the etcd Secret mounted writable",
            |o| container_mut(o)["volumeMounts"][0]["readOnly"] = json!(false),
            "mounted writable",
        ),
        (
            "the etcd Secret mounted elsewhere",
            |o| container_mut(o)["volumeMounts"][0]["mountPath"] = json!("/var/run/etcd"),
            "is not the file",
        ),
        (
            "no etcd Secret volume",
            |o| remove_key(pod_mut(o), "volumes"),
            "is not mounted",
        ),
        (
            "no etcd Secret mount",
            |o| remove_key(container_mut(o), "volumeMounts"),
            "is not mounted",
        ),
        (
            "another Secret",
            |o| etcd_volume(o)["secret"]["secretName"] = json!("etcd-certs"),
            "is not mounted",
        ),
        (
            "an optional Secret",
            |o| etcd_volume(o)["secret"]["optional"] = json!(true),
            "optional",
        ),
        (
            "only the CA projected",
            |o| {
                etcd_volume(o)["secret"]["items"] = json!([{"key": "ca.crt", "path": "ca.crt"}]);
            },
            "--etcd-key",
        ),
        (
            "a world-readable key",
            |o| etcd_volume(o)["secret"]["defaultMode"] = json!(0o444),
            "open to other users",
        ),
        (
            "no fsGroup",
            |o| remove_key(&mut pod_mut(o)["securityContext"], "fsGroup"),
            "unreadable",
        ),
        (
            "the credentials in the manifests",
            |o| {
                o.push(json!({
                    "apiVersion": "v1",
                    "kind": "Secret",
                    "metadata": {"name": ETCD_SECRET, "namespace": NAMESPACE},
                    "stringData": {"tls.key": "-----BEGIN PRIVATE KEY-----"},
                }));
            },
            "objects are",
        ),
        (
            "update FlannelConfigs",
            |o| array_mut(&mut cluster_role(o)[FLANNELCONFIGS]["verbs"]).push(json!("update")),
            "grants more than it needs (operatorkit:flannel-operator)",
        ),
        (
            "status not patched",
            |o| array_mut(&mut cluster_role(o)[STATUS]["verbs"]).retain(|v| v != "patch"),
            "lacks grants it needs (operatorkit:flannel-operator)",
        ),
        (
            "namespaces listed",
            |o| array_mut(&mut cluster_role(o)[NAMESPACES]["verbs"]).push(json!("list")),
            "grants more than it needs (operatorkit:flannel-operator)",
        ),
        (
            "namespaces never deleted",
            |o| array_mut(&mut cluster_role(o)[NAMESPACES]["verbs"]).retain(|v| v != "delete"),
            "lacks grants it needs (operatorkit:flannel-operator)",
        ),
        (
            "a namespace apply cannot create",
            |o| array_mut(&mut cluster_role(o)[NAMESPACES]["verbs"]).retain(|v| v != "create"),
            "lacks grants it needs (operatorkit:flannel-operator)",
        ),
        (
            "namespaces of one cluster only",
            |o| cluster_role(o)[NAMESPACES]["resourceNames"] = json!(["flannel-network-abc12"]),
            "lacks grants it needs (operatorkit:flannel-operator)",
        ),
        (
            "ServiceAccounts deleted",
            |o| array_mut(&mut cluster_role(o)[SERVICE_ACCOUNTS]["verbs"]).push(json!("delete")),
            "grants more than it needs (operatorkit:flannel-operator)",
        ),
        (
            "DaemonSets not watched",
            |o| array_mut(&mut cluster_role(o)[DAEMON_SETS]["verbs"]).retain(|v| v != "watch"),
            "lacks grants it needs (operatorkit:flannel-operator)",
        ),
        (
            "flanneld never deleted",
            |o| array_mut(&mut cluster_role(o)[DAEMON_SETS]["verbs"]).retain(|v| v != "delete"),
            "lacks grants it needs (operatorkit:flannel-operator)",
        ),
        (
            "DaemonSets in extensions",
            |o| cluster_role(o)[DAEMON_SETS]["apiGroups"] = json!(["extensions"]),
            "lacks grants it needs (operatorkit:flannel-operator)",
        ),
        (
            "pods deleted",
            |o| array_mut(&mut cluster_role(o)[PODS]["verbs"]).push(json!("delete")),
            "grants more than it needs (operatorkit:flannel-operator)",
        ),
        (
            "Secrets read",
            |o| {
                cluster_role(o)
                    .push(json!({"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"]}));
            },
            "grants more than it needs (operatorkit:flannel-operator)",
        ),
        (
            "every kind in core",
            |o| cluster_role(o)[PODS]["resources"] = json!(["*"]),
            "wildcard (operatorkit:flannel-operator)",
        ),
        (
            "image of another operator",
            |o| {
                container_mut(o)["image"] =
                    json!(format!("ghcr.io/operatorkit/ingress-operator:{VERSION}"));
            },
            "image is",
        ),
    ];
    deployment::assert_breaks_caught(&objects(), &[COMMON_BREAKS, own].concat(), all_problems);
}
