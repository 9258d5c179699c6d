//! What a source of events is to the core: the [`Source`] trait, and the [`Emitter`] through which
//! a running feed hands its events to the core.
//!
//! The core owns everything that is the same for every kind of feed: the registry and its REST
//! API, the stores and their buckets, firing triggers (classification, retries with backoff, the
//! window of fires in flight), saving positions, status and metrics. A source owns only where
//! events come from: checking its settings, and producing events with the position each one
//! moves the feed to. CouchDB `_changes` ([`crate::changes`]) keeps a connection per feed; a
//! timer source can serve every feed from one task: [`Source::start`] leaves that to the source.
//!
//! Delivery is at least once: the core saves a feed's position only up to the last event below
//! which every fire was taken, and a feed (re)starts from its saved position.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};

use bytes::Bytes;
use provider_api::{FeedStatus, Since};
use serde_json::Value;
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};
use tokio::task::AbortHandle;

use crate::model::{FeedRecord, Position};
use crate::status::SharedStatus;
use crate::store::BoxFuture;

/// Why a source refused settings.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SourceError {
    /// The settings are wrong as given (400).
    #[error("{0}")]
    Invalid(String),
    /// The settings are well-formed but what they point at cannot be used (422): a database
    /// that does not answer, refuses the credentials or does not exist.
    #[error("{0}")]
    Unusable(String),
}

/// Reads a source's own JSON, naming the path of what is wrong (`config.database.passwd:
/// unknown field ...`).
pub(crate) fn parse<T: serde::de::DeserializeOwned>(value: Value) -> Result<T, SourceError> {
    serde_path_to_error::deserialize(value).map_err(|error| {
        let path = error.path().to_string();
        let inner = error.into_inner();
        SourceError::Invalid(if path == "." {
            format!("config: {inner}")
        } else {
            format!("config.{path}: {inner}")
        })
    })
}

/// A registration's or update's settings, checked.
#[derive(Debug, Clone, PartialEq)]
pub struct Prepared {
    /// The settings as they are stored (normalised, secrets included).
    pub config: Value,
    /// Where the feed (re)starts; `None` keeps its saved position.
    pub start: Option<Position>,
}

/// Stops a running feed's source when dropped.
pub struct SourceHandle {
    _stop: Box<dyn Send + Sync>,
}

impl SourceHandle {
    /// A handle that aborts `task` when dropped.
    pub fn task(task: tokio::task::JoinHandle<()>) -> Self {
        struct AbortOnDrop(tokio::task::AbortHandle);
        impl Drop for AbortOnDrop {
            fn drop(&mut self) {
                self.0.abort();
            }
        }
        Self {
            _stop: Box::new(AbortOnDrop(task.abort_handle())),
        }
    }

    /// A handle that runs `stop` when dropped.
    pub fn on_drop(stop: impl FnOnce() + Send + Sync + 'static) -> Self {
        struct OnDrop<F: FnOnce()>(Option<F>);
        impl<F: FnOnce()> Drop for OnDrop<F> {
            fn drop(&mut self) {
                if let Some(stop) = self.0.take() {
                    stop();
                }
            }
        }
        Self {
            _stop: Box::new(OnDrop(Some(stop))),
        }
    }
}

/// A kind of feed.
pub trait Source: Send + Sync + 'static {
    /// The registrations it serves (their `kind`).
    fn kind(&self) -> &'static str;

    /// JSON pointers of the secret fields of its settings (e.g. `/database/password`): sealed at
    /// rest, shown as `********`.
    fn secret_fields(&self) -> &'static [&'static str];

    /// Checks a registration's settings (refusing unknown fields, naming the one at fault),
    /// reaches what they point at, and says where the feed starts (`since`; default: now).
    fn prepare(
        &self,
        config: Value,
        since: Option<Since>,
    ) -> BoxFuture<'_, Result<Prepared, SourceError>>;

    /// Applies an update's `patch` (the source's own patch shape) to the stored `config`.
    fn update<'a>(
        &'a self,
        config: &'a Value,
        patch: Option<Value>,
        since: Option<Since>,
    ) -> BoxFuture<'a, Result<Prepared, SourceError>>;

    /// Starts following `feed` from `position`, handing events to `emitter` until the handle
    /// is dropped.
    fn start(&self, feed: &FeedRecord, position: Position, emitter: Emitter) -> SourceHandle;

    /// How many fires of one feed may be in flight (and unsaved) at once; `None`: the core's
    /// `--fire-window`. A timer source wants 1: a tick that finds the previous one still
    /// retrying is folded into the next fire instead of queueing behind it.
    fn fire_window(&self) -> Option<usize> {
        None
    }

    /// Adds the source's own part to a feed's status as READ shows it (`position` is where the
    /// feed resumes; `status` holds the live part when this instance runs it): an alarm's next
    /// fire and count of fires.
    fn describe(&self, _record: &FeedRecord, _position: &Position, _status: &mut FeedStatus) {}

    /// The stored settings as READ shows them (before secrets are redacted): a source may keep
    /// them in a compact form of its own.
    fn view_config(&self, stored: &Value) -> Value {
        stored.clone()
    }
}

/// One event to fire: the trigger's payload, and the position the feed reaches once it (and
/// every event before it) was fired.
#[derive(Debug, Clone)]
pub struct Event {
    pub position: Position,
    /// The event as JSON.
    pub payload: Bytes,
    /// How many source items it carries (for the counters).
    pub items: usize,
    /// When the source read it (the feed's lag is the age of the oldest one not yet fired).
    pub read_at: std::time::Instant,
    /// What the core does once this event was taken and the position moved past it (a feed
    /// that is done after its last fire: an alarm's `maxTriggers` reached, a once alarm fired).
    pub after: Option<Control>,
}

/// What the source tells the core besides events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Control {
    /// Stop the feed and keep it disabled with this reason.
    Disable(String),
    /// The feed is done: delete its trigger from OpenWhisk (with the trigger's rules first when
    /// `with_rules`), then the feed itself.
    DeleteTrigger { with_rules: bool },
}

/// One run of one feed between its source and its fires: the events and controls handed over
/// and not yet taken by the fires, and the window of fires in flight. A few hundred bytes: the
/// task that fires (see [`crate::pipeline`]) runs only while there is something to fire, so an
/// idle feed (an alarm between its ticks) costs no task and no buffers.
pub struct Lane {
    window: Arc<Semaphore>,
    inbox: Mutex<Inbox>,
    wake: Notify,
    status: SharedStatus,
    /// Starts the task that fires this lane's events (the core's pipeline).
    launch: Box<dyn Fn(Arc<Lane>) -> AbortHandle + Send + Sync>,
}

#[derive(Default)]
struct Inbox {
    events: VecDeque<(Event, OwnedSemaphorePermit)>,
    control: Option<Control>,
    /// Emitters and slots alive: none left (and nothing pending) means the source ended.
    senders: usize,
    /// The firing task, while one runs.
    task: Option<AbortHandle>,
    stopped: bool,
}

/// What the firing task takes from its lane at once.
pub struct Taken {
    pub events: Vec<(Event, OwnedSemaphorePermit)>,
    pub control: Option<Control>,
    /// The source is gone (no emitter or slot left) and everything it sent is taken.
    pub source_ended: bool,
}

impl Lane {
    /// A lane with `window` fires in flight at most, and the source's first emitter; `launch`
    /// starts the firing task when there is work and none runs.
    pub fn new(
        window: usize,
        status: SharedStatus,
        launch: impl Fn(Arc<Lane>) -> AbortHandle + Send + Sync + 'static,
    ) -> (Arc<Self>, Emitter) {
        let lane = Arc::new(Self {
            window: Arc::new(Semaphore::new(window.max(1))),
            inbox: Mutex::new(Inbox {
                senders: 1,
                ..Inbox::default()
            }),
            wake: Notify::new(),
            status,
            launch: Box::new(launch),
        });
        let emitter = Emitter { lane: lane.clone() };
        (lane, emitter)
    }

    fn inbox(&self) -> MutexGuard<'_, Inbox> {
        self.inbox
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Makes sure a firing task runs and looks at the inbox (called with it locked).
    fn kick(self: &Arc<Self>, inbox: &mut Inbox) {
        if inbox.stopped {
            return;
        }
        if inbox.task.is_none() {
            inbox.task = Some((self.launch)(self.clone()));
        }
        self.wake.notify_one();
    }

    fn push(self: &Arc<Self>, event: Event, permit: OwnedSemaphorePermit) {
        let mut inbox = self.inbox();
        if inbox.stopped {
            // The core stopped the feed meanwhile: the event is not lost, it is fired again from
            // the saved position when the feed runs next.
            return;
        }
        inbox.events.push_back((event, permit));
        self.kick(&mut inbox);
    }

    fn control(self: &Arc<Self>, control: Control) {
        let mut inbox = self.inbox();
        inbox.control = Some(control);
        self.kick(&mut inbox);
    }

    fn sender_gone(self: &Arc<Self>) {
        let mut inbox = self.inbox();
        inbox.senders = inbox.senders.saturating_sub(1);
        if inbox.senders == 0 {
            self.kick(&mut inbox);
        }
    }

    /// The firing task takes what was handed over.
    pub fn take(&self) -> Taken {
        let mut inbox = self.inbox();
        let events: Vec<_> = inbox.events.drain(..).collect();
        Taken {
            events,
            control: inbox.control.take(),
            source_ended: inbox.senders == 0,
        }
    }

    /// The firing task ends, with nothing in flight: it goes unless something came meanwhile.
    /// Answers whether it may go.
    pub fn idle(&self) -> bool {
        let mut inbox = self.inbox();
        if inbox.events.is_empty() && inbox.control.is_none() && inbox.senders > 0 {
            inbox.task = None;
            true
        } else {
            false
        }
    }

    /// The firing task ended the run for good (disabled, lease lost, source ended).
    pub fn finished(&self) {
        self.inbox().task = None;
        self.window.close();
    }

    /// Waits until something was handed over (or the lane is looked at again).
    pub async fn notified(&self) {
        self.wake.notified().await;
    }

    /// Whether a firing task runs (fires in flight or events waiting for one).
    pub fn is_busy(&self) -> bool {
        self.inbox().task.is_some()
    }

    /// Stops the run: the firing task is aborted (its fires were not saved, so they fire again
    /// when the feed runs next), nothing more is taken, and a source waiting for a slot is told.
    pub fn stop(&self) {
        let task = {
            let mut inbox = self.inbox();
            inbox.stopped = true;
            inbox.events.clear();
            inbox.control = None;
            inbox.task.take()
        };
        if let Some(task) = task {
            task.abort();
        }
        self.window.close();
    }

    /// The feed's live status.
    pub fn status(&self) -> &SharedStatus {
        &self.status
    }
}

/// A slot in the window of fires in flight: holding one, the source may fire one event.
pub struct Slot {
    permit: Option<OwnedSemaphorePermit>,
    lane: Arc<Lane>,
}

impl Slot {
    fn new(lane: &Arc<Lane>, permit: OwnedSemaphorePermit) -> Self {
        lane.inbox().senders += 1;
        Self {
            permit: Some(permit),
            lane: lane.clone(),
        }
    }

    pub fn fire(mut self, event: Event) {
        if let Some(permit) = self.permit.take() {
            self.lane.push(event, permit);
        }
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.lane.sender_gone();
    }
}

/// A running feed's way to the core. Dropping the last emitter (and slot) ends the source.
pub struct Emitter {
    lane: Arc<Lane>,
}

impl Clone for Emitter {
    fn clone(&self) -> Self {
        self.lane.inbox().senders += 1;
        Self {
            lane: self.lane.clone(),
        }
    }
}

impl Drop for Emitter {
    fn drop(&mut self) {
        self.lane.sender_gone();
    }
}

impl Emitter {
    /// Waits for room in the window; `None` once the feed is stopping.
    pub async fn slot(&self) -> Option<Slot> {
        let permit = self.lane.window.clone().acquire_owned().await.ok()?;
        Some(Slot::new(&self.lane, permit))
    }

    /// A slot if the window has room now (a source serving many feeds from one task, such as a
    /// timer wheel, must not wait on one of them); `None` when it is full or the feed stops.
    pub fn try_slot(&self) -> Option<Slot> {
        let permit = self.lane.window.clone().try_acquire_owned().ok()?;
        Some(Slot::new(&self.lane, permit))
    }

    /// The feed's live status, for the source's part of it (connected, last change, errors).
    pub fn status(&self) -> &SharedStatus {
        &self.lane.status
    }

    /// Stops the feed for good, disabled with `reason` (shown in READ).
    pub fn disable(&self, reason: String) {
        self.lane.control(Control::Disable(reason));
    }

    /// Hands the core a control now (not after an event).
    pub fn control(&self, control: Control) {
        self.lane.control(control);
    }
}
