//! What a feed is: its configuration (with the secrets the provider needs to act), its durable
//! state, and the redacted view the REST API shows.

use std::time::{SystemTime, UNIX_EPOCH};

use feedkit::{AuthKey, Secret};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A database sequence as the server gave it: a number (CouchDB 1.x, PouchDB) or an opaque string
/// (CouchDB 2+). It is only ever sent back, never interpreted.
pub type Seq = Value;

/// The sequence that means "from the beginning".
pub fn seq_zero() -> Seq {
    Value::from(0)
}

/// A sequence as it goes into a `since=` query parameter.
pub fn seq_text(seq: &Seq) -> String {
    match seq {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

/// Milliseconds since the epoch: what `dateChanged` and the status times are in, as in the
/// alarms provider's READ.
pub fn now_millis() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|elapsed| elapsed.as_millis() as u64)
        .unwrap_or_default()
}

/// Where the changes come from. The password is a [`Secret`]: it prints and serializes redacted
/// everywhere except in the store (see `store::stored`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DatabaseConfig {
    /// `http(s)://host[:port][/prefix]`, without credentials.
    pub url: String,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<Secret>,
}

impl DatabaseConfig {
    /// `{url}/{name}` with the database name encoded as one path segment.
    pub fn db_url(&self) -> String {
        format!(
            "{}/{}",
            self.url.trim_end_matches('/'),
            crate::http::encode_component(&self.name)
        )
    }
}

/// What the feed watches and how it fires.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FeedConfig {
    pub database: DatabaseConfig,
    /// A design-document filter, `ddoc/name`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filter: Option<String>,
    /// A Mango selector (`filter=_selector`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selector: Option<Value>,
    #[serde(default)]
    pub include_docs: bool,
    /// 1: one fire per change. More: up to that many changes in one fire (`{"results": [...]}`),
    /// which keeps a busy database under OpenWhisk's fire rate limit.
    #[serde(default = "one")]
    pub max_changes_per_fire: u32,
}

fn one() -> u32 {
    1
}

/// Upper bound of [`FeedConfig::max_changes_per_fire`]: OpenWhisk refuses payloads over 1 MB.
pub const MAX_CHANGES_PER_FIRE: u32 = 1000;

impl FeedConfig {
    /// Checks what serde cannot: the fields that depend on each other.
    pub fn validate(&self) -> Result<(), String> {
        let url = self.database.url.trim();
        if !(url.starts_with("http://") || url.starts_with("https://")) || url.len() < 9 {
            return Err(format!(
                "database.url {:?} is not an http(s) URL",
                feedkit::redact_userinfo(url)
            ));
        }
        if url.contains('@') {
            return Err("database.url must not carry credentials; give database.username and database.password".into());
        }
        if self.database.name.trim().is_empty() {
            return Err("database.name is empty".into());
        }
        if self.filter.is_some() && self.selector.is_some() {
            return Err("give either filter or selector, not both".into());
        }
        if let Some(filter) = &self.filter
            && !matches!(filter.split_once('/'), Some((ddoc, name)) if !ddoc.is_empty() && !name.is_empty() && !name.contains('/'))
        {
            return Err(format!(
                "filter {filter:?} is not a design-document filter `ddoc/name`"
            ));
        }
        if let Some(selector) = &self.selector
            && !selector.is_object()
        {
            return Err("selector must be a JSON object (a Mango selector)".into());
        }
        if !(1..=MAX_CHANGES_PER_FIRE).contains(&self.max_changes_per_fire) {
            return Err(format!(
                "maxChangesPerFire must be between 1 and {MAX_CHANGES_PER_FIRE}"
            ));
        }
        Ok(())
    }
}

/// Whether the feed runs, and why not.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase", tag = "state", content = "reason")]
pub enum FeedState {
    Active,
    /// By the user (PAUSE).
    Paused,
    /// By the provider, after OpenWhisk refused a fire for good (401/403/404, ...).
    Disabled(String),
}

impl FeedState {
    pub fn name(&self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Paused => "paused",
            Self::Disabled(_) => "disabled",
        }
    }

    pub fn reason(&self) -> Option<&str> {
        match self {
            Self::Active => None,
            Self::Paused => Some("paused by the user"),
            Self::Disabled(reason) => Some(reason),
        }
    }
}

/// Everything the provider keeps about one feed, durably.
#[derive(Debug, Clone)]
pub struct FeedRecord {
    /// The trigger's fully qualified name, `/namespace/trigger`: the feed's identity.
    pub trigger: String,
    /// Where OpenWhisk's REST API is (`scheme://host[:port]`).
    pub api_host: String,
    /// The trigger owner's key: what the provider fires with.
    pub auth_key: AuthKey,
    pub config: FeedConfig,
    pub state: FeedState,
    pub date_changed: u64,
    /// The last sequence whose change was fired successfully: where the feed resumes.
    pub position: Seq,
    /// Bumped by every registration or update, so that a position saved by a superseded task is
    /// ignored.
    pub generation: u64,
}

impl FeedRecord {
    /// The configuration as READ shows it: the password redacted, no key.
    pub fn config_view(&self) -> Value {
        let mut view = serde_json::to_value(&self.config).unwrap_or(Value::Null);
        if let Some(object) = view.as_object_mut() {
            object.insert("apiHost".into(), Value::from(self.api_host.clone()));
            object.insert("authKeyUser".into(), Value::from(self.auth_key.user()));
        }
        view
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn config() -> FeedConfig {
        FeedConfig {
            database: DatabaseConfig {
                url: "http://127.0.0.1:5984".into(),
                name: "my db".into(),
                username: Some("admin".into()),
                password: Some(Secret::new("hunter2")),
            },
            filter: None,
            selector: None,
            include_docs: false,
            max_changes_per_fire: 1,
        }
    }

    #[test]
    fn validates_dependent_fields() {
        assert_eq!(config().validate(), Ok(()));
        let mut both = config();
        both.filter = Some("d/f".into());
        both.selector = Some(json!({}));
        assert!(both.validate().expect_err("both").contains("not both"));
        let mut bad_filter = config();
        bad_filter.filter = Some("nofilter".into());
        assert!(bad_filter.validate().is_err());
        let mut creds = config();
        creds.database.url = "http://u:p@host".into();
        let error = creds.validate().expect_err("credentials");
        assert!(!error.contains(":p@"), "{error}");
        let mut batch = config();
        batch.max_changes_per_fire = 0;
        assert!(batch.validate().is_err());
    }

    #[test]
    fn views_redact_the_password_and_key() {
        let record = FeedRecord {
            trigger: "/guest/t".into(),
            api_host: "http://ow".into(),
            auth_key: AuthKey::parse("uuid:topsecret").expect("key"),
            config: config(),
            state: FeedState::Active,
            date_changed: 1,
            position: seq_zero(),
            generation: 1,
        };
        let view = record.config_view().to_string();
        assert!(
            !view.contains("hunter2") && !view.contains("topsecret"),
            "{view}"
        );
        assert!(view.contains("\"password\":\"********\""), "{view}");
        assert_eq!(
            record.config.database.db_url(),
            "http://127.0.0.1:5984/my%20db"
        );
    }

    #[test]
    fn sequences_print_as_sent() {
        assert_eq!(seq_text(&json!(12)), "12");
        assert_eq!(seq_text(&json!("12-g1AAAA")), "12-g1AAAA");
    }
}
