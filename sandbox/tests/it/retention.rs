//! Bounded memory: only the newest activation and fire records are kept ([`Retention`]).

use crate::support::{Api, PATIENCE, with_config};
use sandbox::{ActionContext, ActionOutput, Config, Retention};
use serde_json::{Value, json};

#[test]
fn only_the_newest_activations_and_fires_are_kept() {
    let sb = with_config(Config {
        retention: Retention {
            activations: 6,
            fires: 4,
        },
        ..Config::default()
    });
    let api = Api::new(&sb, "guest");
    let echo = |_: &ActionContext, params: Value| ActionOutput::result(params);
    sb.put_builtin_action("guest", "echo", echo, json!({}), json!({}))
        .unwrap();
    assert_eq!(api.put("/namespaces/_/triggers/t", json!({})).status, 200);
    let rule = json!({"trigger": "/_/t", "action": "/_/echo"});
    assert_eq!(api.put("/namespaces/_/rules/r", rule).status, 200);
    let mut trigger_activations = Vec::new();
    for n in 0..10 {
        let fire = sb.fire_trigger("guest", "t", json!({"n": n}));
        assert_eq!(fire.status, 202);
        let id = fire.activation_id.expect("a trigger activation");
        // One fire's action ends before the next fire: the records come in order.
        let ran = sb.wait_for_activations(
            "guest",
            |all| all.iter().any(|a| a.cause.as_deref() == Some(id.as_str())),
            PATIENCE,
        );
        assert!(ran.iter().any(|a| a.cause.as_deref() == Some(id.as_str())));
        trigger_activations.push(id);
    }
    let kept: Vec<Value> = sb
        .fires("guest", "t")
        .iter()
        .map(|f| f.payload["n"].clone())
        .collect();
    assert_eq!(
        kept,
        [json!(6), json!(7), json!(8), json!(9)],
        "the newest 4 fires"
    );
    let listed = api.get("/namespaces/_/activations?limit=0&docs=true");
    let listed = listed.body.as_array().expect("a list").clone();
    assert_eq!(listed.len(), 6, "the newest 6 activations: {listed:#?}");
    let results: Vec<&Value> = listed
        .iter()
        .filter(|a| a["name"] == "echo")
        .map(|a| &a["response"]["result"]["n"])
        .collect();
    assert_eq!(results, [&json!(9), &json!(8), &json!(7)]);
    let first = &trigger_activations[0];
    let last = &trigger_activations[9];
    assert_eq!(
        api.get(&format!("/namespaces/_/activations/{first}"))
            .status,
        404
    );
    assert_eq!(
        api.get(&format!("/namespaces/_/activations/{last}")).status,
        200
    );
    assert_eq!(sb.activations("guest").len(), 6);
    // Fires of other triggers push out a deleted trigger's records too.
    assert_eq!(api.delete("/namespaces/_/triggers/t").status, 200);
    for _ in 0..4 {
        assert_eq!(sb.fire_trigger("guest", "other", json!({})).status, 404);
    }
    assert!(sb.fires("guest", "t").is_empty());
    assert_eq!(sb.fires("guest", "other").len(), 4);
}
