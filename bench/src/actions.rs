//! Native activations: every action's `exec` from `dist/` run as the native runtime runs it (a new
//! process per activation, parameters on stdin and argv[1], the `__OW_*` environment), against
//! loopback servers (the sandbox OpenWhisk, the fake GitHub, JSON sources, the fake `_changes`
//! database and the changes provider), beside the floor (a static `fn main() {}`) and our own
//! Node.js equivalent of a hook CREATE.
//!
//! Runs are interleaved in rounds (every scenario once per round, the floor too), so that load
//! from elsewhere on the machine falls on all of them alike. Timed rounds give wall times;
//! traced rounds (see [`crate::child`]) give peak memory.

use std::path::Path;

use anyhow::{Context as _, bail};
use fakes::{FakeGitHub, JsonSource};
use feedkit::AuthKey;
use sandbox::{GUEST_AUTH_KEY, Sandbox};
use serde_json::{Value, json};

use crate::child::{Activation, Ran, Scratch};
use crate::couch::FakeCouch;
use crate::fixtures::{
    POLL_FEED, POLLER, YEARLY, feed_params, kit_sandbox, ow_env, poller_params, put_trigger,
};
use crate::kit::{Kit, TempDir};
use crate::node::NodeScript;
use crate::provider::{PROVIDER_SECRET, Provider};
use crate::report::{Table, Verdict, mb, mb_in_kib, ms};
use crate::stats::Samples;

const TOKEN: &str = "ghp_benchHooksToken0123456789abcdef";
const RUST_REPO: &str = "bench/rust";
const NODE_REPO: &str = "bench/node";
const HOOK_SECRET: &str = "whsec-bench-0123456789";
/// New items per "new items" poll.
const NEW_ITEMS: usize = 10;
/// The kit's alarms feed, as deployed for the bench.
const ALARM_FEED: &str = "/guest/alarms/alarm-feed";
/// Items the polled source shows at once (a feed's latest page).
const PAGE: usize = 50;

/// How many rounds of each kind.
#[derive(Debug, Clone, Copy)]
pub struct Rounds {
    pub timed: usize,
    pub traced: usize,
}

/// The targets of this section.
const MEDIAN_OVER_FLOOR_MS: f64 = 1.5;
const PEAK_RSS_MB: f64 = 4.0;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scenario {
    Floor,
    HookCreate,
    HookRead,
    HookDelete,
    NodeHookCreate,
    PollCreate,
    PollDelete,
    PollerNewItems,
    PollerNotModified,
    ChangesCreate,
    AlarmCreate,
}

impl Scenario {
    const ALL: [Scenario; 11] = [
        Scenario::Floor,
        Scenario::HookCreate,
        Scenario::HookRead,
        Scenario::HookDelete,
        Scenario::NodeHookCreate,
        Scenario::PollCreate,
        Scenario::PollDelete,
        Scenario::PollerNewItems,
        Scenario::PollerNotModified,
        Scenario::ChangesCreate,
        Scenario::AlarmCreate,
    ];

    /// The action the scenario runs (the floor's and Node's stand-ins are the hook feed's).
    fn action(self) -> &'static str {
        match self {
            Scenario::PollCreate | Scenario::PollDelete => "poll-feed",
            Scenario::PollerNewItems | Scenario::PollerNotModified => "pollMyService",
            Scenario::ChangesCreate => "changes-feed",
            Scenario::AlarmCreate => "alarm-feed",
            _ => "hook-feed",
        }
    }

    fn label(self) -> &'static str {
        match self {
            Scenario::Floor => "floor: static fn main() {}",
            Scenario::HookCreate => "hook-feed CREATE",
            Scenario::HookRead => "hook-feed READ",
            Scenario::HookDelete => "hook-feed DELETE",
            Scenario::NodeHookCreate => "our Node.js equivalent: hook CREATE",
            Scenario::PollCreate => "poll-feed CREATE",
            Scenario::PollDelete => "poll-feed DELETE",
            Scenario::PollerNewItems => "pollMyService, 10 new items",
            Scenario::PollerNotModified => "pollMyService, nothing new (304)",
            Scenario::ChangesCreate => "changes-feed CREATE",
            Scenario::AlarmCreate => "alarm-feed CREATE",
        }
    }
}

#[derive(Default)]
struct Figures {
    walls: Samples,
    cpus: Samples,
    faults: Samples,
    peaks: Samples,
    error: Option<String>,
}

/// Everything the activations talk to.
struct World<'k> {
    kit: &'k Kit,
    sandbox: Sandbox,
    github: FakeGitHub,
    create_source: JsonSource,
    poll_source: JsonSource,
    couch: FakeCouch,
    provider: Provider,
    node: Option<NodeScript>,
    scratch: Scratch,
    poller_params: Value,
    next_item: usize,
    // Dropped last: the fakes' tasks run on it.
    _runtime: tokio::runtime::Runtime,
    _dir: TempDir,
}

fn item(number: usize) -> Value {
    json!({
        "id": format!("item-{number}"),
        "title": format!("Item number {number}"),
        "link": format!("https://example.invalid/items/{number}"),
        "published": "2025-01-01T00:00:00Z",
    })
}

/// Fails unless the result is a success.
fn succeeded(ran: &Ran) -> anyhow::Result<Value> {
    let result = ran.result();
    if !result.is_object() {
        bail!("no JSON result; stderr: {}", ran.stderr.trim());
    }
    if let Some(error) = result.get("error") {
        bail!("{error}");
    }
    Ok(result)
}

impl<'k> World<'k> {
    fn start(kit: &'k Kit) -> anyhow::Result<World<'k>> {
        let dir = TempDir::new("actions")?;
        let (sandbox, guest) = kit_sandbox(kit)?;
        let github = FakeGitHub::start()?;
        github.add_repo(RUST_REPO, TOKEN);
        github.add_repo(NODE_REPO, TOKEN);
        let create_source = JsonSource::start()?;
        create_source.set_items((0..20).map(item).collect());
        let poll_source = JsonSource::start()?;
        poll_source.set_items((0..PAGE).map(item).collect());
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()?;
        let couch = FakeCouch::start(&runtime)?;
        couch.create_database("actions");
        let provider = Provider::start(&kit.provider, "actions-provider", &[])?;
        let node = NodeScript::find(dir.path());
        for (trigger, feed) in [
            ("hook", "/guest/hooks/hook-feed"),
            ("node-hook", "/guest/hooks/hook-feed"),
            ("polled", POLL_FEED),
            ("poller", POLL_FEED),
            ("changes", "/guest/changes/changes-feed"),
            ("alarm", ALARM_FEED),
        ] {
            put_trigger(&guest, trigger, feed)?;
        }
        let mut world = World {
            kit,
            scratch: Scratch::new(dir.path()),
            sandbox,
            github,
            create_source,
            poll_source,
            couch,
            provider,
            node,
            poller_params: Value::Null,
            next_item: PAGE,
            _runtime: runtime,
            _dir: dir,
        };
        // The standing poll feed the poller scenarios run for.
        let created = world
            .activation(Scenario::PollCreate, "poller")
            .timed(&world.scratch)?;
        succeeded(&created).context("creating the poller's feed")?;
        world.poller_params = poller_params(&world.sandbox, "poller")?;
        // One poll so that the next one can be conditional.
        let first = world.poller().timed(&world.scratch)?;
        succeeded(&first).context("the first poll")?;
        Ok(world)
    }

    fn action(&self, program: &Path, action_name: &str, params: Value) -> Activation {
        Activation {
            program: program.to_path_buf(),
            args: Vec::new(),
            params: params.to_string(),
            env: ow_env(&self.sandbox.url(), action_name, None),
        }
    }

    fn poller(&self) -> Activation {
        Activation {
            program: self.kit.exec("pollMyService").to_path_buf(),
            args: Vec::new(),
            params: self.poller_params.to_string(),
            env: ow_env(&self.sandbox.url(), POLLER, Some(GUEST_AUTH_KEY)),
        }
    }

    /// One GET of a trigger over a new connection, as an activation's first call makes it: what
    /// the sandbox itself (in this process, on the same cores) adds to each call.
    fn sandbox_round_trip(&self) -> anyhow::Result<std::time::Duration> {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(std::time::Duration::from_secs(30)))
            .build()
            .into();
        let url = format!(
            "{}/api/v1/namespaces/guest/triggers/hook",
            self.sandbox.url()
        );
        let authorization = AuthKey::parse(GUEST_AUTH_KEY)
            .map_err(anyhow::Error::msg)?
            .basic_authorization();
        let start = std::time::Instant::now();
        agent
            .get(&url)
            .header("Authorization", &authorization)
            .call()?
            .body_mut()
            .read_to_string()?;
        Ok(start.elapsed())
    }

    /// The standing feed polls the source that gets new items; the others a fixed one.
    fn source_of(&self, trigger: &str) -> &JsonSource {
        if trigger == "poller" {
            &self.poll_source
        } else {
            &self.create_source
        }
    }

    fn hook_params(&self, event: &str, trigger: &str, repository: &str) -> Value {
        let extra = if event == "CREATE" {
            json!({
                "repository": repository,
                "accessToken": TOKEN,
                "baseUrl": self.github.url(),
                "events": "push,pull_request",
                "secret": HOOK_SECRET,
                // Both fire the trigger straight from the hook, as the Node.js script does.
                "deliveryMode": "direct",
            })
        } else {
            json!({})
        };
        feed_params(event, trigger, extra)
    }

    /// The activation of a scenario (`trigger` overrides the poll feed's trigger).
    fn activation(&self, scenario: Scenario, trigger: &str) -> Activation {
        let hook = self.kit.exec("hook-feed");
        match scenario {
            Scenario::Floor => self.action(&self.kit.floor, "/guest/floor", json!({})),
            Scenario::HookCreate => self.action(
                hook,
                "/guest/hooks/hook-feed",
                self.hook_params("CREATE", "hook", RUST_REPO),
            ),
            Scenario::HookRead => self.action(
                hook,
                "/guest/hooks/hook-feed",
                self.hook_params("READ", "hook", RUST_REPO),
            ),
            Scenario::HookDelete => self.action(
                hook,
                "/guest/hooks/hook-feed",
                self.hook_params("DELETE", "hook", RUST_REPO),
            ),
            Scenario::NodeHookCreate => {
                let params = self.hook_params("CREATE", "node-hook", NODE_REPO);
                match &self.node {
                    Some(node) => Activation {
                        program: node.node.clone(),
                        args: vec![node.script.display().to_string()],
                        params: params.to_string(),
                        env: ow_env(&self.sandbox.url(), "/guest/hooks/node-hook-feed", None),
                    },
                    None => self.action(&self.kit.floor, "/guest/none", params),
                }
            }
            Scenario::PollCreate => self.action(
                self.kit.exec("poll-feed"),
                POLL_FEED,
                feed_params(
                    "CREATE",
                    trigger,
                    json!({"url": self.source_of(trigger).items_url(), "cron": YEARLY}),
                ),
            ),
            Scenario::PollDelete => self.action(
                self.kit.exec("poll-feed"),
                POLL_FEED,
                feed_params("DELETE", trigger, json!({})),
            ),
            Scenario::PollerNewItems | Scenario::PollerNotModified => self.poller(),
            Scenario::ChangesCreate => self.action(
                self.kit.exec("changes-feed"),
                "/guest/changes/changes-feed",
                feed_params(
                    "CREATE",
                    "changes",
                    json!({
                        "providerUrl": self.provider.url,
                        "providerSecret": PROVIDER_SECRET,
                        "dbUrl": self.couch.url(),
                        "dbName": "actions",
                    }),
                ),
            ),
            // Registers again each time (a PUT replaces the alarm), never due during the run.
            Scenario::AlarmCreate => self.action(
                self.kit.exec("alarm-feed"),
                ALARM_FEED,
                feed_params(
                    "CREATE",
                    "alarm",
                    json!({
                        "providerUrl": self.provider.url,
                        "providerSecret": PROVIDER_SECRET,
                        "cron": YEARLY,
                    }),
                ),
            ),
        }
    }

    /// What must happen (untimed) before a scenario's run.
    fn prepare(&mut self, scenario: Scenario) {
        if scenario == Scenario::PollerNewItems {
            let end = self.next_item + NEW_ITEMS;
            self.poll_source
                .set_items((end - PAGE..end).map(item).collect());
            self.next_item = end;
        }
    }

    /// Checks a run's result and cleans up after it (untimed).
    fn check(&self, scenario: Scenario, ran: &Ran) -> anyhow::Result<()> {
        if scenario == Scenario::Floor {
            return Ok(());
        }
        let result = succeeded(ran)?;
        match scenario {
            Scenario::HookCreate if result.get("hookId").is_none() => {
                bail!("no hookId in {result}")
            }
            Scenario::NodeHookCreate => {
                let id = result
                    .get("hookId")
                    .and_then(Value::as_u64)
                    .with_context(|| format!("no hookId in {result}"))?;
                // Its hooks would pile up: each CREATE of this script adds one.
                self.github.remove_hook(NODE_REPO, id);
            }
            Scenario::PollCreate if result["status"] != "created" => {
                bail!("unexpected answer {result}")
            }
            Scenario::PollerNewItems if result["firedItems"] != NEW_ITEMS => {
                bail!("expected {NEW_ITEMS} items fired: {result}")
            }
            Scenario::PollerNotModified if result["outcome"] != "unchanged" => {
                bail!("expected a 304 (outcome unchanged): {result}")
            }
            _ => {}
        }
        Ok(())
    }
}

pub fn run(
    kit: &Kit,
    before: Option<&Kit>,
    rounds: Rounds,
    table: &mut Table,
) -> anyhow::Result<()> {
    let mut world = World::start(kit)?;
    // An earlier build's zips, in a world of their own (their records on the triggers may
    // differ), run in the same rounds right after each scenario.
    let mut earlier = before.map(World::start).transpose()?;
    let scenarios: Vec<Scenario> = Scenario::ALL
        .into_iter()
        .filter(|s| *s != Scenario::NodeHookCreate || world.node.is_some())
        .collect();
    let mut figures: Vec<Figures> = scenarios.iter().map(|_| Figures::default()).collect();
    let mut earlier_figures: Vec<Figures> = scenarios.iter().map(|_| Figures::default()).collect();
    let mut round_trips = Samples::default();
    let total = rounds.timed + rounds.traced;
    for round in 0..total {
        let traced = round >= rounds.timed;
        if !traced {
            round_trips.push_duration(world.sandbox_round_trip()?);
        }
        for (index, scenario) in scenarios.iter().enumerate() {
            let compared = !matches!(scenario, Scenario::Floor | Scenario::NodeHookCreate)
                && earlier
                    .as_ref()
                    .is_none_or(|earlier| earlier.kit.has(scenario.action()));
            match earlier.as_mut().filter(|_| compared) {
                // Which build goes first alternates by round: neither always runs on the
                // caches (and the sandbox) the other just left.
                Some(earlier) if round % 2 == 1 => {
                    measure(earlier, *scenario, traced, &mut earlier_figures[index]);
                    measure(&mut world, *scenario, traced, &mut figures[index]);
                }
                Some(earlier) => {
                    measure(&mut world, *scenario, traced, &mut figures[index]);
                    measure(earlier, *scenario, traced, &mut earlier_figures[index]);
                }
                None => measure(&mut world, *scenario, traced, &mut figures[index]),
            }
        }
        if (round + 1) % 25 == 0 || round + 1 == total {
            eprintln!("  actions: round {}/{total}", round + 1);
        }
    }
    report(&world, &scenarios, &figures, table);
    if earlier.is_some() {
        compare(&scenarios, &earlier_figures, &figures, table);
    }
    table.add(
        "activation",
        "context: one GET of a trigger over a new connection",
        format!(
            "{} median, p99 {}",
            ms(round_trips.median()),
            ms(round_trips.p99())
        ),
        "",
        "the sandbox's share of each call an action makes (it shares the cores)",
        Verdict::Info,
    );
    Ok(())
}

/// One run of `scenario` in `world`, checked, its figures kept.
fn measure(world: &mut World<'_>, scenario: Scenario, traced: bool, figure: &mut Figures) {
    if figure.error.is_some() {
        return;
    }
    world.prepare(scenario);
    let activation = world.activation(scenario, "polled");
    let ran = if traced {
        activation.traced(&world.scratch)
    } else {
        activation.timed(&world.scratch)
    };
    let outcome = ran
        .map_err(anyhow::Error::from)
        .and_then(|ran| world.check(scenario, &ran).map(|()| ran));
    match outcome {
        Ok(ran) if traced => {
            figure
                .peaks
                .push(ran.peak_rss_kib.unwrap_or_default() as f64);
        }
        Ok(ran) => {
            figure.walls.push_duration(ran.wall);
            figure.cpus.push_duration(ran.cpu.unwrap_or_default());
            figure
                .faults
                .push(ran.page_faults.unwrap_or_default() as f64);
        }
        Err(error) => figure.error = Some(format!("{error:#}")),
    }
}

/// Before -> after, from the same rounds: "within the current figures or better".
fn compare(scenarios: &[Scenario], before: &[Figures], after: &[Figures], table: &mut Table) {
    for ((scenario, before), after) in scenarios.iter().zip(before).zip(after) {
        if matches!(scenario, Scenario::Floor | Scenario::NodeHookCreate) {
            continue;
        }
        if before.error.is_none() && before.walls.len() == 0 {
            // The earlier build has no such action: nothing to compare with.
            continue;
        }
        let label = format!("{}: wall, before → after", scenario.label());
        if let Some(error) = before.error.as_ref().or(after.error.as_ref()) {
            table.failed("activation", &label, "", error);
            continue;
        }
        let ratio = after.walls.median() / before.walls.median();
        table.add(
            "activation",
            label,
            format!(
                "{} → {} median (CPU {} → {})",
                ms(before.walls.median()),
                ms(after.walls.median()),
                ms(before.cpus.median()),
                ms(after.cpus.median())
            ),
            "after ≤ before",
            format!("{ratio:.2}× the earlier build's median"),
            Verdict::of(ratio <= 1.0),
        );
    }
}

fn report(world: &World<'_>, scenarios: &[Scenario], figures: &[Figures], table: &mut Table) {
    const SECTION: &str = "activation";
    let floor = &figures[0];
    let floor_ms = floor.walls.median();
    let floor_kib = floor.peaks.median();
    let rust_create = scenarios
        .iter()
        .position(|s| *s == Scenario::HookCreate)
        .map(|i| (figures[i].walls.median(), figures[i].peaks.median()));
    for (scenario, figure) in scenarios.iter().zip(figures) {
        let label = scenario.label();
        if let Some(error) = &figure.error {
            table.failed(SECTION, label, "", error);
            continue;
        }
        let wall = format!(
            "{} median, p99 {} (n={}; CPU {}, {:.0} page faults)",
            ms(figure.walls.median()),
            ms(figure.walls.p99()),
            figure.walls.len(),
            ms(figure.cpus.median()),
            figure.faults.median()
        );
        let peak = format!(
            "{} (max {}, n={})",
            mb(figure.peaks.median()),
            mb(figure.peaks.max()),
            figure.peaks.len()
        );
        match scenario {
            Scenario::Floor => {
                table.add(
                    SECTION,
                    format!("{label}: wall"),
                    wall,
                    "",
                    "",
                    Verdict::Info,
                );
                table.add(
                    SECTION,
                    format!("{label}: peak RSS"),
                    peak,
                    "",
                    "",
                    Verdict::Info,
                );
            }
            Scenario::NodeHookCreate => {
                let version = world.node.as_ref().map_or("", |n| n.version.as_str());
                let (ratio_time, ratio_memory) = rust_create.map_or((f64::NAN, f64::NAN), |r| {
                    (figure.walls.median() / r.0, figure.peaks.median() / r.1)
                });
                table.add(
                    SECTION,
                    format!("{label} (node {version}): wall"),
                    wall,
                    "ours ≥ 10× faster",
                    format!("{ratio_time:.1}× hook-feed CREATE's median"),
                    Verdict::of(ratio_time >= 10.0),
                );
                table.add(
                    SECTION,
                    format!("{label}: peak RSS"),
                    peak,
                    "ours ≥ 10× smaller",
                    format!("{ratio_memory:.1}× hook-feed CREATE's median"),
                    Verdict::of(ratio_memory >= 10.0),
                );
            }
            _ => {
                let over = figure.walls.median() - floor_ms;
                table.add(
                    SECTION,
                    format!("{label}: wall"),
                    wall,
                    format!("≤ floor + {MEDIAN_OVER_FLOOR_MS} ms"),
                    format!("floor {} → {:+.2} ms", ms(floor_ms), over),
                    Verdict::of(over <= MEDIAN_OVER_FLOOR_MS),
                );
                table.add(
                    SECTION,
                    format!("{label}: peak RSS"),
                    peak,
                    format!("< {PEAK_RSS_MB} MB (max)"),
                    format!("floor {}", mb(floor_kib)),
                    Verdict::of(figure.peaks.max() < mb_in_kib(PEAK_RSS_MB)),
                );
            }
        }
    }
}
