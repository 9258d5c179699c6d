//! `sandbox`: a local OpenWhisk to develop and try feeds against.
//!
//! `sandbox serve [--port 3233] [--state FILE] [--deploy manifest.yaml]...` serves OpenWhisk's
//! REST API on 127.0.0.1 with the namespace `guest` (the standalone OpenWhisk's well-known
//! development key), the alarms package built in, and web actions. It prints the URL on its
//! first line (so `--port 0` tells which port it got), the key and the `wsk` line to paste, what
//! each manifest deployed, and then one line per fire, rule and activation on stderr.

use anyhow::{Context, Result, bail};
use sandbox::{Config, DeployReport, GUEST_AUTH_KEY, NamespaceKey, Sandbox, deploy_manifest};
use std::path::PathBuf;

const USAGE: &str = "\
usage: sandbox serve [--port PORT] [--state FILE] [--deploy MANIFEST]...

  --port PORT        port on 127.0.0.1 (default 3233, as the standalone OpenWhisk; 0 picks a free one)
  --state FILE       keep actions, packages, triggers, rules and alarms in FILE (SQLite) across
                     restarts; each change is on disk before it is answered (default: memory only)
  --deploy MANIFEST  deploy a wskdeploy manifest.yaml (and the zips it names) into `guest`";

const DEFAULT_PORT: u16 = 3233;
const NAMESPACE: &str = "guest";

struct Options {
    port: u16,
    state: Option<PathBuf>,
    deploy: Vec<PathBuf>,
}

fn parse_options(args: &[String]) -> Result<Options> {
    let mut options = Options {
        port: DEFAULT_PORT,
        state: None,
        deploy: Vec::new(),
    };
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((flag, value)) => (flag, Some(value.to_string())),
            None => (arg.as_str(), None),
        };
        let mut value = || -> Result<String> {
            inline
                .clone()
                .or_else(|| args.next().cloned())
                .with_context(|| format!("{flag} needs a value\n\n{USAGE}"))
        };
        match flag {
            "--port" => {
                let text = value()?;
                options.port = text
                    .parse()
                    .with_context(|| format!("--port {text:?} is not a port number (0-65535)"))?;
            }
            "--state" => options.state = Some(PathBuf::from(value()?)),
            "--deploy" => options.deploy.push(PathBuf::from(value()?)),
            other => bail!("unknown option {other:?}\n\n{USAGE}"),
        }
    }
    Ok(options)
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

fn serve(options: Options) -> Result<()> {
    let config = Config {
        port: options.port,
        namespaces: vec![NamespaceKey::new(NAMESPACE, GUEST_AUTH_KEY)],
        echo_events: true,
        state_file: options.state.clone(),
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
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("serve") => serve(parse_options(&args[1..])?),
        None | Some("help" | "-h" | "--help") => {
            println!("{USAGE}");
            Ok(())
        }
        Some(other) => bail!("unknown command {other:?}\n\n{USAGE}"),
    }
}
