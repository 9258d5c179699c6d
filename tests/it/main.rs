//! End-to-end tests: the real action binaries driven over stdin/stdout and real HTTP, as the
//! native runtime and OpenWhisk drive them.

mod aio;
mod alarm_feed;
mod changes_feed;
mod client;
mod connections;
mod couchdb;
mod demo;
mod error_causes;
mod hook_feed;
mod hook_gitea;
mod hook_relay;
mod hostile;
mod in_process;
mod manifest;
mod poll_feed;
mod provider_alarms;
mod provider_answers;
mod provider_fleet;
mod provider_input;
mod redirects;
mod round_trips;
mod runtime;
mod sandbox_binary;
mod support;
