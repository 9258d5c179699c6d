//! A loopback HTTP/1.1 proxy that counts what goes through it: requests, the TCP connections
//! they came over, and rounds (requests one after another; requests in flight together are one
//! round). Put one in front of each server a program talks to, all sharing one [`Tally`], and
//! the tally says what one run of the program cost in round trips.
//!
//! It relays bytes as they are (heads, bodies, chunked framing), one upstream connection per
//! client connection, so the program sees the server's own answers and its connection reuse is
//! what is counted.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::http::lock;

/// What went through the proxies of one [`Tally`] since it was last taken.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counted {
    /// Each request as `HOST METHOD /path?query` (`HOST` is the proxy's label), in arrival order.
    pub requests: Vec<String>,
    /// Requests that found no other in flight: the sequential round trips.
    pub rounds: usize,
    /// TCP connections opened to the proxies, by label, in order of their first request.
    pub connections: Vec<String>,
}

impl Counted {
    /// The requests that went to `host`.
    pub fn requests_to(&self, host: &str) -> Vec<&str> {
        let prefix = format!("{host} ");
        self.requests
            .iter()
            .filter_map(|request| request.strip_prefix(&prefix))
            .collect()
    }

    /// The connections opened to `host`.
    pub fn connections_to(&self, host: &str) -> usize {
        self.connections.iter().filter(|c| *c == host).count()
    }
}

#[derive(Default)]
struct Counts {
    counted: Counted,
    in_flight: usize,
    /// Only connections whose first request has a `User-Agent` starting with this are counted.
    agent: Option<String>,
    /// How long each answer is held before it is relayed.
    hold: Duration,
}

/// The counts shared by a set of proxies (cheap to clone).
#[derive(Clone, Default)]
pub struct Tally(Arc<Mutex<Counts>>);

impl Tally {
    pub fn new() -> Self {
        Self::default()
    }

    /// Counts only the connections (and their requests) whose first request's `User-Agent`
    /// starts with `prefix`: the program's own, not a webhook delivery that reaches the same
    /// server meanwhile.
    pub fn only_agent(&self, prefix: &str) {
        lock(&self.0).agent = Some(prefix.to_owned());
    }

    /// What was counted since the last call; the counts start again from zero. Call it once the
    /// program is done (every answer was relayed).
    pub fn take(&self) -> Counted {
        std::mem::take(&mut lock(&self.0).counted)
    }

    /// Holds every answer this long before relaying it, so that requests a program sends at
    /// once all arrive while the first is still in flight (and count as one round) even when
    /// the machine is slow to run the program's threads; sequential requests are counted the
    /// same either way.
    pub fn hold_answers(&self, hold: Duration) {
        lock(&self.0).hold = hold;
    }

    fn hold(&self) -> Duration {
        lock(&self.0).hold
    }

    /// A connection's first request is here: whether the connection counts (it is counted).
    fn connected(&self, label: &str, agent: Option<&str>) -> bool {
        let mut counts = lock(&self.0);
        let counts_it = match &counts.agent {
            Some(prefix) => agent.is_some_and(|agent| agent.starts_with(prefix.as_str())),
            None => true,
        };
        if counts_it {
            counts.counted.connections.push(label.to_owned());
        }
        counts_it
    }

    fn arrived(&self, request: String) {
        let mut counts = lock(&self.0);
        if counts.in_flight == 0 {
            counts.counted.rounds += 1;
        }
        counts.in_flight += 1;
        counts.counted.requests.push(request);
    }

    /// The answer is complete: counted as done before it is relayed, so a request the program
    /// sends once it has the answer always starts a new round.
    fn answered(&self) {
        let mut counts = lock(&self.0);
        counts.in_flight = counts.in_flight.saturating_sub(1);
    }
}

/// One counting proxy; dropping it stops it from accepting (open connections end with their
/// clients).
pub struct CountingProxy {
    url: String,
    address: SocketAddr,
    stopping: Arc<AtomicBool>,
    accept: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for CountingProxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CountingProxy")
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

impl CountingProxy {
    /// A proxy on 127.0.0.1 (OS-picked port) in front of `upstream` (`http://127.0.0.1:PORT`),
    /// counting into `tally` under `label`.
    pub fn start(upstream: &str, label: &str, tally: &Tally) -> io::Result<Self> {
        let upstream_address: SocketAddr = upstream
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .parse()
            .map_err(|_| {
                io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("the upstream must be http://IP:PORT, not {upstream}"),
                )
            })?;
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let address = listener.local_addr()?;
        let stopping = Arc::new(AtomicBool::new(false));
        let (flag, tally, label) = (Arc::clone(&stopping), tally.clone(), label.to_owned());
        let accept = std::thread::spawn(move || {
            for stream in listener.incoming() {
                if flag.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(stream) = stream else { continue };
                let (tally, label) = (tally.clone(), label.clone());
                std::thread::spawn(move || {
                    let _ = relay(stream, upstream_address, &label, &tally);
                });
            }
        });
        Ok(Self {
            url: format!("http://{address}"),
            address,
            stopping,
            accept: Some(accept),
        })
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        self.url.clone()
    }
}

impl Drop for CountingProxy {
    fn drop(&mut self) {
        self.stopping.store(true, Ordering::SeqCst);
        // Wakes the accept loop up so that it sees the flag.
        let _ = TcpStream::connect_timeout(&self.address, Duration::from_secs(1));
        if let Some(accept) = self.accept.take() {
            let _ = accept.join();
        }
    }
}

/// How long a connection may wait for the next byte before the proxy gives it up.
const IDLE: Duration = Duration::from_secs(120);

/// One client connection: each request relayed over this connection's own upstream connection.
fn relay(client: TcpStream, upstream: SocketAddr, label: &str, tally: &Tally) -> io::Result<()> {
    client.set_nodelay(true)?;
    client.set_read_timeout(Some(IDLE))?;
    let mut from_client = BufReader::new(client.try_clone()?);
    let mut to_client = client;
    let mut server: Option<(TcpStream, BufReader<TcpStream>)> = None;
    let mut counted = None;
    loop {
        let Some(head) = read_head(&mut from_client)? else {
            return Ok(());
        };
        let request = Head::parse(&head);
        let mut message = head;
        copy_body(&mut from_client, &request, BodyOf::Request, &mut message)?;
        let counted =
            *counted.get_or_insert_with(|| tally.connected(label, request.header("user-agent")));
        if counted {
            tally.arrived(format!("{label} {} {}", request.method, request.target));
        }
        let outcome = exchange(&mut server, upstream, &message, &request);
        if counted {
            std::thread::sleep(tally.hold());
            tally.answered();
        }
        let (answer, close) = match outcome {
            Ok(answer) => answer,
            Err(error) => {
                let _ = to_client.write_all(
                    b"HTTP/1.1 502 Bad Gateway\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
                );
                return Err(error);
            }
        };
        to_client.write_all(&answer)?;
        to_client.flush()?;
        if close || request.closes() {
            return Ok(());
        }
    }
}

/// Sends one request upstream (connecting first if needed) and reads its whole answer; true when
/// the server closes the connection after it.
fn exchange(
    server: &mut Option<(TcpStream, BufReader<TcpStream>)>,
    upstream: SocketAddr,
    message: &[u8],
    request: &Head,
) -> io::Result<(Vec<u8>, bool)> {
    let (stream, reader) = match server {
        Some(connection) => connection,
        None => server.insert(connect(upstream)?),
    };
    stream.write_all(message)?;
    stream.flush()?;
    let head = read_head(reader)?.ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "the server closed without answering",
        )
    })?;
    let response = Head::parse(&head);
    let mut answer = head;
    let kind = BodyOf::Response {
        status: response.status(),
        to_head: request.method.eq_ignore_ascii_case("HEAD"),
    };
    let delimited = copy_body(reader, &response, kind, &mut answer)?;
    let close = response.closes() || !delimited;
    if close {
        *server = None;
    }
    Ok((answer, close))
}

fn connect(upstream: SocketAddr) -> io::Result<(TcpStream, BufReader<TcpStream>)> {
    let stream = TcpStream::connect(upstream)?;
    stream.set_nodelay(true)?;
    stream.set_read_timeout(Some(IDLE))?;
    let reader = BufReader::new(stream.try_clone()?);
    Ok((stream, reader))
}

/// A request or status line and its headers.
struct Head {
    /// The method (request) or the protocol (response).
    method: String,
    /// The target (request) or the status code (response).
    target: String,
    headers: Vec<(String, String)>,
}

impl Head {
    fn parse(bytes: &[u8]) -> Head {
        let text = String::from_utf8_lossy(bytes);
        let mut lines = text.split("\r\n");
        let mut first = lines.next().unwrap_or_default().split_whitespace();
        let method = first.next().unwrap_or_default().to_owned();
        let target = first.next().unwrap_or_default().to_owned();
        let headers = lines
            .filter_map(|line| line.split_once(':'))
            .map(|(name, value)| (name.trim().to_ascii_lowercase(), value.trim().to_owned()))
            .collect();
        Head {
            method,
            target,
            headers,
        }
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    fn status(&self) -> u16 {
        self.target.parse().unwrap_or(0)
    }

    fn chunked(&self) -> bool {
        self.header("transfer-encoding")
            .is_some_and(|value| value.to_ascii_lowercase().contains("chunked"))
    }

    fn closes(&self) -> bool {
        self.header("connection")
            .is_some_and(|value| value.eq_ignore_ascii_case("close"))
    }
}

enum BodyOf {
    Request,
    Response { status: u16, to_head: bool },
}

/// The head up to its blank line, or `None` at a clean end of the connection.
fn read_head(reader: &mut impl BufRead) -> io::Result<Option<Vec<u8>>> {
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let read = reader.read_until(b'\n', &mut head)?;
        if read == 0 {
            return if head.is_empty() {
                Ok(None)
            } else {
                Err(io::Error::new(io::ErrorKind::UnexpectedEof, "head cut off"))
            };
        }
    }
    Ok(Some(head))
}

/// Appends the message's body to `out` as framed; false when the body ran to the connection's
/// end (no length, not chunked).
fn copy_body(
    reader: &mut impl BufRead,
    head: &Head,
    kind: BodyOf,
    out: &mut Vec<u8>,
) -> io::Result<bool> {
    if let BodyOf::Response { status, to_head } = kind
        && (to_head || status / 100 == 1 || status == 204 || status == 304)
    {
        return Ok(true);
    }
    if head.chunked() {
        loop {
            let start = out.len();
            reader.read_until(b'\n', out)?;
            let line = String::from_utf8_lossy(&out[start..]).into_owned();
            let size = usize::from_str_radix(line.trim().split(';').next().unwrap_or("0"), 16)
                .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "bad chunk size"))?;
            if size == 0 {
                // Trailers, up to the blank line.
                loop {
                    let start = out.len();
                    if reader.read_until(b'\n', out)? == 0 || &out[start..] == b"\r\n" {
                        return Ok(true);
                    }
                }
            }
            let mut chunk = reader.take(size as u64 + 2);
            chunk.read_to_end(out)?;
        }
    }
    match head.header("content-length") {
        Some(length) => {
            let length: u64 = length
                .parse()
                .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "bad content-length"))?;
            reader.take(length).read_to_end(out)?;
            Ok(true)
        }
        None if matches!(kind, BodyOf::Request) => Ok(true),
        None => {
            reader.read_to_end(out)?;
            Ok(false)
        }
    }
}
