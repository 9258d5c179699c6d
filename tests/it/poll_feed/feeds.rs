//! RSS and Atom feeds through the same real binaries and sandbox: real feed files served by
//! `fakes::FeedSource` (ETag / Last-Modified, 304s), ticked through the sandbox's alarms.

use fakes::feed_files::{
    BLOG_ATOM, BLOG_ATOM_NEXT, BLOG_RSS, BLOG_RSS_NEXT, PODCAST_RSS, RELEASES_ATOM,
};
use fakes::{ATOM_CONTENT_TYPE, FeedSource, RSS_CONTENT_TYPE, Validators};
use serde_json::json;

use super::*;

/// [`BLOG_RSS_NEXT`] with one more item on top, published later still.
fn blog_rss_third() -> Vec<u8> {
    let next = String::from_utf8_lossy(BLOG_RSS_NEXT).into_owned();
    let item = "<item><title>Mulch, again</title>\
                <link>https://blog.example.org/2024/05/mulch/</link>\
                <guid isPermaLink=\"false\">https://blog.example.org/?p=421</guid>\
                <pubDate>Fri, 17 May 2024 08:00:00 +0000</pubDate></item>\n\t";
    next.replacen("<item>", &format!("{item}<item>"), 1)
        .into_bytes()
}

/// Each request the feed answered, in order: its status, and whether it carried `If-None-Match`
/// and `If-Modified-Since`.
fn conditional(feed: &FeedSource) -> Vec<(u16, bool, bool)> {
    feed.requests()
        .iter()
        .map(|request| {
            (
                request.status,
                request.header("If-None-Match").is_some(),
                request.header("If-Modified-Since").is_some(),
            )
        })
        .collect()
}

#[test]
fn an_rss_feed_fires_new_items_once_and_never_an_edited_one_again() {
    let world = World::start();
    let feed = FeedSource::start(BLOG_RSS, RSS_CONTENT_TYPE).expect("feed");
    let created = world
        .create(
            "blog",
            json!({"url": feed.feed_url(), "format": "rss", "cron": YEARLY}),
        )
        .expect("CREATE");
    assert_eq!(created["seenIds"], 3, "{created}");
    let read = world.read("blog");
    assert_eq!(read["config"]["format"], "rss");
    assert!(
        feed.requests()[0]
            .header("Accept")
            .is_some_and(|accept| accept.starts_with("application/rss+xml")),
        "{:?}",
        feed.requests()
    );

    // Unchanged since CREATE: one conditional request, a 304, nothing fired.
    feed.clear_requests();
    assert_eq!(world.tick_ok("blog")["outcome"], "unchanged");
    assert_eq!(conditional(&feed), [(304, true, true)]);
    assert!(world.events("blog").is_empty());

    // A new item on top and an item edited in place (same guid): only the new one fires, with
    // the documented fields.
    feed.publish(BLOG_RSS_NEXT);
    let polled = world.tick_ok("blog");
    assert_eq!(polled["outcome"], "fired", "{polled}");
    assert_eq!(polled["newItems"], 1, "{polled}");
    assert_eq!(
        world.events("blog"),
        [json!({"items": [{
            "id": "https://blog.example.org/?p=418",
            "title": "First courgettes of the year",
            "link": "https://blog.example.org/2024/05/first-courgettes/",
            "published": "2024-05-16T06:30:02.000Z",
            "summary": "Three weeks early, thanks to the cold frame.",
            "content": "<p>Three weeks early, thanks to the cold frame.</p>",
            "author": "Sam Lindqvist",
            "categories": ["Vegetables"],
        }]})]
    );
    feed.clear_requests();
    assert_eq!(world.tick_ok("blog")["outcome"], "unchanged");
    assert_eq!(conditional(&feed), [(304, true, true)]);

    // A malformed feed: the activation says why, and the position is kept.
    feed.publish(b"<rss version=\"2.0\"><channel><item><title>Half a");
    let activation = world.tick("blog").expect("the poller ran");
    assert!(!activation.success);
    let error = activation.result["error"].as_str().unwrap_or_default();
    assert!(
        error.contains("could not be read") && error.contains("cut short"),
        "{error}"
    );
    let read = world.read("blog");
    assert_eq!(read["status"]["lastPoll"]["outcome"], "source-failed");
    assert_eq!(read["status"]["active"], true);
    assert_eq!(read["status"]["position"]["seenIds"], 4);

    // Repaired, with one more item: that one fires, nothing before it again.
    feed.publish(&blog_rss_third());
    world.tick_ok("blog");
    assert_eq!(
        world.fired_ids("blog"),
        [
            "https://blog.example.org/?p=418",
            "https://blog.example.org/?p=421"
        ]
    );
    // The format can change without a refire (auto reads the same ids).
    let updated = world
        .feed("UPDATE", "blog", json!({"format": "auto"}))
        .expect("UPDATE");
    assert_eq!(updated["changed"], json!(["format"]), "{updated}");
    world.tick_ok("blog");
    assert_eq!(world.fired_ids("blog").len(), 2);

    world.delete_with(FEED, "blog").expect("DELETE");
    assert_eq!(world.leftovers(), Vec::<String>::new());
    world.assert_quiet();
}

#[test]
fn an_atom_feed_found_by_detection_fires_each_entry_on_last_modified_alone() {
    let world = World::start();
    let feed = FeedSource::start(BLOG_ATOM, ATOM_CONTENT_TYPE).expect("feed");
    // A source that sends only Last-Modified: the poll is conditional on If-Modified-Since.
    feed.set_validators(Validators::LastModifiedOnly);
    world
        .create(
            "words",
            json!({"url": feed.feed_url(), "cron": YEARLY, "batch": "each", "startFrom": "backlog"}),
        )
        .expect("CREATE");
    assert_eq!(world.read("words")["config"]["format"], "auto");

    let polled = world.tick_ok("words");
    assert_eq!(polled["events"], 3, "{polled}");
    let events = world.events("words");
    assert_eq!(
        events[1],
        json!({
            "id": "tag:words.example.com,2024-04-20:/2024/04/small-binaries/",
            "title": "Small binaries, on purpose",
            "link": "https://words.example.com/2024/04/small-binaries/",
            "published": "2024-04-20T09:00:00.000Z",
            "updated": "2024-04-20T09:00:00.000Z",
            "content": "Every kilobyte is a choice.",
            "author": "Guest: Ada Brandt",
            "categories": ["rust"],
        })
    );

    feed.clear_requests();
    assert_eq!(world.tick_ok("words")["outcome"], "unchanged");
    assert_eq!(conditional(&feed), [(304, false, true)]);

    // One entry added, one revised in place (same id): one event.
    feed.publish(BLOG_ATOM_NEXT);
    world.tick_ok("words");
    let fired = world.fired_ids("words");
    assert_eq!(fired.len(), 4, "{fired:?}");
    assert_eq!(
        fired[3],
        "tag:words.example.com,2024-05-19:/2024/05/reading-feeds/"
    );
    world.delete_with(FEED, "words").expect("DELETE");
    assert_eq!(world.leftovers(), Vec::<String>::new());
}

#[test]
fn a_feed_of_another_format_is_refused_before_anything_is_made() {
    let world = World::start();
    let feed = FeedSource::start(BLOG_ATOM, ATOM_CONTENT_TYPE).expect("feed");
    let error = world
        .create(
            "wrong",
            json!({"url": feed.feed_url(), "format": "rss", "minutes": 5}),
        )
        .expect_err("an Atom feed read as RSS");
    assert!(
        error.starts_with("invalid parameter `format`") && error.contains("it is an Atom feed"),
        "{error}"
    );
    let error = world
        .create(
            "paths",
            json!({"url": feed.feed_url(), "format": "atom", "itemsPath": "data", "minutes": 5}),
        )
        .expect_err("itemsPath for a feed");
    assert!(error.contains("`itemsPath`"), "{error}");
    assert_eq!(world.leftovers(), Vec::<String>::new());
    assert_eq!(world.names(EntityKind::Trigger), Vec::<String>::new());
}

#[test]
fn feeds_are_asked_with_their_own_validators_and_a_bad_version_keeps_the_last_good_ones() {
    let world = World::start();
    // A podcast host that sends only an ETag: the poll asks with If-None-Match alone.
    let podcast = FeedSource::start(PODCAST_RSS, RSS_CONTENT_TYPE).expect("feed");
    podcast.set_validators(Validators::ETagOnly);
    world
        .create(
            "podcast",
            json!({"url": podcast.feed_url(), "format": "rss", "cron": YEARLY}),
        )
        .expect("CREATE");
    podcast.clear_requests();
    assert_eq!(world.tick_ok("podcast")["outcome"], "unchanged");
    assert_eq!(conditional(&podcast), [(304, true, false)]);
    let good_etag = podcast.requests()[0]
        .header("If-None-Match")
        .map(str::to_owned);

    // A release page that sends no validators: every poll is a whole GET, and the same entries
    // are nothing new.
    let releases = FeedSource::start(RELEASES_ATOM, ATOM_CONTENT_TYPE).expect("feed");
    releases.set_validators(Validators::None);
    world
        .create(
            "releases",
            json!({"url": releases.feed_url(), "format": "atom", "cron": YEARLY}),
        )
        .expect("CREATE");
    releases.clear_requests();
    assert_eq!(world.tick_ok("releases")["outcome"], "nothing-new");
    assert_eq!(conditional(&releases), [(200, false, false)]);
    assert!(
        releases.requests()[0]
            .header("Accept")
            .is_some_and(|accept| accept.starts_with("application/atom+xml")),
        "{:?}",
        releases.requests()
    );
    assert!(world.events("releases").is_empty());

    // A broken version of the podcast feed: it is fetched again on every tick (the validators
    // of a version that could not be read are not kept) and reported each time...
    podcast.publish(b"<rss version=\"2.0\"><channel><item><guid>x</guid>");
    podcast.clear_requests();
    for _ in 0..2 {
        let activation = world.tick("podcast").expect("the poller ran");
        assert!(!activation.success, "{}", activation.result);
    }
    assert_eq!(
        conditional(&podcast),
        [(200, true, false), (200, true, false)]
    );
    for request in podcast.requests() {
        assert_eq!(request.header("If-None-Match"), good_etag.as_deref());
    }
    // ...and once the good version is back, the last good ETag matches it again: a 304.
    podcast.publish(PODCAST_RSS);
    podcast.clear_requests();
    assert_eq!(world.tick_ok("podcast")["outcome"], "unchanged");
    assert_eq!(conditional(&podcast), [(304, true, false)]);
    assert!(world.events("podcast").is_empty());

    for trigger in ["podcast", "releases"] {
        world.delete_with(FEED, trigger).expect("DELETE");
    }
    assert_eq!(world.leftovers(), Vec::<String>::new());
}
