//! An alarm's schedule as times: the ticks of an interval, a cron pattern in a time zone, or one
//! date, between the start and stop dates. A tick is identified by its scheduled time
//! (milliseconds since the epoch), which is what a feed's position saves.
//!
//! Time zones and daylight-saving changes are croner's (see its README, "DST Handling"): a
//! fixed-time pattern whose time falls into a spring-forward gap fires at the first valid time
//! after the gap that day; in a fall-back overlap it fires once, at the first occurrence; an
//! interval or wildcard pattern skips the ticks inside a gap and fires each wall-clock match in
//! the repeated hour. `minutes` intervals are counted in real time, never in wall-clock time.

use chrono::{TimeZone, Utc};
use croner::Cron;
use croner::parser::{CronParser, Seconds, Year};

const MINUTE_MS: u64 = 60_000;

/// How many passed ticks are counted one by one at most (a cron pattern of every second, down
/// for a day, would be 86,400 steps): beyond it the missed count says "at least".
pub const MAX_COUNTED: u64 = 10_000;

enum Ticks {
    /// `anchor + k * every` for every k >= 0.
    Interval {
        anchor: u64,
        every: u64,
    },
    Cron {
        cron: Box<Cron>,
        zone: chrono_tz::Tz,
    },
    Once {
        at: u64,
    },
}

/// The ticks of one alarm.
pub struct Plan {
    ticks: Ticks,
    start: Option<u64>,
    stop: Option<u64>,
}

/// Why a pattern or zone was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlanError {
    Pattern(String),
    Zone(String),
}

/// Parses a 5-field (minute first) or 6-field (second first) pattern.
pub fn parse_cron(pattern: &str) -> Result<Cron, PlanError> {
    let fields = pattern.split_whitespace().count();
    if !(5..=6).contains(&fields) {
        return Err(PlanError::Pattern(format!(
            "cron pattern '{pattern}' has {fields} fields; give 5 (minute hour day-of-month \
             month day-of-week) or 6 (seconds first)"
        )));
    }
    CronParser::builder()
        .seconds(Seconds::Optional)
        .year(Year::Disallowed)
        .build()
        .parse(pattern)
        .map_err(|error| {
            PlanError::Pattern(format!("cron pattern '{pattern}' is not valid: {error}"))
        })
}

pub fn parse_zone(zone: &str) -> Result<chrono_tz::Tz, PlanError> {
    zone.trim().parse::<chrono_tz::Tz>().map_err(|_| {
        PlanError::Zone(format!(
            "timezone '{zone}' is not a time zone of the IANA database (e.g. Europe/Berlin)"
        ))
    })
}

impl Plan {
    /// Every `minutes`, from `anchor` on (the first tick is `anchor` itself).
    pub fn interval(minutes: u64, anchor: u64) -> Self {
        Self::new(Ticks::Interval {
            anchor,
            every: minutes.saturating_mul(MINUTE_MS).max(1),
        })
    }

    pub fn cron(cron: Cron, zone: chrono_tz::Tz) -> Self {
        Self::new(Ticks::Cron {
            cron: Box::new(cron),
            zone,
        })
    }

    pub fn once(at: u64) -> Self {
        Self::new(Ticks::Once { at })
    }

    fn new(ticks: Ticks) -> Self {
        Self {
            ticks,
            start: None,
            stop: None,
        }
    }

    /// No tick before `start`, none after `stop`.
    pub fn between(mut self, start: Option<u64>, stop: Option<u64>) -> Self {
        self.start = start;
        self.stop = stop;
        self
    }

    /// The first tick strictly after `after`; `None` when none is left.
    pub fn next_after(&self, after: u64) -> Option<u64> {
        // The first tick may be the start date itself.
        let after = match self.start {
            Some(start) if start > after => start - 1,
            _ => after,
        };
        let next = match &self.ticks {
            Ticks::Interval { anchor, every } => {
                if after < *anchor {
                    Some(*anchor)
                } else {
                    let steps = (after - anchor) / every + 1;
                    steps
                        .checked_mul(*every)
                        .and_then(|offset| anchor.checked_add(offset))
                }
            }
            Ticks::Cron { cron, zone } => {
                let from = zone
                    .timestamp_millis_opt(i64::try_from(after).ok()?)
                    .single()?;
                let next = cron.find_next_occurrence(&from, false).ok()?;
                u64::try_from(next.with_timezone(&Utc).timestamp_millis()).ok()
            }
            Ticks::Once { at } => (*at > after).then_some(*at),
        }?;
        match self.stop {
            Some(stop) if next > stop => None,
            _ => Some(next),
        }
    }

    /// The ticks in `(after, until]`: how many (at most [`MAX_COUNTED`]) and the latest.
    pub fn passed(&self, after: u64, until: u64) -> Option<(u64, u64)> {
        let first = self.next_after(after).filter(|first| *first <= until)?;
        if let Ticks::Interval { every, .. } = &self.ticks {
            let until = self.stop.map_or(until, |stop| stop.min(until));
            let count = (until - first) / every + 1;
            return Some((count, first + (count - 1) * every));
        }
        let (mut count, mut latest) = (1, first);
        while count < MAX_COUNTED {
            match self.next_after(latest) {
                Some(next) if next <= until => {
                    count += 1;
                    latest = next;
                }
                _ => return Some((count, latest)),
            }
        }
        // Too many to count: the latest one before `until`, found backwards.
        if let Ticks::Cron { cron, zone } = &self.ticks
            && let Some(end) = zone.timestamp_millis_opt(until as i64).single()
            && let Ok(last) = cron.find_previous_occurrence(&end, true)
            && let Ok(last) = u64::try_from(last.with_timezone(&Utc).timestamp_millis())
            && last > latest
        {
            latest = last;
        }
        Some((count, latest))
    }

    pub fn is_once(&self) -> bool {
        matches!(self.ticks, Ticks::Once { .. })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> u64 {
        chrono::DateTime::parse_from_rfc3339(text)
            .expect("date")
            .timestamp_millis() as u64
    }

    #[test]
    fn intervals_count_from_their_anchor_and_stop_at_the_stop_date() {
        let plan = Plan::interval(2, 1_000).between(None, Some(1_000 + 6 * MINUTE_MS));
        assert_eq!(plan.next_after(0), Some(1_000));
        assert_eq!(plan.next_after(1_000), Some(1_000 + 2 * MINUTE_MS));
        assert_eq!(plan.next_after(1_001), Some(1_000 + 2 * MINUTE_MS));
        assert_eq!(plan.next_after(1_000 + 6 * MINUTE_MS), None);
        // Three ticks passed (2, 4 and 6 minutes); the stop date caps them.
        assert_eq!(
            plan.passed(1_000, u64::MAX / 2),
            Some((3, 1_000 + 6 * MINUTE_MS))
        );
        assert_eq!(plan.passed(1_000, 1_000 + MINUTE_MS), None);
    }

    #[test]
    fn cron_patterns_of_five_and_six_fields_in_a_zone() {
        let five = Plan::cron(parse_cron("30 12 * * *").expect("five"), chrono_tz::UTC);
        assert_eq!(
            five.next_after(at("2027-01-01T12:30:00Z")),
            Some(at("2027-01-02T12:30:00Z"))
        );
        let six = Plan::cron(parse_cron("*/10 * * * * *").expect("six"), chrono_tz::UTC);
        assert_eq!(
            six.next_after(at("2027-01-01T00:00:01Z")),
            Some(at("2027-01-01T00:00:10Z"))
        );
        assert_eq!(
            six.passed(at("2027-01-01T00:00:00Z"), at("2027-01-01T00:01:05Z")),
            Some((6, at("2027-01-01T00:01:00Z")))
        );
        let zone = parse_zone("America/New_York").expect("zone");
        let zoned = Plan::cron(parse_cron("0 12 * * *").expect("five"), zone);
        assert_eq!(
            zoned.next_after(at("2027-01-01T00:00:00Z")),
            Some(at("2027-01-01T17:00:00Z"))
        );
        assert!(matches!(
            parse_zone("Mars/Olympus"),
            Err(PlanError::Zone(_))
        ));
        for bad in ["* * * *", "* * * * * * *", "61 * * * *", "nonsense x y z w"] {
            assert!(
                matches!(parse_cron(bad), Err(PlanError::Pattern(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn daylight_saving_changes_follow_croner() {
        let berlin = parse_zone("Europe/Berlin").expect("zone");
        let daily = Plan::cron(parse_cron("0 30 2 * * *").expect("pattern"), berlin);
        // 2027-03-28 02:00 CET jumps to 03:00 CEST: 02:30 does not exist, the tick is at 03:00
        // CEST (01:00 UTC) that day.
        assert_eq!(
            daily.next_after(at("2027-03-27T23:00:00Z")),
            Some(at("2027-03-28T01:00:00Z"))
        );
        // 2027-10-31 03:00 CEST falls back to 02:00 CET: 02:30 happens twice, the tick fires
        // once, at the first (00:30 UTC); the next is the next day's 02:30 CET.
        let first = daily.next_after(at("2027-10-30T23:00:00Z"));
        assert_eq!(first, Some(at("2027-10-31T00:30:00Z")));
        assert_eq!(
            daily.next_after(first.expect("first")),
            Some(at("2027-11-01T01:30:00Z"))
        );
    }

    #[test]
    fn once_and_start_dates() {
        let once = Plan::once(5_000);
        assert_eq!(once.next_after(0), Some(5_000));
        assert_eq!(once.next_after(5_000), None);
        assert_eq!(once.passed(0, 10_000), Some((1, 5_000)));
        let started = Plan::cron(parse_cron("* * * * * *").expect("pattern"), chrono_tz::UTC)
            .between(Some(at("2027-01-01T00:00:05Z")), None);
        assert_eq!(
            started.next_after(at("2027-01-01T00:00:00Z")),
            Some(at("2027-01-01T00:00:05Z"))
        );
        // A day of every second is more than is counted: the latest is still right.
        let (count, latest) = started
            .passed(at("2027-01-01T00:00:00Z"), at("2027-01-02T00:00:00Z"))
            .expect("passed");
        assert_eq!((count, latest), (MAX_COUNTED, at("2027-01-02T00:00:00Z")));
    }
}
