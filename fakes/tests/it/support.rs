//! Test helpers: an HTTP client that reports every status, and a webhook receiver.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use fakes::FakeGitHub;
use serde_json::Value;

/// The repository and admin token every GitHub test starts with.
pub const REPO: &str = "octo/hello";
pub const TOKEN: &str = "ghp_admin_token";

/// A fake GitHub holding [`REPO`], administered with [`TOKEN`].
pub fn github() -> Result<FakeGitHub, std::io::Error> {
    let github = FakeGitHub::start()?;
    github.add_repo(REPO, TOKEN);
    Ok(github)
}

pub fn hooks_url(github: &FakeGitHub) -> String {
    format!("{}/repos/{REPO}/hooks", github.url())
}

pub type TestResult = Result<(), Box<dyn std::error::Error>>;

/// An answer as the test sees it.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub text: String,
}

impl Answer {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or(Value::Null)
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// A client that returns 4xx/5xx answers instead of errors.
pub fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(20)))
        .build()
        .new_agent()
}

fn answer(response: Result<ureq::http::Response<ureq::Body>, ureq::Error>) -> Answer {
    let mut response = match response {
        Ok(response) => response,
        Err(e) => panic!("request failed: {e}"),
    };
    let headers = response
        .headers()
        .iter()
        .map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap_or("").to_owned()))
        .collect();
    let text = response.body_mut().read_to_string().unwrap_or_default();
    Answer {
        status: response.status().as_u16(),
        headers,
        text,
    }
}

/// A GET with these headers; the body is read as UTF-8 (lossily).
pub fn get(url: &str, headers: &[(&str, &str)]) -> Result<Answer, ureq::Error> {
    get_with(&agent(), url, headers)
}

/// [`get`] through a given agent.
pub fn get_with(
    agent: &ureq::Agent,
    url: &str,
    headers: &[(&str, &str)],
) -> Result<Answer, ureq::Error> {
    let mut request = agent.get(url);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let mut response = request.call()?;
    let headers = response
        .headers()
        .iter()
        .map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap_or("").to_owned()))
        .collect();
    let bytes = response.body_mut().read_to_vec()?;
    Ok(Answer {
        status: response.status().as_u16(),
        headers,
        text: String::from_utf8_lossy(&bytes).into_owned(),
    })
}

/// Calls the GitHub API with `Authorization: token {token}` (when given).
pub fn gh(method: &str, url: &str, token: Option<&str>, body: Option<&Value>) -> Answer {
    gh_with_auth(method, url, token.map(|t| format!("token {t}")), body)
}

pub fn gh_with_auth(method: &str, url: &str, auth: Option<String>, body: Option<&Value>) -> Answer {
    let agent = agent();
    let builder = ureq::http::Request::builder()
        .method(method)
        .uri(url)
        .header("Accept", "application/vnd.github+json");
    let builder = match auth {
        Some(auth) => builder.header("Authorization", auth),
        None => builder,
    };
    let bytes = body.map(|b| b.to_string().into_bytes()).unwrap_or_default();
    let builder = if body.is_some() {
        builder.header("Content-Type", "application/json")
    } else {
        builder
    };
    let request = match builder.body(bytes) {
        Ok(request) => request,
        Err(e) => panic!("bad request: {e}"),
    };
    answer(agent.run(request))
}

/// A raw body (for malformed JSON).
pub fn gh_raw(method: &str, url: &str, token: &str, body: &str) -> Answer {
    let request = ureq::http::Request::builder()
        .method(method)
        .uri(url)
        .header("Authorization", format!("token {token}"))
        .body(body.as_bytes().to_vec());
    match request {
        Ok(request) => answer(agent().run(request)),
        Err(e) => panic!("bad request: {e}"),
    }
}

/// A request a receiver got.
#[derive(Debug, Clone)]
pub struct Received {
    pub method: String,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Received {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }
}

/// A webhook receiver: records every request and answers with a set status and body.
pub struct Receiver {
    pub url: String,
    server: fakes::ScriptedServer,
    reply: Arc<Mutex<(u16, String)>>,
}

impl Receiver {
    pub fn start() -> Receiver {
        let reply = Arc::new(Mutex::new((202, "accepted".to_owned())));
        let answering = Arc::clone(&reply);
        let server = fakes::ScriptedServer::start(move |_| {
            let (status, text) = answering.lock().map(|r| r.clone()).unwrap_or_default();
            fakes::Reply::new(status, "text/plain", text)
        })
        .unwrap_or_else(|e| panic!("receiver: {e}"));
        Receiver {
            url: server.url(),
            server,
            reply,
        }
    }

    pub fn port(&self) -> u16 {
        self.url
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .unwrap_or(0)
    }

    pub fn reply_with(&self, status: u16, body: &str) {
        if let Ok(mut reply) = self.reply.lock() {
            *reply = (status, body.to_owned());
        }
    }

    pub fn received(&self) -> Vec<Received> {
        self.server
            .requests()
            .into_iter()
            .map(|r| Received {
                method: r.method,
                url: r.url,
                headers: r.headers,
                body: r.body,
            })
            .collect()
    }

    /// Waits until at least `n` requests came (polling), then returns them all.
    pub fn wait_for(&self, n: usize) -> Vec<Received> {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let got = self.received();
            if got.len() >= n || Instant::now() > deadline {
                return got;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

/// Hex HMAC of `body` keyed with `secret`, computed independently of the fake.
pub fn hmac_sha256_hex(secret: &str, body: &[u8]) -> String {
    use hmac::{Hmac, KeyInit, Mac};
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes())
        .unwrap_or_else(|_| unreachable!("any key length"));
    mac.update(body);
    hex(&mac.finalize().into_bytes())
}

pub fn hmac_sha1_hex(secret: &str, body: &[u8]) -> String {
    use hmac::{Hmac, KeyInit, Mac};
    let mut mac = Hmac::<sha1::Sha1>::new_from_slice(secret.as_bytes())
        .unwrap_or_else(|_| unreachable!("any key length"));
    mac.update(body);
    hex(&mac.finalize().into_bytes())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Percent-decodes a form value (`+` is a space).
pub fn form_value(body: &[u8], key: &str) -> Option<String> {
    let text = std::str::from_utf8(body).ok()?;
    text.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=')?;
        (k == key).then(|| percent_decode(&v.replace('+', " ")))
    })
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let escaped = bytes
            .get(i + 1..i + 3)
            .filter(|_| bytes[i] == b'%')
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match escaped {
            Some(b) => {
                out.push(b);
                i += 3;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}
