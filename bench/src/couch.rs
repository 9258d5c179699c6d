//! A CouchDB-compatible `_changes` source for load: in memory, in process, cheap per connection
//! (one tokio task), so ten thousand continuous feeds cost the benchmark little.
//!
//! It serves what the changes provider asks of a database: `GET /{db}` (`update_seq`) and
//! `GET|POST /{db}/_changes?feed=continuous&since=S&heartbeat=MS`, answered as a chunked stream:
//! the changes after `since`, then every new change as it is published, and an empty line after
//! every `heartbeat` of silence. Sequences are integers from 1; change `n` has id `c{n}`.

use std::collections::HashMap;
use std::io;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::broadcast;

use crate::net::{Conn, Head, listen};

/// Changes a stream may fall behind the newest before it is closed (the provider then reconnects
/// from its saved position).
const LAG_LIMIT: usize = 1 << 16;

struct Database {
    /// The JSON line of every change; change `n` at index `n - 1`.
    changes: Vec<Arc<str>>,
    published: broadcast::Sender<(u64, Arc<str>)>,
}

struct State {
    databases: Mutex<HashMap<String, Database>>,
    /// Open `_changes` streams, per database.
    streams: Mutex<HashMap<String, usize>>,
}

impl State {
    fn databases(&self) -> MutexGuard<'_, HashMap<String, Database>> {
        self.databases.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn streams(&self) -> MutexGuard<'_, HashMap<String, usize>> {
        self.streams.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The fake database server; its tasks live in the runtime it was started on and end with it.
#[derive(Clone)]
pub struct FakeCouch {
    url: String,
    state: Arc<State>,
}

impl FakeCouch {
    pub fn start(runtime: &tokio::runtime::Runtime) -> io::Result<FakeCouch> {
        let (listener, address) = listen(runtime)?;
        let state = Arc::new(State {
            databases: Mutex::new(HashMap::new()),
            streams: Mutex::new(HashMap::new()),
        });
        let serving = state.clone();
        runtime.spawn(async move {
            loop {
                match listener.accept().await {
                    Ok((stream, _)) => {
                        let state = serving.clone();
                        tokio::spawn(async move {
                            let _ = serve(Conn::new(stream), &state).await;
                        });
                    }
                    // Out of descriptors, most likely: do not spin.
                    Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
                }
            }
        });
        Ok(FakeCouch {
            url: format!("http://{address}"),
            state,
        })
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn create_database(&self, name: &str) {
        self.state
            .databases()
            .entry(name.to_owned())
            .or_insert_with(|| Database {
                changes: Vec::new(),
                published: broadcast::channel(LAG_LIMIT).0,
            });
    }

    /// Appends `count` changes to `db` and sends them to its streams; the first new sequence.
    pub fn publish(&self, db: &str, count: usize) -> u64 {
        let mut databases = self.state.databases();
        let Some(database) = databases.get_mut(db) else {
            return 0;
        };
        let first = database.changes.len() as u64 + 1;
        for seq in first..first + count as u64 {
            let line: Arc<str> =
                format!(r#"{{"seq":{seq},"id":"c{seq}","changes":[{{"rev":"1-{seq:x}"}}]}}"#)
                    .into();
            database.changes.push(line.clone());
            // No receiver is not an error: nobody follows the database yet.
            let _ = database.published.send((seq, line));
        }
        first
    }

    /// Open `_changes` streams of `db`.
    pub fn streams(&self, db: &str) -> usize {
        self.state.streams().get(db).copied().unwrap_or(0)
    }
}

async fn serve(mut conn: Conn, state: &State) -> io::Result<()> {
    while let Some(head) = conn.read_head().await? {
        // A selector body, if any, is read and ignored: every change matches.
        conn.read_body(head.content_length()).await?;
        let segments: Vec<&str> = head.path().trim_matches('/').split('/').collect();
        match segments.as_slice() {
            [db, "_changes"] => return changes(conn, state, db, &head).await,
            [db] if head.method == "GET" => {
                let update_seq = state.databases().get(*db).map(|d| d.changes.len());
                match update_seq {
                    Some(seq) => {
                        let body =
                            format!(r#"{{"db_name":"{db}","update_seq":{seq},"doc_count":{seq}}}"#);
                        conn.respond_json(200, "OK", &body).await?;
                    }
                    None => not_found(&conn).await?,
                }
            }
            _ => not_found(&conn).await?,
        }
        if head.wants_close() {
            break;
        }
    }
    Ok(())
}

async fn not_found(conn: &Conn) -> io::Result<()> {
    conn.respond_json(
        404,
        "Object Not Found",
        r#"{"error":"not_found","reason":"Database does not exist."}"#,
    )
    .await
}

/// Counts a stream while it is open.
struct StreamGuard<'a> {
    state: &'a State,
    db: String,
}

impl Drop for StreamGuard<'_> {
    fn drop(&mut self) {
        if let Some(count) = self.state.streams().get_mut(&self.db) {
            *count = count.saturating_sub(1);
        }
    }
}

async fn changes(conn: Conn, state: &State, db: &str, head: &Head) -> io::Result<()> {
    let since: u64 = head
        .query("since")
        .and_then(|since| since.parse().ok())
        .unwrap_or(0);
    let heartbeat = head
        .query("heartbeat")
        .and_then(|ms| ms.parse().ok())
        .map_or(Duration::from_secs(60), Duration::from_millis);
    // Subscribed before the backlog is copied, so nothing published in between is missed.
    let opened = state.databases().get(db).map(|database| {
        let receiver = database.published.subscribe();
        let start = (since as usize).min(database.changes.len());
        (database.changes[start..].to_vec(), receiver)
    });
    let Some((backlog, mut published)) = opened else {
        return not_found(&conn).await;
    };
    conn.start_chunked().await?;
    *state.streams().entry(db.to_owned()).or_default() += 1;
    let _guard = StreamGuard {
        state,
        db: db.to_owned(),
    };
    let mut sent = since + backlog.len() as u64;
    if !backlog.is_empty() {
        conn.chunk(lines(backlog.iter()).as_bytes()).await?;
    }
    loop {
        tokio::select! {
            received = published.recv() => {
                let mut batch = Vec::new();
                let mut next = Some(received);
                while let Some(received) = next.take() {
                    match received {
                        Ok((seq, line)) if seq > sent => {
                            sent = seq;
                            batch.push(line);
                        }
                        Ok(_) => {}
                        // Too far behind or the database is gone: end the stream.
                        Err(_) => return Ok(()),
                    }
                    next = match published.try_recv() {
                        Ok(item) => Some(Ok(item)),
                        Err(broadcast::error::TryRecvError::Empty) => None,
                        Err(_) => Some(Err(broadcast::error::RecvError::Closed)),
                    };
                }
                if !batch.is_empty() {
                    conn.chunk(lines(batch.iter()).as_bytes()).await?;
                }
            }
            () = tokio::time::sleep(heartbeat) => conn.chunk(b"\n").await?,
            // The provider went away (killed): end the stream now, not at the next heartbeat.
            () = conn.peer_closed() => return Ok(()),
        }
    }
}

fn lines<'a>(changes: impl Iterator<Item = &'a Arc<str>>) -> String {
    let mut text = String::new();
    for change in changes {
        text.push_str(change);
        text.push('\n');
    }
    text
}
