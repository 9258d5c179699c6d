//! The HTTP side: routing, token auth and the hook endpoints.

use std::sync::Arc;
use std::time::SystemTime;

use serde_json::{Value, json};

use super::model::{Hook, LastResponse};
use super::validate::{self, ApiError};
use super::{Shared, outgoing, ping_payload, test_push_payload};
use crate::http::{
    BytesResponse, Method, Request, header, json_response, lock, new_guid, path_only, query_param,
    read_body, response,
};

/// Request bodies beyond this are refused (hook bodies are tiny).
const BODY_LIMIT: u64 = 1024 * 1024;

/// A parsed route under `/repos/{owner}/{repo}/hooks`.
enum Route {
    Hooks,
    Hook(u64),
    Config(u64),
    Pings(u64),
    Tests(u64),
    Deliveries(u64),
    DeliveryDetail(u64, u64),
    DeliveryAttempts(u64, u64),
    /// A path under a repository's hooks that names no resource (e.g. a non-numeric id).
    Unknown,
}

struct Call<'a> {
    /// The base URL the client used (with `/api/v3` when it came that way).
    api_base: String,
    owner_repo: String,
    route: Route,
    method: &'a Method,
    url: &'a str,
}

pub(crate) fn handle(shared: &Arc<Shared>, mut request: Request) -> BytesResponse {
    let body = read_body(&mut request, BODY_LIMIT);
    let answer = match body {
        Ok(body) => answer(shared, &request, &body),
        Err(_) => Err(ApiError::new(413, "Request body too large")),
    };
    match answer {
        Ok(reply) => reply,
        Err(error) => api_json(error.status, &error.to_json()),
    }
}

fn answer(shared: &Arc<Shared>, request: &Request, body: &[u8]) -> Result<BytesResponse, ApiError> {
    let state = lock(&shared.state);
    let token = match bearer_token(request) {
        None => None,
        Some(Some(token)) if state.token_known(&token) => Some(token),
        Some(_) => return Err(ApiError::new(401, "Bad credentials")),
    };
    let call = route(request, &state.base_url).ok_or_else(ApiError::not_found)?;
    let token = token.ok_or_else(|| ApiError::new(401, "Requires authentication"))?;
    let allowed = state
        .repo(&call.owner_repo)
        .is_some_and(|repo| repo.tokens.contains(&token));
    if !allowed {
        // GitHub hides repositories a token may not see.
        return Err(ApiError::not_found());
    }
    drop(state);
    dispatch(shared, &call, body)
}

/// The token of `Authorization: token X` / `Bearer X`: `None` without the header,
/// `Some(None)` when the header is there but unusable.
fn bearer_token(request: &Request) -> Option<Option<String>> {
    let value = header(request, "Authorization")?;
    let (scheme, token) = value.trim().split_once(' ')?;
    let scheme_ok = scheme.eq_ignore_ascii_case("token") || scheme.eq_ignore_ascii_case("bearer");
    let token = token.trim();
    Some((scheme_ok && !token.is_empty()).then(|| token.to_owned()))
}

fn route<'a>(request: &'a Request, base_url: &str) -> Option<Call<'a>> {
    let url = request.url();
    let mut path = path_only(url);
    let mut api_base = base_url.to_owned();
    if let Some(rest) = path.strip_prefix("/api/v3") {
        path = rest;
        api_base.push_str("/api/v3");
    }
    let segments: Vec<&str> = path.trim_end_matches('/').split('/').skip(1).collect();
    let [repos, owner, repo, hooks, rest @ ..] = segments.as_slice() else {
        return None;
    };
    if *repos != "repos" || *hooks != "hooks" || owner.is_empty() || repo.is_empty() {
        return None;
    }
    let id = |s: &str| s.parse::<u64>().ok();
    let route = match rest {
        [] => Route::Hooks,
        [hook] => id(hook).map_or(Route::Unknown, Route::Hook),
        [hook, "config"] => id(hook).map_or(Route::Unknown, Route::Config),
        [hook, "pings"] => id(hook).map_or(Route::Unknown, Route::Pings),
        [hook, "tests" | "test"] => id(hook).map_or(Route::Unknown, Route::Tests),
        [hook, "deliveries"] => id(hook).map_or(Route::Unknown, Route::Deliveries),
        [hook, "deliveries", delivery] => match (id(hook), id(delivery)) {
            (Some(h), Some(d)) => Route::DeliveryDetail(h, d),
            _ => Route::Unknown,
        },
        [hook, "deliveries", delivery, "attempts"] => match (id(hook), id(delivery)) {
            (Some(h), Some(d)) => Route::DeliveryAttempts(h, d),
            _ => Route::Unknown,
        },
        _ => Route::Unknown,
    };
    Some(Call {
        api_base,
        owner_repo: format!("{owner}/{repo}"),
        route,
        method: request.method(),
        url,
    })
}

fn dispatch(shared: &Arc<Shared>, call: &Call<'_>, body: &[u8]) -> Result<BytesResponse, ApiError> {
    match (&call.route, call.method.clone()) {
        (Route::Hooks, Method::GET) => list_hooks(shared, call),
        (Route::Hooks, Method::POST) => create_hook(shared, call, body),
        (Route::Hook(id), Method::GET) => with_hook(shared, call, *id, |hook, full_name| {
            Ok(api_json(200, &hook.to_json(&call.api_base, full_name)))
        }),
        (Route::Hook(id), Method::PATCH) => update_hook(shared, call, *id, body),
        (Route::Hook(id), Method::DELETE) => {
            let mut state = lock(&shared.state);
            let repo = state
                .repo_mut(&call.owner_repo)
                .ok_or_else(ApiError::not_found)?;
            repo.hooks.remove(id).ok_or_else(ApiError::not_found)?;
            Ok(no_content())
        }
        (Route::Config(id), Method::GET) => with_hook(shared, call, *id, |hook, _| {
            Ok(api_json(200, &hook.config.masked_json()))
        }),
        (Route::Config(id), Method::PATCH) => update_config(shared, call, *id, body),
        (Route::Pings(id), Method::POST) => ping(shared, call, *id),
        (Route::Tests(id), Method::POST) => test_push(shared, call, *id),
        (Route::Deliveries(id), Method::GET) => list_deliveries(shared, call, *id),
        (Route::DeliveryDetail(id, delivery), Method::GET) => {
            with_hook(shared, call, *id, |hook, _| {
                let record = hook.deliveries.iter().find(|d| d.delivery.id == *delivery);
                let record = record.ok_or_else(ApiError::not_found)?;
                Ok(api_json(200, &record.detail_json()))
            })
        }
        (Route::DeliveryAttempts(id, delivery), Method::POST) => {
            redeliver(shared, call, *id, *delivery)
        }
        _ => Err(ApiError::not_found()),
    }
}

/// Runs `f` on a hook of the call's repository (404 when either is missing).
fn with_hook(
    shared: &Shared,
    call: &Call<'_>,
    id: u64,
    f: impl FnOnce(&Hook, &str) -> Result<BytesResponse, ApiError>,
) -> Result<BytesResponse, ApiError> {
    let state = lock(&shared.state);
    let repo = state
        .repo(&call.owner_repo)
        .ok_or_else(ApiError::not_found)?;
    let hook = repo.hooks.get(&id).ok_or_else(ApiError::not_found)?;
    f(hook, &repo.full_name)
}

fn list_hooks(shared: &Shared, call: &Call<'_>) -> Result<BytesResponse, ApiError> {
    let state = lock(&shared.state);
    let repo = state
        .repo(&call.owner_repo)
        .ok_or_else(ApiError::not_found)?;
    let all: Vec<Value> = repo
        .hooks
        .values()
        .map(|hook| hook.to_json(&call.api_base, &repo.full_name))
        .collect();
    Ok(paginated(call, all))
}

fn create_hook(
    shared: &Arc<Shared>,
    call: &Call<'_>,
    body: &[u8],
) -> Result<BytesResponse, ApiError> {
    let new = validate::new_hook(&validate::parse_object(body)?)?;
    let mut state = lock(&shared.state);
    let id = state.take_hook_id();
    let repo = state
        .repo_mut(&call.owner_repo)
        .ok_or_else(ApiError::not_found)?;
    if repo.conflicting_hook(None, &new.config.url, &new.events) {
        return Err(ApiError::validation(
            "Hook already exists on this repository",
        ));
    }
    let now = SystemTime::now();
    let hook = Hook {
        id,
        active: new.active,
        events: new.events,
        config: new.config,
        created_at: now,
        updated_at: now,
        last_response: LastResponse::Unused,
        deliveries: Vec::new(),
    };
    let created = hook.to_json(&call.api_base, &repo.full_name);
    // Like GitHub, a new active hook gets a `ping` right away.
    let ping = hook.active.then(|| {
        let payload = ping_payload(repo, created.clone(), id);
        outgoing(repo, id, &hook.config, &new_guid(), "ping", &payload, false)
    });
    repo.hooks.insert(id, hook);
    drop(state);
    shared.deliver_in_background(ping.into_iter().collect());
    let location = created["url"].as_str().unwrap_or_default().to_owned();
    let mut reply = api_json(201, &created);
    reply.add_header("Location", &location);
    Ok(reply)
}

fn update_hook(
    shared: &Shared,
    call: &Call<'_>,
    id: u64,
    body: &[u8],
) -> Result<BytesResponse, ApiError> {
    let patch = validate::hook_patch(&validate::parse_object(body)?)?;
    let mut state = lock(&shared.state);
    let repo = state
        .repo_mut(&call.owner_repo)
        .ok_or_else(ApiError::not_found)?;
    let hook = repo.hooks.get(&id).ok_or_else(ApiError::not_found)?;
    let events = patch.apply_events(&hook.events);
    let config = patch.config.clone().unwrap_or_else(|| hook.config.clone());
    if repo.conflicting_hook(Some(id), &config.url, &events) {
        return Err(ApiError::validation(
            "Hook already exists on this repository",
        ));
    }
    let full_name = repo.full_name.clone();
    let hook = repo.hooks.get_mut(&id).ok_or_else(ApiError::not_found)?;
    hook.events = events;
    hook.config = config;
    if let Some(active) = patch.active {
        hook.active = active;
    }
    hook.updated_at = SystemTime::now();
    Ok(api_json(200, &hook.to_json(&call.api_base, &full_name)))
}

fn update_config(
    shared: &Shared,
    call: &Call<'_>,
    id: u64,
    body: &[u8],
) -> Result<BytesResponse, ApiError> {
    let patch = validate::parse_object(body)?;
    let mut state = lock(&shared.state);
    let repo = state
        .repo_mut(&call.owner_repo)
        .ok_or_else(ApiError::not_found)?;
    let hook = repo.hooks.get(&id).ok_or_else(ApiError::not_found)?;
    let config = validate::merged_config(&hook.config, &patch)?;
    if repo.conflicting_hook(Some(id), &config.url, &hook.events) {
        return Err(ApiError::validation(
            "Hook already exists on this repository",
        ));
    }
    let hook = repo.hooks.get_mut(&id).ok_or_else(ApiError::not_found)?;
    hook.config = config;
    hook.updated_at = SystemTime::now();
    Ok(api_json(200, &hook.config.masked_json()))
}

fn ping(shared: &Arc<Shared>, call: &Call<'_>, id: u64) -> Result<BytesResponse, ApiError> {
    let state = lock(&shared.state);
    let repo = state
        .repo(&call.owner_repo)
        .ok_or_else(ApiError::not_found)?;
    let hook = repo.hooks.get(&id).ok_or_else(ApiError::not_found)?;
    let payload = ping_payload(repo, hook.to_json(&call.api_base, &repo.full_name), id);
    let out = outgoing(repo, id, &hook.config, &new_guid(), "ping", &payload, false);
    drop(state);
    shared.deliver_in_background(vec![out]);
    Ok(no_content())
}

fn test_push(shared: &Arc<Shared>, call: &Call<'_>, id: u64) -> Result<BytesResponse, ApiError> {
    let state = lock(&shared.state);
    let repo = state
        .repo(&call.owner_repo)
        .ok_or_else(ApiError::not_found)?;
    let hook = repo.hooks.get(&id).ok_or_else(ApiError::not_found)?;
    // GitHub answers 204 either way, and sends nothing to a hook not subscribed to push.
    let out = hook.subscribed_to("push").then(|| {
        let guid = new_guid();
        let payload = test_push_payload(repo, &guid);
        outgoing(repo, id, &hook.config, &guid, "push", &payload, false)
    });
    drop(state);
    shared.deliver_in_background(out.into_iter().collect());
    Ok(no_content())
}

fn list_deliveries(shared: &Shared, call: &Call<'_>, id: u64) -> Result<BytesResponse, ApiError> {
    with_hook(shared, call, id, |hook, _| {
        let newest_first: Vec<Value> = hook
            .deliveries
            .iter()
            .rev()
            .map(|d| d.summary_json())
            .collect();
        Ok(paginated(call, newest_first))
    })
}

fn redeliver(
    shared: &Arc<Shared>,
    call: &Call<'_>,
    id: u64,
    delivery: u64,
) -> Result<BytesResponse, ApiError> {
    let state = lock(&shared.state);
    let repo = state
        .repo(&call.owner_repo)
        .ok_or_else(ApiError::not_found)?;
    let hook = repo.hooks.get(&id).ok_or_else(ApiError::not_found)?;
    let record = hook.deliveries.iter().find(|d| d.delivery.id == delivery);
    let record = record.ok_or_else(ApiError::not_found)?;
    let out = outgoing(
        repo,
        id,
        &hook.config,
        &record.delivery.guid,
        &record.delivery.event,
        &record.payload,
        true,
    );
    drop(state);
    shared.deliver_in_background(vec![out]);
    Ok(api_json(202, &json!({})))
}

/// One page of a list (`per_page` default 30, max 100; `page` from 1), with GitHub's `Link`
/// header when there are more pages.
fn paginated(call: &Call<'_>, all: Vec<Value>) -> BytesResponse {
    let per_page = query_param(call.url, "per_page")
        .and_then(|v| v.parse::<usize>().ok())
        .map_or(30, |n| n.clamp(1, 100));
    let page = query_param(call.url, "page")
        .and_then(|v| v.parse::<usize>().ok())
        .map_or(1, |n| n.max(1));
    let last = all.len().div_ceil(per_page).max(1);
    let items: Vec<Value> = all
        .into_iter()
        .skip((page - 1).saturating_mul(per_page))
        .take(per_page)
        .collect();
    let mut reply = api_json(200, &Value::Array(items));
    if page < last {
        let base = format!(
            "{}{}",
            call.api_base,
            path_only(call.url).trim_start_matches("/api/v3")
        );
        let link = format!(
            "<{base}?per_page={per_page}&page={}>; rel=\"next\", <{base}?per_page={per_page}&page={last}>; rel=\"last\"",
            page + 1
        );
        reply.add_header("Link", &link);
    }
    reply
}

fn api_json(status: u16, body: &Value) -> BytesResponse {
    let mut reply = json_response(status, body);
    reply.add_header("X-GitHub-Media-Type", "github.v3; format=json");
    reply
}

fn no_content() -> BytesResponse {
    response(204, Vec::new(), &[])
}
