//! The feed's parameters, validated, and how they combine with what CREATE stored on the trigger.
//!
//! `wsk trigger create T --feed F -p ...` hands the `-p` parameters to CREATE only; READ, UPDATE,
//! DELETE, PAUSE and UNPAUSE get `triggerName` and `authKey` (plus package-bound parameters). So
//! every later event starts from the [`Stored`] record and lets explicit parameters override it.

use std::fmt;

use feedkit::{ParamError, Params, Secret, lenient};
use serde::{Deserialize, Serialize};

use crate::delivery::DeliveryMode;
use crate::dialect::Service;
use crate::events;

/// Where the hooks live when `baseUrl` is not given.
pub const DEFAULT_BASE_URL: &str = "https://api.github.com";

/// The longest `accessToken` accepted: far beyond any service's tokens, and short enough to be
/// sent as a header.
const MAX_TOKEN_CHARS: usize = 4096;

/// Names of every parameter the feed reads (the rest are ignored, and logged by name).
pub const PARAMETER_NAMES: &[&str] = &[
    "repository",
    "accessToken",
    "events",
    "baseUrl",
    "contentType",
    "secret",
    "active",
    "deliveryMode",
    "relayUrl",
    "service",
];

/// `owner/repo`, as the hooks API paths spell it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
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

impl TryFrom<String> for Repository {
    type Error = String;
    fn try_from(text: String) -> Result<Self, String> {
        Self::parse(&text)
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
#[serde(try_from = "String", into = "String")]
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

impl TryFrom<String> for BaseUrl {
    type Error = String;
    fn try_from(text: String) -> Result<Self, String> {
        Self::parse(&text)
    }
}

impl From<BaseUrl> for String {
    fn from(url: BaseUrl) -> String {
        url.0
    }
}

/// How the service encodes deliveries (`config.content_type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
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
    #[serde(with = "exposed")]
    pub access_token: Secret,
    pub events: Vec<String>,
    pub content_type: ContentType,
    #[serde(
        default,
        with = "exposed_option",
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

impl Stored {
    /// The trigger annotation holding the record.
    pub const ANNOTATION: &'static str = "hookFeed";

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

/// Serde for a [`Secret`] that must be stored as its real value (it serializes redacted).
mod exposed {
    use feedkit::Secret;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(secret: &Secret, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(secret.expose())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Secret, D::Error> {
        String::deserialize(deserializer).map(Secret::new)
    }
}

mod exposed_option {
    use feedkit::Secret;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(
        secret: &Option<Secret>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        match secret {
            Some(secret) => serializer.serialize_str(secret.expose()),
            None => serializer.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<Secret>, D::Error> {
        Ok(Option::<String>::deserialize(deserializer)?
            .filter(|text| !text.is_empty())
            .map(Secret::new))
    }
}

/// Reads the location from explicit parameters over `stored`.
pub fn location(params: &Params, stored: Option<&Stored>) -> Result<Location, ParamError> {
    let repository = match params.get_str("repository")? {
        Some(text) => Repository::parse(&text)
            .map_err(|problem| ParamError::invalid("repository", problem))?,
        None => match stored {
            Some(stored) => stored.repository.clone(),
            None => {
                return Err(ParamError::missing(
                    "repository",
                    "the repository whose hook fires the trigger, as `owner/repo`",
                ));
            }
        },
    };
    let given_base_url = params
        .get_str("baseUrl")?
        .map(|text| {
            BaseUrl::parse(&text).map_err(|problem| ParamError::invalid("baseUrl", problem))
        })
        .transpose()?;
    let base_url = match (&given_base_url, stored) {
        (Some(url), _) => url.clone(),
        (None, Some(stored)) => stored.base_url.clone(),
        (None, None) => BaseUrl(DEFAULT_BASE_URL.to_owned()),
    };
    // An explicit `service`, else the stored one (unless `baseUrl` changed), else detected.
    let service = match params.get_str(Service::PARAMETER)? {
        Some(text) => Service::parse(&text)
            .map_err(|problem| ParamError::invalid(Service::PARAMETER, problem))?,
        None => stored
            .filter(|_| given_base_url.is_none())
            .and_then(|stored| stored.service)
            .unwrap_or_else(|| Service::detect(&base_url)),
    };
    let access_token = match secret_param(params, "accessToken")? {
        Some(Some(token)) if token.expose().len() > MAX_TOKEN_CHARS => {
            return Err(ParamError::invalid(
                "accessToken",
                format!(
                    "it is {} characters long, and tokens are at most {MAX_TOKEN_CHARS} \
                     (GitHub's and Gitea's are under 100); give the token itself",
                    token.expose().len()
                ),
            ));
        }
        Some(Some(token)) => token,
        Some(None) | None => match stored {
            Some(stored) => stored.access_token.clone(),
            None => {
                return Err(ParamError::missing(
                    "accessToken",
                    "a token that may administer the repository's hooks \
                     (GitHub: admin:repo_hook scope, or Webhooks read/write)",
                ));
            }
        },
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
pub fn hook_settings(params: &Params, stored: Option<&Stored>) -> Result<HookSettings, ParamError> {
    let location = location(params, stored)?;
    let events = match params.raw("events") {
        Some(_) => {
            let names: Vec<String> = params
                .get::<EventList>("events")
                .map_err(|error| ParamError::invalid("events", list_problem(&error)))?
                .map(|list| list.0)
                .unwrap_or_default();
            events::validate(&names, location.service)?
        }
        None => match stored {
            Some(stored) => stored.events.clone(),
            None => events::DEFAULT_EVENTS
                .iter()
                .map(|event| (*event).to_owned())
                .collect(),
        },
    };
    let mode = match params.get_str("deliveryMode")? {
        Some(text) => DeliveryMode::parse(&text)
            .map_err(|problem| ParamError::invalid("deliveryMode", problem))?,
        None => stored.map_or_else(DeliveryMode::default, |stored| stored.delivery_mode),
    };
    let content_type = match params.get_str("contentType")? {
        Some(text) => ContentType::parse(&text)
            .map_err(|problem| ParamError::invalid("contentType", problem))?,
        None => stored.map_or(ContentType::Json, |stored| stored.content_type),
    };
    // An explicit empty `secret` removes it; an absent one keeps what is stored.
    let secret = match (secret_param(params, "secret")?, mode) {
        (Some(Some(_)), DeliveryMode::Relay) => {
            return Err(ParamError::invalid(
                "secret",
                "in the relay delivery mode the relay derives the hook's signing secret; leave \
                 `secret` out, or give deliveryMode direct",
            ));
        }
        (_, DeliveryMode::Relay) => None,
        (Some(secret), DeliveryMode::Direct) => secret,
        (None, DeliveryMode::Direct) => stored.and_then(|stored| stored.secret.clone()),
    };
    let active = match params.raw("active") {
        Some(_) => params
            .get::<Flag>("active")
            .map_err(|error| ParamError::invalid("active", list_problem(&error)))?
            .is_none_or(|flag| flag.0),
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

/// A secret-valued parameter: `None` when absent, `Some(None)` when explicitly empty. Its value
/// never appears in an error.
fn secret_param(params: &Params, name: &str) -> Result<Option<Option<Secret>>, ParamError> {
    match params.raw(name) {
        None => Ok(None),
        Some(serde_json::Value::String(text)) => {
            let text = text.trim();
            Ok(Some((!text.is_empty()).then(|| Secret::new(text))))
        }
        Some(_) => Err(ParamError::invalid(name, "expected a string")),
    }
}

/// The inner problem of a lenient read, without repeating the parameter's name.
fn list_problem(error: &ParamError) -> String {
    match error {
        ParamError::Invalid { problem, .. } => problem.clone(),
        ParamError::Missing { expected, .. } => (*expected).to_owned(),
    }
}

#[derive(Deserialize)]
#[serde(transparent)]
struct EventList(#[serde(deserialize_with = "lenient::string_list")] Vec<String>);

#[derive(Deserialize)]
#[serde(transparent)]
struct Flag(#[serde(deserialize_with = "lenient::bool")] bool);

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    fn params(value: Value) -> Params {
        Params::from_value(value).expect("object")
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
            let error = hook_settings(&params(given), None).expect_err(expected);
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
