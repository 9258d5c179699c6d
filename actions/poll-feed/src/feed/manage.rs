//! READ, PAUSE and UNPAUSE: the helper trigger says what the feed is and how it goes; the rule
//! from it to the poller is what ticks, so PAUSE and UNPAUSE switch the rule (the alarms
//! package has no PAUSE of its own) and record why on the helper trigger.

use feedkit::{ActionError, Context, FeedRequest};
use serde_json::{Value, json};

use super::Session;
use crate::helper::Helper;
use feedkit::now_ms;

pub fn read(request: FeedRequest, context: &Context) -> Result<Value, ActionError> {
    Session::known_parameters_only(&request)?;
    // The user's trigger need not exist: a feed stopped because it was deleted still says why.
    // Reading the helper trigger checks the key.
    let session = Session::open(request, context, false)?;
    let entities = &session.entities;
    let helper = Helper::require(&session.client, &entities.poll_trigger, &entities.trigger)?;
    let rule_status = match session.client.get_rule(&entities.rule) {
        Ok(rule) => rule["status"].as_str().unwrap_or("unknown").to_owned(),
        Err(error) if error.is_not_found() => "missing".to_owned(),
        Err(error) => {
            return Err(ActionError::from(error).context(format!("reading {}", entities.rule)));
        }
    };
    let mut status = helper.state.status_json();
    let ticking = rule_status == "active";
    status["active"] = json!(helper.state.active && ticking);
    if helper.state.active && !ticking {
        status["reason"] = json!(format!(
            "the rule {} is {rule_status}, so the poller does not run",
            entities.rule
        ));
    }
    status["rule"] = json!({"name": entities.rule.to_string(), "status": rule_status});
    status["pollTrigger"] = json!(entities.poll_trigger.to_string());
    Ok(json!({
        "config": helper.config.redacted_json(&helper.secrets),
        "status": status,
    }))
}

pub fn pause(request: FeedRequest, context: &Context) -> Result<Value, ActionError> {
    Session::known_parameters_only(&request)?;
    // The user's trigger need not exist to stop polling for it.
    let session = Session::open(request, context, false)?;
    let entities = &session.entities;
    Helper::require(&session.client, &entities.poll_trigger, &entities.trigger)?;
    // The rule first, so no tick starts once PAUSE has answered.
    session
        .client
        .set_rule_active(&entities.rule, false)
        .map_err(|error| {
            ActionError::from(error).context(format!("deactivating {}", entities.rule))
        })?;
    let reason = "paused by a PAUSE lifecycle event".to_owned();
    Helper::modify(
        &session.client,
        &entities.poll_trigger,
        &entities.trigger,
        |helper| {
            helper.state.set_active(false, Some(reason), now_ms());
        },
    )?;
    Ok(json!({"status": "paused", "trigger": entities.trigger.to_string()}))
}

pub fn unpause(request: FeedRequest, context: &Context) -> Result<Value, ActionError> {
    Session::known_parameters_only(&request)?;
    let session = Session::open(request, context, true)?;
    let entities = &session.entities;
    // The state first, so the first tick after the rule is active finds it active. The position
    // is untouched: the next tick fires what appeared while paused.
    Helper::modify(
        &session.client,
        &entities.poll_trigger,
        &entities.trigger,
        |helper| {
            helper.state.set_active(true, None, now_ms());
        },
    )?;
    session
        .client
        .set_rule_active(&entities.rule, true)
        .map_err(|error| {
            ActionError::from(error).context(format!("activating {}", entities.rule))
        })?;
    Ok(json!({"status": "active", "trigger": entities.trigger.to_string()}))
}
