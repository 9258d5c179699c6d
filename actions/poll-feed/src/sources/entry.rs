//! The event an RSS or Atom item becomes: one documented shape for both formats.
//!
//! ```json
//! {"id": "...", "title": "...", "link": "https://...", "published": "2024-05-01T09:30:00.000Z",
//!  "updated": "...", "summary": "...", "content": "...", "author": "...",
//!  "categories": ["..."], "enclosures": [{"url": "...", "type": "audio/mpeg", "length": 123}]}
//! ```
//!
//! A field the item does not have is left out. Dates are ISO 8601 in UTC when the feed's date
//! could be read (see `date`), else the feed's text as is. Links are absolute (resolved against
//! `xml:base` and the feed's URL). `summary` and `content` are the feed's text or HTML as
//! published (HTML stays HTML). Long values are cut ([`MAX_TEXT_BYTES`], [`MAX_FIELD_BYTES`]) so that an event
//! stays well within OpenWhisk's 1 MB payload limit, and `"truncated": true` says so.

use serde_json::{Map, Value, json};

/// The most bytes of `summary` and of `content` an event carries.
pub const MAX_TEXT_BYTES: usize = 64 * 1024;
/// The most bytes of any other text field.
pub const MAX_FIELD_BYTES: usize = 4 * 1024;
/// The most categories and enclosures an event lists.
pub const MAX_LIST: usize = 64;

/// A media file attached to an item (RSS `<enclosure>`, Atom `<link rel="enclosure">`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Enclosure {
    pub url: String,
    pub media_type: Option<String>,
    pub length: Option<u64>,
}

/// One item of an RSS or Atom feed.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Entry {
    /// What the item is remembered by: RSS `guid` or Atom `id`, else its link.
    pub id: Option<String>,
    pub title: Option<String>,
    pub link: Option<String>,
    pub published: Option<String>,
    pub updated: Option<String>,
    pub summary: Option<String>,
    pub content: Option<String>,
    pub author: Option<String>,
    pub categories: Vec<String>,
    pub enclosures: Vec<Enclosure>,
}

impl Entry {
    /// The event fired for this item.
    pub fn to_event(&self) -> Value {
        let mut event = Map::new();
        let mut truncated = false;
        let mut put = |name: &str, value: &Option<String>, limit: usize| {
            if let Some(value) = value {
                let (value, cut) = cut(value, limit);
                truncated |= cut;
                event.insert(name.to_owned(), json!(value));
            }
        };
        put("id", &self.id, MAX_FIELD_BYTES);
        put("title", &self.title, MAX_FIELD_BYTES);
        put("link", &self.link, MAX_FIELD_BYTES);
        put("published", &self.published, MAX_FIELD_BYTES);
        put("updated", &self.updated, MAX_FIELD_BYTES);
        put("summary", &self.summary, MAX_TEXT_BYTES);
        put("content", &self.content, MAX_TEXT_BYTES);
        put("author", &self.author, MAX_FIELD_BYTES);
        if !self.categories.is_empty() {
            truncated |= self.categories.len() > MAX_LIST;
            let categories: Vec<&str> = self
                .categories
                .iter()
                .take(MAX_LIST)
                .map(|category| {
                    let (category, cut) = cut(category, MAX_FIELD_BYTES);
                    truncated |= cut;
                    category
                })
                .collect();
            event.insert("categories".into(), json!(categories));
        }
        if !self.enclosures.is_empty() {
            truncated |= self.enclosures.len() > MAX_LIST;
            let enclosures: Vec<Value> = self
                .enclosures
                .iter()
                .take(MAX_LIST)
                .map(|enclosure| {
                    let (url, cut_url) = cut(&enclosure.url, MAX_FIELD_BYTES);
                    truncated |= cut_url;
                    let mut value = json!({ "url": url });
                    if let Some(media_type) = &enclosure.media_type {
                        let (media_type, cut_type) = cut(media_type, MAX_FIELD_BYTES);
                        truncated |= cut_type;
                        value["type"] = json!(media_type);
                    }
                    if let Some(length) = enclosure.length {
                        value["length"] = json!(length);
                    }
                    value
                })
                .collect();
            event.insert("enclosures".into(), json!(enclosures));
        }
        if truncated {
            event.insert("truncated".into(), json!(true));
        }
        Value::Object(event)
    }
}

/// `text` cut to at most `limit` bytes at a character boundary, and whether it was cut.
fn cut(text: &str, limit: usize) -> (&str, bool) {
    if text.len() <= limit {
        return (text, false);
    }
    let mut end = limit;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    (&text[..end], true)
}

/// `href` made absolute against `base` (a link as the feed wrote it, and the URL it was found
/// under). A link that is already absolute, or a base that is not, leaves `href` as written.
pub fn resolve(base: &str, href: &str) -> String {
    let href = href.trim();
    if has_scheme(href) || !has_scheme(base) {
        return href.to_owned();
    }
    let base = base.split('#').next().unwrap_or(base);
    let (scheme, rest) = base.split_once("://").unwrap_or((base, ""));
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let origin = &base[..scheme.len() + 3 + authority_end];
    if let Some(network_path) = href.strip_prefix("//") {
        format!("{scheme}://{network_path}")
    } else if href.starts_with('/') {
        format!("{origin}{href}")
    } else if href.is_empty() {
        base.to_owned()
    } else if href.starts_with('?') {
        let path = base.split('?').next().unwrap_or(base);
        format!("{path}{href}")
    } else if href.starts_with('#') {
        format!("{base}{href}")
    } else {
        let path = base.split('?').next().unwrap_or(base);
        let directory = if path.len() > origin.len() {
            path.rfind('/').map_or(path, |slash| &path[..=slash])
        } else {
            return format!("{origin}/{href}");
        };
        format!("{directory}{href}")
    }
}

/// Whether a URL reference starts with a scheme (`https:`, `mailto:`, `tag:`).
fn has_scheme(reference: &str) -> bool {
    let Some((scheme, _)) = reference.split_once(':') else {
        return false;
    };
    let mut chars = scheme.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_are_resolved_against_the_base() {
        let base = "https://example.com/blog/feed.xml?x=1#top";
        assert_eq!(resolve(base, "https://other.org/a"), "https://other.org/a");
        assert_eq!(resolve(base, "/2024/post"), "https://example.com/2024/post");
        assert_eq!(
            resolve(base, "post.html"),
            "https://example.com/blog/post.html"
        );
        assert_eq!(
            resolve(base, "//cdn.example.com/a.mp3"),
            "https://cdn.example.com/a.mp3"
        );
        assert_eq!(
            resolve(base, "?page=2"),
            "https://example.com/blog/feed.xml?page=2"
        );
        assert_eq!(
            resolve(base, "#c"),
            "https://example.com/blog/feed.xml?x=1#c"
        );
        assert_eq!(resolve("https://example.com", "a"), "https://example.com/a");
        assert_eq!(
            resolve("https://example.com?q", "/a"),
            "https://example.com/a"
        );
        assert_eq!(resolve("not a url", "a/b"), "a/b");
        assert_eq!(
            resolve(base, "mailto:me@example.com"),
            "mailto:me@example.com"
        );
        assert_eq!(
            resolve(base, "tag:example.com,2024:1"),
            "tag:example.com,2024:1"
        );
    }

    #[test]
    fn events_leave_out_what_is_missing_and_cut_what_is_too_long() {
        let entry = Entry {
            id: Some("1".into()),
            title: Some("é".repeat(MAX_FIELD_BYTES)),
            content: Some("x".repeat(MAX_TEXT_BYTES + 1)),
            categories: (0..MAX_LIST + 5).map(|n| n.to_string()).collect(),
            enclosures: vec![Enclosure {
                url: "https://example.com/a.mp3".into(),
                media_type: Some("audio/mpeg".into()),
                length: Some(12),
            }],
            ..Entry::default()
        };
        let event = entry.to_event();
        assert_eq!(event["id"], "1");
        assert_eq!(event["title"].as_str().map(str::len), Some(MAX_FIELD_BYTES));
        assert_eq!(
            event["content"].as_str().map(str::len),
            Some(MAX_TEXT_BYTES)
        );
        assert_eq!(event["categories"].as_array().map(Vec::len), Some(MAX_LIST));
        assert_eq!(
            event["enclosures"],
            json!([{"url": "https://example.com/a.mp3", "type": "audio/mpeg", "length": 12}])
        );
        assert_eq!(event["truncated"], true);
        assert!(event.get("link").is_none() && event.get("summary").is_none());
        let small = Entry {
            link: Some("https://example.com/".into()),
            ..Entry::default()
        };
        assert_eq!(small.to_event(), json!({"link": "https://example.com/"}));
    }
}
