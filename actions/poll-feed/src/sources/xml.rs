//! An XML feed document read into a small tree the RSS and Atom readers walk.
//!
//! quick-xml does the reading and the well-formedness checks; this module decides what a hostile
//! or sloppy document does to us:
//! - Bytes become text first ([`decode`]): UTF-8 (invalid sequences replaced by U+FFFD, with a
//!   note), UTF-16 by byte order mark, ISO-8859-1 / windows-1252 / US-ASCII as declared; any
//!   other declared encoding is refused by name.
//! - A DTD is skipped, never read: entities it declares stay as written (`&lol9;`), so entity
//!   expansion ("billion laughs") and external entities cannot happen. XML's five predefined
//!   entities and character references are resolved.
//! - Depth and size are bounded: elements nested deeper than [`MAX_DEPTH`] are an error; below
//!   [`KEPT_DEPTH`] elements are not kept as nodes (their markup stays reachable through the
//!   parent's [`Element::inner_markup`]), and at most [`MAX_ELEMENTS`] nodes are kept.
//! - Names are namespace-resolved: an element is known by its namespace URI and local name,
//!   whatever prefix the document gives it.

use std::borrow::Cow;
use std::fmt;
use std::ops::Range;
use std::rc::Rc;

use quick_xml::NsReader;
use quick_xml::events::{BytesStart, Event};
use quick_xml::name::ResolveResult;

/// Deeper nesting than this is refused: feeds are a few levels deep, even with XHTML content.
pub const MAX_DEPTH: usize = 256;
/// Elements deeper than this (the root is 1) are not kept as nodes: item fields sit at depth 4
/// in RSS (`rss/channel/item/title`), 3 in Atom, and their own parts one or two below.
pub const KEPT_DEPTH: usize = 7;
/// The most element nodes kept; a feed of 10,000 items with 30 fields each fits.
pub const MAX_ELEMENTS: usize = 400_000;

/// Why a document could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct XmlError(String);

impl fmt::Display for XmlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for XmlError {}

/// A document's text, and what decoding it had to repair.
#[derive(Debug)]
pub struct Decoded<'a> {
    pub text: Cow<'a, str>,
    pub notes: Vec<String>,
}

/// Turns the body's bytes into text, by byte order mark, else by the XML declaration's
/// `encoding` (UTF-8 when there is none).
pub fn decode(body: &[u8]) -> Result<Decoded<'_>, XmlError> {
    if let Some(rest) = body.strip_prefix(b"\xEF\xBB\xBF") {
        return Ok(utf8(rest));
    }
    if let Some(rest) = body.strip_prefix(b"\xFF\xFE") {
        return utf16(rest, u16::from_le_bytes);
    }
    if let Some(rest) = body.strip_prefix(b"\xFE\xFF") {
        return utf16(rest, u16::from_be_bytes);
    }
    // UTF-16 without a byte order mark still starts with `<` and a zero byte (XML appendix F).
    if body.starts_with(b"<\0") {
        return utf16(body, u16::from_le_bytes);
    }
    if body.starts_with(b"\0<") {
        return utf16(body, u16::from_be_bytes);
    }
    match declared_encoding(body).as_deref() {
        None | Some("utf-8" | "utf8" | "unicode-1-1-utf-8") => Ok(utf8(body)),
        // Declared UTF-16 but written in single bytes (no mark, no zero bytes): read as is.
        Some("utf-16" | "utf-16le" | "utf-16be") => Ok(utf8(body)),
        // As browsers do (WHATWG Encoding), Latin-1 and ASCII labels mean windows-1252.
        Some(
            "iso-8859-1" | "iso8859-1" | "latin1" | "l1" | "iso_8859-1" | "cp819" | "us-ascii"
            | "ascii" | "windows-1252" | "cp1252" | "x-cp1252",
        ) => Ok(Decoded {
            text: Cow::Owned(body.iter().map(|&byte| windows_1252(byte)).collect()),
            notes: Vec::new(),
        }),
        Some(other) => Err(XmlError(format!(
            "the feed is encoded in {other:?}, which the poller cannot read (it reads UTF-8, \
             UTF-16, ISO-8859-1 and windows-1252); ask the publisher for a UTF-8 feed"
        ))),
    }
}

fn utf8(body: &[u8]) -> Decoded<'_> {
    match String::from_utf8_lossy(body) {
        Cow::Borrowed(text) => Decoded {
            text: Cow::Borrowed(text),
            notes: Vec::new(),
        },
        Cow::Owned(text) => {
            // U+FFFD the document holds itself, properly encoded, are not repairs.
            let written = body
                .windows(3)
                .filter(|w| *w == "\u{FFFD}".as_bytes())
                .count();
            let repaired = text.matches('\u{FFFD}').count().saturating_sub(written);
            Decoded {
                text: Cow::Owned(text),
                notes: vec![format!(
                    "the feed is not valid UTF-8: {repaired} malformed byte sequences were read \
                     as U+FFFD"
                )],
            }
        }
    }
}

fn utf16(body: &[u8], unit: fn([u8; 2]) -> u16) -> Result<Decoded<'_>, XmlError> {
    let units = body.chunks_exact(2).map(|pair| unit([pair[0], pair[1]]));
    let mut text = String::with_capacity(body.len() / 2);
    let mut replaced = 0;
    for decoded in char::decode_utf16(units) {
        text.push(decoded.unwrap_or_else(|_| {
            replaced += 1;
            '\u{FFFD}'
        }));
    }
    let notes = if replaced > 0 || body.len() % 2 == 1 {
        vec![format!(
            "the feed is not valid UTF-16: {} malformed sequences were read as U+FFFD",
            replaced + body.len() % 2
        )]
    } else {
        Vec::new()
    };
    Ok(Decoded {
        text: Cow::Owned(text),
        notes,
    })
}

/// The `encoding` of an XML declaration at the very start, lower-cased.
fn declared_encoding(body: &[u8]) -> Option<String> {
    let declaration = body.strip_prefix(b"<?xml")?;
    let end = declaration.iter().take(512).position(|&b| b == b'>')?;
    let declaration = std::str::from_utf8(&declaration[..end]).ok()?;
    let (_, after) = declaration.split_once("encoding")?;
    let after = after.trim_start().strip_prefix('=')?.trim_start();
    let quote = after.chars().next().filter(|c| *c == '"' || *c == '\'')?;
    let value = after[1..].split(quote).next()?;
    Some(value.trim().to_ascii_lowercase())
}

/// One byte of windows-1252 (a superset of ISO-8859-1's printable characters).
fn windows_1252(byte: u8) -> char {
    const HIGH: [u16; 32] = [
        0x20AC, 0x0081, 0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021, 0x02C6, 0x2030, 0x0160,
        0x2039, 0x0152, 0x008D, 0x017D, 0x008F, 0x0090, 0x2018, 0x2019, 0x201C, 0x201D, 0x2022,
        0x2013, 0x2014, 0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0x009D, 0x017E, 0x0178,
    ];
    match byte {
        0x80..=0x9F => {
            char::from_u32(u32::from(HIGH[usize::from(byte - 0x80)])).unwrap_or('\u{FFFD}')
        }
        other => char::from(other),
    }
}

/// An attribute, by namespace (empty: none) and local name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attribute {
    pub namespace: Rc<str>,
    pub name: String,
    pub value: String,
}

/// An element of the tree.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Element {
    /// The namespace URI, empty when the element is in no namespace (shared: a feed has a few).
    pub namespace: Rc<str>,
    pub name: String,
    pub attributes: Vec<Attribute>,
    /// The kept child elements, in document order.
    pub children: Vec<Element>,
    /// The element's own text (text and CDATA directly inside it, references resolved).
    pub text: String,
    /// Whether any child element was there (kept or not).
    pub has_child_elements: bool,
    /// Where the element's content (between its tags) sits in the document's text.
    content: Range<usize>,
}

impl Element {
    /// Whether this is `name` in `namespace` (empty: no namespace).
    pub fn is(&self, namespace: &str, name: &str) -> bool {
        self.name == name && &*self.namespace == namespace
    }

    /// The first child `name` in `namespace`.
    pub fn child(&self, namespace: &str, name: &str) -> Option<&Element> {
        self.children.iter().find(|child| child.is(namespace, name))
    }

    /// Every child `name` in `namespace`.
    pub fn children_named<'a>(
        &'a self,
        namespace: &'a str,
        name: &'a str,
    ) -> impl Iterator<Item = &'a Element> + 'a {
        self.children
            .iter()
            .filter(move |child| child.is(namespace, name))
    }

    /// An attribute in no namespace.
    pub fn attribute(&self, name: &str) -> Option<&str> {
        self.attribute_in("", name)
    }

    /// An attribute in `namespace`.
    pub fn attribute_in(&self, namespace: &str, name: &str) -> Option<&str> {
        self.attributes
            .iter()
            .find(|a| a.name == name && &*a.namespace == namespace)
            .map(|a| a.value.as_str())
    }

    /// The element's text, trimmed; `None` when empty.
    pub fn trimmed_text(&self) -> Option<&str> {
        Some(self.text.trim()).filter(|text| !text.is_empty())
    }

    /// The markup between the element's tags, as written (for HTML written as elements, as
    /// Atom's `type="xhtml"` content is).
    pub fn inner_markup<'d>(&self, document: &'d Document) -> &'d str {
        document.text.get(self.content.clone()).unwrap_or_default()
    }
}

/// A read document: its text and its root element.
#[derive(Debug)]
pub struct Document {
    text: String,
    pub root: Element,
    /// What reading had to repair (undecodable bytes), for the poll's report.
    pub notes: Vec<String>,
}

impl Document {
    /// Decodes and reads a document.
    pub fn parse(body: &[u8]) -> Result<Document, XmlError> {
        let Decoded { text, notes } = decode(body)?;
        let text = text.into_owned();
        let root = read_tree(&text)?;
        Ok(Document { text, root, notes })
    }
}

/// An element being read, not yet closed.
struct Open {
    /// The name as written, for a document that ends before the element does.
    written_name: String,
    element: Element,
    /// Whether it is kept as a node (above [`KEPT_DEPTH`]).
    kept: bool,
}

fn read_tree(text: &str) -> Result<Element, XmlError> {
    let mut reader = NsReader::from_str(text);
    let config = reader.config_mut();
    config.expand_empty_elements = true;
    config.check_end_names = true;
    let mut open: Vec<Open> = Vec::new();
    let mut namespaces = Namespaces::default();
    let mut root: Option<Element> = None;
    let mut kept = 0usize;
    loop {
        let before = reader.buffer_position() as usize;
        let event = match reader.read_event() {
            Ok(event) => event,
            Err(error) => {
                return Err(not_well_formed(
                    text,
                    reader.error_position() as usize,
                    &error,
                ));
            }
        };
        match event {
            Event::Start(start) => {
                if root.is_some() {
                    return Err(XmlError(format!(
                        "the document has a second root element <{}> at {}, after the first \
                         ended; a feed has one",
                        start.name().as_ref(),
                        position(text, before)
                    )));
                }
                if open.len() >= MAX_DEPTH {
                    return Err(XmlError(format!(
                        "the document nests elements more than {MAX_DEPTH} deep (at {}); feeds \
                         are a few levels deep, so this is not a feed",
                        position(text, before)
                    )));
                }
                if let Some(parent) = open.last_mut() {
                    parent.element.has_child_elements = true;
                }
                let keep = open.len() < KEPT_DEPTH && open.last().is_none_or(|parent| parent.kept);
                if keep {
                    kept += 1;
                    if kept > MAX_ELEMENTS {
                        return Err(XmlError(format!(
                            "the document has more than {MAX_ELEMENTS} elements; ask the source \
                             for a shorter page"
                        )));
                    }
                }
                let element = if keep {
                    let (resolved, _) = reader.resolver().resolve_element(start.name());
                    let namespace = namespaces.of(&resolved);
                    let start_at = reader.buffer_position() as usize;
                    Element {
                        namespace,
                        name: start.local_name().as_ref().to_owned(),
                        attributes: attributes(&reader, &mut namespaces, &start, text, before)?,
                        content: start_at..start_at,
                        ..Element::default()
                    }
                } else {
                    Element::default()
                };
                open.push(Open {
                    written_name: start.name().as_ref().to_owned(),
                    element,
                    kept: keep,
                });
            }
            Event::End(_) => {
                let Some(mut closed) = open.pop() else {
                    continue;
                };
                if !closed.kept {
                    continue;
                }
                closed.element.content.end = before;
                match open.last_mut() {
                    Some(parent) if parent.kept => parent.element.children.push(closed.element),
                    Some(_) => {}
                    None => root = Some(closed.element),
                }
            }
            Event::Text(content) => {
                push_text(&mut open, &content.xml10_content(), text, before)?;
            }
            Event::CData(content) => push_text(&mut open, &content.xml10_content(), text, before)?,
            Event::GeneralRef(reference) => {
                let resolved = match reference.resolve_char_ref() {
                    Ok(Some(c)) => Cow::Owned(c.to_string()),
                    Ok(None) => match quick_xml::escape::resolve_predefined_entity(&reference) {
                        Some(predefined) => Cow::Borrowed(predefined),
                        // An entity only a DTD could define: left as written, never expanded.
                        None => Cow::Owned(format!("&{};", &*reference)),
                    },
                    Err(_) => {
                        return Err(XmlError(format!(
                            "the document has an invalid character reference &{}; at {}",
                            shortened(&reference),
                            position(text, before)
                        )));
                    }
                };
                push_text(&mut open, &resolved, text, before)?;
            }
            Event::Eof => {
                if let Some(innermost) = open.last() {
                    return Err(XmlError(format!(
                        "the document ends before `</{}>` (at {}): it is cut short",
                        innermost.written_name,
                        position(text, text.len())
                    )));
                }
                break;
            }
            // Declarations, DTDs (never read), comments and processing instructions say nothing
            // about the items.
            Event::Empty(_)
            | Event::Decl(_)
            | Event::PI(_)
            | Event::DocType(_)
            | Event::Comment(_) => {}
        }
    }
    root.ok_or_else(|| {
        XmlError(if text.trim().is_empty() {
            "the body is empty".to_owned()
        } else {
            format!("the body has no XML element{}", quote_start(text))
        })
    })
}

fn push_text(open: &mut [Open], content: &str, text: &str, at: usize) -> Result<(), XmlError> {
    match open.last_mut() {
        Some(current) => {
            if current.kept {
                current.element.text.push_str(content);
            }
            Ok(())
        }
        None if content.trim().is_empty() => Ok(()),
        None => Err(XmlError(format!(
            "the body has text outside any element at {}{}",
            position(text, at),
            quote_start(text)
        ))),
    }
}

/// The namespace URIs seen, each kept once.
#[derive(Default)]
struct Namespaces(Vec<Rc<str>>);

impl Namespaces {
    fn of(&mut self, resolved: &ResolveResult<'_>) -> Rc<str> {
        let uri = match resolved {
            ResolveResult::Bound(namespace) => namespace.as_ref(),
            // An undeclared prefix: no namespace a reader could recognise.
            ResolveResult::Unbound | ResolveResult::Unknown(_) => "",
        };
        if let Some(known) = self.0.iter().find(|known| &***known == uri) {
            return Rc::clone(known);
        }
        let new: Rc<str> = Rc::from(uri);
        self.0.push(Rc::clone(&new));
        new
    }
}

fn attributes(
    reader: &NsReader<&[u8]>,
    namespaces: &mut Namespaces,
    start: &BytesStart<'_>,
    text: &str,
    at: usize,
) -> Result<Vec<Attribute>, XmlError> {
    let mut attributes = Vec::new();
    // A repeated attribute is not worth refusing a feed for: the first one counts.
    for attribute in start.attributes().with_checks(false) {
        let attribute = attribute.map_err(|error| {
            XmlError(format!(
                "the document has a malformed attribute at {}: {error}",
                position(text, at)
            ))
        })?;
        if attribute.key.as_namespace_binding().is_some() {
            continue;
        }
        let (resolved, local) = reader.resolver().resolve_attribute(attribute.key);
        let value = attribute
            .normalized_value(quick_xml::XmlVersion::Implicit1_0)
            .map(Cow::into_owned)
            // Entities only a DTD could define stay as written.
            .unwrap_or_else(|_| attribute.value.clone().into_owned());
        attributes.push(Attribute {
            namespace: namespaces.of(&resolved),
            name: local.as_ref().to_owned(),
            value,
        });
    }
    Ok(attributes)
}

fn not_well_formed(text: &str, at: usize, error: &quick_xml::Error) -> XmlError {
    use quick_xml::name::NamespaceError;
    let detail = match error {
        quick_xml::Error::Namespace(NamespaceError::TooManyBindings(limit)) => {
            format!("more than {limit} namespace declarations are in scope")
        }
        quick_xml::Error::Namespace(NamespaceError::TooDeeplyNested(_)) => {
            format!("elements are nested more than {MAX_DEPTH} deep")
        }
        other => other.to_string(),
    };
    XmlError(format!(
        "the document is not well-formed XML at {}: {detail}{}",
        position(text, at),
        quote_start(text)
    ))
}

/// `line L, column C` of a byte offset (columns in characters).
pub fn position(text: &str, at: usize) -> String {
    let mut at = at.min(text.len());
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    let before = &text[..at];
    let line = before.matches('\n').count() + 1;
    let column = before
        .rsplit('\n')
        .next()
        .unwrap_or_default()
        .chars()
        .count()
        + 1;
    format!("line {line}, column {column}")
}

/// ` (the body starts with "...")`, to show what was served instead of a feed.
pub fn quote_start(text: &str) -> String {
    let start: String = text
        .trim_start_matches('\u{FEFF}')
        .trim_start()
        .chars()
        .take(60)
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if start.is_empty() {
        String::new()
    } else {
        format!(" (the body starts with {start:?})")
    }
}

fn shortened(text: &str) -> String {
    text.chars().take(20).collect()
}

#[cfg(test)]
mod tests;
