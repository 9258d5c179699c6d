//! `GET /namespaces` and `GET /namespaces/{namespace}/limits`.

use super::request::{ApiRequest, Reply};
use crate::controller::Controller;
use crate::model::entities::ActionLimits;
use crate::model::error::Error;
use crate::ops::actions::{MAX_TIMEOUT_MS, MIN_TIMEOUT_MS};
use serde_json::json;

/// The namespaces of the caller's key: exactly one.
pub(crate) fn list(_: &Controller, req: &ApiRequest) -> Result<Reply, Error> {
    Ok(Reply::ok(json!([req.identity.namespace])))
}

/// The namespace's limits (the swagger `UserLimits`); only fires are actually limited.
pub(crate) fn limits(c: &Controller, _: &ApiRequest) -> Result<Reply, Error> {
    let defaults = ActionLimits::default();
    Ok(Reply::ok(json!({
        "firesPerMinute": c.config.fire_limit_per_minute,
        "maxActionTimeout": MAX_TIMEOUT_MS,
        "minActionTimeout": MIN_TIMEOUT_MS,
        "maxActionMemory": 512,
        "minActionMemory": 128,
        "maxActionLogs": defaults.logs_mb,
        "minActionLogs": 0,
    })))
}
