//! Credentials never follow a redirect to another origin. Each case: a server on one loopback
//! port answers 307 to the same path on a server on another port (same host, so ureq's own
//! same-host rule would have let the credential through), and the real binary calls the first.
//! What reached the second server is checked.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use fakes::{Recorded, Reply, ScriptedServer};
use feedkit::{AuthKey, Client, ClientOptions, QualifiedName};
use sandbox::{Config, GUEST_AUTH_KEY, Sandbox};
use serde_json::{Value, json};

use crate::hook_feed::{REPO, TOKEN, World};
use crate::support::{ActionRun, run_action, workspace_bin};

/// Answers every request with `status` to the same path on `target`.
pub fn redirector(status: u16, target: &str) -> ScriptedServer {
    let target = target.to_owned();
    ScriptedServer::start(move |request| {
        Reply::redirect(status, &format!("{target}{}", request.url))
    })
    .expect("redirector starts")
}

/// Requests that carried any of `headers`.
fn carrying<'a>(requests: &'a [Recorded], headers: &[&str]) -> Vec<&'a Recorded> {
    requests
        .iter()
        .filter(|request| headers.iter().any(|name| request.header(name).is_some()))
        .collect()
}

pub fn deadline_env() -> String {
    let deadline = SystemTime::now() + Duration::from_secs(60);
    deadline
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_millis()
        .to_string()
}

/// A sandbox with the guest trigger `name` (what `wsk trigger create` makes first).
pub fn sandbox_with_trigger(name: &str) -> Sandbox {
    let sandbox = Sandbox::start(Config::default()).expect("sandbox");
    let client = Client::new(
        &sandbox.url(),
        AuthKey::parse(GUEST_AUTH_KEY).expect("key"),
        ClientOptions::default(),
    )
    .expect("client");
    let trigger = QualifiedName::parse(&format!("/guest/{name}")).expect("name");
    client
        .put_trigger(
            &trigger,
            &json!({"annotations": [], "parameters": []}),
            false,
        )
        .expect("trigger");
    sandbox
}

fn run(binary: &str, api_host: &str, params: &Value) -> ActionRun {
    let deadline = deadline_env();
    let run = run_action(
        &workspace_bin(binary),
        params,
        &[
            ("__OW_API_HOST", api_host),
            ("__OW_NAMESPACE", "guest"),
            ("__OW_ACTION_NAME", "/guest/kit/feed"),
            ("__OW_DEADLINE", deadline.as_str()),
        ],
    );
    let key_half = GUEST_AUTH_KEY.split_once(':').expect("key").1;
    assert!(!run.logs().contains(key_half), "{}", run.logs());
    run
}

#[test]
fn the_openwhisk_key_never_follows_the_api_host_elsewhere() {
    let elsewhere = ScriptedServer::always(Reply::json(200, &json!(["guest"]))).expect("target");
    for status in [301, 302, 307, 308] {
        let api_host = redirector(status, &elsewhere.url());
        let params =
            json!({"lifecycleEvent": "READ", "triggerName": "/_/t", "authKey": GUEST_AUTH_KEY});
        let run = run("hook-feed", &api_host.url(), &params);
        let error = run.error();
        assert!(
            error.contains("redirect") && error.contains("another origin"),
            "{status}: {error}"
        );
        assert!(
            api_host.requests()[0].header("Authorization").is_some(),
            "the key went where it was given for"
        );
    }
    assert!(
        elsewhere.requests().is_empty(),
        "{:?}",
        elsewhere.requests()
    );
}

#[test]
fn the_access_token_never_follows_base_url_elsewhere() {
    let world = World::start();
    world.create_trigger("t");
    let elsewhere = ScriptedServer::always(Reply::json(200, &json!([]))).expect("target");
    let base_url = redirector(307, &elsewhere.url());
    let mut params = world.create_params(json!("push"));
    params["baseUrl"] = json!(base_url.url());
    let created = world.feed("CREATE", "t", params);
    let error = created.error();
    assert!(
        error.contains("invalid parameter `baseUrl`") && error.contains("another origin"),
        "{error}"
    );
    assert_eq!(
        base_url.requests()[0].header("Authorization"),
        Some(format!("Bearer {TOKEN}").as_str())
    );
    assert!(
        carrying(&elsewhere.requests(), &["Authorization"]).is_empty(),
        "{:?}",
        elsewhere.requests()
    );
    assert!(world.github.hooks(REPO).is_empty());
}

#[test]
fn changes_feed_keeps_the_database_password_and_the_provider_secret_home() {
    let sandbox = sandbox_with_trigger("t");
    let database =
        ScriptedServer::always(Reply::json(200, &json!({"db_name": "orders"}))).expect("database");
    let provider = ScriptedServer::always(Reply::json(200, &json!({}))).expect("provider");
    let db_redirect = redirector(307, &database.url());
    let provider_redirect = redirector(307, &provider.url());
    let params = |event: &str, db_url: &str, provider_url: &str| {
        json!({
            "lifecycleEvent": event, "triggerName": "/_/t", "authKey": GUEST_AUTH_KEY,
            "providerUrl": provider_url, "providerSecret": "provider-s3cret",
            "dbUrl": db_url, "dbName": "orders", "username": "app", "password": "db-pa55word",
            "filter": "app/by_kind",
        })
    };

    // The filter's check (the feed's one call to the database; the provider checks the
    // database itself): refused at the redirect, the password not sent elsewhere.
    let run_db = run(
        "changes-feed",
        &sandbox.url(),
        &params("CREATE", &db_redirect.url(), &provider.url()),
    );
    assert!(
        run_db.error().contains("invalid parameter `dbUrl`")
            && run_db.error().contains("another origin"),
        "{}",
        run_db.result
    );
    assert!(db_redirect.requests()[0].header("Authorization").is_some());
    assert!(database.requests().is_empty(), "{:?}", database.requests());

    // READ of a trigger that is gone sends the owner's key as proof: never elsewhere.
    let client = Client::new(
        &sandbox.url(),
        AuthKey::parse(GUEST_AUTH_KEY).expect("key"),
        ClientOptions::default(),
    )
    .expect("client");
    client
        .delete_trigger(&QualifiedName::parse("/guest/t").expect("name"))
        .expect("trigger deleted");
    let mut read = params("READ", &database.url(), &provider_redirect.url());
    for name in ["dbUrl", "dbName", "username", "password", "filter"] {
        read.as_object_mut().expect("object").remove(name);
    }
    let run_read = run("changes-feed", &sandbox.url(), &read);
    assert!(
        run_read.error().contains("invalid parameter `providerUrl`")
            && run_read.error().contains("another origin"),
        "{}",
        run_read.result
    );
    let sent = &provider_redirect.requests()[0];
    assert!(sent.header("Authorization").is_some() && sent.header("X-Owner-Key").is_some());
    assert!(provider.requests().is_empty(), "{:?}", provider.requests());
    for output in [run_db.logs(), run_read.logs()] {
        assert!(
            !output.contains("provider-s3cret") && !output.contains("db-pa55word"),
            "{output}"
        );
    }
}
