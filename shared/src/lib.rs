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

mod action;
mod client;
mod context;
mod error;
mod feed;
pub mod http;
mod outbound;
pub mod params;
pub mod provider;
pub mod record;
mod redact;
mod runtime;
pub mod secret;
mod session;
mod time;
pub mod web;

pub use action::{Action, Activation, dispatch_action, run_action};
pub use client::{
    ApiHost, Client, ClientError, ClientErrorKind, ClientOptions, DEFAULT_NAMESPACE, FireOutcome,
    KeyValue, QualifiedName, entity_annotation, key_value_get, key_values_from_map, percent_encode,
    redact_userinfo, without_userinfo,
};
pub use context::Context;
pub use error::ActionError;
pub use feed::{Feed, LifecycleEvent, dispatch_feed, run_feed};
pub use params::{ParamError, kind as json_kind};
pub use record::{Entity, Record};
pub use redact::Redactor;
pub use runtime::{handle_once, run, serve_actionloop};
pub use secret::{AuthKey, Secret};
pub use session::FeedSession;
pub use time::{iso_utc, now_ms, parse_iso_utc};
pub use web::{WebAction, WebError, WebRequest, run_web_action};
