//! A Gitea (and Forgejo) repository webhooks API, `/api/v1/repos/{owner}/{repo}/hooks`, backed
//! by state the test controls, with real deliveries signed the way Gitea signs them.
//!
//! It follows Gitea's published API description (`templates/swagger/v1_json.tmpl`) where a
//! client could get it wrong, and Gitea's own handlers (`routers/api/v1/repo/hook.go`,
//! `routers/api/v1/utils/hook.go`) for what the description leaves out:
//!
//! - auth: an API token as `Authorization: token <t>` (the description's `AuthorizationHeaderToken`:
//!   "prepended with `token` followed by a space") or the `token`/`access_token` query
//!   parameters; no credentials is 401 `token is required`, another scheme or an unknown token
//!   401. (Real Gitea also takes `bearer`, for OAuth2 tokens; the fake holds clients to the
//!   documented form.)
//! - media types: the hook endpoints produce `application/json` only, so an `Accept` that rules
//!   it out (GitHub's `application/vnd.github+json` alone) is 406; bodies are `application/json`
//!   (or `text/plain`, the description's other `consumes`), anything else 415. (Real Gitea does
//!   not check either; the fake enforces the description so that a client speaking GitHub's
//!   dialect is caught.)
//! - create (`CreateHookOption`): `type` and `config` required, `type` one of the description's
//!   enum (only `gitea` and `gogs` hooks are served here), `config` a map of strings holding
//!   `url` and `content_type` (`json` or `form`), `active` false when left out, unknown event
//!   names ignored, none meaning `push`: 422 with Gitea's messages otherwise. 201 with the hook.
//! - edit (`EditHookOption`): `config` keys replace theirs, and, as `editHook` does, the events
//!   are set from the request every time (none given: `push` only), `branch_filter` and
//!   `authorization_header` too; `active` only when given.
//! - the hook as shown (`ToHook`): `config` has `url` and `content_type`, never the secret; no
//!   delivery report; ids are int64.
//! - lists: `page` and `limit` (default 30, at most 50), `Link` and `X-Total-Count` headers.
//!
//! Gitea sends no ping when a hook is created. [`FakeGitea::deliver`] delivers an event to the
//! repository's active hooks at once; `POST .../hooks/{id}/tests` delivers a push in the
//! background ([`FakeGitea::wait_idle`]).

mod api;
mod deliver;
mod model;

use std::io;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;

use crate::hooks::Background;
use crate::http::{HttpServer, lock};
use deliver::Outgoing;
use model::State;

/// One delivery attempt, as the fake made it.
#[derive(Debug, Clone, PartialEq)]
pub struct Delivery {
    pub hook_id: i64,
    /// `X-Gitea-Delivery`.
    pub uuid: String,
    /// `X-Gitea-Event`: the event's family (`issues` for `issue_label`).
    pub event: String,
    /// `X-Gitea-Event-Type`: the event type itself.
    pub event_type: String,
    /// The receiver's status; `None` when no HTTP answer came.
    pub status: Option<u16>,
    /// The receiver's answer (the first 64 KiB).
    pub response_body: String,
    /// The headers sent (a Basic `Authorization` from the URL's userinfo left out).
    pub request_headers: Vec<(String, String)>,
}

impl Delivery {
    /// A request header's value (exact name, as sent).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.request_headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// A hook as registered, secret included (what no API answer shows).
#[derive(Debug, Clone, PartialEq)]
pub struct RegisteredHook {
    pub id: i64,
    pub url: String,
    pub content_type: String,
    pub secret: String,
    pub events: Vec<String>,
    pub branch_filter: String,
    pub active: bool,
}

/// The fake Gitea server. Dropping it stops the server.
pub struct FakeGitea {
    shared: Arc<Shared>,
    url: String,
    server: Option<HttpServer>,
}

impl std::fmt::Debug for FakeGitea {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeGitea")
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

impl FakeGitea {
    /// Starts the server on 127.0.0.1 with an OS-picked port.
    pub fn start() -> io::Result<FakeGitea> {
        // The base URL is known once the server listens; it is set before this returns.
        let shared = Arc::new(Shared {
            state: Mutex::new(State::new(String::new())),
            agent: deliver::agent(),
            background: Arc::default(),
        });
        let handler = Arc::clone(&shared);
        let server = HttpServer::start(move |request| Some(api::handle(&handler, request)))?;
        let url = format!("http://127.0.0.1:{}", server.port());
        lock(&shared.state).base_url = url.clone();
        Ok(FakeGitea {
            shared,
            url,
            server: Some(server),
        })
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        self.url.clone()
    }

    /// The API root a client is given: `http://127.0.0.1:PORT/api/v1`.
    pub fn api_url(&self) -> String {
        format!("{}/api/v1", self.url)
    }

    /// Adds a repository (`owner/repo`, not case sensitive) if new, and a token that may admin
    /// its hooks.
    pub fn add_repo(&self, owner_repo: &str, token: &str) {
        lock(&self.shared.state).add_repo(owner_repo, token);
    }

    /// Forgets a token everywhere: requests with it get 401.
    pub fn revoke_token(&self, token: &str) {
        lock(&self.shared.state).revoke_token(token);
    }

    /// The id the next hook gets (Gitea's ids are int64: negative and beyond 2^53 included,
    /// to check that clients read them exactly).
    pub fn set_next_hook_id(&self, id: i64) {
        lock(&self.shared.state).next_hook_id = id;
    }

    /// The next create that succeeds answers 201 with `body` instead of the hook (which is
    /// created all the same): a proxy or a broken server in between.
    pub fn garble_next_create(&self, body: &str) {
        lock(&self.shared.state).garbled_create = Some(body.to_owned());
    }

    /// The repository's hooks as `GET .../hooks` shows them.
    pub fn hooks(&self, owner_repo: &str) -> Vec<Value> {
        let state = lock(&self.shared.state);
        state.repo(owner_repo).map_or_else(Vec::new, |repo| {
            repo.hooks.values().map(model::Hook::to_json).collect()
        })
    }

    /// A hook as registered, secret included.
    pub fn registered(&self, owner_repo: &str, id: i64) -> Option<RegisteredHook> {
        let state = lock(&self.shared.state);
        let hook = state.repo(owner_repo)?.hooks.get(&id)?;
        Some(RegisteredHook {
            id,
            url: hook.url.clone(),
            content_type: hook.content_type.as_str().to_owned(),
            secret: hook.secret.clone(),
            events: hook.events.clone(),
            branch_filter: hook.branch_filter.clone(),
            active: hook.active,
        })
    }

    /// Deletes a hook behind the client's back; false when there was none.
    pub fn remove_hook(&self, owner_repo: &str, id: i64) -> bool {
        lock(&self.shared.state)
            .repo_mut(owner_repo)
            .is_some_and(|repo| repo.hooks.remove(&id).is_some())
    }

    /// Delivers an event of `event_type` (`push`, `issue_label`, ...) with `payload` to every
    /// active `gitea`/`gogs` hook of the repository subscribed to it, one after the other (after
    /// any background delivery still under way), and returns what each receiver answered.
    pub fn deliver(&self, owner_repo: &str, event_type: &str, payload: &Value) -> Vec<Delivery> {
        self.shared.wait_idle(Duration::from_secs(30));
        let outgoing = {
            let state = lock(&self.shared.state);
            let Some(repo) = state.repo(owner_repo) else {
                return Vec::new();
            };
            let uuid = crate::http::new_guid();
            repo.hooks
                .values()
                .filter(|hook| hook.active && hook.subscribed_to(event_type))
                .map(|hook| outgoing(owner_repo, hook, &uuid, event_type, payload))
                .collect::<Vec<_>>()
        };
        outgoing
            .iter()
            .map(|out| {
                self.shared
                    .record(out, deliver::send(&self.shared.agent, out))
            })
            .collect()
    }

    /// Every delivery made to a hook, oldest first.
    pub fn deliveries(&self, owner_repo: &str, hook_id: i64) -> Vec<Delivery> {
        let state = lock(&self.shared.state);
        state
            .repo(owner_repo)
            .and_then(|repo| repo.hooks.get(&hook_id))
            .map_or_else(Vec::new, |hook| hook.deliveries.clone())
    }

    /// Waits until no background delivery is under way; false when `timeout` ran out first.
    pub fn wait_idle(&self, timeout: Duration) -> bool {
        self.shared.wait_idle(timeout)
    }
}

impl Drop for FakeGitea {
    fn drop(&mut self) {
        self.server.take();
        self.shared.wait_idle(Duration::from_secs(11));
    }
}

/// A delivery of `event_type` to `hook`, with its settings as they are now.
fn outgoing(
    owner_repo: &str,
    hook: &model::Hook,
    uuid: &str,
    event_type: &str,
    payload: &Value,
) -> Outgoing {
    Outgoing {
        repo_key: State::repo_key(owner_repo),
        hook_id: hook.id,
        url: hook.url.clone(),
        content_type: hook.content_type,
        secret: hook.secret.clone(),
        uuid: uuid.to_owned(),
        event_type: event_type.to_owned(),
        payload: payload.to_string(),
    }
}

/// State and machinery shared by the API handler, background deliveries and the owner.
pub(crate) struct Shared {
    pub(crate) state: Mutex<State>,
    agent: ureq::Agent,
    background: Arc<Background>,
}

impl Shared {
    /// Sends the deliveries on a background thread, as Gitea's queue does.
    pub(crate) fn deliver_in_background(self: &Arc<Self>, outgoing: Vec<Outgoing>) {
        if outgoing.is_empty() {
            return;
        }
        let shared = Arc::clone(self);
        self.background.spawn(move || {
            for out in &outgoing {
                let sent = deliver::send(&shared.agent, out);
                shared.record(out, sent);
            }
        });
    }

    fn wait_idle(&self, timeout: Duration) -> bool {
        self.background.wait_idle(timeout)
    }

    /// Keeps a delivery on its hook (if the hook still exists) and returns it.
    fn record(&self, out: &Outgoing, delivery: Delivery) -> Delivery {
        let mut state = lock(&self.state);
        let hook = state
            .repos
            .get_mut(&out.repo_key)
            .and_then(|repo| repo.hooks.get_mut(&out.hook_id));
        if let Some(hook) = hook {
            hook.deliveries.push(delivery.clone());
        }
        delivery
    }
}
