//! The Polling pattern: a feed that polls a JSON endpoint or an RSS/Atom feed on an alarm and
//! fires the user's trigger with the items it has not fired before.
//!
//! Two actions share this crate: the feed action `poll-feed` ([`PollFeed`], the lifecycle) and
//! the poller `pollMyService` ([`Poller`], run by a rule on every alarm tick). Nothing lives in
//! process memory or on disk between activations: settings and position are kept on a helper
//! trigger in the user's namespace ([`Helper`]), and the poller acts with the key OpenWhisk
//! gives it.
//!
//! - `config`: the parameters, validated ([`PollConfig`]); credentials kept apart ([`Secrets`])
//!   and redacted.
//! - `source`: reading the source, all in one place: a conditional GET ([`fetch`]) and the
//!   answer read by the configured [`Source`] ([`read_source`]);
//! - `poll`: one poll ([`Poll`]): what is new fired with backoff; `state`: the bounded seen set
//!   and status ([`PollState`]).
//! - `names`: helper entity names derived from the trigger ([`Entities`]), and where the
//!   poller is ([`Kit`]).
//! - `alarm`: the alarm, driven through the alarms feed's own lifecycle ([`Alarm`]).
//! - `sources`: what an answer holds, by format ([`Source`]): JSON by paths ([`JsonPath`]),
//!   RSS and Atom feeds read into items with stable ids and one documented event shape.

mod alarm;
mod config;
mod feed;
mod helper;
mod names;
mod path;
mod poll;
mod source;
pub mod sources;
mod state;
mod stored;
mod tick;

pub use alarm::Alarm;
pub use config::{
    Batch, CRON_FEED, Changes, ConfigPatch, INTERVAL_FEED, Owners, PollConfig, PollParams,
    Schedule, Secrets, StartFrom,
};
pub use feed::PollFeed;
pub use feedkit::{iso_utc, now_ms};
pub use helper::{
    CONFIG_ANNOTATION, FEED_ANNOTATION, Helper, OWNER_ANNOTATION, PAUSED_ANNOTATION, Paused,
    SECRETS_ANNOTATION, STATE_PARAM, TRIGGER_PARAM,
};
pub use names::{
    BINDING_SUFFIX, Binding, Entities, Kit, POLL_TRIGGER_SUFFIX, POLLER_ACTION, PollerRef,
    RULE_SUFFIX,
};
pub use path::JsonPath;
pub use poll::{Backoff, Poll, baseline, rekey};
pub use source::{
    Fetched, Item, Listing, PollFailure, Polled, SourceError, SourceRequest, fetch, keys_of,
    read_source,
};
pub use sources::{Answer, AnySource, Format, Ids, Items, ReadError, Source, SourceItem};
pub use state::{
    LastPoll, MAX_ITEMS_PER_POLL, Outcome, PollRecord, PollState, SEEN_HISTORY, Validators, id_key,
};
pub use tick::{Poller, TickParams};
