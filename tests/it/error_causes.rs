//! Errors that name the real cause: each case here was once reported as something else (a
//! missing parameter that was present, a key that was "not set", a URL that was not at fault).
//! The real binaries, run as the native runtime runs them.

use serde_json::{Value, json};

use crate::support::{ActionRun, run_action, workspace_bin};

fn poller(params: &Value, env: &[(&str, &str)]) -> ActionRun {
    let mut all = vec![("__OW_API_HOST", "http://127.0.0.1:9")];
    all.extend_from_slice(env);
    run_action(&workspace_bin("pollMyService"), params, &all)
}

fn assert_error(run: &ActionRun, expected: &str, case: &str) {
    assert_eq!(
        run.result.as_object().map(|o| o.len()),
        Some(1),
        "{case}: {}",
        run.result
    );
    assert!(
        run.error().contains(expected),
        "{case}: expected {expected:?} in {}",
        run.result
    );
}

#[test]
fn poll_config_of_the_wrong_type_is_not_called_missing() {
    let key = [("__OW_API_KEY", "uuid:key")];
    let cases = [
        (json!({}), "missing parameter `pollConfig`"),
        (
            json!({"pollConfig": "t-poll-alarm"}),
            "invalid parameter `pollConfig`: expected the poll feed's configuration object, found a string",
        ),
        (
            json!({"pollConfig": [1]}),
            "invalid parameter `pollConfig`: expected the poll feed's configuration object, found an array",
        ),
        (
            json!({"pollConfig": {"url": "http://x"}}),
            "invalid parameter `pollConfig`: it has no `pollTrigger`",
        ),
        (
            json!({"pollConfig": {"pollTrigger": 7}}),
            "invalid parameter `pollConfig.pollTrigger`: expected the helper trigger's name as a string, found a number",
        ),
    ];
    for (params, expected) in cases {
        let run = poller(&params, &key);
        assert_error(&run, expected, &params.to_string());
    }
}

#[test]
fn an_api_key_without_its_colon_is_not_called_unset() {
    let params = json!({"pollConfig": {"pollTrigger": "/guest/t-poll-alarm"}});
    let run = poller(&params, &[("__OW_API_KEY", "uuid-without-colon-s3cr3t")]);
    assert_error(
        &run,
        "__OW_API_KEY is set but is not an OpenWhisk key",
        "malformed",
    );
    assert!(!run.logs().contains("s3cr3t"), "{}", run.logs());
    let run = poller(&params, &[]);
    assert_error(&run, "__OW_API_KEY is not set", "unset");
}
