//! `manifests/cert-operator/`: rendered with `kubectl kustomize`, validated
//! with kubernetes-validate against Kubernetes 1.33, and read for what the
//! deployment promises: least-privilege RBAC (the exact grants), a hardened
//! Deployment with probes, resources and leader election, a metrics Service,
//! all in namespace operatorkit-system. That the roles are enough, and that
//! every rule is needed, is shown by the API server's RBAC itself
//! (`cert_operator_rbac.rs`).
//!
//! The checks every operator's manifests share are `e2e::deployment`'s; the
//! Vault variant's are here. The checks return the problems they find;
//! `a_broken_manifest_is_caught` breaks the rendered objects one way at a
//! time and expects each break to be reported, so none of the checks can pass
//! vacuously.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use apiextensions::CertConfig;
use cert_operator::settings::CertArgs;
use e2e::deployment::{
    self, Break, COMMON_BREAKS, Expected, ExpectedRole, Problems, array_mut, assert_no_problems,
    first_mut, grant, one, rules_mut, set_arg,
};
use e2e::manifests::{self, strings};
use k8s_openapi::api::core::v1::{Pod, Secret};
use operatorkit::cli::RunArgs;
use serde_json::{Value, json};

/// Where everything runs.
const NAMESPACE: &str = "operatorkit-system";
/// The image, without its tag.
const IMAGE: &str = "ghcr.io/operatorkit/cert-operator";
/// The workspace version: the image tag, and the version label of the
/// CertConfigs the operator reconciles.
const VERSION: &str = env!("CARGO_PKG_VERSION");

fn objects() -> Vec<Value> {
    manifests::objects("cert-operator")
}

/// What manifests/cert-operator holds: everything in operatorkit-system, a
/// ClusterRole granting what cert-operator calls (see cluster-role.yaml) and
/// the leader-election Role.
fn expected() -> Expected {
    let operator = cert_operator::OPERATOR;
    let operator = operator.as_str();
    Expected {
        operator: operator.to_owned(),
        namespace: NAMESPACE,
        elsewhere: Vec::new(),
        extra_kinds: Vec::new(),
        image: format!("{IMAGE}:{VERSION}"),
        parse_args: |args| parse_args(args).map(drop),
        roles: vec![
            ExpectedRole::cluster_role::<CertConfig>(
                operator,
                [
                    grant::<Secret>(
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

/// `args` read by cert-operator's own command line: the flags of `run`.
fn parse_args(args: &[String]) -> Result<RunArgs<CertArgs>, clap::Error> {
    deployment::parse_run_args(cert_operator::OPERATOR.as_str(), args)
}

/// manifests/cert-operator-vault: the base with the Vault backend.
fn vault_rendered() -> &'static str {
    manifests::rendered("cert-operator-vault")
}

/// The Vault variant: the base's promises, with the generated ConfigMap of
/// the Vault address.
fn vault_expected() -> Expected {
    Expected {
        extra_kinds: vec!["ConfigMap"],
        ..expected()
    }
}

/// Where the Vault variant's token and CA come from.
const VAULT_SECRET: &str = "cert-operator-vault";

/// The Vault variant's own promises: the Vault backend; the token and the CA
/// read from Secret cert-operator-vault mounted read-only where the flags
/// point, readable by the operator's user; `VAULT_ADDR` from the generated
/// ConfigMap, an https address.
fn check_vault(objects: &[Value]) -> Vec<String> {
    let mut p = Problems::default();
    let Some(d) = one(objects, "Deployment", &mut p) else {
        return p.0;
    };
    let pod = &d["spec"]["template"]["spec"];
    let c = &pod["containers"][0];
    let args = strings(&c["args"]);
    let cli = match parse_args(&args) {
        Ok(cli) => cli,
        Err(e) => {
            p.0.push(format!("the arguments {args:?} do not parse: {e}"));
            return p.0;
        }
    };
    p.check(
        cli.own.backend == cert_operator::settings::BackendKind::Vault,
        || format!("backend is {:?}, not vault", cli.own.backend),
    );
    let secret_volumes: Vec<&str> = pod["volumes"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|v| v["secret"]["secretName"] == VAULT_SECRET)
        .filter_map(|v| v["name"].as_str())
        .collect();
    let mount = c["volumeMounts"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|m| {
            m["name"]
                .as_str()
                .is_some_and(|n| secret_volumes.contains(&n))
        });
    p.check(mount.is_some(), || {
        format!("Secret {VAULT_SECRET} is not mounted")
    });
    if let Some(mount) = mount {
        p.check(mount["readOnly"] == true, || {
            "the Vault Secret is mounted writable".into()
        });
        let dir = std::path::Path::new(mount["mountPath"].as_str().unwrap_or("/nonexistent"));
        for (flag, file) in [
            ("--vault-token-file", &cli.own.vault_token_file),
            ("--vault-ca-file", &cli.own.vault_ca_file),
        ] {
            p.check(
                file.as_deref().is_some_and(|f| f.parent() == Some(dir)),
                || {
                    format!(
                        "{flag} {file:?} is not a file of the mounted Secret at {}",
                        dir.display()
                    )
                },
            );
        }
    }
    // Secret files belong to root and to fsGroup: the operator's user reads
    // them through the group bits (fsGroup = its group) or the other bits.
    let mode = pod["volumes"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|v| v["secret"]["secretName"] == VAULT_SECRET)
        .and_then(|v| v["secret"]["defaultMode"].as_u64())
        .unwrap_or(0o644);
    let group = pod["securityContext"]["runAsGroup"].as_i64();
    let fs_group = pod["securityContext"]["fsGroup"].as_i64();
    let readable = mode & 0o040 != 0 && fs_group.is_some() && fs_group == group;
    p.check(readable, || {
        format!("Secret files with mode {mode:o}, fsGroup {fs_group:?} are unreadable for group {group:?}")
    });
    p.check(mode & 0o007 == 0, || {
        format!("Secret files with mode {mode:o} are open to other users")
    });

    let env = c["env"].as_array().cloned().unwrap_or_default();
    let reference = env
        .iter()
        .find(|e| e["name"] == "VAULT_ADDR")
        .map(|e| &e["valueFrom"]["configMapKeyRef"]);
    let address = reference.and_then(|r| {
        objects
            .iter()
            .find(|o| o["kind"] == "ConfigMap" && o["metadata"]["name"] == r["name"])
            .and_then(|cm| cm["data"][r["key"].as_str().unwrap_or_default()].as_str())
    });
    p.check(
        address.is_some_and(|a| a.starts_with("https://")),
        || format!("VAULT_ADDR is not an https address of the rendered ConfigMap: {reference:?} -> {address:?}"),
    );
    p.0
}

e2e::manifest_tests!("cert-operator", expected());

#[test]
fn the_validator_refuses_an_unknown_field() {
    let mut objects = objects();
    let d = objects
        .iter_mut()
        .find(|o| o["kind"] == "Deployment")
        .unwrap();
    d["spec"]["template"]["spec"]["containers"][0]["readOnlyRootFilesytem"] = json!(true);
    let yaml: String = objects
        .iter()
        .map(|o| format!("---\n{}", serde_yaml::to_string(o).unwrap()))
        .collect();
    let validation = manifests::kubernetes_validate("cert-operator-broken", &yaml);
    assert!(!validation.success, "{}", validation.output);
    assert!(
        validation.output.contains("readOnlyRootFilesytem"),
        "{}",
        validation.output
    );
}

#[test]
fn the_vault_variant_validates_and_keeps_every_promise_of_the_base() {
    let yaml = vault_rendered();
    let vault = manifests::documents(yaml);
    manifests::assert_valid("cert-operator-vault", yaml);
    let problems = [vault_expected().all_problems(&vault), check_vault(&vault)].concat();
    assert!(problems.is_empty(), "{problems:#?}");
    // The base's Deployment is not a Vault one: the check can fail.
    assert!(
        check_vault(&objects())
            .iter()
            .any(|m| m.contains("not vault")),
    );
}

#[test]
fn a_broken_vault_variant_is_caught() {
    type Break = fn(&mut Vec<Value>);
    fn pod(objects: &mut [Value]) -> &mut Value {
        &mut objects
            .iter_mut()
            .find(|o| o["kind"] == "Deployment")
            .unwrap()["spec"]["template"]["spec"]
    }
    let breaks: [(&str, Break, &str); 7] = [
        (
            "writable mount",
            |o| {
                pod(o)["containers"][0]["volumeMounts"][0]["readOnly"] = json!(false);
            },
            "mounted writable",
        ),
        (
            "token outside the mount",
            |o| {
                let args = pod(o)["containers"][0]["args"].as_array_mut().unwrap();
                for a in args.iter_mut() {
                    if a.as_str()
                        .is_some_and(|a| a.starts_with("--vault-token-file"))
                    {
                        *a = json!("--vault-token-file=/etc/vault/token");
                    }
                }
            },
            "--vault-token-file",
        ),
        (
            "world-readable token",
            |o| {
                pod(o)["volumes"][0]["secret"]["defaultMode"] = json!(0o444);
            },
            "open to other users",
        ),
        (
            "no fsGroup",
            |o| {
                pod(o)["securityContext"]
                    .as_object_mut()
                    .unwrap()
                    .remove("fsGroup");
            },
            "unreadable",
        ),
        (
            "plain http",
            |o| {
                let cm = o.iter_mut().find(|o| o["kind"] == "ConfigMap").unwrap();
                cm["data"]["address"] = json!("http://vault:8200");
            },
            "VAULT_ADDR",
        ),
        (
            "unknown flag",
            |o| {
                pod(o)["containers"][0]["args"]
                    .as_array_mut()
                    .unwrap()
                    .push(json!("--vault-namespace=x"));
            },
            "do not parse",
        ),
        (
            "no Secret volume",
            |o| {
                pod(o).as_object_mut().unwrap().remove("volumes");
            },
            "is not mounted",
        ),
    ];
    for (what, break_it, expected) in breaks {
        let mut objects = manifests::documents(vault_rendered());
        break_it(&mut objects);
        let problems = check_vault(&objects);
        assert!(
            problems.iter().any(|m| m.contains(expected)),
            "{what}: expected a problem with {expected:?}, got {problems:#?}"
        );
    }
}

#[test]
fn everything_is_in_operatorkit_system() {
    assert_no_problems(expected().check_objects(&objects()));
}

/// Each way of breaking the manifests, and a fragment of the problem it must
/// be reported as: every operator's ([`COMMON_BREAKS`]) and cert-operator's.
#[test]
fn a_broken_manifest_is_caught() {
    let own: &[Break] = &[
        (
            "a flag the operator does not have",
            |o| set_arg(o, "--vault-namespace", "x"),
            "do not parse",
        ),
        (
            "update CertConfigs",
            |o| {
                array_mut(&mut rules_mut(first_mut(o, "ClusterRole"))[0]["verbs"])
                    .push(json!("update"))
            },
            "more than it needs",
        ),
        (
            "read ConfigMaps",
            |o| {
                rules_mut(first_mut(o, "ClusterRole"))
                    .push(json!({"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get"]}))
            },
            "more than it needs",
        ),
        (
            "secrets: no delete",
            |o| {
                array_mut(&mut rules_mut(first_mut(o, "ClusterRole"))[2]["verbs"])
                    .retain(|v| v != "delete")
            },
            "lacks grants",
        ),
        (
            "wildcard verb",
            |o| rules_mut(first_mut(o, "ClusterRole"))[3]["verbs"] = json!(["*"]),
            "wildcard",
        ),
    ];
    let expected = expected();
    deployment::assert_breaks_caught(&objects(), &[COMMON_BREAKS, own].concat(), |o| {
        expected.all_problems(o)
    });
}
