//! The changes provider: a long-running service that keeps, for each registered feed, a continuous
//! `_changes` connection to a CouchDB-compatible database and fires the feed's OpenWhisk trigger
//! with every change (or batch of changes).
//!
//! - [`api`]: the REST API the `changes-feed` action talks to, authenticated with the provider
//!   secret.
//! - [`Registry`]: the feeds of this process, each one async task ([`runner`]).
//! - [`Store`]: registrations and positions in an append-only log in the data directory.
//! - [`classify_fire`]: what a fire's answer means (retry, disable, delivered).
//!
//! Delivery is at least once: a feed's position is saved only after OpenWhisk took the fire, so
//! a restart (or a crash) resumes at the first change not known to be fired.

pub mod api;
mod classify;
mod couch;
mod http;
mod model;
mod options;
mod registry;
pub mod runner;
mod status;
mod store;

pub use classify::{Backoff, FireVerdict, classify_fire, classify_transport};
pub use couch::{CouchError, FeedLine, changes_request, check_database, parse_line};
pub use http::{HttpClient, client, decode_component, encode_component};
pub use model::{
    DatabaseConfig, FeedConfig, FeedRecord, FeedState, MAX_CHANGES_PER_FIRE, Seq, now_millis,
    seq_zero,
};
pub use options::{Options, USAGE};
pub use registry::{Patch, Refresh, Registration, Registry, RegistryError, Since, feed_id};
pub use runner::{Shared, Tuning};
pub use status::{FeedStatus, SharedStatus};
pub use store::{LOG_FILE, Store, StoreError};

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
