//! The health and metrics HTTP server of one operator.
//!
//! This module owns the tiny HTTP/1 server (hyper 1 + hyper-util, no framework)
//! that exposes `GET /metrics` (Prometheus text format), `GET /healthz`
//! (liveness: the process is alive and serving) and `GET /readyz` (readiness,
//! from a flag the operator flips with [`Health::set_ready`]). `HEAD` is
//! accepted wherever `GET` is; other methods get 405, other paths 404.
//! What the endpoints read lives in [`Health`]; the server is [`HealthServer`].

use std::convert::Infallible;
use std::fmt;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http::header::{ALLOW, CONTENT_TYPE, HeaderValue};
use http::{Method, Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tracing::debug;

/// `Content-Type` of `/metrics`: Prometheus text exposition format 0.0.4.
pub const METRICS_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";
const TEXT_CONTENT_TYPE: &str = "text/plain; charset=utf-8";
/// How long a client may take to send a request's headers.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// How long open connections may take to finish once shutdown is asked for.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);
/// Pause after a failed `accept` (e.g. out of file descriptors) before retrying.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

type RenderFn = dyn Fn() -> Result<String, String> + Send + Sync;
type RefreshFn = dyn Fn() + Send + Sync;

/// What the endpoints read: the readiness flag, the metrics renderer and an
/// optional refresh hook run before each render. Cheap to clone: clones share
/// the same flag and functions.
#[derive(Clone)]
pub struct Health {
    ready: Arc<AtomicBool>,
    render_metrics: Arc<RenderFn>,
    refresh: Option<Arc<RefreshFn>>,
}

impl fmt::Debug for Health {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Health")
            .field("ready", &self.is_ready())
            .field("refresh", &self.refresh.is_some())
            .finish_non_exhaustive()
    }
}

impl Health {
    /// Creates a not-yet-ready `Health` whose `/metrics` serves what
    /// `render_metrics` returns (its `Err` text becomes a 500).
    pub fn new(
        render_metrics: impl Fn() -> Result<String, String> + Send + Sync + 'static,
    ) -> Self {
        Self {
            ready: Arc::new(AtomicBool::new(false)),
            render_metrics: Arc::new(render_metrics),
            refresh: None,
        }
    }

    /// Sets a hook run before every render of `/metrics`, e.g. to update
    /// gauges (queue depth, watched objects) that are sampled, not pushed.
    #[must_use]
    pub fn with_refresh(mut self, refresh: impl Fn() + Send + Sync + 'static) -> Self {
        self.refresh = Some(Arc::new(refresh));
        self
    }

    /// Sets whether `/readyz` answers 200 (`true`) or 503 (`false`).
    pub fn set_ready(&self, ready: bool) {
        self.ready.store(ready, Ordering::Release);
    }

    /// Whether `/readyz` currently answers 200.
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Acquire)
    }

    fn render(&self) -> Result<String, String> {
        if let Some(refresh) = &self.refresh {
            refresh();
        }
        (self.render_metrics)()
    }
}

/// A running health server; dropping it does not stop it (resolve the
/// `shutdown` future given to [`HealthServer::bind`] for that).
#[derive(Debug)]
pub struct HealthServer {
    local_addr: SocketAddr,
    task: JoinHandle<()>,
}

impl HealthServer {
    /// Binds `addr` (port 0 allowed) and serves until `shutdown` resolves,
    /// finishing open connections gracefully (for at most 10 seconds).
    pub async fn bind(
        addr: SocketAddr,
        health: Health,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<Self, std::io::Error> {
        let listener = TcpListener::bind(addr).await?;
        let local_addr = listener.local_addr()?;
        let task = tokio::spawn(serve(listener, health, shutdown));
        Ok(Self { local_addr, task })
    }

    /// The address actually bound (with the real port if 0 was asked for).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Waits until the server has stopped: the listener is closed and open
    /// connections are finished.
    pub async fn stopped(self) {
        if let Err(e) = self.task.await {
            debug!(error = %e, "health server task ended abnormally");
        }
    }
}

async fn serve(listener: TcpListener, health: Health, shutdown: impl Future<Output = ()>) {
    let graceful = GracefulShutdown::new();
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT);
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => {
                let (stream, peer) = match accepted {
                    Ok(accepted) => accepted,
                    Err(e) => {
                        debug!(error = %e, "health server: accept failed");
                        tokio::time::sleep(ACCEPT_BACKOFF).await;
                        continue;
                    }
                };
                let health = health.clone();
                let service = service_fn(move |req| {
                    let response = respond(&health, &req);
                    async move { Ok::<_, Infallible>(response) }
                });
                let conn = graceful.watch(builder.serve_connection(TokioIo::new(stream), service));
                tokio::spawn(async move {
                    if let Err(e) = conn.await {
                        debug!(%peer, error = %e, "health server: connection error");
                    }
                });
            }
        }
    }
    drop(listener);
    if tokio::time::timeout(SHUTDOWN_GRACE, graceful.shutdown())
        .await
        .is_err()
    {
        debug!("health server: connections still open after the grace period, dropping them");
    }
}

fn respond(health: &Health, req: &Request<Incoming>) -> Response<Full<Bytes>> {
    let path = req.uri().path();
    if !matches!(path, "/metrics" | "/healthz" | "/readyz") {
        return text(StatusCode::NOT_FOUND, "not found".to_owned());
    }
    if !matches!(*req.method(), Method::GET | Method::HEAD) {
        let mut response = text(
            StatusCode::METHOD_NOT_ALLOWED,
            "method not allowed".to_owned(),
        );
        response
            .headers_mut()
            .insert(ALLOW, HeaderValue::from_static("GET, HEAD"));
        return response;
    }
    match path {
        "/metrics" => match health.render() {
            Ok(body) => {
                let mut response = text(StatusCode::OK, body);
                response
                    .headers_mut()
                    .insert(CONTENT_TYPE, HeaderValue::from_static(METRICS_CONTENT_TYPE));
                response
            }
            Err(e) => {
                debug!(error = %e, "health server: rendering metrics failed");
                text(StatusCode::INTERNAL_SERVER_ERROR, e)
            }
        },
        "/readyz" if !health.is_ready() => {
            text(StatusCode::SERVICE_UNAVAILABLE, "not ready".to_owned())
        }
        _ => text(StatusCode::OK, "ok".to_owned()),
    }
}

fn text(status: StatusCode, body: String) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(TEXT_CONTENT_TYPE));
    response
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    use tokio::net::TcpStream;
    use tokio::sync::oneshot;

    use super::*;
    use crate::metrics::Metrics;

    struct Reply {
        status: u16,
        head: String,
        body: String,
    }

    /// One raw HTTP/1.1 request on a fresh connection (`Connection: close`).
    async fn request(addr: SocketAddr, method: &str, path: &str) -> Reply {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        let req = format!("{method} {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n");
        stream.write_all(req.as_bytes()).await.unwrap();
        let mut raw = String::new();
        stream.read_to_string(&mut raw).await.unwrap();
        let (head, body) = raw.split_once("\r\n\r\n").unwrap();
        let status = head.split(' ').nth(1).unwrap().parse().unwrap();
        Reply {
            status,
            head: head.to_ascii_lowercase(),
            body: body.to_owned(),
        }
    }

    async fn start(health: Health) -> (HealthServer, oneshot::Sender<()>) {
        let (tx, rx) = oneshot::channel::<()>();
        let addr: SocketAddr = "127.0.0.1:0".parse().unwrap();
        let server = HealthServer::bind(addr, health, async move {
            let _ = rx.await;
        })
        .await
        .unwrap();
        assert_ne!(server.local_addr().port(), 0);
        (server, tx)
    }

    #[tokio::test]
    async fn endpoints_readiness_and_shutdown() {
        let metrics = Metrics::new("http-test").unwrap();
        let m = metrics.clone();
        let health = Health::new(move || m.encode().map_err(|e| e.to_string()));
        let m = metrics.clone();
        let health = health.with_refresh(move || m.set_queue_depth(42));
        let (server, stop) = start(health.clone()).await;
        let addr = server.local_addr();

        let r = request(addr, "GET", "/metrics").await;
        assert_eq!(r.status, 200);
        assert!(
            r.head
                .contains("content-type: text/plain; version=0.0.4; charset=utf-8"),
            "{}",
            r.head
        );
        assert!(
            r.body
                .contains(r#"operatorkit_queue_depth{controller="http-test"} 42"#),
            "{}",
            r.body
        );

        let r = request(addr, "GET", "/healthz").await;
        assert_eq!((r.status, r.body.as_str()), (200, "ok"));

        let r = request(addr, "GET", "/readyz").await;
        assert_eq!((r.status, r.body.as_str()), (503, "not ready"));
        health.set_ready(true);
        assert!(health.is_ready());
        let r = request(addr, "GET", "/readyz").await;
        assert_eq!((r.status, r.body.as_str()), (200, "ok"));

        let r = request(addr, "HEAD", "/healthz").await;
        assert_eq!((r.status, r.body.as_str()), (200, ""));
        let r = request(addr, "GET", "/nope").await;
        assert_eq!(r.status, 404);
        let r = request(addr, "POST", "/metrics").await;
        assert_eq!(r.status, 405);
        assert!(r.head.contains("allow: get, head"), "{}", r.head);

        // Neither a connection that never sent a byte nor an idle keep-alive
        // connection may hold up shutdown (the silent one is accepted first).
        let _silent = TcpStream::connect(addr).await.unwrap();
        let mut idle = TcpStream::connect(addr).await.unwrap();
        idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: test\r\n\r\n")
            .await
            .unwrap();
        let mut buf = [0u8; 512];
        let n = idle.read(&mut buf).await.unwrap();
        assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));

        stop.send(()).unwrap();
        tokio::time::timeout(Duration::from_secs(2), server.stopped())
            .await
            .unwrap();
        assert!(
            TcpStream::connect(addr).await.is_err(),
            "listener still open"
        );
        // The idle connection was closed by the server.
        let n = tokio::time::timeout(Duration::from_secs(5), idle.read(&mut buf))
            .await
            .unwrap();
        assert!(matches!(n, Ok(0) | Err(_)));
    }

    #[tokio::test]
    async fn metrics_render_error_is_500() {
        let (server, stop) = start(Health::new(|| Err("registry broken".to_owned()))).await;
        let r = request(server.local_addr(), "GET", "/metrics").await;
        assert_eq!((r.status, r.body.as_str()), (500, "registry broken"));
        stop.send(()).unwrap();
        tokio::time::timeout(Duration::from_secs(5), server.stopped())
            .await
            .unwrap();
    }
}
