//! `pollMyService`: what the helper trigger's rule runs on every alarm tick.
//!
//! It acts with `__OW_API_KEY` (the action is annotated `provide-api-key: true`, and for a rule's
//! activation that is the trigger owner's key), so the user's key is stored nowhere. The
//! parameters are the helper trigger's (merged with the alarm's empty payload); they name the
//! helper trigger, which is read afresh for the current settings and position.

use feedkit::{ActionError, Context, QualifiedName, json_kind, redact_userinfo};
use serde_json::{Value, json};

use crate::helper::{CONFIG_PARAM, Helper};
use crate::poll::{Backoff, Poll};
use crate::state::{Outcome, PollRecord};

/// One tick: poll, fire, record.
pub fn tick(params: Value, context: &Context) -> Result<Value, ActionError> {
    let poll_trigger = poll_trigger_of(&params)?;
    let poll_trigger = QualifiedName::parse(poll_trigger).map_err(|problem| {
        ActionError::new(format!(
            "invalid parameter `{CONFIG_PARAM}.pollTrigger`: {problem}"
        ))
    })?;
    let key = context.own_api_key()?;
    let client = context.client(key)?;
    let Some(helper) = Helper::load(&client, &poll_trigger)? else {
        return Ok(
            json!({"skipped": format!("{poll_trigger} no longer exists: the feed was deleted")}),
        );
    };
    let trigger = QualifiedName::parse(&helper.config.trigger).map_err(|problem| {
        ActionError::new(format!(
            "{poll_trigger} names an unusable trigger: {problem}"
        ))
    })?;
    if !helper.state.active {
        return Ok(json!({
            "skipped": format!(
                "polling for {trigger} is stopped: {}",
                helper.state.reason.as_deref().unwrap_or("no reason recorded")
            )
        }));
    }
    let record = Poll {
        config: &helper.config,
        secrets: &helper.secrets,
        state: &helper.state,
        deadline: context.deadline,
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
    // One write: stderr is unbuffered, and formatting a Value into it writes token by token.
    let line = format!("pollMyService: {summary}\n");
    let _ = std::io::Write::write_all(&mut std::io::stderr(), line.as_bytes());
    let generation = helper.config.generation;
    let outcome = record.outcome;
    let detail = record.detail.clone();
    Helper::modify(&client, &poll_trigger, &trigger, |fresh| {
        let current = fresh.config.generation;
        fresh.state.record(record, generation, current);
    })
    .map_err(|error| {
        error
            .context("the poll ran, but its position could not be saved (the next tick repeats it)")
    })?;
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

/// `pollConfig.pollTrigger`: the helper trigger this tick is for, with an error that says what
/// is wrong when it is absent or of the wrong type.
fn poll_trigger_of(params: &Value) -> Result<&str, ActionError> {
    let origin = "pollMyService runs from a poll feed's rule, whose helper trigger passes it; \
                  invoked by hand, pass the helper trigger's own `pollConfig`";
    match params.get(CONFIG_PARAM) {
        None | Some(Value::Null) => Err(ActionError::new(format!(
            "missing parameter `{CONFIG_PARAM}`: {origin}"
        ))),
        Some(Value::Object(config)) => match config.get("pollTrigger") {
            Some(Value::String(name)) => Ok(name),
            None | Some(Value::Null) => Err(ActionError::new(format!(
                "invalid parameter `{CONFIG_PARAM}`: it has no `pollTrigger`; {origin}"
            ))),
            Some(other) => Err(ActionError::new(format!(
                "invalid parameter `{CONFIG_PARAM}.pollTrigger`: expected the helper trigger's \
                 name as a string, found {}",
                json_kind(other)
            ))),
        },
        Some(other) => Err(ActionError::new(format!(
            "invalid parameter `{CONFIG_PARAM}`: expected the poll feed's configuration object, \
             found {}; {origin}",
            json_kind(other)
        ))),
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
