//! Triggers: CRUD, fire (204/202/404/429/faults), payload merging into rule-fired actions.

use crate::support::{Api, PATIENCE, echo_action, kv, sandbox, with_config};
use sandbox::{ActivationKind, Config};
use serde_json::{Value, json};

#[test]
fn creates_reads_updates_lists_and_deletes_triggers() {
    let sb = sandbox();
    let api = Api::new(&sb, "guest");
    let r = api.put(
        "/namespaces/_/triggers/t",
        json!({"parameters": [{"key": "p", "value": 1}], "annotations": [{"key": "feed", "value": "/whisk.system/alarms/interval"}]}),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["namespace"], "guest");
    assert_eq!(r.body["name"], "t");
    assert_eq!(r.body["version"], "0.0.1");
    assert_eq!(kv(&r.body["parameters"], "p"), Some(&json!(1)));

    let again = api.put("/namespaces/_/triggers/t", json!({}));
    assert_eq!(again.status, 409);
    assert_eq!(again.error(), "resource already exists");
    let again = api.put("/namespaces/_/triggers/t?overwrite=false", json!({}));
    assert_eq!(again.status, 409);

    let updated = api.put(
        "/namespaces/_/triggers/t?overwrite=true",
        json!({"parameters": [{"key": "p", "value": 2}]}),
    );
    assert_eq!(updated.status, 200);
    assert_eq!(updated.body["version"], "0.0.2");
    assert_eq!(kv(&updated.body["parameters"], "p"), Some(&json!(2)));
    assert_eq!(
        kv(&updated.body["annotations"], "feed"),
        Some(&json!("/whisk.system/alarms/interval")),
        "fields not sent are kept"
    );

    let got = api.get("/namespaces/_/triggers/t");
    assert_eq!(got.status, 200);
    assert_eq!(got.body, updated.body);
    assert_eq!(sb.trigger("guest", "t"), Some(got.body.clone()));

    api.put("/namespaces/_/triggers/u", json!({}));
    let list = api.get("/namespaces/_/triggers");
    let mut names: Vec<&str> = list
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["t", "u"]);
    assert_eq!(
        api.get("/namespaces/_/triggers?limit=1")
            .body
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        api.get("/namespaces/_/triggers?limit=1&skip=1")
            .body
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(api.get("/namespaces/_/triggers?limit=500").status, 400);

    let deleted = api.delete("/namespaces/_/triggers/t");
    assert_eq!(deleted.status, 200);
    assert_eq!(deleted.body["name"], "t");
    assert_eq!(api.get("/namespaces/_/triggers/t").status, 404);
    assert_eq!(api.delete("/namespaces/_/triggers/t").status, 404);
    assert_eq!(sb.trigger("guest", "t"), None);
}

#[test]
fn rejects_an_invalid_feed_annotation() {
    let sb = sandbox();
    let r = Api::new(&sb, "guest").put(
        "/namespaces/_/triggers/t",
        json!({"annotations": [{"key": "feed", "value": "/a/b/c/d"}]}),
    );
    assert_eq!(r.status, 400);
    assert_eq!(r.error(), "Feed name is not valid");
}

#[test]
fn names_are_shared_across_collections() {
    let sb = sandbox();
    let api = Api::new(&sb, "guest");
    sb.put_native_action("guest", "x", echo_action(), json!({}), json!({}))
        .unwrap();
    let r = api.put("/namespaces/_/triggers/x", json!({}));
    assert_eq!(r.status, 409);
    assert_eq!(
        r.error(),
        "Resource by this name exists but is not in this collection."
    );
    assert_eq!(api.get("/namespaces/_/triggers/x").status, 409);
}

#[test]
fn fire_without_active_rules_is_204_and_unknown_trigger_is_404() {
    let sb = sandbox();
    let api = Api::new(&sb, "guest");
    api.put("/namespaces/_/triggers/t", json!({}));
    let r = api.post("/namespaces/_/triggers/t", json!({"n": 1}));
    assert_eq!(r.status, 204);
    assert!(r.text.is_empty());
    let r = api.post("/namespaces/_/triggers/missing", json!({}));
    assert_eq!(r.status, 404);
    assert_eq!(r.error(), "The requested resource does not exist.");

    let fires = sb.fires("guest", "t");
    assert_eq!(fires.len(), 1);
    assert_eq!(
        (fires[0].status, &fires[0].payload),
        (204, &json!({"n": 1}))
    );
    assert_eq!(fires[0].activation_id, None);
    assert_eq!(sb.fires("guest", "missing")[0].status, 404);
    assert!(
        sb.activations("guest").is_empty(),
        "no trigger activation without rules"
    );
}

#[test]
fn fire_with_an_active_rule_is_202_and_runs_the_action_with_merged_parameters() {
    // Echo on: one line per fire, rule and activation goes to stderr (run with --nocapture).
    let sb = with_config(Config {
        echo_events: true,
        ..Config::default()
    });
    let api = Api::new(&sb, "guest");
    sb.put_native_action(
        "guest",
        "echo",
        echo_action(),
        json!({"fromAction": true}),
        json!({}),
    )
    .unwrap();
    api.put(
        "/namespaces/_/triggers/t",
        json!({"parameters": [{"key": "a", "value": "trigger"}, {"key": "b", "value": "trigger"}]}),
    );
    let rule = api.put(
        "/namespaces/_/rules/r",
        json!({"trigger": "/_/t", "action": "/_/echo"}),
    );
    assert_eq!(rule.status, 200, "{}", rule.text);

    let r = api.post(
        "/namespaces/_/triggers/t",
        json!({"b": "event", "c": [1, 2]}),
    );
    assert_eq!(r.status, 202, "{}", r.text);
    let trigger_activation = r.body["activationId"].as_str().unwrap().to_string();
    assert_eq!(
        r.activation_header.as_deref(),
        Some(trigger_activation.as_str())
    );

    let fires = sb.wait_for_fires("guest", "t", 1, PATIENCE);
    assert_eq!(fires[0].status, 202);
    assert_eq!(
        fires[0].payload,
        json!({"b": "event", "c": [1, 2]}),
        "the body as sent"
    );
    assert_eq!(
        fires[0].activation_id.as_deref(),
        Some(trigger_activation.as_str())
    );

    let activations = sb.wait_for_activations(
        "guest",
        |acts| {
            acts.iter()
                .any(|a| a.cause.as_deref() == Some(trigger_activation.as_str()))
        },
        PATIENCE,
    );
    let action = activations
        .iter()
        .find(|a| a.cause.as_deref() == Some(trigger_activation.as_str()))
        .expect("the rule ran the action");
    assert_eq!(action.kind, ActivationKind::Action);
    assert_eq!(action.path, "guest/echo");
    assert_eq!(
        action.result,
        json!({"a": "trigger", "b": "event", "c": [1, 2], "fromAction": true}),
        "trigger parameters < event payload, over the action's own parameters"
    );

    let trigger = activations
        .iter()
        .find(|a| a.activation_id == trigger_activation)
        .unwrap();
    assert_eq!(trigger.kind, ActivationKind::Trigger);
    assert_eq!(trigger.name, "t");
    assert_eq!(trigger.result, json!({"b": "event", "c": [1, 2]}));
    assert_eq!(trigger.end, 0);
    let line: Value = serde_json::from_str(&trigger.logs[0]).unwrap();
    assert_eq!(line["rule"], "guest/r");
    assert_eq!(line["action"], "guest/echo");
    assert_eq!(line["success"], true);
    assert_eq!(
        line["activationId"].as_str(),
        Some(action.activation_id.as_str())
    );
}

#[test]
fn fire_rejects_a_body_that_is_not_an_object() {
    let sb = sandbox();
    let api = Api::new(&sb, "guest");
    api.put("/namespaces/_/triggers/t", json!({}));
    let r = api.post_raw("/namespaces/_/triggers/t", b"[1]");
    assert_eq!(r.status, 400);
    let r = api.post_raw("/namespaces/_/triggers/t", b"not json");
    assert_eq!(r.status, 400);
    let fires = sb.fires("guest", "t");
    assert_eq!(fires.len(), 2);
    assert_eq!(fires[1].payload, json!("not json"));
    assert_eq!(fires[1].status, 400);
}

#[test]
fn fires_over_the_namespace_limit_get_429() {
    let sb = with_config(Config {
        fire_limit_per_minute: 3,
        ..Config::default()
    });
    let api = Api::new(&sb, "guest");
    api.put("/namespaces/_/triggers/a", json!({}));
    api.put("/namespaces/_/triggers/b", json!({}));
    for trigger in ["a", "b", "a"] {
        assert_eq!(
            api.post(&format!("/namespaces/_/triggers/{trigger}"), json!({}))
                .status,
            204
        );
    }
    let r = api.post("/namespaces/_/triggers/b", json!({}));
    assert_eq!(r.status, 429);
    assert_eq!(
        r.error(),
        "Too many requests in the last minute (count: 4, allowed: 3)."
    );
    assert_eq!(sb.fires("guest", "b").last().unwrap().status, 429);
}

#[test]
fn a_zero_limit_means_unlimited() {
    let sb = with_config(Config {
        fire_limit_per_minute: 0,
        ..Config::default()
    });
    let api = Api::new(&sb, "guest");
    api.put("/namespaces/_/triggers/t", json!({}));
    for _ in 0..80 {
        assert_eq!(api.post("/namespaces/_/triggers/t", json!({})).status, 204);
    }
}

#[test]
fn injected_faults_answer_the_next_fires_then_stop() {
    let sb = sandbox();
    let api = Api::new(&sb, "guest");
    api.put("/namespaces/_/triggers/t", json!({}));
    sb.fail_next_fires("guest", "t", 503, 2);
    sb.fail_next_fires("guest", "t", 429, 1);
    let statuses: Vec<u16> = (0..4)
        .map(|i| api.post("/namespaces/_/triggers/t", json!({"i": i})).status)
        .collect();
    assert_eq!(statuses, [503, 503, 429, 204]);
    let r = {
        sb.fail_next_fires("guest", "t", 408, 1);
        api.post("/namespaces/_/triggers/t", json!({}))
    };
    assert_eq!(r.status, 408);
    assert!(
        r.body["error"].is_string() && r.body["code"].is_string(),
        "{}",
        r.text
    );
    let recorded: Vec<(u16, Value)> = sb
        .fires("guest", "t")
        .into_iter()
        .map(|f| (f.status, f.payload))
        .collect();
    assert_eq!(recorded[0], (503, json!({"i": 0})));
    assert_eq!(recorded[3], (204, json!({"i": 3})));
}
