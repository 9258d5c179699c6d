//! `changes-feed`: the feed action of the Connections pattern ([`ChangesFeed`], its parameters
//! [`ChangesParams`]).
//!
//! It validates a CouchDB `_changes` feed's parameters, checks that the trigger owner's key can
//! read the trigger (and that a named filter exists; the provider checks the database), and
//! registers, reads, changes, pauses or removes the feed at the changes provider (`providerUrl`,
//! with the package-bound `providerSecret`). The provider keeps the connection and fires the trigger.

mod database;
mod lifecycle;
mod settings;

pub use lifecycle::ChangesFeed;
pub use settings::ChangesParams;
