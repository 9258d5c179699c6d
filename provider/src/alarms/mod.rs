//! The `alarms` source: triggers fired on a schedule (`minutes`, `cron` with `timezone`, or once
//! at a `date`), as `/whisk.system/alarms` offers them, served by one timer for all alarms
//! ([`timer`]).
//!
//! What the reference provider gets wrong is done here:
//! - A feed's position is `[T, N]`: the scheduled time of the last tick fired (ms since the
//!   epoch) and the fires so far (a pair, not an object: it is kept per alarm in memory, and a
//!   JSON object costs a B-tree node of about 600 bytes). It is saved after OpenWhisk took the fire, like every position, so a
//!   tick fires once across restarts and failovers (twice only at a crash between the fire and
//!   the save, as at-least-once allows) and `maxTriggers` counts survive everything.
//! - Ticks that passed while the feed did not run (the provider down, the feed paused or
//!   disabled) follow `ifMissed`: `fireOnce` (default) fires once at once, with
//!   `"missedTicks": n` in the payload (the n ticks that one fire stands for); `skip` fires
//!   nothing for them. Never a burst.
//! - After its last fire (maxTriggers reached, a once alarm, nothing before the stop date) the
//!   feed is disabled with the reason in its status; `deleteAfterFire` deletes the trigger (and
//!   its rules with `"rules"`) instead, then the feed.

mod clock;
mod plan;
mod timer;

use std::sync::Arc;

use provider_api::{
    AlarmConfig, AlarmPatch, DeleteAfterFire, FeedStatus, FireMark, IfMissed, Since,
};
use serde_json::{Value, json};

pub use clock::Clock;
use plan::{Plan, PlanError, parse_cron, parse_zone};
use timer::{Alarm, Timer};

use crate::model::{FeedRecord, Position};
use crate::source::{Emitter, Prepared, Source, SourceError, SourceHandle, parse};
use crate::store::BoxFuture;

/// The stored settings' own field: when the schedule was set (an interval without `startDate`
/// counts from it; ticks before it are never due).
const SCHEDULED_SINCE: &str = "scheduledSince";

/// `minutes` at most (ten years): beyond it an interval never fires.
const MAX_MINUTES: u64 = 10 * 366 * 24 * 60;

/// The `alarms` source.
pub struct AlarmsSource {
    timer: Arc<Timer>,
}

impl AlarmsSource {
    /// Must be called inside the runtime (it starts the timer's task).
    pub fn new(clock: Clock) -> Self {
        Self {
            timer: Timer::start(clock),
        }
    }

    fn now(&self) -> u64 {
        self.timer.clock().now()
    }
}

/// The stored settings: the user's, and when the schedule was set. They are stored as one JSON
/// text (a string), not an object: every feed's settings stay in memory, and a JSON object costs
/// a B-tree node of about 600 bytes where the text of an alarm's settings takes about 60.
fn read_stored(config: &Value) -> Result<(AlarmConfig, u64), SourceError> {
    let mut config = match config {
        Value::String(text) => serde_json::from_str(text).map_err(|error| {
            invalid(format!("config: the stored settings are not JSON: {error}"))
        })?,
        other => other.clone(),
    };
    let since = config
        .as_object_mut()
        .and_then(|object| object.remove(SCHEDULED_SINCE))
        .and_then(|since| since.as_u64())
        .unwrap_or_default();
    Ok((parse(config)?, since))
}

/// The settings as READ shows them: the stored text read back into an object.
fn expanded(config: &AlarmConfig, since: u64) -> Value {
    let mut value = serde_json::to_value(config).unwrap_or_else(|_| json!({}));
    if let Some(object) = value.as_object_mut() {
        object.insert(SCHEDULED_SINCE.to_owned(), json!(since));
    }
    value
}

fn stored(config: &AlarmConfig, since: u64) -> Value {
    Value::String(expanded(config, since).to_string())
}

fn invalid(message: impl Into<String>) -> SourceError {
    SourceError::Invalid(message.into())
}

/// The ticks of `config`, set at `since`.
fn plan_of(config: &AlarmConfig, since: u64) -> Result<Plan, SourceError> {
    let plan = match (config.minutes, &config.cron, config.date) {
        (Some(minutes), None, None) => Plan::interval(minutes, config.start_date.unwrap_or(since)),
        (None, Some(cron), None) => {
            let zone = match config.timezone.as_deref() {
                Some(zone) => parse_zone(zone),
                None => Ok(chrono_tz::UTC),
            };
            let cron = parse_cron(cron.trim());
            match (cron, zone) {
                (Ok(cron), Ok(zone)) => Plan::cron(cron, zone),
                (Err(PlanError::Pattern(why) | PlanError::Zone(why)), _)
                | (_, Err(PlanError::Pattern(why) | PlanError::Zone(why))) => {
                    return Err(invalid(format!("config: {why}")));
                }
            }
        }
        (None, None, Some(date)) => Plan::once(date),
        _ => {
            return Err(invalid(
                "config: give exactly one of minutes (an interval), cron (a pattern) and date \
                 (once)",
            ));
        }
    };
    Ok(plan.between(config.start_date, config.stop_date))
}

/// Checks what goes with what in `config`, and its dates against `now` (`None`: an update that
/// left the schedule alone, whose dates may have passed).
fn check(config: &AlarmConfig, now: Option<u64>) -> Result<Plan, SourceError> {
    let plan = plan_of(config, now.unwrap_or_default())?;
    if let Some(minutes) = config.minutes
        && !(1..=MAX_MINUTES).contains(&minutes)
    {
        return Err(invalid(format!(
            "config.minutes: {minutes} is not a whole number of minutes from 1 to {MAX_MINUTES}"
        )));
    }
    if config.timezone.is_some() && config.cron.is_none() {
        return Err(invalid("config.timezone: a timezone goes with cron only"));
    }
    if config.date.is_some() {
        if config.start_date.is_some() || config.stop_date.is_some() {
            return Err(invalid(
                "config: startDate and stopDate do not go with date (a once alarm)",
            ));
        }
    } else if !config.delete_after_fire.is_no() {
        return Err(invalid(
            "config.deleteAfterFire: goes with date (a once alarm) only",
        ));
    }
    if let (Some(start), Some(stop)) = (config.start_date, config.stop_date)
        && stop <= start
    {
        return Err(invalid("config.stopDate: must be after startDate"));
    }
    if config.max_triggers == Some(0) {
        return Err(invalid(
            "config.maxTriggers: 0 would never fire; leave it out for no limit",
        ));
    }
    let Some(now) = now else {
        return Ok(plan);
    };
    for (name, date) in [
        ("date", config.date),
        ("startDate", config.start_date),
        ("stopDate", config.stop_date),
    ] {
        if let Some(date) = date
            && date <= now
        {
            return Err(invalid(format!(
                "config.{name}: {date} is not in the future (milliseconds since the epoch)"
            )));
        }
    }
    if plan.next_after(now).is_none() {
        return Err(invalid(
            "config: the schedule has no tick before its stopDate",
        ));
    }
    Ok(plan)
}

/// A position's parts: the last tick fired and the fires so far.
fn read_position(position: &Position) -> (u64, u64) {
    (
        position[0].as_u64().unwrap_or_default(),
        position[1].as_u64().unwrap_or_default(),
    )
}

/// `old` with `patch` applied, and whether the schedule's times changed.
fn apply(old: &AlarmConfig, patch: AlarmPatch) -> (AlarmConfig, bool) {
    {
        let mut new = old.clone();
        let rescheduled = patch.minutes.is_some() || patch.cron.is_some() || patch.date.is_some();
        if rescheduled {
            new.minutes = patch.minutes;
            new.cron = patch.cron;
            new.date = patch.date;
            new.timezone = None;
            new.delete_after_fire = DeleteAfterFire::No;
        }
        let timed = rescheduled
            || patch.timezone.is_some()
            || patch.start_date.is_some()
            || patch.stop_date.is_some();
        if let Some(timezone) = patch.timezone {
            new.timezone = timezone;
        }
        if let Some(delete) = patch.delete_after_fire {
            new.delete_after_fire = delete;
        }
        if let Some(start) = patch.start_date {
            new.start_date = start;
        }
        if let Some(stop) = patch.stop_date {
            new.stop_date = stop;
        }
        if let Some(payload) = patch.trigger_payload {
            new.trigger_payload = payload;
        }
        if let Some(max) = patch.max_triggers {
            new.max_triggers = max;
        }
        if let Some(missed) = patch.if_missed {
            new.if_missed = missed;
        }
        (new, timed)
    }
}

fn refuse_since(since: Option<Since>) -> Result<(), SourceError> {
    match since {
        None | Some(Since::Now) => Ok(()),
        Some(Since::Seq(_)) => Err(invalid(
            "since: an alarm counts its ticks from now; leave since out",
        )),
    }
}

impl Source for AlarmsSource {
    fn kind(&self) -> &'static str {
        provider_api::ALARMS_KIND
    }

    fn secret_fields(&self) -> &'static [&'static str] {
        &[]
    }

    fn prepare(
        &self,
        config: Value,
        since: Option<Since>,
    ) -> BoxFuture<'_, Result<Prepared, SourceError>> {
        Box::pin(async move {
            refuse_since(since)?;
            let config: AlarmConfig = parse(config)?;
            let now = self.now();
            check(&config, Some(now))?;
            Ok(Prepared {
                config: stored(&config, now),
                start: Some(json!([now, 0])),
            })
        })
    }

    fn update<'a>(
        &'a self,
        config: &'a Value,
        patch: Option<Value>,
        since: Option<Since>,
    ) -> BoxFuture<'a, Result<Prepared, SourceError>> {
        Box::pin(async move {
            let restart = since.is_some();
            refuse_since(since)?;
            let (old, scheduled_since) = read_stored(config)?;
            let patch: AlarmPatch = match patch {
                Some(patch) => parse(patch)?,
                None => AlarmPatch::default(),
            };
            let (new, timed) = apply(&old, patch);
            let now = self.now();
            // A new schedule counts from now (no catch-up of the ticks the old one had); the
            // count of fires goes on unless `since: "now"` starts it afresh.
            let since = if timed { now } else { scheduled_since };
            check(&new, timed.then_some(now))?;
            Ok(Prepared {
                config: stored(&new, since),
                start: restart.then(|| json!([now, 0])),
            })
        })
    }

    fn start(&self, feed: &FeedRecord, position: Position, emitter: Emitter) -> SourceHandle {
        let (config, since) = match read_stored(&feed.config) {
            Ok(stored) => stored,
            Err(error) => {
                emitter.disable(format!("the stored settings are unusable: {error}"));
                return SourceHandle::on_drop(|| {});
            }
        };
        let plan = match plan_of(&config, since) {
            Ok(plan) => plan,
            Err(error) => {
                emitter.disable(format!("the stored settings are unusable: {error}"));
                return SourceHandle::on_drop(|| {});
            }
        };
        let (tick, fired) = read_position(&position);
        if let Some(max) = config.max_triggers
            && fired >= max
        {
            emitter.disable(format!(
                "done: fired {fired} times, as many as maxTriggers allows"
            ));
            return SourceHandle::on_drop(|| {});
        }
        let now = self.now();
        let mut from = tick.max(since);
        let mut late = false;
        let mut due = None;
        if let Some((_, latest)) = plan.passed(from, now) {
            match config.if_missed {
                IfMissed::FireOnce => {
                    late = true;
                    due = Some(now);
                }
                IfMissed::Skip => from = latest,
            }
        }
        let Some(due) = due.or_else(|| plan.next_after(from)) else {
            emitter.disable(timer::no_tick_left(&plan));
            return SourceHandle::on_drop(|| {});
        };
        let key = self.timer.add(
            Alarm {
                emitter,
                plan,
                payload: Arc::new(config.trigger_payload),
                max_triggers: config.max_triggers,
                delete_after_fire: config.delete_after_fire,
                from,
                fired,
                late,
            },
            due,
        );
        let timer = self.timer.clone();
        SourceHandle::on_drop(move || timer.remove(key))
    }

    fn fire_window(&self) -> Option<usize> {
        Some(1)
    }

    fn view_config(&self, stored: &Value) -> Value {
        match read_stored(stored) {
            Ok((config, since)) => expanded(&config, since),
            Err(_) => stored.clone(),
        }
    }

    fn describe(&self, record: &FeedRecord, position: &Position, status: &mut FeedStatus) {
        let (tick, fired) = read_position(position);
        status.times_fired = Some(fired);
        if status.last_fire.is_none() && fired > 0 {
            // Not fired by this instance since it started (a restart, a failover, another
            // instance runs it): the saved position still says which tick fired last. When it
            // was taken and its activation are not kept, so `at` is the tick itself.
            status.last_fire = Some(FireMark {
                at: tick,
                seq: position.clone(),
                changes: 1,
                activation_id: None,
            });
        }
        if !status.active {
            status.next_fire = None;
            return;
        }
        if status.next_fire.is_none()
            && let Ok((config, since)) = read_stored(&record.config)
            && let Ok(plan) = plan_of(&config, since)
        {
            // Not running here (another instance runs it, or it is starting).
            let from = tick.max(since);
            status.next_fire = match (plan.passed(from, self.now()), config.if_missed) {
                (Some(_), IfMissed::FireOnce) => Some(self.now()),
                _ => plan.next_after(from.max(self.now())),
            };
        }
    }
}
