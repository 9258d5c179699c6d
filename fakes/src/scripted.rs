//! A server that answers what the test scripts: redirects to elsewhere, bodies that are not what
//! the caller expects (HTML, a bare string, a truncated or a huge body), bodies that drip in a
//! byte at a time. It records every request, so a test can check what reached it (which
//! headers, which credentials).

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::http::{StopSignal, lock};

/// Request bodies beyond this are not recorded whole.
const BODY_LIMIT: u64 = 1024 * 1024;

/// A request as it reached the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recorded {
    pub method: String,
    /// The path with its query.
    pub url: String,
    /// The headers as received, in order.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Recorded {
    /// A header's value (first one, case-insensitive name).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// What an answer's body is made of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Body {
    Bytes(Vec<u8>),
    /// `Content-Length: declared`, then only `sent` before the connection closes.
    Truncated {
        declared: usize,
        sent: Vec<u8>,
    },
    /// `len` copies of `byte`, made as they are sent (a huge body costs the fake nothing).
    Repeat {
        byte: u8,
        len: usize,
    },
    /// `bytes`, one every `every` (and the declared length up front), ending early when the
    /// server stops.
    Drip {
        bytes: Vec<u8>,
        every: Duration,
    },
}

/// One scripted answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Body,
}

impl Reply {
    pub fn new(status: u16, content_type: &str, body: impl Into<Vec<u8>>) -> Self {
        Self {
            status,
            headers: vec![("Content-Type".to_owned(), content_type.to_owned())],
            body: Body::Bytes(body.into()),
        }
    }

    pub fn json(status: u16, body: &serde_json::Value) -> Self {
        Self::new(status, "application/json", body.to_string())
    }

    /// A redirect with this status to `location`.
    pub fn redirect(status: u16, location: &str) -> Self {
        Self {
            status,
            headers: vec![("Location".to_owned(), location.to_owned())],
            body: Body::Bytes(Vec::new()),
        }
    }

    #[must_use]
    pub fn with_body(mut self, body: Body) -> Self {
        self.body = body;
        self
    }
}

type Script = dyn Fn(&Recorded) -> Reply + Send + Sync;

/// The scripted server. Dropping it stops it (and any body still dripping).
///
/// It speaks HTTP/1.1 over plain sockets, one request per connection (`Connection: close`),
/// instead of through an HTTP server library: a truncated body, a drip or a lying
/// `Content-Length` are exactly what such a library is built not to send.
pub struct ScriptedServer {
    url: String,
    address: SocketAddr,
    requests: Arc<Mutex<Vec<Recorded>>>,
    stop: Arc<StopSignal>,
    stopping: Arc<AtomicBool>,
    accept: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for ScriptedServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScriptedServer")
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

impl ScriptedServer {
    /// Starts the server on 127.0.0.1 with an OS-picked port; `script` answers every request.
    pub fn start(script: impl Fn(&Recorded) -> Reply + Send + Sync + 'static) -> io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let address = listener.local_addr()?;
        let requests = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(StopSignal::default());
        let stopping = Arc::new(AtomicBool::new(false));
        let script: Arc<Script> = Arc::new(script);
        let (recorded, signal, flag) = (
            Arc::clone(&requests),
            Arc::clone(&stop),
            Arc::clone(&stopping),
        );
        let accept = std::thread::spawn(move || {
            for stream in listener.incoming() {
                if flag.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(stream) = stream else { continue };
                let (recorded, signal, script) = (
                    Arc::clone(&recorded),
                    Arc::clone(&signal),
                    Arc::clone(&script),
                );
                // A thread per connection, so that a dripping answer holds up no other.
                std::thread::spawn(move || {
                    let _ = serve(stream, &recorded, &signal, script.as_ref());
                });
            }
        });
        Ok(Self {
            url: format!("http://{address}"),
            address,
            requests,
            stop,
            stopping,
            accept: Some(accept),
        })
    }

    /// Always answers `reply`.
    pub fn always(reply: Reply) -> io::Result<Self> {
        Self::start(move |_| reply.clone())
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        self.url.clone()
    }

    /// Every request so far, oldest first.
    pub fn requests(&self) -> Vec<Recorded> {
        lock(&self.requests).clone()
    }
}

impl Drop for ScriptedServer {
    fn drop(&mut self) {
        self.stop.stop();
        self.stopping.store(true, Ordering::SeqCst);
        // Wakes the accept loop up so that it sees the flag.
        let _ = TcpStream::connect_timeout(&self.address, Duration::from_secs(1));
        if let Some(accept) = self.accept.take() {
            let _ = accept.join();
        }
    }
}

/// The request head's limit: far beyond what any client of the kit sends.
const HEAD_LIMIT: usize = 64 * 1024;

/// One connection: one request read, recorded and answered as scripted, then closed.
fn serve(
    stream: TcpStream,
    recorded: &Mutex<Vec<Recorded>>,
    stop: &StopSignal,
    script: &Script,
) -> io::Result<()> {
    stream.set_nodelay(true)?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let mut line = Vec::new();
        if reader.read_until(b'\n', &mut line)? == 0 || head.len() > HEAD_LIMIT {
            return Ok(());
        }
        head.extend_from_slice(&line);
    }
    let head = String::from_utf8_lossy(&head);
    let mut lines = head.lines();
    let mut request_line = lines.next().unwrap_or_default().split_whitespace();
    let method = request_line.next().unwrap_or_default().to_owned();
    let url = request_line.next().unwrap_or_default().to_owned();
    let headers: Vec<(String, String)> = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.trim().to_owned(), value.trim().to_owned()))
        .collect();
    let mut seen = Recorded {
        method,
        url,
        headers,
        body: Vec::new(),
    };
    let length = seen
        .header("content-length")
        .and_then(|value| value.parse::<u64>().ok())
        .unwrap_or(0);
    (&mut reader)
        .take(length.min(BODY_LIMIT))
        .read_to_end(&mut seen.body)?;
    let reply = script(&seen);
    lock(recorded).push(seen);
    write_reply(stream, reply, stop)
}

fn write_reply(mut stream: TcpStream, reply: Reply, stop: &StopSignal) -> io::Result<()> {
    let declared = match &reply.body {
        Body::Bytes(bytes) => bytes.len(),
        Body::Truncated { declared, .. } => *declared,
        Body::Repeat { len, .. } => *len,
        Body::Drip { bytes, .. } => bytes.len(),
    };
    let mut head = format!("HTTP/1.1 {} {}\r\n", reply.status, reason(reply.status));
    for (name, value) in &reply.headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str(&format!(
        "Content-Length: {declared}\r\nConnection: close\r\n\r\n"
    ));
    stream.write_all(head.as_bytes())?;
    match reply.body {
        Body::Bytes(bytes) | Body::Truncated { sent: bytes, .. } => stream.write_all(&bytes)?,
        Body::Repeat { byte, len } => {
            io::copy(&mut io::repeat(byte).take(len as u64), &mut stream)?;
        }
        Body::Drip { bytes, every } => {
            stream.flush()?;
            for byte in bytes {
                if stop.sleep(every) {
                    break;
                }
                stream.write_all(&[byte])?;
                stream.flush()?;
            }
        }
    }
    stream.flush()?;
    stream.shutdown(Shutdown::Both)
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        201 => "Created",
        204 => "No Content",
        301 => "Moved Permanently",
        302 => "Found",
        303 => "See Other",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        404 => "Not Found",
        500 => "Internal Server Error",
        _ => "Status",
    }
}
