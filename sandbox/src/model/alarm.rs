//! One alarm of the built-in alarms package (a record of the alarms provider's database): its
//! schedule, payload and status, and its READ answer.

use crate::clock::{log_timestamp, now_ms};
use crate::model::schedule::{Schedule, parse_date};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use std::time::{Duration, UNIX_EPOCH};

/// Why an alarm is not active (the provider's `status.reason`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Reason {
    /// `AUTO` (the provider disabled it) or `USER` (paused by its owner).
    pub kind: String,
    #[serde(rename = "statusCode", skip_serializing_if = "Option::is_none")]
    pub status_code: Option<u16>,
    pub message: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct AlarmStatus {
    pub active: bool,
    /// Epoch milliseconds of the last change.
    pub date_changed: u64,
    pub reason: Option<Reason>,
}

impl AlarmStatus {
    pub fn active() -> Self {
        AlarmStatus {
            active: true,
            date_changed: now_ms(),
            reason: None,
        }
    }

    pub fn inactive(kind: &str, status_code: Option<u16>, message: impl Into<String>) -> Self {
        AlarmStatus {
            active: false,
            date_changed: now_ms(),
            reason: Some(Reason {
                kind: kind.into(),
                status_code,
                message: message.into(),
            }),
        }
    }
}

/// One trigger's alarm. The owner's key is not kept: fires run in process as the owner.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Alarm {
    pub namespace: String,
    pub trigger: String,
    pub schedule: Schedule,
    /// As given (or, for an interval without one, the default chosen at CREATE).
    pub start_date: Option<Value>,
    pub stop_date: Option<Value>,
    /// What each fire sends (`trigger_payload`); the trigger's parameters are merged under it.
    pub payload: Map<String, Value>,
    /// Fires allowed in all (cron only); -1 for no limit.
    pub max_triggers: i64,
    /// Fires that succeeded.
    pub fired: u64,
    pub status: AlarmStatus,
    /// The next scheduled fire (epoch ms); recomputed from the schedule, not saved.
    #[serde(skip)]
    pub next_ms: Option<u64>,
}

fn iso(ms: u64) -> String {
    let full = log_timestamp(UNIX_EPOCH + Duration::from_millis(ms));
    // `2030-01-01T00:00:00.000000000Z` -> `2030-01-01T00:00:00Z`, as moment's `format()` in UTC.
    format!("{}Z", &full[..19])
}

impl Alarm {
    pub fn start_ms(&self) -> Option<u64> {
        self.start_date.as_ref().and_then(parse_date)
    }

    pub fn stop_ms(&self) -> Option<u64> {
        self.stop_date.as_ref().and_then(parse_date)
    }

    /// Recomputes the next fire from now (none when inactive or past the stop date).
    pub fn reschedule(&mut self, now: u64) {
        self.next_ms = if self.status.active {
            self.schedule
                .next_fire(self.start_ms(), now)
                .filter(|next| self.stop_ms().is_none_or(|stop| *next <= stop))
        } else {
            None
        };
    }

    /// `/namespace/trigger`.
    pub fn trigger_path(&self) -> String {
        format!("/{}/{}", self.namespace, self.trigger)
    }

    /// The READ answer: `{"config": {...}, "status": {...}}`, as the alarms package shapes it.
    pub fn read_json(&self) -> Value {
        let mut config = Map::new();
        config.insert("name".into(), json!(self.trigger));
        config.insert("namespace".into(), json!(self.namespace));
        config.insert("payload".into(), Value::Object(self.payload.clone()));
        let mut put = |key: &str, value: Option<Value>| {
            if let Some(value) = value {
                config.insert(key.into(), value);
            }
        };
        match &self.schedule {
            Schedule::Once {
                date,
                delete_after_fire,
            } => {
                put("date", Some(date.clone()));
                put(
                    "deleteAfterFire",
                    delete_after_fire.clone().map(Value::from),
                );
            }
            Schedule::Interval { minutes } => {
                put("startDate", self.start_date.clone());
                put("stopDate", self.stop_date.clone());
                put("minutes", Some(json!(minutes)));
            }
            Schedule::Cron { cron, timezone } => {
                put("startDate", self.start_date.clone());
                put("stopDate", self.stop_date.clone());
                put("cron", Some(json!(cron)));
                put("timezone", timezone.clone().map(Value::from));
            }
        }
        let mut status = Map::new();
        status.insert("active".into(), json!(self.status.active));
        status.insert("dateChanged".into(), json!(self.status.date_changed));
        status.insert(
            "dateChangedISO".into(),
            json!(iso(self.status.date_changed)),
        );
        if let Some(reason) = &self.status.reason {
            status.insert("reason".into(), json!(reason));
        }
        json!({ "config": config, "status": status })
    }

    /// What [`crate::Sandbox::alarms`] shows: the READ answer plus where it stands.
    pub fn summary_json(&self) -> Value {
        let mut view = self.read_json();
        if let Some(fields) = view.as_object_mut() {
            fields.insert("trigger".into(), json!(self.trigger_path()));
            fields.insert(
                "feed".into(),
                json!(format!(
                    "/whisk.system/alarms/{}",
                    self.schedule.feed_name()
                )),
            );
            fields.insert("nextFire".into(), json!(self.next_ms));
            fields.insert("fired".into(), json!(self.fired));
        }
        view
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_iso_dates_like_moment() {
        assert_eq!(iso(1_893_456_000_123), "2030-01-01T00:00:00Z");
    }

    #[test]
    fn read_shows_the_kind_specific_config_and_the_reason() {
        let mut alarm = Alarm {
            namespace: "guest".into(),
            trigger: "t".into(),
            schedule: Schedule::Cron {
                cron: "* * * * *".into(),
                timezone: None,
            },
            start_date: None,
            stop_date: Some(json!("2030-01-01")),
            payload: Map::new(),
            max_triggers: -1,
            fired: 0,
            status: AlarmStatus::inactive("AUTO", Some(404), "gone"),
            next_ms: None,
        };
        let read = alarm.read_json();
        assert_eq!(
            read["config"],
            json!({"name": "t", "namespace": "guest", "payload": {}, "stopDate": "2030-01-01", "cron": "* * * * *"})
        );
        assert_eq!(read["status"]["active"], false);
        assert_eq!(
            read["status"]["reason"],
            json!({"kind": "AUTO", "statusCode": 404, "message": "gone"})
        );
        alarm.status = AlarmStatus::active();
        assert!(alarm.read_json()["status"].get("reason").is_none());
    }
}
