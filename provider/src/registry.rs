//! The feeds this process runs: registration, update, pause, delete, and their views. The store
//! holds what must survive a restart; this holds the running tasks and their live status.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use feedkit::{ApiHost, AuthKey, QualifiedName, Secret};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::task::JoinHandle;

use crate::couch::{self, CouchError};
use crate::model::{DatabaseConfig, FeedConfig, FeedRecord, FeedState, Seq, now_millis};
use crate::runner::{self, Shared, log};
use crate::status::SharedStatus;
use crate::store::StoreError;

/// What a failed registry call tells the REST caller.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("{0}")]
    Invalid(String),
    #[error("no feed is registered for trigger {0}")]
    NotFound(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    Database(#[from] CouchError),
    #[error("{0}")]
    Store(#[from] StoreError),
}

/// Where a new feed starts.
#[derive(Debug, Clone, PartialEq)]
pub enum Since {
    /// After the database's current last change.
    Now,
    /// From this sequence on (`0`: from the beginning).
    Seq(Seq),
}

impl Since {
    fn from_value(value: Option<Value>) -> Result<Option<Self>, RegistryError> {
        match value {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(text)) if text.trim().eq_ignore_ascii_case("now") => {
                Ok(Some(Self::Now))
            }
            Some(Value::String(text)) if text.trim().is_empty() => Err(RegistryError::Invalid(
                "since is empty; give \"now\", 0 or a sequence".into(),
            )),
            Some(seq @ (Value::String(_) | Value::Number(_))) => Ok(Some(Self::Seq(seq))),
            Some(_) => Err(RegistryError::Invalid(
                "since must be \"now\", 0 or a sequence (a number or a string)".into(),
            )),
        }
    }
}

/// The body of `PUT /feeds/{namespace}/{trigger}`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Registration {
    pub api_host: String,
    pub auth_key: String,
    pub config: FeedConfig,
    #[serde(default)]
    pub since: Option<Value>,
}

/// The body of `PATCH /feeds/{namespace}/{trigger}`: only what changes. `null` clears `filter`
/// or `selector`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Patch {
    pub api_host: Option<String>,
    pub auth_key: Option<String>,
    pub database: Option<DatabasePatch>,
    #[serde(default, with = "double_option")]
    pub filter: Option<Option<String>>,
    #[serde(default, with = "double_option")]
    pub selector: Option<Option<Value>>,
    pub include_docs: Option<bool>,
    pub max_changes_per_fire: Option<u32>,
    pub since: Option<Value>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DatabasePatch {
    pub url: Option<String>,
    pub name: Option<String>,
    #[serde(default, with = "double_option")]
    pub username: Option<Option<String>>,
    #[serde(default, with = "double_option")]
    pub password: Option<Option<Secret>>,
}

/// Tells a field that is absent (`None`) from one that is `null` (`Some(None)`).
mod double_option {
    use serde::{Deserialize, Deserializer};

    pub fn deserialize<'de, T, D>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
    where
        T: Deserialize<'de>,
        D: Deserializer<'de>,
    {
        Option::<T>::deserialize(deserializer).map(Some)
    }
}

/// The body of pause, unpause and delete: the caller's current key, which replaces the stored one
/// (a user who rotated their key refreshes the feed by unpausing it).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Refresh {
    pub api_host: Option<String>,
    pub auth_key: Option<String>,
}

struct Running {
    status: SharedStatus,
    task: Option<JoinHandle<()>>,
}

impl Running {
    fn stop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// The running feeds.
pub struct Registry {
    shared: Arc<Shared>,
    running: Mutex<HashMap<String, Running>>,
}

fn parse_key(text: &str) -> Result<AuthKey, RegistryError> {
    AuthKey::parse(text).map_err(|problem| RegistryError::Invalid(format!("authKey: {problem}")))
}

fn parse_host(text: &str) -> Result<String, RegistryError> {
    ApiHost::parse(text)
        .map(|host| host.as_str().to_owned())
        .map_err(|problem| RegistryError::Invalid(format!("apiHost: {problem}")))
}

/// `/namespace/trigger`, checked.
pub fn feed_id(namespace: &str, trigger: &str) -> Result<String, RegistryError> {
    let name = QualifiedName::new(namespace, None, trigger);
    if namespace.is_empty() || trigger.is_empty() || namespace == "_" {
        return Err(RegistryError::Invalid(format!(
            "{name} is not a fully qualified trigger name"
        )));
    }
    if [namespace, trigger].iter().any(|part| part.contains('/')) {
        return Err(RegistryError::Invalid(format!(
            "{name} is not a trigger name: a part holds `/`"
        )));
    }
    Ok(name.to_string())
}

impl Registry {
    pub fn new(shared: Arc<Shared>) -> Self {
        Self {
            shared,
            running: Mutex::new(HashMap::new()),
        }
    }

    pub fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    fn running(&self) -> MutexGuard<'_, HashMap<String, Running>> {
        self.running
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Starts every active feed in the store: after a restart each resumes at its saved position.
    pub fn start_all(&self) {
        let mut running = self.running();
        for id in self.shared.store.ids() {
            if let Some(record) = self.shared.store.get(&id) {
                let entry = running.entry(id).or_insert_with(|| Running {
                    status: SharedStatus::default(),
                    task: None,
                });
                if record.state == FeedState::Active {
                    entry.task = Some(self.spawn(record, entry.status.clone()));
                }
            }
        }
    }

    fn spawn(&self, record: FeedRecord, status: SharedStatus) -> JoinHandle<()> {
        tokio::spawn(runner::run(self.shared.clone(), record, status))
    }

    /// (Re)starts or stops the feed's task to match its stored record.
    fn apply(&self, record: &FeedRecord, fresh_status: bool) {
        let mut running = self.running();
        let entry = running
            .entry(record.trigger.clone())
            .or_insert_with(|| Running {
                status: SharedStatus::default(),
                task: None,
            });
        entry.stop();
        if fresh_status {
            entry.status = SharedStatus::default();
        }
        if record.state == FeedState::Active {
            entry.task = Some(self.spawn(record.clone(), entry.status.clone()));
        }
    }

    /// Registers (or replaces) a feed. The database is checked first, and "now" becomes the
    /// database's current sequence before anything is stored, so that changes made between
    /// registration and connection are not missed.
    pub async fn register(
        &self,
        id: &str,
        registration: Registration,
    ) -> Result<Value, RegistryError> {
        let auth_key = parse_key(&registration.auth_key)?;
        let api_host = parse_host(&registration.api_host)?;
        let config = registration.config;
        config.validate().map_err(RegistryError::Invalid)?;
        let since = Since::from_value(registration.since)?.unwrap_or(Since::Now);
        let current = couch::check_database(&self.shared.http, &config.database).await?;
        let position = match since {
            Since::Now => current,
            Since::Seq(seq) => seq,
        };
        let generation = self
            .shared
            .store
            .get(id)
            .map_or(1, |previous| previous.generation + 1);
        let record = FeedRecord {
            trigger: id.to_owned(),
            api_host,
            auth_key,
            config,
            state: FeedState::Active,
            date_changed: now_millis(),
            position,
            generation,
        };
        self.shared.store.put(record.clone())?;
        self.apply(&record, true);
        log(id, &format!("registered, starting at {}", record.position));
        Ok(self.view_of(&record))
    }

    /// Changes a feed's configuration. The feed resumes where it was (no change is lost) unless
    /// `since` is given or it moves to another database; a disabled feed is enabled again, since
    /// the update is the user's fix.
    pub async fn update(&self, id: &str, patch: Patch) -> Result<Value, RegistryError> {
        let mut record = self.get(id)?;
        if let Some(key) = &patch.auth_key {
            record.auth_key = parse_key(key)?;
        }
        if let Some(host) = &patch.api_host {
            record.api_host = parse_host(host)?;
        }
        let database = &mut record.config.database;
        let previous = (database.url.clone(), database.name.clone());
        let mut reconnect = false;
        if let Some(changes) = patch.database {
            apply_database_patch(database, changes);
            reconnect = true;
        }
        // A position means nothing in another database: a feed moved to one starts there "now"
        // (like CREATE) unless `since` says otherwise.
        let moved = previous != (database.url.clone(), database.name.clone());
        let config = &mut record.config;
        if let Some(filter) = patch.filter {
            config.filter = filter;
        }
        if let Some(selector) = patch.selector {
            config.selector = selector;
        }
        if let Some(include_docs) = patch.include_docs {
            config.include_docs = include_docs;
        }
        if let Some(limit) = patch.max_changes_per_fire {
            config.max_changes_per_fire = limit;
        }
        config.validate().map_err(RegistryError::Invalid)?;
        let mut since = Since::from_value(patch.since)?;
        if moved && since.is_none() {
            since = Some(Since::Now);
        }
        if reconnect || since == Some(Since::Now) {
            let current = couch::check_database(&self.shared.http, &record.config.database).await?;
            if since == Some(Since::Now) {
                record.position = current;
            }
        }
        if let Some(Since::Seq(seq)) = since {
            record.position = seq;
        }
        if let FeedState::Disabled(_) = record.state {
            record.state = FeedState::Active;
        }
        record.date_changed = now_millis();
        record.generation += 1;
        self.shared.store.put(record.clone())?;
        self.apply(&record, false);
        log(id, "updated");
        Ok(self.view_of(&record))
    }

    /// Pauses (`active = false`) or resumes a feed. Resuming also enables a disabled feed and
    /// takes the caller's key, and the feed continues from its saved position: the changes made
    /// while it was paused are fired then.
    pub fn set_active(
        &self,
        id: &str,
        active: bool,
        refresh: Refresh,
    ) -> Result<Value, RegistryError> {
        let auth_key = refresh.auth_key.as_deref().map(parse_key).transpose()?;
        let api_host = refresh.api_host.as_deref().map(parse_host).transpose()?;
        // Stop first, so that a paused feed fires nothing more once this returns, and so that
        // the record read next holds the task's last saved position.
        if let Some(entry) = self.running().get_mut(id) {
            entry.stop();
        }
        let mut record = self.get(id)?;
        if let Some(key) = auth_key {
            record.auth_key = key;
        }
        if let Some(host) = api_host {
            record.api_host = host;
        }
        record.state = if active {
            FeedState::Active
        } else {
            FeedState::Paused
        };
        record.date_changed = now_millis();
        record.generation += 1;
        self.shared.store.put(record.clone())?;
        self.apply(&record, false);
        log(id, if active { "unpaused" } else { "paused" });
        Ok(self.view_of(&record))
    }

    /// Removes a feed. With `owner_key`, only when it is the key the feed fires with (the caller
    /// could not show that it may read the trigger, e.g. because the trigger is gone already).
    pub fn delete(&self, id: &str, owner_key: Option<AuthKey>) -> Result<bool, RegistryError> {
        if let (Some(key), Some(record)) = (&owner_key, self.shared.store.get(id)) {
            check_owner(key, &record)?;
        }
        if let Some(mut entry) = self.running().remove(id) {
            entry.stop();
        }
        let deleted = self.shared.store.delete(id)?;
        if deleted {
            log(id, "deleted");
        }
        Ok(deleted)
    }

    fn get(&self, id: &str) -> Result<FeedRecord, RegistryError> {
        self.shared
            .store
            .get(id)
            .ok_or_else(|| RegistryError::NotFound(id.to_owned()))
    }

    /// READ: the configuration (redacted) and the status. With `owner_key`, only when it is the
    /// key the feed fires with (as for [`Registry::delete`]).
    pub fn view(&self, id: &str, owner_key: Option<AuthKey>) -> Result<Value, RegistryError> {
        let record = self.get(id)?;
        if let Some(key) = &owner_key {
            check_owner(key, &record)?;
        }
        Ok(self.view_of(&record))
    }

    fn status_of(&self, record: &FeedRecord) -> Value {
        let live = self
            .running()
            .get(&record.trigger)
            .map(|entry| entry.status.snapshot())
            .unwrap_or_default();
        let mut status = serde_json::to_value(live).unwrap_or_else(|_| json!({}));
        if let Some(object) = status.as_object_mut() {
            object.insert(
                "active".into(),
                Value::from(record.state == FeedState::Active),
            );
            object.insert("state".into(), Value::from(record.state.name()));
            object.insert("dateChanged".into(), Value::from(record.date_changed));
            object.insert(
                "reason".into(),
                record.state.reason().map(Value::from).unwrap_or_default(),
            );
            object.insert("position".into(), record.position.clone());
        }
        status
    }

    fn view_of(&self, record: &FeedRecord) -> Value {
        json!({
            "trigger": record.trigger,
            "config": record.config_view(),
            "status": self.status_of(record),
        })
    }

    /// `/health`: every feed's status, and counts.
    pub fn health(&self) -> Value {
        let mut feeds = serde_json::Map::new();
        let (mut active, mut connected, mut paused, mut disabled) = (0, 0, 0, 0);
        let mut ids = self.shared.store.ids();
        ids.sort();
        for id in ids {
            let Some(record) = self.shared.store.get(&id) else {
                continue;
            };
            let status = self.status_of(&record);
            match record.state {
                FeedState::Active => active += 1,
                FeedState::Paused => paused += 1,
                FeedState::Disabled(_) => disabled += 1,
            }
            if status["connected"] == true {
                connected += 1;
            }
            feeds.insert(id, status);
        }
        json!({
            "status": "ok",
            "counts": {
                "feeds": feeds.len(),
                "active": active,
                "connected": connected,
                "paused": paused,
                "disabled": disabled,
            },
            "feeds": feeds,
        })
    }

    /// Counts only, for callers without the provider secret.
    pub fn summary(&self) -> Value {
        json!({ "status": "ok", "counts": { "feeds": self.shared.store.len() } })
    }
}

fn apply_database_patch(database: &mut DatabaseConfig, changes: DatabasePatch) {
    if let Some(url) = changes.url {
        database.url = url;
    }
    if let Some(name) = changes.name {
        database.name = name;
    }
    if let Some(username) = changes.username {
        database.username = username;
    }
    if let Some(password) = changes.password {
        database.password = password;
    }
}

/// Refuses a key that is not the one the feed fires with (compared without stopping at the
/// first difference).
fn check_owner(key: &AuthKey, record: &FeedRecord) -> Result<(), RegistryError> {
    if crate::constant_time_eq(key.expose().as_bytes(), record.auth_key.expose().as_bytes()) {
        Ok(())
    } else {
        Err(RegistryError::Forbidden(format!(
            "the key does not own the feed of trigger {}",
            record.trigger
        )))
    }
}
