//! Triggers: create or update, read, delete. Firing is in [`super::fire`].

use super::CommonPut;
use crate::controller::Controller;
use crate::model::entities::{Entity, EntityKind, Trigger};
use crate::model::error::{Error, messages};
use crate::model::identity::{Identity, own_namespace};
use crate::model::names::EntityName;
use crate::model::params::Params;
use serde_json::{Value, json};

/// A trigger PUT: what is absent is kept from the existing trigger.
#[derive(Debug, Clone, Default)]
pub(crate) struct TriggerPut {
    pub common: CommonPut,
    pub parameters: Option<Params>,
    /// A JSON object.
    pub limits: Option<Value>,
}

/// Creates the trigger, or updates it when `overwrite` (409 otherwise); keeps its rules.
pub(crate) fn put(
    c: &Controller,
    caller: &Identity,
    name: &EntityName,
    put: TriggerPut,
    overwrite: bool,
) -> Result<Trigger, Error> {
    own_namespace(caller, &name.ns)?;
    if let Some(feed) = put.common.annotations.as_ref().and_then(|a| a.get("feed")) {
        let valid = feed
            .as_str()
            .is_some_and(|f| EntityName::parse_reference(f, &name.ns).is_ok());
        if !valid {
            return Err(Error::bad("Feed name is not valid"));
        }
    }
    c.write(|store| {
        store.check_free_for(name, EntityKind::Trigger)?;
        let existing = store.trigger(name).ok();
        if existing.is_some() && !overwrite {
            return Err(Error::Conflict(messages::CONFLICT_EXISTS.into()));
        }
        let trigger = Trigger {
            common: put.common.apply(existing.map(|t| &t.common)),
            parameters: put
                .parameters
                .or_else(|| existing.map(|t| t.parameters.clone()))
                .unwrap_or_default(),
            limits: put
                .limits
                .or_else(|| existing.map(|t| t.limits.clone()))
                .unwrap_or_else(|| json!({})),
            rules: existing.map(|t| t.rules.clone()).unwrap_or_default(),
        };
        store.insert(name, Entity::Trigger(trigger.clone()));
        Ok(trigger)
    })
}

pub(crate) fn get(c: &Controller, caller: &Identity, name: &EntityName) -> Result<Trigger, Error> {
    own_namespace(caller, &name.ns)?;
    c.store().trigger(name).cloned()
}

/// Deletes the trigger; its rules stay (and show as inactive), as in OpenWhisk.
pub(crate) fn delete(
    c: &Controller,
    caller: &Identity,
    name: &EntityName,
) -> Result<Trigger, Error> {
    own_namespace(caller, &name.ns)?;
    c.write(|store| {
        let trigger = store.trigger(name)?.clone();
        store.remove(name);
        Ok(trigger)
    })
}

/// Deletes the trigger and, with `with_rules`, the rules attached to it (as an alarm with
/// `deleteAfterFire` does after its fire).
pub(crate) fn delete_with_rules(
    c: &Controller,
    caller: &Identity,
    ns: &str,
    trigger: &str,
    with_rules: bool,
) -> Result<(), Error> {
    own_namespace(caller, ns)?;
    let name = EntityName::new(ns, None, trigger);
    c.write(|store| {
        let rules: Vec<String> = store.trigger(&name)?.rules.keys().cloned().collect();
        store.remove(&name);
        if with_rules {
            for rule in rules {
                if let Some((rule_ns, rule_name)) = rule.split_once('/') {
                    let rule_name = EntityName::new(rule_ns, None, rule_name);
                    if matches!(store.get(&rule_name), Some(Entity::Rule(_))) {
                        store.remove(&rule_name);
                    }
                }
            }
        }
        Ok(())
    })
}
