//! The changes provider: a long-running service that keeps, for each registered feed, a source of
//! events open (a CouchDB `_changes` connection, first of all) and fires the feed's OpenWhisk
//! trigger with every event. One instance runs on an embedded store; many run as a fleet on
//! CouchDB, sharing the feeds through leased buckets.
//!
//! - [`api`]: the REST API the feed actions talk to (types in `provider-api`), `/health` and
//!   `/metrics`.
//! - [`Node`]: one instance: the feeds it knows, the buckets it holds, the feeds it runs
//!   ([`registry`] for what the API does to feeds).
//! - [`Source`]: what a kind of feed provides ([`changes`] for CouchDB `_changes`, [`alarms`]
//!   for triggers fired on a schedule); the core
//!   fires its events ([`pipeline`]: a bounded window in flight, positions saved only past what
//!   OpenWhisk took) and classifies the answers ([`classify_fire`]).
//! - [`Store`]: registrations, positions and leases ([`SqliteStore`] embedded), with secrets
//!   sealed at rest ([`secrets`]).
//!
//! Delivery is at least once: a feed's position is saved only after OpenWhisk took every fire
//! up to it, so a restart, a crash or a takeover resumes at the first change not known to be
//! fired.

pub mod alarms;
pub mod api;
pub mod changes;
mod classify;
mod fire;
mod fleet;
mod http;
mod lease;
mod metrics;
mod model;
mod node;
mod options;
pub mod pipeline;
mod positions;
pub mod registry;
pub mod secrets;
mod source;
mod status;
pub mod store;
mod tuning;

pub use classify::{Backoff, FireVerdict, classify_fire, classify_transport};
pub use fleet::rightful_owner;
pub use http::{HttpClient, client, decode_component, encode_component};
pub use lease::{LeaseGuard, monotonic_ms};
pub use metrics::{Gauges, Metrics};
pub use model::{FeedId, FeedRecord, FeedState, Position, Saved, Start, now_millis, random_u64};
pub use node::Node;
pub use options::{Args, COUCHDB_PASSWORD_ENV, Options, SECRET_ENV};
pub use registry::{RegistryError, feed_id};
pub use secrets::Keyring;
pub use source::{Emitter, Event, Prepared, Slot, Source, SourceError, SourceHandle};
pub use status::SharedStatus;
pub use store::{CouchStore, CouchStoreOptions, Sealer, SqliteStore, Store, StoreError};
pub use tuning::Tuning;

/// Compares two byte strings in time that depends only on their lengths.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter()
        .zip(b)
        .fold(0_u8, |difference, (x, y)| difference | (x ^ y))
        == 0
}
