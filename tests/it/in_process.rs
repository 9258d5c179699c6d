//! The feeds run in this process, as libraries, through `feedkit::dispatch_feed`: the same code
//! as the binaries, against the sandbox library and the fakes, without a process per event.

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
