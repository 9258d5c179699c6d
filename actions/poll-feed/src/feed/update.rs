//! UPDATE: change what is polled, how, or when, without losing the position.
//!
//! - URL or credentials: the seen set stays (the same items keep their ids), the validators go.
//! - `itemsPath`, `idPath` or `format`: ids may read differently, so the feed reads the source
//!   once both ways and carries the position over: each current item whose id under the old
//!   settings was seen counts as seen under its new id (nothing repeated); the others stay new
//!   (nothing lost). Nothing is fired, so this works while paused too.
//! - `startFrom`: `now` takes the current items as seen, `backlog` forgets the seen set.
//! - The schedule: the alarms feed's UPDATE changes the alarm in place; only a change of alarms
//!   feed (interval to cron) replaces it (DELETE, then CREATE; if the new one is refused, the old
//!   one is put back).

use feedkit::ActionError;
use serde_json::{Value, json};

use super::create::probe_error;
use super::{Session, require_helper};
use crate::alarm::Alarm;
use crate::config::{ConfigPatch, PollParams, StartFrom};
use crate::poll::{baseline, rekey};

pub fn update(session: &mut Session<'_>) -> Result<Value, ActionError> {
    let patch = ConfigPatch::from_params(&session.params);
    if patch.is_empty() {
        return Err(ActionError::new(format!(
            "UPDATE needs at least one parameter to change: {}",
            feedkit::params::names::<PollParams>().join(", ")
        )));
    }
    let (entities, current) = require_helper(session)?;
    let client = session.client();
    let http = session.http();
    let mut config = current.config.clone();
    let mut secrets = current.secrets.clone();
    let changes = config.apply(&mut secrets, &patch)?;

    let mut new_baseline = None;
    match patch.start_from {
        Some(StartFrom::Now) => {
            new_baseline = Some(baseline(http, &config, &secrets).map_err(|f| probe_error(&f))?);
        }
        Some(StartFrom::Backlog) => {}
        None if changes.ids || changes.format => {
            new_baseline = Some(
                rekey(http, &config, &secrets, &current.config, &current.state)
                    .map_err(|f| probe_error(&f))?,
            );
        }
        None => {}
    }

    let new_feed = config.alarm_feed();
    if changes.schedule {
        let alarm = |feed| Alarm {
            client,
            auth_key: session.auth_key(),
            feed,
            trigger: &current.name,
        };
        if new_feed == current.feed {
            alarm(&new_feed).update(&config)?;
        } else {
            alarm(&current.feed).delete()?;
            if let Err(error) = alarm(&new_feed).create(&config) {
                return Err(match alarm(&current.feed).create(&current.config) {
                    Ok(()) => ActionError::new(format!("{error}; the previous schedule stays")),
                    Err(restore) => ActionError::new(format!(
                        "{error}; putting the previous alarm back failed too ({restore}): run UPDATE again with a valid schedule"
                    )),
                });
            }
        }
    }

    let generation = config.generation;
    let mut changed: Vec<&str> = Vec::new();
    for (flag, name) in [
        (changes.schedule, "schedule"),
        (changes.source, "source"),
        (changes.ids, "ids"),
        (changes.format, "format"),
    ] {
        if flag {
            changed.push(name);
        }
    }
    let mut helper = current;
    helper.config = config;
    helper.secrets = secrets;
    helper.feed = new_feed;
    let mut state_changed = false;
    if changes.source || changes.ids || changes.format {
        helper.state.clear_validators();
        state_changed = true;
    }
    match patch.start_from {
        Some(StartFrom::Backlog) => {
            helper.state.seen.clear();
            helper.state.clear_validators();
            state_changed = true;
        }
        _ => {
            if let Some(record) = new_baseline {
                helper.state.record(record, generation, generation);
                state_changed = true;
            }
        }
    }
    helper.save_settings(client, state_changed)?;
    Ok(json!({
        "status": "updated",
        "trigger": entities.trigger.to_string(),
        "changed": changed,
    }))
}
