//! Just enough HTTP/1.1 over tokio sockets for the load fakes (the `_changes` server and the fire
//! sink): request heads, `Content-Length` bodies, keep-alive, chunked streaming answers. Written
//! against the readiness API so the workspace's tokio needs no extra features.

use std::io;
use std::net::SocketAddr;

use tokio::net::{TcpListener, TcpStream};

/// The largest request head accepted.
const MAX_HEAD: usize = 64 * 1024;

/// A bound listener on 127.0.0.1 with an OS-picked port (bound in the caller's thread, so the
/// address is known before any task runs).
pub fn listen(runtime: &tokio::runtime::Runtime) -> io::Result<(TcpListener, SocketAddr)> {
    let listener = std::net::TcpListener::bind(("127.0.0.1", 0))?;
    listener.set_nonblocking(true)?;
    let address = listener.local_addr()?;
    let _entered = runtime.enter();
    Ok((TcpListener::from_std(listener)?, address))
}

/// A request head.
#[derive(Debug, Clone)]
pub struct Head {
    pub method: String,
    /// Path and query, as sent.
    pub target: String,
    pub headers: Vec<(String, String)>,
}

impl Head {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn content_length(&self) -> usize {
        self.header("content-length")
            .and_then(|value| value.trim().parse().ok())
            .unwrap_or(0)
    }

    /// The path without the query.
    pub fn path(&self) -> &str {
        self.target.split('?').next().unwrap_or("")
    }

    /// A query parameter's raw value.
    pub fn query(&self, name: &str) -> Option<&str> {
        let query = self.target.split_once('?')?.1;
        query.split('&').find_map(|pair| {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            (key == name).then_some(value)
        })
    }

    pub fn wants_close(&self) -> bool {
        self.header("connection")
            .is_some_and(|value| value.eq_ignore_ascii_case("close"))
    }
}

/// One server-side connection with its read buffer.
pub struct Conn {
    stream: TcpStream,
    buffer: Vec<u8>,
}

impl Conn {
    pub fn new(stream: TcpStream) -> Conn {
        let _ = stream.set_nodelay(true);
        Conn {
            stream,
            buffer: Vec::new(),
        }
    }

    async fn read_more(&mut self) -> io::Result<usize> {
        let mut chunk = [0_u8; 16 * 1024];
        loop {
            self.stream.readable().await?;
            match self.stream.try_read(&mut chunk) {
                Ok(read) => {
                    self.buffer.extend_from_slice(&chunk[..read]);
                    return Ok(read);
                }
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => {}
                Err(error) => return Err(error),
            }
        }
    }

    /// The next request head; `None` when the client closed the connection between requests.
    pub async fn read_head(&mut self) -> io::Result<Option<Head>> {
        loop {
            if let Some(end) = find(&self.buffer, b"\r\n\r\n") {
                let head: Vec<u8> = self.buffer.drain(..end + 4).collect();
                return parse_head(&head).map(Some);
            }
            if self.buffer.len() > MAX_HEAD {
                return Err(io::Error::other("request head too large"));
            }
            if self.read_more().await? == 0 {
                return if self.buffer.is_empty() {
                    Ok(None)
                } else {
                    Err(io::ErrorKind::UnexpectedEof.into())
                };
            }
        }
    }

    /// A body of `length` bytes.
    pub async fn read_body(&mut self, length: usize) -> io::Result<Vec<u8>> {
        while self.buffer.len() < length {
            if self.read_more().await? == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
        }
        Ok(self.buffer.drain(..length).collect())
    }

    /// Resolves once the client closed the connection (what it sends meanwhile is dropped).
    pub async fn peer_closed(&self) {
        let mut scratch = [0_u8; 1024];
        loop {
            if self.stream.readable().await.is_err() {
                return;
            }
            match self.stream.try_read(&mut scratch) {
                Ok(0) => return,
                Ok(_) => {}
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => {}
                Err(_) => return,
            }
        }
    }

    pub async fn write_all(&self, mut data: &[u8]) -> io::Result<()> {
        while !data.is_empty() {
            self.stream.writable().await?;
            match self.stream.try_write(data) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(written) => data = &data[written..],
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => {}
                Err(error) => return Err(error),
            }
        }
        Ok(())
    }

    /// A complete answer with a JSON body.
    pub async fn respond_json(&self, status: u16, reason: &str, body: &str) -> io::Result<()> {
        let answer = format!(
            "HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        self.write_all(answer.as_bytes()).await
    }

    /// The head of a streamed (chunked) JSON answer.
    pub async fn start_chunked(&self) -> io::Result<()> {
        self.write_all(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nCache-Control: must-revalidate\r\n\r\n",
        )
        .await
    }

    /// One chunk of a streamed answer.
    pub async fn chunk(&self, data: &[u8]) -> io::Result<()> {
        let mut framed = format!("{:x}\r\n", data.len()).into_bytes();
        framed.extend_from_slice(data);
        framed.extend_from_slice(b"\r\n");
        self.write_all(&framed).await
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack
        .windows(needle.len())
        .position(|window| window == needle)
}

fn parse_head(head: &[u8]) -> io::Result<Head> {
    let text = std::str::from_utf8(head).map_err(|_| io::Error::other("request head not UTF-8"))?;
    let mut lines = text.split("\r\n");
    let request_line = lines.next().unwrap_or("");
    let mut parts = request_line.split(' ');
    let (Some(method), Some(target)) = (parts.next(), parts.next()) else {
        return Err(io::Error::other(format!(
            "bad request line {request_line:?}"
        )));
    };
    let headers = lines
        .filter(|line| !line.is_empty())
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.trim().to_owned(), value.trim().to_owned()))
        .collect();
    Ok(Head {
        method: method.to_owned(),
        target: target.to_owned(),
        headers,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_head() {
        let head = parse_head(
            b"GET /db/_changes?feed=continuous&since=7 HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\n",
        )
        .expect("head");
        assert_eq!(head.method, "GET");
        assert_eq!(head.path(), "/db/_changes");
        assert_eq!(head.query("since"), Some("7"));
        assert_eq!(head.query("feed"), Some("continuous"));
        assert_eq!(head.query("nope"), None);
        assert_eq!(head.content_length(), 3);
        assert!(!head.wants_close());
    }
}
