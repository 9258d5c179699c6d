//! Where feeds and their positions live, behind one interface ([`Store`]) with two
//! implementations:
//!
//! - [`SqliteStore`]: the embedded default, one SQLite file in the data directory, for one
//!   instance on one machine;
//! - [`CouchStore`]: a CouchDB database (the one every OpenWhisk deployment already runs) shared
//!   by a fleet of instances: registrations, positions, bucket leases and members live there.
//!
//! Both keep records in the same document shape ([`StoredFeed`]): the source's settings without
//! their secrets, and the secrets (the owner's key, the source's credentials) sealed under the
//! provider key ([`Keyring`]), bound to the feed. Nothing secret is ever in an id.
//!
//! Feeds are spread over buckets (a hash of the feed id); a bucket is held by one instance at a
//! time through a lease ([`Lease`]), and the positions of a bucket's feeds are written only under
//! its lease, fenced by its epoch: an instance that lost a bucket cannot move its positions.

mod couch;
mod sqlite;

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use feedkit::AuthKey;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::model::{FeedId, FeedRecord, FeedState, Saved, Start, pointer_put, pointer_take};
use crate::secrets::{Keyring, SealError, SealedBox};

pub use couch::{CouchStore, CouchStoreOptions, feed_doc_id};
pub use sqlite::{DB_FILE, SqliteStore};

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Every feed record, and the stream of what changes from then on.
pub type Followed = (Vec<FeedRecord>, tokio::sync::mpsc::Receiver<StoreEvent>);

/// A bucket taken: its lease and its feeds' saved positions.
pub type Claimed = (Lease, HashMap<FeedId, Saved>);

#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    /// A compare-and-swap write found another revision: re-read and decide again.
    #[error("the record was changed meanwhile")]
    Conflict,
    /// The store cannot be reached or failed (the message says which and why).
    #[error("{0}")]
    Unavailable(String),
    /// A record could not be read (damaged, or sealed with a key this instance lacks).
    #[error("{0}")]
    Unreadable(String),
}

impl From<SealError> for StoreError {
    fn from(error: SealError) -> Self {
        Self::Unreadable(error.to_string())
    }
}

/// A bucket held by this instance: writes under it are fenced by `epoch`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    pub bucket: u32,
    pub owner: String,
    pub epoch: u64,
    /// The store's revision of the bucket's document after the last write.
    pub rev: String,
}

/// A bucket as some instance last wrote it (what the others watch to see it renewed, released or
/// taken).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BucketView {
    pub bucket: u32,
    /// `None`: released (free to claim at once).
    pub owner: Option<String>,
    pub epoch: u64,
    pub rev: String,
    /// Another instance wrote a conflicting revision (CouchDB clusters): the lease is in dispute
    /// until it is resolved.
    pub conflicted: bool,
}

/// An instance as it announces itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberView {
    pub id: String,
    /// Where its REST API can be reached (for READs of the feeds it runs).
    pub url: Option<String>,
    pub rev: String,
    /// It stopped cleanly and left.
    pub left: bool,
}

/// Something another instance (or this one) changed.
#[derive(Debug, Clone)]
pub enum StoreEvent {
    Feed(Box<FeedRecord>),
    FeedDeleted {
        id: FeedId,
        rev: String,
    },
    Bucket(BucketView),
    Member(MemberView),
    /// The store's change feed broke and was opened again: what was missed is sent again.
    Reconnected,
}

/// The interface of both stores. Every write of a record is compare-and-swap on its revision.
pub trait Store: Send + Sync + 'static {
    /// For logs: which store, where.
    fn describe(&self) -> String;

    /// How many buckets the feeds are spread over (the same on every instance of a fleet).
    fn buckets(&self) -> u32;

    /// Whether this instance is the store's only user (the embedded store, locked to one
    /// process): it holds every bucket without contest.
    fn exclusive(&self) -> bool;

    /// Every feed record, and from then on every change anyone makes to feeds, buckets and
    /// members (the embedded store has nobody else, so its stream stays silent).
    fn follow(&self) -> BoxFuture<'_, Result<Followed, StoreError>>;

    fn get(&self, id: &str) -> BoxFuture<'_, Result<Option<FeedRecord>, StoreError>>;

    /// Writes `record` if its `rev` is still the stored one (`None`: only if there is none).
    /// Answers the new revision.
    fn put<'a>(&'a self, record: &'a FeedRecord) -> BoxFuture<'a, Result<String, StoreError>>;

    /// Removes a record at revision `rev`.
    fn delete<'a>(&'a self, id: &'a str, rev: &'a str) -> BoxFuture<'a, Result<(), StoreError>>;

    /// Takes bucket `bucket` for `owner` with epoch `epoch`, if it is still at `observed` (the
    /// revision seen free or expired; `None`: never written). Answers the lease and the bucket's
    /// saved positions.
    fn claim<'a>(
        &'a self,
        bucket: u32,
        owner: &'a str,
        epoch: u64,
        observed: Option<&'a str>,
    ) -> BoxFuture<'a, Result<Claimed, StoreError>>;

    /// Writes the bucket again under `lease` (renewing it) with these positions moved (`None`
    /// forgets a feed's). [`StoreError::Conflict`] means the lease was lost.
    fn renew<'a>(
        &'a self,
        lease: &'a Lease,
        positions: Vec<(FeedId, Option<Saved>)>,
    ) -> BoxFuture<'a, Result<Lease, StoreError>>;

    /// Gives the bucket up (after the last positions), so another instance can take it at once.
    fn release<'a>(
        &'a self,
        lease: &'a Lease,
        positions: Vec<(FeedId, Option<Saved>)>,
    ) -> BoxFuture<'a, Result<(), StoreError>>;

    /// Removes the member document of an instance gone for good (not renewed for many leases).
    fn forget_member<'a>(
        &'a self,
        member: &'a str,
        rev: &'a str,
    ) -> BoxFuture<'a, Result<(), StoreError>>;

    /// The id of the provider key that seals now.
    fn current_key(&self) -> String;

    /// The positions saved in a bucket (for READs of feeds another instance runs).
    fn positions(&self, bucket: u32) -> BoxFuture<'_, Result<HashMap<FeedId, Saved>, StoreError>>;

    /// Announces this instance (again: it renews its membership); `left` on a clean stop.
    fn announce<'a>(
        &'a self,
        member: &'a str,
        url: Option<&'a str>,
        left: bool,
    ) -> BoxFuture<'a, Result<(), StoreError>>;
}

/// Which bucket a feed belongs to: FNV-1a of its id, so every instance computes the same.
pub fn bucket_of(id: &str, buckets: u32) -> u32 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in id.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    (hash % u64::from(buckets.max(1))) as u32
}

/// A feed record as both stores keep it: no secret in the clear.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StoredFeed {
    pub trigger: String,
    pub kind: String,
    pub api_host: String,
    /// The source's settings with the secret fields taken out.
    pub config: Value,
    /// The owner's key (`authKey`) and the secret fields (by JSON pointer), sealed.
    pub secrets: SealedBox,
    #[serde(flatten)]
    pub state: FeedState,
    pub date_changed: u64,
    pub start: Start,
}

const AUTH_KEY_SECRET: &str = "authKey";

/// Turns records into stored documents and back: takes the secret fields out (which fields, each
/// source says) and seals them.
pub struct Sealer {
    keyring: Keyring,
    secret_fields: HashMap<String, &'static [&'static str]>,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sealer")
            .field("keyring", &self.keyring)
            .finish_non_exhaustive()
    }
}

impl Sealer {
    pub fn new(keyring: Keyring, secret_fields: HashMap<String, &'static [&'static str]>) -> Self {
        Self {
            keyring,
            secret_fields,
        }
    }

    pub fn current_key(&self) -> &str {
        self.keyring.current()
    }

    fn fields(&self, kind: &str) -> &'static [&'static str] {
        self.secret_fields.get(kind).copied().unwrap_or(&[])
    }

    pub fn to_stored(&self, record: &FeedRecord) -> Result<StoredFeed, StoreError> {
        let mut config = record.config.clone();
        let mut secrets = BTreeMap::new();
        secrets.insert(AUTH_KEY_SECRET.to_owned(), record.auth_key.expose());
        for pointer in self.fields(&record.kind) {
            if let Some(value) = pointer_take(&mut config, pointer) {
                let text = match value {
                    Value::String(text) => text,
                    other => other.to_string(),
                };
                secrets.insert((*pointer).to_owned(), text);
            }
        }
        Ok(StoredFeed {
            trigger: record.id.clone(),
            kind: record.kind.clone(),
            api_host: record.api_host.clone(),
            config,
            secrets: self.keyring.seal_map(&record.id, &secrets)?,
            state: record.state.clone(),
            date_changed: record.date_changed,
            start: record.start.clone(),
        })
    }

    pub fn from_stored(
        &self,
        stored: StoredFeed,
        rev: Option<String>,
    ) -> Result<FeedRecord, StoreError> {
        let mut secrets = self.keyring.open_map(&stored.trigger, &stored.secrets)?;
        let key = secrets.remove(AUTH_KEY_SECRET).unwrap_or_default();
        let auth_key = AuthKey::parse(&key).map_err(|problem| {
            StoreError::Unreadable(format!("the stored key of {}: {problem}", stored.trigger))
        })?;
        let mut config = stored.config;
        for (pointer, value) in secrets {
            pointer_put(&mut config, &pointer, Value::String(value));
        }
        Ok(FeedRecord {
            id: stored.trigger,
            rev,
            kind: stored.kind,
            api_host: stored.api_host,
            auth_key,
            config,
            state: stored.state,
            date_changed: stored.date_changed,
            sealed_with: Some(stored.secrets.key.clone()),
            start: stored.start,
        })
    }
}

/// Shared by both stores.
pub type SharedSealer = Arc<Sealer>;

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    pub(crate) fn sealer() -> Sealer {
        let mut fields = HashMap::new();
        fields.insert(
            "changes".to_owned(),
            &["/database/password"] as &'static [&'static str],
        );
        Sealer::new(
            Keyring::parse("k1 AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=").expect("key"),
            fields,
        )
    }

    pub(crate) fn record(id: &str) -> FeedRecord {
        FeedRecord {
            id: id.into(),
            rev: None,
            kind: "changes".into(),
            api_host: "http://127.0.0.1:1".into(),
            auth_key: AuthKey::parse("uuid:owner-key-secret").expect("key"),
            config: json!({"database": {"url": "http://db", "name": "d", "username": "u", "password": "db-password-secret"}, "includeDocs": true}),
            state: FeedState::Active,
            date_changed: 5,
            start: Start::at(json!(0)),
            sealed_with: None,
        }
    }

    #[test]
    fn stored_documents_hold_no_secret_and_read_back_whole() {
        let sealer = sealer();
        let original = record("/guest/a");
        let stored = sealer.to_stored(&original).expect("seal");
        let text = serde_json::to_string(&stored).expect("json");
        assert!(!text.contains("owner-key-secret"), "{text}");
        assert!(!text.contains("db-password-secret"), "{text}");
        assert!(text.contains("\"state\":\"active\""), "{text}");
        let back = sealer
            .from_stored(
                serde_json::from_str(&text).expect("parse"),
                Some("1".into()),
            )
            .expect("open");
        let mut expected = original;
        expected.rev = Some("1".into());
        expected.sealed_with = Some("k1".into());
        assert_eq!(back, expected);
    }

    #[test]
    fn buckets_are_stable_and_spread() {
        assert_eq!(bucket_of("/guest/a", 1), 0);
        let a = bucket_of("/guest/a", 64);
        assert_eq!(a, bucket_of("/guest/a", 64));
        let used: std::collections::BTreeSet<u32> = (0..1000)
            .map(|index| bucket_of(&format!("/guest/t{index}"), 64))
            .collect();
        assert!(used.len() > 60, "{}", used.len());
    }
}
