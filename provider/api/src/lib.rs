//! The provider's REST API as both of its sides see it: the provider serves these types
//! and the feed actions (`changes-feed`) send and read them. One definition, so the two cannot
//! drift apart; serde only, so an action that links it stays small.
//!
//! | request | body | answer |
//! | --- | --- | --- |
//! | `PUT /feeds/{namespace}/{trigger}` | [`Registration`] | [`FeedView`] |
//! | `GET /feeds/{namespace}/{trigger}` | ([`OWNER_KEY_HEADER`]) | [`FeedView`] |
//! | `PATCH /feeds/{namespace}/{trigger}` | [`Update`] | [`FeedView`] |
//! | `POST /feeds/{namespace}/{trigger}/pause` and `/unpause` | [`Refresh`] | [`FeedView`] |
//! | `DELETE /feeds/{namespace}/{trigger}` | ([`OWNER_KEY_HEADER`]) | [`Deleted`] |
//!
//! Failures answer [`ErrorBody`]. Every object refuses fields it does not know, so a misspelt
//! setting is an error instead of a silently ignored one.

mod alarms;
mod changes;
mod names;
mod view;

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

pub use alarms::{ALARMS_KIND, AlarmConfig, AlarmPatch, DeleteAfterFire, IfMissed};
pub use changes::{
    ChangesConfig, ChangesPatch, Database, DatabasePatch, IfRecreated, MAX_CHANGES_PER_FIRE,
};
pub use names::{MAX_NAME_CHARS, check_entity_name};
pub use view::{ChangeMark, ErrorMark, FeedStatus, FeedView, FireMark, RecreatedMark, RetryMark};

/// The header that carries the caller's key when it asks about a feed whose trigger it could not
/// read (the trigger is gone): the provider answers only if that key is the one the feed fires
/// with.
pub const OWNER_KEY_HEADER: &str = "x-owner-key";

/// The kind of feed a registration is for when it does not say: CouchDB `_changes`.
pub const CHANGES_KIND: &str = "changes";

/// A value that travels in a request body as it is (the provider needs it to act) but never
/// prints itself: `Debug` shows `********`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Confidential(String);

impl Confidential {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Confidential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("********")
    }
}

/// Where a new feed starts reading its source.
#[derive(Debug, Clone, PartialEq)]
pub enum Since {
    /// After what the source holds now (for a database: its current `update_seq`).
    Now,
    /// From this position on: `0` is the beginning, anything else is a sequence the database
    /// gave (a number, or an opaque string with CouchDB 2 and later).
    Seq(Value),
}

impl Serialize for Since {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::Now => serializer.serialize_str("now"),
            Self::Seq(seq) => seq.serialize(serializer),
        }
    }
}

impl<'de> Deserialize<'de> for Since {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        match Value::deserialize(deserializer)? {
            Value::String(text) if text.trim().eq_ignore_ascii_case("now") => Ok(Self::Now),
            Value::String(text) if text.trim().is_empty() => Err(D::Error::custom(
                "since is empty; give \"now\", 0 or a sequence",
            )),
            seq @ (Value::String(_) | Value::Number(_)) => Ok(Self::Seq(seq)),
            _ => Err(D::Error::custom(
                "since must be \"now\", 0 or a sequence (a number or a string)",
            )),
        }
    }
}

fn changes_kind() -> String {
    CHANGES_KIND.to_owned()
}

/// The body of `PUT /feeds/{namespace}/{trigger}`: registers a feed, or replaces it (then it
/// starts afresh at `since`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Registration<C = ChangesConfig> {
    /// Where OpenWhisk's REST API is: the trigger is fired there.
    pub api_host: String,
    /// The trigger owner's key `uuid:key`: the trigger is fired with it.
    pub auth_key: Confidential,
    /// Which source the feed reads ([`CHANGES_KIND`] when absent).
    #[serde(default = "changes_kind")]
    pub kind: String,
    /// What the source needs, in the source's own shape ([`ChangesConfig`] for `changes`).
    pub config: C,
    /// Default: [`Since::Now`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<Since>,
}

/// The body of `PATCH /feeds/{namespace}/{trigger}`: only what changes. The feed resumes where it
/// was unless `since` is given (or the source says its position means nothing any more, as when a
/// feed moves to another database); a disabled feed is enabled again.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Update<P = ChangesPatch> {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_host: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_key: Option<Confidential>,
    /// The source's own changes ([`ChangesPatch`] for `changes`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<P>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<Since>,
}

impl<P> Default for Update<P> {
    fn default() -> Self {
        Self {
            api_host: None,
            auth_key: None,
            config: None,
            since: None,
        }
    }
}

/// The body of `POST .../pause` and `POST .../unpause`: the caller's current key and host, which
/// replace the stored ones (a user who rotated their key refreshes the feed by unpausing it).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Refresh {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_host: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_key: Option<Confidential>,
}

/// The answer to `DELETE /feeds/{namespace}/{trigger}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Deleted {
    pub trigger: String,
    pub deleted: bool,
}

/// Every failure's body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub error: String,
}

/// Tells a field that is absent (`None`) from one that is `null` (`Some(None)`): `null` clears.
pub(crate) mod double_option {
    use serde::{Deserialize, Deserializer};

    pub fn deserialize<'de, T, D>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
    where
        T: Deserialize<'de>,
        D: Deserializer<'de>,
    {
        Option::<T>::deserialize(deserializer).map(Some)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn since_reads_now_numbers_and_opaque_sequences() {
        let read = |value: Value| serde_json::from_value::<Since>(value);
        assert_eq!(read(json!(" NOW ")).expect("now"), Since::Now);
        assert_eq!(read(json!(0)).expect("zero"), Since::Seq(json!(0)));
        assert_eq!(
            read(json!("12-g1AAAA")).expect("opaque"),
            Since::Seq(json!("12-g1AAAA"))
        );
        assert!(read(json!("")).is_err());
        assert!(read(json!([1])).is_err());
        assert_eq!(serde_json::to_value(Since::Now).expect("json"), "now");
    }

    #[test]
    fn registrations_refuse_unknown_fields_and_never_print_the_key() {
        let body = json!({
            "apiHost": "https://ow", "authKey": "uuid:secret-part",
            "config": {"database": {"url": "http://db", "name": "d"}},
        });
        let registration: Registration = serde_json::from_value(body.clone()).expect("valid");
        assert_eq!(registration.kind, CHANGES_KIND);
        assert_eq!(registration.auth_key.expose(), "uuid:secret-part");
        assert!(!format!("{registration:?}").contains("secret-part"));
        let mut typo = body.clone();
        typo["config"]["includedocs"] = json!(true);
        let error = serde_json::from_value::<Registration>(typo)
            .expect_err("typo")
            .to_string();
        assert!(error.contains("includedocs"), "{error}");
        let mut typo = body;
        typo["config"]["database"]["passwd"] = json!("x");
        let error = serde_json::from_value::<Registration>(typo)
            .expect_err("typo")
            .to_string();
        assert!(error.contains("passwd"), "{error}");
    }

    #[test]
    fn updates_tell_absent_from_null() {
        let update: Update = serde_json::from_value(
            json!({"config": {"filter": null, "database": {"password": "p2"}}, "since": "now"}),
        )
        .expect("valid");
        let config = update.config.expect("config");
        assert_eq!(config.filter, Some(None));
        assert_eq!(config.selector, None);
        let database = config.database.expect("database");
        assert_eq!(
            database.password.flatten().map(|p| p.expose().to_owned()),
            Some("p2".to_owned())
        );
        assert_eq!(update.since, Some(Since::Now));
        // Written back, a cleared field is `null` and an absent one is absent.
        let written = serde_json::to_value(ChangesPatch {
            filter: Some(None),
            ..ChangesPatch::default()
        })
        .expect("json");
        assert_eq!(written, json!({"filter": null}));
    }
}
