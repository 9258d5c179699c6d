//! `/actions`: CRUD (also inside packages), and invoke, blocking or not, also through bindings.

use super::request::{ApiRequest, Reply, ReplyBody, common_put};
use crate::controller::Controller;
use crate::model::entities::{
    BLACKBOX, Code, EntityKind, Exec, NativeCode, SKELETON_IMAGE, action_json, summary_json,
};
use crate::model::error::Error;
use crate::model::names::{EntityName, check_name};
use crate::model::params::{merged, optional_kv_field};
use crate::ops;
use crate::ops::actions::{ActionPut, Invoked, LimitsPut, MAX_WAIT};
use crate::ops::fire::MAX_PAYLOAD_BYTES;
use base64::Engine;
use serde_json::{Map, Value, json};
use std::time::Duration;

/// The largest action code, in bytes (as the controller's `exec` size limit).
const MAX_CODE_BYTES: usize = 48 * 1024 * 1024;

/// The action named by the path: `{actionName}` or `{packageName}/{actionName}`.
fn target(req: &ApiRequest) -> Result<EntityName, Error> {
    let pkg = Some(req.param("packageName")).filter(|p| !p.is_empty());
    if let Some(pkg) = pkg {
        check_name(pkg)?;
    }
    let name = req.param("actionName");
    check_name(name)?;
    Ok(EntityName::new(req.namespace(), pkg, name))
}

pub(crate) fn list(c: &Controller, req: &ApiRequest) -> Result<Reply, Error> {
    let (skip, limit) = req.paging("actions")?;
    let items = ops::list(
        c,
        &req.identity,
        req.namespace(),
        EntityKind::Action,
        skip,
        limit,
    )?;
    let items = items.iter().map(|(n, e)| summary_json(n, e)).collect();
    Ok(Reply::ok(Value::Array(items)))
}

/// `GET /actions/{packageName}/`: the actions of a package (of the bound package, for a
/// binding), newest first.
pub(crate) fn list_in_package(c: &Controller, req: &ApiRequest) -> Result<Reply, Error> {
    let (skip, limit) = req.paging("actions")?;
    let package = req.entity("packageName")?;
    let items = ops::actions::list_in_package(c, &req.identity, &package, skip, limit)?;
    let items = items.iter().map(|(n, e)| summary_json(n, e)).collect();
    Ok(Reply::ok(Value::Array(items)))
}

/// `GET`: the action with its package's (and binding's) parameters merged under its own.
pub(crate) fn get(c: &Controller, req: &ApiRequest) -> Result<Reply, Error> {
    let target = target(req)?;
    let include_code = match req.query("code") {
        None => true,
        Some(_) => req.query_bool("code")?,
    };
    let resolved = ops::actions::get(c, &req.identity, &target)?;
    let parameters = merged(&resolved.inherited, &resolved.action.parameters);
    Ok(Reply::ok(action_json(
        &resolved.name,
        &resolved.action,
        &parameters,
        include_code,
    )))
}

pub(crate) fn put(c: &Controller, req: &ApiRequest) -> Result<Reply, Error> {
    let target = target(req)?;
    let overwrite = req.query_bool("overwrite")?;
    let body = req.object_body()?;
    let exec = match body.get("exec") {
        None | Some(Value::Null) => None,
        Some(exec) => Some(parse_exec(exec)?),
    };
    let put = ActionPut {
        common: common_put(&body)?,
        exec,
        parameters: optional_kv_field(&body, "parameters")?,
        limits: parse_limits(body.get("limits"))?,
    };
    let action = ops::actions::put(c, &req.identity, &target, put, overwrite)?;
    Ok(Reply::ok(action_json(
        &target,
        &action,
        &action.parameters,
        true,
    )))
}

/// `exec` of a PUT: a native (blackbox) action's code. Code that reads as base64 is a zip, as
/// the controller decides `binary`; it is decoded once, here.
fn parse_exec(exec: &Value) -> Result<Exec, Error> {
    let kind = exec
        .get("kind")
        .and_then(Value::as_str)
        .ok_or_else(|| Error::bad("'exec.kind' is required"))?;
    if kind != BLACKBOX && kind != "native" {
        return Err(Error::bad(format!(
            "The kind '{kind}' is not supported by this sandbox: only native actions (kind 'blackbox') run here."
        )));
    }
    let image = match (kind, exec.get("image")) {
        (BLACKBOX, Some(Value::String(image))) => image.as_str(),
        // As the controller's `Exec` reader (a blackbox action names its image).
        (BLACKBOX, _) => {
            return Err(Error::bad(
                "The request content was malformed:\n'image' must be a string defined in 'exec' for 'blackbox' actions",
            ));
        }
        _ => SKELETON_IMAGE,
    };
    let code = exec.get("code").and_then(Value::as_str).ok_or_else(|| {
        Error::bad(format!(
            "'exec.code' is required: this sandbox runs the code of native actions and cannot pull the image '{image}'"
        ))
    })?;
    if code.len() > MAX_CODE_BYTES {
        return Err(Error::TooLarge(format!(
            "exec larger than allowed: {} > {MAX_CODE_BYTES} bytes.",
            code.len()
        )));
    }
    let trimmed = code.trim();
    let zip = (!trimmed.is_empty() && trimmed.len().is_multiple_of(4))
        .then(|| {
            base64::engine::general_purpose::STANDARD
                .decode(trimmed)
                .ok()
        })
        .flatten();
    let code = match zip {
        Some(bytes) => Code::Zip(bytes.into()),
        None => Code::Text(code.into()),
    };
    let main = exec.get("main").and_then(Value::as_str).map(str::to_string);
    Ok(Exec::Native(NativeCode::new(image, code, main)))
}

fn parse_limits(limits: Option<&Value>) -> Result<LimitsPut, Error> {
    let Some(limits) = limits.filter(|l| !l.is_null()) else {
        return Ok(LimitsPut::default());
    };
    let fields: &Map<String, Value> = limits
        .as_object()
        .ok_or_else(|| Error::bad("'limits' must be an object"))?;
    let number = |key: &str| -> Result<Option<u64>, Error> {
        match fields.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => v
                .as_u64()
                .map(Some)
                .ok_or_else(|| Error::bad(format!("'limits.{key}' must be a whole number"))),
        }
    };
    Ok(LimitsPut {
        timeout_ms: number("timeout")?,
        memory_mb: number("memory")?,
        logs_mb: number("logs")?,
        concurrency: number("concurrency")?,
    })
}

pub(crate) fn delete(c: &Controller, req: &ApiRequest) -> Result<Reply, Error> {
    let target = target(req)?;
    let action = ops::actions::delete(c, &req.identity, &target)?;
    Ok(Reply::ok(action_json(
        &target,
        &action,
        &action.parameters,
        true,
    )))
}

/// `POST`: 202 `{"activationId"}`; with `blocking=true`, the activation (or with `result=true`
/// its result) once it ends: 200 on success, 502 on an application or developer error, 500 on
/// an internal one, and 202 when the wait (`timeout`, at most 60 s) runs out.
pub(crate) fn invoke(c: &Controller, req: &ApiRequest) -> Result<Reply, Error> {
    let target = target(req)?;
    let blocking = req.query_bool("blocking")?;
    let result_only = req.query_bool("result")?;
    let max_ms = MAX_WAIT.as_millis() as u64;
    let wait = match req.query_u64("timeout", "actions")? {
        None => MAX_WAIT,
        Some(ms) if ms <= max_ms => Duration::from_millis(ms),
        Some(_) => {
            return Err(Error::bad(format!(
                "Timeout must be number of milliseconds up to {max_ms}."
            )));
        }
    };
    req.check_payload_size(MAX_PAYLOAD_BYTES)?;
    let payload = req.object_body()?;
    let invoked =
        ops::actions::invoke(c, &req.identity, &target, payload, blocking.then_some(wait))?;
    let activation = match invoked {
        Invoked::Started(id) => return Ok(Reply::accepted(id)),
        Invoked::Finished(activation) => activation,
    };
    let status = match activation.status_code {
        0 => 200,
        1 | 2 => 502,
        _ => 500,
    };
    let body = if result_only {
        activation.result.clone()
    } else {
        // As the controller: the logs are collected later, into the activation record
        // (`GET /activations/{id}` or `/logs`), never into the blocking answer.
        let mut record = activation.to_json();
        record["logs"] = json!([]);
        record
    };
    Ok(Reply {
        status,
        body: ReplyBody::Json(body),
        activation_id: Some(activation.activation_id),
    })
}
