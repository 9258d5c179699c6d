//! A polled JSON endpoint for the Polling pattern: a list of items the test appends to or
//! rewrites, served with a strong `ETag` and a `Last-Modified` date that answer conditional
//! requests with 304, optional required headers (auth), and injectable faults.

use std::io;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};

use crate::http::{
    BytesResponse, HttpServer, Method, Request, StopSignal, header, headers_of, lock, path_only,
    query_param, response, sha256_hex,
};

/// Where the items sit in the response body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Shape {
    /// The body is the JSON array of items.
    Array,
    /// The items sit under a path of objects: a JSON pointer (`/data/items`) or a dotted path
    /// (`data.items`), giving `{"data": {"items": [...]}}`.
    Nested(String),
}

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
    /// `200` with a body that is not JSON (while claiming `application/json`).
    Garbage,
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

/// The polled JSON source server. Dropping it stops the server.
pub struct JsonSource {
    shared: Arc<Shared>,
    url: String,
    server: Option<HttpServer>,
}

impl std::fmt::Debug for JsonSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JsonSource")
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

struct Shared {
    state: Mutex<State>,
    stop: StopSignal,
}

struct State {
    items: Vec<Value>,
    shape: Shape,
    fault: Fault,
    required_headers: Vec<(String, String)>,
    requests: Vec<SourceRequest>,
    path: String,
    /// Whole seconds since the epoch; strictly increases with every change so that
    /// `If-Modified-Since` sees changes made within the same second.
    last_modified: u64,
}

impl State {
    fn changed(&mut self) {
        self.last_modified = (self.last_modified + 1).max(unix_secs(SystemTime::now()));
    }
}

fn unix_secs(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}

impl JsonSource {
    /// Starts the source on 127.0.0.1 with an OS-picked port, serving an empty array at
    /// `/items`.
    pub fn start() -> io::Result<JsonSource> {
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                items: Vec::new(),
                shape: Shape::Array,
                fault: Fault::None,
                required_headers: Vec::new(),
                requests: Vec::new(),
                path: "/items".to_owned(),
                last_modified: unix_secs(SystemTime::now()),
            }),
            stop: StopSignal::default(),
        });
        let serving = Arc::clone(&shared);
        // Each request is answered on a thread of its own, so a slow answer holds up no other.
        let server = HttpServer::start(move |request| serve(&serving, request))?;
        Ok(JsonSource {
            url: format!("http://127.0.0.1:{}", server.port()),
            shared,
            server: Some(server),
        })
    }

    /// The base URL, e.g. `http://127.0.0.1:PORT`; the items are at [`JsonSource::items_url`].
    pub fn url(&self) -> String {
        self.url.clone()
    }

    /// The full URL of the items (`{url}/items` unless [`JsonSource::set_path`] changed it).
    pub fn items_url(&self) -> String {
        format!("{}{}", self.url, lock(&self.shared.state).path)
    }

    /// Serves the items at another path (e.g. `/api/v2/feed`); other paths answer 404.
    pub fn set_path(&self, path: &str) {
        let path = format!("/{}", path.trim_start_matches('/'));
        lock(&self.shared.state).path = path;
    }

    /// Where the items sit in the body; changes the ETag (and so counts as a change).
    pub fn set_body_shape(&self, shape: Shape) {
        let mut state = lock(&self.shared.state);
        state.shape = shape;
        state.changed();
    }

    /// Appends an item (newest last).
    pub fn push(&self, item: Value) {
        let mut state = lock(&self.shared.state);
        state.items.push(item);
        state.changed();
    }

    /// Replaces all items (for reordering, repeats, removals).
    pub fn set_items(&self, items: Vec<Value>) {
        let mut state = lock(&self.shared.state);
        state.items = items;
        state.changed();
    }

    /// Makes the source misbehave (or behave again with [`Fault::None`]).
    pub fn set_fault(&self, fault: Fault) {
        let down = fault == Fault::Down;
        lock(&self.shared.state).fault = fault;
        if let Some(server) = &self.server {
            server.set_refusing(down);
        }
    }

    /// Requires a request header with exactly this value (name case-insensitive); requests
    /// without it get 401. Call again for more headers.
    pub fn require_header(&self, name: &str, value: &str) {
        lock(&self.shared.state)
            .required_headers
            .push((name.to_owned(), value.to_owned()));
    }

    /// Drops all header requirements.
    pub fn clear_required_headers(&self) {
        lock(&self.shared.state).required_headers.clear();
    }

    /// Every request that reached the source, oldest first.
    pub fn requests(&self) -> Vec<SourceRequest> {
        lock(&self.shared.state).requests.clone()
    }

    /// Forgets the recorded requests.
    pub fn clear_requests(&self) {
        lock(&self.shared.state).requests.clear();
    }
}

impl Drop for JsonSource {
    fn drop(&mut self) {
        // Wake delayed answers, then stop the server.
        self.shared.stop.stop();
        self.server.take();
    }
}

fn serve(shared: &Shared, request: Request) -> Option<BytesResponse> {
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

fn answer(state: &State, request: &Request) -> (u16, BytesResponse) {
    match &state.fault {
        Fault::Status(code) => return error(*code, &format!("injected fault: status {code}")),
        Fault::Garbage => {
            let body = b"<html><body>Service temporarily overloaded</body></html>".to_vec();
            return (
                200,
                response(200, body, &[("Content-Type", "application/json")]),
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

    let items = limited(&state.items, request.url());
    let body = shaped(&state.shape, items).to_string().into_bytes();
    let etag = format!("\"{}\"", &sha256_hex(&body)[..32]);
    let last_modified = UNIX_EPOCH + Duration::from_secs(state.last_modified);
    let last_modified_text = httpdate::fmt_http_date(last_modified);
    let validators = [
        ("ETag", etag.as_str()),
        ("Last-Modified", last_modified_text.as_str()),
        ("Cache-Control", "no-cache"),
    ];
    if not_modified(request, &etag, last_modified) {
        return (304, response(304, Vec::new(), &validators));
    }
    let mut headers = validators.to_vec();
    headers.push(("Content-Type", "application/json"));
    (200, response(200, body, &headers))
}

/// RFC 9110: `If-None-Match` decides when present (weak comparison); otherwise
/// `If-Modified-Since` (whole seconds).
fn not_modified(request: &Request, etag: &str, last_modified: SystemTime) -> bool {
    if let Some(candidates) = header(request, "If-None-Match") {
        return candidates
            .split(',')
            .map(str::trim)
            .any(|candidate| candidate == "*" || candidate.trim_start_matches("W/") == etag);
    }
    header(request, "If-Modified-Since")
        .and_then(|since| httpdate::parse_http_date(since).ok())
        .is_some_and(|since| last_modified <= since)
}

/// `?limit=N` keeps the newest N items (still oldest first).
fn limited<'a>(items: &'a [Value], url: &str) -> &'a [Value] {
    match query_param(url, "limit").and_then(|l| l.parse::<usize>().ok()) {
        Some(limit) if limit < items.len() => &items[items.len() - limit..],
        _ => items,
    }
}

fn shaped(shape: &Shape, items: &[Value]) -> Value {
    let array = Value::Array(items.to_vec());
    match shape {
        Shape::Array => array,
        Shape::Nested(path) => path_segments(path)
            .iter()
            .rev()
            .fold(array, |inner, key| json!({ key: inner })),
    }
}

/// The keys of a JSON pointer (`/a/b`, with `~1` and `~0` escapes) or a dotted path (`a.b`).
fn path_segments(path: &str) -> Vec<String> {
    if let Some(pointer) = path.strip_prefix('/') {
        pointer
            .split('/')
            .filter(|s| !s.is_empty())
            .map(|s| s.replace("~1", "/").replace("~0", "~"))
            .collect()
    } else {
        path.split('.')
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nested_shapes_accept_pointers_and_dotted_paths() {
        let items = [json!({"id": "a"})];
        let expected = json!({"data": {"items": [{"id": "a"}]}});
        assert_eq!(
            shaped(&Shape::Nested("/data/items".into()), &items),
            expected
        );
        assert_eq!(
            shaped(&Shape::Nested("data.items".into()), &items),
            expected
        );
        assert_eq!(
            shaped(&Shape::Nested("/a~1b".into()), &items),
            json!({"a/b": [{"id": "a"}]})
        );
        assert_eq!(shaped(&Shape::Array, &items), json!([{"id": "a"}]));
    }

    #[test]
    fn limit_keeps_the_newest() {
        let items = [json!(1), json!(2), json!(3)];
        assert_eq!(limited(&items, "/items?limit=2"), &items[1..]);
        assert_eq!(limited(&items, "/items?limit=9"), &items[..]);
        assert_eq!(limited(&items, "/items"), &items[..]);
    }
}
