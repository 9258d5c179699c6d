//! OpenWhisk's exact answers where real clients (the official JS client, `wsk`, aio) notice the
//! difference, each as the controller's source gives it.

use crate::support::{Api, OTHER_KEY, echo_action, sandbox, two_namespaces};
use serde_json::{Value, json};

fn names(list: &Value) -> Vec<String> {
    list.as_array()
        .expect("a list")
        .iter()
        .map(|e| e["name"].as_str().unwrap_or_default().to_string())
        .collect()
}

/// `WhiskPackage.summaryAsJson`: `binding` is `false` for a package, the bound package for a
/// binding (`ow.packages.list()` and `aio runtime package list` tell them apart by it).
#[test]
fn a_package_list_says_binding_false_for_a_package() {
    let sb = sandbox();
    let api = Api::new(&sb, "guest");
    assert_eq!(api.put("/namespaces/_/packages/pkg", json!({})).status, 200);
    let binding = json!({"binding": {"namespace": "_", "name": "pkg"}});
    assert_eq!(api.put("/namespaces/_/packages/bnd", binding).status, 200);
    let list = api.get("/namespaces/_/packages");
    assert_eq!(list.status, 200);
    let by_name = |name: &str| {
        list.body
            .as_array()
            .and_then(|l| l.iter().find(|p| p["name"] == name))
            .cloned()
            .unwrap_or(Value::Null)
    };
    assert_eq!(by_name("pkg")["binding"], json!(false), "{}", list.text);
    assert_eq!(
        by_name("bnd")["binding"],
        json!({"namespace": "guest", "name": "pkg"})
    );
    // The package itself (not the list) keeps `{}`, as `WhiskPackage`'s own JSON.
    assert_eq!(
        api.get("/namespaces/_/packages/pkg").body["binding"],
        json!({})
    );
}

/// `Actions.listPackageActions`: `GET .../actions/{package}/` lists the package's actions (those
/// of the bound package for a binding), as `wsk action list PACKAGE` asks.
#[test]
fn a_packages_actions_are_listed_at_the_package_path() {
    let sb = two_namespaces();
    let api = Api::new(&sb, "guest");
    let other = Api::new(&sb, "other");
    sb.put_package("guest", "pkg", json!({}), json!({}), false)
        .unwrap();
    sb.put_package("guest", "public", json!({}), json!({}), true)
        .unwrap();
    for name in ["pkg/a", "pkg/b", "public/shared", "solo"] {
        sb.put_native_action("guest", name, echo_action(), json!({}), json!({}))
            .unwrap();
    }
    let binding = json!({"binding": {"namespace": "_", "name": "pkg"}});
    assert_eq!(api.put("/namespaces/_/packages/bnd", binding).status, 200);

    let listed = api.get("/namespaces/_/actions/pkg/");
    assert_eq!(listed.status, 200, "{}", listed.text);
    let mut found = names(&listed.body);
    found.sort();
    assert_eq!(found, ["a", "b"]);
    assert_eq!(listed.body[0]["namespace"], "guest/pkg");
    assert!(
        listed.body[0].get("exec").is_some(),
        "the list view of actions"
    );
    let through_binding = api.get("/namespaces/guest/actions/bnd/");
    assert_eq!(through_binding.status, 200);
    assert_eq!(through_binding.body[0]["namespace"], "guest/pkg");
    assert_eq!(names(&through_binding.body).len(), 2);
    let paged = api.get("/namespaces/_/actions/pkg/?limit=1&skip=1");
    assert_eq!(names(&paged.body).len(), 1);
    // Another namespace reads a published package only; a missing one is 404 for its owner.
    assert_eq!(
        names(&other.get("/namespaces/guest/actions/public/").body),
        ["shared"]
    );
    assert_eq!(other.get("/namespaces/guest/actions/pkg/").status, 403);
    assert_eq!(api.get("/namespaces/_/actions/missing/").status, 404);
    assert_eq!(
        Api::with_key(&sb, Some(OTHER_KEY.replace("other", "x").as_str()))
            .get("/namespaces/_/actions/pkg/")
            .status,
        401
    );
    // The action itself is still `.../actions/{package}/{action}`.
    assert_eq!(api.get("/namespaces/_/actions/pkg/a").body["name"], "a");
}

/// `Rules.changeState` completes with the status alone: akka-http's `200 OK` with `OK`.
#[test]
fn enabling_and_disabling_a_rule_answers_200_ok() {
    let sb = sandbox();
    let api = Api::new(&sb, "guest");
    sb.put_native_action("guest", "echo", echo_action(), json!({}), json!({}))
        .unwrap();
    assert_eq!(api.put("/namespaces/_/triggers/t", json!({})).status, 200);
    let rule = json!({"trigger": "t", "action": "echo"});
    assert_eq!(api.put("/namespaces/_/rules/r", rule).status, 200);
    for status in ["inactive", "active", "active"] {
        let r = api.post("/namespaces/_/rules/r", json!({"status": status}));
        assert_eq!((r.status, r.text.as_str()), (200, "OK"));
        assert_eq!(api.get("/namespaces/_/rules/r").body["status"], status);
    }
}

/// `Exec.serdes`: a `blackbox` exec must name its image.
#[test]
fn a_blackbox_action_without_an_image_is_refused_400() {
    let sb = sandbox();
    let api = Api::new(&sb, "guest");
    for exec in [
        json!({"kind": "blackbox", "code": "#!/bin/sh\necho '{}'\n"}),
        json!({"kind": "blackbox", "image": 7, "code": "#!/bin/sh\necho '{}'\n"}),
    ] {
        let r = api.put("/namespaces/_/actions/a", json!({"exec": exec}));
        assert_eq!(r.status, 400, "{}", r.text);
        assert_eq!(
            r.error(),
            "The request content was malformed:\n'image' must be a string defined in 'exec' for 'blackbox' actions"
        );
    }
    assert_eq!(api.get("/namespaces/_/actions/a").status, 404);
}

/// A blocking invoke answers the activation with `logs: []` (the controller does not wait for
/// them); the record holds the logs.
#[test]
fn a_blocking_invoke_answers_empty_logs_and_the_record_has_them() {
    let sb = sandbox();
    let api = Api::new(&sb, "guest");
    sb.put_native_action(
        "guest",
        "chatty",
        crate::support::script("echo hello\necho '{\"ok\":true}'"),
        json!({}),
        json!({}),
    )
    .unwrap();
    let r = api.post("/namespaces/_/actions/chatty?blocking=true", json!({}));
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["logs"], json!([]));
    assert_eq!(r.body["response"]["result"], json!({"ok": true}));
    let id = r.body["activationId"].as_str().expect("an id");
    let record = api.get(&format!("/namespaces/_/activations/{id}"));
    let logs = record.body["logs"].as_array().expect("logs").clone();
    assert_eq!(logs.len(), 1, "{}", record.text);
    assert!(
        logs[0]
            .as_str()
            .unwrap_or_default()
            .ends_with("stdout: hello")
    );
    let logs = api.get(&format!("/namespaces/_/activations/{id}/logs"));
    assert_eq!(logs.body["logs"], json!(record.body["logs"]));
}

/// `WhiskPackageAction`: a package's actions are listed with name, version and annotations;
/// their parameters (changes-feed's `providerSecret`, say) are never shown to its readers.
#[test]
fn a_package_shows_its_actions_without_their_parameters() {
    let sb = two_namespaces();
    sb.put_package("guest", "kit", json!({}), json!({}), true)
        .unwrap();
    sb.put_native_action(
        "guest",
        "kit/feed",
        echo_action(),
        json!({"providerSecret": "s3cr3t"}),
        json!({"feed": true}),
    )
    .unwrap();
    sb.put_native_action(
        "guest",
        "kit/plain",
        echo_action(),
        json!({"token": "t0k3n"}),
        json!({}),
    )
    .unwrap();
    for api in [Api::new(&sb, "guest"), Api::new(&sb, "other")] {
        let r = api.get("/namespaces/guest/packages/kit");
        assert_eq!(r.status, 200, "{}", r.text);
        for (list, name) in [("feeds", "feed"), ("actions", "plain")] {
            let item = &r.body[list][0];
            assert_eq!(item["name"], name, "{}", r.text);
            assert_eq!(item["version"], "0.0.1");
            let mut fields: Vec<&String> = item.as_object().expect("an object").keys().collect();
            fields.sort();
            assert_eq!(fields, ["annotations", "name", "version"]);
        }
        assert!(
            !r.text.contains("s3cr3t") && !r.text.contains("t0k3n"),
            "{}",
            r.text
        );
    }
}
