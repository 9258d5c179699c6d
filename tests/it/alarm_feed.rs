//! `alarm-feed`, the kit's alarms feed action, as the native runtime runs it: its own checks
//! (every one answered before anything goes over the network), its answers when the provider
//! is missing, refuses its secret or knows no alarm, and the secrets kept out of every result
//! and log.

use std::net::TcpListener;

use serde_json::{Value, json};

use crate::connections::{
    PROVIDER_SECRET, ProviderProcess, create_trigger, now_millis, ok, provider_feed, sandbox,
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
