//! Errors that name the real cause: each case here was once reported as something else (a
//! missing parameter that was present, a key that was "not set", a URL that was not at fault).
//! The real binaries, run as the native runtime runs them.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use fakes::{Body, Reply, ScriptedServer};
use sandbox::GUEST_AUTH_KEY;
use serde_json::{Value, json};

use crate::hook_feed::World;
use crate::redirects::sandbox_with_trigger;
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
fn poll_trigger_of_the_wrong_type_is_not_called_missing() {
    let key = [("__OW_API_KEY", "uuid:key")];
    let cases = [
        (
            json!({}),
            "missing parameter `pollTrigger`: expected the helper trigger's name",
        ),
        (
            json!({"pollTrigger": ["t-poll-alarm"]}),
            "invalid parameter `pollTrigger`: expected a string, found an array",
        ),
        (
            json!({"pollTrigger": {"name": "t"}}),
            "invalid parameter `pollTrigger`: expected a string, found an object",
        ),
        (
            json!({"pollTrigger": "/a/b/c/d"}),
            "invalid parameter `pollTrigger`: \"/a/b/c/d\" is not an OpenWhisk name",
        ),
        (
            json!({"pollTrigger": "/guest/t-poll-alarm", "pollConfig": {}}),
            "invalid parameter `pollConfig`: pollMyService has no such parameter; it takes pollTrigger, pollState",
        ),
    ];
    for (params, expected) in cases {
        let run = poller(&params, &key);
        assert_error(&run, expected, &params.to_string());
    }
}

#[test]
fn an_api_key_without_its_colon_is_not_called_unset() {
    let params = json!({"pollTrigger": "/guest/t-poll-alarm"});
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

#[test]
fn a_key_far_too_long_is_named_as_the_key() {
    let huge = format!("uuid:{}", "k".repeat(100 * 1024));
    let params = json!({"lifecycleEvent": "READ", "triggerName": "/_/t", "authKey": huge});
    for binary in ["hook-feed", "poll-feed", "changes-feed", "alarm-feed"] {
        let run = run_action(
            &workspace_bin(binary),
            &params,
            &[("__OW_API_HOST", "http://127.0.0.1:9")],
        );
        assert_error(&run, "invalid parameter `authKey`", binary);
        assert_error(&run, "over 4096 characters", binary);
        assert!(!run.logs().contains("kkkkkkkk"), "{binary}: {}", run.logs());
    }
}

#[test]
fn a_token_far_too_long_is_named_as_the_token() {
    let world = World::start();
    world.create_trigger("t");
    let mut params = world.create_params(json!("push"));
    params["accessToken"] = json!("t".repeat(100 * 1024));
    let run = world.feed("CREATE", "t", params);
    assert_error(&run, "invalid parameter `accessToken`", "CREATE");
    assert_error(&run, "102400 characters long", "CREATE");
    assert!(!run.error().contains("baseUrl"), "{}", run.result);
}

#[test]
fn garbage_from_the_api_host_is_not_a_reason_to_delete_the_feed() {
    let api_host = ScriptedServer::always(Reply::new(
        200,
        "text/html",
        "<html><body>Please log in</body></html>",
    ))
    .expect("API host");
    let params = json!({"pollTrigger": "/guest/t-poll-alarm"});
    let run = run_action(
        &workspace_bin("pollMyService"),
        &params,
        &[
            ("__OW_API_HOST", api_host.url().as_str()),
            ("__OW_API_KEY", GUEST_AUTH_KEY),
        ],
    );
    assert_error(&run, "a body that is not JSON (text/html", "garbage");
    assert_error(&run, "check the API host", "garbage");
    assert!(!run.error().contains("delete the feed"), "{}", run.result);
}

/// A source that keeps sending past the activation's deadline: the deadline cut it short, not
/// `timeoutSeconds` (30 s here) and not the URL.
#[test]
fn a_source_dripping_past_the_deadline_blames_the_time_limit() {
    let sandbox = sandbox_with_trigger("t");
    let source = ScriptedServer::always(Reply::json(200, &json!([])).with_body(Body::Drip {
        bytes: vec![b' '; 200],
        every: Duration::from_millis(250),
    }))
    .expect("source");
    let deadline = SystemTime::now() + Duration::from_secs(6);
    let deadline = deadline
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_millis()
        .to_string();
    let params = json!({
        "lifecycleEvent": "CREATE", "triggerName": "/_/t", "authKey": GUEST_AUTH_KEY,
        "url": source.url(), "cron": "0 0 1 1 *", "timeoutSeconds": 30,
    });
    let run = run_action(
        &workspace_bin("poll-feed"),
        &params,
        &[
            ("__OW_API_HOST", sandbox.url().as_str()),
            ("__OW_NAMESPACE", "guest"),
            ("__OW_ACTION_NAME", "/guest/kit/poll-feed"),
            ("__OW_DEADLINE", deadline.as_str()),
        ],
    );
    assert_error(
        &run,
        "the activation's time limit ran out while the source was still answering",
        "drip",
    );
    assert_error(&run, "--timeout", "drip");
    let error = run.error();
    assert!(
        !error.contains("`timeoutSeconds`") && !error.contains("`url`"),
        "{error}"
    );
}

/// A source that redirects to another origin, which then wants credentials: they were not sent
/// there (see `redirects.rs`), and the error says so instead of calling them wrong.
#[test]
fn a_401_after_a_redirect_elsewhere_says_the_credentials_stayed_home() {
    let sandbox = sandbox_with_trigger("t");
    let elsewhere = ScriptedServer::always(Reply::json(401, &json!({"message": "Unauthorized"})))
        .expect("source");
    let source = crate::redirects::redirector(302, &elsewhere.url());
    let params = json!({
        "lifecycleEvent": "CREATE", "triggerName": "/_/t", "authKey": GUEST_AUTH_KEY,
        "url": format!("{}/items", source.url()), "cron": "0 0 1 1 *",
        "headers": {"X-Api-Key": "k-4f2a-e2e"},
    });
    let deadline = crate::redirects::deadline_env();
    let run = run_action(
        &workspace_bin("poll-feed"),
        &params,
        &[
            ("__OW_API_HOST", sandbox.url().as_str()),
            ("__OW_NAMESPACE", "guest"),
            ("__OW_ACTION_NAME", "/guest/kit/poll-feed"),
            ("__OW_DEADLINE", deadline.as_str()),
        ],
    );
    assert_error(&run, "invalid parameter `url`", "redirected 401");
    assert_error(
        &run,
        &format!("HTTP 401 from {}, where a redirect led", elsewhere.url()),
        "redirected 401",
    );
    assert!(elsewhere.requests()[0].header("X-Api-Key").is_none());
    assert!(!run.logs().contains("k-4f2a-e2e"), "{}", run.logs());
}
