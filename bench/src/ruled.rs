//! The sandbox: from a trigger fire sent over HTTP to the start of the action its rule runs (a
//! built-in action that notes when it starts, so no process start is in the figure).

use std::sync::Mutex;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use feedkit::{AuthKey, Client, ClientOptions, QualifiedName};
use sandbox::{ActionContext, ActionOutput, Config, GUEST_AUTH_KEY, Sandbox};
use serde_json::{Value, json};

use crate::report::{Table, Verdict, ms};
use crate::stats::Samples;

const SECTION: &str = "sandbox";

pub fn run(fires: usize, table: &mut Table) -> anyhow::Result<()> {
    let sandbox = Sandbox::start(Config {
        fire_limit_per_minute: 0,
        ..Config::default()
    })?;
    let (started, starts) = mpsc::channel::<Instant>();
    let started = Mutex::new(started);
    sandbox.put_builtin_action(
        "guest",
        "noted",
        move |_: &ActionContext, _: Value| {
            let now = Instant::now();
            if let Ok(sender) = started.lock() {
                let _ = sender.send(now);
            }
            ActionOutput::result(json!({}))
        },
        json!({}),
        json!({}),
    )?;
    let guest = Client::new(
        &sandbox.url(),
        AuthKey::parse(GUEST_AUTH_KEY).map_err(anyhow::Error::msg)?,
        ClientOptions::default(),
    )?;
    let trigger = QualifiedName::new("guest", None, "ticks");
    guest.put_trigger(&trigger, &json!({}), true)?;
    guest.put_rule(
        &QualifiedName::new("guest", None, "ticks-rule"),
        &trigger,
        &QualifiedName::new("guest", None, "noted"),
        true,
    )?;
    let mut to_rule = Samples::default();
    let mut answered = Samples::default();
    for fire in 0..fires + 10 {
        let sent = Instant::now();
        guest
            .fire_trigger(&trigger, &json!({"n": fire}))
            .context("firing")?;
        let answer = sent.elapsed();
        let ran = starts
            .recv_timeout(Duration::from_secs(10))
            .context("the rule's action did not run within 10 s")?;
        // The first fires warm up connections and threads.
        if fire >= 10 {
            to_rule.push_duration(ran.saturating_duration_since(sent));
            answered.push_duration(answer);
        }
    }
    table.add(
        SECTION,
        "trigger fire → rule's action starts",
        format!(
            "p50 {}, p99 {} (n={})",
            ms(to_rule.median()),
            ms(to_rule.p99()),
            to_rule.len()
        ),
        "",
        format!(
            "fire answered (202) after p50 {}, p99 {}",
            ms(answered.median()),
            ms(answered.p99())
        ),
        Verdict::Info,
    );
    Ok(())
}
