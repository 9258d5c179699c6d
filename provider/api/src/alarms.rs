//! The `alarms` source's settings: a trigger fired on a schedule (an interval, a cron pattern, or
//! once at a date), as `/whisk.system/alarms` offers them. Every time is milliseconds since the
//! epoch; the feed action reads the user's dates and sends them so.

use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

use crate::double_option;

/// The registrations' `kind` for alarms.
pub const ALARMS_KIND: &str = "alarms";

/// What a once alarm does after its fire, as `/whisk.system/alarms/once` takes it: `false`
/// (keep the trigger; the feed is then disabled, done), `true` (delete the trigger) or
/// `"rules"` (delete the trigger's rules, then the trigger). Written as OpenWhisk takes it:
/// `false`, `true` or `"rules"`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum DeleteAfterFire {
    #[default]
    No,
    Trigger,
    TriggerAndRules,
}

impl DeleteAfterFire {
    pub fn is_no(&self) -> bool {
        *self == Self::No
    }
}

impl Serialize for DeleteAfterFire {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::No => serializer.serialize_bool(false),
            Self::Trigger => serializer.serialize_bool(true),
            Self::TriggerAndRules => serializer.serialize_str("rules"),
        }
    }
}

impl<'de> Deserialize<'de> for DeleteAfterFire {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(deserializer)?;
        let text = match &value {
            Value::Bool(flag) => flag.to_string(),
            Value::String(text) => text.trim().to_ascii_lowercase(),
            _ => String::new(),
        };
        match text.as_str() {
            "false" => Ok(Self::No),
            "true" => Ok(Self::Trigger),
            "rules" => Ok(Self::TriggerAndRules),
            _ => Err(D::Error::custom(format!(
                "deleteAfterFire must be one of false, true, \"rules\", not {value}"
            ))),
        }
    }
}

/// What an alarm does about ticks that passed while it could not fire (the provider was down,
/// the feed was paused or disabled).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum IfMissed {
    /// One fire at once, standing for all of them, with `"missedTicks": n` (how many scheduled
    /// ticks passed unfired) in its payload (the default: never a burst, nothing silent).
    #[default]
    FireOnce,
    /// Nothing: the next fire is the next tick on the schedule.
    Skip,
}

impl IfMissed {
    pub fn is_default(&self) -> bool {
        *self == Self::default()
    }
}

/// An alarm's settings. Exactly one of `minutes` (an interval), `cron` (a pattern) and `date`
/// (once) is given.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AlarmConfig {
    /// Fires every this many minutes, from `startDate` (default: the registration).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub minutes: Option<u64>,
    /// 5 fields (minute, hour, day of month, month, day of week) or 6 (seconds first).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cron: Option<String>,
    /// An IANA zone (`Europe/Berlin`) the pattern is read in; default UTC. Only with `cron`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timezone: Option<String>,
    /// Fires once at this time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub date: Option<u64>,
    /// Only with `date`.
    #[serde(default, skip_serializing_if = "DeleteAfterFire::is_no")]
    pub delete_after_fire: DeleteAfterFire,
    /// No fire before it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_date: Option<u64>,
    /// No fire after it; the feed is disabled (done) once it passed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_date: Option<u64>,
    /// The body of every fire (OpenWhisk merges the trigger's own parameters into it).
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub trigger_payload: Map<String, Value>,
    /// How many fires in all (counted durably); absent: no limit. The feed is disabled (done)
    /// after the last.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_triggers: Option<u64>,
    #[serde(default, skip_serializing_if = "IfMissed::is_default")]
    pub if_missed: IfMissed,
}

/// The `config` of an alarm's update: only what changes. Giving one of `minutes`, `cron` or
/// `date` replaces the schedule (the other two, and `timezone`/`deleteAfterFire` unless given
/// with it, are cleared); `null` clears an optional setting.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AlarmPatch {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub minutes: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cron: Option<String>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "double_option::deserialize"
    )]
    pub timezone: Option<Option<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub date: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delete_after_fire: Option<DeleteAfterFire>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "double_option::deserialize"
    )]
    pub start_date: Option<Option<u64>>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "double_option::deserialize"
    )]
    pub stop_date: Option<Option<u64>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trigger_payload: Option<Map<String, Value>>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "double_option::deserialize"
    )]
    pub max_triggers: Option<Option<u64>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub if_missed: Option<IfMissed>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Registration, Update};
    use serde_json::json;

    #[test]
    fn alarm_registrations_read_openwhisk_values_and_refuse_unknown_fields() {
        let registration: Registration<AlarmConfig> = serde_json::from_value(json!({
            "apiHost": "https://ow", "authKey": "u:k", "kind": "alarms",
            "config": {"date": 1_900_000_000_000_u64, "deleteAfterFire": "Rules",
                       "triggerPayload": {"a": 1}, "maxTriggers": 3},
        }))
        .expect("valid");
        assert_eq!(
            registration.config.delete_after_fire,
            DeleteAfterFire::TriggerAndRules
        );
        assert_eq!(registration.config.if_missed, IfMissed::FireOnce);
        let written = serde_json::to_value(&registration.config).expect("json");
        assert_eq!(written["deleteAfterFire"], "rules");
        assert!(written.get("ifMissed").is_none());
        let typo = serde_json::from_value::<AlarmConfig>(json!({"minutes": 1, "maxTrigers": 2}))
            .expect_err("typo")
            .to_string();
        assert!(typo.contains("maxTrigers"), "{typo}");
        let bad = serde_json::from_value::<AlarmConfig>(json!({"deleteAfterFire": "yes"}))
            .expect_err("bad")
            .to_string();
        assert!(bad.contains("deleteAfterFire"), "{bad}");
        let update: Update<AlarmPatch> =
            serde_json::from_value(json!({"config": {"stopDate": null, "ifMissed": "skip"}}))
                .expect("valid");
        let patch = update.config.expect("patch");
        assert_eq!(patch.stop_date, Some(None));
        assert_eq!(patch.start_date, None);
        assert_eq!(patch.if_missed, Some(IfMissed::Skip));
    }
}
