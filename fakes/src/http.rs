//! Small pieces shared by the fakes' servers: the request loop thread, JSON responses, header
//! look-ups, timestamps and ids.

use std::io::{self, Cursor, Read};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sha2::{Digest, Sha256};
use tiny_http::{Header, Request, Response, Server};

/// A response with an in-memory body, the only kind the fakes send.
pub(crate) type BytesResponse = Response<Cursor<Vec<u8>>>;

/// Locks a mutex, carrying on with the data when another thread panicked while holding it: a
/// fake must keep answering so that the test reports the real failure.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Binds a tiny_http server on 127.0.0.1 with an OS-picked port.
pub(crate) fn bind_loopback() -> io::Result<Server> {
    Server::from_listener(nodelay_listener(0)?, None).map_err(io::Error::other)
}

/// A listening socket on 127.0.0.1:`port` whose connections have Nagle's algorithm off (Linux
/// passes TCP_NODELAY on to accepted sockets). tiny_http leaves it on, and a response written in
/// two pieces then waits for the client's delayed ACK: about 40 ms per request on loopback.
fn nodelay_listener(port: u16) -> io::Result<std::net::TcpListener> {
    use socket2::{Domain, Socket, Type};
    let socket = Socket::new(Domain::IPV4, Type::STREAM, None)?;
    socket.set_reuse_address(true)?;
    socket.set_tcp_nodelay(true)?;
    socket.bind(&std::net::SocketAddr::from(([127, 0, 0, 1], port)).into())?;
    socket.listen(1024)?;
    Ok(socket.into())
}

/// The port a tiny_http server listens on.
pub(crate) fn port_of(server: &Server) -> io::Result<u16> {
    server
        .server_addr()
        .to_ip()
        .map(|addr| addr.port())
        .ok_or_else(|| io::Error::other("server is not bound to an IP address"))
}

/// A server's request loop on its own thread; dropping it stops the loop and joins the thread.
pub(crate) struct ServerLoop {
    server: Arc<Server>,
    thread: Option<JoinHandle<()>>,
}

impl ServerLoop {
    /// Runs `handle` for every request, one after the other, until dropped.
    pub(crate) fn spawn(server: Server, handle: impl Fn(Request) + Send + 'static) -> Self {
        let server = Arc::new(server);
        let looping = Arc::clone(&server);
        let thread = std::thread::spawn(move || {
            while let Ok(request) = looping.recv() {
                handle(request);
            }
        });
        Self {
            server,
            thread: Some(thread),
        }
    }
}

impl Drop for ServerLoop {
    fn drop(&mut self) {
        self.server.unblock();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
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
        .headers()
        .iter()
        .find(|h| h.field.as_str().as_str().eq_ignore_ascii_case(name))
        .map(|h| h.value.as_str())
}

/// All request headers as (name, value) pairs, in the order received.
pub(crate) fn headers_of(request: &Request) -> Vec<(String, String)> {
    request
        .headers()
        .iter()
        .map(|h| {
            (
                h.field.as_str().as_str().to_owned(),
                h.value.as_str().to_owned(),
            )
        })
        .collect()
}

/// Reads a request body, at most `limit` bytes (more is an error).
pub(crate) fn read_body(request: &mut Request, limit: u64) -> io::Result<Vec<u8>> {
    let mut body = Vec::new();
    request.as_reader().take(limit + 1).read_to_end(&mut body)?;
    if body.len() as u64 > limit {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "request body too large",
        ));
    }
    Ok(body)
}

/// Builds a header; names and values here are ASCII by construction, anything else is skipped.
pub(crate) fn make_header(name: &str, value: &str) -> Option<Header> {
    Header::from_bytes(name.as_bytes(), value.as_bytes()).ok()
}

/// A response with the given status, body and headers.
pub(crate) fn response(status: u16, body: Vec<u8>, headers: &[(&str, &str)]) -> BytesResponse {
    let mut response = Response::from_data(body).with_status_code(status);
    for (name, value) in headers {
        if let Some(header) = make_header(name, value) {
            response.add_header(header);
        }
    }
    response
}

/// A JSON response.
pub(crate) fn json_response(status: u16, body: &serde_json::Value) -> BytesResponse {
    response(
        status,
        body.to_string().into_bytes(),
        &[("Content-Type", "application/json; charset=utf-8")],
    )
}

/// Sends a response, ignoring a client that went away: nothing can be done about it here.
pub(crate) fn respond(request: Request, response: BytesResponse) {
    let _ = request.respond(response);
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
