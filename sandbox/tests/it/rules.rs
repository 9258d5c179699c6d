//! Rules: validation, status, enable/disable, what firing does with them.

use crate::support::{Api, PATIENCE, echo_action, sandbox, two_namespaces};
use serde_json::{Value, json};

fn setup(sb: &sandbox::Sandbox) -> Api {
    let api = Api::new(sb, "guest");
    api.put("/namespaces/_/packages/pkg", json!({}));
    sb.put_native_action("guest", "pkg/echo", echo_action(), json!({}), json!({}))
        .expect("deploys");
    assert_eq!(api.put("/namespaces/_/triggers/t", json!({})).status, 200);
    api
}

#[test]
fn validates_trigger_and_action() {
    let sb = sandbox();
    let api = setup(&sb);
    let r = api.put("/namespaces/_/rules/r", json!({"trigger": "/_/t"}));
    assert_eq!(r.status, 400);
    assert_eq!(
        r.error(),
        "rule requires a valid trigger and a valid action"
    );
    let r = api.put(
        "/namespaces/_/rules/r",
        json!({"trigger": "/_/nope", "action": "/_/pkg/echo"}),
    );
    assert_eq!(r.status, 400);
    assert_eq!(r.error(), "trigger /guest/nope does not exist");
    let r = api.put(
        "/namespaces/_/rules/r",
        json!({"trigger": "t", "action": "pkg/nope"}),
    );
    assert_eq!(r.status, 400);
    assert_eq!(r.error(), "action /guest/pkg/nope does not exist");
    let r = api.put(
        "/namespaces/_/rules/r",
        json!({"trigger": "t", "action": "/a/b/c/d"}),
    );
    assert_eq!(r.status, 400);
    assert_eq!(api.get("/namespaces/_/rules/r").status, 404);
}

#[test]
fn a_new_rule_is_active_and_shows_qualified_names() {
    let sb = sandbox();
    let api = setup(&sb);
    let r = api.put(
        "/namespaces/_/rules/r",
        json!({"trigger": "t", "action": "/_/pkg/echo"}),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["status"], "active");
    let got = api.get("/namespaces/_/rules/r");
    assert_eq!(got.body["trigger"], json!({"path": "guest", "name": "t"}));
    assert_eq!(
        got.body["action"],
        json!({"path": "guest/pkg", "name": "echo"})
    );
    assert_eq!(got.body["status"], "active");
    assert_eq!(sb.rule("guest", "r"), Some(got.body.clone()));
    let trigger = api.get("/namespaces/_/triggers/t").body;
    assert_eq!(
        trigger["rules"]["guest/r"],
        json!({"action": {"path": "guest/pkg", "name": "echo"}, "status": "active"})
    );
    let again = api.put(
        "/namespaces/_/rules/r",
        json!({"trigger": "t", "action": "pkg/echo"}),
    );
    assert_eq!(again.status, 409);
    let list = api.get("/namespaces/_/rules");
    assert_eq!(list.body.as_array().unwrap().len(), 1);
}

#[test]
fn disabling_a_rule_stops_it_and_enabling_restarts_it() {
    let sb = sandbox();
    let api = setup(&sb);
    api.put(
        "/namespaces/_/rules/r",
        json!({"trigger": "t", "action": "pkg/echo"}),
    );
    let r = api.post("/namespaces/_/rules/r", json!({"status": "inactive"}));
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(api.get("/namespaces/_/rules/r").body["status"], "inactive");
    assert_eq!(api.post("/namespaces/_/triggers/t", json!({})).status, 204);
    // Setting the state it already has is fine.
    assert_eq!(
        api.post("/namespaces/_/rules/r", json!({"status": "inactive"}))
            .status,
        200
    );
    assert_eq!(
        api.post("/namespaces/_/rules/r", json!({"status": "paused"}))
            .status,
        400
    );
    assert_eq!(
        api.post("/namespaces/_/rules/r", json!({"status": "active"}))
            .status,
        200
    );
    assert_eq!(api.post("/namespaces/_/triggers/t", json!({})).status, 202);
    assert_eq!(
        api.post("/namespaces/_/rules/nope", json!({"status": "active"}))
            .status,
        404
    );
}

#[test]
fn inactive_rules_are_reported_in_the_trigger_activation() {
    let sb = sandbox();
    let api = setup(&sb);
    api.put(
        "/namespaces/_/rules/on",
        json!({"trigger": "t", "action": "pkg/echo"}),
    );
    api.put(
        "/namespaces/_/rules/off",
        json!({"trigger": "t", "action": "pkg/echo"}),
    );
    api.post("/namespaces/_/rules/off", json!({"status": "inactive"}));
    let id = api.post("/namespaces/_/triggers/t", json!({})).body["activationId"]
        .as_str()
        .unwrap()
        .to_string();
    let record = api.get(&format!("/namespaces/_/activations/{id}")).body;
    let lines: Vec<Value> = record["logs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| serde_json::from_str(l.as_str().unwrap()).unwrap())
        .collect();
    let off = lines.iter().find(|l| l["rule"] == "guest/off").unwrap();
    assert_eq!(off["success"], false);
    assert_eq!(
        off["error"],
        "Rule 'guest/off' is inactive, action 'guest/pkg/echo' was not activated."
    );
    assert_eq!(
        lines.iter().find(|l| l["rule"] == "guest/on").unwrap()["success"],
        true
    );
}

#[test]
fn a_rule_whose_trigger_is_gone_reads_inactive_and_cannot_be_enabled() {
    let sb = sandbox();
    let api = setup(&sb);
    api.put(
        "/namespaces/_/rules/r",
        json!({"trigger": "t", "action": "pkg/echo"}),
    );
    api.delete("/namespaces/_/triggers/t");
    assert_eq!(api.get("/namespaces/_/rules/r").body["status"], "inactive");
    let r = api.post("/namespaces/_/rules/r", json!({"status": "active"}));
    assert_eq!(r.status, 404);
    assert_eq!(
        r.error(),
        "Only rules with existing triggers can be activated"
    );
    // A recreated trigger does not bring the rule back by itself, as in OpenWhisk.
    api.put("/namespaces/_/triggers/t", json!({}));
    assert_eq!(api.post("/namespaces/_/triggers/t", json!({})).status, 204);
    assert_eq!(
        api.post("/namespaces/_/rules/r", json!({"status": "active"}))
            .status,
        200
    );
    assert_eq!(api.post("/namespaces/_/triggers/t", json!({})).status, 202);
}

#[test]
fn updating_a_rule_moves_it_and_keeps_its_status() {
    let sb = sandbox();
    let api = setup(&sb);
    api.put("/namespaces/_/triggers/t2", json!({}));
    api.put(
        "/namespaces/_/rules/r",
        json!({"trigger": "t", "action": "pkg/echo"}),
    );
    api.post("/namespaces/_/rules/r", json!({"status": "inactive"}));
    let r = api.put(
        "/namespaces/_/rules/r?overwrite=true",
        json!({"trigger": "t2", "action": "pkg/echo"}),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["status"], "inactive");
    assert_eq!(r.body["trigger"]["name"], "t2");
    assert!(
        api.get("/namespaces/_/triggers/t")
            .body
            .get("rules")
            .is_none()
    );
    assert_eq!(
        api.get("/namespaces/_/triggers/t2").body["rules"]["guest/r"]["status"],
        "inactive"
    );
}

#[test]
fn deleting_a_rule_detaches_it_from_its_trigger() {
    let sb = sandbox();
    let api = setup(&sb);
    api.put(
        "/namespaces/_/rules/r",
        json!({"trigger": "t", "action": "pkg/echo"}),
    );
    let r = api.delete("/namespaces/_/rules/r");
    assert_eq!(r.status, 200);
    assert_eq!(r.body["status"], "inactive");
    assert_eq!(api.get("/namespaces/_/rules/r").status, 404);
    assert_eq!(api.post("/namespaces/_/triggers/t", json!({})).status, 204);
    assert_eq!(api.delete("/namespaces/_/rules/r").status, 404);
}

#[test]
fn a_deleted_action_shows_up_as_a_failed_rule_result() {
    let sb = sandbox();
    let api = setup(&sb);
    api.put(
        "/namespaces/_/rules/r",
        json!({"trigger": "t", "action": "pkg/echo"}),
    );
    api.delete("/namespaces/_/actions/pkg/echo");
    let id = api.post("/namespaces/_/triggers/t", json!({})).body["activationId"]
        .as_str()
        .unwrap()
        .to_string();
    let logs = api
        .get(&format!("/namespaces/_/activations/{id}/logs"))
        .body;
    let line: Value = serde_json::from_str(logs["logs"][0].as_str().unwrap()).unwrap();
    assert_eq!(line["success"], false);
    assert_eq!(line["error"], "The requested resource does not exist.");
}

#[test]
fn rules_may_use_published_actions_of_other_namespaces_only() {
    let sb = two_namespaces();
    let guest = Api::new(&sb, "guest");
    let other = Api::new(&sb, "other");
    sb.put_package(
        "other",
        "shared",
        json!({"fromPackage": 1}),
        json!({}),
        true,
    )
    .unwrap();
    sb.put_package("other", "private", json!({}), json!({}), false)
        .unwrap();
    for pkg in ["shared", "private"] {
        sb.put_native_action(
            "other",
            &format!("{pkg}/echo"),
            echo_action(),
            json!({}),
            json!({}),
        )
        .unwrap();
    }
    guest.put("/namespaces/_/triggers/t", json!({}));
    let r = guest.put(
        "/namespaces/_/rules/bad",
        json!({"trigger": "t", "action": "/other/private/echo"}),
    );
    assert_eq!(r.status, 403);
    let r = guest.put(
        "/namespaces/_/rules/bad",
        json!({"trigger": "/other/t", "action": "/other/shared/echo"}),
    );
    assert_eq!(r.status, 403, "triggers are never shared");
    let r = guest.put(
        "/namespaces/_/rules/ok",
        json!({"trigger": "t", "action": "/other/shared/echo"}),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    guest.post("/namespaces/_/triggers/t", json!({"x": 1}));
    let acts = sb.wait_for_activations(
        "guest",
        |a| a.iter().any(|a| a.path == "other/shared/echo"),
        PATIENCE,
    );
    let run = acts.iter().find(|a| a.path == "other/shared/echo").unwrap();
    assert_eq!(
        run.namespace, "guest",
        "the activation belongs to the invoker"
    );
    assert_eq!(run.result, json!({"fromPackage": 1, "x": 1}));
    assert!(
        other
            .get("/namespaces/_/activations")
            .body
            .as_array()
            .unwrap()
            .is_empty()
    );
}
