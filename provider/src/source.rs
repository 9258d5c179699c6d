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

use std::sync::Arc;

use bytes::Bytes;
use provider_api::Since;
use serde_json::Value;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};

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
}

/// What the source tells the core besides events.
#[derive(Debug)]
pub enum Control {
    /// Stop the feed and keep it disabled with this reason.
    Disable(String),
}

/// A slot in the window of fires in flight: holding one, the source may fire one event.
pub struct Slot {
    permit: OwnedSemaphorePermit,
    events: mpsc::UnboundedSender<(Event, OwnedSemaphorePermit)>,
}

impl Slot {
    pub fn fire(self, event: Event) {
        // The core stopped the feed meanwhile: the event is not lost, it is fired again from
        // the saved position when the feed runs next.
        let _ = self.events.send((event, self.permit));
    }
}

/// A running feed's way to the core.
#[derive(Clone)]
pub struct Emitter {
    window: Arc<Semaphore>,
    events: mpsc::UnboundedSender<(Event, OwnedSemaphorePermit)>,
    control: mpsc::UnboundedSender<Control>,
    status: SharedStatus,
}

/// The core's end of an [`Emitter`].
pub struct Intake {
    pub window: Arc<Semaphore>,
    pub events: mpsc::UnboundedReceiver<(Event, OwnedSemaphorePermit)>,
    pub control: mpsc::UnboundedReceiver<Control>,
}

impl Emitter {
    /// A pair for one run of one feed, with `window` fires in flight at most.
    pub fn new(window: usize, status: SharedStatus) -> (Self, Intake) {
        let window = Arc::new(Semaphore::new(window.max(1)));
        let (events, event_receiver) = mpsc::unbounded_channel();
        let (control, control_receiver) = mpsc::unbounded_channel();
        (
            Self {
                window: window.clone(),
                events,
                control,
                status,
            },
            Intake {
                window,
                events: event_receiver,
                control: control_receiver,
            },
        )
    }

    /// Waits for room in the window; `None` once the feed is stopping.
    pub async fn slot(&self) -> Option<Slot> {
        let permit = self.window.clone().acquire_owned().await.ok()?;
        Some(Slot {
            permit,
            events: self.events.clone(),
        })
    }

    /// A slot if the window has room now (a source serving many feeds from one task, such as a
    /// timer wheel, must not wait on one of them); `None` when it is full or the feed stops.
    pub fn try_slot(&self) -> Option<Slot> {
        let permit = self.window.clone().try_acquire_owned().ok()?;
        Some(Slot {
            permit,
            events: self.events.clone(),
        })
    }

    /// The feed's live status, for the source's part of it (connected, last change, errors).
    pub fn status(&self) -> &SharedStatus {
        &self.status
    }

    /// Stops the feed for good, disabled with `reason` (shown in READ).
    pub fn disable(&self, reason: String) {
        let _ = self.control.send(Control::Disable(reason));
    }
}
