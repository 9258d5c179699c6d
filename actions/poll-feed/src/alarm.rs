//! The alarm behind the helper trigger, driven through the alarms feed's own protocol (a
//! blocking invoke with `lifecycleEvent`, `triggerName`, `authKey`), as `wsk trigger create
//! --feed` would: the feed owns its provider-side state, this crate never touches it directly.

use feedkit::{ActionError, AuthKey, Client, ClientError, QualifiedName};
use serde_json::{Map, Value, json};

use crate::config::{PollConfig, Schedule};

/// The alarms feed of one helper trigger, invoked with the trigger owner's key.
pub struct Alarm<'a> {
    pub client: &'a Client,
    pub auth_key: &'a AuthKey,
    pub feed: &'a str,
    pub trigger: &'a QualifiedName,
}

impl Alarm<'_> {
    fn feed_name(&self) -> Result<QualifiedName, ActionError> {
        QualifiedName::parse(self.feed)
            .map(|name| name.resolve(self.trigger.namespace()))
            .map_err(|problem| {
                ActionError::new(format!("invalid parameter `alarmFeed`: {problem}"))
            })
    }

    fn invoke(&self, event: &str, extra: Map<String, Value>) -> Result<Value, ClientError> {
        let mut params = json!({
            "lifecycleEvent": event,
            "triggerName": self.trigger.to_string(),
            "authKey": self.auth_key.expose(),
        });
        if let Value::Object(map) = &mut params {
            map.extend(extra);
        }
        let feed = self
            .feed_name()
            .unwrap_or_else(|_| QualifiedName::new("_", None, self.feed));
        self.client.invoke_action(&feed, &params)
    }

    /// Starts the alarm. A refusal names the schedule parameter the alarms feed objected to.
    pub fn create(&self, config: &PollConfig) -> Result<(), ActionError> {
        self.feed_name()?;
        let mut params = config.schedule.alarm_params();
        // An explicit empty payload: the tick must carry the helper trigger's own parameters,
        // and nothing of the alarm's may shadow them.
        params.insert("trigger_payload".into(), json!({}));
        self.invoke("CREATE", params)
            .map(|_| ())
            .map_err(|error| self.refused(config, error, "creating"))
    }

    /// Changes the schedule in place (the alarms feed's UPDATE): one call, and no moment
    /// without an alarm.
    pub fn update(&self, config: &PollConfig) -> Result<(), ActionError> {
        self.feed_name()?;
        self.invoke("UPDATE", config.schedule.alarm_params())
            .map(|_| ())
            .map_err(|error| self.refused(config, error, "changing"))
    }

    /// What a refusal of the schedule means, naming the parameter it is about.
    fn refused(&self, config: &PollConfig, error: ClientError, doing: &str) -> ActionError {
        let reason = error.server_message().unwrap_or("no reason given");
        let parameter = match &config.schedule {
            Schedule::Interval { .. } => "minutes",
            Schedule::Cron { .. } if reason.to_ascii_lowercase().contains("timezone") => "timezone",
            Schedule::Cron { .. } => "cron",
        };
        match error.status() {
            Some(404) => ActionError::new(format!(
                "invalid parameter `alarmFeed`: the alarms feed {} does not exist or may not be used with this key ({error})",
                self.feed
            )),
            Some(400 | 502) => ActionError::new(format!(
                "invalid parameter `{parameter}`: the alarms feed {} refused the schedule: {reason}",
                self.feed
            )),
            _ => {
                ActionError::from(error).context(format!("{doing} the alarm through {}", self.feed))
            }
        }
    }

    /// Stops and forgets the alarm. An alarm that does not exist counts as deleted.
    pub fn delete(&self) -> Result<(), ActionError> {
        match self.invoke("DELETE", Map::new()) {
            Ok(_) => Ok(()),
            Err(error) if is_absent(&error) => Ok(()),
            Err(error) => Err(ActionError::from(error)
                .context(format!("deleting the alarm through {}", self.feed))),
        }
    }
}

/// The feed action itself is gone, or it says it has no such alarm (the alarms package answers
/// "could not find trigger ... in the database").
fn is_absent(error: &ClientError) -> bool {
    let message = error
        .server_message()
        .unwrap_or_default()
        .to_ascii_lowercase();
    error.is_not_found()
        || message.contains("not found")
        || message.contains("could not find")
        || message.contains("does not exist")
}
