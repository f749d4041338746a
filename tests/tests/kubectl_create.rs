//! kubectl's typed commands (`create <kind>`, `run`, `expose`) send protobuf
//! bodies and ask for protobuf answers, as on a real cluster. Each one here
//! succeeds, with `--dry-run=server` too, and makes exactly the object the
//! same command makes through JSON (`--dry-run=client -o json` fed to
//! `kubectl create -f`, kubectl's own JSON of the same Go struct).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use e2e::kubectl::{Kubectl, session};
use e2e::support::comparable_object;
use serde_json::Value;

/// The typed commands, with `{}` for a name unique to the run where the object
/// is cluster-scoped. The first word is kubectl's subcommand.
const COMMANDS: &[&[&str]] = &[
    &["create", "namespace", "{}"],
    &[
        "create",
        "configmap",
        "settings",
        "--from-literal=mode=fast",
        "--from-literal=level=3",
    ],
    &[
        "create",
        "secret",
        "generic",
        "creds",
        "--from-literal=user=ivy",
        "--type=example.com/creds",
    ],
    &[
        "create",
        "secret",
        "tls",
        "serving",
        "--cert=@crt",
        "--key=@key",
    ],
    &[
        "create",
        "secret",
        "docker-registry",
        "pull",
        "--docker-server=registry.example.com",
        "--docker-username=ivy",
        "--docker-password=hunter2",
    ],
    &[
        "create",
        "service",
        "clusterip",
        "api",
        "--tcp=80:8080",
        "--tcp=443:8443",
    ],
    &["create", "service", "nodeport", "web-np", "--tcp=80:8080"],
    &[
        "create",
        "deployment",
        "web",
        "--image=nginx:1.27",
        "--replicas=0",
        "--port=80",
    ],
    &["create", "job", "once", "--image=busybox", "--", "true"],
    &[
        "create",
        "cronjob",
        "nightly",
        "--image=busybox",
        "--schedule=0 3 * * *",
        "--",
        "true",
    ],
    &[
        "create",
        "role",
        "pod-reader",
        "--verb=get,list",
        "--resource=pods,pods/log",
    ],
    &[
        "create",
        "rolebinding",
        "ivy-reads",
        "--role=pod-reader",
        "--user=ivy",
        "--serviceaccount=demo:robot",
    ],
    &[
        "create",
        "clusterrole",
        "{}",
        "--verb=get",
        "--resource=nodes",
        "--non-resource-url=/healthz",
    ],
    &[
        "create",
        "clusterrole",
        "{}-agg",
        "--aggregation-rule=rbac.example.com/aggregate=true",
    ],
    &["create", "serviceaccount", "robot"],
    &[
        "create",
        "quota",
        "limits",
        "--hard=pods=4,count/deployments.apps=2,services.nodeports=0",
    ],
    &[
        "create",
        "priorityclass",
        "{}",
        "--value=1000",
        "--description=batch",
        "--preemption-policy=Never",
    ],
    &[
        "create",
        "poddisruptionbudget",
        "web",
        "--selector=app=web",
        "--min-available=0",
    ],
    &[
        "create",
        "ingress",
        "web",
        "--rule=web.example.com/api*=api:80",
        "--class=nginx",
    ],
    &[
        "run",
        "shell",
        "--image=busybox",
        "--restart=Never",
        "--labels=app=shell",
        "--",
        "sleep",
        "3600",
    ],
];

#[tokio::test(flavor = "multi_thread")]
async fn typed_creates_send_protobuf_and_make_what_json_makes() {
    let (env, typed) = session().await;
    let json = Kubectl {
        kubeconfig: typed.kubeconfig.clone(),
        namespace: env.extra_namespace().await.unwrap(),
    };
    let (cert, key) = tls_files(&typed.namespace);
    let unique = env.name("okt");
    let log = tokio::task::spawn_blocking(move || {
        let mut log = String::new();
        for command in COMMANDS {
            let args = expand(command, &unique, &cert, &key);
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            log.push_str(&check_command(&typed, &json, &args));
        }
        log.push_str(&check_expose(&typed, &json));
        log.push_str(&check_scale(&typed));
        log.push_str(&check_apply_after_create(&typed));
        log.push_str(&check_content_types(&typed));
        log.push_str(&check_wide_tables(&typed, &unique));
        log.push_str(&check_explain(&typed, &unique));
        // Cluster-scoped objects outlive the namespaces (on a real cluster).
        let (agg, twin, agg_twin) = (
            format!("{unique}-agg"),
            format!("{unique}-json"),
            format!("{unique}-agg-json"),
        );
        typed.ok(&["delete", "clusterrole", &unique, &agg, &twin, &agg_twin]);
        typed.ok(&["delete", "priorityclass", &unique, &twin]);
        typed.ok(&["delete", "namespace", &unique, &twin, "--wait=false"]);
        log
    })
    .await
    .unwrap();
    println!("{log}");
    env.stop().await;
}

/// `{}` replaced by a unique name, `@crt`/`@key` by the files' paths.
fn expand(command: &[&str], unique: &str, cert: &str, key: &str) -> Vec<String> {
    command
        .iter()
        .map(|a| {
            a.replace("{}", unique)
                .replace("@crt", cert)
                .replace("@key", key)
        })
        .collect()
}

/// `args` with `flags` added before a `--` (whatever follows it is the
/// container's command).
fn with<'a>(args: &[&'a str], flags: &[&'a str]) -> Vec<&'a str> {
    let at = args.iter().position(|a| *a == "--").unwrap_or(args.len());
    let mut out = args[..at].to_vec();
    out.extend(flags);
    out.extend(&args[at..]);
    out
}

/// The object's kind/name as kubectl names it, from `-o name`.
fn created_name(k: &Kubectl, args: &[&str]) -> String {
    k.ok(&with(args, &["-o", "name"])).trim().to_owned()
}

/// Runs `args` typed (protobuf) in one namespace, its JSON twin in the other,
/// with a server-side dry run first, and compares the two objects.
fn check_command(typed: &Kubectl, json: &Kubectl, args: &[&str]) -> String {
    let name = created_name(typed, &with(args, &["--dry-run=server"]));
    let gone = typed.run(&["get", &name]);
    assert!(
        !gone.status.success(),
        "{name} exists after --dry-run=server"
    );

    let created = created_name(typed, args);
    assert_eq!(created, name, "kubectl {}", args.join(" "));
    let cluster_scoped = matches!(args[1], "namespace" | "clusterrole" | "priorityclass");
    let from_json = if cluster_scoped {
        // One name per cluster: the JSON twin gets a suffix, removed below.
        let mut renamed = args.to_vec();
        let twin = format!("{}-json", args[2]);
        renamed[2] = &twin;
        json_twin(json, &renamed)
    } else {
        json_twin(json, args)
    };
    let mut a = comparable(&get(typed, &name), cluster_scoped);
    let mut b = comparable(&get(json, &from_json), cluster_scoped);
    if args[1] == "quota" {
        // Usage counts each namespace's own objects.
        for o in [&mut a, &mut b] {
            o.as_object_mut().unwrap().remove("status");
        }
    }
    assert_eq!(
        a,
        b,
        "kubectl {}: protobuf and JSON creates differ",
        args.join(" ")
    );
    format!("$ kubectl {}  -> {name}, same as JSON\n", args.join(" "))
}

/// Creates, through JSON, what `args` would create: kubectl's own JSON of the
/// object (`--dry-run=client -o json`) sent with `kubectl create -f`.
fn json_twin(k: &Kubectl, args: &[&str]) -> String {
    let body = k.ok(&with(args, &["--dry-run=client", "-o", "json"]));
    let file = std::env::temp_dir().join(format!("{}-{}.json", k.namespace, args[2]));
    std::fs::write(&file, body).unwrap();
    let name = k.ok(&["create", "-f", &file.display().to_string(), "-o", "name"]);
    let _ = std::fs::remove_file(&file);
    name.trim().to_owned()
}

fn get(k: &Kubectl, name: &str) -> Value {
    serde_json::from_str(&k.ok(&["get", name, "-o", "json"])).unwrap()
}

/// What must agree between the two copies (`e2e::support::comparable_object`),
/// and for cluster-scoped objects also without the name and the label that
/// repeats it.
fn comparable(obj: &Value, cluster_scoped: bool) -> Value {
    let mut obj = comparable_object(obj, &[]);
    if cluster_scoped {
        let meta = obj["metadata"].as_object_mut().unwrap();
        meta.remove("name");
        if let Some(labels) = meta.get_mut("labels").and_then(Value::as_object_mut) {
            labels.remove("kubernetes.io/metadata.name");
        }
    }
    obj
}

/// `kubectl expose` reads the Deployment (protobuf answer) and creates a
/// Service from its selector and ports (protobuf body).
fn check_expose(typed: &Kubectl, json: &Kubectl) -> String {
    let args = [
        "expose",
        "deployment",
        "web",
        "--name=web-svc",
        "--port=8080",
        "--target-port=80",
    ];
    typed.ok(&with(&args, &["--dry-run=server"]));
    typed.ok(&args);
    json_twin(json, &args);
    let a = comparable(&get(typed, "service/web-svc"), false);
    let b = comparable(&get(json, "service/web-svc"), false);
    assert_eq!(a, b, "kubectl expose: protobuf and JSON creates differ");
    assert_eq!(a["spec"]["selector"]["app"], "web");
    "$ kubectl expose deployment web --name=web-svc --port=8080 --target-port=80  -> same as JSON\n"
        .into()
}

/// `kubectl scale` (the scale subresource, with a server-side dry run) and
/// `kubectl get componentstatuses`.
fn check_scale(k: &Kubectl) -> String {
    let replicas = |k: &Kubectl| {
        k.ok(&[
            "get",
            "deployment",
            "web",
            "-o",
            "jsonpath={.spec.replicas}",
        ])
    };
    k.ok(&[
        "scale",
        "deployment",
        "web",
        "--replicas=3",
        "--dry-run=server",
    ]);
    assert_eq!(replicas(k), "0");
    k.ok(&["scale", "deployment", "web", "--replicas=3"]);
    assert_eq!(replicas(k), "3");
    let out = k.run(&["get", "componentstatuses"]);
    assert!(out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("etcd-0") && stdout.contains("scheduler"),
        "{stdout}"
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("v1 ComponentStatus is deprecated"));
    format!(
        "$ kubectl scale deployment web --replicas=3  -> 3
$ kubectl get componentstatuses
{stdout}"
    )
}

/// `kubectl create -f` then `kubectl apply --server-side -f` of the same
/// file shares ownership (equal values are never conflicts, whatever the
/// server defaulted); a changed image conflicts with the creator; `diff`
/// shows it; `wait --for=jsonpath` sees the replicas.
fn check_apply_after_create(k: &Kubectl) -> String {
    let manifest = |image: &str| {
        format!(
            "apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: shared, labels: {{app: shared}}}}\n\
             spec:\n  replicas: 2\n  selector: {{matchLabels: {{app: shared}}}}\n  template:\n    \
             metadata: {{labels: {{app: shared}}}}\n    spec:\n      containers:\n      \
             - {{name: nginx, image: {image}, ports: [{{containerPort: 80}}], env: [{{name: A, value: '1'}}]}}\n"
        )
    };
    let file = std::env::temp_dir().join(format!("{}-shared.yaml", k.namespace));
    std::fs::write(&file, manifest("nginx:1.27")).unwrap();
    let path = file.display().to_string();
    k.ok(&["create", "-f", &path]);
    k.ok(&["apply", "--server-side", "-f", &path]);
    std::fs::write(&file, manifest("nginx:1.28")).unwrap();
    let conflict = k.run(&["apply", "--server-side", "-f", &path]);
    let stderr = String::from_utf8_lossy(&conflict.stderr).into_owned();
    assert!(!conflict.status.success());
    assert!(
        stderr.contains("Apply failed with 1 conflict: conflict with \"kubectl-create\"")
            && stderr.contains(".spec.template.spec.containers[name=\"nginx\"].image"),
        "{stderr}"
    );
    let diff = k.run(&["diff", "-f", &path]);
    let shown = String::from_utf8_lossy(&diff.stdout).into_owned();
    assert_eq!(
        diff.status.code(),
        Some(1),
        "kubectl diff exits 1 when it finds a difference"
    );
    assert!(shown.contains("+        image: nginx:1.28"), "{shown}");
    k.ok(&[
        "wait",
        "--for=jsonpath={.spec.replicas}=2",
        "deployment/shared",
        "--timeout=10s",
    ]);
    let _ = std::fs::remove_file(&file);
    format!(
        "$ kubectl create -f shared.yaml; kubectl apply --server-side -f shared.yaml  -> shared\n{stderr}"
    )
}

/// `-v=8` shows protobuf both ways for a typed create, and JSON for a
/// custom-resource-free `get -o json` of a built-in kind.
fn check_content_types(k: &Kubectl) -> String {
    let out = k.run(&[
        "create",
        "configmap",
        "traced",
        "--from-literal=a=b",
        "-v=8",
    ]);
    assert!(out.status.success());
    let trace = String::from_utf8_lossy(&out.stderr);
    let request = "Content-Type: application/vnd.kubernetes.protobuf";
    let lines: Vec<&str> = trace.lines().filter(|l| l.contains(request)).collect();
    // The request's header and the response's.
    assert!(lines.len() >= 2, "{trace}");
    assert!(
        trace.contains("Accept: application/vnd.kubernetes.protobuf,application/json"),
        "{trace}"
    );
    assert!(trace.contains("201 Created"), "{trace}");
    let created = get(k, "configmap/traced");
    assert_eq!(created["data"]["a"], "b");
    format!(
        "$ kubectl create configmap traced --from-literal=a=b -v=8\n{}\n",
        lines.join("\n")
    )
}

/// `kubectl get <resource> -o wide` split into its header and the cells of
/// the row named `name` (kubectl aligns the columns, so a cell is the text
/// under its header; empty cells stay empty).
fn wide_row(k: &Kubectl, resource: &str, name: &str) -> Vec<(String, String)> {
    let out = k.ok(&["get", resource, name, "-o", "wide"]);
    let mut lines = out.lines();
    let header = lines.next().unwrap_or_default();
    let row = lines.next().unwrap_or_else(|| panic!("no row: {out}"));
    // Columns start where a header word follows two or more spaces.
    let mut starts = vec![0];
    let bytes = header.as_bytes();
    for i in 2..bytes.len() {
        if bytes[i] != b' ' && bytes[i - 1] == b' ' && bytes[i - 2] == b' ' {
            starts.push(i);
        }
    }
    let cell = |line: &str, from: usize, to: Option<usize>| {
        let to = to.unwrap_or(line.len()).min(line.len());
        line.get(from.min(to)..to)
            .unwrap_or_default()
            .trim()
            .to_owned()
    };
    (0..starts.len())
        .map(|i| {
            let (from, to) = (starts[i], starts.get(i + 1).copied());
            (cell(header, from, to), cell(row, from, to))
        })
        .collect()
}

/// A Table's columns and the cell expected under each (`*`: any).
type Columns<'a> = &'a [(&'a str, &'a str)];

/// The columns of kube-apiserver's printers for the objects the commands
/// above made, `-o wide` included, and what they show (ages aside).
fn check_wide_tables(k: &Kubectl, unique: &str) -> String {
    let any = "*";
    let expected: &[(&str, &str, Columns)] = &[
        (
            "deployment",
            "web",
            &[
                ("NAME", "web"),
                ("READY", "0/3"),
                ("UP-TO-DATE", "0"),
                ("AVAILABLE", "0"),
                ("AGE", any),
                ("CONTAINERS", "nginx"),
                ("IMAGES", "nginx:1.27"),
                ("SELECTOR", "app=web"),
            ],
        ),
        (
            "pod",
            "shell",
            &[
                ("NAME", "shell"),
                ("READY", "0/1"),
                ("STATUS", "Pending"),
                ("RESTARTS", "0"),
                ("AGE", any),
                ("IP", "<none>"),
                ("NODE", "<none>"),
                ("NOMINATED NODE", "<none>"),
                ("READINESS GATES", "<none>"),
            ],
        ),
        (
            "service",
            "api",
            &[
                ("NAME", "api"),
                ("TYPE", "ClusterIP"),
                ("CLUSTER-IP", any),
                ("EXTERNAL-IP", "<none>"),
                ("PORT(S)", "80/TCP,443/TCP"),
                ("AGE", any),
                ("SELECTOR", "app=api"),
            ],
        ),
        (
            "secret",
            "serving",
            &[
                ("NAME", "serving"),
                ("TYPE", "kubernetes.io/tls"),
                ("DATA", "2"),
                ("AGE", any),
            ],
        ),
        (
            "secret",
            "pull",
            &[
                ("NAME", "pull"),
                ("TYPE", "kubernetes.io/dockerconfigjson"),
                ("DATA", "1"),
                ("AGE", any),
            ],
        ),
        (
            "configmap",
            "settings",
            &[("NAME", "settings"), ("DATA", "2"), ("AGE", any)],
        ),
        (
            "serviceaccount",
            "robot",
            &[("NAME", "robot"), ("SECRETS", "0"), ("AGE", any)],
        ),
        (
            "job",
            "once",
            &[
                ("NAME", "once"),
                ("STATUS", "Running"),
                ("COMPLETIONS", "0/1"),
                ("DURATION", ""),
                ("AGE", any),
                ("CONTAINERS", "once"),
                ("IMAGES", "busybox"),
                ("SELECTOR", any),
            ],
        ),
        (
            "cronjob",
            "nightly",
            &[
                ("NAME", "nightly"),
                ("SCHEDULE", "0 3 * * *"),
                ("TIMEZONE", "<none>"),
                ("SUSPEND", "False"),
                ("ACTIVE", "0"),
                ("LAST SCHEDULE", "<none>"),
                ("AGE", any),
                ("CONTAINERS", "nightly"),
                ("IMAGES", "busybox"),
                ("SELECTOR", "<none>"),
            ],
        ),
        (
            "resourcequota",
            "limits",
            &[
                ("NAME", "limits"),
                ("REQUEST", any),
                ("LIMIT", ""),
                ("AGE", any),
            ],
        ),
        (
            "poddisruptionbudget",
            "web",
            &[
                ("NAME", "web"),
                ("MIN AVAILABLE", "0"),
                ("MAX UNAVAILABLE", "N/A"),
                ("ALLOWED DISRUPTIONS", any),
                ("AGE", any),
            ],
        ),
        (
            "ingress",
            "web",
            &[
                ("NAME", "web"),
                ("CLASS", "nginx"),
                ("HOSTS", "web.example.com"),
                ("ADDRESS", ""),
                ("PORTS", "80"),
                ("AGE", any),
            ],
        ),
        (
            "role",
            "pod-reader",
            &[("NAME", "pod-reader"), ("CREATED AT", any)],
        ),
        (
            "rolebinding",
            "ivy-reads",
            &[
                ("NAME", "ivy-reads"),
                ("ROLE", "Role/pod-reader"),
                ("AGE", any),
                ("USERS", "ivy"),
                ("GROUPS", ""),
                ("SERVICEACCOUNTS", "demo/robot"),
            ],
        ),
        (
            "priorityclass",
            unique,
            &[
                ("NAME", unique),
                ("VALUE", "1000"),
                ("GLOBAL-DEFAULT", "false"),
                ("AGE", any),
                ("PREEMPTIONPOLICY", "Never"),
            ],
        ),
        (
            "namespace",
            unique,
            &[("NAME", unique), ("STATUS", "Active"), ("AGE", any)],
        ),
    ];
    let mut log = String::new();
    for (resource, name, columns) in expected {
        let row = wide_row(k, resource, name);
        let headers: Vec<&str> = row.iter().map(|(h, _)| h.as_str()).collect();
        let want: Vec<&str> = columns.iter().map(|(h, _)| *h).collect();
        assert_eq!(headers, want, "kubectl get {resource} -o wide: columns");
        for ((header, cell), (_, value)) in row.iter().zip(columns.iter()) {
            if *value != any {
                assert_eq!(
                    cell, value,
                    "kubectl get {resource} {name} -o wide: {header}"
                );
            }
        }
        let quota = &row.iter().find(|(h, _)| h == "REQUEST");
        if let Some((_, request)) = quota {
            assert!(
                request.contains("pods: ") && request.contains("services.nodeports: "),
                "{request}"
            );
        }
        log.push_str(&format!(
            "$ kubectl get {resource} {name} -o wide  -> {}\n",
            headers.join(" | ")
        ));
    }
    log
}

/// `kubectl explain` of a built-in field (OpenAPI v3) and of the same field
/// through OpenAPI v2, and of a custom resource's field from its CRD schema.
fn check_explain(k: &Kubectl, unique: &str) -> String {
    let v3 = k.ok(&["explain", "deployment.spec.replicas"]);
    for line in [
        "GROUP:      apps",
        "KIND:       Deployment",
        "VERSION:    v1",
        "FIELD: replicas <integer>",
        "Number of desired pods.",
    ] {
        assert!(v3.contains(line), "explain (v3) lacks {line:?}:\n{v3}");
    }
    let v2 = k.ok(&[
        "explain",
        "pods.spec.containers.image",
        "--output=plaintext-openapiv2",
    ]);
    assert!(
        v2.contains("FIELD:    image <string>") && v2.contains("Container image name."),
        "{v2}"
    );
    let fields = k.ok(&["explain", "configmap"]);
    for field in [
        "apiVersion\t<string>",
        "data\t<map[string]string>",
        "metadata\t<ObjectMeta>",
    ] {
        assert!(
            fields.contains(field),
            "explain configmap lacks {field:?}:\n{fields}"
        );
    }
    let group = format!("{unique}.example.com");
    let crd = format!(
        "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\n\
         metadata: {{name: gadgets.{group}}}\nspec:\n  group: {group}\n  \
         names: {{plural: gadgets, singular: gadget, kind: Gadget}}\n  scope: Namespaced\n  \
         versions:\n  - name: v1\n    served: true\n    storage: true\n    schema:\n      \
         openAPIV3Schema:\n        type: object\n        properties:\n          spec:\n            \
         type: object\n            properties:\n              size: {{type: integer, description: How big the gadget is.}}\n"
    );
    let file = std::env::temp_dir().join(format!("{}-crd.yaml", k.namespace));
    std::fs::write(&file, crd).unwrap();
    k.ok(&["create", "-f", &file.display().to_string()]);
    let _ = std::fs::remove_file(&file);
    let crd_name = format!("crd/gadgets.{group}");
    k.ok(&[
        "wait",
        "--for=condition=Established",
        &crd_name,
        "--timeout=30s",
    ]);
    let resource = format!("gadgets.{group}");
    // kubectl caches discovery; the new group shows up once it refreshes.
    let explained = (0..50)
        .find_map(|_| {
            let out = k.run(&["explain", &format!("{resource}.spec.size")]);
            if out.status.success() {
                return Some(String::from_utf8_lossy(&out.stdout).into_owned());
            }
            std::thread::sleep(std::time::Duration::from_millis(200));
            None
        })
        .unwrap_or_else(|| panic!("kubectl explain {resource}.spec.size never succeeded"));
    assert!(
        explained.contains("FIELD: size <integer>") && explained.contains("How big the gadget is."),
        "{explained}"
    );
    k.ok(&["delete", &crd_name]);
    format!(
        "$ kubectl explain deployment.spec.replicas\n{v3}$ kubectl explain {resource}.spec.size\n{explained}"
    )
}

/// A self-signed certificate and its key, as PEM files.
fn tls_files(prefix: &str) -> (String, String) {
    let key = rcgen::KeyPair::generate().unwrap();
    let params = rcgen::CertificateParams::new(vec!["web.example.com".into()]).unwrap();
    let cert = params.self_signed(&key).unwrap();
    let dir = std::env::temp_dir();
    let (c, k) = (
        dir.join(format!("{prefix}-tls.crt")),
        dir.join(format!("{prefix}-tls.key")),
    );
    std::fs::write(&c, cert.pem()).unwrap();
    std::fs::write(&k, key.serialize_pem()).unwrap();
    (c.display().to_string(), k.display().to_string())
}

/// The everyday edits, each first with `--dry-run=server` (nothing changes),
/// then for real: `set image`, `label`, `annotate`, `patch` of all three
/// types, `get -o jsonpath`, `describe`, `delete`; and `drain` of a
/// simulated node, refused by a PodDisruptionBudget, then allowed.
#[tokio::test(flavor = "multi_thread")]
async fn edits_dry_runs_and_drain() {
    let (env, k) = session().await;
    let node = env.name("node");
    env.simulate(operatorkit::testing::SimulationOptions {
        nodes: 1,
        node_prefix: node.clone(),
        ..Default::default()
    })
    .await
    .unwrap();
    let node = format!("{node}-0");
    let log = tokio::task::spawn_blocking(move || {
        let mut log = String::new();
        k.ok(&["create", "deployment", "app", "--image=nginx:1.27", "--replicas=1"]);
        let image = || k.ok(&["get", "deploy", "app", "-o", "jsonpath={.spec.template.spec.containers[0].image}"]);
        let edits: &[(&[&str], &str)] = &[
            (&["set", "image", "deployment/app", "nginx=nginx:1.28"], "{.spec.template.spec.containers[0].image}"),
            (&["label", "deployment", "app", "tier=web"], "{.metadata.labels.tier}"),
            (&["annotate", "deployment", "app", "owner=ivy"], "{.metadata.annotations.owner}"),
            (&["patch", "deployment", "app", "--type=merge", "-p", r#"{"spec":{"minReadySeconds":5}}"#], "{.spec.minReadySeconds}"),
            (&["patch", "deployment", "app", "--type=strategic", "-p", r#"{"spec":{"template":{"spec":{"containers":[{"name":"nginx","env":[{"name":"A","value":"1"}]}]}}}}"#], "{.spec.template.spec.containers[0].env[0].value}"),
            (&["patch", "deployment", "app", "--type=json", "-p", r#"[{"op":"replace","path":"/spec/revisionHistoryLimit","value":3}]"#], "{.spec.revisionHistoryLimit}"),
        ];
        for (args, path) in edits {
            let read = || k.ok(&["get", "deploy", "app", "-o", &format!("jsonpath={path}")]);
            let before = read();
            let mut dry = args.to_vec();
            dry.push("--dry-run=server");
            k.ok(&dry);
            assert_eq!(read(), before, "kubectl {} --dry-run=server changed it", args.join(" "));
            k.ok(args);
            assert_ne!(read(), before, "kubectl {} changed nothing", args.join(" "));
            log.push_str(&format!("$ kubectl {} -> {}\n", args.join(" "), read()));
        }
        assert_eq!(image(), "nginx:1.28");
        let described = k.ok(&["describe", "deployment", "app"]);
        assert!(described.contains("nginx:1.28") && described.contains("tier=web"), "{described}");
        k.ok(&["delete", "deployment", "app", "--dry-run=server"]);
        k.ok(&["get", "deployment", "app"]);
        k.ok(&["delete", "deployment", "app"]);
        log.push_str(&drain(&k, &node));
        log
    })
    .await
    .unwrap();
    println!("{log}");
    env.stop().await;
}

/// A pod on `node` guarded by a budget that allows no disruption: drain
/// cordons the node and gives up; without the budget it evicts the pod.
fn drain(k: &Kubectl, node: &str) -> String {
    let pod = format!(
        r#"{{"apiVersion":"v1","kind":"Pod","metadata":{{"name":"guarded","labels":{{"app":"guarded"}}}},
        "spec":{{"nodeName":"{node}","containers":[{{"name":"c","image":"i"}}],
        "tolerations":[{{"operator":"Exists"}}]}}}}"#
    );
    let file = std::env::temp_dir().join(format!("{}-guarded.json", k.namespace));
    std::fs::write(&file, pod).unwrap();
    k.ok(&["create", "-f", &file.display().to_string()]);
    let _ = std::fs::remove_file(&file);
    k.ok(&[
        "create",
        "poddisruptionbudget",
        "guard",
        "--selector=app=guarded",
        "--min-available=1",
    ]);
    k.ok(&[
        "wait",
        "--for=condition=Ready",
        "pod/guarded",
        "--timeout=30s",
    ]);
    let only_ours = "--pod-selector=app=guarded";
    let refused = k.run(&[
        "drain",
        node,
        only_ours,
        "--timeout=3s",
        "--ignore-daemonsets",
        "--force",
    ]);
    let stderr = String::from_utf8_lossy(&refused.stderr).into_owned();
    assert!(!refused.status.success(), "{stderr}");
    assert!(stderr.contains("disruption budget"), "{stderr}");
    let cordoned = k.ok(&["get", "node", node, "-o", "jsonpath={.spec.unschedulable}"]);
    assert_eq!(cordoned, "true");
    k.ok(&["delete", "poddisruptionbudget", "guard"]);
    let drained = k.ok(&[
        "drain",
        node,
        only_ours,
        "--timeout=30s",
        "--ignore-daemonsets",
        "--force",
    ]);
    assert!(
        drained.contains("evicted") || drained.contains("drained"),
        "{drained}"
    );
    k.ok(&["uncordon", node]);
    format!(
        "$ kubectl drain {node} (budget allows none) -> refused, cordoned\n{stderr}$ kubectl drain {node}\n{drained}"
    )
}
