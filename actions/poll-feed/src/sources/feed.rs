//! What RSS and Atom share: reading the document, telling which feed it is, the errors about a
//! body that is not the feed asked for, and the items' ids apart from their events.

use super::xml::{self, Document};
use super::{Answer, Format, Ids, Items, ReadError, Sniffed, Source, SourceItem, atom, entry, rss};
use super::{content_type_note, sniff};

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

    fn ids(&self, answer: &Answer<'_>) -> Result<Ids, ReadError> {
        feed_ids(answer, Format::Rss)
    }

    fn read(&self, answer: &Answer<'_>) -> Result<Items, ReadError> {
        read_feed(answer, Format::Rss)
    }
}

impl Source for Atom {
    fn accept(&self) -> &'static str {
        "application/atom+xml, application/xml;q=0.8, text/xml;q=0.8, */*;q=0.5"
    }

    fn ids(&self, answer: &Answer<'_>) -> Result<Ids, ReadError> {
        feed_ids(answer, Format::Atom)
    }

    fn read(&self, answer: &Answer<'_>) -> Result<Items, ReadError> {
        read_feed(answer, Format::Atom)
    }
}

/// Why a feed reader gave up on a document.
#[derive(Debug)]
pub(crate) enum FeedError {
    /// The root element is another format's.
    NotThisFormat,
    Unreadable(String),
}

/// Which feed a document is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Rss,
    Atom,
}

/// Reads an answer's document and tells which feed it is: `format` RSS or Atom, or either
/// (any other format).
fn document(answer: &Answer<'_>, format: Format) -> Result<(Document, Kind), ReadError> {
    let document = Document::parse(answer.body)
        .map_err(|error| unreadable(format!("{}{error}", not_a_feed_start(answer, format))))?;
    let root = &document.root;
    let kind = match format {
        Format::Rss if rss::is_rss(root) => Kind::Rss,
        Format::Atom if atom::is_atom(root) => Kind::Atom,
        Format::Json | Format::Auto if rss::is_rss(root) => Kind::Rss,
        Format::Json | Format::Auto if atom::is_atom(root) => Kind::Atom,
        _ => return Err(wrong_root(answer, format, root)),
    };
    Ok((document, kind))
}

fn unreadable(message: String) -> ReadError {
    ReadError {
        parameter: "url",
        message,
    }
}

fn read_error(
    error: FeedError,
    answer: &Answer<'_>,
    format: Format,
    root: &xml::Element,
) -> ReadError {
    match error {
        FeedError::Unreadable(message) => unreadable(message),
        FeedError::NotThisFormat => wrong_root(answer, format, root),
    }
}

/// Each item's id of an XML feed (see [`read_feed`]).
pub fn feed_ids(answer: &Answer<'_>, format: Format) -> Result<Ids, ReadError> {
    let (document, kind) = document(answer, format)?;
    let ids = match kind {
        Kind::Rss => rss::ids(&document, answer.url),
        Kind::Atom => atom::ids(&document, answer.url),
    }
    .map_err(|error| read_error(error, answer, format, &document.root))?;
    let with_id = ids.iter().flatten().count();
    some_ids(kind, with_id, ids.len() - with_id)?;
    Ok(Ids {
        ids,
        notes: document.notes,
    })
}

/// Reads an answer as an XML feed: `format` RSS or Atom, or either ([`Format::Auto`]).
pub fn read_feed(answer: &Answer<'_>, format: Format) -> Result<Items, ReadError> {
    let (document, kind) = document(answer, format)?;
    let entries = match kind {
        Kind::Rss => rss::entries(&document, answer.url),
        Kind::Atom => atom::entries(&document, answer.url),
    }
    .map_err(|error| read_error(error, answer, format, &document.root))?;
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
    some_ids(kind, items.items.len(), items.without_id)?;
    Ok(items)
}

/// A feed whose items all lack ids is of no use: refused by name.
fn some_ids(kind: Kind, with_id: usize, without_id: usize) -> Result<(), ReadError> {
    if with_id > 0 || without_id == 0 {
        return Ok(());
    }
    let ids = match kind {
        Kind::Atom => "an id or a link",
        Kind::Rss => "a guid or a link",
    };
    Err(unreadable(format!(
        "none of the feed's {without_id} items has {ids}, so they cannot be told apart"
    )))
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
