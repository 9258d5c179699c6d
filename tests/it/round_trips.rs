//! Fewest round trips: every lifecycle event and tick of the feed actions, run as OpenWhisk runs
//! them (the sandbox invokes the deployed binaries as the CLI asks it to), with a counting proxy
//! in front of the sandbox and of every service a feed calls. What each event cost (requests to
//! OpenWhisk and to the service, sequential rounds, TCP connections) must be what the table in
//! BENCHMARKS.md publishes, and no event may open a second connection to a host.

use std::collections::BTreeMap;

use fakes::{Counted, CountingProxy, FakeGitHub, JsonSource, Tally};
use feedkit::{AuthKey, Client, ClientOptions, QualifiedName};
use sandbox::{Config, GUEST_AUTH_KEY, NamespaceKey, Sandbox};
use serde_json::{Value, json};

use crate::connections::{Db, PROVIDER_SECRET, ProviderProcess};
use crate::couchdb::PouchDb;
use crate::hook_feed::{REPO, TOKEN, merge};
use crate::hook_relay::{RELAY_KEY_1, deploy_relay, relay_keys};
use crate::poll_feed::kit_zip;
use crate::support::TempDir;

const KIT: &str = "kit";
const KIT_KEY: &str = "6a0d6b2c-3f4e-4a5b-9c8d-7e6f5a4b3c2d:kitNamespaceKey0123456789abcdef";
/// Never fires by itself while a test runs: only the test ticks.
const YEARLY: &str = "0 0 1 1 *";

/// One row of the published table.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Cost {
    openwhisk: usize,
    service: usize,
    rounds: usize,
    connections: usize,
}

/// The table "Round trips per lifecycle event" in BENCHMARKS.md, by event.
fn published() -> BTreeMap<String, Cost> {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/BENCHMARKS.md"))
        .expect("BENCHMARKS.md");
    let section = text
        .split("\n## Round trips per lifecycle event\n")
        .nth(1)
        .expect("BENCHMARKS.md has a section `## Round trips per lifecycle event`");
    let section = section.split("\n## ").next().unwrap_or_default();
    let mut rows = BTreeMap::new();
    for line in section.lines().filter(|line| line.starts_with("| `")) {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        let number = |index: usize| -> usize {
            cells[index]
                .parse()
                .unwrap_or_else(|_| panic!("not a number in column {index}: {line}"))
        };
        rows.insert(
            cells[1].trim_matches('`').to_owned(),
            Cost {
                openwhisk: number(2),
                service: number(3),
                rounds: number(4),
                connections: number(5),
            },
        );
    }
    rows
}

/// A sandbox whose actions reach it only through a counting proxy, the kit deployed in `kit`,
/// and what each event measured.
struct Lab {
    sandbox: Sandbox,
    tally: Tally,
    openwhisk: CountingProxy,
    /// The test's own calls go straight to the sandbox: they are not counted.
    guest: Client,
    measured: Vec<(String, Counted)>,
}

impl Lab {
    fn start() -> Lab {
        let config = Config {
            namespaces: vec![
                NamespaceKey::new("guest", GUEST_AUTH_KEY),
                NamespaceKey::new(KIT, KIT_KEY),
            ],
            fire_limit_per_minute: 0,
            ..Config::default()
        };
        let sandbox = Sandbox::start(config).expect("sandbox starts");
        let tally = Tally::new();
        let openwhisk =
            CountingProxy::start(&sandbox.url(), "openwhisk", &tally).expect("proxy starts");
        // The kit's actions call OpenWhisk through the proxy; the relay (in guest) and the
        // sandbox's own work do not.
        sandbox.route_actions_through(KIT, Some(openwhisk.url()));
        tally.only_agent("feedkit/");
        // Long enough that requests a feed sends at once overlap however slowly the loaded
        // machine starts its second thread (a fraction of a millisecond when it is not).
        tally.hold_answers(std::time::Duration::from_millis(250));
        let guest = Client::new(
            &sandbox.url(),
            AuthKey::parse(GUEST_AUTH_KEY).expect("key"),
            ClientOptions::default(),
        )
        .expect("client");
        Lab {
            sandbox,
            tally,
            openwhisk,
            guest,
            measured: Vec::new(),
        }
    }

    /// A counting proxy in front of a service.
    fn proxy(&self, upstream: &str, label: &str) -> CountingProxy {
        CountingProxy::start(upstream, label, &self.tally).expect("proxy starts")
    }

    /// A published package of the kit with `params` bound and these actions (name, annotations).
    fn deploy(&self, package: &str, params: Value, actions: &[(&str, Value)]) {
        self.sandbox
            .put_package(KIT, package, params, json!({}), true)
            .expect("package");
        for (name, annotations) in actions {
            self.sandbox
                .put_native_action(
                    KIT,
                    &format!("{package}/{name}"),
                    kit_zip(name),
                    json!({}),
                    annotations.clone(),
                )
                .expect("action");
        }
    }

    /// What `wsk trigger create` does before it invokes the feed.
    fn create_trigger(&self, name: &str, feed: &str) {
        let body = json!({"annotations": [{"key": "feed", "value": feed}], "parameters": []});
        self.guest
            .put_trigger(&guest(name), &body, false)
            .expect("trigger created");
    }

    /// A blocking invoke of `feed` as guest for `trigger`: its result, which must not be an
    /// error.
    fn feed(&self, feed: &str, event: &str, trigger: &str, extra: Value) -> Value {
        let mut params = json!({
            "lifecycleEvent": event,
            "triggerName": format!("/_/{trigger}"),
            "authKey": GUEST_AUTH_KEY,
        });
        merge(&mut params, extra);
        let name = QualifiedName::parse(feed).expect("feed name");
        self.guest
            .invoke_action(&name, &params)
            .unwrap_or_else(|error| panic!("{feed} {event}: {error}"))
    }

    /// Runs `run` and keeps what it cost under `event`.
    fn measure<T>(&mut self, event: &str, run: impl FnOnce(&Lab) -> T) -> T {
        let _ = self.tally.take();
        let outcome = run(self);
        let counted = self.tally.take();
        self.measured.push((event.to_owned(), counted));
        outcome
    }

    /// Every event measured costs what the table says, over one connection per host; every
    /// row of the table whose event starts with `prefix` was measured.
    fn check(&self, prefix: &str) {
        let table = published();
        let mut report = String::new();
        let mut wrong = Vec::new();
        for (event, counted) in &self.measured {
            let openwhisk = counted.requests_to("openwhisk").len();
            let cost = Cost {
                openwhisk,
                service: counted.requests.len() - openwhisk,
                rounds: counted.rounds,
                connections: counted.connections.len(),
            };
            report.push_str(&format!(
                "| `{event}` | {} | {} | {} | {} |\n    {}\n",
                cost.openwhisk,
                cost.service,
                cost.rounds,
                cost.connections,
                counted.requests.join("\n    ")
            ));
            for host in &counted.connections {
                assert_eq!(
                    counted.connections_to(host),
                    1,
                    "{event} opened more than one connection to {host}:\n{report}"
                );
            }
            if table.get(event) != Some(&cost) {
                wrong.push(format!(
                    "{event}: measured {cost:?}, published {:?}",
                    table.get(event)
                ));
            }
        }
        for event in table.keys().filter(|event| event.starts_with(prefix)) {
            if !self.measured.iter().any(|(measured, _)| measured == event) {
                wrong.push(format!("{event}: published, not measured"));
            }
        }
        assert!(
            wrong.is_empty(),
            "the round trips differ from BENCHMARKS.md:\n{}\n\nmeasured:\n{report}",
            wrong.join("\n")
        );
        eprintln!("{report}");
    }
}

fn guest(name: &str) -> QualifiedName {
    QualifiedName::new("guest", None, name)
}

#[test]
fn hook_feed_events_cost_what_the_table_says() {
    let mut lab = Lab::start();
    let github = FakeGitHub::start().expect("fake GitHub starts");
    github.add_repo(REPO, TOKEN);
    let github_proxy = lab.proxy(&github.url(), "github");
    let relay_url = deploy_relay(&lab.sandbox, relay_keys(&[("k1", RELAY_KEY_1)]))
        .replace(&lab.sandbox.url(), &lab.openwhisk.url());
    lab.deploy(
        "hooks",
        json!({ "relayUrl": relay_url }),
        &[("hook-feed", json!({"feed": true}))],
    );
    let feed = "/kit/hooks/hook-feed";
    let create = json!({
        "repository": REPO,
        "accessToken": TOKEN,
        "baseUrl": github_proxy.url(),
        "events": "push",
    });
    for (mode, extra) in [
        ("relay", json!({})),
        (
            "direct",
            json!({"deliveryMode": "direct", "secret": "whsec-round-trips-1"}),
        ),
    ] {
        let trigger = format!("hooked-{mode}");
        lab.create_trigger(&trigger, feed);
        let mut params = create.clone();
        merge(&mut params, extra);
        lab.measure(&format!("hook-feed CREATE ({mode})"), |lab| {
            lab.feed(feed, "CREATE", &trigger, params)
        });
        if mode == "direct" {
            lab.measure("hook-feed DELETE (direct)", |lab| {
                lab.feed(feed, "DELETE", &trigger, json!({}))
            });
            continue;
        }
        lab.measure("hook-feed READ", |lab| {
            lab.feed(feed, "READ", &trigger, json!({}))
        });
        lab.measure("hook-feed UPDATE", |lab| {
            lab.feed(feed, "UPDATE", &trigger, json!({"events": "push, issues"}))
        });
        lab.measure("hook-feed PAUSE", |lab| {
            lab.feed(feed, "PAUSE", &trigger, json!({}))
        });
        lab.measure("hook-feed UNPAUSE", |lab| {
            lab.feed(feed, "UNPAUSE", &trigger, json!({}))
        });
        lab.measure("hook-feed DELETE", |lab| {
            lab.feed(feed, "DELETE", &trigger, json!({}))
        });
    }
    lab.check("hook-feed");
}

#[test]
fn poll_feed_events_and_ticks_cost_what_the_table_says() {
    let mut lab = Lab::start();
    let source = JsonSource::start().expect("source starts");
    let source_proxy = lab.proxy(&source.url(), "source");
    lab.deploy(
        "polling",
        json!({}),
        &[
            ("poll-feed", json!({"feed": true})),
            ("pollMyService", json!({"provide-api-key": true})),
        ],
    );
    let feed = "/kit/polling/poll-feed";
    let url = format!("{}/items", source_proxy.url());
    source.push(json!({"id": "a"}));
    lab.create_trigger("news", feed);
    lab.measure("poll-feed CREATE", |lab| {
        lab.feed(feed, "CREATE", "news", json!({"url": url, "cron": YEARLY}))
    });
    lab.measure("poll-feed READ", |lab| {
        lab.feed(feed, "READ", "news", json!({}))
    });
    source.push(json!({"id": "b"}));
    source.push(json!({"id": "c"}));
    let tick = |lab: &Lab| {
        let fire = lab
            .sandbox
            .tick_alarm("guest", "news-poll-alarm")
            .expect("tick");
        let cause = fire.activation_id.expect("a rule ran the poller");
        let ran = |activation: &sandbox::Activation| {
            activation.name == "pollMyService" && activation.cause.as_deref() == Some(&cause)
        };
        let activations = lab.sandbox.wait_for_activations(
            "guest",
            |all| all.iter().any(ran),
            std::time::Duration::from_secs(30),
        );
        let activation = activations.into_iter().find(ran).expect("the poller ran");
        assert!(activation.success, "{}", activation.result);
        activation.result
    };
    let fired = lab.measure("pollMyService, new items", tick);
    assert_eq!(lab.sandbox.fires("guest", "news").len(), 1, "{fired}");
    lab.measure("pollMyService, nothing new (304)", tick);
    lab.measure("poll-feed UPDATE (source)", |lab| {
        lab.feed(
            feed,
            "UPDATE",
            "news",
            json!({"headers": {"X-Round": "trips"}}),
        )
    });
    lab.measure("poll-feed UPDATE (schedule)", |lab| {
        lab.feed(feed, "UPDATE", "news", json!({"cron": "0 0 2 1 *"}))
    });
    lab.measure("poll-feed PAUSE", |lab| {
        lab.feed(feed, "PAUSE", "news", json!({}))
    });
    lab.measure("poll-feed UNPAUSE", |lab| {
        lab.feed(feed, "UNPAUSE", "news", json!({}))
    });
    lab.measure("poll-feed DELETE", |lab| {
        lab.feed(feed, "DELETE", "news", json!({}))
    });
    lab.check("poll");
}

#[test]
fn changes_feed_events_cost_what_the_table_says() {
    let Some(pouch) = PouchDb::start() else {
        return;
    };
    Db::create(&pouch.url(), "orders", None);
    provider_feed_events_cost_what_the_table_says(
        "changes-feed",
        json!({"dbUrl": pouch.url(), "dbName": "orders"}),
        json!({"includeDocs": true}),
    );
}

#[test]
fn alarm_feed_events_cost_what_the_table_says() {
    provider_feed_events_cost_what_the_table_says(
        "alarm-feed",
        json!({"cron": "0 0 1 1 *"}),
        json!({"minutes": 60}),
    );
}

/// The six events of a feed kept by the provider (`action`), measured through counting proxies
/// in front of OpenWhisk and the provider.
fn provider_feed_events_cost_what_the_table_says(action: &str, create: Value, update: Value) {
    let mut lab = Lab::start();
    let data = TempDir::new("round-trips-provider");
    let provider = ProviderProcess::start(&data.0.join("store"), 0);
    let provider_proxy = lab.proxy(&provider.url, "provider");
    lab.deploy(
        "provided",
        json!({"providerUrl": provider_proxy.url(), "providerSecret": PROVIDER_SECRET}),
        &[(action, json!({"feed": true}))],
    );
    let feed = format!("/kit/provided/{action}");
    lab.create_trigger("events", &feed);
    lab.measure(&format!("{action} CREATE"), |lab| {
        lab.feed(&feed, "CREATE", "events", create)
    });
    for (event, extra) in [
        ("READ", json!({})),
        ("UPDATE", update),
        ("PAUSE", json!({})),
        ("UNPAUSE", json!({})),
        ("DELETE", json!({})),
    ] {
        lab.measure(&format!("{action} {event}"), |lab| {
            lab.feed(&feed, event, "events", extra)
        });
    }
    lab.check(action);
}
