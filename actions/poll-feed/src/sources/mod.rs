//! What a polled source's answer holds: the [`Source`] trait and its formats.
//!
//! The poller is the same for every format: it asks with a conditional GET, keeps the seen set,
//! fires and records. A [`Source`] is the one part that differs: what to ask for (`Accept`) and
//! how an answer's body becomes items, each with the id it is remembered by and the event it
//! fires as. Each format is one file: `json` (a list at a JSON path), `rss` (RSS 2.0 / 1.0),
//! `atom` (Atom 1.0); `feed` is what the two feeds share (reading the document, its errors),
//! `xml` the hardened XML reading, `entry` the event shape and `date` the dates. [`Auto`] picks
//! one per answer.
//!
//! A source lists ids apart from events ([`Source::ids`], [`Source::read`]) and the formats are
//! picked by [`AnySource`] without dynamic dispatch: the feed action, which only needs ids (for
//! its baseline), does not carry the event building, which keeps its zip under the limit.

mod atom;
mod date;
mod entry;
mod feed;
mod json;
mod rss;
mod xml;

use std::fmt;

use feedkit::params::Text;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::path::JsonPath;
pub use entry::{Enclosure, Entry};
pub use feed::{Atom, Rss, feed_ids, read_feed};
pub use json::Json;
pub use xml::{Document, XmlError};

/// A 2xx answer of the polled source.
#[derive(Debug, Clone, Copy)]
pub struct Answer<'a> {
    /// The URL polled: relative links in a feed are resolved against it.
    pub url: &'a str,
    pub content_type: Option<&'a str>,
    pub body: &'a [u8],
}

/// One item of an answer.
#[derive(Debug, Clone, PartialEq)]
pub struct SourceItem {
    /// What the item is remembered by (the seen set holds a hash of it).
    pub id: String,
    /// What is fired for it.
    pub event: Value,
}

/// The items of one answer, in the source's order (repeats included: the poller keeps the
/// first of each id).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Items {
    pub items: Vec<SourceItem>,
    /// Items that have no id: they cannot be told apart, so they are skipped.
    pub without_id: usize,
    /// What reading had to repair, for the poll's report.
    pub notes: Vec<String>,
}

/// Each item's id in one answer, in the source's order.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Ids {
    /// `None` for an item that has no id (it cannot be told apart, so it is skipped).
    pub ids: Vec<Option<String>>,
    /// What reading had to repair, for the poll's report.
    pub notes: Vec<String>,
}

/// Why an answer holds no items the poller can use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadError {
    /// The parameter to look at.
    pub parameter: &'static str,
    pub message: String,
}

impl fmt::Display for ReadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ReadError {}

/// A kind of polled source.
pub trait Source {
    /// The `Accept` header of the poll.
    fn accept(&self) -> &'static str;
    /// Each item's id, in the answer's order.
    fn ids(&self, answer: &Answer<'_>) -> Result<Ids, ReadError>;
    /// The items with their ids (the same as [`Source::ids`] gives) and events.
    fn read(&self, answer: &Answer<'_>) -> Result<Items, ReadError>;
}

/// The source a `format` names (`items_path` and `id_path` serve JSON).
#[derive(Debug, Clone, Copy)]
pub enum AnySource<'a> {
    Json(Json<'a>),
    Rss,
    Atom,
    Auto(Auto<'a>),
}

impl<'a> AnySource<'a> {
    pub fn new(format: Format, items_path: &'a JsonPath, id_path: &'a JsonPath) -> Self {
        let json = Json {
            items_path,
            id_path,
        };
        match format {
            Format::Json => Self::Json(json),
            Format::Rss => Self::Rss,
            Format::Atom => Self::Atom,
            Format::Auto => Self::Auto(Auto { json }),
        }
    }
}

impl Source for AnySource<'_> {
    fn accept(&self) -> &'static str {
        match self {
            Self::Json(json) => json.accept(),
            Self::Rss => Rss.accept(),
            Self::Atom => Atom.accept(),
            Self::Auto(auto) => auto.accept(),
        }
    }

    fn ids(&self, answer: &Answer<'_>) -> Result<Ids, ReadError> {
        match self {
            Self::Json(json) => json.ids(answer),
            Self::Rss => Rss.ids(answer),
            Self::Atom => Atom.ids(answer),
            Self::Auto(auto) => auto.ids(answer),
        }
    }

    fn read(&self, answer: &Answer<'_>) -> Result<Items, ReadError> {
        match self {
            Self::Json(json) => json.read(answer),
            Self::Rss => Rss.read(answer),
            Self::Atom => Atom.read(answer),
            Self::Auto(auto) => auto.read(answer),
        }
    }
}

/// The `format` parameter: how an answer is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase", try_from = "Text")]
pub enum Format {
    Json,
    Rss,
    Atom,
    /// JSON, RSS or Atom, as each answer's body shows.
    Auto,
}

impl Format {
    pub const CHOICES: &'static str = "json, rss, atom, auto";

    pub fn parse(text: &str) -> Option<Self> {
        match text.trim().to_ascii_lowercase().as_str() {
            "json" => Some(Self::Json),
            "rss" => Some(Self::Rss),
            "atom" => Some(Self::Atom),
            "auto" => Some(Self::Auto),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Json => "json",
            Self::Rss => "rss",
            Self::Atom => "atom",
            Self::Auto => "auto",
        }
    }
}

impl TryFrom<Text> for Format {
    type Error = String;
    fn try_from(text: Text) -> Result<Self, String> {
        Self::parse(text.as_str())
            .ok_or_else(|| format!("{text:?} is not one of {}", Self::CHOICES))
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a body looks like, from its first characters and (for XML) its root element.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sniffed {
    Json,
    Xml,
    Other,
}

/// Tells JSON from XML by the first character that is not white space (after any byte order
/// mark): `{` or `[` is JSON, `<` (or a UTF-16 mark) XML.
pub fn sniff(body: &[u8]) -> Sniffed {
    if body.starts_with(b"\xFF\xFE") || body.starts_with(b"\xFE\xFF") {
        return Sniffed::Xml;
    }
    let body = body.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(body);
    match body.iter().find(|byte| !byte.is_ascii_whitespace()) {
        Some(b'{' | b'[') => Sniffed::Json,
        Some(b'<') => Sniffed::Xml,
        Some(0) => Sniffed::Xml,
        _ => Sniffed::Other,
    }
}

/// JSON, RSS or Atom, as each answer shows: by its Content-Type when that names one
/// (`application/json`, `*+json`, `application/rss+xml`, `application/atom+xml`), else by its
/// body (JSON starts with `{` or `[`, a feed with `<` and its root element says which).
#[derive(Debug, Clone, Copy)]
pub struct Auto<'a> {
    pub json: Json<'a>,
}

/// What [`Auto`] reads an answer as.
enum Detected {
    Json,
    Feed(Format),
}

impl Auto<'_> {
    fn detect(answer: &Answer<'_>) -> Result<Detected, ReadError> {
        let media_type = answer
            .content_type
            .and_then(|content_type| content_type.split(';').next())
            .map(|media_type| media_type.trim().to_ascii_lowercase())
            .unwrap_or_default();
        match media_type.as_str() {
            "application/json" => return Ok(Detected::Json),
            json if json.ends_with("+json") => return Ok(Detected::Json),
            "application/rss+xml" => return Ok(Detected::Feed(Format::Rss)),
            "application/atom+xml" => return Ok(Detected::Feed(Format::Atom)),
            _ => {}
        }
        match sniff(answer.body) {
            Sniffed::Json => Ok(Detected::Json),
            Sniffed::Xml => Ok(Detected::Feed(Format::Auto)),
            Sniffed::Other => Err(ReadError {
                parameter: "url",
                message: format!(
                    "the body{} is neither JSON nor an RSS or Atom feed{}",
                    content_type_note(answer),
                    quote(answer.body)
                ),
            }),
        }
    }
}

impl Source for Auto<'_> {
    fn accept(&self) -> &'static str {
        "application/json, application/rss+xml, application/atom+xml, application/xml;q=0.9, text/xml;q=0.9, */*;q=0.5"
    }

    fn ids(&self, answer: &Answer<'_>) -> Result<Ids, ReadError> {
        match Self::detect(answer)? {
            Detected::Json => self.json.ids(answer),
            Detected::Feed(format) => feed_ids(answer, format),
        }
    }

    fn read(&self, answer: &Answer<'_>) -> Result<Items, ReadError> {
        match Self::detect(answer)? {
            Detected::Json => self.json.read(answer),
            Detected::Feed(format) => read_feed(answer, format),
        }
    }
}

/// `: <start of the body>` on one line, or nothing for an empty body.
pub(crate) fn quote(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(&body[..body.len().min(4 * QUOTED_CHARS)]);
    let line: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(QUOTED_CHARS)
        .collect();
    let line = line.trim();
    if line.is_empty() {
        String::new()
    } else {
        format!(": {line}")
    }
}

/// How much of a body a message quotes.
const QUOTED_CHARS: usize = 200;

pub(crate) fn content_type_note(answer: &Answer<'_>) -> String {
    answer
        .content_type
        .map(|content_type| format!(" (Content-Type {})", content_type.trim()))
        .unwrap_or_default()
}

/// A reader's entries of a document fetched from `url`, for the readers' tests.
#[cfg(test)]
fn read_with(
    read: fn(&Document, &str) -> Result<Vec<Entry>, feed::FeedError>,
    body: &[u8],
    url: &str,
) -> Vec<Entry> {
    let document = Document::parse(body).expect("a well-formed document");
    match read(&document, url) {
        Ok(entries) => entries,
        Err(error) => panic!("not read: {error:?}"),
    }
}

/// The entries' ids, for the readers' tests.
#[cfg(test)]
fn ids(entries: &[Entry]) -> Vec<&str> {
    entries.iter().filter_map(|e| e.id.as_deref()).collect()
}

#[cfg(test)]
mod tests;
