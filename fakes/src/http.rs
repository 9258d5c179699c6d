//! Small pieces shared by the fakes' servers: the HTTP server (hyper, as the rest of the
//! workspace), requests and responses as the fakes' handlers see them, header look-ups,
//! timestamps and ids.

use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{HeaderName, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use sha2::{Digest, Sha256};
use tokio::sync::watch;

pub(crate) use hyper::Method;

/// Locks a mutex, carrying on with the data when another thread panicked while holding it: a
/// fake must keep answering so that the test reports the real failure.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The most a request body may be; a fake refuses what is over its own (smaller) limit.
const MAX_BODY_BYTES: usize = 16 * 1024 * 1024;

/// One request as a fake's handler sees it, its body read.
pub(crate) struct Request {
    method: Method,
    url: String,
    headers: Vec<(String, String)>,
    /// `None` when it was over [`MAX_BODY_BYTES`] or broke off.
    body: Option<Vec<u8>>,
}

impl Request {
    pub(crate) fn method(&self) -> &Method {
        &self.method
    }

    /// The path and query, as sent.
    pub(crate) fn url(&self) -> &str {
        &self.url
    }
}

/// A response: status, headers, body.
pub(crate) struct BytesResponse {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl BytesResponse {
    pub(crate) fn add_header(&mut self, name: &str, value: &str) {
        self.headers.push((name.to_owned(), value.to_owned()));
    }
}

/// What a handler does with a request: answers it, or hangs up without a word (`None`), as a
/// crashed server would.
type Handler = dyn Fn(Request) -> Option<BytesResponse> + Send + Sync;

/// A fake's HTTP server on 127.0.0.1 (OS-picked port): every request goes to the handler on a
/// thread of its own (a handler may sleep), connections are kept alive. Dropping it stops it.
pub(crate) struct HttpServer {
    port: u16,
    runtime: Option<tokio::runtime::Runtime>,
    stop: watch::Sender<bool>,
    /// While true, connections are closed without an answer: new ones at once, live ones now.
    refusing: watch::Sender<bool>,
}

impl HttpServer {
    pub(crate) fn start(
        handler: impl Fn(Request) -> Option<BytesResponse> + Send + Sync + 'static,
    ) -> io::Result<HttpServer> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("fake-http")
            .enable_all()
            .build()?;
        let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        let port = listener.local_addr()?.port();
        listener.set_nonblocking(true)?;
        let listener = {
            let _entered = runtime.enter();
            tokio::net::TcpListener::from_std(listener)?
        };
        let (stop, stopped) = watch::channel(false);
        let (refusing, refused) = watch::channel(false);
        let handler: Arc<Handler> = Arc::new(handler);
        runtime.spawn(accept(listener, handler, stopped, refused));
        Ok(HttpServer {
            port,
            runtime: Some(runtime),
            stop,
            refusing,
        })
    }

    pub(crate) fn port(&self) -> u16 {
        self.port
    }

    /// Down: every connection, live or new, is closed without an answer. Up: served again.
    pub(crate) fn set_refusing(&self, refusing: bool) {
        let _ = self.refusing.send(refusing);
    }
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_timeout(Duration::from_secs(5));
        }
    }
}

async fn accept(
    listener: tokio::net::TcpListener,
    handler: Arc<Handler>,
    mut stopped: watch::Receiver<bool>,
    refused: watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
            _ = stopped.changed() => return,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    if *refused.borrow() {
                        drop(stream);
                        continue;
                    }
                    let _ = stream.set_nodelay(true);
                    tokio::spawn(connection(stream, handler.clone(), stopped.clone(), refused.clone()));
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
            },
        }
    }
}

async fn connection(
    stream: tokio::net::TcpStream,
    handler: Arc<Handler>,
    mut stopped: watch::Receiver<bool>,
    mut refused: watch::Receiver<bool>,
) {
    let service = service_fn(move |request| answer(handler.clone(), request));
    let serving = http1::Builder::new().serve_connection(TokioIo::new(stream), service);
    tokio::pin!(serving);
    loop {
        tokio::select! {
            _ = &mut serving => return,
            _ = stopped.changed() => return,
            changed = refused.changed() => {
                if changed.is_err() || *refused.borrow() {
                    // Dropping the connection closes the socket, whatever it was doing.
                    return;
                }
            }
        }
    }
}

/// Why a request got no answer (the connection is closed).
#[derive(Debug)]
struct HungUp;

impl std::fmt::Display for HungUp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the fake hung up")
    }
}

impl std::error::Error for HungUp {}

async fn answer(
    handler: Arc<Handler>,
    request: hyper::Request<Incoming>,
) -> Result<hyper::Response<Full<Bytes>>, HungUp> {
    let (head, body) = request.into_parts();
    let body = Limited::new(body, MAX_BODY_BYTES)
        .collect()
        .await
        .ok()
        .map(|collected| collected.to_bytes().to_vec());
    let request = Request {
        method: head.method,
        url: head
            .uri
            .path_and_query()
            .map_or_else(|| head.uri.path().to_owned(), |p| p.as_str().to_owned()),
        headers: head
            .headers
            .iter()
            .map(|(name, value)| {
                (
                    name.as_str().to_owned(),
                    String::from_utf8_lossy(value.as_bytes()).into_owned(),
                )
            })
            .collect(),
        body,
    };
    let reply = tokio::task::spawn_blocking(move || handler(request))
        .await
        .ok()
        .flatten()
        .ok_or(HungUp)?;
    let mut response = hyper::Response::new(Full::new(Bytes::from(reply.body)));
    *response.status_mut() = hyper::StatusCode::from_u16(reply.status)
        .unwrap_or(hyper::StatusCode::INTERNAL_SERVER_ERROR);
    for (name, value) in &reply.headers {
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(value),
        ) {
            response.headers_mut().append(name, value);
        }
    }
    Ok(response)
}

/// A stop flag that sleeping request handlers wake up from, so that dropping a fake never waits
/// out an injected delay.
#[derive(Default)]
pub(crate) struct StopSignal {
    stopped: Mutex<bool>,
    changed: Condvar,
}

impl StopSignal {
    pub(crate) fn stop(&self) {
        *lock(&self.stopped) = true;
        self.changed.notify_all();
    }

    /// Sleeps for `duration` or until stopped; true when stopped.
    pub(crate) fn sleep(&self, duration: Duration) -> bool {
        let stopped = lock(&self.stopped);
        let (stopped, _) = self
            .changed
            .wait_timeout_while(stopped, duration, |stopped| !*stopped)
            .unwrap_or_else(PoisonError::into_inner);
        *stopped
    }
}

/// The value of a request header (first one, case-insensitive name).
pub(crate) fn header<'a>(request: &'a Request, name: &str) -> Option<&'a str> {
    request
        .headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// All request headers as (name, value) pairs, in the order received.
pub(crate) fn headers_of(request: &Request) -> Vec<(String, String)> {
    request.headers.clone()
}

/// Takes a request's body, at most `limit` bytes (more is an error).
pub(crate) fn read_body(request: &mut Request, limit: u64) -> io::Result<Vec<u8>> {
    match request.body.take() {
        Some(body) if body.len() as u64 <= limit => Ok(body),
        _ => Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "request body too large",
        )),
    }
}

/// A response with the given status, body and headers.
pub(crate) fn response(status: u16, body: Vec<u8>, headers: &[(&str, &str)]) -> BytesResponse {
    BytesResponse {
        status,
        headers: headers
            .iter()
            .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
            .collect(),
        body,
    }
}

/// A JSON response.
pub(crate) fn json_response(status: u16, body: &serde_json::Value) -> BytesResponse {
    response(
        status,
        body.to_string().into_bytes(),
        &[("Content-Type", "application/json; charset=utf-8")],
    )
}

/// Lower-case hex of some bytes.
pub(crate) fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut out, b| {
            let _ = write!(out, "{b:02x}");
            out
        })
}

/// Lower-case hex SHA-256 of some bytes.
pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

/// A fresh GUID in the 8-4-4-4-12 form GitHub uses for `X-GitHub-Delivery`, unique within the
/// process and very likely across processes (time and pid go into it).
pub(crate) fn new_guid() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    let seed = format!("{n}:{nanos}:{}", std::process::id());
    let h = sha256_hex(seed.as_bytes());
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

/// `YYYY-MM-DDTHH:MM:SSZ`, the timestamp form of GitHub's API.
pub(crate) fn rfc3339(time: SystemTime) -> String {
    let secs = time
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default();
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60
    )
}

/// Converts days since 1970-01-01 to a (year, month, day) of the proleptic Gregorian calendar
/// (the well-known era-based conversion).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// The value of a query parameter in a request URL (`/path?a=1&b=2`), percent-decoded.
pub(crate) fn query_param(url: &str, name: &str) -> Option<String> {
    let query = url.split_once('?')?.1;
    url::form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// The path of a request URL, without its query.
pub(crate) fn path_only(url: &str) -> &str {
    url.split_once('?').map_or(url, |(path, _)| path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_formats_known_instants() {
        assert_eq!(rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00Z");
        let t = UNIX_EPOCH + Duration::from_secs(1_709_210_096); // a leap-year date
        assert_eq!(rfc3339(t), "2024-02-29T12:34:56Z");
        let t = UNIX_EPOCH + Duration::from_secs(951_782_400);
        assert_eq!(rfc3339(t), "2000-02-29T00:00:00Z");
    }

    #[test]
    fn guids_are_unique_and_shaped() {
        let a = new_guid();
        let b = new_guid();
        assert_ne!(a, b);
        let lengths: Vec<usize> = a.split('-').map(str::len).collect();
        assert_eq!(lengths, [8, 4, 4, 4, 12]);
    }

    #[test]
    fn query_params_are_decoded() {
        assert_eq!(
            query_param("/x?a=1&b=hello%20world", "b").as_deref(),
            Some("hello world")
        );
        assert_eq!(query_param("/x", "a"), None);
        assert_eq!(path_only("/x?a=1"), "/x");
    }
}
