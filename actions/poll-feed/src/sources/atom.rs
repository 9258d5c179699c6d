//! Atom 1.0 feeds (RFC 4287), read into [`Entry`] items.
//!
//! An entry is remembered by its `id` (which RFC 4287 says never changes), else its alternate
//! link: an entry edited in place keeps its identity and is not fired again. Links are resolved
//! against `xml:base` and the feed's URL; an entry without an author takes the feed's.

use super::date::normalize as date;
use super::entry::{Enclosure, Entry, resolve};
use super::feed::{FeedError, base_of, text_of};
use super::xml::{Document, Element};

const ATOM: &str = "http://www.w3.org/2005/Atom";
/// Atom 0.3, the 2003 draft RFC 4287 replaced.
const ATOM_03: &str = "http://purl.org/atom/ns#";

/// Whether a root element is an Atom feed's.
pub fn is_atom(root: &Element) -> bool {
    root.name == "feed" && matches!(&*root.namespace, ATOM | "" | ATOM_03)
}

/// The entries of an Atom document and their base URLs.
fn feed<'d>(document: &'d Document, url: &str) -> Result<Vec<(&'d Element, String)>, FeedError> {
    let root = &document.root;
    if !is_atom(root) {
        return Err(FeedError::NotThisFormat);
    }
    if &*root.namespace == ATOM_03 {
        return Err(FeedError::Unreadable(format!(
            "the feed is Atom 0.3 (namespace {ATOM_03}), the draft Atom 1.0 replaced in 2005; \
             ask the publisher for Atom 1.0 or RSS"
        )));
    }
    // Atom 1.0, or the same elements without the namespace (sloppy, but unambiguous).
    let base = base_of(url, root);
    Ok(root
        .children_named(&root.namespace, "entry")
        .map(|entry| (entry, base_of(&base, entry)))
        .collect())
}

/// Each entry's id, in the feed's order.
pub fn ids(document: &Document, url: &str) -> Result<Vec<Option<String>>, FeedError> {
    let ns = &*document.root.namespace;
    Ok(feed(document, url)?
        .iter()
        .map(|(entry, base)| id(entry, ns, &links(entry, ns, base)))
        .collect())
}

/// The entries of an Atom document fetched from `url`, in the feed's order.
pub fn entries(document: &Document, url: &str) -> Result<Vec<Entry>, FeedError> {
    let root = &document.root;
    let ns = &*root.namespace;
    let feed_author = author(root, ns);
    Ok(feed(document, url)?
        .iter()
        .map(|(element, base)| entry(document, element, ns, base, feed_author.as_deref()))
        .collect())
}

/// An entry's links: relation, absolute href, the element.
fn links<'e>(element: &'e Element, ns: &'e str, base: &str) -> Vec<(&'e str, String, &'e Element)> {
    element
        .children_named(ns, "link")
        .filter_map(|link| {
            let href = link.attribute("href")?;
            let rel = link.attribute("rel").map_or("alternate", str::trim);
            Some((rel, resolve(&base_of(base, link), href), link))
        })
        .collect()
}

/// The entry's alternate link (an HTML one first).
fn alternate(links: &[(&str, String, &Element)]) -> Option<String> {
    links
        .iter()
        .find(|(rel, _, link)| {
            *rel == "alternate" && link.attribute("type").is_none_or(|t| t.contains("html"))
        })
        .or_else(|| links.iter().find(|(rel, _, _)| *rel == "alternate"))
        .map(|(_, href, _)| href.clone())
}

/// What an entry is known by: its id, else its alternate link.
fn id(element: &Element, ns: &str, links: &[(&str, String, &Element)]) -> Option<String> {
    element
        .child(ns, "id")
        .and_then(Element::trimmed_text)
        .map(str::to_owned)
        .or_else(|| alternate(links))
}

fn entry(
    document: &Document,
    element: &Element,
    ns: &str,
    base: &str,
    feed_author: Option<&str>,
) -> Entry {
    let field = |name: &str| element.child(ns, name).and_then(|e| text(document, e));
    let links = links(element, ns, base);
    Entry {
        id: id(element, ns, &links),
        title: field("title"),
        link: alternate(&links),
        published: element
            .child(ns, "published")
            .and_then(Element::trimmed_text)
            .map(date),
        updated: element
            .child(ns, "updated")
            .and_then(Element::trimmed_text)
            .map(date),
        summary: field("summary"),
        // Content given by reference (`src`) is not fetched: the item is described by the rest.
        content: element
            .child(ns, "content")
            .filter(|content| content.attribute("src").is_none())
            .and_then(|content| text(document, content)),
        author: author(element, ns)
            .or_else(|| {
                element
                    .child(ns, "source")
                    .and_then(|source| author(source, ns))
            })
            .or_else(|| feed_author.map(str::to_owned)),
        categories: element
            .children_named(ns, "category")
            .filter_map(|category| {
                category
                    .attribute("term")
                    .or_else(|| category.attribute("label"))
            })
            .map(|term| term.trim().to_owned())
            .filter(|term| !term.is_empty())
            .collect(),
        enclosures: links
            .iter()
            .filter(|(rel, _, _)| *rel == "enclosure")
            .map(|(_, href, link)| Enclosure {
                url: href.clone(),
                media_type: link.attribute("type").map(|t| t.trim().to_owned()),
                length: link
                    .attribute("length")
                    .and_then(|length| length.trim().parse().ok()),
            })
            .collect(),
    }
}

/// An Atom text construct: text or escaped HTML as written; XHTML as the markup inside its
/// wrapping `div`.
fn text(document: &Document, element: &Element) -> Option<String> {
    if element.attribute("type").map(str::trim) == Some("xhtml") {
        let inner = element
            .children
            .iter()
            .find(|child| child.name == "div")
            .unwrap_or(element);
        let markup = inner.inner_markup(document).trim();
        return (!markup.is_empty()).then(|| markup.to_owned());
    }
    text_of(document, element)
}

/// The first author's name (or email, when it has no name).
fn author(element: &Element, ns: &str) -> Option<String> {
    element.children_named(ns, "author").find_map(|author| {
        author
            .child(ns, "name")
            .or_else(|| author.child(ns, "email"))
            .and_then(Element::trimmed_text)
            .map(str::to_owned)
    })
}

#[cfg(test)]
mod tests;
