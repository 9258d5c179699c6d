//! Actions: CRUD (also inside packages), and invoke, blocking or not, also through bindings.

use super::request::{ApiRequest, Reply, page, put_common};
use crate::controller::Controller;
use crate::entities::{
    Action, ActionLimits, BLACKBOX, Entity, EntityKind, Exec, NativeCode, SKELETON_IMAGE,
    action_json, summary_json,
};
use crate::error::{Error, messages};
use crate::invoke::{resolve, start};
use crate::names::{EntityName, check_name};
use crate::params::{merged, optional_kv_field};
use base64::Engine;
use serde_json::{Map, Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

pub(crate) const MIN_TIMEOUT_MS: u64 = 100;
pub(crate) const MAX_TIMEOUT_MS: u64 = 300_000;
/// The longest a blocking invoke waits before answering 202.
const MAX_WAIT_MS: u64 = 60_000;
const MAX_CODE_BYTES: usize = 48 * 1024 * 1024;
/// The largest invoke or fire payload.
pub(crate) const MAX_PAYLOAD_BYTES: usize = 1024 * 1024;

static CODE_IDS: AtomicU64 = AtomicU64::new(1);

/// A new id for uploaded (or reloaded) code.
pub(crate) fn next_code_id() -> u64 {
    CODE_IDS.fetch_add(1, Ordering::Relaxed)
}

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
    let store = c.store();
    let items = store
        .list(req.namespace(), EntityKind::Action)
        .into_iter()
        .map(|(name, e)| (e.common().updated, summary_json(&name, e)))
        .collect();
    Ok(Reply::ok(Value::Array(page(items, skip, limit))))
}

/// `GET`: the action with its package's (and binding's) parameters merged under its own.
pub(crate) fn get(c: &Controller, req: &ApiRequest) -> Result<Reply, Error> {
    let target = target(req)?;
    let include_code = match req.query("code") {
        None => true,
        Some(_) => req.query_bool("code")?,
    };
    let resolved = resolve(&c.store(), &req.identity, &target)?;
    let parameters = merged(&resolved.inherited, &resolved.action.parameters);
    Ok(Reply::ok(action_json(
        &resolved.name,
        &resolved.action,
        &parameters,
        include_code,
    )))
}

/// Packaged actions may only be written in a real package of the caller's.
fn check_package_writable(c: &Controller, target: &EntityName) -> Result<(), Error> {
    if let Some(pkg) = &target.pkg {
        let store = c.store();
        let package = store.package(&EntityName::new(&target.ns, None, pkg))?;
        if package.binding.is_some() {
            return Err(Error::bad(messages::NOT_ALLOWED_ON_BINDING));
        }
    }
    Ok(())
}

pub(crate) fn put(c: &Controller, req: &ApiRequest) -> Result<Reply, Error> {
    let target = target(req)?;
    let overwrite = req.query_bool("overwrite")?;
    let body = req.object_body()?;
    store_action(c, &target, overwrite, body, None).map(Reply::ok)
}

/// Registers a built-in action (library API): a PUT with overwrite whose exec is `builtin`.
pub(crate) fn put_builtin(
    c: &Controller,
    target: &EntityName,
    builtin: Arc<dyn crate::builtin::BuiltinAction>,
    body: Map<String, Value>,
) -> Result<(), Error> {
    store_action(c, target, true, body, Some(Exec::Builtin(builtin))).map(drop)
}

/// Creates or updates an action from a PUT body (`exec` overrides the body's); its JSON.
fn store_action(
    c: &Controller,
    target: &EntityName,
    overwrite: bool,
    body: Map<String, Value>,
    exec: Option<Exec>,
) -> Result<Value, Error> {
    check_package_writable(c, target)?;
    let mut store = c.store();
    store.check_free_for(target, EntityKind::Action)?;
    let existing = store.action(target).ok().cloned();
    if existing.is_some() && !overwrite {
        return Err(Error::Conflict(messages::CONFLICT_EXISTS.into()));
    }
    let mut common = put_common(&body, existing.as_ref().map(|a| &a.common))?;
    let body = Value::Object(body);
    let exec = match (exec, body.get("exec")) {
        (Some(exec), _) => exec,
        (None, None | Some(Value::Null)) => existing
            .as_ref()
            .map(|a| a.exec.clone())
            .ok_or_else(|| Error::bad("exec undefined"))?,
        (None, Some(exec)) => parse_exec(exec)?,
    };
    let parameters = optional_kv_field(&body, "parameters")?
        .or_else(|| existing.as_ref().map(|a| a.parameters.clone()))
        .unwrap_or_default();
    let limits = parse_limits(
        body.get("limits"),
        existing.as_ref().map(|a| a.limits).unwrap_or_default(),
    )?;
    common.annotations.insert("exec".into(), json!(BLACKBOX));
    let action = Action {
        common,
        parameters,
        exec,
        limits,
    };
    let reply = action_json(target, &action, &action.parameters, true);
    store.insert(target, Entity::Action(action));
    Ok(reply)
}

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
    let image = exec
        .get("image")
        .and_then(Value::as_str)
        .filter(|_| kind == BLACKBOX)
        .unwrap_or(SKELETON_IMAGE);
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
    // As the controller: code that reads as base64 is a binary (zip) attachment.
    let trimmed = code.trim();
    let binary = !trimmed.is_empty()
        && trimmed.len() % 4 == 0
        && base64::engine::general_purpose::STANDARD
            .decode(trimmed)
            .is_ok();
    Ok(Exec::Native(NativeCode {
        image: image.to_string(),
        code: Arc::new(code.to_string()),
        binary,
        main: exec.get("main").and_then(Value::as_str).map(str::to_string),
        code_id: next_code_id(),
    }))
}

fn parse_limits(limits: Option<&Value>, mut current: ActionLimits) -> Result<ActionLimits, Error> {
    let Some(limits) = limits.filter(|l| !l.is_null()) else {
        return Ok(current);
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
    if let Some(timeout) = number("timeout")? {
        if !(MIN_TIMEOUT_MS..=MAX_TIMEOUT_MS).contains(&timeout) {
            return Err(Error::bad(format!(
                "'limits.timeout' must be between {MIN_TIMEOUT_MS} and {MAX_TIMEOUT_MS} milliseconds, not {timeout}"
            )));
        }
        current.timeout_ms = timeout;
    }
    if let Some(memory) = number("memory")? {
        current.memory_mb = memory;
    }
    if let Some(logs) = number("logs")? {
        current.logs_mb = logs;
    }
    if let Some(concurrency) = number("concurrency")? {
        current.concurrency = concurrency;
    }
    Ok(current)
}

pub(crate) fn delete(c: &Controller, req: &ApiRequest) -> Result<Reply, Error> {
    let target = target(req)?;
    check_package_writable(c, &target)?;
    let mut store = c.store();
    let action = store.action(&target)?;
    let reply = action_json(&target, action, &action.parameters, true);
    store.remove(&target);
    Ok(Reply::ok(reply))
}

/// `POST`: 202 `{"activationId"}`; with `blocking=true`, the activation (or with `result=true`
/// its result) once it ends: 200 on success, 502 on an application or developer error, 500 on
/// an internal one, and 202 when the wait (`timeout`, at most 60 s) runs out.
pub(crate) fn invoke(c: &Controller, req: &ApiRequest) -> Result<Reply, Error> {
    let target = target(req)?;
    let blocking = req.query_bool("blocking")?;
    let result_only = req.query_bool("result")?;
    let wait_ms = match req.query_u64("timeout", "actions")? {
        None => MAX_WAIT_MS,
        Some(ms) if ms <= MAX_WAIT_MS => ms,
        Some(_) => {
            return Err(Error::bad(format!(
                "Timeout must be number of milliseconds up to {MAX_WAIT_MS}."
            )));
        }
    };
    req.check_payload_size(MAX_PAYLOAD_BYTES)?;
    let payload = req.object_body()?;
    let resolved = resolve(&c.store(), &req.identity, &target)?;
    let id = start(c, req.identity.clone(), resolved, payload, None);
    if !blocking {
        return Ok(Reply::accepted(id));
    }
    let waited = c
        .activations
        .wait_for_id(&id, Duration::from_millis(wait_ms), &c.shutdown)?;
    let Some(activation) = waited else {
        return Ok(Reply::accepted(id));
    };
    let status = match activation.status_code {
        0 => 200,
        1 | 2 => 502,
        _ => 500,
    };
    let body = if result_only {
        activation.result.clone()
    } else {
        activation.to_json()
    };
    Ok(Reply {
        status,
        body: Some(body),
        activation_id: Some(id),
    })
}
