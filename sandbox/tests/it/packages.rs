//! Packages, bindings and sharing across namespaces.

use crate::support::{Api, echo_action, kv, sandbox, two_namespaces};
use serde_json::json;

#[test]
fn creates_lists_reads_and_deletes_packages() {
    let sb = sandbox();
    let api = Api::new(&sb, "guest");
    let r = api.put(
        "/namespaces/_/packages/pkg",
        json!({"parameters": [{"key": "p", "value": 1}]}),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["binding"], json!({}));
    assert_eq!(api.put("/namespaces/_/packages/pkg", json!({})).status, 409);
    sb.put_native_action("guest", "pkg/a", echo_action(), json!({}), json!({}))
        .unwrap();
    sb.put_native_action(
        "guest",
        "pkg/feed",
        echo_action(),
        json!({}),
        json!({"feed": true}),
    )
    .unwrap();
    let got = api.get("/namespaces/_/packages/pkg");
    assert_eq!(got.status, 200);
    assert_eq!(got.body["actions"].as_array().unwrap().len(), 1);
    assert_eq!(got.body["actions"][0]["name"], "a");
    assert_eq!(got.body["feeds"][0]["name"], "feed");
    assert_eq!(
        api.get("/namespaces/_/packages")
            .body
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        api.get("/namespaces/_/actions")
            .body
            .as_array()
            .unwrap()
            .len(),
        2,
        "the action list includes packaged actions"
    );

    let r = api.delete("/namespaces/_/packages/pkg");
    assert_eq!(r.status, 409);
    assert_eq!(r.error(), "Package not empty (contains 2 entities)");
    api.delete("/namespaces/_/actions/pkg/a");
    let r = api.delete("/namespaces/_/packages/pkg");
    assert_eq!(r.error(), "Package not empty (contains 1 entity)");
    api.delete("/namespaces/_/actions/pkg/feed");
    assert_eq!(api.delete("/namespaces/_/packages/pkg").status, 200);
    assert_eq!(api.get("/namespaces/_/packages/pkg").status, 404);
}

#[test]
fn rejects_reserved_names_and_bad_bindings() {
    let sb = sandbox();
    let api = Api::new(&sb, "guest");
    let r = api.put("/namespaces/_/packages/default", json!({}));
    assert_eq!(
        (r.status, r.error()),
        (400, "Package name 'default' is reserved.")
    );
    let r = api.put(
        "/namespaces/_/packages/b",
        json!({"binding": {"namespace": "_", "name": "nope"}}),
    );
    assert_eq!(
        (r.status, r.error()),
        (400, "Binding references a package that does not exist.")
    );
    api.put("/namespaces/_/packages/pkg", json!({}));
    assert_eq!(
        api.put(
            "/namespaces/_/packages/b1",
            json!({"binding": {"namespace": "guest", "name": "pkg"}})
        )
        .status,
        200
    );
    let r = api.put(
        "/namespaces/_/packages/b2",
        json!({"binding": {"namespace": "guest", "name": "b1"}}),
    );
    assert_eq!(
        (r.status, r.error()),
        (400, "Cannot bind to another package binding.")
    );
    let r = api.put(
        "/namespaces/_/packages/pkg?overwrite=true",
        json!({"binding": {"name": "b1"}}),
    );
    assert_eq!(r.status, 409);
    let r = api.put_native("/namespaces/_/actions/b1/a", &echo_action(), json!({}));
    assert_eq!(
        (r.status, r.error()),
        (400, "Operation not permitted on package binding.")
    );
}

#[test]
fn bindings_resolve_to_the_bound_package_with_merged_parameters() {
    let sb = sandbox();
    let api = Api::new(&sb, "guest");
    sb.put_package(
        "guest",
        "pkg",
        json!({"a": "package", "b": "package", "c": "package", "d": "package"}),
        json!({}),
        false,
    )
    .unwrap();
    sb.put_native_action(
        "guest",
        "pkg/echo",
        echo_action(),
        json!({"c": "action", "d": "action"}),
        json!({}),
    )
    .unwrap();
    let r = api.put(
        "/namespaces/_/packages/bound",
        json!({"binding": {"namespace": "_", "name": "pkg"}, "parameters": [{"key": "b", "value": "binding"}, {"key": "c", "value": "binding"}]}),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        r.body["binding"],
        json!({"namespace": "guest", "name": "pkg"})
    );
    assert_eq!(
        kv(&r.body["annotations"], "binding"),
        Some(&json!({"namespace": "guest", "name": "pkg"}))
    );

    let r = api.post(
        "/namespaces/_/actions/bound/echo?blocking=true",
        json!({"d": "invoke"}),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        r.body["response"]["result"],
        json!({"a": "package", "b": "binding", "c": "action", "d": "invoke"}),
        "package < binding < action < invoke"
    );
    assert_eq!(
        kv(&r.body["annotations"], "path"),
        Some(&json!("guest/pkg/echo"))
    );
    assert_eq!(
        kv(&r.body["annotations"], "binding"),
        Some(&json!("guest/bound"))
    );

    let action = api.get("/namespaces/_/actions/bound/echo");
    assert_eq!(action.status, 200);
    assert_eq!(action.body["namespace"], "guest/pkg");
    assert_eq!(kv(&action.body["parameters"], "b"), Some(&json!("binding")));

    let binding = api.get("/namespaces/_/packages/bound");
    assert_eq!(binding.body["name"], "bound");
    assert_eq!(binding.body["actions"][0]["name"], "echo");
    assert_eq!(
        kv(&binding.body["parameters"], "a"),
        Some(&json!("package"))
    );
    assert_eq!(
        kv(&binding.body["parameters"], "b"),
        Some(&json!("binding"))
    );
    assert_eq!(
        api.post("/namespaces/_/actions/bound/nope", json!({}))
            .status,
        404
    );
    assert_eq!(
        api.delete("/namespaces/_/packages/bound").status,
        200,
        "bindings are always deletable"
    );
}

#[test]
fn published_packages_of_other_namespaces_can_be_read_bound_and_invoked() {
    let sb = two_namespaces();
    let guest = Api::new(&sb, "guest");
    sb.put_package("other", "public", json!({"p": 1}), json!({}), true)
        .unwrap();
    sb.put_package("other", "private", json!({}), json!({}), false)
        .unwrap();
    sb.put_native_action("other", "public/echo", echo_action(), json!({}), json!({}))
        .unwrap();
    sb.put_native_action("other", "private/echo", echo_action(), json!({}), json!({}))
        .unwrap();
    sb.put_native_action("other", "loose", echo_action(), json!({}), json!({}))
        .unwrap();

    let listed = guest.get("/namespaces/other/packages");
    assert_eq!(listed.status, 200);
    let names: Vec<&str> = listed
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["public"]);
    assert_eq!(guest.get("/namespaces/other/packages/public").status, 200);
    assert_eq!(guest.get("/namespaces/other/packages/private").status, 403);
    assert_eq!(
        guest.get("/namespaces/other/actions/public/echo").status,
        200
    );
    assert_eq!(
        guest.get("/namespaces/other/actions/private/echo").status,
        403
    );
    assert_eq!(guest.get("/namespaces/other/actions/loose").status, 403);

    let r = guest.post(
        "/namespaces/other/actions/public/echo?blocking=true&result=true",
        json!({"q": 2}),
    );
    assert_eq!((r.status, r.body), (200, json!({"p": 1, "q": 2})));
    assert_eq!(
        guest
            .post("/namespaces/other/actions/private/echo", json!({}))
            .status,
        403
    );
    let r = guest.put_native(
        "/namespaces/other/actions/public/x",
        &echo_action(),
        json!({}),
    );
    assert_eq!(r.status, 403, "sharing is read and invoke only");

    let r = guest.put(
        "/namespaces/_/packages/mine",
        json!({"binding": {"namespace": "other", "name": "public"}}),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    let r = guest.post(
        "/namespaces/_/actions/mine/echo?blocking=true&result=true",
        json!({}),
    );
    assert_eq!((r.status, r.body), (200, json!({"p": 1})));
    let r = guest.put(
        "/namespaces/_/packages/nope",
        json!({"binding": {"namespace": "other", "name": "private"}}),
    );
    assert_eq!(r.status, 403);
}
