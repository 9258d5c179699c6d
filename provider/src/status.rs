//! What a running feed is doing right now: kept in memory, shown by READ and `/health`.

use std::sync::{Arc, Mutex, MutexGuard};

use serde::Serialize;
use serde_json::Value;

use crate::model::{Seq, now_millis};

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ChangeMark {
    pub at: u64,
    pub seq: Seq,
    pub id: Value,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FireMark {
    pub at: u64,
    /// The sequence of the last change in the fire.
    pub seq: Seq,
    pub changes: usize,
    /// `None` when OpenWhisk answered 204: no active rule is attached to the trigger.
    pub activation_id: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ErrorMark {
    pub at: u64,
    pub message: String,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RetryMark {
    /// `connect` or `fire`.
    pub what: &'static str,
    pub attempt: u32,
    pub reason: String,
    pub next_at: u64,
}

/// The live state of one feed.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FeedStatus {
    pub connected: bool,
    pub connected_since: Option<u64>,
    pub last_change: Option<ChangeMark>,
    pub last_fire: Option<FireMark>,
    pub last_error: Option<ErrorMark>,
    /// Set while the feed waits to reconnect or to fire again.
    pub retrying: Option<RetryMark>,
    pub connects: u64,
    pub changes_fired: u64,
    pub fires: u64,
    pub failed_fires: u64,
}

/// A feed's status, shared between its task and the REST API.
#[derive(Debug, Clone, Default)]
pub struct SharedStatus(Arc<Mutex<FeedStatus>>);

impl SharedStatus {
    pub fn lock(&self) -> MutexGuard<'_, FeedStatus> {
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
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
