//! Feed files shaped like the ones real publishers serve (a WordPress blog, a podcast host, an
//! old ISO-8859-1 news site with an RSS 0.91 DTD, an RSS 1.0 journal, a static-site Atom blog, a
//! code host's releases feed), for [`crate::FeedSource`] to serve and the readers' unit tests.
//! The `*_NEXT` files are the same feed later: one item added on top and one edited in place
//! (same guid or id).

/// RSS 2.0 from a WordPress-style blog: `content:encoded`, `dc:creator`, CDATA, categories,
/// `guid isPermaLink="false"`.
pub const BLOG_RSS: &[u8] = include_bytes!("../feeds/blog.rss");
/// [`BLOG_RSS`] later: `?p=418` added, `?p=412` retitled and extended.
pub const BLOG_RSS_NEXT: &[u8] = include_bytes!("../feeds/blog-next.rss");
/// RSS 2.0 podcast: iTunes namespace, enclosures, UUID guids, no `author`.
pub const PODCAST_RSS: &[u8] = include_bytes!("../feeds/podcast.rss");
/// RSS 0.91 in ISO-8859-1 with the Netscape DTD: no guids (items known by link), escaped
/// HTML, a named time zone, one item with neither guid nor link.
pub const NEWS_LATIN1_RSS: &[u8] = include_bytes!("../feeds/news-latin1.rss");
/// RSS 1.0 (RDF): items beside the channel, `rdf:about`, Dublin Core dates.
pub const RDF_RSS: &[u8] = include_bytes!("../feeds/rdf.rss");
/// Atom 1.0 blog: `xml:base` and relative links, HTML and XHTML text, the feed's author, an
/// enclosure link.
pub const BLOG_ATOM: &[u8] = include_bytes!("../feeds/blog.atom");
/// [`BLOG_ATOM`] later: one entry added on top and the `small-binaries` entry revised.
pub const BLOG_ATOM_NEXT: &[u8] = include_bytes!("../feeds/blog-next.atom");
/// Atom 1.0 releases feed of a code host: `tag:` ids, HTML content, Media RSS thumbnails.
pub const RELEASES_ATOM: &[u8] = include_bytes!("../feeds/releases.atom");
