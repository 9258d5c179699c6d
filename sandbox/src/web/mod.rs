//! Web actions: `/api/v1/web/{namespace}/{package}/{action}.{extension}` (package `default` for
//! an action outside packages), for actions annotated `web-export: true`, as the controller's
//! `WebActions` serves them: no key needed unless `require-whisk-auth`; the request becomes the
//! action's parameters (`__ow_method`, `__ow_headers`, `__ow_path`, and the query and body merged,
//! or with `raw-http: true` given raw as `__ow_query` and `__ow_body`); the result becomes the
//! response as the extension says (`.http`: `statusCode`, `headers`, `body`).

mod request;
mod response;

pub(crate) use request::WebRequest;
pub(crate) use response::WebReply;

use crate::controller::Controller;
use crate::model::entities::Action;
use crate::model::error::{Error, messages};
use crate::model::identity::{Identity, authenticate};
use crate::model::names::{EntityName, is_valid_name};
use crate::model::params::merged;
use crate::ops::invoke::{resolve, start};
use crate::url::percent_decode;
use response::Extension;
use serde_json::Value;
use std::time::Duration;

/// The swagger's path of the web route (relative to `/api/v1`).
pub(crate) const WEB_ROUTE: &str = "/web/{namespace}/{packageName}/{actionName}.{extension}";
/// The prefix of web requests.
pub(crate) const WEB_PREFIX: &str = "/api/v1/web/";

/// The longest a web request waits for its activation (the controller's blocking limit).
const MAX_WAIT: Duration = Duration::from_secs(60);

const ALLOWED_METHODS: &str = "OPTIONS, GET, DELETE, POST, PUT, HEAD, PATCH";
const DEFAULT_ALLOWED_HEADERS: &str =
    "Authorization, Origin, X-Requested-With, Content-Type, Accept, User-Agent";

/// An annotation that is the JSON boolean `true` (the controller reads these as booleans).
fn annotation_true(action: &Action, name: &str) -> bool {
    action.common.annotations.get(name) == Some(&Value::Bool(true))
}

/// `require-whisk-auth`: a string or number must match `X-Require-Whisk-Auth`; `true` needs a
/// valid key; anything else refuses. `None` when the action does not ask.
fn authorized(action: &Action, req: &WebRequest<'_>, user: Option<&Identity>) -> Option<bool> {
    let header = req.header("X-Require-Whisk-Auth");
    Some(match action.common.annotations.get("require-whisk-auth")? {
        Value::String(secret) => header == Some(secret.as_str()),
        Value::Number(n) => header == Some(n.to_string().as_str()),
        Value::Bool(true) => user.is_some(),
        _ => false,
    })
}

fn not_found() -> Error {
    Error::not_found()
}

/// Answers one web request.
pub(crate) fn handle(c: &Controller, req: &WebRequest<'_>, transaction_id: &str) -> WebReply {
    let (reply, cors) = serve(c, req, transaction_id);
    if !cors {
        return reply;
    }
    let allowed_headers = req
        .header("Access-Control-Request-Headers")
        .unwrap_or(DEFAULT_ALLOWED_HEADERS)
        .to_string();
    reply
        .header("Access-Control-Allow-Origin", "*")
        .header("Access-Control-Allow-Methods", ALLOWED_METHODS)
        .header("Access-Control-Allow-Headers", allowed_headers)
}

/// The reply, and whether the sandbox adds the CORS headers (unless the action answers
/// `OPTIONS` itself with `web-custom-options`).
fn serve(c: &Controller, req: &WebRequest<'_>, transaction_id: &str) -> (WebReply, bool) {
    let fail = |e: Error, cors: bool| (WebReply::error(&e, transaction_id), cors);
    let segments: Vec<String> = req.path.split('/').map(percent_decode).collect();
    let [ns, pkg, name_with_extension, rest @ ..] = segments.as_slice() else {
        return fail(not_found(), false);
    };
    let (name, extension) = Extension::split(name_with_extension);
    if ![ns.as_str(), pkg, name].iter().all(|s| is_valid_name(s)) {
        return fail(not_found(), false);
    }
    // Only a configured namespace has an owner to run the action as.
    if !c.config.namespaces.iter().any(|k| &k.namespace == ns) {
        return fail(not_found(), false);
    }
    let owner = c.owner_of(ns);
    let pkg = (pkg != "default").then_some(pkg.as_str());
    let target = EntityName::new(ns, pkg, name);
    let resolved = match resolve(&c.store(), &owner, &target) {
        Ok(resolved) if annotation_true(&resolved.action, "web-export") => resolved,
        _ => return fail(not_found(), false),
    };
    let action = &resolved.action;
    let cors = !annotation_true(action, "web-custom-options");
    if cors && req.method == "OPTIONS" {
        return (WebReply::new(200), cors);
    }
    // A key, when one is sent and valid, names the caller (`__ow_user`).
    let user = authenticate(req.header("Authorization"), &c.config.namespaces).ok();
    if req.method != "OPTIONS" && authorized(action, req, user.as_ref()) == Some(false) {
        return fail(Error::Unauthorized(messages::UNAUTHORIZED.into()), cors);
    }
    let raw = annotation_true(action, "raw-http");
    let immutable: Vec<String> = if annotation_true(action, "final") {
        merged(&resolved.inherited, &action.parameters)
            .into_iter()
            .filter(|(_, v)| !v.is_null())
            .map(|(k, _)| k)
            .collect()
    } else {
        Vec::new()
    };
    let path: String = rest.iter().map(|s| format!("/{s}")).collect();
    let args = match request::action_arguments(req, &path, user.as_ref(), raw, &immutable) {
        Ok(args) => args,
        Err(e) => return fail(e, cors),
    };
    let id = start(c, owner, resolved, args, None);
    let reply = match c.activations.wait_for_id(&id, MAX_WAIT, &c.shutdown) {
        Err(e) => WebReply::error(&e, transaction_id),
        Ok(None) => WebReply::error(
            &Error::Status {
                status: 202,
                message: messages::RESPONSE_NOT_READY.into(),
            },
            transaction_id,
        ),
        Ok(Some(activation)) => {
            // A success answers its result; an application error its `error` field.
            let projected = match activation.status_code {
                0 => Ok(activation.result.clone()),
                1 => activation
                    .result
                    .get("error")
                    .cloned()
                    .ok_or_else(|| Error::NotFound(messages::PROPERTY_NOT_FOUND.into())),
                _ => Err(Error::bad(messages::ERROR_PROCESSING_REQUEST)),
            };
            match projected.and_then(|result| extension.respond(result)) {
                Ok(reply) => reply,
                Err(e) => WebReply::error(&e, transaction_id),
            }
        }
    };
    (reply.header("x-openwhisk-activation-id", id), cors)
}
