//! Objects of the built-in kinds survive JSON -> protobuf -> JSON unchanged,
//! special types and zero values included.

use operatorkit_protobuf::{Error, decode, encode, supports};
use serde_json::{Value, json};

fn round_trip(obj: Value) {
    let body = encode(&obj).unwrap_or_else(|e| panic!("encoding {obj}: {e}"));
    assert!(body.starts_with(b"k8s\0"));
    let back = decode(&body, ("", "")).unwrap_or_else(|e| panic!("decoding: {e}"));
    assert_eq!(back, obj);
}

#[test]
fn a_deployment_keeps_its_meant_zeros_and_int_or_strings() {
    round_trip(json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "demo", "labels": {"app": "web"},
            "creationTimestamp": "2026-12-05T10:00:00Z", "generation": 3,
            "ownerReferences": [{"apiVersion": "v1", "kind": "X", "name": "o", "uid": "u", "controller": false}],
            "managedFields": [{"manager": "kubectl", "operation": "Apply", "apiVersion": "apps/v1",
                "time": "2026-12-05T10:00:00Z", "fieldsType": "FieldsV1",
                "fieldsV1": {"f:spec": {"f:replicas": {}}}}]},
        "spec": {
            "replicas": 0,
            "selector": {"matchLabels": {"app": "web"}},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": "25%"}},
            "template": {
                "metadata": {"creationTimestamp": null, "labels": {"app": "web"}},
                "spec": {
                    "automountServiceAccountToken": false,
                    "containers": [{
                        "name": "nginx", "image": "nginx:1.27",
                        "ports": [{"containerPort": 80, "protocol": "TCP"}],
                        "resources": {"limits": {"cpu": "500m", "memory": "128Mi"}},
                        "readinessProbe": {"httpGet": {"path": "/", "port": "http"}, "periodSeconds": 5},
                        "securityContext": {"runAsUser": 0}
                    }],
                    "volumes": [{"name": "config", "configMap": {"name": "web", "defaultMode": 420}}]
                }
            }
        }
    }));
}

#[test]
fn secrets_bytes_events_microtimes_and_statuses() {
    round_trip(json!({
        "apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": "s"}, "type": "Opaque",
        "data": {"tls.key": "c2VjcmV0", "empty": ""}
    }));
    round_trip(json!({
        "apiVersion": "events.k8s.io/v1", "kind": "Event",
        "metadata": {"name": "e", "namespace": "demo"},
        "eventTime": "2026-12-05T10:00:00.123456Z",
        "reportingController": "x", "reportingInstance": "y", "action": "Made", "reason": "Made",
        "regarding": {"kind": "Pod", "name": "p"}, "type": "Normal"
    }));
    round_trip(json!({
        "apiVersion": "v1", "kind": "Status", "metadata": {},
        "status": "Failure", "message": "configmaps \"x\" not found", "reason": "NotFound",
        "details": {"name": "x", "kind": "configmaps"}, "code": 404
    }));
    round_trip(json!({
        "apiVersion": "v1", "kind": "ConfigMapList",
        "metadata": {"resourceVersion": "12"},
        "items": [{"metadata": {"name": "a"}, "data": {"k": "v"}}]
    }));
}

#[test]
fn a_crd_keeps_its_schema_unions_and_x_kubernetes_names() {
    round_trip(json!({
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": "widgets.example.com"},
        "spec": {
            "group": "example.com", "scope": "Namespaced",
            "names": {"plural": "widgets", "kind": "Widget"},
            "versions": [{"name": "v1", "served": true, "storage": true,
                "subresources": {"status": {}, "scale": {"specReplicasPath": ".spec.replicas", "statusReplicasPath": ".status.replicas"}},
                "schema": {"openAPIV3Schema": {
                    "type": "object",
                    "x-kubernetes-preserve-unknown-fields": true,
                    "properties": {
                        "spec": {"type": "object", "default": {"size": 1},
                            "additionalProperties": false,
                            "properties": {"tags": {"type": "array", "items": {"type": "string"},
                                "x-kubernetes-list-type": "set"},
                                "labels": {"type": "object", "additionalProperties": {"type": "string"}},
                                "port": {"x-kubernetes-int-or-string": true, "enum": [80, "http"]}}}
                    }
                }}}]
        }
    }));
}

#[test]
fn custom_resources_and_bad_bodies_are_refused() {
    assert!(supports("v1", "ConfigMap"));
    assert!(!supports("example.com/v1", "Widget"));
    let widget = json!({"apiVersion": "example.com/v1", "kind": "Widget"});
    assert!(matches!(encode(&widget), Err(Error::UnknownKind { .. })));
    assert!(matches!(
        decode(b"{}", ("v1", "ConfigMap")),
        Err(Error::NoEnvelope)
    ));
    let wrong = json!({"apiVersion": "apps/v1", "kind": "Deployment", "spec": {"replicas": "two"}});
    let e = encode(&wrong).unwrap_err().to_string();
    assert!(e.contains(".spec.replicas"), "{e}");
}
