//! READ, PAUSE and UNPAUSE: the helper trigger says what the feed is and how it goes (its rules
//! included); the rule from it to the poller is what ticks, so PAUSE and UNPAUSE switch the rule
//! (the alarms package has no PAUSE of its own) and record why on the helper trigger.

use feedkit::{ActionError, now_ms};
use serde_json::{Value, json};

use super::{Session, require_helper};
use crate::helper::Paused;

pub fn read(session: &mut Session<'_>) -> Result<Value, ActionError> {
    // The user's trigger need not exist: a feed stopped because it was deleted still says why.
    // Reading the helper trigger checks the key.
    let (entities, helper) = require_helper(session)?;
    let rule_status = match helper.rule_status(&entities.rule) {
        Some(true) => "active",
        Some(false) => "inactive",
        None => "missing",
    };
    let mut status = helper.state.status_json();
    let ticking = rule_status == "active";
    status["active"] = json!(helper.state.active && helper.paused.is_none() && ticking);
    if let Some(paused) = &helper.paused {
        status["reason"] = json!(paused.reason);
        status["dateChanged"] = json!(paused.at);
        status["dateChangedISO"] = json!(feedkit::iso_utc(paused.at));
    } else if helper.state.active && !ticking {
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

pub fn pause(session: &mut Session<'_>) -> Result<Value, ActionError> {
    // The user's trigger need not exist to stop polling for it.
    let (entities, mut helper) = require_helper(session)?;
    // The rule first, so no tick starts once PAUSE has answered.
    session
        .client()
        .set_rule_active(&entities.rule, false)
        .map_err(|error| {
            ActionError::from(error).context(format!("deactivating {}", entities.rule))
        })?;
    helper.paused = Some(Paused {
        reason: "paused by a PAUSE lifecycle event".to_owned(),
        at: now_ms(),
    });
    helper.save_settings(session.client(), false)?;
    Ok(json!({"status": "paused", "trigger": entities.trigger.to_string()}))
}

pub fn unpause(session: &mut Session<'_>) -> Result<Value, ActionError> {
    let (entities, mut helper) = require_helper(session)?;
    // The state first, so the first tick after the rule is active finds it active. The position
    // is untouched: the next tick fires what appeared while paused. A feed the poller stopped
    // (trigger gone, key refused) resumes too: no tick runs while its rule is inactive.
    helper.paused = None;
    let stopped = !helper.state.active;
    if stopped {
        helper.state.set_active(true, None, now_ms());
    }
    helper.save_settings(session.client(), stopped)?;
    session
        .client()
        .set_rule_active(&entities.rule, true)
        .map_err(|error| {
            ActionError::from(error).context(format!("activating {}", entities.rule))
        })?;
    Ok(json!({"status": "active", "trigger": entities.trigger.to_string()}))
}
