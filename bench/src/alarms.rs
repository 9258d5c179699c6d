//! The provider's `alarms` source: memory for 100,000 alarms in one instance, then the jitter of
//! 1,000 alarms due in the same second (when each fire reaches the fire target, against the
//! second it was scheduled for), in that same instance.
//!
//! The many alarms are one-hour intervals that do not tick during the run (their memory is what
//! an alarm costs between its ticks); the 1,000 are 6-field cron patterns naming one second a
//! few seconds ahead, each with its index in its payload.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context as _, bail};
use serde_json::{Value, json};

use crate::child::rss_of;
use crate::kit::Kit;
use crate::provider::{Provider, REGISTRARS, register_many};
use crate::report::{Table, Verdict, mb, mb_in_kib, ms};
use crate::sink::FireSink;
use crate::stats::Samples;

const SECTION: &str = "alarms";
const MEMORY_TARGET_ALARMS: usize = 100_000;
const MEMORY_TARGET_MB: f64 = 256.0;
const JITTER_TARGET_MS: f64 = 50.0;

/// How many alarms (the 1,000 due together among them).
#[derive(Debug, Clone, Copy)]
pub struct AlarmPlan {
    pub alarms: usize,
    pub due_together: usize,
}

fn epoch_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|elapsed| elapsed.as_millis() as u64)
        .unwrap_or_default()
}

/// Registers `count` alarms named `{prefix}-{i}` with `config(i)`, from several clients.
fn register_all(
    provider: &Provider,
    prefix: &str,
    count: usize,
    api_host: &str,
    config: impl Fn(usize) -> Value + Sync,
) -> anyhow::Result<()> {
    register_many(count, |index| {
        let body = json!({
            "apiHost": api_host,
            "authKey": sandbox::GUEST_AUTH_KEY,
            "kind": "alarms",
            "config": config(index),
        });
        provider.put_feed(provider.agent(), &format!("{prefix}-{index}"), &body)
    })
}

pub fn run(kit: &Kit, plan: AlarmPlan, table: &mut Table) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let sink = FireSink::start(&runtime)?;
    let provider = Provider::start(&kit.provider, "alarms", &["--log", "warn"])?;
    std::thread::sleep(Duration::from_millis(200));
    let (idle_kib, _) = rss_of(provider.pid()).context("the provider's memory")?;
    let many = plan.alarms - plan.due_together;
    let started = Instant::now();
    register_all(
        &provider,
        "hourly",
        many,
        sink.url(),
        |_| json!({"minutes": 60}),
    )?;
    let registered = started.elapsed();

    // The 1,000: every one names the same two seconds (5 s apart), far enough ahead to
    // register them all. The first tick finds no connection to the fire target open; the
    // second finds the first's (as an alarm firing more often than the client's 90 s idle
    // timeout does).
    let due_ms = (epoch_ms() / 1000 + 12) * 1000;
    let second_ms = due_ms + 5_000;
    let at_second = |ms: u64| ((ms / 1000) % 60, (ms / 60_000) % 60, (ms / 3_600_000) % 24);
    let (first, second) = (at_second(due_ms), at_second(second_ms));
    let pattern = if (first.1, first.2) == (second.1, second.2) {
        format!("{},{} {} {} * * *", first.0, second.0, first.1, first.2)
    } else {
        // Across a minute or an hour: two patterns' worth in one (every minute and hour named).
        format!(
            "{},{} {},{} {},{} * * *",
            first.0, second.0, first.1, second.1, first.2, second.2
        )
    };
    register_all(
        &provider,
        "due",
        plan.due_together,
        sink.url(),
        |index| json!({"cron": pattern, "triggerPayload": {"seq": index}}),
    )?;
    if epoch_ms() + 500 > due_ms {
        bail!(
            "registering the {} alarms took past their second",
            plan.due_together
        );
    }
    // Let the timers and the registrations settle before reading memory.
    std::thread::sleep(Duration::from_secs(1));
    let (rss_kib, hwm_kib) = rss_of(provider.pid()).context("the provider's memory")?;
    let alarms = plan.alarms;
    let per_alarm_kib = rss_kib.saturating_sub(idle_kib) as f64 / alarms as f64;
    let projected_kib = idle_kib as f64 + per_alarm_kib * MEMORY_TARGET_ALARMS as f64;
    let full = alarms >= MEMORY_TARGET_ALARMS;
    table.add(
        SECTION,
        format!("{alarms} alarms in one process: RSS"),
        format!(
            "{} (peak {}; {:.2} KB per alarm over {} idle)",
            mb(rss_kib as f64),
            mb(hwm_kib as f64),
            per_alarm_kib * 1.024,
            mb(idle_kib as f64)
        ),
        format!("{MEMORY_TARGET_ALARMS} alarms < {MEMORY_TARGET_MB} MB"),
        if full {
            "embedded store".to_owned()
        } else {
            format!(
                "--quick: {MEMORY_TARGET_ALARMS} projected {}",
                mb(projected_kib)
            )
        },
        if full {
            Verdict::of(projected_kib < mb_in_kib(MEMORY_TARGET_MB))
        } else {
            Verdict::Info
        },
    );
    table.add(
        SECTION,
        format!("{many} alarms registered"),
        format!(
            "{:.1} s ({:.0} registrations/s)",
            registered.as_secs_f64(),
            many as f64 / registered.as_secs_f64()
        ),
        "",
        format!("{REGISTRARS} clients at once; each registration fsyncs the store"),
        Verdict::Info,
    );

    // Jitter: when each of the 1,000 fires arrived, against its second.
    let now = (Instant::now(), epoch_ms());
    let instant_of = |ms: u64| now.0 + Duration::from_millis(ms.saturating_sub(now.1));
    for (label, due_ms, verdict) in [
        ("first tick, connections opened", due_ms, false),
        ("next tick, connections reused", second_ms, true),
    ] {
        let due_at = instant_of(due_ms);
        let until = due_at + Duration::from_millis(4_000);
        let deadline = due_at + Duration::from_secs(30);
        let count = || {
            sink.timeline
                .arrivals(due_at - Duration::from_secs(1), until)
                .len()
        };
        while count() < plan.due_together && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        let arrivals = sink
            .timeline
            .arrivals(due_at - Duration::from_secs(1), until);
        let mut jitter = Samples::default();
        for (_, at) in &arrivals {
            jitter.push(if *at >= due_at {
                at.duration_since(due_at).as_secs_f64() * 1000.0
            } else {
                -(due_at.duration_since(*at).as_secs_f64() * 1000.0)
            });
        }
        let fired = arrivals.len();
        table.add(
            SECTION,
            format!(
                "{} alarms due in the same second, {label}: fire jitter p50 / p99",
                plan.due_together
            ),
            format!("{} / {}", ms(jitter.median()), ms(jitter.p99())),
            if verdict {
                format!("p99 <= {JITTER_TARGET_MS} ms")
            } else {
                String::new()
            },
            format!(
                "{fired} of {} fired; max {}; among {alarms} alarms",
                plan.due_together,
                ms(jitter.max())
            ),
            if verdict {
                Verdict::of(fired == plan.due_together && jitter.p99() <= JITTER_TARGET_MS)
            } else {
                Verdict::Info
            },
        );
    }
    drop(provider);
    runtime.shutdown_timeout(Duration::from_secs(5));
    Ok(())
}
