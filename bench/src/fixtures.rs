//! What several sections set up alike: the sandbox with the polling kit deployed, the
//! environment and parameters of an activation, the entities a feed's CREATE expects.

use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::Context as _;
use feedkit::{AuthKey, Client, ClientOptions, QualifiedName};
use sandbox::{Config, GUEST_AUTH_KEY, NamespaceKey, Sandbox};
use serde_json::{Map, Value, json};

use crate::kit::Kit;

pub const KIT_NAMESPACE: &str = "kit";
pub const KIT_KEY: &str = "6a0d6b2c-3f4e-4a5b-9c8d-7e6f5a4b3c2d:kitNamespaceKeyBench0123456789";
pub const KIT_PACKAGE: &str = "polling";
pub const POLL_FEED: &str = "/kit/polling/poll-feed";
pub const POLLER: &str = "/guest/polling-poller/pollMyService";
/// Never fires by itself during a run.
pub const YEARLY: &str = "0 0 1 1 *";

pub fn now_ms() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or_default()
}

/// The environment of one activation, as the invoker sets it.
pub fn ow_env(api_host: &str, action_name: &str, api_key: Option<&str>) -> Vec<(String, String)> {
    let mut env = vec![
        ("__OW_API_HOST".to_owned(), api_host.to_owned()),
        ("__OW_NAMESPACE".to_owned(), "guest".to_owned()),
        ("__OW_ACTION_NAME".to_owned(), action_name.to_owned()),
        ("__OW_ACTION_VERSION".to_owned(), "0.0.1".to_owned()),
        (
            "__OW_ACTIVATION_ID".to_owned(),
            "0123456789abcdef0123456789abcdef".to_owned(),
        ),
        (
            "__OW_TRANSACTION_ID".to_owned(),
            "benchbenchbenchbenchbenchbench00".to_owned(),
        ),
        ("__OW_DEADLINE".to_owned(), (now_ms() + 60_000).to_string()),
    ];
    if let Some(key) = api_key {
        env.push(("__OW_API_KEY".to_owned(), key.to_owned()));
    }
    env
}

/// A sandbox with `guest` and the kit's namespace, no fire rate limit, and the polling kit
/// (poll-feed and pollMyService from `dist/`) published in `/kit/polling`.
pub fn kit_sandbox(kit: &Kit) -> anyhow::Result<(Sandbox, Client)> {
    let sandbox = Sandbox::start(Config {
        namespaces: vec![
            NamespaceKey::new("guest", GUEST_AUTH_KEY),
            NamespaceKey::new(KIT_NAMESPACE, KIT_KEY),
        ],
        fire_limit_per_minute: 0,
        ..Config::default()
    })
    .context("starting the sandbox")?;
    sandbox.put_package(KIT_NAMESPACE, KIT_PACKAGE, json!({}), json!({}), true)?;
    sandbox.put_native_action(
        KIT_NAMESPACE,
        &format!("{KIT_PACKAGE}/poll-feed"),
        kit.zip_bytes("poll-feed"),
        json!({}),
        json!({"feed": true}),
    )?;
    sandbox.put_native_action(
        KIT_NAMESPACE,
        &format!("{KIT_PACKAGE}/pollMyService"),
        kit.zip_bytes("pollMyService"),
        json!({}),
        json!({"provide-api-key": true}),
    )?;
    let guest = Client::new(
        &sandbox.url(),
        AuthKey::parse(GUEST_AUTH_KEY).map_err(anyhow::Error::msg)?,
        ClientOptions::default(),
    )?;
    Ok((sandbox, guest))
}

/// `wsk trigger create NAME --feed FEED` before the feed runs: the trigger itself.
pub fn put_trigger(guest: &Client, name: &str, feed: &str) -> anyhow::Result<()> {
    let body = json!({"annotations": [{"key": "feed", "value": feed}], "parameters": []});
    guest.put_trigger(&guest_name(name), &body, true)?;
    Ok(())
}

pub fn guest_name(name: &str) -> QualifiedName {
    QualifiedName::new("guest", None, name)
}

/// The protocol parameters of a lifecycle event for guest's trigger, plus `extra`.
pub fn feed_params(event: &str, trigger: &str, extra: Value) -> Value {
    let mut params = json!({
        "lifecycleEvent": event,
        "triggerName": format!("/_/{trigger}"),
        "authKey": GUEST_AUTH_KEY,
    });
    if let (Some(params), Value::Object(extra)) = (params.as_object_mut(), extra) {
        params.extend(extra);
    }
    params
}

/// A `{"key","value"}` list as an object.
pub fn kv_object(list: Option<&Value>) -> Value {
    let mut object = Map::new();
    for entry in list.and_then(Value::as_array).into_iter().flatten() {
        if let Some(key) = entry.get("key").and_then(Value::as_str) {
            object.insert(
                key.to_owned(),
                entry.get("value").cloned().unwrap_or_default(),
            );
        }
    }
    Value::Object(object)
}

/// The parameters a rule's activation of the poller gets: the helper trigger's.
pub fn poller_params(sandbox: &Sandbox, trigger: &str) -> anyhow::Result<Value> {
    let helper = sandbox
        .trigger("guest", &format!("{trigger}-poll-alarm"))
        .with_context(|| format!("the poll feed of {trigger} made no helper trigger"))?;
    Ok(kv_object(helper.get("parameters")))
}
