//! `poll-feed` and `pollMyService` end to end: both real binaries deployed as native actions in
//! a package of the sandbox OpenWhisk (in namespace `kit`, so the user's namespace `guest` gets
//! a binding), driven as the CLI drives a feed (REST invokes), ticked through the sandbox's
//! alarms feed, polling a JSON source on loopback. No secret may show in any result or log.

use std::collections::BTreeMap;
use std::io::Write;
use std::process::Command;
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use fakes::{Fault, JsonSource};
use feedkit::{AuthKey, Client, ClientOptions, QualifiedName};
use sandbox::{
    ActionContext, ActionOutput, Activation, Config, EntityKind, GUEST_AUTH_KEY, NamespaceKey,
    Sandbox,
};
use serde_json::{Value, json};

use crate::support::{run_action, workspace_bin};

const KIT: &str = "kit";
const KIT_KEY: &str = "6a0d6b2c-3f4e-4a5b-9c8d-7e6f5a4b3c2d:kitNamespaceKey0123456789abcdef";
const PACKAGE: &str = "polling";
const FEED: &str = "/kit/polling/poll-feed";
const TOKEN: &str = "poll-e2e-bearer-7c1d9e2f";
const PASSWORD: &str = "poll-e2e-password-4b8a";
/// Never fires by itself while a test runs: only `tick_alarm` ticks.
const YEARLY: &str = "0 0 1 1 *";
const WAIT: Duration = Duration::from_secs(30);

/// A sandbox with the kit deployed in `kit`, a JSON source, and a client acting as `guest`.
struct World {
    sandbox: Sandbox,
    source: JsonSource,
    guest: Client,
}

impl World {
    fn start() -> World {
        let config = Config {
            namespaces: vec![
                NamespaceKey::new("guest", GUEST_AUTH_KEY),
                NamespaceKey::new(KIT, KIT_KEY),
            ],
            // Fires are counted here; the rate limit is injected with fail_next_fires.
            fire_limit_per_minute: 0,
            ..Config::default()
        };
        let sandbox = Sandbox::start(config).expect("sandbox starts");
        let guest = Client::new(
            &sandbox.url(),
            AuthKey::parse(GUEST_AUTH_KEY).expect("key"),
            ClientOptions::default(),
        )
        .expect("client");
        let world = World {
            sandbox,
            source: JsonSource::start().expect("source starts"),
            guest,
        };
        world.deploy_kit(PACKAGE, true);
        world
    }

    /// The kit's package, published, with the feed and (unless told not to) the poller.
    fn deploy_kit(&self, package: &str, with_poller: bool) {
        self.sandbox
            .put_package(KIT, package, json!({}), json!({}), true)
            .expect("package");
        self.sandbox
            .put_native_action(
                KIT,
                &format!("{package}/poll-feed"),
                kit_zip("poll-feed"),
                json!({}),
                json!({"feed": true}),
            )
            .expect("feed action");
        if with_poller {
            self.sandbox
                .put_native_action(
                    KIT,
                    &format!("{package}/pollMyService"),
                    kit_zip("pollMyService"),
                    json!({}),
                    json!({"provide-api-key": true}),
                )
                .expect("poller action");
        }
    }

    fn url(&self) -> String {
        self.source.items_url()
    }

    /// `wsk trigger create T --feed F -p ...`: the trigger, then CREATE; on failure the CLI
    /// deletes the trigger again, which invokes DELETE.
    fn create_with(&self, feed: &str, trigger: &str, params: Value) -> Result<Value, String> {
        let body = json!({"annotations": [{"key": "feed", "value": feed}], "parameters": []});
        self.guest
            .put_trigger(&guest(trigger), &body, false)
            .expect("trigger created");
        let created = self.invoke(feed, "CREATE", trigger, params);
        if created.is_err() {
            self.delete_with(feed, trigger)
                .expect("DELETE after a failed CREATE");
        }
        created
    }

    fn create(&self, trigger: &str, params: Value) -> Result<Value, String> {
        self.create_with(FEED, trigger, params)
    }

    /// `wsk trigger delete T`: DELETE through the feed, then the trigger (whatever DELETE said).
    fn delete_with(&self, feed: &str, trigger: &str) -> Result<Value, String> {
        let deleted = self.invoke(feed, "DELETE", trigger, json!({}));
        match self.guest.delete_trigger(&guest(trigger)) {
            Ok(_) => {}
            Err(error) if error.is_not_found() => {}
            Err(error) => panic!("deleting {trigger}: {error}"),
        }
        deleted
    }

    /// A blocking invoke of the feed action as `guest` with the protocol parameters plus `extra`.
    fn invoke(
        &self,
        feed: &str,
        event: &str,
        trigger: &str,
        extra: Value,
    ) -> Result<Value, String> {
        let mut params = json!({
            "lifecycleEvent": event,
            "triggerName": format!("/_/{trigger}"),
            "authKey": GUEST_AUTH_KEY,
        });
        merge(&mut params, extra);
        let name = QualifiedName::parse(feed).expect("feed name");
        let outcome = self
            .guest
            .invoke_action(&name, &params)
            .map_err(|error| error.server_message().unwrap_or_default().to_owned());
        assert_no_secrets(&format!("{outcome:?}"));
        outcome
    }

    fn feed(&self, event: &str, trigger: &str, extra: Value) -> Result<Value, String> {
        self.invoke(FEED, event, trigger, extra)
    }

    fn read(&self, trigger: &str) -> Value {
        self.feed("READ", trigger, json!({})).expect("READ")
    }

    /// Makes the alarm of `trigger`'s feed fire now; the poller's activation, or `None` when no
    /// rule ran it (paused).
    fn tick(&self, trigger: &str) -> Option<Activation> {
        let helper = format!("{trigger}-poll-alarm");
        let fire = self
            .sandbox
            .tick_alarm("guest", &helper)
            .unwrap_or_else(|error| panic!("ticking {helper}: {error}"));
        let cause = fire.activation_id?;
        let ran = |activation: &Activation| {
            activation.name == "pollMyService"
                && activation.cause.as_deref() == Some(cause.as_str())
        };
        let activations =
            self.sandbox
                .wait_for_activations("guest", |all| all.iter().any(ran), WAIT);
        let activation = activations
            .into_iter()
            .find(ran)
            .unwrap_or_else(|| panic!("the poller did not run for {helper} within {WAIT:?}"));
        assert_no_secrets(&format!("{:?} {:?}", activation.result, activation.logs));
        Some(activation)
    }

    /// A tick the poller must answer without error; its result.
    fn tick_ok(&self, trigger: &str) -> Value {
        let activation = self.tick(trigger).expect("the poller ran");
        assert!(activation.success, "poller failed: {}", activation.result);
        activation.result
    }

    /// The events OpenWhisk accepted for the user's trigger, in order.
    fn events(&self, trigger: &str) -> Vec<Value> {
        self.sandbox
            .fires("guest", trigger)
            .into_iter()
            .filter(|fire| matches!(fire.status, 202 | 204))
            .map(|fire| fire.payload)
            .collect()
    }

    /// The item ids fired for `trigger`, over all its events, in order.
    fn fired_ids(&self, trigger: &str) -> Vec<String> {
        self.events(trigger)
            .iter()
            .flat_map(|event| match event.get("items") {
                Some(Value::Array(items)) => items.clone(),
                _ => vec![event.clone()],
            })
            .map(|item| item["id"].as_str().unwrap_or_default().to_owned())
            .collect()
    }

    fn names(&self, kind: EntityKind) -> Vec<String> {
        self.sandbox.entity_names("guest", kind)
    }

    /// What is left in `guest` besides the user's own triggers.
    fn leftovers(&self) -> Vec<String> {
        let mut left: Vec<String> = self
            .names(EntityKind::Trigger)
            .into_iter()
            .filter(|name| name.contains("-poll"))
            .collect();
        left.extend(self.names(EntityKind::Rule));
        left.extend(self.names(EntityKind::Package));
        left.extend(
            self.sandbox
                .alarms()
                .iter()
                .filter_map(|alarm| alarm["trigger"].as_str().map(str::to_owned)),
        );
        left
    }

    /// No activation anywhere shows a secret in its result or logs.
    fn assert_quiet(&self) {
        for namespace in ["guest", KIT] {
            for activation in self.sandbox.activations(namespace) {
                assert_no_secrets(&format!("{:?} {:?}", activation.result, activation.logs));
            }
        }
    }
}

/// The native zip of an action, made once per test process. The debug build's symbols are
/// stripped from a copy and the zip is stored, not deflated: the sandbox (also a debug build)
/// unpacks every deployed zip, and 36 MB of debug binary through unoptimized inflate per test
/// would dominate the run.
pub(crate) fn kit_zip(name: &str) -> Vec<u8> {
    static ZIPS: Mutex<BTreeMap<String, Vec<u8>>> = Mutex::new(BTreeMap::new());
    let mut zips = ZIPS.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some(zip) = zips.get(name) {
        return zip.clone();
    }
    let binary = workspace_bin(name);
    let stripped =
        std::env::temp_dir().join(format!("poll-feed-e2e-{}-{name}", std::process::id()));
    let strip = Command::new("strip")
        .arg("--strip-debug")
        .arg("-o")
        .arg(&stripped)
        .arg(&binary)
        .status();
    let bytes = match strip {
        Ok(status) if status.success() => std::fs::read(&stripped).expect("stripped binary"),
        // No binutils: the binary as built works too, only slower to unpack.
        _ => std::fs::read(&binary).expect("binary"),
    };
    let _ = std::fs::remove_file(&stripped);
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Stored)
        .unix_permissions(0o755);
    zip.start_file("exec", options).expect("zip entry");
    zip.write_all(&bytes).expect("zip data");
    let zip = zip.finish().expect("zip").into_inner();
    zips.insert(name.to_owned(), zip.clone());
    zip
}

fn guest(name: &str) -> QualifiedName {
    QualifiedName::new("guest", None, name)
}

fn merge(target: &mut Value, extra: Value) {
    if let (Value::Object(target), Value::Object(extra)) = (target, extra) {
        target.extend(extra);
    }
}

fn assert_no_secrets(text: &str) {
    let key_secret = GUEST_AUTH_KEY
        .split_once(':')
        .map(|(_, k)| k)
        .unwrap_or_default();
    for secret in [key_secret, TOKEN, PASSWORD] {
        assert!(!text.contains(secret), "a secret leaked: {text}");
    }
}

fn item(id: &str) -> Value {
    json!({"id": id, "title": format!("item {id}")})
}

#[test]
fn polls_end_to_end_through_alarm_rule_and_binding() {
    let world = World::start();
    world
        .source
        .require_header("Authorization", &format!("Bearer {TOKEN}"));
    world.source.push(item("a"));
    world.source.push(item("b"));

    let created = world
        .create(
            "news",
            json!({"url": world.url(), "minutes": 1440, "bearerToken": TOKEN}),
        )
        .expect("CREATE");
    assert_eq!(created["status"], "created");
    assert_eq!(created["seenIds"], 2, "{created}");
    assert_eq!(created["poller"], "/guest/polling-poller/pollMyService");
    assert_eq!(world.names(EntityKind::Package), ["polling-poller"]);
    assert_eq!(world.names(EntityKind::Rule), ["news-poll-rule"]);
    assert_eq!(
        world.names(EntityKind::Trigger),
        ["news", "news-poll-alarm"]
    );
    let alarms = world.sandbox.alarms();
    assert_eq!(alarms.len(), 1, "{alarms:?}");
    assert_eq!(alarms[0]["trigger"], "/guest/news-poll-alarm");
    assert_eq!(alarms[0]["config"]["minutes"], 1440);

    // The credentials are kept off the helper trigger's parameters, which ride on every tick.
    let helper = world
        .sandbox
        .trigger("guest", "news-poll-alarm")
        .expect("helper trigger");
    assert!(!helper["parameters"].to_string().contains(TOKEN));
    let read = world.read("news");
    assert_eq!(read["config"]["url"], world.url());
    assert_eq!(read["config"]["bearerToken"], "********");
    assert_eq!(read["status"]["active"], true);
    assert_eq!(read["status"]["position"]["seenIds"], 2);

    // startFrom=now: the items already there are not fired; new ones are, once, as one list.
    world.source.push(item("c"));
    world.source.push(item("d"));
    let polled = world.tick_ok("news");
    assert_eq!(polled["outcome"], "fired", "{polled}");
    assert_eq!(world.fired_ids("news"), ["c", "d"]);
    assert_eq!(world.events("news").len(), 1);

    // Unchanged: one conditional request answered 304, nothing fired.
    world.source.clear_requests();
    assert_eq!(world.tick_ok("news")["outcome"], "unchanged");
    let requests = world.source.requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].status, 304);
    assert_eq!(world.fired_ids("news"), ["c", "d"]);

    // Paused: the alarm still ticks, but no poller runs and nothing fires.
    let paused = world.feed("PAUSE", "news", json!({})).expect("PAUSE");
    assert_eq!(paused["status"], "paused");
    world.source.push(item("e"));
    assert!(world.tick("news").is_none(), "the rule is inactive");
    assert_eq!(world.fired_ids("news"), ["c", "d"]);
    let read = world.read("news");
    assert_eq!(read["status"]["active"], false);
    assert!(
        read["status"]["reason"]
            .as_str()
            .unwrap_or_default()
            .contains("PAUSE")
    );

    // Resumed: what appeared meanwhile fires on the next tick.
    world.feed("UNPAUSE", "news", json!({})).expect("UNPAUSE");
    world.tick_ok("news");
    assert_eq!(world.fired_ids("news"), ["c", "d", "e"]);

    // UPDATE: one event per item from now on, on a cron schedule; the position stays.
    let updated = world
        .feed("UPDATE", "news", json!({"batch": "each", "cron": YEARLY}))
        .expect("UPDATE");
    assert_eq!(updated["changed"], json!(["schedule"]));
    let alarms = world.sandbox.alarms();
    assert_eq!(alarms.len(), 1, "{alarms:?}");
    assert_eq!(alarms[0]["config"]["cron"], YEARLY);
    world.source.push(item("f"));
    world.source.push(item("g"));
    world.tick_ok("news");
    assert_eq!(world.fired_ids("news"), ["c", "d", "e", "f", "g"]);
    let events = world.events("news");
    assert_eq!(
        events[events.len() - 1],
        item("g"),
        "each item is its own event"
    );

    let read = world.read("news");
    assert_eq!(read["config"]["batch"], "each");
    assert_eq!(read["config"]["alarmFeed"], "/whisk.system/alarms/alarm");
    assert_eq!(read["status"]["fired"], json!({"events": 4, "items": 5}));
    assert_eq!(read["status"]["lastPoll"]["outcome"], "fired");
    assert_eq!(read["status"]["position"]["lastFiredId"], "g");

    let deleted = world.delete_with(FEED, "news").expect("DELETE");
    assert_eq!(deleted["status"], "deleted");
    assert_eq!(world.leftovers(), Vec::<String>::new());
    assert_eq!(world.names(EntityKind::Trigger), Vec::<String>::new());
    world.assert_quiet();
}

#[test]
fn backlog_fires_the_current_items_in_capped_lists() {
    let world = World::start();
    for id in ["1", "2", "3", "4", "5"] {
        world.source.push(item(id));
    }
    world
        .create(
            "all",
            json!({"url": world.url(), "cron": YEARLY, "startFrom": "backlog", "maxItemsPerFire": 2}),
        )
        .expect("CREATE");
    let polled = world.tick_ok("all");
    assert_eq!(polled["events"], 3, "{polled}");
    let sizes: Vec<usize> = world
        .events("all")
        .iter()
        .map(|event| event["items"].as_array().map_or(0, Vec::len))
        .collect();
    assert_eq!(sizes, [2, 2, 1]);
    assert_eq!(world.fired_ids("all"), ["1", "2", "3", "4", "5"]);

    // Reordered and repeated items are not fired again.
    world
        .source
        .set_items(vec![item("5"), item("3"), item("3"), item("1"), item("6")]);
    world.tick_ok("all");
    assert_eq!(world.fired_ids("all"), ["1", "2", "3", "4", "5", "6"]);
    world.delete_with(FEED, "all").expect("DELETE");
    assert_eq!(world.leftovers(), Vec::<String>::new());
}

#[test]
fn a_failing_source_is_reported_and_the_position_kept() {
    let world = World::start();
    world.source.push(item("old"));
    world
        .create(
            "flaky",
            json!({"url": world.url(), "cron": YEARLY, "timeoutSeconds": 1}),
        )
        .expect("CREATE");
    world.source.push(item("new"));
    for (fault, expected) in [
        (Fault::Status(503), "HTTP 503"),
        (Fault::Garbage, "not JSON"),
        (
            Fault::Slow(Duration::from_secs(3)),
            "did not finish answering within 1 s, the `timeoutSeconds`",
        ),
        (Fault::Down, "no answer"),
    ] {
        world.source.set_fault(fault);
        let activation = world.tick("flaky").expect("the poller ran");
        assert!(!activation.success);
        let error = activation.result["error"].as_str().unwrap_or_default();
        assert!(error.contains(expected), "{error}");
        let read = world.read("flaky");
        assert_eq!(read["status"]["lastPoll"]["outcome"], "source-failed");
        assert_eq!(
            read["status"]["active"], true,
            "a failing source does not stop polling"
        );
        assert_eq!(read["status"]["position"]["seenIds"], 1);
    }
    assert!(world.events("flaky").is_empty());
    world.source.set_fault(Fault::None);
    world.tick_ok("flaky");
    world.tick_ok("flaky");
    assert_eq!(world.fired_ids("flaky"), ["new"]);
    world.assert_quiet();
}

#[test]
fn a_rate_limited_fire_is_retried_within_the_tick() {
    let world = World::start();
    world
        .create("busy", json!({"url": world.url(), "cron": YEARLY}))
        .expect("CREATE");
    // The user's own rule and action, so accepted fires answer 202 and run something.
    world
        .sandbox
        .put_builtin_action(
            "guest",
            "consume",
            |_: &ActionContext, params: Value| {
                ActionOutput::result(json!({"got": params["items"]}))
            },
            json!({}),
            json!({}),
        )
        .expect("user action");
    world
        .guest
        .put_rule(
            &guest("busy-rule"),
            &guest("busy"),
            &guest("consume"),
            false,
        )
        .expect("user rule");
    world.source.push(item("x"));
    world.sandbox.fail_next_fires("guest", "busy", 429, 1);
    let polled = world.tick_ok("busy");
    assert_eq!(polled["firedItems"], 1, "{polled}");
    let statuses: Vec<u16> = world
        .sandbox
        .fires("guest", "busy")
        .iter()
        .map(|fire| fire.status)
        .collect();
    assert_eq!(statuses, [429, 202]);
    assert_eq!(world.fired_ids("busy"), ["x"]);
    let consumed = world.sandbox.wait_for_activations(
        "guest",
        |all| all.iter().any(|a| a.name == "consume"),
        WAIT,
    );
    let consumed = consumed
        .iter()
        .find(|a| a.name == "consume")
        .expect("the user's action ran");
    assert_eq!(consumed.result["got"], json!([item("x")]));
    world.tick_ok("busy");
    assert_eq!(world.fired_ids("busy"), ["x"], "fired once");
    world
        .guest
        .delete_rule(&guest("busy-rule"))
        .expect("user rule deleted");
    world.delete_with(FEED, "busy").expect("DELETE");
    assert_eq!(world.leftovers(), Vec::<String>::new());
}

#[test]
fn a_deleted_trigger_stops_polling_and_read_says_why() {
    let world = World::start();
    world
        .create(
            "gone",
            json!({"url": world.url(), "cron": YEARLY, "username": "me", "password": PASSWORD}),
        )
        .expect("CREATE");
    // Deleted without its feed's DELETE (e.g. through the REST API).
    world.guest.delete_trigger(&guest("gone")).expect("deleted");
    world.source.push(item("lost"));
    let activation = world.tick("gone").expect("the poller ran");
    let error = activation.result["error"].as_str().unwrap_or_default();
    assert!(error.contains("no longer exists"), "{error}");
    let rule = world.sandbox.rule("guest", "gone-poll-rule").expect("rule");
    assert_eq!(rule["status"], "inactive");
    let read = world.read("gone");
    assert_eq!(read["status"]["active"], false);
    assert!(
        read["status"]["reason"]
            .as_str()
            .unwrap_or_default()
            .contains("no longer exists")
    );
    assert_eq!(read["status"]["lastPoll"]["outcome"], "stopped");
    assert_eq!(read["config"]["password"], "********");

    // Recreated and resumed: the item that appeared meanwhile is fired.
    world
        .guest
        .put_trigger(
            &guest("gone"),
            &json!({"annotations": [], "parameters": []}),
            false,
        )
        .expect("recreated");
    world.feed("UNPAUSE", "gone", json!({})).expect("UNPAUSE");
    world.tick_ok("gone");
    assert_eq!(world.fired_ids("gone"), ["lost"]);
    world.delete_with(FEED, "gone").expect("DELETE");
    assert_eq!(world.leftovers(), Vec::<String>::new());
    world.assert_quiet();
}

#[test]
fn update_changes_the_selection_without_losing_or_repeating_items() {
    let world = World::start();
    let tagged = |id: &str| json!({"id": id, "meta": {"guid": format!("g-{id}")}});
    world.source.push(tagged("1"));
    world.source.push(tagged("2"));
    world
        .create("sel", json!({"url": world.url(), "cron": YEARLY}))
        .expect("CREATE");
    // Appears before the UPDATE and has not been fired yet: it must fire after it.
    world.source.push(tagged("3"));
    let updated = world
        .feed("UPDATE", "sel", json!({"idPath": "meta.guid"}))
        .expect("UPDATE");
    assert_eq!(updated["changed"], json!(["ids"]));
    world.tick_ok("sel");
    assert_eq!(world.fired_ids("sel"), ["3"]);

    // Another URL serving the same items: nothing repeats.
    world.source.set_path("/v2/items");
    world
        .feed("UPDATE", "sel", json!({"url": world.url()}))
        .expect("UPDATE url");
    world.source.push(tagged("4"));
    world.tick_ok("sel");
    assert_eq!(world.fired_ids("sel"), ["3", "4"]);

    // A schedule the alarms feed refuses: named, and the previous alarm stays.
    let error = world
        .feed("UPDATE", "sel", json!({"cron": "61 * * * *"}))
        .expect_err("bad cron");
    assert!(error.contains("`cron`"), "{error}");
    let alarms = world.sandbox.alarms();
    assert_eq!(alarms.len(), 1);
    assert_eq!(alarms[0]["config"]["cron"], YEARLY);
    world.tick_ok("sel");

    // startFrom=now skips what is there; backlog forgets the position.
    world.source.push(tagged("5"));
    world
        .feed("UPDATE", "sel", json!({"startFrom": "now"}))
        .expect("now");
    world.tick_ok("sel");
    assert_eq!(world.fired_ids("sel"), ["3", "4"]);
    world
        .feed("UPDATE", "sel", json!({"startFrom": "backlog"}))
        .expect("backlog");
    world.tick_ok("sel");
    assert_eq!(world.fired_ids("sel"), ["3", "4", "1", "2", "3", "4", "5"]);
    world.delete_with(FEED, "sel").expect("DELETE");
    assert_eq!(world.leftovers(), Vec::<String>::new());
}

#[test]
fn create_failing_half_way_leaves_nothing_behind() {
    let world = World::start();
    world.source.push(item("a"));

    // The alarms feed refuses the cron pattern after the binding, trigger and rule exist.
    let error = world
        .create("t1", json!({"url": world.url(), "cron": "61 * * * *"}))
        .expect_err("bad cron");
    assert!(error.starts_with("invalid parameter `cron`"), "{error}");
    assert_eq!(world.leftovers(), Vec::<String>::new());

    // An alarms feed that does not exist.
    let error = world
        .create(
            "t2",
            json!({"url": world.url(), "minutes": 5, "alarmFeed": "/whisk.system/alarms/nope"}),
        )
        .expect_err("no such feed");
    assert!(error.contains("`alarmFeed`"), "{error}");
    assert_eq!(world.leftovers(), Vec::<String>::new());

    // A kit without its poller: the rule cannot be made.
    world.deploy_kit("broken", false);
    let error = world
        .create_with(
            "/kit/broken/poll-feed",
            "t3",
            json!({"url": world.url(), "minutes": 5}),
        )
        .expect_err("no poller");
    assert!(error.contains("pollMyService"), "{error}");
    assert_eq!(world.leftovers(), Vec::<String>::new());

    // An unreadable source is found before anything is made.
    world.source.set_fault(Fault::Status(500));
    let error = world
        .create("t4", json!({"url": world.url(), "minutes": 5}))
        .expect_err("source down");
    assert!(error.starts_with("invalid parameter `url`"), "{error}");
    assert_eq!(world.leftovers(), Vec::<String>::new());
    assert_eq!(world.names(EntityKind::Trigger), Vec::<String>::new());
}

#[test]
fn delete_is_robust_and_keeps_a_binding_still_in_use() {
    let world = World::start();
    // Never created: DELETE succeeds.
    world
        .guest
        .put_trigger(&guest("never"), &json!({}), false)
        .expect("trigger");
    let deleted = world.delete_with(FEED, "never").expect("DELETE of nothing");
    assert_eq!(deleted["removed"], json!([]));

    world
        .create("one", json!({"url": world.url(), "cron": YEARLY}))
        .expect("one");
    world
        .create("two", json!({"url": world.url(), "cron": YEARLY}))
        .expect("two");
    assert_eq!(world.names(EntityKind::Package), ["polling-poller"]);
    world.delete_with(FEED, "one").expect("DELETE one");
    assert_eq!(
        world.names(EntityKind::Package),
        ["polling-poller"],
        "two still uses it"
    );
    assert_eq!(world.names(EntityKind::Rule), ["two-poll-rule"]);
    // Half deleted (the rule removed by hand): DELETE finishes the job, and again is a no-op.
    world
        .guest
        .set_rule_active(&guest("two-poll-rule"), false)
        .expect("disable");
    world
        .guest
        .delete_rule(&guest("two-poll-rule"))
        .expect("rule gone");
    world.feed("DELETE", "two", json!({})).expect("DELETE two");
    world
        .feed("DELETE", "two", json!({}))
        .expect("DELETE two again");
    world.delete_with(FEED, "two").expect("and through the CLI");
    assert_eq!(world.leftovers(), Vec::<String>::new());

    // A trigger deleted without DELETE, recreated, and polled again: CREATE replaces the stale feed.
    world
        .create("again", json!({"url": world.url(), "cron": YEARLY}))
        .expect("first");
    world
        .guest
        .delete_trigger(&guest("again"))
        .expect("deleted behind the feed's back");
    world
        .create("again", json!({"url": world.url(), "cron": YEARLY}))
        .expect("second");
    assert_eq!(world.sandbox.alarms().len(), 1);
    world.delete_with(FEED, "again").expect("DELETE");
    assert_eq!(world.leftovers(), Vec::<String>::new());
}

#[test]
fn every_event_names_its_bad_parameter_in_one_error() {
    let world = World::start();
    world.source.push(item("a"));
    world
        .create(
            "ok",
            json!({"url": world.url(), "cron": YEARLY, "bearerToken": TOKEN}),
        )
        .expect("CREATE");
    // A trigger without a feed, for the checks that need the source read.
    world
        .guest
        .put_trigger(&guest("bare"), &json!({}), false)
        .expect("trigger");
    let bin = workspace_bin("poll-feed");
    let deadline = SystemTime::now() + Duration::from_secs(60);
    let deadline = deadline
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_millis()
        .to_string();
    let url = world.sandbox.url();
    let env = [
        ("__OW_API_HOST", url.as_str()),
        ("__OW_NAMESPACE", "guest"),
        ("__OW_ACTION_NAME", FEED),
        ("__OW_DEADLINE", deadline.as_str()),
    ];
    let wrong_key = format!(
        "{}:not-the-key",
        GUEST_AUTH_KEY.split(':').next().unwrap_or_default()
    );
    let source = world.url();
    let cases = [
        ("CREATE", "t", json!({"minutes": 5}), "`url`"),
        (
            "CREATE",
            "t",
            json!({"url": source, "minutes": 0}),
            "`minutes`",
        ),
        ("CREATE", "t", json!({"url": source}), "`minutes`"),
        (
            "CREATE",
            "t",
            json!({"url": source, "minutes": 1, "batch": "all"}),
            "`batch`",
        ),
        (
            "CREATE",
            "t",
            json!({"url": source, "minutes": 1, "password": PASSWORD}),
            "`username`",
        ),
        (
            "CREATE",
            "bare",
            json!({"url": source, "minutes": 1, "itemsPath": "no.such"}),
            "`itemsPath`",
        ),
        (
            "CREATE",
            "bare",
            json!({"url": source, "minutes": 1, "idPath": "nope"}),
            "`idPath`",
        ),
        (
            "CREATE",
            "missing",
            json!({"url": source, "minutes": 1}),
            "`triggerName`",
        ),
        (
            "UPDATE",
            "ok",
            json!({}),
            "UPDATE needs at least one parameter",
        ),
        (
            "UPDATE",
            "ok",
            json!({"maxItemsPerFire": -3}),
            "`maxItemsPerFire`",
        ),
        (
            "UPDATE",
            "ok",
            json!({"timezone": "Mars/Olympus"}),
            "`timezone`",
        ),
        (
            "UPDATE",
            "ok",
            json!({"headers": {"X-A": [1]}}),
            "`headers.X-A`",
        ),
        ("READ", "ok", json!({"urll": source}), "`urll`"),
        ("READ", "missing", json!({}), "`triggerName`"),
        ("PAUSE", "ok", json!({"minuts": 3}), "`minuts`"),
        ("UNPAUSE", "missing", json!({}), "`triggerName`"),
        ("EXPLODE", "ok", json!({}), "`lifecycleEvent`"),
    ];
    for (event, trigger, extra, expected) in cases {
        let mut params = json!({"lifecycleEvent": event, "triggerName": format!("/guest/{trigger}"), "authKey": GUEST_AUTH_KEY});
        merge(&mut params, extra);
        let run = run_action(&bin, &params, &env);
        let error = run.error();
        assert!(
            error.contains(expected),
            "{event} {trigger}: {}",
            run.result
        );
        assert_eq!(
            run.result.as_object().map(|o| o.len()),
            Some(1),
            "{}",
            run.result
        );
        assert_no_secrets(&format!("{} {}", run.result, run.logs()));
    }
    // The feed's own parameters may reach READ through a package binding: ignored, not refused.
    let read = world
        .feed(
            "READ",
            "ok",
            json!({"url": "http://elsewhere/", "minutes": 5}),
        )
        .expect("READ with bound parameters");
    assert_eq!(read["config"]["url"], source);
    for event in ["CREATE", "READ", "UPDATE", "DELETE", "PAUSE", "UNPAUSE"] {
        let mut params =
            json!({"lifecycleEvent": event, "triggerName": "/_/ok", "authKey": wrong_key});
        if event == "CREATE" || event == "UPDATE" {
            merge(&mut params, json!({"url": source, "cron": YEARLY}));
        }
        let run = run_action(&bin, &params, &env);
        assert!(run.error().contains("`authKey`"), "{event}: {}", run.result);
        assert!(
            !run.result.to_string().contains("not-the-key"),
            "{}",
            run.result
        );
    }
    world.assert_quiet();
}

/// The user's credentials (`headers`, `bearerToken`) go only to the origin of `url`: a source
/// that redirects to another origin (a loopback port of its own here) is followed without them,
/// by CREATE's first read and by every tick's.
#[test]
fn credentials_are_not_sent_across_a_redirect_to_another_origin() {
    let world = World::start();
    world.source.push(item("a"));
    let redirect = crate::redirects::redirector(307, &world.source.url());
    let url = format!(
        "{}{}",
        redirect.url(),
        world.url().trim_start_matches(&world.source.url())
    );
    world
        .create(
            "moved",
            json!({"url": url, "cron": YEARLY, "startFrom": "backlog",
                   "headers": {"X-Api-Key": "k-e2e-4f2a"}, "bearerToken": TOKEN}),
        )
        .expect("CREATE follows the redirect");
    world.tick_ok("moved");
    assert_eq!(world.fired_ids("moved"), ["a"]);
    let asked = redirect.requests();
    assert_eq!(asked.len(), 2, "CREATE's read and the tick's: {asked:?}");
    for request in &asked {
        assert_eq!(request.header("X-Api-Key"), Some("k-e2e-4f2a"));
        assert_eq!(
            request.header("Authorization"),
            Some(format!("Bearer {TOKEN}").as_str())
        );
    }
    let reached = world.source.requests();
    assert_eq!(reached.len(), 2, "{reached:?}");
    for request in &reached {
        assert_eq!(request.header("X-Api-Key"), None, "{request:?}");
        assert_eq!(request.header("Authorization"), None, "{request:?}");
    }
    world.assert_quiet();
}

mod feeds;
