//! The changes provider under load: its release binary as its own process, fed by the in-process
//! fake `_changes` server ([`FakeCouch`]) and firing at a counting trigger endpoint
//! ([`FireSink`]), all on loopback, all on this machine's cores.
//!
//! - Open feeds: register N feeds (each its own continuous `_changes` connection), wait until
//!   the database side sees N open streams, read the provider's resident memory.
//! - Latency: one more feed in the same process, changes published at a steady 1,000 a second;
//!   publish-to-fire time of each change (`maxChangesPerFire` 1: one fire per change).
//! - Throughput: the same feed at rising rates; a rate is sustained when every change of its
//!   step was fired within a tenth of the step's length after it ([`catch_up`]): a provider
//!   that falls behind builds a backlog that only grows.

use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};

use crate::child::rss_of;
use crate::couch::FakeCouch;
use crate::kit::Kit;
use crate::provider::{Provider, REGISTRARS, register_many, wait_until};
use crate::report::{Table, Verdict, mb, mb_in_kib, ms};
use crate::sink::{FireSink, SinkOptions};
use crate::stats::Samples;

const SECTION: &str = "provider";
const OPEN_FEEDS_TARGET: usize = 10_000;
const OPEN_FEEDS_MB: f64 = 512.0;
const LATENCY_RATE: f64 = 1000.0;
const LATENCY_P99_MS: f64 = 20.0;
/// Target of the connect time of 10,000 feeds.
const CONNECT_TARGET: Duration = Duration::from_secs(10);
/// OpenWhisk's fire round trip in the slow-fire benchmark.
const SLOW_FIRE: Duration = Duration::from_millis(40);

#[derive(Debug, Clone, Copy)]
pub struct LoadPlan {
    pub feeds: usize,
    pub latency_seconds: f64,
    pub step_seconds: f64,
    pub refinements: usize,
}

pub fn run(kit: &Kit, plan: LoadPlan, table: &mut Table) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let couch = FakeCouch::start(&runtime)?;
    let sink = FireSink::start(&runtime)?;
    // The flow runs beside the open feeds, in the same process, when they opened.
    let provider = match open_feeds(kit, plan.feeds, &couch, &sink, table) {
        Ok(mut provider) => {
            if let Err(error) = reconnect(&mut provider, plan.feeds, table) {
                table.failed(
                    SECTION,
                    "connect after a restart",
                    "10,000 feeds within 10 s",
                    &format!("{error:#}"),
                );
            }
            Some((provider, plan.feeds))
        }
        Err(error) => {
            table.failed(
                SECTION,
                "open feeds in one process",
                "10,000 under 512 MB",
                &format!("{error:#}"),
            );
            None
        }
    };
    let flowed = match provider {
        Some((provider, idle)) => flow(&provider, idle, plan, &couch, &sink, table),
        None => Provider::start(&kit.provider, "flow", &[])
            .and_then(|provider| flow(&provider, 0, plan, &couch, &sink, table)),
    };
    if let Err(error) = flowed {
        table.failed(
            SECTION,
            "change-to-fire latency / throughput",
            "",
            &format!("{error:#}"),
        );
    }
    if let Err(error) = slow_fires(kit, &runtime, &couch, plan, table) {
        table.failed(
            SECTION,
            "one feed with a 40 ms fire round trip",
            ">= 1,000 changes/s",
            &format!("{error:#}"),
        );
    }
    // Ends every task of the fakes and closes their sockets.
    runtime.shutdown_timeout(Duration::from_secs(5));
    Ok(())
}

fn open_feeds(
    kit: &Kit,
    feeds: usize,
    couch: &FakeCouch,
    sink: &FireSink,
    table: &mut Table,
) -> anyhow::Result<Provider> {
    couch.create_database("idle");
    let provider = Provider::start(&kit.provider, "feeds", &[])?;
    std::thread::sleep(Duration::from_millis(200));
    let (idle_kib, _) = rss_of(provider.pid()).context("the provider's memory")?;
    let started = Instant::now();
    let agent = provider.agent().clone();
    register_many(feeds, |index| {
        provider.register(
            &agent,
            &format!("idle-{index}"),
            sink.url(),
            couch.url(),
            "idle",
        )
    })?;
    let registered = started.elapsed();
    let all_open = wait_until(Duration::from_secs(180), || couch.streams("idle") >= feeds);
    let open = couch.streams("idle");
    if !all_open {
        bail!("only {open} of {feeds} feeds opened their connection within 180 s");
    }
    let connected = started.elapsed();
    // Let the last connections settle (buffers, first heartbeats) before reading memory.
    std::thread::sleep(Duration::from_secs(1));
    let (rss_kib, hwm_kib) = rss_of(provider.pid()).context("the provider's memory")?;
    let health = provider.health()?;
    let reported = health["counts"]["connected"].as_u64().unwrap_or(0);
    let per_feed_kib = (rss_kib.saturating_sub(idle_kib)) as f64 / feeds as f64;
    let projected_kib = idle_kib as f64 + per_feed_kib * OPEN_FEEDS_TARGET as f64;
    let target = format!("{OPEN_FEEDS_TARGET} feeds < {OPEN_FEEDS_MB} MB");
    let met = projected_kib < mb_in_kib(OPEN_FEEDS_MB) && feeds >= OPEN_FEEDS_TARGET;
    table.add(
        SECTION,
        format!("{feeds} open feeds in one process: RSS"),
        format!(
            "{} (peak {}; {:.1} KB per feed over {} idle)",
            mb(rss_kib as f64),
            mb(hwm_kib as f64),
            per_feed_kib * 1.024,
            mb(idle_kib as f64)
        ),
        target,
        if feeds >= OPEN_FEEDS_TARGET {
            format!("{reported} connected per /health")
        } else {
            format!(
                "--quick: {feeds} feeds; 10,000 projected {}",
                mb(projected_kib)
            )
        },
        if feeds >= OPEN_FEEDS_TARGET {
            Verdict::of(met)
        } else {
            Verdict::Info
        },
    );
    table.add(
        SECTION,
        format!("{feeds} feeds: registered / all connected"),
        format!(
            "{:.1} s / {:.1} s ({:.0} registrations/s)",
            registered.as_secs_f64(),
            connected.as_secs_f64(),
            feeds as f64 / registered.as_secs_f64()
        ),
        "",
        format!("{REGISTRARS} clients at once; each registration fsyncs the store"),
        Verdict::Info,
    );
    Ok(provider)
}

/// Kills the provider holding `feeds` open feeds and starts it again on the same store: the
/// time until every feed is connected again (each one is read from the store, checks its
/// database and opens its `_changes` stream).
fn reconnect(provider: &mut Provider, feeds: usize, table: &mut Table) -> anyhow::Result<()> {
    let started = Instant::now();
    provider.restart()?;
    let all = wait_until(Duration::from_secs(120), || {
        provider.metric("provider_feeds_connected") as usize >= feeds
    });
    let took = started.elapsed();
    if !all {
        bail!(
            "only {} of {feeds} feeds connected within 120 s of the restart",
            provider.metric("provider_feeds_connected")
        );
    }
    let target = CONNECT_TARGET.as_secs_f64() * feeds as f64 / OPEN_FEEDS_TARGET as f64;
    table.add(
        SECTION,
        format!("{feeds} feeds connected after a kill -9 and restart"),
        format!("{:.1} s ({:.0} feeds/s)", took.as_secs_f64(), feeds as f64 / took.as_secs_f64()),
        format!("10,000 within {} s", CONNECT_TARGET.as_secs()),
        "from the start of the process to the last stream open (store read, database checked, stream opened)",
        Verdict::of(took.as_secs_f64() <= target),
    );
    Ok(())
}

/// One feed firing into a sink that answers each fire after 40 ms (OpenWhisk's round trip): the
/// highest rate it keeps up with, one fire per change, and that nothing is lost.
fn slow_fires(
    kit: &Kit,
    runtime: &tokio::runtime::Runtime,
    couch: &FakeCouch,
    plan: LoadPlan,
    table: &mut Table,
) -> anyhow::Result<()> {
    let sink = FireSink::start_with(
        runtime,
        SinkOptions {
            delay: SLOW_FIRE,
            ledger: false,
        },
    )?;
    couch.create_database("slow");
    let provider = Provider::start(&kit.provider, "slow", &[])?;
    provider.register(provider.agent(), "slow", sink.url(), couch.url(), "slow")?;
    if !wait_until(Duration::from_secs(30), || couch.streams("slow") >= 1) {
        bail!("the feed did not connect within 30 s");
    }
    // Warm-up: the connections to the sink.
    step(couch, &sink, "slow", 200.0, 0.5);
    let seconds = plan.step_seconds.max(2.0);
    let mut sustained = 0.0;
    let mut lost = 0;
    let mut last = String::new();
    for rate in [1000.0, 1500.0, 2000.0, 2500.0] {
        std::thread::sleep(Duration::from_millis(300));
        let result = step(couch, &sink, "slow", rate, seconds);
        let expected = (rate * seconds) as usize;
        lost += expected.saturating_sub(result.fired + 1);
        eprintln!(
            "  provider, 40 ms fires: {rate:.0}/s → p99 {}, {} fired, {}",
            ms(result.latencies.p99()),
            result.fired,
            if result.caught_up {
                "kept up"
            } else {
                "fell behind"
            }
        );
        last = format!(
            "p50 {} p99 {} at {rate:.0}/s",
            ms(result.latencies.median()),
            ms(result.latencies.p99())
        );
        if !result.caught_up {
            break;
        }
        sustained = rate;
    }
    table.add(
        SECTION,
        "one feed, 40 ms fire round trip: changes/s sustained",
        format!("{sustained:.0}/s ({lost} lost)"),
        ">= 1,000/s, nothing lost",
        format!(
            "maxChangesPerFire 1, the default window of 100 fires in flight; change-to-fire {last}"
        ),
        Verdict::of(sustained >= 1000.0 && lost == 0),
    );
    Ok(())
}

/// Publishes to `db` at `rate` changes a second for `seconds`; the sequences published.
fn publish_steady(
    couch: &FakeCouch,
    sink: &FireSink,
    db: &str,
    rate: f64,
    seconds: f64,
) -> (u64, u64) {
    let start = Instant::now();
    let length = Duration::from_secs_f64(seconds);
    let mut sent = 0_usize;
    let mut first = None;
    let mut end = 0;
    loop {
        let elapsed = start.elapsed();
        let due = ((elapsed.min(length).as_secs_f64() * rate) as usize).max(1);
        if due > sent {
            let count = due - sent;
            let at = Instant::now();
            let seq = couch.publish(db, count);
            sink.timeline.published(seq, count, at);
            first.get_or_insert(seq);
            end = seq + count as u64;
            sent = due;
        }
        if elapsed >= length {
            break;
        }
        std::thread::sleep(Duration::from_micros(250));
    }
    (first.unwrap_or(end), end)
}

/// What one step at a steady rate gave.
struct Step {
    /// Publish-to-fire latencies, in ms.
    latencies: Samples,
    fired: usize,
    /// Every change of the step was fired soon after the last was published (see
    /// [`catch_up`]).
    caught_up: bool,
    /// Fires per second from the first publish to the last fire (or the drain limit).
    achieved: usize,
}

/// How soon after a step's last change every change of it must have been fired for the step to
/// count as kept up with: a tenth of the step (at least 200 ms). A backlog that drains within
/// that means a rate at most about 10% above what the provider fires; a short stall (a slow
/// fsync) may leave one that drains that fast, a rate well above capacity leaves one that does
/// not.
fn catch_up(seconds: f64) -> Duration {
    Duration::from_secs_f64((seconds / 10.0).max(0.2))
}

fn step(couch: &FakeCouch, sink: &FireSink, db: &str, rate: f64, seconds: f64) -> Step {
    let began = Instant::now();
    let (first, end) = publish_steady(couch, sink, db, rate, seconds);
    let total = (end - first) as usize;
    let all_fired = || sink.timeline.fired_count(first, end) >= total;
    let caught_up = wait_until(catch_up(seconds), all_fired);
    wait_until(Duration::from_secs_f64(2.0 + seconds), all_fired);
    let fired = sink.timeline.fired_count(first, end);
    let mut latencies = Samples::default();
    for latency in sink.timeline.latencies(first, end) {
        latencies.push_duration(latency);
    }
    let achieved = (fired as f64 / began.elapsed().as_secs_f64()) as usize;
    Step {
        latencies,
        fired,
        caught_up,
        achieved: achieved.min(total),
    }
}

/// fdatasync of a small append on the disk the provider's store is on (the temp directory), as
/// its per-second position flush does: context for its latency tail.
fn fsync_latency(samples: usize) -> anyhow::Result<Samples> {
    use std::io::Write as _;
    let dir = crate::kit::TempDir::new("fsync")?;
    let mut file = std::fs::File::create(dir.path().join("probe.log"))?;
    let mut latencies = Samples::default();
    for index in 0..samples {
        file.write_all(format!("{{\"pos\":{index}}}\n").as_bytes())?;
        let start = Instant::now();
        file.sync_data()?;
        latencies.push_duration(start.elapsed());
        std::thread::sleep(Duration::from_millis(10));
    }
    Ok(latencies)
}

fn flow(
    provider: &Provider,
    idle: usize,
    plan: LoadPlan,
    couch: &FakeCouch,
    sink: &FireSink,
    table: &mut Table,
) -> anyhow::Result<()> {
    couch.create_database("hot");
    provider.register(provider.agent(), "hot", sink.url(), couch.url(), "hot")?;
    if !wait_until(Duration::from_secs(30), || couch.streams("hot") >= 1) {
        bail!("the feed did not connect within 30 s");
    }
    let fsyncs = fsync_latency(50)?;
    table.add(
        SECTION,
        "context: fdatasync of an append on the store's disk",
        format!(
            "p50 {}, p99 {}, max {}",
            ms(fsyncs.median()),
            ms(fsyncs.p99()),
            ms(fsyncs.max())
        ),
        "",
        "the embedded store commits positions every 250 ms without a flush (WAL, synchronous=NORMAL) and each batch of registrations with one",
        Verdict::Info,
    );
    // Warm-up: connections to the sink, the first fires.
    step(couch, sink, "hot", 200.0, 0.5);

    let Step {
        latencies, fired, ..
    } = step(couch, sink, "hot", LATENCY_RATE, plan.latency_seconds);
    let expected = (LATENCY_RATE * plan.latency_seconds) as usize;
    table.add(
        SECTION,
        "change-to-fire latency at 1,000 changes/s",
        format!(
            "p50 {}, p99 {}, max {} ({fired} changes)",
            ms(latencies.median()),
            ms(latencies.p99()),
            ms(latencies.max())
        ),
        format!("p99 < {LATENCY_P99_MS} ms"),
        format!("one feed, one fire per change, beside {idle} idle feeds"),
        Verdict::of(latencies.p99() < LATENCY_P99_MS && fired + 1 >= expected),
    );

    // Rising rates until a step falls behind, then halving the gap.
    let mut sustained = 0.0;
    let mut failed_at = None;
    let mut capacity = 0;
    let run_step = |rate: f64| {
        // A backlog left by an earlier step would spill into this one: let it drain.
        std::thread::sleep(Duration::from_millis(300));
        let result = step(couch, sink, "hot", rate, plan.step_seconds);
        eprintln!(
            "  provider: {rate:.0}/s → p99 {}, {} fired, {}/s, {}",
            ms(result.latencies.p99()),
            result.fired,
            result.achieved,
            if result.caught_up {
                "kept up"
            } else {
                "fell behind"
            }
        );
        result
    };
    let mut rate = 2000.0;
    while rate <= 256_000.0 {
        let result = run_step(rate);
        if result.caught_up {
            sustained = rate;
            rate *= 2.0;
        } else {
            failed_at = Some(rate);
            capacity = result.achieved;
            break;
        }
    }
    if let Some(mut high) = failed_at {
        let mut low = sustained;
        for _ in 0..plan.refinements {
            let middle = ((low + high) / 2.0 / 100.0).round() * 100.0;
            if middle <= low || middle >= high {
                break;
            }
            let result = run_step(middle);
            if result.caught_up {
                low = middle;
            } else {
                high = middle;
                capacity = capacity.max(result.achieved);
            }
        }
        sustained = low;
    }
    table.add(
        SECTION,
        "most changes/s sustained without falling behind",
        format!("{sustained:.0}/s"),
        "",
        match failed_at {
            Some(rate) => format!(
                "one feed, one fire per change; first step behind: {rate:.0}/s (fired ~{capacity}/s); steps of {:.1} s, all fired within {} ms of the step's end",
                plan.step_seconds,
                catch_up(plan.step_seconds).as_millis()
            ),
            None => "never fell behind up to 256,000/s".to_owned(),
        },
        Verdict::Info,
    );
    let (rss_kib, _) = rss_of(provider.pid()).unwrap_or_default();
    table.add(
        SECTION,
        "provider RSS after the load",
        mb(rss_kib as f64),
        "",
        format!("{} fires taken by the sink in all", sink.fires()),
        Verdict::Info,
    );
    Ok(())
}
