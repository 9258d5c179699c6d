//! The HTTP side: auth, media types, routing and the hook endpoints, with Gitea's status codes
//! and its error body (`{"message", "url"}`).

use std::sync::Arc;
use std::time::SystemTime;

use serde_json::{Map, Value, json};

use super::model::{ContentType, Hook, chosen_events};
use super::{Shared, outgoing};
use crate::http::{
    BytesResponse, Method, Request, header, json_response, lock, new_guid, path_only, query_param,
    read_body, response,
};

/// Request bodies beyond this are refused (hook bodies are tiny).
const BODY_LIMIT: u64 = 1024 * 1024;
/// `[api] DEFAULT_PAGING_NUM` and `MAX_RESPONSE_ITEMS`.
const DEFAULT_PAGE: usize = 30;
const MAX_PAGE: usize = 50;
/// The hook types of the description's `CreateHookOption.type` enum.
const HOOK_TYPES: &[&str] = &[
    "dingtalk",
    "discord",
    "gitea",
    "gogs",
    "msteams",
    "slack",
    "telegram",
    "feishu",
    "wechatwork",
    "packagist",
];

/// An error answer: status and Gitea's `message`.
#[derive(Debug)]
pub(crate) struct ApiError {
    status: u16,
    message: String,
}

impl ApiError {
    fn new(status: u16, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
        }
    }

    fn not_found() -> Self {
        Self::new(404, "The target couldn't be found.")
    }

    fn invalid(message: impl Into<String>) -> Self {
        Self::new(422, message)
    }
}

enum Route {
    Hooks,
    Hook(i64),
    Tests(i64),
}

pub(crate) fn handle(shared: &Arc<Shared>, mut request: Request) -> BytesResponse {
    let base_url = lock(&shared.state).base_url.clone();
    let body = read_body(&mut request, BODY_LIMIT);
    let answer = match body {
        Ok(body) => answer(shared, &request, &body),
        Err(_) => Err(ApiError::new(413, "request body too large")),
    };
    answer.unwrap_or_else(|error| {
        json_response(
            error.status,
            &json!({"message": error.message, "url": format!("{base_url}/api/swagger")}),
        )
    })
}

fn answer(shared: &Arc<Shared>, request: &Request, body: &[u8]) -> Result<BytesResponse, ApiError> {
    let token = token(request)?;
    if !accepts_json(header(request, "Accept")) {
        return Err(ApiError::new(
            406,
            "Not Acceptable: this API produces application/json",
        ));
    }
    let (owner_repo, route) = route(request.url()).ok_or_else(ApiError::not_found)?;
    {
        let state = lock(&shared.state);
        if !state.token_known(&token) {
            return Err(ApiError::new(401, "invalid username, password or token"));
        }
        let allowed = state
            .repo(&owner_repo)
            .is_some_and(|repo| repo.tokens.contains(&token));
        if !allowed {
            // Gitea answers 404 for a repository the token may not see.
            return Err(ApiError::not_found());
        }
    }
    let method = request.method().clone();
    let has_body = !body.iter().all(u8::is_ascii_whitespace);
    if has_body && !json_body(header(request, "Content-Type")) {
        return Err(ApiError::new(
            415,
            "Unsupported Media Type: send application/json",
        ));
    }
    match (route, method) {
        (Route::Hooks, Method::GET) => list(shared, &owner_repo, request.url()),
        (Route::Hooks, Method::POST) => create(shared, &owner_repo, body),
        (Route::Hook(id), Method::GET) => with_hook(shared, &owner_repo, id, |hook| {
            Ok(json_response(200, &hook.to_json()))
        }),
        (Route::Hook(id), Method::PATCH) => edit(shared, &owner_repo, id, body),
        (Route::Hook(id), Method::DELETE) => {
            let mut state = lock(&shared.state);
            let repo = state
                .repo_mut(&owner_repo)
                .ok_or_else(ApiError::not_found)?;
            repo.hooks.remove(&id).ok_or_else(ApiError::not_found)?;
            Ok(response(204, Vec::new(), &[]))
        }
        (Route::Tests(id), Method::POST) => test_push(shared, &owner_repo, id),
        _ => Err(ApiError::new(405, "Method Not Allowed")),
    }
}

/// The API token: `Authorization: token <t>`, or the `token`/`access_token` query parameter.
fn token(request: &Request) -> Result<String, ApiError> {
    if let Some(value) = header(request, "Authorization") {
        return match value.trim().split_once(' ') {
            Some((scheme, token)) if scheme.eq_ignore_ascii_case("token") => {
                Ok(token.trim().to_owned())
            }
            _ => Err(ApiError::new(401, "invalid username, password or token")),
        };
    }
    ["token", "access_token"]
        .iter()
        .find_map(|name| query_param(request.url(), name))
        .ok_or_else(|| ApiError::new(401, "token is required"))
}

/// True when an `Accept` header allows `application/json` (or there is none).
fn accepts_json(accept: Option<&str>) -> bool {
    accept.is_none_or(|accept| {
        accept.split(',').any(|range| {
            let media = range.split(';').next().unwrap_or_default().trim();
            matches!(
                media.to_ascii_lowercase().as_str(),
                "application/json" | "application/*" | "*/*"
            )
        })
    })
}

/// True for the description's `consumes`: `application/json` and `text/plain`.
fn json_body(content_type: Option<&str>) -> bool {
    content_type.is_some_and(|value| {
        let media = value.split(';').next().unwrap_or_default().trim();
        media.eq_ignore_ascii_case("application/json") || media.eq_ignore_ascii_case("text/plain")
    })
}

/// `/api/v1/repos/{owner}/{repo}/hooks[/{id}[/tests]]`.
fn route(url: &str) -> Option<(String, Route)> {
    let path = path_only(url).strip_prefix("/api/v1/repos/")?;
    let segments: Vec<&str> = path.trim_end_matches('/').split('/').collect();
    let id = |text: &str| text.parse::<i64>().ok();
    let (owner, repo, route) = match segments.as_slice() {
        [owner, repo, "hooks"] => (owner, repo, Route::Hooks),
        [owner, repo, "hooks", hook] => (owner, repo, Route::Hook(id(hook)?)),
        [owner, repo, "hooks", hook, "tests"] => (owner, repo, Route::Tests(id(hook)?)),
        _ => return None,
    };
    (!owner.is_empty() && !repo.is_empty()).then(|| (format!("{owner}/{repo}"), route))
}

fn with_hook(
    shared: &Shared,
    owner_repo: &str,
    id: i64,
    f: impl FnOnce(&Hook) -> Result<BytesResponse, ApiError>,
) -> Result<BytesResponse, ApiError> {
    let state = lock(&shared.state);
    let repo = state.repo(owner_repo).ok_or_else(ApiError::not_found)?;
    f(repo.hooks.get(&id).ok_or_else(ApiError::not_found)?)
}

/// One page (`page` from 1, `limit` default 30, at most 50) with `Link` and `X-Total-Count`.
fn list(shared: &Shared, owner_repo: &str, url: &str) -> Result<BytesResponse, ApiError> {
    let state = lock(&shared.state);
    let repo = state.repo(owner_repo).ok_or_else(ApiError::not_found)?;
    let limit = query_param(url, "limit")
        .and_then(|value| value.parse::<usize>().ok())
        .filter(|limit| *limit > 0)
        .map_or(DEFAULT_PAGE, |limit| limit.min(MAX_PAGE));
    let page = query_param(url, "page")
        .and_then(|value| value.parse::<usize>().ok())
        .map_or(1, |page| page.max(1));
    let all: Vec<Value> = repo.hooks.values().map(Hook::to_json).collect();
    let total = all.len();
    let items: Vec<Value> = all
        .into_iter()
        .skip((page - 1).saturating_mul(limit))
        .take(limit)
        .collect();
    let mut reply = json_response(200, &Value::Array(items));
    let last = total.div_ceil(limit).max(1);
    let base = format!("{}{}", state.base_url, path_only(url));
    let mut links = Vec::new();
    if page < last {
        links.push(format!(
            "<{base}?limit={limit}&page={}>; rel=\"next\"",
            page + 1
        ));
        links.push(format!("<{base}?limit={limit}&page={last}>; rel=\"last\""));
    }
    if page > 1 {
        links.push(format!("<{base}?limit={limit}&page=1>; rel=\"first\""));
        links.push(format!(
            "<{base}?limit={limit}&page={}>; rel=\"prev\"",
            page - 1
        ));
    }
    if !links.is_empty() {
        reply.add_header("Link", &links.join(","));
    }
    reply.add_header("X-Total-Count", &total.to_string());
    Ok(reply)
}

/// The request body as a JSON object; Gitea's binding answers 422 for anything else.
fn object(body: &[u8]) -> Result<Map<String, Value>, ApiError> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(ApiError::invalid("the body must be a JSON object")),
        Err(error) => Err(ApiError::invalid(format!("invalid JSON: {error}"))),
    }
}

/// A field that must be a string when present.
fn string(body: &Map<String, Value>, name: &str) -> Result<Option<String>, ApiError> {
    match body.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) => Ok(Some(text.clone())),
        Some(other) => Err(ApiError::invalid(format!(
            "{name}: cannot unmarshal {other} into a string"
        ))),
    }
}

/// `config`: a map of strings (`CreateHookOptionConfig`).
fn config(body: &Map<String, Value>) -> Result<Option<Map<String, Value>>, ApiError> {
    match body.get("config") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(config)) => {
            if let Some((key, _)) = config.iter().find(|(_, value)| !value.is_string()) {
                return Err(ApiError::invalid(format!(
                    "config.{key}: cannot unmarshal a non-string into a string"
                )));
            }
            Ok(Some(config.clone()))
        }
        Some(_) => Err(ApiError::invalid("config: must be an object of strings")),
    }
}

fn events(body: &Map<String, Value>) -> Result<Vec<String>, ApiError> {
    match body.get("events") {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(items)) => items
            .iter()
            .map(|item| {
                item.as_str()
                    .map(str::to_owned)
                    .ok_or_else(|| ApiError::invalid("events: must be a list of strings"))
            })
            .collect(),
        Some(_) => Err(ApiError::invalid("events: must be a list of strings")),
    }
}

fn active(body: &Map<String, Value>) -> Result<Option<bool>, ApiError> {
    match body.get("active") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(flag)) => Ok(Some(*flag)),
        Some(_) => Err(ApiError::invalid("active: must be a boolean")),
    }
}

fn content_type(text: &str) -> Result<ContentType, ApiError> {
    ContentType::parse(text).ok_or_else(|| ApiError::invalid("Invalid content type"))
}

fn create(shared: &Arc<Shared>, owner_repo: &str, body: &[u8]) -> Result<BytesResponse, ApiError> {
    let body = object(body)?;
    let kind = string(&body, "type")?.ok_or_else(|| ApiError::invalid("type: Required"))?;
    let config = config(&body)?.ok_or_else(|| ApiError::invalid("config: Required"))?;
    if !HOOK_TYPES.contains(&kind.as_str()) {
        return Err(ApiError::invalid(format!("Invalid hook type: {kind}")));
    }
    if kind != "gitea" && kind != "gogs" {
        return Err(ApiError::invalid(format!(
            "the fake Gitea serves gitea and gogs hooks, not {kind}"
        )));
    }
    let option = |name: &str| config.get(name).and_then(Value::as_str).map(str::to_owned);
    for required in ["url", "content_type"] {
        if option(required).is_none() {
            return Err(ApiError::invalid(format!(
                "Missing config option: {required}"
            )));
        }
    }
    let content_type = content_type(&option("content_type").unwrap_or_default())?;
    let events = chosen_events(&events(&body)?);
    let active = active(&body)?.unwrap_or(false);
    let branch_filter = string(&body, "branch_filter")?.unwrap_or_default();
    let authorization_header = string(&body, "authorization_header")?.unwrap_or_default();
    let mut state = lock(&shared.state);
    let id = state.take_hook_id();
    let garbled = state.garbled_create.take();
    let repo = state.repo_mut(owner_repo).ok_or_else(ApiError::not_found)?;
    let now = SystemTime::now();
    let hook = Hook {
        id,
        kind,
        url: option("url").unwrap_or_default(),
        content_type,
        secret: option("secret").unwrap_or_default(),
        events,
        branch_filter,
        authorization_header,
        active,
        created_at: now,
        updated_at: now,
        deliveries: Vec::new(),
    };
    let created = hook.to_json();
    repo.hooks.insert(id, hook);
    Ok(match garbled {
        Some(text) => response(
            201,
            text.into_bytes(),
            &[("Content-Type", "application/json;charset=utf-8")],
        ),
        None => json_response(201, &created),
    })
}

fn edit(
    shared: &Shared,
    owner_repo: &str,
    id: i64,
    body: &[u8],
) -> Result<BytesResponse, ApiError> {
    let body = object(body)?;
    let config = config(&body)?;
    let events = chosen_events(&events(&body)?);
    let active = active(&body)?;
    let branch_filter = string(&body, "branch_filter")?.unwrap_or_default();
    let authorization_header = string(&body, "authorization_header")?.unwrap_or_default();
    let mut state = lock(&shared.state);
    let repo = state.repo_mut(owner_repo).ok_or_else(ApiError::not_found)?;
    let hook = repo.hooks.get_mut(&id).ok_or_else(ApiError::not_found)?;
    if let Some(config) = &config {
        let option = |name: &str| config.get(name).and_then(Value::as_str);
        if let Some(text) = option("content_type") {
            hook.content_type = content_type(text)?;
        }
        if let Some(url) = option("url") {
            hook.url = url.to_owned();
        }
        if let Some(secret) = option("secret") {
            hook.secret = secret.to_owned();
        }
    }
    // As `editHook` does: these come from the request every time.
    hook.events = events;
    hook.branch_filter = branch_filter;
    hook.authorization_header = authorization_header;
    if let Some(active) = active {
        hook.active = active;
    }
    hook.updated_at = SystemTime::now();
    Ok(json_response(200, &hook.to_json()))
}

/// `POST .../hooks/{id}/tests`: a push to the hook (when active), delivered in the background.
fn test_push(shared: &Arc<Shared>, owner_repo: &str, id: i64) -> Result<BytesResponse, ApiError> {
    let state = lock(&shared.state);
    let repo = state.repo(owner_repo).ok_or_else(ApiError::not_found)?;
    let hook = repo.hooks.get(&id).ok_or_else(ApiError::not_found)?;
    let payload = json!({
        "ref": "refs/heads/main",
        "before": "0".repeat(40),
        "after": crate::http::sha256_hex(id.to_string().as_bytes())[..40].to_owned(),
        "commits": [],
        "repository": repo.payload_json(&state.base_url),
    });
    let out = hook
        .active
        .then(|| outgoing(owner_repo, hook, &new_guid(), "push", &payload));
    drop(state);
    shared.deliver_in_background(out.into_iter().collect());
    Ok(response(204, Vec::new(), &[]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_take_int64_ids() {
        for (url, expected) in [
            ("/api/v1/repos/o/r/hooks?limit=50", Some("o/r")),
            ("/api/v1/repos/o/r/hooks/-7", Some("o/r")),
            (
                "/api/v1/repos/o/r/hooks/9007199254740993/tests",
                Some("o/r"),
            ),
            ("/repos/o/r/hooks", None),
            ("/api/v1/repos/o/r/hooks/x", None),
        ] {
            assert_eq!(
                route(url).map(|(repo, _)| repo).as_deref(),
                expected,
                "{url}"
            );
        }
    }

    #[test]
    fn media_types_follow_the_description() {
        assert!(accepts_json(None));
        assert!(accepts_json(Some("application/json")));
        assert!(accepts_json(Some("text/html, */*;q=0.1")));
        assert!(!accepts_json(Some("application/vnd.github+json")));
        assert!(json_body(Some("application/json; charset=utf-8")));
        assert!(json_body(Some("text/plain")));
        assert!(!json_body(Some("application/x-www-form-urlencoded")));
        assert!(!json_body(None));
    }
}
