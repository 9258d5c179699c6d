//! The alarms package, built in: `/whisk.system/alarms/{interval,alarm,once}` are feed actions
//! (published, so any namespace may use them or bind them), and the sandbox is their provider:
//! a scheduler thread fires each active alarm's trigger in process as the trigger's owner, with
//! the provider's retry and disabling rules (a trigger that answers 404 disables its alarm).

mod feed;
mod firing;
mod registry;
mod schedule;

pub(crate) use firing::{run_scheduler, tick};
pub(crate) use registry::{Alarm, AlarmRegistry, key as alarm_key};

use crate::api::actions::put_builtin;
use crate::controller::Controller;
use crate::error::Error;
use crate::names::EntityName;
use feed::{AlarmFeed, FeedKind};
use serde_json::{Map, Value, json};
use std::sync::Arc;

/// The namespace and package the feeds live in, as on a real OpenWhisk.
pub(crate) const SYSTEM_NAMESPACE: &str = "whisk.system";
const PACKAGE: &str = "alarms";

fn annotations(description: &str, parameters: Value) -> Map<String, Value> {
    let mut map = Map::new();
    map.insert("feed".into(), json!(true));
    map.insert("description".into(), json!(description));
    map.insert("parameters".into(), parameters);
    map
}

fn kv_body(annotations: Map<String, Value>) -> Map<String, Value> {
    let mut body = Map::new();
    body.insert(
        "annotations".into(),
        crate::params::to_kv_list(&annotations),
    );
    body.insert("parameters".into(), json!([]));
    body
}

/// Creates the published `/whisk.system/alarms` package and its three feed actions.
pub(crate) fn install(c: &Controller) -> Result<(), Error> {
    let package = EntityName::new(SYSTEM_NAMESPACE, None, PACKAGE);
    let mut body = Map::new();
    body.insert("publish".into(), json!(true));
    body.insert(
        "annotations".into(),
        json!([
            {"key": "description", "value": "Alarms and periodic utility"},
            {"key": "parameters", "value": [{"name": "trigger_payload", "required": false}]}
        ]),
    );
    let req = crate::api::request::ApiRequest::internal(
        c.owner_of(SYSTEM_NAMESPACE),
        vec![("namespace", SYSTEM_NAMESPACE.to_string())],
        &Value::Null,
    );
    crate::api::packages::store_package(c, &req, &package, true, body)?;
    let feeds = [
        (
            "interval",
            FeedKind::Interval,
            "Fire trigger at specified interval",
            json!([
                {"name": "minutes", "required": true},
                {"name": "startDate", "required": false},
                {"name": "stopDate", "required": false}
            ]),
        ),
        (
            "alarm",
            FeedKind::Cron,
            "Fire trigger when alarm occurs",
            json!([
                {"name": "cron", "required": true},
                {"name": "timezone", "required": false},
                {"name": "startDate", "required": false},
                {"name": "stopDate", "required": false}
            ]),
        ),
        (
            "once",
            FeedKind::Once,
            "Fire trigger once when alarm occurs",
            json!([
                {"name": "date", "required": true},
                {"name": "deleteAfterFire", "required": false}
            ]),
        ),
    ];
    for (name, kind, description, parameters) in feeds {
        let action = EntityName::new(SYSTEM_NAMESPACE, Some(PACKAGE), name);
        put_builtin(
            c,
            &action,
            Arc::new(AlarmFeed(kind)),
            kv_body(annotations(description, parameters)),
        )?;
    }
    Ok(())
}

/// Every registered alarm, as [`crate::Sandbox::alarms`] shows them.
pub(crate) fn list(c: &Controller) -> Vec<Value> {
    c.alarms.lock().values().map(Alarm::summary_json).collect()
}
