//! Activation records over HTTP: list and its filters, one record, logs, result.

use crate::support::{Api, PATIENCE, echo_action, sandbox, script, two_namespaces};
use serde_json::json;

#[test]
fn lists_newest_first_with_name_filter_paging_and_docs() {
    let sb = sandbox();
    let api = Api::new(&sb, "guest");
    api.put("/namespaces/_/packages/pkg", json!({}));
    sb.put_native_action("guest", "pkg/a", echo_action(), json!({}), json!({}))
        .unwrap();
    sb.put_native_action("guest", "b", echo_action(), json!({}), json!({}))
        .unwrap();
    let mut ids = Vec::new();
    for (path, n) in [("pkg/a", 1), ("b", 2), ("pkg/a", 3)] {
        let r = api.post(
            &format!("/namespaces/_/actions/{path}?blocking=true"),
            json!({"n": n}),
        );
        assert_eq!(r.status, 200, "{}", r.text);
        ids.push(r.body["activationId"].as_str().unwrap().to_string());
        // Distinct start times keep the order unambiguous.
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    let all = api.get("/namespaces/_/activations").body;
    let listed: Vec<&str> = all
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["activationId"].as_str().unwrap())
        .collect();
    assert_eq!(listed, [ids[2].as_str(), ids[1].as_str(), ids[0].as_str()]);
    assert!(
        all[0].get("response").is_none() && all[0].get("logs").is_none(),
        "briefs only"
    );
    assert_eq!(all[0]["statusCode"], 0);

    let filtered = api.get("/namespaces/_/activations?name=pkg/a").body;
    assert_eq!(filtered.as_array().unwrap().len(), 2);
    assert_eq!(
        api.get("/namespaces/_/activations?name=b")
            .body
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        api.get("/namespaces/_/activations?name=a")
            .body
            .as_array()
            .unwrap()
            .len(),
        0
    );
    assert_eq!(api.get("/namespaces/_/activations?name=a/b/c").status, 400);

    let page = api.get("/namespaces/_/activations?limit=1&skip=1").body;
    assert_eq!(page.as_array().unwrap().len(), 1);
    assert_eq!(page[0]["activationId"], ids[1].as_str());
    let docs = api.get("/namespaces/_/activations?docs=true&limit=1").body;
    assert_eq!(docs[0]["response"]["result"], json!({"n": 3}));
}

#[test]
fn reads_one_record_its_logs_and_its_result() {
    let sb = sandbox();
    let api = Api::new(&sb, "guest");
    sb.put_native_action(
        "guest",
        "a",
        script("echo hello\necho '{\"x\":1}'"),
        json!({}),
        json!({}),
    )
    .unwrap();
    let id = api.post("/namespaces/_/actions/a", json!({})).body["activationId"]
        .as_str()
        .unwrap()
        .to_string();
    let record = api.await_activation(&id);
    assert_eq!(record["activationId"], id.as_str());
    assert_eq!(record["subject"], "guest");
    let logs = api.get(&format!("/namespaces/_/activations/{id}/logs"));
    assert_eq!(logs.status, 200);
    assert!(
        logs.body["logs"][0]
            .as_str()
            .unwrap()
            .ends_with("stdout: hello")
    );
    let result = api.get(&format!("/namespaces/_/activations/{id}/result"));
    assert_eq!(result.body["result"], json!({"x": 1}));
    assert_eq!(result.body["status"], "success");
    assert_eq!(result.body["success"], true);
    assert_eq!(result.body["size"], 7);

    let unknown = "0123456789abcdef0123456789abcdef";
    assert_eq!(
        api.get(&format!("/namespaces/_/activations/{unknown}"))
            .status,
        404
    );
    assert_eq!(
        api.get(&format!("/namespaces/_/activations/{unknown}/logs"))
            .status,
        404
    );
    let r = api.get("/namespaces/_/activations/not-an-id");
    assert_eq!(
        (r.status, r.error()),
        (400, "The activation id is not valid.")
    );
}

#[test]
fn records_belong_to_the_invoking_namespace() {
    let sb = two_namespaces();
    let guest = Api::new(&sb, "guest");
    let other = Api::new(&sb, "other");
    sb.put_native_action("guest", "a", echo_action(), json!({}), json!({}))
        .unwrap();
    let id = guest
        .post("/namespaces/_/actions/a?blocking=true", json!({}))
        .body["activationId"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        other.get(&format!("/namespaces/_/activations/{id}")).status,
        404
    );
    assert_eq!(
        other
            .get(&format!("/namespaces/guest/activations/{id}"))
            .status,
        403
    );
    assert_eq!(
        sb.wait_for_activations("guest", |a| !a.is_empty(), PATIENCE)
            .len(),
        1
    );
    assert!(sb.activations("other").is_empty());
}
