//! `/rules`: CRUD and enable/disable.

use super::request::{ApiRequest, Reply, ReplyBody, common_put};
use crate::controller::Controller;
use crate::model::entities::{EntityKind, rule_json, summary_json};
use crate::model::error::Error;
use crate::model::names::EntityName;
use crate::ops;
use crate::ops::rules::RulePut;
use serde_json::Value;

pub(crate) fn list(c: &Controller, req: &ApiRequest) -> Result<Reply, Error> {
    let (skip, limit) = req.paging("rules")?;
    let items = ops::list(
        c,
        &req.identity,
        req.namespace(),
        EntityKind::Rule,
        skip,
        limit,
    )?;
    let items = items.iter().map(|(n, e)| summary_json(n, e)).collect();
    Ok(Reply::ok(Value::Array(items)))
}

pub(crate) fn get(c: &Controller, req: &ApiRequest) -> Result<Reply, Error> {
    let name = req.entity("ruleName")?;
    let view = ops::rules::get(c, &req.identity, &name)?;
    Ok(Reply::ok(rule_json(&name, &view.rule, view.active)))
}

/// The rule's `trigger` or `action`: a reference relative to the rule's namespace.
fn reference(
    body: &serde_json::Map<String, Value>,
    field: &str,
    ns: &str,
) -> Result<Option<EntityName>, Error> {
    match body.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if !s.is_empty() => EntityName::parse_reference(s, ns).map(Some),
        Some(_) => Err(Error::bad(format!(
            "'{field}' must be the name of the rule's {field}"
        ))),
    }
}

pub(crate) fn put(c: &Controller, req: &ApiRequest) -> Result<Reply, Error> {
    let name = req.entity("ruleName")?;
    let overwrite = req.query_bool("overwrite")?;
    let body = req.object_body()?;
    let put = RulePut {
        common: common_put(&body)?,
        trigger: reference(&body, "trigger", &name.ns)?,
        action: reference(&body, "action", &name.ns)?,
    };
    let view = ops::rules::put(c, &req.identity, &name, put, overwrite)?;
    Ok(Reply::ok(rule_json(&name, &view.rule, view.active)))
}

pub(crate) fn delete(c: &Controller, req: &ApiRequest) -> Result<Reply, Error> {
    let name = req.entity("ruleName")?;
    let rule = ops::rules::delete(c, &req.identity, &name)?;
    Ok(Reply::ok(rule_json(&name, &rule, false)))
}

/// `POST {"status": "active" | "inactive"}`.
pub(crate) fn set_state(c: &Controller, req: &ApiRequest) -> Result<Reply, Error> {
    let name = req.entity("ruleName")?;
    let body = req.object_body()?;
    let active = match body.get("status").and_then(Value::as_str) {
        Some("active") => true,
        Some("inactive") => false,
        _ => {
            return Err(Error::bad(
                "The request content was malformed:\n'status' must be \"active\" or \"inactive\"",
            ));
        }
    };
    ops::rules::set_active(c, &req.identity, &name, active)?;
    // The controller completes with the status alone, which akka-http renders as `OK`.
    Ok(Reply {
        status: 200,
        body: ReplyBody::Text("OK"),
        activation_id: None,
    })
}
