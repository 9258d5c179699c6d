//! Webhook deliveries as GitHub makes them: a POST to the hook URL with the event headers, the
//! body as JSON or form, HMAC signatures when the hook has a secret, and Basic auth taken from
//! the URL's userinfo.

use std::io::Read;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::model::{ContentType, HookConfig};
use crate::hooks::{form_payload, signatures, split_userinfo};

/// GitHub gives a receiver 10 seconds to answer.
const DELIVERY_TIMEOUT: Duration = Duration::from_secs(10);

/// How much of a receiver's answer is kept.
const RESPONSE_BODY_LIMIT: u64 = 64 * 1024;

/// One HTTP client for verified TLS and one for hooks with `insecure_ssl: "1"`.
pub(crate) struct Clients {
    verified: ureq::Agent,
    unverified: ureq::Agent,
}

impl Clients {
    pub(crate) fn new() -> Self {
        let build = |insecure: bool| {
            ureq::Agent::config_builder()
                .http_status_as_error(false)
                // GitHub does not follow redirects when delivering.
                .max_redirects(0)
                // A fresh connection per delivery, as GitHub makes them; a pooled one could
                // outlive the receiver's server and hang until the timeout.
                .max_idle_connections(0)
                .max_idle_connections_per_host(0)
                .timeout_global(Some(DELIVERY_TIMEOUT))
                .user_agent("GitHub-Hookshot/fake")
                .tls_config(
                    ureq::tls::TlsConfig::builder()
                        .disable_verification(insecure)
                        .build(),
                )
                .build()
                .new_agent()
        };
        Self {
            verified: build(false),
            unverified: build(true),
        }
    }
}

/// Everything needed to make one delivery, taken from the state before sending so that no lock
/// is held while the receiver answers.
pub(crate) struct Outgoing {
    pub(crate) repo_key: String,
    pub(crate) repo_id: u64,
    pub(crate) hook_id: u64,
    pub(crate) guid: String,
    pub(crate) event: String,
    pub(crate) payload: Value,
    pub(crate) config: HookConfig,
    pub(crate) redelivery: bool,
}

/// What came of a delivery.
pub(crate) struct Sent {
    pub(crate) status: Option<u16>,
    pub(crate) ok: bool,
    pub(crate) message: String,
    pub(crate) response_body: String,
    /// The request headers, without `Authorization`.
    pub(crate) request_headers: Vec<(String, String)>,
    pub(crate) duration: f64,
}

pub(crate) fn send(clients: &Clients, out: &Outgoing) -> Sent {
    let started = Instant::now();
    let failed = |message: &str, request_headers: Vec<(String, String)>| Sent {
        status: None,
        ok: false,
        message: message.to_owned(),
        response_body: String::new(),
        request_headers,
        duration: started.elapsed().as_secs_f64(),
    };
    let Ok((target, basic_auth)) = split_userinfo(&out.config.url) else {
        return failed("invalid URL", Vec::new());
    };
    let body = encode_body(out.config.content_type, &out.payload);
    let headers = delivery_headers(out, &body);
    let client = if out.config.insecure_ssl == "1" {
        &clients.unverified
    } else {
        &clients.verified
    };
    let mut request = client.post(target.as_str());
    for (name, value) in &headers {
        request = request.header(name.as_str(), value.as_str());
    }
    if let Some(credentials) = basic_auth {
        request = request.header("Authorization", format!("Basic {credentials}"));
    }
    match request.send(&body[..]) {
        Ok(mut response) => {
            let code = response.status().as_u16();
            let mut raw = Vec::new();
            let _ = response
                .body_mut()
                .as_reader()
                .take(RESPONSE_BODY_LIMIT)
                .read_to_end(&mut raw);
            let ok = (200..300).contains(&code);
            Sent {
                status: Some(code),
                ok,
                message: if ok {
                    "OK".to_owned()
                } else {
                    format!("Invalid HTTP Response: {code}")
                },
                response_body: String::from_utf8_lossy(&raw).into_owned(),
                request_headers: headers,
                duration: started.elapsed().as_secs_f64(),
            }
        }
        // Generic messages on purpose: a client error could quote the request.
        Err(ureq::Error::Timeout(_)) => failed("timed out", headers),
        Err(ureq::Error::Io(_) | ureq::Error::ConnectionFailed | ureq::Error::HostNotFound) => {
            failed("failed to connect to host", headers)
        }
        Err(_) => failed("invalid HTTP response", headers),
    }
}

/// The body as GitHub sends it: the JSON itself, or `payload=<urlencoded JSON>` for form hooks.
pub(crate) fn encode_body(content_type: ContentType, payload: &Value) -> Vec<u8> {
    let json = payload.to_string();
    match content_type {
        ContentType::Json => json.into_bytes(),
        ContentType::Form => form_payload(&json),
    }
}

fn delivery_headers(out: &Outgoing, body: &[u8]) -> Vec<(String, String)> {
    let content_type = match out.config.content_type {
        ContentType::Json => "application/json",
        ContentType::Form => "application/x-www-form-urlencoded",
    };
    let mut headers = vec![
        ("Accept".to_owned(), "*/*".to_owned()),
        ("Content-Type".to_owned(), content_type.to_owned()),
        ("User-Agent".to_owned(), "GitHub-Hookshot/fake".to_owned()),
        ("X-GitHub-Delivery".to_owned(), out.guid.clone()),
        ("X-GitHub-Event".to_owned(), out.event.clone()),
        ("X-GitHub-Hook-ID".to_owned(), out.hook_id.to_string()),
        (
            "X-GitHub-Hook-Installation-Target-ID".to_owned(),
            out.repo_id.to_string(),
        ),
        (
            "X-GitHub-Hook-Installation-Target-Type".to_owned(),
            "repository".to_owned(),
        ),
    ];
    if let Some(secret) = &out.config.secret {
        let (sha256, sha1) = signatures(secret.as_bytes(), body);
        headers.push(("X-Hub-Signature".to_owned(), format!("sha1={sha1}")));
        headers.push(("X-Hub-Signature-256".to_owned(), format!("sha256={sha256}")));
    }
    headers
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_body_wraps_the_json() {
        let body = encode_body(ContentType::Form, &serde_json::json!({"a": "b c"}));
        assert_eq!(
            String::from_utf8_lossy(&body),
            "payload=%7B%22a%22%3A%22b+c%22%7D"
        );
    }
}
