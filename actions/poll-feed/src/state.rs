//! How far polling got, and how it went: kept on the helper trigger's `pollState` parameter, so
//! it survives between the poller's stateless activations.
//!
//! The position is a bounded set of item-id keys (a 64-bit FNV-1a hash of each id, 16 hex
//! characters) plus the source's validators (`ETag`, `Last-Modified`). The set holds every id of
//! the latest response (needed to fire nothing twice) and the [`SEEN_HISTORY`] most recently
//! seen ids that have since dropped out of the response (so an item that comes back is not
//! fired again); a response may hold at most [`MAX_ITEMS_PER_POLL`] items. That bounds the
//! parameter at about 210 KB (11,000 keys of 19 bytes in JSON), well below OpenWhisk's 1 MB
//! entity limits; a typical feed of a few dozen items keeps it at a few KB.

use serde::Serialize;
use serde_json::{Value, json};

use crate::stored::Fields;
use feedkit::iso_utc;

/// Ids remembered after they dropped out of the source's response.
pub const SEEN_HISTORY: usize = 1000;
/// The most items one response may hold.
pub const MAX_ITEMS_PER_POLL: usize = 10_000;
/// Longest id text kept (for READ's `lastFiredId`).
const LAST_ID_CHARS: usize = 200;

/// The key an item id is remembered by.
pub fn id_key(id: &str) -> String {
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    let hash = id.bytes().fold(OFFSET, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(PRIME)
    });
    format!("{hash:016x}")
}

/// What a poll ended with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    /// New items were fired (all of them).
    Fired,
    /// The source answered with items, none new.
    NothingNew,
    /// The source answered 304 Not Modified.
    Unchanged,
    /// The source could not be read (no answer, error status, not JSON, items not found).
    SourceFailed,
    /// Some new items could not be fired (rate limit, OpenWhisk trouble); they are kept for the
    /// next tick.
    FireFailed,
    /// Firing showed the user's trigger is gone or the key refused: polling stopped.
    Stopped,
    /// The current items were taken as seen without firing (`startFrom=now`).
    Baseline,
}

impl Outcome {
    const ALL: [Outcome; 7] = [
        Self::Fired,
        Self::NothingNew,
        Self::Unchanged,
        Self::SourceFailed,
        Self::FireFailed,
        Self::Stopped,
        Self::Baseline,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Fired => "fired",
            Self::NothingNew => "nothing-new",
            Self::Unchanged => "unchanged",
            Self::SourceFailed => "source-failed",
            Self::FireFailed => "fire-failed",
            Self::Stopped => "stopped",
            Self::Baseline => "baseline",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|outcome| outcome.as_str() == text)
    }
}

/// The last poll, as READ shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LastPoll {
    pub at: u64,
    pub outcome: Outcome,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    pub new_items: usize,
    pub fired_items: usize,
    pub pending_items: usize,
    pub events: usize,
}

/// What to do with the source's validators after a poll.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Validators {
    /// Leave them (304, or a failure before any answer).
    Keep,
    /// Forget them, so the next request gets the whole body (items are pending).
    Clear,
    /// Everything in this answer is handled: the next request may be conditional on it.
    Set {
        etag: Option<String>,
        last_modified: Option<String>,
    },
}

/// What one poll found out, to be folded into the stored state.
#[derive(Debug, Clone, PartialEq)]
pub struct PollRecord {
    pub at: u64,
    pub outcome: Outcome,
    pub status: Option<u16>,
    pub detail: Option<String>,
    /// On an answer with items: the keys of the response's items that are handled now (seen
    /// before, or fired by this poll), in response order.
    pub known: Option<Vec<String>>,
    pub validators: Validators,
    /// The id of the last item fired.
    pub last_id: Option<String>,
    pub new_items: usize,
    pub fired_items: usize,
    pub pending_items: usize,
    pub events: usize,
    /// Why polling must stop, when it must.
    pub stop: Option<String>,
}

/// The stored position and status.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PollState {
    pub active: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub date_changed: u64,
    /// Keys of handled item ids, oldest first.
    pub seen: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub etag: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_modified: Option<String>,
    /// The configuration generation the validators were obtained with.
    pub validators_generation: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_poll: Option<LastPoll>,
    pub events_fired: u64,
    pub items_fired: u64,
}

impl LastPoll {
    fn from_stored(value: &Value) -> Result<Self, String> {
        let fields = Fields::of(value, "pollState.lastPoll")?;
        let count = |key: &str| -> Result<usize, String> {
            Ok(usize::try_from(fields.u64(key)?).unwrap_or(usize::MAX))
        };
        Ok(Self {
            at: fields.u64("at")?,
            outcome: fields.choice("outcome", Outcome::parse)?,
            status: fields
                .opt_u64("status")?
                .and_then(|status| u16::try_from(status).ok()),
            detail: fields.opt_str("detail")?,
            new_items: count("newItems")?,
            fired_items: count("firedItems")?,
            pending_items: count("pendingItems")?,
            events: count("events")?,
        })
    }
}

impl PollState {
    /// Reads the stored form (its serialization) back.
    pub fn from_stored(value: &Value) -> Result<Self, String> {
        let fields = Fields::of(value, "pollState")?;
        Ok(Self {
            active: fields.bool("active")?,
            reason: fields.opt_str("reason")?,
            date_changed: fields.u64("dateChanged")?,
            seen: fields.strings("seen")?,
            last_id: fields.opt_str("lastId")?,
            etag: fields.opt_str("etag")?,
            last_modified: fields.opt_str("lastModified")?,
            validators_generation: fields.u64("validatorsGeneration")?,
            last_poll: fields
                .value("lastPoll")
                .map(LastPoll::from_stored)
                .transpose()?,
            events_fired: fields.u64("eventsFired")?,
            items_fired: fields.u64("itemsFired")?,
        })
    }

    /// A fresh, active state.
    pub fn new(now: u64) -> Self {
        Self {
            active: true,
            reason: None,
            date_changed: now,
            seen: Vec::new(),
            last_id: None,
            etag: None,
            last_modified: None,
            validators_generation: 0,
            last_poll: None,
            events_fired: 0,
            items_fired: 0,
        }
    }

    /// Whether an item id was handled already.
    pub fn has_seen(&self, key: &str) -> bool {
        self.seen.iter().any(|seen| seen == key)
    }

    /// The set of handled keys, for many lookups.
    pub fn seen_set(&self) -> KeySet<'_> {
        KeySet::of(self.seen.iter().map(String::as_str))
    }

    /// The validators to send, if they belong to the configuration `generation`.
    pub fn validators_for(&self, generation: u64) -> (Option<&str>, Option<&str>) {
        if self.validators_generation == generation {
            (self.etag.as_deref(), self.last_modified.as_deref())
        } else {
            (None, None)
        }
    }

    pub fn clear_validators(&mut self) {
        self.etag = None;
        self.last_modified = None;
    }

    /// Folds a poll into the state. `generation` is the configuration generation the poll ran
    /// with and `current_generation` the one stored now: validators obtained with an outdated
    /// configuration are not kept, but what was fired is always remembered.
    pub fn record(&mut self, record: PollRecord, generation: u64, current_generation: u64) {
        if let Some(known) = &record.known {
            self.seen = remember(&self.seen, known);
        }
        match record.validators {
            Validators::Keep => {}
            Validators::Clear => self.clear_validators(),
            Validators::Set {
                etag,
                last_modified,
            } => {
                if generation == current_generation {
                    self.etag = etag;
                    self.last_modified = last_modified;
                    self.validators_generation = generation;
                }
            }
        }
        if let Some(id) = record.last_id {
            self.last_id = Some(id.chars().take(LAST_ID_CHARS).collect());
        }
        self.items_fired += record.fired_items as u64;
        self.events_fired += record.events as u64;
        if let Some(reason) = record.stop {
            self.active = false;
            self.reason = Some(reason);
            self.date_changed = record.at;
        }
        self.last_poll = Some(LastPoll {
            at: record.at,
            outcome: record.outcome,
            status: record.status,
            detail: record.detail,
            new_items: record.new_items,
            fired_items: record.fired_items,
            pending_items: record.pending_items,
            events: record.events,
        });
    }

    /// Stops or resumes polling, saying why.
    pub fn set_active(&mut self, active: bool, reason: Option<String>, now: u64) {
        if self.active != active || self.reason != reason {
            self.date_changed = now;
        }
        self.active = active;
        self.reason = reason;
    }

    /// The `status` part of READ.
    pub fn status_json(&self) -> Value {
        let last_poll = self.last_poll.as_ref().map(|poll| {
            let mut value = serde_json::to_value(poll).unwrap_or(Value::Null);
            value["atISO"] = json!(iso_utc(poll.at));
            value
        });
        json!({
            "active": self.active,
            "reason": self.reason,
            "dateChanged": self.date_changed,
            "dateChangedISO": iso_utc(self.date_changed),
            "lastPoll": last_poll,
            "position": {
                "seenIds": self.seen.len(),
                "lastFiredId": self.last_id,
                "etag": self.etag,
                "lastModified": self.last_modified,
            },
            "fired": {"events": self.events_fired, "items": self.items_fired},
        })
    }
}

/// A set of item keys: a sorted list (small code, and fast enough for a few thousand keys).
#[derive(Debug, Default)]
pub struct KeySet<'a>(Vec<&'a str>);

impl<'a> KeySet<'a> {
    pub fn of(keys: impl Iterator<Item = &'a str>) -> Self {
        let mut keys: Vec<&str> = keys.collect();
        keys.sort_unstable();
        keys.dedup();
        Self(keys)
    }

    pub fn contains(&self, key: &str) -> bool {
        self.0.binary_search(&key).is_ok()
    }

    /// Adds a key; `false` when it was there already.
    pub fn insert(&mut self, key: &'a str) -> bool {
        match self.0.binary_search(&key) {
            Ok(_) => false,
            Err(at) => {
                self.0.insert(at, key);
                true
            }
        }
    }
}

/// The seen set after a response: the older keys that are not in it (the most recent
/// [`SEEN_HISTORY`] of them), then the response's handled keys in its order.
pub fn remember(seen: &[String], known: &[String]) -> Vec<String> {
    let mut in_response = KeySet::default();
    let current: Vec<&String> = known
        .iter()
        .filter(|key| in_response.insert(key.as_str()))
        .collect();
    let older: Vec<&String> = seen
        .iter()
        .filter(|key| !in_response.contains(key.as_str()))
        .collect();
    let skip = older.len().saturating_sub(SEEN_HISTORY);
    older
        .into_iter()
        .skip(skip)
        .chain(current)
        .cloned()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(range: std::ops::Range<usize>) -> Vec<String> {
        range.map(|n| id_key(&n.to_string())).collect()
    }

    fn record(known: Option<Vec<String>>, validators: Validators) -> PollRecord {
        PollRecord {
            at: 5,
            outcome: Outcome::Fired,
            status: Some(200),
            detail: None,
            known,
            validators,
            last_id: Some("x".repeat(300)),
            new_items: 2,
            fired_items: 2,
            pending_items: 0,
            events: 1,
            stop: None,
        }
    }

    #[test]
    fn id_keys_are_stable_and_distinct() {
        assert_eq!(id_key(""), "cbf29ce484222325");
        assert_eq!(id_key("a"), "af63dc4c8601ec8c");
        assert_ne!(id_key("1"), id_key("2"));
        assert_eq!(id_key("1").len(), 16);
    }

    #[test]
    fn remember_keeps_the_response_and_a_bounded_history() {
        let seen = keys(0..1500);
        let known = keys(1400..1600);
        let after = remember(&seen, &known);
        // 1400 older keys not in the response, of which the newest SEEN_HISTORY stay.
        assert_eq!(after.len(), SEEN_HISTORY + 200);
        assert_eq!(after[..SEEN_HISTORY], keys(400..1400)[..]);
        assert_eq!(after[SEEN_HISTORY..], known[..]);
        // Repeats in the response count once.
        let doubled: Vec<String> = known.iter().chain(known.iter()).cloned().collect();
        assert_eq!(remember(&[], &doubled), known);
    }

    #[test]
    fn record_keeps_validators_only_for_the_current_generation() {
        let mut state = PollState::new(1);
        let set = Validators::Set {
            etag: Some("\"e\"".into()),
            last_modified: None,
        };
        state.record(record(Some(keys(0..2)), set.clone()), 1, 2);
        assert_eq!(state.etag, None, "outdated generation");
        assert_eq!(state.seen, keys(0..2), "fired items are remembered anyway");
        state.record(record(Some(keys(0..3)), set), 2, 2);
        assert_eq!(state.etag.as_deref(), Some("\"e\""));
        assert_eq!(state.validators_for(2).0, Some("\"e\""));
        assert_eq!(state.validators_for(3).0, None);
        assert_eq!(state.items_fired, 4);
        assert_eq!(state.events_fired, 2);
        assert_eq!(state.last_id.as_ref().map(String::len), Some(LAST_ID_CHARS));
        state.record(record(None, Validators::Clear), 2, 2);
        assert_eq!(state.etag, None);
        assert_eq!(
            state.seen,
            keys(0..3),
            "no answer, no change to the seen set"
        );
    }

    #[test]
    fn record_stops_with_a_reason() {
        let mut state = PollState::new(1);
        let mut stop = record(None, Validators::Keep);
        stop.stop = Some("gone".into());
        stop.outcome = Outcome::Stopped;
        state.record(stop, 0, 0);
        assert!(!state.active);
        assert_eq!(state.reason.as_deref(), Some("gone"));
        assert_eq!(state.date_changed, 5);
        let status = state.status_json();
        assert_eq!(status["lastPoll"]["outcome"], "stopped");
        assert_eq!(status["position"]["seenIds"], 0);
    }

    #[test]
    fn state_round_trips_through_json() {
        let mut state = PollState::new(7);
        state.seen = keys(0..3);
        state.etag = Some("\"x\"".into());
        state.last_poll = Some(LastPoll {
            at: 9,
            outcome: Outcome::FireFailed,
            status: Some(200),
            detail: Some("d".into()),
            new_items: 3,
            fired_items: 1,
            pending_items: 2,
            events: 1,
        });
        let back =
            PollState::from_stored(&serde_json::to_value(&state).expect("json")).expect("state");
        assert_eq!(back, state);
    }
}
