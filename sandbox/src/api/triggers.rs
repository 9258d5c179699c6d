//! Triggers: CRUD, and fire, which runs the trigger's active rules.

use super::request::{ApiRequest, Reply, page, put_common};
use crate::activation::{Activation, ActivationKind, Response};
use crate::auth::Identity;
use crate::clock::{new_id, now_ms};
use crate::controller::Controller;
use crate::entities::{Entity, EntityKind, Trigger, summary_json, trigger_json};
use crate::error::{Error, messages};
use crate::fires::Fire;
use crate::names::EntityName;
use crate::params::{Params, merged, optional_kv_field};
use serde_json::{Value, json};
use std::time::SystemTime;

pub(crate) fn list(c: &Controller, req: &ApiRequest) -> Result<Reply, Error> {
    let (skip, limit) = req.paging("triggers")?;
    let store = c.store();
    let items = store
        .list(req.namespace(), EntityKind::Trigger)
        .into_iter()
        .map(|(name, e)| (e.common().updated, summary_json(&name, e)))
        .collect();
    Ok(Reply::ok(Value::Array(page(items, skip, limit))))
}

pub(crate) fn get(c: &Controller, req: &ApiRequest) -> Result<Reply, Error> {
    let name = req.entity("triggerName")?;
    let store = c.store();
    Ok(Reply::ok(trigger_json(&name, store.trigger(&name)?)))
}

pub(crate) fn put(c: &Controller, req: &ApiRequest) -> Result<Reply, Error> {
    let name = req.entity("triggerName")?;
    let overwrite = req.query_bool("overwrite")?;
    let body = req.object_body()?;
    let mut store = c.store();
    store.check_free_for(&name, EntityKind::Trigger)?;
    let existing = store.trigger(&name).ok();
    if existing.is_some() && !overwrite {
        return Err(Error::Conflict(messages::CONFLICT_EXISTS.into()));
    }
    let common = put_common(&body, existing.map(|t| &t.common))?;
    if let Some(feed) = common.annotations.get("feed") {
        let valid = feed
            .as_str()
            .is_some_and(|f| EntityName::parse_reference(f, &name.ns).is_ok());
        if !valid {
            return Err(Error::bad("Feed name is not valid"));
        }
    }
    let body = Value::Object(body);
    let parameters = optional_kv_field(&body, "parameters")?;
    let limits = match body.get("limits") {
        None | Some(Value::Null) => None,
        Some(l @ Value::Object(_)) => Some(l.clone()),
        Some(_) => return Err(Error::bad("'limits' must be an object")),
    };
    let trigger = Trigger {
        common,
        parameters: parameters
            .or_else(|| existing.map(|t| t.parameters.clone()))
            .unwrap_or_default(),
        limits: limits
            .or_else(|| existing.map(|t| t.limits.clone()))
            .unwrap_or_else(|| json!({})),
        rules: existing.map(|t| t.rules.clone()).unwrap_or_default(),
    };
    let reply = trigger_json(&name, &trigger);
    store.insert(&name, Entity::Trigger(trigger));
    Ok(Reply::ok(reply))
}

/// Deletes the trigger; its rules stay (and show as inactive), as in OpenWhisk.
pub(crate) fn delete(c: &Controller, req: &ApiRequest) -> Result<Reply, Error> {
    let name = req.entity("triggerName")?;
    let mut store = c.store();
    let reply = trigger_json(&name, store.trigger(&name)?);
    store.remove(&name);
    Ok(Reply::ok(reply))
}

/// `POST /triggers/{triggerName}`: every request is recorded as a [`Fire`].
pub(crate) fn fire(c: &Controller, req: &ApiRequest) -> Result<Reply, Error> {
    let payload = match req.json_body() {
        Ok(body) => body.unwrap_or_else(|| json!({})),
        Err(_) => Value::String(String::from_utf8_lossy(&req.body).into_owned()),
    };
    let at = SystemTime::now();
    let outcome = fire_checked(
        c,
        &req.identity,
        req.namespace(),
        req.param("triggerName"),
        req,
    );
    record(
        c,
        req.namespace(),
        req.param("triggerName"),
        payload,
        at,
        &outcome,
    );
    outcome
}

/// Fires on behalf of the trigger's owner, in process (e.g. from an alarm).
pub(crate) fn fire_in_process(c: &Controller, ns: &str, trigger: &str, payload: Value) -> Fire {
    let at = SystemTime::now();
    let req = ApiRequest {
        identity: c.owner_of(ns),
        params: Vec::new(),
        query: Vec::new(),
        body: payload.to_string().into_bytes(),
    };
    let outcome = fire_checked(c, &req.identity, ns, trigger, &req);
    record(c, ns, trigger, payload, at, &outcome)
}

fn record(
    c: &Controller,
    ns: &str,
    trigger: &str,
    payload: Value,
    at: SystemTime,
    outcome: &Result<Reply, Error>,
) -> Fire {
    let (status, activation_id) = match outcome {
        Ok(reply) => (reply.status, reply.activation_id.clone()),
        Err(e) => (e.status(), None),
    };
    c.echo(|| match &activation_id {
        Some(id) => format!("fire {ns}/{trigger} -> {status} (trigger activation {id})"),
        None => format!("fire {ns}/{trigger} -> {status}"),
    });
    let fire = Fire {
        payload,
        status,
        activation_id,
        at,
    };
    c.fires.record(ns, trigger, fire.clone());
    fire
}

/// Injected faults, then the rate limit, then the trigger and its rules.
fn fire_checked(
    c: &Controller,
    identity: &Identity,
    ns: &str,
    trigger: &str,
    req: &ApiRequest,
) -> Result<Reply, Error> {
    let limit = c.config.fire_limit_per_minute;
    if let Some(status) = c.fires.take_fault(ns, trigger) {
        return Err(Error::for_status(status, limit));
    }
    c.fires.admit(ns, limit)?;
    crate::names::check_name(trigger)?;
    req.check_payload_size(crate::api::actions::MAX_PAYLOAD_BYTES)?;
    let name = EntityName::new(ns, None, trigger);
    let found = c.store().trigger(&name)?.clone();
    let payload = req.object_body()?;
    if !found.rules.values().any(|link| link.active) {
        return Ok(Reply::empty(204));
    }
    let activation_id = new_id();
    let args = merged(&found.parameters, &payload);
    let logs = run_rules(c, identity, &found, &args, &activation_id);
    let mut activation = Activation {
        activation_id: activation_id.clone(),
        namespace: identity.namespace.clone(),
        name: trigger.to_string(),
        path: name.qualified(),
        kind: ActivationKind::Trigger,
        subject: identity.namespace.clone(),
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
    Ok(Reply::accepted(activation_id))
}

/// Invokes the action of every active rule (asynchronously); one JSON log line per rule, as the
/// controller writes into the trigger activation.
fn run_rules(
    c: &Controller,
    identity: &Identity,
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
                crate::invoke::invoke_async(
                    c,
                    identity,
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
