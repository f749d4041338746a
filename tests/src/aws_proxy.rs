//! A loopback proxy between aws-operator and moto that counts every AWS
//! call by action and injects what moto cannot make by itself: throttling,
//! 5xx answers, reset connections, stacks that stay `*_IN_PROGRESS` or
//! fail (with stack events naming the failed resource).
//!
//! The action of a call is the `Action` of a query-protocol body (STS,
//! EC2, CloudFormation, Auto Scaling), the `X-Amz-Target` operation of a
//! JSON-protocol call (KMS), or `<service> <METHOD>` for REST services
//! (S3, Route53). A call is a write unless its action reads
//! (`Describe*`, `List*`, `Get*`, `GET`, `HEAD`).

// Test support: a failed step must fail the test that called it, plainly.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

/// What the proxy does instead of (or to) moto's answer.
#[derive(Clone, Debug)]
pub enum Fault {
    /// AWS's `Throttling` (HTTP 400), which the SDK retries with backoff.
    Throttle,
    /// An HTTP 503 with no body.
    Unavailable,
    /// The connection is closed without an answer.
    Reset,
    /// moto's answer with every `<tag>…</tag>` set to `value` (e.g.
    /// `StackStatus`).
    SetTag {
        /// The XML element.
        tag: &'static str,
        /// Its new text.
        value: String,
    },
    /// This answer (HTTP 200) instead of moto's.
    Answer(String),
    /// moto gets the call (and does it), its answer never comes back: the
    /// caller hangs as if it crashed right after AWS acted.
    Hold,
}

#[derive(Debug)]
struct Rule {
    action: String,
    left: usize,
    fault: Fault,
}

#[derive(Default)]
struct State {
    calls: BTreeMap<String, usize>,
    rules: Vec<Rule>,
    served: BTreeMap<String, usize>,
}

/// Calls by action, at one moment.
pub type Calls = BTreeMap<String, usize>;

/// The proxy; stops when dropped.
pub struct FaultProxy {
    addr: SocketAddr,
    state: Arc<Mutex<State>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FaultProxy {
    /// A proxy on a free loopback port in front of `upstream` (moto's
    /// endpoint).
    pub async fn start(upstream: String) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(Mutex::new(State::default()));
        let client = reqwest::Client::new();
        let task_state = state.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let (state, client, upstream) =
                    (task_state.clone(), client.clone(), upstream.clone());
                tokio::spawn(async move {
                    let service = service_fn(move |req| {
                        handle(req, state.clone(), client.clone(), upstream.clone())
                    });
                    // A reset connection ends here with an error: intended.
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Self { addr, state, task }
    }

    /// The endpoint to give aws-operator.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Answers the next `times` calls of `action` with `fault`.
    pub fn inject(&self, action: &str, times: usize, fault: Fault) {
        self.state.lock().unwrap().rules.push(Rule {
            action: action.to_owned(),
            left: times,
            fault,
        });
    }

    /// Removes every fault not yet served.
    pub fn heal(&self) {
        self.state.lock().unwrap().rules.clear();
    }

    /// Calls so far, by action.
    pub fn calls(&self) -> Calls {
        self.state.lock().unwrap().calls.clone()
    }

    /// Faults served so far, by action.
    pub fn served(&self) -> Calls {
        self.state.lock().unwrap().served.clone()
    }
}

/// The calls made since `before`, by action.
pub fn since(now: &Calls, before: &Calls) -> Calls {
    now.iter()
        .map(|(k, n)| (k.clone(), n - before.get(k).copied().unwrap_or(0)))
        .filter(|(_, n)| *n > 0)
        .collect()
}

/// Whether a call of `action` writes.
pub fn is_write(action: &str) -> bool {
    let op = action.rsplit(' ').next().unwrap_or(action);
    !["Describe", "List", "Get", "Head"]
        .iter()
        .any(|p| op.starts_with(p))
}

/// The action of a call (see the module docs).
fn action(req: &http::request::Parts, body: &[u8]) -> String {
    if let Some(target) = req
        .headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
    {
        return target.rsplit('.').next().unwrap_or(target).to_owned();
    }
    let form = String::from_utf8_lossy(body);
    if let Some(a) = form
        .split('&')
        .find_map(|pair| pair.strip_prefix("Action="))
    {
        return a.to_owned();
    }
    rest_action(
        req.method.as_str(),
        req.uri.path(),
        req.uri.query().unwrap_or(""),
    )
}

/// The operation of a REST call (S3, path-style; Route53), as the SDK
/// names it.
fn rest_action(method: &str, path: &str, query: &str) -> String {
    if let Some(route53) = path.strip_prefix("/2013-04-01/") {
        let op = match (method, route53.split('/').next().unwrap_or_default()) {
            ("GET", "hostedzonesbyname") => "ListHostedZonesByName",
            ("POST", "hostedzone") => "CreateHostedZone",
            ("GET", "hostedzone") => "GetHostedZone",
            _ => "Other",
        };
        return format!("route53 {op}");
    }
    let object = path
        .trim_start_matches('/')
        .split_once('/')
        .is_some_and(|(_, key)| !key.is_empty());
    let sub = query.split('&').next().unwrap_or_default();
    let sub = sub.split('=').next().unwrap_or_default();
    let op = match (method, object, sub) {
        ("PUT", false, "") => "CreateBucket",
        ("PUT", false, "encryption") => "PutBucketEncryption",
        ("PUT", false, "tagging") => "PutBucketTagging",
        ("PUT", false, "publicAccessBlock") => "PutPublicAccessBlock",
        ("PUT", true, _) => "PutObject",
        ("GET", false, "encryption") => "GetBucketEncryption",
        ("GET", false, "tagging") => "GetBucketTagging",
        ("GET", false, "publicAccessBlock") => "GetPublicAccessBlock",
        ("GET", false, "list-type") => "ListObjectsV2",
        ("GET", true, _) => "GetObject",
        ("HEAD", false, _) => "HeadBucket",
        ("HEAD", true, _) => "HeadObject",
        ("DELETE", false, _) => "DeleteBucket",
        ("DELETE", true, _) => "DeleteObject",
        _ => "Other",
    };
    format!("s3 {op}")
}

fn throttled() -> Response<Full<Bytes>> {
    let body = "<ErrorResponse><Error><Type>Sender</Type><Code>Throttling</Code>\
                <Message>Rate exceeded</Message></Error><RequestId>proxy</RequestId></ErrorResponse>";
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = http::StatusCode::BAD_REQUEST;
    r
}

fn set_tag(body: &str, tag: &str, value: &str) -> String {
    let (open, close) = (format!("<{tag}>"), format!("</{tag}>"));
    let mut out = String::new();
    let mut rest = body;
    while let Some(i) = rest.find(&open) {
        let after = &rest[i + open.len()..];
        let Some(j) = after.find(&close) else { break };
        out.push_str(&rest[..i + open.len()]);
        out.push_str(value);
        rest = &after[j..];
    }
    out.push_str(rest);
    out
}

async fn handle(
    req: Request<Incoming>,
    state: Arc<Mutex<State>>,
    client: reqwest::Client,
    upstream: String,
) -> Result<Response<Full<Bytes>>, std::io::Error> {
    let (parts, body) = req.into_parts();
    let body = body
        .collect()
        .await
        .map_err(std::io::Error::other)?
        .to_bytes();
    let action = action(&parts, &body);
    let fault = {
        let mut s = state.lock().unwrap();
        *s.calls.entry(action.clone()).or_default() += 1;
        let rule = s
            .rules
            .iter_mut()
            .find(|r| r.action == action && r.left > 0);
        let fault = rule.map(|r| {
            r.left -= 1;
            r.fault.clone()
        });
        if fault.is_some() {
            *s.served.entry(action.clone()).or_default() += 1;
        }
        fault
    };
    match &fault {
        Some(Fault::Throttle) => return Ok(throttled()),
        Some(Fault::Unavailable) => {
            let mut r = Response::new(Full::new(Bytes::new()));
            *r.status_mut() = http::StatusCode::SERVICE_UNAVAILABLE;
            return Ok(r);
        }
        Some(Fault::Reset) => return Err(std::io::Error::other("reset by the fault proxy")),
        Some(Fault::Answer(text)) => {
            return Ok(Response::new(Full::new(Bytes::from(text.clone()))));
        }
        Some(Fault::SetTag { .. } | Fault::Hold) | None => {}
    }
    let url = format!(
        "{upstream}{}",
        parts
            .uri
            .path_and_query()
            .map(|p| p.as_str())
            .unwrap_or("/")
    );
    let mut forward = client.request(parts.method.clone(), url).body(body);
    for (name, value) in &parts.headers {
        if name != http::header::HOST {
            forward = forward.header(name, value);
        }
    }
    let answer = forward.send().await.map_err(std::io::Error::other)?;
    let mut response = Response::builder().status(answer.status());
    for (name, value) in answer.headers() {
        if name != http::header::CONTENT_LENGTH && name != http::header::TRANSFER_ENCODING {
            response = response.header(name, value);
        }
    }
    let mut bytes = answer.bytes().await.map_err(std::io::Error::other)?;
    if let Some(Fault::Hold) = &fault {
        std::future::pending::<()>().await;
    }
    if let Some(Fault::SetTag { tag, value }) = &fault {
        bytes = Bytes::from(set_tag(&String::from_utf8_lossy(&bytes), tag, value));
    }
    response
        .body(Full::new(bytes))
        .map_err(std::io::Error::other)
}

/// A DescribeStackEvents answer: the stack's creation started, `resource`
/// (`type_`) failed with `reason`, the stack rolled back.
pub fn failed_events(stack: &str, resource: &str, type_: &str, reason: &str) -> String {
    let event = |id: u8, logical: &str, kind: &str, status: &str, why: &str| {
        format!(
            "<member><StackId>arn:aws:cloudformation:eu-central-1:123456789012:stack/{stack}/1</StackId>\
             <EventId>{id}</EventId><StackName>{stack}</StackName>\
             <LogicalResourceId>{logical}</LogicalResourceId><ResourceType>{kind}</ResourceType>\
             <Timestamp>2026-12-05T00:00:0{id}Z</Timestamp><ResourceStatus>{status}</ResourceStatus>\
             <ResourceStatusReason>{why}</ResourceStatusReason></member>"
        )
    };
    let stack_type = "AWS::CloudFormation::Stack";
    format!(
        "<DescribeStackEventsResponse xmlns=\"http://cloudformation.amazonaws.com/doc/2010-05-15/\">\
         <DescribeStackEventsResult><StackEvents>{}{}{}{}</StackEvents></DescribeStackEventsResult>\
         <ResponseMetadata><RequestId>proxy</RequestId></ResponseMetadata></DescribeStackEventsResponse>",
        event(4, stack, stack_type, "ROLLBACK_COMPLETE", ""),
        event(3, "Vpc", "AWS::EC2::VPC", "DELETE_COMPLETE", ""),
        event(2, resource, type_, "CREATE_FAILED", reason),
        event(1, stack, stack_type, "CREATE_IN_PROGRESS", "User Initiated"),
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn sets_every_tag() {
        let body = "<a><StackStatus>CREATE_COMPLETE</StackStatus><StackStatus>X</StackStatus></a>";
        assert_eq!(
            super::set_tag(body, "StackStatus", "CREATE_IN_PROGRESS"),
            "<a><StackStatus>CREATE_IN_PROGRESS</StackStatus><StackStatus>CREATE_IN_PROGRESS</StackStatus></a>"
        );
        assert!(super::is_write("CreateStack"));
        assert!(!super::is_write("DescribeStacks"));
        assert!(!super::is_write("s3 HeadBucket"));
        assert!(super::is_write("s3 PutBucketTagging"));
        assert_eq!(
            super::rest_action("PUT", "/b", "encryption"),
            "s3 PutBucketEncryption"
        );
        assert_eq!(
            super::rest_action("GET", "/b", "list-type=2&x=y"),
            "s3 ListObjectsV2"
        );
        assert_eq!(
            super::rest_action("DELETE", "/b/k/x.json", ""),
            "s3 DeleteObject"
        );
        assert_eq!(
            super::rest_action("GET", "/2013-04-01/hostedzonesbyname", "dnsname=a."),
            "route53 ListHostedZonesByName"
        );
    }
}
