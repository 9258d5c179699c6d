//! The provider's `alarms` source end to end: `changes-provider` processes (embedded, and a
//! fleet on pouchdb-server) firing into a sandbox, registered through the provider's REST API
//! as the feed action does. Most tests run the provider on a test clock (`--test-clock`, a
//! hidden option) that runs 60 times as fast, so a one-minute interval ticks every second, or
//! starts just before a daylight-saving change.

use std::time::Duration;

use sandbox::{ActionContext, ActionOutput, Sandbox};
use serde_json::{Value, json};

use crate::connections::{
    PROVIDER_SECRET, ProviderProcess, client, create_trigger, http, now_millis, sandbox,
    trigger_name, wait_until,
};
use crate::couchdb::PouchDb;
use crate::support::TempDir;

const MINUTE: u64 = 60_000;

/// A provider's clock: `virtual` at the real time `real`, running `rate` times as fast.
#[derive(Clone, Copy)]
struct TestClock {
    virtual_ms: u64,
    real_ms: u64,
    rate: u64,
}

impl TestClock {
    /// Now, running `rate` times as fast.
    fn fast(rate: u64) -> Self {
        let now = now_millis() as u64;
        Self::at(now, rate)
    }

    /// At `virtual_ms` now, running `rate` times as fast.
    fn at(virtual_ms: u64, rate: u64) -> Self {
        Self {
            virtual_ms,
            real_ms: now_millis() as u64,
            rate,
        }
    }

    fn arg(&self) -> String {
        format!("{}@{}*{}", self.virtual_ms, self.real_ms, self.rate)
    }

    fn now(&self) -> u64 {
        self.virtual_ms + (now_millis() as u64 - self.real_ms) * self.rate
    }
}

/// A sandbox and a provider data directory.
struct World {
    sb: Sandbox,
    dir: TempDir,
    clock: Option<TestClock>,
}

impl World {
    fn new(clock: Option<TestClock>) -> Self {
        Self {
            sb: sandbox(),
            dir: TempDir::new("alarms"),
            clock,
        }
    }

    /// An embedded provider on this world's data directory and clock.
    fn provider(&self) -> ProviderProcess {
        let clock = self.clock.map(|clock| clock.arg());
        let mut extra = vec!["--save-interval-ms", "50"];
        if let Some(clock) = &clock {
            extra.extend(["--test-clock", clock.as_str()]);
        }
        ProviderProcess::embedded(&self.dir.0.join("data"), 0, &extra)
    }

    fn register(&self, provider: &ProviderProcess, trigger: &str, config: Value) -> Value {
        create_trigger(&self.sb, trigger);
        let (status, body) = call(
            provider,
            "PUT",
            trigger,
            "",
            Some(json!({
                "apiHost": self.sb.url(),
                "authKey": self.sb.auth_key("guest"),
                "kind": "alarms",
                "config": config,
            })),
        );
        assert_eq!(status, 200, "register {trigger}: {body}");
        body
    }

    /// The fires OpenWhisk took, in order.
    fn fired(&self, trigger: &str) -> Vec<Value> {
        self.sb
            .fires("guest", trigger)
            .into_iter()
            .filter(|fire| (200..300).contains(&fire.status))
            .map(|fire| fire.payload)
            .collect()
    }

    fn wait_fired(&self, trigger: &str, count: usize, provider: &ProviderProcess) -> Vec<Value> {
        wait_until(
            &format!("{count} fires of {trigger}"),
            || self.fired(trigger).len() >= count,
            || provider.logs(),
        );
        self.fired(trigger)
    }
}

/// A provider REST call for `trigger` (`what`: "", "/pause", "/unpause").
fn call(
    provider: &ProviderProcess,
    method: &str,
    trigger: &str,
    what: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let authorization = format!("Bearer {PROVIDER_SECRET}");
    http(
        method,
        &format!("{}/feeds/guest/{trigger}{what}", provider.url),
        body.as_ref(),
        &[("Authorization", authorization.as_str())],
    )
}

fn read(provider: &ProviderProcess, trigger: &str) -> Value {
    let (status, body) = call(provider, "GET", trigger, "", None);
    assert_eq!(status, 200, "read {trigger}: {body}");
    body
}

fn at(text: &str) -> u64 {
    chrono::DateTime::parse_from_rfc3339(text)
        .expect("a date")
        .timestamp_millis() as u64
}

#[test]
fn each_kind_of_alarm_fires_on_its_schedule() {
    let clock = TestClock::fast(60);
    let world = World::new(Some(clock));
    let provider = world.provider();
    let now = clock.now();
    let interval = world.register(
        &provider,
        "every-minute",
        json!({"minutes": 1, "triggerPayload": {"kind": "interval"}}),
    );
    let since = interval["config"]["scheduledSince"]
        .as_u64()
        .expect("scheduledSince");
    assert!(since >= now, "{interval}");
    assert_eq!(interval["status"]["timesFired"], 0, "{interval}");
    assert_eq!(interval["status"]["nextFire"], since + MINUTE, "{interval}");
    world.register(
        &provider,
        "cron-zoned",
        json!({"cron": "*/2 * * * *", "timezone": "Asia/Kolkata", "triggerPayload": {"kind": "cron"}}),
    );
    let date = now + 3 * MINUTE;
    world.register(
        &provider,
        "once",
        json!({"date": date, "triggerPayload": {"kind": "once"}}),
    );

    let fires = world.wait_fired("every-minute", 3, &provider);
    assert!(
        fires
            .iter()
            .all(|fire| *fire == json!({"kind": "interval"})),
        "{fires:?}"
    );
    // Each fire is its own tick, one minute apart on the schedule.
    let status = &read(&provider, "every-minute")["status"];
    let tick = status["lastFire"]["seq"][0].as_u64().expect("tick");
    assert_eq!((tick - since) % MINUTE, 0, "{status}");
    assert!(status["timesFired"].as_u64() >= Some(3), "{status}");

    world.wait_fired("cron-zoned", 1, &provider);
    let status = &read(&provider, "cron-zoned")["status"];
    let tick = status["lastFire"]["seq"][0].as_u64().expect("tick");
    // Every other minute in India (UTC+5:30) is every other minute in UTC too.
    assert_eq!(tick % (2 * MINUTE), 0, "{status}");
    assert_eq!(status["nextFire"], tick + 2 * MINUTE, "{status}");

    let fires = world.wait_fired("once", 1, &provider);
    assert_eq!(fires, vec![json!({"kind": "once"})]);
    wait_until(
        "the once alarm to be done",
        || read(&provider, "once")["status"]["state"] == "disabled",
        || provider.logs(),
    );
    let status = &read(&provider, "once")["status"];
    assert_eq!(status["lastFire"]["seq"][0], date, "{status}");
    assert!(
        status["reason"]
            .as_str()
            .unwrap_or_default()
            .contains("fired once"),
        "{status}"
    );
    assert!(status.get("nextFire").is_none(), "{status}");
    // Never early: the once alarm's fire came after its date.
    assert!(clock.now() >= date);
}

#[test]
fn bad_alarm_settings_are_refused_with_the_reason() {
    let world = World::new(None);
    let provider = world.provider();
    create_trigger(&world.sb, "bad");
    let now = now_millis() as u64;
    for (config, expected) in [
        (json!({"cron": "* * *"}), "5 (minute"),
        (
            json!({"cron": "* * * * *", "timezone": "Mars/Olympus"}),
            "IANA",
        ),
        (json!({"minutes": 1, "cron": "* * * * *"}), "exactly one"),
        (json!({"date": now - 1000}), "config.date"),
        (json!({"minutes": 0}), "config.minutes"),
        (json!({"minutes": 1, "maxTrigers": 3}), "maxTrigers"),
        (
            json!({"minutes": 1, "deleteAfterFire": true}),
            "deleteAfterFire",
        ),
        (
            json!({"minutes": 1, "startDate": now + 60_000, "stopDate": now + 30_000}),
            "stopDate",
        ),
    ] {
        let (status, body) = call(
            &provider,
            "PUT",
            "bad",
            "",
            Some(json!({
                "apiHost": world.sb.url(), "authKey": world.sb.auth_key("guest"),
                "kind": "alarms", "config": config,
            })),
        );
        assert_eq!(status, 400, "{config}: {body}");
        let error = body["error"].as_str().unwrap_or_default();
        assert!(error.contains(expected), "{config}: {error}");
    }
}

#[test]
fn max_triggers_is_counted_durably_across_a_kill_9() {
    let clock = TestClock::fast(60);
    let world = World::new(Some(clock));
    let provider = world.provider();
    world.register(&provider, "four", json!({"minutes": 1, "maxTriggers": 4}));
    world.wait_fired("four", 2, &provider);
    let port = provider.kill();
    let _ = port;
    let provider = world.provider();
    wait_until(
        "the alarm to be done after maxTriggers",
        || read(&provider, "four")["status"]["state"] == "disabled",
        || provider.logs(),
    );
    let status = read(&provider, "four")["status"].clone();
    assert_eq!(status["timesFired"], 4, "{status}");
    assert!(
        status["reason"]
            .as_str()
            .unwrap_or_default()
            .contains("maxTriggers"),
        "{status}"
    );
    // Four fires, the count kept across the kill (one more only if the kill came between a
    // fire and its save, as at-least-once allows); the reference would start counting again.
    let fired = world.fired("four").len();
    assert!((4..=5).contains(&fired), "{fired} fires");
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(world.fired("four").len(), fired, "nothing fires once done");
    // After another restart READ still says which tick fired last, from the saved position.
    let last_tick = status["lastFire"]["seq"][0]
        .as_u64()
        .expect("the last tick");
    provider.stop();
    let provider = world.provider();
    let status = read(&provider, "four")["status"].clone();
    assert_eq!(status["lastFire"]["seq"], json!([last_tick, 4]), "{status}");
    assert_eq!(status["lastFire"]["at"], last_tick, "{status}");
    assert_eq!(status["timesFired"], 4, "{status}");
}

#[test]
fn a_provider_down_across_three_ticks_fires_one_catch_up() {
    let clock = TestClock::fast(60);
    let world = World::new(Some(clock));
    let provider = world.provider();
    world.register(
        &provider,
        "catch-up",
        json!({"minutes": 1, "triggerPayload": {"n": 1}}),
    );
    world.register(
        &provider,
        "skipper",
        json!({"minutes": 1, "ifMissed": "skip"}),
    );
    world.wait_fired("catch-up", 1, &provider);
    world.wait_fired("skipper", 1, &provider);
    // A clean stop saves the positions: the ticks before it are known to be fired.
    provider.stop();
    let before = world.fired("catch-up").len();
    let skipped_before = world.fired("skipper").len();
    let stopped_at = clock.now();
    // Down for three ticks and a half.
    std::thread::sleep(Duration::from_millis(3_500));
    let provider = world.provider();
    let fires = world.wait_fired("catch-up", before + 1, &provider);
    let catch_up = &fires[before];
    let missed = catch_up["missedTicks"].as_u64().expect("missedTicks");
    assert!(missed >= 3, "{catch_up}");
    assert_eq!(catch_up["n"], 1, "{catch_up}");
    // It stood for every tick the provider was down for, no more: the next fires are single.
    let status = read(&provider, "catch-up")["status"].clone();
    let tick = status["lastFire"]["seq"][0].as_u64().expect("tick");
    assert!(tick > stopped_at, "{status}");
    let fires = world.wait_fired("catch-up", before + 2, &provider);
    assert!(fires[before + 1].get("missedTicks").is_none(), "{fires:?}");
    // The skipping alarm fired nothing for the ticks it missed.
    let skipped = world.wait_fired("skipper", skipped_before + 1, &provider);
    assert!(
        skipped.iter().all(|fire| fire.get("missedTicks").is_none()),
        "{skipped:?}"
    );
}

#[test]
fn a_paused_alarm_stops_and_an_unpaused_one_catches_up_once() {
    let clock = TestClock::fast(60);
    let world = World::new(Some(clock));
    let provider = world.provider();
    world.register(&provider, "pausable", json!({"minutes": 1}));
    world.wait_fired("pausable", 1, &provider);
    let (status, body) = call(&provider, "POST", "pausable", "/pause", Some(json!({})));
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"]["state"], "paused", "{body}");
    assert!(body["status"].get("nextFire").is_none(), "{body}");
    let paused = world.fired("pausable").len();
    std::thread::sleep(Duration::from_millis(2_500));
    assert_eq!(
        world.fired("pausable").len(),
        paused,
        "a paused alarm fires nothing"
    );
    let (status, body) = call(&provider, "POST", "pausable", "/unpause", Some(json!({})));
    assert_eq!(status, 200, "{body}");
    let fires = world.wait_fired("pausable", paused + 1, &provider);
    assert!(
        fires[paused]["missedTicks"].as_u64() >= Some(2),
        "one fire for the ticks missed while paused: {fires:?}"
    );
    world.wait_fired("pausable", paused + 2, &provider);
}

#[test]
fn delete_after_fire_removes_the_trigger_and_its_rules() {
    let world = World::new(None);
    let provider = world.provider();
    world
        .sb
        .put_builtin_action(
            "guest",
            "noted",
            |_: &ActionContext, params: Value| ActionOutput::result(json!({"got": params})),
            json!({}),
            json!({}),
        )
        .expect("action");
    let date = now_millis() as u64 + 1_500;
    world.register(
        &provider,
        "once-gone",
        json!({"date": date, "deleteAfterFire": "rules"}),
    );
    client(&world.sb)
        .put_rule(
            &trigger_name("once-gone-rule"),
            &trigger_name("once-gone"),
            &trigger_name("noted"),
            false,
        )
        .expect("rule");
    world.register(
        &provider,
        "once-trigger-only",
        json!({"date": date, "deleteAfterFire": true}),
    );
    world.wait_fired("once-gone", 1, &provider);
    wait_until(
        "the trigger, its rule and the feed to be deleted",
        || {
            world.sb.trigger("guest", "once-gone").is_none()
                && world.sb.rule("guest", "once-gone-rule").is_none()
                && call(&provider, "GET", "once-gone", "", None).0 == 404
        },
        || provider.logs(),
    );
    world.wait_fired("once-trigger-only", 1, &provider);
    wait_until(
        "the second trigger and its feed to be deleted",
        || {
            world.sb.trigger("guest", "once-trigger-only").is_none()
                && call(&provider, "GET", "once-trigger-only", "", None).0 == 404
        },
        || provider.logs(),
    );
    assert_eq!(world.fired("once-gone").len(), 1);
}

#[test]
fn fires_refused_for_good_disable_the_alarm_and_busy_answers_are_retried() {
    let clock = TestClock::fast(60);
    let world = World::new(Some(clock));
    let provider = world.provider();
    world.register(&provider, "flaky", json!({"minutes": 1}));
    world.register(&provider, "forbidden", json!({"minutes": 1}));
    world.sb.fail_next_fires("guest", "flaky", 503, 2);
    world.sb.fail_next_fires("guest", "forbidden", 403, 1);
    world.wait_fired("flaky", 1, &provider);
    wait_until(
        "the forbidden alarm to be disabled",
        || read(&provider, "forbidden")["status"]["state"] == "disabled",
        || provider.logs(),
    );
    let status = read(&provider, "forbidden")["status"].clone();
    assert!(
        status["reason"]
            .as_str()
            .unwrap_or_default()
            .contains("403"),
        "{status}"
    );
    assert_eq!(status["timesFired"], 0, "{status}");
}

#[test]
fn daylight_saving_changes_in_a_named_zone() {
    // 2027-03-28 in Berlin: 02:00 CET jumps to 03:00 CEST, so 02:30 does not exist that day.
    let spring = World::new(Some(TestClock::at(at("2027-03-28T00:59:57Z"), 1)));
    // 2027-10-31 in Berlin: 03:00 CEST falls back to 02:00 CET, so 02:30 happens twice.
    let autumn = World::new(Some(TestClock::at(at("2027-10-31T00:29:57Z"), 1)));
    let spring_provider = spring.provider();
    let autumn_provider = autumn.provider();
    let daily = json!({"cron": "0 30 2 * * *", "timezone": "Europe/Berlin"});
    let registered = spring.register(&spring_provider, "daily", daily.clone());
    // As croner documents: a fixed time in the gap fires at the first valid time after it,
    // 03:00 CEST (01:00 UTC).
    assert_eq!(
        registered["status"]["nextFire"],
        at("2027-03-28T01:00:00Z"),
        "{registered}"
    );
    autumn.register(&autumn_provider, "daily", daily);
    spring.wait_fired("daily", 1, &spring_provider);
    let status = read(&spring_provider, "daily")["status"].clone();
    assert_eq!(status["lastFire"]["seq"][0], at("2027-03-28T01:00:00Z"));
    assert_eq!(status["nextFire"], at("2027-03-29T00:30:00Z"), "{status}");
    // In the repeated hour it fires once, at the first 02:30 (CEST, 00:30 UTC); the next is
    // the next day's 02:30 CET, not the second 02:30 an hour later.
    autumn.wait_fired("daily", 1, &autumn_provider);
    let status = read(&autumn_provider, "daily")["status"].clone();
    assert_eq!(status["lastFire"]["seq"][0], at("2027-10-31T00:30:00Z"));
    assert_eq!(status["nextFire"], at("2027-11-01T01:30:00Z"), "{status}");
}

#[test]
fn a_failover_between_two_instances_fires_each_tick_once() {
    let Some(pouch) = PouchDb::start() else {
        return;
    };
    let clock = TestClock::fast(60);
    let world = World::new(Some(clock));
    std::fs::write(
        world.dir.0.join("provider.key"),
        "k1 AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n",
    )
    .expect("key file");
    let instance = |index: usize| {
        ProviderProcess::fleet(
            &pouch.url(),
            "alarm_fleet",
            &world.dir.0.join("provider.key"),
            2_000,
            &world.dir.0.join(format!("instance-{index}.log")),
            &[
                "--instance-id",
                &format!("a{index}"),
                "--test-clock",
                &clock.arg(),
            ],
        )
    };
    let mut instances = [Some(instance(0)), Some(instance(1))];
    let triggers: Vec<String> = (0..6).map(|i| format!("ticking-{i}")).collect();
    let first = instances[0].as_ref().expect("first");
    for trigger in &triggers {
        world.register(first, trigger, json!({"minutes": 1}));
    }
    for trigger in &triggers {
        world.wait_fired(trigger, 2, first);
    }
    // Kill the instance that runs more of them.
    let running = |index: usize| {
        instances[index]
            .as_ref()
            .map_or(0.0, |instance| instance.metric("provider_feeds_running"))
    };
    let (victim, survivor) = if running(0) >= running(1) {
        (0, 1)
    } else {
        (1, 0)
    };
    let killed_at = clock.now();
    if let Some(victim) = instances[victim].take() {
        victim.kill();
    }
    let survivor = instances[survivor].take().expect("survivor");
    for trigger in &triggers {
        wait_until(
            &format!("{trigger} to fire after the kill from the survivor"),
            || {
                let status = read(&survivor, trigger)["status"].clone();
                status["owner"] == survivor_id(&survivor)
                    && status["lastFire"]["seq"][0].as_u64() > Some(killed_at + MINUTE)
            },
            || survivor.logs(),
        );
    }
    survivor.stop();
    // Every tick from the first to the last fired once: a fire stands for one tick, or for
    // `missedTicks` of them after the takeover; only a fire between a fire and its save at
    // the kill (at least once) may come twice.
    let reader = instance(2);
    for trigger in &triggers {
        let view = read(&reader, trigger);
        let since = view["config"]["scheduledSince"].as_u64().expect("since");
        let last = view["status"]["position"][0].as_u64().expect("tick");
        let expected = (last - since) / MINUTE;
        let covered: u64 = world
            .fired(trigger)
            .iter()
            .map(|fire| fire["missedTicks"].as_u64().unwrap_or(1))
            .sum();
        assert!(
            covered == expected || covered == expected + 1,
            "{trigger}: {covered} ticks fired for {expected} on the schedule; {view}"
        );
        assert_eq!(
            view["status"]["timesFired"].as_u64(),
            Some(world.fired(trigger).len() as u64 - (covered - expected)),
            "{view}"
        );
    }
}

fn survivor_id(provider: &ProviderProcess) -> Value {
    provider.health()["instance"].clone()
}

#[test]
fn an_update_replaces_the_schedule_and_keeps_the_count() {
    let clock = TestClock::fast(60);
    let world = World::new(Some(clock));
    let provider = world.provider();
    let registered = world.register(&provider, "changing", json!({"minutes": 1}));
    let since = registered["config"]["scheduledSince"].clone();
    world.wait_fired("changing", 2, &provider);
    // A new payload leaves the schedule alone.
    let (status, body) = call(
        &provider,
        "PATCH",
        "changing",
        "",
        Some(json!({"config": {"triggerPayload": {"v": 2}}})),
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["config"]["scheduledSince"], since, "{body}");
    assert_eq!(body["config"]["triggerPayload"], json!({"v": 2}), "{body}");
    // A new schedule counts from the update; the count of fires goes on.
    let before = read(&provider, "changing")["status"]["timesFired"]
        .as_u64()
        .expect("count");
    let (status, body) = call(
        &provider,
        "PATCH",
        "changing",
        "",
        Some(json!({"config": {"cron": "*/2 * * * *", "maxTriggers": before + 2}})),
    );
    assert_eq!(status, 200, "{body}");
    assert!(body["config"].get("minutes").is_none(), "{body}");
    assert!(
        body["config"]["scheduledSince"].as_u64() > since.as_u64(),
        "{body}"
    );
    wait_until(
        "the updated alarm to be done after two more fires",
        || read(&provider, "changing")["status"]["state"] == "disabled",
        || provider.logs(),
    );
    let status = read(&provider, "changing")["status"].clone();
    assert_eq!(status["timesFired"], before + 2, "{status}");
    let fires = world.fired("changing");
    assert_eq!(fires.last(), Some(&json!({"v": 2})), "{fires:?}");
    // A bad update is refused and changes nothing.
    let (status, body) = call(
        &provider,
        "PATCH",
        "changing",
        "",
        Some(json!({"config": {"timezone": "Nowhere/Land"}})),
    );
    assert_eq!(status, 400, "{body}");
}
