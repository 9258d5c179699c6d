//! What every OpenWhisk feed action of the kit shares.
//!
//! - [`run`]: the action runtime. A binary's `main` hands one handler to it; it speaks both the
//!   one-shot protocol of `openwhisk/dockerskeleton` (parameters on stdin, result on the last line
//!   of stdout) and the actionloop protocol (one activation per stdin line, results on fd 3).
//! - [`Client`]: a blocking OpenWhisk REST client bounded by the activation's deadline.
//! - [`Feed`] and [`run_feed`]: the feed-action lifecycle (`CREATE`, `READ`, `UPDATE`, `DELETE`,
//!   `PAUSE`, `UNPAUSE`) dispatched to one method per event.
//!
//! Every failure reaches the caller as one JSON result `{"error": "..."}` ([`ActionError`]); secrets
//! ([`AuthKey`], [`Secret`]) never print themselves.

mod client;
mod context;
mod error;
mod feed;
pub mod outbound;
mod params;
mod runtime;
mod secret;
mod time;

pub use client::{
    ApiHost, Client, ClientError, ClientErrorKind, ClientOptions, DEFAULT_NAMESPACE, FireOutcome,
    KeyValue, QualifiedName, entity_annotation, http_agent, http_agent_config, key_value_get,
    key_values_from_map, percent_encode, redact_userinfo,
};
pub use context::Context;
pub use error::ActionError;
pub use feed::{Feed, FeedRequest, LifecycleEvent, dispatch_feed, run_feed};
pub use params::{ParamError, Params, kind as json_kind, lenient};
pub use runtime::{handle_once, run, serve_actionloop};
pub use secret::{AuthKey, Secret};
pub use time::{iso_utc, now_ms};
