//! The REST API under `/api/v1`: one table of routes (written as the swagger's paths), the
//! authentication and namespace gate in front of them, and the handlers by collection.

pub(crate) mod actions;
pub(crate) mod activations;
pub(crate) mod namespaces;
pub(crate) mod packages;
pub(crate) mod request;
pub(crate) mod rules;
pub(crate) mod triggers;

use crate::controller::Controller;
use crate::model::error::Error;
use crate::model::identity::{Identity, authenticate, own_namespace};
use crate::model::names::check_namespace;
use crate::ops::fire::{FirePayload, MAX_PAYLOAD_BYTES};
use crate::url::{parse_query, percent_decode};
use request::{ApiRequest, Reply};

/// The base path of the API.
pub(crate) const BASE_PATH: &str = "/api/v1";

type Handler = fn(&Controller, &ApiRequest) -> Result<Reply, Error>;

struct Route {
    method: &'static str,
    /// The swagger path, relative to [`BASE_PATH`].
    path: &'static str,
    /// Whether a key may reach another namespace here (published packages and their actions);
    /// the handler then checks what is shared. Elsewhere another namespace is 403.
    shared: bool,
    /// Whether the swagger lists it (the controller serves a little more than it describes).
    described: bool,
    handler: Handler,
}

const fn route(method: &'static str, path: &'static str, handler: Handler) -> Route {
    Route {
        method,
        path,
        shared: false,
        described: true,
        handler,
    }
}

const fn shared(method: &'static str, path: &'static str, handler: Handler) -> Route {
    Route {
        method,
        path,
        shared: true,
        described: true,
        handler,
    }
}

const NS: &str = "/namespaces/{namespace}";
const FIRE_ROUTE: (&str, &str) = ("POST", "/namespaces/{namespace}/triggers/{triggerName}");

const ROUTES: &[Route] = &[
    route("GET", "/namespaces", namespaces::list),
    route("GET", "/namespaces/{namespace}/limits", namespaces::limits),
    route("GET", "/namespaces/{namespace}/triggers", triggers::list),
    route(
        "GET",
        "/namespaces/{namespace}/triggers/{triggerName}",
        triggers::get,
    ),
    route(
        "PUT",
        "/namespaces/{namespace}/triggers/{triggerName}",
        triggers::put,
    ),
    route(
        "DELETE",
        "/namespaces/{namespace}/triggers/{triggerName}",
        triggers::delete,
    ),
    route(
        "POST",
        "/namespaces/{namespace}/triggers/{triggerName}",
        triggers::fire,
    ),
    route("GET", "/namespaces/{namespace}/rules", rules::list),
    route(
        "GET",
        "/namespaces/{namespace}/rules/{ruleName}",
        rules::get,
    ),
    route(
        "PUT",
        "/namespaces/{namespace}/rules/{ruleName}",
        rules::put,
    ),
    route(
        "DELETE",
        "/namespaces/{namespace}/rules/{ruleName}",
        rules::delete,
    ),
    route(
        "POST",
        "/namespaces/{namespace}/rules/{ruleName}",
        rules::set_state,
    ),
    route("GET", "/namespaces/{namespace}/actions", actions::list),
    route(
        "GET",
        "/namespaces/{namespace}/actions/{actionName}",
        actions::get,
    ),
    route(
        "PUT",
        "/namespaces/{namespace}/actions/{actionName}",
        actions::put,
    ),
    route(
        "DELETE",
        "/namespaces/{namespace}/actions/{actionName}",
        actions::delete,
    ),
    route(
        "POST",
        "/namespaces/{namespace}/actions/{actionName}",
        actions::invoke,
    ),
    shared(
        "GET",
        "/namespaces/{namespace}/actions/{packageName}/{actionName}",
        actions::get,
    ),
    route(
        "PUT",
        "/namespaces/{namespace}/actions/{packageName}/{actionName}",
        actions::put,
    ),
    route(
        "DELETE",
        "/namespaces/{namespace}/actions/{packageName}/{actionName}",
        actions::delete,
    ),
    shared(
        "POST",
        "/namespaces/{namespace}/actions/{packageName}/{actionName}",
        actions::invoke,
    ),
    // `wsk action list PACKAGE` and aio list a package's actions here; the swagger does not
    // describe it, the controller serves it (`Actions.innerRoutes`, `listPackageActions`).
    Route {
        method: "GET",
        path: "/namespaces/{namespace}/actions/{packageName}/",
        shared: true,
        described: false,
        handler: actions::list_in_package,
    },
    shared("GET", "/namespaces/{namespace}/packages", packages::list),
    shared(
        "GET",
        "/namespaces/{namespace}/packages/{packageName}",
        packages::get,
    ),
    route(
        "PUT",
        "/namespaces/{namespace}/packages/{packageName}",
        packages::put,
    ),
    route(
        "DELETE",
        "/namespaces/{namespace}/packages/{packageName}",
        packages::delete,
    ),
    route(
        "GET",
        "/namespaces/{namespace}/activations",
        activations::list,
    ),
    route(
        "GET",
        "/namespaces/{namespace}/activations/{activationid}",
        activations::get,
    ),
    route(
        "GET",
        "/namespaces/{namespace}/activations/{activationid}/logs",
        activations::logs,
    ),
    route(
        "GET",
        "/namespaces/{namespace}/activations/{activationid}/result",
        activations::result,
    ),
];

/// Every `(method, path)` of the REST API, paths as in the swagger (relative to `/api/v1`).
/// (`GET /namespaces/{namespace}/actions/{packageName}/`, which the swagger does not describe,
/// is served besides.)
pub(crate) fn routes() -> impl Iterator<Item = (&'static str, &'static str)> {
    ROUTES
        .iter()
        .filter(|r| r.described)
        .map(|r| (r.method, r.path))
}

/// Matches `segments` against a route path; the captured path parameters on success.
fn capture(path: &'static str, segments: &[String]) -> Option<Vec<(&'static str, String)>> {
    let pattern: Vec<&'static str> = path.split('/').skip(1).collect();
    if pattern.len() != segments.len() {
        return None;
    }
    let mut params = Vec::new();
    for (want, got) in pattern.iter().zip(segments) {
        match want.strip_prefix('{').and_then(|p| p.strip_suffix('}')) {
            Some(name) if !got.is_empty() => params.push((name, got.clone())),
            Some(_) => return None,
            None if want == got => {}
            None => return None,
        }
    }
    Some(params)
}

fn not_found_route() -> Error {
    Error::NotFound("The requested resource could not be found.".into())
}

/// The largest body of an entity PUT other than an action's (parameters and annotations).
pub(crate) const MAX_ENTITY_BYTES: usize = 2 * 1024 * 1024;
/// The largest action PUT: 48 MiB of code is 64 MiB as base64, plus the rest of the body.
pub(crate) const MAX_ACTION_BYTES: usize = 72 * 1024 * 1024;

/// A request routed and authenticated, before its body is read.
pub(crate) struct Prepared {
    route: &'static Route,
    params: Vec<(&'static str, String)>,
    identity: Identity,
}

impl Prepared {
    /// The largest body this route takes: an action's code, a fire or invoke payload (1 MiB,
    /// as the controller), or an entity.
    pub fn body_limit(&self) -> usize {
        match (self.route.method, self.route.path.contains("/actions/")) {
            ("PUT", true) => MAX_ACTION_BYTES,
            ("POST", _) if !self.route.path.contains("/rules/") => MAX_PAYLOAD_BYTES,
            _ => MAX_ENTITY_BYTES,
        }
    }

    /// Whether answering may wait: for an activation (an invoke, blocking or not, may wait for
    /// the action's process to start), or for the state file (a change with `state_file`).
    /// Everything else only takes locks held briefly.
    pub fn may_wait(&self, state_file: bool) -> bool {
        match self.route.method {
            "GET" => false,
            "POST" if self.route.path.contains("/actions/") => true,
            "POST" if self.route.path.contains("/triggers/") => false,
            _ => state_file,
        }
    }

    /// The answer to a body over [`Prepared::body_limit`] (a refused fire is recorded as one).
    pub fn too_large(&self, c: &Controller, size: usize) -> Error {
        let limit = self.body_limit();
        let refused = Error::TooLarge(format!(
            "Request larger than allowed: {size} > {limit} bytes."
        ));
        if (self.route.method, self.route.path) == FIRE_ROUTE {
            let request = self.request(Vec::new(), Vec::new());
            let fired = crate::ops::fire::fire(
                c,
                &request.identity,
                request.namespace(),
                request.param("triggerName"),
                FirePayload::too_large(size),
            );
            return fired.outcome.err().unwrap_or(refused);
        }
        refused
    }

    fn request(&self, query: Vec<(String, String)>, body: Vec<u8>) -> ApiRequest {
        ApiRequest {
            identity: self.identity.clone(),
            params: self.params.clone(),
            query,
            body,
        }
    }
}

/// Routes and authenticates a request from its method, path (without the query) and
/// `Authorization` header: 404 for no route, 401 for a missing or wrong key, 405 for a route
/// without that method, 403 for another namespace's entities.
pub(crate) fn prepare(
    c: &Controller,
    method: &str,
    path: &str,
    authorization: Option<&str>,
) -> Result<Prepared, Error> {
    let rest = path
        .strip_prefix(BASE_PATH)
        .filter(|rest| rest.starts_with("/namespaces"))
        .ok_or_else(not_found_route)?;
    let identity = authenticate(authorization, &c.config.namespaces)?;
    let segments: Vec<String> = rest.split('/').skip(1).map(percent_decode).collect();
    let mut allowed = Vec::new();
    for route in ROUTES {
        let Some(params) = capture(route.path, &segments) else {
            continue;
        };
        if route.method != method {
            allowed.push(route.method);
            continue;
        }
        let prepared = Prepared {
            route,
            params,
            identity,
        };
        if route.path.starts_with(NS) {
            let namespace = prepared
                .request(Vec::new(), Vec::new())
                .namespace()
                .to_string();
            check_namespace(&namespace)?;
            if !route.shared {
                own_namespace(&prepared.identity, &namespace)?;
            }
        }
        return Ok(prepared);
    }
    if allowed.is_empty() {
        Err(not_found_route())
    } else {
        Err(Error::MethodNotAllowed(format!(
            "HTTP method not allowed, supported methods: {}",
            allowed.join(", ")
        )))
    }
}

/// Runs a prepared request with its query string and body.
pub(crate) fn run(
    c: &Controller,
    prepared: &Prepared,
    query: &str,
    body: Vec<u8>,
) -> Result<Reply, Error> {
    let request = prepared.request(parse_query(query), body);
    (prepared.route.handler)(c, &request)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn captures_path_parameters() {
        let segs = |s: &str| s.split('/').skip(1).map(String::from).collect::<Vec<_>>();
        let packaged = "/namespaces/{namespace}/actions/{packageName}/{actionName}";
        let p = capture(packaged, &segs("/namespaces/_/actions/pkg/a")).unwrap();
        assert_eq!(
            p,
            vec![
                ("namespace", "_".to_string()),
                ("packageName", "pkg".to_string()),
                ("actionName", "a".to_string())
            ]
        );
        assert!(capture(packaged, &segs("/namespaces/_/actions/a")).is_none());
        let plain = "/namespaces/{namespace}/actions/{actionName}";
        assert!(capture(plain, &segs("/namespaces/_/actions/")).is_none());
        assert!(capture(plain, &segs("/namespaces/_/triggers/t")).is_none());
    }
}
