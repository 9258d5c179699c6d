//! The six lifecycle events, each one call to the provider's alarms source ([`ProviderFeed`]),
//! which keys alarms by the trigger's fully qualified name.

use feedkit::provider::{self, ProviderFeed, ProviderTarget, Service};
use feedkit::{ActionError, Feed, FeedSession, iso_utc, now_ms};
use provider_api::ALARMS_KIND;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::settings::{self, AlarmParams};

/// The alarms feed: `main` hands it to [`feedkit::run_feed`].
pub struct AlarmFeed;

type Session<'c> = FeedSession<'c, AlarmParams>;

/// The provider's alarms source, as messages name it.
pub const SERVICE: Service = Service {
    kind: ALARMS_KIND,
    provider: "the alarms provider",
    feed: "alarm",
    refused,
};

/// The provider refused the alarm's settings (the cron pattern or the time zone it reads, or
/// what an UPDATE makes of the stored alarm): its answer `config.<field>: problem` (or
/// `config: problem`) names the user's parameter. Anything else is said as it is.
fn refused(_status: u16, message: &str) -> Option<String> {
    let (path, problem) = message.split_once(": ")?;
    let field = match path.strip_prefix("config")? {
        "" => named_in(problem)?,
        rest => rest.strip_prefix('.')?.split(['.', '[']).next()?,
    };
    let parameter = match field {
        "triggerPayload" => "trigger_payload",
        other => other,
    };
    Some(format!("invalid parameter `{parameter}`: {problem}"))
}

/// The parameter a problem of the whole `config` is about.
fn named_in(problem: &str) -> Option<&'static str> {
    if problem.starts_with("cron pattern") {
        Some("cron")
    } else if problem.starts_with("timezone") {
        Some("timezone")
    } else if problem.contains("stopDate") {
        Some("stopDate")
    } else {
        None
    }
}

fn provider(params: &AlarmParams) -> Result<ProviderFeed<'static>, ActionError> {
    let target =
        ProviderTarget::from_params(&SERVICE, &params.provider_url, &params.provider_secret)?;
    Ok(ProviderFeed::new(&SERVICE, target))
}

impl Feed for AlarmFeed {
    type Params = AlarmParams;
    const NAME: &'static str = "alarm-feed";

    fn create(&self, session: &mut Session<'_>) -> Result<Value, ActionError> {
        // Every setting is checked before anything goes over the network.
        let config = settings::config(&session.params, now_ms())?;
        let feed = provider(&session.params)?;
        let api_host = provider::api_host(session)?;
        session.check_trigger()?;
        shown(feed.register(session, api_host, config, None)?)
    }

    fn read(&self, session: &mut Session<'_>) -> Result<Value, ActionError> {
        shown(provider(&session.params)?.read(session)?)
    }

    fn update(&self, session: &mut Session<'_>) -> Result<Value, ActionError> {
        let patch = settings::patch(&session.params, now_ms())?;
        let feed = provider(&session.params)?;
        let api_host = provider::api_host(session)?;
        session.check_trigger()?;
        shown(feed.update(session, api_host, Some(patch), None)?)
    }

    fn delete(&self, session: &mut Session<'_>) -> Result<Value, ActionError> {
        provider(&session.params)?.delete(session)
    }

    fn pause(&self, session: &mut Session<'_>) -> Result<Value, ActionError> {
        shown(provider(&session.params)?.set_active(session, false)?)
    }

    fn unpause(&self, session: &mut Session<'_>) -> Result<Value, ActionError> {
        shown(provider(&session.params)?.set_active(session, true)?)
    }
}

/// An alarm as READ (and every other event but DELETE) shows it.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(default)]
struct AlarmView {
    trigger: String,
    config: Value,
    status: AlarmStatus,
}

/// What the provider's status says about an alarm (the connection and change counters of the
/// changes source do not apply), every time in ms since 1970 with its ISO text beside it.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct AlarmStatus {
    active: bool,
    /// `active`, `paused` (by the user) or `disabled` (by the provider: see `reason`).
    state: String,
    reason: Option<String>,
    date_changed: u64,
    #[serde(rename = "dateChangedISO", skip_deserializing)]
    date_changed_iso: String,
    next_fire: Option<u64>,
    #[serde(rename = "nextFireISO", skip_deserializing)]
    next_fire_iso: Option<String>,
    /// Fires so far, counted durably (what `maxTriggers` counts).
    times_fired: Option<u64>,
    last_fire: Option<AlarmFire>,
    last_error: Option<Value>,
    retrying: Option<Value>,
    failed_fires: u64,
    /// The provider instance running the alarm.
    owner: Option<String>,
}

/// The last fire OpenWhisk took.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct AlarmFire {
    at: u64,
    /// The tick it was for (ms since 1970).
    #[serde(rename(deserialize = "seq"))]
    scheduled: Value,
    /// `None` when OpenWhisk answered 204: no active rule is attached to the trigger.
    activation_id: Option<String>,
}

fn shown(view: Value) -> Result<Value, ActionError> {
    let mut shown: Value = provider::shown::<AlarmView>(&SERVICE, view)?;
    if let Some(config) = shown.get_mut("config") {
        *config = settings::shown_config(config.take());
    }
    if let Some(status) = shown.get_mut("status").and_then(Value::as_object_mut) {
        // The provider's position is `[tick, fires so far]`: the fire was for the tick.
        if let Some(scheduled) = status
            .get_mut("lastFire")
            .and_then(|fire| fire.get_mut("scheduled"))
            && let Some(tick) = scheduled.get(0).and_then(Value::as_u64)
        {
            *scheduled = Value::from(tick);
        }
        for (ms, iso) in [
            ("dateChanged", "dateChangedISO"),
            ("nextFire", "nextFireISO"),
        ] {
            match status.get(ms).and_then(Value::as_u64) {
                Some(at) => status.insert(iso.to_owned(), Value::String(iso_utc(at))),
                None => status.remove(iso),
            };
        }
    }
    Ok(shown)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_provider_s_refusals_name_the_user_s_parameter() {
        let said = |message: &str| refused(400, message);
        assert_eq!(
            said("config: cron pattern '61 * * * *' is not valid: bad minute").as_deref(),
            Some("invalid parameter `cron`: cron pattern '61 * * * *' is not valid: bad minute")
        );
        assert_eq!(
            said("config: timezone 'Mars/Olympus' is not a time zone").as_deref(),
            Some("invalid parameter `timezone`: timezone 'Mars/Olympus' is not a time zone")
        );
        assert_eq!(
            said("config: the schedule has no tick before its stopDate").as_deref(),
            Some("invalid parameter `stopDate`: the schedule has no tick before its stopDate")
        );
        assert_eq!(
            said("config.triggerPayload: invalid type").as_deref(),
            Some("invalid parameter `trigger_payload`: invalid type")
        );
        assert_eq!(
            said("config.timezone: a timezone goes with cron only").as_deref(),
            Some("invalid parameter `timezone`: a timezone goes with cron only")
        );
        assert_eq!(said("authKey: malformed"), None);
        assert_eq!(said("config: something else"), None);
    }

    #[test]
    fn read_shows_the_alarm_s_status_with_iso_times() {
        let view = json!({
            "trigger": "/guest/t",
            "config": {"cron": "* * * * *", "stopDate": 1_893_456_000_000_u64, "apiHost": "h"},
            "status": {"active": true, "state": "active", "dateChanged": 1_893_456_000_000_u64,
                "nextFire": 1_893_456_060_000_u64, "timesFired": 2, "connected": true,
                "changesFired": 0, "position": [1_893_456_000_000_u64, 2],
                "lastFire": {"at": 1_893_456_000_100_u64, "seq": [1_893_456_000_000_u64, 2],
                    "changes": 1, "activationId": "a1"}},
        });
        let shown = shown(view).expect("a view");
        assert_eq!(shown["config"]["stopDate"], "2030-01-01T00:00:00.000Z");
        let status = &shown["status"];
        assert_eq!(status["nextFireISO"], "2030-01-01T00:01:00.000Z");
        assert_eq!(status["dateChangedISO"], "2030-01-01T00:00:00.000Z");
        assert_eq!(status["timesFired"], 2);
        assert_eq!(
            status["lastFire"],
            json!({"at": 1_893_456_000_100_u64, "scheduled": 1_893_456_000_000_u64,
                   "activationId": "a1"})
        );
        for changes_only in ["connected", "changesFired", "position"] {
            assert!(status.get(changes_only).is_none(), "{status}");
        }
    }
}
