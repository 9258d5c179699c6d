use fakes::feed_files::{BLOG_ATOM, BLOG_ATOM_NEXT, RELEASES_ATOM};
use serde_json::json;

use super::super::ids;
use super::*;

const URL: &str = "https://mirror.example.net/words/feed.atom";

fn read(body: &[u8]) -> Vec<Entry> {
    super::super::read_with(entries, body, URL)
}

#[test]
fn a_blog_feed_reads_into_the_documented_shape() {
    let entries = read(BLOG_ATOM);
    assert_eq!(
        ids(&entries),
        [
            "tag:words.example.com,2024-05-12:/2024/05/errors-are-api/",
            "tag:words.example.com,2024-04-20:/2024/04/small-binaries/",
            "urn:uuid:1225c695-cfb8-4ebb-aaaa-80da344efa6a"
        ]
    );
    assert_eq!(
        entries[0].to_event(),
        json!({
            "id": "tag:words.example.com,2024-05-12:/2024/05/errors-are-api/",
            // type="html": the HTML as published, unescaped once.
            "title": "Errors are <code>part of the API</code>",
            // xml:base on the feed, a path-absolute href, the rel="replies" link ignored.
            "link": "https://words.example.com/2024/05/errors-are-api/",
            "published": "2024-05-12T19:58:00.000Z",
            "updated": "2024-05-12T20:04:11.000Z",
            // type="xhtml": the markup inside the wrapping div.
            "summary": "<p>Your error messages are read more often than your <em>docs</em>.</p>",
            "content": "<p>Your error messages are read more often than your docs.</p>\n<pre><code>error: invalid parameter `url`</code></pre>",
            // The feed's author, for an entry without one.
            "author": "Jo Marsh",
            "categories": ["rust", "api-design"],
        })
    );
    // xml:base on the entry, a relative href, the entry's own author.
    assert_eq!(
        entries[1].link.as_deref(),
        Some("https://words.example.com/2024/04/small-binaries/")
    );
    assert_eq!(entries[1].author.as_deref(), Some("Guest: Ada Brandt"));
    assert_eq!(entries[2].published, None);
    assert_eq!(
        entries[2].updated.as_deref(),
        Some("2024-03-02T20:30:00.000Z")
    );
    assert_eq!(
        entries[2].enclosures,
        [Enclosure {
            url: "https://video.example.net/download/8sK2pQ.mp4".into(),
            media_type: Some("video/mp4".into()),
            length: Some(734_003_200)
        }]
    );
}

#[test]
fn an_entry_revised_in_place_keeps_its_id_and_a_new_one_is_added() {
    let before = read(BLOG_ATOM);
    let after = read(BLOG_ATOM_NEXT);
    assert_eq!(
        ids(&after)[0],
        "tag:words.example.com,2024-05-19:/2024/05/reading-feeds/"
    );
    assert_eq!(ids(&after)[1..], ids(&before)[..]);
    assert_eq!(
        after[2].title.as_deref(),
        Some("Small binaries, on purpose (revised)")
    );
    assert_eq!(
        after[2].updated.as_deref(),
        Some("2024-05-18T10:00:00.000Z")
    );
}

#[test]
fn a_releases_feed_keeps_its_html_content() {
    let entries = read(RELEASES_ATOM);
    assert_eq!(
        ids(&entries),
        [
            "tag:code.example.com,2008:Repository/81726354/v2.1.0",
            "tag:code.example.com,2008:Repository/81726354/v2.0.1"
        ]
    );
    assert_eq!(
        entries[0].content.as_deref(),
        Some(
            "<h2>What&#39;s changed</h2>\n<ul>\n<li>Faster start-up by <a class=\"user-mention\" \
             href=\"https://code.example.com/mira\">@mira</a></li>\n</ul>"
        )
    );
    assert_eq!(entries[1].author.as_deref(), Some("jun"));
    assert_eq!(
        entries[1].link.as_deref(),
        Some("https://code.example.com/acme/widget/releases/tag/v2.0.1")
    );
}

#[test]
fn ids_links_and_missing_fields() {
    let entries = read(
        br#"<feed xmlns="http://www.w3.org/2005/Atom" xmlns:a="http://www.w3.org/2005/Atom">
        <entry><link rel="self" href="/self"/><link rel="alternate" type="application/pdf" href="doc.pdf"/></entry>
        <entry><id> </id><link href="a.html" type="text/html"/><content src="https://example.com/body"/></entry>
        <a:entry><a:id>prefixed</a:id><a:author><a:email>x@example.com</a:email></a:author></a:entry>
        <entry><title>no id, no link</title><source><author><name>Origin</name></author></source></entry>
        </feed>"#,
    );
    // The alternate link even when it is not HTML; self links are never the link.
    assert_eq!(
        entries[0].id.as_deref(),
        Some("https://mirror.example.net/words/doc.pdf")
    );
    assert_eq!(
        entries[1].id.as_deref(),
        Some("https://mirror.example.net/words/a.html")
    );
    assert_eq!(entries[1].content, None);
    assert_eq!(entries[2].id.as_deref(), Some("prefixed"));
    assert_eq!(entries[2].author.as_deref(), Some("x@example.com"));
    assert_eq!(entries[3].id, None);
    assert_eq!(entries[3].author.as_deref(), Some("Origin"));
}

#[test]
fn atom_without_its_namespace_is_forgiven_and_atom_0_3_is_named() {
    let entries = read(b"<feed><entry><id>1</id><title>t</title></entry></feed>");
    assert_eq!(ids(&entries), ["1"]);

    let old = Document::parse(b"<feed xmlns='http://purl.org/atom/ns#' version='0.3'/>")
        .expect("well-formed");
    match entries_of(&old) {
        Err(FeedError::Unreadable(message)) => assert!(message.contains("Atom 0.3"), "{message}"),
        other => panic!("{other:?}"),
    }
    for body in [&b"<rss/>"[..], b"<feed xmlns='urn:other'/>", b"<entry/>"] {
        let document = Document::parse(body).expect("well-formed");
        assert!(matches!(
            entries_of(&document),
            Err(FeedError::NotThisFormat)
        ));
    }
}

fn entries_of(document: &Document) -> Result<Vec<Entry>, FeedError> {
    entries(document, URL)
}
