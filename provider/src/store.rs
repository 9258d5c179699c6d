//! The durable store: every feed's registration and position in one append-only log of JSON lines
//! in the data directory, so that the provider needs nothing else to run.
//!
//! - `{"put": {...}}` writes a whole feed (registration, state, position), `{"pos": {...}}` moves a
//!   feed's position, `{"del": {...}}` removes a feed. Replaying the lines in order gives the state.
//! - Registrations are flushed to disk (`fdatasync`) before the call returns. Positions are written
//!   to the file at once (a killed process loses none of them) and flushed by [`Store::sync`] every
//!   second: a machine crash can only make the feed fire a few changes again, never skip one.
//! - A line torn by a crash can only be the last one; it is cut off when the log is opened.
//! - The log is rewritten (to a temporary file, flushed, renamed over) on open and whenever it
//!   grows to several times its live size.
//! - The file holds the trigger owners' keys and database passwords: it is created with mode 0600
//!   in a directory created with mode 0700, and nothing here prints a record.

use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io::{BufRead, BufReader, Seek, SeekFrom, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use feedkit::AuthKey;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::model::{FeedConfig, FeedRecord, FeedState, Seq};

/// The log's file name inside the data directory.
pub const LOG_FILE: &str = "feeds.log";
/// The log is rewritten when it has grown to this many times its live contents...
const COMPACT_FACTOR: u64 = 4;
/// ... and to at least this, so that a small store is not rewritten all the time.
const COMPACT_MIN_BYTES: u64 = 1 << 20;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("the store {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the store {path} is damaged at line {line}: {problem}")]
    Corrupt {
        path: PathBuf,
        line: usize,
        problem: String,
    },
    #[error("no feed {0}")]
    NotFound(String),
}

/// A feed as it is written to the log: like [`FeedRecord`], with the secrets in the clear.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct StoredFeed {
    trigger: String,
    api_host: String,
    auth_key: String,
    config: Value,
    state: FeedState,
    date_changed: u64,
    position: Seq,
    generation: u64,
}

#[derive(Serialize, Deserialize)]
struct StoredPosition {
    id: String,
    #[serde(rename = "gen")]
    generation: u64,
    seq: Seq,
}

#[derive(Serialize, Deserialize)]
struct StoredDelete {
    id: String,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
enum Line {
    Put(StoredFeed),
    Pos(StoredPosition),
    Del(StoredDelete),
}

fn to_stored(record: &FeedRecord) -> StoredFeed {
    let mut config = serde_json::to_value(&record.config).unwrap_or(Value::Null);
    // `Secret` serializes redacted; the store is the one place that keeps the real value.
    if let (Some(password), Some(database)) = (
        &record.config.database.password,
        config.get_mut("database").and_then(Value::as_object_mut),
    ) {
        database.insert("password".into(), Value::from(password.expose()));
    }
    StoredFeed {
        trigger: record.trigger.clone(),
        api_host: record.api_host.clone(),
        auth_key: record.auth_key.expose(),
        config,
        state: record.state.clone(),
        date_changed: record.date_changed,
        position: record.position.clone(),
        generation: record.generation,
    }
}

fn from_stored(stored: StoredFeed) -> Result<FeedRecord, String> {
    let auth_key = AuthKey::parse(&stored.auth_key).map_err(str::to_owned)?;
    let config: FeedConfig =
        serde_json::from_value(stored.config).map_err(|error| error.to_string())?;
    Ok(FeedRecord {
        trigger: stored.trigger,
        api_host: stored.api_host,
        auth_key,
        config,
        state: stored.state,
        date_changed: stored.date_changed,
        position: stored.position,
        generation: stored.generation,
    })
}

struct Inner {
    file: File,
    feeds: HashMap<String, FeedRecord>,
    /// Bytes in the log file now.
    log_bytes: u64,
    /// The size at which the log is rewritten.
    compact_at: u64,
    /// Positions written since the last flush.
    dirty: bool,
}

/// The provider's durable state. All methods are short and synchronous (a write to the page cache,
/// at most one flush), safe to call from async tasks.
pub struct Store {
    dir: PathBuf,
    inner: Mutex<Inner>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("dir", &self.dir).finish()
    }
}

impl Store {
    /// Opens (or creates) the store in `dir` and returns it with the feeds it holds.
    pub fn open(dir: &Path) -> Result<(Self, Vec<FeedRecord>), StoreError> {
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| StoreError::Io { path, source }
        };
        if !dir.exists() {
            fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)
                .map_err(io(dir))?;
        }
        let path = dir.join(LOG_FILE);
        let feeds = if path.exists() {
            replay(&path)?
        } else {
            HashMap::new()
        };
        let (file, log_bytes) = rewrite(dir, &feeds)?;
        let records = feeds.values().cloned().collect();
        let store = Self {
            dir: dir.to_path_buf(),
            inner: Mutex::new(Inner {
                file,
                feeds,
                log_bytes,
                compact_at: compact_threshold(log_bytes),
                dirty: false,
            }),
        };
        Ok((store, records))
    }

    pub fn path(&self) -> PathBuf {
        self.dir.join(LOG_FILE)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic while holding the lock cannot leave the map half-updated: every change is one
        // insert or remove after the write succeeded.
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub fn get(&self, id: &str) -> Option<FeedRecord> {
        self.lock().feeds.get(id).cloned()
    }

    pub fn ids(&self) -> Vec<String> {
        self.lock().feeds.keys().cloned().collect()
    }

    pub fn len(&self) -> usize {
        self.lock().feeds.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Writes a whole feed and flushes it to disk.
    pub fn put(&self, record: FeedRecord) -> Result<(), StoreError> {
        let line = Line::Put(to_stored(&record));
        let mut inner = self.lock();
        self.append(&mut inner, &line, true)?;
        inner.feeds.insert(record.trigger.clone(), record);
        self.compact_if_large(&mut inner)
    }

    /// Removes a feed, flushed to disk. Removing an unknown feed is not an error.
    pub fn delete(&self, id: &str) -> Result<bool, StoreError> {
        let mut inner = self.lock();
        if !inner.feeds.contains_key(id) {
            return Ok(false);
        }
        let line = Line::Del(StoredDelete { id: id.to_owned() });
        self.append(&mut inner, &line, true)?;
        inner.feeds.remove(id);
        self.compact_if_large(&mut inner)?;
        Ok(true)
    }

    /// Moves a feed's position after a successful fire. Ignored (returns false) when the feed is
    /// gone or was registered again since `generation`.
    pub fn save_position(&self, id: &str, generation: u64, seq: &Seq) -> Result<bool, StoreError> {
        let mut inner = self.lock();
        match inner.feeds.get(id) {
            Some(record) if record.generation == generation => {}
            _ => return Ok(false),
        }
        let line = Line::Pos(StoredPosition {
            id: id.to_owned(),
            generation,
            seq: seq.clone(),
        });
        self.append(&mut inner, &line, false)?;
        if let Some(record) = inner.feeds.get_mut(id) {
            record.position = seq.clone();
        }
        self.compact_if_large(&mut inner)?;
        Ok(true)
    }

    /// Changes a feed's state (pause, unpause, disable) when it is still at `generation` (any
    /// generation when `None`); returns the updated record.
    pub fn set_state(
        &self,
        id: &str,
        generation: Option<u64>,
        state: FeedState,
        date_changed: u64,
    ) -> Result<Option<FeedRecord>, StoreError> {
        let mut inner = self.lock();
        let Some(mut record) = inner.feeds.get(id).cloned() else {
            return Err(StoreError::NotFound(id.to_owned()));
        };
        if generation.is_some_and(|generation| generation != record.generation) {
            return Ok(None);
        }
        record.state = state;
        record.date_changed = date_changed;
        let line = Line::Put(to_stored(&record));
        self.append(&mut inner, &line, true)?;
        inner.feeds.insert(id.to_owned(), record.clone());
        Ok(Some(record))
    }

    /// Flushes positions written since the last flush.
    pub fn sync(&self) -> Result<(), StoreError> {
        let mut inner = self.lock();
        if inner.dirty {
            inner.file.sync_data().map_err(|source| StoreError::Io {
                path: self.path(),
                source,
            })?;
            inner.dirty = false;
        }
        Ok(())
    }

    fn append(&self, inner: &mut Inner, line: &Line, flush: bool) -> Result<(), StoreError> {
        let io = |source| StoreError::Io {
            path: self.path(),
            source,
        };
        let mut text =
            serde_json::to_vec(line).map_err(|error| io(std::io::Error::other(error)))?;
        text.push(b'\n');
        // One write per line: a crash tears at most this line, which replay cuts off.
        inner.file.write_all(&text).map_err(io)?;
        inner.log_bytes += text.len() as u64;
        if flush {
            inner.file.sync_data().map_err(io)?;
            inner.dirty = false;
        } else {
            inner.dirty = true;
        }
        Ok(())
    }

    fn compact_if_large(&self, inner: &mut Inner) -> Result<(), StoreError> {
        if inner.log_bytes < inner.compact_at {
            return Ok(());
        }
        let (file, log_bytes) = rewrite(&self.dir, &inner.feeds)?;
        inner.file = file;
        inner.log_bytes = log_bytes;
        inner.compact_at = compact_threshold(log_bytes);
        inner.dirty = false;
        Ok(())
    }
}

/// After a rewrite the log holds only live records; it is rewritten again once it has grown to
/// several times that.
fn compact_threshold(live_bytes: u64) -> u64 {
    live_bytes
        .saturating_mul(COMPACT_FACTOR)
        .max(COMPACT_MIN_BYTES)
}

/// Reads the log, cutting off a torn last line.
fn replay(path: &Path) -> Result<HashMap<String, FeedRecord>, StoreError> {
    let io = |source| StoreError::Io {
        path: path.to_path_buf(),
        source,
    };
    let file = File::open(path).map_err(io)?;
    let mut reader = BufReader::new(file);
    let mut feeds = HashMap::new();
    let mut line = Vec::new();
    let mut number = 0;
    loop {
        line.clear();
        let read = reader.read_until(b'\n', &mut line).map_err(io)?;
        if read == 0 {
            break;
        }
        number += 1;
        let complete = line.last() == Some(&b'\n');
        let parsed = serde_json::from_slice::<Line>(&line);
        let line_error = match parsed {
            Ok(parsed) if complete => apply(&mut feeds, parsed).err(),
            Ok(_) => Some("the line is incomplete".to_owned()),
            Err(error) => Some(error.to_string()),
        };
        if let Some(problem) = line_error {
            let at_end = reader.fill_buf().map_err(io)?.is_empty();
            if at_end {
                // Torn by a crash in the middle of the last write: that write never returned, so
                // nothing relied on it. The rewrite after replay drops it.
                eprintln!(
                    "store: ignoring the incomplete last line {number} of {}",
                    path.display()
                );
                break;
            }
            return Err(StoreError::Corrupt {
                path: path.to_path_buf(),
                line: number,
                problem,
            });
        }
    }
    Ok(feeds)
}

fn apply(feeds: &mut HashMap<String, FeedRecord>, line: Line) -> Result<(), String> {
    match line {
        Line::Put(stored) => {
            let record = from_stored(stored)?;
            feeds.insert(record.trigger.clone(), record);
        }
        Line::Pos(position) => {
            if let Some(record) = feeds.get_mut(&position.id)
                && record.generation == position.generation
            {
                record.position = position.seq;
            }
        }
        Line::Del(delete) => {
            feeds.remove(&delete.id);
        }
    }
    Ok(())
}

/// Writes the live feeds to a fresh log and puts it in place; returns it open for appending.
fn rewrite(dir: &Path, feeds: &HashMap<String, FeedRecord>) -> Result<(File, u64), StoreError> {
    let path = dir.join(LOG_FILE);
    let temporary = dir.join(format!("{LOG_FILE}.tmp"));
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| StoreError::Io { path, source }
    };
    let mut text = Vec::new();
    for record in feeds.values() {
        serde_json::to_writer(&mut text, &Line::Put(to_stored(record)))
            .map_err(|error| io(&temporary)(std::io::Error::other(error)))?;
        text.push(b'\n');
    }
    {
        let mut file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&temporary)
            .map_err(io(&temporary))?;
        // `mode` applies only to a file it creates: a leftover temporary keeps its own mode.
        file.set_permissions(fs::Permissions::from_mode(0o600))
            .map_err(io(&temporary))?;
        file.write_all(&text).map_err(io(&temporary))?;
        file.sync_all().map_err(io(&temporary))?;
    }
    fs::rename(&temporary, &path).map_err(io(&path))?;
    File::open(dir)
        .and_then(|directory| directory.sync_all())
        .map_err(io(dir))?;
    let mut file = OpenOptions::new()
        .append(true)
        .open(&path)
        .map_err(io(&path))?;
    let end = file.seek(SeekFrom::End(0)).map_err(io(&path))?;
    Ok((file, end))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{DatabaseConfig, seq_zero};
    use feedkit::Secret;
    use serde_json::json;

    struct TempDir(PathBuf);

    impl TempDir {
        fn new(name: &str) -> Self {
            let path = std::env::temp_dir().join(format!(
                "changes-provider-store-{name}-{}-{}",
                std::process::id(),
                crate::model::now_millis()
            ));
            let _ = fs::remove_dir_all(&path);
            Self(path)
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    fn record(trigger: &str, generation: u64) -> FeedRecord {
        FeedRecord {
            trigger: trigger.into(),
            api_host: "http://127.0.0.1:1".into(),
            auth_key: AuthKey::parse("uuid:owner-key-secret").expect("key"),
            config: FeedConfig {
                database: DatabaseConfig {
                    url: "http://127.0.0.1:5984".into(),
                    name: "db".into(),
                    username: Some("admin".into()),
                    password: Some(Secret::new("db-password-secret")),
                },
                filter: None,
                selector: Some(json!({"type": "order"})),
                include_docs: true,
                max_changes_per_fire: 10,
            },
            state: FeedState::Active,
            date_changed: 5,
            position: seq_zero(),
            generation,
        }
    }

    #[test]
    fn everything_survives_a_reopen() {
        let dir = TempDir::new("reopen");
        {
            let (store, feeds) = Store::open(&dir.0).expect("open");
            assert!(feeds.is_empty());
            store.put(record("/guest/a", 1)).expect("put");
            store.put(record("/guest/b", 1)).expect("put");
            assert!(store.save_position("/guest/a", 1, &json!(7)).expect("pos"));
            assert!(
                store
                    .save_position("/guest/a", 1, &json!("9-abc"))
                    .expect("pos")
            );
            store
                .set_state(
                    "/guest/b",
                    Some(1),
                    FeedState::Disabled("HTTP 404".into()),
                    6,
                )
                .expect("state");
            assert!(store.delete("/guest/b").expect("delete"));
            store.put(record("/guest/c", 3)).expect("put");
            store
                .set_state("/guest/c", None, FeedState::Paused, 8)
                .expect("state");
            // No flush: a killed process still leaves the writes in the file.
        }
        let (store, feeds) = Store::open(&dir.0).expect("reopen");
        assert_eq!(feeds.len(), 2);
        let a = store.get("/guest/a").expect("a");
        assert_eq!(a.position, json!("9-abc"));
        assert_eq!(a.auth_key.expose(), "uuid:owner-key-secret");
        assert_eq!(
            a.config.database.password.as_ref().map(Secret::expose),
            Some("db-password-secret")
        );
        assert_eq!(a.config, record("/guest/a", 1).config);
        assert!(store.get("/guest/b").is_none());
        let c = store.get("/guest/c").expect("c");
        assert_eq!(
            (c.state, c.date_changed, c.generation),
            (FeedState::Paused, 8, 3)
        );
    }

    #[test]
    fn stale_generations_do_not_move_positions() {
        let dir = TempDir::new("generations");
        let (store, _) = Store::open(&dir.0).expect("open");
        store.put(record("/guest/a", 1)).expect("put");
        store.put(record("/guest/a", 2)).expect("re-register");
        assert!(!store.save_position("/guest/a", 1, &json!(50)).expect("pos"));
        assert!(
            !store
                .save_position("/guest/gone", 1, &json!(50))
                .expect("pos")
        );
        assert!(
            store
                .set_state("/guest/a", Some(1), FeedState::Disabled("old".into()), 1)
                .expect("state")
                .is_none()
        );
        drop(store);
        let (store, _) = Store::open(&dir.0).expect("reopen");
        let a = store.get("/guest/a").expect("a");
        assert_eq!((a.position, a.state), (seq_zero(), FeedState::Active));
    }

    #[test]
    fn a_torn_last_line_is_cut_off_and_damage_elsewhere_is_refused() {
        let dir = TempDir::new("torn");
        {
            let (store, _) = Store::open(&dir.0).expect("open");
            store.put(record("/guest/a", 1)).expect("put");
            store.save_position("/guest/a", 1, &json!(3)).expect("pos");
        }
        let path = dir.0.join(LOG_FILE);
        let mut file = OpenOptions::new().append(true).open(&path).expect("log");
        file.write_all(br#"{"pos":{"id":"/guest/a","gen":1,"se"#)
            .expect("torn write");
        drop(file);
        let (store, _) = Store::open(&dir.0).expect("reopen");
        assert_eq!(store.get("/guest/a").expect("a").position, json!(3));
        store.save_position("/guest/a", 1, &json!(4)).expect("pos");
        drop(store);

        let text = fs::read_to_string(&path).expect("log");
        fs::write(&path, format!("garbage\n{text}")).expect("damage");
        let error = Store::open(&dir.0).expect_err("damaged");
        assert!(error.to_string().contains("line 1"), "{error}");
    }

    #[test]
    fn the_file_is_private_and_compacts() {
        let dir = TempDir::new("private");
        let (store, _) = Store::open(&dir.0).expect("open");
        store.put(record("/guest/a", 1)).expect("put");
        let mode = fs::metadata(store.path())
            .expect("meta")
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o600);
        let dir_mode = fs::metadata(&dir.0).expect("meta").permissions().mode() & 0o777;
        assert_eq!(dir_mode, 0o700);
        for seq in 0..30_000_u64 {
            store
                .save_position("/guest/a", 1, &json!(seq))
                .expect("pos");
        }
        let size = fs::metadata(store.path()).expect("meta").len();
        assert!(size < COMPACT_MIN_BYTES + 4096, "not compacted: {size}");
        let mode = fs::metadata(store.path())
            .expect("meta")
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o600);
        drop(store);
        let (store, _) = Store::open(&dir.0).expect("reopen");
        assert_eq!(store.get("/guest/a").expect("a").position, json!(29_999));
    }

    #[test]
    fn debug_output_holds_no_secret() {
        let dir = TempDir::new("debug");
        let (store, _) = Store::open(&dir.0).expect("open");
        store.put(record("/guest/a", 1)).expect("put");
        let printed = format!("{store:?} {:?}", store.get("/guest/a"));
        assert!(!printed.contains("owner-key-secret"), "{printed}");
        assert!(!printed.contains("db-password-secret"), "{printed}");
    }
}
