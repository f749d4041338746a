//! `manifests/cert-operator/`: rendered with `kubectl kustomize`, validated
//! with kubernetes-validate against Kubernetes 1.33, and read for what the
//! deployment promises: least-privilege RBAC (the exact grants), a hardened
//! Deployment with probes, resources and leader election, a metrics Service,
//! all in namespace operatorkit-system. That the roles are enough, and that
//! every rule is needed, is shown by the API server's RBAC itself
//! (`cert_operator_rbac.rs`).
//!
//! The checks return the problems they find; `a_broken_manifest_is_caught`
//! breaks the rendered objects one way at a time and expects each break to be
//! reported, so none of the checks can pass vacuously.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::OnceLock;
use std::time::Duration;

use apiextensions::CertConfig;
use e2e::manifests::{self, strings};
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Pod, Secret};
use k8s_openapi::api::events::v1::Event;
use kube::Resource;
use serde_json::{Value, json};

/// Where everything runs.
const NAMESPACE: &str = "operatorkit-system";
/// The image, without its tag.
const IMAGE: &str = "ghcr.io/operatorkit/cert-operator";
/// The workspace version: the image tag, and the version label of the
/// CertConfigs the operator reconciles.
const VERSION: &str = env!("CARGO_PKG_VERSION");
/// The user of the distroless `nonroot` image (cert-operator/Dockerfile).
const NONROOT_UID: i64 = 65532;

/// The rendered manifests (kustomize runs once per test binary).
fn rendered() -> &'static str {
    static RENDERED: OnceLock<String> = OnceLock::new();
    RENDERED.get_or_init(|| manifests::kustomize(&manifests::manifests_dir("cert-operator")))
}

fn objects() -> Vec<Value> {
    manifests::documents(rendered())
}

/// The Lease leader election uses: operatorkit's default for this operator.
fn lease_name() -> String {
    format!("{}-leader", cert_operator::OPERATOR.as_str())
}

/// Problems found, as messages.
#[derive(Default)]
struct Problems(Vec<String>);

impl Problems {
    fn check(&mut self, ok: bool, message: impl FnOnce() -> String) {
        if !ok {
            self.0.push(message());
        }
    }
}

/// The only object of `kind`, or a problem.
fn one<'a>(objects: &'a [Value], kind: &str, p: &mut Problems) -> Option<&'a Value> {
    let found: Vec<&Value> = objects.iter().filter(|o| o["kind"] == kind).collect();
    p.check(found.len() == 1, || {
        format!("expected one {kind}, found {}", found.len())
    });
    (found.len() == 1).then(|| found[0])
}

fn name(object: &Value) -> &str {
    object["metadata"]["name"].as_str().unwrap_or_default()
}

/// Every string anywhere in `v`.
fn all_strings(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::String(s) => out.push(s.clone()),
        Value::Array(a) => a.iter().for_each(|v| all_strings(v, out)),
        Value::Object(m) => m.values().for_each(|v| all_strings(v, out)),
        _ => {}
    }
}

/// `--flag=value` or `--flag value` in `args`.
fn flag_value(args: &[String], flag: &str) -> Option<String> {
    args.iter().enumerate().find_map(|(i, a)| {
        if a == flag {
            args.get(i + 1).cloned()
        } else {
            a.strip_prefix(flag)
                .and_then(|r| r.strip_prefix('='))
                .map(str::to_owned)
        }
    })
}

/// `cpu` in millicores, `memory` in bytes (the suffixes these manifests use).
fn quantity(resource: &str, q: &Value) -> Option<u64> {
    let q = q
        .as_str()
        .map(str::to_owned)
        .or_else(|| q.as_u64().map(|n| n.to_string()))?;
    if resource == "cpu" {
        return match q.strip_suffix('m') {
            Some(m) => m.parse().ok(),
            None => q.parse::<f64>().ok().map(|c| (c * 1000.0) as u64),
        };
    }
    let units = [
        ("Ki", 1u64 << 10),
        ("Mi", 1 << 20),
        ("Gi", 1 << 30),
        ("k", 1000),
        ("M", 1_000_000),
        ("G", 1_000_000_000),
    ];
    units
        .iter()
        .find_map(|(suffix, factor)| q.strip_suffix(suffix).map(|n| (n, *factor)))
        .map_or_else(
            || q.parse().ok(),
            |(n, f)| n.parse::<u64>().ok().map(|n| n * f),
        )
}

/// Every object, and where it lives.
fn check_objects(objects: &[Value]) -> Vec<String> {
    check_objects_with(objects, &[])
}

/// [`check_objects`] for a variant that adds objects of kinds `extra`.
fn check_objects_with(objects: &[Value], extra: &[&str]) -> Vec<String> {
    let mut p = Problems::default();
    let kinds: Vec<&str> = objects.iter().filter_map(|o| o["kind"].as_str()).collect();
    let mut sorted = kinds.clone();
    sorted.sort_unstable();
    // No Namespace (shared by every operator; see kustomization.yaml) and no
    // CRD (applied from manifests/crds/ first).
    let mut expected = vec![
        "ClusterRole",
        "ClusterRoleBinding",
        "Deployment",
        "PodDisruptionBudget",
        "Role",
        "RoleBinding",
        "Service",
        "ServiceAccount",
    ];
    expected.extend_from_slice(extra);
    expected.sort_unstable();
    p.check(sorted == expected, || {
        format!("objects are {sorted:?}, expected {expected:?}")
    });
    for o in objects {
        let kind = o["kind"].as_str().unwrap_or_default();
        let ns = &o["metadata"]["namespace"];
        if matches!(kind, "ClusterRole" | "ClusterRoleBinding") {
            p.check(ns.is_null(), || {
                format!(
                    "{kind} {} is cluster-scoped but has namespace {ns}",
                    name(o)
                )
            });
        } else {
            p.check(ns == NAMESPACE, || {
                format!("{kind} {} is in namespace {ns}, not {NAMESPACE}", name(o))
            });
        }
        p.check(
            o["metadata"]["labels"]["app.kubernetes.io/name"] == "cert-operator",
            || {
                format!(
                    "{kind} {} lacks app.kubernetes.io/name=cert-operator",
                    name(o)
                )
            },
        );
    }
    p.0
}

/// The Deployment: replicas, security, probes, resources, arguments.
fn check_deployment(objects: &[Value]) -> Vec<String> {
    let mut p = Problems::default();
    let Some(d) = one(objects, "Deployment", &mut p) else {
        return p.0;
    };
    let replicas = d["spec"]["replicas"].as_i64().unwrap_or(1);
    p.check(replicas >= 2, || {
        format!("{replicas} replica(s): a standby needs at least 2")
    });
    let pod = &d["spec"]["template"]["spec"];
    let containers = pod["containers"].as_array().cloned().unwrap_or_default();
    p.check(containers.len() == 1, || {
        format!("{} containers, expected 1", containers.len())
    });
    let Some(c) = containers.first() else {
        return p.0;
    };

    // Security: the container's setting, else the pod's.
    let sc = |key: &str| -> Value {
        let own = &c["securityContext"][key];
        if own.is_null() {
            pod["securityContext"][key].clone()
        } else {
            own.clone()
        }
    };
    p.check(sc("runAsNonRoot") == true, || {
        "runAsNonRoot is not true".into()
    });
    p.check(sc("runAsUser") == NONROOT_UID, || {
        format!("runAsUser is {}, not {NONROOT_UID}", sc("runAsUser"))
    });
    p.check(sc("runAsGroup").as_i64().is_none_or(|g| g != 0), || {
        "runAsGroup is 0".into()
    });
    p.check(
        c["securityContext"]["readOnlyRootFilesystem"] == true,
        || "readOnlyRootFilesystem is not true".into(),
    );
    p.check(
        c["securityContext"]["allowPrivilegeEscalation"] == false,
        || "allowPrivilegeEscalation is not false".into(),
    );
    p.check(c["securityContext"]["privileged"] != true, || {
        "privileged".into()
    });
    let caps = &c["securityContext"]["capabilities"];
    p.check(strings(&caps["drop"]) == ["ALL"], || {
        format!("capabilities.drop is {}, not [ALL]", caps["drop"])
    });
    p.check(strings(&caps["add"]).is_empty(), || {
        format!("capabilities added: {}", caps["add"])
    });
    p.check(sc("seccompProfile")["type"] == "RuntimeDefault", || {
        format!("seccompProfile is {}", sc("seccompProfile"))
    });
    for host in ["hostNetwork", "hostPID", "hostIPC"] {
        p.check(pod[host] != true, || format!("{host} is on"));
    }
    p.check(pod["automountServiceAccountToken"] != false, || {
        "the service account token is not mounted: the operator could not reach the API".into()
    });

    // The metrics port, and probes on it.
    let ports = c["ports"].as_array().cloned().unwrap_or_default();
    let metrics_port = ports
        .iter()
        .find(|port| port["name"] == "metrics")
        .and_then(|port| port["containerPort"].as_i64());
    p.check(metrics_port.is_some(), || {
        "no container port named metrics".into()
    });
    let resolves_to_metrics = |port: &Value| {
        metrics_port.is_some() && (port == "metrics" || port.as_i64() == metrics_port)
    };
    for (probe, path) in [("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")] {
        let get = &c[probe]["httpGet"];
        p.check(get["path"] == path, || {
            format!("{probe} path is {}, not {path}", get["path"])
        });
        p.check(resolves_to_metrics(&get["port"]), || {
            format!("{probe} port {} is not the metrics port", get["port"])
        });
    }

    // Resources: requests and limits of CPU and memory, requests within limits.
    for resource in ["cpu", "memory"] {
        let request = quantity(resource, &c["resources"]["requests"][resource]);
        let limit = quantity(resource, &c["resources"]["limits"][resource]);
        p.check(request.is_some_and(|r| r > 0), || {
            format!("no {resource} request")
        });
        p.check(limit.is_some_and(|l| l > 0), || {
            format!("no {resource} limit")
        });
        if let (Some(r), Some(l)) = (request, limit) {
            p.check(r <= l, || format!("{resource} request {r} above limit {l}"));
        }
    }

    // Arguments and environment.
    let args = strings(&c["args"]);
    if let Err(e) = parse_args(&args) {
        p.0.push(format!("the arguments {args:?} do not parse: {e}"));
    }
    p.check(args.iter().any(|a| a == "--leader-elect"), || {
        format!("--leader-elect not in {args:?}")
    });
    p.check(
        flag_value(&args, "--log-format").as_deref() == Some("json"),
        || format!("--log-format=json not in {args:?}"),
    );
    let lease = flag_value(&args, "--lease-name").unwrap_or_else(lease_name);
    p.check(lease == lease_name(), || {
        format!(
            "lease {lease}: the leader-election Role grants {} only",
            lease_name()
        )
    });
    let address = flag_value(&args, "--metrics-address").unwrap_or_else(|| "0.0.0.0:8080".into());
    let address_port = address
        .parse::<SocketAddr>()
        .ok()
        .map(|a| i64::from(a.port()));
    p.check(
        address_port.is_some() && address_port == metrics_port,
        || format!("--metrics-address {address} is not on the metrics port {metrics_port:?}"),
    );
    let shutdown = flag_value(&args, "--shutdown-timeout").unwrap_or_else(|| "25s".into());
    let shutdown = operatorkit::duration::parse(&shutdown).unwrap_or(Duration::MAX);
    let grace = pod["terminationGracePeriodSeconds"].as_u64().unwrap_or(30);
    p.check(shutdown < Duration::from_secs(grace), || {
        format!("terminationGracePeriodSeconds {grace} is not longer than --shutdown-timeout {shutdown:?}")
    });
    let env = c["env"].as_array().cloned().unwrap_or_default();
    for (var, field) in [
        ("POD_NAME", "metadata.name"),
        ("POD_NAMESPACE", "metadata.namespace"),
    ] {
        let found = env.iter().find(|e| e["name"] == var);
        p.check(
            found.is_some_and(|e| e["valueFrom"]["fieldRef"]["fieldPath"] == field),
            || format!("env {var} is not the downward API's {field}"),
        );
    }
    let image = format!("{IMAGE}:{VERSION}");
    p.check(c["image"] == image.as_str(), || {
        format!("image is {}, not {image}", c["image"])
    });
    p.0
}

/// (apiGroup, resource, verb, resourceNames) of every grant of `rules`.
type Grant = (String, String, String, Vec<String>);

fn grants(rules: &Value) -> BTreeSet<Grant> {
    let mut out = BTreeSet::new();
    for rule in rules.as_array().into_iter().flatten() {
        let names = strings(&rule["resourceNames"]);
        for group in strings(&rule["apiGroups"]) {
            for resource in strings(&rule["resources"]) {
                for verb in strings(&rule["verbs"]) {
                    out.insert((group.clone(), resource.clone(), verb, names.clone()));
                }
            }
        }
    }
    out
}

fn grant<K: Resource<DynamicType = ()>>(sub: &str, verbs: &[&str], names: &[&str]) -> Vec<Grant> {
    let resource = format!("{}{sub}", K::plural(&()));
    verbs
        .iter()
        .map(|v| {
            (
                K::group(&()).into_owned(),
                resource.clone(),
                (*v).to_owned(),
                names.iter().map(|n| (*n).to_owned()).collect(),
            )
        })
        .collect()
}

/// What cert-operator calls, cluster-wide (see cluster-role.yaml).
fn expected_cluster_grants() -> BTreeSet<Grant> {
    [
        grant::<CertConfig>("", &["get", "list", "watch", "patch"], &[]),
        grant::<CertConfig>("/status", &["get", "patch"], &[]),
        grant::<Secret>(
            "",
            &["get", "list", "watch", "create", "patch", "delete"],
            &[],
        ),
        grant::<Pod>("", &["list", "watch"], &[]),
        grant::<Event>("", &["create", "patch"], &[]),
    ]
    .concat()
    .into_iter()
    .collect()
}

/// What leader election calls, on its one Lease.
fn expected_lease_grants() -> BTreeSet<Grant> {
    let lease = lease_name();
    [
        grant::<Lease>("", &["create"], &[]),
        grant::<Lease>("", &["get", "update"], &[&lease]),
    ]
    .concat()
    .into_iter()
    .collect()
}

/// The ClusterRole and the Role: exactly the expected grants, no wildcard.
fn check_roles(objects: &[Value]) -> Vec<String> {
    let mut p = Problems::default();
    for (kind, expected) in [
        ("ClusterRole", expected_cluster_grants()),
        ("Role", expected_lease_grants()),
    ] {
        let Some(role) = one(objects, kind, &mut p) else {
            continue;
        };
        let actual = grants(&role["rules"]);
        let extra: Vec<_> = actual.difference(&expected).collect();
        let missing: Vec<_> = expected.difference(&actual).collect();
        p.check(extra.is_empty(), || {
            format!("{kind} grants more than it needs: {extra:?}")
        });
        p.check(missing.is_empty(), || {
            format!("{kind} lacks grants it needs: {missing:?}")
        });
        let mut words = Vec::new();
        all_strings(&role["rules"], &mut words);
        p.check(!words.iter().any(|w| w.contains('*')), || {
            format!("{kind} has a wildcard: {words:?}")
        });
        for rule in role["rules"].as_array().into_iter().flatten() {
            p.check(rule["nonResourceURLs"].is_null(), || {
                format!(
                    "{kind} grants non-resource URLs {}",
                    rule["nonResourceURLs"]
                )
            });
        }
        p.check(role["aggregationRule"].is_null(), || {
            format!("{kind} aggregates other roles")
        });
    }
    p.0
}

/// The bindings bind the roles to the ServiceAccount the Deployment runs as.
fn check_bindings(objects: &[Value]) -> Vec<String> {
    let mut p = Problems::default();
    let sa = one(objects, "ServiceAccount", &mut p).map(name);
    let pods_sa = one(objects, "Deployment", &mut p)
        .and_then(|d| d["spec"]["template"]["spec"]["serviceAccountName"].as_str());
    p.check(sa.is_some() && pods_sa == sa, || {
        format!("the pods run as {pods_sa:?}, the ServiceAccount is {sa:?}")
    });
    for (binding_kind, role_kind) in [
        ("ClusterRoleBinding", "ClusterRole"),
        ("RoleBinding", "Role"),
    ] {
        let role = one(objects, role_kind, &mut p).map(name);
        let Some(b) = one(objects, binding_kind, &mut p) else {
            continue;
        };
        let role_ref = &b["roleRef"];
        p.check(
            role_ref["apiGroup"] == "rbac.authorization.k8s.io"
                && role_ref["kind"] == role_kind
                && role.is_some_and(|r| role_ref["name"] == r),
            || format!("{binding_kind} refers to {role_ref}, not {role_kind} {role:?}"),
        );
        let expected = json!([{"kind": "ServiceAccount", "name": sa, "namespace": NAMESPACE}]);
        p.check(b["subjects"] == expected, || {
            format!("{binding_kind} binds {}, not {expected}", b["subjects"])
        });
    }
    p.0
}

/// The Service selects the Deployment's pods and exposes their metrics port;
/// the PodDisruptionBudget selects them and lets a drain proceed.
fn check_service(objects: &[Value]) -> Vec<String> {
    let mut p = Problems::default();
    let (Some(s), Some(d)) = (
        one(objects, "Service", &mut p),
        one(objects, "Deployment", &mut p),
    ) else {
        return p.0;
    };
    let pod_labels = &d["spec"]["template"]["metadata"]["labels"];
    let selects_pods = |selector: &Value| {
        selector
            .as_object()
            .is_some_and(|m| !m.is_empty() && m.iter().all(|(k, v)| &pod_labels[k] == v))
    };
    p.check(selects_pods(&d["spec"]["selector"]["matchLabels"]), || {
        "the Deployment's selector does not match its pods".into()
    });
    p.check(s["spec"]["type"] == "ClusterIP", || {
        format!("Service type {}, not ClusterIP", s["spec"]["type"])
    });
    p.check(selects_pods(&s["spec"]["selector"]), || {
        format!(
            "Service selector {} does not select the pods {pod_labels}",
            s["spec"]["selector"]
        )
    });
    let container = &d["spec"]["template"]["spec"]["containers"][0];
    let metrics_port = container["ports"]
        .as_array()
        .and_then(|ports| ports.iter().find(|port| port["name"] == "metrics"))
        .and_then(|port| port["containerPort"].as_i64());
    let ports = s["spec"]["ports"].as_array().cloned().unwrap_or_default();
    let exposed = ports.iter().find(|port| port["name"] == "metrics");
    p.check(
        exposed.is_some_and(|port| {
            let target = &port["targetPort"];
            metrics_port.is_some() && (target == "metrics" || target.as_i64() == metrics_port)
        }),
        || format!("Service ports {ports:?} do not expose the container's metrics port {metrics_port:?}"),
    );
    let annotations = &s["metadata"]["annotations"];
    p.check(annotations["prometheus.io/scrape"] == "true", || {
        "no prometheus.io/scrape annotation".into()
    });
    p.check(
        metrics_port.is_some_and(|m| annotations["prometheus.io/port"] == m.to_string().as_str()),
        || {
            format!(
                "prometheus.io/port is {}, not {metrics_port:?}",
                annotations["prometheus.io/port"]
            )
        },
    );
    p.check(annotations["prometheus.io/path"] == "/metrics", || {
        "prometheus.io/path is not /metrics".into()
    });
    if let Some(pdb) = one(objects, "PodDisruptionBudget", &mut p) {
        p.check(
            selects_pods(&pdb["spec"]["selector"]["matchLabels"]),
            || "the PodDisruptionBudget does not select the pods".into(),
        );
        let min = pdb["spec"]["minAvailable"].as_i64().unwrap_or(0);
        let replicas = d["spec"]["replicas"].as_i64().unwrap_or(1);
        p.check(min >= 1 && min < replicas, || {
            format!("minAvailable {min} of {replicas}: must keep one and let a drain evict one")
        });
    }
    p.0
}

/// `args` read by cert-operator's own command line: the flags of `run`.
fn parse_args(
    args: &[String],
) -> Result<operatorkit::cli::RunArgs<cert_operator::settings::CertArgs>, clap::Error> {
    use clap::Parser;
    let cli = cert_operator::settings::Cli::try_parse_from(
        std::iter::once("cert-operator".to_owned()).chain(args.iter().cloned()),
    )?;
    match cli.into_command() {
        operatorkit::cli::Command::Run(run) => Ok(run),
        operatorkit::cli::Command::Crd => Err(clap::Error::raw(
            clap::error::ErrorKind::InvalidSubcommand,
            "the Deployment runs `crd`, not the operator",
        )),
    }
}

/// manifests/cert-operator-vault: the base with the Vault backend.
fn vault_rendered() -> &'static str {
    static RENDERED: OnceLock<String> = OnceLock::new();
    RENDERED.get_or_init(|| manifests::kustomize(&manifests::manifests_dir("cert-operator-vault")))
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

fn all_problems(objects: &[Value]) -> Vec<String> {
    [
        check_objects(objects),
        check_deployment(objects),
        check_roles(objects),
        check_bindings(objects),
        check_service(objects),
    ]
    .concat()
}

#[test]
fn renders_and_validates_against_kubernetes_1_33() {
    let objects = objects();
    let validation = manifests::kubernetes_validate("cert-operator", rendered());
    println!("{}", validation.output);
    assert!(
        validation.success,
        "kubernetes-validate failed:\n{}",
        validation.output
    );
    assert_eq!(
        validation.passed(),
        objects.len(),
        "every object is validated against a schema:\n{}",
        validation.output
    );
    assert!(
        validation.complaints().is_empty(),
        "kubernetes-validate complained: {:?}",
        validation.complaints()
    );
}

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
    let validation = manifests::kubernetes_validate("cert-operator-vault", yaml);
    assert!(
        validation.success && validation.complaints().is_empty(),
        "kubernetes-validate:\n{}",
        validation.output
    );
    assert_eq!(validation.passed(), vault.len(), "{}", validation.output);
    let problems = [
        check_objects_with(&vault, &["ConfigMap"]),
        check_deployment(&vault),
        check_roles(&vault),
        check_bindings(&vault),
        check_service(&vault),
        check_vault(&vault),
    ]
    .concat();
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
    let problems = check_objects(&objects());
    assert!(problems.is_empty(), "{problems:#?}");
}

#[test]
fn the_deployment_is_hardened_probed_resourced_and_elects_a_leader() {
    let problems = check_deployment(&objects());
    assert!(problems.is_empty(), "{problems:#?}");
}

#[test]
fn the_roles_grant_exactly_what_the_operator_calls() {
    let problems = check_roles(&objects());
    assert!(problems.is_empty(), "{problems:#?}");
}

#[test]
fn the_bindings_bind_the_deployments_service_account() {
    let problems = check_bindings(&objects());
    assert!(problems.is_empty(), "{problems:#?}");
}

#[test]
fn the_service_exposes_the_pods_metrics() {
    let problems = check_service(&objects());
    assert!(problems.is_empty(), "{problems:#?}");
}

/// Each way of breaking the manifests, and a fragment of the problem it must
/// be reported as.
#[test]
fn a_broken_manifest_is_caught() {
    type Break = fn(&mut Vec<Value>);
    fn kind<'a>(objects: &'a mut [Value], kind: &str) -> &'a mut Value {
        objects.iter_mut().find(|o| o["kind"] == kind).unwrap()
    }
    fn container(objects: &mut [Value]) -> &mut Value {
        &mut kind(objects, "Deployment")["spec"]["template"]["spec"]["containers"][0]
    }
    fn rules<'a>(objects: &'a mut [Value], k: &str) -> &'a mut Vec<Value> {
        kind(objects, k)["rules"].as_array_mut().unwrap()
    }
    fn remove_arg(objects: &mut [Value], arg: &str) {
        let args = container(objects)["args"].as_array_mut().unwrap();
        args.retain(|a| a.as_str().is_none_or(|a| !a.starts_with(arg)));
    }
    fn set_arg(objects: &mut [Value], flag: &str, value: &str) {
        remove_arg(objects, flag);
        let args = container(objects)["args"].as_array_mut().unwrap();
        args.push(json!(format!("{flag}={value}")));
    }
    let breaks: &[(&str, Break, &str)] = &[
        (
            "a Namespace object",
            |o| {
                o.push(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}}))
            },
            "objects are",
        ),
        (
            "Deployment in default",
            |o| kind(o, "Deployment")["metadata"]["namespace"] = json!("default"),
            "not operatorkit-system",
        ),
        (
            "one replica",
            |o| kind(o, "Deployment")["spec"]["replicas"] = json!(1),
            "standby",
        ),
        (
            "root",
            |o| {
                kind(o, "Deployment")["spec"]["template"]["spec"]["securityContext"]["runAsUser"] =
                    json!(0)
            },
            "runAsUser",
        ),
        (
            "runAsNonRoot overridden",
            |o| container(o)["securityContext"]["runAsNonRoot"] = json!(false),
            "runAsNonRoot",
        ),
        (
            "writable root",
            |o| container(o)["securityContext"]["readOnlyRootFilesystem"] = json!(false),
            "readOnlyRootFilesystem",
        ),
        (
            "escalation",
            |o| {
                drop(
                    container(o)["securityContext"]
                        .as_object_mut()
                        .unwrap()
                        .remove("allowPrivilegeEscalation"),
                )
            },
            "allowPrivilegeEscalation",
        ),
        (
            "capabilities kept",
            |o| container(o)["securityContext"]["capabilities"]["drop"] = json!(["NET_RAW"]),
            "capabilities.drop",
        ),
        (
            "capability added",
            |o| container(o)["securityContext"]["capabilities"]["add"] = json!(["NET_ADMIN"]),
            "capabilities added",
        ),
        (
            "no seccomp",
            |o| {
                drop(
                    kind(o, "Deployment")["spec"]["template"]["spec"]["securityContext"]
                        .as_object_mut()
                        .unwrap()
                        .remove("seccompProfile"),
                )
            },
            "seccompProfile",
        ),
        (
            "host network",
            |o| kind(o, "Deployment")["spec"]["template"]["spec"]["hostNetwork"] = json!(true),
            "hostNetwork",
        ),
        (
            "no liveness probe",
            |o| {
                drop(
                    container(o)
                        .as_object_mut()
                        .unwrap()
                        .remove("livenessProbe"),
                )
            },
            "livenessProbe path",
        ),
        (
            "readiness on /healthz",
            |o| container(o)["readinessProbe"]["httpGet"]["path"] = json!("/healthz"),
            "readinessProbe path",
        ),
        (
            "probe on another port",
            |o| container(o)["livenessProbe"]["httpGet"]["port"] = json!(9090),
            "livenessProbe port",
        ),
        (
            "no memory limit",
            |o| {
                drop(
                    container(o)["resources"]["limits"]
                        .as_object_mut()
                        .unwrap()
                        .remove("memory"),
                )
            },
            "no memory limit",
        ),
        (
            "request above limit",
            |o| container(o)["resources"]["requests"]["cpu"] = json!("2"),
            "cpu request",
        ),
        (
            "no leader election",
            |o| remove_arg(o, "--leader-elect"),
            "--leader-elect",
        ),
        (
            "text logs",
            |o| remove_arg(o, "--log-format"),
            "--log-format",
        ),
        (
            "another lease",
            |o| set_arg(o, "--lease-name", "other"),
            "leader-election Role",
        ),
        (
            "a flag the operator does not have",
            |o| set_arg(o, "--vault-namespace", "x"),
            "do not parse",
        ),
        (
            "metrics elsewhere",
            |o| set_arg(o, "--metrics-address", "0.0.0.0:9090"),
            "--metrics-address",
        ),
        (
            "short grace",
            |o| {
                kind(o, "Deployment")["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] =
                    json!(20)
            },
            "terminationGracePeriodSeconds",
        ),
        (
            "no POD_NAMESPACE",
            |o| {
                container(o)["env"]
                    .as_array_mut()
                    .unwrap()
                    .retain(|e| e["name"] != "POD_NAMESPACE")
            },
            "POD_NAMESPACE",
        ),
        (
            "latest image",
            |o| container(o)["image"] = json!(format!("{IMAGE}:latest")),
            "image is",
        ),
        (
            "no token",
            |o| {
                kind(o, "Deployment")["spec"]["template"]["spec"]["automountServiceAccountToken"] =
                    json!(false)
            },
            "token",
        ),
        (
            "update CertConfigs",
            |o| {
                rules(o, "ClusterRole")[0]["verbs"]
                    .as_array_mut()
                    .unwrap()
                    .push(json!("update"))
            },
            "more than it needs",
        ),
        (
            "read ConfigMaps",
            |o| {
                rules(o, "ClusterRole")
                    .push(json!({"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get"]}))
            },
            "more than it needs",
        ),
        (
            "leases cluster-wide",
            |o| {
                rules(o, "ClusterRole").push(json!({"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "verbs": ["get"]}))
            },
            "more than it needs",
        ),
        (
            "secrets: no delete",
            |o| {
                rules(o, "ClusterRole")[2]["verbs"]
                    .as_array_mut()
                    .unwrap()
                    .retain(|v| v != "delete")
            },
            "lacks grants",
        ),
        (
            "wildcard verb",
            |o| rules(o, "ClusterRole")[3]["verbs"] = json!(["*"]),
            "wildcard",
        ),
        (
            "non-resource URL",
            |o| {
                rules(o, "ClusterRole")
                    .push(json!({"nonResourceURLs": ["/metrics"], "verbs": ["get"]}))
            },
            "non-resource",
        ),
        (
            "any lease",
            |o| {
                drop(
                    rules(o, "Role")[1]
                        .as_object_mut()
                        .unwrap()
                        .remove("resourceNames"),
                )
            },
            "Role grants more",
        ),
        (
            "another service account",
            |o| {
                kind(o, "Deployment")["spec"]["template"]["spec"]["serviceAccountName"] =
                    json!("default")
            },
            "the pods run as",
        ),
        (
            "binding in another namespace",
            |o| kind(o, "ClusterRoleBinding")["subjects"][0]["namespace"] = json!("default"),
            "ClusterRoleBinding binds",
        ),
        (
            "binding to another role",
            |o| kind(o, "RoleBinding")["roleRef"]["name"] = json!("admin"),
            "RoleBinding refers",
        ),
        (
            "Service selects nothing",
            |o| kind(o, "Service")["spec"]["selector"] = json!({"app.kubernetes.io/name": "other"}),
            "Service selector",
        ),
        (
            "Service on another port",
            |o| kind(o, "Service")["spec"]["ports"][0]["targetPort"] = json!(9090),
            "metrics port",
        ),
        (
            "not scraped",
            |o| {
                drop(
                    kind(o, "Service")["metadata"]["annotations"]
                        .as_object_mut()
                        .unwrap()
                        .remove("prometheus.io/scrape"),
                )
            },
            "scrape",
        ),
        (
            "PDB blocks drains",
            |o| kind(o, "PodDisruptionBudget")["spec"]["minAvailable"] = json!(2),
            "minAvailable",
        ),
    ];
    let good = objects();
    assert!(all_problems(&good).is_empty(), "{:#?}", all_problems(&good));
    for (what, breaks_it, expected) in breaks {
        let mut broken = good.clone();
        breaks_it(&mut broken);
        let problems = all_problems(&broken);
        assert!(
            problems.iter().any(|p| p.contains(expected)),
            "{what}: expected a problem containing {expected:?}, got {problems:#?}"
        );
    }
}
