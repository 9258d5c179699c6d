//! The changes provider as a fleet: three release instances sharing a registry on
//! pouchdb-server (the CouchDB the tests use), watched databases served by the in-process
//! [`FakeCouch`], fires taken by a [`FireSink`] that notes every fire per trigger.
//!
//! - Feeds over three instances: registrations per second through the three (the registry's
//!   writes are compare-and-swap), the time until every feed is connected, each instance's
//!   memory.
//! - Failover: hot feeds (a change every 50 ms each) beside them; the instance running most of
//!   them is killed (SIGKILL) and restarted, ten times. Per kill: the time from the kill until
//!   every one of its hot feeds fired again from another instance, and the changes fired twice
//!   (what was fired after the last saved position). At the end, nothing may be missing.

use std::fs::File;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};

use crate::child::rss_of;
use crate::couch::FakeCouch;
use crate::kit::{Kit, TempDir};
use crate::provider::{PROVIDER_SECRET, Provider, REGISTRARS, register_many, wait_until};
use crate::report::{Table, Verdict, mb};
use crate::sink::{FireSink, SinkOptions};
use crate::stats::Samples;

const SECTION: &str = "fleet";
const INSTANCES: usize = 3;
const HOT_FEEDS: usize = 24;
const HOT_EVERY: Duration = Duration::from_millis(50);
/// The provider key every instance seals with (32 bytes).
const KEY: &str = "k1 AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n";

/// What the section runs.
#[derive(Debug, Clone, Copy)]
pub struct FleetPlan {
    pub feeds: usize,
    pub kills: usize,
    pub lease: Duration,
}

/// pouchdb-server in memory, killed on drop.
struct Registry {
    child: Child,
    url: String,
}

impl Registry {
    fn start(dir: &Path) -> anyhow::Result<Registry> {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .context("the bench crate sits in the workspace")?;
        let packages = root.join("provider/testdb");
        npm_packages::install(&packages).map_err(|error| anyhow::anyhow!("{error}"))?;
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let log = File::create(dir.join("pouchdb.log"))?;
        let child = Command::new("node")
            .arg(packages.join("node_modules/pouchdb-server/bin/pouchdb-server"))
            .args(["--in-memory", "--no-stdout-logs", "--host", "127.0.0.1"])
            .args(["--port", &port.to_string()])
            .arg("--config")
            .arg(dir.join("pouchdb-config.json"))
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .context("starting pouchdb-server")?;
        let registry = Registry {
            child,
            url: format!("http://127.0.0.1:{port}"),
        };
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(5)))
            .build()
            .into();
        let started = Instant::now();
        while !agent
            .get(&registry.url)
            .call()
            .is_ok_and(|response| response.status() == 200)
        {
            if started.elapsed() > Duration::from_secs(60) {
                bail!("pouchdb-server did not answer within 60 s");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(registry)
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

struct Fleet {
    instances: Vec<Provider>,
}

impl Fleet {
    fn start(kit: &Kit, registry: &Registry, dir: &Path, lease: Duration) -> anyhow::Result<Fleet> {
        let key = dir.join("provider.key");
        std::fs::write(&key, KEY)?;
        let mut instances = Vec::new();
        for index in 0..INSTANCES {
            let args: Vec<String> = [
                "--couchdb-url",
                &registry.url,
                "--couchdb-database",
                "bench_fleet",
                "--key-file",
                &key.display().to_string(),
                "--instance-id",
                &format!("p{index}"),
                "--lease-ms",
                &lease.as_millis().to_string(),
            ]
            .iter()
            .map(|arg| arg.to_string())
            .collect();
            let log = dir.join(format!("instance-{index}.log"));
            instances.push(Provider::fleet(&kit.provider, args, &log)?);
        }
        Ok(Fleet { instances })
    }

    fn sum(&self, metric: &str) -> usize {
        self.instances
            .iter()
            .map(|instance| instance.metric(metric) as usize)
            .sum()
    }

    /// Which instance runs `trigger`, by its READ (answered by the instance that runs it).
    fn owner(&self, trigger: &str) -> Option<usize> {
        let instance = &self.instances[0];
        let mut response = instance
            .agent()
            .get(&format!("{}/feeds/guest/{trigger}", instance.url))
            .header("Authorization", &format!("Bearer {PROVIDER_SECRET}"))
            .call()
            .ok()?;
        let text = response.body_mut().read_to_string().ok()?;
        let view: serde_json::Value = serde_json::from_str(&text).ok()?;
        let owner = view["status"]["owner"].as_str()?;
        owner.strip_prefix('p')?.parse().ok()
    }
}

pub fn run(kit: &Kit, plan: FleetPlan, table: &mut Table) -> anyhow::Result<()> {
    let dir = TempDir::new("fleet")?;
    let registry = Registry::start(dir.path())?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let couch = FakeCouch::start(&runtime)?;
    let sink = FireSink::start_with(
        &runtime,
        SinkOptions {
            delay: Duration::ZERO,
            ledger: true,
        },
    )?;
    let mut fleet = Fleet::start(kit, &registry, dir.path(), plan.lease)?;
    let result = spread(&fleet, plan.feeds, &couch, &sink, table)
        .and_then(|()| failovers(&mut fleet, plan, &couch, &sink, table));
    drop(fleet);
    runtime.shutdown_timeout(Duration::from_secs(5));
    result
}

/// `feeds` idle feeds registered through the three instances in turn.
fn spread(
    fleet: &Fleet,
    feeds: usize,
    couch: &FakeCouch,
    sink: &FireSink,
    table: &mut Table,
) -> anyhow::Result<()> {
    couch.create_database("idle");
    if !wait_until(Duration::from_secs(60), || {
        fleet.sum("provider_buckets_held") == 64 && fleet.sum("provider_members") == 9
    }) {
        bail!("the three instances did not share the buckets within 60 s");
    }
    let started = Instant::now();
    register_many(feeds, |index| {
        let via = &fleet.instances[index % INSTANCES];
        via.register(
            via.agent(),
            &format!("idle-{index}"),
            sink.url(),
            couch.url(),
            "idle",
        )
    })?;
    let registered = started.elapsed();
    if !wait_until(Duration::from_secs(300), || {
        fleet.sum("provider_feeds_connected") >= feeds
    }) {
        bail!(
            "only {} of {feeds} feeds connected within 300 s",
            fleet.sum("provider_feeds_connected")
        );
    }
    let connected = started.elapsed();
    std::thread::sleep(Duration::from_secs(1));
    let memory: Vec<String> = fleet
        .instances
        .iter()
        .map(|instance| {
            let running = instance.metric("provider_feeds_running");
            let rss = rss_of(instance.pid()).map_or(0, |(rss, _)| rss);
            format!("{} ({running:.0} feeds)", mb(rss as f64))
        })
        .collect();
    table.add(
        SECTION,
        format!("{feeds} feeds over 3 instances: registrations/s"),
        format!(
            "{:.0}/s ({:.1} s), all connected after {:.1} s",
            feeds as f64 / registered.as_secs_f64(),
            registered.as_secs_f64(),
            connected.as_secs_f64()
        ),
        "",
        format!("{REGISTRARS} clients through the instances in turn; each registration a compare-and-swap write to the registry (pouchdb-server)"),
        Verdict::Info,
    );
    table.add(
        SECTION,
        format!("{feeds} feeds over 3 instances: RSS per instance"),
        memory.join(" / "),
        "",
        "each instance knows every feed (it follows the registry) and runs its buckets' share",
        Verdict::Info,
    );
    Ok(())
}

/// Kills the instance running most hot feeds, `plan.kills` times.
fn failovers(
    fleet: &mut Fleet,
    plan: FleetPlan,
    couch: &FakeCouch,
    sink: &FireSink,
    table: &mut Table,
) -> anyhow::Result<()> {
    let hot: Vec<String> = (0..HOT_FEEDS).map(|index| format!("hot-{index}")).collect();
    // Registered through the instances in turn: most run on another instance than the one
    // that registered them. A change written right after each registration: how soon it fires.
    let mut registered = Vec::new();
    for (index, trigger) in hot.iter().enumerate() {
        couch.create_database(trigger);
        let via = &fleet.instances[index % INSTANCES];
        via.register(via.agent(), trigger, sink.url(), couch.url(), trigger)?;
        let at = Instant::now();
        couch.publish(trigger, 1);
        registered.push((trigger.clone(), at));
    }
    if !wait_until(Duration::from_secs(30), || {
        registered
            .iter()
            .all(|(trigger, at)| sink.ledger.first_after(trigger, *at).is_some())
    }) {
        bail!("the hot feeds did not fire within 30 s of their registration");
    }
    let mut start = Samples::default();
    for (trigger, at) in &registered {
        if let Some(fired) = sink.ledger.first_after(trigger, *at) {
            start.push_duration(fired.duration_since(*at));
        }
    }
    table.add(
        SECTION,
        "a feed registered through any instance: registration to its first fire",
        format!("median {:.0} ms, max {:.0} ms ({} feeds)", start.median(), start.max(), start.len()),
        "< 1 s",
        "the instance holding its bucket learns of it through the registry's _changes, connects and fires",
        Verdict::of(start.max() < 1000.0),
    );
    let stop = Arc::new(AtomicBool::new(false));
    let published = Arc::new(AtomicUsize::new(0));
    let publisher = {
        let (stop, published) = (stop.clone(), published.clone());
        let hot = hot.clone();
        let couch = couch.clone();
        std::thread::spawn(move || {
            while !stop.load(Ordering::SeqCst) {
                for db in &hot {
                    couch.publish(db, 1);
                }
                published.fetch_add(1, Ordering::SeqCst);
                std::thread::sleep(HOT_EVERY);
            }
        })
    };
    let mut all_moved = Samples::default();
    let mut first_moved = Samples::default();
    let mut duplicates = Samples::default();
    let mut failure = None;
    for kill in 0..plan.kills {
        // Settled: every feed runs and a change every trigger got recently fired.
        let settled = wait_until(Duration::from_secs(120), || {
            fleet.sum("provider_buckets_held") == 64
                && fleet.sum("provider_feeds_running") == plan.feeds + HOT_FEEDS
        });
        if !settled {
            failure = Some(format!("the fleet did not settle before kill {kill}"));
            break;
        }
        std::thread::sleep(Duration::from_millis(500));
        let owners: Vec<(String, Option<usize>)> = hot
            .iter()
            .map(|trigger| (trigger.clone(), fleet.owner(trigger)))
            .collect();
        let victim = (0..INSTANCES)
            .max_by_key(|index| owners.iter().filter(|(_, o)| *o == Some(*index)).count())
            .unwrap_or(0);
        let moved: Vec<&String> = owners
            .iter()
            .filter(|(_, owner)| *owner == Some(victim))
            .map(|(trigger, _)| trigger)
            .collect();
        let before: u64 = moved.iter().map(|t| sink.ledger.duplicates(t)).sum();
        let killed = Instant::now();
        fleet.instances[victim].kill();
        let from = killed + Duration::from_millis(20);
        let all_fired = wait_until(plan.lease * 4 + Duration::from_secs(30), || {
            moved
                .iter()
                .all(|trigger| sink.ledger.first_after(trigger, from).is_some())
        });
        if !all_fired {
            failure = Some(format!(
                "kill {kill}: the victim's feeds did not fire again"
            ));
            break;
        }
        let times: Vec<Duration> = moved
            .iter()
            .filter_map(|trigger| sink.ledger.first_after(trigger, from))
            .map(|at| at.duration_since(killed))
            .collect();
        if let (Some(first), Some(last)) = (times.iter().min(), times.iter().max()) {
            first_moved.push_duration(*first);
            all_moved.push_duration(*last);
        }
        eprintln!(
            "  fleet: kill {kill} of p{victim} ({} hot feeds): all firing again after {:.2} s",
            moved.len(),
            times.iter().max().map_or(0.0, Duration::as_secs_f64)
        );
        std::thread::sleep(Duration::from_secs(1));
        let after: u64 = moved.iter().map(|t| sink.ledger.duplicates(t)).sum();
        duplicates.push((after - before) as f64);
        fleet.instances[victim].restart()?;
    }
    stop.store(true, Ordering::SeqCst);
    let _ = publisher.join();
    let rounds = published.load(Ordering::SeqCst) as u64;
    let lost_ok = wait_until(Duration::from_secs(60), || {
        hot.iter()
            .all(|trigger| sink.ledger.missing(trigger, 1, rounds + 1) == 0)
    });
    let lost: u64 = hot
        .iter()
        .map(|trigger| sink.ledger.missing(trigger, 1, rounds + 1))
        .sum();
    if let Some(failure) = failure {
        bail!("{failure}");
    }
    let lease = plan.lease.as_secs_f64();
    table.add(
        SECTION,
        format!(
            "failover: kill -9 to every hot feed firing again ({} kills)",
            all_moved.len()
        ),
        format!(
            "median {:.2} s, max {:.2} s (first feed: median {:.2} s)",
            all_moved.median() / 1000.0,
            all_moved.max() / 1000.0,
            first_moved.median() / 1000.0
        ),
        format!("within the lease ({lease:.0} s) + a margin"),
        format!(
            "--lease-ms {}; {HOT_FEEDS} hot feeds beside the idle ones, a change every 50 ms each",
            plan.lease.as_millis()
        ),
        Verdict::of(all_moved.max() / 1000.0 <= lease + 5.0),
    );
    table.add(
        SECTION,
        "failover: changes fired twice per failover",
        format!(
            "median {:.0}, max {:.0}; {lost} lost of {} changes",
            duplicates.median(),
            duplicates.max(),
            rounds * HOT_FEEDS as u64
        ),
        "nothing lost",
        "at least once: what the killed instance fired after its last saved position (saved every 250 ms) fires again",
        Verdict::of(lost == 0 && lost_ok),
    );
    Ok(())
}
