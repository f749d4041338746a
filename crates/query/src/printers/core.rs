//! Printers of the core (`v1`) kinds other than Pod and Event: Service,
//! Endpoints, ConfigMap, Secret, ServiceAccount, Namespace, Node,
//! PersistentVolume, PersistentVolumeClaim, ResourceQuota (and the
//! ReplicationController printer from [`super::workloads`]).

use std::collections::BTreeSet;
use std::time::SystemTime;

use serde_json::Value;

use super::cells::{
    access_modes, age, arr_at, at, bool_at, deleting, format_labels, int_at, map_len, name,
    opt_str_at, or, str_at, text,
};
use super::descriptions as d;
use super::quantity::quantity_string;
use super::workloads;
use super::{AGE, Column, NAME, PrintFn, Printer, READY, Row, col, wide};

/// The printer of a core kind.
pub(super) fn printer(kind: &str) -> Option<Printer> {
    let (columns, print): (&'static [Column], PrintFn) = match kind {
        "Service" => (SERVICE_COLUMNS, service),
        "Endpoints" => (ENDPOINTS_COLUMNS, endpoints),
        "ConfigMap" => (CONFIGMAP_COLUMNS, config_map),
        "Secret" => (SECRET_COLUMNS, secret),
        "ServiceAccount" => (SERVICEACCOUNT_COLUMNS, service_account),
        "Namespace" => (NAMESPACE_COLUMNS, namespace),
        "Node" => (NODE_COLUMNS, node),
        "PersistentVolume" => (PV_COLUMNS, persistent_volume),
        "PersistentVolumeClaim" => (PVC_COLUMNS, persistent_volume_claim),
        "ResourceQuota" => (QUOTA_COLUMNS, resource_quota),
        "ReplicationController" => (workloads::RC_COLUMNS, workloads::replication_controller),
        _ => return None,
    };
    Some(Printer { columns, print })
}

const SERVICE_COLUMNS: &[Column] = &[
    NAME,
    col("Type", "string", d::SVC_TYPE),
    col("Cluster-IP", "string", d::SVC_CLUSTER_IP),
    col("External-IP", "string", d::SVC_EXTERNAL_IPS),
    col("Port(s)", "string", d::SVC_PORTS),
    AGE,
    wide("Selector", "string", d::SVC_SELECTOR),
];

/// `loadBalancerStatusStringer` (wide: never clipped): the ingress IPs or
/// else hostnames, sorted and deduplicated, joined by `,`.
pub(super) fn load_balancer_ingress(status: &Value) -> String {
    let set: BTreeSet<&str> = arr_at(status, &["loadBalancer", "ingress"])
        .iter()
        .filter_map(|i| match (str_at(i, &["ip"]), str_at(i, &["hostname"])) {
            ("", "") => None,
            ("", host) => Some(host),
            (ip, _) => Some(ip),
        })
        .collect();
    set.into_iter().collect::<Vec<_>>().join(",")
}

fn strings(values: &[Value]) -> Vec<&str> {
    values
        .iter()
        .map(|v| v.as_str().unwrap_or_default())
        .collect()
}

/// `getServiceExternalIP`.
fn external_ip(svc: &Value) -> String {
    let external: Vec<&str> = strings(arr_at(svc, &["spec", "externalIPs"]));
    match str_at(svc, &["spec", "type"]) {
        "ClusterIP" | "NodePort" if !external.is_empty() => external.join(","),
        "ClusterIP" | "NodePort" => "<none>".to_string(),
        "LoadBalancer" => {
            let lb = load_balancer_ingress(at(svc, &["status"]));
            if !external.is_empty() {
                let mut all: Vec<&str> = if lb.is_empty() {
                    Vec::new()
                } else {
                    lb.split(',').collect()
                };
                all.extend(external);
                all.join(",")
            } else if !lb.is_empty() {
                lb
            } else {
                "<pending>".to_string()
            }
        }
        "ExternalName" => str_at(svc, &["spec", "externalName"]).to_string(),
        _ => "<unknown>".to_string(),
    }
}

/// `makePortString`: `port/protocol` or `port:nodePort/protocol`.
fn service_ports(svc: &Value) -> String {
    let ports: Vec<String> = arr_at(svc, &["spec", "ports"])
        .iter()
        .map(|p| {
            let (port, protocol) = (int_at(p, &["port"]), str_at(p, &["protocol"]));
            match int_at(p, &["nodePort"]) {
                n if n > 0 => format!("{port}:{n}/{protocol}"),
                _ => format!("{port}/{protocol}"),
            }
        })
        .collect();
    ports.join(",")
}

fn service(svc: &Value, now: SystemTime) -> Row {
    // v1 defaulting fills `clusterIPs` from `clusterIP`.
    let cluster_ip = arr_at(svc, &["spec", "clusterIPs"])
        .first()
        .and_then(Value::as_str)
        .or_else(|| opt_str_at(svc, &["spec", "clusterIP"]).filter(|s| !s.is_empty()))
        .unwrap_or("<none>");
    Row::of(vec![
        name(svc),
        text(str_at(svc, &["spec", "type"])),
        text(cluster_ip),
        text(external_ip(svc)),
        or(&service_ports(svc), "<none>"),
        age(svc, now),
        text(format_labels(at(svc, &["spec", "selector"]))),
    ])
}

const ENDPOINTS_COLUMNS: &[Column] = &[NAME, col("Endpoints", "string", d::EP_SUBSETS), AGE];

/// `net.JoinHostPort`: IPv6 addresses in brackets.
fn join_host_port(host: &str, port: i64) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// `formatEndpoints(endpoints, nil)`: up to 3 `ip:port` (or bare IPs for
/// port-less subsets), then ` + N more...`; `<none>` without subsets.
fn format_endpoints(obj: &Value) -> String {
    let subsets = arr_at(obj, &["subsets"]);
    if subsets.is_empty() {
        return "<none>".to_string();
    }
    const MAX: usize = 3;
    let (mut list, mut more, mut count) = (Vec::new(), false, 0);
    for ss in subsets {
        let addresses = arr_at(ss, &["addresses"]);
        let ports = arr_at(ss, &["ports"]);
        let hosts: Vec<Option<i64>> = if ports.is_empty() {
            vec![None]
        } else {
            ports.iter().map(|p| Some(int_at(p, &["port"]))).collect()
        };
        for port in hosts {
            count += addresses.len();
            for a in addresses {
                if list.len() == MAX {
                    more = true;
                    break;
                }
                let ip = str_at(a, &["ip"]);
                list.push(port.map_or_else(|| ip.to_string(), |p| join_host_port(ip, p)));
            }
        }
    }
    let ret = list.join(",");
    if more {
        format!("{ret} + {} more...", count - MAX)
    } else {
        ret
    }
}

fn endpoints(obj: &Value, now: SystemTime) -> Row {
    Row::of(vec![name(obj), text(format_endpoints(obj)), age(obj, now)])
}

const CONFIGMAP_COLUMNS: &[Column] = &[NAME, col("Data", "string", d::CM_DATA), AGE];

fn config_map(obj: &Value, now: SystemTime) -> Row {
    let n = map_len(obj, &["data"]) + map_len(obj, &["binaryData"]);
    Row::of(vec![name(obj), Value::from(n), age(obj, now)])
}

const SECRET_COLUMNS: &[Column] = &[
    NAME,
    col("Type", "string", d::SECRET_TYPE),
    col("Data", "string", d::SECRET_DATA),
    AGE,
];

fn secret(obj: &Value, now: SystemTime) -> Row {
    Row::of(vec![
        name(obj),
        text(str_at(obj, &["type"])),
        Value::from(map_len(obj, &["data"])),
        age(obj, now),
    ])
}

const SERVICEACCOUNT_COLUMNS: &[Column] = &[NAME, col("Secrets", "string", d::SA_SECRETS), AGE];

fn service_account(obj: &Value, now: SystemTime) -> Row {
    Row::of(vec![
        name(obj),
        Value::from(arr_at(obj, &["secrets"]).len()),
        age(obj, now),
    ])
}

const NAMESPACE_COLUMNS: &[Column] = &[
    NAME,
    col("Status", "string", "The status of the namespace"),
    AGE,
];

fn namespace(obj: &Value, now: SystemTime) -> Row {
    Row::of(vec![
        name(obj),
        text(str_at(obj, &["status", "phase"])),
        age(obj, now),
    ])
}

const NODE_COLUMNS: &[Column] = &[
    NAME,
    col("Status", "string", "The status of the node"),
    col("Roles", "string", "The roles of the node"),
    AGE,
    col("Version", "string", d::NODE_KUBELET_VERSION),
    wide("Internal-IP", "string", d::NODE_ADDRESSES),
    wide("External-IP", "string", d::NODE_ADDRESSES),
    wide("OS-Image", "string", d::NODE_OS_IMAGE),
    wide("Kernel-Version", "string", d::NODE_KERNEL_VERSION),
    wide("Container-Runtime", "string", d::NODE_CONTAINER_RUNTIME),
];

/// `Ready`/`NotReady` from the last `Ready` condition (`Unknown` without
/// one), then `SchedulingDisabled` for a cordoned node.
fn node_status(obj: &Value) -> String {
    let ready = arr_at(obj, &["status", "conditions"])
        .iter()
        .rev()
        .find(|c| str_at(c, &["type"]) == READY);
    let mut status = vec![match ready {
        Some(c) if str_at(c, &["status"]) == "True" => READY,
        Some(_) => "NotReady",
        None => "Unknown",
    }];
    if bool_at(obj, &["spec", "unschedulable"]) {
        status.push("SchedulingDisabled");
    }
    status.join(",")
}

/// `findNodeRoles`: `node-role.kubernetes.io/<role>` label keys and the
/// `kubernetes.io/role` label value, sorted, joined by `,`.
fn node_roles(obj: &Value) -> String {
    let mut roles = BTreeSet::new();
    for (k, v) in at(obj, &["metadata", "labels"])
        .as_object()
        .into_iter()
        .flatten()
    {
        if let Some(role) = k.strip_prefix("node-role.kubernetes.io/") {
            if !role.is_empty() {
                roles.insert(role.to_string());
            }
        } else if k == "kubernetes.io/role" && v.as_str().is_some_and(|v| !v.is_empty()) {
            roles.insert(v.as_str().unwrap_or_default().to_string());
        }
    }
    if roles.is_empty() {
        "<none>".to_string()
    } else {
        roles.into_iter().collect::<Vec<_>>().join(",")
    }
}

fn node_address(obj: &Value, typ: &str) -> String {
    arr_at(obj, &["status", "addresses"])
        .iter()
        .find(|a| str_at(a, &["type"]) == typ)
        .map_or("<none>", |a| str_at(a, &["address"]))
        .to_string()
}

fn node(obj: &Value, now: SystemTime) -> Row {
    let info = at(obj, &["status", "nodeInfo"]);
    Row::of(vec![
        name(obj),
        text(node_status(obj)),
        text(node_roles(obj)),
        age(obj, now),
        text(str_at(info, &["kubeletVersion"])),
        text(node_address(obj, "InternalIP")),
        text(node_address(obj, "ExternalIP")),
        or(str_at(info, &["osImage"]), "<unknown>"),
        or(str_at(info, &["kernelVersion"]), "<unknown>"),
        or(str_at(info, &["containerRuntimeVersion"]), "<unknown>"),
    ])
}

const PV_COLUMNS: &[Column] = &[
    NAME,
    col("Capacity", "string", d::PV_CAPACITY),
    col("Access Modes", "string", d::PV_ACCESS_MODES),
    col("Reclaim Policy", "string", d::PV_RECLAIM_POLICY),
    col("Status", "string", d::PV_PHASE),
    col("Claim", "string", d::PV_CLAIM_REF),
    col("StorageClass", "string", "StorageClass of the pv"),
    col(
        "VolumeAttributesClass",
        "string",
        "VolumeAttributesClass of the pv",
    ),
    col("Reason", "string", d::PV_REASON),
    AGE,
    wide("VolumeMode", "string", d::PV_VOLUME_MODE),
];

/// `phase`, or `Terminating` while the object is being deleted.
fn phase(obj: &Value) -> String {
    if deleting(obj) {
        "Terminating".to_string()
    } else {
        str_at(obj, &["status", "phase"]).to_string()
    }
}

/// `helper.GetPersistentVolume(Claim)Class`: the beta annotation wins over
/// `spec.storageClassName`.
fn storage_class(obj: &Value) -> String {
    match at(
        obj,
        &[
            "metadata",
            "annotations",
            "volume.beta.kubernetes.io/storage-class",
        ],
    )
    .as_str()
    {
        Some(class) => class.to_string(),
        None => str_at(obj, &["spec", "storageClassName"]).to_string(),
    }
}

fn persistent_volume(obj: &Value, now: SystemTime) -> Row {
    let spec = at(obj, &["spec"]);
    let claim = match at(spec, &["claimRef"]) {
        Value::Null => String::new(),
        r => format!("{}/{}", str_at(r, &["namespace"]), str_at(r, &["name"])),
    };
    Row::of(vec![
        name(obj),
        text(quantity_string(at(spec, &["capacity", "storage"]))),
        text(access_modes(arr_at(spec, &["accessModes"]))),
        text(str_at(spec, &["persistentVolumeReclaimPolicy"])),
        text(phase(obj)),
        text(claim),
        text(storage_class(obj)),
        text(opt_str_at(spec, &["volumeAttributesClassName"]).unwrap_or("<unset>")),
        text(str_at(obj, &["status", "reason"])),
        age(obj, now),
        text(opt_str_at(spec, &["volumeMode"]).unwrap_or("<unset>")),
    ])
}

const PVC_COLUMNS: &[Column] = &[
    NAME,
    col("Status", "string", d::PVC_PHASE),
    col("Volume", "string", d::PVC_VOLUME_NAME),
    col("Capacity", "string", d::PVC_CAPACITY),
    col("Access Modes", "string", d::PVC_ACCESS_MODES),
    col("StorageClass", "string", "StorageClass of the pvc"),
    col(
        "VolumeAttributesClass",
        "string",
        "VolumeAttributesClass of the pvc",
    ),
    AGE,
    wide("VolumeMode", "string", d::PVC_VOLUME_MODE),
];

fn persistent_volume_claim(obj: &Value, now: SystemTime) -> Row {
    let spec = at(obj, &["spec"]);
    let volume = str_at(spec, &["volumeName"]);
    let (capacity, modes) = if volume.is_empty() {
        (String::new(), String::new())
    } else {
        (
            quantity_string(at(obj, &["status", "capacity", "storage"])),
            access_modes(arr_at(obj, &["status", "accessModes"])),
        )
    };
    Row::of(vec![
        name(obj),
        text(phase(obj)),
        text(volume),
        text(capacity),
        text(modes),
        text(storage_class(obj)),
        text(opt_str_at(spec, &["volumeAttributesClassName"]).unwrap_or("<unset>")),
        age(obj, now),
        text(opt_str_at(spec, &["volumeMode"]).unwrap_or("<unset>")),
    ])
}

const QUOTA_COLUMNS: &[Column] = &[
    NAME,
    col(
        "Request",
        "string",
        "Request represents a minimum amount of cpu/memory that a container may consume.",
    ),
    col(
        "Limit",
        "string",
        "Limits control the maximum amount of cpu/memory that a container may use independent of contention on the node.",
    ),
    AGE,
];

/// `name: used/hard` for each `status.hard` resource, sorted; resources
/// named `limits.*` go to the LIMIT cell, the others to REQUEST.
fn resource_quota(obj: &Value, now: SystemTime) -> Row {
    let (mut request, mut limit) = (Vec::new(), Vec::new());
    if let Some(hard) = at(obj, &["status", "hard"]).as_object() {
        let mut names: Vec<&String> = hard.keys().collect();
        names.sort();
        for resource in names {
            let used = quantity_string(at(obj, &["status", "used", resource.as_str()]));
            let entry = format!(
                "{resource}: {used}/{}",
                quantity_string(&hard[resource.as_str()])
            );
            let pieces: Vec<&str> = resource.split('.').collect();
            if pieces.len() > 1 && pieces[0] == "limits" {
                limit.push(entry)
            } else {
                request.push(entry)
            }
        }
    }
    Row::of(vec![
        name(obj),
        text(request.join(", ")),
        text(limit.join(", ")),
        age(obj, now),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::printers::cells::testing::now;
    use serde_json::json;

    fn meta() -> Value {
        json!({"name": "x", "namespace": "default", "creationTimestamp": "2025-06-01T11:58:30Z"})
    }

    fn svc(spec: Value, status: Value) -> Vec<Value> {
        service(
            &json!({"metadata": meta(), "spec": spec, "status": status}),
            now(),
        )
        .cells
    }

    #[test]
    fn services() {
        let cells = svc(
            json!({"type": "ClusterIP", "clusterIP": "10.96.0.10", "clusterIPs": ["10.96.0.10"], "selector": {"k8s-app": "kube-dns"},
                   "ports": [{"port": 53, "protocol": "UDP"}, {"port": 53, "protocol": "TCP"}, {"port": 9153, "protocol": "TCP"}]}),
            json!({}),
        );
        assert_eq!(
            cells,
            vec![
                json!("x"),
                json!("ClusterIP"),
                json!("10.96.0.10"),
                json!("<none>"),
                json!("53/UDP,53/TCP,9153/TCP"),
                json!("90s"),
                json!("k8s-app=kube-dns")
            ]
        );
        let np = svc(
            json!({"type": "NodePort", "clusterIPs": ["10.0.0.1"], "externalIPs": ["1.2.3.4"],
            "ports": [{"port": 80, "nodePort": 30080, "protocol": "TCP"}]}),
            json!({}),
        );
        assert_eq!(np[3..5], [json!("1.2.3.4"), json!("80:30080/TCP")]);
        let lb = |status: Value, external: Value| {
            svc(
                json!({"type": "LoadBalancer", "clusterIP": "10.0.0.2", "externalIPs": external}),
                status,
            )[2..5]
                .to_vec()
        };
        assert_eq!(
            lb(json!({}), json!(null)),
            [json!("10.0.0.2"), json!("<pending>"), json!("<none>")]
        );
        let ingress = json!({"loadBalancer": {"ingress": [{"ip": "5.6.7.8"}, {"hostname": "a-very-long-load-balancer.example.com"}, {"ip": "1.1.1.1"}]}});
        assert_eq!(
            lb(ingress.clone(), json!(null))[1],
            "1.1.1.1,5.6.7.8,a-very-long-load-balancer.example.com"
        );
        assert_eq!(
            lb(ingress, json!(["9.9.9.9"]))[1],
            "1.1.1.1,5.6.7.8,a-very-long-load-balancer.example.com,9.9.9.9"
        );
        let ext = svc(
            json!({"type": "ExternalName", "externalName": "db.example.com"}),
            json!({}),
        );
        assert_eq!(
            ext[1..5],
            [
                json!("ExternalName"),
                json!("<none>"),
                json!("db.example.com"),
                json!("<none>")
            ]
        );
        assert_eq!(
            svc(json!({}), json!({}))[1..5],
            [
                json!(""),
                json!("<none>"),
                json!("<unknown>"),
                json!("<none>")
            ]
        );
    }

    #[test]
    fn endpoints_list() {
        let ep = json!({"metadata": meta(), "subsets": [
            {"addresses": [{"ip": "10.0.0.1"}, {"ip": "10.0.0.2"}], "ports": [{"port": 80}, {"port": 443}]},
            {"addresses": [{"ip": "fd00::1"}]}]});
        assert_eq!(
            endpoints(&ep, now()).cells[1],
            "10.0.0.1:80,10.0.0.2:80,10.0.0.1:443 + 2 more..."
        );
        let small =
            json!({"subsets": [{"addresses": [{"ip": "fd00::1"}], "ports": [{"port": 8080}]}]});
        assert_eq!(endpoints(&small, now()).cells[1], "[fd00::1]:8080");
        let headless = json!({"subsets": [{"addresses": [{"ip": "10.1.1.1"}]}]});
        assert_eq!(endpoints(&headless, now()).cells[1], "10.1.1.1");
        assert_eq!(endpoints(&json!({}), now()).cells[1], "<none>");
        assert_eq!(
            endpoints(
                &json!({"subsets": [{"notReadyAddresses": [{"ip": "1.1.1.1"}]}]}),
                now()
            )
            .cells[1],
            ""
        );
    }

    #[test]
    fn config_secrets_accounts_namespaces() {
        let cm =
            json!({"metadata": meta(), "data": {"a": "1", "b": "2"}, "binaryData": {"c": "AA=="}});
        assert_eq!(
            config_map(&cm, now()).cells,
            vec![json!("x"), json!(3), json!("90s")]
        );
        let s = json!({"metadata": meta(), "type": "kubernetes.io/tls", "data": {"tls.crt": "", "tls.key": ""}});
        assert_eq!(
            secret(&s, now()).cells,
            vec![
                json!("x"),
                json!("kubernetes.io/tls"),
                json!(2),
                json!("90s")
            ]
        );
        assert_eq!(secret(&json!({}), now()).cells[1..3], [json!(""), json!(0)]);
        let sa = json!({"metadata": meta(), "secrets": [{"name": "t"}]});
        assert_eq!(service_account(&sa, now()).cells[1], 1);
        let ns = json!({"metadata": {"name": "kube-system", "creationTimestamp": "2025-05-01T12:00:00Z"}, "status": {"phase": "Active"}});
        assert_eq!(
            namespace(&ns, now()).cells,
            vec![json!("kube-system"), json!("Active"), json!("31d")]
        );
    }

    #[test]
    fn nodes() {
        let n = json!({"metadata": {"name": "cp-1", "creationTimestamp": "2025-05-31T12:00:00Z", "labels": {
                "node-role.kubernetes.io/control-plane": "", "node-role.kubernetes.io/": "", "kubernetes.io/role": "master"}},
            "spec": {"unschedulable": true},
            "status": {"conditions": [{"type": "MemoryPressure", "status": "False"}, {"type": "Ready", "status": "True"}],
                "addresses": [{"type": "Hostname", "address": "cp-1"}, {"type": "InternalIP", "address": "172.18.0.2"}],
                "nodeInfo": {"kubeletVersion": "v1.33.1", "osImage": "Debian GNU/Linux 12 (bookworm)", "kernelVersion": "6.8.0",
                    "containerRuntimeVersion": "containerd://2.1.1"}}});
        assert_eq!(
            node(&n, now()).cells,
            vec![
                json!("cp-1"),
                json!("Ready,SchedulingDisabled"),
                json!("control-plane,master"),
                json!("24h"),
                json!("v1.33.1"),
                json!("172.18.0.2"),
                json!("<none>"),
                json!("Debian GNU/Linux 12 (bookworm)"),
                json!("6.8.0"),
                json!("containerd://2.1.1")
            ]
        );
        let bare = node(
            &json!({"status": {"conditions": [{"type": "Ready", "status": "Unknown"}]}}),
            now(),
        )
        .cells;
        assert_eq!(bare[1..3], [json!("NotReady"), json!("<none>")]);
        assert_eq!(
            bare[7..],
            [json!("<unknown>"), json!("<unknown>"), json!("<unknown>")]
        );
        assert_eq!(node(&json!({}), now()).cells[1], "Unknown");
    }

    #[test]
    fn volumes_and_claims() {
        let pv = json!({"metadata": meta(), "spec": {"capacity": {"storage": "1024Mi"}, "accessModes": ["ReadWriteOnce", "ReadOnlyMany"],
            "persistentVolumeReclaimPolicy": "Retain", "claimRef": {"namespace": "default", "name": "data"}, "storageClassName": "standard",
            "volumeMode": "Filesystem"}, "status": {"phase": "Bound"}});
        assert_eq!(
            persistent_volume(&pv, now()).cells,
            vec![
                json!("x"),
                json!("1Gi"),
                json!("RWO,ROX"),
                json!("Retain"),
                json!("Bound"),
                json!("default/data"),
                json!("standard"),
                json!("<unset>"),
                json!(""),
                json!("90s"),
                json!("Filesystem")
            ]
        );
        let mut gone = json!({"metadata": {"deletionTimestamp": "2025-06-01T11:59:00Z", "annotations": {"volume.beta.kubernetes.io/storage-class": "old"}}});
        let cells = persistent_volume(&gone, now()).cells;
        assert_eq!(
            cells[1..7],
            [
                json!("0"),
                json!(""),
                json!(""),
                json!("Terminating"),
                json!(""),
                json!("old")
            ]
        );
        gone["spec"] = json!({"volumeName": "pv-1"});
        assert_eq!(
            persistent_volume_claim(&gone, now()).cells[1..6],
            [
                json!("Terminating"),
                json!("pv-1"),
                json!("0"),
                json!(""),
                json!("old")
            ]
        );
        let pending = json!({"metadata": meta(), "spec": {"resources": {"requests": {"storage": "5Gi"}}, "storageClassName": "fast"}, "status": {"phase": "Pending"}});
        assert_eq!(
            persistent_volume_claim(&pending, now()).cells,
            vec![
                json!("x"),
                json!("Pending"),
                json!(""),
                json!(""),
                json!(""),
                json!("fast"),
                json!("<unset>"),
                json!("90s"),
                json!("<unset>")
            ]
        );
        let bound = json!({"spec": {"volumeName": "pv-2", "volumeMode": "Block", "volumeAttributesClassName": "gold"},
            "status": {"phase": "Bound", "capacity": {"storage": "10Gi"}, "accessModes": ["ReadWriteOncePod"]}});
        assert_eq!(
            persistent_volume_claim(&bound, now()).cells[1..7],
            [
                json!("Bound"),
                json!("pv-2"),
                json!("10Gi"),
                json!("RWOP"),
                json!(""),
                json!("gold")
            ]
        );
    }

    #[test]
    fn quotas() {
        let q = json!({"metadata": meta(), "status": {
            "hard": {"requests.cpu": "1", "limits.memory": "2Gi", "pods": "10", "limits.cpu": "2000m", "requests.memory": "1Gi"},
            "used": {"requests.cpu": "500m", "limits.memory": "0", "pods": "3"}}});
        assert_eq!(
            resource_quota(&q, now()).cells,
            vec![
                json!("x"),
                json!("pods: 3/10, requests.cpu: 500m/1, requests.memory: 0/1Gi"),
                json!("limits.cpu: 0/2, limits.memory: 0/2Gi"),
                json!("90s")
            ]
        );
        assert_eq!(
            resource_quota(&json!({}), now()).cells[1..3],
            [json!(""), json!("")]
        );
    }
}
