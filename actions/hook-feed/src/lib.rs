//! `hook-feed`: the feed action of the Hooks pattern ([`HookFeed`], its parameters [`HookParams`]).
//!
//! It installs a webhook on a GitHub-compatible repository hooks API (GitHub, GitHub Enterprise,
//! Gitea, Forgejo) that delivers the repository's events to the user's trigger, and reads,
//! changes, pauses and removes that hook through the feed lifecycle. By default the hook delivers
//! signed events through the `hook-relay` web action (`relayUrl`); `deliveryMode direct` points it
//! at the trigger's fire URL instead (see [`delivery`]). What later lifecycle events
//! need is stored on the trigger itself (see [`settings::Stored`]); secrets never reach a result,
//! an error or a log line.

mod delivery;
mod dialect;
mod events;
mod explain;
mod lifecycle;
mod read;
mod seal;
mod service;
mod settings;

pub use lifecycle::HookFeed;
pub use settings::HookParams;
