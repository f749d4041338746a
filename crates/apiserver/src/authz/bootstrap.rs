//! The roles and bindings a real kube-apiserver creates at start (its
//! `bootstrappolicy`), trimmed to what this server serves: `cluster-admin`
//! bound to `system:masters`, the discovery, basic-user and public-info
//! roles every user has, and the aggregated `admin`/`edit`/`view` roles
//! (kept current by the aggregation controller, as kube-controller-manager
//! does).

use serde_json::{Value, json};

const BOOTSTRAP_LABEL: &str = "kubernetes.io/bootstrapping";
const AGGREGATE: &str = "rbac.authorization.k8s.io/aggregate-to-";

fn metadata(name: &str, labels: Value) -> Value {
    let mut labels = labels;
    labels[BOOTSTRAP_LABEL] = "rbac-defaults".into();
    json!({
        "name": name,
        "labels": labels,
        "annotations": {"rbac.authorization.kubernetes.io/autoupdate": "true"},
    })
}

fn cluster_role(name: &str, labels: Value, rules: Value) -> Value {
    json!({
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
        "metadata": metadata(name, labels),
        "rules": rules,
    })
}

fn aggregated(name: &str, labels: Value, to: &str) -> Value {
    let mut role = cluster_role(name, labels, json!([]));
    role["aggregationRule"] = json!({
        "clusterRoleSelectors": [{"matchLabels": {format!("{AGGREGATE}{to}"): "true"}}]
    });
    role
}

fn binding(name: &str, role: &str, groups: &[&str]) -> Value {
    let subjects: Vec<Value> = groups
        .iter()
        .map(|g| json!({"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": g}))
        .collect();
    json!({
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
        "metadata": metadata(name, json!({})),
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
        "subjects": subjects,
    })
}

const READ: [&str; 3] = ["get", "list", "watch"];
const WRITE: [&str; 5] = ["create", "delete", "deletecollection", "patch", "update"];

/// Resources `view` reads and `edit` writes, by API group.
fn workloads() -> Vec<(&'static str, Vec<&'static str>)> {
    vec![
        (
            "",
            vec![
                "configmaps",
                "endpoints",
                "persistentvolumeclaims",
                "pods",
                "replicationcontrollers",
                "replicationcontrollers/scale",
                "services",
            ],
        ),
        (
            "apps",
            vec![
                "daemonsets",
                "deployments",
                "deployments/scale",
                "replicasets",
                "replicasets/scale",
                "statefulsets",
                "statefulsets/scale",
            ],
        ),
        ("autoscaling", vec!["horizontalpodautoscalers"]),
        ("batch", vec!["cronjobs", "jobs"]),
        ("networking.k8s.io", vec!["ingresses", "networkpolicies"]),
        ("policy", vec!["poddisruptionbudgets"]),
    ]
}

fn rules(verbs: &[&str], sets: &[(&str, Vec<&str>)]) -> Vec<Value> {
    sets.iter()
        .map(|(group, resources)| json!({"apiGroups": [group], "resources": resources, "verbs": verbs}))
        .collect()
}

/// Every bootstrap ClusterRole and ClusterRoleBinding.
pub(crate) fn policy() -> Vec<Value> {
    let view = {
        let mut r = rules(&READ, &workloads());
        r.extend(rules(
            &READ,
            &[
                (
                    "",
                    vec![
                        "events",
                        "limitranges",
                        "namespaces",
                        "pods/log",
                        "pods/status",
                        "replicationcontrollers/status",
                        "resourcequotas",
                        "resourcequotas/status",
                        "serviceaccounts",
                    ],
                ),
                ("apps", vec!["controllerrevisions"]),
                ("discovery.k8s.io", vec!["endpointslices"]),
                ("events.k8s.io", vec!["events"]),
            ],
        ));
        r
    };
    let edit = {
        let mut r = rules(&WRITE, &workloads());
        r.extend(rules(&READ, &[("", vec!["secrets"])]));
        r.extend(rules(&WRITE, &[("", vec!["secrets", "serviceaccounts"])]));
        r.push(
            json!({"apiGroups": [""], "resources": ["serviceaccounts/token"], "verbs": ["create"]}),
        );
        r
    };
    let admin = vec![
        json!({"apiGroups": ["rbac.authorization.k8s.io"], "resources": ["rolebindings", "roles"],
               "verbs": ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]}),
        json!({"apiGroups": ["authorization.k8s.io"], "resources": ["localsubjectaccessreviews"], "verbs": ["create"]}),
    ];
    let discovery = [
        "/api",
        "/api/*",
        "/apis",
        "/apis/*",
        "/healthz",
        "/livez",
        "/openapi",
        "/openapi/*",
        "/readyz",
        "/version",
        "/version/",
    ];
    let public = ["/healthz", "/livez", "/readyz", "/version", "/version/"];
    vec![
        cluster_role(
            "cluster-admin",
            json!({}),
            json!([{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]},
                   {"nonResourceURLs": ["*"], "verbs": ["*"]}]),
        ),
        cluster_role(
            "system:discovery",
            json!({}),
            json!([{"nonResourceURLs": discovery, "verbs": ["get"]}]),
        ),
        cluster_role(
            "system:public-info-viewer",
            json!({}),
            json!([{"nonResourceURLs": public, "verbs": ["get"]}]),
        ),
        cluster_role(
            "system:basic-user",
            json!({}),
            json!([
                {"apiGroups": ["authorization.k8s.io"], "resources": ["selfsubjectaccessreviews", "selfsubjectrulesreviews"], "verbs": ["create"]},
                {"apiGroups": ["authentication.k8s.io"], "resources": ["selfsubjectreviews"], "verbs": ["create"]}
            ]),
        ),
        aggregated("admin", json!({}), "admin"),
        aggregated("edit", json!({format!("{AGGREGATE}admin"): "true"}), "edit"),
        aggregated("view", json!({format!("{AGGREGATE}edit"): "true"}), "view"),
        cluster_role(
            "system:aggregate-to-admin",
            json!({format!("{AGGREGATE}admin"): "true"}),
            admin.into(),
        ),
        cluster_role(
            "system:aggregate-to-edit",
            json!({format!("{AGGREGATE}edit"): "true"}),
            edit.into(),
        ),
        cluster_role(
            "system:aggregate-to-view",
            json!({format!("{AGGREGATE}view"): "true"}),
            view.into(),
        ),
        binding("cluster-admin", "cluster-admin", &["system:masters"]),
        binding(
            "system:discovery",
            "system:discovery",
            &["system:authenticated"],
        ),
        binding(
            "system:basic-user",
            "system:basic-user",
            &["system:authenticated"],
        ),
        binding(
            "system:public-info-viewer",
            "system:public-info-viewer",
            &["system:authenticated", "system:unauthenticated"],
        ),
    ]
}
