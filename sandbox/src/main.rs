//! `sandbox`: a local OpenWhisk to develop and try feeds against.
//!
//! `sandbox serve [--port 3233] [--state FILE] [--deploy manifest.yaml]...` serves OpenWhisk's
//! REST API on 127.0.0.1 with the namespace `guest` (the standalone OpenWhisk's well-known
//! development key), the alarms package built in, and web actions. It prints the URL on its
//! first line (so `--port 0` tells which port it got), the key and the `wsk` line to paste, what
//! each manifest deployed, and then one line per fire, rule and activation on stderr.

use anyhow::{Context, Result};
use clap::{Args, Parser};
use sandbox::{
    Config, DEFAULT_FIRES_PER_MINUTE, DeployReport, GUEST_AUTH_KEY, NamespaceKey, Retention,
    Sandbox, deploy_manifest,
};
use std::path::PathBuf;

const NAMESPACE: &str = "guest";

#[derive(Parser)]
#[command(
    name = "sandbox",
    version,
    about = "A local OpenWhisk to develop and try feeds against"
)]
enum Command {
    /// Serve OpenWhisk's REST API, web actions and the alarms package on 127.0.0.1.
    Serve(Serve),
}

#[derive(Args)]
struct Serve {
    /// Port on 127.0.0.1 (3233, as the standalone OpenWhisk; 0 picks a free one).
    #[arg(long, default_value_t = 3233)]
    port: u16,
    /// Keep actions, packages, triggers, rules and alarms in FILE (an SQLite database) across
    /// restarts; each change is on disk before it is answered. Default: memory only.
    #[arg(long, value_name = "FILE")]
    state: Option<PathBuf>,
    /// Deploy a wskdeploy manifest.yaml (and the zips it names) into `guest`; may be repeated.
    #[arg(long, value_name = "MANIFEST")]
    deploy: Vec<PathBuf>,
    /// Activation records kept in memory (the newest; older ones answer 404).
    #[arg(long, value_name = "N", default_value_t = Retention::default().activations)]
    keep_activations: usize,
    /// Fire records kept in memory (the newest).
    #[arg(long, value_name = "N", default_value_t = Retention::default().fires)]
    keep_fires: usize,
    /// Trigger fires a namespace may make per minute, as OpenWhisk's limit (0: no limit).
    #[arg(long, value_name = "N", default_value_t = DEFAULT_FIRES_PER_MINUTE)]
    fires_per_minute: u32,
}

fn describe(report: &DeployReport) -> String {
    let list = |items: &[String]| {
        if items.is_empty() {
            "none".to_string()
        } else {
            items.join(", ")
        }
    };
    format!(
        "packages: {}; actions: {}; triggers: {}; feeds: {}; rules: {}",
        list(&report.packages),
        list(&report.actions),
        list(&report.triggers),
        list(&report.feeds),
        list(&report.rules)
    )
}

fn serve(options: Serve) -> Result<()> {
    let config = Config {
        port: options.port,
        namespaces: vec![NamespaceKey::new(NAMESPACE, GUEST_AUTH_KEY)],
        echo_events: true,
        state_file: options.state.clone(),
        retention: Retention {
            activations: options.keep_activations,
            fires: options.keep_fires,
        },
        fire_limit_per_minute: options.fires_per_minute,
        ..Config::default()
    };
    let sandbox = Sandbox::start(config)
        .with_context(|| format!("cannot start the sandbox on 127.0.0.1:{}", options.port))?;
    let url = sandbox.url();
    let key = sandbox.auth_key(NAMESPACE);
    println!("{url}");
    println!("OpenWhisk sandbox: API at {url}/api/v1, namespace {NAMESPACE}, key {key}");
    println!("wsk property set --apihost {url} --auth {key}");
    match &options.state {
        Some(path) => println!("state kept in {}", path.display()),
        None => println!("state in memory only (--state FILE keeps it)"),
    }
    for manifest in &options.deploy {
        let report = deploy_manifest(&sandbox, NAMESPACE, manifest)
            .with_context(|| format!("deploying {}", manifest.display()))?;
        println!("deployed {}: {}", manifest.display(), describe(&report));
    }
    // Ctrl-C or SIGTERM stops cleanly: running actions are killed, unpacked code removed (the
    // state file is written as each change is made).
    let (stop, stopped) = std::sync::mpsc::channel();
    ctrlc::set_handler(move || {
        let _ = stop.send(());
    })
    .context("cannot install the Ctrl-C handler")?;
    println!("ready: fires, rules and activations are shown below as they happen");
    let _ = stopped.recv();
    eprintln!("[sandbox] stopping");
    drop(sandbox);
    Ok(())
}

fn main() -> Result<()> {
    match Command::parse() {
        Command::Serve(options) => serve(options),
    }
}
