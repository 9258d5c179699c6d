//! The feed actions `/whisk.system/alarms/{interval,alarm,once}`: the lifecycle events, with the
//! parameters checked as the alarms package checks them (and its messages).

use crate::clock::now_ms;
use crate::controller::Controller;
use crate::controller::alarm_table::alarm_key as key;
use crate::controller::{ActionContext, ActionOutput, BuiltinAction};
use crate::model::alarm::{Alarm, AlarmStatus};
use crate::model::identity::Identity;
use crate::model::names::{EntityName, is_valid_name};
use crate::model::schedule::{CronProblem, CronSchedule, Schedule, js_text, parse_date};
use serde_json::{Map, Value, json};

/// Which of the three feeds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FeedKind {
    Interval,
    Cron,
    Once,
}

/// An interval alarm without `startDate` starts this long after CREATE, as in the package.
const DEFAULT_START_DELAY_MS: u64 = 30_000;

pub(crate) struct AlarmFeed(pub FeedKind);

type Params = Map<String, Value>;

impl BuiltinAction for AlarmFeed {
    fn run(&self, ctx: &ActionContext, params: Value) -> ActionOutput {
        let params = match params {
            Value::Object(map) => map,
            _ => Params::new(),
        };
        let result = match ctx.sandbox.controller() {
            Ok(c) => self.lifecycle(&c, ctx, &params),
            Err(e) => Err(e.to_string()),
        };
        ActionOutput::result(result.unwrap_or_else(|error| json!({ "error": error })))
    }
}

fn success() -> Value {
    json!({ "status": "success" })
}

/// The parameter when JavaScript would find it truthy.
fn truthy<'a>(params: &'a Params, name: &str) -> Option<&'a Value> {
    params.get(name).filter(|v| match v {
        Value::Null | Value::Bool(false) => false,
        Value::String(s) => !s.is_empty(),
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        _ => true,
    })
}

/// `/ns/name` or `name`; `_` (or no namespace) is the invoking namespace.
fn parse_trigger(name: &str, invoker: &str) -> Result<(String, String), String> {
    let (ns, simple) = match name.strip_prefix('/') {
        Some(rest) => rest.split_once('/').unwrap_or((rest, "")),
        None => ("_", name),
    };
    let ns = if ns == "_" { invoker } else { ns };
    if !is_valid_name(ns) || !is_valid_name(simple) {
        return Err(format!(
            "triggerName '{name}' is not a trigger name: expected /namespace/trigger"
        ));
    }
    Ok((ns.to_string(), simple.to_string()))
}

/// The package's `verifyTriggerAuth`: the key must read the trigger (a missing one is fine for
/// DELETE). The key itself never appears in the message.
fn verify_trigger_auth(
    c: &Controller,
    auth_key: &str,
    ns: &str,
    trigger: &str,
    is_delete: bool,
) -> Result<(), String> {
    let failed = |why: String| Err(format!("Trigger authentication request failed: {why}"));
    let owner = c.config.namespaces.iter().find(|k| k.auth_key == auth_key);
    let Some(owner) = owner else {
        return failed("authKey is not a valid key of this OpenWhisk (401)".into());
    };
    if owner.namespace != ns {
        return failed(format!(
            "authKey does not belong to namespace {ns} of the trigger (403)"
        ));
    }
    let identity = Identity {
        namespace: owner.namespace.clone(),
        auth_key: Some(owner.auth_key.clone()),
    };
    let exists =
        crate::ops::triggers::get(c, &identity, &EntityName::new(ns, None, trigger)).is_ok();
    if !exists && !is_delete {
        return failed(format!("the trigger /{ns}/{trigger} does not exist (404)"));
    }
    Ok(())
}

fn not_found(ns: &str, trigger: &str) -> String {
    format!("could not find trigger /{ns}/{trigger} in the database")
}

/// `trigger_payload`: an object, or a string wrapped as `{"payload": s}`.
fn trigger_payload(value: Option<&Value>) -> Result<Option<Params>, String> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(map)) => Ok(Some(map.clone())),
        Some(Value::String(s)) => {
            let mut map = Params::new();
            map.insert("payload".into(), json!(s));
            Ok(Some(map))
        }
        Some(other) => Err(format!(
            "the trigger_payload parameter must be a JSON object or a string, not {other}"
        )),
    }
}

/// `+minutes === parseInt(minutes)` and greater than zero.
fn parse_minutes(value: &Value) -> Result<u64, String> {
    let number = match value {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse::<f64>().ok(),
        _ => None,
    }
    .filter(|f| f.is_finite() && f.fract() == 0.0)
    .ok_or("the minutes parameter must be an integer")?;
    if number <= 0.0 {
        return Err("the minutes parameter must be an integer greater than zero".into());
    }
    Ok(number as u64)
}

/// The package's `validateDate`: valid, in the future, and after `start` when given.
fn validate_date(value: &Value, name: &str, start: Option<&Value>) -> Result<u64, String> {
    let text = js_text(value);
    let ms = parse_date(value)
        .ok_or_else(|| format!("{name} parameter '{text}' is not a valid Date"))?;
    if now_ms() >= ms {
        return Err(format!("{name} parameter '{text}' must be in the future"));
    }
    if let Some(start) = start
        && parse_date(start).is_some_and(|s| ms <= s)
    {
        return Err(format!(
            "{name} parameter '{text}' must be greater than the startDate parameter '{}'",
            js_text(start)
        ));
    }
    Ok(ms)
}

fn check_cron(cron: &Value, timezone: Option<&Value>) -> Result<CronSchedule, String> {
    let pattern = cron.as_str().unwrap_or_default();
    let zone = timezone.map(js_text);
    CronSchedule::parse(pattern, zone.as_deref()).map_err(|problem| match problem {
        CronProblem::Timezone => "Invalid timezone.".to_string(),
        CronProblem::Pattern => format!("cron pattern '{}' is not valid", js_text(cron)),
    })
}

fn delete_after_fire(value: &Value) -> Result<String, String> {
    let text = js_text(value).trim().to_lowercase();
    if ["false", "true", "rules"].contains(&text.as_str()) {
        Ok(text)
    } else {
        Err("deleteAfterFire parameter must be one of [false, true, rules].".into())
    }
}

/// Makes the alarm active and schedules it; an alarm with nothing left to fire is disabled
/// with the provider's reason instead.
fn activate(alarm: &mut Alarm) -> Result<(), String> {
    let now = now_ms();
    alarm.status = AlarmStatus::active();
    alarm.reschedule(now);
    if alarm.next_ms.is_some() {
        return Ok(());
    }
    let why = if alarm.stop_ms().is_some_and(|stop| stop <= now) {
        "the stop date has expired"
    } else if matches!(alarm.schedule, Schedule::Once { .. }) {
        "the fire once date has expired"
    } else {
        "the next scheduled trigger fire is after the stop date"
    };
    alarm.status = AlarmStatus::inactive(
        "AUTO",
        None,
        format!("Automatically disabled after receiving error on trigger creation: {why}"),
    );
    Err(why.into())
}

impl AlarmFeed {
    fn lifecycle(
        &self,
        c: &Controller,
        ctx: &ActionContext,
        params: &Params,
    ) -> Result<Value, String> {
        let trigger_name = truthy(params, "triggerName")
            .and_then(Value::as_str)
            .ok_or("no trigger name parameter was provided")?;
        let auth_key = truthy(params, "authKey")
            .and_then(Value::as_str)
            .ok_or("no authKey parameter was provided")?;
        let (ns, trigger) = parse_trigger(trigger_name, &ctx.namespace)?;
        let event = params
            .get("lifecycleEvent")
            .map(js_text)
            .unwrap_or_default()
            .trim()
            .to_uppercase();
        let is_delete = event == "DELETE";
        let known = ["CREATE", "READ", "UPDATE", "DELETE", "PAUSE", "UNPAUSE"];
        if !known.contains(&event.as_str()) {
            return Err(format!(
                "unsupported lifecycleEvent '{event}': expected one of CREATE, READ, UPDATE, DELETE, PAUSE, UNPAUSE"
            ));
        }
        if event == "CREATE" {
            let alarm = self.new_alarm(&ns, &trigger, params)?;
            verify_trigger_auth(c, auth_key, &ns, &trigger, false)?;
            return create(c, alarm);
        }
        verify_trigger_auth(c, auth_key, &ns, &trigger, is_delete)?;
        let id = key(&ns, &trigger);
        let existing = c.alarms.get(&id).ok_or_else(|| not_found(&ns, &trigger))?;
        match event.as_str() {
            "READ" => Ok(existing.read_json()),
            "DELETE" => {
                c.update_alarm(&id, |alarm| *alarm = None)
                    .map_err(|e| e.to_string())?;
                c.echo(|| format!("alarm /{ns}/{trigger} deleted"));
                Ok(success())
            }
            "UPDATE" => {
                let mut updated = existing;
                apply_update(&mut updated, params)?;
                // As the provider, an update re-enables the alarm.
                let outcome = activate(&mut updated);
                c.update_alarm(&id, |alarm| *alarm = Some(updated))
                    .map_err(|e| e.to_string())?;
                outcome.map(|()| success())
            }
            "PAUSE" => {
                c.update_alarm(&id, |alarm| {
                    if let Some(alarm) = alarm
                        && alarm.status.active
                    {
                        alarm.status = AlarmStatus::inactive(
                            "USER",
                            None,
                            "Paused by the trigger's owner (PAUSE)",
                        );
                        alarm.next_ms = None;
                    }
                })
                .map_err(|e| e.to_string())?;
                c.echo(|| format!("alarm /{ns}/{trigger} paused"));
                Ok(success())
            }
            _ => {
                if existing.status.active {
                    return Ok(success());
                }
                let mut resumed = existing;
                activate(&mut resumed)?;
                c.update_alarm(&id, |alarm| *alarm = Some(resumed))
                    .map_err(|e| e.to_string())?;
                c.echo(|| format!("alarm /{ns}/{trigger} resumed"));
                Ok(success())
            }
        }
    }

    /// CREATE's checks, in the package's order; the alarm they describe.
    fn new_alarm(&self, ns: &str, trigger: &str, params: &Params) -> Result<Alarm, String> {
        let payload = trigger_payload(params.get("trigger_payload"))?.unwrap_or_default();
        let max_triggers = match truthy(params, "maxTriggers") {
            None => -1,
            Some(v) => parse_minutes(v).map_err(|_| {
                "the maxTriggers parameter must be an integer greater than zero".to_string()
            })? as i64,
        };
        let mut alarm = Alarm {
            namespace: ns.to_string(),
            trigger: trigger.to_string(),
            schedule: Schedule::Interval { minutes: 1 },
            start_date: None,
            stop_date: None,
            payload,
            max_triggers,
            fired: 0,
            status: AlarmStatus::active(),
            next_ms: None,
        };
        let mut cron_schedule = None;
        alarm.schedule = match self.0 {
            FeedKind::Once => {
                let date = truthy(params, "date")
                    .ok_or("alarms once trigger feed is missing the date parameter")?;
                validate_date(date, "date", None)?;
                let delete_after_fire = truthy(params, "deleteAfterFire")
                    .map(delete_after_fire)
                    .transpose()?;
                alarm.max_triggers = -1;
                return Ok(Alarm {
                    schedule: Schedule::Once {
                        date: date.clone(),
                        delete_after_fire,
                    },
                    ..alarm
                });
            }
            FeedKind::Interval => {
                let minutes = truthy(params, "minutes")
                    .ok_or("interval trigger feed is missing the minutes parameter")?;
                Schedule::Interval {
                    minutes: parse_minutes(minutes)?,
                }
            }
            FeedKind::Cron => {
                let cron = truthy(params, "cron")
                    .ok_or("alarms trigger feed is missing the cron parameter")?;
                cron_schedule = Some(check_cron(cron, truthy(params, "timezone"))?);
                Schedule::Cron {
                    cron: js_text(cron),
                    timezone: truthy(params, "timezone").map(js_text),
                }
            }
        };
        if let Some(start) = truthy(params, "startDate") {
            validate_date(start, "startDate", None)?;
            alarm.start_date = Some(start.clone());
        } else if self.0 == FeedKind::Interval {
            alarm.start_date = Some(json!(now_ms() + DEFAULT_START_DELAY_MS));
        }
        let stop = truthy(params, "stopDate");
        if let (Some(_), Some(_)) = (truthy(params, "maxTriggers"), stop) {
            return Err(if self.0 == FeedKind::Interval {
                "maxTriggers is not supported for the interval trigger feed".into()
            } else {
                "maxTriggers is not allowed when the stopDate parameter is specified".into()
            });
        }
        if let Some(stop) = stop {
            let stop_ms = validate_date(stop, "stopDate", alarm.start_date.as_ref())?;
            if let Some(schedule) = &cron_schedule
                && schedule
                    .next_after(now_ms())
                    .is_none_or(|next| next > stop_ms)
            {
                return Err(
                    "the first scheduled trigger fire is not until after the stop date".into(),
                );
            }
            alarm.stop_date = Some(stop.clone());
        }
        Ok(alarm)
    }
}

fn create(c: &Controller, mut alarm: Alarm) -> Result<Value, String> {
    let id = key(&alarm.namespace, &alarm.trigger);
    let path = alarm.trigger_path();
    activate(&mut alarm)?;
    let inserted = c
        .update_alarm(&id, |slot| {
            if slot.is_some() {
                return false;
            }
            *slot = Some(alarm);
            true
        })
        .map_err(|e| e.to_string())?;
    if !inserted {
        return Err(format!(
            "error creating alarm trigger. An alarm for {path} is already registered: DELETE it first"
        ));
    }
    c.echo(|| format!("alarm {path} created"));
    Ok(success())
}

/// UPDATE's checks and changes for the alarm's kind; at least one parameter must change.
fn apply_update(alarm: &mut Alarm, params: &Params) -> Result<(), String> {
    let mut changed = false;
    if let Some(payload) = trigger_payload(truthy(params, "trigger_payload"))? {
        alarm.payload = payload;
        changed = true;
    }
    if let Schedule::Once {
        date,
        delete_after_fire: after,
    } = &mut alarm.schedule
    {
        if let Some(new_date) = truthy(params, "date") {
            validate_date(new_date, "date", None)?;
            *date = new_date.clone();
            changed = true;
        }
        if let Some(value) = truthy(params, "deleteAfterFire") {
            *after = Some(delete_after_fire(value)?);
            changed = true;
        }
    } else {
        match &mut alarm.schedule {
            Schedule::Interval { minutes } => {
                if let Some(value) = truthy(params, "minutes") {
                    *minutes = parse_minutes(value)?;
                    changed = true;
                }
            }
            Schedule::Cron { cron, timezone } => {
                let new_cron = truthy(params, "cron");
                let new_zone = truthy(params, "timezone");
                if new_cron.is_some() || new_zone.is_some() {
                    let pattern = new_cron.cloned().unwrap_or_else(|| json!(cron));
                    let zone = new_zone
                        .cloned()
                        .or_else(|| timezone.clone().map(Value::from));
                    check_cron(&pattern, zone.as_ref())?;
                    *cron = js_text(&pattern);
                    *timezone = zone.as_ref().map(js_text);
                    changed = true;
                }
            }
            Schedule::Once { .. } => {}
        }
        let new_start = truthy(params, "startDate");
        if let Some(start) = new_start {
            validate_date(start, "startDate", None)?;
        }
        if let Some(stop) = truthy(params, "stopDate") {
            let start = new_start.or(alarm.start_date.as_ref());
            validate_date(stop, "stopDate", start)?;
            alarm.stop_date = Some(stop.clone());
            changed = true;
        } else if let (Some(start), Some(stop)) = (new_start, &alarm.stop_date)
            && parse_date(start)
                .zip(parse_date(stop))
                .is_some_and(|(a, b)| a >= b)
        {
            return Err(format!(
                "startDate parameter '{}' must be less than the stopDate parameter '{}'",
                js_text(start),
                js_text(stop)
            ));
        }
        if let Some(start) = new_start {
            alarm.start_date = Some(start.clone());
            changed = true;
        }
    }
    if !changed {
        return Err("no updatable parameters were specified".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_trigger_names_and_minutes_like_the_package() {
        assert_eq!(
            parse_trigger("/_/t", "guest").unwrap(),
            ("guest".into(), "t".into())
        );
        assert_eq!(
            parse_trigger("t", "guest").unwrap(),
            ("guest".into(), "t".into())
        );
        assert_eq!(
            parse_trigger("/other/t", "guest").unwrap(),
            ("other".into(), "t".into())
        );
        assert!(parse_trigger("/guest", "guest").is_err());
        assert!(parse_trigger("/guest/a/b", "guest").is_err());
        assert_eq!(parse_minutes(&json!(5)), Ok(5));
        assert_eq!(parse_minutes(&json!("5")), Ok(5));
        assert_eq!(
            parse_minutes(&json!("5.5")).unwrap_err(),
            "the minutes parameter must be an integer"
        );
        assert_eq!(
            parse_minutes(&json!(-1)).unwrap_err(),
            "the minutes parameter must be an integer greater than zero"
        );
        assert_eq!(
            trigger_payload(Some(&json!("hi"))).unwrap(),
            Some(json!({"payload": "hi"}).as_object().unwrap().clone())
        );
        assert!(trigger_payload(Some(&json!(3))).is_err());
    }
}
