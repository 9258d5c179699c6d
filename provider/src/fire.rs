//! Firing a trigger once: `POST {apihost}/api/v1/namespaces/{ns}/triggers/{name}` with the
//! owner's key, and what the answer means ([`classify_fire`]).

use std::time::Duration;

use bytes::Bytes;
use feedkit::{ApiHost, QualifiedName};
use http_body_util::Full;
use hyper::Request;
use hyper::header::{AUTHORIZATION, CONTENT_TYPE, RETRY_AFTER};

use crate::classify::{FireVerdict, classify_fire, classify_transport};
use crate::http::{self, HttpClient, encode_component};
use crate::model::FeedRecord;
use serde_json::Value;

/// Where and as whom a feed fires.
#[derive(Clone)]
pub struct FireTarget {
    pub url: String,
    authorization: String,
}

/// Why deleting a trigger did not succeed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeleteFailure {
    /// Worth trying again (no answer, 408, 429, 5xx).
    Transient(String),
    /// OpenWhisk refused (the key was revoked, ...): trying again cannot help.
    Refused(String),
}

impl std::fmt::Debug for FireTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FireTarget")
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

impl FireTarget {
    pub fn new(record: &FeedRecord) -> Result<Self, String> {
        let host = ApiHost::parse(&record.api_host)?;
        let trigger = QualifiedName::parse(&record.id)?;
        let path = format!(
            "/namespaces/{}/triggers/{}",
            encode_component(trigger.namespace()),
            encode_component(trigger.name())
        );
        Ok(Self {
            url: host.api_url(&path),
            authorization: record.auth_key.basic_authorization(),
        })
    }
}

/// Deletes the feed's trigger with the owner's key (`with_rules`: each of the trigger's rules
/// first, as OpenWhisk's own alarms do for `deleteAfterFire: rules`). What is gone already
/// counts as deleted, so a retry after a crash finishes the job.
pub async fn delete_trigger(
    client: &HttpClient,
    record: &FeedRecord,
    with_rules: bool,
    timeout: Duration,
) -> Result<(), DeleteFailure> {
    let target = FireTarget::new(record).map_err(DeleteFailure::Refused)?;
    let headers = [(AUTHORIZATION.as_str(), target.authorization.as_str())];
    let call = |method: hyper::Method, url: String| async move {
        let what = format!("{method} {url}");
        match http::json_request(client, method, &url, &headers, None, timeout).await {
            Ok((status, body)) if (200..300).contains(&status) || status == 404 => Ok(body),
            Ok((status, body)) => {
                let said = body
                    .get("error")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned();
                let reason = format!("{what}: HTTP {status} {said}");
                Err(if matches!(status, 408 | 429 | 500..=599) {
                    DeleteFailure::Transient(reason)
                } else {
                    DeleteFailure::Refused(reason)
                })
            }
            Err(error) => Err(DeleteFailure::Transient(format!("{what}: {error}"))),
        }
    };
    if with_rules {
        let trigger = call(hyper::Method::GET, target.url.clone()).await?;
        let rules = trigger
            .get("rules")
            .and_then(Value::as_object)
            .map(|rules| rules.keys().cloned().collect::<Vec<_>>())
            .unwrap_or_default();
        let host = ApiHost::parse(&record.api_host).map_err(DeleteFailure::Refused)?;
        let own = QualifiedName::parse(&record.id).map_err(DeleteFailure::Refused)?;
        for rule in rules {
            // OpenWhisk names them `namespace/rule`.
            let (namespace, name) = match rule.trim_start_matches('/').rsplit_once('/') {
                Some((namespace, name)) => (namespace.to_owned(), name.to_owned()),
                None => (own.namespace().to_owned(), rule.clone()),
            };
            let path = format!(
                "/namespaces/{}/rules/{}",
                encode_component(&namespace),
                encode_component(&name)
            );
            call(hyper::Method::DELETE, host.api_url(&path)).await?;
        }
    }
    call(hyper::Method::DELETE, target.url.clone()).await?;
    Ok(())
}

/// One fire of `body`.
pub async fn fire(
    client: &HttpClient,
    target: &FireTarget,
    body: Bytes,
    timeout: Duration,
) -> FireVerdict {
    let request = Request::post(&target.url)
        .header(AUTHORIZATION, &target.authorization)
        .header(CONTENT_TYPE, "application/json")
        .body(Full::new(body));
    let request = match request {
        Ok(request) => request,
        Err(error) => {
            return FireVerdict::Disable {
                reason: format!("cannot build the fire request: {error}"),
            };
        }
    };
    let response = match http::send(client, request, timeout).await {
        Ok(response) => response,
        Err(error) => return classify_transport(&error.to_string()),
    };
    let status = response.status().as_u16();
    let retry_after = response
        .headers()
        .get(RETRY_AFTER)
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned);
    match http::read_body(response.into_body(), timeout).await {
        Ok(body) => classify_fire(status, &body, retry_after.as_deref()),
        // Without the whole answer the fire may or may not have happened: fire again rather
        // than lose it.
        Err(error) => classify_transport(&error.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{FeedState, Start};
    use feedkit::AuthKey;
    use serde_json::json;

    #[test]
    fn fires_at_the_trigger_url_with_the_owner_key() {
        let record = FeedRecord {
            id: "/guest/my trigger".into(),
            rev: None,
            kind: "changes".into(),
            api_host: "127.0.0.1:3233".into(),
            auth_key: AuthKey::parse("u:k").expect("key"),
            config: json!({}),
            state: FeedState::Active,
            date_changed: 0,
            start: Start::at(json!(0)),
            sealed_with: None,
        };
        let target = FireTarget::new(&record).expect("target");
        assert_eq!(
            target.url,
            "https://127.0.0.1:3233/api/v1/namespaces/guest/triggers/my%20trigger"
        );
        assert_eq!(target.authorization, "Basic dTpr");
        assert!(!format!("{target:?}").contains("dTpr"));
    }
}
