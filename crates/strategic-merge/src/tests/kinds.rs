//! Scenarios on built-in kinds: the table, kubectl-style patches on a Deployment, Service
//! ports, metadata (labels, annotations, finalizers, ownerReferences) and other kinds.

use serde_json::{Value, json};

use super::super::{FieldType, KINDS, Strategy, apply, lookup_path, patch_meta, schema::PatchMeta};
use super::check_with;

fn meta(group: &str, kind: &str) -> &'static PatchMeta {
    patch_meta(group, kind).unwrap()
}

fn deployment() -> Value {
    json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": "web",
            "namespace": "default",
            "uid": "d-uid",
            "labels": {"app": "web", "tier": "frontend"},
            "annotations": {"deployment.kubernetes.io/revision": "3"},
            "finalizers": ["example.com/protect"],
            "ownerReferences": [
                {"apiVersion": "v1", "kind": "ConfigMap", "name": "owner", "uid": "o-1"}
            ]
        },
        "spec": {
            "replicas": 3,
            "selector": {"matchLabels": {"app": "web"}},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {
                    "containers": [
                        {
                            "name": "app",
                            "image": "registry.example/app:1.0",
                            "ports": [{"containerPort": 8080, "protocol": "TCP"}],
                            "env": [{"name": "MODE", "value": "prod"}, {"name": "LOG", "value": "info"}],
                            "volumeMounts": [{"name": "data", "mountPath": "/data"}],
                            "resources": {"limits": {"cpu": "500m", "memory": "128Mi"}}
                        },
                        {"name": "sidecar", "image": "registry.example/proxy:2.1", "args": ["--port", "9000"]}
                    ],
                    "volumes": [{"name": "data", "emptyDir": {}}],
                    "tolerations": [{"key": "a", "operator": "Exists"}]
                }
            }
        },
        "status": {
            "observedGeneration": 7,
            "conditions": [
                {"type": "Available", "status": "True", "reason": "MinimumReplicasAvailable"},
                {"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable"}
            ]
        }
    })
}

fn containers(v: &Value) -> &Vec<Value> {
    v["spec"]["template"]["spec"]["containers"]
        .as_array()
        .unwrap()
}

fn patch_deployment(patch: Value) -> Value {
    apply(&deployment(), &patch, meta("apps", "Deployment")).unwrap()
}

#[test]
fn table_resolves_paths() {
    let containers = lookup_path(
        "apps",
        "Deployment",
        &["spec", "template", "spec", "containers"],
    )
    .unwrap();
    assert_eq!(containers.strategy, Strategy::Merge);
    assert_eq!(containers.merge_key, Some("name"));
    assert_eq!(containers.patch_strategy_tag(), Some("merge"));
    assert_eq!(containers.child().unwrap().type_name, "Container");

    let volumes = lookup_path("", "Pod", &["spec", "volumes"]).unwrap();
    assert_eq!(volumes.patch_strategy_tag(), Some("merge,retainKeys"));
    assert_eq!(volumes.merge_key, Some("name"));

    for (group, kind, path, key) in [
        (
            "apps",
            "StatefulSet",
            &["spec", "template", "spec", "initContainers"][..],
            "name",
        ),
        (
            "apps",
            "DaemonSet",
            &["spec", "template", "spec", "containers", "ports"][..],
            "containerPort",
        ),
        (
            "batch",
            "Job",
            &["spec", "template", "spec", "containers", "env"][..],
            "name",
        ),
        (
            "batch",
            "CronJob",
            &[
                "spec",
                "jobTemplate",
                "spec",
                "template",
                "spec",
                "containers",
                "volumeMounts",
            ][..],
            "mountPath",
        ),
        (
            "",
            "Pod",
            &["spec", "ephemeralContainers", "volumeDevices"][..],
            "devicePath",
        ),
        ("", "Pod", &["spec", "hostAliases"][..], "ip"),
        ("", "Pod", &["spec", "imagePullSecrets"][..], "name"),
        (
            "",
            "Pod",
            &["spec", "topologySpreadConstraints"][..],
            "topologyKey",
        ),
        ("", "Pod", &["spec", "schedulingGates"][..], "name"),
        ("", "Pod", &["spec", "resourceClaims"][..], "name"),
        ("", "Pod", &["status", "conditions"][..], "type"),
        ("", "Pod", &["status", "podIPs"][..], "ip"),
        ("", "Pod", &["status", "hostIPs"][..], "ip"),
        (
            "",
            "Pod",
            &[
                "spec",
                "volumes",
                "ephemeral",
                "volumeClaimTemplate",
                "metadata",
                "ownerReferences",
            ][..],
            "uid",
        ),
        ("", "Service", &["spec", "ports"][..], "port"),
        ("", "Service", &["status", "conditions"][..], "type"),
        ("", "Node", &["status", "addresses"][..], "type"),
        ("", "Node", &["status", "conditions"][..], "type"),
        ("", "Namespace", &["status", "conditions"][..], "type"),
        ("", "ServiceAccount", &["secrets"][..], "name"),
        (
            "",
            "PersistentVolumeClaim",
            &["status", "conditions"][..],
            "type",
        ),
        (
            "",
            "ReplicationController",
            &["spec", "template", "spec", "containers"][..],
            "name",
        ),
        (
            "",
            "PodTemplate",
            &["template", "spec", "containers"][..],
            "name",
        ),
        ("apps", "Deployment", &["status", "conditions"][..], "type"),
        ("apps", "DaemonSet", &["status", "conditions"][..], "type"),
        ("apps", "StatefulSet", &["status", "conditions"][..], "type"),
        ("apps", "ReplicaSet", &["status", "conditions"][..], "type"),
        ("batch", "Job", &["status", "conditions"][..], "type"),
        (
            "policy",
            "PodDisruptionBudget",
            &["status", "conditions"][..],
            "type",
        ),
        (
            "rbac.authorization.k8s.io",
            "Role",
            &["metadata", "ownerReferences"][..],
            "uid",
        ),
    ] {
        let f = lookup_path(group, kind, path)
            .unwrap_or_else(|| panic!("{group}/{kind} {path:?} not found"));
        assert_eq!(f.merge_key, Some(key), "{group}/{kind} {path:?}");
        assert_eq!(f.strategy, Strategy::Merge, "{group}/{kind} {path:?}");
    }

    let finalizers = lookup_path("", "ConfigMap", &["metadata", "finalizers"]).unwrap();
    assert_eq!(
        (finalizers.strategy, finalizers.merge_key),
        (Strategy::Merge, None)
    );
    assert!(matches!(finalizers.ty, FieldType::ListOfScalars("string")));
    let pod_cidrs = lookup_path("", "Node", &["spec", "podCIDRs"]).unwrap();
    assert_eq!(pod_cidrs.patch_strategy_tag(), Some("merge"));
    let strategy = lookup_path("apps", "Deployment", &["spec", "strategy"]).unwrap();
    assert_eq!(strategy.patch_strategy_tag(), Some("retainKeys"));
    let selector = lookup_path("policy", "PodDisruptionBudget", &["spec", "selector"]).unwrap();
    assert_eq!(selector.patch_strategy_tag(), Some("replace"));

    // Untagged fields are not listed.
    assert!(lookup_path("", "Pod", &["spec", "tolerations"]).is_none());
    assert!(lookup_path("", "Pod", &["spec", "containers", "envFrom"]).is_none());
    assert!(lookup_path("rbac.authorization.k8s.io", "Role", &["rules"]).is_none());
    assert!(lookup_path("rbac.authorization.k8s.io", "RoleBinding", &["subjects"]).is_none());
    assert!(lookup_path("", "ServiceAccount", &["imagePullSecrets"]).is_none());
    assert!(lookup_path("", "Endpoints", &["subsets"]).is_none());
    assert!(lookup_path("apps", "Deployment", &[]).is_none());
    assert!(patch_meta("example.com", "Widget").is_none());
    assert!(patch_meta("", "Deployment").is_none());

    // Every kind has the ObjectMeta tags.
    for (group, kind, _) in KINDS {
        let f = lookup_path(group, kind, &["metadata", "finalizers"]).unwrap();
        assert_eq!(f.strategy, Strategy::Merge, "{group}/{kind}");
    }
}

#[test]
fn deployment_change_image_by_name() {
    let out = patch_deployment(json!({"spec": {"template": {"spec": {"containers": [
        {"name": "sidecar", "image": "registry.example/proxy:2.2"}
    ]}}}}));
    let c = containers(&out);
    assert_eq!(c.len(), 2);
    assert_eq!(c[0]["name"], "app");
    assert_eq!(c[0]["image"], "registry.example/app:1.0");
    assert_eq!(c[1]["image"], "registry.example/proxy:2.2");
    assert_eq!(c[1]["args"], json!(["--port", "9000"]));
    // Everything else untouched.
    let mut expected = deployment();
    expected["spec"]["template"]["spec"]["containers"][1]["image"] =
        json!("registry.example/proxy:2.2");
    assert_eq!(out, expected);
}

#[test]
fn deployment_add_and_change_env() {
    // A new env var (no $setElementOrder) is placed before the existing ones, as in Kubernetes.
    let out = patch_deployment(json!({"spec": {"template": {"spec": {"containers": [
        {"name": "app", "env": [{"name": "NEW", "value": "1"}]}
    ]}}}}));
    assert_eq!(
        containers(&out)[0]["env"],
        json!([{"name": "NEW", "value": "1"}, {"name": "MODE", "value": "prod"}, {"name": "LOG", "value": "info"}])
    );
    // Changing one keeps the others; `value: null` drops the field of that element.
    let out = patch_deployment(json!({"spec": {"template": {"spec": {"containers": [
        {"name": "app", "env": [{"name": "LOG", "value": null, "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}]}
    ]}}}}));
    assert_eq!(
        containers(&out)[0]["env"],
        json!([{"name": "MODE", "value": "prod"},
               {"name": "LOG", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}])
    );
    // kubectl apply sends the order explicitly: the new variable goes where it says.
    let out = patch_deployment(json!({"spec": {"template": {"spec": {
        "$setElementOrder/containers": [{"name": "app"}, {"name": "sidecar"}],
        "containers": [{
            "name": "app",
            "$setElementOrder/env": [{"name": "MODE"}, {"name": "LOG"}, {"name": "NEW"}],
            "env": [{"name": "NEW", "value": "1"}]
        }]
    }}}}));
    assert_eq!(
        containers(&out)[0]["env"],
        json!([{"name": "MODE", "value": "prod"}, {"name": "LOG", "value": "info"}, {"name": "NEW", "value": "1"}])
    );
    assert_eq!(containers(&out)[1]["name"], "sidecar");
}

#[test]
fn deployment_delete_container() {
    let out = patch_deployment(json!({"spec": {"template": {"spec": {"containers": [
        {"name": "sidecar", "$patch": "delete"}
    ]}}}}));
    let c = containers(&out);
    assert_eq!(c.len(), 1);
    assert_eq!(c[0]["name"], "app");
    // Deleting an absent element is a no-op.
    let out = patch_deployment(json!({"spec": {"template": {"spec": {"containers": [
        {"name": "nope", "$patch": "delete"}
    ]}}}}));
    assert_eq!(out, deployment());
    // kubectl apply removing the sidecar and adding a container.
    let out = patch_deployment(json!({"spec": {"template": {"spec": {
        "$setElementOrder/containers": [{"name": "init"}, {"name": "app"}],
        "containers": [{"name": "init", "image": "busybox"}, {"name": "sidecar", "$patch": "delete"}]
    }}}}));
    let names: Vec<&Value> = containers(&out).iter().map(|c| &c["name"]).collect();
    assert_eq!(names, [&json!("init"), &json!("app")]);
}

#[test]
fn deployment_replace_and_atomic_lists() {
    // `$patch: replace` on the containers list.
    let out = patch_deployment(json!({"spec": {"template": {"spec": {"containers": [
        {"$patch": "replace"}, {"name": "only", "image": "x"}
    ]}}}}));
    assert_eq!(
        containers(&out),
        &vec![json!({"name": "only", "image": "x"})]
    );
    // Tolerations and args have no strategy: replaced.
    let out = patch_deployment(json!({"spec": {"template": {"spec": {
        "tolerations": [{"key": "b", "operator": "Exists"}],
        "containers": [{"name": "sidecar", "args": ["--verbose"]}]
    }}}}));
    assert_eq!(
        out["spec"]["template"]["spec"]["tolerations"],
        json!([{"key": "b", "operator": "Exists"}])
    );
    assert_eq!(containers(&out)[1]["args"], json!(["--verbose"]));
    // Ports merge by containerPort.
    let out = patch_deployment(json!({"spec": {"template": {"spec": {"containers": [
        {"name": "app", "ports": [{"containerPort": 8080, "name": "http"}, {"containerPort": 9090}]}
    ]}}}}));
    assert_eq!(
        containers(&out)[0]["ports"],
        json!([{"containerPort": 8080, "protocol": "TCP", "name": "http"}, {"containerPort": 9090}])
    );
}

#[test]
fn deployment_strategy_retain_keys_and_volumes() {
    // kubectl apply switching to Recreate clears rollingUpdate through $retainKeys.
    let out = patch_deployment(json!({"spec": {"strategy": {
        "$retainKeys": ["type"], "type": "Recreate", "rollingUpdate": null
    }}}));
    assert_eq!(out["spec"]["strategy"], json!({"type": "Recreate"}));
    // Without the directive the stale field would stay.
    let out = patch_deployment(json!({"spec": {"strategy": {"type": "Recreate"}}}));
    assert_eq!(out["spec"]["strategy"]["rollingUpdate"]["maxSurge"], "25%");
    // Changing a volume's source: retainKeys drops the old source.
    let out = patch_deployment(json!({"spec": {"template": {"spec": {"volumes": [
        {"$retainKeys": ["hostPath", "name"], "name": "data", "hostPath": {"path": "/srv"}}
    ]}}}}));
    assert_eq!(
        out["spec"]["template"]["spec"]["volumes"],
        json!([{"name": "data", "hostPath": {"path": "/srv"}}])
    );
    // Volume mounts merge by mountPath.
    let out = patch_deployment(json!({"spec": {"template": {"spec": {"containers": [
        {"name": "app", "volumeMounts": [{"mountPath": "/data", "readOnly": true}]}
    ]}}}}));
    assert_eq!(
        containers(&out)[0]["volumeMounts"],
        json!([{"name": "data", "mountPath": "/data", "readOnly": true}])
    );
}

#[test]
fn labels_and_annotations() {
    let d = meta("apps", "Deployment");
    let mut expected = deployment();
    expected["metadata"]["labels"]["a"] = json!("b");
    check_with(
        d,
        "add label",
        &deployment(),
        &json!({"metadata": {"labels": {"a": "b"}}}),
        &expected,
    );

    let labelled = expected.clone();
    check_with(
        d,
        "remove label",
        &labelled,
        &json!({"metadata": {"labels": {"a": null}}}),
        &deployment(),
    );
    // Removing an absent label is a no-op.
    check_with(
        d,
        "remove absent label",
        &deployment(),
        &json!({"metadata": {"labels": {"zz": null}}}),
        &deployment(),
    );
    // kubectl annotate --overwrite and removal together.
    let out = apply(
        &deployment(),
        &json!({"metadata": {"annotations": {"note": "x", "deployment.kubernetes.io/revision": null}}}),
        d,
    )
    .unwrap();
    assert_eq!(out["metadata"]["annotations"], json!({"note": "x"}));
    // Labels on an object without any: the map is created, nulls dropped.
    let cm = meta("", "ConfigMap");
    let out = apply(
        &json!({"metadata": {"name": "c"}, "data": {"k": "v"}}),
        &json!({"metadata": {"labels": {"a": "b", "gone": null}}}),
        cm,
    )
    .unwrap();
    assert_eq!(out["metadata"]["labels"], json!({"a": "b"}));
    // Replace all labels.
    let out = apply(
        &deployment(),
        &json!({"metadata": {"labels": {"$patch": "replace", "only": "this"}}}),
        d,
    )
    .unwrap();
    assert_eq!(out["metadata"]["labels"], json!({"only": "this"}));
}

#[test]
fn finalizers_and_owner_references() {
    let d = meta("apps", "Deployment");
    // Add: set union (new ones before existing ones, as Kubernetes orders them).
    let out = apply(
        &deployment(),
        &json!({"metadata": {"finalizers": ["a/b", "example.com/protect"]}}),
        d,
    )
    .unwrap();
    assert_eq!(
        out["metadata"]["finalizers"],
        json!(["a/b", "example.com/protect"])
    );
    let out = apply(
        &deployment(),
        &json!({"metadata": {"finalizers": ["a/b"]}}),
        d,
    )
    .unwrap();
    assert_eq!(
        out["metadata"]["finalizers"],
        json!(["a/b", "example.com/protect"])
    );
    // Remove one.
    let out = apply(
        &deployment(),
        &json!({"metadata": {"$deleteFromPrimitiveList/finalizers": ["example.com/protect"]}}),
        d,
    )
    .unwrap();
    assert_eq!(out["metadata"]["finalizers"], json!([]));
    // Remove all.
    let out = apply(&deployment(), &json!({"metadata": {"finalizers": null}}), d).unwrap();
    assert!(out["metadata"].get("finalizers").is_none());
    // kubectl apply: order list plus deletion plus addition.
    let two = apply(
        &deployment(),
        &json!({"metadata": {"finalizers": ["x/y"]}}),
        d,
    )
    .unwrap();
    let out = apply(
        &two,
        &json!({"metadata": {
            "$setElementOrder/finalizers": ["example.com/protect", "z/z"],
            "$deleteFromPrimitiveList/finalizers": ["x/y"],
            "finalizers": ["z/z"]
        }}),
        d,
    )
    .unwrap();
    assert_eq!(
        out["metadata"]["finalizers"],
        json!(["example.com/protect", "z/z"])
    );
    // Objects in a scalar merge list.
    let e = apply(
        &deployment(),
        &json!({"metadata": {"finalizers": [{"a": 1}]}}),
        d,
    )
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        "list element types are not identical: [[example.com/protect] [map[a:1]]]"
    );
    let e = apply(
        &json!({"metadata": {"finalizers": []}}),
        &json!({"metadata": {"finalizers": [{"a": 1}]}}),
        d,
    )
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        "cannot merge lists without merge key for string"
    );

    // ownerReferences merge by uid.
    let out = apply(
        &deployment(),
        &json!({"metadata": {"ownerReferences": [
            {"uid": "o-1", "controller": true},
            {"apiVersion": "v1", "kind": "Secret", "name": "s", "uid": "o-2"}
        ]}}),
        d,
    )
    .unwrap();
    assert_eq!(
        out["metadata"]["ownerReferences"],
        json!([
            {"apiVersion": "v1", "kind": "ConfigMap", "name": "owner", "uid": "o-1", "controller": true},
            {"apiVersion": "v1", "kind": "Secret", "name": "s", "uid": "o-2"}
        ])
    );
    let out = apply(
        &deployment(),
        &json!({"metadata": {"ownerReferences": [{"uid": "o-1", "$patch": "delete"}]}}),
        d,
    )
    .unwrap();
    assert_eq!(out["metadata"]["ownerReferences"], json!([]));
}

#[test]
fn status_conditions_merge_by_type() {
    let out = patch_deployment(json!({"status": {"conditions": [
        {"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded"}
    ]}}));
    assert_eq!(
        out["status"]["conditions"],
        json!([
            {"type": "Available", "status": "True", "reason": "MinimumReplicasAvailable"},
            {"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded"}
        ])
    );
    let job = meta("batch", "Job");
    let out = apply(
        &json!({"status": {"conditions": [{"type": "Suspended", "status": "True"}]}}),
        &json!({"status": {"conditions": [{"type": "Suspended", "status": "False"}, {"type": "Complete", "status": "True"}]}}),
        job,
    )
    .unwrap();
    assert_eq!(
        out["status"]["conditions"],
        json!([{"type": "Suspended", "status": "False"}, {"type": "Complete", "status": "True"}])
    );
}

#[test]
fn service_ports() {
    let svc = meta("", "Service");
    let original = json!({"spec": {"type": "ClusterIP", "selector": {"app": "web"}, "ports": [
        {"name": "http", "port": 80, "targetPort": 8080, "protocol": "TCP"},
        {"name": "https", "port": 443, "targetPort": 8443, "protocol": "TCP"}
    ]}});
    let out = apply(
        &original,
        &json!({"spec": {"ports": [{"port": 80, "targetPort": 9090}]}}),
        svc,
    )
    .unwrap();
    assert_eq!(
        out["spec"]["ports"],
        json!([
            {"name": "http", "port": 80, "targetPort": 9090, "protocol": "TCP"},
            {"name": "https", "port": 443, "targetPort": 8443, "protocol": "TCP"}
        ])
    );
    // Changing the port number itself adds a port: the merge key is the port.
    let out = apply(
        &original,
        &json!({"spec": {"ports": [{"name": "http", "port": 8000}]}}),
        svc,
    )
    .unwrap();
    assert_eq!(out["spec"]["ports"].as_array().unwrap().len(), 3);
    // Selector is a plain map: merged.
    let out = apply(
        &original,
        &json!({"spec": {"selector": {"tier": "fe"}}}),
        svc,
    )
    .unwrap();
    assert_eq!(out["spec"]["selector"], json!({"app": "web", "tier": "fe"}));

    // The quirk: TCP and UDP ports with the same number share the merge key `port`.
    let dns = json!({"spec": {"ports": [
        {"name": "dns-tcp", "port": 53, "protocol": "TCP"},
        {"name": "dns", "port": 53, "protocol": "UDP"}
    ]}});
    // The patch only reaches the first one...
    let out = apply(
        &dns,
        &json!({"spec": {"ports": [{"port": 53, "protocol": "UDP", "targetPort": 5353}]}}),
        svc,
    )
    .unwrap();
    assert_eq!(
        out["spec"]["ports"],
        json!([
            {"name": "dns-tcp", "port": 53, "protocol": "UDP", "targetPort": 5353},
            {"name": "dns", "port": 53, "protocol": "UDP"}
        ])
    );
    // ...and deleting one deletes both.
    let out = apply(
        &dns,
        &json!({"spec": {"ports": [{"port": 53, "$patch": "delete"}]}}),
        svc,
    )
    .unwrap();
    assert_eq!(out["spec"]["ports"], json!([]));
}

#[test]
fn other_kinds() {
    // ConfigMap data is a plain map.
    let out = apply(
        &json!({"data": {"a": "1", "b": "2"}}),
        &json!({"data": {"a": null, "c": "3"}}),
        meta("", "ConfigMap"),
    )
    .unwrap();
    assert_eq!(out["data"], json!({"b": "2", "c": "3"}));

    // Role rules and RoleBinding subjects are replaced.
    let out = apply(
        &json!({"rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}]}),
        &json!({"rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["list"]}]}),
        meta("rbac.authorization.k8s.io", "Role"),
    )
    .unwrap();
    assert_eq!(
        out["rules"],
        json!([{"apiGroups": [""], "resources": ["pods"], "verbs": ["list"]}])
    );
    let out = apply(
        &json!({"subjects": [{"kind": "User", "name": "a"}, {"kind": "User", "name": "b"}]}),
        &json!({"subjects": [{"kind": "User", "name": "c"}]}),
        meta("rbac.authorization.k8s.io", "ClusterRoleBinding"),
    )
    .unwrap();
    assert_eq!(out["subjects"], json!([{"kind": "User", "name": "c"}]));

    // ServiceAccount: secrets merge by name, imagePullSecrets are replaced.
    let out = apply(
        &json!({"secrets": [{"name": "a"}], "imagePullSecrets": [{"name": "p"}]}),
        &json!({"secrets": [{"name": "b"}], "imagePullSecrets": [{"name": "q"}]}),
        meta("", "ServiceAccount"),
    )
    .unwrap();
    assert_eq!(out["secrets"], json!([{"name": "b"}, {"name": "a"}]));
    assert_eq!(out["imagePullSecrets"], json!([{"name": "q"}]));

    // Node: podCIDRs is a merged set, addresses merge by type.
    let out = apply(
        &json!({"spec": {"podCIDRs": ["10.0.0.0/24"]},
                "status": {"addresses": [{"type": "InternalIP", "address": "10.1.1.1"}, {"type": "Hostname", "address": "n1"}]}}),
        &json!({"spec": {"podCIDRs": ["fd00::/64"]},
                "status": {"addresses": [{"type": "InternalIP", "address": "10.1.1.2"}]}}),
        meta("", "Node"),
    )
    .unwrap();
    assert_eq!(out["spec"]["podCIDRs"], json!(["fd00::/64", "10.0.0.0/24"]));
    assert_eq!(
        out["status"]["addresses"],
        json!([{"type": "InternalIP", "address": "10.1.1.2"}, {"type": "Hostname", "address": "n1"}])
    );

    // PodDisruptionBudget selector has the replace strategy.
    let out = apply(
        &json!({"spec": {"minAvailable": 1, "selector": {"matchLabels": {"app": "web"}}}}),
        &json!({"spec": {"selector": {"matchLabels": {"app": "api"}, "matchExpressions": null}}}),
        meta("policy", "PodDisruptionBudget"),
    )
    .unwrap();
    assert_eq!(
        out["spec"]["selector"],
        json!({"matchLabels": {"app": "api"}, "matchExpressions": null})
    );

    // Lease spec merges like any struct.
    let out = apply(
        &json!({"spec": {"holderIdentity": "a", "leaseDurationSeconds": 15}}),
        &json!({"spec": {"holderIdentity": "b", "renewTime": "2025-01-01T00:00:00.000000Z"}}),
        meta("coordination.k8s.io", "Lease"),
    )
    .unwrap();
    assert_eq!(
        out["spec"],
        json!({"holderIdentity": "b", "leaseDurationSeconds": 15, "renewTime": "2025-01-01T00:00:00.000000Z"})
    );

    // Ingress rules are replaced.
    let out = apply(
        &json!({"spec": {"rules": [{"host": "a"}, {"host": "b"}]}}),
        &json!({"spec": {"rules": [{"host": "c"}]}}),
        meta("networking.k8s.io", "Ingress"),
    )
    .unwrap();
    assert_eq!(out["spec"]["rules"], json!([{"host": "c"}]));

    // CronJob: containers deep inside the job template merge by name.
    let out = apply(
        &json!({"spec": {"schedule": "* * * * *", "jobTemplate": {"spec": {"template": {"spec": {"containers": [
            {"name": "c", "image": "a"}, {"name": "d", "image": "b"}]}}}}}}),
        &json!({"spec": {"jobTemplate": {"spec": {"template": {"spec": {"containers": [{"name": "d", "image": "z"}]}}}}}}),
        meta("batch", "CronJob"),
    )
    .unwrap();
    assert_eq!(
        out["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"],
        json!([{"name": "c", "image": "a"}, {"name": "d", "image": "z"}])
    );

    // StatefulSet volumeClaimTemplates are atomic.
    let out = apply(
        &json!({"spec": {"volumeClaimTemplates": [{"metadata": {"name": "a"}}, {"metadata": {"name": "b"}}]}}),
        &json!({"spec": {"volumeClaimTemplates": [{"metadata": {"name": "c"}}]}}),
        meta("apps", "StatefulSet"),
    )
    .unwrap();
    assert_eq!(
        out["spec"]["volumeClaimTemplates"],
        json!([{"metadata": {"name": "c"}}])
    );
}

#[test]
fn pod_spec_lists() {
    let pod = meta("", "Pod");
    let original = json!({"spec": {
        "containers": [{"name": "a", "image": "x"}],
        "imagePullSecrets": [{"name": "r1"}],
        "hostAliases": [{"ip": "1.2.3.4", "hostnames": ["a"]}],
        "topologySpreadConstraints": [{"topologyKey": "zone", "maxSkew": 1, "whenUnsatisfiable": "DoNotSchedule"}],
        "schedulingGates": [{"name": "g1"}, {"name": "g2"}]
    }});
    let out = apply(
        &original,
        &json!({"spec": {
            "imagePullSecrets": [{"name": "r2"}],
            "hostAliases": [{"ip": "1.2.3.4", "hostnames": ["b"]}],
            "topologySpreadConstraints": [{"topologyKey": "zone", "maxSkew": 2}],
            "schedulingGates": [{"name": "g1", "$patch": "delete"}],
            "ephemeralContainers": [{"name": "debug", "image": "busybox"}]
        }}),
        pod,
    )
    .unwrap();
    assert_eq!(
        out["spec"]["imagePullSecrets"],
        json!([{"name": "r2"}, {"name": "r1"}])
    );
    assert_eq!(
        out["spec"]["hostAliases"],
        json!([{"ip": "1.2.3.4", "hostnames": ["b"]}])
    );
    assert_eq!(
        out["spec"]["topologySpreadConstraints"],
        json!([{"topologyKey": "zone", "maxSkew": 2, "whenUnsatisfiable": "DoNotSchedule"}])
    );
    assert_eq!(out["spec"]["schedulingGates"], json!([{"name": "g2"}]));
    assert_eq!(
        out["spec"]["ephemeralContainers"],
        json!([{"name": "debug", "image": "busybox"}])
    );

    // Pod status IPs and conditions (as the kubelet patches them).
    let out = apply(
        &json!({"status": {"podIPs": [{"ip": "10.0.0.1"}], "conditions": [{"type": "Ready", "status": "False"}]}}),
        &json!({"status": {"podIPs": [{"ip": "fd00::1"}], "conditions": [{"type": "Ready", "status": "True"}]}}),
        pod,
    )
    .unwrap();
    assert_eq!(
        out["status"]["podIPs"],
        json!([{"ip": "fd00::1"}, {"ip": "10.0.0.1"}])
    );
    assert_eq!(
        out["status"]["conditions"],
        json!([{"type": "Ready", "status": "True"}])
    );
}
