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
use crate::source::{Control, Event, Intake};
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
}

/// What one feed's fires need.
pub struct FeedFires {
    pub id: FeedId,
    pub bucket: u32,
    /// The start the positions belong to.
    pub reset: u64,
    pub target: FireTarget,
    pub http: HttpClient,
    pub fire_timeout: Duration,
    pub retry_min: Duration,
    pub retry_max: Duration,
    pub guard: Arc<LeaseGuard>,
    pub positions: Arc<PositionBook>,
    pub status: SharedStatus,
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

/// Runs the feed's fires until it is disabled, its lease is lost or its source ends. Stopping
/// it from outside (aborting the task) aborts the fires in flight: their events were not
/// saved, so they fire again when the feed runs next.
pub async fn run(feed: Arc<FeedFires>, mut intake: Intake) -> Ended {
    let mut in_flight = JoinSet::new();
    let mut next_index = 0_u64;
    let mut next_to_save = 0_u64;
    // Taken out of order: waiting for the ones before them.
    let mut taken: BTreeMap<u64, (Position, OwnedSemaphorePermit)> = BTreeMap::new();
    // When each event not yet saved was read.
    let mut unsaved: BTreeMap<u64, Instant> = BTreeMap::new();
    let mut source_open = true;
    let mut control_open = true;
    let ended = loop {
        tokio::select! {
            control = intake.control.recv(), if control_open => match control {
                Some(Control::Disable(reason)) => break Ended::Disabled(reason),
                None => control_open = false,
            },
            event = intake.events.recv(), if source_open => match event {
                Some((event, permit)) => {
                    let index = next_index;
                    next_index += 1;
                    feed.status.lock().in_flight += 1;
                    if unsaved.is_empty() {
                        feed.status.set_oldest_unsaved(Some(event.read_at));
                    }
                    unsaved.insert(index, event.read_at);
                    in_flight.spawn(fire_until_taken(feed.clone(), index, event, permit));
                }
                None => source_open = false,
            },
            Some(done) = in_flight.join_next(), if !in_flight.is_empty() => {
                feed.status.lock().in_flight = in_flight.len();
                match done {
                    Ok(Outcome::Taken { index, position, permit }) => {
                        taken.insert(index, (position, permit));
                        let mut reached = None;
                        while let Some((position, _permit)) = taken.remove(&next_to_save) {
                            reached = Some(position);
                            unsaved.remove(&next_to_save);
                            next_to_save += 1;
                        }
                        if let Some(position) = reached {
                            feed.status
                                .set_oldest_unsaved(unsaved.values().next().copied());
                            feed.positions.set(
                                &feed.id,
                                feed.bucket,
                                Saved { reset: feed.reset, position },
                            );
                        }
                    }
                    Ok(Outcome::Disable(reason)) => break Ended::Disabled(reason),
                    Ok(Outcome::LeaseLost) => break Ended::LeaseLost,
                    // A fire task panicked: stop the feed rather than skip its event.
                    Err(error) => break Ended::Disabled(format!("a fire failed unexpectedly: {error}")),
                }
            }
            else => break Ended::SourceEnded,
        }
    };
    // No more events: the source may be waiting for a slot.
    intake.window.close();
    feed.status.lock().in_flight = 0;
    feed.status.set_oldest_unsaved(None);
    ended
}

/// Fires one event until OpenWhisk takes it, it is refused for good, or the lease is gone.
async fn fire_until_taken(
    feed: Arc<FeedFires>,
    index: u64,
    event: Event,
    permit: OwnedSemaphorePermit,
) -> Outcome {
    let mut backoff = Backoff::new(feed.retry_min, feed.retry_max);
    loop {
        if !feed.guard.is_valid() {
            return Outcome::LeaseLost;
        }
        let verdict = fire(
            &feed.http,
            &feed.target,
            event.payload.clone(),
            feed.fire_timeout,
        )
        .await;
        match verdict {
            FireVerdict::Delivered { activation_id } => {
                feed.metrics.fired(event.items);
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
                feed.metrics.fire_failed(true);
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
                feed.metrics.fire_failed(false);
                feed.status.lock().failed_fires += 1;
                return Outcome::Disable(reason);
            }
        }
    }
}
