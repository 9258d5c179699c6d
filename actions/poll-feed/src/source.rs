//! Reading the polled source, all in one place: one conditional GET (`If-None-Match` /
//! `If-Modified-Since` from the last complete poll, so an unchanged source costs one 304), and
//! the answer read by the configured [`crate::sources::Source`] ([`read_source`]): the same for
//! JSON, RSS and Atom.

use std::fmt;
use std::time::Duration;

use feedkit::Secret;
use feedkit::http::{Http, HttpErrorKind, Request};
use serde_json::Value;

use crate::config::{PollConfig, Secrets};
use crate::sources::{Answer, AnySource, Ids, Items, ReadError, Source, quote};
use crate::state::{KeySet, MAX_ITEMS_PER_POLL, PollState, id_key};

/// Bound on a response body: a feed page, not a data dump.
const MAX_BODY_BYTES: u64 = 8 * 1024 * 1024;
/// Time kept back from the deadline to fire what was found and store the position.
pub const RESERVE: Duration = Duration::from_secs(3);

/// The source's answer.
#[derive(Debug, Clone, PartialEq)]
pub enum Fetched {
    /// 304: nothing changed since the validators were taken.
    NotModified,
    /// A 2xx answer: its body as it came (a [`crate::sources::Source`] reads it).
    Document {
        status: u16,
        body: Vec<u8>,
        content_type: Option<String>,
        etag: Option<String>,
        last_modified: Option<String>,
    },
}

/// Why the source could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceError {
    /// The HTTP status, when the source answered.
    pub status: Option<u16>,
    pub message: String,
    /// The source did not finish answering within the time it was given.
    pub timed_out: bool,
}

impl fmt::Display for SourceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for SourceError {}

/// What to send.
#[derive(Debug, Clone, Copy)]
pub struct SourceRequest<'a> {
    pub config: &'a PollConfig,
    pub secrets: &'a Secrets,
    /// The `Accept` header (the source's format says what it reads).
    pub accept: &'a str,
    pub etag: Option<&'a str>,
    pub last_modified: Option<&'a str>,
    pub timeout: Duration,
}

/// GETs the configured URL once. The credentials (`headers`, `username`/`password`,
/// `bearerToken`) go only to the URL's origin: a redirect to another origin is followed without
/// them (a feed served from a CDN), never from https to http (see `feedkit::outbound`).
pub fn fetch(http: &Http, request: SourceRequest<'_>) -> Result<Fetched, SourceError> {
    let mut call = Request::get(&request.config.url)
        .header("Accept", request.accept)
        .drop_credentials_elsewhere()
        .limit(MAX_BODY_BYTES)
        .timeout(request.timeout);
    for (name, value) in &request.secrets.headers {
        call = call.credential(name.as_str(), value.clone());
    }
    if let (Some(username), Some(password)) = (&request.config.username, &request.secrets.password)
    {
        call = call.basic_auth(username, password.expose());
    }
    if let Some(token) = &request.secrets.bearer_token {
        call = call.credential(
            "Authorization",
            Secret::new(format!("Bearer {}", token.expose())),
        );
    }
    if let Some(etag) = request.etag {
        call = call.header("If-None-Match", etag);
    }
    if let Some(date) = request.last_modified {
        call = call.header("If-Modified-Since", date);
    }
    let response = http.send(&call).map_err(|error| {
        let status = error.status;
        let (message, timed_out) = match (&error.kind, status) {
            (HttpErrorKind::Timeout(_) | HttpErrorKind::Deadline, _) => (
                format!(
                    "the source did not finish answering within {} s",
                    request.timeout.as_secs_f32().round()
                ),
                true,
            ),
            (kind, Some(status)) => (
                format!("HTTP {status}, but the body could not be read ({kind})"),
                false,
            ),
            (kind @ HttpErrorKind::Transport(_), None) => (kind.to_string(), false),
            (kind, None) => (format!("no usable answer ({kind})"), false),
        };
        SourceError {
            status,
            message,
            timed_out,
        }
    })?;
    let status = response.status();
    if status == 304 {
        return Ok(Fetched::NotModified);
    }
    if !response.is_success() {
        let text = response.text();
        let redirected = response
            .credentials_dropped()
            .filter(|_| matches!(status, 401 | 403))
            .map(|origin| {
                format!(
                    " from {origin}, where a redirect led and where the credentials (`headers`, \
                     `password`, `bearerToken`) are not sent: they go only to the origin of \
                     `url`; give the URL the source answers at"
                )
            })
            .unwrap_or_default();
        return Err(SourceError {
            status: Some(status),
            message: format!("HTTP {status}{redirected}{}", quote(text.as_bytes())),
            timed_out: false,
        });
    }
    let header = |name: &str| response.header(name).map(str::to_owned);
    Ok(Fetched::Document {
        status,
        content_type: header("content-type"),
        etag: header("etag"),
        last_modified: header("last-modified"),
        body: response.into_body(),
    })
}

/// One item of the source, with its id.
#[derive(Debug, Clone, PartialEq)]
pub struct Item {
    /// The id as text (a JSON id that is not a string, compact).
    pub id: String,
    /// [`id_key`] of the id: what the seen set holds.
    pub key: String,
    /// The event it fires as.
    pub value: Value,
}

/// The items of one answer, each id once, in the source's order.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Listing {
    pub items: Vec<Item>,
    /// Items without an id: they cannot be told apart, so they are skipped.
    pub without_id: usize,
    /// What reading the answer had to repair.
    pub notes: Vec<String>,
}

impl Listing {
    /// The items a source read, each id once (at its first place).
    pub fn of(read: Items) -> Result<Self, ReadError> {
        at_most(read.items.len() + read.without_id)?;
        let mut keys = KeySet::default();
        let items = read
            .items
            .into_iter()
            .map(|item| Item {
                key: id_key(&item.id),
                id: item.id,
                value: item.event,
            })
            .collect::<Vec<_>>();
        let firsts: Vec<bool> = items.iter().map(|item| keys.insert(&item.key)).collect();
        let mut firsts = firsts.into_iter();
        let mut items = items;
        items.retain(|_| firsts.next().unwrap_or(false));
        Ok(Self {
            items,
            without_id: read.without_id,
            notes: read.notes,
        })
    }

    /// What the poll's report says about the answer: items skipped, repairs.
    pub fn note(&self) -> Option<String> {
        let skipped = (self.without_id > 0)
            .then(|| format!("{} items without an id were skipped", self.without_id));
        let notes: Vec<String> = skipped.into_iter().chain(self.notes.clone()).collect();
        (!notes.is_empty()).then(|| notes.join("; "))
    }
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

impl std::error::Error for PollFailure {}

/// The keys of an answer's ids, each once, in the answer's order.
pub fn keys_of(ids: &Ids) -> Result<Vec<String>, ReadError> {
    at_most(ids.ids.len())?;
    let keys: Vec<String> = ids.ids.iter().flatten().map(|id| id_key(id)).collect();
    let mut seen = KeySet::default();
    let firsts: Vec<bool> = keys.iter().map(|key| seen.insert(key)).collect();
    Ok(keys
        .iter()
        .zip(firsts)
        .filter(|(_, first)| *first)
        .map(|(key, _)| key.clone())
        .collect())
}

/// An answer holds at most [`MAX_ITEMS_PER_POLL`] items (which bounds the seen set).
fn at_most(count: usize) -> Result<(), ReadError> {
    if count <= MAX_ITEMS_PER_POLL {
        return Ok(());
    }
    Err(ReadError {
        parameter: "url",
        message: format!(
            "the response holds {count} items; at most {MAX_ITEMS_PER_POLL} are supported per \
             poll (ask the source for a shorter page)"
        ),
    })
}

/// A source answer, read.
#[derive(Debug, Clone, PartialEq)]
pub enum Polled<L> {
    NotModified,
    Answered {
        status: u16,
        /// What the answer was read into.
        read: L,
        etag: Option<String>,
        last_modified: Option<String>,
    },
}

/// Reads the source once (conditionally on `state`'s validators) and reads the answer with
/// `read` (the configured [`crate::sources::Source`]'s ids, or its items).
pub fn read_source<L>(
    http: &Http,
    config: &PollConfig,
    secrets: &Secrets,
    state: Option<&PollState>,
    read: impl FnOnce(&AnySource<'_>, &Answer<'_>) -> Result<L, ReadError>,
) -> Result<Polled<L>, PollFailure> {
    let (etag, last_modified) = state
        .map(|state| state.validators_for(config.generation))
        .unwrap_or((None, None));
    let left = time_left(http);
    if left.is_zero() {
        return Err(PollFailure {
            parameter: None,
            status: None,
            message: out_of_time("before the source could be read"),
        });
    }
    let wanted = Duration::from_secs(config.timeout_seconds);
    let timeout = wanted.min(left);
    let source = config.source();
    let fetched = fetch(
        http,
        SourceRequest {
            config,
            secrets,
            accept: source.accept(),
            etag,
            last_modified,
            timeout,
        },
    )
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
            content_type,
            etag,
            last_modified,
        } => {
            let answer = Answer {
                url: &config.url,
                content_type: content_type.as_deref(),
                body: &body,
            };
            let read = read(&source, &answer).map_err(|error| PollFailure {
                parameter: Some(error.parameter),
                status: Some(status),
                message: error.message,
            })?;
            Ok(Polled::Answered {
                status,
                read,
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

/// The time the source may take: what the activation has left, less [`RESERVE`].
pub fn time_left(http: &Http) -> Duration {
    http.time_left()
        .unwrap_or(Duration::ZERO)
        .saturating_sub(RESERVE)
}
