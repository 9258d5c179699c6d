//! The model: what the controller knows about, as plain data with its JSON views and no I/O.
//! Entities and their names, parameters, activation and fire records, alarms, the
//! configuration, callers' identities, and the one error type. Every other layer builds on it;
//! it imports nothing of the sandbox but [`crate::clock`].

pub(crate) mod activation;
pub(crate) mod alarm;
pub(crate) mod config;
pub(crate) mod entities;
pub(crate) mod error;
pub(crate) mod fire;
pub(crate) mod identity;
pub(crate) mod names;
pub(crate) mod params;
pub(crate) mod schedule;
