//! The feed's parameters ([`AlarmParams`]): read, checked, and turned into the provider's
//! [`AlarmConfig`] (CREATE) or [`AlarmPatch`] (UPDATE).
//!
//! What `/whisk.system/alarms` accepts is accepted the same way: `minutes` a whole number above
//! zero; dates as ISO 8601 text or milliseconds since 1970, in the future, `stopDate` after
//! `startDate`; `trigger_payload` an object, or a string fired as `{"payload": "..."}`;
//! `deleteAfterFire` false, true or rules; `maxTriggers` -1 for no limit. Where the package
//! silently ignores a parameter (a time zone on an interval, `maxTriggers` on a once alarm), it
//! is refused here: it would not do what the user meant.

use feedkit::params::{Bounded, Cron, Param, Text};
use feedkit::provider::ProviderUrl;
use feedkit::{ParamError, Secret, iso_utc, parse_iso_utc};
use provider_api::{AlarmConfig, AlarmPatch, DeleteAfterFire, IfMissed};
use serde::{Deserialize, Deserializer};
use serde_json::{Map, Value, json};

/// The longest interval: a year of minutes (leap year).
pub const MAX_MINUTES: u64 = 366 * 24 * 60;

/// Every parameter alarm-feed takes: the alarm's own first (in the order the manifest and the
/// README list them), the provider's (bound on the package by its deployer) last.
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct AlarmParams {
    /// Fire every this many minutes (the package's `interval` feed).
    pub minutes: Param<Bounded<1, MAX_MINUTES>>,
    /// Fire on a cron pattern, 5 fields or 6 with seconds first (the package's `alarm` feed).
    pub cron: Param<Cron>,
    /// The cron pattern's IANA time zone (default UTC).
    pub timezone: Param<Text>,
    /// Fire once at this time (the package's `once` feed).
    pub date: Param<Instant>,
    /// After the once fire: false (keep the trigger), true (delete it), rules (and its rules).
    pub delete_after_fire: Param<DeleteAfterFire>,
    pub start_date: Param<Instant>,
    pub stop_date: Param<Instant>,
    /// The body of every fire.
    #[serde(rename = "trigger_payload")]
    pub trigger_payload: Param<Payload>,
    /// How many fires in all; -1: no limit (the default).
    pub max_triggers: Param<MaxTriggers>,
    /// Ticks missed while the provider was down or the feed paused: fireOnce (one catch-up
    /// fire carrying `missedTicks`, the default) or skip.
    pub if_missed: Param<IfMissedParam>,
    /// The provider's URL (package-bound).
    pub provider_url: Param<ProviderUrl>,
    /// The provider's secret (package-bound).
    pub provider_secret: Param<Secret>,
}

/// A date parameter: ISO 8601 text (`2030-01-31T23:59:00Z`; a date alone is UTC midnight) or
/// milliseconds since 1970, as a number or its text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Instant(pub u64);

const INSTANT_FORMS: &str = "an ISO 8601 time such as 2030-01-31T23:59:00Z (or +01:00), or \
                             milliseconds since 1970";

impl<'de> Deserialize<'de> for Instant {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let value = Value::deserialize(deserializer)?;
        let ms = match &value {
            Value::Number(number) => number.as_u64(),
            Value::String(text) if text.trim().bytes().all(|b| b.is_ascii_digit()) => {
                text.trim().parse().ok()
            }
            Value::String(text) => parse_iso_utc(text),
            _ => None,
        };
        ms.map(Self).ok_or_else(|| {
            let given = match &value {
                Value::String(text) => format!("{text:?}"),
                other => other.to_string(),
            };
            D::Error::custom(format!("{given} is not a date; expected {INSTANT_FORMS}"))
        })
    }
}

/// `trigger_payload`: a JSON object, or a string, fired as `{"payload": "..."}` (as the alarms
/// package does).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Payload(pub Map<String, Value>);

impl<'de> Deserialize<'de> for Payload {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        match Value::deserialize(deserializer)? {
            Value::Object(map) => Ok(Self(map)),
            Value::String(text) => {
                let mut map = Map::new();
                map.insert("payload".into(), Value::String(text));
                Ok(Self(map))
            }
            other => Err(serde::de::Error::custom(format!(
                "expected a JSON object such as {{\"name\": \"Odin\"}} (or a string, fired as \
                 {{\"payload\": \"...\"}}), found {}",
                feedkit::json_kind(&other)
            ))),
        }
    }
}

/// `maxTriggers`: how many fires in all (`None`: no limit, given as -1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MaxTriggers(pub Option<u64>);

impl<'de> Deserialize<'de> for MaxTriggers {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(deserializer)?;
        let number = match &value {
            Value::Number(number) => number.as_i64(),
            Value::String(text) => text.trim().parse::<i64>().ok(),
            _ => None,
        };
        match number {
            Some(-1) => Ok(Self(None)),
            Some(count) if count >= 1 => Ok(Self(u64::try_from(count).ok())),
            _ => Err(serde::de::Error::custom(format!(
                "{value} is not a number of fires; expected a whole number of at least 1, or -1 \
                 for no limit"
            ))),
        }
    }
}

/// `ifMissed`: fireOnce or skip (any case).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(try_from = "Text")]
pub struct IfMissedParam(pub IfMissed);

impl TryFrom<Text> for IfMissedParam {
    type Error = &'static str;
    fn try_from(text: Text) -> Result<Self, Self::Error> {
        match text.as_str().to_ascii_lowercase().as_str() {
            "fireonce" => Ok(Self(IfMissed::FireOnce)),
            "skip" => Ok(Self(IfMissed::Skip)),
            _ => Err(
                "expected \"fireOnce\" (one catch-up fire carrying missedTicks, the default) or \"skip\"",
            ),
        }
    }
}

/// Which of the three schedules the parameters give.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Interval,
    Cron,
    Once,
}

const SCHEDULES: &str = "`minutes` (fire every N minutes), `cron` (a cron pattern) or `date` \
                         (fire once)";

impl AlarmParams {
    /// The schedule the parameters set, if one; two are refused.
    fn kind(&self) -> Result<Option<Kind>, ParamError> {
        let given: Vec<(Kind, &str)> = [
            (Kind::Interval, "minutes", self.minutes.get().is_some()),
            (Kind::Cron, "cron", self.cron.get().is_some()),
            (Kind::Once, "date", self.date.get().is_some()),
        ]
        .into_iter()
        .filter(|(_, _, given)| *given)
        .map(|(kind, name, _)| (kind, name))
        .collect();
        match given.as_slice() {
            [] => Ok(None),
            [(kind, _)] => Ok(Some(*kind)),
            [(_, first), (_, second), ..] => Err(ParamError::invalid(
                *second,
                format!("give one schedule: {first} or {second}, not both (one of {SCHEDULES})"),
            )),
        }
    }

    /// Refuses what the schedule `kind` has no use for.
    fn check_fits(&self, kind: Kind) -> Result<(), ParamError> {
        let misfit = |name: &str, why: &str| Err(ParamError::invalid(name, why));
        if kind != Kind::Cron && self.timezone.get().is_some() {
            return misfit(
                "timezone",
                "only a cron alarm has a time zone; give it with `cron`",
            );
        }
        if kind != Kind::Once && self.delete_after_fire.get().is_some() {
            return misfit(
                "deleteAfterFire",
                "only a once alarm (`date`) can delete its trigger after the fire",
            );
        }
        if kind == Kind::Once {
            for (name, given) in [
                ("startDate", self.start_date.is_given()),
                ("stopDate", self.stop_date.is_given()),
                ("maxTriggers", self.max_triggers.is_given()),
            ] {
                if given {
                    return misfit(
                        name,
                        "a once alarm fires once, at `date`; this applies to `minutes` and `cron` alarms",
                    );
                }
            }
        }
        Ok(())
    }

    /// Whether any of the alarm's own parameters was given (UPDATE needs one).
    fn changes_something(&self) -> bool {
        self.minutes.is_given()
            || self.cron.is_given()
            || self.timezone.is_given()
            || self.date.is_given()
            || self.delete_after_fire.is_given()
            || self.start_date.is_given()
            || self.stop_date.is_given()
            || self.trigger_payload.is_given()
            || self.max_triggers.is_given()
            || self.if_missed.is_given()
    }
}

/// A date that must lie after `now` (and after `after`, when given).
fn future(
    name: &str,
    date: &Param<Instant>,
    now: u64,
    after: Option<(&str, u64)>,
) -> Result<Option<u64>, ParamError> {
    let Some(Instant(ms)) = date.get().copied() else {
        return Ok(None);
    };
    if ms <= now {
        return Err(ParamError::invalid(
            name,
            format!(
                "{} is not in the future (now is {}); give a later time",
                iso_utc(ms),
                iso_utc(now)
            ),
        ));
    }
    if let Some((start_name, start)) = after
        && ms <= start
    {
        return Err(ParamError::invalid(
            name,
            format!(
                "{} is not after {start_name} {}; the alarm stops after it starts",
                iso_utc(ms),
                iso_utc(start)
            ),
        ));
    }
    Ok(Some(ms))
}

/// `startDate` and `stopDate`, checked against `now` and each other.
fn window(params: &AlarmParams, now: u64) -> Result<(Option<u64>, Option<u64>), ParamError> {
    let start = future("startDate", &params.start_date, now, None)?;
    let stop = future(
        "stopDate",
        &params.stop_date,
        now,
        start.map(|start| ("startDate", start)),
    )?;
    Ok((start, stop))
}

fn cron_text(params: &AlarmParams) -> Option<String> {
    params.cron.get().map(|cron| cron.0.clone())
}

fn timezone_text(params: &AlarmParams) -> Option<String> {
    params.timezone.get().map(|zone| zone.as_str().to_owned())
}

/// Reads CREATE's parameters, `now` being the current time in ms.
pub fn config(params: &AlarmParams, now: u64) -> Result<AlarmConfig, ParamError> {
    let kind = params
        .kind()?
        .ok_or_else(|| ParamError::missing("minutes", format!("a schedule: one of {SCHEDULES}")))?;
    params.check_fits(kind)?;
    let (start_date, stop_date) = window(params, now)?;
    Ok(AlarmConfig {
        minutes: params.minutes.get().map(|minutes| minutes.0),
        cron: cron_text(params),
        timezone: timezone_text(params),
        date: future("date", &params.date, now, None)?,
        delete_after_fire: params.delete_after_fire.get().copied().unwrap_or_default(),
        start_date,
        stop_date,
        trigger_payload: params
            .trigger_payload
            .get()
            .map(|payload| payload.0.clone())
            .unwrap_or_default(),
        max_triggers: params.max_triggers.get().and_then(|max| max.0),
        if_missed: params
            .if_missed
            .get()
            .map_or_else(IfMissed::default, |given| given.0),
    })
}

/// Reads UPDATE's parameters: only what the user gave (an empty `timezone`, `startDate`,
/// `stopDate` or `maxTriggers` clears it). A schedule parameter replaces the schedule, whatever
/// kind it was; the provider checks the rest against what it stored.
pub fn patch(params: &AlarmParams, now: u64) -> Result<AlarmPatch, ParamError> {
    if !params.changes_something() {
        return Err(ParamError::missing(
            "(parameters)",
            "at least one parameter to change: minutes, cron, timezone, date, deleteAfterFire, \
             startDate, stopDate, trigger_payload, maxTriggers or ifMissed",
        ));
    }
    for (name, param_cleared) in [
        ("minutes", params.minutes == Param::Cleared),
        ("cron", params.cron == Param::Cleared),
        ("date", params.date == Param::Cleared),
    ] {
        if param_cleared {
            return Err(ParamError::invalid(
                name,
                format!("the schedule cannot be emptied; give another one: {SCHEDULES}"),
            ));
        }
    }
    if let Some(kind) = params.kind()? {
        params.check_fits(kind)?;
    }
    let (start_date, stop_date) = window(params, now)?;
    let cleared_or = |param_cleared: bool, value: Option<u64>| match (param_cleared, value) {
        (true, _) => Some(None),
        (false, Some(ms)) => Some(Some(ms)),
        (false, None) => None,
    };
    Ok(AlarmPatch {
        minutes: params.minutes.get().map(|minutes| minutes.0),
        cron: cron_text(params),
        timezone: params.timezone.is_given().then(|| timezone_text(params)),
        date: future("date", &params.date, now, None)?,
        delete_after_fire: params
            .delete_after_fire
            .is_given()
            .then(|| params.delete_after_fire.get().copied().unwrap_or_default()),
        start_date: cleared_or(params.start_date == Param::Cleared, start_date),
        stop_date: cleared_or(params.stop_date == Param::Cleared, stop_date),
        trigger_payload: params.trigger_payload.is_given().then(|| {
            params
                .trigger_payload
                .get()
                .map(|payload| payload.0.clone())
                .unwrap_or_default()
        }),
        max_triggers: params
            .max_triggers
            .is_given()
            .then(|| params.max_triggers.get().and_then(|max| max.0)),
        if_missed: params.if_missed.get().map(|given| given.0),
    })
}

/// The provider's `config` as READ shows it: times as ISO 8601 text (as the user gives them;
/// `scheduledSince` is when the provider set the schedule).
pub fn shown_config(mut config: Value) -> Value {
    if let Value::Object(map) = &mut config {
        for name in ["date", "startDate", "stopDate", "scheduledSince"] {
            if let Some(ms) = map.get(name).and_then(Value::as_u64) {
                map.insert(name.to_owned(), json!(iso_utc(ms)));
            }
        }
    }
    config
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2030-01-01T00:00:00Z: "now" in these tests.
    const NOW: u64 = 1_893_456_000_000;
    const MINUTE: u64 = 60_000;

    fn read(value: Value) -> Result<AlarmParams, ParamError> {
        feedkit::params::parse(value.as_object().expect("object"), "alarm-feed")
    }

    fn create(value: Value) -> Result<AlarmConfig, ParamError> {
        read(value).and_then(|params| config(&params, NOW))
    }

    fn written<T: serde::Serialize>(value: &T) -> Value {
        serde_json::to_value(value).expect("json")
    }

    #[test]
    fn reads_each_kind_of_alarm_as_the_alarms_package_takes_it() {
        let interval = create(json!({"minutes": "2", "trigger_payload": {"name": "Odin"},
            "stopDate": "2030-01-31T23:59:00.000Z"}))
        .expect("interval");
        assert_eq!(
            written(&interval),
            json!({"minutes": 2, "stopDate": 1_896_134_340_000_u64,
                   "triggerPayload": {"name": "Odin"}})
        );
        let cron = create(
            json!({"cron": " */2  * * * * ", "timezone": "Europe/Berlin",
            "startDate": NOW + MINUTE, "maxTriggers": -1, "trigger_payload": "tick"}),
        )
        .expect("cron");
        assert_eq!(
            written(&cron),
            json!({"cron": "*/2 * * * *", "timezone": "Europe/Berlin",
                   "startDate": NOW + MINUTE, "triggerPayload": {"payload": "tick"}})
        );
        let once = create(json!({"date": "2030-06-01", "deleteAfterFire": "Rules",
            "trigger_payload": ""}))
        .expect("once");
        assert_eq!(
            written(&once),
            json!({"date": 1_906_502_400_000_u64, "deleteAfterFire": "rules"})
        );
        let seconds = create(json!({"cron": "*/30 * * * * *", "maxTriggers": "3",
            "ifMissed": "SKIP"}))
        .expect("6 fields");
        assert_eq!(seconds.max_triggers, Some(3));
        assert_eq!(seconds.if_missed, IfMissed::Skip);
        let once_kept = create(json!({"date": NOW + 1, "deleteAfterFire": false})).expect("once");
        assert_eq!(once_kept.delete_after_fire, DeleteAfterFire::No);
    }

    #[test]
    fn names_the_parameter_to_fix() {
        let cases = [
            (json!({}), "missing parameter `minutes`"),
            (json!({"minutes": 0}), "invalid parameter `minutes`"),
            (json!({"minutes": 1.5}), "invalid parameter `minutes`"),
            (json!({"minutes": "often"}), "invalid parameter `minutes`"),
            (
                json!({"minutes": 1, "cron": "* * * * *"}),
                "invalid parameter `cron`: give one schedule",
            ),
            (json!({"cron": "* * * *"}), "has 4 fields"),
            (json!({"cron": 5}), "has 1 fields"),
            (
                json!({"minutes": 5, "timezone": "UTC"}),
                "invalid parameter `timezone`",
            ),
            (
                json!({"cron": "* * * * *", "deleteAfterFire": true}),
                "invalid parameter `deleteAfterFire`",
            ),
            (
                json!({"date": NOW + 1, "deleteAfterFire": "maybe"}),
                "invalid parameter `deleteAfterFire`",
            ),
            (
                json!({"date": NOW + 1, "stopDate": NOW + 2}),
                "invalid parameter `stopDate`",
            ),
            (
                json!({"date": NOW + 1, "maxTriggers": 2}),
                "invalid parameter `maxTriggers`",
            ),
            (
                json!({"date": "2019-12-25T12:30:00.000Z"}),
                "invalid parameter `date`: 2019-12-25T12:30:00.000Z is not in the future",
            ),
            (json!({"date": "Christmas"}), "\"Christmas\" is not a date"),
            (
                json!({"minutes": 1, "startDate": NOW - 1}),
                "invalid parameter `startDate`",
            ),
            (
                json!({"minutes": 1, "startDate": NOW + 10, "stopDate": NOW + 10}),
                "invalid parameter `stopDate`: 2030-01-01T00:00:00.010Z is not after startDate",
            ),
            (
                json!({"minutes": 1, "maxTriggers": 0}),
                "invalid parameter `maxTriggers`",
            ),
            (
                json!({"minutes": 1, "trigger_payload": [1]}),
                "invalid parameter `trigger_payload`: expected a JSON object",
            ),
            (
                json!({"minutes": 1, "ifMissed": "burst"}),
                "invalid parameter `ifMissed`",
            ),
            (
                json!({"minutes": 1, "triggerPayload": {}}),
                "invalid parameter `triggerPayload`: alarm-feed has no such parameter",
            ),
        ];
        for (given, expected) in cases {
            let error = create(given.clone()).expect_err(expected).to_string();
            assert!(error.contains(expected), "{given}: {error}");
        }
    }

    #[test]
    fn update_sends_only_what_changes_and_clears_what_is_emptied() {
        let change = |value: Value| read(value).and_then(|params| patch(&params, NOW));
        let error = change(json!({"providerUrl": "http://p"})).expect_err("nothing");
        assert!(
            error.to_string().contains("at least one parameter"),
            "{error}"
        );
        assert_eq!(
            written(&change(json!({"minutes": 5})).expect("valid")),
            json!({"minutes": 5})
        );
        assert_eq!(
            written(
                &change(json!({"cron": "0 9 * * 1", "timezone": "America/New_York"}))
                    .expect("valid")
            ),
            json!({"cron": "0 9 * * 1", "timezone": "America/New_York"})
        );
        assert_eq!(
            written(
                &change(json!({"timezone": "", "stopDate": "", "maxTriggers": "",
                "trigger_payload": ""}))
                .expect("valid")
            ),
            json!({"timezone": null, "stopDate": null, "maxTriggers": null, "triggerPayload": {}})
        );
        assert_eq!(
            written(&change(json!({"maxTriggers": -1, "startDate": NOW + MINUTE})).expect("valid")),
            json!({"maxTriggers": null, "startDate": NOW + MINUTE})
        );
        let error = change(json!({"cron": ""})).expect_err("emptied");
        assert!(
            error.to_string().contains("invalid parameter `cron`"),
            "{error}"
        );
        let error = change(json!({"date": NOW + 1, "timezone": "UTC"})).expect_err("misfit");
        assert!(error.to_string().contains("`timezone`"), "{error}");
        let error = change(json!({"stopDate": NOW})).expect_err("past");
        assert!(error.to_string().contains("`stopDate`"), "{error}");
    }

    #[test]
    fn read_shows_times_as_iso_text() {
        let shown = shown_config(json!({"minutes": 1, "startDate": NOW, "apiHost": "h"}));
        assert_eq!(
            shown,
            json!({"minutes": 1, "startDate": "2030-01-01T00:00:00.000Z", "apiHost": "h"})
        );
    }
}
