//! The feed's parameters ([`HookParams`]), and how they combine with what CREATE stored on the
//! trigger.
//!
//! `wsk trigger create T --feed F -p ...` hands the `-p` parameters to CREATE only; READ, UPDATE,
//! DELETE, PAUSE and UNPAUSE get `triggerName` and `authKey` (plus package-bound parameters). So
//! every later event starts from the [`Stored`] record and lets explicit parameters override it.

use std::fmt;

use feedkit::params::{Flag, List, Param, Text};
use feedkit::{ParamError, Record, Secret};
use serde::{Deserialize, Serialize};

use crate::delivery::{DeliveryMode, RelayUrl};
use crate::dialect::Service;
use crate::events;

/// Where the hooks live when `baseUrl` is not given.
pub const DEFAULT_BASE_URL: &str = "https://api.github.com";

/// The longest `accessToken` accepted: far beyond any service's tokens, and short enough to be
/// sent as a header.
const MAX_TOKEN_CHARS: usize = 4096;

/// Every parameter hook-feed takes, in the order the manifest and the README list them.
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct HookParams {
    /// `owner/repo`.
    pub repository: Param<Repository>,
    /// A token that may administer the repository's hooks.
    pub access_token: Param<Secret>,
    /// Event names, a list or comma list (default `push`).
    pub events: Param<List>,
    /// The hooks API root (default GitHub's).
    pub base_url: Param<BaseUrl>,
    /// `github` or `gitea` (`forgejo`); by default from `baseUrl`.
    pub service: Param<Service>,
    /// `relay` (the default) or `direct`.
    pub delivery_mode: Param<DeliveryMode>,
    /// `json` (default) or `form` (relay mode only).
    pub content_type: Param<ContentType>,
    /// Direct mode only: the secret the service signs deliveries with.
    pub secret: Param<Secret>,
    /// False to install or keep the hook inactive.
    pub active: Param<Flag>,
    /// The relay web action's URL, bound on the feed's package by its deployer.
    pub relay_url: Param<RelayUrl>,
}

/// `owner/repo`, as the hooks API paths spell it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "Text", into = "String")]
pub struct Repository {
    owner: String,
    name: String,
}

impl Repository {
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim().trim_matches('/');
        let valid_part = |part: &str| {
            !part.is_empty()
                && part != "."
                && part != ".."
                && part
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        };
        match text.split_once('/') {
            Some((owner, name)) if valid_part(owner) && valid_part(name) => Ok(Self {
                owner: owner.to_owned(),
                name: name.to_owned(),
            }),
            _ => Err(format!(
                "{text:?} is not a repository name; expected `owner/repo`, e.g. octocat/hello-world"
            )),
        }
    }

    /// True for the same repository (the services compare names without case).
    pub fn same_as(&self, other: &Repository) -> bool {
        self.owner.eq_ignore_ascii_case(&other.owner) && self.name.eq_ignore_ascii_case(&other.name)
    }
}

impl fmt::Display for Repository {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.owner, self.name)
    }
}

impl TryFrom<Text> for Repository {
    type Error = String;
    fn try_from(text: Text) -> Result<Self, String> {
        Self::parse(text.as_str())
    }
}

impl From<Repository> for String {
    fn from(repository: Repository) -> String {
        repository.to_string()
    }
}

/// The API root of a GitHub-compatible service, e.g. `https://api.github.com`,
/// `https://ghe.example/api/v3` or `https://gitea.example/api/v1`, without a trailing slash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "Text", into = "String")]
pub struct BaseUrl(String);

impl BaseUrl {
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim().trim_end_matches('/');
        let expected = "expected the API root, e.g. https://api.github.com, \
                        https://HOST/api/v3 (GitHub Enterprise) or https://HOST/api/v1 (Gitea, Forgejo)";
        let Some((scheme, rest)) = text.split_once("://") else {
            return Err(format!("{text:?} is not a URL; {expected}"));
        };
        let authority = rest.split('/').next().unwrap_or_default();
        if authority.contains('@') {
            // Never echo it: the userinfo may be a credential.
            return Err(format!(
                "it must not carry credentials (give the token as `accessToken`); {expected}"
            ));
        }
        if !matches!(scheme.to_ascii_lowercase().as_str(), "http" | "https")
            || authority.is_empty()
            || rest.contains(['?', '#', ' '])
        {
            return Err(format!("{text:?} is not an http(s) URL; {expected}"));
        }
        let host = authority.split(':').next().unwrap_or_default();
        if host.eq_ignore_ascii_case("github.com") || host.eq_ignore_ascii_case("www.github.com") {
            return Err(format!(
                "{text:?} is GitHub's web site; its API is {DEFAULT_BASE_URL}"
            ));
        }
        Ok(Self(format!("{}://{rest}", scheme.to_ascii_lowercase())))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The service's origin (`scheme://authority`): pagination links are only followed there,
    /// so the token never goes to another host.
    pub fn origin(&self) -> &str {
        let after_scheme = self.0.find("://").map_or(0, |at| at + 3);
        let end = self.0[after_scheme..]
            .find('/')
            .map_or(self.0.len(), |at| after_scheme + at);
        &self.0[..end]
    }
}

impl fmt::Display for BaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<Text> for BaseUrl {
    type Error = String;
    fn try_from(text: Text) -> Result<Self, String> {
        Self::parse(text.as_str())
    }
}

impl From<BaseUrl> for String {
    fn from(url: BaseUrl) -> String {
        url.0
    }
}

/// How the service encodes deliveries (`config.content_type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase", try_from = "Text")]
pub enum ContentType {
    Json,
    Form,
}

impl ContentType {
    pub fn parse(text: &str) -> Result<Self, String> {
        match text.trim().to_ascii_lowercase().as_str() {
            "json" | "application/json" => Ok(Self::Json),
            "form" | "application/x-www-form-urlencoded" => Ok(Self::Form),
            _ => Err(format!(
                "{text:?} is not a content type; expected json or form"
            )),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Json => "json",
            Self::Form => "form",
        }
    }
}

impl TryFrom<Text> for ContentType {
    type Error = String;
    fn try_from(text: Text) -> Result<Self, String> {
        Self::parse(text.as_str())
    }
}

/// Which repository's hooks, on which service (and in its dialect), with which token: all
/// DELETE needs.
#[derive(Debug, Clone)]
pub struct Location {
    pub repository: Repository,
    pub base_url: BaseUrl,
    pub service: Service,
    pub access_token: Secret,
}

impl Location {
    pub fn same_place(&self, other: &Location) -> bool {
        self.base_url == other.base_url && self.repository.same_as(&other.repository)
    }
}

/// Everything the hook is installed with.
#[derive(Debug, Clone)]
pub struct HookSettings {
    pub location: Location,
    /// How deliveries reach the trigger.
    pub mode: DeliveryMode,
    pub events: Vec<String>,
    pub content_type: ContentType,
    /// The service signs deliveries with it (`X-Hub-Signature-256`). Direct mode only: in relay
    /// mode the relay derives the secret when it seals the hook URL.
    pub secret: Option<Secret>,
    /// False while the feed is paused.
    pub active: bool,
}

/// What CREATE keeps on the user's trigger (annotation [`Stored::ANNOTATION`]) for the events
/// that come later with nothing but `triggerName` and `authKey`. The token and a direct-mode
/// secret are stored as they are: the trigger is OpenWhisk storage owned by the same user, and
/// UPDATE must send the secret again (GitHub drops a secret a config update leaves out). A
/// relay-mode hook's secret is stored nowhere: UPDATE seals the URL again, with a fresh secret.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Stored {
    pub repository: Repository,
    pub base_url: BaseUrl,
    /// The dialect; records from before it was kept have none (detected from `base_url`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<Service>,
    #[serde(with = "feedkit::secret::exposed")]
    pub access_token: Secret,
    pub events: Vec<String>,
    pub content_type: ContentType,
    #[serde(
        default,
        with = "feedkit::secret::exposed_option",
        skip_serializing_if = "Option::is_none"
    )]
    pub secret: Option<Secret>,
    pub active: bool,
    /// How deliveries reach the trigger (see [`DeliveryMode`]); records from before the relay
    /// mode have none and are direct.
    #[serde(default = "DeliveryMode::stored_default")]
    pub delivery_mode: DeliveryMode,
    /// The hook's id once installed; `None` while CREATE is still installing it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hook_id: Option<i64>,
    /// Where the hook delivers, without credentials: how the feed recognises its own hooks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hook_url: Option<String>,
    /// When the feed last changed the hook (epoch milliseconds).
    #[serde(default)]
    pub date_changed: u64,
}

impl Record for Stored {
    const ANNOTATION: &'static str = "hookFeed";
}

impl Stored {
    pub fn location(&self) -> Location {
        Location {
            repository: self.repository.clone(),
            base_url: self.base_url.clone(),
            service: self
                .service
                .unwrap_or_else(|| Service::detect(&self.base_url)),
            access_token: self.access_token.clone(),
        }
    }
}

/// Reads the location from explicit parameters over `stored`.
pub fn location(params: &HookParams, stored: Option<&Stored>) -> Result<Location, ParamError> {
    let repository = match (params.repository.get(), stored) {
        (Some(repository), _) => repository.clone(),
        (None, Some(stored)) => stored.repository.clone(),
        (None, None) => {
            return Err(ParamError::missing(
                "repository",
                "the repository whose hook fires the trigger, as `owner/repo`",
            ));
        }
    };
    let given_base_url = params.base_url.get();
    let base_url = match (given_base_url, stored) {
        (Some(url), _) => url.clone(),
        (None, Some(stored)) => stored.base_url.clone(),
        (None, None) => BaseUrl(DEFAULT_BASE_URL.to_owned()),
    };
    // An explicit `service`, else the stored one (unless `baseUrl` changed), else detected.
    let service = match params.service.get() {
        Some(service) => *service,
        None => stored
            .filter(|_| given_base_url.is_none())
            .and_then(|stored| stored.service)
            .unwrap_or_else(|| Service::detect(&base_url)),
    };
    let access_token = match (params.access_token.get(), stored) {
        (Some(token), _) if token.expose().len() > MAX_TOKEN_CHARS => {
            return Err(ParamError::invalid(
                "accessToken",
                format!(
                    "it is {} characters long, and tokens are at most {MAX_TOKEN_CHARS} \
                     (GitHub's and Gitea's are under 100); give the token itself",
                    token.expose().len()
                ),
            ));
        }
        (Some(token), _) => token.clone(),
        (None, Some(stored)) => stored.access_token.clone(),
        (None, None) => {
            return Err(ParamError::missing(
                "accessToken",
                "a token that may administer the repository's hooks \
                 (GitHub: admin:repo_hook scope, or Webhooks read/write)",
            ));
        }
    };
    Ok(Location {
        repository,
        base_url,
        service,
        access_token,
    })
}

/// Reads the hook settings from explicit parameters over `stored` (CREATE passes `None`: it
/// starts from the parameters and the defaults only).
pub fn hook_settings(
    params: &HookParams,
    stored: Option<&Stored>,
) -> Result<HookSettings, ParamError> {
    let location = location(params, stored)?;
    let events = match (&params.events, stored) {
        (Param::Set(List(names)), _) => events::validate(names, location.service)?,
        (Param::Cleared, _) => events::validate(&[], location.service)?,
        (Param::Absent, Some(stored)) => stored.events.clone(),
        (Param::Absent, None) => events::DEFAULT_EVENTS
            .iter()
            .map(|event| (*event).to_owned())
            .collect(),
    };
    let mode = match params.delivery_mode.get() {
        Some(mode) => *mode,
        None => stored.map_or_else(DeliveryMode::default, |stored| stored.delivery_mode),
    };
    let content_type = match params.content_type.get() {
        Some(content_type) => *content_type,
        None => stored.map_or(ContentType::Json, |stored| stored.content_type),
    };
    // An explicit empty `secret` removes it; an absent one keeps what is stored.
    let secret = match (&params.secret, mode) {
        (Param::Set(_), DeliveryMode::Relay) => {
            return Err(ParamError::invalid(
                "secret",
                "in the relay delivery mode the relay derives the hook's signing secret; leave \
                 `secret` out, or give deliveryMode direct",
            ));
        }
        (_, DeliveryMode::Relay) | (Param::Cleared, DeliveryMode::Direct) => None,
        (Param::Set(secret), DeliveryMode::Direct) => Some(secret.clone()),
        (Param::Absent, DeliveryMode::Direct) => stored.and_then(|stored| stored.secret.clone()),
    };
    let active = match params.active.get() {
        Some(Flag(active)) => *active,
        None => stored.is_none_or(|stored| stored.active),
    };
    Ok(HookSettings {
        location,
        mode,
        events,
        content_type,
        secret,
        active,
    })
}

/// Parameters for tests in this crate.
#[cfg(test)]
pub(crate) fn test_params(value: serde_json::Value) -> HookParams {
    feedkit::params::parse(value.as_object().expect("object"), "hook-feed").expect("parameters")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    fn params(value: Value) -> HookParams {
        read(value).expect("valid parameters")
    }

    fn read(value: Value) -> Result<HookParams, ParamError> {
        feedkit::params::parse(value.as_object().expect("object"), "hook-feed")
    }

    fn stored() -> Stored {
        serde_json::from_value(json!({
            "repository": "Octo/Hello",
            "baseUrl": "https://ghe.example/api/v3",
            "accessToken": "stored-token",
            "events": ["issues"],
            "contentType": "json",
            "secret": "stored-secret",
            "active": false,
            "hookId": 7,
        }))
        .expect("stored record")
    }

    #[test]
    fn create_defaults_apply_without_stored_state() {
        let settings = hook_settings(
            &params(json!({"repository": " o/r ", "accessToken": "tok"})),
            None,
        )
        .expect("valid");
        assert_eq!(settings.location.repository.to_string(), "o/r");
        assert_eq!(settings.location.base_url.as_str(), DEFAULT_BASE_URL);
        assert_eq!(settings.location.access_token.expose(), "tok");
        assert_eq!(settings.events, ["push"]);
        assert_eq!(settings.content_type, ContentType::Json);
        assert!(settings.secret.is_none());
        assert!(settings.active);
        assert_eq!(settings.mode, DeliveryMode::Relay, "relay is the default");
    }

    #[test]
    fn the_relay_mode_derives_the_secret_and_the_mode_can_change() {
        let stored = stored();
        assert_eq!(
            stored.delivery_mode,
            DeliveryMode::Direct,
            "records before relay"
        );
        let error = hook_settings(
            &params(json!({"repository": "o/r", "accessToken": "tok", "secret": "mine"})),
            None,
        )
        .expect_err("a secret in relay mode");
        assert_eq!(error.path(), "secret");
        assert!(!error.to_string().contains("mine"), "{error}");
        let relay = hook_settings(
            &params(json!({"repository": "o/r", "accessToken": "tok", "secret": ""})),
            None,
        )
        .expect("an empty secret is no secret");
        assert!(relay.secret.is_none());

        // UPDATE to relay: the stored direct secret is not used; and back to direct keeps none.
        let moved =
            hook_settings(&params(json!({"deliveryMode": "relay"})), Some(&stored)).expect("valid");
        assert_eq!(moved.mode, DeliveryMode::Relay);
        assert!(moved.secret.is_none());
        let mut relayed = stored.clone();
        relayed.delivery_mode = DeliveryMode::Relay;
        relayed.secret = None;
        assert_eq!(
            hook_settings(&params(json!({})), Some(&relayed))
                .expect("valid")
                .mode,
            DeliveryMode::Relay
        );
        let direct = hook_settings(
            &params(json!({"deliveryMode": "direct", "secret": "s"})),
            Some(&relayed),
        )
        .expect("valid");
        assert_eq!(direct.mode, DeliveryMode::Direct);
        assert_eq!(direct.secret.as_ref().map(Secret::expose), Some("s"));
    }

    #[test]
    fn explicit_parameters_override_what_is_stored() {
        let stored = stored();
        let kept = hook_settings(&params(json!({})), Some(&stored)).expect("valid");
        assert_eq!(kept.location.repository.to_string(), "Octo/Hello");
        assert_eq!(
            kept.location.base_url.as_str(),
            "https://ghe.example/api/v3"
        );
        assert_eq!(kept.events, ["issues"]);
        assert_eq!(
            kept.secret.as_ref().map(Secret::expose),
            Some("stored-secret")
        );
        assert!(!kept.active);

        let changed = hook_settings(
            &params(json!({"events": "push, Delete", "secret": "", "active": "true", "accessToken": "new"})),
            Some(&stored),
        )
        .expect("valid");
        assert_eq!(changed.events, ["push", "delete"]);
        assert!(changed.secret.is_none(), "an empty secret removes it");
        assert!(changed.active);
        assert_eq!(changed.location.access_token.expose(), "new");
    }

    #[test]
    fn every_bad_parameter_is_named_and_secrets_are_not_echoed() {
        let base = json!({"repository": "o/r", "accessToken": "tok"});
        let cases = [
            (
                "repository",
                json!("just-a-name"),
                "invalid parameter `repository`",
            ),
            (
                "repository",
                json!("a/b/c"),
                "invalid parameter `repository`",
            ),
            ("repository", Value::Null, "missing parameter `repository`"),
            (
                "accessToken",
                Value::Null,
                "missing parameter `accessToken`",
            ),
            (
                "accessToken",
                json!(["tok"]),
                "invalid parameter `accessToken`",
            ),
            (
                "events",
                json!("push, pushh"),
                "invalid parameter `events`: \"pushh\" is not",
            ),
            ("events", json!([1]), "invalid parameter `events`"),
            ("events", json!(""), "invalid parameter `events`"),
            ("baseUrl", json!("ftp://x"), "invalid parameter `baseUrl`"),
            (
                "baseUrl",
                json!("api.github.com"),
                "invalid parameter `baseUrl`",
            ),
            (
                "baseUrl",
                json!("https://github.com"),
                "its API is https://api.github.com",
            ),
            (
                "contentType",
                json!("xml"),
                "invalid parameter `contentType`",
            ),
            ("secret", json!(12345), "invalid parameter `secret`"),
            (
                "deliveryMode",
                json!("pigeon"),
                "invalid parameter `deliveryMode`",
            ),
            ("active", json!("maybe"), "invalid parameter `active`"),
        ];
        for (name, value, expected) in cases {
            let mut given = base.clone();
            given[name] = value;
            let error = read(given)
                .and_then(|params| hook_settings(&params, None))
                .expect_err(expected);
            let text = error.to_string();
            assert!(text.contains(expected), "{name}: {text}");
            assert!(!text.contains("12345") && !text.contains("tok\""), "{text}");
        }
        let error =
            BaseUrl::parse("https://user:hunter2@ghe.example/api/v3").expect_err("userinfo");
        assert!(!error.contains("hunter2"), "{error}");
    }

    #[test]
    fn base_urls_are_normalised() {
        let url = BaseUrl::parse(" HTTPS://ghe.example:8443/api/v3/ ").expect("valid");
        assert_eq!(url.as_str(), "https://ghe.example:8443/api/v3");
        assert_eq!(url.origin(), "https://ghe.example:8443");
        assert_eq!(
            BaseUrl::parse("http://127.0.0.1:9")
                .expect("valid")
                .origin(),
            "http://127.0.0.1:9"
        );
    }

    #[test]
    fn the_stored_record_keeps_real_values_but_never_prints_them() {
        let stored = stored();
        let json = serde_json::to_value(&stored).expect("json");
        assert_eq!(json["accessToken"], "stored-token");
        assert_eq!(json["secret"], "stored-secret");
        assert_eq!(json["deliveryMode"], "direct");
        let debug = format!("{stored:?}");
        assert!(
            !debug.contains("stored-token") && !debug.contains("stored-secret"),
            "{debug}"
        );
    }
}
