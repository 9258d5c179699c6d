//! Basic auth, namespaces, routing errors.

use crate::support::{Api, OTHER_KEY, sandbox, two_namespaces};
use serde_json::json;

#[test]
fn rejects_missing_and_unknown_keys_with_401() {
    let sb = sandbox();
    let anonymous = Api::with_key(&sb, None);
    let r = anonymous.get("/namespaces/_/triggers");
    assert_eq!(r.status, 401);
    assert!(r.error().contains("requires authentication"), "{}", r.text);
    assert!(
        r.body["code"].is_string(),
        "error bodies carry the transaction id"
    );

    let stranger = Api::with_key(&sb, Some(OTHER_KEY));
    let r = stranger.get("/namespaces/guest/triggers");
    assert_eq!(r.status, 401);
    assert_eq!(r.error(), "The supplied authentication is invalid");
    assert!(!r.text.contains("otherOther"), "the key is not echoed");
    // Unknown routes under /namespaces also need a key first, as in the controller.
    assert_eq!(stranger.get("/namespaces/_/nothing").status, 401);
}

#[test]
fn forbids_other_namespaces_with_403() {
    let sb = two_namespaces();
    let guest = Api::new(&sb, "guest");
    assert_eq!(
        guest.put("/namespaces/other/triggers/t", json!({})).status,
        403
    );
    let r = guest.get("/namespaces/other/triggers");
    assert_eq!(r.status, 403);
    assert_eq!(
        r.error(),
        "The supplied authentication is not authorized to access this resource."
    );
    assert_eq!(guest.get("/namespaces/nowhere/activations").status, 403);
    // `_` and the own name are the same namespace.
    assert_eq!(guest.put("/namespaces/_/triggers/t", json!({})).status, 200);
    assert_eq!(guest.get("/namespaces/guest/triggers/t").status, 200);
    assert_eq!(
        Api::new(&sb, "other")
            .get("/namespaces/_/triggers/t")
            .status,
        404
    );
}

#[test]
fn lists_the_namespace_of_the_key() {
    let sb = two_namespaces();
    assert_eq!(
        Api::new(&sb, "guest").get("/namespaces").body,
        json!(["guest"])
    );
    assert_eq!(
        Api::new(&sb, "other").get("/namespaces").body,
        json!(["other"])
    );
    let limits = Api::new(&sb, "guest").get("/namespaces/_/limits");
    assert_eq!(limits.status, 200);
    assert_eq!(limits.body["firesPerMinute"], 60);
}

#[test]
fn answers_unknown_routes_404_and_wrong_methods_405() {
    let sb = sandbox();
    let api = Api::new(&sb, "guest");
    let r = api.get("/namespaces/_/widgets");
    assert_eq!(r.status, 404);
    assert!(r.body["error"].is_string());
    assert_eq!(api.get("/namespaces/_/actions/a/b/c").status, 404);
    let r = api.post("/namespaces/_/packages/p", json!({}));
    assert_eq!(r.status, 405);
    assert!(r.error().contains("GET, PUT, DELETE"), "{}", r.text);
    let outside = ureq::get(format!("{}/other", sb.url()))
        .config()
        .http_status_as_error(false)
        .build()
        .call()
        .expect("answers");
    assert_eq!(outside.status().as_u16(), 404);
}

#[test]
fn rejects_malformed_names_and_bodies_with_400() {
    let sb = sandbox();
    let api = Api::new(&sb, "guest");
    let r = api.put("/namespaces/_/triggers/bad%20name%20", json!({}));
    assert_eq!(r.status, 400);
    assert_eq!(
        r.error(),
        "The name of the entity contains illegal characters."
    );
    let r = api.put("/namespaces/_/triggers/t", json!([1, 2]));
    assert_eq!(r.status, 400);
    let r = api.put("/namespaces/_/triggers/t", json!({"parameters": {"a": 1}}));
    assert_eq!(r.status, 400);
    assert!(r.error().contains("'parameters'"), "{}", r.text);
    let r = api.put("/namespaces/_/triggers/t?overwrite=maybe", json!({}));
    assert_eq!(r.status, 400);
    assert!(r.error().contains("overwrite"), "{}", r.text);
}
