//! Firing a trigger: injected faults, the namespace's rate limit, then the trigger's active
//! rules, each invoking its action; every fire is recorded.

use super::invoke::invoke_async;
use crate::clock::{new_id, now_ms};
use crate::controller::Controller;
use crate::model::activation::{Activation, ActivationKind, Response};
use crate::model::entities::Trigger;
use crate::model::error::Error;
use crate::model::fire::Fire;
use crate::model::identity::{Identity, own_namespace};
use crate::model::names::{EntityName, check_name};
use crate::model::params::{Params, merged};
use serde_json::{Value, json};
use std::time::SystemTime;

/// The largest invoke or fire payload, in bytes.
pub(crate) const MAX_PAYLOAD_BYTES: usize = 1024 * 1024;

/// What a fire carries: what is recorded, and the payload as the trigger gets it (or why it
/// cannot: not a JSON object, too large).
#[derive(Debug, Clone)]
pub(crate) struct FirePayload {
    recorded: Value,
    /// Bytes as sent (what its record weighs).
    size: usize,
    parsed: Result<Params, Error>,
}

fn malformed(why: impl std::fmt::Display) -> Error {
    Error::bad(format!("The request content was malformed:\n{why}"))
}

fn too_large(size: usize) -> Error {
    Error::TooLarge(format!(
        "Request larger than allowed: {size} > {MAX_PAYLOAD_BYTES} bytes."
    ))
}

impl FirePayload {
    /// A payload given as JSON (in process).
    pub fn from_value(value: Value) -> FirePayload {
        let size = value.to_string().len();
        let parsed = match &value {
            _ if size > MAX_PAYLOAD_BYTES => Err(too_large(size)),
            Value::Object(map) => Ok(map.clone()),
            _ => Err(malformed("expected a JSON object")),
        };
        FirePayload {
            recorded: value,
            size,
            parsed,
        }
    }

    /// A request body: empty is `{}`; a body that is not JSON is recorded as text.
    pub fn from_body(body: &[u8]) -> FirePayload {
        if body.len() > MAX_PAYLOAD_BYTES {
            return FirePayload::too_large(body.len());
        }
        if body.iter().all(u8::is_ascii_whitespace) {
            return FirePayload::from_value(json!({}));
        }
        match serde_json::from_slice::<Value>(body) {
            Ok(value) => FirePayload::from_value(value),
            Err(e) => FirePayload {
                recorded: Value::String(String::from_utf8_lossy(body).into_owned()),
                size: body.len(),
                parsed: Err(malformed(e)),
            },
        }
    }

    /// A body refused unread for its size (recorded as `null`).
    pub fn too_large(size: usize) -> FirePayload {
        FirePayload {
            recorded: Value::Null,
            size: 0,
            parsed: Err(too_large(size)),
        }
    }
}

/// A fire's record, and what it answered: the trigger activation's id (`None` for a 204, when no
/// rule is active) or the error.
#[derive(Debug)]
pub(crate) struct Fired {
    pub record: Fire,
    pub outcome: Result<Option<String>, Error>,
}

/// Fires `ns/trigger` as `caller`, and records it.
pub(crate) fn fire(
    c: &Controller,
    caller: &Identity,
    ns: &str,
    trigger: &str,
    payload: FirePayload,
) -> Fired {
    let at = SystemTime::now();
    let FirePayload {
        recorded,
        size,
        parsed,
    } = payload;
    let outcome = fire_checked(c, caller, ns, trigger, parsed);
    let (status, activation_id) = match &outcome {
        Ok(Some(id)) => (202, Some(id.clone())),
        Ok(None) => (204, None),
        Err(e) => (e.status(), None),
    };
    c.echo(|| match &activation_id {
        Some(id) => format!("fire {ns}/{trigger} -> {status} (trigger activation {id})"),
        None => format!("fire {ns}/{trigger} -> {status}"),
    });
    let record = Fire {
        payload: recorded,
        status,
        activation_id,
        at,
    };
    c.fires.record(ns, trigger, record.clone(), size);
    Fired { record, outcome }
}

/// Injected faults, then the rate limit, then the trigger and its rules.
fn fire_checked(
    c: &Controller,
    caller: &Identity,
    ns: &str,
    trigger: &str,
    parsed: Result<Params, Error>,
) -> Result<Option<String>, Error> {
    own_namespace(caller, ns)?;
    let limit = c.config.fire_limit_per_minute;
    if let Some(status) = c.fires.take_fault(ns, trigger) {
        return Err(Error::for_status(status, limit));
    }
    c.fires.admit(ns, limit)?;
    check_name(trigger)?;
    if let Err(e @ Error::TooLarge(_)) = &parsed {
        return Err(e.clone());
    }
    let name = EntityName::new(ns, None, trigger);
    let found = c.store().trigger(&name)?.clone();
    let payload = parsed?;
    if !found.rules.values().any(|link| link.active) {
        return Ok(None);
    }
    let activation_id = new_id();
    let args = merged(&found.parameters, &payload);
    let logs = run_rules(c, caller, &found, &args, &activation_id);
    let mut activation = Activation {
        activation_id: activation_id.clone(),
        namespace: caller.namespace.clone(),
        name: trigger.to_string(),
        path: name.qualified(),
        kind: ActivationKind::Trigger,
        subject: caller.namespace.clone(),
        version: found.common.version.to_string(),
        publish: false,
        annotations: json!([]),
        cause: None,
        start: now_ms(),
        end: 0,
        duration: None,
        result: Value::Null,
        success: true,
        status: String::new(),
        status_code: 0,
        size: None,
        logs,
    };
    activation.set_response(Response::success(Value::Object(payload)));
    c.activations.record(activation);
    Ok(Some(activation_id))
}

/// Invokes the action of every active rule (asynchronously); one JSON log line per rule, as the
/// controller writes into the trigger activation.
fn run_rules(
    c: &Controller,
    caller: &Identity,
    trigger: &Trigger,
    args: &Params,
    trigger_activation: &str,
) -> Vec<String> {
    trigger
        .rules
        .iter()
        .map(|(rule, link)| {
            let action = link.action.qualified();
            let outcome = if link.active {
                invoke_async(
                    c,
                    caller,
                    &link.action,
                    args.clone(),
                    Some(trigger_activation.to_string()),
                )
            } else {
                Err(Error::Status {
                    status: 400,
                    message: format!(
                        "Rule '{rule}' is inactive, action '{action}' was not activated."
                    ),
                })
            };
            c.echo(|| match &outcome {
                Ok(id) => format!("rule {rule} -> action {action} (activation {id})"),
                Err(e) => format!("rule {rule} -> action {action} failed: {e}"),
            });
            let line = match outcome {
                Ok(id) => json!({
                    "statusCode": 0, "success": true, "activationId": id,
                    "rule": rule, "action": action,
                }),
                Err(e) => json!({
                    "statusCode": if e.status() >= 500 { 3 } else { 1 },
                    "success": false, "error": e.to_string(),
                    "rule": rule, "action": action,
                }),
            };
            line.to_string()
        })
        .collect()
}
