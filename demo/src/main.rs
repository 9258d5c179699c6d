//! The kit's demo: a local OpenWhisk sandbox, the kit deployed from `manifest.yaml` and `dist/`,
//! and a trigger per feed pattern with events flowing from a local source through a rule into an
//! action that shows each event. Run by `./demo.sh`, which builds the zips first.
//!
//! Everything is real: the feed actions are the static zips `build.sh` made, run as the native
//! runtime runs them; the event sources are HTTP servers on 127.0.0.1; the sandbox serves the
//! OpenWhisk REST API the feeds call back into. Only time is compressed: the sandbox's alarm
//! ticks are brought forward instead of waiting a minute each, and the kit's own alarm (kept by
//! the provider) ticks every two seconds.

mod alarms;
mod connections;
mod provider;
mod world;

use std::time::Duration;

use anyhow::{Context as _, Result, bail};
use fakes::{FakeGitHub, JsonSource};
use serde_json::{Value, json};

use world::{World, say, step};

/// What the demo showed, said once at the end.
#[derive(Default)]
struct Shown {
    lines: Vec<String>,
}

fn main() -> Result<()> {
    let root = std::env::current_dir().context("current directory")?;
    // `--manifest PATH` deploys another manifest (the tests use one with freshly built zips).
    let args: Vec<String> = std::env::args().skip(1).collect();
    let manifest = match args.as_slice() {
        [] => root.join("manifest.yaml"),
        [flag, path] if flag == "--manifest" => root.join(path),
        _ => bail!("usage: demo [--manifest PATH]"),
    };
    let mut shown = Shown::default();
    // The provider starts first: the manifest binds its address into changes-feed and
    // alarm-feed.
    let provider = provider::Provider::start()?;
    let connections = match &provider {
        Ok(provider) => connections::Connections::start(&root, provider)?,
        Err(why) => Err(why.clone()),
    };
    let vars = |name: &str| provider.as_ref().ok().and_then(|p| p.var(name));
    let world = World::start(&manifest, &vars)?;

    hooks(&world, &mut shown)?;
    polling(&world, &mut shown)?;
    match &provider {
        Ok(_) => alarms::run(&world, &mut shown.lines)?,
        Err(why) => {
            step("Polling on the kit's own alarms");
            say(&format!("skipped: {why}"));
            shown
                .lines
                .push(format!("Polling on the kit's alarms: skipped ({why})"));
        }
    }
    match &connections {
        Ok(connections) => connections.run(&world, &mut shown.lines)?,
        Err(why) => {
            step("Connections: changes-feed and the changes provider");
            say(&format!("skipped: {why}"));
            shown.lines.push(format!("Connections: skipped ({why})"));
        }
    }

    step("Cleaning up");
    let left = world.leftovers();
    if !left.is_empty() {
        bail!("entities left behind after every feed's DELETE: {left:?}");
    }
    say("every feed's DELETE removed what its CREATE made: the namespace holds only the kit");

    step("What this showed");
    for line in &shown.lines {
        say(line);
    }
    Ok(())
}

/// The Hooks pattern: hook-feed installs a webhook on a GitHub-compatible service; the service's
/// deliveries fire the trigger; a rule runs the show-event action.
fn hooks(world: &World, shown: &mut Shown) -> Result<()> {
    step("Hooks: hook-feed");
    let github = FakeGitHub::start().context("starting the local GitHub-compatible service")?;
    let token = "demo-token-with-admin-hook-scope";
    github.add_repo("demo/app", token);
    say(&format!(
        "a GitHub-compatible hooks API runs at {} with repository demo/app",
        github.url()
    ));

    let created = world.create_trigger(
        "github-events",
        "feedkit/hook-feed",
        json!({
            "repository": "demo/app",
            "accessToken": token,
            "events": "push, issues",
            "baseUrl": github.url(),
        }),
        "-p repository demo/app -p accessToken *** -p events 'push, issues' -p baseUrl <local>",
    )?;
    say(&format!(
        "hook-feed CREATE: {} hook {} for events {}, delivered through {}",
        created["outcome"].as_str().unwrap_or("?"),
        created["hookId"],
        created["events"],
        created["hookUrl"].as_str().unwrap_or("?")
    ));
    world.create_rule("show-github", "github-events")?;
    github.wait_idle(Duration::from_secs(10));
    let hooks = github.hooks("demo/app");
    let Some(hook) = hooks.first() else {
        bail!("hook-feed CREATE left no hook on the service");
    };
    say(&format!(
        "the service holds {} hook; its URL carries a sealed token, not the OpenWhisk key, and deliveries are signed",
        hooks.len()
    ));

    // Someone who learned the hook's URL cannot fire the trigger without the hook's secret.
    let hook_url = github
        .hook_config_raw("demo/app", hook["id"].as_u64().unwrap_or_default())
        .and_then(|config| config["url"].as_str().map(str::to_owned))
        .context("the hook's URL")?;
    let fires_before = world.sandbox.fires("guest", "github-events").len();
    let forged = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .new_agent()
        .post(&hook_url)
        .header("X-GitHub-Event", "push")
        .header(
            "X-Hub-Signature-256",
            "sha256=0000000000000000000000000000000000000000000000000000000000000000",
        )
        .send_json(json!({"forged": true}))
        .context("posting a forged delivery")?;
    let forged_status = forged.status().as_u16();
    if forged_status < 400 || world.sandbox.fires("guest", "github-events").len() != fires_before {
        bail!("a forged delivery was accepted (HTTP {forged_status})");
    }
    say(&format!(
        "a forged delivery to that URL, without the hook's secret: HTTP {forged_status} from the relay, nothing fired"
    ));

    for (event, payload) in [
        (
            "push",
            json!({"ref": "refs/heads/main", "pusher": {"name": "alice"}, "commits": [{"message": "Fix the parser"}, {"message": "Add tests"}]}),
        ),
        (
            "issues",
            json!({"action": "opened", "issue": {"number": 7, "title": "Crash on empty input"}, "sender": {"login": "bob"}}),
        ),
    ] {
        say(&format!("the service delivers a `{event}` event"));
        let deliveries = github.deliver("demo/app", event, &payload);
        for delivery in deliveries {
            say(&format!(
                "  delivery {} answered HTTP {}",
                delivery.guid,
                delivery
                    .status
                    .map_or("(no answer)".to_owned(), |s| s.to_string())
            ));
        }
    }
    let delivered = |event: &Value| matches!(event["event"].as_str(), Some("push" | "issues"));
    let events = world.wait_for_shown(delivered, 2)?;
    for event in &events {
        say(&format!("show-event ran with: {}", describe_github(event)));
    }

    let read = world.feed("feedkit/hook-feed", "READ", "github-events", json!({}))?;
    say(&format!(
        "wsk trigger get github-events (READ): mode={} active={} events={} token={}",
        read["config"]["deliveryMode"],
        read["status"]["active"],
        read["config"]["events"],
        read["config"]["accessToken"]
    ));
    world.delete_trigger("github-events", "feedkit/hook-feed")?;
    world.delete_rule("show-github")?;
    if !github.hooks("demo/app").is_empty() {
        bail!("hook-feed DELETE left a hook on the service");
    }
    say("wsk trigger delete github-events: the hook is gone from the service");
    shown.lines.push(format!(
        "Hooks: hook-feed installed a signed webhook through the relay; {} deliveries fired the trigger and ran show-event, a forged one was refused; DELETE removed the hook",
        events.len()
    ));
    Ok(())
}

/// The Polling pattern: poll-feed sets up an alarm and a rule to pollMyService, which polls a
/// JSON endpoint and fires the trigger with the items it has not fired before.
fn polling(world: &World, shown: &mut Shown) -> Result<()> {
    step("Polling: poll-feed and pollMyService");
    let source = JsonSource::start().context("starting the local JSON source")?;
    source.set_items(vec![
        json!({"id": "n1", "title": "Kit released"}),
        json!({"id": "n2", "title": "Sandbox runs without Docker"}),
    ]);
    say(&format!(
        "a JSON endpoint serves 2 items at {}",
        source.items_url()
    ));
    world.create_trigger(
        "news",
        "feedkit/poll-feed",
        json!({"url": source.items_url(), "minutes": 1, "startFrom": "backlog"}),
        "-p url <local>/items -p minutes 1 -p startFrom backlog",
    )?;
    world.create_rule("show-news", "news")?;

    let polled = |event: &Value| event.get("items").is_some();
    say("the alarm ticks (its minute brought forward)");
    world.tick("news-poll-alarm")?;
    let events = world.wait_for_shown(polled, 1)?;
    say(&format!(
        "show-event ran with: {}",
        describe_items(&events[0])
    ));

    source.push(json!({"id": "n3", "title": "Polling fires only new items"}));
    source.push(json!({"id": "n4", "title": "Position kept on the helper trigger"}));
    say("2 new items appear; the alarm ticks again");
    world.tick("news-poll-alarm")?;
    let events = world.wait_for_shown(polled, 2)?;
    say(&format!(
        "show-event ran with: {}",
        describe_items(&events[1])
    ));

    say("nothing new; the alarm ticks again");
    let unchanged = world.tick("news-poll-alarm")?;
    say(&format!(
        "pollMyService answered {}",
        compact(&unchanged, 160)
    ));

    let read = world.feed("feedkit/poll-feed", "READ", "news", json!({}))?;
    say(&format!(
        "wsk trigger get news (READ): active={} fired={} last poll: {}",
        read["status"]["active"], read["status"]["fired"], read["status"]["lastPoll"]["outcome"]
    ));
    world.delete_trigger("news", "feedkit/poll-feed")?;
    world.delete_rule("show-news")?;
    say("wsk trigger delete news: the alarm, the rule and the binding are gone");
    shown.lines.push(
        "Polling: poll-feed set up an alarm and a rule; each tick pollMyService fired only the items not fired before (4 items in 2 events, a 304 cost nothing)"
            .to_owned(),
    );
    Ok(())
}

fn describe_github(event: &Value) -> String {
    // The relay fires {event, delivery, payload}; a direct hook fires the payload itself.
    let name = event["event"].as_str().unwrap_or("event");
    let event = event.get("payload").unwrap_or(event);
    format!("`{name}`: {}", describe_github_payload(event))
}

fn describe_github_payload(event: &Value) -> String {
    if let Some(commits) = event["commits"].as_array() {
        return format!(
            "a push by {} with {} commits ({})",
            event["pusher"]["name"].as_str().unwrap_or("?"),
            commits.len(),
            commits
                .iter()
                .filter_map(|c| c["message"].as_str())
                .collect::<Vec<_>>()
                .join("; ")
        );
    }
    if let Some(issue) = event.get("issue") {
        return format!(
            "issue #{} {} by {}: {}",
            issue["number"],
            event["action"].as_str().unwrap_or("?"),
            event["sender"]["login"].as_str().unwrap_or("?"),
            issue["title"].as_str().unwrap_or("?")
        );
    }
    compact(event, 200)
}

pub(crate) fn describe_items(event: &Value) -> String {
    let items = event["items"].as_array().cloned().unwrap_or_default();
    format!(
        "{} item(s): {}",
        items.len(),
        items
            .iter()
            .map(|item| item["title"].as_str().unwrap_or("?").to_owned())
            .collect::<Vec<_>>()
            .join(" | ")
    )
}

/// One line of JSON, cut to `limit` characters.
fn compact(value: &Value, limit: usize) -> String {
    let text = value.to_string();
    if text.chars().count() <= limit {
        text
    } else {
        format!("{}…", text.chars().take(limit).collect::<String>())
    }
}
