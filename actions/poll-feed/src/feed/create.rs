//! CREATE: validate, read the source once, then make the entities, all or nothing.

use feedkit::{ActionError, AuthKey, Client, Entity, QualifiedName};
use serde_json::{Value, json};

use super::teardown::{BINDING_ANNOTATION, binds, teardown};
use super::{Session, poller};
use crate::alarm::Alarm;
use crate::config::{ConfigPatch, Owners, PollConfig, Secrets, StartFrom};
use crate::helper::Helper;
use crate::names::{Binding, Entities, Kit, PollerRef};
use crate::poll::baseline;
use crate::source::PollFailure;
use crate::state::PollState;
use feedkit::now_ms;

pub fn create(session: &mut Session<'_>) -> Result<Value, ActionError> {
    // Every setting is checked before anything is asked of OpenWhisk; the entity names are set
    // once the trigger's namespace is resolved.
    let patch = ConfigPatch::from_params(&session.params);
    let unresolved = Entities::for_trigger(session.trigger())?;
    let (mut config, secrets) = PollConfig::create(owners(&unresolved), patch)?;
    Kit::from_action_name(session.context().action_name.as_deref())?;
    session.check_trigger()?;
    let entities = Entities::for_trigger(session.trigger())?;
    let poller = poller(session.context(), entities.trigger.namespace())?;
    let owners = owners(&entities);
    config.trigger = owners.trigger;
    config.poll_trigger = owners.poll_trigger;
    config.rule = owners.rule;

    // Read the source once: it proves URL, credentials and paths before anything is made, and
    // for `startFrom=now` its items are the ones that already count as seen.
    let probe =
        baseline(session.http(), &config, &secrets).map_err(|failure| probe_error(&failure))?;
    let mut state = PollState::new(now_ms());
    let seen_now = probe.known.as_ref().map_or(0, Vec::len);
    if config.start_from == StartFrom::Now {
        state.record(probe, config.generation, config.generation);
    }

    let mut setup = Setup {
        client: session.client(),
        auth_key: session.auth_key(),
        entities: &entities,
        made: Vec::new(),
    };
    if let Err(error) = setup.run(&config, &secrets, &state, &poller) {
        let problems = setup.undo();
        if problems.is_empty() {
            return Err(error);
        }
        return Err(ActionError::new(format!(
            "{error} (and undoing CREATE left something behind: {})",
            problems.join("; ")
        )));
    }
    Ok(json!({
        "status": "created",
        "trigger": entities.trigger.to_string(),
        "pollTrigger": entities.poll_trigger.to_string(),
        "rule": entities.rule.to_string(),
        "poller": poller.action.to_string(),
        "alarmFeed": config.alarm_feed(),
        "startFrom": config.start_from,
        "seenIds": if config.start_from == StartFrom::Now { seen_now } else { 0 },
    }))
}

pub(super) fn owners(entities: &Entities) -> Owners {
    Owners {
        trigger: entities.trigger.to_string(),
        poll_trigger: entities.poll_trigger.to_string(),
        rule: entities.rule.to_string(),
    }
}

/// A failed read of the source at CREATE or UPDATE, naming the setting to look at.
pub(super) fn probe_error(failure: &PollFailure) -> ActionError {
    match failure.parameter {
        Some(parameter) => ActionError::new(format!(
            "invalid parameter `{parameter}`: reading the source failed: {failure}"
        )),
        None => ActionError::new(format!("reading the source failed: {failure}")),
    }
}

/// What CREATE made so far, to undo in reverse order.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Made {
    Binding(QualifiedName),
    PollTrigger,
    Rule,
    Alarm(String),
}

struct Setup<'a> {
    client: &'a Client,
    auth_key: &'a AuthKey,
    entities: &'a Entities,
    made: Vec<Made>,
}

impl Setup<'_> {
    fn run(
        &mut self,
        config: &PollConfig,
        secrets: &Secrets,
        state: &PollState,
        poller: &PollerRef,
    ) -> Result<(), ActionError> {
        if let Some(binding) = &poller.binding
            && self.ensure_binding(binding)?
        {
            self.made.push(Made::Binding(binding.name.clone()));
        }
        self.put_poll_trigger(&Helper::new_body(config, secrets, state))?;
        self.made.push(Made::PollTrigger);
        self.put_rule(&poller.action)?;
        self.made.push(Made::Rule);
        let feed = config.alarm_feed();
        // Recorded before it is tried: a create that timed out may still have made the alarm.
        self.made.push(Made::Alarm(feed.clone()));
        self.alarm(&feed).create(config)
    }

    fn alarm<'b>(&'b self, feed: &'b str) -> Alarm<'b> {
        Alarm {
            client: self.client,
            auth_key: self.auth_key,
            feed,
            trigger: &self.entities.poll_trigger,
        }
    }

    /// Makes the binding unless it exists; `true` when this CREATE made it.
    fn ensure_binding(&self, binding: &Binding) -> Result<bool, ActionError> {
        match self.client.get_package(&binding.name) {
            Ok(package) if binds(&package, &binding.target) => return Ok(false),
            Ok(_) => {
                return Err(ActionError::new(format!(
                    "the package {} exists and is not a binding of {}; the feed needs that name for its binding",
                    binding.name, binding.target
                )));
            }
            Err(error) if error.is_not_found() => {}
            Err(error) => {
                return Err(ActionError::from(error).context(format!("reading {}", binding.name)));
            }
        }
        let body = json!({
            "binding": {"namespace": binding.target.namespace(), "name": binding.target.name()},
            "annotations": [{"key": BINDING_ANNOTATION, "value": true}],
        });
        match self.client.put_package(&binding.name, &body, false) {
            Ok(_) => Ok(true),
            // Another CREATE made it just now.
            Err(error) if error.status() == Some(409) => Ok(false),
            Err(error) => Err(ActionError::from(error)
                .context(format!("binding {} as {}", binding.target, binding.name))),
        }
    }

    /// Puts the helper trigger. One left over from a feed of the same trigger that was never
    /// deleted (the trigger was deleted without its feed) is torn down first.
    fn put_poll_trigger(&self, body: &Value) -> Result<(), ActionError> {
        let name = &self.entities.poll_trigger;
        let error = match self.client.put_trigger(name, body, false) {
            Ok(_) => return Ok(()),
            Err(error) => error,
        };
        if error.status() != Some(409) {
            return Err(ActionError::from(error).context(format!("creating {name}")));
        }
        let existing = self
            .client
            .get_trigger(name)
            .map(Entity::new)
            .map_err(|error| ActionError::from(error).context(format!("reading {name}")))?;
        if !Helper::belongs_to(&existing, &self.entities.trigger) {
            return Err(ActionError::new(format!(
                "a trigger {name} already exists and is not this feed's; the feed needs that name, so rename or delete it"
            )));
        }
        let leftovers = teardown(
            self.client,
            self.auth_key,
            self.entities,
            Some(&existing),
            None,
        );
        if !leftovers.problems.is_empty() {
            return Err(ActionError::new(format!(
                "removing an old poll feed of {} failed: {}",
                self.entities.trigger,
                leftovers.problems.join("; ")
            )));
        }
        self.client
            .put_trigger(name, body, false)
            .map(|_| ())
            .map_err(|error| ActionError::from(error).context(format!("creating {name}")))
    }

    fn put_rule(&self, action: &QualifiedName) -> Result<(), ActionError> {
        let rule = &self.entities.rule;
        let poll_trigger = &self.entities.poll_trigger;
        let error = match self.client.put_rule(rule, poll_trigger, action, false) {
            Ok(_) => return Ok(()),
            Err(error) => error,
        };
        let failed = |error| {
            ActionError::from(error).context(format!(
                "creating rule {rule} from {poll_trigger} to the poller {action}"
            ))
        };
        if error.status() != Some(409) {
            return Err(failed(error));
        }
        // A rule of ours left behind by a half-finished DELETE is replaced; any other is not.
        let existing = self.client.get_rule(rule).map_err(failed)?;
        if super::teardown::rule_trigger(&existing).as_ref() != Some(poll_trigger) {
            return Err(ActionError::new(format!(
                "a rule {rule} already exists and is not this feed's; the feed needs that name, so rename or delete it"
            )));
        }
        self.client
            .put_rule(rule, poll_trigger, action, true)
            .map(|_| ())
            .map_err(failed)
    }

    /// Removes what this CREATE made, newest first; says what could not be removed.
    fn undo(&mut self) -> Vec<String> {
        let mut problems = Vec::new();
        while let Some(made) = self.made.pop() {
            let outcome = match &made {
                Made::Alarm(feed) => self.alarm(feed).delete(),
                Made::Rule => gone(self.client.delete_rule(&self.entities.rule)),
                Made::PollTrigger => gone(self.client.delete_trigger(&self.entities.poll_trigger)),
                Made::Binding(name) => gone(self.client.delete_package(name)),
            };
            if let Err(error) = outcome {
                problems.push(error.to_string());
            }
        }
        problems
    }
}

/// A delete that found nothing to delete succeeded.
pub(super) fn gone(result: Result<Value, feedkit::ClientError>) -> Result<(), ActionError> {
    match result {
        Ok(_) => Ok(()),
        Err(error) if error.is_not_found() => Ok(()),
        Err(error) => Err(error.into()),
    }
}
