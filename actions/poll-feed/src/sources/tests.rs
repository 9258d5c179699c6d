use fakes::feed_files::{BLOG_ATOM, BLOG_RSS, NEWS_LATIN1_RSS, RDF_RSS};

use super::*;
use crate::path::JsonPath;

fn answer<'a>(body: &'a [u8], content_type: Option<&'a str>) -> Answer<'a> {
    Answer {
        url: "https://example.com/feed",
        content_type,
        body,
    }
}

fn failure(source: &dyn Source, body: &[u8], content_type: Option<&str>) -> ReadError {
    match source.read(&answer(body, content_type)) {
        Ok(items) => panic!("read: {items:?}"),
        Err(error) => error,
    }
}

#[test]
fn formats_parse_by_name() {
    for format in [Format::Json, Format::Rss, Format::Atom, Format::Auto] {
        assert_eq!(Format::parse(format.as_str()), Some(format));
    }
    assert_eq!(Format::parse(" RSS "), Some(Format::Rss));
    assert_eq!(Format::parse("xml"), None);
}

#[test]
fn bodies_are_told_apart_by_their_first_character() {
    assert_eq!(sniff(b" \n{\"items\": []}"), Sniffed::Json);
    assert_eq!(sniff(b"\xEF\xBB\xBF[1]"), Sniffed::Json);
    assert_eq!(sniff(BLOG_RSS), Sniffed::Xml);
    assert_eq!(sniff(b"\xFF\xFE<\0"), Sniffed::Xml);
    assert_eq!(sniff(b"Service Unavailable"), Sniffed::Other);
    assert_eq!(sniff(b""), Sniffed::Other);
}

#[test]
fn rss_and_atom_sources_read_their_feeds_into_items() {
    let rss = Rss
        .read(&answer(NEWS_LATIN1_RSS, Some("text/xml")))
        .expect("rss");
    assert_eq!(rss.items.len(), 2);
    assert_eq!(rss.without_id, 1);
    assert_eq!(rss.items[0].id, rss.items[0].event["id"]);
    assert_eq!(
        rss.items[0].event["title"],
        "Fête du village : le programme complet"
    );

    let rdf = Rss.read(&answer(RDF_RSS, None)).expect("rss 1.0");
    assert_eq!(rdf.items.len(), 2);

    let atom = Atom.read(&answer(BLOG_ATOM, None)).expect("atom");
    assert_eq!(atom.items.len(), 3);
    assert!(atom.notes.is_empty());
    assert!(Rss.accept().starts_with("application/rss+xml"));
    assert!(Atom.accept().starts_with("application/atom+xml"));
}

#[test]
fn auto_reads_either_feed() {
    let rss = read_feed(&answer(BLOG_RSS, None), Format::Auto).expect("rss");
    let atom = read_feed(&answer(BLOG_ATOM, None), Format::Auto).expect("atom");
    assert_eq!(rss.items[0].id, "https://blog.example.org/?p=412");
    assert_eq!(
        atom.items[0].id,
        "tag:words.example.com,2024-05-12:/2024/05/errors-are-api/"
    );
}

#[test]
fn the_wrong_format_says_which_it_is() {
    let error = failure(&Rss, BLOG_ATOM, Some("application/atom+xml"));
    assert_eq!(error.parameter, "format");
    assert_eq!(
        error.message,
        "the body (Content-Type application/atom+xml) is not an RSS feed: its root element is \
         <feed> in namespace http://www.w3.org/2005/Atom; it is an Atom feed: set `format` to \
         atom (or auto)"
    );
    let error = failure(&Atom, BLOG_RSS, None);
    assert_eq!(error.parameter, "format");
    assert!(
        error
            .message
            .contains("it is an RSS feed: set `format` to rss"),
        "{}",
        error.message
    );
}

#[test]
fn what_is_not_a_feed_is_named() {
    let html = failure(
        &Rss,
        b"<!DOCTYPE html>\n<html><body>Login</body></html>",
        Some("text/html"),
    );
    assert_eq!(html.parameter, "url");
    assert_eq!(
        html.message,
        "the body (Content-Type text/html) is not an RSS feed: its root element is <html>; an RSS \
         feed's is <rss> (or RSS 1.0's <rdf:RDF>)"
    );
    let json = failure(&Atom, b"{\"items\": []}", Some("application/json"));
    assert!(
        json.message.starts_with(
            "the body is JSON (Content-Type application/json), not an Atom feed: set `format` to json"
        ),
        "{}",
        json.message
    );
    let text = failure(&Rss, b"Service Unavailable", None);
    assert!(
        text.message
            .starts_with("the body is not XML, so not an RSS feed: "),
        "{}",
        text.message
    );
    let broken = failure(
        &Rss,
        b"<rss><channel><item></channel></rss>",
        Some("application/rss+xml"),
    );
    assert_eq!(broken.parameter, "url");
    assert!(
        broken.message.starts_with(
            "the feed (Content-Type application/rss+xml) could not be read: the document is not \
             well-formed XML at line 1, column"
        ),
        "{}",
        broken.message
    );
    let unknown = failure(&Rss, b"<opml version='2.0'/>", None);
    assert!(
        unknown.message.contains("root element is <opml>"),
        "{}",
        unknown.message
    );
}

#[test]
fn repairs_are_passed_on_as_notes() {
    let items = Rss
        .read(&answer(
            b"<rss><channel><item><guid>a\xFF</guid></item></channel></rss>",
            None,
        ))
        .expect("read");
    assert_eq!(items.items[0].id, "a\u{FFFD}");
    assert_eq!(items.notes.len(), 1);
}

#[test]
fn a_large_feed_reads_whole() {
    let item = |n: usize| {
        format!(
            "<item><title>Item {n}</title><guid>urn:item:{n}</guid><description>{}</description>\
             <category>a</category><category>b</category></item>",
            "text ".repeat(40)
        )
    };
    let body: String = std::iter::once("<rss version='2.0'><channel>".to_owned())
        .chain((0..10_000).map(item))
        .chain(std::iter::once("</channel></rss>".to_owned()))
        .collect();
    assert!(body.len() > 3_000_000);
    let items = Rss.read(&answer(body.as_bytes(), None)).expect("read");
    assert_eq!(items.items.len(), 10_000);
    assert_eq!(items.items[9_999].id, "urn:item:9999");
}

#[test]
fn auto_goes_by_the_content_type_then_by_the_body() {
    let items_path = JsonPath::default();
    let id_path = JsonPath::parse("id").expect("path");
    let auto = AnySource::new(Format::Auto, &items_path, &id_path);
    let json = br#"[{"id": "j1", "x": 1}]"#;
    for content_type in [
        Some("application/json; charset=utf-8"),
        Some("application/feed+json"),
        Some("text/plain"),
        None,
    ] {
        let items = auto.read(&answer(json, content_type)).expect("json");
        assert_eq!(
            items.items[0].event,
            serde_json::json!({"id": "j1", "x": 1})
        );
    }
    for content_type in [
        Some("application/rss+xml"),
        Some("text/xml"),
        Some("text/html"),
        None,
    ] {
        let items = auto.read(&answer(BLOG_RSS, content_type)).expect("rss");
        assert_eq!(items.items.len(), 3);
    }
    let atom = auto
        .read(&answer(BLOG_ATOM, Some("application/xml")))
        .expect("atom");
    assert_eq!(atom.items.len(), 3);
    // A named type decides: an HTML error page served as JSON is "not JSON".
    let page = b"<html><body>Service temporarily overloaded</body></html>";
    let error = auto
        .read(&answer(page, Some("application/json")))
        .expect_err("not json");
    assert!(error.message.contains("is not JSON"), "{}", error.message);
    let error = auto
        .read(&answer(BLOG_ATOM, Some("application/rss+xml")))
        .expect_err("named rss");
    assert_eq!(error.parameter, "format");
    let error = auto
        .read(&answer(b"OK", Some("text/plain")))
        .expect_err("neither");
    assert_eq!(
        error.message,
        "the body (Content-Type text/plain) is neither JSON nor an RSS or Atom feed: OK"
    );
}

#[test]
fn a_feed_whose_items_have_no_ids_is_refused() {
    let error = failure(
        &Rss,
        b"<rss><channel><item><title>a</title></item><item/></channel></rss>",
        None,
    );
    assert_eq!(
        error.message,
        "none of the feed's 2 items has a guid or a link, so they cannot be told apart"
    );
    let error = failure(&Atom, b"<feed><entry><title>a</title></entry></feed>", None);
    assert!(
        error.message.contains("has an id or a link"),
        "{}",
        error.message
    );
}

#[test]
fn mangled_feeds_are_read_or_refused_never_a_panic() {
    use fakes::feed_files::{BLOG_ATOM_NEXT, PODCAST_RSS, RELEASES_ATOM};
    let items_path = JsonPath::default();
    let id_path = JsonPath::parse("id").expect("path");
    let auto = AnySource::new(Format::Auto, &items_path, &id_path);
    // A small deterministic generator (xorshift): the same cases every run.
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    let mut next = move |bound: usize| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state % bound as u64) as usize
    };
    let noise = [
        &b"<"[..],
        b">",
        b"&",
        b"&#",
        b"]]>",
        b"<![CDATA[",
        b"\xFF",
        b"\xC3",
        b"\"",
        b"</",
        b"/>",
        b"xmlns:a='b'",
    ];
    for file in [
        BLOG_RSS,
        NEWS_LATIN1_RSS,
        RDF_RSS,
        PODCAST_RSS,
        BLOG_ATOM,
        BLOG_ATOM_NEXT,
        RELEASES_ATOM,
    ] {
        for _ in 0..300 {
            let mut body = file.to_vec();
            match next(3) {
                0 => body.truncate(next(body.len())),
                1 => {
                    let at = next(body.len());
                    body.splice(at..at, noise[next(noise.len())].iter().copied());
                }
                _ => {
                    let at = next(body.len());
                    let end = (at + next(40)).min(body.len());
                    body.drain(at..end);
                }
            }
            // Either answer is fine; what counts is that there is one, with a message.
            if let Err(error) = auto.read(&answer(&body, Some("text/xml"))) {
                assert!(!error.message.is_empty());
            }
        }
    }
}

#[test]
fn ids_alone_are_the_ids_the_items_fire_with() {
    use fakes::feed_files::{BLOG_ATOM_NEXT, BLOG_RSS_NEXT, PODCAST_RSS, RELEASES_ATOM};
    let items_path = JsonPath::default();
    let id_path = JsonPath::parse("id").expect("path");
    for format in [Format::Rss, Format::Atom, Format::Auto] {
        let source = AnySource::new(format, &items_path, &id_path);
        for file in [
            BLOG_RSS,
            BLOG_RSS_NEXT,
            NEWS_LATIN1_RSS,
            RDF_RSS,
            PODCAST_RSS,
            BLOG_ATOM,
            BLOG_ATOM_NEXT,
            RELEASES_ATOM,
        ] {
            let answer = answer(file, None);
            match (source.ids(&answer), source.read(&answer)) {
                (Ok(ids), Ok(items)) => {
                    let read: Vec<&str> = items.items.iter().map(|i| i.id.as_str()).collect();
                    let listed: Vec<&str> = ids.ids.iter().flatten().map(String::as_str).collect();
                    assert_eq!(listed, read);
                    assert_eq!(ids.ids.len() - listed.len(), items.without_id);
                    assert_eq!(ids.notes, items.notes);
                }
                (Err(ids), Err(read)) => assert_eq!(ids, read),
                (ids, read) => panic!("{format}: {ids:?} but {read:?}"),
            }
        }
    }
    let json = AnySource::new(Format::Json, &items_path, &id_path);
    let body = br#"[{"id": "a"}, {"x": 1}, {"id": 2}]"#;
    assert_eq!(
        json.ids(&answer(body, None)).expect("ids").ids,
        [Some("a".to_owned()), None, Some("2".to_owned())]
    );
}

#[test]
fn quotes_one_short_line() {
    assert_eq!(quote(b""), "");
    assert_eq!(quote(b"a\nb"), ": a b");
    assert_eq!(quote("x".repeat(500).as_bytes()).len(), 2 + QUOTED_CHARS);
    assert_eq!(quote(b"\xFFok"), ": \u{FFFD}ok");
}
