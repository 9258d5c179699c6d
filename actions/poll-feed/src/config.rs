//! The poll feed's settings: validated at CREATE and UPDATE, stored on the helper trigger, shown
//! redacted by READ.
//!
//! The non-secret part ([`PollConfig`]) is the helper trigger's `pollConfig` parameter; the
//! credentials for the polled service ([`Secrets`]: `password`, `bearerToken`, `headers`) are its
//! `pollSecrets` annotation. Annotations, unlike parameters, are not merged into the trigger's
//! fires, so the credentials never land in the activation record of every tick.

use std::collections::BTreeMap;

use feedkit::params::{Bounded, Cron, Param, Text, invalid_at};
use feedkit::{ParamError, QualifiedName, Secret, redact_userinfo};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value, json};

use crate::path::JsonPath;
use crate::sources::{AnySource, Format};
use crate::stored::Fields;

/// The alarms feed for `minutes`.
pub const INTERVAL_FEED: &str = "/whisk.system/alarms/interval";
/// The alarms feed for `cron`.
pub const CRON_FEED: &str = "/whisk.system/alarms/alarm";

/// Every parameter poll-feed takes, in the order the manifest and the README list them.
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct PollParams {
    /// The http(s) URL of the JSON or the RSS/Atom feed to poll.
    pub url: Param<SourceUrl>,
    /// `json`, `rss`, `atom` or `auto` (by the answer's Content-Type, else its body).
    pub format: Param<Format>,
    /// Minutes between polls (or `cron`).
    pub minutes: Param<Bounded<1, { u64::MAX }>>,
    /// A cron pattern for the polls (or `minutes`).
    pub cron: Param<Cron>,
    /// The cron pattern's time zone.
    pub timezone: Param<Text>,
    /// Where the list of items is in the response.
    pub items_path: Param<JsonPath>,
    /// Where each item's id is, relative to the item.
    pub id_path: Param<JsonPath>,
    /// Request headers (values are kept secret).
    pub headers: Param<Headers>,
    /// Basic auth user name.
    pub username: Param<Text>,
    pub password: Param<Secret>,
    pub bearer_token: Param<Secret>,
    /// `now` or `backlog`.
    pub start_from: Param<StartFrom>,
    /// `list` or `each`.
    pub batch: Param<Batch>,
    pub max_items_per_fire: Param<Bounded<1, { MAX_ITEMS_PER_FIRE as u64 }>>,
    pub timeout_seconds: Param<Bounded<1, MAX_TIMEOUT_SECONDS>>,
    /// The alarms feed to tick with.
    pub alarm_feed: Param<FeedName>,
}

const DEFAULT_ID_PATH: &str = "id";
const DEFAULT_MAX_ITEMS_PER_FIRE: usize = 100;
const MAX_ITEMS_PER_FIRE: usize = 1000;
const DEFAULT_TIMEOUT_SECONDS: u64 = 10;
const MAX_TIMEOUT_SECONDS: u64 = 50;

/// When the alarm ticks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum Schedule {
    Interval {
        minutes: u64,
    },
    Cron {
        cron: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        timezone: Option<String>,
    },
}

impl Schedule {
    /// The alarms feed that implements this schedule unless `alarmFeed` says otherwise.
    pub fn default_feed(&self) -> &'static str {
        match self {
            Self::Interval { .. } => INTERVAL_FEED,
            Self::Cron { .. } => CRON_FEED,
        }
    }

    /// The schedule's parameters for the alarms feed (and for READ).
    pub fn alarm_params(&self) -> Map<String, Value> {
        let mut params = Map::new();
        match self {
            Self::Interval { minutes } => {
                params.insert("minutes".into(), json!(minutes));
            }
            Self::Cron { cron, timezone } => {
                params.insert("cron".into(), json!(cron));
                if let Some(timezone) = timezone {
                    params.insert("timezone".into(), json!(timezone));
                }
            }
        }
        params
    }
}

/// How new items are fired.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase", try_from = "Text")]
pub enum Batch {
    /// One fire per poll, `{"items": [...]}`, split by `maxItemsPerFire`.
    List,
    /// One fire per item, the item itself as the event.
    Each,
}

impl Batch {
    pub fn parse(text: &str) -> Option<Self> {
        match text.trim().to_ascii_lowercase().as_str() {
            "list" => Some(Self::List),
            "each" => Some(Self::Each),
            _ => None,
        }
    }
}

/// Where polling starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase", try_from = "Text")]
pub enum StartFrom {
    /// Only items that appear from now on: the current ones count as seen.
    Now,
    /// The current items too.
    Backlog,
}

impl StartFrom {
    pub fn parse(text: &str) -> Option<Self> {
        match text.trim().to_ascii_lowercase().as_str() {
            "now" => Some(Self::Now),
            "backlog" => Some(Self::Backlog),
            _ => None,
        }
    }
}

impl TryFrom<Text> for Batch {
    type Error = String;
    fn try_from(text: Text) -> Result<Self, String> {
        Self::parse(text.as_str()).ok_or_else(|| format!("{text:?} is not one of list, each"))
    }
}

impl TryFrom<Text> for StartFrom {
    type Error = String;
    fn try_from(text: Text) -> Result<Self, String> {
        Self::parse(text.as_str()).ok_or_else(|| format!("{text:?} is not one of now, backlog"))
    }
}

/// `url`: an http(s) URL without credentials (they go in `username`/`password` or
/// `bearerToken`, so that they stay secret).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "Text")]
pub struct SourceUrl(pub String);

impl TryFrom<Text> for SourceUrl {
    type Error = String;
    fn try_from(text: Text) -> Result<Self, String> {
        check_url(text.as_str()).map(Self)
    }
}

/// `alarmFeed`: an entity name, kept fully qualified.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "Text")]
pub struct FeedName(pub String);

impl TryFrom<Text> for FeedName {
    type Error = String;
    fn try_from(text: Text) -> Result<Self, String> {
        QualifiedName::parse(text.as_str()).map(|name| Self(name.to_string()))
    }
}

impl<'de> Deserialize<'de> for JsonPath {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        match Value::deserialize(deserializer)? {
            Value::String(text) => JsonPath::parse(&text).map_err(serde::de::Error::custom),
            _ => Err(serde::de::Error::custom(
                "expected a dotted path like `data.items` or a JSON pointer like `/data/items`",
            )),
        }
    }
}

/// `headers`: an object of header names to values (or its JSON text, as some clients send it).
/// Values are secrets (API keys travel in headers), so they are never echoed.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Headers(pub BTreeMap<String, Secret>);

impl<'de> Deserialize<'de> for Headers {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let expected = "expected an object of header names to values";
        let raw = match Value::deserialize(deserializer)? {
            Value::Object(map) => map,
            // The CLI sends `-p headers '{"A": "b"}'` as an object, other clients its text.
            Value::String(text) => match serde_json::from_str::<Value>(&text) {
                Ok(Value::Object(map)) => map,
                _ => return Err(serde::de::Error::custom(expected)),
            },
            _ => return Err(serde::de::Error::custom(expected)),
        };
        let mut headers = BTreeMap::new();
        for (name, value) in raw {
            if ureq::http::HeaderName::from_bytes(name.as_bytes()).is_err() {
                return Err(invalid_at(&name, "not a valid HTTP header name"));
            }
            let text = match value {
                Value::String(text) => text,
                Value::Number(number) => number.to_string(),
                Value::Bool(flag) => flag.to_string(),
                _ => return Err(invalid_at(&name, "expected a string value")),
            };
            if ureq::http::HeaderValue::from_str(&text).is_err() {
                return Err(invalid_at(
                    &name,
                    "the value is not a valid HTTP header value",
                ));
            }
            if ["if-none-match", "if-modified-since"].contains(&name.to_ascii_lowercase().as_str())
            {
                return Err(invalid_at(
                    &name,
                    "the feed sets the conditional-request headers itself",
                ));
            }
            headers.insert(name, Secret::new(text));
        }
        Ok(Self(headers))
    }
}

/// The non-secret settings, with the names of the entities they belong to.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PollConfig {
    /// The user's trigger, `/ns/name`.
    pub trigger: String,
    /// The helper trigger the alarm fires (where this configuration lives).
    pub poll_trigger: String,
    /// The rule from the helper trigger to the poller.
    pub rule: String,
    pub url: String,
    /// How answers are read.
    pub format: Format,
    pub schedule: Schedule,
    /// `alarmFeed` when the user chose one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub alarm_feed: Option<String>,
    pub items_path: JsonPath,
    pub id_path: JsonPath,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    pub batch: Batch,
    pub max_items_per_fire: usize,
    pub timeout_seconds: u64,
    pub start_from: StartFrom,
    /// Bumped whenever what is polled changes, so validators of the old source are not reused.
    pub generation: u64,
}

/// Credentials for the polled service.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Secrets {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub password: Option<Secret>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bearer_token: Option<Secret>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, Secret>,
}

impl Secrets {
    /// Reads the stored form back.
    pub fn from_stored(value: &Value) -> Result<Self, String> {
        let fields = Fields::of(value, "pollSecrets")?;
        let mut headers = BTreeMap::new();
        match fields.value("headers") {
            None => {}
            Some(Value::Object(stored)) => {
                for (name, value) in stored {
                    let value = value
                        .as_str()
                        .ok_or_else(|| format!("pollSecrets.headers.{name} is not a string"))?;
                    headers.insert(name.clone(), Secret::new(value));
                }
            }
            Some(_) => return Err("pollSecrets.headers is not an object".into()),
        }
        Ok(Self {
            password: fields.opt_str("password")?.map(Secret::new),
            bearer_token: fields.opt_str("bearerToken")?.map(Secret::new),
            headers,
        })
    }

    /// The stored form, values in clear (serializing a [`Secret`] redacts it).
    pub fn to_stored(&self) -> Value {
        let mut stored = Map::new();
        if let Some(password) = &self.password {
            stored.insert("password".into(), json!(password.expose()));
        }
        if let Some(token) = &self.bearer_token {
            stored.insert("bearerToken".into(), json!(token.expose()));
        }
        if !self.headers.is_empty() {
            let headers: Map<String, Value> = self
                .headers
                .iter()
                .map(|(name, value)| (name.clone(), json!(value.expose())))
                .collect();
            stored.insert("headers".into(), Value::Object(headers));
        }
        Value::Object(stored)
    }
}

/// What an UPDATE changed, to decide what else must happen.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Changes {
    /// The schedule or the alarms feed: the alarm must be replaced.
    pub schedule: bool,
    /// The URL or the credentials: old validators no longer apply.
    pub source: bool,
    /// `itemsPath` or `idPath`: item ids may read differently.
    pub ids: bool,
    /// `format`: answers are read another way (ids may read differently too).
    pub format: bool,
}

/// The parameters one CREATE or UPDATE gave, each validated on its own. For credentials,
/// `Some(None)` means "given as an empty string": removed by UPDATE.
#[derive(Debug, Clone, Default)]
pub struct ConfigPatch {
    pub url: Option<String>,
    pub format: Option<Format>,
    pub minutes: Option<u64>,
    pub cron: Option<String>,
    pub timezone: Option<String>,
    pub alarm_feed: Option<String>,
    pub items_path: Option<JsonPath>,
    pub id_path: Option<JsonPath>,
    pub headers: Option<BTreeMap<String, Secret>>,
    pub username: Option<Option<String>>,
    pub password: Option<Option<Secret>>,
    pub bearer_token: Option<Option<Secret>>,
    pub start_from: Option<StartFrom>,
    pub batch: Option<Batch>,
    pub max_items_per_fire: Option<usize>,
    pub timeout_seconds: Option<u64>,
}

impl ConfigPatch {
    /// The settings one CREATE or UPDATE gave (each checked as it was read).
    pub fn from_params(params: &PollParams) -> Self {
        let text = |param: &Param<Text>| param.get().map(|text| text.as_str().to_owned());
        let path = |param: &Param<JsonPath>| match param {
            Param::Cleared => Some(JsonPath::default()),
            given => given.get().cloned(),
        };
        Self {
            url: params.url.get().map(|url| url.0.clone()),
            format: params.format.get().copied(),
            minutes: params.minutes.get().map(|minutes| minutes.0),
            cron: params.cron.get().map(|cron| cron.0.clone()),
            timezone: text(&params.timezone),
            alarm_feed: params.alarm_feed.get().map(|feed| feed.0.clone()),
            // An empty path is the document (the item) itself.
            items_path: path(&params.items_path),
            id_path: path(&params.id_path),
            headers: params.headers.get().map(|headers| headers.0.clone()),
            username: params
                .username
                .clone()
                .change()
                .map(|change| change.map(Text::into_string)),
            password: params.password.clone().change(),
            bearer_token: params.bearer_token.clone().change(),
            start_from: params.start_from.get().copied(),
            batch: params.batch.get().copied(),
            max_items_per_fire: params.max_items_per_fire.get().map(|n| n.0 as usize),
            timeout_seconds: params.timeout_seconds.get().map(|n| n.0),
        }
    }

    /// Whether any setting was given (`startFrom` alone counts: UPDATE re-baselines with it).
    pub fn is_empty(&self) -> bool {
        self.url.is_none()
            && self.format.is_none()
            && self.minutes.is_none()
            && self.cron.is_none()
            && self.timezone.is_none()
            && self.alarm_feed.is_none()
            && self.items_path.is_none()
            && self.id_path.is_none()
            && self.headers.is_none()
            && self.username.is_none()
            && self.password.is_none()
            && self.bearer_token.is_none()
            && self.start_from.is_none()
            && self.batch.is_none()
            && self.max_items_per_fire.is_none()
            && self.timeout_seconds.is_none()
    }
}

/// The names of the entities a configuration belongs to.
#[derive(Debug, Clone)]
pub struct Owners {
    pub trigger: String,
    pub poll_trigger: String,
    pub rule: String,
}

impl PollConfig {
    /// Reads the stored form (its serialization) back.
    pub fn from_stored(value: &Value) -> Result<Self, String> {
        let fields = Fields::of(value, "pollConfig")?;
        let schedule = Fields::of(
            fields.value("schedule").unwrap_or(&Value::Null),
            "pollConfig.schedule",
        )?;
        let schedule = match schedule.opt_u64("minutes")? {
            Some(minutes) => Schedule::Interval { minutes },
            None => Schedule::Cron {
                cron: schedule.str("cron")?,
                timezone: schedule.opt_str("timezone")?,
            },
        };
        let path = |key: &str| -> Result<JsonPath, String> {
            JsonPath::parse(&fields.opt_str(key)?.unwrap_or_default())
                .map_err(|problem| format!("pollConfig.{key}: {problem}"))
        };
        let count = |key: &str| -> Result<usize, String> {
            usize::try_from(fields.u64(key)?).map_err(|_| format!("pollConfig.{key} is too large"))
        };
        Ok(Self {
            trigger: fields.str("trigger")?,
            poll_trigger: fields.str("pollTrigger")?,
            rule: fields.str("rule")?,
            url: fields.str("url")?,
            // Feeds made before `format` existed polled JSON.
            format: match fields.opt_str("format")? {
                Some(format) => Format::parse(&format)
                    .ok_or_else(|| format!("pollConfig.format {format:?} is unknown"))?,
                None => Format::Json,
            },
            schedule,
            alarm_feed: fields.opt_str("alarmFeed")?,
            items_path: path("itemsPath")?,
            id_path: path("idPath")?,
            username: fields.opt_str("username")?,
            batch: fields.choice("batch", Batch::parse)?,
            max_items_per_fire: count("maxItemsPerFire")?.max(1),
            timeout_seconds: fields.u64("timeoutSeconds")?.max(1),
            start_from: fields.choice("startFrom", StartFrom::parse)?,
            generation: fields.u64("generation")?,
        })
    }

    /// The configuration CREATE stores.
    pub fn create(owners: Owners, patch: ConfigPatch) -> Result<(Self, Secrets), ParamError> {
        let url = patch.url.clone().ok_or_else(|| {
            ParamError::missing("url", "the http(s) URL of the JSON or the feed to poll")
        })?;
        let schedule = new_schedule(&patch, None)?.ok_or_else(|| {
            ParamError::missing(
                "minutes",
                "the minutes between polls (or `cron`, with an optional `timezone`)",
            )
        })?;
        let mut config = Self {
            trigger: owners.trigger,
            poll_trigger: owners.poll_trigger,
            rule: owners.rule,
            url,
            format: patch.format.unwrap_or(Format::Auto),
            schedule,
            alarm_feed: patch.alarm_feed.clone(),
            items_path: patch.items_path.clone().unwrap_or_default(),
            id_path: match &patch.id_path {
                Some(path) => path.clone(),
                None => JsonPath::parse(DEFAULT_ID_PATH)
                    .map_err(|p| ParamError::invalid("idPath", p))?,
            },
            username: None,
            batch: patch.batch.unwrap_or(Batch::List),
            max_items_per_fire: patch
                .max_items_per_fire
                .unwrap_or(DEFAULT_MAX_ITEMS_PER_FIRE),
            timeout_seconds: patch.timeout_seconds.unwrap_or(DEFAULT_TIMEOUT_SECONDS),
            start_from: patch.start_from.unwrap_or(StartFrom::Now),
            generation: 1,
        };
        let mut secrets = Secrets::default();
        apply_credentials(&mut config, &mut secrets, &patch)?;
        check_paths(&config, &patch)?;
        Ok((config, secrets))
    }

    /// Applies an UPDATE's parameters and says what changed. Nothing is changed on error.
    pub fn apply(
        &mut self,
        secrets: &mut Secrets,
        patch: &ConfigPatch,
    ) -> Result<Changes, ParamError> {
        let mut config = self.clone();
        let mut new_secrets = secrets.clone();
        if let Some(url) = &patch.url {
            config.url = url.clone();
        }
        if let Some(format) = patch.format {
            config.format = format;
        }
        if let Some(schedule) = new_schedule(patch, Some(&self.schedule))? {
            config.schedule = schedule;
        }
        if let Some(feed) = &patch.alarm_feed {
            config.alarm_feed = Some(feed.clone());
        }
        if let Some(path) = &patch.items_path {
            config.items_path = path.clone();
        }
        if let Some(path) = &patch.id_path {
            config.id_path = path.clone();
        }
        if let Some(batch) = patch.batch {
            config.batch = batch;
        }
        if let Some(max) = patch.max_items_per_fire {
            config.max_items_per_fire = max;
        }
        if let Some(timeout) = patch.timeout_seconds {
            config.timeout_seconds = timeout;
        }
        if let Some(start_from) = patch.start_from {
            config.start_from = start_from;
        }
        apply_credentials(&mut config, &mut new_secrets, patch)?;
        check_paths(&config, patch)?;
        let changes = Changes {
            schedule: config.schedule != self.schedule || config.alarm_feed() != self.alarm_feed(),
            source: config.url != self.url
                || config.username != self.username
                || new_secrets != *secrets,
            ids: config.items_path != self.items_path || config.id_path != self.id_path,
            format: config.format != self.format,
        };
        if changes.source || changes.ids || changes.format {
            config.generation += 1;
        }
        *self = config;
        *secrets = new_secrets;
        Ok(changes)
    }

    /// How the source's answers are read.
    pub fn source(&self) -> AnySource<'_> {
        AnySource::new(self.format, &self.items_path, &self.id_path)
    }

    /// Whether answers may be JSON (`itemsPath` and `idPath` apply).
    pub fn reads_json(&self) -> bool {
        matches!(self.format, Format::Json | Format::Auto)
    }

    /// The alarms feed in use.
    pub fn alarm_feed(&self) -> String {
        self.alarm_feed
            .clone()
            .unwrap_or_else(|| self.schedule.default_feed().to_owned())
    }

    /// The `config` part of READ: the settings, credentials redacted.
    pub fn redacted_json(&self, secrets: &Secrets) -> Value {
        let mut config = Map::new();
        config.insert("url".into(), json!(redact_userinfo(&self.url)));
        config.insert("format".into(), json!(self.format));
        config.extend(self.schedule.alarm_params());
        config.insert("alarmFeed".into(), json!(self.alarm_feed()));
        if self.reads_json() {
            config.insert("itemsPath".into(), json!(self.items_path));
            config.insert("idPath".into(), json!(self.id_path));
        }
        if let Some(username) = &self.username {
            config.insert("username".into(), json!(username));
        }
        // Secrets serialize as "********": READ shows that they are set, never what they are.
        if let Ok(Value::Object(redacted)) = serde_json::to_value(secrets) {
            config.extend(redacted);
        }
        config.insert("batch".into(), json!(self.batch));
        config.insert("maxItemsPerFire".into(), json!(self.max_items_per_fire));
        config.insert("timeoutSeconds".into(), json!(self.timeout_seconds));
        config.insert("startFrom".into(), json!(self.start_from));
        Value::Object(config)
    }
}

/// The schedule a patch asks for, given the current one (`None` at CREATE); `None` when the patch
/// leaves it alone.
fn new_schedule(
    patch: &ConfigPatch,
    current: Option<&Schedule>,
) -> Result<Option<Schedule>, ParamError> {
    match (patch.minutes, &patch.cron, &patch.timezone) {
        (Some(_), Some(_), _) => Err(ParamError::invalid(
            "cron",
            "give either `minutes` or `cron`, not both",
        )),
        (Some(_), None, Some(_)) => Err(ParamError::invalid(
            "timezone",
            "a timezone goes with `cron`, not with `minutes`",
        )),
        (Some(minutes), None, None) => Ok(Some(Schedule::Interval { minutes })),
        (None, Some(cron), timezone) => {
            let timezone = timezone.clone().or_else(|| match current {
                Some(Schedule::Cron { timezone, .. }) => timezone.clone(),
                _ => None,
            });
            Ok(Some(Schedule::Cron {
                cron: cron.clone(),
                timezone,
            }))
        }
        (None, None, Some(timezone)) => match current {
            Some(Schedule::Cron { cron, .. }) => Ok(Some(Schedule::Cron {
                cron: cron.clone(),
                timezone: Some(timezone.clone()),
            })),
            _ => Err(ParamError::invalid(
                "timezone",
                "a timezone goes with `cron`, and the schedule is not a cron schedule",
            )),
        },
        (None, None, None) => Ok(None),
    }
}

/// Applies `username`/`password`/`bearerToken`/`headers` and checks they fit together.
fn apply_credentials(
    config: &mut PollConfig,
    secrets: &mut Secrets,
    patch: &ConfigPatch,
) -> Result<(), ParamError> {
    let basic_given = patch.username.is_some() || patch.password.is_some();
    if basic_given && matches!(patch.bearer_token, Some(Some(_))) {
        return Err(ParamError::invalid(
            "bearerToken",
            "give either `username` and `password` or `bearerToken`, not both",
        ));
    }
    if let Some(username) = &patch.username {
        config.username = username.clone();
    }
    if let Some(password) = &patch.password {
        secrets.password = password.clone();
    }
    if let Some(token) = &patch.bearer_token {
        secrets.bearer_token = token.clone();
    }
    // Switching from one kind of credentials to the other drops the old kind.
    if basic_given && config.username.is_some() {
        secrets.bearer_token = None;
    }
    if matches!(patch.bearer_token, Some(Some(_))) {
        config.username = None;
        secrets.password = None;
    }
    if let Some(headers) = &patch.headers {
        secrets.headers = headers.clone();
    }
    match (&config.username, &secrets.password) {
        (Some(_), None) => {
            return Err(ParamError::missing(
                "password",
                "the password that goes with `username`",
            ));
        }
        (None, Some(_)) => {
            return Err(ParamError::missing(
                "username",
                "the user name that goes with `password`",
            ));
        }
        _ => {}
    }
    let has_credentials = config.username.is_some() || secrets.bearer_token.is_some();
    if has_credentials
        && secrets
            .headers
            .keys()
            .any(|name| name.eq_ignore_ascii_case("authorization"))
    {
        return Err(ParamError::invalid(
            "headers.Authorization",
            "conflicts with `username`/`password` or `bearerToken`; give one of them",
        ));
    }
    Ok(())
}

/// `itemsPath` and `idPath` say where a JSON answer's items are: given for a feed, they are a
/// mistake worth naming (a feed item is known by its guid or id, else its link).
fn check_paths(config: &PollConfig, patch: &ConfigPatch) -> Result<(), ParamError> {
    if config.reads_json() {
        return Ok(());
    }
    for (name, given) in [("itemsPath", &patch.items_path), ("idPath", &patch.id_path)] {
        if given.is_some() {
            return Err(ParamError::invalid(
                name,
                format!(
                    "applies to JSON answers (format json or auto), and format is {}: an RSS or \
                     Atom item is known by its guid or id, else its link",
                    config.format
                ),
            ));
        }
    }
    Ok(())
}

fn check_url(text: &str) -> Result<String, String> {
    let shown = redact_userinfo(text);
    let uri: ureq::http::Uri = text
        .parse()
        .map_err(|error| format!("{shown:?} is not a URL ({error})"))?;
    if !matches!(uri.scheme_str(), Some("http" | "https")) {
        return Err(format!("{shown:?} is not an http or https URL"));
    }
    match uri.authority() {
        None => Err(format!("{shown:?} has no host")),
        Some(authority) if authority.as_str().contains('@') => Err(
            "it holds credentials; give them as `username` and `password` (or `bearerToken`) so they stay secret"
                .to_owned(),
        ),
        Some(_) => Ok(text.to_owned()),
    }
}

#[cfg(test)]
mod tests;
