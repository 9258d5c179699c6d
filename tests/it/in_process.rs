//! The feeds run in this process, as libraries, through `feedkit::dispatch_feed` (the poller
//! through `feedkit::dispatch_action`): the same code as the binaries, against the sandbox
//! library, the fakes and the provider, without a process per event. The minimal-feed example
//! (examples/minimal-feed) runs here too.

use std::time::{Duration, SystemTime};

use feedkit::{Context, Feed, dispatch_feed};
use sandbox::GUEST_AUTH_KEY;
use serde_json::{Value, json};

use crate::hook_feed::{REPO, World, assert_no_secrets, merge, push};

/// The context OpenWhisk gives an activation of `action` in `guest`, a minute to run.
pub fn context(api_host: &str, action: &str) -> Context {
    Context {
        api_host: Some(api_host.to_owned()),
        namespace: Some("guest".to_owned()),
        action_name: Some(action.to_owned()),
        deadline: Some(SystemTime::now() + Duration::from_secs(60)),
        ..Context::default()
    }
}

/// One lifecycle event of `feed` for the guest trigger `trigger`, with `extra` parameters.
pub fn event<F: Feed>(
    feed: &F,
    context: &Context,
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
    dispatch_feed(feed, params, context).map_err(|error| error.message().to_owned())
}

#[test]
fn hook_feed_runs_every_event_in_process() {
    let world = World::start();
    world.create_trigger("t");
    let context = context(&world.sandbox.url(), "/guest/hooks/hook-feed");
    let relay = json!({"relayUrl": world.relay_url});
    let run = |name: &str, extra: Value| {
        let mut params = relay.clone();
        merge(&mut params, extra);
        let result = event(&hook_feed::HookFeed, &context, name, "t", params);
        let shown = match &result {
            Ok(value) => value.clone(),
            Err(message) => json!({ "error": message }),
        };
        assert_no_secrets("", &shown);
        result.unwrap_or_else(|error| panic!("{name}: {error}"))
    };

    let created = run("CREATE", world.create_params(json!("push")));
    assert_eq!(created["deliveryMode"], "relay");
    assert_eq!(world.hooks_of("t").len(), 1);
    assert_eq!(
        world.deliver("t", "push", &push(1)),
        1,
        "a push fires the trigger"
    );

    let read = run("READ", json!({}));
    assert_eq!(read["config"]["repository"], REPO);
    assert_eq!(read["status"]["active"], true);

    let updated = run("UPDATE", json!({"events": "push, issues"}));
    assert_eq!(updated["outcome"], "updated");
    assert_eq!(world.hooks_of("t")[0]["events"], json!(["push", "issues"]));

    assert_eq!(run("PAUSE", json!({}))["active"], false);
    assert_eq!(world.hooks_of("t")[0]["active"], false);
    assert_eq!(run("UNPAUSE", json!({}))["active"], true);

    let deleted = run("DELETE", json!({}));
    assert_eq!(deleted["removed"].as_array().map(Vec::len), Some(1));
    assert!(world.hooks_of("t").is_empty());
    // The record stays: the CLI deletes the trigger next.
    assert!(world.stored_config("t").is_some());

    // A parameter the feed does not take is refused before anything is sent, naming the known ones.
    let error = event(
        &hook_feed::HookFeed,
        &context,
        "CREATE",
        "t",
        json!({"repo": REPO}),
    )
    .expect_err("unknown parameter");
    assert!(
        error.starts_with("invalid parameter `repo`: hook-feed has no such parameter; it takes repository, accessToken"),
        "{error}"
    );
}

/// A sandbox with `guest` and the kit's namespace, and a client acting as guest.
fn kit_sandbox() -> (sandbox::Sandbox, feedkit::Client) {
    let config = sandbox::Config {
        namespaces: vec![
            sandbox::NamespaceKey::new("guest", GUEST_AUTH_KEY),
            sandbox::NamespaceKey::new("kit", KIT_KEY),
        ],
        fire_limit_per_minute: 0,
        ..sandbox::Config::default()
    };
    let sandbox = sandbox::Sandbox::start(config).expect("sandbox starts");
    let guest = feedkit::Client::new(
        &sandbox.url(),
        feedkit::AuthKey::parse(GUEST_AUTH_KEY).expect("key"),
        feedkit::ClientOptions::default(),
    )
    .expect("client");
    (sandbox, guest)
}

const KIT_KEY: &str = "6a0d6b2c-3f4e-4a5b-9c8d-7e6f5a4b3c2d:kitNamespaceKey0123456789abcdef";

/// What `wsk trigger create T --feed F` does before it invokes the feed.
fn create_trigger(guest: &feedkit::Client, name: &str, feed: &str) {
    let body = json!({"annotations": [{"key": "feed", "value": feed}], "parameters": []});
    guest
        .put_trigger(
            &feedkit::QualifiedName::new("guest", None, name),
            &body,
            false,
        )
        .expect("trigger created");
}

fn ok(result: Result<Value, String>, what: &str) -> Value {
    result.unwrap_or_else(|error| panic!("{what}: {error}"))
}

#[test]
fn the_minimal_feed_example_runs_every_event_in_process() {
    let (sandbox, guest) = kit_sandbox();
    create_trigger(&guest, "hello", "/guest/minimal-feed");
    let context = context(&sandbox.url(), "/guest/minimal-feed");
    let feed = &minimal_feed::MinimalFeed;
    let run = |name: &str, extra: Value| event(feed, &context, name, "hello", extra);

    // Checked before anything is sent: the required parameter, then an unknown one.
    let error = run("CREATE", json!({})).expect_err("no message");
    assert!(error.starts_with("missing parameter `message`"), "{error}");
    let error = run("CREATE", json!({"mesage": "hi"})).expect_err("typo");
    assert!(
        error.contains("minimal-feed has no such parameter; it takes message"),
        "{error}"
    );

    let created = ok(run("CREATE", json!({"message": "hi"})), "CREATE");
    assert_eq!(created["status"], "created");
    let fires = sandbox.wait_for_fires("guest", "hello", 1, Duration::from_secs(20));
    assert_eq!(fires[0].payload, json!({"message": "hi"}));
    assert_eq!(
        ok(run("READ", json!({})), "READ"),
        json!({"config": {"message": "hi"}, "status": {"active": true}})
    );
    ok(run("UPDATE", json!({"message": "hello again"})), "UPDATE");
    assert_eq!(ok(run("PAUSE", json!({})), "PAUSE")["active"], false);
    assert_eq!(
        ok(run("READ", json!({})), "READ")["status"]["active"],
        false
    );
    assert_eq!(ok(run("UNPAUSE", json!({})), "UNPAUSE")["active"], true);
    let fires = sandbox.wait_for_fires("guest", "hello", 2, Duration::from_secs(20));
    assert_eq!(fires[1].payload, json!({"message": "hello again"}));
    assert_eq!(ok(run("DELETE", json!({})), "DELETE")["status"], "deleted");

    // Another namespace's key may not read the trigger: refused, naming the parameter.
    create_trigger(&guest, "other", "/guest/minimal-feed");
    let params =
        json!({"lifecycleEvent": "READ", "triggerName": "/guest/other", "authKey": KIT_KEY});
    let error = dispatch_feed(feed, params, &context).expect_err("foreign key");
    assert!(
        error.message().starts_with("invalid parameter `authKey`"),
        "{}",
        error.message()
    );
}

#[test]
fn poll_feed_and_the_poller_run_every_event_in_process() {
    let (sandbox, guest) = kit_sandbox();
    // The poller the feed's rule runs is the kit's, deployed as OpenWhisk runs it.
    sandbox
        .put_package("kit", "polling", json!({}), json!({}), true)
        .expect("package");
    sandbox
        .put_native_action(
            "kit",
            "polling/pollMyService",
            crate::poll_feed::kit_zip("pollMyService"),
            json!({}),
            json!({"provide-api-key": true}),
        )
        .expect("poller");
    let source = fakes::JsonSource::start().expect("source");
    source.push(json!({"id": "a"}));
    create_trigger(&guest, "news", "/kit/polling/poll-feed");
    let context = context(&sandbox.url(), "/kit/polling/poll-feed");
    let run = |name: &str, extra: Value| event(&poll_feed::PollFeed, &context, name, "news", extra);

    let created = ok(
        run(
            "CREATE",
            json!({"url": source.items_url(), "cron": "0 0 1 1 *"}),
        ),
        "CREATE",
    );
    assert_eq!(created["status"], "created");
    assert_eq!(created["seenIds"], 1);
    assert_eq!(
        ok(run("READ", json!({})), "READ")["config"]["cron"],
        "0 0 1 1 *"
    );

    // A tick, in process too: the poller with the helper's parameters and the owner's key.
    source.push(json!({"id": "b"}));
    let tick_context = Context {
        api_key: feedkit::AuthKey::parse(GUEST_AUTH_KEY).ok(),
        action_name: Some("/guest/polling-poller/pollMyService".to_owned()),
        ..context.clone()
    };
    let ticked = feedkit::dispatch_action(
        &poll_feed::Poller,
        json!({"pollTrigger": "/guest/news-poll-alarm"}),
        &tick_context,
    )
    .unwrap_or_else(|error| panic!("tick: {}", error.message()));
    let fires = sandbox.wait_for_fires("guest", "news", 1, Duration::from_secs(20));
    let fired = &fires[0].payload;
    assert!(
        fired["id"] == "b" || fired["items"][0]["id"] == "b",
        "{fired} {ticked}"
    );

    let updated = ok(run("UPDATE", json!({"cron": "0 0 2 1 *"})), "UPDATE");
    assert_eq!(updated["changed"], json!(["schedule"]), "{updated}");
    ok(run("PAUSE", json!({})), "PAUSE");
    assert_eq!(
        ok(run("READ", json!({})), "READ")["status"]["active"],
        false
    );
    ok(run("UNPAUSE", json!({})), "UNPAUSE");
    let deleted = ok(run("DELETE", json!({})), "DELETE");
    assert_eq!(deleted["status"], "deleted");
    assert!(sandbox.alarms().is_empty(), "{:?}", sandbox.alarms());
    assert!(sandbox.trigger("guest", "news-poll-alarm").is_none());
}

#[test]
fn changes_feed_runs_every_event_in_process() {
    let Some(pouch) = crate::couchdb::PouchDb::start() else {
        return;
    };
    let db = crate::connections::Db::create(&pouch.url(), "orders", None);
    let world = Provided::start("orders", "/kit/changes/changes-feed");
    let sandbox = &world.sandbox;
    let run = |name: &str, extra: Value| world.run(&changes_feed::ChangesFeed, name, extra);

    let created = ok(
        run("CREATE", json!({"dbUrl": pouch.url(), "dbName": "orders"})),
        "CREATE",
    );
    assert_eq!(created["status"]["state"], "active", "{created}");
    db.put("first");
    let fires = sandbox.wait_for_fires("guest", "orders", 1, Duration::from_secs(40));
    assert_eq!(fires[0].payload["id"], "first");
    assert_eq!(
        ok(run("READ", json!({})), "READ")["config"]["database"]["name"],
        "orders"
    );
    let updated = ok(run("UPDATE", json!({"includeDocs": true})), "UPDATE");
    assert_eq!(updated["config"]["includeDocs"], true);
    assert_eq!(
        ok(run("PAUSE", json!({})), "PAUSE")["status"]["state"],
        "paused"
    );
    ok(run("UNPAUSE", json!({})), "UNPAUSE");
    ok(run("DELETE", json!({})), "DELETE");
    let error = run("READ", json!({})).expect_err("deleted");
    assert!(!error.is_empty());
}

/// A feed kept by the provider, run in process: the sandbox with the user's trigger, a
/// provider, and the feed action's context.
struct Provided {
    sandbox: sandbox::Sandbox,
    provider: crate::connections::ProviderProcess,
    context: Context,
    trigger: String,
    _data: crate::support::TempDir,
}

impl Provided {
    fn start(trigger: &str, feed: &str) -> Self {
        let (sandbox, guest) = kit_sandbox();
        let data = crate::support::TempDir::new("in-process-provider");
        let provider = crate::connections::ProviderProcess::start(&data.0.join("store"), 0);
        create_trigger(&guest, trigger, feed);
        let context = context(&sandbox.url(), feed);
        Self {
            sandbox,
            provider,
            context,
            trigger: trigger.to_owned(),
            _data: data,
        }
    }

    /// One event, with the provider's parameters bound as the manifest binds them.
    fn run<F: Feed>(&self, feed: &F, name: &str, extra: Value) -> Result<Value, String> {
        let mut params = json!({
            "providerUrl": self.provider.url,
            "providerSecret": crate::connections::PROVIDER_SECRET,
        });
        merge(&mut params, extra);
        event(feed, &self.context, name, &self.trigger, params)
    }
}

#[test]
fn alarm_feed_runs_every_event_in_process() {
    let world = Provided::start("ticks", "/kit/alarms/alarm-feed");
    let sandbox = &world.sandbox;
    let run = |name: &str, extra: Value| world.run(&alarm_feed::AlarmFeed, name, extra);

    let created = ok(
        run(
            "CREATE",
            json!({"cron": "* * * * * *", "trigger_payload": "tick"}),
        ),
        "CREATE",
    );
    assert_eq!(created["status"]["state"], "active", "{created}");
    let fires = sandbox.wait_for_fires("guest", "ticks", 1, Duration::from_secs(40));
    crate::alarm_feed::assert_payload(&fires[0].payload, json!({"payload": "tick"}));
    assert_eq!(
        ok(run("READ", json!({})), "READ")["config"]["cron"],
        "* * * * * *"
    );
    let updated = ok(run("UPDATE", json!({"minutes": 60})), "UPDATE");
    assert_eq!(updated["config"]["minutes"], 60, "{updated}");
    assert_eq!(
        ok(run("PAUSE", json!({})), "PAUSE")["status"]["state"],
        "paused"
    );
    ok(run("UNPAUSE", json!({})), "UNPAUSE");
    ok(run("DELETE", json!({})), "DELETE");
    let error = run("READ", json!({})).expect_err("deleted");
    assert!(error.contains("no alarm is registered"), "{error}");
}
