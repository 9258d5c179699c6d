//! `hook-feed`: the feed action of the Hooks pattern.
//!
//! It installs a webhook on a GitHub-compatible repository hooks API (GitHub, GitHub Enterprise,
//! Gitea, Forgejo) that delivers the repository's events to the user's trigger, and reads,
//! changes, pauses and removes that hook through the feed lifecycle. What later lifecycle events
//! need is stored on the trigger itself (see [`settings::Stored`]); secrets never reach a result,
//! an error or a log line.

mod delivery;
mod events;
mod explain;
mod lifecycle;
mod read;
mod redact;
mod service;
mod settings;

fn main() {
    feedkit::run_feed(lifecycle::HookFeed);
}
