//! Firing alarms: the scheduler thread, one fire with the provider's retries and disabling rules,
//! and what happens after a fire (once alarms end, stop dates and `maxTriggers` are honoured).

use crate::clock::now_ms;
use crate::controller::Controller;
use crate::controller::alarm_table::{AlarmKey, alarm_key as key};
use crate::model::alarm::AlarmStatus;
use crate::model::error::Error;
use crate::model::fire::Fire;
use crate::model::schedule::Schedule;
use crate::ops::fire::FirePayload;
use serde_json::Value;
use std::time::{Duration, Instant};

/// Retries of a fire that failed transiently (408, 409, 429, 5xx), as the provider.
const RETRY_ATTEMPTS: u32 = 10;
const RETRY_DELAY_MS: u64 = 1_000;
/// The longest the scheduler sleeps without looking again.
const MAX_SLEEP: Duration = Duration::from_secs(3_600);

/// 4xx other than 408, 409 and 429: the trigger is gone or may not be fired; retrying is futile.
fn should_disable(status: u16) -> bool {
    (400..500).contains(&status) && ![408, 409, 429].contains(&status)
}

/// Disables an active alarm with the provider's `AUTO` reason.
pub(crate) fn disable(c: &Controller, id: &AlarmKey, status_code: Option<u16>, message: &str) {
    let disabled = c
        .update_alarm(id, |alarm| {
            let alarm = alarm.as_mut().filter(|a| a.status.active)?;
            alarm.status = AlarmStatus::inactive("AUTO", status_code, message);
            alarm.next_ms = None;
            Some(alarm.trigger_path())
        })
        .ok()
        .flatten();
    if let Some(path) = disabled {
        c.echo(|| format!("alarm {path} disabled: {message}"));
    }
}

/// Sleeps `delay` unless the sandbox stops or the alarm goes away or is disabled first.
fn pause_before_retry(c: &Controller, id: &AlarmKey, delay: Duration) -> bool {
    let until = Instant::now() + delay;
    while Instant::now() < until {
        if c.is_shutting_down() || c.alarms.get(id).is_none_or(|a| !a.status.active) {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50).min(until - Instant::now()));
    }
    true
}

/// Fires the alarm's trigger once, retrying transient failures; then applies what follows a
/// fire. The last attempt's record, or `None` when the alarm is gone.
pub(crate) fn fire_alarm(c: &Controller, id: &AlarmKey) -> Option<Fire> {
    let (ns, trigger) = id;
    let payload = Value::Object(c.alarms.get(id)?.payload);
    let mut throttled = 0u32;
    let mut retries = 0;
    let (fire, succeeded) = loop {
        let owner = c.owner_of(ns);
        let fired = crate::ops::fire::fire(
            c,
            &owner,
            ns,
            trigger,
            FirePayload::from_value(payload.clone()),
        );
        let fire = fired.record;
        if fire.status < 400 {
            break (fire, true);
        }
        if should_disable(fire.status) {
            let message = format!(
                "Trigger automatically disabled: Received a {} status code when firing the trigger",
                fire.status
            );
            disable(c, id, Some(fire.status), &message);
            break (fire, false);
        }
        if fire.status == 429 {
            throttled += 1;
        }
        if retries >= RETRY_ATTEMPTS {
            if throttled >= RETRY_ATTEMPTS {
                disable(
                    c,
                    id,
                    Some(429),
                    "Automatically disabled after continuously receiving a 429 status code when firing the trigger",
                );
            }
            break (fire, false);
        }
        retries += 1;
        let delay = RETRY_DELAY_MS.max(1_000 * u64::from(throttled).pow(2));
        if !pause_before_retry(c, id, Duration::from_millis(delay)) {
            break (fire, false);
        }
    };
    after_fire(c, id, succeeded);
    Some(fire)
}

/// The provider's `handleFiredTrigger`.
fn after_fire(c: &Controller, id: &AlarmKey, succeeded: bool) {
    let Some(alarm) = c.alarms.get(id) else {
        return;
    };
    let now = now_ms();
    if succeeded {
        let _ = c.update_alarm(id, |alarm| {
            if let Some(a) = alarm {
                a.fired += 1;
            }
        });
    }
    match &alarm.schedule {
        Schedule::Once {
            delete_after_fire, ..
        } => match delete_after_fire.as_deref() {
            Some(mode @ ("true" | "rules")) => {
                let _ = c.update_alarm(id, |alarm| *alarm = None);
                delete_trigger(c, id, mode == "rules");
            }
            _ => disable(c, id, None, "Automatically disabled after firing once"),
        },
        schedule if alarm.stop_ms().is_some() => {
            let stop = alarm.stop_ms().unwrap_or(u64::MAX);
            match schedule {
                Schedule::Cron { .. } if schedule.next_fire(None, now).is_none_or(|n| n > stop) => {
                    disable(
                        c,
                        id,
                        None,
                        "Automatically disabled after firing last scheduled cron trigger",
                    );
                }
                Schedule::Interval { minutes } if now + minutes * 60_000 > stop => disable(
                    c,
                    id,
                    None,
                    "Automatically disabled after firing last scheduled interval trigger",
                ),
                _ => {}
            }
        }
        _ => {
            let fired = alarm.fired + u64::from(succeeded);
            if alarm.max_triggers > 0 && fired >= alarm.max_triggers as u64 {
                disable(
                    c,
                    id,
                    None,
                    "Automatically disabled after reaching max triggers",
                );
            }
        }
    }
}

/// `deleteAfterFire`: the trigger goes, and with `rules` its rules first.
fn delete_trigger(c: &Controller, (ns, trigger): &AlarmKey, with_rules: bool) {
    let owner = c.owner_of(ns);
    if crate::ops::triggers::delete_with_rules(c, &owner, ns, trigger, with_rules).is_ok() {
        c.echo(|| format!("alarm /{ns}/{trigger} fired once: trigger deleted"));
    }
}

/// The scheduler: sleeps until the earliest active alarm is due, then fires every due alarm on
/// its own thread (so a slow retry never delays another alarm) and schedules its next fire.
pub(crate) fn run_scheduler(c: &Controller) {
    let mut alarms = c.alarms.lock();
    loop {
        if c.is_shutting_down() {
            return;
        }
        let seen = c.alarms.generation();
        let now = now_ms();
        let mut due = Vec::new();
        for (id, alarm) in alarms.iter_mut() {
            let Some(next) = alarm.next_ms.filter(|_| alarm.status.active) else {
                continue;
            };
            if next <= now {
                due.push(id.clone());
                // Intervals keep their phase; the others look for the next match after now.
                let from = match alarm.schedule {
                    Schedule::Interval { .. } => next,
                    _ => now,
                };
                alarm.reschedule(from.max(now.saturating_sub(1)));
            }
        }
        let earliest = alarms
            .values()
            .filter(|a| a.status.active)
            .filter_map(|a| a.next_ms)
            .min();
        drop(alarms);
        for id in due {
            c.spawn("alarm", move |c| {
                fire_alarm(&c, &id);
            });
        }
        let sleep = earliest.map_or(MAX_SLEEP, |at| {
            Duration::from_millis(at.saturating_sub(now_ms())).min(MAX_SLEEP)
        });
        alarms = c.alarms.lock();
        if !sleep.is_zero() && !c.is_shutting_down() && c.alarms.generation() == seen {
            alarms = c.alarms.wait(alarms, sleep);
        }
    }
}

/// [`crate::Sandbox::tick_alarm`]: fires now, as the timer would.
pub(crate) fn tick(c: &Controller, ns: &str, trigger: &str) -> Result<Fire, Error> {
    let id = key(ns, trigger);
    let alarm = c.alarms.get(&id).ok_or_else(|| {
        Error::NotFound(format!(
            "no alarm is registered for trigger /{ns}/{trigger}"
        ))
    })?;
    if !alarm.status.active {
        let why = alarm.status.reason.map(|r| r.message).unwrap_or_default();
        return Err(Error::Conflict(format!(
            "the alarm of trigger /{ns}/{trigger} is not active: {why}"
        )));
    }
    fire_alarm(c, &id).ok_or_else(|| {
        Error::NotFound(format!(
            "no alarm is registered for trigger /{ns}/{trigger}"
        ))
    })
}
