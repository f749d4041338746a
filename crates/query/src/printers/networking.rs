//! Printers of `networking.k8s.io` (Ingress, IngressClass, NetworkPolicy) and
//! `discovery.k8s.io` (EndpointSlice).

use std::time::SystemTime;

use serde_json::Value;

use super::cells::{
    age, arr_at, at, format_label_selector, list_with_more, name, opt_int_at, opt_str_at, str_at,
    text,
};
use super::core::load_balancer_ingress;
use super::descriptions as d;
use super::{AGE, Column, NAME, PrintFn, Printer, Row, col};

/// The printer of a `networking.k8s.io` or `discovery.k8s.io` kind.
pub(super) fn printer(group: &str, kind: &str) -> Option<Printer> {
    let (columns, print): (&'static [Column], PrintFn) = match (group, kind) {
        ("networking.k8s.io", "Ingress") => (INGRESS_COLUMNS, ingress),
        ("networking.k8s.io", "IngressClass") => (INGRESSCLASS_COLUMNS, ingress_class),
        ("networking.k8s.io", "NetworkPolicy") => (NETWORKPOLICY_COLUMNS, network_policy),
        ("discovery.k8s.io", "EndpointSlice") => (ENDPOINTSLICE_COLUMNS, endpoint_slice),
        _ => return None,
    };
    Some(Printer { columns, print })
}

const INGRESS_COLUMNS: &[Column] = &[
    NAME,
    col(
        "Class",
        "string",
        "The name of the IngressClass resource that should be used for additional configuration",
    ),
    col(
        "Hosts",
        "string",
        "Hosts that incoming requests are matched against before the ingress rule",
    ),
    col(
        "Address",
        "string",
        "Address is a list containing ingress points for the load-balancer",
    ),
    col("Ports", "string", "Ports of TLS configurations that open"),
    AGE,
];

/// `formatHosts`: the first three rule hosts, ` + N more...` counting all
/// rules; `*` when no rule has a host.
fn format_hosts(rules: &[Value]) -> String {
    const MAX: usize = 3;
    let (mut list, mut more) = (Vec::new(), false);
    for rule in rules {
        if list.len() == MAX {
            more = true;
        }
        let host = str_at(rule, &["host"]);
        if !more && !host.is_empty() {
            list.push(host);
        }
    }
    if list.is_empty() {
        return "*".to_string();
    }
    let ret = list.join(",");
    if more {
        format!("{ret} + {} more...", rules.len() - MAX)
    } else {
        ret
    }
}

fn ingress(obj: &Value, now: SystemTime) -> Row {
    let spec = at(obj, &["spec"]);
    let ports = if arr_at(spec, &["tls"]).is_empty() {
        "80"
    } else {
        "80, 443"
    };
    Row::of(vec![
        name(obj),
        text(opt_str_at(spec, &["ingressClassName"]).unwrap_or("<none>")),
        text(format_hosts(arr_at(spec, &["rules"]))),
        text(load_balancer_ingress(at(obj, &["status"]))),
        text(ports),
        age(obj, now),
    ])
}

const INGRESSCLASS_COLUMNS: &[Column] = &[
    NAME,
    col(
        "Controller",
        "string",
        "Controller that is responsible for handling this class",
    ),
    col(
        "Parameters",
        "string",
        "A reference to a resource with additional parameters",
    ),
    AGE,
];

fn ingress_class(obj: &Value, now: SystemTime) -> Row {
    let parameters = match at(obj, &["spec", "parameters"]) {
        Value::Null => "<none>".to_string(),
        p => {
            let kind = match opt_str_at(p, &["apiGroup"]) {
                Some(group) => format!("{}.{group}", str_at(p, &["kind"])),
                None => str_at(p, &["kind"]).to_string(),
            };
            format!("{kind}/{}", str_at(p, &["name"]))
        }
    };
    Row::of(vec![
        name(obj),
        text(str_at(obj, &["spec", "controller"])),
        text(parameters),
        age(obj, now),
    ])
}

const NETWORKPOLICY_COLUMNS: &[Column] =
    &[NAME, col("Pod-Selector", "string", d::NP_POD_SELECTOR), AGE];

fn network_policy(obj: &Value, now: SystemTime) -> Row {
    // `podSelector` is a struct, not a pointer: unset means empty.
    let selector = match at(obj, &["spec", "podSelector"]) {
        Value::Null => &Value::Object(serde_json::Map::new()),
        s => s,
    };
    Row::of(vec![
        name(obj),
        text(format_label_selector(selector)),
        age(obj, now),
    ])
}

const ENDPOINTSLICE_COLUMNS: &[Column] = &[
    NAME,
    col("AddressType", "string", d::ES_ADDRESS_TYPE),
    col("Ports", "string", d::ES_PORTS),
    col("Endpoints", "string", d::ES_ENDPOINTS),
    AGE,
];

/// `formatDiscoveryPorts`: port numbers (or names, or `*`).
fn discovery_ports(ports: &[Value]) -> String {
    const MAX: usize = 3;
    let list: Vec<String> = ports
        .iter()
        .take(MAX)
        .map(
            |p| match (opt_int_at(p, &["port"]), opt_str_at(p, &["name"])) {
                (Some(n), _) => n.to_string(),
                (None, Some(name)) => name.to_string(),
                (None, None) => "*".to_string(),
            },
        )
        .collect();
    list_with_more(&list, ports.len() > MAX, ports.len(), MAX)
}

/// `formatDiscoveryEndpoints`: the endpoints' addresses.
fn discovery_endpoints(endpoints: &[Value]) -> String {
    const MAX: usize = 3;
    let all: Vec<String> = endpoints
        .iter()
        .flat_map(|e| arr_at(e, &["addresses"]))
        .map(|a| a.as_str().unwrap_or_default().to_string())
        .collect();
    let list: Vec<String> = all.iter().take(MAX).cloned().collect();
    list_with_more(&list, all.len() > MAX, all.len(), MAX)
}

fn endpoint_slice(obj: &Value, now: SystemTime) -> Row {
    Row::of(vec![
        name(obj),
        text(str_at(obj, &["addressType"])),
        text(discovery_ports(arr_at(obj, &["ports"]))),
        text(discovery_endpoints(arr_at(obj, &["endpoints"]))),
        age(obj, now),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::printers::cells::testing::now;
    use serde_json::json;

    #[test]
    fn ingresses() {
        let ing = json!({"metadata": {"name": "web", "creationTimestamp": "2025-06-01T11:00:00Z"},
            "spec": {"ingressClassName": "nginx", "tls": [{"hosts": ["a.example.com"]}],
                "rules": [{"host": "a.example.com"}, {}, {"host": "b.example.com"}, {"host": "c.example.com"}, {"host": "d.example.com"}]},
            "status": {"loadBalancer": {"ingress": [{"ip": "192.168.1.10"}, {"hostname": "lb.example.com"}]}}});
        assert_eq!(
            ingress(&ing, now()).cells,
            vec![
                json!("web"),
                json!("nginx"),
                json!("a.example.com,b.example.com,c.example.com + 2 more..."),
                json!("192.168.1.10,lb.example.com"),
                json!("80, 443"),
                json!("60m")
            ]
        );
        assert_eq!(
            ingress(&json!({}), now()).cells[1..5],
            [json!("<none>"), json!("*"), json!(""), json!("80")]
        );
        let class = json!({"spec": {"controller": "k8s.io/ingress-nginx", "parameters": {"apiGroup": "k8s.example.com", "kind": "IngressParameters", "name": "p"}}});
        assert_eq!(
            ingress_class(&class, now()).cells[1..3],
            [
                json!("k8s.io/ingress-nginx"),
                json!("IngressParameters.k8s.example.com/p")
            ]
        );
        assert_eq!(
            ingress_class(
                &json!({"spec": {"parameters": {"kind": "ConfigMap", "name": "c"}}}),
                now()
            )
            .cells[2],
            "ConfigMap/c"
        );
        assert_eq!(ingress_class(&json!({}), now()).cells[2], "<none>");
    }

    #[test]
    fn network_policies() {
        let np = json!({"spec": {"podSelector": {"matchLabels": {"role": "db"}}}});
        assert_eq!(network_policy(&np, now()).cells[1], "role=db");
        assert_eq!(
            network_policy(&json!({"spec": {"podSelector": {}}}), now()).cells[1],
            "<none>"
        );
        assert_eq!(network_policy(&json!({}), now()).cells[1], "<none>");
    }

    #[test]
    fn endpoint_slices() {
        let es = json!({"addressType": "IPv4", "ports": [{"name": "http", "port": 80}, {"name": "metrics"}, {}, {"port": 9}],
            "endpoints": [{"addresses": ["10.0.0.1"]}, {"addresses": ["10.0.0.2", "10.0.0.3"]}, {"addresses": ["10.0.0.4"]}]});
        assert_eq!(
            endpoint_slice(&es, now()).cells[1..4],
            [
                json!("IPv4"),
                json!("80,metrics,* + 1 more..."),
                json!("10.0.0.1,10.0.0.2,10.0.0.3 + 1 more...")
            ]
        );
        assert_eq!(
            endpoint_slice(&json!({}), now()).cells[1..4],
            [json!(""), json!("<unset>"), json!("<unset>")]
        );
    }
}
