//! One poll: read the source, pick the items not fired yet, fire them, and say how far it got
//! (a [`PollRecord`] the caller folds into the stored state). The position only counts items
//! whose fire OpenWhisk accepted, so a crash or a refused fire means "again next tick"
//! (at least once), and the seen set means "never twice".

use std::fmt;
use std::time::{Duration, SystemTime};

use feedkit::{Client, ClientError, FireOutcome, QualifiedName};
use serde_json::{Value, json};

use crate::config::{Batch, PollConfig, Secrets};
use crate::source::{Fetched, SourceRequest, fetch};
use crate::state::{
    KeySet, MAX_ITEMS_PER_POLL, Outcome, PollRecord, PollState, Validators, id_key,
};
use feedkit::now_ms;

/// Time kept back from the deadline to store the position and answer.
pub const RESERVE: Duration = Duration::from_secs(3);
/// The time budget when the activation has no deadline (run by hand).
const NO_DEADLINE_BUDGET: Duration = Duration::from_secs(50);
/// A list fire stays below this many bytes (OpenWhisk refuses payloads over 1 MB).
const MAX_FIRE_BYTES: usize = 512 * 1024;

/// One item of the source, with its id.
#[derive(Debug, Clone, PartialEq)]
pub struct Item {
    /// The id as text (a string id as is, any other JSON compact).
    pub id: String,
    /// [`id_key`] of the id: what the seen set holds.
    pub key: String,
    pub value: Value,
}

/// The items of one response, each id once, in the source's order.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Listing {
    pub items: Vec<Item>,
    /// Items without an id at `idPath`: they cannot be told apart, so they are skipped.
    pub without_id: usize,
}

/// Why a poll could not get a listing; `parameter` is the setting to look at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PollFailure {
    /// The parameter to look at, when one is at fault (not when the activation's own time
    /// limit cut the poll short).
    pub parameter: Option<&'static str>,
    pub status: Option<u16>,
    pub message: String,
}

impl fmt::Display for PollFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// Finds the items (`itemsPath`) and their ids (`idPath`) in a response body.
pub fn list_items(body: &Value, config: &PollConfig) -> Result<Listing, PollFailure> {
    let failure = |parameter, message: String| PollFailure {
        parameter: Some(parameter),
        status: None,
        message,
    };
    let found = config.items_path.lookup(body).ok_or_else(|| {
        failure(
            "itemsPath",
            format!(
                "the response has nothing at itemsPath {:?}",
                config.items_path.as_str()
            ),
        )
    })?;
    let Value::Array(values) = found else {
        let at = if config.items_path.is_root() {
            "the response body".to_owned()
        } else {
            format!("itemsPath {:?}", config.items_path.as_str())
        };
        return Err(failure(
            "itemsPath",
            format!("{at} is {}, not a list of items", kind(found)),
        ));
    };
    if values.len() > MAX_ITEMS_PER_POLL {
        return Err(failure(
            "url",
            format!(
                "the response holds {} items; at most {MAX_ITEMS_PER_POLL} are supported per poll (ask the source for a shorter page)",
                values.len()
            ),
        ));
    }
    let mut listing = Listing::default();
    for value in values {
        let Some(id) = config.id_path.lookup(value).and_then(id_text) else {
            listing.without_id += 1;
            continue;
        };
        listing.items.push(Item {
            key: id_key(&id),
            id,
            value: value.clone(),
        });
    }
    // Each id once, at its first place.
    let mut keys = KeySet::default();
    let firsts: Vec<bool> = listing
        .items
        .iter()
        .map(|item| keys.insert(item.key.as_str()))
        .collect();
    let mut firsts = firsts.into_iter();
    listing.items.retain(|_| firsts.next().unwrap_or(false));
    if listing.items.is_empty() && listing.without_id > 0 {
        return Err(failure(
            "idPath",
            format!(
                "none of the {} items has an id at idPath {:?}",
                listing.without_id,
                config.id_path.as_str()
            ),
        ));
    }
    Ok(listing)
}

fn id_text(value: &Value) -> Option<String> {
    match value {
        Value::Null => None,
        Value::String(text) if text.is_empty() => None,
        Value::String(text) => Some(text.clone()),
        other => Some(other.to_string()),
    }
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

/// A source answer turned into items.
#[derive(Debug, Clone, PartialEq)]
pub enum Polled {
    NotModified,
    Items {
        status: u16,
        listing: Listing,
        etag: Option<String>,
        last_modified: Option<String>,
    },
}

/// Reads the source once and lists its items.
pub fn read_source(
    config: &PollConfig,
    secrets: &Secrets,
    state: Option<&PollState>,
    deadline: Option<SystemTime>,
) -> Result<Polled, PollFailure> {
    let (etag, last_modified) = state
        .map(|state| state.validators_for(config.generation))
        .unwrap_or((None, None));
    let left = time_left(deadline);
    if left.is_zero() {
        return Err(PollFailure {
            parameter: None,
            status: None,
            message: out_of_time("before the source could be read"),
        });
    }
    let wanted = Duration::from_secs(config.timeout_seconds);
    let timeout = wanted.min(left);
    let fetched = fetch(SourceRequest {
        config,
        secrets,
        etag,
        last_modified,
        timeout,
    })
    .map_err(|error| match (error.timed_out, timeout < wanted) {
        // The activation's time limit, not `timeoutSeconds`, cut the answer short.
        (true, true) => PollFailure {
            parameter: None,
            status: error.status,
            message: out_of_time(&format!(
                "while the source was still answering ({} s in)",
                timeout.as_secs_f32().round()
            )),
        },
        (true, false) => PollFailure {
            parameter: Some("timeoutSeconds"),
            status: error.status,
            message: format!(
                "{error}, the `timeoutSeconds` it is given; raise it (at most the poller's time \
                 limit) or make the source answer faster"
            ),
        },
        (false, _) => PollFailure {
            parameter: Some("url"),
            status: error.status,
            message: error.message,
        },
    })?;
    match fetched {
        Fetched::NotModified => Ok(Polled::NotModified),
        Fetched::Document {
            status,
            body,
            etag,
            last_modified,
        } => {
            let listing = list_items(&body, config).map_err(|failure| PollFailure {
                status: Some(status),
                ..failure
            })?;
            Ok(Polled::Items {
                status,
                listing,
                etag,
                last_modified,
            })
        }
    }
}

/// Why a poll stopped at the activation's deadline, and what the user can do about it.
fn out_of_time(when: &str) -> String {
    format!(
        "the activation's time limit ran out {when}; give the action a longer time limit \
         (wsk action update ... --timeout) or make the source answer faster"
    )
}

/// The time left before `deadline` minus [`RESERVE`].
pub fn time_left(deadline: Option<SystemTime>) -> Duration {
    let deadline = deadline.unwrap_or_else(|| SystemTime::now() + NO_DEADLINE_BUDGET);
    deadline
        .duration_since(SystemTime::now())
        .unwrap_or(Duration::ZERO)
        .saturating_sub(RESERVE)
}

/// Takes every current item as seen without firing (`startFrom=now`).
pub fn baseline(
    config: &PollConfig,
    secrets: &Secrets,
    deadline: Option<SystemTime>,
) -> Result<PollRecord, PollFailure> {
    let at = now_ms();
    match read_source(config, secrets, None, deadline)? {
        // Nothing was sent conditionally, so a 304 is the source's own oddity: nothing to learn.
        Polled::NotModified => Ok(record(at, Outcome::Baseline, Some(304))),
        Polled::Items {
            status,
            listing,
            etag,
            last_modified,
        } => Ok(PollRecord {
            known: Some(listing.items.iter().map(|item| item.key.clone()).collect()),
            validators: Validators::Set {
                etag,
                last_modified,
            },
            detail: skipped_note(listing.without_id),
            ..record(at, Outcome::Baseline, Some(status))
        }),
    }
}

/// Carries the position over to new `itemsPath`/`idPath` settings (`config`; `old` are the
/// settings `state` was kept with): the current items whose old id was seen count as seen under
/// their new id, the others stay new. Nothing is fired.
pub fn rekey(
    config: &PollConfig,
    secrets: &Secrets,
    old: &PollConfig,
    state: &PollState,
    deadline: Option<SystemTime>,
) -> Result<PollRecord, PollFailure> {
    let at = now_ms();
    let Polled::Items {
        status,
        listing,
        etag,
        last_modified,
    } = read_source(config, secrets, None, deadline)?
    else {
        return Ok(record(at, Outcome::Baseline, Some(304)));
    };
    let seen = state.seen_set();
    let known: Vec<String> = listing
        .items
        .iter()
        .filter(|item| {
            old.id_path
                .lookup(&item.value)
                .and_then(id_text)
                .is_some_and(|id| seen.contains(id_key(&id).as_str()))
        })
        .map(|item| item.key.clone())
        .collect();
    let validators = if known.len() == listing.items.len() {
        Validators::Set {
            etag,
            last_modified,
        }
    } else {
        // Some items are new: the next tick must get the whole body to fire them.
        Validators::Clear
    };
    Ok(PollRecord {
        known: Some(known),
        validators,
        detail: skipped_note(listing.without_id),
        ..record(at, Outcome::Baseline, Some(status))
    })
}

fn record(at: u64, outcome: Outcome, status: Option<u16>) -> PollRecord {
    PollRecord {
        at,
        outcome,
        status,
        detail: None,
        known: None,
        validators: Validators::Keep,
        last_id: None,
        new_items: 0,
        fired_items: 0,
        pending_items: 0,
        events: 0,
        stop: None,
    }
}

fn skipped_note(without_id: usize) -> Option<String> {
    (without_id > 0).then(|| format!("{without_id} items without an id were skipped"))
}

/// How long to wait between fire attempts that OpenWhisk refused for now (429, 408, 5xx).
#[derive(Debug, Clone, Copy)]
pub struct Backoff {
    pub first: Duration,
    pub max: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Self {
            first: Duration::from_millis(500),
            max: Duration::from_secs(8),
        }
    }
}

/// Everything one poll-and-fire needs.
pub struct Poll<'a> {
    pub config: &'a PollConfig,
    pub secrets: &'a Secrets,
    pub state: &'a PollState,
    pub deadline: Option<SystemTime>,
    pub backoff: Backoff,
}

impl Poll<'_> {
    /// Polls once and fires the user's trigger through `client` (acting as its owner).
    pub fn run(&self, client: &Client) -> PollRecord {
        let trigger = match QualifiedName::parse(&self.config.trigger) {
            Ok(trigger) => trigger,
            Err(problem) => {
                return PollRecord {
                    detail: Some(format!("the stored trigger name is unusable: {problem}")),
                    ..record(now_ms(), Outcome::SourceFailed, None)
                };
            }
        };
        self.run_with(|payload| client.fire_trigger(&trigger, payload))
    }

    /// [`Poll::run`] with any way to fire (the tests count fires).
    pub fn run_with(
        &self,
        fire: impl FnMut(&Value) -> Result<FireOutcome, ClientError>,
    ) -> PollRecord {
        let at = now_ms();
        let polled = match read_source(self.config, self.secrets, Some(self.state), self.deadline) {
            Ok(polled) => polled,
            Err(failure) => {
                return PollRecord {
                    detail: Some(format!(
                        "polling {} failed: {failure}",
                        feedkit::redact_userinfo(&self.config.url)
                    )),
                    ..record(at, Outcome::SourceFailed, failure.status)
                };
            }
        };
        let Polled::Items {
            status,
            listing,
            etag,
            last_modified,
        } = polled
        else {
            return record(at, Outcome::Unchanged, Some(304));
        };
        let seen = self.state.seen_set();
        let fresh: Vec<&Item> = listing
            .items
            .iter()
            .filter(|item| !seen.contains(item.key.as_str()))
            .collect();
        let report = fire_items(self.config, &fresh, self.deadline, self.backoff, fire);
        let fired = KeySet::of(fresh[..report.fired].iter().map(|item| item.key.as_str()));
        let known = listing
            .items
            .iter()
            .filter(|item| seen.contains(item.key.as_str()) || fired.contains(item.key.as_str()))
            .map(|item| item.key.clone())
            .collect();
        let pending = fresh.len() - report.fired;
        let outcome = if report.stop.is_some() {
            Outcome::Stopped
        } else if pending > 0 {
            Outcome::FireFailed
        } else if fresh.is_empty() {
            Outcome::NothingNew
        } else {
            Outcome::Fired
        };
        let detail = [
            report.stop.clone().or(report.failure),
            skipped_note(listing.without_id),
        ]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join("; ");
        PollRecord {
            at,
            outcome,
            status: Some(status),
            detail: (!detail.is_empty()).then_some(detail),
            known: Some(known),
            validators: if pending == 0 {
                Validators::Set {
                    etag,
                    last_modified,
                }
            } else {
                Validators::Clear
            },
            last_id: report
                .fired
                .checked_sub(1)
                .map(|last| fresh[last].id.clone()),
            new_items: fresh.len(),
            fired_items: report.fired,
            pending_items: pending,
            events: report.events,
            stop: report.stop,
        }
    }
}

/// How firing went: the first `fired` items are done.
#[derive(Debug, Default)]
struct FireReport {
    fired: usize,
    events: usize,
    failure: Option<String>,
    stop: Option<String>,
}

/// The events for `items`: one per item, or lists within the count and size bounds. Each
/// event comes with how many items it carries.
fn events(config: &PollConfig, items: &[&Item]) -> Vec<(Value, usize)> {
    match config.batch {
        Batch::Each => items
            .iter()
            .map(|item| {
                let event = match &item.value {
                    Value::Object(_) => item.value.clone(),
                    other => json!({ "item": other }),
                };
                (event, 1)
            })
            .collect(),
        Batch::List => {
            let mut events = Vec::new();
            let mut batch: Vec<Value> = Vec::new();
            let mut bytes = 0;
            for item in items {
                let size = item.value.to_string().len() + 1;
                let full = batch.len() >= config.max_items_per_fire
                    || (!batch.is_empty() && bytes + size > MAX_FIRE_BYTES);
                if full {
                    let count = batch.len();
                    events.push((json!({ "items": std::mem::take(&mut batch) }), count));
                    bytes = 0;
                }
                bytes += size;
                batch.push(item.value.clone());
            }
            if !batch.is_empty() {
                let count = batch.len();
                events.push((json!({ "items": batch }), count));
            }
            events
        }
    }
}

/// Fires the events in order; stops at the first that cannot be fired now.
fn fire_items(
    config: &PollConfig,
    items: &[&Item],
    deadline: Option<SystemTime>,
    backoff: Backoff,
    mut fire: impl FnMut(&Value) -> Result<FireOutcome, ClientError>,
) -> FireReport {
    let mut report = FireReport::default();
    'events: for (event, count) in events(config, items) {
        let mut wait = backoff.first;
        loop {
            match fire(&event) {
                Ok(_) => {
                    report.fired += count;
                    report.events += 1;
                    continue 'events;
                }
                Err(error) if error.is_not_found() || error.is_unauthorized() => {
                    report.stop = Some(stop_reason(&config.trigger, &error));
                    break 'events;
                }
                Err(error) if error.is_transient() && wait < time_left(deadline) => {
                    std::thread::sleep(wait);
                    wait = (wait * 2).min(backoff.max);
                }
                Err(error) => {
                    let what = if error.is_transient() {
                        "kept for the next tick"
                    } else {
                        "OpenWhisk refused the event; kept for the next tick"
                    };
                    report.failure = Some(format!(
                        "firing {} failed ({error}): {} items {what}",
                        config.trigger,
                        items.len() - report.fired
                    ));
                    break 'events;
                }
            }
        }
    }
    report
}

fn stop_reason(trigger: &str, error: &ClientError) -> String {
    let status = error.status().unwrap_or_default();
    if error.is_not_found() {
        format!(
            "trigger {trigger} no longer exists (firing it answered HTTP {status}); polling stopped. Delete the feed, or recreate the trigger and UNPAUSE"
        )
    } else {
        format!(
            "the trigger owner's key may not fire {trigger} (HTTP {status}); polling stopped. UNPAUSE once the key is valid again"
        )
    }
}

#[cfg(test)]
mod tests;
