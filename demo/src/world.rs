//! The demo's OpenWhisk: a sandbox with the kit deployed, a client acting as the user, and the
//! few things a user would type with `wsk`.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, anyhow, bail};
use feedkit::{AuthKey, Client, ClientOptions, QualifiedName};
use sandbox::{Config, EntityKind, Sandbox};
use serde_json::{Value, json};

const NAMESPACE: &str = "guest";
const SHOW_EVENT: &str = "show-event";
const PACKAGE: &str = "feedkit";
const RELAY_PACKAGE: &str = "feedkit-relay";
const WAIT: Duration = Duration::from_secs(30);

/// The action every demo rule runs: it answers with the event it was given, so the event shows
/// in its activation (and the sandbox prints the activation as it happens).
const SHOW_EVENT_SCRIPT: &[u8] = b"#!/bin/sh\nparams=$(cat)\necho \"show-event got: $params\" >&2\nprintf '{\"event\": %s}\\n' \"$params\"\n";

pub fn step(title: &str) {
    println!("\n== {title}");
}

pub fn say(line: &str) {
    println!("   {line}");
}

pub struct World {
    pub sandbox: Sandbox,
    client: Client,
}

impl World {
    /// Starts the sandbox and deploys `manifest` with the zips in `dist/` beside it; `${NAME}` in
    /// the manifest is looked up in `vars`.
    pub fn start(manifest: &Path, vars: &dyn Fn(&str) -> Option<String>) -> Result<World> {
        step("A local OpenWhisk: the sandbox");
        let dist = manifest.with_file_name("dist");
        if !dist.join("hook-feed.zip").is_file() {
            bail!(
                "{} has no zips: run ./build.sh first (./demo.sh does both)",
                dist.display()
            );
        }
        let sandbox = Sandbox::start(Config {
            // Fires are the point of the demo; the real default of 60 a minute is not.
            fire_limit_per_minute: 0,
            echo_events: true,
            ..Config::default()
        })
        .context("starting the sandbox")?;
        say(&format!(
            "serving the OpenWhisk REST API at {} (namespace {NAMESPACE}); its event lines go to stderr",
            sandbox.url()
        ));
        // The relay's URL is known once the sandbox listens; its key is made for this run.
        let relay_url = format!(
            "{}/api/v1/web/{NAMESPACE}/{RELAY_PACKAGE}/hook-relay.http",
            sandbox.url()
        );
        let relay_keys = json!([{"id": "demo1", "key": random_key()?}]).to_string();
        let vars = |name: &str| match name {
            "FEEDKIT_RELAY_URL" => Some(relay_url.clone()),
            "FEEDKIT_RELAY_KEYS" => Some(relay_keys.clone()),
            other => vars(other),
        };
        let report = sandbox::deploy_manifest_with_vars(&sandbox, NAMESPACE, manifest, &vars)
            .context("deploying manifest.yaml")?;
        say(&format!(
            "wskdeploy -m manifest.yaml: packages {:?}, actions {:?}",
            report.packages, report.actions
        ));
        sandbox
            .put_native_action(
                NAMESPACE,
                SHOW_EVENT,
                sandbox::zip_executable(SHOW_EVENT_SCRIPT),
                json!({}),
                json!({}),
            )
            .map_err(|error| anyhow!("deploying {SHOW_EVENT}: {error}"))?;
        say(&format!(
            "wsk action create {SHOW_EVENT} --native show-event.zip: every rule below runs it"
        ));
        let key = AuthKey::parse(&sandbox.auth_key(NAMESPACE)).map_err(|e| anyhow!(e))?;
        let client = Client::new(&sandbox.url(), key, ClientOptions::default())?;
        Ok(World { sandbox, client })
    }

    /// `wsk trigger create NAME --feed FEED ...`: the trigger with its `feed` annotation, then a
    /// blocking CREATE; on failure the trigger is deleted again, as the CLI does.
    pub fn create_trigger(
        &self,
        name: &str,
        feed: &str,
        params: Value,
        shown: &str,
    ) -> Result<Value> {
        say(&format!("wsk trigger create {name} --feed {feed} {shown}"));
        let feed_name = format!("/{NAMESPACE}/{feed}");
        let body = json!({"annotations": [{"key": "feed", "value": feed_name}]});
        self.client.put_trigger(&qualified(name)?, &body, false)?;
        match self.feed(feed, "CREATE", name, params) {
            Ok(result) => Ok(result),
            Err(error) => {
                let _ = self.delete_trigger(name, feed);
                Err(error.context(format!("{feed} CREATE for {name}")))
            }
        }
    }

    /// A blocking invoke of a feed action with the protocol parameters plus `extra`.
    pub fn feed(&self, feed: &str, event: &str, trigger: &str, extra: Value) -> Result<Value> {
        let mut params = json!({
            "lifecycleEvent": event,
            "triggerName": format!("/{NAMESPACE}/{trigger}"),
            "authKey": self.sandbox.auth_key(NAMESPACE),
        });
        if let (Some(params), Value::Object(extra)) = (params.as_object_mut(), extra) {
            params.extend(extra);
        }
        self.client
            .invoke_action(&qualified(feed)?, &params)
            .map_err(|error| {
                anyhow!(
                    "{feed} {event}: {}",
                    error.server_message().unwrap_or(&error.to_string())
                )
            })
    }

    /// `wsk trigger delete NAME`: the feed's DELETE, then the trigger.
    pub fn delete_trigger(&self, name: &str, feed: &str) -> Result<()> {
        let deleted = self.feed(feed, "DELETE", name, json!({}));
        self.client.delete_trigger(&qualified(name)?)?;
        deleted.map(|_| ())
    }

    /// `wsk rule create RULE TRIGGER show-event`.
    pub fn create_rule(&self, rule: &str, trigger: &str) -> Result<()> {
        say(&format!("wsk rule create {rule} {trigger} {SHOW_EVENT}"));
        self.client.put_rule(
            &qualified(rule)?,
            &qualified(trigger)?,
            &qualified(SHOW_EVENT)?,
            false,
        )?;
        Ok(())
    }

    pub fn delete_rule(&self, rule: &str) -> Result<()> {
        self.client.delete_rule(&qualified(rule)?)?;
        Ok(())
    }

    /// Brings an alarm's next tick forward and returns what the poller it ran answered.
    pub fn tick(&self, alarm_trigger: &str) -> Result<Value> {
        let fire = self
            .sandbox
            .tick_alarm(NAMESPACE, alarm_trigger)
            .map_err(|error| anyhow!("ticking {alarm_trigger}: {error}"))?;
        let cause = fire
            .activation_id
            .ok_or_else(|| anyhow!("the alarm fired {alarm_trigger} but no rule is active"))?;
        let ran = |all: &[sandbox::Activation]| {
            all.iter()
                .find(|a| a.name == "pollMyService" && a.cause.as_deref() == Some(cause.as_str()))
                .cloned()
        };
        let activations =
            self.sandbox
                .wait_for_activations(NAMESPACE, |all| ran(all).is_some(), WAIT);
        let activation = ran(&activations)
            .ok_or_else(|| anyhow!("pollMyService did not run within {WAIT:?}"))?;
        Ok(activation.result)
    }

    /// The events show-event has shown so far, oldest first.
    pub fn shown_events(&self) -> Vec<Value> {
        shown(&self.sandbox.activations(NAMESPACE))
    }

    /// Waits until show-event has shown `count` events of the kind `wanted` picks, and returns
    /// those, oldest first. (Picking by kind keeps a late event of another source, such as
    /// GitHub's creation ping, out of the count.)
    pub fn wait_for_shown(
        &self,
        wanted: impl Fn(&Value) -> bool,
        count: usize,
    ) -> Result<Vec<Value>> {
        let deadline = Instant::now() + WAIT;
        loop {
            let events: Vec<Value> = self
                .shown_events()
                .into_iter()
                .filter(|e| wanted(e))
                .collect();
            if events.len() >= count {
                return Ok(events);
            }
            if Instant::now() > deadline {
                bail!(
                    "show-event showed {} such events, expected {count}, within {WAIT:?}",
                    events.len()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Entities in the namespace besides the kit's package and show-event.
    pub fn leftovers(&self) -> Vec<String> {
        let mut left = Vec::new();
        for kind in [
            EntityKind::Trigger,
            EntityKind::Rule,
            EntityKind::Package,
            EntityKind::Action,
        ] {
            for name in self.sandbox.entity_names(NAMESPACE, kind) {
                // The kit's packages (feedkit, feedkit-relay) and their actions.
                let package = name.split('/').next().unwrap_or_default();
                let kit = package == PACKAGE || package == RELAY_PACKAGE || name == SHOW_EVENT;
                if !kit {
                    left.push(format!("{kind:?} {name}"));
                }
            }
        }
        left
    }
}

fn shown(activations: &[sandbox::Activation]) -> Vec<Value> {
    let mut ran: Vec<&sandbox::Activation> = activations
        .iter()
        .filter(|a| a.name == SHOW_EVENT && a.success)
        .collect();
    ran.sort_by_key(|a| a.start);
    ran.into_iter().map(|a| a.result["event"].clone()).collect()
}

/// 32 random bytes, base64: a relay key as `openssl rand -base64 32` makes one.
fn random_key() -> Result<String> {
    use base64::Engine as _;
    use std::io::Read as _;
    let mut bytes = [0u8; 32];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut random| random.read_exact(&mut bytes))
        .context("reading /dev/urandom")?;
    Ok(base64::engine::general_purpose::STANDARD.encode(bytes))
}

fn qualified(name: &str) -> Result<QualifiedName> {
    QualifiedName::parse(&format!("/{NAMESPACE}/{name}")).map_err(|e| anyhow!(e))
}
