//! The `changes` source's settings: a CouchDB-compatible database's continuous `_changes` feed.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::Confidential;
use crate::double_option;

/// Upper bound of [`ChangesConfig::max_changes_per_fire`]: OpenWhisk refuses events over 1 MB.
pub const MAX_CHANGES_PER_FIRE: u32 = 1000;

/// Where the changes come from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Database {
    /// `http(s)://host[:port][/prefix]`, without credentials.
    pub url: String,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<Confidential>,
}

/// What a feed does when its database was deleted and created again (its sequence went
/// backwards, or it was missing and is back): its saved position belongs to the old database.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum IfRecreated {
    /// Fire every change of the new database, from its first (the default: nothing is skipped).
    #[default]
    Beginning,
    /// Fire only what the new database gets from now on.
    Now,
    /// Stop, with the reason in the status, until the user updates or unpauses the feed.
    Disable,
}

impl IfRecreated {
    pub fn is_default(&self) -> bool {
        *self == Self::default()
    }
}

fn one() -> u32 {
    1
}

/// What a `changes` feed watches and how it fires.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ChangesConfig {
    pub database: Database,
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
    #[serde(default, skip_serializing_if = "IfRecreated::is_default")]
    pub if_recreated: IfRecreated,
}

impl ChangesConfig {
    /// A feed of `database` with every other setting at its default.
    pub fn new(database: Database) -> Self {
        Self {
            database,
            filter: None,
            selector: None,
            include_docs: false,
            max_changes_per_fire: 1,
            if_recreated: IfRecreated::default(),
        }
    }

    /// Checks what the types cannot: the fields that depend on each other. The messages name the
    /// field and never quote credentials.
    pub fn validate(&self) -> Result<(), String> {
        let url = self.database.url.trim();
        let rest = url
            .strip_prefix("http://")
            .or_else(|| url.strip_prefix("https://"));
        if rest.is_none_or(|rest| rest.is_empty() || rest.starts_with(['/', ':'])) {
            let shown = match url.rsplit_once('@') {
                Some((_, host)) => format!("***@{host}"),
                None => url.to_owned(),
            };
            return Err(format!("database.url {shown:?} is not an http(s) URL"));
        }
        if url.contains('@') {
            return Err("database.url must not carry credentials; give database.username and database.password".into());
        }
        if self.database.name.trim().is_empty() {
            return Err("database.name is empty".into());
        }
        if self.database.password.is_some() && self.database.username.is_none() {
            return Err("database.password needs database.username".into());
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

/// Changes to a feed's database; `null` clears `username` or `password`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DatabasePatch {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "double_option::deserialize"
    )]
    pub username: Option<Option<String>>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "double_option::deserialize"
    )]
    pub password: Option<Option<Confidential>>,
}

impl DatabasePatch {
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

/// Changes to a `changes` feed's settings: only what is given changes; `null` clears `filter` or
/// `selector`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ChangesPatch {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub database: Option<DatabasePatch>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "double_option::deserialize"
    )]
    pub filter: Option<Option<String>>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "double_option::deserialize"
    )]
    pub selector: Option<Option<Value>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub include_docs: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_changes_per_fire: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub if_recreated: Option<IfRecreated>,
}

impl ChangesPatch {
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }

    /// The configuration with this patch applied (not yet validated).
    pub fn apply_to(&self, config: &ChangesConfig) -> ChangesConfig {
        let mut config = config.clone();
        if let Some(changes) = &self.database {
            let database = &mut config.database;
            if let Some(url) = &changes.url {
                database.url = url.clone();
            }
            if let Some(name) = &changes.name {
                database.name = name.clone();
            }
            if let Some(username) = &changes.username {
                database.username = username.clone();
            }
            if let Some(password) = &changes.password {
                database.password = password.clone();
            }
        }
        if let Some(filter) = &self.filter {
            config.filter = filter.clone();
        }
        if let Some(selector) = &self.selector {
            config.selector = selector.clone();
        }
        if let Some(include_docs) = self.include_docs {
            config.include_docs = include_docs;
        }
        if let Some(limit) = self.max_changes_per_fire {
            config.max_changes_per_fire = limit;
        }
        if let Some(policy) = self.if_recreated {
            config.if_recreated = policy;
        }
        config
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn config() -> ChangesConfig {
        ChangesConfig::new(Database {
            url: "http://127.0.0.1:5984".into(),
            name: "my db".into(),
            username: Some("admin".into()),
            password: Some(Confidential::new("hunter2")),
        })
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
        let mut no_scheme = config();
        no_scheme.database.url = "ftp://u:secret@host".into();
        let error = no_scheme.validate().expect_err("scheme");
        assert!(!error.contains("secret"), "{error}");
        let mut batch = config();
        batch.max_changes_per_fire = 0;
        assert!(batch.validate().is_err());
        let mut lonely = config();
        lonely.database.username = None;
        assert!(lonely.validate().expect_err("user").contains("username"));
    }

    #[test]
    fn the_policy_defaults_to_the_beginning_and_is_written_only_when_set() {
        let read: ChangesConfig =
            serde_json::from_value(json!({"database": {"url": "http://h", "name": "d"}}))
                .expect("valid");
        assert_eq!(read.if_recreated, IfRecreated::Beginning);
        assert!(
            serde_json::to_value(&read)
                .expect("json")
                .get("ifRecreated")
                .is_none()
        );
        let read: ChangesConfig = serde_json::from_value(
            json!({"database": {"url": "http://h", "name": "d"}, "ifRecreated": "disable"}),
        )
        .expect("valid");
        assert_eq!(read.if_recreated, IfRecreated::Disable);
        assert!(
            serde_json::from_value::<ChangesConfig>(
                json!({"database": {"url": "http://h", "name": "d"}, "ifRecreated": "later"})
            )
            .is_err()
        );
    }

    #[test]
    fn patches_apply_only_what_they_hold() {
        let patch = ChangesPatch {
            database: Some(DatabasePatch {
                password: Some(None),
                ..DatabasePatch::default()
            }),
            include_docs: Some(true),
            ..ChangesPatch::default()
        };
        let patched = patch.apply_to(&config());
        assert_eq!(patched.database.password, None);
        assert_eq!(patched.database.username.as_deref(), Some("admin"));
        assert!(patched.include_docs);
        assert!(ChangesPatch::default().is_empty());
    }
}
