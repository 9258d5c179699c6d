//! feedkit's OpenWhisk client against the test OpenWhisk server: every call, and the errors a
//! real controller gives.

use std::net::TcpListener;
use std::time::{Duration, SystemTime};

use feedkit::{AuthKey, Client, ClientErrorKind, ClientOptions, FireOutcome, QualifiedName};
use sandbox::{Config, NamespaceKey, Sandbox};
use serde_json::{Map, json};

fn name(text: &str) -> QualifiedName {
    QualifiedName::parse(text).expect("valid name")
}

fn client_for(sandbox: &Sandbox, key: &str) -> Client {
    let key = AuthKey::parse(key).expect("key");
    Client::new(&sandbox.url(), key, ClientOptions::default()).expect("client")
}

fn guest(sandbox: &Sandbox) -> Client {
    client_for(sandbox, &sandbox.auth_key("guest"))
}

/// A native action whose `exec` is a shell script: answers `{"echo": <params>}`, or an
/// application error when asked to.
fn echo_action(sandbox: &Sandbox, name: &str) {
    if let Some((package, _)) = name.split_once('/')
        && !sandbox
            .entity_names("guest", sandbox::EntityKind::Package)
            .iter()
            .any(|p| p == package)
    {
        sandbox
            .put_package("guest", package, json!({}), json!({}), false)
            .expect("package");
    }
    let script = br#"#!/bin/sh
params=$(cat)
case "$params" in
  *'"fail"'*) echo '{"error": "told to fail"}' ;;
  *) echo "{\"echo\": $params}" ;;
esac
"#;
    sandbox
        .put_native_action(
            "guest",
            name,
            sandbox::zip_executable(script),
            json!({}),
            json!({}),
        )
        .expect("deploy");
}

#[test]
fn namespaces_and_default_namespace_resolution() {
    let sandbox = Sandbox::start(Config::default()).expect("sandbox");
    let client = guest(&sandbox);
    assert_eq!(client.namespaces().expect("namespaces"), ["guest"]);
    assert_eq!(
        client.resolve(&name("t")).expect("resolve").to_string(),
        "/guest/t"
    );
    assert_eq!(
        client
            .resolve(&name("/other/t"))
            .expect("resolve")
            .to_string(),
        "/other/t"
    );
}

#[test]
fn api_host_forms_all_reach_the_same_server() {
    let sandbox = Sandbox::start(Config::default()).expect("sandbox");
    let key = AuthKey::parse(&sandbox.auth_key("guest")).expect("key");
    for host in [
        sandbox.url(),
        format!("{}/", sandbox.url()),
        format!("{}/api/v1/", sandbox.url()),
    ] {
        let client = Client::new(&host, key.clone(), ClientOptions::default()).expect("client");
        assert_eq!(client.namespaces().expect(&host), ["guest"]);
    }
}

#[test]
fn trigger_put_get_overwrite_fire_and_delete() {
    let sandbox = Sandbox::start(Config::default()).expect("sandbox");
    let client = guest(&sandbox);
    let trigger = name("/guest/t");
    let body = json!({"parameters": [{"key": "from", "value": "trigger"}]});
    client.put_trigger(&trigger, &body, false).expect("create");
    let error = client
        .put_trigger(&trigger, &body, false)
        .expect_err("exists");
    assert_eq!(error.status(), Some(409));
    assert_eq!(error.path, "/api/v1/namespaces/guest/triggers/t");
    assert!(
        error
            .server_message()
            .is_some_and(|m| m.contains("already exists")),
        "{error}"
    );
    client
        .put_trigger(
            &trigger,
            &json!({"annotations": [{"key": "feed", "value": "/guest/f"}]}),
            true,
        )
        .expect("overwrite");
    let got = client.get_trigger(&trigger).expect("get");
    assert_eq!(got["name"], "t");
    assert_eq!(
        feedkit::entity_annotation(&got, "feed"),
        Some(&json!("/guest/f"))
    );

    // No rule: 204, nothing ran.
    let outcome = client
        .fire_trigger(&trigger, &json!({"n": 1}))
        .expect("fire");
    assert_eq!(outcome, FireOutcome::NoActiveRule);
    // With a rule: 202 and an activation id.
    echo_action(&sandbox, "echo");
    client
        .put_rule(&name("/guest/r"), &trigger, &name("/guest/echo"), false)
        .expect("rule");
    match client
        .fire_trigger(&trigger, &json!({"n": 2}))
        .expect("fire")
    {
        FireOutcome::Fired { activation_id } => assert_eq!(activation_id.len(), 32),
        other => panic!("expected a fired trigger, got {other:?}"),
    }
    let fires = sandbox.fires("guest", "t");
    assert_eq!(fires.len(), 2);
    assert_eq!(fires[1].payload, json!({"n": 2}));

    client.delete_rule(&name("/guest/r")).expect("delete rule");
    client.delete_trigger(&trigger).expect("delete");
    let error = client.get_trigger(&trigger).expect_err("gone");
    assert!(error.is_not_found(), "{error}");
    let error = client.fire_trigger(&trigger, &json!({})).expect_err("gone");
    assert!(error.is_not_found() && !error.is_transient(), "{error}");
}

#[test]
fn fire_errors_are_classified() {
    let config = Config {
        fire_limit_per_minute: 2,
        ..Config::default()
    };
    let sandbox = Sandbox::start(config).expect("sandbox");
    let client = guest(&sandbox);
    let trigger = name("/guest/t");
    client
        .put_trigger(&trigger, &json!({}), false)
        .expect("create");

    sandbox.fail_next_fires("guest", "t", 503, 1);
    let error = client.fire_trigger(&trigger, &json!({})).expect_err("503");
    assert_eq!(error.status(), Some(503));
    assert!(error.is_transient());

    client
        .fire_trigger(&trigger, &json!({}))
        .expect("first within the limit");
    client
        .fire_trigger(&trigger, &json!({}))
        .expect("second within the limit");
    let error = client
        .fire_trigger(&trigger, &json!({}))
        .expect_err("over the limit");
    assert_eq!(error.status(), Some(429));
    assert!(error.is_transient(), "{error}");
}

#[test]
fn wrong_keys_are_401_and_other_namespaces_403() {
    let config = Config {
        namespaces: vec![
            NamespaceKey::new("guest", sandbox::GUEST_AUTH_KEY),
            NamespaceKey::new("alice", "alice-uuid:alice-key"),
        ],
        ..Config::default()
    };
    let sandbox = Sandbox::start(config).expect("sandbox");
    let stranger = client_for(&sandbox, "nobody:wrong-secret");
    let error = stranger.get_trigger(&name("/guest/t")).expect_err("401");
    assert!(
        error.is_unauthorized() && error.status() == Some(401),
        "{error}"
    );
    assert!(!error.to_string().contains("wrong-secret"), "{error}");

    let alice = client_for(&sandbox, "alice-uuid:alice-key");
    let error = alice.get_trigger(&name("/guest/t")).expect_err("403");
    assert_eq!(error.status(), Some(403));
    assert!(!error.to_string().contains("alice-key"), "{error}");
}

#[test]
fn rules_activate_deactivate_and_delete() {
    let sandbox = Sandbox::start(Config::default()).expect("sandbox");
    let client = guest(&sandbox);
    echo_action(&sandbox, "pkg/echo");
    client
        .put_trigger(&name("/guest/t"), &json!({}), false)
        .expect("trigger");
    let rule = name("/guest/r");
    client
        .put_rule(&rule, &name("t"), &name("/guest/pkg/echo"), false)
        .expect("rule");
    assert_eq!(client.get_rule(&rule).expect("get")["status"], "active");
    client.set_rule_active(&rule, false).expect("deactivate");
    assert_eq!(client.get_rule(&rule).expect("get")["status"], "inactive");
    assert_eq!(
        client
            .fire_trigger(&name("/guest/t"), &json!({}))
            .expect("fire"),
        FireOutcome::NoActiveRule
    );
    client.set_rule_active(&rule, true).expect("activate");
    assert_eq!(client.get_rule(&rule).expect("get")["status"], "active");
    let rules = client.list_rules("guest").expect("list");
    assert_eq!(rules.len(), 1);
    client.delete_rule(&rule).expect("delete");
    assert!(client.get_rule(&rule).expect_err("gone").is_not_found());
    let error = client
        .put_rule(
            &rule,
            &name("/guest/missing"),
            &name("/guest/pkg/echo"),
            false,
        )
        .expect_err("no such trigger");
    assert_eq!(error.status(), Some(400), "{error}");
}

#[test]
fn blocking_invoke_returns_results_and_application_errors() {
    let sandbox = Sandbox::start(Config::default()).expect("sandbox");
    let client = guest(&sandbox);
    echo_action(&sandbox, "pkg/echo");
    let action = name("/guest/pkg/echo");
    let result = client
        .invoke_action(&action, &json!({"a": 1}))
        .expect("invoke");
    assert_eq!(result["echo"]["a"], 1);
    let error = client
        .invoke_action(&action, &json!({"fail": true}))
        .expect_err("502");
    assert_eq!(error.status(), Some(502));
    assert_eq!(error.server_message(), Some("told to fail"));
    let error = client
        .invoke_action(&name("/guest/pkg/none"), &json!({}))
        .expect_err("404");
    assert!(error.is_not_found());
    assert!(client.get_action(&action).expect("get")["exec"].is_object());
}

#[test]
fn package_bindings_carry_their_parameters() {
    let sandbox = Sandbox::start(Config::default()).expect("sandbox");
    let client = guest(&sandbox);
    sandbox
        .put_package("guest", "kit", json!({"from": "package"}), json!({}), false)
        .expect("package");
    echo_action(&sandbox, "kit/echo");
    let mut bound = Map::new();
    bound.insert("from".into(), json!("binding"));
    let binding = name("/guest/mine");
    client
        .put_package_binding(&binding, &name("/guest/kit"), &bound, false)
        .expect("bind");
    let got = client.get_package(&binding).expect("get");
    assert_eq!(got["binding"]["name"], "kit");
    let result = client
        .invoke_action(&name("/guest/mine/echo"), &json!({}))
        .expect("invoke");
    assert_eq!(result["echo"]["from"], "binding");
    client.delete_package(&binding).expect("delete");
    assert!(
        client
            .get_package(&binding)
            .expect_err("gone")
            .is_not_found()
    );
}

#[test]
fn every_call_is_bounded_by_the_deadline() {
    // A server that accepts connections and never answers.
    let silent = TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}", silent.local_addr().expect("addr"));
    let key = AuthKey::parse("u:k").expect("key");

    let past = ClientOptions {
        deadline: Some(SystemTime::now()),
        ..ClientOptions::default()
    };
    let client = Client::new(&url, key.clone(), past).expect("client");
    let error = client.get_trigger(&name("/guest/t")).expect_err("no time");
    assert_eq!(error.kind, ClientErrorKind::Deadline);

    let soon = ClientOptions {
        deadline: Some(SystemTime::now() + Duration::from_millis(1500)),
        ..ClientOptions::default()
    };
    let client = Client::new(&url, key, soon).expect("client");
    let error = client
        .fire_trigger(&name("/guest/t"), &json!({}))
        .expect_err("timeout");
    assert!(
        matches!(&error.kind, ClientErrorKind::Transport(reason) if reason.contains("timed out")),
        "{error}"
    );
    assert!(error.is_transient());
    drop(silent);
}

#[test]
fn a_server_that_is_gone_is_a_transport_error() {
    let port = TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let client = Client::new(
        &format!("http://127.0.0.1:{port}"),
        AuthKey::parse("u:k").expect("key"),
        ClientOptions::default(),
    )
    .expect("client");
    let error = client.namespaces().expect_err("refused");
    assert!(
        matches!(error.kind, ClientErrorKind::Transport(_)),
        "{error}"
    );
}
