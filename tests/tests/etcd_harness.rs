//! The etcd test harness (`e2e::etcd`) against the real `etcd`: healthy on
//! its own endpoint, counted by its metrics, down after a stop, back with its
//! data after a restart; with TLS, reachable only with the client
//! certificate it generated.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use e2e::etcd::Etcd;
use serde_json::{Value, json};

/// `GET <endpoint>/health` with `client`: the `health` field of the answer.
async fn health(client: &reqwest::Client, endpoint: &str) -> Result<String, reqwest::Error> {
    let body: Value = client
        .get(format!("{endpoint}/health"))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    Ok(body["health"].as_str().unwrap_or_default().to_owned())
}

/// A request to etcd's JSON gateway (`/v3/...`, which goes through gRPC).
async fn gateway(etcd: &Etcd, path: &str, body: Value) -> Value {
    etcd.http_client()
        .post(format!("{}/v3/{path}", etcd.endpoint()))
        .json(&body)
        .send()
        .await
        .unwrap()
        .error_for_status()
        .unwrap()
        .json()
        .await
        .unwrap()
}

#[tokio::test]
async fn plain_etcd_stops_and_restarts_with_its_data() {
    let mut etcd = Etcd::start().await.expect("etcd starts");
    let endpoint = etcd.endpoint();
    assert_eq!(endpoint, format!("http://127.0.0.1:{}", etcd.port()));
    assert_ne!(etcd.port(), etcd.peer_port());
    assert!(etcd.ca_file().is_none() && etcd.client_cert_file().is_none());
    let plain = reqwest::Client::builder().no_proxy().build().unwrap();
    assert_eq!(health(&plain, &endpoint).await.unwrap(), "true");

    // The metrics count what the gateway asked of the KV service.
    let before = etcd.metrics().await.expect("metrics");
    for method in ["Range", "Put", "DeleteRange", "Txn", "Compact"] {
        assert!(before.requests.contains_key(method), "{method}: {before:?}");
    }
    let (key, value) = (B64.encode("harness/key"), B64.encode("kept"));
    gateway(&etcd, "kv/put", json!({"key": key, "value": value})).await;
    gateway(&etcd, "kv/range", json!({"key": key})).await;
    let done = etcd.metrics().await.unwrap().since(&before);
    assert_eq!(done.method("Put"), 1.0, "{done:?}");
    assert_eq!(done.method("Range"), 1.0, "{done:?}");
    assert_eq!(done.kv_requests(), 2.0, "{done:?}");
    assert_eq!(done.writes, 1.0, "{done:?}");

    // Stopped: nothing listens on the client port.
    etcd.stop().await;
    assert!(!etcd.is_running());
    let refused = tokio::net::TcpStream::connect(("127.0.0.1", etcd.port())).await;
    assert_eq!(
        refused.err().map(|e| e.kind()),
        Some(std::io::ErrorKind::ConnectionRefused)
    );
    assert!(etcd.data_dir().join("member").is_dir());

    // Restarted: same endpoint, same data.
    etcd.restart().await.expect("etcd restarts");
    assert_eq!(etcd.endpoint(), endpoint);
    assert_eq!(health(&plain, &endpoint).await.unwrap(), "true");
    assert!(etcd.data_dir().is_dir());
    let read = gateway(&etcd, "kv/range", json!({"key": key})).await;
    assert_eq!(read["kvs"][0]["value"], value, "{read}");

    // Dropped: killed and its directory removed.
    let data_dir = etcd.data_dir();
    drop(etcd);
    assert!(!data_dir.exists());
}

#[tokio::test]
async fn tls_etcd_requires_the_client_certificate() {
    let etcd = Etcd::start_tls().await.expect("etcd starts with TLS");
    let endpoint = etcd.endpoint();
    assert_eq!(endpoint, format!("https://127.0.0.1:{}", etcd.port()));
    let ca = std::fs::read(etcd.ca_file().unwrap()).unwrap();
    let mut identity = std::fs::read(etcd.client_cert_file().unwrap()).unwrap();
    identity.extend(std::fs::read(etcd.client_key_file().unwrap()).unwrap());

    // Plain HTTP on the TLS port: no health.
    let plain = reqwest::Client::builder().no_proxy().build().unwrap();
    let http_endpoint = format!("http://127.0.0.1:{}", etcd.port());
    assert!(health(&plain, &http_endpoint).await.is_err());

    // HTTPS trusting the CA, without a client certificate: refused.
    let anonymous = reqwest::Client::builder()
        .no_proxy()
        .use_rustls_tls()
        .add_root_certificate(reqwest::Certificate::from_pem(&ca).unwrap())
        .build()
        .unwrap();
    let refused = health(&anonymous, &endpoint).await.unwrap_err();
    // The server's alert (Go sends bad_certificate, or certificate_required
    // in newer versions), not a CA the client does not trust.
    let why = format!("{refused:?}");
    assert!(
        why.contains("BadCertificate") || why.contains("CertificateRequired"),
        "{why}"
    );

    // With the files the harness wrote, as a client of the server would use
    // them; and with the harness's own client.
    let authenticated = reqwest::Client::builder()
        .no_proxy()
        .use_rustls_tls()
        .add_root_certificate(reqwest::Certificate::from_pem(&ca).unwrap())
        .identity(reqwest::Identity::from_pem(&identity).unwrap())
        .build()
        .unwrap();
    assert_eq!(health(&authenticated, &endpoint).await.unwrap(), "true");
    assert!(etcd.healthy().await);
    let counts = etcd.metrics().await.expect("metrics over TLS");
    assert!(counts.requests.contains_key("Put"), "{counts:?}");
}
