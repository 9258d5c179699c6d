//! One poll: read the source, pick the items not fired yet, fire them, and say how far it got
//! (a [`PollRecord`] the caller folds into the stored state). The position only counts items
//! whose fire OpenWhisk accepted, so a crash or a refused fire means "again next tick"
//! (at least once), and the seen set means "never twice".

use std::time::Duration;

use feedkit::http::Http;
use feedkit::{Client, ClientError, FireOutcome, QualifiedName};
use serde_json::{Value, json};

use crate::config::{Batch, PollConfig, Secrets, StartFrom};
use crate::source::{Item, Listing, PollFailure, Polled, keys_of, read_source, time_left};
use crate::sources::{Answer, AnySource, Ids, Source};
use crate::state::{KeySet, Outcome, PollRecord, PollState, Validators, id_key};
use feedkit::now_ms;

/// A list fire stays below this many bytes (OpenWhisk refuses payloads over 1 MB).
const MAX_FIRE_BYTES: usize = 512 * 1024;

/// Takes every current item as seen without firing (`startFrom=now`). Only the ids are read.
pub fn baseline(
    http: &Http,
    config: &PollConfig,
    secrets: &Secrets,
) -> Result<PollRecord, PollFailure> {
    let at = now_ms();
    let read = |source: &AnySource<'_>, answer: &Answer<'_>| {
        let ids = source.ids(answer)?;
        Ok((keys_of(&ids)?, ids))
    };
    match read_source(http, config, secrets, None, read)? {
        // Nothing was sent conditionally, so a 304 is the source's own oddity: nothing to learn.
        Polled::NotModified => Ok(record(at, Outcome::Baseline, Some(304))),
        Polled::Answered {
            status,
            read: (keys, ids),
            etag,
            last_modified,
        } => Ok(PollRecord {
            known: Some(keys),
            validators: Validators::Set {
                etag,
                last_modified,
            },
            detail: ids_note(&ids),
            ..record(at, Outcome::Baseline, Some(status))
        }),
    }
}

/// Carries the position over to new settings that read ids differently (`itemsPath`, `idPath`,
/// `format`; `old` are the settings `state` was kept with): the source is read once both ways,
/// and each current item whose old id was seen counts as seen under its new id, the others
/// stay new. Nothing is fired. When the old settings cannot read the answer at all, nothing can
/// be carried over and the feed starts over as its `startFrom` says.
pub fn rekey(
    http: &Http,
    config: &PollConfig,
    secrets: &Secrets,
    old: &PollConfig,
    state: &PollState,
) -> Result<PollRecord, PollFailure> {
    let at = now_ms();
    // The old way of telling ids, over the list the new settings find.
    let before = AnySource::new(old.format, &config.items_path, &old.id_path);
    let read = |source: &AnySource<'_>, answer: &Answer<'_>| {
        let ids = source.ids(answer)?;
        Ok((keys_of(&ids)?, before.ids(answer).ok(), ids))
    };
    let Polled::Answered {
        status,
        read: (keys, old_ids, ids),
        etag,
        last_modified,
    } = read_source(http, config, secrets, None, read)?
    else {
        return Ok(record(at, Outcome::Baseline, Some(304)));
    };
    let known: Vec<String> = match old_ids {
        Some(old_ids) => {
            let seen = state.seen_set();
            let carried: Vec<String> = ids
                .ids
                .iter()
                .zip(&old_ids.ids)
                .filter_map(|(new, old)| Some((new.as_deref()?, old.as_deref()?)))
                .filter(|(_, old)| seen.contains(id_key(old).as_str()))
                .map(|(new, _)| id_key(new))
                .collect();
            let carried = KeySet::of(carried.iter().map(String::as_str));
            keys.iter()
                .filter(|key| carried.contains(key))
                .cloned()
                .collect()
        }
        None => match config.start_from {
            StartFrom::Now => keys.clone(),
            StartFrom::Backlog => Vec::new(),
        },
    };
    let validators = if known.len() == keys.len() {
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
        detail: ids_note(&ids),
        ..record(at, Outcome::Baseline, Some(status))
    })
}

/// What a baseline's report says about the answer: items without ids, repairs.
fn ids_note(ids: &Ids) -> Option<String> {
    Listing {
        without_id: ids.ids.iter().filter(|id| id.is_none()).count(),
        notes: ids.notes.clone(),
        ..Listing::default()
    }
    .note()
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
    pub backoff: Backoff,
}

impl Poll<'_> {
    /// Polls once and fires the user's trigger through `client` (acting as its owner, over
    /// the activation's [`Http`], which reads the source too).
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
        self.run_with(client.http(), |payload| {
            client.fire_trigger(&trigger, payload)
        })
    }

    /// [`Poll::run`] with any way to fire (the tests count fires).
    pub fn run_with(
        &self,
        http: &Http,
        fire: impl FnMut(&Value) -> Result<FireOutcome, ClientError>,
    ) -> PollRecord {
        let at = now_ms();
        let read = |source: &AnySource<'_>, answer: &Answer<'_>| Listing::of(source.read(answer)?);
        let polled = match read_source(http, self.config, self.secrets, Some(self.state), read) {
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
        let Polled::Answered {
            status,
            read: listing,
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
        let report = fire_items(self.config, &fresh, http, self.backoff, fire);
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
        let detail = [report.stop.clone().or(report.failure), listing.note()]
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
    http: &Http,
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
                Err(error) if error.is_transient() && wait < time_left(http) => {
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
