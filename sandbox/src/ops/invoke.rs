//! Invoking actions: resolving a name through packages and bindings (with what the caller may
//! reach), merging parameters, and running the activation on its own thread.

use crate::clock::{log_timestamp, new_id, now_ms};
use crate::controller::Controller;
use crate::controller::SandboxHandle;
use crate::controller::runner::RunOutcome;
use crate::controller::store::Store;
use crate::controller::{ActionContext, ActionOutput, BuiltinAction};
use crate::model::activation::{Activation, ActivationKind, Response};
use crate::model::entities::{Action, BLACKBOX, Exec, Package};
use crate::model::error::{Error, messages};
use crate::model::identity::{Identity, own_namespace};
use crate::model::names::EntityName;
use crate::model::params::{Params, is_true, merged, to_kv_list};
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime};

/// An action as a caller reaches it.
#[derive(Debug, Clone)]
pub(crate) struct Resolved {
    /// Where the action really lives (inside the bound package for a binding).
    pub name: EntityName,
    pub action: Action,
    /// Package parameters, with a binding's over them.
    pub inherited: Params,
    /// The binding it was reached through.
    pub binding: Option<EntityName>,
}

/// A package `identity` may read: its own, or a published one of another namespace (a missing
/// package of another namespace is 403, as the controller's entitlement check answers).
pub(crate) fn readable_package<'s>(
    store: &'s Store,
    identity: &Identity,
    name: &EntityName,
) -> Result<&'s Package, Error> {
    let own = name.ns == identity.namespace;
    match store.package(name) {
        Ok(p) if own || p.common.publish => Ok(p),
        Ok(_) => Err(Error::forbidden()),
        Err(Error::NotFound(_)) if !own => Err(Error::forbidden()),
        Err(e) => Err(e),
    }
}

/// Finds the action `target` as `identity` sees it, following a package binding.
pub(crate) fn resolve(
    store: &Store,
    identity: &Identity,
    target: &EntityName,
) -> Result<Resolved, Error> {
    let Some(pkg) = &target.pkg else {
        own_namespace(identity, &target.ns)?;
        return Ok(Resolved {
            name: target.clone(),
            action: store.action(target)?.clone(),
            inherited: Params::new(),
            binding: None,
        });
    };
    let pkg_name = EntityName::new(&target.ns, None, pkg);
    let package = readable_package(store, identity, &pkg_name)?;
    let Some(bound) = &package.binding else {
        return Ok(Resolved {
            name: target.clone(),
            action: store.action(target)?.clone(),
            inherited: package.parameters.clone(),
            binding: None,
        });
    };
    let bound_package = match readable_package(store, identity, bound) {
        Ok(p) if p.binding.is_none() => p,
        Ok(_) | Err(Error::NotFound(_)) => return Err(Error::not_found()),
        Err(e) => return Err(e),
    };
    let name = EntityName::new(&bound.ns, Some(&bound.name), &target.name);
    Ok(Resolved {
        action: store.action(&name)?.clone(),
        name,
        inherited: merged(&bound_package.parameters, &package.parameters),
        binding: Some(pkg_name),
    })
}

/// Resolves and starts an activation; its id.
pub(crate) fn invoke_async(
    c: &Controller,
    identity: &Identity,
    target: &EntityName,
    payload: Params,
    cause: Option<String>,
) -> Result<String, Error> {
    let resolved = resolve(&c.store(), identity, target)?;
    Ok(start(c, identity.clone(), resolved, payload, cause))
}

/// Starts one activation on its own thread; its id. The record appears when it ends.
pub(crate) fn start(
    c: &Controller,
    identity: Identity,
    resolved: Resolved,
    payload: Params,
    cause: Option<String>,
) -> String {
    let activation_id = new_id();
    let id = activation_id.clone();
    let requested = now_ms();
    c.spawn("activation", move |c| {
        let record = run(&c, &id, &identity, &resolved, payload, cause, requested);
        c.echo(|| {
            format!(
                "activation {} {} -> {} ({} ms)",
                record.activation_id,
                record.path,
                record.status,
                record.duration.unwrap_or(0)
            )
        });
        c.activations.record(record);
    });
    activation_id
}

fn env_of(ctx: &ActionContext) -> Vec<(String, String)> {
    let mut env = vec![
        ("__OW_API_HOST".to_string(), ctx.api_host.clone()),
        ("__OW_NAMESPACE".to_string(), ctx.namespace.clone()),
        ("__OW_ACTION_NAME".to_string(), ctx.action_name.clone()),
        (
            "__OW_ACTION_VERSION".to_string(),
            ctx.action_version.clone(),
        ),
        ("__OW_ACTIVATION_ID".to_string(), ctx.activation_id.clone()),
        (
            "__OW_TRANSACTION_ID".to_string(),
            ctx.transaction_id.clone(),
        ),
        ("__OW_DEADLINE".to_string(), ctx.deadline_ms.to_string()),
    ];
    if let Some(key) = &ctx.api_key {
        env.push(("__OW_API_KEY".to_string(), key.clone()));
    }
    env
}

fn run(
    c: &Arc<Controller>,
    activation_id: &str,
    identity: &Identity,
    resolved: &Resolved,
    payload: Params,
    cause: Option<String>,
    requested: u64,
) -> Activation {
    let action = &resolved.action;
    let start = now_ms();
    let params = merged(&merged(&resolved.inherited, &action.parameters), &payload);
    let timeout = Duration::from_millis(action.limits.timeout_ms);
    let ctx = ActionContext {
        api_host: c.actions_api_host(&resolved.name.ns),
        namespace: identity.namespace.clone(),
        action_name: resolved.name.with_slash(),
        action_version: action.common.version.to_string(),
        activation_id: activation_id.to_string(),
        transaction_id: new_id(),
        deadline_ms: start + action.limits.timeout_ms,
        api_key: is_true(&action.common.annotations, "provide-api-key")
            .then(|| identity.auth_key.clone())
            .flatten(),
        sandbox: SandboxHandle::new(c),
    };
    let outcome = match &action.exec {
        Exec::Native(code) => c.runner.run(
            code,
            &Value::Object(params),
            &env_of(&ctx),
            timeout,
            &c.shutdown,
        ),
        Exec::Builtin(id) => match c.builtin(*id) {
            Some(builtin) => run_builtin(c, builtin, ctx, params, timeout),
            None => RunOutcome {
                response: Response::whisk_error(messages::INTERNAL),
                logs: Vec::new(),
                init_ms: None,
                timed_out: false,
            },
        },
    };
    let end = now_ms().max(start);
    let mut annotations = Params::new();
    annotations.insert("path".into(), json!(resolved.name.qualified()));
    annotations.insert("kind".into(), json!(BLACKBOX));
    annotations.insert("limits".into(), action.limits.to_json());
    annotations.insert("waitTime".into(), json!(start.saturating_sub(requested)));
    if let Some(init) = outcome.init_ms {
        annotations.insert("initTime".into(), json!(init));
    }
    if outcome.timed_out {
        annotations.insert("timeout".into(), json!(true));
    }
    if let Some(binding) = &resolved.binding {
        annotations.insert("binding".into(), json!(binding.qualified()));
    }
    let mut activation = Activation {
        activation_id: activation_id.to_string(),
        namespace: identity.namespace.clone(),
        name: resolved.name.name.clone(),
        path: resolved.name.qualified(),
        kind: ActivationKind::Action,
        subject: identity.namespace.clone(),
        version: action.common.version.to_string(),
        publish: false,
        annotations: to_kv_list(&annotations),
        cause,
        start,
        end,
        duration: Some(end - start),
        result: Value::Null,
        success: false,
        status: String::new(),
        status_code: 0,
        size: None,
        logs: outcome.logs,
    };
    activation.set_response(outcome.response);
    activation
}

/// Runs a built-in on its own thread, waiting at most `timeout` (and not past shutdown). A
/// built-in that overruns is left to finish on its own; its answer is dropped.
fn run_builtin(
    c: &Controller,
    builtin: Arc<dyn BuiltinAction>,
    ctx: ActionContext,
    params: Params,
    timeout: Duration,
) -> RunOutcome {
    let (tx, rx) = mpsc::channel();
    let spawned = std::thread::Builder::new()
        .name("sandbox-builtin".into())
        .spawn(move || {
            let output = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                builtin.run(&ctx, Value::Object(params))
            }));
            let _ = tx.send(output);
        });
    let finished = |response: Response, logs: Vec<String>, timed_out: bool| RunOutcome {
        response,
        logs,
        init_ms: None,
        timed_out,
    };
    if spawned.is_err() {
        return finished(Response::whisk_error(messages::INTERNAL), Vec::new(), false);
    }
    let deadline = Instant::now() + timeout;
    loop {
        let now = Instant::now();
        if now >= deadline || c.is_shutting_down() {
            let message = format!(
                "{} {} milliseconds.",
                messages::TIMED_OUT_ACTIVATION,
                timeout.as_millis()
            );
            return finished(Response::developer_error(message), Vec::new(), true);
        }
        match rx.recv_timeout((deadline - now).min(Duration::from_millis(50))) {
            Ok(Ok(ActionOutput { result, logs })) => {
                let stamp = log_timestamp(SystemTime::now());
                let logs = logs
                    .iter()
                    .map(|l| format!("{stamp} stdout: {}", l.trim()))
                    .collect();
                let response = Response::from_result(result)
                    .unwrap_or_else(|| Response::developer_error(messages::NOT_A_DICTIONARY));
                return finished(response, logs, false);
            }
            Ok(Err(_panic)) => {
                let response = Response::developer_error(
                    "The action did not produce a valid response and exited unexpectedly.",
                );
                return finished(response, Vec::new(), false);
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                return finished(Response::whisk_error(messages::INTERNAL), Vec::new(), false);
            }
        }
    }
}
