//! The helper trigger: what the alarm fires, and where the feed keeps what it knows.
//!
//! - parameters `pollConfig` ([`PollConfig`]) and `pollState` ([`PollState`]): they ride along
//!   on every tick (a trigger's parameters are merged into its fires, and the rule hands them to
//!   the poller), so the poller needs no state of its own;
//! - annotation `pollSecrets` ([`Secrets`]): credentials for the polled service, kept out of the
//!   fires and so out of every tick's activation record;
//! - annotation `pollFeedFor`: the user's trigger, marking the entity as this feed's;
//! - annotation `feed`: the alarms feed, as `wsk trigger create --feed` would set it.
//!
//! Every write is a `PUT ?overwrite=true` of the entity as just read, with only these keys
//! replaced, so whatever else is on it (the alarms feed's annotations) is kept.

use feedkit::{ActionError, Client, ClientError, QualifiedName, entity_annotation};
use serde_json::{Value, json};

use crate::config::{PollConfig, Secrets};
use crate::state::PollState;

pub const CONFIG_PARAM: &str = "pollConfig";
pub const STATE_PARAM: &str = "pollState";
pub const SECRETS_ANNOTATION: &str = "pollSecrets";
pub const OWNER_ANNOTATION: &str = "pollFeedFor";
pub const FEED_ANNOTATION: &str = "feed";

/// The helper trigger as read, its stored values parsed.
#[derive(Debug, Clone)]
pub struct Helper {
    pub name: QualifiedName,
    entity: Value,
    pub config: PollConfig,
    pub secrets: Secrets,
    pub state: PollState,
    /// The alarms feed (the `feed` annotation).
    pub feed: String,
}

impl Helper {
    /// The body CREATE puts.
    pub fn new_body(config: &PollConfig, secrets: &Secrets, state: &PollState) -> Value {
        json!({
            "annotations": [
                {"key": FEED_ANNOTATION, "value": config.alarm_feed()},
                {"key": OWNER_ANNOTATION, "value": config.trigger},
                {"key": SECRETS_ANNOTATION, "value": secrets.to_stored()},
            ],
            "parameters": [
                {"key": CONFIG_PARAM, "value": config},
                {"key": STATE_PARAM, "value": state},
            ],
        })
    }

    /// Whether `entity` (a trigger as OpenWhisk shows it) is the helper of `trigger`.
    pub fn belongs_to(entity: &Value, trigger: &QualifiedName) -> bool {
        entity_annotation(entity, OWNER_ANNOTATION).and_then(Value::as_str)
            == Some(trigger.to_string().as_str())
    }

    /// Reads the helper trigger; `None` when it does not exist.
    pub fn load(client: &Client, name: &QualifiedName) -> Result<Option<Self>, ActionError> {
        match client.get_trigger(name) {
            Ok(entity) => Self::parse(name, entity).map(Some),
            Err(error) if error.is_not_found() => Ok(None),
            Err(error) => Err(ActionError::from(error).context(format!("reading {name}"))),
        }
    }

    /// Reads the helper trigger of a feed that must exist.
    pub fn require(
        client: &Client,
        name: &QualifiedName,
        trigger: &QualifiedName,
    ) -> Result<Self, ActionError> {
        Self::load(client, name)?.ok_or_else(|| not_polled(trigger, name))
    }

    fn parse(name: &QualifiedName, entity: Value) -> Result<Self, ActionError> {
        let broken = |what: String| {
            ActionError::new(format!(
                "{name} is not a usable poll-feed helper trigger ({what}); delete the feed and create it again"
            ))
        };
        let stored = |key: &str| parameter(&entity, key).ok_or_else(|| format!("no {key}"));
        let config =
            PollConfig::from_stored(stored(CONFIG_PARAM).map_err(broken)?).map_err(broken)?;
        let state = PollState::from_stored(stored(STATE_PARAM).map_err(broken)?).map_err(broken)?;
        let secrets = match entity_annotation(&entity, SECRETS_ANNOTATION) {
            None => Secrets::default(),
            Some(value) => Secrets::from_stored(value).map_err(broken)?,
        };
        let feed = entity_annotation(&entity, FEED_ANNOTATION)
            .and_then(Value::as_str)
            .map(str::to_owned)
            .unwrap_or_else(|| config.alarm_feed());
        Ok(Self {
            name: name.clone(),
            entity,
            config,
            secrets,
            state,
            feed,
        })
    }

    /// Writes config, secrets, state and feed back, keeping everything else on the entity.
    pub fn save(&self, client: &Client) -> Result<(), ClientError> {
        let replaced = |field: &str, entries: Vec<(&str, Value)>| -> Vec<Value> {
            let mut list: Vec<Value> = self
                .entity
                .get(field)
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default()
                .into_iter()
                .filter(|entry| {
                    let key = entry.get("key").and_then(Value::as_str).unwrap_or_default();
                    !entries.iter().any(|(replaced, _)| *replaced == key)
                })
                .collect();
            list.extend(
                entries
                    .into_iter()
                    .map(|(key, value)| json!({"key": key, "value": value})),
            );
            list
        };
        let annotations = replaced(
            "annotations",
            vec![
                (FEED_ANNOTATION, json!(self.feed)),
                (OWNER_ANNOTATION, json!(self.config.trigger)),
                (SECRETS_ANNOTATION, self.secrets.to_stored()),
            ],
        );
        let parameters = replaced(
            "parameters",
            vec![
                (CONFIG_PARAM, json!(self.config)),
                (STATE_PARAM, json!(self.state)),
            ],
        );
        let mut body = json!({"annotations": annotations, "parameters": parameters});
        if let Some(publish) = self.entity.get("publish") {
            body["publish"] = publish.clone();
        }
        client.put_trigger(&self.name, &body, true).map(|_| ())
    }

    /// Reads the helper afresh, changes it and writes it back: the short read-modify-write that
    /// keeps concurrent writers (a tick and a lifecycle event) from undoing each other's work.
    pub fn modify<T>(
        client: &Client,
        name: &QualifiedName,
        trigger: &QualifiedName,
        change: impl FnOnce(&mut Self) -> T,
    ) -> Result<T, ActionError> {
        let mut helper = Self::require(client, name, trigger)?;
        let result = change(&mut helper);
        helper
            .save(client)
            .map_err(|error| ActionError::from(error).context(format!("saving {name}")))?;
        Ok(result)
    }
}

/// The error for a trigger that has no poll feed.
pub fn not_polled(trigger: &QualifiedName, helper: &QualifiedName) -> ActionError {
    ActionError::new(format!(
        "invalid parameter `triggerName`: {trigger} is not polled by this feed (its helper trigger {helper} does not exist)"
    ))
}

fn parameter<'a>(entity: &'a Value, key: &str) -> Option<&'a Value> {
    entity
        .get("parameters")?
        .as_array()?
        .iter()
        .find(|entry| entry.get("key").and_then(Value::as_str) == Some(key))
        .and_then(|entry| entry.get("value"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{ConfigPatch, Owners};
    use feedkit::Params;

    #[test]
    fn a_new_body_parses_back_and_marks_its_owner() {
        let patch = ConfigPatch::parse(
            &Params::from_value(
                json!({"url": "http://h/", "cron": "* * * * *", "bearerToken": "tok"}),
            )
            .expect("object"),
        )
        .expect("patch");
        let owners = Owners {
            trigger: "/guest/t".into(),
            poll_trigger: "/guest/t-poll-alarm".into(),
            rule: "/guest/t-poll-rule".into(),
        };
        let (config, secrets) = PollConfig::create(owners, patch).expect("config");
        let state = PollState::new(3);
        let mut entity = Helper::new_body(&config, &secrets, &state);
        entity["annotations"]
            .as_array_mut()
            .expect("list")
            .push(json!({"key": "other", "value": 1}));
        let name = QualifiedName::parse("/guest/t-poll-alarm").expect("name");
        let helper = Helper::parse(&name, entity.clone()).expect("parsed");
        assert_eq!(helper.config, config);
        assert_eq!(helper.secrets, secrets);
        assert_eq!(helper.state, state);
        assert_eq!(helper.feed, "/whisk.system/alarms/alarm");
        assert!(Helper::belongs_to(
            &entity,
            &QualifiedName::parse("/guest/t").expect("t")
        ));
        assert!(!Helper::belongs_to(
            &entity,
            &QualifiedName::parse("/guest/u").expect("u")
        ));
        // The secret is stored on an annotation, never in the parameters that ride on fires.
        assert!(!entity["parameters"].to_string().contains("tok"));

        let error = Helper::parse(&name, json!({"parameters": []})).expect_err("broken");
        assert!(error.message().contains("no pollConfig"), "{error}");
    }
}
