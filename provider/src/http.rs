//! The provider's one HTTP client (async, pooled, HTTP/1.1, TLS with bundled roots), shared by
//! every feed for both the long-lived `_changes` streams and the trigger fires.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::{Request, Response, Uri};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use tokio::sync::Semaphore;
use tower_service::Service;

/// The request body type of every outgoing request: small JSON or nothing.
pub type OutBody = Full<Bytes>;
pub type HttpClient = Client<HttpsConnector<LimitedConnector>, OutBody>;

/// A TCP connector that lets only so many connects be in progress at once. After a restart or a
/// takeover thousands of feeds connect together; neither the databases nor their listen
/// backlogs like a thundering herd. The limit covers the TCP connect only: a `_changes` answer
/// whose head the database withholds until the first change or heartbeat holds nothing.
#[derive(Clone)]
pub struct LimitedConnector {
    inner: HttpConnector,
    permits: Arc<Semaphore>,
}

impl Service<Uri> for LimitedConnector {
    type Response = <HttpConnector as Service<Uri>>::Response;
    type Error = <HttpConnector as Service<Uri>>::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, context: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(context)
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        let mut inner = self.inner.clone();
        let permits = self.permits.clone();
        Box::pin(async move {
            // The semaphore is never closed.
            let _permit = permits.acquire_owned().await.ok();
            inner.call(uri).await
        })
    }
}

const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Answers (databases' error bodies, OpenWhisk's fire answers) are read up to this size.
const MAX_ANSWER_BYTES: usize = 256 * 1024;

/// Builds the shared client, with at most `connects` TCP connects in progress at once. Idle
/// connections are kept per host, so the fires of many feeds to one OpenWhisk reuse a few
/// connections.
pub fn client(connects: usize) -> Result<HttpClient, rustls::Error> {
    let mut connector = HttpConnector::new();
    connector.enforce_http(false);
    connector.set_nodelay(true);
    connector.set_connect_timeout(Some(CONNECT_TIMEOUT));
    connector.set_keepalive(Some(Duration::from_secs(60)));
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_provider_and_webpki_roots(rustls::crypto::ring::default_provider())?
        .https_or_http()
        .enable_http1()
        .wrap_connector(LimitedConnector {
            inner: connector,
            permits: Arc::new(Semaphore::new(connects.max(1))),
        });
    Ok(Client::builder(TokioExecutor::new())
        .pool_idle_timeout(Duration::from_secs(30))
        .pool_max_idle_per_host(512)
        .build(https))
}

/// Why a request got no answer.
#[derive(Debug, Clone, thiserror::Error)]
pub enum TransportError {
    #[error("no answer within {0} ms")]
    Timeout(u128),
    #[error("{0}")]
    Failed(String),
}

/// Sends a request and waits for the answer's head, within `timeout`.
pub async fn send(
    client: &HttpClient,
    request: Request<OutBody>,
    timeout: Duration,
) -> Result<Response<Incoming>, TransportError> {
    match tokio::time::timeout(timeout, client.request(request)).await {
        Err(_) => Err(TransportError::Timeout(timeout.as_millis())),
        Ok(Err(error)) => Err(TransportError::Failed(describe(&error))),
        Ok(Ok(response)) => Ok(response),
    }
}

/// Reads a whole (bounded) answer body, within `timeout`.
pub async fn read_body(body: Incoming, timeout: Duration) -> Result<Bytes, TransportError> {
    read_body_up_to(body, timeout, MAX_ANSWER_BYTES).await
}

/// Reads a whole answer body of at most `limit` bytes, within `timeout`.
pub async fn read_body_up_to(
    body: Incoming,
    timeout: Duration,
    limit: usize,
) -> Result<Bytes, TransportError> {
    let limited = Limited::new(body, limit);
    match tokio::time::timeout(timeout, limited.collect()).await {
        Err(_) => Err(TransportError::Timeout(timeout.as_millis())),
        Ok(Err(error)) => Err(TransportError::Failed(format!(
            "reading the answer failed: {error}"
        ))),
        Ok(Ok(collected)) => Ok(collected.to_bytes()),
    }
}

/// Answers of the fleet's registry (pages of feed records) are read up to this size.
const MAX_REGISTRY_ANSWER_BYTES: usize = 64 * 1024 * 1024;

/// One JSON exchange: `method url` with an optional JSON body and `headers` (`Authorization`,
/// ...); the answer's status and body (`Null` when it is not JSON, at most 64 MiB), all within
/// `timeout`.
pub async fn json_request(
    client: &HttpClient,
    method: hyper::Method,
    url: &str,
    headers: &[(&str, &str)],
    body: Option<&serde_json::Value>,
    timeout: Duration,
) -> Result<(u16, serde_json::Value), TransportError> {
    let mut request = Request::builder()
        .method(method)
        .uri(url)
        .header(hyper::header::ACCEPT, "application/json");
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let body = match body {
        Some(body) => {
            request = request.header(hyper::header::CONTENT_TYPE, "application/json");
            Bytes::from(body.to_string())
        }
        None => Bytes::new(),
    };
    let request = request
        .body(Full::new(body))
        .map_err(|error| TransportError::Failed(format!("cannot build the request: {error}")))?;
    let started = std::time::Instant::now();
    let response = send(client, request, timeout).await?;
    let status = response.status().as_u16();
    let left = timeout.saturating_sub(started.elapsed());
    let body = read_body_up_to(response.into_body(), left, MAX_REGISTRY_ANSWER_BYTES).await?;
    Ok((
        status,
        serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null),
    ))
}

/// An error and its sources in one line (hyper's own message is often just "client error").
pub fn describe(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

/// Reads a continuous feed's lines (a database's `_changes`). It waits for data only when asked to (`wait`): otherwise it gives the
/// lines that already arrived, so that a batch holds what is there without delaying the fire.
pub struct LineReader {
    body: Incoming,
    buffer: BytesMut,
    idle_limit: Duration,
}

impl LineReader {
    pub fn new(body: Incoming, heartbeat: Duration) -> Self {
        Self {
            body,
            buffer: BytesMut::new(),
            // Two missed heartbeats and some slack: the connection is dead even if TCP says not.
            idle_limit: heartbeat * 2 + Duration::from_secs(5),
        }
    }

    pub async fn next_line(&mut self, wait: bool) -> Result<Option<Bytes>, String> {
        loop {
            if let Some(end) = self.buffer.iter().position(|byte| *byte == b'\n') {
                let mut line = self.buffer.split_to(end + 1);
                line.truncate(end);
                return Ok(Some(line.freeze()));
            }
            let limit = if wait {
                self.idle_limit
            } else {
                Duration::ZERO
            };
            // A zero timeout still polls the read once: data that already arrived is taken.
            match tokio::time::timeout(limit, self.body.frame()).await {
                Err(_) if wait => {
                    return Err(format!(
                        "no data (not even a heartbeat) for {} ms",
                        self.idle_limit.as_millis()
                    ));
                }
                Err(_) => return Ok(None),
                Ok(None) => return Err("the database closed the feed".into()),
                Ok(Some(Err(error))) => {
                    return Err(format!("reading the feed failed: {}", describe(&error)));
                }
                Ok(Some(Ok(frame))) => {
                    if let Ok(data) = frame.into_data() {
                        self.buffer.extend_from_slice(&data);
                    }
                }
            }
        }
    }
}

/// Percent-encodes one URL path segment or query value (feedkit's, re-exported for the provider).
pub use feedkit::percent_encode as encode_component;

/// Decodes a percent-encoded path segment; `None` when it is not valid UTF-8 or malformed.
pub fn decode_component(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        match bytes[index] {
            b'%' => {
                let hex = text.get(index + 1..index + 3)?;
                decoded.push(u8::from_str_radix(hex, 16).ok()?);
                index += 3;
            }
            byte => {
                decoded.push(byte);
                index += 1;
            }
        }
    }
    String::from_utf8(decoded).ok()
}

/// A Basic `Authorization` value.
pub fn basic_auth(user: &str, password: &str) -> String {
    use base64::Engine as _;
    let encoded = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    format!("Basic {encoded}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_and_decodes_segments() {
        assert_eq!(encode_component("a b/c@d"), "a%20b%2Fc%40d");
        assert_eq!(
            decode_component("a%20b%2Fc%40d").as_deref(),
            Some("a b/c@d")
        );
        assert_eq!(decode_component("bad%2"), None);
        assert_eq!(decode_component("bad%zz"), None);
    }

    #[test]
    fn basic_auth_is_standard_base64() {
        assert_eq!(
            basic_auth("Aladdin", "open sesame"),
            "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ=="
        );
        assert_eq!(basic_auth("a", ""), "Basic YTo=");
        assert_eq!(basic_auth("ab", "c"), "Basic YWI6Yw==");
    }
}
