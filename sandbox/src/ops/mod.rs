//! The typed operations: everything that reads or changes the controller's state, as OpenWhisk's
//! controller does it (names resolved, entitlements checked, parameters merged, OpenWhisk's
//! errors). The REST API, web actions, the alarms package, deploy and the library API are thin
//! callers of these functions; none of them builds an HTTP request to reach another.
//!
//! Each operation takes the caller's [`Identity`](crate::model::identity::Identity): what it may
//! see and change is checked here, not in the callers.

pub(crate) mod actions;
pub(crate) mod activations;
pub(crate) mod fire;
pub(crate) mod invoke;
pub(crate) mod packages;
pub(crate) mod rules;
pub(crate) mod triggers;

use crate::clock::now_ms;
use crate::controller::Controller;
use crate::model::entities::{Common, Entity, EntityKind, SemVer};
use crate::model::error::Error;
use crate::model::identity::{Identity, own_namespace};
use crate::model::names::EntityName;
use crate::model::params::Params;

/// The fields every PUT may give; what is absent is kept from the existing entity (or takes
/// its default for a new one).
#[derive(Debug, Clone, Default)]
pub(crate) struct CommonPut {
    pub version: Option<SemVer>,
    pub publish: Option<bool>,
    pub annotations: Option<Params>,
}

impl CommonPut {
    /// The entity's common fields after this PUT (a given version wins, else the patch is bumped).
    pub fn apply(self, existing: Option<&Common>) -> Common {
        Common {
            version: self
                .version
                .unwrap_or_else(|| existing.map_or(SemVer::INITIAL, |c| c.version.up_patch())),
            publish: self
                .publish
                .unwrap_or_else(|| existing.is_some_and(|c| c.publish)),
            annotations: self
                .annotations
                .or_else(|| existing.map(|c| c.annotations.clone()))
                .unwrap_or_default(),
            updated: now_ms(),
        }
    }
}

/// One page of a namespace's entities of one kind, newest first (as `GET /<collection>`): the
/// caller's own, or for packages another namespace's published ones.
pub(crate) fn list(
    c: &Controller,
    caller: &Identity,
    ns: &str,
    kind: EntityKind,
    skip: usize,
    limit: usize,
) -> Result<Vec<(EntityName, Entity)>, Error> {
    let own = caller.namespace == ns;
    if !own && kind != EntityKind::Package {
        own_namespace(caller, ns)?;
    }
    let store = c.store();
    let mut items: Vec<(EntityName, Entity)> = store
        .list(ns, kind)
        .into_iter()
        .filter(|(_, e)| own || e.common().publish)
        .map(|(name, e)| (name, e.clone()))
        .collect();
    drop(store);
    items.sort_by_key(|(_, e)| std::cmp::Reverse(e.common().updated));
    Ok(items.into_iter().skip(skip).take(limit).collect())
}
