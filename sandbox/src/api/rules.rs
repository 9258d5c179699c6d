//! Rules: a trigger to an action. A rule's status lives on its trigger, as in OpenWhisk: a rule
//! whose trigger is gone (or was recreated) reads as inactive.

use super::request::{ApiRequest, Reply, page, put_common};
use crate::controller::Controller;
use crate::entities::{Entity, EntityKind, Rule, RuleLink, rule_json, summary_json};
use crate::error::{Error, messages};
use crate::invoke::resolve;
use crate::names::EntityName;
use crate::store::Store;
use serde_json::Value;

pub(crate) fn list(c: &Controller, req: &ApiRequest) -> Result<Reply, Error> {
    let (skip, limit) = req.paging("rules")?;
    let store = c.store();
    let items = store
        .list(req.namespace(), EntityKind::Rule)
        .into_iter()
        .map(|(name, e)| (e.common().updated, summary_json(&name, e)))
        .collect();
    Ok(Reply::ok(Value::Array(page(items, skip, limit))))
}

fn is_active(store: &Store, name: &EntityName, rule: &Rule) -> bool {
    store
        .trigger(&rule.trigger)
        .ok()
        .and_then(|t| t.rules.get(&name.qualified()))
        .is_some_and(|link| link.active)
}

/// The rule's JSON with its current status.
pub(crate) fn view(store: &Store, name: &EntityName) -> Result<Value, Error> {
    let rule = store.rule(name)?;
    Ok(rule_json(name, rule, is_active(store, name, rule)))
}

pub(crate) fn get(c: &Controller, req: &ApiRequest) -> Result<Reply, Error> {
    let name = req.entity("ruleName")?;
    view(&c.store(), &name).map(Reply::ok)
}

fn reference<'a>(body: &'a Value, field: &str) -> Result<Option<&'a str>, Error> {
    match body.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if !s.is_empty() => Ok(Some(s)),
        Some(_) => Err(Error::bad(format!(
            "'{field}' must be the name of the rule's {field}"
        ))),
    }
}

/// Creates (active) or updates (keeping the status) a rule; trigger and action must exist.
pub(crate) fn put(c: &Controller, req: &ApiRequest) -> Result<Reply, Error> {
    let name = req.entity("ruleName")?;
    let overwrite = req.query_bool("overwrite")?;
    let body = req.object_body()?;
    let mut store = c.store();
    store.check_free_for(&name, EntityKind::Rule)?;
    let existing = store.rule(&name).ok().cloned();
    if existing.is_some() && !overwrite {
        return Err(Error::Conflict(messages::CONFLICT_EXISTS.into()));
    }
    let common = put_common(&body, existing.as_ref().map(|r| &r.common))?;
    let body = Value::Object(body);
    let (trigger, action) = match (
        reference(&body, "trigger")?,
        reference(&body, "action")?,
        &existing,
    ) {
        (Some(t), Some(a), _) => (
            EntityName::parse_reference(t, &name.ns)?,
            EntityName::parse_reference(a, &name.ns)?,
        ),
        (t, a, Some(old)) => (
            t.map(|t| EntityName::parse_reference(t, &name.ns))
                .transpose()?
                .unwrap_or_else(|| old.trigger.clone()),
            a.map(|a| EntityName::parse_reference(a, &name.ns))
                .transpose()?
                .unwrap_or_else(|| old.action.clone()),
        ),
        _ => {
            return Err(Error::bad(
                "rule requires a valid trigger and a valid action",
            ));
        }
    };
    crate::auth::own_namespace(&req.identity, &trigger.ns)?;
    if store.trigger(&trigger).is_err() {
        return Err(Error::bad(format!(
            "trigger {} does not exist",
            trigger.with_slash()
        )));
    }
    match resolve(&store, &req.identity, &action) {
        Ok(_) => {}
        Err(Error::NotFound(_) | Error::Conflict(_)) => {
            return Err(Error::bad(format!(
                "action {} does not exist",
                action.with_slash()
            )));
        }
        Err(e) => return Err(e),
    }
    let key = name.qualified();
    let active = match &existing {
        Some(old) => {
            let was_active = is_active(&store, &name, old);
            if old.trigger != trigger
                && let Some(old_trigger) = store.trigger_mut(&old.trigger)
            {
                old_trigger.rules.remove(&key);
            }
            was_active
        }
        None => true,
    };
    if let Some(t) = store.trigger_mut(&trigger) {
        t.rules.insert(
            key,
            RuleLink {
                action: action.clone(),
                active,
            },
        );
    }
    let rule = Rule {
        common,
        trigger,
        action,
    };
    let reply = rule_json(&name, &rule, active);
    store.insert(&name, Entity::Rule(rule));
    c.echo(|| {
        format!(
            "rule {} -> {}",
            name.qualified(),
            if active { "active" } else { "inactive" }
        )
    });
    Ok(Reply::ok(reply))
}

pub(crate) fn delete(c: &Controller, req: &ApiRequest) -> Result<Reply, Error> {
    let name = req.entity("ruleName")?;
    let mut store = c.store();
    let rule = store.rule(&name)?.clone();
    if let Some(trigger) = store.trigger_mut(&rule.trigger) {
        trigger.rules.remove(&name.qualified());
    }
    store.remove(&name);
    Ok(Reply::ok(rule_json(&name, &rule, false)))
}

/// `POST {"status": "active" | "inactive"}`.
pub(crate) fn set_state(c: &Controller, req: &ApiRequest) -> Result<Reply, Error> {
    let name = req.entity("ruleName")?;
    let body = req.object_body()?;
    let active = match body.get("status").and_then(Value::as_str) {
        Some("active") => true,
        Some("inactive") => false,
        _ => {
            return Err(Error::bad(
                "The request content was malformed:\n'status' must be \"active\" or \"inactive\"",
            ));
        }
    };
    let mut store = c.store();
    let rule = store.rule(&name)?.clone();
    let Some(trigger) = store.trigger_mut(&rule.trigger) else {
        return Err(Error::NotFound(
            "Only rules with existing triggers can be activated".into(),
        ));
    };
    let link = trigger
        .rules
        .entry(name.qualified())
        .or_insert_with(|| RuleLink {
            action: rule.action.clone(),
            active,
        });
    link.active = active;
    c.echo(|| {
        format!(
            "rule {} -> {}",
            name.qualified(),
            if active { "active" } else { "inactive" }
        )
    });
    Ok(Reply::empty(200))
}
