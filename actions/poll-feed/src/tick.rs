//! `pollMyService`: what the helper trigger's rule runs on every alarm tick ([`Poller`]).
//!
//! It acts with `__OW_API_KEY` (the action is annotated `provide-api-key: true`, and for a rule's
//! activation that is the trigger owner's key), so the user's key is stored nowhere. Its
//! parameters are the helper trigger's (merged with the alarm's empty payload); `pollTrigger`
//! names the helper trigger, read once for the current settings and position. A tick writes
//! only the position, and only when it changed (a 304 writes nothing).

use feedkit::params::{Param, Text};
use feedkit::{Action, ActionError, Activation, QualifiedName, redact_userinfo};
use serde::Deserialize;
use serde::de::IgnoredAny;
use serde_json::{Value, json};

use crate::helper::{Helper, TRIGGER_PARAM};
use crate::poll::{Backoff, Poll};
use crate::state::{Outcome, PollRecord};

/// The poller.
#[derive(Debug, Default, Clone, Copy)]
pub struct Poller;

/// What the helper trigger hands every tick.
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct TickParams {
    /// The helper trigger this tick is for.
    pub poll_trigger: Param<Text>,
    /// The position as the fire carried it; the tick reads it afresh from the helper.
    pub poll_state: Param<IgnoredAny>,
    /// How many ticks a catch-up fire of the kit's alarms stands for (`alarm-feed`'s `ifMissed`
    /// fireOnce): one poll fetches whatever appeared meanwhile, so the count changes nothing.
    pub missed_ticks: Param<IgnoredAny>,
}

impl Action for Poller {
    type Params = TickParams;
    const NAME: &'static str = "pollMyService";

    /// One tick: poll, fire, record.
    fn run(&self, activation: &mut Activation<'_, TickParams>) -> Result<Value, ActionError> {
        let poll_trigger = activation.params.poll_trigger.require(
            TRIGGER_PARAM,
            "the helper trigger's name; pollMyService runs from a poll feed's rule, whose \
             helper trigger passes it (invoked by hand, pass it yourself)",
        )?;
        let poll_trigger = QualifiedName::parse(poll_trigger.as_str()).map_err(|problem| {
            ActionError::new(format!("invalid parameter `{TRIGGER_PARAM}`: {problem}"))
        })?;
        let client = activation.own_client()?;
        let Some(mut helper) = Helper::load(&client, &poll_trigger)? else {
            return Ok(
                json!({"skipped": format!("{poll_trigger} no longer exists: the feed was deleted")}),
            );
        };
        let trigger = QualifiedName::parse(&helper.config.trigger).map_err(|problem| {
            ActionError::new(format!(
                "{poll_trigger} names an unusable trigger: {problem}"
            ))
        })?;
        let stopped = match (&helper.paused, helper.state.active) {
            (Some(paused), _) => Some(paused.reason.as_str()),
            (None, false) => Some(
                helper
                    .state
                    .reason
                    .as_deref()
                    .unwrap_or("no reason recorded"),
            ),
            (None, true) => None,
        };
        if let Some(reason) = stopped {
            return Ok(json!({ "skipped": format!("polling for {trigger} is stopped: {reason}") }));
        }
        let record = Poll {
            config: &helper.config,
            secrets: &helper.secrets,
            state: &helper.state,
            backoff: Backoff::default(),
        }
        .run(&client);
        let mut problems = Vec::new();
        if record.stop.is_some() {
            let rule = QualifiedName::parse(&helper.config.rule).map_err(|problem| {
                ActionError::new(format!("{poll_trigger} names an unusable rule: {problem}"))
            })?;
            if let Err(error) = client.set_rule_active(&rule, false)
                && !error.is_not_found()
            {
                problems.push(format!("deactivating {rule} failed too: {error}"));
            }
        }
        let summary = summary(&helper.config.url, &trigger, &record);
        activation.log(&summary.to_string());
        let outcome = record.outcome;
        let detail = record.detail.clone();
        // A 304 changed nothing worth a write: the position and validators stay as they are.
        if outcome != Outcome::Unchanged {
            let generation = helper.config.generation;
            helper.state.record(record, generation, generation);
            helper.save_state(&client).map_err(|error| {
                error.context(
                    "the poll ran, but its position could not be saved (the next tick repeats it)",
                )
            })?;
        }
        match outcome {
            Outcome::SourceFailed | Outcome::FireFailed | Outcome::Stopped => {
                let mut message = detail.unwrap_or_else(|| format!("polling for {trigger} failed"));
                for problem in problems {
                    message.push_str("; ");
                    message.push_str(&problem);
                }
                Err(ActionError::new(message))
            }
            _ => Ok(summary),
        }
    }
}

fn summary(url: &str, trigger: &QualifiedName, record: &PollRecord) -> Value {
    json!({
        "trigger": trigger.to_string(),
        "url": redact_userinfo(url),
        "outcome": record.outcome,
        "status": record.status,
        "newItems": record.new_items,
        "firedItems": record.fired_items,
        "pendingItems": record.pending_items,
        "events": record.events,
        "detail": record.detail,
    })
}
