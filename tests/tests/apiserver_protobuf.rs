//! Protobuf on the wire, raw HTTP: every built-in kind created from a
//! protobuf body is the object a JSON create of the same object makes; read
//! back in protobuf (get, list, watch frames, Status errors) it decodes to
//! the JSON answer. Custom resources stay JSON-only, with kube-apiserver's
//! 415 and 406.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use e2e::support::comparable_object;
use e2e::widget::Widget;
use futures::StreamExt;
use http_body_util::BodyExt;
use kube::CustomResourceExt;
use kube::client::Body;
use operatorkit::testing::TestEnv;
use serde_json::{Value, json};

const PB: &str = "application/vnd.kubernetes.protobuf";
const JSON: &str = "application/json";

/// What the server answered: status, Content-Type, body.
struct Answer {
    code: u16,
    content_type: String,
    body: Vec<u8>,
}

impl Answer {
    fn json(&self) -> Value {
        assert!(self.content_type.starts_with(JSON), "{}", self.content_type);
        serde_json::from_slice(&self.body).unwrap()
    }

    fn protobuf(&self) -> Value {
        assert_eq!(self.content_type, PB);
        operatorkit_protobuf::decode(&self.body, ("", "")).unwrap()
    }
}

async fn send(
    env: &TestEnv,
    method: &str,
    uri: &str,
    (content_type, accept): (&str, &str),
    body: Vec<u8>,
) -> Answer {
    let req = http::Request::builder()
        .method(method)
        .uri(uri)
        .header("Content-Type", content_type)
        .header("Accept", accept)
        .body(Body::from(body))
        .unwrap();
    let res = env.client().send(req).await.unwrap();
    let code = res.status().as_u16();
    let content_type = res
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let body = res.into_body().collect_bytes().await.unwrap().to_vec();
    Answer {
        code,
        content_type,
        body,
    }
}

/// The collection URL of `obj`'s kind, from its apiVersion and a plural.
fn collection(obj: &Value, plural: &str, ns: Option<&str>) -> String {
    let av = obj["apiVersion"].as_str().unwrap();
    let base = if av.contains('/') {
        format!("/apis/{av}")
    } else {
        format!("/api/{av}")
    };
    match ns {
        Some(ns) => format!("{base}/namespaces/{ns}/{plural}"),
        None => format!("{base}/{plural}"),
    }
}

/// One object of every built-in kind the server stores, `VARIANT` in every
/// name that must differ between the JSON and the protobuf copy, with the
/// zero values, int-or-strings, quantities, times and bytes that protobuf
/// and JSON spell differently.
fn samples() -> Vec<(&'static str, bool, Value)> {
    let template = json!({
        "metadata": {"labels": {"app": "a"}},
        "spec": {"containers": [{"name": "c", "image": "busybox", "ports": [{"containerPort": 80}],
            "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}},
            "livenessProbe": {"httpGet": {"path": "/", "port": 80}, "periodSeconds": 5}}],
            "securityContext": {"runAsUser": 0}}
    });
    let mut job_template = template.clone();
    job_template["spec"]["restartPolicy"] = "Never".into();
    let selector = json!({"matchLabels": {"app": "a"}});
    let meta =
        json!({"name": "VARIANT", "labels": {"team": "platform"}, "annotations": {"note": ""}});
    let with = |extra: Value| {
        let mut obj = extra;
        obj["metadata"] = meta.clone();
        obj
    };
    vec![
        (
            "namespaces",
            false,
            with(json!({"apiVersion": "v1", "kind": "Namespace"})),
        ),
        (
            "configmaps",
            true,
            with(json!({"apiVersion": "v1", "kind": "ConfigMap",
            "data": {"a": "1", "empty": ""}, "binaryData": {"b": "AAEC"}})),
        ),
        (
            "secrets",
            true,
            with(
                json!({"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
            "data": {"k": "dmFsdWU=", "empty": ""}}),
            ),
        ),
        (
            "services",
            true,
            with(json!({"apiVersion": "v1", "kind": "Service",
            "spec": {"type": "NodePort", "selector": {"app": "a"},
                "ports": [{"name": "http", "port": 80, "targetPort": "http"}, {"name": "alt", "port": 81, "targetPort": 8081}]}})),
        ),
        (
            "endpoints",
            true,
            with(json!({"apiVersion": "v1", "kind": "Endpoints",
            "subsets": [{"addresses": [{"ip": "10.0.0.1"}], "ports": [{"name": "http", "port": 80}]}]})),
        ),
        (
            "endpointslices",
            true,
            with(
                json!({"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
            "addressType": "IPv4", "endpoints": [{"addresses": ["10.0.0.1"], "conditions": {"ready": false}}],
            "ports": [{"name": "http", "port": 80}]}),
            ),
        ),
        (
            "serviceaccounts",
            true,
            with(json!({"apiVersion": "v1", "kind": "ServiceAccount",
            "automountServiceAccountToken": false})),
        ),
        (
            "pods",
            true,
            with(json!({"apiVersion": "v1", "kind": "Pod",
            "spec": {"containers": template["spec"]["containers"], "terminationGracePeriodSeconds": 0,
                "volumes": [{"name": "scratch", "emptyDir": {"sizeLimit": "1Gi"}},
                    {"name": "config", "configMap": {"name": "c", "optional": false, "defaultMode": 420}}]}})),
        ),
        (
            "persistentvolumeclaims",
            true,
            with(json!({"apiVersion": "v1", "kind": "PersistentVolumeClaim",
            "spec": {"accessModes": ["ReadWriteOnce"], "storageClassName": "",
                "resources": {"requests": {"storage": "1Gi"}}}})),
        ),
        (
            "persistentvolumes",
            false,
            with(json!({"apiVersion": "v1", "kind": "PersistentVolume",
            "spec": {"capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce"],
                "hostPath": {"path": "/tmp/VARIANT"}, "persistentVolumeReclaimPolicy": "Retain"}})),
        ),
        (
            "nodes",
            false,
            with(json!({"apiVersion": "v1", "kind": "Node",
            "spec": {"podCIDR": "10.244.0.0/24", "taints": [{"key": "k", "effect": "NoSchedule"}]}})),
        ),
        (
            "events",
            true,
            with(json!({"apiVersion": "v1", "kind": "Event",
            "involvedObject": {"kind": "Pod", "name": "p"}, "reason": "Made", "message": "m",
            "type": "Normal", "count": 1, "source": {"component": "test"},
            "firstTimestamp": "2026-12-05T10:00:00Z", "lastTimestamp": "2026-12-05T10:00:01Z"})),
        ),
        // Both Event APIs share one collection: a name of its own.
        (
            "events",
            true,
            json!({"apiVersion": "events.k8s.io/v1", "kind": "Event",
            "metadata": {"name": "VARIANT-events"},
            "eventTime": "2026-12-05T10:00:00.123456Z", "reportingController": "example.com/test",
            "reportingInstance": "i", "action": "Make", "reason": "Made", "type": "Normal",
            "regarding": {"kind": "Pod", "name": "p"}}),
        ),
        (
            "deployments",
            true,
            with(json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "spec": {"replicas": 0, "selector": selector, "template": template,
                "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}}}})),
        ),
        (
            "daemonsets",
            true,
            with(json!({"apiVersion": "apps/v1", "kind": "DaemonSet",
            "spec": {"selector": selector, "template": template}})),
        ),
        (
            "statefulsets",
            true,
            with(json!({"apiVersion": "apps/v1", "kind": "StatefulSet",
            "spec": {"replicas": 0, "serviceName": "s", "selector": selector, "template": template}})),
        ),
        (
            "replicasets",
            true,
            with(json!({"apiVersion": "apps/v1", "kind": "ReplicaSet",
            "spec": {"replicas": 0, "selector": selector, "template": template}})),
        ),
        (
            "jobs",
            true,
            with(json!({"apiVersion": "batch/v1", "kind": "Job",
            "spec": {"backoffLimit": 0, "suspend": true, "template": job_template}})),
        ),
        (
            "cronjobs",
            true,
            with(json!({"apiVersion": "batch/v1", "kind": "CronJob",
            "spec": {"schedule": "0 3 * * *", "startingDeadlineSeconds": 0,
                "jobTemplate": {"spec": {"template": job_template}}}})),
        ),
        (
            "ingresses",
            true,
            with(
                json!({"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
            "spec": {"ingressClassName": "nginx", "rules": [{"host": "a.example.com", "http": {"paths": [
                {"path": "/", "pathType": "Prefix", "backend": {"service": {"name": "s", "port": {"number": 80}}}}]}}]}}),
            ),
        ),
        (
            "ingressclasses",
            false,
            with(
                json!({"apiVersion": "networking.k8s.io/v1", "kind": "IngressClass",
            "spec": {"controller": "example.com/ingress"}}),
            ),
        ),
        (
            "poddisruptionbudgets",
            true,
            with(
                json!({"apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
            "spec": {"maxUnavailable": 0, "selector": selector}}),
            ),
        ),
        (
            "roles",
            true,
            with(
                json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
            "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}]}),
            ),
        ),
        (
            "rolebindings",
            true,
            with(
                json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "r"},
            "subjects": [{"kind": "User", "apiGroup": "rbac.authorization.k8s.io", "name": "ivy"}]}),
            ),
        ),
        (
            "clusterroles",
            false,
            with(
                json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
            "rules": [{"nonResourceURLs": ["/healthz"], "verbs": ["get"]}]}),
            ),
        ),
        (
            "clusterrolebindings",
            false,
            with(
                json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "view"},
            "subjects": [{"kind": "Group", "apiGroup": "rbac.authorization.k8s.io", "name": "team"}]}),
            ),
        ),
        (
            "leases",
            true,
            with(
                json!({"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
            "spec": {"holderIdentity": "h", "leaseDurationSeconds": 15, "leaseTransitions": 0,
                "acquireTime": "2026-12-05T10:00:00.000000Z", "renewTime": "2026-12-05T10:00:05.250000Z"}}),
            ),
        ),
        (
            "customresourcedefinitions",
            false,
            json!({
                "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
                "metadata": {"name": "widgets.VARIANT.example.com"},
                "spec": {"group": "VARIANT.example.com", "scope": "Namespaced",
                    "names": {"plural": "widgets", "singular": "widget", "kind": "Widget"},
                    "versions": [{"name": "v1", "served": true, "storage": true,
                        "subresources": {"status": {}},
                        "schema": {"openAPIV3Schema": {"type": "object", "properties": {
                            "spec": {"type": "object", "required": ["size"], "properties": {
                                "size": {"type": "integer", "minimum": 0, "default": 1},
                                "port": {"x-kubernetes-int-or-string": true},
                                "tags": {"type": "array", "items": {"type": "string"}, "x-kubernetes-list-type": "set"},
                                "extra": {"type": "object", "x-kubernetes-preserve-unknown-fields": true},
                                "labels": {"type": "object", "additionalProperties": {"type": "string"}}}}}}}}]}
            }),
        ),
    ]
}

/// `obj` with `VARIANT` made `variant`, unique to the run.
fn named(obj: &Value, variant: &str) -> Value {
    serde_json::from_str(&obj.to_string().replace("VARIANT", variant)).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn every_built_in_kind_round_trips_through_protobuf() {
    let env = TestEnv::start().await.unwrap();
    let ns = env.namespace().to_owned();
    let (json_name, pb_name) = (env.name("json"), env.name("pb"));
    let mut cluster_scoped = Vec::new();
    for (plural, namespaced, sample) in samples() {
        let url = collection(&sample, plural, namespaced.then_some(ns.as_str()));
        let kind = sample["kind"].as_str().unwrap().to_owned();
        let from_json = named(&sample, &json_name);
        let made = send(
            &env,
            "POST",
            &url,
            (JSON, JSON),
            serde_json::to_vec(&from_json).unwrap(),
        )
        .await;
        assert_eq!(
            made.code,
            201,
            "{kind} from JSON: {}",
            String::from_utf8_lossy(&made.body)
        );
        let from_pb = named(&sample, &pb_name);
        let body = operatorkit_protobuf::encode(&from_pb).unwrap();
        let made = send(&env, "POST", &url, (PB, PB), body).await;
        assert_eq!(
            made.code,
            201,
            "{kind} from protobuf: {}",
            String::from_utf8_lossy(&made.body)
        );
        let answered = made.protobuf();

        let name = |obj: &Value| obj["metadata"]["name"].as_str().unwrap().to_owned();
        let (jname, pname) = (name(&from_json), name(&from_pb));
        let by_json = send(&env, "GET", &format!("{url}/{jname}"), (JSON, JSON), vec![])
            .await
            .json();
        let by_pb = send(&env, "GET", &format!("{url}/{pname}"), (JSON, JSON), vec![])
            .await
            .json();
        assert_eq!(
            comparable_object(&by_pb, &[(&pb_name, "VARIANT")]),
            comparable_object(&by_json, &[(&json_name, "VARIANT")]),
            "{kind}: the protobuf create made another object than the JSON one"
        );
        assert_eq!(answered, by_pb, "{kind}: the protobuf answer to the create");
        let read = send(&env, "GET", &format!("{url}/{pname}"), (JSON, PB), vec![]).await;
        assert_eq!(read.protobuf(), by_pb, "{kind}: get in protobuf");
        let list = send(&env, "GET", &url, (JSON, &format!("{PB}, {JSON}")), vec![])
            .await
            .protobuf();
        assert_eq!(list["kind"], format!("{kind}List"));
        let items = list["items"].as_array().unwrap();
        assert!(
            items
                .iter()
                .any(|i| i["metadata"]["name"] == pname.as_str()),
            "{kind}: list in protobuf"
        );
        if !namespaced {
            cluster_scoped.push((url, jname, pname));
        }
    }
    for (url, a, b) in cluster_scoped {
        for name in [a, b] {
            send(
                &env,
                "DELETE",
                &format!("{url}/{name}"),
                (JSON, JSON),
                vec![],
            )
            .await;
        }
    }
    env.stop().await;
}

/// Watch frames in protobuf are length-prefixed WatchEvents whose objects are
/// enveloped; errors are protobuf Status objects; DeleteOptions may come in
/// protobuf too.
#[tokio::test(flavor = "multi_thread")]
async fn watches_errors_and_delete_options_in_protobuf() {
    let env = TestEnv::start().await.unwrap();
    let ns = env.namespace().to_owned();
    let url = format!("/api/v1/namespaces/{ns}/configmaps");
    // Labelled: the watch below leaves out the namespace's kube-root-ca.crt.
    let cm = |name: &str| json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "labels": {"test": "pb"}}, "data": {"k": "v"}});
    let made = send(
        &env,
        "POST",
        &url,
        (PB, PB),
        operatorkit_protobuf::encode(&cm("one")).unwrap(),
    )
    .await;
    assert_eq!(made.code, 201);

    let missing = send(&env, "GET", &format!("{url}/absent"), (JSON, PB), vec![]).await;
    assert_eq!(missing.code, 404);
    let status = missing.protobuf();
    assert_eq!(status["kind"], "Status");
    assert_eq!(status["reason"], "NotFound");
    assert_eq!(status["code"], 404);

    let req = http::Request::get(format!(
        "{url}?watch=true&timeoutSeconds=5&labelSelector=test%3Dpb"
    ))
    .header("Accept", PB)
    .body(Body::empty())
    .unwrap();
    let res = env.client().send(req).await.unwrap();
    assert_eq!(
        res.headers()["content-type"],
        "application/vnd.kubernetes.protobuf;stream=watch"
    );
    let mut body = res.into_body().into_data_stream();
    let mut buf = Vec::new();
    let made = send(
        &env,
        "POST",
        &url,
        (PB, PB),
        operatorkit_protobuf::encode(&cm("two")).unwrap(),
    )
    .await;
    assert_eq!(made.code, 201);
    let mut events = Vec::new();
    while events.len() < 2 {
        let chunk = tokio::time::timeout(Duration::from_secs(5), body.next())
            .await
            .expect("a watch frame in time")
            .expect("the stream is open")
            .unwrap();
        buf.extend_from_slice(&chunk);
        while buf.len() >= 4 {
            let len = u32::from_be_bytes(buf[..4].try_into().unwrap()) as usize;
            if buf.len() < 4 + len {
                break;
            }
            events.push(watch_event(&buf[4..4 + len]));
            buf.drain(..4 + len);
        }
    }
    assert_eq!(events[0].0, "ADDED");
    assert_eq!(events[0].1["metadata"]["name"], "one");
    assert_eq!(events[1].1["metadata"]["name"], "two");
    assert_eq!(events[1].1["data"]["k"], "v");

    let options =
        json!({"apiVersion": "meta.k8s.io/v1", "kind": "DeleteOptions", "dryRun": ["All"]});
    let body = operatorkit_protobuf::encode(&options).unwrap();
    let dry = send(&env, "DELETE", &format!("{url}/one"), (PB, PB), body).await;
    assert_eq!(dry.code, 200, "{}", String::from_utf8_lossy(&dry.body));
    let still = send(&env, "GET", &format!("{url}/one"), (JSON, JSON), vec![]).await;
    assert_eq!(
        still.code, 200,
        "a dry-run delete from protobuf options deleted"
    );
    env.stop().await;
}

/// A WatchEvent frame: its type and its (enveloped) object as JSON.
fn watch_event(frame: &[u8]) -> (String, Value) {
    use prost::Message;
    #[derive(Clone, PartialEq, prost::Message)]
    struct WatchEvent {
        #[prost(string, optional, tag = "1")]
        r#type: Option<String>,
        #[prost(message, optional, tag = "2")]
        object: Option<Raw>,
    }
    #[derive(Clone, PartialEq, prost::Message)]
    struct Raw {
        #[prost(bytes = "vec", optional, tag = "1")]
        raw: Option<Vec<u8>>,
    }
    let event = WatchEvent::decode(frame).unwrap();
    let raw = event.object.unwrap().raw.unwrap();
    (
        event.r#type.unwrap(),
        operatorkit_protobuf::decode(&raw, ("", "")).unwrap(),
    )
}

/// Custom resources have no protobuf form: a protobuf body is 415 naming
/// JSON and YAML only, an `Accept` of protobuf alone is 406, and protobuf
/// first with JSON after answers JSON. A JSON body labelled protobuf is a
/// 400 that stores nothing.
#[tokio::test(flavor = "multi_thread")]
async fn custom_resources_and_mislabelled_bodies() {
    let env = TestEnv::start().await.unwrap();
    env.install_crds([Widget::crd()]).await.unwrap();
    let ns = env.namespace().to_owned();
    let av = "test.operatorkit.dev/v1";
    let url = format!("/apis/{av}/namespaces/{ns}/widgets");
    let widget =
        json!({"apiVersion": av, "kind": "Widget", "metadata": {"name": "w"}, "spec": {"size": 1}});
    let body = serde_json::to_vec(&widget).unwrap();
    let refused = send(&env, "POST", &url, (PB, JSON), body.clone()).await;
    assert_eq!(refused.code, 415);
    let message = refused.json()["message"].as_str().unwrap().to_owned();
    assert!(
        message.ends_with("accepted media types include: application/json, application/yaml"),
        "{message}"
    );
    let made = send(&env, "POST", &url, (JSON, JSON), body).await;
    assert_eq!(made.code, 201);
    let only_pb = send(&env, "GET", &format!("{url}/w"), (JSON, PB), vec![]).await;
    assert_eq!(only_pb.code, 406);
    let fallback = send(
        &env,
        "GET",
        &format!("{url}/w"),
        (JSON, &format!("{PB}, {JSON}")),
        vec![],
    )
    .await;
    assert_eq!(fallback.json()["metadata"]["name"], "w");

    let cms = format!("/api/v1/namespaces/{ns}/configmaps");
    let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "labelled"}});
    let wrong = send(
        &env,
        "POST",
        &cms,
        (PB, JSON),
        serde_json::to_vec(&cm).unwrap(),
    )
    .await;
    assert_eq!(wrong.code, 400, "{}", String::from_utf8_lossy(&wrong.body));
    let absent = send(
        &env,
        "GET",
        &format!("{cms}/labelled"),
        (JSON, JSON),
        vec![],
    )
    .await;
    assert_eq!(absent.code, 404);
    env.stop().await;
}
