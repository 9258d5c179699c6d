//! The repository hooks API that GitHub, GitHub Enterprise and Gitea/Forgejo share:
//! `/repos/{owner}/{repo}/hooks[/{id}]`, with a token in the `Authorization` header, each in its
//! own dialect (see [`crate::dialect`]).

use std::fmt;

use feedkit::Secret;
use feedkit::http::{Http, HttpError, HttpErrorKind, Method, Request};
use serde_json::{Map, Value};

use crate::dialect::Service;
use crate::settings::{BaseUrl, Location, Repository};

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
    /// No usable answer (see [`HttpErrorKind`]).
    Call(HttpErrorKind),
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
            Self::Call(kind) => kind.fmt(f),
        }
    }
}

impl std::error::Error for ServiceError {}

impl From<HttpError> for ServiceError {
    fn from(error: HttpError) -> Self {
        match (error.kind, error.status) {
            // An answer cut short or far too large is no hooks API answer.
            (HttpErrorKind::BodyTooLarge(_) | HttpErrorKind::BodyCut(_), Some(status)) => {
                Self::NotTheApi { status }
            }
            (kind, _) => Self::Call(kind),
        }
    }
}

impl ServiceError {
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::Status { status, .. } => Some(*status),
            _ => None,
        }
    }
}

/// The hooks of one repository, reached with one token.
pub struct HooksApi<'a> {
    http: &'a Http,
    service: Service,
    base_url: BaseUrl,
    repository: Repository,
    authorization: Secret,
}

impl<'a> HooksApi<'a> {
    pub fn new(http: &'a Http, location: &Location) -> Self {
        Self {
            http,
            service: location.service,
            base_url: location.base_url.clone(),
            repository: location.repository.clone(),
            authorization: location.service.authorization(&location.access_token),
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
            let (status, body, link) = self.exchange(Method::Get, &url, None)?;
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
        let (status, answer, _) = self.exchange(Method::Post, &self.hooks_url(), Some(body))?;
        let created = expect_success(status, &answer)?;
        Hook::from_json(&created).ok_or(ServiceError::NotTheApi { status })
    }

    /// Changes a hook in place; `None` when it no longer exists.
    pub fn patch(&self, id: i64, body: &Value) -> Result<Option<Hook>, ServiceError> {
        let url = format!("{}/{id}", self.hooks_url());
        let (status, answer, _) = self.exchange(Method::Patch, &url, Some(body))?;
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
        let (status, answer, _) = self.exchange(Method::Delete, &url, None)?;
        if status == 404 {
            return Ok(false);
        }
        expect_success(status, &answer).map(|_| true)
    }

    /// One request: the status, the body as JSON (`Null` when empty, `NotTheApi` when it is
    /// not JSON) and the `Link` header. The token goes only to the service's origin: a redirect
    /// elsewhere is an error.
    fn exchange(
        &self,
        method: Method,
        url: &str,
        body: Option<&Value>,
    ) -> Result<(u16, Value, Option<String>), ServiceError> {
        let mut request = Request::new(method, url)
            .credential("Authorization", self.authorization.clone())
            .limit(MAX_ANSWER_BYTES);
        for (name, value) in self.service.headers() {
            request = request.header(*name, *value);
        }
        if matches!(method, Method::Post | Method::Patch) {
            request = request.json(body.unwrap_or(&Value::Object(Map::new())));
        }
        let response = self.http.send(&request)?;
        let status = response.status();
        let value = response
            .json_value()
            .ok_or(ServiceError::NotTheApi { status })?;
        Ok((status, value, response.header("link").map(str::to_owned)))
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
