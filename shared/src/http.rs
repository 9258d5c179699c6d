//! The one way an action calls out: [`Http`], made once per activation and shared by everything
//! the activation calls (the OpenWhisk client, a service's API, a provider, a polled source).
//!
//! - One agent for the whole activation, so one connection per host, reused by every call to it
//!   (an action is a short-lived process: each new connection is a round trip it waits for).
//! - One deadline: no call runs past the activation's deadline less [`DEADLINE_MARGIN`], the time
//!   kept to write the result; without a deadline a call takes at most [`CALL_TIMEOUT`].
//! - The method is a type ([`Method`]); JSON bodies are compact; every answer is read whole up to
//!   a cap ([`Request::limit`], [`DEFAULT_BODY_LIMIT`]) and never past it.
//! - Credentials follow the kit's rule (see [`crate::outbound`]): sent only to the origin they
//!   were given for; a redirect elsewhere is refused, or followed without them
//!   ([`Request::drop_credentials_elsewhere`]).
//! - Failures are one typed [`HttpError`] that names the call (method and URL, without userinfo
//!   or query: a query may hold a token) and what went wrong.

use std::fmt;
use std::sync::OnceLock;
use std::time::{Duration, SystemTime};

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::outbound::{self, CrossOrigin, Outbound, SendError};
use crate::secret::Secret;

/// Kept back from the activation's deadline so the action can still write its result.
pub const DEADLINE_MARGIN: Duration = Duration::from_millis(250);
/// The longest one call may take, whatever the deadline.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(60);
/// The largest answer read unless a request says otherwise: JSON APIs answer far less.
pub const DEFAULT_BODY_LIMIT: u64 = 1024 * 1024;

/// How big a connection's read and write buffers are. ureq's default (128 KiB each, zero-filled
/// per connection) costs a short-lived action more than its JSON bodies ever need.
const BUFFER_SIZE: usize = 16 * 1024;

/// An HTTP method the kit sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Method {
    Get,
    Head,
    Post,
    Put,
    Patch,
    Delete,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Get => "GET",
            Self::Head => "HEAD",
            Self::Post => "POST",
            Self::Put => "PUT",
            Self::Patch => "PATCH",
            Self::Delete => "DELETE",
        }
    }

    fn to_http(self) -> ureq::http::Method {
        use ureq::http::Method as M;
        match self {
            Self::Get => M::GET,
            Self::Head => M::HEAD,
            Self::Post => M::POST,
            Self::Put => M::PUT,
            Self::Patch => M::PATCH,
            Self::Delete => M::DELETE,
        }
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One call: what is sent everywhere, what only to the URL's origin, and how the answer is read.
#[derive(Debug, Clone)]
pub struct Request {
    method: Method,
    url: String,
    headers: Vec<(String, String)>,
    credentials: Vec<(String, Secret)>,
    body: Option<Vec<u8>>,
    cross_origin: CrossOrigin,
    limit: u64,
    timeout: Option<Duration>,
    insecure: bool,
}

impl Request {
    pub fn new(method: Method, url: impl Into<String>) -> Self {
        Self {
            method,
            url: url.into(),
            headers: Vec::new(),
            credentials: Vec::new(),
            body: None,
            cross_origin: CrossOrigin::Refuse,
            limit: DEFAULT_BODY_LIMIT,
            timeout: None,
            insecure: false,
        }
    }

    pub fn get(url: impl Into<String>) -> Self {
        Self::new(Method::Get, url)
    }

    pub fn method(&self) -> Method {
        self.method
    }

    /// A header sent on every hop (`Accept`, `If-None-Match`, ...).
    #[must_use]
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// A header sent only to the URL's origin (`Authorization`, an API key header).
    #[must_use]
    pub fn credential(mut self, name: impl Into<String>, value: Secret) -> Self {
        self.credentials.push((name.into(), value));
        self
    }

    /// `Authorization: Basic` for `user` and `password`, as a credential.
    #[must_use]
    pub fn basic_auth(self, user: &str, password: &str) -> Self {
        use base64::Engine as _;
        let pair = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        self.credential("Authorization", Secret::new(format!("Basic {pair}")))
    }

    /// A compact JSON body and its `Content-Type`.
    #[must_use]
    pub fn json<T: Serialize + ?Sized>(mut self, body: &T) -> Self {
        // Serializing a `Value` or a derived type cannot fail; an empty object stands in if a
        // hand-written `Serialize` does.
        self.body = Some(serde_json::to_vec(body).unwrap_or_else(|_| b"{}".to_vec()));
        self.header("Content-Type", "application/json")
    }

    /// Follows a redirect to another origin without the credentials, instead of refusing it
    /// (content that may live elsewhere, such as a feed served from a CDN).
    #[must_use]
    pub fn drop_credentials_elsewhere(mut self) -> Self {
        self.cross_origin = CrossOrigin::DropCredentials;
        self
    }

    /// The most bytes of the answer read; a longer answer is [`HttpErrorKind::BodyTooLarge`].
    #[must_use]
    pub fn limit(mut self, bytes: u64) -> Self {
        self.limit = bytes;
        self
    }

    /// A bound on this call below the activation's time left.
    #[must_use]
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Accepts any TLS certificate: for development hosts with self-signed certificates only.
    #[must_use]
    pub fn insecure(mut self, insecure: bool) -> Self {
        self.insecure = insecure;
        self
    }
}

/// An answer, read whole.
#[derive(Debug, Clone)]
pub struct Response {
    status: u16,
    headers: ureq::http::HeaderMap,
    body: Vec<u8>,
    credentials_dropped: Option<String>,
}

impl Response {
    pub fn status(&self) -> u16 {
        self.status
    }

    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|value| value.to_str().ok())
    }

    /// The `Content-Type`, for saying what an unexpected body was without quoting it.
    pub fn content_type(&self) -> &str {
        self.header("content-type").unwrap_or("no content type")
    }

    pub fn body(&self) -> &[u8] {
        &self.body
    }

    pub fn into_body(self) -> Vec<u8> {
        self.body
    }

    /// The body as text (invalid UTF-8 replaced).
    pub fn text(&self) -> std::borrow::Cow<'_, str> {
        String::from_utf8_lossy(&self.body)
    }

    /// The body read as `T`.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        serde_json::from_slice(&self.body)
    }

    /// The body as JSON: `Null` when it is empty, `None` when it is not JSON.
    pub fn json_value(&self) -> Option<serde_json::Value> {
        if self.body.iter().all(u8::is_ascii_whitespace) {
            return Some(serde_json::Value::Null);
        }
        serde_json::from_slice(&self.body).ok()
    }

    /// The origin that answered, when a redirect led there and the credentials were not sent
    /// ([`Request::drop_credentials_elsewhere`]): its 401 is no verdict on them.
    pub fn credentials_dropped(&self) -> Option<&str> {
        self.credentials_dropped.as_deref()
    }
}

/// A call that got no usable answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpError {
    pub method: Method,
    /// The URL without userinfo or query.
    pub url: String,
    /// The status, when the answer's head arrived before the failure.
    pub status: Option<u16>,
    pub kind: HttpErrorKind,
}

/// What went wrong. Messages never quote a credential, a query or userinfo.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HttpErrorKind {
    /// The activation's deadline left no time for the call.
    Deadline,
    /// No (whole) answer within this time.
    Timeout(Duration),
    /// No answer: connection refused or reset, name not found, TLS failure.
    Transport(String),
    /// A redirect the credential rule does not follow (see [`crate::outbound`]).
    Redirect(String),
    /// The request's headers are too large to send: a key or token given as a parameter is far
    /// too long.
    HeadersTooLarge,
    /// The URL has no usable scheme or host.
    BadUrl,
    /// The answer is longer than the request's limit.
    BodyTooLarge(u64),
    /// The answer was cut short.
    BodyCut(String),
}

impl HttpError {
    fn new(request: &Request, status: Option<u16>, kind: HttpErrorKind) -> Self {
        Self {
            method: request.method,
            url: shown_url(&request.url),
            status,
            kind,
        }
    }

    /// Nothing reached a server because of the request itself.
    pub fn is_local(&self) -> bool {
        matches!(
            self.kind,
            HttpErrorKind::HeadersTooLarge | HttpErrorKind::BadUrl | HttpErrorKind::Deadline
        )
    }

    pub fn is_timeout(&self) -> bool {
        matches!(self.kind, HttpErrorKind::Timeout(_))
    }
}

impl fmt::Display for HttpErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Deadline => f.write_str("the activation's deadline leaves no time for this call"),
            Self::Timeout(after) => write!(f, "no answer within {} ms", after.as_millis()),
            Self::Transport(reason) => write!(f, "no answer ({reason})"),
            Self::Redirect(reason) => f.write_str(reason),
            Self::HeadersTooLarge => SendError::RequestTooLarge.fmt(f),
            Self::BadUrl => SendError::BadUrl.fmt(f),
            Self::BodyTooLarge(limit) => write!(f, "the answer is larger than {limit} bytes"),
            Self::BodyCut(reason) => write!(f, "the answer was cut short ({reason})"),
        }
    }
}

impl fmt::Display for HttpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}: {}", self.method, self.url, self.kind)
    }
}

impl std::error::Error for HttpError {}

/// The outbound HTTP of one activation.
#[derive(Debug, Clone)]
pub struct Http {
    agent: ureq::Agent,
    /// Built on first use of [`Request::insecure`].
    insecure: std::sync::Arc<OnceLock<ureq::Agent>>,
    deadline: Option<SystemTime>,
}

impl Http {
    /// Calls bounded by `deadline` (the activation's `__OW_DEADLINE`), if any.
    pub fn new(deadline: Option<SystemTime>) -> Self {
        Self {
            agent: agent(false),
            insecure: std::sync::Arc::default(),
            deadline,
        }
    }

    pub fn deadline(&self) -> Option<SystemTime> {
        self.deadline
    }

    /// How long the next call may take, or `None` when the deadline leaves no time.
    pub fn time_left(&self) -> Option<Duration> {
        let Some(deadline) = self.deadline else {
            return Some(CALL_TIMEOUT);
        };
        let left = deadline.duration_since(SystemTime::now()).ok()?;
        let left = left.checked_sub(DEADLINE_MARGIN)?;
        (!left.is_zero()).then_some(left.min(CALL_TIMEOUT))
    }

    /// Sends `request`, following redirects as the credential rule allows, and reads the
    /// answer whole. Any status comes back as a [`Response`].
    pub fn send(&self, request: &Request) -> Result<Response, HttpError> {
        let fail = |status, kind| HttpError::new(request, status, kind);
        let left = self
            .time_left()
            .ok_or_else(|| fail(None, HttpErrorKind::Deadline))?;
        let timeout = request.timeout.map_or(left, |wanted| wanted.min(left));
        let agent = if request.insecure {
            self.insecure.get_or_init(|| agent(true))
        } else {
            &self.agent
        };
        let outbound = Outbound {
            method: request.method.to_http(),
            url: request.url.clone(),
            headers: request.headers.clone(),
            credentials: request.credentials.clone(),
            body: request.body.clone(),
        };
        let mut response = outbound::send(agent, &outbound, request.cross_origin, timeout)
            .map_err(|error| fail(None, send_error(error)))?;
        let status = response.status().as_u16();
        let credentials_dropped =
            outbound::credentials_dropped(&response).map(|dropped| dropped.origin.clone());
        let headers = response.headers().clone();
        let body = response
            .body_mut()
            .with_config()
            .limit(request.limit)
            .read_to_vec()
            .map_err(|error| {
                let kind = match error {
                    ureq::Error::BodyExceedsLimit(_) => HttpErrorKind::BodyTooLarge(request.limit),
                    ureq::Error::Timeout(_) => HttpErrorKind::Timeout(timeout),
                    other => HttpErrorKind::BodyCut(other.to_string()),
                };
                fail(Some(status), kind)
            })?;
        Ok(Response {
            status,
            headers,
            body,
            credentials_dropped,
        })
    }
}

/// The kit's defaults for an outgoing HTTP agent: every status comes back as a response (the
/// caller classifies it), no redirect is followed by ureq (see [`crate::outbound`]: the kit
/// follows them itself, keeping credentials on their origin) and buffers sized for JSON APIs.
/// Callers add what is theirs (timeouts, user agent, TLS) and build it.
fn http_agent_config() -> ureq::config::ConfigBuilder<ureq::typestate::AgentScope> {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .input_buffer_size(BUFFER_SIZE)
        .output_buffer_size(BUFFER_SIZE)
}

/// An agent from a configuration made with [`http_agent_config`], with a resolver that takes
/// IP-literal hosts as they are. (ureq's default resolver starts a thread per request to bound
/// the name lookup by the timeout, even when there is no name to look up; an OpenWhisk API host
/// inside a cluster is often an address.)
fn http_agent(config: ureq::config::Config) -> ureq::Agent {
    ureq::Agent::with_parts(
        config,
        ureq::unversioned::transport::DefaultConnector::new(),
        LiteralFirstResolver::default(),
    )
}

#[derive(Debug, Default)]
struct LiteralFirstResolver(ureq::unversioned::resolver::DefaultResolver);

impl ureq::unversioned::resolver::Resolver for LiteralFirstResolver {
    fn resolve(
        &self,
        uri: &ureq::http::Uri,
        config: &ureq::config::Config,
        timeout: ureq::unversioned::transport::NextTimeout,
    ) -> Result<ureq::unversioned::resolver::ResolvedSocketAddrs, ureq::Error> {
        let literal = uri.host().and_then(|host| {
            host.trim_start_matches('[')
                .trim_end_matches(']')
                .parse()
                .ok()
        });
        let port = uri.port_u16().or(match uri.scheme_str() {
            Some("https") => Some(443),
            Some("http") => Some(80),
            _ => None,
        });
        match (literal, port) {
            (Some(ip), Some(port)) => {
                let mut addresses = self.empty();
                addresses.push(std::net::SocketAddr::new(ip, port));
                Ok(addresses)
            }
            _ => self.0.resolve(uri, config, timeout),
        }
    }
}

/// The kit's agent: every status comes back as a response (the caller classifies it), no
/// redirect is followed by ureq (the kit follows them itself, keeping credentials on their
/// origin), buffers sized for JSON APIs, one user agent.
fn agent(insecure: bool) -> ureq::Agent {
    let tls = ureq::tls::TlsConfig::builder()
        .disable_verification(insecure)
        .build();
    http_agent(
        http_agent_config()
            .tls_config(tls)
            .user_agent(concat!("feedkit/", env!("CARGO_PKG_VERSION")))
            .build(),
    )
}

fn send_error(error: SendError) -> HttpErrorKind {
    match error {
        SendError::Redirect { .. } | SendError::TooManyRedirects | SendError::BadLocation => {
            HttpErrorKind::Redirect(error.to_string())
        }
        SendError::RequestTooLarge => HttpErrorKind::HeadersTooLarge,
        SendError::BadUrl => HttpErrorKind::BadUrl,
        SendError::Timeout(after) => HttpErrorKind::Timeout(after),
        SendError::Transport(reason) => HttpErrorKind::Transport(reason),
    }
}

/// `url` as a message may show it: no userinfo, no query or fragment.
pub fn shown_url(url: &str) -> String {
    let bare = url.split(['?', '#']).next().unwrap_or_default();
    crate::client::redact_userinfo(bare).replace("***@", "")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_shown_without_userinfo_or_query() {
        assert_eq!(
            shown_url("https://u:p@h.example:8/x/y?token=abc#f"),
            "https://h.example:8/x/y"
        );
        assert_eq!(shown_url("http://h/"), "http://h/");
    }

    #[test]
    fn a_past_deadline_sends_nothing() {
        let http = Http::new(Some(SystemTime::now()));
        let error = http
            .send(&Request::get("http://127.0.0.1:9/x?token=secret"))
            .expect_err("deadline");
        assert_eq!(error.kind, HttpErrorKind::Deadline);
        assert!(!error.to_string().contains("secret"));
        assert_eq!(error.url, "http://127.0.0.1:9/x");
    }

    #[test]
    fn json_bodies_are_compact() {
        let request =
            Request::new(Method::Put, "http://h/").json(&serde_json::json!({"a": [1, 2]}));
        assert_eq!(request.body.as_deref(), Some(&b"{\"a\":[1,2]}"[..]));
        assert!(
            request
                .headers
                .iter()
                .any(|(name, value)| name == "Content-Type" && value == "application/json")
        );
    }
}
