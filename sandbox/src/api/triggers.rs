//! `/triggers`: CRUD and fire.

use super::request::{ApiRequest, Reply, common_put};
use crate::controller::Controller;
use crate::model::entities::{EntityKind, summary_json, trigger_json};
use crate::model::error::Error;
use crate::model::params::optional_kv_field;
use crate::ops;
use crate::ops::fire::FirePayload;
use crate::ops::triggers::TriggerPut;
use serde_json::Value;

pub(crate) fn list(c: &Controller, req: &ApiRequest) -> Result<Reply, Error> {
    let (skip, limit) = req.paging("triggers")?;
    let items = ops::list(
        c,
        &req.identity,
        req.namespace(),
        EntityKind::Trigger,
        skip,
        limit,
    )?;
    let items = items.iter().map(|(n, e)| summary_json(n, e)).collect();
    Ok(Reply::ok(Value::Array(items)))
}

pub(crate) fn get(c: &Controller, req: &ApiRequest) -> Result<Reply, Error> {
    let name = req.entity("triggerName")?;
    let trigger = ops::triggers::get(c, &req.identity, &name)?;
    Ok(Reply::ok(trigger_json(&name, &trigger)))
}

pub(crate) fn put(c: &Controller, req: &ApiRequest) -> Result<Reply, Error> {
    let name = req.entity("triggerName")?;
    let overwrite = req.query_bool("overwrite")?;
    let body = req.object_body()?;
    let limits = match body.get("limits") {
        None | Some(Value::Null) => None,
        Some(l @ Value::Object(_)) => Some(l.clone()),
        Some(_) => return Err(Error::bad("'limits' must be an object")),
    };
    let put = TriggerPut {
        common: common_put(&body)?,
        parameters: optional_kv_field(&body, "parameters")?,
        limits,
    };
    let trigger = ops::triggers::put(c, &req.identity, &name, put, overwrite)?;
    Ok(Reply::ok(trigger_json(&name, &trigger)))
}

pub(crate) fn delete(c: &Controller, req: &ApiRequest) -> Result<Reply, Error> {
    let name = req.entity("triggerName")?;
    let trigger = ops::triggers::delete(c, &req.identity, &name)?;
    Ok(Reply::ok(trigger_json(&name, &trigger)))
}

/// `POST /triggers/{triggerName}`: 202 with the trigger activation, 204 when no rule is active.
pub(crate) fn fire(c: &Controller, req: &ApiRequest) -> Result<Reply, Error> {
    let payload = FirePayload::from_body(&req.body);
    let fired = ops::fire::fire(
        c,
        &req.identity,
        req.namespace(),
        req.param("triggerName"),
        payload,
    );
    match fired.outcome? {
        Some(id) => Ok(Reply::accepted(id)),
        None => Ok(Reply::empty(204)),
    }
}
