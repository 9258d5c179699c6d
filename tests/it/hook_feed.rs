//! `hook-feed` end to end: the real binary, run as the native runtime runs it, against a sandbox
//! OpenWhisk (with the `hook-relay` web action deployed in a private package) and a fake GitHub
//! hooks API on loopback. A delivery from the fake must fire the user's trigger in the sandbox,
//! through the relay (the default delivery mode) or directly; no secret may show in any result,
//! error or log.

use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use fakes::FakeGitHub;
use feedkit::{AuthKey, Client, ClientOptions, QualifiedName};
use sandbox::{Config, GUEST_AUTH_KEY, NamespaceKey, Sandbox};
use serde_json::{Value, json};

use crate::hook_relay::{RELAY_KEY_1, RELAY_KEY_2, deploy_relay, relay_keys};
use crate::support::{ActionRun, action_zip, run_action, workspace_bin};

pub const REPO: &str = "octo/hello";
pub const TOKEN: &str = "ghp_e2eAdminHooksToken0123456789abcdef";
const WEBHOOK_SECRET: &str = "whsec-e2e-9f8e7d6c5b4a";
const FEED: &str = "/guest/hooks/hook-feed";
pub const OTHER_KEY: &str = "0c6f2b7e-1d3a-4e5f-8a9b-0c1d2e3f4a5b:otherNamespaceKey0123456789";
pub const WAIT: Duration = Duration::from_secs(20);

/// A sandbox with `guest` (and `other`, to hold a foreign key) and the relay deployed as the
/// manifest deploys it (here in `guest`), a fake GitHub with one repository, and the built
/// binary.
pub struct World {
    pub sandbox: Sandbox,
    pub github: FakeGitHub,
    bin: PathBuf,
    /// The relay web action's URL: what the feed's package binds as `relayUrl`.
    pub relay_url: String,
}

impl World {
    pub fn start() -> World {
        let config = Config {
            namespaces: vec![
                NamespaceKey::new("guest", GUEST_AUTH_KEY),
                NamespaceKey::new("other", OTHER_KEY),
            ],
            // The test counts fires; the rate limit is tested elsewhere.
            fire_limit_per_minute: 0,
            ..Config::default()
        };
        let sandbox = Sandbox::start(config).expect("sandbox starts");
        let github = FakeGitHub::start().expect("fake GitHub starts");
        github.add_repo(REPO, TOKEN);
        let relay_url = deploy_relay(&sandbox, relay_keys(&[("k1", RELAY_KEY_1)]));
        World {
            sandbox,
            github,
            bin: workspace_bin("hook-feed"),
            relay_url,
        }
    }

    pub fn client(&self, key: &str) -> Client {
        Client::new(
            &self.sandbox.url(),
            AuthKey::parse(key).expect("key"),
            ClientOptions::default(),
        )
        .expect("client")
    }

    /// What `wsk trigger create T --feed F` does before invoking the feed.
    pub fn create_trigger(&self, name: &str) {
        let body = json!({"annotations": [{"key": "feed", "value": FEED}], "parameters": []});
        self.client(GUEST_AUTH_KEY)
            .put_trigger(&guest(name), &body, false)
            .expect("trigger created");
    }

    fn env(&self) -> Vec<(&'static str, String)> {
        let deadline = SystemTime::now() + Duration::from_secs(60);
        let deadline_ms = deadline
            .duration_since(UNIX_EPOCH)
            .expect("clock")
            .as_millis();
        vec![
            ("__OW_API_HOST", self.sandbox.url()),
            ("__OW_NAMESPACE", "guest".to_owned()),
            ("__OW_ACTION_NAME", FEED.to_owned()),
            (
                "__OW_ACTIVATION_ID",
                "0123456789abcdef0123456789abcdef".to_owned(),
            ),
            ("__OW_DEADLINE", deadline_ms.to_string()),
        ]
    }

    /// Runs the feed once with the protocol parameters for the guest trigger, `relayUrl` (bound
    /// on the feed's package, so every event gets it), plus `extra`.
    pub fn feed(&self, event: &str, trigger: &str, extra: Value) -> ActionRun {
        let mut params = json!({
            "lifecycleEvent": event,
            "triggerName": format!("/_/{trigger}"),
            "authKey": GUEST_AUTH_KEY,
            "relayUrl": self.relay_url,
        });
        merge(&mut params, extra);
        self.run(&params)
    }

    fn run(&self, params: &Value) -> ActionRun {
        let env = self.env();
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let run = run_action(&self.bin, params, &env);
        assert_no_secrets(&run.logs(), &run.result);
        run
    }

    /// Parameters of a CREATE for the fake repository (relay mode: the relay derives the
    /// secret).
    pub fn create_params(&self, events: Value) -> Value {
        json!({
            "repository": REPO,
            "accessToken": TOKEN,
            "baseUrl": self.github.url(),
            "events": events,
        })
    }

    /// The same in direct mode, with the user's own secret.
    fn direct_params(&self, events: Value) -> Value {
        let mut params = self.create_params(events);
        merge(
            &mut params,
            json!({"deliveryMode": "direct", "secret": WEBHOOK_SECRET}),
        );
        params
    }

    pub fn hooks(&self) -> Vec<Value> {
        self.github.hooks(REPO)
    }

    /// Hooks delivering to this trigger, directly or through the relay.
    pub fn hooks_of(&self, trigger: &str) -> Vec<Value> {
        let direct = format!("/api/v1/namespaces/guest/triggers/{trigger}");
        let relayed = format!("{}/deliver/guest/{trigger}?", self.relay_url);
        self.hooks()
            .into_iter()
            .filter(|hook| {
                hook["config"]["url"]
                    .as_str()
                    .is_some_and(|url| url.ends_with(&direct) || url.starts_with(&relayed))
            })
            .collect()
    }

    /// Delivers `event` and returns the guest trigger's fires that carry `payload`.
    pub fn deliver(&self, trigger: &str, event: &str, payload: &Value) -> usize {
        self.github.deliver(REPO, event, payload);
        self.fires_with(trigger, payload)
    }

    /// Fires carrying `payload`: as the event itself (direct) or as the relay's
    /// `{event, delivery, payload}`.
    pub fn fires_with(&self, trigger: &str, payload: &Value) -> usize {
        self.sandbox
            .fires("guest", trigger)
            .iter()
            .filter(|fire| &fire.payload == payload || &fire.payload["payload"] == payload)
            .count()
    }

    /// The hook's signing secrets as registered (the relay's derived ones included): what no
    /// output may show.
    pub fn registered_secrets(&self) -> Vec<String> {
        self.hooks()
            .iter()
            .filter_map(|hook| {
                let id = hook["id"].as_u64()?;
                let raw = self.github.hook_config_raw(REPO, id)?;
                raw["secret"].as_str().map(str::to_owned)
            })
            .collect()
    }

    /// Every activation in the sandbox (the relay's included): no secret in logs or results.
    pub fn assert_activations_keep_secrets(&self, more: &[String]) {
        for activation in self.sandbox.activations("guest") {
            let text = format!("{}\n{}", activation.logs.join("\n"), activation.result);
            assert_no_secrets(&text, &Value::Null);
            for secret in more {
                assert!(
                    !text.contains(secret.as_str()),
                    "a secret leaked into: {text}"
                );
            }
        }
    }

    pub fn stored_config(&self, trigger: &str) -> Option<Value> {
        let entity = self.sandbox.trigger("guest", trigger)?;
        feedkit::entity_annotation(&entity, "hookFeed").cloned()
    }
}

pub fn guest(name: &str) -> QualifiedName {
    QualifiedName::parse(&format!("/guest/{name}")).expect("name")
}

pub fn merge(target: &mut Value, extra: Value) {
    if let (Some(target), Value::Object(extra)) = (target.as_object_mut(), extra) {
        target.extend(extra);
    }
}

/// The key half of the guest key, the token, the webhook secret and the relay keys never show.
pub fn assert_no_secrets(logs: &str, result: &Value) {
    let key_half = GUEST_AUTH_KEY.split_once(':').expect("key").1;
    let other_half = OTHER_KEY.split_once(':').expect("key").1;
    let text = format!("{logs}\n{result}");
    for secret in [
        key_half,
        other_half,
        TOKEN,
        WEBHOOK_SECRET,
        RELAY_KEY_1,
        RELAY_KEY_2,
    ] {
        assert!(!text.contains(secret), "a secret leaked into: {text}");
    }
}

pub fn ok(run: &ActionRun) -> &Value {
    assert!(
        run.result.is_object() && run.result.get("error").is_none(),
        "expected success, got {} (logs: {})",
        run.result,
        run.logs()
    );
    &run.result
}

/// One `{"error"}` result naming `parameter`.
pub fn assert_error_naming(run: &ActionRun, parameter: &str, case: &str) {
    let object = run.result.as_object().expect("a JSON object result");
    assert_eq!(object.len(), 1, "{case}: {}", run.result);
    let error = run.error();
    assert!(
        error.contains(&format!("`{parameter}`")),
        "{case}: the error should name `{parameter}`: {error}"
    );
}

pub fn push(n: u32) -> Value {
    json!({"ref": "refs/heads/main", "after": format!("{n:040}"), "commits": [], "repository": {"full_name": REPO}})
}

#[test]
fn hook_feed_lifecycle_fires_the_trigger_through_the_relay() {
    lifecycle(Mode::Relay);
}

#[test]
fn hook_feed_lifecycle_fires_the_trigger_directly() {
    lifecycle(Mode::Direct);
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Relay,
    Direct,
}

/// The whole lifecycle of one trigger's hook, in either delivery mode; the direct one ends by
/// moving the hook to the relay with UPDATE.
fn lifecycle(mode: Mode) {
    let world = World::start();
    world.create_trigger("t");
    let relay = mode == Mode::Relay;
    let fire_url = format!("{}/api/v1/namespaces/guest/triggers/t", world.sandbox.url());
    let relay_target = format!("{}/deliver/guest/t", world.relay_url);
    let key_half = GUEST_AUTH_KEY.split_once(':').expect("key").1;

    // CREATE installs one active, signed hook delivering to the relay (with a sealed token) or
    // to the trigger's fire URL (with the key in it).
    let params = if relay {
        world.create_params(json!("push"))
    } else {
        world.direct_params(json!("push"))
    };
    let created = world.feed("CREATE", "t", params);
    let hook_id = ok(&created)["hookId"].as_u64().expect("hook id");
    assert_eq!(
        created.result["deliveryMode"],
        if relay { "relay" } else { "direct" }
    );
    let hooks = world.hooks();
    assert_eq!(hooks.len(), 1, "{hooks:?}");
    assert_eq!(hooks[0]["events"], json!(["push"]));
    let raw = world
        .github
        .hook_config_raw(REPO, hook_id)
        .expect("raw config");
    assert_eq!(raw["content_type"], "json");
    let url = raw["url"].as_str().expect("url").to_owned();
    let secret = raw["secret"].as_str().expect("a signed hook").to_owned();
    let stored = world
        .stored_config("t")
        .expect("config stored on the trigger");
    // Written once, before the hook existed: it finds the hook by where it delivers.
    assert_eq!(stored["hookUrl"], created.result["hookUrl"]);
    assert!(stored.get("hookId").is_none(), "{stored}");
    if relay {
        assert_eq!(created.result["hookUrl"], relay_target);
        assert_eq!(created.result["relayKeyId"], "k1");
        assert!(url.starts_with(&format!("{relay_target}?token=")), "{url}");
        assert!(
            !url.contains(key_half) && !url.contains("23bc46b1-"),
            "{url}"
        );
        assert!(
            secret.len() == 64 && secret.bytes().all(|b| b.is_ascii_hexdigit()),
            "a derived secret"
        );
        assert_eq!(stored["deliveryMode"], "relay");
        assert!(stored.get("secret").is_none(), "no secret stored: {stored}");
        assert!(!stored.to_string().contains(&secret));
    } else {
        assert_eq!(created.result["hookUrl"], fire_url);
        assert!(url.starts_with("http://23bc46b1-"), "{url}");
        assert_eq!(secret, WEBHOOK_SECRET);
        assert_eq!(stored["deliveryMode"], "direct");
    }
    assert!(!created.logs().contains(&secret) && !created.result.to_string().contains(&secret));
    let trigger = world.sandbox.trigger("guest", "t").expect("trigger");
    assert_eq!(
        feedkit::entity_annotation(&trigger, "feed"),
        Some(&json!(FEED))
    );

    // GitHub pings a new hook; that ping already fires the trigger.
    assert!(world.github.wait_idle(WAIT));
    let ping = world.github.deliveries(REPO, hook_id);
    assert_eq!(ping.first().map(|d| d.event.as_str()), Some("ping"));
    assert!(
        ping[0].status.is_some_and(|s| (200..300).contains(&s)),
        "{ping:?}"
    );

    // A push fires the trigger with the push as its payload (the relay adds the event's name
    // and delivery id).
    let delivered = world.github.deliver(REPO, "push", &push(1));
    assert_eq!(world.fires_with("t", &push(1)), 1);
    if relay {
        let fires = world.sandbox.fires("guest", "t");
        let fire = fires.last().expect("a fire");
        assert_eq!(
            fire.payload,
            json!({"event": "push", "delivery": delivered[0].guid, "payload": push(1)})
        );
    }

    // READ: settings with secrets masked, the URL without credentials or token, the mode, the
    // last delivery.
    let read = world.feed("READ", "t", json!({}));
    let read = ok(&read);
    assert_eq!(read["config"]["repository"], REPO);
    assert_eq!(read["config"]["events"], json!(["push"]));
    assert_eq!(read["config"]["secret"], "********");
    assert_eq!(read["config"]["accessToken"], "********");
    assert_eq!(read["config"]["hookId"], hook_id);
    if relay {
        assert_eq!(read["config"]["deliveryMode"], "relay");
        assert_eq!(read["config"]["relayKeyId"], "k1");
        assert_eq!(read["config"]["hookUrl"], relay_target);
    } else {
        assert_eq!(read["config"]["deliveryMode"], "direct");
        assert_eq!(read["config"]["hookUrl"], fire_url);
    }
    assert_eq!(read["status"]["active"], true);
    assert!(read["status"]["dateChanged"].as_u64().is_some(), "{read}");
    assert!(
        read["status"]["last_response"]["code"]
            .as_u64()
            .is_some_and(|c| (200..300).contains(&c)),
        "{read}"
    );

    // UPDATE changes the hook in place while deliveries keep firing.
    let during = std::thread::scope(|scope| {
        let delivering = scope.spawn(|| world.github.deliver(REPO, "push", &push(2)));
        let updated = world.feed("UPDATE", "t", json!({"events": "push, issues"}));
        assert_eq!(ok(&updated)["hookId"], hook_id, "updated in place");
        delivering.join().expect("delivery thread")
    });
    assert!(
        during
            .iter()
            .all(|d| d.status.is_some_and(|s| (200..300).contains(&s))),
        "{during:?}"
    );
    assert_eq!(world.fires_with("t", &push(2)), 1);
    assert_eq!(world.hooks().len(), 1);
    assert_eq!(world.hooks()[0]["events"], json!(["push", "issues"]));
    let issue = json!({"action": "opened", "issue": {"number": 7}});
    assert_eq!(world.deliver("t", "issues", &issue), 1);
    let raw = world
        .github
        .hook_config_raw(REPO, hook_id)
        .expect("raw config");
    let mut secrets = vec![secret.clone()];
    if relay {
        // UPDATE seals the URL again: a new token and a new derived secret.
        assert_ne!(raw["url"].as_str(), Some(url.as_str()), "a new token");
        let resealed = raw["secret"].as_str().expect("secret").to_owned();
        assert_ne!(resealed, secret, "a new secret");
        secrets.push(resealed);
        // The relay's secret is not the user's to give.
        assert_error_naming(
            &world.feed("UPDATE", "t", json!({"secret": "mine"})),
            "secret",
            "a secret in relay mode",
        );
    } else {
        assert_eq!(raw["secret"], WEBHOOK_SECRET, "UPDATE keeps the secret");
        // An empty secret removes it; deliveries go on unsigned.
        ok(&world.feed("UPDATE", "t", json!({"secret": ""})));
        let raw = world
            .github
            .hook_config_raw(REPO, hook_id)
            .expect("raw config");
        assert!(raw.get("secret").is_none(), "{raw}");
        let read = world.feed("READ", "t", json!({}));
        assert_eq!(ok(&read)["config"]["secret"], Value::Null);
        assert_eq!(world.deliver("t", "push", &push(20)), 1);
    }

    // PAUSE: the hook stays but stops delivering; READ says why.
    ok(&world.feed("PAUSE", "t", json!({})));
    assert_eq!(world.hooks()[0]["active"], false);
    assert_eq!(world.deliver("t", "push", &push(3)), 0);
    let read = world.feed("READ", "t", json!({}));
    assert_eq!(ok(&read)["status"]["active"], false);
    assert_eq!(read.result["status"]["reason"]["kind"], "PAUSED");

    // UNPAUSE: the same hook fires again.
    ok(&world.feed("UNPAUSE", "t", json!({})));
    assert_eq!(world.hooks()[0]["id"], hook_id);
    assert_eq!(world.deliver("t", "push", &push(4)), 1);

    if !relay {
        // UPDATE moves a direct hook to the relay, in place.
        let moved = world.feed("UPDATE", "t", json!({"deliveryMode": "relay"}));
        assert_eq!(ok(&moved)["hookId"], hook_id);
        assert_eq!(moved.result["deliveryMode"], "relay");
        let raw = world
            .github
            .hook_config_raw(REPO, hook_id)
            .expect("raw config");
        assert!(
            raw["url"]
                .as_str()
                .is_some_and(|u| u.starts_with(&relay_target)),
            "{raw}"
        );
        secrets.extend(raw["secret"].as_str().map(str::to_owned));
        assert_eq!(world.deliver("t", "push", &push(6)), 1);
        let read = world.feed("READ", "t", json!({}));
        assert_eq!(ok(&read)["config"]["deliveryMode"], "relay");
        let stored = world.stored_config("t").expect("stored");
        assert!(stored.get("secret").is_none(), "{stored}");
    }

    // DELETE removes the hook (the record stays for the CLI to delete with the trigger, one
    // write less); a second DELETE succeeds.
    let deleted = world.feed("DELETE", "t", json!({}));
    assert_eq!(ok(&deleted)["removed"], json!([hook_id]));
    assert!(world.hooks().is_empty());
    assert!(world.stored_config("t").is_some());
    let trigger = world.sandbox.trigger("guest", "t").expect("trigger");
    assert_eq!(
        feedkit::entity_annotation(&trigger, "feed"),
        Some(&json!(FEED))
    );
    ok(&world.feed("DELETE", "t", json!({})));
    assert_eq!(world.deliver("t", "push", &push(5)), 0);

    // The relay's activations (and any other) kept every secret, the derived ones included.
    world.assert_activations_keep_secrets(&secrets);
}

#[test]
fn create_twice_leaves_one_hook_and_delete_touches_only_this_triggers_hooks() {
    let world = World::start();
    // The user's own hook, unrelated to any trigger.
    let own = ureq::post(&format!("{}/repos/{REPO}/hooks", world.github.url()))
        .header("Authorization", &format!("token {TOKEN}"))
        .send_json(json!({"name": "web", "events": ["push"], "config": {"url": "https://ci.example/hook", "content_type": "json"}}))
        .expect("own hook created");
    assert_eq!(own.status().as_u16(), 201);

    world.create_trigger("t");
    world.create_trigger("t2");
    let first = world.feed("CREATE", "t", world.create_params(json!(["push"])));
    let id = ok(&first)["hookId"].clone();
    let second = world.feed(
        "CREATE",
        "t",
        world.create_params(json!(["push", "release"])),
    );
    assert_eq!(
        ok(&second)["hookId"],
        id,
        "the second CREATE updates the first hook"
    );
    assert_eq!(world.hooks_of("t").len(), 1);
    assert_eq!(world.hooks_of("t")[0]["events"], json!(["push", "release"]));
    ok(&world.feed("CREATE", "t2", world.create_params(json!("push"))));
    assert_eq!(world.hooks().len(), 3);

    // One push fires each trigger once.
    assert_eq!(world.deliver("t", "push", &push(1)), 1);
    assert_eq!(world.fires_with("t2", &push(1)), 1);

    ok(&world.feed("DELETE", "t", json!({})));
    assert!(world.hooks_of("t").is_empty());
    assert_eq!(
        world.hooks_of("t2").len(),
        1,
        "another trigger's hook stays"
    );
    let urls: Vec<Value> = world
        .hooks()
        .iter()
        .map(|h| h["config"]["url"].clone())
        .collect();
    assert!(
        urls.contains(&json!("https://ci.example/hook")),
        "the user's own hook stays: {urls:?}"
    );
    assert_eq!(world.hooks().len(), 2);

    // CREATE again for another repository moves the hook: the old one would keep firing.
    world.github.add_repo("octo/other", TOKEN);
    let mut moved = world.create_params(json!("push"));
    moved["repository"] = json!("octo/other");
    ok(&world.feed("CREATE", "t2", moved));
    assert!(world.hooks_of("t2").is_empty(), "the old hook is removed");
    assert_eq!(world.github.hooks("octo/other").len(), 1);
    assert_eq!(world.hooks().len(), 1, "the user's own hook stays");
}

#[test]
fn delete_succeeds_when_nothing_was_ever_installed() {
    let world = World::start();
    world.create_trigger("never");
    let run = world.feed("DELETE", "never", json!({}));
    assert_eq!(ok(&run)["removed"], json!([]));
    // Also when a package binds part of the configuration (here the repository only).
    let run = world.feed("DELETE", "never", json!({"repository": REPO}));
    assert_eq!(ok(&run)["removed"], json!([]));

    // The CLI deletes after a failed CREATE: the half-created state must go quietly.
    world.create_trigger("failed");
    let mut params = world.create_params(json!("push"));
    params["accessToken"] = json!("ghp_revoked");
    assert_error_naming(
        &world.feed("CREATE", "failed", params),
        "accessToken",
        "refused token",
    );
    assert!(
        world.stored_config("failed").is_none(),
        "nothing stored after a failed CREATE"
    );
    ok(&world.feed("DELETE", "failed", json!({})));
    assert!(world.hooks().is_empty());

    // A hook removed on the service behind the feed's back: DELETE still succeeds.
    world.create_trigger("gone");
    let created = world.feed("CREATE", "gone", world.create_params(json!("push")));
    let id = ok(&created)["hookId"].as_u64().expect("id");
    assert!(world.github.wait_idle(WAIT));
    assert!(world.github.remove_hook(REPO, id));
    let read = world.feed("READ", "gone", json!({}));
    assert_eq!(ok(&read)["status"]["reason"]["kind"], "MISSING");
    assert_eq!(
        ok(&world.feed("DELETE", "gone", json!({})))["removed"],
        json!([])
    );
}

#[test]
fn bad_parameters_give_one_error_naming_the_parameter() {
    let world = World::start();
    world.create_trigger("t");
    world.create_trigger("bare");
    let good = world.create_params(json!("push"));
    let with = |key: &str, value: Value| {
        let mut params = good.clone();
        params[key] = value;
        params
    };
    let without = |key: &str| {
        let mut params = good.clone();
        params.as_object_mut().expect("object").remove(key);
        params
    };
    let with_all = |extra: Value| {
        let mut params = good.clone();
        merge(&mut params, extra);
        params
    };
    let create_cases = [
        ("missing repository", without("repository"), "repository"),
        (
            "invalid repository",
            with("repository", json!("no-slash")),
            "repository",
        ),
        (
            "unknown repository (404)",
            with("repository", json!("octo/nope")),
            "repository",
        ),
        ("missing token", without("accessToken"), "accessToken"),
        (
            "refused token (401)",
            with("accessToken", json!("ghp_wrong")),
            "accessToken",
        ),
        (
            "unknown event",
            with("events", json!("push, pushh")),
            "events",
        ),
        (
            "malformed baseUrl",
            with("baseUrl", json!("ftp://example")),
            "baseUrl",
        ),
        (
            "unreachable baseUrl",
            with("baseUrl", json!("http://127.0.0.1:1")),
            "baseUrl",
        ),
        (
            "form content, direct",
            with_all(json!({"contentType": "form", "deliveryMode": "direct"})),
            "contentType",
        ),
        (
            "unknown content type",
            with("contentType", json!("xml")),
            "contentType",
        ),
        (
            "unknown delivery mode",
            with("deliveryMode", json!("pigeon")),
            "deliveryMode",
        ),
        (
            "a secret in relay mode",
            with("secret", json!(WEBHOOK_SECRET)),
            "secret",
        ),
        // `relayUrl` is the package's; a CREATE without it (or with a wrong one) says so.
        (
            "missing relayUrl",
            with("relayUrl", Value::Null),
            "relayUrl",
        ),
        (
            "malformed relayUrl",
            with("relayUrl", json!("relay.example/x")),
            "relayUrl",
        ),
        (
            "unreachable relayUrl",
            with(
                "relayUrl",
                json!("http://127.0.0.1:1/api/v1/web/guest/feedkit-relay/hook-relay.http"),
            ),
            "relayUrl",
        ),
        (
            "relayUrl of no web action",
            with(
                "relayUrl",
                json!(format!(
                    "{}/api/v1/web/guest/feedkit-relay/nothing.http",
                    world.sandbox.url()
                )),
            ),
            "relayUrl",
        ),
    ];
    for (case, params, parameter) in create_cases {
        assert_error_naming(&world.feed("CREATE", "t", params), parameter, case);
    }
    assert!(
        world.hooks().is_empty(),
        "no failed CREATE installed a hook"
    );

    // The protocol parameters, for every event.
    let uuid = GUEST_AUTH_KEY.split_once(':').expect("key").0;
    for event in ["CREATE", "READ", "UPDATE", "DELETE", "PAUSE", "UNPAUSE"] {
        let protocol_cases = [
            (
                "malformed authKey",
                json!({"triggerName": "/_/t", "authKey": "no-colon"}),
                "authKey",
            ),
            (
                "wrong authKey",
                json!({"triggerName": "/_/t", "authKey": format!("{uuid}:wrong")}),
                "authKey",
            ),
            (
                "foreign authKey",
                json!({"triggerName": "/guest/t", "authKey": OTHER_KEY}),
                "authKey",
            ),
            (
                "no such trigger",
                json!({"triggerName": "/_/nope", "authKey": GUEST_AUTH_KEY}),
                "triggerName",
            ),
            (
                "missing triggerName",
                json!({"authKey": GUEST_AUTH_KEY}),
                "triggerName",
            ),
        ];
        for (case, protocol, parameter) in protocol_cases {
            // `relayUrl` is bound on the package: every event gets it.
            let mut params = with("relayUrl", json!(world.relay_url));
            merge(&mut params, protocol);
            params["lifecycleEvent"] = json!(event);
            assert_error_naming(&world.run(&params), parameter, &format!("{event} {case}"));
        }
    }

    // Later events on a trigger the feed never configured, and with bad overrides.
    for event in ["READ", "UPDATE", "PAUSE", "UNPAUSE"] {
        assert_error_naming(&world.feed(event, "bare", json!({})), "repository", event);
    }
    ok(&world.feed("CREATE", "t", good.clone()));
    for event in ["READ", "UPDATE", "DELETE", "PAUSE", "UNPAUSE"] {
        let run = world.feed(event, "t", json!({"accessToken": "ghp_wrong"}));
        assert_error_naming(
            &run,
            "accessToken",
            &format!("{event} with a refused token"),
        );
    }
    assert_error_naming(
        &world.feed("UPDATE", "t", json!({"events": ["bogus"]})),
        "events",
        "UPDATE events",
    );
    assert_error_naming(
        &world.feed("UPDATE", "t", json!({"repository": "octo/nope"})),
        "repository",
        "UPDATE repository",
    );
    assert_eq!(
        world.hooks_of("t").len(),
        1,
        "failed updates leave the hook alone"
    );
    ok(&world.feed("DELETE", "t", json!({})));
}

#[test]
fn hook_feed_runs_as_a_native_action_invoked_over_the_rest_api() {
    let world = World::start();
    // As the manifest deploys it: a package with the feed; here the package binds `baseUrl`
    // (the GitHub Enterprise form of the fake's URL).
    world
        .sandbox
        .put_package(
            "guest",
            "hooks",
            json!({
                "baseUrl": format!("{}/api/v3", world.github.url()),
                "relayUrl": world.relay_url,
            }),
            json!({}),
            false,
        )
        .expect("package");
    world
        .sandbox
        .put_native_action(
            "guest",
            "hooks/hook-feed",
            action_zip("hook-feed"),
            json!({}),
            json!({"feed": true}),
        )
        .expect("action");
    world.create_trigger("t");
    let client = world.client(GUEST_AUTH_KEY);
    let feed = QualifiedName::parse(FEED).expect("feed name");
    let invoke = |params: Value| {
        let result = client.invoke_action(&feed, &params);
        let shown = match &result {
            Ok(value) => value.clone(),
            Err(error) => json!({"error": error.to_string()}),
        };
        assert_no_secrets("", &shown);
        result
    };
    let protocol = |event: &str| json!({"lifecycleEvent": event, "triggerName": "/_/t", "authKey": GUEST_AUTH_KEY});

    let mut create = protocol("CREATE");
    merge(
        &mut create,
        json!({"repository": REPO, "accessToken": TOKEN, "events": "push"}),
    );
    let created = invoke(create).expect("CREATE succeeds");
    assert!(created["hookId"].as_u64().is_some(), "{created}");
    assert_eq!(created["baseUrl"], format!("{}/api/v3", world.github.url()));
    assert_eq!(world.deliver("t", "push", &push(1)), 1);

    let read = invoke(protocol("READ")).expect("READ succeeds");
    assert_eq!(read["config"]["events"], json!(["push"]));
    assert_eq!(read["status"]["active"], true);

    let mut bad = protocol("UPDATE");
    bad["events"] = json!("nonsense");
    let error = invoke(bad).expect_err("an application error");
    assert_eq!(error.status(), Some(502));
    assert!(error.to_string().contains("`events`"), "{error}");

    let secrets = world.registered_secrets();
    assert_eq!(secrets.len(), 1, "the relay derived the hook's secret");
    let deleted = invoke(protocol("DELETE")).expect("DELETE succeeds");
    assert_eq!(deleted["removed"].as_array().map(Vec::len), Some(1));
    assert!(world.hooks().is_empty());

    // The activations' logs are what OpenWhisk keeps: no secret in them either (the relay's
    // included, which sealed the hook URL and relayed the push).
    let activations = world.sandbox.activations("guest");
    assert!(activations.len() >= 4, "{activations:?}");
    assert!(
        activations.iter().any(|a| a.name == "hook-relay"),
        "{activations:?}"
    );
    for activation in activations {
        assert_no_secrets(&activation.logs.join("\n"), &activation.result);
    }
    world.assert_activations_keep_secrets(&secrets);
}
