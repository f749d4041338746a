//! What every operator's deployment manifests (`manifests/<operator>/`,
//! rendered by [`crate::manifests`]) promise, as checks of the rendered
//! objects: which objects there are, where each lives and how it is
//! labelled; a hardened Deployment with probes, resources, leader election,
//! arguments the operator's own command line accepts and the image of the
//! workspace version; roles granting exactly what the operator calls, no
//! wildcard; bindings of each role to the Deployment's ServiceAccount; the
//! metrics Service and the PodDisruptionBudget; credentials read from a
//! mounted Secret ([`check_secret_files`]).
//!
//! What differs between operators is an [`Expected`]: the operator's name,
//! image and namespace, the objects living elsewhere, its roles with their
//! exact grants, and the parser of its arguments. Each operator's test
//! (`tests/<operator>_manifests.rs`) makes one and adds the checks of its own
//! flags.
//!
//! The checks return the problems they find instead of panicking, so that a
//! test can break the objects one way at a time ([`COMMON_BREAKS`] and the
//! operator's own, run by [`assert_breaks_caught`]) and show that no check
//! passes vacuously.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::events::v1::Event;
use kube::Resource;
use operatorkit::cli::{Cli, Command, RunArgs};
use serde_json::{Value, json};

use crate::manifests::strings;

/// The user of the distroless `nonroot` image (each operator's Dockerfile).
const NONROOT_UID: i64 = 65532;

/// Problems found, as messages.
#[derive(Default)]
pub struct Problems(pub Vec<String>);

impl Problems {
    /// Records `message()` unless `ok`.
    pub fn check(&mut self, ok: bool, message: impl FnOnce() -> String) {
        if !ok {
            self.0.push(message());
        }
    }
}

/// The only object of `kind` (named `name`, if given), or a problem.
fn find_one<'a>(
    objects: &'a [Value],
    kind: &str,
    wanted: Option<&str>,
    p: &mut Problems,
) -> Option<&'a Value> {
    let found: Vec<&Value> = objects
        .iter()
        .filter(|o| o["kind"] == kind && wanted.is_none_or(|w| name(o) == w))
        .collect();
    p.check(found.len() == 1, || match wanted {
        None => format!("expected one {kind}, found {}", found.len()),
        Some(w) => format!("expected one {kind} {w}, found {}", found.len()),
    });
    (found.len() == 1).then(|| found[0])
}

/// The only object of `kind`, or a problem.
pub fn one<'a>(objects: &'a [Value], kind: &str, p: &mut Problems) -> Option<&'a Value> {
    find_one(objects, kind, None, p)
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
pub fn flag_value(args: &[String], flag: &str) -> Option<String> {
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

/// `args` read by an operator's command line (operatorkit's [`Cli`] with the
/// operator's own flags `E`, as its `main` reads them): the flags of `run`.
pub fn parse_run_args<E: clap::Args>(
    program: &str,
    args: &[String],
) -> Result<RunArgs<E>, clap::Error> {
    use clap::Parser;
    let cli =
        Cli::<E>::try_parse_from(std::iter::once(program.to_owned()).chain(args.iter().cloned()))?;
    match cli.into_command() {
        Command::Run(run) => Ok(run),
        Command::Crd => Err(clap::Error::raw(
            clap::error::ErrorKind::InvalidSubcommand,
            "the Deployment runs `crd`, not the operator",
        )),
    }
}

/// (apiGroup, resource, verb, resourceNames) of a grant of a role.
pub type Grant = (String, String, String, Vec<String>);

/// Every grant of `rules`.
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

/// `verbs` on kind `K` (its subresource `sub`, as `/status`, if not empty),
/// on the objects `names` only if not empty.
pub fn grant<K: Resource<DynamicType = ()>>(
    sub: &str,
    verbs: &[&str],
    names: &[&str],
) -> Vec<Grant> {
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

/// The Lease leader election uses: operatorkit's default for `operator`.
fn lease_name(operator: &str) -> String {
    format!("{operator}-leader")
}

/// A role the manifests hold, and exactly what it grants.
pub struct ExpectedRole {
    /// `ClusterRole` or `Role`.
    pub kind: &'static str,
    /// Its name.
    pub name: String,
    /// Its grants, all of them.
    pub grants: BTreeSet<Grant>,
}

impl ExpectedRole {
    /// Role or ClusterRole `name` granting `grants` (as [`grant`] makes them).
    pub fn new(
        kind: &'static str,
        name: impl Into<String>,
        grants: impl IntoIterator<Item = Vec<Grant>>,
    ) -> Self {
        Self {
            kind,
            name: name.into(),
            grants: grants.into_iter().flatten().collect(),
        }
    }

    /// The ClusterRole of `operator`, `operatorkit:<operator>`: what
    /// operatorkit calls for an operator reconciling `K` (the controller's
    /// list and watch, the finalizer's patch and its re-read, the status
    /// subresource, events.k8s.io Events), and the operator's own `more`.
    pub fn cluster_role<K: Resource<DynamicType = ()>>(
        operator: &str,
        more: impl IntoIterator<Item = Vec<Grant>>,
    ) -> Self {
        let reconciled = [
            grant::<K>("", &["get", "list", "watch", "patch"], &[]),
            grant::<K>("/status", &["get", "patch"], &[]),
            grant::<Event>("", &["create", "patch"], &[]),
        ];
        Self::new(
            "ClusterRole",
            format!("operatorkit:{operator}"),
            reconciled.into_iter().chain(more),
        )
    }

    /// The leader-election Role of `operator`, `<operator>-leader-election`:
    /// what leader election calls, on its one Lease.
    pub fn leader_election(operator: &str) -> Self {
        let lease = lease_name(operator);
        Self::new(
            "Role",
            format!("{operator}-leader-election"),
            [
                grant::<Lease>("", &["create"], &[]),
                grant::<Lease>("", &["get", "update"], &[&lease]),
            ],
        )
    }
}

/// What an operator's rendered manifests must hold.
pub struct Expected {
    /// The operator: its `app.kubernetes.io/name` label, and its Lease
    /// `<operator>-leader`.
    pub operator: String,
    /// The namespace it runs in: of its ServiceAccount, bound by every
    /// binding, and of every namespaced object but those of `elsewhere`.
    pub namespace: &'static str,
    /// Namespaced objects in another namespace: (kind, name, namespace).
    pub elsewhere: Vec<(&'static str, &'static str, &'static str)>,
    /// The kinds of the objects beyond one each of ClusterRole,
    /// ClusterRoleBinding, Deployment, PodDisruptionBudget, Role,
    /// RoleBinding, Service and ServiceAccount: one entry an object.
    pub extra_kinds: Vec<&'static str>,
    /// The container's image, with its tag.
    pub image: String,
    /// Reads the container's arguments as the operator does (as
    /// [`parse_run_args`] with its own flags).
    pub parse_args: fn(&[String]) -> Result<(), clap::Error>,
    /// Every ClusterRole and Role, with its exact grants.
    pub roles: Vec<ExpectedRole>,
}

impl Expected {
    /// Where an object of `kind` named `name` must live: `None` when it is
    /// cluster-scoped.
    fn namespace_of(&self, kind: &str, name: &str) -> Option<&'static str> {
        if matches!(kind, "ClusterRole" | "ClusterRoleBinding") {
            return None;
        }
        let elsewhere = self
            .elsewhere
            .iter()
            .find(|(k, n, _)| *k == kind && *n == name);
        Some(elsewhere.map_or(self.namespace, |(_, _, ns)| *ns))
    }

    /// Every object, where it lives, and its label.
    pub fn check_objects(&self, objects: &[Value]) -> Vec<String> {
        let mut p = Problems::default();
        let kinds: Vec<&str> = objects.iter().filter_map(|o| o["kind"].as_str()).collect();
        let mut sorted = kinds.clone();
        sorted.sort_unstable();
        // No Namespace (shared by every operator; see kustomization.yaml) and
        // no CRD (applied from manifests/crds/ first).
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
        expected.extend_from_slice(&self.extra_kinds);
        expected.sort_unstable();
        p.check(sorted == expected, || {
            format!("objects are {sorted:?}, expected {expected:?}")
        });
        for o in objects {
            let kind = o["kind"].as_str().unwrap_or_default();
            let ns = &o["metadata"]["namespace"];
            match self.namespace_of(kind, name(o)) {
                None => p.check(ns.is_null(), || {
                    format!(
                        "{kind} {} is cluster-scoped but has namespace {ns}",
                        name(o)
                    )
                }),
                Some(expected) => p.check(ns == expected, || {
                    format!("{kind} {} is in namespace {ns}, not {expected}", name(o))
                }),
            }
            let operator = self.operator.as_str();
            p.check(
                o["metadata"]["labels"]["app.kubernetes.io/name"] == operator,
                || format!("{kind} {} lacks app.kubernetes.io/name={operator}", name(o)),
            );
        }
        p.0
    }

    /// The Deployment: replicas, security, probes, resources, arguments,
    /// environment, image.
    pub fn check_deployment(&self, objects: &[Value]) -> Vec<String> {
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
        check_security(pod, c, &mut p);
        let metrics_port = metrics_port(c);
        p.check(metrics_port.is_some(), || {
            "no container port named metrics".into()
        });
        check_probes(c, metrics_port, &mut p);
        check_resources(c, &mut p);
        self.check_args(pod, c, metrics_port, &mut p);
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
        let image = self.image.as_str();
        p.check(c["image"] == image, || {
            format!("image is {}, not {image}", c["image"])
        });
        p.0
    }

    /// The container's arguments: the operator's, with leader election on
    /// its Lease, JSON logs, metrics on the metrics port, and a shutdown
    /// within the pod's grace period.
    fn check_args(&self, pod: &Value, c: &Value, metrics_port: Option<i64>, p: &mut Problems) {
        let args = strings(&c["args"]);
        if let Err(e) = (self.parse_args)(&args) {
            p.0.push(format!("the arguments {args:?} do not parse: {e}"));
        }
        p.check(args.iter().any(|a| a == "--leader-elect"), || {
            format!("--leader-elect not in {args:?}")
        });
        p.check(
            flag_value(&args, "--log-format").as_deref() == Some("json"),
            || format!("--log-format=json not in {args:?}"),
        );
        let expected_lease = lease_name(&self.operator);
        let lease = flag_value(&args, "--lease-name").unwrap_or_else(|| expected_lease.clone());
        p.check(lease == expected_lease, || {
            format!("lease {lease}: the leader-election Role grants {expected_lease} only")
        });
        let address =
            flag_value(&args, "--metrics-address").unwrap_or_else(|| "0.0.0.0:8080".into());
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
    }

    /// Every ClusterRole and Role is an expected one, and each expected one
    /// is there once, grants exactly what it should and no wildcard.
    pub fn check_roles(&self, objects: &[Value]) -> Vec<String> {
        let mut p = Problems::default();
        for o in objects {
            let kind = o["kind"].as_str().unwrap_or_default();
            if matches!(kind, "ClusterRole" | "Role") {
                p.check(
                    self.roles
                        .iter()
                        .any(|r| r.kind == kind && r.name == name(o)),
                    || format!("{kind} {} is not one of the operator's roles", name(o)),
                );
            }
        }
        for ExpectedRole {
            kind,
            name: role_name,
            grants: expected,
        } in &self.roles
        {
            let Some(role) = find_one(objects, kind, Some(role_name), &mut p) else {
                continue;
            };
            let actual = grants(&role["rules"]);
            let extra: Vec<_> = actual.difference(expected).collect();
            let missing: Vec<_> = expected.difference(&actual).collect();
            p.check(extra.is_empty(), || {
                format!("{kind} grants more than it needs ({role_name}): {extra:?}")
            });
            p.check(missing.is_empty(), || {
                format!("{kind} lacks grants it needs ({role_name}): {missing:?}")
            });
            let mut words = Vec::new();
            all_strings(&role["rules"], &mut words);
            p.check(!words.iter().any(|w| w.contains('*')), || {
                format!("{kind} has a wildcard ({role_name}): {words:?}")
            });
            for rule in role["rules"].as_array().into_iter().flatten() {
                p.check(rule["nonResourceURLs"].is_null(), || {
                    format!(
                        "{kind} grants non-resource URLs ({role_name}): {}",
                        rule["nonResourceURLs"]
                    )
                });
            }
            p.check(role["aggregationRule"].is_null(), || {
                format!("{kind} aggregates other roles ({role_name})")
            });
        }
        p.0
    }

    /// Every binding binds one of the operator's roles, rendered in its own
    /// namespace, to the ServiceAccount the Deployment runs as, and each role
    /// is bound once.
    pub fn check_bindings(&self, objects: &[Value]) -> Vec<String> {
        let mut p = Problems::default();
        let sa = one(objects, "ServiceAccount", &mut p).map(name);
        let pods_sa = one(objects, "Deployment", &mut p)
            .and_then(|d| d["spec"]["template"]["spec"]["serviceAccountName"].as_str());
        p.check(sa.is_some() && pods_sa == sa, || {
            format!("the pods run as {pods_sa:?}, the ServiceAccount is {sa:?}")
        });
        let subjects = json!([{"kind": "ServiceAccount", "name": sa, "namespace": self.namespace}]);
        let mut bound = vec![0; self.roles.len()];
        for b in objects {
            let binding_kind = b["kind"].as_str().unwrap_or_default();
            let role_kind = match binding_kind {
                "ClusterRoleBinding" => "ClusterRole",
                "RoleBinding" => "Role",
                _ => continue,
            };
            let role_ref = &b["roleRef"];
            // A RoleBinding grants a Role of its own namespace only.
            let rendered = |r: &ExpectedRole| {
                objects.iter().any(|o| {
                    o["kind"] == r.kind
                        && name(o) == r.name
                        && o["metadata"]["namespace"] == b["metadata"]["namespace"]
                })
            };
            let target = self.roles.iter().position(|r| {
                r.kind == role_kind
                    && role_ref["apiGroup"] == "rbac.authorization.k8s.io"
                    && role_ref["kind"] == role_kind
                    && role_ref["name"] == r.name.as_str()
                    && rendered(r)
            });
            p.check(target.is_some(), || {
                format!(
                    "{binding_kind} refers to {role_ref}, not a {role_kind} of the operator in its namespace ({})",
                    name(b)
                )
            });
            if let Some(i) = target {
                bound[i] += 1;
            }
            p.check(b["subjects"] == subjects, || {
                format!(
                    "{binding_kind} binds {}, not {subjects} ({})",
                    b["subjects"],
                    name(b)
                )
            });
        }
        for (role, n) in self.roles.iter().zip(bound) {
            p.check(n == 1, || {
                format!("{} {} is bound {n} times, not once", role.kind, role.name)
            });
        }
        p.0
    }

    /// Every problem the checks of this module find.
    pub fn all_problems(&self, objects: &[Value]) -> Vec<String> {
        [
            self.check_objects(objects),
            self.check_deployment(objects),
            self.check_roles(objects),
            self.check_bindings(objects),
            check_service(objects),
        ]
        .concat()
    }
}

/// The container's security settings, its own else the pod's, and the pod's
/// access to the host and to the API.
fn check_security(pod: &Value, c: &Value, p: &mut Problems) {
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
}

/// The container port named `metrics`.
fn metrics_port(c: &Value) -> Option<i64> {
    c["ports"]
        .as_array()
        .and_then(|ports| ports.iter().find(|port| port["name"] == "metrics"))
        .and_then(|port| port["containerPort"].as_i64())
}

/// Liveness on /healthz and readiness on /readyz, both on the metrics port.
fn check_probes(c: &Value, metrics_port: Option<i64>, p: &mut Problems) {
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
}

/// Requests and limits of CPU and memory, requests within limits.
fn check_resources(c: &Value, p: &mut Problems) {
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
}

/// The Service selects the Deployment's pods and exposes their metrics port;
/// the PodDisruptionBudget selects them and lets a drain proceed.
pub fn check_service(objects: &[Value]) -> Vec<String> {
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
    let metrics_port = metrics_port(&d["spec"]["template"]["spec"]["containers"][0]);
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

/// A file an operator reads from a mounted Secret: the flag naming it, the
/// path the flag has (as the operator's own command line parsed it), and
/// the key of the Secret it must be.
pub type SecretFile<'a> = (&'a str, Option<&'a Path>, &'a str);

/// Credentials from Secret `secret` (never among the manifests): it is the
/// Deployment's volume, not optional, mounted read-only into the container
/// once; each of `files` names the file of its key in that mount; the files
/// are readable by the operator's group (fsGroup = runAsGroup) and by no
/// other user.
pub fn check_secret_files(objects: &[Value], secret: &str, files: &[SecretFile]) -> Vec<String> {
    let mut p = Problems::default();
    let Some(d) = one(objects, "Deployment", &mut p) else {
        return p.0;
    };
    let pod = &d["spec"]["template"]["spec"];
    let c = &pod["containers"][0];
    let volumes: Vec<&Value> = pod["volumes"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|v| v["secret"]["secretName"] == secret)
        .collect();
    let mounts: Vec<&Value> = c["volumeMounts"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|m| volumes.iter().any(|v| v["name"] == m["name"]))
        .collect();
    p.check(volumes.len() == 1 && mounts.len() == 1, || {
        format!(
            "Secret {secret} is not mounted once: {} volumes, {} mounts",
            volumes.len(),
            mounts.len()
        )
    });
    let ([volume], [mount]) = (&volumes[..], &mounts[..]) else {
        return p.0;
    };
    let source = &volume["secret"];
    p.check(mount["readOnly"] == true, || {
        format!("Secret {secret} is mounted writable")
    });
    p.check(mount["subPath"].is_null(), || {
        format!("Secret {secret} is mounted with a subPath")
    });
    p.check(source["optional"] != true, || {
        format!("Secret {secret} is optional: the pod would start without it")
    });
    let dir = Path::new(mount["mountPath"].as_str().unwrap_or("/nonexistent"));
    let items = source["items"].as_array();
    for (flag, path, key) in files {
        // With items, only the keys listed are there, at their paths.
        let file = match items {
            None => Some((*key).to_owned()),
            Some(items) => items
                .iter()
                .find(|i| i["key"] == *key)
                .and_then(|i| i["path"].as_str())
                .map(str::to_owned),
        };
        let expected = file.map(|f| dir.join(f));
        p.check(expected.is_some() && *path == expected.as_deref(), || {
            format!(
                "{flag} {path:?} is not the file of key {key} of Secret {secret} mounted at {}",
                dir.display()
            )
        });
    }
    // Secret files belong to root and to fsGroup: the operator's user reads
    // them through the group bits (fsGroup = its group), never the others'.
    let default_mode = source["defaultMode"].as_u64().unwrap_or(0o644);
    let modes = items
        .into_iter()
        .flatten()
        .filter_map(|i| i["mode"].as_u64())
        .chain([default_mode]);
    let group = pod["securityContext"]["runAsGroup"].as_i64();
    let fs_group = pod["securityContext"]["fsGroup"].as_i64();
    for mode in modes {
        let readable = mode & 0o040 != 0 && fs_group.is_some() && fs_group == group;
        p.check(readable, || {
            format!(
                "Secret {secret}'s files with mode {mode:o}, fsGroup {fs_group:?} are unreadable for group {group:?}"
            )
        });
        p.check(mode & 0o007 == 0, || {
            format!("Secret {secret}'s files with mode {mode:o} are open to other users")
        });
    }
    p.0
}

/// Asserts that a check found no problem.
#[track_caller]
pub fn assert_no_problems(problems: Vec<String>) {
    assert!(problems.is_empty(), "{problems:#?}");
}

/// The tests every operator's manifests test has, on `manifests/<$dir>/`
/// (named by a literal) and the [`Expected`] `$expected`: the rendered
/// objects validate against Kubernetes 1.33 ([`crate::manifests::assert_valid`]),
/// and the checks of the Deployment, the roles, the bindings and the Service
/// find no problem. Where the objects live is each test's own (its name says
/// where), as are the breaks.
#[macro_export]
macro_rules! manifest_tests {
    ($dir:literal, $expected:expr) => {
        #[test]
        fn renders_and_validates_against_kubernetes_1_33() {
            $crate::manifests::assert_valid($dir, $crate::manifests::rendered($dir));
        }

        #[test]
        fn the_deployment_is_hardened_probed_resourced_and_elects_a_leader() {
            let objects = $crate::manifests::objects($dir);
            $crate::deployment::assert_no_problems($expected.check_deployment(&objects));
        }

        #[test]
        fn the_roles_grant_exactly_what_the_operator_calls() {
            let objects = $crate::manifests::objects($dir);
            $crate::deployment::assert_no_problems($expected.check_roles(&objects));
        }

        #[test]
        fn the_bindings_bind_the_deployments_service_account() {
            let objects = $crate::manifests::objects($dir);
            $crate::deployment::assert_no_problems($expected.check_bindings(&objects));
        }

        #[test]
        fn the_service_exposes_the_pods_metrics() {
            let objects = $crate::manifests::objects($dir);
            $crate::deployment::assert_no_problems($crate::deployment::check_service(&objects));
        }
    };
}

/// A way to break the rendered objects: what it does, how, and a fragment of
/// the problem it must be reported as.
pub type Break = (&'static str, fn(&mut Vec<Value>), &'static str);

/// Asserts that `problems` finds nothing in `good`, and something containing
/// each break's fragment in `good` broken that way.
pub fn assert_breaks_caught(
    good: &[Value],
    breaks: &[Break],
    problems: impl Fn(&[Value]) -> Vec<String>,
) {
    let found = problems(good);
    assert!(found.is_empty(), "{found:#?}");
    for (what, break_it, expected) in breaks {
        let mut broken = good.to_vec();
        break_it(&mut broken);
        let found = problems(&broken);
        assert!(
            found.iter().any(|p| p.contains(expected)),
            "{what}: expected a problem containing {expected:?}, got {found:#?}"
        );
    }
}

/// The first object of `kind` (a break's target).
pub fn first_mut<'a>(objects: &'a mut [Value], kind: &str) -> &'a mut Value {
    objects
        .iter_mut()
        .find(|o| o["kind"] == kind)
        .unwrap_or_else(|| panic!("no {kind} to break"))
}

/// The object of `kind` named `wanted` (a break's target).
pub fn named_mut<'a>(objects: &'a mut [Value], kind: &str, wanted: &str) -> &'a mut Value {
    objects
        .iter_mut()
        .find(|o| o["kind"] == kind && name(o) == wanted)
        .unwrap_or_else(|| panic!("no {kind} {wanted} to break"))
}

/// The array `v` (a break's target).
pub fn array_mut(v: &mut Value) -> &mut Vec<Value> {
    match v {
        Value::Array(a) => a,
        other => panic!("not an array: {other}"),
    }
}

/// Removes `key` from the object `v`.
pub fn remove_key(v: &mut Value, key: &str) {
    match v {
        Value::Object(m) => drop(m.remove(key)),
        other => panic!("not an object: {other}"),
    }
}

/// The rules of role `role`.
pub fn rules_mut(role: &mut Value) -> &mut Vec<Value> {
    array_mut(&mut role["rules"])
}

/// The Deployment's pod spec.
pub fn pod_mut(objects: &mut [Value]) -> &mut Value {
    &mut first_mut(objects, "Deployment")["spec"]["template"]["spec"]
}

/// The Deployment's container.
pub fn container_mut(objects: &mut [Value]) -> &mut Value {
    &mut pod_mut(objects)["containers"][0]
}

/// Removes the container's arguments starting with `arg`.
pub fn remove_arg(objects: &mut [Value], arg: &str) {
    array_mut(&mut container_mut(objects)["args"])
        .retain(|a| a.as_str().is_none_or(|a| !a.starts_with(arg)));
}

/// Sets the container's `flag` to `value` (`--flag=value`).
pub fn set_arg(objects: &mut [Value], flag: &str, value: &str) {
    remove_arg(objects, flag);
    array_mut(&mut container_mut(objects)["args"]).push(json!(format!("{flag}={value}")));
}

/// Breaks of what every operator's manifests promise, each caught by the
/// checks of [`Expected`].
pub const COMMON_BREAKS: &[Break] = &[
    (
        "a Namespace object",
        |o| {
            let ns = first_mut(o, "Deployment")["metadata"]["namespace"].clone();
            o.push(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}));
        },
        "objects are",
    ),
    (
        "Deployment in default",
        |o| first_mut(o, "Deployment")["metadata"]["namespace"] = json!("default"),
        "not operatorkit-system",
    ),
    (
        "one replica",
        |o| first_mut(o, "Deployment")["spec"]["replicas"] = json!(1),
        "standby",
    ),
    (
        "root",
        |o| pod_mut(o)["securityContext"]["runAsUser"] = json!(0),
        "runAsUser",
    ),
    (
        "runAsNonRoot overridden",
        |o| container_mut(o)["securityContext"]["runAsNonRoot"] = json!(false),
        "runAsNonRoot",
    ),
    (
        "writable root",
        |o| container_mut(o)["securityContext"]["readOnlyRootFilesystem"] = json!(false),
        "readOnlyRootFilesystem",
    ),
    (
        "escalation",
        |o| {
            remove_key(
                &mut container_mut(o)["securityContext"],
                "allowPrivilegeEscalation",
            )
        },
        "allowPrivilegeEscalation",
    ),
    (
        "capabilities kept",
        |o| container_mut(o)["securityContext"]["capabilities"]["drop"] = json!(["NET_RAW"]),
        "capabilities.drop",
    ),
    (
        "capability added",
        |o| container_mut(o)["securityContext"]["capabilities"]["add"] = json!(["NET_ADMIN"]),
        "capabilities added",
    ),
    (
        "no seccomp",
        |o| remove_key(&mut pod_mut(o)["securityContext"], "seccompProfile"),
        "seccompProfile",
    ),
    (
        "host network",
        |o| pod_mut(o)["hostNetwork"] = json!(true),
        "hostNetwork",
    ),
    (
        "no liveness probe",
        |o| remove_key(container_mut(o), "livenessProbe"),
        "livenessProbe path",
    ),
    (
        "readiness on /healthz",
        |o| container_mut(o)["readinessProbe"]["httpGet"]["path"] = json!("/healthz"),
        "readinessProbe path",
    ),
    (
        "probe on another port",
        |o| container_mut(o)["livenessProbe"]["httpGet"]["port"] = json!(9090),
        "livenessProbe port",
    ),
    (
        "no memory limit",
        |o| remove_key(&mut container_mut(o)["resources"]["limits"], "memory"),
        "no memory limit",
    ),
    (
        "request above limit",
        |o| container_mut(o)["resources"]["requests"]["cpu"] = json!("2"),
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
        "metrics elsewhere",
        |o| set_arg(o, "--metrics-address", "0.0.0.0:9090"),
        "--metrics-address",
    ),
    (
        "short grace",
        |o| pod_mut(o)["terminationGracePeriodSeconds"] = json!(20),
        "terminationGracePeriodSeconds",
    ),
    (
        "no POD_NAMESPACE",
        |o| array_mut(&mut container_mut(o)["env"]).retain(|e| e["name"] != "POD_NAMESPACE"),
        "POD_NAMESPACE",
    ),
    (
        "latest image",
        |o| {
            let c = container_mut(o);
            let image = c["image"].as_str().unwrap_or_default();
            let repository = image.rsplit_once(':').map_or(image, |(r, _)| r);
            c["image"] = json!(format!("{repository}:latest"));
        },
        "image is",
    ),
    (
        "no token",
        |o| pod_mut(o)["automountServiceAccountToken"] = json!(false),
        "token",
    ),
    (
        "leases cluster-wide",
        |o| {
            rules_mut(first_mut(o, "ClusterRole")).push(json!({"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "verbs": ["get"]}));
        },
        "more than it needs",
    ),
    (
        "non-resource URL",
        |o| {
            rules_mut(first_mut(o, "ClusterRole"))
                .push(json!({"nonResourceURLs": ["/metrics"], "verbs": ["get"]}));
        },
        "non-resource",
    ),
    (
        "any lease",
        |o| {
            let role = o
                .iter_mut()
                .find(|o| o["kind"] == "Role" && name(o).ends_with("-leader-election"))
                .unwrap_or_else(|| panic!("no leader-election Role to break"));
            remove_key(&mut rules_mut(role)[1], "resourceNames");
        },
        "Role grants more",
    ),
    (
        "another service account",
        |o| pod_mut(o)["serviceAccountName"] = json!("default"),
        "the pods run as",
    ),
    (
        "binding in another namespace",
        |o| first_mut(o, "ClusterRoleBinding")["subjects"][0]["namespace"] = json!("default"),
        "ClusterRoleBinding binds",
    ),
    (
        "binding to another role",
        |o| first_mut(o, "RoleBinding")["roleRef"]["name"] = json!("admin"),
        "RoleBinding refers",
    ),
    (
        "Service selects nothing",
        |o| {
            first_mut(o, "Service")["spec"]["selector"] =
                json!({"app.kubernetes.io/name": "other"});
        },
        "Service selector",
    ),
    (
        "Service on another port",
        |o| first_mut(o, "Service")["spec"]["ports"][0]["targetPort"] = json!(9090),
        "metrics port",
    ),
    (
        "not scraped",
        |o| {
            remove_key(
                &mut first_mut(o, "Service")["metadata"]["annotations"],
                "prometheus.io/scrape",
            );
        },
        "scrape",
    ),
    (
        "PDB blocks drains",
        |o| first_mut(o, "PodDisruptionBudget")["spec"]["minAvailable"] = json!(2),
        "minAvailable",
    ),
];
