//! The REST API under `/api/v1`: one table of routes (written as the swagger's paths), the
//! authentication and namespace gate in front of them, and the handlers by collection.

pub(crate) mod actions;
pub(crate) mod activations;
pub(crate) mod namespaces;
pub(crate) mod packages;
pub(crate) mod request;
pub(crate) mod rules;
pub(crate) mod triggers;

use crate::auth::authenticate;
use crate::controller::Controller;
use crate::error::Error;
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
    handler: Handler,
}

const fn route(method: &'static str, path: &'static str, handler: Handler) -> Route {
    Route {
        method,
        path,
        shared: false,
        handler,
    }
}

const fn shared(method: &'static str, path: &'static str, handler: Handler) -> Route {
    Route {
        method,
        path,
        shared: true,
        handler,
    }
}

const NS: &str = "/namespaces/{namespace}";

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

/// Every `(method, path)` the sandbox serves, paths as in the swagger (relative to `/api/v1`).
pub fn served_routes() -> Vec<(&'static str, &'static str)> {
    // Web actions also answer HEAD, OPTIONS and PATCH, which the swagger does not list.
    let web = ["GET", "PUT", "DELETE", "POST"].map(|m| (m, crate::web::WEB_ROUTE));
    ROUTES
        .iter()
        .map(|r| (r.method, r.path))
        .chain(web)
        .collect()
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

/// Decodes `%XX` escapes (and nothing else: `+` stays `+` in paths).
pub(crate) fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Parses a query string (`+` is a space there).
pub(crate) fn parse_query(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (
                percent_decode(&k.replace('+', " ")),
                percent_decode(&v.replace('+', " ")),
            )
        })
        .collect()
}

/// An incoming request before routing.
pub(crate) struct RawRequest<'a> {
    pub method: &'a str,
    /// The path below the host, without the query.
    pub path: &'a str,
    pub query: &'a str,
    pub authorization: Option<&'a str>,
    pub body: Vec<u8>,
}

fn not_found_route() -> Error {
    Error::NotFound("The requested resource could not be found.".into())
}

/// Authenticates, routes and runs one request.
pub(crate) fn dispatch(controller: &Controller, raw: RawRequest<'_>) -> Result<Reply, Error> {
    let rest = raw
        .path
        .strip_prefix(BASE_PATH)
        .filter(|rest| rest.starts_with("/namespaces"))
        .ok_or_else(not_found_route)?;
    let identity = authenticate(raw.authorization, &controller.config.namespaces)?;
    let segments: Vec<String> = rest.split('/').skip(1).map(percent_decode).collect();
    let mut allowed = Vec::new();
    for route in ROUTES {
        let Some(params) = capture(route.path, &segments) else {
            continue;
        };
        if route.method != raw.method {
            allowed.push(route.method);
            continue;
        }
        let request = ApiRequest {
            identity,
            params,
            query: parse_query(raw.query),
            body: raw.body,
        };
        if route.path.starts_with(NS) {
            crate::names::check_namespace(request.namespace())?;
            if !route.shared {
                crate::auth::own_namespace(&request.identity, request.namespace())?;
            }
        }
        return (route.handler)(controller, &request);
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

    #[test]
    fn decodes_percent_escapes() {
        assert_eq!(percent_decode("a%20b%2Fc%zz"), "a b/c%zz");
        assert_eq!(
            parse_query("name=pkg%2Fa&docs=true&x"),
            vec![
                ("name".to_string(), "pkg/a".to_string()),
                ("docs".to_string(), "true".to_string()),
                ("x".to_string(), String::new())
            ]
        );
    }
}
