//! The embedded store: one SQLite file (`DIR/feeds.sqlite`, mode 0600, in a directory of mode
//! 0700) for one instance on one machine.
//!
//! - Registrations are committed with `synchronous=FULL` before the API answers: a power cut
//!   loses none. Positions are committed in batches with `synchronous=NORMAL`: in WAL mode a
//!   killed process loses none of them, and a machine crash can only make a few changes fire
//!   again, never skip one.
//! - One process at a time: the directory is locked (`DIR/provider.lock`); a second instance on
//!   the same directory is refused with a clear error instead of corrupting the first one's work.
//! - All calls run on one thread that owns the connection; the async side waits for its answer.
//! - A store of the provider's first version (`feeds.log`, JSON lines) is imported once and
//!   renamed to `feeds.log.imported`.

use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::mpsc as sync_mpsc;

use rusqlite::{Connection, OptionalExtension, params};
use serde_json::Value;
use tokio::sync::{mpsc, oneshot};

use super::{
    BoxFuture, Claimed, Followed, Lease, SharedSealer, Store, StoreError, StoreEvent, StoredFeed,
};
use crate::model::{FeedId, FeedRecord, FeedState, Saved, Start};

/// The database's file name inside the data directory.
pub const DB_FILE: &str = "feeds.sqlite";
const LOCK_FILE: &str = "provider.lock";
const LEGACY_LOG: &str = "feeds.log";
const SCHEMA_VERSION: i64 = 1;
/// The embedded store's one instance holds its one bucket under this name.
const OWNER: &str = "embedded";

type Reply<T> = oneshot::Sender<Result<T, StoreError>>;

enum Command {
    All(Reply<Vec<FeedRecord>>),
    Get(String, Reply<Option<FeedRecord>>),
    Put(Box<FeedRecord>, Reply<String>),
    Delete(String, String, Reply<()>),
    Positions(Reply<HashMap<FeedId, Saved>>),
    SavePositions(Vec<(FeedId, Option<Saved>)>, Reply<()>),
}

/// The embedded store (see the module docs).
pub struct SqliteStore {
    path: PathBuf,
    commands: sync_mpsc::Sender<Command>,
    /// Kept so that the (silent) event stream stays open.
    events: mpsc::Sender<StoreEvent>,
    receiver: std::sync::Mutex<Option<mpsc::Receiver<StoreEvent>>>,
    current_key: String,
    /// Held for the process's life: the directory's lock.
    _lock: File,
}

fn unavailable(path: &Path) -> impl Fn(rusqlite::Error) -> StoreError + '_ {
    move |error| StoreError::Unavailable(format!("the store {}: {error}", path.display()))
}

impl SqliteStore {
    /// Opens (or creates) the store in `dir`.
    pub fn open(dir: &Path, sealer: SharedSealer) -> Result<Self, StoreError> {
        let io = |what: &Path, error: std::io::Error| {
            StoreError::Unavailable(format!("the store {}: {error}", what.display()))
        };
        if !dir.exists() {
            fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)
                .map_err(|error| io(dir, error))?;
        }
        let lock_path = dir.join(LOCK_FILE);
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .mode(0o600)
            .open(&lock_path)
            .map_err(|error| io(&lock_path, error))?;
        if lock.try_lock().is_err() {
            return Err(StoreError::Unavailable(format!(
                "the store {} is in use by another provider process (one process per data directory; run a fleet on CouchDB instead)",
                dir.display()
            )));
        }
        let path = dir.join(DB_FILE);
        // SQLite creates the file with the process's umask; create it private first (its -wal
        // and -shm files take the same mode).
        OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .mode(0o600)
            .open(&path)
            .map_err(|error| io(&path, error))?;
        fs::set_permissions(&path, fs::Permissions::from_mode(0o600))
            .map_err(|error| io(&path, error))?;
        let connection = Connection::open(&path).map_err(unavailable(&path))?;
        prepare(&connection).map_err(unavailable(&path))?;
        let legacy = dir.join(LEGACY_LOG);
        if legacy.is_file() {
            import_legacy(&connection, &legacy, &sealer)?;
        }
        let current_key = sealer.current_key().to_owned();
        let (commands, receiver) = sync_mpsc::channel();
        let worker = Worker {
            connection,
            path: path.clone(),
            sealer,
        };
        std::thread::Builder::new()
            .name("sqlite-store".into())
            .spawn(move || worker.serve(receiver))
            .map_err(|error| io(&path, error))?;
        let (events, silent) = mpsc::channel(1);
        Ok(Self {
            path,
            commands,
            events,
            receiver: std::sync::Mutex::new(Some(silent)),
            current_key,
            _lock: lock,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn call<T: Send + 'static>(
        &self,
        command: impl FnOnce(Reply<T>) -> Command,
    ) -> BoxFuture<'_, Result<T, StoreError>> {
        let (reply, answer) = oneshot::channel();
        let sent = self.commands.send(command(reply));
        Box::pin(async move {
            sent.map_err(|_| StoreError::Unavailable("the store's thread has stopped".into()))?;
            answer
                .await
                .map_err(|_| StoreError::Unavailable("the store's thread has stopped".into()))?
        })
    }
}

fn prepare(connection: &Connection) -> rusqlite::Result<()> {
    connection.busy_timeout(std::time::Duration::from_secs(10))?;
    connection.pragma_update(None, "journal_mode", "WAL")?;
    connection.execute_batch(
        "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
         CREATE TABLE IF NOT EXISTS feeds (
             id TEXT PRIMARY KEY,
             rev INTEGER NOT NULL,
             doc TEXT              -- NULL: deleted (the row keeps the revision counting)
         );
         CREATE TABLE IF NOT EXISTS positions (
             id TEXT PRIMARY KEY,
             reset INTEGER NOT NULL,
             position TEXT NOT NULL
         );",
    )?;
    let version: Option<i64> = connection
        .query_row("SELECT value FROM meta WHERE key = 'schema'", [], |row| {
            row.get(0)
        })
        .optional()?;
    match version {
        None => {
            connection.execute(
                "INSERT INTO meta (key, value) VALUES ('schema', ?1)",
                [SCHEMA_VERSION],
            )?;
        }
        Some(version) if version > SCHEMA_VERSION => {
            return Err(rusqlite::Error::InvalidParameterName(format!(
                "it was written by a newer provider (schema {version}, this one reads {SCHEMA_VERSION})"
            )));
        }
        Some(_) => {}
    }
    Ok(())
}

/// The connection and what it serves, on its own thread.
struct Worker {
    connection: Connection,
    path: PathBuf,
    sealer: SharedSealer,
}

impl Worker {
    fn serve(mut self, commands: sync_mpsc::Receiver<Command>) {
        let mut pending = None;
        loop {
            let command = match pending.take() {
                Some(command) => command,
                None => match commands.recv() {
                    Ok(command) => command,
                    Err(_) => return,
                },
            };
            match command {
                Command::SavePositions(mut positions, reply) => {
                    // Positions queue up while a commit runs: take them all in one transaction.
                    let mut replies = vec![reply];
                    while let Ok(next) = commands.try_recv() {
                        match next {
                            Command::SavePositions(more, reply) => {
                                positions.extend(more);
                                replies.push(reply);
                            }
                            other => {
                                pending = Some(other);
                                break;
                            }
                        }
                    }
                    let result = self.save_positions(&positions);
                    for reply in replies {
                        let _ = reply.send(result.clone());
                    }
                }
                write @ (Command::Put(..) | Command::Delete(..)) => {
                    // Registrations queued meanwhile share one durable commit (group commit);
                    // each is still checked against its own revision.
                    let mut writes = vec![write];
                    while let Ok(next) = commands.try_recv() {
                        match next {
                            write @ (Command::Put(..) | Command::Delete(..)) => writes.push(write),
                            other => {
                                pending = Some(other);
                                break;
                            }
                        }
                    }
                    self.write_all(writes);
                }
                other => self.serve_one(other),
            }
        }
    }

    /// Writes records in one transaction, `synchronous=FULL`: each answer is sent once the
    /// commit is on disk.
    fn write_all(&mut self, writes: Vec<Command>) {
        let began = self
            .connection
            .pragma_update(None, "synchronous", "FULL")
            .and_then(|()| self.connection.execute_batch("BEGIN IMMEDIATE"))
            .map_err(self.error());
        if let Err(error) = began {
            for write in writes {
                match write {
                    Command::Put(_, reply) => {
                        let _ = reply.send(Err(error.clone()));
                    }
                    Command::Delete(_, _, reply) => {
                        let _ = reply.send(Err(error.clone()));
                    }
                    _ => {}
                }
            }
            return;
        }
        let mut answers: Vec<(Command, Result<String, StoreError>)> = Vec::new();
        for write in writes {
            let result = match &write {
                Command::Put(record, _) => self.put(record),
                Command::Delete(id, rev, _) => self.delete(id, rev).map(|()| String::new()),
                _ => continue,
            };
            answers.push((write, result));
        }
        let committed = self
            .connection
            .execute_batch("COMMIT")
            .map_err(self.error());
        if committed.is_err() {
            let _ = self.connection.execute_batch("ROLLBACK");
        }
        for (write, result) in answers {
            let result = match &committed {
                Ok(()) => result,
                Err(error) => Err(error.clone()),
            };
            match write {
                Command::Put(_, reply) => {
                    let _ = reply.send(result);
                }
                Command::Delete(_, _, reply) => {
                    let _ = reply.send(result.map(|_| ()));
                }
                _ => {}
            }
        }
    }

    fn serve_one(&mut self, command: Command) {
        match command {
            Command::All(reply) => {
                let _ = reply.send(self.all());
            }
            Command::Get(id, reply) => {
                let _ = reply.send(self.get(&id));
            }
            write @ (Command::Put(..) | Command::Delete(..)) => self.write_all(vec![write]),
            Command::Positions(reply) => {
                let _ = reply.send(self.positions());
            }
            Command::SavePositions(positions, reply) => {
                let _ = reply.send(self.save_positions(&positions));
            }
        }
    }

    fn error(&self) -> impl Fn(rusqlite::Error) -> StoreError + '_ {
        unavailable(&self.path)
    }

    fn record(&self, id: &str, rev: i64, doc: &str) -> Result<FeedRecord, StoreError> {
        let stored: StoredFeed = serde_json::from_str(doc).map_err(|error| {
            StoreError::Unreadable(format!(
                "the store {}: the record of {id} is damaged: {error}",
                self.path.display()
            ))
        })?;
        self.sealer.from_stored(stored, Some(rev.to_string()))
    }

    fn all(&self) -> Result<Vec<FeedRecord>, StoreError> {
        let mut statement = self
            .connection
            .prepare("SELECT id, rev, doc FROM feeds WHERE doc IS NOT NULL")
            .map_err(self.error())?;
        let rows = statement
            .query_map([], |row| {
                Ok((
                    row.get::<_, String>(0)?,
                    row.get::<_, i64>(1)?,
                    row.get::<_, String>(2)?,
                ))
            })
            .map_err(self.error())?;
        let mut records = Vec::new();
        for row in rows {
            let (id, rev, doc) = row.map_err(self.error())?;
            records.push(self.record(&id, rev, &doc)?);
        }
        Ok(records)
    }

    fn current(&self, id: &str) -> Result<Option<(i64, Option<String>)>, StoreError> {
        self.connection
            .query_row("SELECT rev, doc FROM feeds WHERE id = ?1", [id], |row| {
                Ok((row.get(0)?, row.get(1)?))
            })
            .optional()
            .map_err(self.error())
    }

    fn get(&self, id: &str) -> Result<Option<FeedRecord>, StoreError> {
        match self.current(id)? {
            Some((rev, Some(doc))) => self.record(id, rev, &doc).map(Some),
            _ => Ok(None),
        }
    }

    fn put(&mut self, record: &FeedRecord) -> Result<String, StoreError> {
        let stored = self.sealer.to_stored(record)?;
        let doc = serde_json::to_string(&stored)
            .map_err(|error| StoreError::Unavailable(error.to_string()))?;
        let current = self.current(&record.id)?;
        let next = match (&current, &record.rev) {
            (None, None) => 1,
            (Some((rev, None)), None) => rev + 1,
            (Some((rev, Some(_))), Some(expected)) if rev.to_string() == *expected => rev + 1,
            _ => return Err(StoreError::Conflict),
        };
        self.connection
            .execute(
                "INSERT INTO feeds (id, rev, doc) VALUES (?1, ?2, ?3)
                 ON CONFLICT (id) DO UPDATE SET rev = excluded.rev, doc = excluded.doc",
                params![record.id, next, doc],
            )
            .map_err(self.error())?;
        Ok(next.to_string())
    }

    fn delete(&mut self, id: &str, rev: &str) -> Result<(), StoreError> {
        match self.current(id)? {
            Some((current, Some(_))) if current.to_string() == rev => {}
            _ => return Err(StoreError::Conflict),
        }
        self.connection
            .execute(
                "UPDATE feeds SET rev = rev + 1, doc = NULL WHERE id = ?1",
                [id],
            )
            .map_err(self.error())?;
        self.connection
            .execute("DELETE FROM positions WHERE id = ?1", [id])
            .map_err(self.error())?;
        Ok(())
    }

    fn positions(&self) -> Result<HashMap<FeedId, Saved>, StoreError> {
        let mut statement = self
            .connection
            .prepare("SELECT id, reset, position FROM positions")
            .map_err(self.error())?;
        let rows = statement
            .query_map([], |row| {
                Ok((
                    row.get::<_, String>(0)?,
                    row.get::<_, i64>(1)?,
                    row.get::<_, String>(2)?,
                ))
            })
            .map_err(self.error())?;
        let mut positions = HashMap::new();
        for row in rows {
            let (id, reset, position) = row.map_err(self.error())?;
            let position: Value = serde_json::from_str(&position).unwrap_or(Value::Null);
            positions.insert(
                id,
                Saved {
                    reset: reset as u64,
                    position,
                },
            );
        }
        Ok(positions)
    }

    fn save_positions(&mut self, positions: &[(FeedId, Option<Saved>)]) -> Result<(), StoreError> {
        if positions.is_empty() {
            return Ok(());
        }
        self.connection
            .pragma_update(None, "synchronous", "NORMAL")
            .map_err(self.error())?;
        let path = self.path.clone();
        let transaction = self.connection.transaction().map_err(unavailable(&path))?;
        for (id, saved) in positions {
            match saved {
                Some(saved) => {
                    transaction
                        .execute(
                            "INSERT INTO positions (id, reset, position) VALUES (?1, ?2, ?3)
                             ON CONFLICT (id) DO UPDATE SET reset = excluded.reset, position = excluded.position",
                            params![id, saved.reset as i64, saved.position.to_string()],
                        )
                        .map_err(unavailable(&path))?;
                }
                None => {
                    transaction
                        .execute("DELETE FROM positions WHERE id = ?1", [id])
                        .map_err(unavailable(&path))?;
                }
            }
        }
        transaction.commit().map_err(unavailable(&path))
    }
}

impl Store for SqliteStore {
    fn describe(&self) -> String {
        format!("embedded store {}", self.path.display())
    }

    fn buckets(&self) -> u32 {
        1
    }

    fn exclusive(&self) -> bool {
        true
    }

    fn follow(&self) -> BoxFuture<'_, Result<Followed, StoreError>> {
        let all = self.call(Command::All);
        Box::pin(async move {
            let records = all.await?;
            let receiver = self
                .receiver
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .take()
                .unwrap_or_else(|| mpsc::channel(1).1);
            let _ = &self.events;
            Ok((records, receiver))
        })
    }

    fn get(&self, id: &str) -> BoxFuture<'_, Result<Option<FeedRecord>, StoreError>> {
        let id = id.to_owned();
        self.call(move |reply| Command::Get(id, reply))
    }

    fn put<'a>(&'a self, record: &'a FeedRecord) -> BoxFuture<'a, Result<String, StoreError>> {
        let record = Box::new(record.clone());
        self.call(move |reply| Command::Put(record, reply))
    }

    fn delete<'a>(&'a self, id: &'a str, rev: &'a str) -> BoxFuture<'a, Result<(), StoreError>> {
        let (id, rev) = (id.to_owned(), rev.to_owned());
        self.call(move |reply| Command::Delete(id, rev, reply))
    }

    fn claim<'a>(
        &'a self,
        bucket: u32,
        _owner: &'a str,
        epoch: u64,
        _observed: Option<&'a str>,
    ) -> BoxFuture<'a, Result<Claimed, StoreError>> {
        let positions = self.call(Command::Positions);
        Box::pin(async move {
            let positions = positions.await?;
            let lease = Lease {
                bucket,
                owner: OWNER.to_owned(),
                epoch,
                rev: epoch.to_string(),
            };
            Ok((lease, positions))
        })
    }

    fn renew<'a>(
        &'a self,
        lease: &'a Lease,
        positions: Vec<(FeedId, Option<Saved>)>,
    ) -> BoxFuture<'a, Result<Lease, StoreError>> {
        let saved = self.call(move |reply| Command::SavePositions(positions, reply));
        Box::pin(async move {
            saved.await?;
            Ok(lease.clone())
        })
    }

    fn release<'a>(
        &'a self,
        _lease: &'a Lease,
        positions: Vec<(FeedId, Option<Saved>)>,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        self.call(move |reply| Command::SavePositions(positions, reply))
    }

    fn forget_member<'a>(
        &'a self,
        _member: &'a str,
        _rev: &'a str,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async { Ok(()) })
    }

    fn current_key(&self) -> String {
        self.current_key.clone()
    }

    fn positions(&self, _bucket: u32) -> BoxFuture<'_, Result<HashMap<FeedId, Saved>, StoreError>> {
        self.call(Command::Positions)
    }

    fn announce<'a>(
        &'a self,
        _member: &'a str,
        _url: Option<&'a str>,
        _left: bool,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async { Ok(()) })
    }
}

/// Imports the first version's store (JSON lines: `put` a whole feed with its secrets in the
/// clear, `pos` a position, `del` a removal), then renames it so it is never read again.
fn import_legacy(
    connection: &Connection,
    path: &Path,
    sealer: &SharedSealer,
) -> Result<(), StoreError> {
    let damaged = |problem: String| {
        StoreError::Unreadable(format!(
            "importing the old store {}: {problem}",
            path.display()
        ))
    };
    let text = fs::read_to_string(path).map_err(|error| damaged(error.to_string()))?;
    let mut feeds: HashMap<String, (FeedRecord, u64)> = HashMap::new();
    for line in text.lines().filter(|line| !line.trim().is_empty()) {
        // A torn last line was never acknowledged: skip what does not parse.
        let Ok(entry) = serde_json::from_str::<Value>(line) else {
            continue;
        };
        if let Some(put) = entry.get("put") {
            let field = |name: &str| put.get(name).cloned().unwrap_or(Value::Null);
            let key = field("authKey");
            let Some(auth_key) = key
                .as_str()
                .and_then(|key| feedkit::AuthKey::parse(key).ok())
            else {
                return Err(damaged("a feed without a usable key".into()));
            };
            let state: FeedState = serde_json::from_value(put.clone()).unwrap_or(FeedState::Active);
            let trigger = field("trigger").as_str().unwrap_or_default().to_owned();
            let record = FeedRecord {
                id: trigger.clone(),
                rev: None,
                kind: provider_api::CHANGES_KIND.to_owned(),
                api_host: field("apiHost").as_str().unwrap_or_default().to_owned(),
                auth_key,
                config: field("config"),
                state,
                date_changed: field("dateChanged").as_u64().unwrap_or(0),
                start: Start::at(field("position")),
                sealed_with: None,
            };
            feeds.insert(trigger, (record, field("generation").as_u64().unwrap_or(0)));
        } else if let Some(pos) = entry.get("pos") {
            let id = pos.get("id").and_then(Value::as_str).unwrap_or_default();
            let generation = pos.get("gen").and_then(Value::as_u64).unwrap_or(0);
            if let Some((record, current)) = feeds.get_mut(id)
                && *current == generation
            {
                record.start.position = pos.get("seq").cloned().unwrap_or(Value::Null);
            }
        } else if let Some(del) = entry.get("del") {
            let id = del.get("id").and_then(Value::as_str).unwrap_or_default();
            feeds.remove(id);
        }
    }
    for (record, _) in feeds.values() {
        let stored = sealer.to_stored(record)?;
        let doc = serde_json::to_string(&stored).map_err(|error| damaged(error.to_string()))?;
        connection
            .execute(
                "INSERT OR IGNORE INTO feeds (id, rev, doc) VALUES (?1, 1, ?2)",
                params![record.id, doc],
            )
            .map_err(|error| damaged(error.to_string()))?;
    }
    let imported = path.with_extension("log.imported");
    fs::rename(path, &imported).map_err(|error| damaged(error.to_string()))?;
    tracing::info!(
        feeds = feeds.len(),
        from = %path.display(),
        "imported the first version's store"
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::tests::{record, sealer};
    use serde_json::json;
    use std::sync::Arc;

    struct TempDir(PathBuf);

    impl TempDir {
        fn new(name: &str) -> Self {
            let path = std::env::temp_dir().join(format!(
                "changes-provider-sqlite-{name}-{}-{}",
                std::process::id(),
                crate::model::random_u64()
            ));
            Self(path)
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime")
    }

    #[test]
    fn records_and_positions_survive_a_reopen_and_writes_are_compare_and_swap() {
        let dir = TempDir::new("reopen");
        let runtime = runtime();
        runtime.block_on(async {
            let store = SqliteStore::open(&dir.0, Arc::new(sealer())).expect("open");
            let mut a = record("/guest/a");
            let rev = store.put(&a).await.expect("put");
            assert_eq!(rev, "1");
            // A second create, or a write from a stale revision, conflicts.
            assert!(matches!(store.put(&a).await, Err(StoreError::Conflict)));
            a.rev = Some(rev);
            a.state = FeedState::Paused;
            let rev = store.put(&a).await.expect("update");
            assert_eq!(rev, "2");
            let (lease, positions) = store.claim(0, "me", 1, None).await.expect("claim");
            assert!(positions.is_empty());
            let saved = Saved {
                reset: a.start.reset,
                position: json!("7-abc"),
            };
            store
                .renew(&lease, vec![("/guest/a".into(), Some(saved.clone()))])
                .await
                .expect("positions");
            let b = record("/guest/b");
            store.put(&b).await.expect("put b");
            store.delete("/guest/b", "1").await.expect("delete b");
            // Re-created after deletion: the revision keeps counting.
            assert_eq!(store.put(&b).await.expect("again"), "3");
            drop(store);

            let store = SqliteStore::open(&dir.0, Arc::new(sealer())).expect("reopen");
            let (records, _) = store.follow().await.expect("follow");
            assert_eq!(records.len(), 2);
            let a = store.get("/guest/a").await.expect("get").expect("a");
            assert_eq!(a.state, FeedState::Paused);
            assert_eq!(a.auth_key.expose(), "uuid:owner-key-secret");
            assert_eq!(a.config["database"]["password"], "db-password-secret");
            assert_eq!(
                store.positions(0).await.expect("positions").get("/guest/a"),
                Some(&saved)
            );
        });
    }

    #[test]
    fn the_file_is_private_holds_no_secret_and_has_one_user() {
        let dir = TempDir::new("private");
        let runtime = runtime();
        runtime.block_on(async {
            let store = SqliteStore::open(&dir.0, Arc::new(sealer())).expect("open");
            store.put(&record("/guest/a")).await.expect("put");
            let mode = fs::metadata(store.path())
                .expect("meta")
                .permissions()
                .mode()
                & 0o777;
            assert_eq!(mode, 0o600);
            let dir_mode = fs::metadata(&dir.0).expect("meta").permissions().mode() & 0o777;
            assert_eq!(dir_mode, 0o700);
            let error = SqliteStore::open(&dir.0, Arc::new(sealer()))
                .err()
                .expect("locked");
            assert!(error.to_string().contains("in use"), "{error}");
            let bytes = fs::read(store.path()).expect("file");
            let text = String::from_utf8_lossy(&bytes);
            assert!(!text.contains("owner-key-secret"));
            assert!(!text.contains("db-password-secret"));
        });
    }

    #[test]
    fn the_first_versions_log_is_imported_once() {
        let dir = TempDir::new("legacy");
        fs::create_dir_all(&dir.0).expect("dir");
        let lines = [
            json!({"put": {"trigger": "/guest/a", "apiHost": "http://ow", "authKey": "u:k", "config": {"database": {"url": "http://db", "name": "d"}}, "state": "active", "dateChanged": 1, "position": 0, "generation": 2}}),
            json!({"pos": {"id": "/guest/a", "gen": 2, "seq": 41}}),
            json!({"pos": {"id": "/guest/a", "gen": 1, "seq": 99}}),
            json!({"put": {"trigger": "/guest/b", "apiHost": "http://ow", "authKey": "u:k", "config": {}, "state": "paused", "dateChanged": 1, "position": 0, "generation": 1}}),
            json!({"del": {"id": "/guest/b"}}),
        ];
        let text: String = lines.iter().map(|line| format!("{line}\n")).collect();
        fs::write(dir.0.join(LEGACY_LOG), format!("{text}{{\"pos\":{{\"id\"")).expect("log");
        let runtime = runtime();
        runtime.block_on(async {
            let store = SqliteStore::open(&dir.0, Arc::new(sealer())).expect("open");
            let (records, _) = store.follow().await.expect("follow");
            assert_eq!(records.len(), 1);
            assert_eq!(records[0].start.position, json!(41));
            assert!(dir.0.join("feeds.log.imported").is_file());
            assert!(!dir.0.join(LEGACY_LOG).exists());
        });
    }
}
