//! The library API: deploying, observing, built-in actions, in-process fires, shutdown.

use crate::support::{Api, PATIENCE, echo_action, sandbox, script};
use sandbox::{ActionContext, ActionOutput, EntityKind, Error, Sandbox};
use serde_json::{Value, json};
use std::path::PathBuf;
use std::time::{Duration, Instant};

#[test]
fn deploys_and_lists_entities() {
    let sb = sandbox();
    sb.put_package("guest", "pkg", json!({"p": 1}), json!({"a": "b"}), true)
        .unwrap();
    sb.put_native_action("guest", "pkg/one", echo_action(), json!({}), json!({}))
        .unwrap();
    sb.put_native_action("guest", "two", echo_action(), json!({}), json!({}))
        .unwrap();
    assert_eq!(
        sb.entity_names("guest", EntityKind::Action),
        ["pkg/one", "two"]
    );
    assert_eq!(sb.entity_names("guest", EntityKind::Package), ["pkg"]);
    assert!(sb.entity_names("guest", EntityKind::Trigger).is_empty());
    assert!(sb.entity_names("nowhere", EntityKind::Rule).is_empty());
    let package = Api::new(&sb, "guest")
        .get("/namespaces/_/packages/pkg")
        .body;
    assert_eq!(package["publish"], true);

    let err = sb
        .put_native_action("guest", "missing/a", echo_action(), json!({}), json!({}))
        .unwrap_err();
    assert_eq!(err.status(), 404);
    let err = sb
        .put_native_action("guest", "bad name!", echo_action(), json!({}), json!({}))
        .unwrap_err();
    assert_eq!(
        err,
        Error::BadRequest("The name of the entity contains illegal characters.".into())
    );
    let err = sb
        .put_package("guest", "p", json!([1]), json!({}), false)
        .unwrap_err();
    assert_eq!(err.status(), 400);
}

#[test]
fn observes_rules_and_triggers_through_the_library() {
    let sb = sandbox();
    let api = Api::new(&sb, "guest");
    sb.put_native_action("guest", "echo", echo_action(), json!({}), json!({}))
        .unwrap();
    api.put("/namespaces/_/triggers/t", json!({}));
    api.put(
        "/namespaces/_/rules/r",
        json!({"trigger": "t", "action": "echo"}),
    );
    assert_eq!(sb.entity_names("guest", EntityKind::Rule), ["r"]);
    assert_eq!(sb.rule("guest", "r").unwrap()["status"], "active");
    assert_eq!(sb.rule("guest", "nope"), None);
    assert!(sb.trigger("guest", "t").unwrap()["rules"]["guest/r"].is_object());
}

#[test]
fn fires_in_process_like_an_http_fire() {
    let sb = sandbox();
    let api = Api::new(&sb, "guest");
    sb.put_native_action("guest", "echo", echo_action(), json!({}), json!({}))
        .unwrap();
    api.put(
        "/namespaces/_/triggers/t",
        json!({"parameters": [{"key": "fromTrigger", "value": true}]}),
    );
    api.put(
        "/namespaces/_/rules/r",
        json!({"trigger": "t", "action": "echo"}),
    );
    let fire = sb.fire_trigger("guest", "t", json!({"tick": 1}));
    assert_eq!(fire.status, 202);
    let id = fire.activation_id.clone().unwrap();
    let acts = sb.wait_for_activations(
        "guest",
        |a| a.iter().any(|a| a.cause.as_deref() == Some(id.as_str())),
        PATIENCE,
    );
    let run = acts
        .iter()
        .find(|a| a.cause.as_deref() == Some(id.as_str()))
        .unwrap();
    assert_eq!(run.result, json!({"fromTrigger": true, "tick": 1}));
    assert_eq!(sb.fires("guest", "t"), vec![fire]);
    assert_eq!(sb.fire_trigger("guest", "gone", json!({})).status, 404);

    let handle = sb.handle();
    assert_eq!(
        handle.fire_trigger("guest", "t", json!({})).unwrap().status,
        202
    );
    assert_eq!(handle.url().unwrap(), sb.url());
    drop(sb);
    assert!(!handle.is_running());
    assert_eq!(
        handle.fire_trigger("guest", "t", json!({})).unwrap_err(),
        Error::ShutDown
    );
}

#[test]
fn wait_for_fires_returns_what_there_is_at_the_timeout() {
    let sb = sandbox();
    let fires = sb.wait_for_fires("guest", "never", 1, Duration::from_millis(50));
    assert!(fires.is_empty());
    let acts = sb.wait_for_activations("guest", |a| !a.is_empty(), Duration::from_millis(50));
    assert!(acts.is_empty());
}

#[test]
fn builtin_actions_run_like_native_ones_and_may_call_the_sandbox() {
    let sb = sandbox();
    let api = Api::new(&sb, "guest");
    api.put("/namespaces/_/triggers/t", json!({}));
    sb.put_package("guest", "sys", json!({"fromPackage": 1}), json!({}), false)
        .unwrap();
    let callback = |ctx: &ActionContext, params: Value| -> ActionOutput {
        // Calls back over HTTP with its own key while a blocking invoke waits on it.
        use base64::Engine;
        let key = ctx.api_key.clone().unwrap_or_default();
        let auth = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(key)
        );
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into();
        let status = agent
            .post(format!("{}/api/v1/namespaces/_/triggers/t", ctx.api_host))
            .header("Authorization", auth)
            .send_json(json!({"from": ctx.action_name}))
            .map(|r| r.status().as_u16())
            .unwrap_or(0);
        ActionOutput {
            result: json!({"status": status, "params": params, "ns": ctx.namespace}),
            logs: vec!["called back".into()],
        }
    };
    sb.put_builtin_action(
        "guest",
        "sys/call",
        callback,
        json!({"own": 2}),
        json!({"provide-api-key": true}),
    )
    .unwrap();
    let r = api.post(
        "/namespaces/_/actions/sys/call?blocking=true",
        json!({"x": 3}),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    let result = &r.body["response"]["result"];
    assert_eq!(result["status"], 204);
    assert_eq!(
        result["params"],
        json!({"fromPackage": 1, "own": 2, "x": 3})
    );
    assert_eq!(result["ns"], "guest");
    assert!(
        api.logs_of(&r)[0]
            .as_str()
            .unwrap()
            .ends_with("stdout: called back")
    );
    assert_eq!(
        sb.fires("guest", "t")[0].payload,
        json!({"from": "/guest/sys/call"})
    );
    assert_eq!(
        api.get("/namespaces/_/actions/sys/call").body["exec"]["kind"],
        "blackbox"
    );
}

#[test]
fn builtin_errors_timeouts_and_panics_become_activation_statuses() {
    let sb = sandbox();
    let api = Api::new(&sb, "guest");
    sb.put_builtin_action(
        "guest",
        "err",
        |_: &ActionContext, _: Value| ActionOutput::result(json!({"error": "nope"})),
        json!({}),
        json!({}),
    )
    .unwrap();
    sb.put_builtin_action(
        "guest",
        "text",
        |_: &ActionContext, _: Value| ActionOutput::result(json!("text")),
        json!({}),
        json!({}),
    )
    .unwrap();
    sb.put_builtin_action(
        "guest",
        "panic",
        |_: &ActionContext, _: Value| -> ActionOutput { panic!("builtin bug") },
        json!({}),
        json!({}),
    )
    .unwrap();
    let slow = |ctx: &ActionContext, _: Value| {
        // Overruns its deadline, but stops once the sandbox is gone.
        let until = std::time::UNIX_EPOCH + Duration::from_millis(ctx.deadline_ms + 200);
        while std::time::SystemTime::now() < until && ctx.sandbox.is_running() {
            std::thread::sleep(Duration::from_millis(20));
        }
        ActionOutput::result(json!({}))
    };
    sb.put_builtin_action("guest", "slow", slow, json!({}), json!({}))
        .unwrap();
    api.put(
        "/namespaces/_/actions/slow?overwrite=true",
        json!({"limits": {"timeout": 200}}),
    );

    let status = |name: &str| {
        let r = api.post(
            &format!("/namespaces/_/actions/{name}?blocking=true"),
            json!({}),
        );
        (
            r.status,
            r.body["response"]["status"]
                .as_str()
                .unwrap_or("")
                .to_string(),
            r.body["response"]["result"]["error"].clone(),
        )
    };
    assert_eq!(
        status("err"),
        (502, "application error".into(), json!("nope"))
    );
    assert_eq!(status("text").1, "action developer error");
    assert_eq!(status("panic").1, "action developer error");
    assert_eq!(
        status("slow"),
        (
            502,
            "action developer error".into(),
            json!("The action exceeded its time limits of 200 milliseconds.")
        )
    );
}

fn scratch_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(
        format!("sandbox-it-{}-{:?}", std::process::id(), Instant::now())
            .replace([' ', '{', '}', ':', ','], ""),
    );
    std::fs::create_dir_all(&dir).expect("scratch directory");
    dir
}

#[test]
fn dropping_the_sandbox_stops_the_server_and_kills_running_actions() {
    let dir = scratch_dir();
    let sb: Sandbox = sandbox();
    let url = sb.url();
    let body = format!(
        "echo $$ > {0}/pid.tmp\npwd > {0}/cwd\nmv {0}/pid.tmp {0}/pid\nsleep 60\necho '{{}}'",
        dir.display()
    );
    sb.put_native_action("guest", "long", script(&body), json!({}), json!({}))
        .unwrap();
    let api = Api::new(&sb, "guest");
    assert_eq!(
        api.post("/namespaces/_/actions/long", json!({})).status,
        202
    );
    let deadline = Instant::now() + PATIENCE;
    while !dir.join("pid").exists() {
        assert!(Instant::now() < deadline, "the action never started");
        std::thread::sleep(Duration::from_millis(10));
    }
    let pid = std::fs::read_to_string(dir.join("pid"))
        .unwrap()
        .trim()
        .to_string();
    let cwd = PathBuf::from(std::fs::read_to_string(dir.join("cwd")).unwrap().trim());
    assert!(cwd.join("exec").exists());

    drop(sb);
    assert!(
        !PathBuf::from(format!("/proc/{pid}")).exists(),
        "the action process is gone"
    );
    assert!(!cwd.exists(), "the unpacked code is removed");
    let after = ureq::get(format!("{url}/api/v1/namespaces")).call();
    assert!(after.is_err(), "nobody listens any more");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn rejects_bad_configurations() {
    use sandbox::{Config, NamespaceKey};
    let mut config = Config::default();
    config
        .namespaces
        .push(NamespaceKey::new("bad name!", "a:b"));
    assert!(Sandbox::start(config).is_err());
    let config = Config {
        namespaces: vec![NamespaceKey::new("x", "no-colon")],
        ..Config::default()
    };
    assert!(Sandbox::start(config).is_err());
    let mut config = Config::default();
    config.namespaces.push(NamespaceKey::new("guest", "a:b"));
    assert!(Sandbox::start(config).is_err());
    assert!(
        !format!("{:?}", Config::default()).contains("123zO3xZ"),
        "keys stay out of debug output"
    );
}
