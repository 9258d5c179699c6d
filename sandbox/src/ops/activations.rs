//! Activation records as a namespace's owner reads them.

use crate::controller::Controller;
use crate::model::activation::Activation;
use crate::model::error::{Error, messages};
use crate::model::identity::{Identity, own_namespace};

/// Which records a listing wants.
#[derive(Debug, Clone, Default)]
pub(crate) struct ActivationQuery {
    /// `action`, `pkg/action` or a trigger's name.
    pub name: Option<String>,
    /// Epoch ms bounds on the start.
    pub since: u64,
    pub upto: u64,
    pub skip: usize,
    pub limit: usize,
}

/// The namespace's records, newest first.
pub(crate) fn list(
    c: &Controller,
    caller: &Identity,
    ns: &str,
    query: &ActivationQuery,
) -> Result<Vec<Activation>, Error> {
    own_namespace(caller, ns)?;
    let mut records: Vec<Activation> = c
        .activations
        .list(ns)
        .into_iter()
        .filter(|a| query.name.as_deref().is_none_or(|n| a.relative_path() == n))
        .filter(|a| a.start >= query.since && a.start <= query.upto)
        .collect();
    // Newest first; records are kept in completion order, so equal starts stay stable.
    records.reverse();
    records.sort_by_key(|a| std::cmp::Reverse(a.start));
    Ok(records
        .into_iter()
        .skip(query.skip)
        .take(query.limit)
        .collect())
}

/// One record by id (400 for an id that cannot be one, 404 when unknown or no longer kept).
pub(crate) fn get(
    c: &Controller,
    caller: &Identity,
    ns: &str,
    id: &str,
) -> Result<Activation, Error> {
    own_namespace(caller, ns)?;
    if id.len() != 32 || !id.chars().all(|ch| ch.is_ascii_hexdigit()) {
        return Err(Error::bad(messages::ACTIVATION_ID_ILLEGAL));
    }
    c.activations.get(ns, id).ok_or_else(Error::not_found)
}
