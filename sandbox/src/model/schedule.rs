//! When an alarm fires: dates as the alarms package reads them (JavaScript `new Date(x)`: epoch
//! milliseconds or a date string), cron patterns (5 fields, or 6 with seconds first) in a time
//! zone, and the next fire time of each kind of alarm.

use chrono::{DateTime, NaiveDate, NaiveDateTime, TimeZone, Utc};
use croner::Cron;
use croner::parser::{CronParser, Seconds, Year};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// What kind of alarm, with its schedule parameters as the user gave them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub(crate) enum Schedule {
    /// `/whisk.system/alarms/interval`: every `minutes`, from the start date.
    Interval { minutes: u64 },
    /// `/whisk.system/alarms/alarm`: a cron pattern in a time zone (UTC when absent).
    Cron {
        cron: String,
        timezone: Option<String>,
    },
    /// `/whisk.system/alarms/once`: one fire at `date`.
    Once {
        date: Value,
        #[serde(rename = "deleteAfterFire")]
        delete_after_fire: Option<String>,
    },
}

const MINUTE_MS: u64 = 60_000;

/// How JavaScript prints a parameter inside the package's messages (`'${date}'`).
pub(crate) fn js_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Epoch milliseconds of a date parameter, as `new Date(value)` reads it; `None` when invalid.
pub(crate) fn parse_date(value: &Value) -> Option<u64> {
    match value {
        Value::Number(n) => n
            .as_f64()
            .filter(|f| f.is_finite() && *f >= 0.0)
            .map(|f| f as u64),
        Value::String(s) => parse_date_text(s.trim()),
        _ => None,
    }
}

fn to_ms(t: DateTime<Utc>) -> Option<u64> {
    u64::try_from(t.timestamp_millis()).ok()
}

fn parse_date_text(s: &str) -> Option<u64> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return to_ms(t.with_timezone(&Utc));
    }
    if let Ok(t) = DateTime::parse_from_rfc2822(s) {
        return to_ms(t.with_timezone(&Utc));
    }
    // A date alone is UTC midnight (as in JavaScript); a date-time without a zone is read as UTC
    // here (JavaScript would use the host's zone, which a sandbox should not depend on).
    if let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        return to_ms(Utc.from_utc_datetime(&d.and_hms_opt(0, 0, 0)?));
    }
    for format in [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%d %H:%M:%S%.f",
    ] {
        if let Ok(t) = NaiveDateTime::parse_from_str(s, format) {
            return to_ms(Utc.from_utc_datetime(&t));
        }
    }
    None
}

/// Why a cron pattern or time zone was refused, in the package's words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum CronProblem {
    Pattern,
    Timezone,
}

/// A parsed pattern with its zone.
pub(crate) struct CronSchedule {
    cron: Cron,
    zone: chrono_tz::Tz,
}

impl CronSchedule {
    /// 5 fields (minute granularity) or 6 (seconds first), as the `cron` npm package takes them.
    pub fn parse(pattern: &str, timezone: Option<&str>) -> Result<CronSchedule, CronProblem> {
        let zone = match timezone.map(str::trim).filter(|z| !z.is_empty()) {
            None => chrono_tz::UTC,
            Some(z) => z
                .parse::<chrono_tz::Tz>()
                .map_err(|_| CronProblem::Timezone)?,
        };
        let fields = pattern.split_whitespace().count();
        if !(5..=6).contains(&fields) {
            return Err(CronProblem::Pattern);
        }
        let cron = CronParser::builder()
            .seconds(Seconds::Optional)
            .year(Year::Disallowed)
            .build()
            .parse(pattern)
            .map_err(|_| CronProblem::Pattern)?;
        Ok(CronSchedule { cron, zone })
    }

    /// The first match strictly after `after_ms`.
    pub fn next_after(&self, after_ms: u64) -> Option<u64> {
        let after = self
            .zone
            .timestamp_millis_opt(i64::try_from(after_ms).ok()?)
            .single()?;
        let next = self.cron.find_next_occurrence(&after, false).ok()?;
        to_ms(next.with_timezone(&Utc))
    }
}

impl Schedule {
    /// The first fire strictly after `now_ms` given the start date (epoch ms), or `None` when the
    /// alarm has nothing left to fire (a past `once` date, an unparseable pattern).
    pub fn next_fire(&self, start_ms: Option<u64>, now_ms: u64) -> Option<u64> {
        match self {
            Schedule::Interval { minutes } => {
                let interval = minutes.saturating_mul(MINUTE_MS).max(1);
                let start = start_ms.unwrap_or(now_ms);
                if start > now_ms {
                    Some(start)
                } else {
                    let fired = (now_ms - start) / interval;
                    Some(start + interval * (fired + 1))
                }
            }
            Schedule::Cron { cron, timezone } => {
                let schedule = CronSchedule::parse(cron, timezone.as_deref()).ok()?;
                schedule.next_after(now_ms.max(start_ms.unwrap_or(0)))
            }
            Schedule::Once { date, .. } => parse_date(date).filter(|d| *d > now_ms),
        }
    }

    /// The feed action that creates this kind of alarm.
    pub fn feed_name(&self) -> &'static str {
        match self {
            Schedule::Interval { .. } => "interval",
            Schedule::Cron { .. } => "alarm",
            Schedule::Once { .. } => "once",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_dates_like_javascript() {
        assert_eq!(parse_date(&json!(1_000)), Some(1_000));
        assert_eq!(
            parse_date(&json!("2030-01-01T00:00:00.000Z")),
            Some(1_893_456_000_000)
        );
        assert_eq!(
            parse_date(&json!("2030-01-01T01:00:00+01:00")),
            Some(1_893_456_000_000)
        );
        assert_eq!(parse_date(&json!("2030-01-01")), Some(1_893_456_000_000));
        assert_eq!(
            parse_date(&json!("Tue, 01 Jan 2030 00:00:00 GMT")),
            Some(1_893_456_000_000)
        );
        for bad in [json!("tomorrow"), json!(true), json!({}), json!("")] {
            assert_eq!(parse_date(&bad), None, "{bad}");
        }
    }

    #[test]
    fn parses_cron_with_five_or_six_fields_and_zones() {
        let five = CronSchedule::parse("0 12 * * *", None).unwrap();
        // 2030-01-01T00:00Z -> noon UTC the same day.
        assert_eq!(
            five.next_after(1_893_456_000_000),
            Some(1_893_456_000_000 + 12 * 3_600_000)
        );
        let six = CronSchedule::parse("*/10 * * * * *", None).unwrap();
        assert_eq!(six.next_after(1_893_456_000_000), Some(1_893_456_010_000));
        let zoned = CronSchedule::parse("0 12 * * *", Some("America/New_York")).unwrap();
        assert_eq!(
            zoned.next_after(1_893_456_000_000),
            Some(1_893_456_000_000 + 17 * 3_600_000),
            "noon in New York is 17:00 UTC in winter"
        );
        assert_eq!(
            CronSchedule::parse("0 12 * * *", Some("Mars/Olympus")).err(),
            Some(CronProblem::Timezone)
        );
        for bad in ["* * * *", "0 0 0 * * * 2030", "61 * * * *", "nonsense"] {
            assert_eq!(
                CronSchedule::parse(bad, None).err(),
                Some(CronProblem::Pattern),
                "{bad}"
            );
        }
    }

    #[test]
    fn intervals_count_from_the_start_date() {
        let every_two = Schedule::Interval { minutes: 2 };
        assert_eq!(every_two.next_fire(Some(10_000), 5_000), Some(10_000));
        assert_eq!(
            every_two.next_fire(Some(10_000), 10_000),
            Some(10_000 + 2 * MINUTE_MS)
        );
        assert_eq!(
            every_two.next_fire(Some(0), 5 * MINUTE_MS),
            Some(6 * MINUTE_MS)
        );
        let once = Schedule::Once {
            date: json!(7_000),
            delete_after_fire: None,
        };
        assert_eq!(once.next_fire(None, 6_999), Some(7_000));
        assert_eq!(once.next_fire(None, 7_000), None);
    }
}
