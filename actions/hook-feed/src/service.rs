//! The repository hooks API that GitHub, GitHub Enterprise and Gitea/Forgejo share:
//! `/repos/{owner}/{repo}/hooks[/{id}]`, with a token in the `Authorization` header, each in its
//! own dialect (see [`crate::dialect`]).

use std::fmt;
use std::time::{Duration, SystemTime};

use feedkit::Secret;
use feedkit::outbound::{self, CrossOrigin, Outbound, SendError};
use serde_json::{Map, Value};
use ureq::http::Method;

use crate::dialect::Service;
use crate::settings::{BaseUrl, Location, Repository};

/// Bound on one call when the activation has no deadline.
const CALL_TIMEOUT: Duration = Duration::from_secs(30);
/// Kept back from the deadline so the action can still write its result.
const DEADLINE_MARGIN: Duration = Duration::from_millis(500);
/// More pages than any repository's hooks fill (GitHub allows 20 hooks per event).
const MAX_PAGES: usize = 20;
/// A page of hooks is a few kilobytes; anything near this is not the hooks API.
const MAX_ANSWER_BYTES: u64 = 4 * 1024 * 1024;

/// One hook as the service lists it.
#[derive(Debug, Clone)]
pub struct Hook {
    /// An int64 on every service (negative and beyond 2^53 included): read exactly.
    pub id: i64,
    pub active: bool,
    pub events: Vec<String>,
    /// `config` as the service shows it: `url` may carry credentials, so never show it as is.
    pub config: Map<String, Value>,
    pub updated_at: Option<String>,
    /// GitHub's report of the last delivery (`code`, `status`, `message`); Gitea has none.
    pub last_response: Option<Value>,
    /// Gitea's branch filter (GitHub has none).
    pub branch_filter: Option<String>,
}

impl Hook {
    fn from_json(value: &Value) -> Option<Self> {
        let strings = |field: &str| -> Vec<String> {
            value[field]
                .as_array()
                .map(|items| {
                    items
                        .iter()
                        .filter_map(Value::as_str)
                        .map(str::to_owned)
                        .collect()
                })
                .unwrap_or_default()
        };
        Some(Self {
            id: value.get("id")?.as_i64()?,
            active: value["active"].as_bool().unwrap_or(true),
            events: strings("events"),
            config: value["config"].as_object().cloned().unwrap_or_default(),
            updated_at: value["updated_at"].as_str().map(str::to_owned),
            last_response: value.get("last_response").filter(|v| !v.is_null()).cloned(),
            branch_filter: value["branch_filter"].as_str().map(str::to_owned),
        })
    }

    pub fn url(&self) -> &str {
        self.config
            .get("url")
            .and_then(Value::as_str)
            .unwrap_or_default()
    }
}

/// A failed call, with what the service said.
#[derive(Debug, Clone)]
pub enum ServiceError {
    /// An error status with the service's `message` and the `message`s of its `errors` list.
    Status {
        status: u16,
        message: String,
        details: Vec<String>,
        /// The `field`s the service's validation errors name.
        fields: Vec<String>,
    },
    /// An answer that is not the hooks API (not JSON, or not the expected shape).
    NotTheApi { status: u16 },
    /// No answer at all.
    Transport(String),
    /// A redirect the kit does not follow with the token (another origin, or https to http).
    Redirect(String),
    /// The request could not be sent as it is (headers far too large, an unusable URL).
    Request(SendError),
    /// The activation's deadline leaves no time for another call.
    Deadline,
}

impl fmt::Display for ServiceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Status {
                status,
                message,
                details,
                ..
            } => {
                write!(f, "HTTP {status}")?;
                if !message.is_empty() {
                    write!(f, ": {message}")?;
                }
                if !details.is_empty() {
                    write!(f, " ({})", details.join("; "))?;
                }
                Ok(())
            }
            Self::NotTheApi { status } => write!(
                f,
                "HTTP {status} with an answer that is not the repository hooks API"
            ),
            Self::Transport(reason) => write!(f, "no answer ({reason})"),
            Self::Redirect(reason) => f.write_str(reason),
            Self::Request(error) => write!(f, "the request could not be sent: {error}"),
            Self::Deadline => f.write_str("the activation's deadline leaves no time for the call"),
        }
    }
}

impl ServiceError {
    fn from_send(error: SendError) -> Self {
        match error {
            SendError::Redirect { .. } | SendError::TooManyRedirects | SendError::BadLocation => {
                Self::Redirect(error.to_string())
            }
            SendError::RequestTooLarge | SendError::BadUrl => Self::Request(error),
            SendError::Timeout(after) => {
                Self::Transport(format!("timed out after {} ms", after.as_millis()))
            }
            SendError::Transport(reason) => Self::Transport(reason),
        }
    }

    pub fn status(&self) -> Option<u16> {
        match self {
            Self::Status { status, .. } => Some(*status),
            _ => None,
        }
    }
}

/// The hooks of one repository, reached with one token.
pub struct HooksApi {
    agent: ureq::Agent,
    service: Service,
    base_url: BaseUrl,
    repository: Repository,
    authorization: Secret,
    deadline: Option<SystemTime>,
}

impl HooksApi {
    pub fn new(location: &Location, deadline: Option<SystemTime>) -> Self {
        let agent = feedkit::http_agent(
            feedkit::http_agent_config()
                .user_agent(concat!("openwhisk-hook-feed/", env!("CARGO_PKG_VERSION")))
                .build(),
        );
        Self {
            agent,
            service: location.service,
            base_url: location.base_url.clone(),
            repository: location.repository.clone(),
            authorization: location.service.authorization(&location.access_token),
            deadline,
        }
    }

    fn hooks_url(&self) -> String {
        format!("{}/repos/{}/hooks", self.base_url, self.repository)
    }

    /// Every hook of the repository, following `Link: rel="next"` within the service's origin.
    pub fn list(&self) -> Result<Vec<Hook>, ServiceError> {
        let mut hooks = Vec::new();
        let mut next = Some(format!(
            "{}?{}",
            self.hooks_url(),
            self.service.first_page()
        ));
        let mut pages = 0;
        while let Some(url) = next.take() {
            pages += 1;
            let (status, body, link) = self.exchange("GET", &url, None)?;
            let page = expect_success(status, &body)?;
            let items = page.as_array().ok_or(ServiceError::NotTheApi { status })?;
            hooks.extend(items.iter().filter_map(Hook::from_json));
            next = link
                .as_deref()
                .and_then(next_link)
                .filter(|url| url.starts_with(&format!("{}/", self.base_url.origin())))
                .filter(|_| pages < MAX_PAGES);
        }
        Ok(hooks)
    }

    pub fn create(&self, body: &Value) -> Result<Hook, ServiceError> {
        let (status, answer, _) = self.exchange("POST", &self.hooks_url(), Some(body))?;
        let created = expect_success(status, &answer)?;
        Hook::from_json(&created).ok_or(ServiceError::NotTheApi { status })
    }

    /// Changes a hook in place; `None` when it no longer exists.
    pub fn patch(&self, id: i64, body: &Value) -> Result<Option<Hook>, ServiceError> {
        let url = format!("{}/{id}", self.hooks_url());
        let (status, answer, _) = self.exchange("PATCH", &url, Some(body))?;
        if status == 404 {
            return Ok(None);
        }
        let patched = expect_success(status, &answer)?;
        Hook::from_json(&patched)
            .map(Some)
            .ok_or(ServiceError::NotTheApi { status })
    }

    /// Removes a hook; false when it was already gone.
    pub fn delete(&self, id: i64) -> Result<bool, ServiceError> {
        let url = format!("{}/{id}", self.hooks_url());
        let (status, answer, _) = self.exchange("DELETE", &url, None)?;
        if status == 404 {
            return Ok(false);
        }
        expect_success(status, &answer).map(|_| true)
    }

    /// One request within the deadline: the status, the body as JSON (`Null` when empty,
    /// `NotTheApi` when it is not JSON) and the `Link` header. The token goes only to the
    /// service's origin: a redirect elsewhere is an error (see `feedkit::outbound`).
    fn exchange(
        &self,
        method: &str,
        url: &str,
        body: Option<&Value>,
    ) -> Result<(u16, Value, Option<String>), ServiceError> {
        let timeout = self.time_left().ok_or(ServiceError::Deadline)?;
        let verb = Method::from_bytes(method.as_bytes())
            .map_err(|_| ServiceError::Transport(format!("no HTTP method {method}")))?;
        let mut request =
            Outbound::new(verb, url).credential("Authorization", self.authorization.clone());
        for (name, value) in self.service.headers() {
            request = request.header(*name, *value);
        }
        if matches!(method, "POST" | "PATCH") {
            request = request.json(body.unwrap_or(&Value::Object(Map::new())));
        }
        let mut response = outbound::send(&self.agent, &request, CrossOrigin::Refuse, timeout)
            .map_err(ServiceError::from_send)?;
        let status = response.status().as_u16();
        let link = response
            .headers()
            .get("link")
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned);
        let text = response
            .body_mut()
            .with_config()
            .limit(MAX_ANSWER_BYTES)
            .read_to_string()
            .map_err(|_| ServiceError::NotTheApi { status })?;
        let value = if text.trim().is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).map_err(|_| ServiceError::NotTheApi { status })?
        };
        Ok((status, value, link))
    }

    fn time_left(&self) -> Option<Duration> {
        let Some(deadline) = self.deadline else {
            return Some(CALL_TIMEOUT);
        };
        let left = deadline.duration_since(SystemTime::now()).ok()?;
        let left = left.checked_sub(DEADLINE_MARGIN)?;
        (!left.is_zero()).then_some(left.min(CALL_TIMEOUT))
    }
}

/// The body of a 2xx answer, or the service's error.
fn expect_success(status: u16, body: &Value) -> Result<Value, ServiceError> {
    if (200..300).contains(&status) {
        return Ok(body.clone());
    }
    let message = body["message"].as_str().unwrap_or_default().to_owned();
    let errors = body["errors"].as_array().cloned().unwrap_or_default();
    let details = errors
        .iter()
        .filter_map(|error| match error {
            Value::String(text) => Some(text.clone()),
            other => other["message"].as_str().map(str::to_owned).or_else(|| {
                other["code"]
                    .as_str()
                    .map(|code| format!("{code} {}", other["field"]))
            }),
        })
        .collect();
    let fields = errors
        .iter()
        .filter_map(|error| error["field"].as_str().map(str::to_owned))
        .collect();
    Err(ServiceError::Status {
        status,
        message,
        details,
        fields,
    })
}

/// The `rel="next"` URL of a `Link` header.
fn next_link(header: &str) -> Option<String> {
    header.split(',').find_map(|part| {
        let (target, params) = part.split_once(';')?;
        let is_next = params
            .split(';')
            .any(|param| param.trim().replace(' ', "") == "rel=\"next\"");
        is_next.then(|| {
            target
                .trim()
                .trim_start_matches('<')
                .trim_end_matches('>')
                .to_owned()
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn finds_the_next_page() {
        let header = r#"<https://api.github.com/repos/o/r/hooks?per_page=100&page=2>; rel="next", <https://api.github.com/repos/o/r/hooks?per_page=100&page=3>; rel="last""#;
        assert_eq!(
            next_link(header).as_deref(),
            Some("https://api.github.com/repos/o/r/hooks?per_page=100&page=2")
        );
        assert_eq!(next_link(r#"<https://x/1>; rel="prev""#), None);
    }

    #[test]
    fn error_bodies_keep_the_services_words() {
        let body = json!({
            "message": "Validation Failed",
            "errors": [{"resource": "Hook", "code": "invalid", "field": "events", "message": "\"pushh\" is not a valid event name"}],
        });
        let error = expect_success(422, &body).expect_err("422");
        assert_eq!(
            error.to_string(),
            "HTTP 422: Validation Failed (\"pushh\" is not a valid event name)"
        );
        match error {
            ServiceError::Status { fields, .. } => assert_eq!(fields, ["events"]),
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn hooks_are_read_leniently() {
        let gitea = json!({"id": -3, "type": "gitea", "config": {"url": "http://x", "content_type": "json"}, "events": ["push"], "active": false, "updated_at": "2024-01-01T00:00:00Z", "branch_filter": "main"});
        let hook = Hook::from_json(&gitea).expect("hook");
        assert_eq!((hook.id, hook.active, hook.url()), (-3, false, "http://x"));
        assert_eq!(hook.branch_filter.as_deref(), Some("main"));
        let beyond: Value = serde_json::from_str(r#"{"id": 9007199254740993}"#).expect("json");
        assert_eq!(
            Hook::from_json(&beyond).map(|h| h.id),
            Some(9_007_199_254_740_993)
        );
        assert!(hook.last_response.is_none());
        assert!(Hook::from_json(&json!({"name": "web"})).is_none());
    }
}
