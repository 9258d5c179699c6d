//! The connection below HTTP: the first request line looked at before hyper parses it (so an
//! HTTP/2.0 or HTTP/3.0 request line gets a clear 505 instead of a bare 400), and writes that
//! give up when the client stops reading.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;
use tokio::time::Sleep;

/// What the first request line says about the connection.
pub(crate) enum Opening {
    /// HTTP/1.x (or too little to tell): hand the connection to hyper with what was read.
    Http1(Vec<u8>),
    /// Another HTTP version: answered and closed.
    OtherVersion,
    /// The client sent nothing in time, or hung up.
    Gone,
}

/// The version of a request line (`GET / HTTP/2.0`), when it has one.
fn version_of(line: &[u8]) -> Option<&[u8]> {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let at = line.iter().rposition(|b| *b == b' ')?;
    Some(&line[at + 1..])
}

/// Reads until the first request line is complete (or `limit` bytes, or EOF), at most `wait`.
pub(crate) async fn read_opening(stream: &mut TcpStream, limit: usize, wait: Duration) -> Opening {
    let mut read = Vec::with_capacity(1024);
    let outcome = tokio::time::timeout(wait, async {
        loop {
            if let Some(end) = read.iter().position(|b| *b == b'\n') {
                return Some(end);
            }
            if read.len() >= limit {
                return None;
            }
            let mut chunk = [0u8; 2048];
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return Some(usize::MAX),
                Ok(n) => read.extend_from_slice(&chunk[..n]),
            }
        }
    })
    .await;
    match outcome {
        Err(_elapsed) => Opening::Gone,
        Ok(Some(usize::MAX)) if read.is_empty() => Opening::Gone,
        Ok(Some(end)) if end != usize::MAX => match version_of(&read[..end]) {
            Some(version)
                if version.starts_with(b"HTTP/")
                    && version != b"HTTP/1.1"
                    && version != b"HTTP/1.0" =>
            {
                Opening::OtherVersion
            }
            _ => Opening::Http1(read),
        },
        // Too long a line, or a partial one before EOF: hyper answers those (414, 400).
        Ok(_) => Opening::Http1(read),
    }
}

/// Answers a request line of another HTTP version with 505 and closes.
pub(crate) async fn refuse_version(stream: &mut TcpStream, transaction_id: &str) {
    let body = serde_json::json!({
        "error": "HTTP Version Not Supported: this server speaks HTTP/1.1 (and HTTP/1.0).",
        "code": transaction_id,
    })
    .to_string();
    let answer = format!(
        "HTTP/1.1 505 HTTP Version Not Supported\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = stream.write_all(answer.as_bytes()).await;
    let _ = stream.shutdown().await;
}

/// A connection for hyper: first the bytes already read, then the socket; a write that cannot
/// make progress for `write_timeout` fails (the client stopped reading its answer).
pub(crate) struct Connection {
    stream: TcpStream,
    read_first: Vec<u8>,
    position: usize,
    write_timeout: Duration,
    stalled: Option<Pin<Box<Sleep>>>,
}

impl Connection {
    pub fn new(stream: TcpStream, read_first: Vec<u8>, write_timeout: Duration) -> Connection {
        Connection {
            stream,
            read_first,
            position: 0,
            write_timeout,
            stalled: None,
        }
    }

    /// `Pending` from the socket becomes an error once it has lasted `write_timeout`.
    fn guard<T>(&mut self, cx: &mut Context<'_>, poll: Poll<io::Result<T>>) -> Poll<io::Result<T>> {
        if poll.is_ready() {
            self.stalled = None;
            return poll;
        }
        let timeout = self.write_timeout;
        let stalled = self
            .stalled
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(timeout)));
        ready!(stalled.as_mut().poll(cx));
        Poll::Ready(Err(io::Error::new(
            io::ErrorKind::TimedOut,
            "the client did not read its answer",
        )))
    }
}

impl AsyncRead for Connection {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        if this.position < this.read_first.len() {
            let rest = &this.read_first[this.position..];
            let n = rest.len().min(buf.remaining());
            buf.put_slice(&rest[..n]);
            this.position += n;
            if this.position == this.read_first.len() {
                this.read_first = Vec::new();
                this.position = 0;
            }
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut this.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for Connection {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let poll = Pin::new(&mut self.stream).poll_write(cx, buf);
        self.guard(cx, poll)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let poll = Pin::new(&mut self.stream).poll_write_vectored(cx, bufs);
        self.guard(cx, poll)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let poll = Pin::new(&mut self.stream).poll_flush(cx);
        self.guard(cx, poll)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_version_of_a_request_line() {
        assert_eq!(version_of(b"GET / HTTP/2.0\r"), Some(&b"HTTP/2.0"[..]));
        assert_eq!(version_of(b"GET /a%20b HTTP/1.1"), Some(&b"HTTP/1.1"[..]));
        assert_eq!(version_of(b"nonsense"), None);
    }
}
