//! The Connections pattern's feed-action side: a feed whose events are kept by a long-running
//! provider, controlled through the provider's REST API (`provider_api` holds its wire types).
//!
//! A feed declares its provider parameters (`providerUrl`, `providerSecret`, package-bound) in
//! its parameter struct, describes itself with a [`Service`], and hands each lifecycle event to
//! a [`ProviderFeed`]: CREATE registers, READ reads, UPDATE patches, PAUSE/UNPAUSE switch the
//! feed, DELETE removes it. The provider keys feeds by the trigger's fully qualified name, so
//! every event but CREATE and UPDATE needs nothing else. The provider secret and the owner's key
//! go only to the provider's origin and never appear in a result or an error.

use provider_api::{Confidential, Refresh, Registration, Since, Update};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::client::{QualifiedName, percent_encode, redact_userinfo};
use crate::error::ActionError;
use crate::http::{Http, HttpError, HttpErrorKind, Method, Request, Response};
use crate::params::{Param, ParamError, Text, kind as json_kind};
use crate::secret::{AuthKey, Secret};
use crate::session::FeedSession;

/// A provider's answer is a small JSON object; anything near this is not one.
const MAX_ANSWER_BYTES: u64 = 1024 * 1024;

/// Which provider a feed talks to and what it keeps there, for the registration and for what
/// the user reads.
#[derive(Debug)]
pub struct Service {
    /// The registration's `kind` (the provider's source).
    pub kind: &'static str,
    /// The provider as messages name it: "the changes provider".
    pub provider: &'static str,
    /// What the provider keeps for one trigger: "changes feed", "alarm".
    pub feed: &'static str,
    /// The user's error for the provider's refusal of the feed's settings (`status` 400: wrong
    /// as given, 422: what they point at cannot be used), naming the parameter to fix; `None`
    /// leaves the provider's answer as it is.
    pub refused: fn(status: u16, message: &str) -> Option<String>,
}

/// `providerUrl`: http(s), without a trailing slash. Userinfo in it is never sent nor shown.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(try_from = "Text")]
pub struct ProviderUrl(pub String);

impl TryFrom<Text> for ProviderUrl {
    type Error = String;
    fn try_from(text: Text) -> Result<Self, String> {
        let url = text.as_str().trim_end_matches('/');
        if url.starts_with("http://") || url.starts_with("https://") {
            Ok(Self(url.to_owned()))
        } else if url.contains('@') {
            // Userinfo may hold a password: the value is not quoted.
            Err("expected an http(s) URL such as https://provider.example.com".to_owned())
        } else {
            Err(format!("{url:?} is not an http(s) URL"))
        }
    }
}

/// Where the provider is: package-bound parameters the user never sees.
#[derive(Debug, Clone)]
pub struct ProviderTarget {
    pub url: String,
    pub secret: Secret,
}

impl ProviderTarget {
    /// The target from the feed's `providerUrl` and `providerSecret`, or the missing one.
    pub fn from_params(
        service: &Service,
        url: &Param<ProviderUrl>,
        secret: &Param<Secret>,
    ) -> Result<Self, ParamError> {
        let url = url.require(
            "providerUrl",
            &format!("{}'s URL, bound to the feed's package", service.provider),
        )?;
        let secret = secret.require(
            "providerSecret",
            &format!("{}'s secret, bound to the feed's package", service.provider),
        )?;
        Ok(Self {
            url: url.0.clone(),
            secret: secret.clone(),
        })
    }
}

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
    pub fn into_action_error(self, service: &Service, target: &ProviderTarget) -> ActionError {
        let url = redact_userinfo(&target.url);
        let provider = service.provider;
        match self {
            Self::Unreachable(reason) => ActionError::new(format!(
                "{provider} at {url} is not reachable ({reason}); check `providerUrl` (bound on \
                 the feed's package) or ask its operator"
            )),
            Self::Redirect(reason) => ActionError::new(format!(
                "invalid parameter `providerUrl`: {reason}; bind the URL the provider answers at"
            )),
            Self::Unreadable { status, why } => ActionError::new(format!(
                "{provider} at {url} answered HTTP {status}, but its answer was unreadable \
                 ({why}); is `providerUrl` {provider} (and not a proxy or another service)? \
                 Nothing is known about the feed's state"
            )),
            Self::Status { status: 401, .. } => ActionError::new(format!(
                "invalid parameter `providerSecret`: {provider} refused it (the package's \
                 binding is out of date)"
            )),
            Self::Status { status, message } => {
                let said = matches!(status, 400 | 422)
                    .then(|| (service.refused)(status, &message))
                    .flatten();
                ActionError::new(
                    said.unwrap_or_else(|| format!("{provider} answered HTTP {status}: {message}")),
                )
            }
        }
    }
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
        percent_encode(trigger.namespace()),
        percent_encode(trigger.name())
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

/// A feed kept by a provider: each lifecycle event as one call, its failure said for the user.
/// Every method answers the provider's view of the feed (`{"trigger", "config", "status"}`),
/// which the feed shapes with [`shown`].
pub struct ProviderFeed<'s> {
    pub service: &'s Service,
    pub target: ProviderTarget,
}

impl<'s> ProviderFeed<'s> {
    pub fn new(service: &'s Service, target: ProviderTarget) -> Self {
        Self { service, target }
    }

    /// Registers the feed (the caller checked its settings and the trigger: see
    /// [`api_host`] and [`FeedSession::check_trigger`]), firing with the caller's key.
    pub fn register<P, C: Serialize>(
        &self,
        session: &FeedSession<'_, P>,
        api_host: String,
        config: C,
        since: Option<Since>,
    ) -> Result<Value, ActionError> {
        let body = json!(Registration {
            api_host,
            auth_key: confidential(session.auth_key()),
            kind: self.service.kind.to_owned(),
            config,
            since,
        });
        Provider::new(&self.target, session.http())
            .register(session.trigger(), &body)
            .map_err(|error| self.failed(session, error))
    }

    /// Reads the feed. A feed disabled because its trigger was deleted must still show why;
    /// without the trigger, the provider answers only the key the feed fires with.
    pub fn read<P>(&self, session: &mut FeedSession<'_, P>) -> Result<Value, ActionError> {
        let owner_key = owner_proof(session)?;
        Provider::new(&self.target, session.http())
            .read(session.trigger(), owner_key.as_ref())
            .map_err(|error| self.failed(session, error))
    }

    /// Changes the feed (the caller checked the trigger). The caller's current key and host
    /// replace the stored ones: a rotated key is picked up.
    pub fn update<P, C: Serialize>(
        &self,
        session: &FeedSession<'_, P>,
        api_host: String,
        config: Option<C>,
        since: Option<Since>,
    ) -> Result<Value, ActionError> {
        let patch = json!(Update {
            api_host: Some(api_host),
            auth_key: Some(confidential(session.auth_key())),
            config,
            since,
        });
        Provider::new(&self.target, session.http())
            .update(session.trigger(), &patch)
            .map_err(|error| self.failed(session, error))
    }

    /// Removes the feed. A trigger that is gone already (half-created, or deleted first)
    /// cannot prove the key's right; then the provider deletes only if the key is the one the
    /// feed fires with. Nothing to delete is a success: DELETE follows a failed CREATE too.
    pub fn delete<P>(&self, session: &mut FeedSession<'_, P>) -> Result<Value, ActionError> {
        let owner_key = owner_proof(session)?;
        let trigger = session.trigger().to_string();
        match Provider::new(&self.target, session.http())
            .delete(session.trigger(), owner_key.as_ref())
        {
            Ok(_) => Ok(json!(provider_api::Deleted {
                trigger,
                deleted: true
            })),
            Err(error) if error.status() == Some(404) => Ok(json!({
                "trigger": trigger,
                "deleted": false,
                "message": format!("no {} was registered for this trigger", self.service.feed),
            })),
            Err(error) => Err(self.failed(session, error)),
        }
    }

    /// PAUSE (`active` false) or UNPAUSE; unpausing refreshes the stored key and host.
    pub fn set_active<P>(
        &self,
        session: &mut FeedSession<'_, P>,
        active: bool,
    ) -> Result<Value, ActionError> {
        let refresh = if active {
            Refresh {
                api_host: Some(api_host(session)?),
                auth_key: Some(confidential(session.auth_key())),
            }
        } else {
            Refresh::default()
        };
        session.check_trigger()?;
        Provider::new(&self.target, session.http())
            .set_active(session.trigger(), active, &json!(refresh))
            .map_err(|error| self.failed(session, error))
    }

    fn failed<P>(&self, session: &FeedSession<'_, P>, error: ProviderError) -> ActionError {
        let feed = self.service.feed;
        match error.status() {
            Some(404) => ActionError::new(format!(
                "no {feed} is registered for trigger {}",
                session.trigger()
            )),
            Some(403) => ActionError::new(format!(
                "trigger {} does not exist and the authKey is not the one its {feed} was created with",
                session.trigger()
            )),
            _ => error.into_action_error(self.service, &self.target),
        }
    }
}

/// Reads the trigger when it exists (`None`: that read is the proof); when it does not, the
/// key itself is the proof the provider checks against the feed, and the trigger is named after
/// the activation's namespace.
fn owner_proof<P>(session: &mut FeedSession<'_, P>) -> Result<Option<AuthKey>, ActionError> {
    if session.find_trigger()?.is_some() {
        return Ok(None);
    }
    session.resolve_namespace()?;
    Ok(Some(session.auth_key().clone()))
}

/// Where the provider fires the trigger: the activation's API host.
pub fn api_host<P>(session: &FeedSession<'_, P>) -> Result<String, ActionError> {
    session.context().api_host.clone().ok_or_else(|| {
        ActionError::new(
            "__OW_API_HOST is not set: the provider needs to know where to fire the trigger",
        )
    })
}

/// The caller's key, as the provider's API takes it.
fn confidential(key: &AuthKey) -> Confidential {
    Confidential::new(key.expose())
}

/// The provider's view as the feed shows it: read as `V` (which picks and orders what the user
/// sees) and written back.
pub fn shown<V: DeserializeOwned + Serialize>(
    service: &Service,
    view: Value,
) -> Result<Value, ActionError> {
    serde_json::from_value::<V>(view)
        .and_then(serde_json::to_value)
        .map_err(|error| {
            ActionError::new(format!(
                "{}'s answer was not a feed's view ({error}); is providerUrl {}?",
                service.provider, service.provider
            ))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_encode_the_trigger() {
        let trigger = QualifiedName::parse("/my ns/t@1").expect("name");
        assert_eq!(feed_path(&trigger), "/feeds/my%20ns/t%401");
    }

    #[test]
    fn provider_urls_are_http_and_never_echo_userinfo() {
        let url = |text: &str| ProviderUrl::try_from(Text::new(text));
        assert_eq!(url("http://p:1/").expect("valid").0, "http://p:1");
        for bad in ["ftp://u:hunter2@p", "u:hunter2@p"] {
            let error = url(bad).expect_err("not http");
            assert!(!error.contains("hunter2"), "{error}");
        }
    }
}
