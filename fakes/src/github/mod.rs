//! A GitHub-compatible repository webhooks API (`/repos/{owner}/{repo}/hooks`, the API GitHub,
//! GitHub Enterprise and Gitea/Forgejo share), backed by state the test controls, and real
//! webhook deliveries to the hook URLs.
//!
//! Hooks created, pinged or tested through the HTTP API are delivered to in the background, the
//! way GitHub does (so a client that is also the receiver does not deadlock);
//! [`FakeGitHub::deliver`] delivers synchronously, after any background delivery still under
//! way, and [`FakeGitHub::wait_idle`] waits for the background ones.

mod api;
mod deliver;
mod model;
mod validate;

use std::io;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use serde_json::{Value, json};

use crate::hooks::Background;
use crate::http::{HttpServer, lock};
use deliver::{Clients, Outgoing, Sent};
use model::{DeliveryRecord, LastResponse, Repo, State};

/// The longest a synchronous delivery waits for earlier background deliveries.
const SETTLE_TIMEOUT: Duration = Duration::from_secs(30);

/// One delivery attempt of an event to a hook.
#[derive(Debug, Clone, PartialEq)]
pub struct Delivery {
    /// The delivery id of `GET .../hooks/{id}/deliveries`.
    pub id: u64,
    pub hook_id: u64,
    /// `X-GitHub-Delivery`: the same for every hook an event went to, and for redeliveries.
    pub guid: String,
    pub event: String,
    /// The payload's `action`, if it has one.
    pub action: Option<String>,
    /// The receiver's status code; `None` when no HTTP answer came (connection failed, timeout).
    pub status: Option<u16>,
    /// `OK`, `Invalid HTTP Response: 500`, `failed to connect to host`, `timed out`, ...
    pub message: String,
    /// The receiver's answer (the first 64 KiB).
    pub response_body: String,
    /// The hook URL with its userinfo replaced by `***`.
    pub url_redacted: String,
    pub redelivery: bool,
}

/// The fake GitHub API server. Dropping it stops the server (after waiting briefly for
/// background deliveries).
pub struct FakeGitHub {
    shared: Arc<Shared>,
    url: String,
    server: Option<HttpServer>,
}

impl std::fmt::Debug for FakeGitHub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Tokens and secrets stay out of debug output.
        f.debug_struct("FakeGitHub")
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

impl FakeGitHub {
    /// Starts the server on 127.0.0.1 with an OS-picked port.
    pub fn start() -> io::Result<FakeGitHub> {
        // The base URL is known once the server listens; requests wait for it to be set.
        let shared = Arc::new(Shared {
            state: Mutex::new(State::new(String::new())),
            clients: Clients::new(),
            background: Arc::default(),
        });
        let handler_shared = Arc::clone(&shared);
        let server = HttpServer::start(move |request| Some(api::handle(&handler_shared, request)))?;
        let url = format!("http://127.0.0.1:{}", server.port());
        lock(&shared.state).base_url = url.clone();
        Ok(FakeGitHub {
            shared,
            url,
            server: Some(server),
        })
    }

    /// The API base URL, e.g. `http://127.0.0.1:PORT` (`{url}/api/v3`, the GitHub Enterprise
    /// form, works too).
    pub fn url(&self) -> String {
        self.url.clone()
    }

    /// Adds a repository (`owner/repo`, not case sensitive) if new, and a token that may admin
    /// its hooks. Call again to allow more tokens.
    pub fn add_repo(&self, owner_repo: &str, token: &str) {
        lock(&self.shared.state).add_repo(owner_repo, token);
    }

    /// Forgets a token everywhere: requests with it get 401 `Bad credentials`.
    pub fn revoke_token(&self, token: &str) {
        lock(&self.shared.state).revoke_token(token);
    }

    /// Removes a repository and its hooks: requests for it get 404.
    pub fn remove_repo(&self, owner_repo: &str) {
        lock(&self.shared.state)
            .repos
            .remove(&State::repo_key(owner_repo));
    }

    /// The repository's hooks as `GET /repos/{o}/{r}/hooks` lists them (secrets masked).
    pub fn hooks(&self, owner_repo: &str) -> Vec<Value> {
        let state = lock(&self.shared.state);
        state.repo(owner_repo).map_or_else(Vec::new, |repo| {
            repo.hooks
                .values()
                .map(|hook| hook.to_json(&state.base_url, &repo.full_name))
                .collect()
        })
    }

    /// A hook's config as registered, secret unmasked (for checking what a client registered).
    pub fn hook_config_raw(&self, owner_repo: &str, id: u64) -> Option<Value> {
        let state = lock(&self.shared.state);
        let hook = state.repo(owner_repo)?.hooks.get(&id)?;
        Some(hook.config.raw_json())
    }

    /// Deletes a hook behind the client's back (as a user would in the web UI); false when
    /// there was no such hook.
    pub fn remove_hook(&self, owner_repo: &str, id: u64) -> bool {
        lock(&self.shared.state)
            .repo_mut(owner_repo)
            .is_some_and(|repo| repo.hooks.remove(&id).is_some())
    }

    /// Delivers `event` with `payload` to every active hook of the repository subscribed to it
    /// (or to `*`), one after the other, and returns one [`Delivery`] per hook. All of them
    /// share one GUID, as on GitHub. Background deliveries still under way finish first.
    pub fn deliver(&self, owner_repo: &str, event: &str, payload: &Value) -> Vec<Delivery> {
        self.shared.wait_idle(SETTLE_TIMEOUT);
        let outgoing = {
            let state = lock(&self.shared.state);
            let Some(repo) = state.repo(owner_repo) else {
                return Vec::new();
            };
            let guid = crate::http::new_guid();
            repo.hooks
                .values()
                .filter(|hook| hook.active && hook.subscribed_to(event))
                .map(|hook| outgoing(repo, hook.id, &hook.config, &guid, event, payload, false))
                .collect::<Vec<_>>()
        };
        outgoing
            .iter()
            .map(|out| {
                let sent = deliver::send(&self.shared.clients, out);
                self.shared.record(out, sent)
            })
            .collect()
    }

    /// Every delivery made to a hook, oldest first (the API lists them newest first).
    pub fn deliveries(&self, owner_repo: &str, hook_id: u64) -> Vec<Delivery> {
        let state = lock(&self.shared.state);
        state
            .repo(owner_repo)
            .and_then(|repo| repo.hooks.get(&hook_id))
            .map_or_else(Vec::new, |hook| {
                hook.deliveries.iter().map(|d| d.delivery.clone()).collect()
            })
    }

    /// Waits until no background delivery (ping on create, `/pings`, `/tests`, redelivery) is
    /// under way; false when `timeout` ran out first.
    pub fn wait_idle(&self, timeout: Duration) -> bool {
        self.shared.wait_idle(timeout)
    }
}

impl Drop for FakeGitHub {
    fn drop(&mut self) {
        // Stop answering first, then let background deliveries end (each is bounded by the
        // delivery timeout) so that nothing this fake started outlives it for long.
        self.server.take();
        self.shared.wait_idle(Duration::from_secs(11));
    }
}

/// State and machinery shared by the API handler, background deliveries and the owner.
pub(crate) struct Shared {
    pub(crate) state: Mutex<State>,
    clients: Clients,
    background: Arc<Background>,
}

impl Shared {
    /// Sends the deliveries on a background thread, one after the other.
    pub(crate) fn deliver_in_background(self: &Arc<Self>, outgoing: Vec<Outgoing>) {
        if outgoing.is_empty() {
            return;
        }
        let shared = Arc::clone(self);
        self.background.spawn(move || {
            for out in &outgoing {
                let sent = deliver::send(&shared.clients, out);
                shared.record(out, sent);
            }
        });
    }

    fn wait_idle(&self, timeout: Duration) -> bool {
        self.background.wait_idle(timeout)
    }

    /// Stores a delivery's outcome on its hook (if the hook still exists) and returns it.
    fn record(&self, out: &Outgoing, sent: Sent) -> Delivery {
        let mut state = lock(&self.state);
        let delivery = Delivery {
            id: state.take_delivery_id(),
            hook_id: out.hook_id,
            guid: out.guid.clone(),
            event: out.event.clone(),
            action: out
                .payload
                .get("action")
                .and_then(Value::as_str)
                .map(str::to_owned),
            status: sent.status,
            message: sent.message.clone(),
            response_body: sent.response_body,
            url_redacted: crate::hooks::redact_url(&out.config.url),
            redelivery: out.redelivery,
        };
        let hook = state
            .repos
            .get_mut(&out.repo_key)
            .and_then(|repo| repo.hooks.get_mut(&out.hook_id));
        if let Some(hook) = hook {
            hook.last_response = LastResponse::Delivered {
                code: sent.status,
                ok: sent.ok,
                message: sent.message,
            };
            hook.deliveries.push(DeliveryRecord {
                delivery: delivery.clone(),
                delivered_at: SystemTime::now(),
                duration: sent.duration,
                request_headers: sent.request_headers,
                payload: out.payload.clone(),
                repository_id: out.repo_id,
            });
        }
        delivery
    }
}

/// A delivery of `event` to one hook, with the hook's config as it is now.
pub(crate) fn outgoing(
    repo: &Repo,
    hook_id: u64,
    config: &model::HookConfig,
    guid: &str,
    event: &str,
    payload: &Value,
    redelivery: bool,
) -> Outgoing {
    Outgoing {
        repo_key: State::repo_key(&repo.full_name),
        repo_id: repo.id,
        hook_id,
        guid: guid.to_owned(),
        event: event.to_owned(),
        payload: payload.clone(),
        config: config.clone(),
        redelivery,
    }
}

/// GitHub's design principles, which its `ping` events carry as `zen`.
const ZEN: &[&str] = &[
    "Design for failure.",
    "Keep it logically awesome.",
    "Speak like a human.",
    "Practicality beats purity.",
    "Avoid administrative distraction.",
    "Mind your words, they are important.",
    "Non-blocking is better than blocking.",
    "Responsive is better than fast.",
    "Approachable is better than simple.",
    "Favor focus over features.",
    "Anything added dilutes everything else.",
    "Half measures are as bad as nothing at all.",
    "It's not fully shipped until it's fast.",
    "Encourage flow.",
];

/// The `ping` payload GitHub sends when a hook is created or pinged.
pub(crate) fn ping_payload(repo: &Repo, hook_json: Value, hook_id: u64) -> Value {
    let zen = ZEN[(hook_id % ZEN.len() as u64) as usize];
    json!({
        "zen": zen,
        "hook_id": hook_id,
        "hook": hook_json,
        "repository": repo.payload_json(),
        "sender": {"login": repo.owner(), "id": 1, "type": "User"},
    })
}

/// The `push` payload of `POST .../hooks/{id}/tests` (GitHub replays the latest push).
pub(crate) fn test_push_payload(repo: &Repo, guid: &str) -> Value {
    let after = crate::http::sha256_hex(guid.as_bytes())[..40].to_owned();
    json!({
        "ref": "refs/heads/main",
        "before": "0".repeat(40),
        "after": after,
        "created": false,
        "deleted": false,
        "forced": false,
        "base_ref": null,
        "compare": format!("https://github.com/{}/compare/{after}", repo.full_name),
        "commits": [],
        "head_commit": null,
        "repository": repo.payload_json(),
        "pusher": {"name": repo.owner(), "email": null},
        "sender": {"login": repo.owner(), "id": 1, "type": "User"},
    })
}
