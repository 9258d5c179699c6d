//! A running feed's fires: a bounded window of them in flight at once, each retried with backoff
//! until OpenWhisk takes it, and the position moved only up to the last event below which every
//! fire was taken. With a 40 ms fire round trip, one fire at a time caps a feed at 25 events a
//! second; a window of 100 lifts that to 2,500.
//!
//! A slot of the window is held from the moment the source may fire until the position has moved
//! past the event, so a fire stuck in retries holds the feed back by at most the window (the
//! source waits, unread changes stay in the socket) instead of letting it run ahead unsaved.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use provider_api::FireMark;
use tokio::sync::OwnedSemaphorePermit;
use tokio::task::JoinSet;

use crate::classify::{Backoff, FireVerdict};
use crate::fire::{FireTarget, fire};
use crate::http::HttpClient;
use crate::lease::LeaseGuard;
use crate::metrics::Metrics;
use crate::model::{FeedId, Position, Saved, now_millis};
use crate::positions::PositionBook;
use crate::source::{Control, Event, Lane};
use crate::status::SharedStatus;

/// How a feed's run ended (other than by being stopped from outside).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ended {
    /// OpenWhisk refused a fire for good, or the source gave up: keep the feed disabled.
    Disabled(String),
    /// The bucket's lease ran out or was lost: the feed is another instance's now.
    LeaseLost,
    /// The source stopped of its own accord.
    SourceEnded,
    /// The feed is done: its trigger (with its rules) is to be deleted, then the feed.
    DeleteTrigger { with_rules: bool },
}

impl From<Control> for Ended {
    fn from(control: Control) -> Self {
        match control {
            Control::Disable(reason) => Self::Disabled(reason),
            Control::DeleteTrigger { with_rules } => Self::DeleteTrigger { with_rules },
        }
    }
}

/// What one feed's fires need.
pub struct FeedFires {
    pub id: FeedId,
    pub bucket: u32,
    /// The start the positions belong to.
    pub reset: u64,
    pub target: FireTarget,
    pub guard: Arc<LeaseGuard>,
    pub status: SharedStatus,
    /// What every feed's fires share.
    pub common: Arc<FireCommon>,
}

/// What the fires of every feed of an instance share.
pub struct FireCommon {
    pub http: HttpClient,
    pub fire_timeout: Duration,
    pub retry_min: Duration,
    pub retry_max: Duration,
    pub positions: Arc<PositionBook>,
    pub metrics: Arc<Metrics>,
}

enum Outcome {
    Taken {
        index: u64,
        position: Position,
        permit: OwnedSemaphorePermit,
    },
    Disable(String),
    LeaseLost,
}

/// Fires what the lane holds until nothing is in flight or waiting (`None`: the task ends, the
/// next event starts another), or the run ends (disabled, lease lost, source ended, done).
/// Stopping it from outside (aborting the task) aborts the fires in flight: their events were
/// not saved, so they fire again when the feed runs next.
pub async fn run(feed: Arc<FeedFires>, lane: Arc<Lane>) -> Option<Ended> {
    let mut in_flight = JoinSet::new();
    let mut next_index = 0_u64;
    let mut next_to_save = 0_u64;
    // Taken out of order: waiting for the ones before them.
    let mut taken: BTreeMap<u64, (Position, OwnedSemaphorePermit)> = BTreeMap::new();
    // When each event not yet saved was read.
    let mut unsaved: BTreeMap<u64, Instant> = BTreeMap::new();
    // What to do once the position passed an event.
    let mut afters: BTreeMap<u64, Control> = BTreeMap::new();
    let ended = loop {
        let work = lane.take();
        if let Some(control) = work.control {
            break Ended::from(control);
        }
        for (mut event, permit) in work.events {
            let index = next_index;
            next_index += 1;
            feed.status.lock().in_flight += 1;
            if unsaved.is_empty() {
                feed.status.set_oldest_unsaved(Some(event.read_at));
            }
            unsaved.insert(index, event.read_at);
            if let Some(after) = event.after.take() {
                afters.insert(index, after);
            }
            in_flight.spawn(fire_until_taken(feed.clone(), index, event, permit));
        }
        if in_flight.is_empty() {
            if work.source_ended {
                break Ended::SourceEnded;
            }
            if lane.idle() {
                return None;
            }
            continue;
        }
        tokio::select! {
            () = lane.notified() => {}
            Some(done) = in_flight.join_next() => {
                feed.status.lock().in_flight = in_flight.len();
                match done {
                    Ok(Outcome::Taken { index, position, permit }) => {
                        taken.insert(index, (position, permit));
                        let mut reached = None;
                        let mut then = None;
                        while let Some((position, _permit)) = taken.remove(&next_to_save) {
                            reached = Some(position);
                            unsaved.remove(&next_to_save);
                            then = afters.remove(&next_to_save);
                            next_to_save += 1;
                            if then.is_some() {
                                break;
                            }
                        }
                        if let Some(position) = reached {
                            feed.status
                                .set_oldest_unsaved(unsaved.values().next().copied());
                            feed.common.positions.set(
                                &feed.id,
                                feed.bucket,
                                Saved { reset: feed.reset, position },
                            );
                        }
                        if let Some(control) = then {
                            break Ended::from(control);
                        }
                    }
                    Ok(Outcome::Disable(reason)) => break Ended::Disabled(reason),
                    Ok(Outcome::LeaseLost) => break Ended::LeaseLost,
                    // A fire task panicked: stop the feed rather than skip its event.
                    Err(error) => break Ended::Disabled(format!("a fire failed unexpectedly: {error}")),
                }
            }
        }
    };
    // No more events: the source may be waiting for a slot.
    lane.finished();
    feed.status.lock().in_flight = 0;
    feed.status.set_oldest_unsaved(None);
    Some(ended)
}

/// Fires one event until OpenWhisk takes it, it is refused for good, or the lease is gone.
async fn fire_until_taken(
    feed: Arc<FeedFires>,
    index: u64,
    event: Event,
    permit: OwnedSemaphorePermit,
) -> Outcome {
    let common = &feed.common;
    let mut backoff = Backoff::new(common.retry_min, common.retry_max);
    loop {
        if !feed.guard.is_valid() {
            return Outcome::LeaseLost;
        }
        let verdict = fire(
            &common.http,
            &feed.target,
            event.payload.clone(),
            common.fire_timeout,
        )
        .await;
        match verdict {
            FireVerdict::Delivered { activation_id } => {
                common.metrics.fired(event.items);
                let mut status = feed.status.lock();
                status.retrying = None;
                status.fires += 1;
                status.changes_fired += event.items as u64;
                status.last_fire = Some(FireMark {
                    at: now_millis(),
                    seq: event.position.clone(),
                    changes: event.items,
                    activation_id,
                });
                return Outcome::Taken {
                    index,
                    position: event.position,
                    permit,
                };
            }
            FireVerdict::Retry {
                reason,
                retry_after,
            } => {
                let wait = backoff.next(retry_after);
                common.metrics.fire_failed(true);
                tracing::warn!(
                    feed = %feed.id,
                    wait_ms = wait.as_millis() as u64,
                    "fire failed, retrying: {reason}"
                );
                feed.status.lock().failed_fires += 1;
                feed.status
                    .retrying("fire", backoff.attempt(), &reason, wait.as_millis() as u64);
                tokio::time::sleep(wait).await;
            }
            FireVerdict::Disable { reason } => {
                common.metrics.fire_failed(false);
                feed.status.lock().failed_fires += 1;
                return Outcome::Disable(reason);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{FeedRecord, FeedState, Start};
    use crate::source::Emitter;
    use fakes::{Recorded, Reply, ScriptedServer};
    use feedkit::AuthKey;
    use serde_json::{Value, json};
    use std::sync::atomic::{AtomicBool, Ordering};
    use tokio::sync::mpsc;

    fn event(seq: u64) -> Event {
        Event {
            position: json!(seq),
            payload: bytes::Bytes::from(json!({"seq": seq}).to_string()),
            items: 1,
            read_at: Instant::now(),
            after: None,
        }
    }

    /// OpenWhisk answering 202 to every fire except change 1's, which gets 503 until `fixed`.
    fn openwhisk(fixed: Arc<AtomicBool>) -> ScriptedServer {
        ScriptedServer::start(move |request: &Recorded| {
            let body: Value = serde_json::from_slice(&request.body).unwrap_or_default();
            if body["seq"] == 1 && !fixed.load(Ordering::SeqCst) {
                Reply::json(503, &json!({"error": "busy"}))
            } else {
                Reply::json(202, &json!({"activationId": "a"}))
            }
        })
        .expect("fake OpenWhisk")
    }

    struct Harness {
        lane: Arc<Lane>,
        emitter: Emitter,
        status: SharedStatus,
        positions: Arc<PositionBook>,
        /// How each run of the firing task ended (`None`: idle).
        ends: mpsc::UnboundedReceiver<Option<Ended>>,
    }

    /// A lane of `window` whose firing tasks report how they ended.
    fn harness(api_host: String, window: usize) -> Harness {
        let record = FeedRecord {
            id: "/guest/t".into(),
            rev: None,
            kind: "changes".into(),
            api_host,
            auth_key: AuthKey::parse("u:k").expect("key"),
            config: json!({}),
            state: FeedState::Active,
            date_changed: 0,
            start: Start::at(json!(0)),
            sealed_with: None,
        };
        let status = SharedStatus::default();
        let positions = Arc::new(PositionBook::default());
        let fires = Arc::new(FeedFires {
            id: record.id.clone(),
            bucket: 0,
            reset: 7,
            target: FireTarget::new(&record).expect("target"),
            guard: Arc::new(LeaseGuard::for_ever(0, 1)),
            status: status.clone(),
            common: Arc::new(FireCommon {
                http: crate::http::client(8).expect("client"),
                fire_timeout: Duration::from_secs(5),
                retry_min: Duration::from_millis(20),
                retry_max: Duration::from_millis(50),
                positions: positions.clone(),
                metrics: Arc::new(Metrics::default()),
            }),
        });
        let (sender, ends) = mpsc::unbounded_channel();
        let (lane, emitter) = Lane::new(window, status.clone(), move |lane| {
            let fires = fires.clone();
            let sender = sender.clone();
            tokio::spawn(async move {
                let _ = sender.send(run(fires, lane).await);
            })
            .abort_handle()
        });
        Harness {
            lane,
            emitter,
            status,
            positions,
            ends,
        }
    }

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime")
    }

    #[test]
    fn the_position_moves_only_past_fires_that_were_all_taken() {
        let fixed = Arc::new(AtomicBool::new(false));
        let server = openwhisk(fixed.clone());
        runtime().block_on(async {
            let Harness {
                lane,
                emitter,
                status,
                positions,
                mut ends,
            } = harness(server.url(), 10);
            for seq in 1..=5 {
                emitter.slot().await.expect("room").fire(event(seq));
            }
            // Changes 2 to 5 were taken, change 1 is retried: nothing may be saved yet.
            let taken = |seq: u64| {
                server.requests().iter().any(|request| {
                    serde_json::from_slice::<Value>(&request.body).unwrap_or_default()["seq"] == seq
                })
            };
            let deadline = Instant::now() + Duration::from_secs(60);
            while !(2..=5).all(taken) || status.snapshot().failed_fires < 2 {
                assert!(Instant::now() < deadline, "the fires did not happen");
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            assert_eq!(positions.get("/guest/t"), None);
            assert!(status.snapshot().retrying.is_some());
            assert!(lane.is_busy());
            // Change 1 is taken at last: the position jumps to 5.
            fixed.store(true, Ordering::SeqCst);
            while positions.get("/guest/t").map(|saved| saved.position) != Some(json!(5)) {
                assert!(Instant::now() < deadline, "the position did not move");
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            let snapshot = status.snapshot();
            assert_eq!((snapshot.fires, snapshot.changes_fired), (5, 5));
            // Nothing left to fire: the task is gone until the next event.
            assert_eq!(ends.recv().await, Some(None));
            assert!(!lane.is_busy());
            emitter.slot().await.expect("room").fire(event(6));
            assert_eq!(ends.recv().await, Some(None));
            assert_eq!(
                positions.get("/guest/t").map(|saved| saved.position),
                Some(json!(6))
            );
            drop(emitter);
            assert_eq!(ends.recv().await, Some(Some(Ended::SourceEnded)));
        });
    }

    #[test]
    fn a_control_after_an_event_applies_once_its_fire_was_taken() {
        let fixed = Arc::new(AtomicBool::new(false));
        let server = openwhisk(fixed.clone());
        runtime().block_on(async {
            let Harness {
                lane,
                emitter,
                positions,
                mut ends,
                ..
            } = harness(server.url(), 1);
            // A window of one: the second event waits for the first to be saved.
            emitter.try_slot().expect("room").fire(event(1));
            assert!(emitter.try_slot().is_none());
            fixed.store(true, Ordering::SeqCst);
            let mut last = event(2);
            last.after = Some(Control::DeleteTrigger { with_rules: true });
            emitter.slot().await.expect("room").fire(last);
            // The first run may have gone idle between the two events.
            let mut end = ends.recv().await.expect("an end");
            if end.is_none() {
                end = ends.recv().await.expect("an end");
            }
            assert_eq!(end, Some(Ended::DeleteTrigger { with_rules: true }));
            assert_eq!(
                positions.get("/guest/t").map(|saved| saved.position),
                Some(json!(2))
            );
            assert!(!lane.is_busy());
            // The run is over: the source is told (no more slots).
            assert!(emitter.slot().await.is_none());
        });
    }
}
