//! The changes provider's REST API, as the feed action calls it (see the provider crate's `api`
//! module for the server side).

use feedkit::http::{Http, HttpError, HttpErrorKind, Method, Request, Response};
use feedkit::{ActionError, AuthKey, QualifiedName, Secret, json_kind, redact_userinfo};
use serde_json::Value;

use crate::settings::ProviderTarget;

/// A provider's answer is a small JSON object; anything near this is not one.
const MAX_ANSWER_BYTES: u64 = 1024 * 1024;

/// A provider call that did not succeed.
#[derive(Debug)]
pub enum ProviderError {
    /// The provider answered with an error status and its `error` message.
    Status { status: u16, message: String },
    /// No answer.
    Unreachable(String),
    /// A redirect the kit does not follow with the provider secret (another origin, or https to
    /// http).
    Redirect(String),
    /// A success status with an answer that is not the provider's (not JSON, not the expected
    /// object, truncated or far too large).
    Unreadable { status: u16, why: String },
}

impl std::fmt::Display for ProviderError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Status { status, message } => write!(f, "HTTP {status}: {message}"),
            Self::Unreachable(reason) => write!(f, "no answer ({reason})"),
            Self::Redirect(reason) => f.write_str(reason),
            Self::Unreadable { status, why } => {
                write!(f, "HTTP {status} with an unreadable answer ({why})")
            }
        }
    }
}

impl std::error::Error for ProviderError {}

impl ProviderError {
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::Status { status, .. } => Some(*status),
            _ => None,
        }
    }

    fn from_http(error: HttpError) -> Self {
        match (error.kind, error.status) {
            (HttpErrorKind::Redirect(reason), _) => Self::Redirect(reason),
            (HttpErrorKind::BodyTooLarge(limit), Some(status)) => Self::Unreadable {
                status,
                why: format!("larger than {} KiB", limit / 1024),
            },
            (cut @ HttpErrorKind::BodyCut(_), Some(status)) if (200..300).contains(&status) => {
                Self::Unreadable {
                    status,
                    why: format!("the body could not be read whole: {cut}"),
                }
            }
            (other, _) => Self::Unreachable(other.to_string()),
        }
    }

    /// What the user reads. The provider's own messages never hold secrets, and the provider's
    /// URL is shown without userinfo; 401 is about the package-bound secret, which the user may
    /// need to ask the operator about.
    pub fn into_action_error(self, target: &ProviderTarget) -> ActionError {
        let url = redact_userinfo(&target.url);
        match self {
            Self::Unreachable(reason) => ActionError::new(format!(
                "the changes provider at {url} is not reachable ({reason}); check \
                 `providerUrl` (bound on the feed's package) or ask its operator"
            )),
            Self::Redirect(reason) => ActionError::new(format!(
                "invalid parameter `providerUrl`: {reason}; bind the URL the provider answers at"
            )),
            Self::Unreadable { status, why } => ActionError::new(format!(
                "the changes provider at {url} answered HTTP {status}, but its answer was \
                 unreadable ({why}); is `providerUrl` the changes provider (and not a proxy or \
                 another service)? Nothing is known about the feed's state"
            )),
            Self::Status { status: 401, .. } => ActionError::new(
                "invalid parameter `providerSecret`: the changes provider refused it (the package's binding is out of date)",
            ),
            Self::Status {
                status: 422,
                message,
            } => ActionError::new(unusable(message)),
            Self::Status { status, message } => ActionError::new(format!(
                "the changes provider answered HTTP {status}: {message}"
            )),
        }
    }
}

/// The provider's 422 (the database cannot be used as given; it checks it when a feed is
/// registered or moved), naming the parameter to fix. The provider's messages say what it
/// found (`provider/src/changes/couch.rs`, `CouchError`).
fn unusable(message: String) -> String {
    let parameter = if message.contains("refused the credentials") {
        if message.contains("HTTP 403") {
            "`username`"
        } else {
            "`username`/`password`"
        }
    } else if message.contains("there is no database") {
        "`dbName`"
    } else if message.contains("is not reachable") {
        "`dbUrl`"
    } else {
        return message;
    };
    format!("invalid parameter {parameter}: {message}")
}

/// A client of one provider, over the activation's HTTP.
pub struct Provider<'a> {
    target: &'a ProviderTarget,
    http: &'a Http,
}

/// `/feeds/{namespace}/{trigger}`, each part encoded.
fn feed_path(trigger: &QualifiedName) -> String {
    format!(
        "/feeds/{}/{}",
        feedkit::percent_encode(trigger.namespace()),
        feedkit::percent_encode(trigger.name())
    )
}

impl<'a> Provider<'a> {
    pub fn new(target: &'a ProviderTarget, http: &'a Http) -> Self {
        Self { target, http }
    }

    /// One call; the secret and the owner's key go only to the provider's origin.
    fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        owner_key: Option<&AuthKey>,
    ) -> Result<(u16, Value), ProviderError> {
        let url = format!("{}{path}", self.target.url);
        let mut request = Request::new(method, url)
            .header("Accept", "application/json")
            .limit(MAX_ANSWER_BYTES)
            .credential(
                "Authorization",
                Secret::new(format!("Bearer {}", self.target.secret.expose())),
            );
        if let Some(key) = owner_key {
            request = request.credential(provider_api::OWNER_KEY_HEADER, Secret::new(key.expose()));
        }
        if method != Method::Get && method != Method::Delete {
            request = request.json(body.unwrap_or(&Value::Object(Default::default())));
        }
        let response = self.http.send(&request).map_err(ProviderError::from_http)?;
        answer(&response)
    }

    /// A call answered with a feed's view (`{"trigger", "config", "status"}`).
    fn view(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        owner_key: Option<&AuthKey>,
    ) -> Result<Value, ProviderError> {
        let (status, value) = self.call(method, path, body, owner_key)?;
        let is_view = value.get("config").is_some_and(Value::is_object)
            && value.get("status").is_some_and(Value::is_object);
        if is_view {
            Ok(value)
        } else {
            Err(ProviderError::Unreadable {
                status,
                why: "a JSON object without the feed's `config` and `status`".into(),
            })
        }
    }

    pub fn register(&self, trigger: &QualifiedName, body: &Value) -> Result<Value, ProviderError> {
        self.view(Method::Put, &feed_path(trigger), Some(body), None)
    }

    /// With `owner_key`, the provider answers only if that key is the feed's.
    pub fn read(
        &self,
        trigger: &QualifiedName,
        owner_key: Option<&AuthKey>,
    ) -> Result<Value, ProviderError> {
        self.view(Method::Get, &feed_path(trigger), None, owner_key)
    }

    pub fn update(&self, trigger: &QualifiedName, patch: &Value) -> Result<Value, ProviderError> {
        self.view(Method::Patch, &feed_path(trigger), Some(patch), None)
    }

    pub fn set_active(
        &self,
        trigger: &QualifiedName,
        active: bool,
        refresh: &Value,
    ) -> Result<Value, ProviderError> {
        let verb = if active { "unpause" } else { "pause" };
        let path = format!("{}/{verb}", feed_path(trigger));
        self.view(Method::Post, &path, Some(refresh), None)
    }

    /// With `owner_key`, the provider deletes only if that key is the feed's.
    pub fn delete(
        &self,
        trigger: &QualifiedName,
        owner_key: Option<&AuthKey>,
    ) -> Result<Value, ProviderError> {
        self.call(Method::Delete, &feed_path(trigger), None, owner_key)
            .map(|(_, value)| value)
    }
}

/// The JSON object of a 2xx answer, or what went wrong: the provider's error, or an answer
/// that cannot be the provider's.
fn answer(response: &Response) -> Result<(u16, Value), ProviderError> {
    let status = response.status();
    let bytes = response.body();
    let body = serde_json::from_slice::<Value>(bytes);
    if response.is_success() {
        return match body {
            Ok(value @ Value::Object(_)) => Ok((status, value)),
            Ok(other) => Err(ProviderError::Unreadable {
                status,
                why: format!("{}, not a JSON object", json_kind(&other)),
            }),
            Err(_) => Err(ProviderError::Unreadable {
                status,
                why: format!(
                    "not JSON: {}, {} bytes",
                    response.content_type(),
                    bytes.len()
                ),
            }),
        };
    }
    let message = body
        .ok()
        .as_ref()
        .and_then(|body| body.get("error"))
        .and_then(Value::as_str)
        .map(str::to_owned)
        .unwrap_or_else(|| response.text().chars().take(200).collect());
    Err(ProviderError::Status { status, message })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_encode_the_trigger() {
        let trigger = QualifiedName::parse("/my ns/t@1").expect("name");
        assert_eq!(feed_path(&trigger), "/feeds/my%20ns/t%401");
    }
}
