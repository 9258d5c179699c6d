//! What every polled source fake shares ([`crate::JsonSource`], [`crate::FeedSource`]): one
//! document at one path, served with a strong `ETag` and a `Last-Modified` date that answer
//! conditional requests with 304 (RFC 9110), optional required headers (auth), injectable
//! faults, and a record of every request.

use std::io;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::json;

use crate::http::{
    BytesResponse, HttpServer, Method, Request, StopSignal, header, headers_of, lock, path_only,
    response, sha256_hex,
};

/// A way for the source to misbehave, until set back to [`Fault::None`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    None,
    /// Unreachable: every connection (new or kept alive) is closed without an answer, and no
    /// request is recorded.
    Down,
    /// Every request is answered with this status and a small JSON error body.
    Status(u16),
    /// Every answer comes this much later (then as usual).
    Slow(Duration),
    /// `200` with an HTML error page instead of the document (while claiming the document's
    /// content type).
    Garbage,
}

/// Which validators the source sends (and so which conditional requests it can answer).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Validators {
    /// `ETag` and `Last-Modified` (the default).
    Both,
    /// Only `ETag`: only `If-None-Match` gets a 304.
    ETagOnly,
    /// Only `Last-Modified`: only `If-Modified-Since` gets a 304.
    LastModifiedOnly,
    /// Neither: every request gets the whole document.
    None,
}

/// A request that reached the source, and the status it was answered with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceRequest {
    pub method: String,
    /// The path with its query, e.g. `/items?limit=5`.
    pub path: String,
    /// The request headers as received, in order.
    pub headers: Vec<(String, String)>,
    pub status: u16,
}

impl SourceRequest {
    /// A request header's value (first one, case-insensitive name).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// The document a polled source serves.
pub(crate) trait Document: Send + 'static {
    /// The body and its content type for a request (the path with its query).
    fn render(&self, url: &str) -> (Vec<u8>, String);
}

/// A polled source's server. Dropping it stops the server.
pub(crate) struct Polled<D> {
    shared: Arc<Shared<D>>,
    url: String,
    server: Option<HttpServer>,
}

struct Shared<D> {
    state: Mutex<State<D>>,
    stop: StopSignal,
}

struct State<D> {
    document: D,
    fault: Fault,
    validators: Validators,
    required_headers: Vec<(String, String)>,
    requests: Vec<SourceRequest>,
    path: String,
    /// Whole seconds since the epoch; strictly increases with every change so that
    /// `If-Modified-Since` sees changes made within the same second.
    last_modified: u64,
}

fn unix_secs(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}

impl<D: Document> Polled<D> {
    /// Starts serving `document` at `path` on 127.0.0.1 with an OS-picked port.
    pub(crate) fn start(document: D, path: &str) -> io::Result<Polled<D>> {
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                document,
                fault: Fault::None,
                validators: Validators::Both,
                required_headers: Vec::new(),
                requests: Vec::new(),
                path: path.to_owned(),
                last_modified: unix_secs(SystemTime::now()),
            }),
            stop: StopSignal::default(),
        });
        let serving = Arc::clone(&shared);
        // Each request is answered on a thread of its own, so a slow answer holds up no other.
        let server = HttpServer::start(move |request| serve(&serving, request))?;
        Ok(Polled {
            url: format!("http://127.0.0.1:{}", server.port()),
            shared,
            server: Some(server),
        })
    }

    pub(crate) fn url(&self) -> String {
        self.url.clone()
    }

    /// The full URL of the document.
    pub(crate) fn document_url(&self) -> String {
        format!("{}{}", self.url, lock(&self.shared.state).path)
    }

    /// Serves the document at another path; other paths answer 404.
    pub(crate) fn set_path(&self, path: &str) {
        let path = format!("/{}", path.trim_start_matches('/'));
        lock(&self.shared.state).path = path;
    }

    /// Changes the document; `Last-Modified` moves on (the `ETag` follows the body).
    pub(crate) fn change(&self, change: impl FnOnce(&mut D)) {
        let mut state = lock(&self.shared.state);
        change(&mut state.document);
        state.last_modified = (state.last_modified + 1).max(unix_secs(SystemTime::now()));
    }

    pub(crate) fn set_fault(&self, fault: Fault) {
        let down = fault == Fault::Down;
        lock(&self.shared.state).fault = fault;
        if let Some(server) = &self.server {
            server.set_refusing(down);
        }
    }

    pub(crate) fn set_validators(&self, validators: Validators) {
        lock(&self.shared.state).validators = validators;
    }

    pub(crate) fn require_header(&self, name: &str, value: &str) {
        lock(&self.shared.state)
            .required_headers
            .push((name.to_owned(), value.to_owned()));
    }

    pub(crate) fn clear_required_headers(&self) {
        lock(&self.shared.state).required_headers.clear();
    }

    pub(crate) fn requests(&self) -> Vec<SourceRequest> {
        lock(&self.shared.state).requests.clone()
    }

    pub(crate) fn clear_requests(&self) {
        lock(&self.shared.state).requests.clear();
    }
}

impl<D> std::fmt::Debug for Polled<D> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Polled")
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

impl<D> Drop for Polled<D> {
    fn drop(&mut self) {
        // Wake delayed answers, then stop the server.
        self.shared.stop.stop();
        self.server.take();
    }
}

fn serve<D: Document>(shared: &Shared<D>, request: Request) -> Option<BytesResponse> {
    let fault = lock(&shared.state).fault.clone();
    if let Fault::Slow(delay) = fault
        && shared.stop.sleep(delay)
    {
        return None;
    }
    let reply = {
        let mut state = lock(&shared.state);
        let (status, reply) = answer(&state, &request);
        // Recorded before answering, so a client that got its answer sees its request here.
        state.requests.push(SourceRequest {
            method: request.method().as_str().to_owned(),
            path: request.url().to_owned(),
            headers: headers_of(&request),
            status,
        });
        reply
    };
    Some(reply)
}

fn error(status: u16, message: &str) -> (u16, BytesResponse) {
    let body = json!({"error": message}).to_string().into_bytes();
    (
        status,
        response(status, body, &[("Content-Type", "application/json")]),
    )
}

fn answer<D: Document>(state: &State<D>, request: &Request) -> (u16, BytesResponse) {
    match &state.fault {
        Fault::Status(code) => return error(*code, &format!("injected fault: status {code}")),
        Fault::Garbage => {
            let (_, content_type) = state.document.render(request.url());
            let body = b"<html><body>Service temporarily overloaded</body></html>".to_vec();
            return (
                200,
                response(200, body, &[("Content-Type", content_type.as_str())]),
            );
        }
        Fault::None | Fault::Down | Fault::Slow(_) => {}
    }
    if path_only(request.url()) != state.path {
        return error(404, "not found");
    }
    if *request.method() != Method::GET && *request.method() != Method::HEAD {
        let (status, mut reply) = error(405, "method not allowed: use GET");
        reply.add_header("Allow", "GET, HEAD");
        return (status, reply);
    }
    for (name, value) in &state.required_headers {
        if header(request, name) != Some(value.as_str()) {
            let (status, mut reply) = error(401, &format!("missing or wrong header {name}"));
            if name.eq_ignore_ascii_case("authorization") {
                reply.add_header("WWW-Authenticate", "Bearer");
            }
            return (status, reply);
        }
    }

    let (body, content_type) = state.document.render(request.url());
    let etag = format!("\"{}\"", &sha256_hex(&body)[..32]);
    let last_modified = UNIX_EPOCH + Duration::from_secs(state.last_modified);
    let last_modified_text = httpdate::fmt_http_date(last_modified);
    let (etag, last_modified) = match state.validators {
        Validators::Both => (Some(etag), Some(last_modified)),
        Validators::ETagOnly => (Some(etag), None),
        Validators::LastModifiedOnly => (None, Some(last_modified)),
        Validators::None => (None, None),
    };
    let mut validators = vec![("Cache-Control", "no-cache")];
    if let Some(etag) = &etag {
        validators.push(("ETag", etag));
    }
    if last_modified.is_some() {
        validators.push(("Last-Modified", &last_modified_text));
    }
    if not_modified(request, etag.as_deref(), last_modified) {
        return (304, response(304, Vec::new(), &validators));
    }
    let mut headers = validators;
    headers.push(("Content-Type", &content_type));
    (200, response(200, body, &headers))
}

/// RFC 9110: `If-None-Match` decides when present (weak comparison); otherwise
/// `If-Modified-Since` (whole seconds). A validator the source does not send matches nothing.
fn not_modified(request: &Request, etag: Option<&str>, last_modified: Option<SystemTime>) -> bool {
    if let Some(candidates) = header(request, "If-None-Match") {
        return etag.is_some_and(|etag| {
            candidates
                .split(',')
                .map(str::trim)
                .any(|candidate| candidate == "*" || candidate.trim_start_matches("W/") == etag)
        });
    }
    let since =
        header(request, "If-Modified-Since").and_then(|s| httpdate::parse_http_date(s).ok());
    matches!((last_modified, since), (Some(modified), Some(since)) if modified <= since)
}
