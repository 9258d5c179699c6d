//! `alarm-feed`, the kit's alarms feed action, as the native runtime runs it: its own checks
//! (every one answered before anything goes over the network), its answers when the provider
//! is missing, refuses its secret or knows no alarm, and the secrets kept out of every result
//! and log.

use std::net::TcpListener;

use serde_json::{Value, json};

use crate::connections::{
    PROVIDER_SECRET, ProviderProcess, create_trigger, now_millis, ok, provider_feed, sandbox,
    wait_until,
};
use crate::support::{ActionRun, TempDir, run_action, workspace_bin};

const ACTION: &str = "alarm-feed";
/// A key of the right form that nothing accepts: it must never show.
const KEY: &str = "23bc46b1-71f6-4ed5-8c54-816aa4f8c502:alarm-feed-test-key-0123456789";

/// A listener that stands for OpenWhisk and the provider at once: whoever connects to it shows.
struct Witness(TcpListener);

impl Witness {
    fn new() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.set_nonblocking(true).expect("nonblocking");
        Self(listener)
    }

    fn url(&self) -> String {
        format!("http://{}", self.0.local_addr().expect("address"))
    }

    /// Whether anything connected (the kernel queues a connection even if nobody accepts).
    fn was_called(&self) -> bool {
        self.0.accept().is_ok()
    }
}

/// One activation of the real binary with `params` (plus the protocol parameters), OpenWhisk
/// and the provider both at `host`.
fn run(host: &str, event: &str, params: Value) -> ActionRun {
    let mut all = json!({
        "lifecycleEvent": event,
        "triggerName": "/_/ticks",
        "authKey": KEY,
        "providerUrl": host,
        "providerSecret": PROVIDER_SECRET,
    });
    if let (Some(all), Value::Object(params)) = (all.as_object_mut(), params) {
        all.extend(params);
    }
    let deadline = (now_millis() + 30_000).to_string();
    run_action(
        &workspace_bin(ACTION),
        &all,
        &[
            ("__OW_API_HOST", host),
            ("__OW_NAMESPACE", "guest"),
            ("__OW_DEADLINE", deadline.as_str()),
        ],
    )
}

/// The activation answered one error, with no secret in it or in its logs.
fn refused(run: &ActionRun) -> &str {
    assert!(run.status.success(), "the action crashed: {}", run.logs());
    let result = run.result.as_object().expect("a JSON object");
    assert_eq!(result.len(), 1, "one error: {}", run.result);
    let logs = run.logs();
    for secret in [KEY, "alarm-feed-test-key", PROVIDER_SECRET] {
        assert!(!logs.contains(secret), "a secret leaked: {logs}");
    }
    run.error()
}

#[test]
fn every_parameter_is_checked_before_any_call_and_named_in_the_error() {
    let in_a_year = now_millis() as u64 + 365 * 24 * 3_600_000;
    let cases = [
        ("CREATE", json!({}), "missing parameter `minutes`"),
        (
            "CREATE",
            json!({"minutes": 0}),
            "invalid parameter `minutes`",
        ),
        (
            "CREATE",
            json!({"minutes": "2.5"}),
            "invalid parameter `minutes`",
        ),
        (
            "CREATE",
            json!({"minutes": 1, "cron": "* * * * *"}),
            "invalid parameter `cron`",
        ),
        (
            "CREATE",
            json!({"cron": "* * *"}),
            "invalid parameter `cron`",
        ),
        (
            "CREATE",
            json!({"minutes": 5, "timezone": "Europe/Berlin"}),
            "invalid parameter `timezone`",
        ),
        (
            "CREATE",
            json!({"date": "2019-12-25T12:30:00.000Z"}),
            "invalid parameter `date`",
        ),
        (
            "CREATE",
            json!({"date": "soon"}),
            "invalid parameter `date`",
        ),
        (
            "CREATE",
            json!({"date": in_a_year, "deleteAfterFire": "sometimes"}),
            "invalid parameter `deleteAfterFire`",
        ),
        (
            "CREATE",
            json!({"date": in_a_year, "maxTriggers": 3}),
            "invalid parameter `maxTriggers`",
        ),
        (
            "CREATE",
            json!({"cron": "0 * * * *", "startDate": in_a_year, "stopDate": in_a_year - 1}),
            "invalid parameter `stopDate`",
        ),
        (
            "CREATE",
            json!({"minutes": 1, "trigger_payload": 7}),
            "invalid parameter `trigger_payload`",
        ),
        (
            "CREATE",
            json!({"minutes": 1, "maxTriggers": -5}),
            "invalid parameter `maxTriggers`",
        ),
        (
            "CREATE",
            json!({"minutes": 1, "triggerPayload": {}}),
            "invalid parameter `triggerPayload`: alarm-feed has no such parameter",
        ),
        ("UPDATE", json!({}), "missing parameter `(parameters)`"),
        ("UPDATE", json!({"cron": ""}), "invalid parameter `cron`"),
        (
            "UPDATE",
            json!({"stopDate": "2001-01-01"}),
            "invalid parameter `stopDate`",
        ),
        (
            "READ",
            json!({"providerUrl": "ftp://x"}),
            "invalid parameter `providerUrl`",
        ),
        (
            "DELETE",
            json!({"providerSecret": null}),
            "missing parameter `providerSecret`",
        ),
        ("TICK", json!({}), "invalid parameter `lifecycleEvent`"),
    ];
    for (event, params, expected) in cases {
        let witness = Witness::new();
        let run = run(&witness.url(), event, params.clone());
        let error = refused(&run);
        assert!(error.contains(expected), "{event} {params}: {error}");
        assert!(
            !witness.was_called(),
            "{event} {params}: a call went out before the parameters were checked"
        );
    }
}

#[test]
fn a_provider_that_is_not_there_refuses_the_secret_or_knows_no_alarm_is_said_so() {
    let sb = sandbox();
    create_trigger(&sb, "ticks");
    let closed = {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        format!("http://{}", listener.local_addr().expect("address"))
    };
    let run = provider_feed(
        ACTION,
        &sb,
        &closed,
        "CREATE",
        "ticks",
        json!({"minutes": 1}),
    );
    let error = refused(&run);
    assert!(
        error.contains("the alarms provider at http://127.0.0.1:")
            && error.contains("not reachable")
            && error.contains("`providerUrl`"),
        "{error}"
    );

    let data = TempDir::new("alarm-feed-provider");
    let provider = ProviderProcess::start(&data.0.join("store"), 0);
    let wrong_secret = json!({"providerSecret": "not-the-provider-secret"});
    let run = provider_feed(ACTION, &sb, &provider.url, "READ", "ticks", wrong_secret);
    assert!(
        refused(&run).contains("invalid parameter `providerSecret`"),
        "{}",
        run.error()
    );
    assert!(!run.logs().contains("not-the-provider-secret"));

    // No alarm registered: READ says so; DELETE succeeds (it follows a failed CREATE too).
    let run = provider_feed(ACTION, &sb, &provider.url, "READ", "ticks", json!({}));
    assert!(
        refused(&run).contains("no alarm is registered for trigger /guest/ticks"),
        "{}",
        run.error()
    );
    assert!(!run.logs().contains(&sb.auth_key("guest")));
    let deleted = ok(provider_feed(
        ACTION,
        &sb,
        &provider.url,
        "DELETE",
        "ticks",
        json!({}),
    ));
    assert_eq!(deleted["deleted"], false, "{deleted}");
    assert_eq!(deleted["trigger"], "/guest/ticks");
}

// --- end to end: the alarm-feed binary, the provider's alarms source, the sandbox ---

/// A fire's body is `trigger_payload`, plus `missedTicks` when it is a catch-up fire (on a
/// loaded machine a tick can pass before the alarm's first or previous fire is done).
pub(crate) fn assert_payload(fired: &Value, payload: Value) {
    let mut body = fired.clone();
    if let Some(body) = body.as_object_mut() {
        body.remove("missedTicks");
    }
    assert_eq!(body, payload, "fired with {fired}");
}

/// Every second: the tests see fires without waiting minutes.
const EVERY_SECOND: &str = "* * * * * *";

/// The provider, a sandbox with trigger `name`, and the feed run against them.
struct Alarms {
    sb: sandbox::Sandbox,
    provider: ProviderProcess,
    _data: TempDir,
}

impl Alarms {
    fn start(triggers: &[&str]) -> Self {
        Self::with_provider_args(triggers, &[])
    }

    /// The provider started with `args` besides the usual ones.
    fn with_provider_args(triggers: &[&str], args: &[&str]) -> Self {
        let sb = sandbox();
        for trigger in triggers {
            create_trigger(&sb, trigger);
        }
        let data = TempDir::new("alarm-feed-e2e");
        let provider = ProviderProcess::embedded(&data.0.join("store"), 0, args);
        Self {
            sb,
            provider,
            _data: data,
        }
    }

    fn feed(&self, event: &str, trigger: &str, params: Value) -> ActionRun {
        let run = provider_feed(ACTION, &self.sb, &self.provider.url, event, trigger, params);
        let logs = run.logs();
        for secret in [self.sb.auth_key("guest").as_str(), PROVIDER_SECRET] {
            assert!(!logs.contains(secret), "a secret leaked: {logs}");
        }
        run
    }

    fn ok(&self, event: &str, trigger: &str, params: Value) -> Value {
        let run = self.feed(event, trigger, params);
        assert_eq!(
            run.error(),
            "",
            "{event} failed: {}\nprovider:\n{}",
            run.logs(),
            self.provider.logs()
        );
        run.result
    }

    /// The payloads OpenWhisk took for `trigger`.
    fn fired(&self, trigger: &str) -> Vec<Value> {
        self.sb
            .fires("guest", trigger)
            .into_iter()
            .filter(|fire| matches!(fire.status, 202 | 204))
            .map(|fire| fire.payload)
            .collect()
    }

    /// READs `trigger` until `done` holds for what READ shows; that view.
    fn read_until(&self, trigger: &str, what: &str, done: impl Fn(&Value) -> bool) -> Value {
        let read = std::cell::RefCell::new(Value::Null);
        wait_until(
            what,
            || {
                let now = self.ok("READ", trigger, json!({}));
                let finished = done(&now);
                *read.borrow_mut() = now;
                finished
            },
            || format!("{}\n{}", read.borrow(), self.provider.logs()),
        );
        read.into_inner()
    }

    fn wait_for_fires(&self, trigger: &str, count: usize) {
        wait_until(
            &format!("{count} fires of {trigger}"),
            || self.fired(trigger).len() >= count,
            || self.provider.logs(),
        );
    }
}

#[test]
fn a_cron_alarm_fires_each_tick_with_its_payload_until_max_triggers() {
    let alarms = Alarms::start(&["ticks"]);
    let created = alarms.ok(
        "CREATE",
        "ticks",
        json!({"cron": EVERY_SECOND, "trigger_payload": {"name": "Odin"}, "maxTriggers": 3}),
    );
    assert_eq!(created["trigger"], "/guest/ticks");
    assert_eq!(created["config"]["cron"], EVERY_SECOND);
    assert_eq!(created["config"]["maxTriggers"], 3);
    assert_eq!(created["status"]["state"], "active", "{created}");

    alarms.wait_for_fires("ticks", 3);
    for payload in alarms.fired("ticks") {
        assert_payload(&payload, json!({"name": "Odin"}));
    }
    // The fourth tick never fires: the count is reached, and READ says so.
    let read = alarms.read_until("ticks", "READ to show the alarm done", |read| {
        read["status"]["state"] == "disabled"
    });
    let status = &read["status"];
    assert_eq!(status["timesFired"], 3, "{read}");
    assert!(
        status["reason"]
            .as_str()
            .is_some_and(|reason| reason.contains("maxTriggers")),
        "{read}"
    );
    assert!(status["lastFire"]["scheduled"].is_u64(), "{read}");
    assert!(status["lastFire"]["at"].is_u64(), "{read}");
    assert!(status.get("nextFireISO").is_none(), "{read}");
    assert_eq!(alarms.fired("ticks").len(), 3);
}

#[test]
fn an_interval_alarm_fires_every_n_minutes() {
    // The provider's clock runs a minute a second (its hidden test option), so `minutes: 1`
    // ticks every real second; the action checks nothing against it.
    let now = now_millis();
    let clock = format!("{now}@{now}*60");
    let alarms = Alarms::with_provider_args(&["every-minute"], &["--test-clock", &clock]);
    let created = alarms.ok(
        "CREATE",
        "every-minute",
        json!({"minutes": "1", "maxTriggers": 2, "trigger_payload": {"kind": "interval"}}),
    );
    assert_eq!(created["config"]["minutes"], 1, "{created}");
    alarms.wait_for_fires("every-minute", 2);
    let fired = alarms.fired("every-minute");
    assert_eq!(fired.len(), 2, "{fired:?}");
    for payload in fired {
        assert_payload(&payload, json!({"kind": "interval"}));
    }
    // The count is saved once OpenWhisk answered the fire, a moment after the sandbox saw it.
    alarms.read_until("every-minute", "READ to count both fires", |read| {
        read["status"]["timesFired"] == 2
    });
}

#[test]
fn pause_unpause_update_and_delete_act_on_the_running_alarm() {
    let alarms = Alarms::start(&["beat"]);
    let created = alarms.ok(
        "CREATE",
        "beat",
        json!({"cron": EVERY_SECOND, "ifMissed": "skip"}),
    );
    let next = created["status"]["nextFire"].as_u64().expect("nextFire");
    assert!(next <= now_millis() as u64 + 2_000, "{created}");
    assert!(created["status"]["nextFireISO"].is_string(), "{created}");
    alarms.wait_for_fires("beat", 1);

    let paused = alarms.ok("PAUSE", "beat", json!({}));
    assert_eq!(paused["status"]["state"], "paused", "{paused}");
    // The one fire an alarm may have in flight can still land; no tick fires while paused (an
    // unpaused alarm would fire twice or more in this time).
    let at_pause = alarms.fired("beat").len();
    std::thread::sleep(std::time::Duration::from_millis(3_000));
    let while_paused = alarms.fired("beat").len();
    assert!(while_paused <= at_pause + 1, "fired while paused");

    let unpaused = alarms.ok("UNPAUSE", "beat", json!({}));
    assert_eq!(unpaused["status"]["state"], "active", "{unpaused}");
    alarms.wait_for_fires("beat", while_paused + 1);
    // `skip`: the ticks missed while paused are not caught up.
    assert!(
        alarms
            .fired("beat")
            .iter()
            .all(|payload| payload.get("missedTicks").is_none()),
        "{:?}",
        alarms.fired("beat")
    );

    // UPDATE switches the schedule in place: an hourly interval, the next fire an hour away.
    let before = now_millis() as u64;
    let updated = alarms.ok("UPDATE", "beat", json!({"minutes": 60}));
    assert_eq!(updated["config"]["minutes"], 60, "{updated}");
    assert!(updated["config"].get("cron").is_none(), "{updated}");
    let next = updated["status"]["nextFire"].as_u64().expect("nextFire");
    assert!(
        next >= before + 59 * 60_000 && next <= now_millis() as u64 + 61 * 60_000,
        "{updated}"
    );

    let deleted = alarms.ok("DELETE", "beat", json!({}));
    assert_eq!(deleted["deleted"], true, "{deleted}");
    let run = alarms.feed("READ", "beat", json!({}));
    assert!(
        run.error()
            .contains("no alarm is registered for trigger /guest/beat"),
        "{}",
        run.error()
    );
}

#[test]
fn a_once_alarm_fires_at_its_date_then_deletes_its_trigger_and_rules() {
    let alarms = Alarms::start(&["new-year"]);
    alarms
        .sb
        .put_builtin_action(
            "guest",
            "celebrate",
            |_: &sandbox::ActionContext, params: Value| sandbox::ActionOutput::result(params),
            json!({}),
            json!({}),
        )
        .expect("action");
    let name = |text: &str| feedkit::QualifiedName::parse(text).expect("name");
    crate::connections::client(&alarms.sb)
        .put_rule(
            &name("/guest/celebrate-new-year"),
            &name("/guest/new-year"),
            &name("/guest/celebrate"),
            false,
        )
        .expect("rule");
    // Far enough ahead that the provider still finds it in the future on a loaded machine.
    let date = feedkit::iso_utc(now_millis() as u64 + 5_000);
    let created = alarms.ok(
        "CREATE",
        "new-year",
        json!({"date": date, "deleteAfterFire": "rules", "trigger_payload": "midnight"}),
    );
    assert_eq!(created["config"]["date"], date.as_str(), "{created}");
    assert_eq!(created["config"]["deleteAfterFire"], "rules", "{created}");

    alarms.wait_for_fires("new-year", 1);
    let fired = alarms.fired("new-year");
    assert_eq!(fired.len(), 1, "{fired:?}");
    assert_payload(&fired[0], json!({"payload": "midnight"}));
    wait_until(
        "the trigger and its rule to be deleted after the fire",
        || {
            alarms.sb.trigger("guest", "new-year").is_none()
                && alarms.sb.rule("guest", "celebrate-new-year").is_none()
        },
        || alarms.provider.logs(),
    );
}

#[test]
fn the_provider_names_a_cron_pattern_or_zone_it_cannot_use() {
    let alarms = Alarms::start(&["bad"]);
    for (params, expected) in [
        (
            json!({"cron": "61 * * * *"}),
            "invalid parameter `cron`: cron pattern '61 * * * *'",
        ),
        (
            json!({"cron": "0 9 * * *", "timezone": "Mars/Olympus"}),
            "invalid parameter `timezone`: timezone 'Mars/Olympus'",
        ),
    ] {
        let run = alarms.feed("CREATE", "bad", params.clone());
        assert!(run.error().contains(expected), "{params}: {}", run.error());
    }
    // Nothing was registered.
    let run = alarms.feed("READ", "bad", json!({}));
    assert!(
        run.error().contains("no alarm is registered"),
        "{}",
        run.error()
    );
}

/// The Polling pattern on the kit's own alarms: poll-feed with `alarmFeed` set to alarm-feed
/// (deployed with the provider bound, as the manifest binds it) sets up its helper trigger's
/// alarm at the provider; each tick runs pollMyService, which fires the new items; DELETE
/// removes the alarm at the provider too.
#[test]
fn poll_feed_ticks_on_the_kit_s_alarms() {
    use crate::poll_feed::kit_zip;
    let alarms = Alarms::start(&[]);
    let sb = &alarms.sb;
    sb.put_package("guest", "feedkit", json!({}), json!({}), false)
        .expect("package");
    let provider = json!({"providerUrl": alarms.provider.url, "providerSecret": PROVIDER_SECRET});
    for (action, parameters, annotations) in [
        ("alarm-feed", provider.clone(), json!({"feed": true})),
        ("poll-feed", json!({}), json!({"feed": true})),
        ("pollMyService", json!({}), json!({"provide-api-key": true})),
    ] {
        sb.put_native_action(
            "guest",
            &format!("feedkit/{action}"),
            kit_zip(action),
            parameters,
            annotations,
        )
        .expect("deploy");
    }
    let source = fakes::JsonSource::start().expect("source");
    source.push(json!({"id": "old"}));
    let guest = crate::connections::client(sb);
    let name = |text: &str| feedkit::QualifiedName::parse(text).expect("name");
    guest
        .put_trigger(
            &name("/guest/news"),
            &json!({"annotations": [{"key": "feed", "value": "/guest/feedkit/poll-feed"}]}),
            false,
        )
        .expect("trigger");
    let invoke = |event: &str, extra: Value| {
        let mut params = json!({
            "lifecycleEvent": event, "triggerName": "/_/news", "authKey": sb.auth_key("guest"),
        });
        if let (Some(params), Value::Object(extra)) = (params.as_object_mut(), extra) {
            params.extend(extra);
        }
        guest.invoke_action(&name("/guest/feedkit/poll-feed"), &params)
    };
    let created = invoke(
        "CREATE",
        json!({"url": source.items_url(), "cron": EVERY_SECOND,
               "alarmFeed": "/guest/feedkit/alarm-feed"}),
    )
    .unwrap_or_else(|error| panic!("CREATE: {error}\n{}", alarms.provider.logs()));
    assert_eq!(created["status"], "created", "{created}");

    // The helper trigger's alarm lives at the provider.
    let read = alarms.ok("READ", "news-poll-alarm", json!({}));
    assert_eq!(read["config"]["cron"], EVERY_SECOND, "{read}");
    assert_eq!(read["status"]["state"], "active", "{read}");

    source.push(json!({"id": "fresh"}));
    wait_until(
        "the new item to be fired through the kit's alarm",
        || {
            alarms.fired("news").iter().any(|event| {
                event["items"]
                    .as_array()
                    .is_some_and(|items| items.iter().any(|item| item["id"] == "fresh"))
            })
        },
        || alarms.provider.logs(),
    );
    let fired: Vec<Value> = alarms.fired("news");
    assert!(
        !format!("{fired:?}").contains("\"old\""),
        "the item seen at CREATE fired: {fired:?}"
    );

    // A catch-up fire (the provider was down or the alarm paused: `ifMissed` fireOnce) carries
    // `missedTicks`: the poller takes it like any tick.
    let caught_up = guest
        .invoke_action(
            &name("/guest/feedkit/pollMyService"),
            &json!({"pollTrigger": "/guest/news-poll-alarm", "missedTicks": 3}),
        )
        .expect("a catch-up tick");
    assert!(caught_up.get("error").is_none(), "{caught_up}");

    invoke("DELETE", json!({})).expect("DELETE");
    let run = alarms.feed("READ", "news-poll-alarm", json!({}));
    assert!(
        run.error().contains("no alarm is registered"),
        "the alarm outlived the poll feed: {}",
        run.error()
    );
    for activation in sb.activations("guest") {
        let shown = format!("{:?} {:?}", activation.result, activation.logs);
        assert!(!shown.contains(PROVIDER_SECRET), "{shown}");
    }
}

#[test]
fn an_alarm_whose_trigger_is_gone_is_disabled_and_read_and_delete_still_work() {
    let alarms = Alarms::start(&["gone"]);
    alarms.ok("CREATE", "gone", json!({"cron": EVERY_SECOND}));
    alarms.wait_for_fires("gone", 1);
    // The trigger is deleted behind the feed's back (no DELETE): the next fire gets a 404.
    crate::connections::client(&alarms.sb)
        .delete_trigger(&feedkit::QualifiedName::parse("/guest/gone").expect("name"))
        .expect("trigger deleted");
    // READ without the trigger: the key itself proves the feed is the caller's.
    let read = alarms.read_until("gone", "the alarm to be disabled by the 404", |read| {
        read["status"]["state"] == "disabled"
    });
    assert!(
        read["status"]["reason"]
            .as_str()
            .is_some_and(|reason| reason.contains("404")),
        "{read}"
    );
    assert_eq!(alarms.ok("DELETE", "gone", json!({}))["deleted"], true);
}
