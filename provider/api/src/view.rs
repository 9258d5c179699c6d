//! What the provider answers about a feed: its configuration (secrets redacted) and its status.
//! These are read leniently (unknown fields are ignored, missing ones take their defaults): the
//! feed action only passes them on to the user.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::IfRecreated;

/// A feed as READ shows it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct FeedView {
    /// `/namespace/trigger`.
    pub trigger: String,
    /// The source's settings with every secret shown as `********`, plus `apiHost` and
    /// `authKeyUser` (the uuid half of the key).
    pub config: Value,
    pub status: FeedStatus,
}

/// The last change a feed read.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ChangeMark {
    /// Milliseconds since the epoch, as every time here.
    pub at: u64,
    pub seq: Value,
    pub id: Value,
}

/// The last fire OpenWhisk took.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct FireMark {
    pub at: u64,
    /// The position of the last change in the fire.
    pub seq: Value,
    pub changes: usize,
    /// `None` when OpenWhisk answered 204: no active rule is attached to the trigger.
    pub activation_id: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ErrorMark {
    pub at: u64,
    pub message: String,
}

/// Set while the feed waits to reconnect or to fire again.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct RetryMark {
    /// `connect` or `fire`.
    pub what: String,
    pub attempt: u32,
    pub reason: String,
    pub next_at: u64,
}

/// The feed's database was deleted and created again: what was noticed and what was done.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct RecreatedMark {
    pub at: u64,
    /// How it showed (the sequence went back from ... to ..., or the database was missing).
    pub reason: String,
    /// The position the feed had in the old database.
    pub previous_position: Value,
    pub policy: IfRecreated,
}

/// A feed's status: what is stored (state, position) and what the instance running it sees.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct FeedStatus {
    pub active: bool,
    /// `active`, `paused` (by the user) or `disabled` (by the provider, see `reason`).
    pub state: String,
    pub reason: Option<String>,
    pub date_changed: u64,
    /// Where the feed resumes: every change up to it was fired.
    pub position: Value,
    /// The provider instance running the feed; `None` while none does (e.g. during a failover).
    pub owner: Option<String>,
    pub connected: bool,
    pub connected_since: Option<u64>,
    pub last_change: Option<ChangeMark>,
    pub last_fire: Option<FireMark>,
    pub last_error: Option<ErrorMark>,
    pub retrying: Option<RetryMark>,
    pub recreated: Option<RecreatedMark>,
    /// Fires sent and not answered yet.
    pub in_flight: usize,
    pub connects: u64,
    pub changes_fired: u64,
    pub fires: u64,
    pub failed_fires: u64,
    /// When the feed fires next (a timer source: an alarm's next tick; `None` when it has none
    /// left, or is not running).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_fire: Option<u64>,
    /// How many times the feed fired in all, counted durably (alarms: what `maxTriggers`
    /// counts); `None` for sources that do not count.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub times_fired: Option<u64>,
}
