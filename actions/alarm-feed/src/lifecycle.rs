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

/// The provider's alarms source, as messages name it. Its 422 names the user's parameter
/// (the cron pattern, the time zone, a date that does not fit what is stored): passed on as is.
pub const SERVICE: Service = Service {
    kind: ALARMS_KIND,
    provider: "the alarms provider",
    feed: "alarm",
    unusable: |message| message,
};

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
    /// The tick it was for (the provider's position).
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
