//! One feed's task: keep a continuous `_changes` connection open, fire the trigger for each change
//! (or batch of changes), and save the position only after OpenWhisk took the fire.
//!
//! The task reads the feed only between fires: while a fire waits out a backoff, unread changes
//! stay in the socket (TCP pushes back on the database) and arrive together afterwards, which is
//! also what fills batches. The task is stopped by aborting it (PAUSE, UPDATE, DELETE); that can
//! only happen at an await point, so a fire that OpenWhisk took but whose position was not saved
//! yet is fired again later: at least once, never lost.

use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use feedkit::{ApiHost, QualifiedName};
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper::body::Incoming;
use hyper::header::{AUTHORIZATION, CONTENT_TYPE, RETRY_AFTER};
use serde_json::{Map, Value, json};

use crate::classify::{Backoff, FireVerdict, classify_fire, classify_transport};
use crate::couch::{self, CouchError, FeedLine};
use crate::http::{self, HttpClient, encode_component};
use crate::model::{FeedRecord, FeedState, Seq, now_millis};
use crate::status::{ChangeMark, FireMark, RetryMark, SharedStatus};
use crate::store::Store;

/// Timing knobs, from the command line.
#[derive(Debug, Clone)]
pub struct Tuning {
    /// How often the database is asked to send a heartbeat line.
    pub heartbeat: Duration,
    /// First wait before a reconnect or a fire retry...
    pub retry_min: Duration,
    /// ... doubling up to this.
    pub retry_max: Duration,
    /// How long one fire may take.
    pub fire_timeout: Duration,
}

impl Default for Tuning {
    fn default() -> Self {
        Self {
            heartbeat: Duration::from_secs(10),
            retry_min: Duration::from_millis(250),
            retry_max: Duration::from_secs(60),
            fire_timeout: Duration::from_secs(30),
        }
    }
}

/// How many feeds may be opening their connection at once: after a restart thousands of feeds
/// start together, and neither the databases nor the listen backlogs like a thundering herd.
pub const CONCURRENT_CONNECTS: usize = 256;

/// What every feed task shares.
pub struct Shared {
    pub http: HttpClient,
    pub store: Store,
    pub tuning: Tuning,
    /// Permits to open a `_changes` connection (see [`CONCURRENT_CONNECTS`]).
    pub connects: tokio::sync::Semaphore,
}

impl Shared {
    pub fn new(http: HttpClient, store: Store, tuning: Tuning) -> Self {
        Self {
            http,
            store,
            tuning,
            connects: tokio::sync::Semaphore::new(CONCURRENT_CONNECTS),
        }
    }
}

/// Why a connection ended.
enum Stop {
    /// Reconnect after a backoff.
    Dropped(String),
    /// Stop the feed for good; the reason goes into its state.
    Disabled(String),
}

/// Where and as whom a feed fires.
struct FireTarget {
    url: String,
    authorization: String,
}

impl FireTarget {
    fn new(record: &FeedRecord) -> Result<Self, String> {
        let host = ApiHost::parse(&record.api_host)?;
        let trigger = QualifiedName::parse(&record.trigger)?;
        let path = format!(
            "/namespaces/{}/triggers/{}",
            encode_component(trigger.namespace()),
            encode_component(trigger.name())
        );
        Ok(Self {
            url: host.api_url(&path),
            authorization: record.auth_key.basic_authorization(),
        })
    }
}

/// Writes a line to the provider's log (stderr). Never given a secret.
pub fn log(feed: &str, message: &str) {
    eprintln!("{} {feed}: {message}", now_millis());
}

/// Runs one feed until it is disabled or aborted.
pub async fn run(shared: Arc<Shared>, record: FeedRecord, status: SharedStatus) {
    let feed = record.trigger.clone();
    let target = match FireTarget::new(&record) {
        Ok(target) => target,
        Err(problem) => return disable(&shared, &record, &status, problem),
    };
    let mut since = record.position.clone();
    let tuning = &shared.tuning;
    let mut backoff = Backoff::new(tuning.retry_min, tuning.retry_max);
    loop {
        let stop = follow(&shared, &record, &target, &status, &mut since, &mut backoff).await;
        status.connected(false);
        match stop {
            Stop::Disabled(reason) => return disable(&shared, &record, &status, reason),
            Stop::Dropped(reason) => {
                let wait = backoff.next(None);
                log(
                    &feed,
                    &format!("{reason}; reconnecting in {} ms", wait.as_millis()),
                );
                {
                    let mut current = status.lock();
                    current.retrying = Some(RetryMark {
                        what: "connect",
                        attempt: backoff.attempt(),
                        reason: reason.clone(),
                        next_at: now_millis() + wait.as_millis() as u64,
                    });
                }
                status.error(reason);
                tokio::time::sleep(wait).await;
            }
        }
    }
}

fn disable(shared: &Shared, record: &FeedRecord, status: &SharedStatus, reason: String) {
    log(&record.trigger, &format!("disabled: {reason}"));
    status.error(format!("disabled: {reason}"));
    status.lock().retrying = None;
    let state = FeedState::Disabled(reason);
    if let Err(error) = shared.store.set_state(
        &record.trigger,
        Some(record.generation),
        state,
        now_millis(),
    ) {
        log(
            &record.trigger,
            &format!("could not save the disabled state: {error}"),
        );
    }
}

/// One connection: open the feed at `since`, fire its changes, until it drops.
async fn follow(
    shared: &Shared,
    record: &FeedRecord,
    target: &FireTarget,
    status: &SharedStatus,
    since: &mut Seq,
    backoff: &mut Backoff,
) -> Stop {
    let tuning = &shared.tuning;
    let request = match couch::changes_request(&record.config, since, tuning.heartbeat) {
        Ok(request) => request,
        Err(error) => return Stop::Disabled(format!("cannot build the feed request: {error}")),
    };
    let connect_timeout = tuning.heartbeat + Duration::from_secs(10);
    // Held until the answer's head arrived; the semaphore is never closed.
    let permit = shared.connects.acquire().await.ok();
    let response = match http::send(&shared.http, request, connect_timeout).await {
        Ok(response) => response,
        Err(error) => {
            let url = &record.config.database.url;
            return Stop::Dropped(
                CouchError::Unreachable {
                    url: url.clone(),
                    reason: error.to_string(),
                }
                .to_string(),
            );
        }
    };
    let status_code = response.status().as_u16();
    if status_code != 200 {
        let body = http::read_body(response.into_body(), connect_timeout)
            .await
            .unwrap_or_default();
        let error = CouchError::from_status(&record.config.database, status_code, &body);
        return Stop::Dropped(error.to_string());
    }
    drop(permit);
    status.connected(true);
    log(&record.trigger, &format!("following changes since {since}"));
    let mut reader = LineReader::new(response.into_body(), tuning.heartbeat);
    let limit = record.config.max_changes_per_fire as usize;
    loop {
        let mut batch = Vec::new();
        let mut ended = None;
        loop {
            let line = match reader.next_line(batch.is_empty()).await {
                Ok(Some(line)) => line,
                Ok(None) => break,
                Err(reason) => {
                    ended = Some(reason);
                    break;
                }
            };
            // Any line, a heartbeat too, shows the connection works: later drops start their
            // backoff afresh.
            backoff.reset();
            match couch::parse_line(&line) {
                FeedLine::Heartbeat => {}
                FeedLine::Change { seq, change } => {
                    batch.push((seq, change));
                    if batch.len() >= limit {
                        break;
                    }
                }
                FeedLine::End => {
                    ended = Some("the database ended the feed".to_owned());
                    break;
                }
                FeedLine::Error(problem) => {
                    ended = Some(format!("the feed reported an error: {problem}"));
                    break;
                }
            }
        }
        if !batch.is_empty()
            && let Err(stop) = deliver(shared, record, target, status, since, batch).await
        {
            return stop;
        }
        if let Some(reason) = ended {
            return Stop::Dropped(reason);
        }
    }
}

/// Reads the feed's lines. It waits for data only when asked to (`wait`): otherwise it gives the
/// lines that already arrived, so that a batch holds what is there without delaying the fire.
struct LineReader {
    body: Incoming,
    buffer: BytesMut,
    idle_limit: Duration,
}

impl LineReader {
    fn new(body: Incoming, heartbeat: Duration) -> Self {
        Self {
            body,
            buffer: BytesMut::new(),
            // Two missed heartbeats and some slack: the connection is dead even if TCP says not.
            idle_limit: heartbeat * 2 + Duration::from_secs(5),
        }
    }

    async fn next_line(&mut self, wait: bool) -> Result<Option<Bytes>, String> {
        loop {
            if let Some(end) = self.buffer.iter().position(|byte| *byte == b'\n') {
                let mut line = self.buffer.split_to(end + 1);
                line.truncate(end);
                return Ok(Some(line.freeze()));
            }
            let limit = if wait {
                self.idle_limit
            } else {
                Duration::ZERO
            };
            // A zero timeout still polls the read once: data that already arrived is taken.
            match tokio::time::timeout(limit, self.body.frame()).await {
                Err(_) if wait => {
                    return Err(format!(
                        "no data (not even a heartbeat) for {} ms",
                        self.idle_limit.as_millis()
                    ));
                }
                Err(_) => return Ok(None),
                Ok(None) => return Err("the database closed the feed".into()),
                Ok(Some(Err(error))) => {
                    return Err(format!(
                        "reading the feed failed: {}",
                        http::describe(&error)
                    ));
                }
                Ok(Some(Ok(frame))) => {
                    if let Ok(data) = frame.into_data() {
                        self.buffer.extend_from_slice(&data);
                    }
                }
            }
        }
    }
}

/// The event a trigger fires with: one change with the database's name, or, when the feed
/// batches, `{"dbname", "results": [changes], "last_seq"}` (the shape of a `_changes` answer).
fn payload(record: &FeedRecord, batch: &[(Seq, Value)]) -> Value {
    let dbname = Value::from(record.config.database.name.clone());
    if record.config.max_changes_per_fire == 1
        && let [(_, Value::Object(change))] = batch
    {
        let mut event: Map<String, Value> = change.clone();
        event.insert("dbname".into(), dbname);
        return Value::Object(event);
    }
    let last_seq = batch.last().map(|(seq, _)| seq.clone()).unwrap_or_default();
    let results: Vec<Value> = batch.iter().map(|(_, change)| change.clone()).collect();
    json!({ "dbname": dbname, "results": results, "last_seq": last_seq })
}

/// Fires one batch until OpenWhisk takes it (retrying transient failures), then saves the
/// position.
async fn deliver(
    shared: &Shared,
    record: &FeedRecord,
    target: &FireTarget,
    status: &SharedStatus,
    since: &mut Seq,
    batch: Vec<(Seq, Value)>,
) -> Result<(), Stop> {
    let Some((last_seq, last_change)) = batch.last() else {
        return Ok(());
    };
    status.lock().last_change = Some(ChangeMark {
        at: now_millis(),
        seq: last_seq.clone(),
        id: last_change.get("id").cloned().unwrap_or_default(),
    });
    let body = Bytes::from(payload(record, &batch).to_string());
    let tuning = &shared.tuning;
    let mut backoff = Backoff::new(tuning.retry_min, tuning.retry_max);
    loop {
        match fire(&shared.http, target, body.clone(), tuning.fire_timeout).await {
            FireVerdict::Delivered { activation_id } => {
                if let Err(error) =
                    shared
                        .store
                        .save_position(&record.trigger, record.generation, last_seq)
                {
                    // The fire happened; without the saved position a restart fires it again.
                    log(
                        &record.trigger,
                        &format!("could not save the position: {error}"),
                    );
                    status.error(format!("could not save the position: {error}"));
                }
                *since = last_seq.clone();
                let mut current = status.lock();
                current.retrying = None;
                current.fires += 1;
                current.changes_fired += batch.len() as u64;
                current.last_fire = Some(FireMark {
                    at: now_millis(),
                    seq: last_seq.clone(),
                    changes: batch.len(),
                    activation_id,
                });
                return Ok(());
            }
            FireVerdict::Retry {
                reason,
                retry_after,
            } => {
                let wait = backoff.next(retry_after);
                log(
                    &record.trigger,
                    &format!("fire failed: {reason}; retrying in {} ms", wait.as_millis()),
                );
                {
                    let mut current = status.lock();
                    current.failed_fires += 1;
                    current.retrying = Some(RetryMark {
                        what: "fire",
                        attempt: backoff.attempt(),
                        reason: reason.clone(),
                        next_at: now_millis() + wait.as_millis() as u64,
                    });
                }
                status.error(reason);
                tokio::time::sleep(wait).await;
            }
            FireVerdict::Disable { reason } => {
                status.lock().failed_fires += 1;
                return Err(Stop::Disabled(reason));
            }
        }
    }
}

/// `POST {apihost}/api/v1/namespaces/{ns}/triggers/{name}` with the owner's key.
async fn fire(
    client: &HttpClient,
    target: &FireTarget,
    body: Bytes,
    timeout: Duration,
) -> FireVerdict {
    let request = Request::post(&target.url)
        .header(AUTHORIZATION, &target.authorization)
        .header(CONTENT_TYPE, "application/json")
        .body(Full::new(body));
    let request = match request {
        Ok(request) => request,
        Err(error) => {
            return FireVerdict::Disable {
                reason: format!("cannot build the fire request: {error}"),
            };
        }
    };
    let response = match http::send(client, request, timeout).await {
        Ok(response) => response,
        Err(error) => return classify_transport(&error.to_string()),
    };
    let status = response.status().as_u16();
    let retry_after = response
        .headers()
        .get(RETRY_AFTER)
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned);
    match http::read_body(response.into_body(), timeout).await {
        Ok(body) => classify_fire(status, &body, retry_after.as_deref()),
        // Without the whole answer the fire may or may not have happened: fire again rather
        // than lose it.
        Err(error) => classify_transport(&error.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{DatabaseConfig, FeedConfig, seq_zero};
    use feedkit::AuthKey;

    fn record(max_changes_per_fire: u32) -> FeedRecord {
        FeedRecord {
            trigger: "/guest/my trigger".into(),
            api_host: "127.0.0.1:3233".into(),
            auth_key: AuthKey::parse("u:k").expect("key"),
            config: FeedConfig {
                database: DatabaseConfig {
                    url: "http://db".into(),
                    name: "orders".into(),
                    username: None,
                    password: None,
                },
                filter: None,
                selector: None,
                include_docs: false,
                max_changes_per_fire,
            },
            state: FeedState::Active,
            date_changed: 0,
            position: seq_zero(),
            generation: 1,
        }
    }

    #[test]
    fn fires_at_the_trigger_url_with_the_owner_key() {
        let target = FireTarget::new(&record(1)).expect("target");
        assert_eq!(
            target.url,
            "https://127.0.0.1:3233/api/v1/namespaces/guest/triggers/my%20trigger"
        );
        assert_eq!(target.authorization, "Basic dTpr");
    }

    #[test]
    fn payloads_are_one_change_or_a_batch() {
        let change =
            |seq: u64| json!({"seq": seq, "id": format!("d{seq}"), "changes": [{"rev": "1-a"}]});
        let single = payload(&record(1), &[(json!(1), change(1))]);
        assert_eq!(
            single,
            json!({"seq": 1, "id": "d1", "changes": [{"rev": "1-a"}], "dbname": "orders"})
        );
        let batch = payload(&record(5), &[(json!(1), change(1)), (json!(2), change(2))]);
        assert_eq!(batch["dbname"], "orders");
        assert_eq!(batch["last_seq"], 2);
        assert_eq!(batch["results"].as_array().map(Vec::len), Some(2));
        // A batching feed keeps the batch shape for a single change.
        let one = payload(&record(5), &[(json!(1), change(1))]);
        assert_eq!(one["results"][0]["id"], "d1");
    }
}
