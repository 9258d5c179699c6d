//! Deliveries as Gitea makes them (`services/webhook/deliver.go`): a POST of the payload as JSON
//! or as `payload=<JSON>` (form), and one set of headers for Gitea, Gogs and GitHub receivers
//! alike. The signature is the hex HMAC-SHA256 of the *payload* (the JSON, even in a form body),
//! keyed with the hook's secret (an empty key when it has none), sent as `X-Gitea-Signature`,
//! `X-Gogs-Signature` and `X-Hub-Signature-256: sha256=...`, with `X-Hub-Signature: sha1=...`.

use std::io::Read;
use std::time::Duration;

use super::Delivery;
use super::model::ContentType;
use crate::hooks::{form_payload, signatures, split_userinfo};

/// Gitea's `[webhook] DELIVER_TIMEOUT` is 5 seconds by default; a loaded test machine gets more.
const DELIVERY_TIMEOUT: Duration = Duration::from_secs(10);
/// How much of a receiver's answer is kept.
const RESPONSE_BODY_LIMIT: u64 = 64 * 1024;

/// What one delivery needs, taken from the state before sending (no lock held meanwhile).
pub(crate) struct Outgoing {
    pub(crate) repo_key: String,
    pub(crate) hook_id: i64,
    pub(crate) url: String,
    pub(crate) content_type: ContentType,
    pub(crate) secret: String,
    pub(crate) uuid: String,
    pub(crate) event_type: String,
    pub(crate) payload: String,
}

pub(crate) fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        // A redirect answer is recorded as the answer.
        .max_redirects(0)
        .max_idle_connections(0)
        .max_idle_connections_per_host(0)
        .timeout_global(Some(DELIVERY_TIMEOUT))
        .user_agent("Go-http-client/1.1")
        .build()
        .new_agent()
}

/// The request headers of a delivery, in Gitea's order.
pub(crate) fn delivery_headers(out: &Outgoing) -> Vec<(String, String)> {
    let (sha256, sha1) = signatures(out.secret.as_bytes(), out.payload.as_bytes());
    let (sha256, sha1) = if out.secret.is_empty() {
        (String::new(), String::new())
    } else {
        (sha256, sha1)
    };
    let event = super::model::event_name(&out.event_type).to_owned();
    let content_type = match out.content_type {
        ContentType::Json => "application/json",
        ContentType::Form => "application/x-www-form-urlencoded",
    };
    [
        ("Content-Type", content_type.to_owned()),
        ("X-Gitea-Delivery", out.uuid.clone()),
        ("X-Gitea-Event", event.clone()),
        ("X-Gitea-Event-Type", out.event_type.clone()),
        ("X-Gitea-Signature", sha256.clone()),
        ("X-Gogs-Delivery", out.uuid.clone()),
        ("X-Gogs-Event", event.clone()),
        ("X-Gogs-Event-Type", out.event_type.clone()),
        ("X-Gogs-Signature", sha256.clone()),
        ("X-Hub-Signature", format!("sha1={sha1}")),
        ("X-Hub-Signature-256", format!("sha256={sha256}")),
        ("X-GitHub-Delivery", out.uuid.clone()),
        ("X-GitHub-Event", event),
        ("X-GitHub-Event-Type", out.event_type.clone()),
    ]
    .into_iter()
    .map(|(name, value)| (name.to_owned(), value))
    .collect()
}

pub(crate) fn send(agent: &ureq::Agent, out: &Outgoing) -> Delivery {
    let headers = delivery_headers(out);
    let mut delivery = Delivery {
        hook_id: out.hook_id,
        uuid: out.uuid.clone(),
        event: super::model::event_name(&out.event_type).to_owned(),
        event_type: out.event_type.clone(),
        status: None,
        response_body: String::new(),
        request_headers: headers.clone(),
    };
    let Ok((target, basic_auth)) = split_userinfo(&out.url) else {
        delivery.response_body = "Delivery: invalid URL".into();
        return delivery;
    };
    let body = match out.content_type {
        ContentType::Json => out.payload.clone().into_bytes(),
        ContentType::Form => form_payload(&out.payload),
    };
    let mut request = agent.post(target.as_str());
    for (name, value) in &headers {
        request = request.header(name.as_str(), value.as_str());
    }
    if let Some(credentials) = basic_auth {
        // Go's client sends a URL's userinfo as Basic auth.
        request = request.header("Authorization", format!("Basic {credentials}"));
    }
    match request.send(&body[..]) {
        Ok(mut response) => {
            let mut raw = Vec::new();
            let _ = response
                .body_mut()
                .as_reader()
                .take(RESPONSE_BODY_LIMIT)
                .read_to_end(&mut raw);
            delivery.status = Some(response.status().as_u16());
            delivery.response_body = String::from_utf8_lossy(&raw).into_owned();
        }
        // Generic words: an error of the client could quote the request.
        Err(_) => delivery.response_body = "Delivery: no answer".into(),
    }
    delivery
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signs_the_payload_even_in_a_form_body() {
        let out = Outgoing {
            repo_key: "o/r".into(),
            hook_id: -3,
            url: "http://127.0.0.1:9/hook".into(),
            content_type: ContentType::Form,
            secret: "Jefe".into(),
            uuid: "u-1".into(),
            event_type: "issue_label".into(),
            payload: "what do ya want for nothing?".into(),
        };
        let headers = delivery_headers(&out);
        let get = |name: &str| {
            headers
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.as_str())
        };
        let expected = "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843";
        assert_eq!(get("X-Gitea-Signature"), Some(expected));
        assert_eq!(
            get("X-Hub-Signature-256"),
            Some(format!("sha256={expected}").as_str())
        );
        assert_eq!(get("X-Gitea-Event"), Some("issues"));
        assert_eq!(get("X-Gitea-Event-Type"), Some("issue_label"));
        assert_eq!(get("X-GitHub-Event"), Some("issues"));
        let unsigned = Outgoing {
            secret: String::new(),
            ..out
        };
        let headers = delivery_headers(&unsigned);
        assert!(headers.contains(&("X-Gitea-Signature".into(), String::new())));
        assert!(headers.contains(&("X-Hub-Signature-256".into(), "sha256=".into())));
    }
}
