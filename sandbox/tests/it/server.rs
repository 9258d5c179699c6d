//! The HTTP server's limits, spoken to over raw TCP: other HTTP versions, oversized headers and
//! bodies, the key checked before the body is read, stalled and idle clients.

use crate::deploy::scratch;
use crate::program::Program;
use crate::support::{OTHER_KEY, PATIENCE, sandbox, with_config};
use base64::Engine;
use sandbox::{Config, GUEST_AUTH_KEY, ServerLimits};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

fn connect(url: &str) -> TcpStream {
    let address = url.trim_start_matches("http://");
    let stream = TcpStream::connect(address).expect("the sandbox accepts");
    stream
        .set_read_timeout(Some(PATIENCE))
        .expect("a read timeout");
    stream
}

fn basic(key: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(key)
    )
}

/// Everything the server sends until it closes the connection. Fails when the server neither
/// answers nor closes within the read timeout.
fn read_until_closed(stream: &mut TcpStream) -> String {
    let mut answer = Vec::new();
    match stream.read_to_end(&mut answer) {
        Ok(_) => String::from_utf8_lossy(&answer).into_owned(),
        // A reset after the answer (a body left unread by the server) still carries the answer.
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset && !answer.is_empty() => {
            String::from_utf8_lossy(&answer).into_owned()
        }
        Err(e) => panic!(
            "the server neither answered nor closed: {e}; got {:?}",
            String::from_utf8_lossy(&answer)
        ),
    }
}

/// The head of the first answer (up to the blank line), read without waiting for a close.
fn read_head(stream: &mut TcpStream) -> String {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match stream.read(&mut byte) {
            Ok(0) => break,
            Ok(_) => head.push(byte[0]),
            Err(e) => panic!(
                "no answer came: {e}; got {:?}",
                String::from_utf8_lossy(&head)
            ),
        }
    }
    String::from_utf8_lossy(&head).into_owned()
}

fn count_entries(dir: &str) -> usize {
    std::fs::read_dir(dir).map_or(0, |entries| entries.count())
}

#[test]
fn other_http_versions_are_answered_505_and_closed_leaving_nothing_behind() {
    let dir = scratch("versions");
    let program = Program::start(&[], &dir.join("stderr.log"));
    let (fds, tasks) = (
        format!("/proc/{}/fd", program.pid()),
        format!("/proc/{}/task", program.pid()),
    );
    // One request first, so that whatever the server sets up once is there already.
    assert_eq!(program.get("/namespaces").0, 200);
    let (fds_before, tasks_before) = (count_entries(&fds), count_entries(&tasks));
    for round in 0..100 {
        for version in ["HTTP/2.0", "HTTP/3.0"] {
            let mut stream = connect(&program.url);
            write!(
                stream,
                "GET /api/v1/namespaces {version}\r\nHost: 127.0.0.1\r\n\r\n"
            )
            .unwrap();
            let answer = read_until_closed(&mut stream);
            assert!(
                answer.starts_with("HTTP/1.1 505 "),
                "round {round}, {version}: {answer}"
            );
            assert!(answer.contains("HTTP Version Not Supported"), "{answer}");
        }
    }
    // On a connection already serving HTTP/1.1, a later HTTP/2.0 request line is refused (400)
    // and the connection closed.
    let mut stream = connect(&program.url);
    write!(
        stream,
        "GET /api/v1/namespaces HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: {}\r\n\r\n",
        basic(GUEST_AUTH_KEY)
    )
    .unwrap();
    let head = read_head(&mut stream);
    assert!(head.starts_with("HTTP/1.1 200 "), "{head}");
    let length: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length: "))
        .and_then(|l| l.trim().parse().ok())
        .expect("a content length");
    let mut body = vec![0; length];
    stream.read_exact(&mut body).unwrap();
    write!(
        stream,
        "GET /api/v1/namespaces HTTP/2.0\r\nHost: 127.0.0.1\r\n\r\n"
    )
    .unwrap();
    let answer = read_until_closed(&mut stream);
    assert!(answer.starts_with("HTTP/1.1 400 "), "{answer}");
    // The prior-knowledge HTTP/2 preface too.
    let mut stream = connect(&program.url);
    stream
        .write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
        .unwrap();
    assert!(read_until_closed(&mut stream).starts_with("HTTP/1.1 505 "));
    // Every connection was closed and no thread was left waiting on one.
    let deadline = Instant::now() + PATIENCE;
    while count_entries(&fds) > fds_before || count_entries(&tasks) > tasks_before {
        assert!(
            Instant::now() < deadline,
            "the server kept {} descriptors (had {fds_before}) and {} threads (had {tasks_before})",
            count_entries(&fds),
            count_entries(&tasks)
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(program.get("/namespaces").0, 200, "still serving");
    drop(program);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn headers_over_the_limit_are_answered_431() {
    let sb = sandbox();
    let mut stream = connect(&sb.url());
    let huge = "x".repeat(100 * 1024);
    write!(
        stream,
        "GET /api/v1/namespaces HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: {}\r\nX-Big: {huge}\r\n\r\n",
        basic(GUEST_AUTH_KEY)
    )
    .unwrap();
    let answer = read_until_closed(&mut stream);
    assert!(
        answer.starts_with("HTTP/1.1 431 "),
        "{}",
        &answer[..answer.len().min(200)]
    );
    // Headers within the limit are fine.
    let mut stream = connect(&sb.url());
    let fine = "x".repeat(20 * 1024);
    write!(
        stream,
        "GET /api/v1/namespaces HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: {}\r\nX-Big: {fine}\r\nConnection: close\r\n\r\n",
        basic(GUEST_AUTH_KEY)
    )
    .unwrap();
    assert!(read_until_closed(&mut stream).starts_with("HTTP/1.1 200 "));
}

/// A request head announcing a 100 MB body, of which nothing (or little) is ever sent.
fn announce_huge_body(stream: &mut TcpStream, path: &str, key: &str) {
    write!(
        stream,
        "POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: {}\r\nContent-Type: application/json\r\nContent-Length: 104857600\r\n\r\n{{\"a\":",
        basic(key)
    )
    .expect("the head is sent");
}

#[test]
fn the_key_and_the_body_cap_are_checked_before_the_body_is_read() {
    let sb = sandbox();
    let api = crate::support::Api::new(&sb, "guest");
    assert_eq!(
        api.put("/namespaces/_/triggers/t", serde_json::json!({}))
            .status,
        200
    );
    let fire = "/api/v1/namespaces/_/triggers/t";
    // The server answers without waiting for the 100 MB it was promised: if it waited, the
    // read would time out and the test fail.
    let mut stream = connect(&sb.url());
    announce_huge_body(&mut stream, fire, "wrong:key");
    let head = read_head(&mut stream);
    assert!(head.starts_with("HTTP/1.1 401 "), "{head}");
    let mut stream = connect(&sb.url());
    announce_huge_body(&mut stream, fire, OTHER_KEY);
    assert!(
        read_head(&mut stream).starts_with("HTTP/1.1 401 "),
        "an unknown key"
    );
    // The right key, but more than a fire may carry: 413 at once, recorded as a refused fire.
    let mut stream = connect(&sb.url());
    announce_huge_body(&mut stream, fire, GUEST_AUTH_KEY);
    let head = read_head(&mut stream);
    assert!(head.starts_with("HTTP/1.1 413 "), "{head}");
    let fires = sb.wait_for_fires("guest", "t", 1, PATIENCE);
    assert_eq!(fires[0].status, 413);
    assert_eq!(fires[0].payload, serde_json::Value::Null);
    // An action's code may be far larger, but not larger than its cap either.
    let mut stream = connect(&sb.url());
    write!(
        stream,
        "PUT /api/v1/namespaces/_/actions/big HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: {}\r\nContent-Length: 200000000\r\n\r\n",
        basic(GUEST_AUTH_KEY)
    )
    .unwrap();
    assert!(read_head(&mut stream).starts_with("HTTP/1.1 413 "));
}

#[test]
fn a_chunked_body_over_the_cap_is_refused_once_the_cap_is_passed() {
    let sb = sandbox();
    let mut stream = connect(&sb.url());
    write!(
        stream,
        "POST /api/v1/namespaces/_/actions/none HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: {}\r\nTransfer-Encoding: chunked\r\n\r\n",
        basic(GUEST_AUTH_KEY)
    )
    .unwrap();
    // 1 MiB is what an invoke may carry; send a little more, in 64 KiB chunks, then stop.
    let chunk = "y".repeat(64 * 1024);
    for _ in 0..17 {
        write!(stream, "{:x}\r\n{chunk}\r\n", chunk.len()).unwrap();
    }
    let head = read_head(&mut stream);
    assert!(head.starts_with("HTTP/1.1 413 "), "{head}");
}

#[test]
fn stalled_bodies_get_408_and_idle_or_slow_connections_are_closed() {
    let limits = ServerLimits {
        idle_timeout: Duration::from_millis(500),
        read_timeout: Duration::from_millis(500),
        ..ServerLimits::default()
    };
    let sb = with_config(Config {
        limits,
        ..Config::default()
    });
    // A connection that never sends anything.
    let mut idle = connect(&sb.url());
    assert_eq!(read_until_closed(&mut idle), "", "closed without an answer");
    // Headers that never end.
    let mut slow = connect(&sb.url());
    write!(
        slow,
        "GET /api/v1/namespaces HTTP/1.1\r\nHost: 127.0.0.1\r\n"
    )
    .unwrap();
    let answer = read_until_closed(&mut slow);
    assert!(!answer.contains(" 200 "), "{answer}");
    // A body that stops half way.
    let mut stalled = connect(&sb.url());
    write!(
        stalled,
        "PUT /api/v1/namespaces/_/triggers/t HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: {}\r\nContent-Length: 10\r\n\r\n{{\"a\"",
        basic(GUEST_AUTH_KEY)
    )
    .unwrap();
    let answer = read_until_closed(&mut stalled);
    assert!(answer.starts_with("HTTP/1.1 408 "), "{answer}");
    assert!(sb.trigger("guest", "t").is_none());
    // A keep-alive connection serves request after request until it idles.
    let mut alive = connect(&sb.url());
    for _ in 0..3 {
        write!(
            alive,
            "GET /api/v1/namespaces HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: {}\r\n\r\n",
            basic(GUEST_AUTH_KEY)
        )
        .unwrap();
        let head = read_head(&mut alive);
        assert!(head.starts_with("HTTP/1.1 200 "), "{head}");
        let length: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length: "))
            .and_then(|l| l.trim().parse().ok())
            .expect("a content length");
        let mut body = vec![0; length];
        alive.read_exact(&mut body).unwrap();
    }
    assert_eq!(read_until_closed(&mut alive), "", "closed once idle");
}
