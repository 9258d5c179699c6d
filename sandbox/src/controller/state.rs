//! The state file (`--state FILE`, [`Config::state_file`](crate::Config::state_file)): an SQLite
//! database (WAL, `synchronous = FULL`) holding every entity (actions with their code, packages,
//! triggers with their rules' status, rules) and every alarm; activation and fire records are
//! not kept. Each change is committed on the writer thread, and whoever made it waits until it
//! is durable before answering; changes arriving together share one commit (one `fsync`).
//!
//! A file that is not a sandbox state file (not SQLite, another program's database, a newer
//! format, damaged pages) is refused with the reason and never written to. The file is locked
//! while a sandbox uses it, so a second one is refused too.

use super::documents::{EntityRow, alarm_of, entity_of};
use crate::model::alarm::Alarm;
use crate::model::entities::Entity;
use crate::model::names::EntityName;
use rusqlite::{Connection, ErrorCode, OpenFlags, params};
use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

/// `PRAGMA application_id` of a sandbox state file ("owsb").
const APPLICATION_ID: i32 = 0x6F77_7362;
/// `PRAGMA user_version`: the layout of the tables below.
const FORMAT: i32 = 1;
const SQLITE_MAGIC: &[u8] = b"SQLite format 3\0";
/// The most changes one commit carries.
const MAX_BATCH: usize = 4096;

const SCHEMA: &str = "
CREATE TABLE entities (
    namespace TEXT NOT NULL,
    name TEXT NOT NULL,         -- `name` or `package/name`
    document TEXT NOT NULL,     -- JSON, see controller::documents
    code BLOB,                  -- an action's zip or script
    PRIMARY KEY (namespace, name)
);
CREATE TABLE alarms (
    namespace TEXT NOT NULL,
    trigger TEXT NOT NULL,
    document TEXT NOT NULL,
    PRIMARY KEY (namespace, trigger)
);";

/// One change to the file.
#[derive(Clone)]
pub(crate) enum Change {
    PutEntity(EntityRow),
    RemoveEntity {
        namespace: String,
        name: String,
    },
    PutAlarm {
        namespace: String,
        trigger: String,
        document: String,
    },
    RemoveAlarm {
        namespace: String,
        trigger: String,
    },
}

impl Change {
    /// Which row it changes: within one commit only the last change of a row matters.
    fn row(&self) -> (bool, &str, &str) {
        match self {
            Change::PutEntity(row) => (true, &row.namespace, &row.name),
            Change::RemoveEntity { namespace, name } => (true, namespace, name),
            Change::PutAlarm {
                namespace, trigger, ..
            }
            | Change::RemoveAlarm { namespace, trigger } => (false, namespace, trigger),
        }
    }
}

/// What the file held at start.
#[derive(Default)]
pub(crate) struct Loaded {
    pub entities: Vec<(EntityName, Entity)>,
    pub alarms: Vec<Alarm>,
}

struct Job {
    changes: Vec<Change>,
    done: mpsc::SyncSender<Result<(), String>>,
}

/// A write handed to the writer; [`Pending::wait`] until it is durable.
pub(crate) struct Pending(mpsc::Receiver<Result<(), String>>);

impl Pending {
    /// Blocks until the change is committed; the reason when it could not be.
    pub fn wait(self) -> Result<(), String> {
        self.0
            .recv()
            .unwrap_or_else(|_| Err("the state file is closed".into()))
    }
}

/// The open state file and its writer thread.
pub(crate) struct StateFile {
    path: PathBuf,
    jobs: Mutex<Option<mpsc::Sender<Job>>>,
    writer: Mutex<Option<JoinHandle<()>>>,
}

impl std::fmt::Debug for StateFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StateFile")
            .field("path", &self.path)
            .finish()
    }
}

fn sqlite_problem(e: &rusqlite::Error) -> String {
    match e.sqlite_error_code() {
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => {
            "it is in use by another sandbox (or program)".into()
        }
        Some(ErrorCode::NotADatabase | ErrorCode::DatabaseCorrupt) => format!(
            "it is damaged ({e}); it is left as it is: move it away to start with an empty state"
        ),
        _ => e.to_string(),
    }
}

/// Refuses a file that is not SQLite without opening it as a database.
fn check_magic(path: &Path) -> Result<(), String> {
    let mut file = match std::fs::File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e.to_string()),
    };
    let mut start = Vec::new();
    file.by_ref()
        .take(SQLITE_MAGIC.len() as u64)
        .read_to_end(&mut start)
        .map_err(|e| e.to_string())?;
    if start.is_empty() || start == SQLITE_MAGIC {
        return Ok(());
    }
    if start.first() == Some(&b'{') {
        return Err("it holds JSON: a state file of an older sandbox, which this one cannot read; it is left as it is: give another --state file".into());
    }
    Err("it is not a sandbox state file (not an SQLite database); it is left as it is".into())
}

/// Opens (or creates) the database, locks it, and checks it is a sandbox state file before
/// anything is written to it.
fn open_connection(path: &Path) -> Result<Connection, String> {
    check_magic(path)?;
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
        | OpenFlags::SQLITE_OPEN_CREATE
        | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(path, flags).map_err(|e| sqlite_problem(&e))?;
    // Held from the first transaction until the connection closes: one sandbox per file.
    conn.pragma_update(None, "locking_mode", "EXCLUSIVE")
        .map_err(|e| sqlite_problem(&e))?;
    conn.execute_batch("BEGIN EXCLUSIVE; COMMIT;")
        .map_err(|e| sqlite_problem(&e))?;
    let application_id: i32 = conn
        .pragma_query_value(None, "application_id", |row| row.get(0))
        .map_err(|e| sqlite_problem(&e))?;
    let format: i32 = conn
        .pragma_query_value(None, "user_version", |row| row.get(0))
        .map_err(|e| sqlite_problem(&e))?;
    let tables: i64 = conn
        .query_row("SELECT count(*) FROM sqlite_master", [], |row| row.get(0))
        .map_err(|e| sqlite_problem(&e))?;
    let fresh = application_id == 0 && tables == 0;
    if !fresh && application_id != APPLICATION_ID {
        return Err(format!(
            "it is an SQLite database of another program (application_id {application_id:#x}, {tables} schema objects), not a sandbox state file; it is left as it is"
        ));
    }
    if !fresh && format != FORMAT {
        return Err(format!(
            "it is in format {format} of another sandbox version (this one reads format {FORMAT}); it is left as it is"
        ));
    }
    if !fresh {
        let check: String = conn
            .query_row("PRAGMA quick_check", [], |row| row.get(0))
            .map_err(|e| sqlite_problem(&e))?;
        if check != "ok" {
            return Err(format!(
                "it is damaged ({check}); it is left as it is: move it away to start with an empty state"
            ));
        }
    }
    conn.pragma_update(None, "journal_mode", "WAL")
        .map_err(|e| sqlite_problem(&e))?;
    conn.pragma_update(None, "synchronous", "FULL")
        .map_err(|e| sqlite_problem(&e))?;
    if fresh {
        let setup = format!(
            "BEGIN; {SCHEMA} PRAGMA application_id = {APPLICATION_ID}; PRAGMA user_version = {FORMAT}; COMMIT;"
        );
        conn.execute_batch(&setup).map_err(|e| sqlite_problem(&e))?;
    }
    Ok(conn)
}

fn load(conn: &Connection) -> Result<Loaded, String> {
    let mut loaded = Loaded::default();
    let mut entities = conn
        .prepare("SELECT namespace, name, document, code FROM entities ORDER BY namespace, name")
        .map_err(|e| sqlite_problem(&e))?;
    let rows = entities
        .query_map([], |row| {
            Ok(EntityRow {
                namespace: row.get(0)?,
                name: row.get(1)?,
                document: row.get(2)?,
                code: row.get::<_, Option<Vec<u8>>>(3)?.map(Arc::from),
            })
        })
        .map_err(|e| sqlite_problem(&e))?;
    for row in rows {
        let row = row.map_err(|e| sqlite_problem(&e))?;
        let what = format!("{}/{}", row.namespace, row.name);
        let entity = entity_of(row).map_err(|e| format!("entity {what}: {e}"))?;
        loaded.entities.push(entity);
    }
    let mut alarms = conn
        .prepare("SELECT namespace, trigger, document FROM alarms ORDER BY namespace, trigger")
        .map_err(|e| sqlite_problem(&e))?;
    let rows = alarms
        .query_map([], |row| {
            Ok((
                row.get::<_, String>(0)?,
                row.get::<_, String>(1)?,
                row.get::<_, String>(2)?,
            ))
        })
        .map_err(|e| sqlite_problem(&e))?;
    for row in rows {
        let (namespace, trigger, document) = row.map_err(|e| sqlite_problem(&e))?;
        let alarm =
            alarm_of(&document).map_err(|e| format!("alarm of /{namespace}/{trigger}: {e}"))?;
        loaded.alarms.push(alarm);
    }
    Ok(loaded)
}

/// Applies `changes` in one transaction.
fn commit(conn: &mut Connection, changes: &[Change]) -> rusqlite::Result<()> {
    let tx = conn.transaction()?;
    for change in changes {
        match change {
            Change::PutEntity(row) => {
                tx.prepare_cached(
                    "INSERT INTO entities (namespace, name, document, code) VALUES (?1, ?2, ?3, ?4)
                     ON CONFLICT (namespace, name) DO UPDATE
                     SET document = excluded.document, code = excluded.code",
                )?
                .execute(params![
                    row.namespace,
                    row.name,
                    row.document,
                    row.code.as_deref()
                ])?;
            }
            Change::RemoveEntity { namespace, name } => {
                tx.prepare_cached("DELETE FROM entities WHERE namespace = ?1 AND name = ?2")?
                    .execute(params![namespace, name])?;
            }
            Change::PutAlarm {
                namespace,
                trigger,
                document,
            } => {
                tx.prepare_cached(
                    "INSERT INTO alarms (namespace, trigger, document) VALUES (?1, ?2, ?3)
                     ON CONFLICT (namespace, trigger) DO UPDATE SET document = excluded.document",
                )?
                .execute(params![namespace, trigger, document])?;
            }
            Change::RemoveAlarm { namespace, trigger } => {
                tx.prepare_cached("DELETE FROM alarms WHERE namespace = ?1 AND trigger = ?2")?
                    .execute(params![namespace, trigger])?;
            }
        }
    }
    tx.commit()
}

/// The writer: takes every job waiting, commits their changes at once (the last change of each
/// row wins), then answers them all. Changes of a failed commit are tried again with the next.
fn run_writer(mut conn: Connection, jobs: mpsc::Receiver<Job>, path: PathBuf) {
    let mut unsaved: BTreeMap<(bool, String, String), Change> = BTreeMap::new();
    while let Ok(first) = jobs.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match jobs.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let mut waiting = Vec::with_capacity(batch.len());
        for job in batch {
            for change in job.changes {
                let (entity, ns, name) = change.row();
                unsaved.insert((entity, ns.to_string(), name.to_string()), change);
            }
            waiting.push(job.done);
        }
        let changes: Vec<Change> = unsaved.values().cloned().collect();
        let outcome = match commit(&mut conn, &changes) {
            Ok(()) => {
                unsaved.clear();
                Ok(())
            }
            Err(e) => {
                let why = sqlite_problem(&e);
                eprintln!(
                    "sandbox: cannot write the state file {}: {why}",
                    path.display()
                );
                Err(why)
            }
        };
        for done in waiting {
            let _ = done.send(outcome.clone());
        }
    }
}

impl StateFile {
    /// Opens `path` (created when missing) and reads what it holds.
    pub fn open(path: &Path) -> Result<(StateFile, Loaded), String> {
        let conn = open_connection(path)?;
        let loaded = load(&conn)?;
        let (jobs, queue) = mpsc::channel();
        let owned = path.to_path_buf();
        let writer = std::thread::Builder::new()
            .name("sandbox-state".into())
            .spawn(move || run_writer(conn, queue, owned))
            .map_err(|e| e.to_string())?;
        Ok((
            StateFile {
                path: path.to_path_buf(),
                jobs: Mutex::new(Some(jobs)),
                writer: Mutex::new(Some(writer)),
            },
            loaded,
        ))
    }

    /// Hands `changes` to the writer, in the order of the calls.
    pub fn write(&self, changes: Vec<Change>) -> Pending {
        let (done, outcome) = mpsc::sync_channel(1);
        let jobs = self.jobs.lock().unwrap_or_else(|e| e.into_inner());
        match jobs.as_ref() {
            Some(jobs) => {
                if let Err(mpsc::SendError(job)) = jobs.send(Job { changes, done }) {
                    let _ = job.done.send(Err("the state file is closed".into()));
                }
            }
            None => {
                let _ = done.send(Err("the state file is closed".into()));
            }
        }
        Pending(outcome)
    }

    /// Lets the writer finish what it was given and closes the file.
    pub fn close(&self) {
        drop(self.jobs.lock().unwrap_or_else(|e| e.into_inner()).take());
        if let Some(writer) = self.writer.lock().unwrap_or_else(|e| e.into_inner()).take() {
            let _ = writer.join();
        }
    }
}

impl Drop for StateFile {
    fn drop(&mut self) {
        self.close();
    }
}
