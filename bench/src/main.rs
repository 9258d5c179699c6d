//! `bench`: the kit's benchmark suite (run it with `./bench.sh`, or `./bench.sh --quick`).
//!
//! It measures what the kit claims: an activation of a native action costs little more than
//! starting a process, in time and memory. Every figure comes from real processes and real
//! sockets on 127.0.0.1 (OS-picked ports), in one run, and is printed in one table beside its
//! target and the floor it reads against:
//!
//! - `activation`: each action's `exec` from `dist/` as the native runtime runs it, against the
//!   floor (a static `fn main() {}` built the same way) and our own Node.js equivalent
//!   ([`actions`]);
//! - `dist`: the size of every zip;
//! - `10k poll`: one poll of 10,000 new items ([`burst`]);
//! - `provider`: open feeds per process, connect time after a restart, change-to-fire latency,
//!   throughput, one feed with a 40 ms fire round trip ([`load`]);
//! - `fleet`: three provider instances on a CouchDB registry: feeds spread over them, failover
//!   time and duplicates over repeated kill -9 ([`fleet`]);
//! - `alarms`: the provider's alarms: memory for 100,000 alarms, fire jitter of 1,000 due in
//!   the same second ([`alarms`]);
//! - `sandbox`: trigger fire to the rule's action ([`ruled`]); the `sandbox serve` program under
//!   100 clients, and its memory after a million fires ([`sandbox_load`]).
//!
//! Everything it starts (servers, the provider, activations) is stopped before it exits.

mod actions;
mod alarms;
mod burst;
mod child;
mod couch;
mod fixtures;
mod fleet;
mod kit;
mod load;
mod net;
mod node;
mod provider;
mod report;
mod ruled;
mod sandbox_load;
mod sink;
mod stats;

use std::time::Instant;

use anyhow::{Context as _, bail};

use crate::actions::Rounds;
use crate::kit::Kit;
use crate::load::LoadPlan;
use crate::report::{Table, Verdict};

const USAGE: &str = "\
usage: bench [--quick] [--only SECTION,...] [--markdown FILE]
             [--dist DIR] [--before DIR] [--feeds N] [--provider FILE] [--lease-ms N]

Runs the benchmark suite and prints one table. Build first: ./bench.sh does (it runs build.sh,
builds the floor and the provider, then this).

  --quick           fewer runs, 1,000 instead of 10,000 provider feeds, 10,000 instead of
                    100,000 alarms, 5 s instead of 20 s of
                    sandbox load and 100,000 instead of 1,000,000 fires (a few minutes)
  --only LIST       sections to run: dist, activation, burst, provider, fleet, alarms, sandbox
  --markdown FILE   also write the machine and the table as Markdown to FILE
  --dist DIR        the action zips to measure [default: dist/ of the workspace]
  --before DIR      also run every activation with these zips (an earlier build's dist/), in the
                    same rounds, and report before -> after medians and their ratios
  --feeds N         open provider feeds, also over the fleet [default: 10,000; --quick 1,000]
  --provider FILE   the changes provider binary [default: target/release/changes-provider]
  --lease-ms N      the fleet's lease [default: 5000]; 10 kills (--quick: 3) each wait about
                    one lease";

const SECTIONS: [&str; 7] = [
    "dist",
    "activation",
    "burst",
    "provider",
    "fleet",
    "alarms",
    "sandbox",
];
const ZIP_TARGET_BYTES: u64 = 1_500_000;

#[derive(Debug)]
struct Options {
    quick: bool,
    sections: Vec<String>,
    markdown: Option<std::path::PathBuf>,
    dist: Option<std::path::PathBuf>,
    before: Option<std::path::PathBuf>,
    feeds: Option<usize>,
    provider: Option<std::path::PathBuf>,
    lease_ms: u64,
}

impl Options {
    fn parse(args: impl Iterator<Item = String>) -> anyhow::Result<Options> {
        let mut options = Options {
            quick: false,
            sections: SECTIONS.map(str::to_owned).to_vec(),
            markdown: None,
            dist: None,
            before: None,
            feeds: None,
            provider: None,
            lease_ms: 5000,
        };
        let mut args = args.peekable();
        while let Some(arg) = args.next() {
            match arg.as_str() {
                "--quick" => options.quick = true,
                "--only" => {
                    let list = args.next().context("--only needs a list of sections")?;
                    options.sections = list.split(',').map(|s| s.trim().to_owned()).collect();
                    if let Some(unknown) = options
                        .sections
                        .iter()
                        .find(|s| !SECTIONS.contains(&s.as_str()))
                    {
                        bail!(
                            "unknown section {unknown:?}; sections: {}",
                            SECTIONS.join(", ")
                        );
                    }
                }
                "--markdown" => {
                    options.markdown = Some(args.next().context("--markdown needs a file")?.into());
                }
                "--feeds" => {
                    let count = args.next().context("--feeds needs a number")?;
                    options.feeds = Some(count.parse().context("--feeds needs a number")?);
                }
                "--provider" => {
                    options.provider = Some(args.next().context("--provider needs a file")?.into());
                }
                "--lease-ms" => {
                    let lease = args.next().context("--lease-ms needs a number")?;
                    options.lease_ms = lease.parse().context("--lease-ms needs a number")?;
                }
                "--dist" => {
                    options.dist = Some(args.next().context("--dist needs a directory")?.into());
                }
                "--before" => {
                    options.before =
                        Some(args.next().context("--before needs a directory")?.into());
                }
                "-h" | "--help" => {
                    println!("{USAGE}");
                    std::process::exit(0);
                }
                other => bail!("unknown argument {other:?}\n\n{USAGE}"),
            }
        }
        Ok(options)
    }

    fn runs(&self, section: &str) -> bool {
        self.sections.iter().any(|s| s == section)
    }
}

/// What the figures were measured on.
fn machine() -> Vec<(String, String)> {
    let read = |path: &str| std::fs::read_to_string(path).unwrap_or_default();
    let cpu = read("/proc/cpuinfo")
        .lines()
        .find_map(|line| line.strip_prefix("model name"))
        .map(|rest| rest.trim_start_matches([' ', '\t', ':']).to_owned())
        .unwrap_or_default();
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let date = std::process::Command::new("date")
        .args(["-u", "+%Y-%m-%d %H:%M UTC"])
        .output()
        .map(|out| String::from_utf8_lossy(&out.stdout).trim().to_owned())
        .unwrap_or_default();
    let memory = read("/proc/meminfo")
        .lines()
        .next()
        .and_then(|line| line.split_whitespace().nth(1)?.parse::<u64>().ok())
        .map_or_else(String::new, |kib| {
            format!("{:.1} GiB", kib as f64 / 1048576.0)
        });
    vec![
        ("date".into(), date),
        ("nproc".into(), cores.to_string()),
        ("CPU".into(), cpu),
        ("memory".into(), memory),
        (
            "kernel".into(),
            read("/proc/sys/kernel/osrelease").trim().to_owned(),
        ),
        ("load average at start".into(), load_average()),
    ]
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

fn zip_sizes(kit: &Kit, table: &mut Table) -> anyhow::Result<()> {
    for name in kit.zips.keys() {
        let zipped = kit.zip_size(name);
        let unpacked = std::fs::metadata(&kit.execs[name])?.len();
        table.add(
            "dist",
            format!("dist/{name}.zip"),
            format!("{zipped} bytes ({:.2} MB)", zipped as f64 / 1e6),
            "< 1.5 MB",
            format!("exec {:.2} MB unpacked", unpacked as f64 / 1e6),
            Verdict::of(zipped < ZIP_TARGET_BYTES),
        );
    }
    Ok(())
}

/// One section, at the size `--quick` asks for.
fn run_section(name: &str, options: &Options, kit: &Kit, table: &mut Table) -> anyhow::Result<()> {
    let quick = options.quick;
    match name {
        "dist" => zip_sizes(kit, table),
        "activation" => {
            let rounds = if quick {
                Rounds {
                    timed: 30,
                    traced: 5,
                }
            } else {
                Rounds {
                    timed: 200,
                    traced: 20,
                }
            };
            let before = options
                .before
                .as_deref()
                .map(|dist| Kit::locate(Some(dist), options.provider.as_deref()))
                .transpose()?;
            actions::run(kit, before.as_ref(), rounds, table)
        }
        "burst" => burst::run(kit, if quick { 1 } else { 3 }, table),
        "provider" => {
            let mut plan = if quick {
                LoadPlan {
                    feeds: 1000,
                    latency_seconds: 3.0,
                    step_seconds: 1.5,
                    refinements: 1,
                }
            } else {
                LoadPlan {
                    feeds: 10_000,
                    latency_seconds: 10.0,
                    step_seconds: 3.0,
                    refinements: 3,
                }
            };
            if let Some(feeds) = options.feeds {
                plan.feeds = feeds;
            }
            load::run(kit, plan, table)
        }
        "fleet" => {
            let plan = fleet::FleetPlan {
                feeds: options.feeds.unwrap_or(if quick { 1000 } else { 10_000 }),
                kills: if quick { 3 } else { 10 },
                lease: std::time::Duration::from_millis(options.lease_ms),
            };
            fleet::run(kit, plan, table)
        }
        "alarms" => alarms::run(
            kit,
            alarms::AlarmPlan {
                alarms: if quick { 10_000 } else { 100_000 },
                due_together: 1000,
            },
            table,
        ),
        "sandbox" => {
            ruled::run(if quick { 50 } else { 300 }, table)?;
            let plan = if quick {
                sandbox_load::LoadPlan {
                    clients: 100,
                    seconds: 5.0,
                    fires: 100_000,
                }
            } else {
                sandbox_load::LoadPlan {
                    clients: 100,
                    seconds: 20.0,
                    fires: 1_000_000,
                }
            };
            sandbox_load::run(&kit.sandbox, plan, table)
        }
        other => bail!("unknown section {other:?}"),
    }
}

fn main() -> anyhow::Result<()> {
    let options = Options::parse(std::env::args().skip(1))?;
    let kit = Kit::locate(options.dist.as_deref(), options.provider.as_deref())?;
    let machine = machine();
    eprintln!("bench{}:", if options.quick { " --quick" } else { "" });
    for (key, value) in &machine {
        eprintln!("  {key}: {value}");
    }
    let began = Instant::now();
    let mut table = Table::default();
    for name in SECTIONS {
        if !options.runs(name) {
            continue;
        }
        eprintln!("[{name}]");
        if let Err(error) = run_section(name, &options, &kit, &mut table) {
            table.failed(name, "(section)", "", &format!("{error:#}"));
        }
    }
    let quick = options.quick;
    let mut header = String::new();
    for (key, value) in &machine {
        header.push_str(&format!("{key}: {value}\n"));
    }
    header.push_str(&format!(
        "load average at end: {}\nmode: {}; wall time {:.0} s\n",
        load_average(),
        if quick { "--quick" } else { "full" },
        began.elapsed().as_secs_f64()
    ));
    println!("\n{header}\n{}", table.text());
    let missed: Vec<String> = table
        .missed()
        .map(|row| format!("{}: {}", row.section, row.figure))
        .collect();
    if missed.is_empty() {
        println!("every target met");
    } else {
        println!("missed or failed: {}", missed.join("; "));
    }
    if let Some(path) = &options.markdown {
        let mut text = String::new();
        for line in header.lines() {
            text.push_str(&format!("- {line}\n"));
        }
        text.push('\n');
        text.push_str(&table.markdown());
        std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}
