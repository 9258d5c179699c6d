//! One feed's connection: a continuous `_changes` feed read from the feed's position, each change
//! (or batch) handed to the core as an event, reconnecting with backoff when it drops.
//!
//! The feed waits for a slot in the window of fires before it reads more than the line it has:
//! while the window is full, unread changes stay in the socket (TCP pushes back on the database)
//! and arrive together afterwards, which is also what fills batches.
//!
//! Before a feed connects for the first time, and after its stream broke, the database is asked
//! for its current sequence: a numeric one that went back below the feed's position, or a
//! database that was missing and is back, means it was deleted and created again, and the
//! feed's `ifRecreated` policy applies (from the beginning by default).

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use provider_api::{ChangeMark, ChangesConfig, IfRecreated, RecreatedMark};
use serde_json::{Map, Value, json};

use super::couch::{self, CouchError, FeedLine, seq_number, seq_text};
use crate::classify::Backoff;
use crate::http::{self, HttpClient, LineReader};
use crate::metrics::Metrics;
use crate::model::{FeedId, Position, now_millis};
use crate::source::{Emitter, Event};
use crate::tuning::Tuning;

/// Why a connection ended.
enum Stop {
    /// Reconnect after a backoff.
    Dropped(String),
    /// Stop the feed for good; the reason goes into its state.
    Disabled(String),
    /// The core is stopping the feed.
    Stopping,
}

pub struct Follower {
    pub http: HttpClient,
    pub tuning: Tuning,
    pub metrics: Arc<Metrics>,
    pub feed: FeedId,
    pub config: ChangesConfig,
    pub emitter: Emitter,
    /// Where the next connection reads from.
    pub since: Position,
    /// The database is known to match `since` (no need to look for a re-creation).
    pub checked: bool,
    /// The database's first change as last seen (numeric sequences only).
    pub first: Option<(u64, String, String)>,
}

impl Follower {
    /// Follows the feed until the core stops it or it is disabled.
    pub async fn run(mut self) {
        let tuning = self.tuning.clone();
        let mut backoff = Backoff::new(tuning.retry_min, tuning.retry_max);
        let mut missing = false;
        loop {
            let stop = self.connection(&mut backoff, &mut missing).await;
            self.emitter.status().connected(false);
            match stop {
                Stop::Stopping => return,
                Stop::Disabled(reason) => {
                    self.emitter.disable(reason);
                    return;
                }
                Stop::Dropped(reason) => {
                    self.metrics.connect_failed();
                    let wait = backoff.next(None);
                    tracing::info!(
                        feed = %self.feed,
                        wait_ms = wait.as_millis() as u64,
                        "connection ended, reconnecting: {reason}"
                    );
                    self.emitter.status().retrying(
                        "connect",
                        backoff.attempt(),
                        &reason,
                        wait.as_millis() as u64,
                    );
                    tokio::time::sleep(wait).await;
                }
            }
        }
    }

    /// Looks for a re-created database: `Ok(true)` when it was (and `since` now follows the
    /// policy); `Err` ends this connection attempt. `deep` also compares the database's first
    /// change with the one seen before (one more request: done on the periodic checks).
    async fn check(&mut self, missing: &mut bool, deep: bool) -> Result<bool, Stop> {
        let current = match couch::check_database(&self.http, &self.config.database).await {
            Ok(current) => current,
            Err(error @ CouchError::NotFound { .. }) => {
                *missing = true;
                return Err(Stop::Dropped(error.to_string()));
            }
            Err(error) => return Err(Stop::Dropped(error.to_string())),
        };
        // Only numeric sequences (PouchDB, CouchDB 1.x) are compared: CouchDB 2+'s opaque ones
        // may read lower on another replica, and CouchDB itself starts a re-created shard over
        // when given a sequence of the old one.
        let numbers = self.since.is_number() && current.is_number();
        let went_back = match (seq_number(&current), seq_number(&self.since)) {
            (Some(now), Some(was)) if numbers && now < was => Some(format!(
                "the database's sequence went back from {} to {}",
                seq_text(&self.since),
                seq_text(&current)
            )),
            _ => None,
        };
        let mut replaced = None;
        if deep && numbers {
            match couch::first_change(&self.http, &self.config.database).await {
                Ok(Some(first)) => {
                    if let Some(known) = &self.first
                        && first.0 <= known.0
                        && (&first.1, &first.2) != (&known.1, &known.2)
                    {
                        replaced = Some(format!(
                            "the database's first change is another one (sequence {}, document {:?}) than before (document {:?})",
                            first.0, first.1, known.1
                        ));
                    }
                    self.first = Some(first);
                }
                Ok(None) => {}
                Err(error) => return Err(Stop::Dropped(error.to_string())),
            }
        }
        let reason = went_back.or(replaced).or_else(|| {
            missing.then(|| {
                "the database was missing and exists again (deleted and created again)".to_owned()
            })
        });
        *missing = false;
        self.checked = true;
        let Some(reason) = reason else {
            return Ok(false);
        };
        let policy = self.config.if_recreated;
        self.metrics.database_recreated();
        tracing::warn!(feed = %self.feed, ?policy, "database re-created: {reason}");
        self.emitter.status().lock().recreated = Some(RecreatedMark {
            at: now_millis(),
            reason: reason.clone(),
            previous_position: self.since.clone(),
            policy,
        });
        match policy {
            IfRecreated::Beginning => self.since = json!(0),
            IfRecreated::Now => self.since = current,
            IfRecreated::Disable => {
                return Err(Stop::Disabled(format!(
                    "{reason}; the feed's position belongs to the old database (ifRecreated: disable). Update the feed with a `since`, or unpause it to start from the beginning"
                )));
            }
        }
        Ok(true)
    }

    /// One connection: open the feed at `since`, hand over its changes, until it drops.
    async fn connection(&mut self, backoff: &mut Backoff, missing: &mut bool) -> Stop {
        let tuning = self.tuning.clone();
        let request = match couch::changes_request(&self.config, &self.since, tuning.heartbeat) {
            Ok(request) => request,
            Err(error) => return Stop::Disabled(format!("cannot build the feed request: {error}")),
        };
        let head_timeout = tuning.heartbeat + Duration::from_secs(10);
        let http = self.http.clone();
        let open = http::send(&http, request, head_timeout);
        // The stream is opened while the database is checked (a connect costs one round trip,
        // not two); nothing is read from it before the check is done.
        let (checked, response) = if self.checked {
            (Ok(false), open.await)
        } else {
            tokio::join!(self.check(missing, false), open)
        };
        match checked {
            Ok(false) => {}
            // Re-created: `since` follows the policy now; this stream read from the old one.
            Ok(true) => return Stop::Dropped("the database was deleted and created again".into()),
            Err(stop) => return stop,
        }
        let response = match response {
            Ok(response) => response,
            Err(error) => {
                return Stop::Dropped(
                    CouchError::Unreachable {
                        url: self.config.database.url.clone(),
                        reason: error.to_string(),
                    }
                    .to_string(),
                );
            }
        };
        let status_code = response.status().as_u16();
        if status_code != 200 {
            let body = http::read_body(response.into_body(), head_timeout)
                .await
                .unwrap_or_default();
            let error = CouchError::from_status(&self.config.database, status_code, &body);
            if matches!(error, CouchError::NotFound { .. }) {
                *missing = true;
                self.checked = false;
            }
            return Stop::Dropped(error.to_string());
        }
        self.emitter.status().connected(true);
        self.metrics.connected();
        tracing::debug!(feed = %self.feed, since = %self.since, "following changes");
        let mut reader = LineReader::new(response.into_body(), tuning.heartbeat);
        let limit = self.config.max_changes_per_fire as usize;
        // Spread over the interval: feeds that connected together must not all ask their
        // databases at the same moment.
        let mut check_due = Instant::now() + jittered(self.tuning.recheck);
        loop {
            // A database deleted under an open feed may keep it open (PouchDB sends heartbeats
            // for ever and nothing of the new database): look at it now and then.
            if Instant::now() >= check_due {
                check_due = Instant::now() + jittered(self.tuning.recheck);
                match self.check(missing, true).await {
                    Ok(false) => {}
                    Ok(true) => {
                        return Stop::Dropped("the database was deleted and created again".into());
                    }
                    Err(stop) => return stop,
                }
            }
            let first = match reader.next_line(true).await {
                Ok(Some(line)) => line,
                Ok(None) => continue,
                Err(reason) => {
                    // A dropped stream may be a deleted database: look before reconnecting.
                    self.checked = false;
                    return Stop::Dropped(reason);
                }
            };
            // Any line, a heartbeat too, shows the connection works: later drops start their
            // backoff afresh.
            backoff.reset();
            let (seq, change) = match couch::parse_line(&first) {
                FeedLine::Heartbeat => continue,
                FeedLine::Change { seq, change } => (seq, change),
                FeedLine::End => {
                    self.checked = false;
                    return Stop::Dropped("the database ended the feed".into());
                }
                FeedLine::Error(problem) => {
                    self.checked = false;
                    return Stop::Dropped(format!("the feed reported an error: {problem}"));
                }
            };
            let read_at = Instant::now();
            let Some(slot) = self.emitter.slot().await else {
                return Stop::Stopping;
            };
            let mut batch = vec![(seq, change)];
            let mut ended = None;
            while batch.len() < limit {
                match reader.next_line(false).await {
                    Ok(Some(line)) => match couch::parse_line(&line) {
                        FeedLine::Heartbeat => {}
                        FeedLine::Change { seq, change } => batch.push((seq, change)),
                        FeedLine::End => {
                            ended = Some("the database ended the feed".to_owned());
                            break;
                        }
                        FeedLine::Error(problem) => {
                            ended = Some(format!("the feed reported an error: {problem}"));
                            break;
                        }
                    },
                    Ok(None) => break,
                    Err(reason) => {
                        ended = Some(reason);
                        break;
                    }
                }
            }
            let Some((last_seq, last_change)) = batch.last() else {
                continue;
            };
            self.emitter.status().lock().last_change = Some(ChangeMark {
                at: now_millis(),
                seq: last_seq.clone(),
                id: last_change.get("id").cloned().unwrap_or_default(),
            });
            self.since = last_seq.clone();
            slot.fire(Event {
                position: last_seq.clone(),
                payload: Bytes::from(payload(&self.config, &batch).to_string()),
                items: batch.len(),
                read_at,
                after: None,
            });
            if let Some(reason) = ended {
                self.checked = false;
                return Stop::Dropped(reason);
            }
        }
    }
}

/// Somewhere between half and one and a half of `interval`.
fn jittered(interval: Duration) -> Duration {
    let fraction = (crate::model::random_u64() % 1000) as f64 / 1000.0;
    interval.mul_f64(0.5 + fraction)
}

/// The event a trigger fires with: one change with the database's name, or, when the feed
/// batches, `{"dbname", "results": [changes], "last_seq"}` (the shape of a `_changes` answer).
fn payload(config: &ChangesConfig, batch: &[(Position, Value)]) -> Value {
    let dbname = Value::from(config.database.name.clone());
    if config.max_changes_per_fire == 1
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

#[cfg(test)]
mod tests {
    use super::*;
    use provider_api::Database;

    fn config(max_changes_per_fire: u32) -> ChangesConfig {
        let mut config = ChangesConfig::new(Database {
            url: "http://db".into(),
            name: "orders".into(),
            username: None,
            password: None,
        });
        config.max_changes_per_fire = max_changes_per_fire;
        config
    }

    #[test]
    fn payloads_are_one_change_or_a_batch() {
        let change =
            |seq: u64| json!({"seq": seq, "id": format!("d{seq}"), "changes": [{"rev": "1-a"}]});
        let single = payload(&config(1), &[(json!(1), change(1))]);
        assert_eq!(
            single,
            json!({"seq": 1, "id": "d1", "changes": [{"rev": "1-a"}], "dbname": "orders"})
        );
        let batch = payload(&config(5), &[(json!(1), change(1)), (json!(2), change(2))]);
        assert_eq!(batch["dbname"], "orders");
        assert_eq!(batch["last_seq"], 2);
        assert_eq!(batch["results"].as_array().map(Vec::len), Some(2));
        // A batching feed keeps the batch shape for a single change.
        let one = payload(&config(5), &[(json!(1), change(1))]);
        assert_eq!(one["results"][0]["id"], "d1");
    }
}
