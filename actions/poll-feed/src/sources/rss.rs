//! RSS feeds: RSS 2.0 (and the 0.9x it grew from, which have the same shape) and RSS 1.0
//! (RDF), read into [`Entry`] items.
//!
//! An item is remembered by its `guid`, else (RSS 1.0) its `rdf:about`, else its `link`: an
//! item edited in place keeps its identity and is not fired again. The common extension
//! namespaces fill in what RSS itself lacks: `content:encoded` (full content), `dc:creator`,
//! `dc:date`, `dc:subject`, `atom:updated` and `itunes:author` (an item without an author takes
//! the channel's `itunes:author` or `dc:creator`).

use super::date::normalize as date;
use super::entry::{Enclosure, Entry, resolve};
use super::feed::{FeedError, base_of, text_of};
use super::xml::{Document, Element};

const RSS_090: &str = "http://my.netscape.com/rdf/simple/0.9/";
const RSS_10: &str = "http://purl.org/rss/1.0/";
const RDF: &str = "http://www.w3.org/1999/02/22-rdf-syntax-ns#";
const CONTENT: &str = "http://purl.org/rss/1.0/modules/content/";
const DC: &str = "http://purl.org/dc/elements/1.1/";
const ATOM: &str = "http://www.w3.org/2005/Atom";
const ITUNES: &str = "http://www.itunes.com/dtds/podcast-1.0.dtd";

/// Whether a root element is an RSS feed's.
pub fn is_rss(root: &Element) -> bool {
    root.is("", "rss") || root.is(RDF, "RDF")
}

/// The items of an RSS document: where they sit, their base URLs, the channel's author.
struct Channel<'d> {
    /// The namespace of RSS's own elements (none for RSS 2.0).
    namespace: &'static str,
    items: Vec<(&'d Element, String)>,
    author: Option<&'d str>,
}

fn channel<'d>(document: &'d Document, url: &str) -> Result<Channel<'d>, FeedError> {
    let root = &document.root;
    if !is_rss(root) {
        return Err(FeedError::NotThisFormat);
    }
    // RSS 2.0: the items are the channel's children. RSS 1.0: the root's, next to the channel.
    // A missing namespace is forgiven (sloppy RSS 1.0), the wrong one is not.
    let namespace = match &*root.namespace {
        RDF => [RSS_10, RSS_090]
            .into_iter()
            .find(|ns| root.child(ns, "channel").is_some() || root.child(ns, "item").is_some())
            .unwrap_or(""),
        _ => "",
    };
    let base = base_of(url, root);
    let channel = root.child(namespace, "channel");
    let channel_base = channel.map_or_else(|| base.clone(), |channel| base_of(&base, channel));
    let mut items = Vec::new();
    for (parent, parent_base) in channel
        .map(|c| (c, &channel_base))
        .into_iter()
        .chain([(root, &base)])
    {
        for item in parent.children_named(namespace, "item") {
            items.push((item, base_of(parent_base, item)));
        }
    }
    Ok(Channel {
        namespace,
        items,
        // A podcast names its author once, on the channel.
        author: channel.and_then(|channel| {
            [(ITUNES, "author"), (DC, "creator")]
                .into_iter()
                .find_map(|(ns, name)| channel.child(ns, name)?.trimmed_text())
        }),
    })
}

/// Each item's id, in the feed's order.
pub fn ids(document: &Document, url: &str) -> Result<Vec<Option<String>>, FeedError> {
    let channel = channel(document, url)?;
    Ok(channel
        .items
        .iter()
        .map(|(item, base)| id(document, item, channel.namespace, base))
        .collect())
}

/// The items of an RSS document fetched from `url`, in the feed's order.
pub fn entries(document: &Document, url: &str) -> Result<Vec<Entry>, FeedError> {
    let channel = channel(document, url)?;
    Ok(channel
        .items
        .iter()
        .map(|(item, base)| {
            let mut entry = entry(document, item, channel.namespace, base);
            if entry.author.is_none() {
                entry.author = channel.author.map(str::to_owned);
            }
            entry
        })
        .collect())
}

/// The item's link, absolute.
fn link(document: &Document, item: &Element, ns: &str, base: &str) -> Option<String> {
    item.child(ns, "link")
        .and_then(|link| text_of(document, link))
        .map(|link| resolve(base, &link))
}

/// What an item is known by: its guid, else (RSS 1.0) its `rdf:about`, else its link.
fn id(document: &Document, item: &Element, ns: &str, base: &str) -> Option<String> {
    item.child(ns, "guid")
        .and_then(Element::trimmed_text)
        .or_else(|| item.attribute_in(RDF, "about").map(str::trim))
        .filter(|id| !id.is_empty())
        .map(str::to_owned)
        .or_else(|| link(document, item, ns, base))
}

fn entry(document: &Document, item: &Element, ns: &str, base: &str) -> Entry {
    let field = |namespace: &str, name: &str| {
        item.child(namespace, name)
            .and_then(|element| text_of(document, element))
    };
    // A guid is a permalink unless it says otherwise: then it doubles as the link.
    let permalink = item
        .child(ns, "guid")
        .filter(|guid| {
            guid.attribute("isPermaLink")
                .is_none_or(|v| v.trim() != "false")
        })
        .and_then(Element::trimmed_text)
        .filter(|text| text.starts_with("http://") || text.starts_with("https://"))
        .map(str::to_owned);
    Entry {
        id: id(document, item, ns, base),
        title: field(ns, "title"),
        link: link(document, item, ns, base).or(permalink),
        published: field(ns, "pubDate")
            .or_else(|| field(DC, "date"))
            .map(|text| date(&text)),
        updated: field(ATOM, "updated").map(|text| date(&text)),
        summary: field(ns, "description"),
        content: field(CONTENT, "encoded"),
        author: field(ns, "author")
            .or_else(|| field(DC, "creator"))
            .or_else(|| field(ITUNES, "author")),
        categories: item
            .children_named(ns, "category")
            .chain(item.children_named(DC, "subject"))
            .filter_map(Element::trimmed_text)
            .map(str::to_owned)
            .collect(),
        enclosures: item
            .children_named(ns, "enclosure")
            .filter_map(|enclosure| {
                Some(Enclosure {
                    url: resolve(base, enclosure.attribute("url")?),
                    media_type: enclosure.attribute("type").map(|t| t.trim().to_owned()),
                    length: enclosure
                        .attribute("length")
                        .and_then(|length| length.trim().parse().ok()),
                })
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests;
