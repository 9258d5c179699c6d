//! What a running feed is doing right now: kept in memory by the instance that runs it, shown by
//! READ, `/health` and `/metrics`.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use provider_api::{ErrorMark, FeedStatus, RetryMark};

use crate::model::now_millis;

/// A feed's live status, shared between its source, its fires and the REST API. The durable
/// fields (`state`, `position`, ...) are filled in when it is shown.
#[derive(Debug, Clone, Default)]
pub struct SharedStatus(Arc<Inner>);

#[derive(Debug, Default)]
struct Inner {
    view: Mutex<FeedStatus>,
    /// When the oldest event read but not yet saved was read: the feed's lag.
    oldest_unsaved: Mutex<Option<Instant>>,
}

impl SharedStatus {
    pub fn lock(&self) -> MutexGuard<'_, FeedStatus> {
        self.0
            .view
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub fn set_oldest_unsaved(&self, read_at: Option<Instant>) {
        *self
            .0
            .oldest_unsaved
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = read_at;
    }

    /// How long the oldest event read and not yet fired (and saved) has waited.
    pub fn lag(&self) -> Duration {
        self.0
            .oldest_unsaved
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .map(|read_at| read_at.elapsed())
            .unwrap_or_default()
    }

    pub fn snapshot(&self) -> FeedStatus {
        self.lock().clone()
    }

    pub fn error(&self, message: impl Into<String>) {
        self.lock().last_error = Some(ErrorMark {
            at: now_millis(),
            message: message.into(),
        });
    }

    pub fn retrying(&self, what: &str, attempt: u32, reason: &str, wait_ms: u64) {
        let mut status = self.lock();
        status.retrying = Some(RetryMark {
            what: what.to_owned(),
            attempt,
            reason: reason.to_owned(),
            next_at: now_millis() + wait_ms,
        });
        status.last_error = Some(ErrorMark {
            at: now_millis(),
            message: reason.to_owned(),
        });
    }

    pub fn connected(&self, connected: bool) {
        let mut status = self.lock();
        status.connected = connected;
        if connected {
            status.connected_since = Some(now_millis());
            status.connects += 1;
            status.retrying = None;
        } else {
            status.connected_since = None;
        }
    }
}
