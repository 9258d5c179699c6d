//! The alarms package, built in: `/whisk.system/alarms/{interval,alarm,once}` are feed actions
//! (published, so any namespace may use them or bind them), and the sandbox is their provider:
//! a scheduler thread fires each active alarm's trigger in process as the trigger's owner, with
//! the provider's retry and disabling rules (a trigger that answers 404 disables its alarm).

mod feed;
mod firing;

pub(crate) use firing::{run_scheduler, tick};

use crate::controller::Controller;
use crate::model::entities::Exec;
use crate::model::error::Error;
use crate::model::names::{EntityName, SYSTEM_NAMESPACE};
use crate::model::params::Params;
use crate::ops::CommonPut;
use crate::ops::actions::ActionPut;
use crate::ops::packages::PackagePut;
use feed::{AlarmFeed, FeedKind};
use serde_json::{Value, json};
use std::sync::Arc;

/// The package the feeds live in, as on a real OpenWhisk.
const PACKAGE: &str = "alarms";

fn annotations(description: &str, parameters: Value) -> Params {
    let mut map = Params::new();
    map.insert("feed".into(), json!(true));
    map.insert("description".into(), json!(description));
    map.insert("parameters".into(), parameters);
    map
}

/// Creates the published `/whisk.system/alarms` package and its three feed actions.
pub(crate) fn install(c: &Controller) -> Result<(), Error> {
    let system = c.owner_of(SYSTEM_NAMESPACE);
    let package = EntityName::new(SYSTEM_NAMESPACE, None, PACKAGE);
    let mut package_annotations = Params::new();
    package_annotations.insert("description".into(), json!("Alarms and periodic utility"));
    package_annotations.insert(
        "parameters".into(),
        json!([{"name": "trigger_payload", "required": false}]),
    );
    let put = PackagePut {
        common: CommonPut {
            publish: Some(true),
            annotations: Some(package_annotations),
            ..CommonPut::default()
        },
        ..PackagePut::default()
    };
    crate::ops::packages::put(c, &system, &package, put, true)?;
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
        let put = ActionPut {
            common: CommonPut {
                annotations: Some(annotations(description, parameters)),
                ..CommonPut::default()
            },
            exec: Some(Exec::Builtin(c.register_builtin(Arc::new(AlarmFeed(kind))))),
            parameters: Some(Params::new()),
            ..ActionPut::default()
        };
        crate::ops::actions::put(c, &system, &action, put, true)?;
    }
    Ok(())
}

/// Every registered alarm, as [`crate::Sandbox::alarms`] shows them.
pub(crate) fn list(c: &Controller) -> Vec<Value> {
    c.alarms
        .lock()
        .values()
        .map(crate::model::alarm::Alarm::summary_json)
        .collect()
}
