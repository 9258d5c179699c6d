//! Actions: create or update (also inside packages), read (through bindings too), delete, and
//! invoke, blocking or not.

use super::CommonPut;
use super::invoke::{Resolved, readable_package, resolve, start};
use crate::controller::Controller;
use crate::controller::store::Store;
use crate::model::activation::Activation;
use crate::model::entities::{Action, ActionLimits, BLACKBOX, Entity, EntityKind, Exec};
use crate::model::error::{Error, messages};
use crate::model::identity::{Identity, own_namespace};
use crate::model::names::EntityName;
use crate::model::params::Params;
use serde_json::json;
use std::time::Duration;

pub(crate) const MIN_TIMEOUT_MS: u64 = 100;
pub(crate) const MAX_TIMEOUT_MS: u64 = 300_000;
/// The longest a blocking invoke waits before answering 202.
pub(crate) const MAX_WAIT: Duration = Duration::from_secs(60);

/// Limits given in a PUT; absent ones are kept.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct LimitsPut {
    pub timeout_ms: Option<u64>,
    pub memory_mb: Option<u64>,
    pub logs_mb: Option<u64>,
    pub concurrency: Option<u64>,
}

impl LimitsPut {
    fn apply(self, mut current: ActionLimits) -> Result<ActionLimits, Error> {
        if let Some(timeout) = self.timeout_ms {
            if !(MIN_TIMEOUT_MS..=MAX_TIMEOUT_MS).contains(&timeout) {
                return Err(Error::bad(format!(
                    "'limits.timeout' must be between {MIN_TIMEOUT_MS} and {MAX_TIMEOUT_MS} milliseconds, not {timeout}"
                )));
            }
            current.timeout_ms = timeout;
        }
        current.memory_mb = self.memory_mb.unwrap_or(current.memory_mb);
        current.logs_mb = self.logs_mb.unwrap_or(current.logs_mb);
        current.concurrency = self.concurrency.unwrap_or(current.concurrency);
        Ok(current)
    }
}

/// An action PUT: a new action needs `exec`; an update keeps what is absent.
#[derive(Debug, Clone, Default)]
pub(crate) struct ActionPut {
    pub common: CommonPut,
    pub exec: Option<Exec>,
    pub parameters: Option<Params>,
    pub limits: LimitsPut,
}

/// A packaged action may only be written in a real package of its namespace (not a binding).
fn check_writable(store: &Store, target: &EntityName) -> Result<(), Error> {
    if let Some(pkg) = &target.pkg {
        let package = store.package(&EntityName::new(&target.ns, None, pkg))?;
        if package.binding.is_some() {
            return Err(Error::bad(messages::NOT_ALLOWED_ON_BINDING));
        }
    }
    Ok(())
}

/// Creates the action, or updates it when `overwrite` (409 otherwise). A packaged action may
/// only be written in a real package (not a binding) of the caller's.
pub(crate) fn put(
    c: &Controller,
    caller: &Identity,
    target: &EntityName,
    put: ActionPut,
    overwrite: bool,
) -> Result<Action, Error> {
    own_namespace(caller, &target.ns)?;
    c.write(|store| {
        check_writable(store, target)?;
        store.check_free_for(target, EntityKind::Action)?;
        let existing = store.action(target).ok();
        if existing.is_some() && !overwrite {
            return Err(Error::Conflict(messages::CONFLICT_EXISTS.into()));
        }
        let exec = match (put.exec, existing) {
            (Some(exec), _) => exec,
            (None, Some(old)) => old.exec.clone(),
            (None, None) => return Err(Error::bad("exec undefined")),
        };
        let mut common = put.common.apply(existing.map(|a| &a.common));
        common.annotations.insert("exec".into(), json!(BLACKBOX));
        let action = Action {
            common,
            parameters: put
                .parameters
                .or_else(|| existing.map(|a| a.parameters.clone()))
                .unwrap_or_default(),
            limits: put
                .limits
                .apply(existing.map(|a| a.limits).unwrap_or_default())?,
            exec,
        };
        store.insert(target, Entity::Action(action.clone()));
        Ok(action)
    })
}

/// One page of the actions in a package `caller` may read, newest first; for a binding, those
/// of the bound package (named as they live there).
pub(crate) fn list_in_package(
    c: &Controller,
    caller: &Identity,
    package: &EntityName,
    skip: usize,
    limit: usize,
) -> Result<Vec<(EntityName, Entity)>, Error> {
    let store = c.store();
    let found = readable_package(&store, caller, package)?;
    let home = match &found.binding {
        None => package.clone(),
        Some(bound) => match readable_package(&store, caller, bound) {
            Ok(_) => bound.clone(),
            Err(Error::NotFound(_)) => return Err(Error::not_found()),
            Err(e) => return Err(e),
        },
    };
    let mut items: Vec<(EntityName, Entity)> = store
        .package_actions(&home.ns, &home.name)
        .into_iter()
        .map(|(name, action)| {
            let name = EntityName::new(&home.ns, Some(&home.name), &name);
            (name, Entity::Action(action.clone()))
        })
        .collect();
    drop(store);
    items.sort_by_key(|(_, e)| std::cmp::Reverse(e.common().updated));
    Ok(items.into_iter().skip(skip).take(limit).collect())
}

/// The action as `caller` reaches it (through a binding, with the package parameters).
pub(crate) fn get(
    c: &Controller,
    caller: &Identity,
    target: &EntityName,
) -> Result<Resolved, Error> {
    resolve(&c.store(), caller, target)
}

pub(crate) fn delete(
    c: &Controller,
    caller: &Identity,
    target: &EntityName,
) -> Result<Action, Error> {
    own_namespace(caller, &target.ns)?;
    c.write(|store| {
        check_writable(store, target)?;
        let action = store.action(target)?.clone();
        store.remove(target);
        Ok(action)
    })
}

/// What an invoke answered: the activation's id at once, or the finished activation.
#[derive(Debug)]
pub(crate) enum Invoked {
    /// Not blocking, or the wait ran out first.
    Started(String),
    Finished(Box<Activation>),
}

/// Invokes the action; with `wait`, blocks until the activation ends (at most `wait`).
pub(crate) fn invoke(
    c: &Controller,
    caller: &Identity,
    target: &EntityName,
    payload: Params,
    wait: Option<Duration>,
) -> Result<Invoked, Error> {
    let resolved = resolve(&c.store(), caller, target)?;
    let id = start(c, caller.clone(), resolved, payload, None);
    let Some(wait) = wait else {
        return Ok(Invoked::Started(id));
    };
    Ok(match c.activations.wait_for_id(&id, wait, &c.shutdown)? {
        Some(activation) => Invoked::Finished(Box::new(activation)),
        None => Invoked::Started(id),
    })
}
