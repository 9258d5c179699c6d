//! Rules: a trigger to an action. A rule's status lives on its trigger, as in OpenWhisk: a rule
//! whose trigger is gone (or was recreated) reads as inactive.

use super::CommonPut;
use super::invoke::resolve;
use crate::controller::Controller;
use crate::controller::store::Store;
use crate::model::entities::{Entity, EntityKind, Rule, RuleLink};
use crate::model::error::{Error, messages};
use crate::model::identity::{Identity, own_namespace};
use crate::model::names::EntityName;

/// A rule PUT: a new rule needs both references; an update keeps what is absent.
#[derive(Debug, Clone, Default)]
pub(crate) struct RulePut {
    pub common: CommonPut,
    pub trigger: Option<EntityName>,
    pub action: Option<EntityName>,
}

/// A rule with its current status.
#[derive(Debug, Clone)]
pub(crate) struct RuleView {
    pub rule: Rule,
    pub active: bool,
}

fn is_active(store: &Store, name: &EntityName, rule: &Rule) -> bool {
    store
        .trigger(&rule.trigger)
        .ok()
        .and_then(|t| t.rules.get(&name.qualified()))
        .is_some_and(|link| link.active)
}

fn echo_status(c: &Controller, name: &EntityName, active: bool) {
    c.echo(|| {
        format!(
            "rule {} -> {}",
            name.qualified(),
            if active { "active" } else { "inactive" }
        )
    });
}

pub(crate) fn get(c: &Controller, caller: &Identity, name: &EntityName) -> Result<RuleView, Error> {
    own_namespace(caller, &name.ns)?;
    let store = c.store();
    let rule = store.rule(name)?;
    Ok(RuleView {
        active: is_active(&store, name, rule),
        rule: rule.clone(),
    })
}

/// Creates (active) or updates (keeping the status) a rule; trigger and action must exist.
pub(crate) fn put(
    c: &Controller,
    caller: &Identity,
    name: &EntityName,
    put: RulePut,
    overwrite: bool,
) -> Result<RuleView, Error> {
    own_namespace(caller, &name.ns)?;
    let view = c.write(|store| {
        store.check_free_for(name, EntityKind::Rule)?;
        let existing = store.rule(name).ok().cloned();
        if existing.is_some() && !overwrite {
            return Err(Error::Conflict(messages::CONFLICT_EXISTS.into()));
        }
        let (trigger, action) = match (put.trigger, put.action, &existing) {
            (Some(t), Some(a), _) => (t, a),
            (t, a, Some(old)) => (
                t.unwrap_or_else(|| old.trigger.clone()),
                a.unwrap_or_else(|| old.action.clone()),
            ),
            _ => {
                return Err(Error::bad(
                    "rule requires a valid trigger and a valid action",
                ));
            }
        };
        own_namespace(caller, &trigger.ns)?;
        if store.trigger(&trigger).is_err() {
            return Err(Error::bad(format!(
                "trigger {} does not exist",
                trigger.with_slash()
            )));
        }
        match resolve(store, caller, &action) {
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
                let was_active = is_active(store, name, old);
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
            common: put.common.apply(existing.as_ref().map(|r| &r.common)),
            trigger,
            action,
        };
        store.insert(name, Entity::Rule(rule.clone()));
        Ok(RuleView { rule, active })
    })?;
    echo_status(c, name, view.active);
    Ok(view)
}

/// Deletes a rule (an active one too) and its link on the trigger.
pub(crate) fn delete(c: &Controller, caller: &Identity, name: &EntityName) -> Result<Rule, Error> {
    own_namespace(caller, &name.ns)?;
    c.write(|store| {
        let rule = store.rule(name)?.clone();
        if let Some(trigger) = store.trigger_mut(&rule.trigger) {
            trigger.rules.remove(&name.qualified());
        }
        store.remove(name);
        Ok(rule)
    })
}

/// Enables or disables a rule (its trigger must exist).
pub(crate) fn set_active(
    c: &Controller,
    caller: &Identity,
    name: &EntityName,
    active: bool,
) -> Result<(), Error> {
    own_namespace(caller, &name.ns)?;
    c.write(|store| {
        let rule = store.rule(name)?.clone();
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
        Ok(())
    })?;
    echo_status(c, name, active);
    Ok(())
}
