//! One poll with thousands of new items: `pollMyService` from `dist/`, run as the runtime runs
//! it, fires them in batches (the default `batch: list`, `maxItemsPerFire` 100) at the sandbox.
//! Once from a JSON source, once from an RSS feed of as many items (read through the XML
//! reader). Figures: time from the spawn until the sandbox took the last fire, the whole
//! activation, peak memory, fires sent.

use std::time::{Duration, SystemTime};

use anyhow::Context as _;
use fakes::{FeedSource, JsonSource, RSS_CONTENT_TYPE};
use feedkit::Client;
use sandbox::{GUEST_AUTH_KEY, Sandbox};
use serde_json::{Value, json};

use crate::child::{Activation, Ran, Scratch};
use crate::fixtures::{
    POLL_FEED, POLLER, YEARLY, feed_params, kit_sandbox, ow_env, poller_params, put_trigger,
};
use crate::kit::{Kit, TempDir};
use crate::report::{Table, Verdict, mb, mb_in_kib, ms};
use crate::stats::Samples;

const SECTION: &str = "10k poll";
/// The figure.
const ITEMS: usize = 10_000;
const TARGET_MS: f64 = 250.0;
const TARGET_MB: f64 = 64.0;

struct Burst<'k> {
    kit: &'k Kit,
    sandbox: Sandbox,
    guest: Client,
    source: JsonSource,
    feed: FeedSource,
    scratch: Scratch,
    runs: usize,
}

/// One poll's figures.
struct Poll {
    ran: Ran,
    started: SystemTime,
    last_fire: Option<SystemTime>,
    fires: usize,
    items_fired: usize,
}

fn item(number: usize) -> Value {
    json!({
        "id": format!("burst-{number}"),
        "title": format!("Burst item {number}"),
        "link": format!("https://example.invalid/burst/{number}"),
        "published": "2025-01-01T00:00:00Z",
    })
}

/// What is polled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Json,
    Rss,
}

/// An RSS 2.0 feed of `items` items shaped like a blog's (newest first).
fn rss(items: usize) -> Vec<u8> {
    let mut feed = String::from(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<rss version=\"2.0\" \
         xmlns:dc=\"http://purl.org/dc/elements/1.1/\"><channel><title>Burst</title>\
         <link>https://example.invalid/</link><description>bench</description>\n",
    );
    for number in (0..items).rev() {
        feed.push_str(&format!(
            "<item><title>Burst item {number}</title>\
             <link>https://example.invalid/burst/{number}</link>\
             <guid isPermaLink=\"false\">burst-{number}</guid>\
             <pubDate>Wed, 01 Jan 2025 00:00:00 +0000</pubDate>\
             <dc:creator><![CDATA[Bench]]></dc:creator><category>bench</category>\
             <description><![CDATA[<p>Item {number} of the burst, with a paragraph of text \
             about as long as a teaser is.</p>]]></description></item>\n"
        ));
    }
    feed.push_str("</channel></rss>\n");
    feed.into_bytes()
}

impl Burst<'_> {
    /// Publishes `items` items at the source of `kind`; its URL.
    fn publish(&self, kind: Kind, items: usize) -> String {
        match kind {
            Kind::Json => {
                self.source.set_items((0..items).map(item).collect());
                self.source.items_url()
            }
            Kind::Rss => {
                self.feed.publish(&rss(items));
                self.feed.feed_url()
            }
        }
    }

    /// A fresh poll feed on an empty source, then `items` new items, then one poll.
    fn poll(&self, kind: Kind, trigger: &str, items: usize, traced: bool) -> anyhow::Result<Poll> {
        let url = self.publish(kind, 0);
        put_trigger(&self.guest, trigger, POLL_FEED)?;
        let create = Activation {
            program: self.kit.exec("poll-feed").to_path_buf(),
            args: Vec::new(),
            params: feed_params("CREATE", trigger, json!({"url": url, "cron": YEARLY})).to_string(),
            env: ow_env(&self.sandbox.url(), POLL_FEED, None),
        };
        let created = create.timed(&self.scratch)?.result();
        if created.get("error").is_some() || !created.is_object() {
            anyhow::bail!("poll-feed CREATE failed: {created}");
        }
        self.publish(kind, items);
        let poller = Activation {
            program: self.kit.exec("pollMyService").to_path_buf(),
            args: Vec::new(),
            params: poller_params(&self.sandbox, trigger)?.to_string(),
            env: ow_env(&self.sandbox.url(), POLLER, Some(GUEST_AUTH_KEY)),
        };
        let started = SystemTime::now();
        let ran = if traced {
            poller.traced(&self.scratch)?
        } else {
            poller.timed(&self.scratch)?
        };
        let accepted: Vec<_> = self
            .sandbox
            .fires("guest", trigger)
            .into_iter()
            .filter(|fire| matches!(fire.status, 202 | 204))
            .collect();
        let items_fired = accepted
            .iter()
            .map(|fire| fire.payload["items"].as_array().map_or(1, Vec::len))
            .sum();
        let poll = Poll {
            started,
            last_fire: accepted.iter().map(|fire| fire.at).max(),
            fires: accepted.len(),
            items_fired,
            ran,
        };
        let delete = Activation {
            params: feed_params("DELETE", trigger, json!({})).to_string(),
            ..create
        };
        delete.timed(&self.scratch)?;
        Ok(poll)
    }

    fn measure(&self, kind: Kind, items: usize, table: &mut Table) {
        let figure = match kind {
            Kind::Json => format!("pollMyService, one poll of {items} new items"),
            Kind::Rss => format!(
                "pollMyService, one poll of an RSS feed of {items} new items ({:.1} MB)",
                rss(items).len() as f64 / 1_000_000.0
            ),
        };
        let target = format!("all fired < {TARGET_MS} ms, peak < {TARGET_MB} MB");
        let mut to_last_fire = Samples::default();
        let mut walls = Samples::default();
        let mut peak = None;
        let mut fires = 0;
        for run in 0..=self.runs {
            // The last run is traced, for memory.
            let traced = run == self.runs;
            let trigger = format!("burst-{kind:?}-{items}-{run}").to_lowercase();
            let poll = match self.poll(kind, &trigger, items, traced) {
                Ok(poll) => poll,
                Err(error) => {
                    return table.failed(SECTION, &figure, &target, &format!("{error:#}"));
                }
            };
            if poll.items_fired < items {
                let answer = poll.ran.result();
                let why = answer
                    .get("error")
                    .or_else(|| answer.get("detail"))
                    .map_or_else(|| answer.to_string(), Value::to_string);
                table.add(
                    SECTION,
                    figure,
                    format!("{} of {items} items fired", poll.items_fired),
                    target,
                    format!("the poller answered: {why}"),
                    Verdict::Missed,
                );
                return;
            }
            fires = poll.fires;
            if traced {
                peak = poll.ran.peak_rss_kib;
            } else {
                let last = poll
                    .last_fire
                    .and_then(|at| at.duration_since(poll.started).ok())
                    .unwrap_or(Duration::MAX);
                to_last_fire.push_duration(last);
                walls.push_duration(poll.ran.wall);
            }
        }
        let peak_kib = peak.map_or(f64::NAN, |kib| kib as f64);
        let met = to_last_fire.median() < TARGET_MS && peak_kib < mb_in_kib(TARGET_MB);
        table.add(
            SECTION,
            figure,
            format!(
                "last fire at {} (median of {}), activation {}, peak {}, {fires} fires",
                ms(to_last_fire.median()),
                to_last_fire.len(),
                ms(walls.median()),
                mb(peak_kib)
            ),
            target,
            "batched: 100 items per fire (default)",
            Verdict::of(met),
        );
    }
}

pub fn run(kit: &Kit, runs: usize, table: &mut Table) -> anyhow::Result<()> {
    let dir = TempDir::new("burst")?;
    let (sandbox, guest) = kit_sandbox(kit)?;
    let burst = Burst {
        kit,
        sandbox,
        guest,
        source: JsonSource::start().context("starting the JSON source")?,
        feed: FeedSource::start(&rss(0), RSS_CONTENT_TYPE).context("starting the feed")?,
        scratch: Scratch::new(dir.path()),
        runs,
    };
    let limit = poll_feed::MAX_ITEMS_PER_POLL;
    for kind in [Kind::Json, Kind::Rss] {
        burst.measure(kind, ITEMS, table);
        if limit < ITEMS {
            table.note(format!(
                "pollMyService accepts at most {limit} items per response (poll_feed::MAX_ITEMS_PER_POLL, which bounds the seen set kept on the helper trigger); the next row is the largest poll it takes"
            ));
            burst.measure(kind, limit, table);
        }
    }
    Ok(())
}
