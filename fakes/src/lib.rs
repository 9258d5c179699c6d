//! Stateful HTTP fakes of the third-party services the kit's feeds talk to, for the end-to-end
//! tests and the local demo.
//!
//! Every fake is a real HTTP server on `127.0.0.1` with an OS-picked port, stopped when the value
//! is dropped:
//!
//! - [`FakeGitHub`]: the repository webhooks API shared by GitHub, GitHub Enterprise and
//!   Gitea/Forgejo (`/repos/{owner}/{repo}/hooks`), with token auth, GitHub's status codes and
//!   validation errors, and real, signed webhook deliveries to the registered URLs.
//! - [`FakeGitea`]: Gitea's (and Forgejo's) repository hooks API under `/api/v1`, with the rules
//!   of Gitea's own API description (its token header, media types, hook shape, int64 ids) and
//!   deliveries signed the way Gitea signs them.
//! - [`JsonSource`]: a polled JSON endpoint for the Polling pattern, with ETag / Last-Modified
//!   conditional requests, header-based auth and injectable faults.
//! - [`FeedSource`]: the same for a feed file (RSS, Atom) the test publishes versions of; real
//!   feed files to serve are in [`feed_files`].
//! - [`ScriptedServer`]: answers what the test scripts (redirects elsewhere, bodies that are
//!   not what the caller expects, bodies that drip in) and records what reached it.
//! - [`CountingProxy`]: relays to a real server and counts requests, rounds and connections
//!   (a [`Tally`] shared by the proxies in front of each server a program calls).
//!
//! Secrets (API tokens, webhook secrets, passwords in hook URLs) are never printed: hook URLs are
//! shown with their userinfo replaced by `***` and secrets masked the way GitHub masks them.

mod counting_proxy;
pub mod feed_files;
mod feed_source;
pub mod gitea;
pub mod github;
mod hooks;
mod http;
pub mod json_source;
mod polled;
pub mod scripted;

pub use counting_proxy::{Counted, CountingProxy, Tally};
pub use feed_source::{ATOM_CONTENT_TYPE, FeedSource, RSS_CONTENT_TYPE};
pub use gitea::FakeGitea;
pub use github::{Delivery, FakeGitHub};
pub use json_source::{JsonSource, Shape};
pub use polled::{Fault, SourceRequest, Validators};
pub use scripted::{Body, Recorded, Reply, ScriptedServer};
