//! A server that answers what the test scripts: redirects to elsewhere, bodies that are not what
//! the caller expects (HTML, a bare string, a truncated or a huge body), bodies that drip in a
//! byte at a time. It records every request, so a test can check what reached it (which
//! headers, which credentials).

use std::io::{self, Read};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tiny_http::{Request, Response, StatusCode};

use crate::http::{
    ServerLoop, StopSignal, bind_loopback, headers_of, lock, make_header, port_of, read_body,
};

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
    Truncated { declared: usize, sent: Vec<u8> },
    /// `len` copies of `byte`, made as they are sent (a huge body costs the fake nothing).
    Repeat { byte: u8, len: usize },
    /// `bytes`, one every `every` (and the declared length up front), ending early when the
    /// server stops.
    Drip { bytes: Vec<u8>, every: Duration },
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
pub struct ScriptedServer {
    url: String,
    requests: Arc<Mutex<Vec<Recorded>>>,
    stop: Arc<StopSignal>,
    server: Option<ServerLoop>,
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
        let server = bind_loopback()?;
        let url = format!("http://127.0.0.1:{}", port_of(&server)?);
        let requests = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(StopSignal::default());
        let script: Arc<Script> = Arc::new(script);
        let (recorded, stopping) = (Arc::clone(&requests), Arc::clone(&stop));
        let server = ServerLoop::spawn(server, move |request| {
            // A thread per request, so that a dripping answer does not hold up the others.
            let (recorded, stopping, script) =
                (Arc::clone(&recorded), Arc::clone(&stopping), Arc::clone(&script));
            std::thread::spawn(move || answer(request, &recorded, &stopping, script.as_ref()));
        });
        Ok(Self {
            url,
            requests,
            stop,
            server: Some(server),
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
        self.server.take();
    }
}

fn answer(mut request: Request, recorded: &Mutex<Vec<Recorded>>, stop: &Arc<StopSignal>, script: &Script) {
    let body = read_body(&mut request, BODY_LIMIT).unwrap_or_default();
    let seen = Recorded {
        method: request.method().as_str().to_owned(),
        url: request.url().to_owned(),
        headers: headers_of(&request),
        body,
    };
    let reply = script(&seen);
    lock(recorded).push(seen);
    let headers: Vec<_> = reply
        .headers
        .iter()
        .filter_map(|(name, value)| make_header(name, value))
        .collect();
    let status = StatusCode(reply.status);
    let (reader, length): (Box<dyn Read + Send>, usize) = match reply.body {
        Body::Bytes(bytes) => {
            let len = bytes.len();
            (Box::new(io::Cursor::new(bytes)), len)
        }
        Body::Truncated { declared, sent } => (Box::new(io::Cursor::new(sent)), declared),
        Body::Repeat { byte, len } => (Box::new(io::repeat(byte).take(len as u64)), len),
        Body::Drip { bytes, every } => {
            let len = bytes.len();
            let drip = Drip {
                bytes,
                next: 0,
                every,
                stop: Arc::clone(stop),
            };
            (Box::new(drip), len)
        }
    };
    let response = Response::new(status, headers, reader, Some(length), None);
    // A client that went away (or a truncated body) ends the answer: nothing to do about it.
    let _ = request.respond(response);
}

/// A body read one byte per interval.
struct Drip {
    bytes: Vec<u8>,
    next: usize,
    every: Duration,
    stop: Arc<StopSignal>,
}

impl Read for Drip {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.next >= self.bytes.len() || buf.is_empty() || self.stop.sleep(self.every) {
            return Ok(0);
        }
        buf[0] = self.bytes[self.next];
        self.next += 1;
        Ok(1)
    }
}
