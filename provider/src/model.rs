//! What a feed is to the provider: its durable record (registration, state, where it starts) and
//! the position it has reached. The record holds the secrets the provider needs to act (the
//! owner's key, the source's credentials); they never print themselves and are sealed at rest by
//! the store.

use std::time::{SystemTime, UNIX_EPOCH};

use feedkit::AuthKey;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A feed's identity: its trigger's fully qualified name `/namespace/trigger`.
pub type FeedId = String;

/// A position in a source as the source gave it (for a database, a sequence: a number or an
/// opaque string). The core never interprets it, it only saves and hands it back.
pub type Position = Value;

/// Milliseconds since the epoch: what `dateChanged` and the status times are in, as in the
/// alarms provider's READ.
pub fn now_millis() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|elapsed| elapsed.as_millis() as u64)
        .unwrap_or_default()
}

/// A random 64-bit number (ring's system randomness; the clock if that ever fails).
pub fn random_u64() -> u64 {
    use ring::rand::SecureRandom as _;
    let mut bytes = [0_u8; 8];
    if ring::rand::SystemRandom::new().fill(&mut bytes).is_err() {
        return now_millis().rotate_left(17) ^ u64::from(std::process::id());
    }
    u64::from_le_bytes(bytes)
}

/// Whether the feed runs, and why not.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase", tag = "state", content = "reason")]
pub enum FeedState {
    Active,
    /// By the user (PAUSE).
    Paused,
    /// By the provider, after OpenWhisk refused a fire for good (401/403/404, ...), or by the
    /// source (a recreated database under the `disable` policy).
    Disabled(String),
}

impl FeedState {
    pub fn name(&self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Paused => "paused",
            Self::Disabled(_) => "disabled",
        }
    }

    pub fn reason(&self) -> Option<&str> {
        match self {
            Self::Active => None,
            Self::Paused => Some("paused by the user"),
            Self::Disabled(reason) => Some(reason),
        }
    }
}

/// Where a feed starts when it has no saved position of its own: set at registration, and again
/// whenever an update says where to start (`since`, or another database). `reset` is a fresh
/// random number each time: a saved position counts only when it was saved under the same one,
/// so a position of an earlier registration is never resumed by a later one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Start {
    pub reset: u64,
    pub position: Position,
}

impl Start {
    pub fn at(position: Position) -> Self {
        Self {
            // 53 bits: a JSON number every store keeps exactly (PouchDB reads them as doubles).
            reset: random_u64() >> 11,
            position,
        }
    }
}

/// A position a feed reached, under the start it began from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Saved {
    pub reset: u64,
    pub position: Position,
}

/// Everything the provider keeps about one feed, durably.
#[derive(Debug, Clone, PartialEq)]
pub struct FeedRecord {
    pub id: FeedId,
    /// The store's revision of the record (`None` before it is first written): writes are
    /// compare-and-swap on it.
    pub rev: Option<String>,
    /// The source that serves it (`changes`).
    pub kind: String,
    /// Where OpenWhisk's REST API is (`scheme://host[:port]`).
    pub api_host: String,
    /// The trigger owner's key: what the provider fires with.
    pub auth_key: AuthKey,
    /// The source's settings, secrets included (see [`crate::Source::secret_fields`]).
    pub config: Value,
    pub state: FeedState,
    pub date_changed: u64,
    pub start: Start,
    /// The provider key its secrets were sealed with in the store, when read from one.
    pub sealed_with: Option<String>,
}

impl FeedRecord {
    /// Where the feed resumes: its saved position when that belongs to the current start.
    pub fn resume_at(&self, saved: Option<&Saved>) -> Position {
        match saved {
            Some(saved) if saved.reset == self.start.reset => saved.position.clone(),
            _ => self.start.position.clone(),
        }
    }

    /// The number in front of the revision (`3-abc` is 3): revisions of one record only grow,
    /// across deletion and re-creation too, so a stale copy can be told from a newer one.
    pub fn rev_number(&self) -> u64 {
        rev_number(self.rev.as_deref())
    }
}

pub fn rev_number(rev: Option<&str>) -> u64 {
    rev.and_then(|rev| rev.split('-').next())
        .and_then(|number| number.parse().ok())
        .unwrap_or(0)
}

/// Reads the value at a JSON pointer, mutably, creating nothing.
pub fn pointer_take(config: &mut Value, pointer: &str) -> Option<Value> {
    let (parent, key) = pointer.rsplit_once('/')?;
    let parent = if parent.is_empty() {
        Some(config)
    } else {
        config.pointer_mut(parent)
    };
    parent?.as_object_mut()?.remove(key)
}

/// Puts `value` at a JSON pointer whose parent object exists.
pub fn pointer_put(config: &mut Value, pointer: &str, value: Value) -> bool {
    let Some((parent, key)) = pointer.rsplit_once('/') else {
        return false;
    };
    let parent = if parent.is_empty() {
        Some(config)
    } else {
        config.pointer_mut(parent)
    };
    match parent.and_then(Value::as_object_mut) {
        Some(object) => {
            object.insert(key.to_owned(), value);
            true
        }
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_saved_position_counts_only_under_its_own_start() {
        let start = Start::at(json!(5));
        let record = FeedRecord {
            id: "/guest/t".into(),
            rev: Some("12-abc".into()),
            kind: "changes".into(),
            api_host: "http://ow".into(),
            auth_key: AuthKey::parse("u:k").expect("key"),
            config: json!({}),
            state: FeedState::Active,
            date_changed: 0,
            start: start.clone(),
            sealed_with: None,
        };
        assert_eq!(record.resume_at(None), json!(5));
        let mine = Saved {
            reset: start.reset,
            position: json!(9),
        };
        assert_eq!(record.resume_at(Some(&mine)), json!(9));
        let older = Saved {
            reset: start.reset.wrapping_add(1),
            position: json!(99),
        };
        assert_eq!(record.resume_at(Some(&older)), json!(5));
        assert_eq!(record.rev_number(), 12);
        assert_eq!(rev_number(None), 0);
    }

    #[test]
    fn pointers_take_and_put() {
        let mut config = json!({"database": {"password": "p", "name": "d"}});
        assert_eq!(
            pointer_take(&mut config, "/database/password"),
            Some(json!("p"))
        );
        assert_eq!(pointer_take(&mut config, "/database/password"), None);
        assert_eq!(pointer_take(&mut config, "/nothing/here"), None);
        assert!(pointer_put(&mut config, "/database/password", json!("q")));
        assert!(!pointer_put(&mut config, "/missing/password", json!("q")));
        assert_eq!(config["database"]["password"], "q");
    }
}
