//! What the REST API does to feeds: register, update, pause and unpause, delete, read. Every
//! change is a compare-and-swap write of the feed's record in the store (retried when another
//! instance wrote meanwhile), then applied here at once; the instance whose bucket holds the feed
//! (this one, or another that follows the store) starts or stops it.

use feedkit::{ApiHost, AuthKey, QualifiedName};
use provider_api::{FeedStatus, FeedView, Refresh, Registration, Update, check_entity_name};
use serde_json::{Value, json};

use std::collections::HashMap;

use crate::model::{FeedRecord, FeedState, Saved, Start, now_millis, pointer_put};
use crate::node::Node;
use crate::source::{Source, SourceError};
use crate::store::StoreError;

/// How often a write is tried again after another instance changed the record meanwhile.
const WRITE_ATTEMPTS: usize = 5;

/// What a failed call tells the REST caller.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("{0}")]
    Invalid(String),
    #[error("no feed is registered for trigger {0}")]
    NotFound(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    Unusable(String),
    #[error("{0}")]
    Store(#[from] StoreError),
}

impl From<SourceError> for RegistryError {
    fn from(error: SourceError) -> Self {
        match error {
            SourceError::Invalid(problem) => Self::Invalid(problem),
            SourceError::Unusable(problem) => Self::Unusable(problem),
        }
    }
}

fn parse_key(text: &str) -> Result<AuthKey, RegistryError> {
    AuthKey::parse(text).map_err(|problem| RegistryError::Invalid(format!("authKey: {problem}")))
}

fn parse_host(text: &str) -> Result<String, RegistryError> {
    ApiHost::parse(text)
        .map(|host| host.as_str().to_owned())
        .map_err(|problem| RegistryError::Invalid(format!("apiHost: {problem}")))
}

/// `/namespace/trigger`, checked against the names OpenWhisk allows.
pub fn feed_id(namespace: &str, trigger: &str) -> Result<String, RegistryError> {
    if namespace == "_" {
        return Err(RegistryError::Invalid(
            "the namespace `_` must be resolved to the trigger's real namespace".into(),
        ));
    }
    check_entity_name(namespace, "namespace").map_err(RegistryError::Invalid)?;
    check_entity_name(trigger, "trigger name").map_err(RegistryError::Invalid)?;
    Ok(QualifiedName::new(namespace, None, trigger).to_string())
}

/// Refuses a key that is not the one the feed fires with (compared without stopping at the
/// first difference).
fn check_owner(key: &AuthKey, record: &FeedRecord) -> Result<(), RegistryError> {
    if crate::constant_time_eq(key.expose().as_bytes(), record.auth_key.expose().as_bytes()) {
        Ok(())
    } else {
        Err(RegistryError::Forbidden(format!(
            "the key does not own the feed of trigger {}",
            record.id
        )))
    }
}

impl Node {
    fn source_for(&self, kind: &str) -> Result<std::sync::Arc<dyn Source>, RegistryError> {
        self.source(kind).ok_or_else(|| {
            RegistryError::Invalid(format!(
                "kind {kind:?} is not a kind of feed this provider serves ({})",
                self.kinds().join(", ")
            ))
        })
    }

    async fn get_record(&self, id: &str) -> Result<FeedRecord, RegistryError> {
        self.store
            .get(id)
            .await?
            .ok_or_else(|| RegistryError::NotFound(id.to_owned()))
    }

    /// Writes `record` (compare-and-swap) and applies it here.
    async fn write(&self, mut record: FeedRecord) -> Result<FeedRecord, StoreError> {
        let rev = self.store.put(&record).await?;
        record.rev = Some(rev);
        record.sealed_with = Some(self.store.current_key());
        self.apply(record.clone());
        Ok(record)
    }

    /// Registers (or replaces) a feed. The source checks its settings and says where it starts,
    /// before anything is stored.
    pub async fn register(
        &self,
        id: &str,
        registration: Registration<Value>,
    ) -> Result<FeedView, RegistryError> {
        let auth_key = parse_key(registration.auth_key.expose())?;
        let api_host = parse_host(&registration.api_host)?;
        let source = self.source_for(&registration.kind)?;
        let prepared = source
            .prepare(registration.config, registration.since)
            .await?;
        let start = Start::at(prepared.start.unwrap_or(Value::from(0)));
        // The revision this instance knows (none for a new feed, the common case); read the
        // store only when that turns out stale.
        let mut rev = self.known(id).and_then(|known| known.rev);
        for attempt in 0..WRITE_ATTEMPTS {
            if attempt > 0 {
                rev = self.store.get(id).await?.and_then(|previous| previous.rev);
            }
            let record = FeedRecord {
                id: id.to_owned(),
                rev: rev.clone(),
                kind: registration.kind.clone(),
                api_host: api_host.clone(),
                auth_key: auth_key.clone(),
                config: prepared.config.clone(),
                state: FeedState::Active,
                date_changed: now_millis(),
                start: start.clone(),
                sealed_with: None,
            };
            match self.write(record).await {
                Ok(record) => {
                    tracing::info!(feed = %id, position = %record.start.position, "registered");
                    return Ok(self.fresh_view_of(&record).await);
                }
                Err(StoreError::Conflict) => continue,
                Err(error) => return Err(error.into()),
            }
        }
        Err(StoreError::Conflict.into())
    }

    /// Changes a feed's settings. It resumes where it was (no change is lost) unless `since` is
    /// given or the source says the position no longer applies; a disabled feed is enabled
    /// again, since the update is the user's fix.
    pub async fn update(&self, id: &str, update: Update<Value>) -> Result<FeedView, RegistryError> {
        let auth_key = update
            .auth_key
            .as_ref()
            .map(|key| parse_key(key.expose()))
            .transpose()?;
        let api_host = update.api_host.as_deref().map(parse_host).transpose()?;
        for _ in 0..WRITE_ATTEMPTS {
            let mut record = self.get_record(id).await?;
            let source = self.source_for(&record.kind)?;
            let prepared = source
                .update(&record.config, update.config.clone(), update.since.clone())
                .await?;
            record.config = prepared.config;
            if let Some(position) = prepared.start {
                record.start = Start::at(position);
            }
            if let Some(key) = &auth_key {
                record.auth_key = key.clone();
            }
            if let Some(host) = &api_host {
                record.api_host = host.clone();
            }
            if let FeedState::Disabled(_) = record.state {
                record.state = FeedState::Active;
            }
            record.date_changed = now_millis();
            match self.write(record).await {
                Ok(record) => {
                    tracing::info!(feed = %id, "updated");
                    return Ok(self.view_of(&record).await);
                }
                Err(StoreError::Conflict) => continue,
                Err(error) => return Err(error.into()),
            }
        }
        Err(StoreError::Conflict.into())
    }

    /// Pauses (`active = false`) or resumes a feed. Resuming also enables a disabled feed and
    /// takes the caller's key, and the feed continues from its saved position: the changes made
    /// while it was paused are fired then.
    pub async fn set_active(
        &self,
        id: &str,
        active: bool,
        refresh: Refresh,
    ) -> Result<FeedView, RegistryError> {
        let auth_key = refresh
            .auth_key
            .as_ref()
            .map(|key| parse_key(key.expose()))
            .transpose()?;
        let api_host = refresh.api_host.as_deref().map(parse_host).transpose()?;
        for _ in 0..WRITE_ATTEMPTS {
            let mut record = self.get_record(id).await?;
            if let Some(key) = &auth_key {
                record.auth_key = key.clone();
            }
            if let Some(host) = &api_host {
                record.api_host = host.clone();
            }
            record.state = if active {
                FeedState::Active
            } else {
                FeedState::Paused
            };
            record.date_changed = now_millis();
            match self.write(record).await {
                Ok(record) => {
                    tracing::info!(feed = %id, "{}", if active { "unpaused" } else { "paused" });
                    return Ok(self.view_of(&record).await);
                }
                Err(StoreError::Conflict) => continue,
                Err(error) => return Err(error.into()),
            }
        }
        Err(StoreError::Conflict.into())
    }

    /// Removes a feed. With `owner_key`, only when it is the key the feed fires with (the caller
    /// could not show that it may read the trigger, e.g. because the trigger is gone already).
    pub async fn delete(
        &self,
        id: &str,
        owner_key: Option<AuthKey>,
    ) -> Result<bool, RegistryError> {
        for _ in 0..WRITE_ATTEMPTS {
            let Some(record) = self.store.get(id).await? else {
                return Ok(false);
            };
            if let Some(key) = &owner_key {
                check_owner(key, &record)?;
            }
            let rev = record.rev.clone().unwrap_or_default();
            match self.store.delete(id, &rev).await {
                Ok(()) => {
                    // The deletion's revision is one past the record's.
                    let deleted = format!("{}-deleted", record.rev_number() + 1);
                    self.remove(id, Some(&deleted));
                    tracing::info!(feed = %id, "deleted");
                    return Ok(true);
                }
                Err(StoreError::Conflict) => continue,
                Err(error) => return Err(error.into()),
            }
        }
        Err(StoreError::Conflict.into())
    }

    /// READ: the configuration (secrets redacted) and the status. With `owner_key`, only when it
    /// is the key the feed fires with (as for [`Node::delete`]).
    pub async fn view(
        &self,
        id: &str,
        owner_key: Option<AuthKey>,
    ) -> Result<FeedView, RegistryError> {
        let record = self.get_record(id).await?;
        if let Some(key) = &owner_key {
            check_owner(key, &record)?;
        }
        Ok(self.view_of(&record).await)
    }

    /// The settings as READ shows them: secrets as `********`, the key's uuid half only.
    fn config_view(&self, record: &FeedRecord) -> Value {
        let source = self.source(&record.kind);
        let mut config = match &source {
            Some(source) => source.view_config(&record.config),
            None => record.config.clone(),
        };
        if let Some(source) = source {
            for pointer in source.secret_fields() {
                if config.pointer(pointer).is_some() {
                    pointer_put(&mut config, pointer, Value::from("********"));
                }
            }
        }
        if let Some(object) = config.as_object_mut() {
            object.insert("apiHost".into(), Value::from(record.api_host.clone()));
            object.insert("authKeyUser".into(), Value::from(record.auth_key.user()));
        }
        config
    }

    /// The status: the live part from this instance when it runs the feed, the stored part
    /// (state, position) always. `positions` caches the buckets' saved positions read for
    /// feeds other instances run (`None`: read this feed's bucket; an empty cache for a fresh
    /// registration, whose position is its start).
    pub(crate) async fn status_of(
        &self,
        record: &FeedRecord,
        positions: Option<&mut HashMap<u32, HashMap<String, Saved>>>,
    ) -> FeedStatus {
        let (mut status, saved, here) = self.live(&record.id).unwrap_or_default();
        let saved = if here {
            saved
        } else {
            // Another instance runs it: its last written position.
            let bucket = self.bucket_of(&record.id);
            let mut own = HashMap::new();
            let cache = positions.unwrap_or(&mut own);
            if let std::collections::hash_map::Entry::Vacant(entry) = cache.entry(bucket) {
                entry.insert(self.store.positions(bucket).await.unwrap_or_default());
            }
            cache
                .get(&bucket)
                .and_then(|saved| saved.get(&record.id).cloned())
        };
        status.active = record.state == FeedState::Active;
        status.state = record.state.name().to_owned();
        status.reason = record.state.reason().map(str::to_owned);
        status.date_changed = record.date_changed;
        status.position = record.resume_at(saved.as_ref());
        if let Some(source) = self.source(&record.kind) {
            source.describe(record, &status.position.clone(), &mut status);
        }
        status.owner = if here {
            Some(self.id.clone())
        } else {
            self.holder_of(&record.id).map(|(owner, _)| owner)
        };
        status
    }

    async fn view_of(&self, record: &FeedRecord) -> FeedView {
        FeedView {
            trigger: record.id.clone(),
            config: self.config_view(record),
            status: self.status_of(record, None).await,
        }
    }

    /// A just-registered feed's view: its position is its start.
    async fn fresh_view_of(&self, record: &FeedRecord) -> FeedView {
        let mut nothing_saved = HashMap::from([(self.bucket_of(&record.id), HashMap::new())]);
        FeedView {
            trigger: record.id.clone(),
            config: self.config_view(record),
            status: self.status_of(record, Some(&mut nothing_saved)).await,
        }
    }

    /// `/health`: counts, and with `full` every feed's status.
    pub async fn health(&self, full: bool) -> Value {
        let gauges = self.gauges();
        let counts = json!({
            "feeds": gauges.active + gauges.paused + gauges.disabled,
            "active": gauges.active,
            "paused": gauges.paused,
            "disabled": gauges.disabled,
            "running": gauges.running,
            "connected": gauges.connected,
            "bucketsHeld": gauges.buckets_held,
            "buckets": gauges.buckets,
        });
        if !full {
            return json!({ "status": "ok", "counts": { "feeds": counts["feeds"] } });
        }
        let mut feeds = serde_json::Map::new();
        let mut positions = HashMap::new();
        for id in self.ids() {
            if let Some(record) = self.known(&id) {
                let status = self.status_of(&record, Some(&mut positions)).await;
                feeds.insert(id, serde_json::to_value(status).unwrap_or_default());
            }
        }
        json!({
            "status": "ok",
            "instance": self.id,
            "store": self.store.describe(),
            "counts": counts,
            "feeds": feeds,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn feed_ids_are_checked_against_openwhisk_names() {
        assert_eq!(
            feed_id("guest", "my trigger").expect("valid"),
            "/guest/my trigger"
        );
        for (namespace, trigger) in [
            ("_", "t"),
            ("guest", "bad\nname"),
            ("guest", "nul\0"),
            ("guest", &"x".repeat(1000)),
            ("", "t"),
            ("guest", "a/b"),
        ] {
            let error = feed_id(namespace, trigger).expect_err(trigger);
            assert!(matches!(error, RegistryError::Invalid(_)), "{error}");
            assert!(!error.to_string().contains('\n'), "{error}");
        }
    }
}
