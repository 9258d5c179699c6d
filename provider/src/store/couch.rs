//! The fleet's store: one CouchDB database (by default `changes_provider`) that every instance
//! reads and writes, and whose `_changes` feed every instance follows.
//!
//! Documents (no secret in any id; `type` tells them apart):
//!
//! - `fleet`: `{"buckets": N}`, written by the first instance; every instance takes N from it.
//! - `feed:{namespace}:{trigger}`: a feed's record ([`StoredFeed`], secrets sealed).
//! - `bucket:{n}`: a bucket's lease (`owner`, `epoch`) and the positions of its feeds
//!   (`positions: {feed: {reset, position}}`). Only its holder writes it, each write a
//!   compare-and-swap on the revision the holder last wrote, so a write of an instance that lost
//!   the bucket is refused (the fence); every write renews the lease (others watch the revision
//!   change).
//! - `member:{id}`: an instance (`url`), rewritten regularly as its heartbeat, deleted when it
//!   stops cleanly (or by the others once it was not renewed for ten leases).
//!
//! CouchDB in a cluster may answer 202 (accepted by fewer nodes than the quorum) or let two
//! writes of one revision both in, leaving a conflicted document instead of a 409. A claim
//! answered 202 counts only once read back as the winning revision without conflicts; a
//! conflicted document seen in the change feed is resolved by deleting its losing revisions (the
//! winner is the same on every node), and an instance whose lease revision lost gives the bucket
//! up.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use feedkit::Secret;
use hyper::Method;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::sync::mpsc;

use super::{
    BoxFuture, BucketView, Claimed, Followed, Lease, MemberView, SharedSealer, Store, StoreError,
    StoreEvent, StoredFeed,
};
use crate::http::{self, HttpClient, LineReader, basic_auth, encode_component};
use crate::model::{FeedId, FeedRecord, Saved};

const FLEET_DOC: &str = "fleet";
/// Documents per page when an instance reads the whole registry...
const SNAPSHOT_PAGE: usize = 500;
/// ... and how long a page may take (a busy registry with many revisions is slow to page).
const SNAPSHOT_TIMEOUT: Duration = Duration::from_secs(60);
/// Calls to the registry that take longer fail (the lease logic treats that as unreachable).
const CALL_TIMEOUT: Duration = Duration::from_secs(10);

/// Where the fleet's database is.
#[derive(Debug, Clone)]
pub struct CouchStoreOptions {
    /// `http(s)://host[:port][/prefix]`, without credentials.
    pub url: String,
    pub database: String,
    pub username: Option<String>,
    pub password: Option<Secret>,
    /// Buckets of a new fleet (an existing fleet keeps its own number).
    pub buckets: u32,
    /// Heartbeat asked of the registry's change feed.
    pub heartbeat: Duration,
    /// Waits between reconnects of the change feed.
    pub retry: Duration,
}

#[derive(Debug, Serialize, Deserialize)]
struct BucketDoc {
    #[serde(rename = "_id")]
    id: String,
    #[serde(rename = "_rev", default, skip_serializing_if = "Option::is_none")]
    rev: Option<String>,
    #[serde(rename = "type")]
    kind: String,
    owner: Option<String>,
    epoch: u64,
    #[serde(default)]
    positions: BTreeMap<FeedId, Saved>,
}

fn bucket_id(bucket: u32) -> String {
    format!("bucket:{bucket}")
}

/// `feed:{namespace}:{trigger}` for `/namespace/trigger` (names cannot hold `:` or `/`).
pub fn feed_doc_id(id: &str) -> String {
    format!("feed:{}", id.trim_start_matches('/').replacen('/', ":", 1))
}

fn member_id(member: &str) -> String {
    format!("member:{member}")
}

fn registry_error(what: &str, status: u16, body: &Value) -> StoreError {
    let reason = body
        .get("reason")
        .or_else(|| body.get("error"))
        .and_then(Value::as_str)
        .unwrap_or("");
    StoreError::Unavailable(format!(
        "the registry answered {what} with HTTP {status} {reason}"
    ))
}

/// The fleet's store (see the module docs).
pub struct CouchStore {
    http: HttpClient,
    /// `{url}/{database}`.
    db_url: String,
    authorization: Option<String>,
    options: CouchStoreOptions,
    buckets: u32,
    sealer: SharedSealer,
    /// The whole position map of every bucket held here (a bucket document is rewritten whole).
    held: Mutex<HashMap<u32, BTreeMap<FeedId, Saved>>>,
    /// This instance's member document's revision.
    member_rev: Mutex<Option<String>>,
}

impl CouchStore {
    /// Opens the fleet's database, creating it and the fleet document on first use.
    pub async fn open(
        http: HttpClient,
        options: CouchStoreOptions,
        sealer: SharedSealer,
    ) -> Result<Self, StoreError> {
        let db_url = format!(
            "{}/{}",
            options.url.trim_end_matches('/'),
            encode_component(&options.database)
        );
        let authorization = options.username.as_ref().map(|user| {
            basic_auth(
                user,
                options
                    .password
                    .as_ref()
                    .map_or("", |secret| secret.expose()),
            )
        });
        let mut store = Self {
            http,
            db_url,
            authorization,
            buckets: options.buckets.max(1),
            options,
            sealer,
            held: Mutex::new(HashMap::new()),
            member_rev: Mutex::new(None),
        };
        let (status, body) = store.call(Method::PUT, "", None).await?;
        if !matches!(status, 201 | 202 | 412) {
            return Err(registry_error("creating the database", status, &body));
        }
        let fleet = json!({"_id": FLEET_DOC, "type": "fleet", "buckets": store.buckets});
        let (status, body) = store.call(Method::PUT, FLEET_DOC, Some(&fleet)).await?;
        if !matches!(status, 201 | 202 | 409) {
            return Err(registry_error("writing the fleet document", status, &body));
        }
        let (status, body) = store.call(Method::GET, FLEET_DOC, None).await?;
        match body.get("buckets").and_then(Value::as_u64) {
            Some(buckets) if status == 200 && buckets > 0 => store.buckets = buckets as u32,
            _ => return Err(registry_error("reading the fleet document", status, &body)),
        }
        Ok(store)
    }

    fn held(&self) -> MutexGuard<'_, HashMap<u32, BTreeMap<FeedId, Saved>>> {
        self.held
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// One call to `{db}/{path}` (`path` already encoded).
    async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<(u16, Value), StoreError> {
        self.call_within(method, path, body, CALL_TIMEOUT).await
    }

    async fn call_within(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        timeout: Duration,
    ) -> Result<(u16, Value), StoreError> {
        let url = if path.is_empty() {
            self.db_url.clone()
        } else {
            format!("{}/{path}", self.db_url)
        };
        let headers: Vec<(&str, &str)> = self
            .authorization
            .iter()
            .map(|value| ("authorization", value.as_str()))
            .collect();
        http::json_request(&self.http, method, &url, &headers, body, timeout)
            .await
            .map_err(|error| {
                StoreError::Unavailable(format!(
                    "the registry {} is not reachable: {error}",
                    self.options.url
                ))
            })
    }

    fn decode_feed(&self, doc: &Value) -> Result<FeedRecord, StoreError> {
        let rev = doc.get("_rev").and_then(Value::as_str).map(str::to_owned);
        let stored: StoredFeed = serde_json::from_value(doc.clone()).map_err(|error| {
            StoreError::Unreadable(format!(
                "the registry's document {} is not a feed: {error}",
                doc.get("_id").and_then(Value::as_str).unwrap_or("?")
            ))
        })?;
        self.sealer.from_stored(stored, rev)
    }

    /// Reads a document with its conflicts; `None` when there is none.
    async fn get_doc(&self, id: &str) -> Result<Option<Value>, StoreError> {
        let path = format!("{}?conflicts=true", encode_component(id));
        let (status, body) = self.call(Method::GET, &path, None).await?;
        match status {
            200 => Ok(Some(body)),
            404 => Ok(None),
            _ => Err(registry_error(&format!("GET {id}"), status, &body)),
        }
    }

    /// Writes a document (compare-and-swap on its `_rev`); the new revision, and whether the
    /// server only accepted it (202) without a quorum.
    async fn put_doc(&self, id: &str, doc: &Value) -> Result<(String, bool), StoreError> {
        let (status, body) = self
            .call(Method::PUT, &encode_component(id), Some(doc))
            .await?;
        match status {
            201 | 202 => body
                .get("rev")
                .and_then(Value::as_str)
                .map(|rev| (rev.to_owned(), status == 202))
                .ok_or_else(|| registry_error(&format!("PUT {id}"), status, &body)),
            409 => Err(StoreError::Conflict),
            _ => Err(registry_error(&format!("PUT {id}"), status, &body)),
        }
    }

    /// Deletes the losing revisions of a conflicted document (CouchDB picks the same winner on
    /// every node, so every instance may do this; a loser already gone is fine).
    async fn resolve_conflicts(&self, id: &str, losers: &[String]) {
        for rev in losers {
            let path = format!("{}?rev={}", encode_component(id), encode_component(rev));
            match self.call(Method::DELETE, &path, None).await {
                Ok((200 | 202, _)) => {
                    tracing::info!(doc = %id, rev = %rev, "deleted a conflicting revision");
                }
                // Gone already, or extended meanwhile (its next revision shows up in turn).
                Ok((404 | 409, _)) => {}
                Ok((status, body)) => {
                    tracing::warn!(doc = %id, "could not resolve a conflict: HTTP {status} {body}");
                }
                Err(error) => tracing::warn!(doc = %id, "could not resolve a conflict: {error}"),
            }
        }
    }

    /// A bucket document with conflicting revisions (two holders both wrote, each accepted by
    /// some node): the lease is the branch with the highest epoch (then owner id), whichever
    /// branch CouchDB shows as winning (that depends on which holder wrote last, and flips as
    /// they write); every other branch is deleted. Answers the lease's owner, epoch and
    /// revision.
    async fn resolve_lease(
        &self,
        id: &str,
        shown: (Option<String>, u64, String),
        conflicts: &[String],
    ) -> (Option<String>, u64, String) {
        let mut branches = vec![shown];
        for rev in conflicts {
            let path = format!("{}?rev={}", encode_component(id), encode_component(rev));
            if let Ok((200, doc)) = self.call(Method::GET, &path, None).await {
                branches.push((
                    doc.get("owner").and_then(Value::as_str).map(str::to_owned),
                    doc.get("epoch").and_then(Value::as_u64).unwrap_or(0),
                    rev.clone(),
                ));
            }
        }
        branches.sort_by(|a, b| (a.1, &a.0, &a.2).cmp(&(b.1, &b.0, &b.2)));
        let lease = branches.pop().unwrap_or_default();
        let losers: Vec<String> = branches.into_iter().map(|(_, _, rev)| rev).collect();
        self.resolve_conflicts(id, &losers).await;
        lease
    }

    /// What one document of the change feed means; conflicts are resolved on the way.
    async fn event(&self, change: &Value) -> Option<StoreEvent> {
        let id = change.get("id").and_then(Value::as_str)?;
        let deleted = change.get("deleted").and_then(Value::as_bool) == Some(true);
        let doc = change.get("doc").cloned().unwrap_or(Value::Null);
        let rev = doc
            .get("_rev")
            .and_then(Value::as_str)
            .or_else(|| change.pointer("/changes/0/rev").and_then(Value::as_str))
            .unwrap_or("")
            .to_owned();
        let conflicts: Vec<String> = doc
            .get("_conflicts")
            .and_then(Value::as_array)
            .map(|revs| {
                revs.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default();
        if let Some(number) = id.strip_prefix("bucket:") {
            let bucket = number.parse().ok()?;
            let owner = doc.get("owner").and_then(Value::as_str).map(str::to_owned);
            let epoch = doc.get("epoch").and_then(Value::as_u64).unwrap_or(0);
            let (owner, epoch, rev) = if conflicts.is_empty() {
                (owner, epoch, rev)
            } else {
                self.resolve_lease(id, (owner, epoch, rev), &conflicts)
                    .await
            };
            return Some(StoreEvent::Bucket(BucketView {
                bucket,
                owner: if deleted { None } else { owner },
                epoch,
                rev,
                conflicted: !conflicts.is_empty(),
            }));
        }
        if !conflicts.is_empty() {
            self.resolve_conflicts(id, &conflicts).await;
        }
        if let Some(rest) = id.strip_prefix("feed:") {
            if deleted {
                let (namespace, name) = rest.split_once(':')?;
                return Some(StoreEvent::FeedDeleted {
                    id: format!("/{namespace}/{name}"),
                    rev,
                });
            }
            return match self.decode_feed(&doc) {
                Ok(record) => Some(StoreEvent::Feed(Box::new(record))),
                Err(error) => {
                    tracing::error!(doc = %id, "skipping a feed this instance cannot read: {error}");
                    None
                }
            };
        }
        if let Some(member) = id.strip_prefix("member:") {
            return Some(StoreEvent::Member(MemberView {
                id: member.to_owned(),
                url: doc.get("url").and_then(Value::as_str).map(str::to_owned),
                rev,
                left: deleted,
            }));
        }
        None
    }

    /// Follows the change feed from `since` for ever, reconnecting after failures.
    async fn follow_from(self: Arc<Self>, mut since: Value, events: mpsc::Sender<StoreEvent>) {
        loop {
            match self.follow_once(&mut since, &events).await {
                Ok(()) => return,
                Err(error) => {
                    tracing::warn!("the registry's change feed broke: {error}");
                    tokio::time::sleep(self.options.retry).await;
                }
            }
        }
    }

    /// One connection to the change feed; `Ok` when nobody listens any more.
    async fn follow_once(
        &self,
        since: &mut Value,
        events: &mpsc::Sender<StoreEvent>,
    ) -> Result<(), String> {
        let heartbeat = self.options.heartbeat;
        let url = format!(
            "{}/_changes?feed=continuous&include_docs=true&conflicts=true&heartbeat={}&since={}",
            self.db_url,
            heartbeat.as_millis(),
            encode_component(&crate::changes::seq_text(since))
        );
        let mut request =
            hyper::Request::get(url).header(hyper::header::ACCEPT, "application/json");
        if let Some(authorization) = &self.authorization {
            request = request.header(hyper::header::AUTHORIZATION, authorization);
        }
        let request = request
            .body(http_body_util::Full::new(bytes::Bytes::new()))
            .map_err(|error| error.to_string())?;
        let response = http::send(&self.http, request, heartbeat + CALL_TIMEOUT)
            .await
            .map_err(|error| format!("the registry is not reachable: {error}"))?;
        if response.status() != 200 {
            return Err(format!("the registry answered HTTP {}", response.status()));
        }
        if events.send(StoreEvent::Reconnected).await.is_err() {
            return Ok(());
        }
        let mut reader = LineReader::new(response.into_body(), heartbeat);
        loop {
            let Some(line) = reader.next_line(true).await? else {
                continue;
            };
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            let change: Value = serde_json::from_slice(&line)
                .map_err(|error| format!("a line of the change feed is not JSON: {error}"))?;
            if change.get("last_seq").is_some() && change.get("id").is_none() {
                return Err("the registry ended the change feed".into());
            }
            if let Some(seq) = change.get("seq") {
                *since = seq.clone();
            }
            if let Some(event) = self.event(&change).await
                && events.send(event).await.is_err()
            {
                return Ok(());
            }
        }
    }

    async fn write_bucket(
        &self,
        bucket: u32,
        rev: Option<&str>,
        owner: Option<&str>,
        epoch: u64,
        positions: &BTreeMap<FeedId, Saved>,
    ) -> Result<(String, bool), StoreError> {
        let doc = BucketDoc {
            id: bucket_id(bucket),
            rev: rev.map(str::to_owned),
            kind: "bucket".into(),
            owner: owner.map(str::to_owned),
            epoch,
            positions: positions.clone(),
        };
        let doc = serde_json::to_value(doc)
            .map_err(|error| StoreError::Unavailable(error.to_string()))?;
        self.put_doc(&bucket_id(bucket), &doc).await
    }

    /// A claim answered 202 counts only when it reads back as the winner without conflicts.
    async fn confirm(&self, bucket: u32, rev: &str) -> Result<(), StoreError> {
        let doc = self
            .get_doc(&bucket_id(bucket))
            .await?
            .unwrap_or(Value::Null);
        let winner = doc.get("_rev").and_then(Value::as_str);
        let conflicted = doc
            .get("_conflicts")
            .and_then(Value::as_array)
            .is_some_and(|revs| !revs.is_empty());
        if winner == Some(rev) && !conflicted {
            Ok(())
        } else {
            Err(StoreError::Conflict)
        }
    }
}

fn merge(positions: &mut BTreeMap<FeedId, Saved>, moved: Vec<(FeedId, Option<Saved>)>) {
    for (id, saved) in moved {
        match saved {
            Some(saved) => {
                positions.insert(id, saved);
            }
            None => {
                positions.remove(&id);
            }
        }
    }
}

impl Store for Arc<CouchStore> {
    fn describe(&self) -> String {
        format!(
            "fleet store {} database {:?} ({} buckets)",
            self.options.url, self.options.database, self.buckets
        )
    }

    fn buckets(&self) -> u32 {
        self.buckets
    }

    fn exclusive(&self) -> bool {
        false
    }

    fn follow(&self) -> BoxFuture<'_, Result<Followed, StoreError>> {
        Box::pin(async move {
            let (sender, receiver) = mpsc::channel(4096);
            let mut records = Vec::new();
            // Where the change feed will start: taken before everything is read, so that what
            // changes meanwhile comes again through the feed (applying it twice is harmless).
            let (status, info) = self.call(Method::GET, "", None).await?;
            if status != 200 {
                return Err(registry_error("reading the database", status, &info));
            }
            let since = info.get("update_seq").cloned().unwrap_or(Value::from(0));
            // Everything there is, a page at a time in id order (`_all_docs` walks its index;
            // a `_changes` read from 0 gets slow once documents have many revisions).
            let mut after: Option<String> = None;
            loop {
                let mut path =
                    format!("_all_docs?include_docs=true&conflicts=true&limit={SNAPSHOT_PAGE}");
                if let Some(last) = &after {
                    path.push_str("&skip=1&startkey=");
                    path.push_str(&encode_component(&Value::from(last.clone()).to_string()));
                }
                let (status, body) = self
                    .call_within(Method::GET, &path, None, SNAPSHOT_TIMEOUT)
                    .await?;
                if status != 200 {
                    return Err(registry_error("reading every document", status, &body));
                }
                let rows = body
                    .get("rows")
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default();
                for row in &rows {
                    // A row is shaped like a change: its id and the document.
                    match self.event(row).await {
                        Some(StoreEvent::Feed(record)) => records.push(*record),
                        Some(StoreEvent::FeedDeleted { .. }) | None => {}
                        // Buckets and members go to the node first thing.
                        Some(event) => {
                            let _ = sender.try_send(event);
                        }
                    }
                }
                after = rows
                    .last()
                    .and_then(|row| row.get("id"))
                    .and_then(Value::as_str)
                    .map(str::to_owned);
                if rows.len() < SNAPSHOT_PAGE {
                    break;
                }
            }
            tokio::spawn(self.clone().follow_from(since, sender));
            Ok((records, receiver))
        })
    }

    fn get(&self, id: &str) -> BoxFuture<'_, Result<Option<FeedRecord>, StoreError>> {
        let doc_id = feed_doc_id(id);
        Box::pin(async move {
            let path = encode_component(&doc_id);
            let (status, body) = self.call(Method::GET, &path, None).await?;
            match status {
                200 => self.decode_feed(&body).map(Some),
                404 => Ok(None),
                _ => Err(registry_error(&format!("GET {doc_id}"), status, &body)),
            }
        })
    }

    fn put<'a>(&'a self, record: &'a FeedRecord) -> BoxFuture<'a, Result<String, StoreError>> {
        Box::pin(async move {
            let stored = self.sealer.to_stored(record)?;
            let mut doc = serde_json::to_value(stored)
                .map_err(|error| StoreError::Unavailable(error.to_string()))?;
            let id = feed_doc_id(&record.id);
            if let Some(object) = doc.as_object_mut() {
                object.insert("_id".into(), Value::from(id.clone()));
                object.insert("type".into(), Value::from("feed"));
                if let Some(rev) = &record.rev {
                    object.insert("_rev".into(), Value::from(rev.clone()));
                }
            }
            self.put_doc(&id, &doc).await.map(|(rev, _)| rev)
        })
    }

    fn delete<'a>(&'a self, id: &'a str, rev: &'a str) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            let doc_id = feed_doc_id(id);
            let path = format!(
                "{}?rev={}",
                encode_component(&doc_id),
                encode_component(rev)
            );
            let (status, body) = self.call(Method::DELETE, &path, None).await?;
            match status {
                200 | 202 | 404 => Ok(()),
                409 => Err(StoreError::Conflict),
                _ => Err(registry_error(&format!("DELETE {doc_id}"), status, &body)),
            }
        })
    }

    fn claim<'a>(
        &'a self,
        bucket: u32,
        owner: &'a str,
        epoch: u64,
        observed: Option<&'a str>,
    ) -> BoxFuture<'a, Result<Claimed, StoreError>> {
        Box::pin(async move {
            let current = self.get_doc(&bucket_id(bucket)).await?;
            let (rev, positions) = match &current {
                None if observed.is_none() => (None, BTreeMap::new()),
                Some(doc) if doc.get("_rev").and_then(Value::as_str) == observed => {
                    let doc: BucketDoc = serde_json::from_value(doc.clone()).map_err(|error| {
                        StoreError::Unreadable(format!("bucket {bucket}: {error}"))
                    })?;
                    (doc.rev, doc.positions)
                }
                // Someone wrote it since it was seen: decide again on the newer view.
                _ => return Err(StoreError::Conflict),
            };
            let (new_rev, accepted_only) = self
                .write_bucket(bucket, rev.as_deref(), Some(owner), epoch, &positions)
                .await?;
            if accepted_only {
                self.confirm(bucket, &new_rev).await?;
            }
            self.held().insert(bucket, positions.clone());
            let lease = Lease {
                bucket,
                owner: owner.to_owned(),
                epoch,
                rev: new_rev,
            };
            Ok((lease, positions.into_iter().collect()))
        })
    }

    fn renew<'a>(
        &'a self,
        lease: &'a Lease,
        positions: Vec<(FeedId, Option<Saved>)>,
    ) -> BoxFuture<'a, Result<Lease, StoreError>> {
        Box::pin(async move {
            let mut merged = self.held().get(&lease.bucket).cloned().unwrap_or_default();
            merge(&mut merged, positions);
            let written = self
                .write_bucket(
                    lease.bucket,
                    Some(&lease.rev),
                    Some(&lease.owner),
                    lease.epoch,
                    &merged,
                )
                .await;
            match written {
                Ok((rev, _)) => {
                    self.held().insert(lease.bucket, merged);
                    Ok(Lease {
                        rev,
                        ..lease.clone()
                    })
                }
                Err(StoreError::Conflict) => {
                    self.held().remove(&lease.bucket);
                    Err(StoreError::Conflict)
                }
                Err(error) => Err(error),
            }
        })
    }

    fn release<'a>(
        &'a self,
        lease: &'a Lease,
        positions: Vec<(FeedId, Option<Saved>)>,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            let mut merged = self.held().remove(&lease.bucket).unwrap_or_default();
            merge(&mut merged, positions);
            self.write_bucket(lease.bucket, Some(&lease.rev), None, lease.epoch, &merged)
                .await
                .map(|_| ())
        })
    }

    fn forget_member<'a>(
        &'a self,
        member: &'a str,
        rev: &'a str,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            let id = member_id(member);
            let path = format!("{}?rev={}", encode_component(&id), encode_component(rev));
            match self.call(Method::DELETE, &path, None).await? {
                // Gone already, or renewed meanwhile (then it is not gone at all).
                (200 | 202 | 404 | 409, _) => Ok(()),
                (status, body) => Err(registry_error("forgetting a member", status, &body)),
            }
        })
    }

    fn current_key(&self) -> String {
        self.sealer.current_key().to_owned()
    }

    fn positions(&self, bucket: u32) -> BoxFuture<'_, Result<HashMap<FeedId, Saved>, StoreError>> {
        Box::pin(async move {
            if let Some(held) = self.held().get(&bucket) {
                return Ok(held.clone().into_iter().collect());
            }
            let Some(doc) = self.get_doc(&bucket_id(bucket)).await? else {
                return Ok(HashMap::new());
            };
            let doc: BucketDoc = serde_json::from_value(doc)
                .map_err(|error| StoreError::Unreadable(format!("bucket {bucket}: {error}")))?;
            Ok(doc.positions.into_iter().collect())
        })
    }

    fn announce<'a>(
        &'a self,
        member: &'a str,
        url: Option<&'a str>,
        left: bool,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            let id = member_id(member);
            for _ in 0..3 {
                let rev = self
                    .member_rev
                    .lock()
                    .unwrap_or_else(|poisoned| poisoned.into_inner())
                    .clone();
                let result = if left {
                    let Some(rev) = rev else { return Ok(()) };
                    let path = format!("{}?rev={}", encode_component(&id), encode_component(&rev));
                    match self.call(Method::DELETE, &path, None).await? {
                        (200 | 202 | 404, _) => return Ok(()),
                        (409, _) => Err(StoreError::Conflict),
                        (status, body) => Err(registry_error("leaving the fleet", status, &body)),
                    }
                } else {
                    let mut doc = json!({"_id": id, "type": "member", "url": url});
                    if let Some(rev) = &rev {
                        doc["_rev"] = Value::from(rev.clone());
                    }
                    self.put_doc(&id, &doc).await.map(|(rev, _)| {
                        *self
                            .member_rev
                            .lock()
                            .unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(rev);
                    })
                };
                match result {
                    Ok(()) => return Ok(()),
                    Err(StoreError::Conflict) => {
                        // Our revision is stale (an earlier write's answer was lost): read it.
                        let current = self.get_doc(&id).await?.and_then(|doc| {
                            doc.get("_rev").and_then(Value::as_str).map(str::to_owned)
                        });
                        *self
                            .member_rev
                            .lock()
                            .unwrap_or_else(|poisoned| poisoned.into_inner()) = current;
                    }
                    Err(error) => return Err(error),
                }
            }
            Err(StoreError::Conflict)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::tests::sealer;
    use fakes::{Recorded, Reply, ScriptedServer};

    /// A CouchDB cluster as its API describes it, for what pouchdb-server never answers: a
    /// write accepted by fewer nodes than the quorum (202), and the conflicted document it may
    /// leave. Bucket 3 is free (`1-free`) until written; read back after the write it shows
    /// `winner`, with our revision among its conflicts when another write won.
    fn cluster(winner: &'static str) -> ScriptedServer {
        let reads = std::sync::atomic::AtomicUsize::new(0);
        ScriptedServer::start(move |request: &Recorded| {
            match (request.method.as_str(), request.url.as_str()) {
                ("PUT", "/registry") => Reply::json(412, &json!({"error": "file_exists"})),
                ("PUT", "/registry/fleet") => Reply::json(409, &json!({"error": "conflict"})),
                ("GET", "/registry/fleet") => {
                    Reply::json(200, &json!({"_id": "fleet", "buckets": 8}))
                }
                ("PUT", "/registry/bucket%3A3") => Reply::json(
                    202,
                    &json!({"ok": true, "id": "bucket:3", "rev": "2-ours"}),
                ),
                ("GET", "/registry/bucket%3A3?conflicts=true") => {
                    let first = reads.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 0;
                    let doc = if first {
                        json!({"_id": "bucket:3", "_rev": "1-free", "type": "bucket",
                               "owner": null, "epoch": 1, "positions": {"/g/t": {"reset": 1, "position": 7}}})
                    } else if winner == "2-ours" {
                        json!({"_id": "bucket:3", "_rev": winner, "type": "bucket",
                               "owner": "me", "epoch": 2, "positions": {}})
                    } else {
                        json!({"_id": "bucket:3", "_rev": winner, "type": "bucket",
                               "owner": "other", "epoch": 2, "positions": {},
                               "_conflicts": ["2-ours"]})
                    };
                    Reply::json(200, &doc)
                }
                _ => Reply::json(404, &json!({"error": "not_found"})),
            }
        })
        .expect("fake cluster")
    }

    async fn open(server: &ScriptedServer) -> Arc<CouchStore> {
        let store = CouchStore::open(
            crate::http::client(4).expect("client"),
            CouchStoreOptions {
                url: server.url(),
                database: "registry".into(),
                username: None,
                password: None,
                buckets: 16,
                heartbeat: Duration::from_secs(1),
                retry: Duration::from_millis(100),
            },
            Arc::new(sealer()),
        )
        .await
        .expect("open");
        Arc::new(store)
    }

    #[test]
    fn a_claim_accepted_without_a_quorum_counts_only_if_it_reads_back_as_the_winner() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        runtime.block_on(async {
            let won = cluster("2-ours");
            let store = open(&won).await;
            // The fleet's number of buckets wins over ours.
            assert_eq!(store.buckets(), 8);
            let (lease, positions) = store.claim(3, "me", 2, Some("1-free")).await.expect("held");
            assert_eq!((lease.rev.as_str(), lease.epoch), ("2-ours", 2));
            assert_eq!(positions["/g/t"].position, json!(7));

            let lost = cluster("2-theirs");
            let store = open(&lost).await;
            let refused = store.claim(3, "me", 2, Some("1-free")).await;
            assert!(matches!(refused, Err(StoreError::Conflict)), "{refused:?}");
            assert!(store.held().is_empty());
        });
    }

    #[test]
    fn document_ids_hold_names_only() {
        assert_eq!(feed_doc_id("/guest/my trigger"), "feed:guest:my trigger");
        assert_eq!(bucket_id(7), "bucket:7");
        assert_eq!(member_id("i-1"), "member:i-1");
    }
}
