use fakes::feed_files::{BLOG_RSS, BLOG_RSS_NEXT, NEWS_LATIN1_RSS, PODCAST_RSS, RDF_RSS};
use serde_json::json;

use super::super::ids;
use super::*;

const URL: &str = "https://feeds.example.com/blog/rss.xml";

fn read(body: &[u8]) -> Vec<Entry> {
    super::super::read_with(entries, body, URL)
}

#[test]
fn a_wordpress_feed_reads_into_the_documented_shape() {
    let entries = read(BLOG_RSS);
    assert_eq!(
        ids(&entries),
        [
            "https://blog.example.org/?p=412",
            "https://blog.example.org/?p=405",
            "https://blog.example.org/?p=398"
        ]
    );
    assert_eq!(
        entries[1].to_event(),
        json!({
            "id": "https://blog.example.org/?p=405",
            "title": "Seed swap this Saturday",
            "link": "https://blog.example.org/2024/04/seed-swap/",
            "published": "2024-04-29T18:03:11.000Z",
            "summary": "Bring what you saved, take what you need.",
            "content": "<p>Bring what you saved, take what you need. Community hall, 10:00&ndash;13:00.</p>",
            "author": "Ruth Okafor",
            "categories": ["Events"],
        })
    );
    // CDATA is taken as written: HTML stays HTML, its entities unresolved.
    assert_eq!(
        entries[0].content.as_deref(),
        Some(
            "<p>It can be done, if you pick the right variety and accept smaller fruit.</p>\n\
             <p>Three seasons of notes, &amp; what I would do differently.</p>"
        )
    );
    assert_eq!(entries[0].categories, ["Balcony", "Vegetables"]);
}

#[test]
fn an_item_edited_in_place_keeps_its_guid_and_a_new_one_is_added() {
    let before = read(BLOG_RSS);
    let after = read(BLOG_RSS_NEXT);
    assert_eq!(ids(&after)[0], "https://blog.example.org/?p=418");
    assert_eq!(ids(&after)[1..], ids(&before)[..]);
    assert_ne!(after[1].title, before[0].title);
    assert_eq!(
        after[1].title.as_deref(),
        Some("Tomatoes on a north-facing balcony (updated)")
    );
}

#[test]
fn a_podcast_has_enclosures_and_the_channel_author() {
    let entries = read(PODCAST_RSS);
    assert_eq!(
        ids(&entries),
        [
            "6f4a1c2e-8b53-4d2f-9a51-0c7e3b9d1a42",
            "0b1d7c8e-2f3a-4e5b-8c9d-1a2b3c4d5e6f",
            "night-shift-trailer"
        ]
    );
    let first = entries[0].to_event();
    assert_eq!(first["title"], "Ep. 42: The bakers of 4 a.m.");
    assert_eq!(first["author"], "Night Shift Media");
    assert_eq!(
        first["enclosures"],
        json!([{
            "url": "https://cdn.example.fm/night-shift/ep42.mp3?source=rss",
            "type": "audio/mpeg",
            "length": 48213055
        }])
    );
    // A guid that is not a permalink is no link.
    assert_eq!(entries[2].link, None);
}

#[test]
fn an_old_latin1_feed_with_a_dtd_is_read_by_link() {
    let entries = read(NEWS_LATIN1_RSS);
    assert_eq!(entries.len(), 3);
    assert_eq!(
        entries[0].id.as_deref(),
        Some("http://www.gazette-vallee.example.fr/article.php?id=3071&rub=agenda")
    );
    assert_eq!(
        entries[0].title.as_deref(),
        Some("Fête du village : le programme complet")
    );
    assert_eq!(
        entries[0].summary.as_deref(),
        Some("<p>Marché, bal et feu d'artifice – tout le programme.</p>")
    );
    assert_eq!(
        entries[0].published.as_deref(),
        Some("2024-05-11T11:15:00.000Z")
    );
    assert_eq!(
        entries[1].published.as_deref(),
        Some("2024-05-10T15:40:00.000Z")
    );
    // Neither guid nor link: nothing to know it by.
    assert_eq!(entries[2].id, None);
    assert_eq!(entries[2].title.as_deref(), Some("Météo : orages attendus"));
}

#[test]
fn rss_1_items_sit_beside_the_channel_and_are_known_by_rdf_about() {
    let entries = read(RDF_RSS);
    assert_eq!(
        ids(&entries),
        [
            "https://journal.example.net/articles/2024-017",
            "https://journal.example.net/articles/2024-016"
        ]
    );
    assert_eq!(
        entries[0].link.as_deref(),
        Some("https://journal.example.net/articles/2024-017?utm_source=rss")
    );
    assert_eq!(
        entries[0].published.as_deref(),
        Some("2024-05-10T03:00:00.000Z")
    );
    assert_eq!(
        entries[0].author.as_deref(),
        Some("A. Nakamura; B. Ferreira")
    );
    assert_eq!(entries[0].categories, ["botany"]);
}

#[test]
fn guids_links_and_missing_fields() {
    let entries = read(
        br#"<rss version="2.0"><channel>
        <item><guid>https://example.com/p/1</guid><title> Permalink guid </title></item>
        <item><guid isPermaLink="false">  </guid><link>/relative/2</link></item>
        <item><guid>  abc  </guid><link>https://example.com/p/3</link><description><p>Unescaped <b>HTML</b></p></description></item>
        <item><enclosure url="ep.mp3" length="n/a"/><enclosure type="x"/></item>
        <item><author>ed@example.com (Ed)</author><pubDate>sometime</pubDate><category> </category></item>
        </channel></rss>"#,
    );
    // A permalink guid doubles as the link; an empty guid falls back to the link.
    assert_eq!(entries[0].link.as_deref(), Some("https://example.com/p/1"));
    assert_eq!(entries[0].title.as_deref(), Some("Permalink guid"));
    assert_eq!(
        entries[1].id.as_deref(),
        Some("https://feeds.example.com/relative/2")
    );
    assert_eq!(entries[2].id.as_deref(), Some("abc"));
    assert_eq!(
        entries[2].summary.as_deref(),
        Some("<p>Unescaped <b>HTML</b></p>")
    );
    assert_eq!(entries[3].id, None);
    assert_eq!(
        entries[3].enclosures,
        [Enclosure {
            url: "https://feeds.example.com/blog/ep.mp3".into(),
            media_type: None,
            length: None
        }]
    );
    assert_eq!(entries[4].author.as_deref(), Some("ed@example.com (Ed)"));
    assert_eq!(entries[4].published.as_deref(), Some("sometime"));
    assert!(entries[4].categories.is_empty());
    assert_eq!(entries[4].to_event().get("id"), None);
}

#[test]
fn other_roots_are_not_rss() {
    for body in [
        &b"<feed xmlns='http://www.w3.org/2005/Atom'/>"[..],
        b"<html/>",
        b"<rss:rss xmlns:rss='urn:x'/>",
    ] {
        let document = Document::parse(body).expect("well-formed");
        assert!(matches!(
            entries(&document, URL),
            Err(FeedError::NotThisFormat)
        ));
    }
    let empty = Document::parse(b"<rss version='2.0'><channel><title>t</title></channel></rss>")
        .expect("well-formed");
    assert!(entries(&empty, URL).expect("read").is_empty());
}
