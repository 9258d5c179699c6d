//! The kit against the sandbox program (the `sandbox serve` binary users run), over its REST API
//! only: the manifest deployed by `--deploy`, feeds created as the CLI creates them, events
//! flowing from local sources, and the alarms feed ticking on its own real timers.

use std::time::{Duration, Instant};

use fakes::{FakeGitHub, JsonSource};
use feedkit::{AuthKey, Client, ClientOptions, QualifiedName};
use serde_json::{Value, json};

use crate::support::{SandboxProgram, TempDir, deployable_copy};

const WAIT: Duration = Duration::from_secs(30);
/// The show-event action: answers with the event it got.
const SHOW_EVENT: &[u8] = b"#!/bin/sh\nprintf '{\"event\": %s}\\n' \"$(cat)\"\n";

/// The sandbox program with the kit deployed by `--deploy`.
struct Program {
    _program: SandboxProgram,
    url: String,
    _deployed: TempDir,
}

impl Program {
    /// `sandbox serve --port P --deploy manifest.yaml`, with the relay's address and a key in
    /// the environment the manifest reads, as a deployer sets them.
    fn start() -> Program {
        let deployed = deployable_copy();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .expect("free port")
            .port();
        let relay_url =
            format!("http://127.0.0.1:{port}/api/v1/web/guest/feedkit-relay/hook-relay.http");
        let manifest = deployed.0.join("manifest.yaml");
        let program = SandboxProgram::start(
            [
                "--port".as_ref(),
                port.to_string().as_ref(),
                "--deploy".as_ref(),
                manifest.as_os_str(),
            ],
            &[
                ("FEEDKIT_RELAY_URL", relay_url.as_str()),
                (
                    "FEEDKIT_RELAY_KEYS",
                    r#"[{"id": "t1", "key": "c2FuZGJveC1iaW5hcnktdGVzdC1yZWxheS1rZXktMzJieXRlcyE="}]"#,
                ),
            ],
        );
        Program {
            url: program.url.clone(),
            _program: program,
            _deployed: deployed,
        }
    }

    fn client(&self) -> Client {
        let key = AuthKey::parse(sandbox::GUEST_AUTH_KEY).expect("key");
        Client::new(&self.url, key, ClientOptions::default()).expect("client")
    }

    /// `wsk action create show-event --native`, through the REST API.
    fn deploy_show_event(&self) {
        use base64::Engine as _;
        let code =
            base64::engine::general_purpose::STANDARD.encode(sandbox::zip_executable(SHOW_EVENT));
        let body = json!({"exec": {"kind": "blackbox", "image": "openwhisk/dockerskeleton", "code": code, "binary": true}});
        let response = http()
            .put(format!(
                "{}/api/v1/namespaces/guest/actions/show-event?overwrite=true",
                self.url
            ))
            .header("Authorization", basic())
            .send_json(body)
            .expect("PUT action");
        assert_eq!(response.status().as_u16(), 200);
    }

    /// `wsk trigger create T --feed F -p ...` and `wsk rule create R T show-event`.
    fn create_trigger_with_rule(&self, trigger: &str, feed: &str, params: Value) -> Value {
        let client = self.client();
        let body = json!({"annotations": [{"key": "feed", "value": format!("/guest/{feed}")}]});
        client
            .put_trigger(&name(trigger), &body, false)
            .expect("trigger");
        let created = self.feed(feed, "CREATE", trigger, params);
        client
            .put_rule(
                &name(&format!("{trigger}-show")),
                &name(trigger),
                &name("show-event"),
                false,
            )
            .expect("rule");
        created
    }

    fn feed(&self, feed: &str, event: &str, trigger: &str, extra: Value) -> Value {
        let mut params = json!({
            "lifecycleEvent": event,
            "triggerName": format!("/_/{trigger}"),
            "authKey": sandbox::GUEST_AUTH_KEY,
        });
        if let (Some(params), Value::Object(extra)) = (params.as_object_mut(), extra) {
            params.extend(extra);
        }
        self.client()
            .invoke_action(&name(feed), &params)
            .unwrap_or_else(|error| panic!("{feed} {event}: {error}"))
    }

    /// `wsk trigger delete T` (the feed's DELETE first) and the rule.
    fn delete_trigger(&self, trigger: &str, feed: &str) {
        self.feed(feed, "DELETE", trigger, json!({}));
        let client = self.client();
        client
            .delete_rule(&name(&format!("{trigger}-show")))
            .expect("delete rule");
        client
            .delete_trigger(&name(trigger))
            .expect("delete trigger");
    }

    /// The events show-event received, through `GET /activations` as `wsk activation list` reads them.
    fn shown_events(&self) -> Vec<Value> {
        let url = format!(
            "{}/api/v1/namespaces/guest/activations?name=show-event&docs=true&limit=200",
            self.url
        );
        let mut response = http()
            .get(url)
            .header("Authorization", basic())
            .call()
            .expect("activations");
        let list: Vec<Value> = response.body_mut().read_json().expect("activation list");
        let mut events: Vec<(u64, Value)> = list
            .into_iter()
            .filter(|a| a["response"]["success"] == true)
            .map(|a| {
                (
                    a["start"].as_u64().unwrap_or_default(),
                    a["response"]["result"]["event"].clone(),
                )
            })
            .collect();
        events.sort_by_key(|(start, _)| *start);
        events.into_iter().map(|(_, event)| event).collect()
    }

    /// The events shown so far, once `done` holds of them (or what there is after `WAIT`).
    fn wait_for(&self, done: impl Fn(&[Value]) -> bool) -> Vec<Value> {
        let deadline = Instant::now() + WAIT;
        loop {
            let events = self.shown_events();
            if done(&events) || Instant::now() > deadline {
                return events;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Entity names of a collection, through the REST list.
    fn names(&self, collection: &str) -> Vec<String> {
        let url = format!(
            "{}/api/v1/namespaces/guest/{collection}?limit=200",
            self.url
        );
        let mut response = http()
            .get(url)
            .header("Authorization", basic())
            .call()
            .expect("list");
        let list: Vec<Value> = response.body_mut().read_json().expect("list JSON");
        list.iter()
            .filter_map(|e| e["name"].as_str().map(str::to_owned))
            .collect()
    }
}

fn http() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into()
}

fn basic() -> String {
    AuthKey::parse(sandbox::GUEST_AUTH_KEY)
        .expect("key")
        .basic_authorization()
}

fn name(text: &str) -> QualifiedName {
    QualifiedName::parse(&format!("/guest/{text}")).expect("name")
}

#[test]
fn the_kit_runs_on_the_sandbox_program() {
    let program = Program::start();
    program.deploy_show_event();

    // Hooks, in relay mode: a signed delivery fires the trigger through the relay web action.
    let github = FakeGitHub::start().expect("fake GitHub");
    github.add_repo("team/app", "binary-test-token");
    let created = program.create_trigger_with_rule(
        "pushes",
        "feedkit/hook-feed",
        json!({"repository": "team/app", "accessToken": "binary-test-token", "baseUrl": github.url()}),
    );
    assert_eq!(created["deliveryMode"], "relay", "{created}");
    github.wait_idle(WAIT);
    let deliveries = github.deliver(
        "team/app",
        "push",
        &json!({"ref": "refs/heads/main", "n": 1}),
    );
    assert_eq!(deliveries.len(), 1);
    assert_eq!(deliveries[0].status, Some(202), "{:?}", deliveries[0]);
    // GitHub's creation ping fires the trigger too, in the background: look for the push.
    let events = program.wait_for(|events| events.iter().any(|e| e["event"] == "push"));
    let pushes: Vec<&Value> = events.iter().filter(|e| e["event"] == "push").collect();
    assert_eq!(pushes.len(), 1, "{events:?}");
    assert_eq!(pushes[0]["payload"]["n"], 1);
    assert!(
        events
            .iter()
            .all(|e| ["push", "ping"].contains(&e["event"].as_str().unwrap_or_default())),
        "{events:?}"
    );
    program.delete_trigger("pushes", "feedkit/hook-feed");
    assert!(
        github.hooks("team/app").is_empty(),
        "DELETE removed the hook"
    );

    // Polling, on the program's own alarm timers: a 6-field cron ticks every second.
    let source = JsonSource::start().expect("JSON source");
    source.set_items(vec![json!({"id": "a", "n": 1}), json!({"id": "b", "n": 2})]);
    program.create_trigger_with_rule(
        "items",
        "feedkit/poll-feed",
        json!({"url": source.items_url(), "cron": "* * * * * *", "startFrom": "backlog"}),
    );
    // Only the poller's events carry `items` (a late ping from the hooks part may still land).
    let polled = |events: &[Value]| -> Vec<Value> {
        events
            .iter()
            .filter(|e| e.get("items").is_some())
            .cloned()
            .collect()
    };
    let events = polled(&program.wait_for(|events| !polled(events).is_empty()));
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(
        events[0]["items"],
        json!([{"id": "a", "n": 1}, {"id": "b", "n": 2}])
    );
    source.push(json!({"id": "c", "n": 3}));
    let events = polled(&program.wait_for(|events| polled(events).len() >= 2));
    assert_eq!(events.len(), 2, "{events:?}");
    assert_eq!(
        events[1]["items"],
        json!([{"id": "c", "n": 3}]),
        "only the new item"
    );
    program.delete_trigger("items", "feedkit/poll-feed");

    // Nothing is left but what the manifest deployed and show-event.
    assert!(
        program.names("triggers").is_empty(),
        "{:?}",
        program.names("triggers")
    );
    assert!(
        program.names("rules").is_empty(),
        "{:?}",
        program.names("rules")
    );
    let mut packages = program.names("packages");
    packages.sort();
    assert_eq!(packages, ["feedkit", "feedkit-relay"]);
}
