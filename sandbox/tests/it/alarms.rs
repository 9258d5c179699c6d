//! The built-in alarms package: the feed lifecycle over HTTP with the user's own key, the
//! package's parameter checks, fires with real timers and through `tick_alarm`, and the
//! provider's rules for failed fires, once alarms, stop dates and `maxTriggers`.

use crate::support::{Api, PATIENCE, Resp, echo_action, sandbox};
use sandbox::{Error, Sandbox};
use serde_json::{Value, json};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_millis() as u64
}

/// A blocking invoke of `/whisk.system/alarms/<feed>` (or another path) with the protocol's
/// three parameters plus `extra`.
fn feed(api: &Api, sb: &Sandbox, path: &str, event: &str, trigger: &str, extra: Value) -> Resp {
    let mut params = json!({
        "lifecycleEvent": event,
        "triggerName": trigger,
        "authKey": sb.auth_key("guest"),
    });
    if let (Some(map), Value::Object(extra)) = (params.as_object_mut(), extra) {
        map.extend(extra);
    }
    api.post(&format!("{path}?blocking=true&result=true"), params)
}

const INTERVAL: &str = "/namespaces/whisk.system/actions/alarms/interval";
const CRON: &str = "/namespaces/whisk.system/actions/alarms/alarm";
const ONCE: &str = "/namespaces/whisk.system/actions/alarms/once";

/// A trigger `t` with a parameter, and a rule running an echo action on it.
fn trigger_with_rule(sb: &Sandbox, api: &Api, name: &str) {
    sb.put_native_action("guest", "echo", echo_action(), json!({}), json!({}))
        .expect("the echo action deploys");
    let r = api.put(
        &format!("/namespaces/_/triggers/{name}"),
        json!({"parameters": [{"key": "fromTrigger", "value": 1}]}),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    let r = api.put(
        &format!("/namespaces/_/rules/r-{name}"),
        json!({"trigger": name, "action": "echo"}),
    );
    assert_eq!(r.status, 200, "{}", r.text);
}

fn alarm_of<'a>(alarms: &'a [Value], trigger: &str) -> &'a Value {
    alarms
        .iter()
        .find(|a| a["trigger"] == trigger)
        .unwrap_or_else(|| panic!("no alarm for {trigger} in {alarms:?}"))
}

/// Polls until `pred` holds for the alarm list.
fn wait_for_alarms(sb: &Sandbox, pred: impl Fn(&[Value]) -> bool) -> Vec<Value> {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let alarms = sb.alarms();
        if pred(&alarms) || Instant::now() >= deadline {
            return alarms;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn the_interval_feed_lives_through_its_whole_lifecycle() {
    let sb = sandbox();
    let api = Api::new(&sb, "guest");
    trigger_with_rule(&sb, &api, "t");

    let r = feed(
        &api,
        &sb,
        INTERVAL,
        "CREATE",
        "/_/t",
        json!({"minutes": 1, "trigger_payload": {"tick": true}}),
    );
    assert_eq!(
        (r.status, &r.body),
        (200, &json!({"status": "success"})),
        "{}",
        r.text
    );

    let read = feed(&api, &sb, INTERVAL, "READ", "/guest/t", json!({}));
    assert_eq!(read.status, 200, "{}", read.text);
    let config = &read.body["config"];
    assert_eq!(config["name"], "t");
    assert_eq!(config["namespace"], "guest");
    assert_eq!(config["minutes"], 1);
    assert_eq!(config["payload"], json!({"tick": true}));
    let start = config["startDate"].as_u64().expect("a default start date");
    assert!(start > now_ms(), "the first fire is a little later");
    assert_eq!(read.body["status"]["active"], true);
    assert!(read.body["status"]["dateChanged"].is_u64());
    assert!(!read.text.contains(&sb.auth_key("guest")), "no key in READ");

    let listed = sb.alarms();
    let alarm = alarm_of(&listed, "/guest/t");
    assert_eq!(alarm["feed"], "/whisk.system/alarms/interval");
    assert_eq!(alarm["nextFire"], start);

    let fire = sb.tick_alarm("guest", "t").unwrap();
    assert_eq!(fire.status, 202);
    assert_eq!(fire.payload, json!({"tick": true}));
    let trigger_activation = fire.activation_id.unwrap();
    let acts = sb.wait_for_activations(
        "guest",
        |a| {
            a.iter()
                .any(|a| a.cause.as_deref() == Some(trigger_activation.as_str()))
        },
        PATIENCE,
    );
    let run = acts
        .iter()
        .find(|a| a.cause.as_deref() == Some(trigger_activation.as_str()))
        .unwrap();
    assert_eq!(
        run.result,
        json!({"fromTrigger": 1, "tick": true}),
        "the trigger's parameters merged with trigger_payload"
    );

    let r = feed(
        &api,
        &sb,
        INTERVAL,
        "UPDATE",
        "/_/t",
        json!({"minutes": "5", "trigger_payload": "hello"}),
    );
    assert_eq!(r.body, json!({"status": "success"}), "{}", r.text);
    let read = feed(&api, &sb, INTERVAL, "READ", "/_/t", json!({}));
    assert_eq!(read.body["config"]["minutes"], 5);
    assert_eq!(read.body["config"]["payload"], json!({"payload": "hello"}));

    let r = feed(&api, &sb, INTERVAL, "PAUSE", "/_/t", json!({}));
    assert_eq!(r.body, json!({"status": "success"}));
    let read = feed(&api, &sb, INTERVAL, "READ", "/_/t", json!({}));
    assert_eq!(read.body["status"]["active"], false);
    assert_eq!(read.body["status"]["reason"]["kind"], "USER");
    assert!(matches!(
        sb.tick_alarm("guest", "t"),
        Err(Error::Conflict(_))
    ));
    assert_eq!(alarm_of(&sb.alarms(), "/guest/t")["nextFire"], Value::Null);

    let r = feed(&api, &sb, INTERVAL, "UNPAUSE", "/_/t", json!({}));
    assert_eq!(r.body, json!({"status": "success"}));
    let read = feed(&api, &sb, INTERVAL, "READ", "/_/t", json!({}));
    assert_eq!(read.body["status"]["active"], true);
    assert!(read.body["status"].get("reason").is_none());
    assert_eq!(
        sb.tick_alarm("guest", "t").unwrap().payload,
        json!({"payload": "hello"})
    );

    let r = feed(&api, &sb, INTERVAL, "DELETE", "/_/t", json!({}));
    assert_eq!(r.body, json!({"status": "success"}));
    let read = feed(&api, &sb, INTERVAL, "READ", "/_/t", json!({}));
    assert_eq!(read.status, 502);
    assert_eq!(
        read.error(),
        "could not find trigger /guest/t in the database"
    );
    assert!(matches!(
        sb.tick_alarm("guest", "t"),
        Err(Error::NotFound(_))
    ));
    assert!(sb.alarms().is_empty());
}

#[test]
fn parameters_are_checked_as_the_alarms_package_checks_them() {
    let sb = sandbox();
    let api = Api::new(&sb, "guest");
    api.put("/namespaces/_/triggers/t", json!({}));
    let past = "2001-01-01T00:00:00.000Z";
    let later = now_ms() + 3_600_000;
    let cases: Vec<(&str, Value, String)> = vec![
        (
            INTERVAL,
            json!({}),
            "interval trigger feed is missing the minutes parameter".into(),
        ),
        (
            INTERVAL,
            json!({"minutes": "abc"}),
            "the minutes parameter must be an integer".into(),
        ),
        (
            INTERVAL,
            json!({"minutes": 1.5}),
            "the minutes parameter must be an integer".into(),
        ),
        (
            INTERVAL,
            json!({"minutes": -2}),
            "the minutes parameter must be an integer greater than zero".into(),
        ),
        (
            INTERVAL,
            json!({"minutes": 1, "startDate": "someday"}),
            "startDate parameter 'someday' is not a valid Date".into(),
        ),
        (
            INTERVAL,
            json!({"minutes": 1, "startDate": past}),
            format!("startDate parameter '{past}' must be in the future"),
        ),
        (
            INTERVAL,
            json!({"minutes": 1, "startDate": later, "stopDate": later - 1}),
            format!(
                "stopDate parameter '{}' must be greater than the startDate parameter '{later}'",
                later - 1
            ),
        ),
        (
            INTERVAL,
            json!({"minutes": 1, "maxTriggers": 3, "stopDate": later}),
            "maxTriggers is not supported for the interval trigger feed".into(),
        ),
        (
            INTERVAL,
            json!({"minutes": 1, "trigger_payload": 7}),
            "the trigger_payload parameter must be a JSON object or a string, not 7".into(),
        ),
        (
            CRON,
            json!({}),
            "alarms trigger feed is missing the cron parameter".into(),
        ),
        (
            CRON,
            json!({"cron": "* * *"}),
            "cron pattern '* * *' is not valid".into(),
        ),
        (
            CRON,
            json!({"cron": "0 0 0 1 1 * 2030"}),
            "cron pattern '0 0 0 1 1 * 2030' is not valid".into(),
        ),
        (
            CRON,
            json!({"cron": "* * * * *", "timezone": "Nowhere/Town"}),
            "Invalid timezone.".into(),
        ),
        (
            CRON,
            json!({"cron": "* * * * *", "maxTriggers": 2, "stopDate": later}),
            "maxTriggers is not allowed when the stopDate parameter is specified".into(),
        ),
        (
            CRON,
            json!({"cron": "0 0 1 1 *", "stopDate": later}),
            "the first scheduled trigger fire is not until after the stop date".into(),
        ),
        (
            ONCE,
            json!({}),
            "alarms once trigger feed is missing the date parameter".into(),
        ),
        (
            ONCE,
            json!({"date": past}),
            format!("date parameter '{past}' must be in the future"),
        ),
        (
            ONCE,
            json!({"date": later, "deleteAfterFire": "maybe"}),
            "deleteAfterFire parameter must be one of [false, true, rules].".into(),
        ),
    ];
    for (path, params, expected) in cases {
        let r = feed(&api, &sb, path, "CREATE", "/_/t", params.clone());
        assert_eq!(r.status, 502, "{path} {params}: {}", r.text);
        assert_eq!(r.error(), expected, "{path} {params}");
    }
    assert!(sb.alarms().is_empty(), "nothing was registered");

    let r = feed(
        &api,
        &sb,
        INTERVAL,
        "CREATE",
        "/_/missing",
        json!({"minutes": 1}),
    );
    assert!(
        r.error()
            .starts_with("Trigger authentication request failed"),
        "{}",
        r.text
    );
    let r = api.post(
        &format!("{INTERVAL}?blocking=true&result=true"),
        json!({"lifecycleEvent": "CREATE", "triggerName": "/_/t", "authKey": "wrong:key", "minutes": 1}),
    );
    assert!(
        r.error()
            .starts_with("Trigger authentication request failed"),
        "{}",
        r.text
    );
    assert!(!r.text.contains("wrong:key"), "the key is never echoed");
    let r = api.post(
        &format!("{INTERVAL}?blocking=true&result=true"),
        json!({"lifecycleEvent": "CREATE", "minutes": 1}),
    );
    assert_eq!(r.error(), "no trigger name parameter was provided");
    let r = api.post(
        &format!("{INTERVAL}?blocking=true&result=true"),
        json!({"lifecycleEvent": "CREATE", "triggerName": "/_/t", "minutes": 1}),
    );
    assert_eq!(r.error(), "no authKey parameter was provided");
    let r = feed(&api, &sb, INTERVAL, "RESTART", "/_/t", json!({}));
    assert!(
        r.error().starts_with("unsupported lifecycleEvent"),
        "{}",
        r.text
    );

    let r = feed(
        &api,
        &sb,
        CRON,
        "CREATE",
        "/_/t",
        json!({"cron": "0 0 1 1 *"}),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    let again = feed(
        &api,
        &sb,
        CRON,
        "CREATE",
        "/_/t",
        json!({"cron": "0 0 1 1 *"}),
    );
    assert!(
        again.error().starts_with("error creating alarm trigger."),
        "{}",
        again.text
    );
    let r = feed(&api, &sb, CRON, "UPDATE", "/_/t", json!({}));
    assert_eq!(r.error(), "no updatable parameters were specified");
    let r = feed(
        &api,
        &sb,
        CRON,
        "UPDATE",
        "/_/t",
        json!({"timezone": "Nowhere/Town"}),
    );
    assert_eq!(r.error(), "Invalid timezone.");
    let r = feed(
        &api,
        &sb,
        CRON,
        "UPDATE",
        "/_/t",
        json!({"timezone": "Europe/Paris"}),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    let read = feed(&api, &sb, CRON, "READ", "/_/t", json!({}));
    assert_eq!(read.body["config"]["timezone"], "Europe/Paris");
    assert_eq!(read.body["config"]["cron"], "0 0 1 1 *");
    let r = feed(&api, &sb, CRON, "DELETE", "/_/t", json!({}));
    assert_eq!(r.status, 200);
    let r = feed(&api, &sb, CRON, "DELETE", "/_/t", json!({}));
    assert_eq!(r.error(), "could not find trigger /guest/t in the database");
}

#[test]
fn a_binding_to_the_alarms_package_reaches_the_feeds() {
    let sb = sandbox();
    let api = Api::new(&sb, "guest");
    let package = api.get("/namespaces/whisk.system/packages/alarms");
    assert_eq!(package.status, 200, "{}", package.text);
    assert_eq!(package.body["publish"], true);
    let mut feeds: Vec<&str> = package.body["feeds"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap())
        .collect();
    feeds.sort();
    assert_eq!(feeds, ["alarm", "interval", "once"]);

    let r = api.put(
        "/namespaces/_/packages/myalarms",
        json!({"binding": {"namespace": "whisk.system", "name": "alarms"}}),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    api.put("/namespaces/_/triggers/t", json!({}));
    let r = feed(
        &api,
        &sb,
        "/namespaces/_/actions/myalarms/alarm",
        "CREATE",
        "t",
        json!({"cron": "0 0 1 1 *", "timezone": "Asia/Tokyo"}),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    let alarm = alarm_of(&sb.alarms(), "/guest/t").clone();
    assert_eq!(alarm["feed"], "/whisk.system/alarms/alarm");
    assert!(alarm["nextFire"].as_u64().unwrap() > now_ms());
}

#[test]
fn a_trigger_that_is_gone_disables_its_alarm_with_a_reason() {
    let sb = sandbox();
    let api = Api::new(&sb, "guest");
    api.put("/namespaces/_/triggers/t", json!({}));
    let r = feed(
        &api,
        &sb,
        CRON,
        "CREATE",
        "/_/t",
        json!({"cron": "0 0 1 1 *"}),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(api.delete("/namespaces/_/triggers/t").status, 200);

    let fire = sb.tick_alarm("guest", "t").unwrap();
    assert_eq!(fire.status, 404);
    let alarm = alarm_of(&sb.alarms(), "/guest/t").clone();
    assert_eq!(alarm["status"]["active"], false);
    assert_eq!(alarm["status"]["reason"]["kind"], "AUTO");
    assert_eq!(alarm["status"]["reason"]["statusCode"], 404);
    assert_eq!(
        alarm["status"]["reason"]["message"],
        "Trigger automatically disabled: Received a 404 status code when firing the trigger"
    );
    assert!(matches!(
        sb.tick_alarm("guest", "t"),
        Err(Error::Conflict(_))
    ));
    assert_eq!(sb.fires("guest", "t").len(), 1, "no retries after a 404");
}

#[test]
fn transient_fire_failures_are_retried() {
    let sb = sandbox();
    let api = Api::new(&sb, "guest");
    api.put("/namespaces/_/triggers/t", json!({}));
    feed(
        &api,
        &sb,
        CRON,
        "CREATE",
        "/_/t",
        json!({"cron": "0 0 1 1 *", "trigger_payload": {"n": 1}}),
    );
    sb.fail_next_fires("guest", "t", 503, 1);
    let fire = sb.tick_alarm("guest", "t").unwrap();
    assert_eq!(fire.status, 204, "retried after the 503; no rule, so 204");
    let statuses: Vec<u16> = sb.fires("guest", "t").iter().map(|f| f.status).collect();
    assert_eq!(statuses, [503, 204]);
    assert_eq!(alarm_of(&sb.alarms(), "/guest/t")["status"]["active"], true);
}

#[test]
fn once_alarms_fire_once_then_disable_or_delete_the_trigger() {
    let sb = sandbox();
    let api = Api::new(&sb, "guest");
    trigger_with_rule(&sb, &api, "keep");
    trigger_with_rule(&sb, &api, "gone");
    let date = now_ms() + 3_600_000;
    let r = feed(&api, &sb, ONCE, "CREATE", "/_/keep", json!({"date": date}));
    assert_eq!(r.status, 200, "{}", r.text);
    let r = feed(
        &api,
        &sb,
        ONCE,
        "CREATE",
        "/_/gone",
        json!({"date": date, "deleteAfterFire": "Rules"}),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    let read = feed(&api, &sb, ONCE, "READ", "/_/gone", json!({}));
    assert_eq!(read.body["config"]["date"], date);
    assert_eq!(read.body["config"]["deleteAfterFire"], "rules");

    assert_eq!(sb.tick_alarm("guest", "keep").unwrap().status, 202);
    let alarm = alarm_of(&sb.alarms(), "/guest/keep").clone();
    assert_eq!(alarm["status"]["active"], false);
    assert_eq!(
        alarm["status"]["reason"]["message"],
        "Automatically disabled after firing once"
    );

    assert_eq!(sb.tick_alarm("guest", "gone").unwrap().status, 202);
    assert_eq!(sb.trigger("guest", "gone"), None, "the trigger is deleted");
    assert_eq!(sb.rule("guest", "r-gone"), None, "and its rule");
    assert!(sb.rule("guest", "r-keep").is_some());
    assert_eq!(sb.alarms().len(), 1);
}

#[test]
fn max_triggers_ends_a_cron_alarm() {
    let sb = sandbox();
    let api = Api::new(&sb, "guest");
    api.put("/namespaces/_/triggers/t", json!({}));
    let r = feed(
        &api,
        &sb,
        CRON,
        "CREATE",
        "/_/t",
        json!({"cron": "0 0 1 1 *", "maxTriggers": 2}),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    sb.tick_alarm("guest", "t").unwrap();
    assert_eq!(alarm_of(&sb.alarms(), "/guest/t")["status"]["active"], true);
    sb.tick_alarm("guest", "t").unwrap();
    let alarm = alarm_of(&sb.alarms(), "/guest/t").clone();
    assert_eq!(
        alarm["status"]["reason"]["message"],
        "Automatically disabled after reaching max triggers"
    );
}

#[test]
fn timers_fire_cron_and_interval_alarms_until_the_stop_date() {
    let sb = sandbox();
    let api = Api::new(&sb, "guest");
    api.put("/namespaces/_/triggers/every-second", json!({}));
    api.put("/namespaces/_/triggers/starts-soon", json!({}));
    let stop = now_ms() + 2_500;
    let r = feed(
        &api,
        &sb,
        CRON,
        "CREATE",
        "/_/every-second",
        json!({"cron": "* * * * * *", "stopDate": stop, "trigger_payload": {"k": "v"}}),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    let r = feed(
        &api,
        &sb,
        INTERVAL,
        "CREATE",
        "/_/starts-soon",
        json!({"minutes": 1, "startDate": now_ms() + 500}),
    );
    assert_eq!(r.status, 200, "{}", r.text);

    let fires = sb.wait_for_fires("guest", "every-second", 2, PATIENCE);
    assert!(fires.len() >= 2, "{fires:?}");
    assert!(
        fires
            .iter()
            .all(|f| f.payload == json!({"k": "v"}) && f.status == 204)
    );
    assert_eq!(
        sb.wait_for_fires("guest", "starts-soon", 1, PATIENCE).len(),
        1
    );

    let alarms = wait_for_alarms(&sb, |a| {
        alarm_of(a, "/guest/every-second")["status"]["active"] == false
    });
    let ended = alarm_of(&alarms, "/guest/every-second");
    assert_eq!(
        ended["status"]["reason"]["message"],
        "Automatically disabled after firing last scheduled cron trigger",
        "{ended}"
    );
    let starts_soon = alarm_of(&alarms, "/guest/starts-soon");
    assert!(
        starts_soon["nextFire"].as_u64().unwrap() > now_ms() + 30_000,
        "next fire a minute later"
    );
}
