//! The helper trigger: what the alarm fires, and where the feed keeps what it knows.
//!
//! Two writers share it: the lifecycle events (settings) and the poller (position). Each writes
//! only its own list, since OpenWhisk keeps the list a `PUT ?overwrite=true` leaves out; so a
//! tick never undoes an UPDATE or a PAUSE it ran beside, and neither reads the helper twice.
//!
//! - annotations (the lifecycle events'): `pollConfig` ([`PollConfig`]), `pollSecrets`
//!   ([`Secrets`]: credentials for the polled service, kept out of every fire and so out of
//!   every tick's activation record), `pollPaused` (why, while PAUSE holds), `pollFeedFor` (the
//!   user's trigger: the entity is this feed's) and `feed` (the alarms feed, as `wsk trigger
//!   create --feed` would set it);
//! - parameters (the poller's): `pollTrigger` (this trigger's name: the parameters ride along on
//!   every tick, so the rule hands it to the poller) and `pollState` ([`PollState`]).

use feedkit::{ActionError, Client, ClientError, Entity, QualifiedName};
use serde_json::{Value, json};

use crate::config::{PollConfig, Secrets};
use crate::state::PollState;

pub const CONFIG_ANNOTATION: &str = "pollConfig";
pub const SECRETS_ANNOTATION: &str = "pollSecrets";
pub const PAUSED_ANNOTATION: &str = "pollPaused";
pub const OWNER_ANNOTATION: &str = "pollFeedFor";
pub const FEED_ANNOTATION: &str = "feed";
pub const TRIGGER_PARAM: &str = "pollTrigger";
pub const STATE_PARAM: &str = "pollState";

/// The helper trigger as read, its stored values parsed.
#[derive(Debug, Clone)]
pub struct Helper {
    pub name: QualifiedName,
    entity: Entity,
    pub config: PollConfig,
    pub secrets: Secrets,
    pub state: PollState,
    /// Why the feed is paused (PAUSE), if it is.
    pub paused: Option<Paused>,
    /// The alarms feed (the `feed` annotation).
    pub feed: String,
}

/// A PAUSE's record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Paused {
    pub reason: String,
    pub at: u64,
}

impl Helper {
    /// The body CREATE puts.
    pub fn new_body(config: &PollConfig, secrets: &Secrets, state: &PollState) -> Value {
        json!({
            "annotations": [
                {"key": FEED_ANNOTATION, "value": config.alarm_feed()},
                {"key": OWNER_ANNOTATION, "value": config.trigger},
                {"key": CONFIG_ANNOTATION, "value": config},
                {"key": SECRETS_ANNOTATION, "value": secrets.to_stored()},
            ],
            "parameters": [
                {"key": TRIGGER_PARAM, "value": config.poll_trigger},
                {"key": STATE_PARAM, "value": state},
            ],
        })
    }

    /// Whether `entity` (a trigger as OpenWhisk shows it) is the helper of `trigger`.
    pub fn belongs_to(entity: &Entity, trigger: &QualifiedName) -> bool {
        entity.annotation(OWNER_ANNOTATION).and_then(Value::as_str)
            == Some(trigger.to_string().as_str())
    }

    /// Reads the helper trigger; `None` when it does not exist.
    pub fn load(client: &Client, name: &QualifiedName) -> Result<Option<Self>, ActionError> {
        match client.get_trigger(name) {
            Ok(entity) => Self::parse(name, Entity::new(entity)).map(Some),
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

    pub fn parse(name: &QualifiedName, entity: Entity) -> Result<Self, ActionError> {
        let broken = |what: String| {
            ActionError::new(format!(
                "{name} is not a usable poll-feed helper trigger ({what}); delete the feed and create it again"
            ))
        };
        let config = entity
            .annotation(CONFIG_ANNOTATION)
            .ok_or_else(|| format!("no {CONFIG_ANNOTATION}"))
            .and_then(PollConfig::from_stored)
            .map_err(broken)?;
        let state = entity
            .parameter(STATE_PARAM)
            .ok_or_else(|| format!("no {STATE_PARAM}"))
            .and_then(PollState::from_stored)
            .map_err(broken)?;
        let secrets = match entity.annotation(SECRETS_ANNOTATION) {
            None => Secrets::default(),
            Some(value) => Secrets::from_stored(value).map_err(broken)?,
        };
        let paused = entity.annotation(PAUSED_ANNOTATION).map(|paused| Paused {
            reason: paused["reason"].as_str().unwrap_or("paused").to_owned(),
            at: paused["at"].as_u64().unwrap_or_default(),
        });
        let feed = entity
            .annotation(FEED_ANNOTATION)
            .and_then(Value::as_str)
            .map(str::to_owned)
            .unwrap_or_else(|| config.alarm_feed());
        // The name as OpenWhisk resolved it (the caller may have asked for `/_/...`).
        let name = match entity.namespace() {
            Some(namespace) => name.resolve(namespace),
            None => name.clone(),
        };
        Ok(Self {
            name,
            entity,
            config,
            secrets,
            state,
            paused,
            feed,
        })
    }

    pub fn entity(&self) -> &Entity {
        &self.entity
    }

    /// Whether `rule` (resolved) is attached to the helper, and if so whether it is active.
    pub fn rule_status(&self, rule: &QualifiedName) -> Option<bool> {
        let key = format!("{}/{}", rule.namespace(), rule.name());
        self.entity
            .rules()
            .into_iter()
            .find(|(name, _)| *name == key)
            .map(|(_, active)| active)
    }

    /// The settings' annotations as they are now in `self`.
    fn annotations(&self) -> Value {
        let paused = self
            .paused
            .as_ref()
            .map(|paused| json!({"reason": paused.reason, "at": paused.at}));
        self.entity.annotations_with(&[
            (FEED_ANNOTATION, Some(json!(self.feed))),
            (OWNER_ANNOTATION, Some(json!(self.config.trigger))),
            (CONFIG_ANNOTATION, Some(json!(self.config))),
            (SECRETS_ANNOTATION, Some(self.secrets.to_stored())),
            (PAUSED_ANNOTATION, paused),
        ])
    }

    /// The poller's parameters as they are now in `self`.
    fn parameters(&self) -> Value {
        self.entity.parameters_with(&[
            (TRIGGER_PARAM, Some(json!(self.config.poll_trigger))),
            (STATE_PARAM, Some(json!(self.state))),
        ])
    }

    /// Writes what the lifecycle events own (settings, credentials, pause), and with
    /// `with_state` the poller's parameters too.
    pub fn save_settings(&self, client: &Client, with_state: bool) -> Result<(), ActionError> {
        let mut body = json!({ "annotations": self.annotations() });
        if with_state {
            body["parameters"] = self.parameters();
        }
        self.put(client, &body)
    }

    /// Writes what the poller owns (the position), leaving the settings as they are now.
    pub fn save_state(&self, client: &Client) -> Result<(), ActionError> {
        self.put(client, &json!({ "parameters": self.parameters() }))
    }

    fn put(&self, client: &Client, body: &Value) -> Result<(), ActionError> {
        client
            .put_trigger(&self.name, body, true)
            .map(|_| ())
            .map_err(|error: ClientError| {
                ActionError::from(error).context(format!("saving {}", self.name))
            })
    }
}

/// The error for a trigger that has no poll feed.
pub fn not_polled(trigger: &QualifiedName, helper: &QualifiedName) -> ActionError {
    ActionError::new(format!(
        "invalid parameter `triggerName`: {trigger} is not polled by this feed (its helper trigger {helper} does not exist)"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{ConfigPatch, Owners, PollParams};

    #[test]
    fn a_new_body_parses_back_and_marks_its_owner() {
        let params: PollParams = feedkit::params::parse(
            json!({"url": "http://h/", "cron": "* * * * *", "bearerToken": "tok"})
                .as_object()
                .expect("object"),
            "poll-feed",
        )
        .expect("params");
        let owners = Owners {
            trigger: "/guest/t".into(),
            poll_trigger: "/guest/t-poll-alarm".into(),
            rule: "/guest/t-poll-rule".into(),
        };
        let (config, secrets) =
            PollConfig::create(owners, ConfigPatch::from_params(&params)).expect("config");
        let state = PollState::new(3);
        let mut body = Helper::new_body(&config, &secrets, &state);
        body["annotations"]
            .as_array_mut()
            .expect("list")
            .push(json!({"key": "other", "value": 1}));
        body["rules"] = json!({"guest/t-poll-rule": {"status": "inactive"}});
        let entity = Entity::new(body.clone());
        let name = QualifiedName::parse("/guest/t-poll-alarm").expect("name");
        let helper = Helper::parse(&name, entity.clone()).expect("parsed");
        assert_eq!(helper.config, config);
        assert_eq!(helper.secrets, secrets);
        assert_eq!(helper.state, state);
        assert_eq!(helper.feed, "/whisk.system/alarms/alarm");
        assert_eq!(helper.paused, None);
        let rule = QualifiedName::parse("/guest/t-poll-rule").expect("rule");
        assert_eq!(helper.rule_status(&rule), Some(false));
        assert!(Helper::belongs_to(
            &entity,
            &QualifiedName::parse("/guest/t").expect("t")
        ));
        assert!(!Helper::belongs_to(
            &entity,
            &QualifiedName::parse("/guest/u").expect("u")
        ));
        // The secret is stored on an annotation, never in the parameters that ride on fires.
        assert!(!body["parameters"].to_string().contains("tok"));
        // The settings' write leaves the poller's parameters out, and the state's the settings.
        assert!(helper.annotations().to_string().contains("other"));

        let error =
            Helper::parse(&name, Entity::new(json!({"parameters": []}))).expect_err("broken");
        assert!(error.message().contains("no pollConfig"), "{error}");
    }
}
