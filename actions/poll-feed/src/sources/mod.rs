//! What a polled source's answer holds: the [`Source`] trait and its formats.
//!
//! The poller is the same for every format: it asks with a conditional GET, keeps the seen set,
//! fires and records. A [`Source`] is the one part that differs: what to ask for (`Accept`) and
//! how an answer's body becomes items, each with the id it is remembered by and the event it
//! fires as. Each format is one file: `json` (a list at a JSON path), `rss` (RSS 2.0 / 1.0),
//! `atom` (Atom 1.0); `xml` is the hardened XML reading the feeds share, `entry` their event
//! shape and `date` their dates. [`Auto`] picks one per answer.

mod atom;
mod date;
mod entry;
mod json;
mod rss;
mod xml;

use std::fmt;

use serde_json::Value;

use crate::path::JsonPath;
pub use entry::{Enclosure, Entry};
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
    /// The items of one answer.
    fn read(&self, answer: &Answer<'_>) -> Result<Items, ReadError>;
    /// The id this source gives an item it fired as `event` (to carry a position over when the
    /// way ids are read changes).
    fn id_of(&self, event: &Value) -> Option<String> {
        event.get("id").and_then(Value::as_str).map(str::to_owned)
    }
}

/// The source for a `format` (`items_path` and `id_path` serve JSON).
pub fn source<'a>(
    format: Format,
    items_path: &'a JsonPath,
    id_path: &'a JsonPath,
) -> Box<dyn Source + 'a> {
    let json = Json {
        items_path,
        id_path,
    };
    match format {
        Format::Json => Box::new(json),
        Format::Rss => Box::new(Rss),
        Format::Atom => Box::new(Atom),
        Format::Auto => Box::new(Auto { json }),
    }
}

/// The `format` parameter: how an answer is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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

/// RSS 2.0 and 1.0 feeds.
#[derive(Debug, Clone, Copy, Default)]
pub struct Rss;

/// Atom 1.0 feeds.
#[derive(Debug, Clone, Copy, Default)]
pub struct Atom;

impl Source for Rss {
    fn accept(&self) -> &'static str {
        "application/rss+xml, application/rdf+xml;q=0.9, application/xml;q=0.8, text/xml;q=0.8, */*;q=0.5"
    }

    fn read(&self, answer: &Answer<'_>) -> Result<Items, ReadError> {
        read_feed(answer, Format::Rss)
    }
}

impl Source for Atom {
    fn accept(&self) -> &'static str {
        "application/atom+xml, application/xml;q=0.8, text/xml;q=0.8, */*;q=0.5"
    }

    fn read(&self, answer: &Answer<'_>) -> Result<Items, ReadError> {
        read_feed(answer, Format::Atom)
    }
}

/// JSON, RSS or Atom, as each answer shows: by its Content-Type when that names one
/// (`application/json`, `*+json`, `application/rss+xml`, `application/atom+xml`), else by its
/// body (JSON starts with `{` or `[`, a feed with `<` and its root element says which).
#[derive(Debug, Clone, Copy)]
pub struct Auto<'a> {
    pub json: Json<'a>,
}

impl Source for Auto<'_> {
    fn accept(&self) -> &'static str {
        "application/json, application/rss+xml, application/atom+xml, application/xml;q=0.9, text/xml;q=0.9, */*;q=0.5"
    }

    fn read(&self, answer: &Answer<'_>) -> Result<Items, ReadError> {
        let media_type = answer
            .content_type
            .and_then(|content_type| content_type.split(';').next())
            .map(|media_type| media_type.trim().to_ascii_lowercase())
            .unwrap_or_default();
        match media_type.as_str() {
            "application/json" => return self.json.read(answer),
            json if json.ends_with("+json") => return self.json.read(answer),
            "application/rss+xml" => return read_feed(answer, Format::Rss),
            "application/atom+xml" => return read_feed(answer, Format::Atom),
            _ => {}
        }
        match sniff(answer.body) {
            Sniffed::Json => self.json.read(answer),
            Sniffed::Xml => read_feed(answer, Format::Auto),
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

    fn id_of(&self, event: &Value) -> Option<String> {
        self.json.id_of(event)
    }
}

/// Why a feed reader gave up on a document.
#[derive(Debug)]
pub(crate) enum FeedError {
    /// The root element is another format's.
    NotThisFormat,
    Unreadable(String),
}

/// Reads an answer as an XML feed: `format` RSS or Atom, or either ([`Format::Auto`]).
pub fn read_feed(answer: &Answer<'_>, format: Format) -> Result<Items, ReadError> {
    let unreadable = |message: String| ReadError {
        parameter: "url",
        message,
    };
    let document = Document::parse(answer.body)
        .map_err(|error| unreadable(format!("{}{error}", not_a_feed_start(answer, format))))?;
    let root = &document.root;
    let read = match format {
        Format::Rss => rss::entries(&document, answer.url),
        Format::Atom => atom::entries(&document, answer.url),
        _ if rss::is_rss(root) => rss::entries(&document, answer.url),
        _ => atom::entries(&document, answer.url),
    };
    let entries = match read {
        Ok(entries) => entries,
        Err(FeedError::Unreadable(message)) => return Err(unreadable(message)),
        Err(FeedError::NotThisFormat) => return Err(wrong_root(answer, format, root)),
    };
    let mut items = Items {
        notes: document.notes.clone(),
        ..Items::default()
    };
    for entry in entries {
        match entry.id.clone() {
            Some(id) => items.items.push(SourceItem {
                id,
                event: entry.to_event(),
            }),
            None => items.without_id += 1,
        }
    }
    if items.items.is_empty() && items.without_id > 0 {
        let ids = if atom::is_atom(root) {
            "an id or a link"
        } else {
            "a guid or a link"
        };
        return Err(unreadable(format!(
            "none of the feed's {} items has {ids}, so they cannot be told apart",
            items.without_id
        )));
    }
    Ok(items)
}

/// The start of a message about a body that is not XML: what it is instead.
fn not_a_feed_start(answer: &Answer<'_>, format: Format) -> String {
    let what = match format {
        Format::Rss => "an RSS feed",
        Format::Atom => "an Atom feed",
        _ => "an RSS or Atom feed",
    };
    match sniff(answer.body) {
        Sniffed::Json => format!(
            "the body is JSON{}, not {what}: set `format` to json (or auto); ",
            content_type_note(answer)
        ),
        Sniffed::Xml => format!("the feed{} could not be read: ", content_type_note(answer)),
        Sniffed::Other => format!(
            "the body{} is not XML, so not {what}: ",
            content_type_note(answer)
        ),
    }
}

fn wrong_root(answer: &Answer<'_>, format: Format, root: &xml::Element) -> ReadError {
    let (what, advice) = match format {
        Format::Rss if atom::is_atom(root) => (
            "an RSS feed",
            "it is an Atom feed: set `format` to atom (or auto)",
        ),
        Format::Atom if rss::is_rss(root) => (
            "an Atom feed",
            "it is an RSS feed: set `format` to rss (or auto)",
        ),
        Format::Rss => (
            "an RSS feed",
            "an RSS feed's is <rss> (or RSS 1.0's <rdf:RDF>)",
        ),
        Format::Atom => ("an Atom feed", "an Atom feed's is <feed>"),
        _ => (
            "an RSS or Atom feed",
            "a feed's is <rss>, <rdf:RDF> or <feed>",
        ),
    };
    let namespace = if root.namespace.is_empty() {
        String::new()
    } else {
        format!(" in namespace {}", root.namespace)
    };
    ReadError {
        parameter: if matches!(format, Format::Rss | Format::Atom)
            && (atom::is_atom(root) || rss::is_rss(root))
        {
            "format"
        } else {
            "url"
        },
        message: format!(
            "the body{} is not {what}: its root element is <{}>{namespace}; {advice}",
            content_type_note(answer),
            root.name
        ),
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

/// An element's base URL: its `xml:base` resolved against the parent's.
pub(crate) fn base_of(parent: &str, element: &xml::Element) -> String {
    match element.attribute_in("http://www.w3.org/XML/1998/namespace", "base") {
        Some(base) => entry::resolve(parent, base),
        None => parent.to_owned(),
    }
}

/// An element's text, trimmed: its own text, or the markup inside it when it has elements
/// (HTML written unescaped into an RSS description). `None` when empty.
pub(crate) fn text_of(document: &Document, element: &xml::Element) -> Option<String> {
    let text = if element.has_child_elements {
        element.inner_markup(document).trim()
    } else {
        element.text.trim()
    };
    (!text.is_empty()).then(|| text.to_owned())
}

/// A reader's entries of a document fetched from `url`, for the readers' tests.
#[cfg(test)]
fn read_with(
    read: fn(&Document, &str) -> Result<Vec<Entry>, FeedError>,
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
