//! The fake's state: repositories, their admin tokens, hooks and the deliveries made to them, and
//! how the API renders them.

use std::collections::{BTreeMap, BTreeSet};
use std::time::SystemTime;

use serde_json::{Value, json};

use super::Delivery;
use crate::http::rfc3339;

/// What GitHub shows instead of a hook's secret.
pub(crate) const MASKED_SECRET: &str = "********";

/// Everything the fake knows, behind one mutex.
pub(crate) struct State {
    /// The API base URL, e.g. `http://127.0.0.1:PORT`.
    pub(crate) base_url: String,
    /// Repositories by lower-cased `owner/repo` (GitHub's names are not case sensitive).
    pub(crate) repos: BTreeMap<String, Repo>,
    /// Every token the fake accepts (a token outlives the repositories it was added with).
    tokens: BTreeSet<String>,
    next_repo_id: u64,
    next_hook_id: u64,
    next_delivery_id: u64,
}

impl State {
    pub(crate) fn new(base_url: String) -> Self {
        // Ids far from 1 so that a client mixing up ids and list positions fails loudly.
        Self {
            base_url,
            repos: BTreeMap::new(),
            tokens: BTreeSet::new(),
            next_repo_id: 700_000_001,
            next_hook_id: 400_000_001,
            next_delivery_id: 90_000_000_001,
        }
    }

    pub(crate) fn repo_key(owner_repo: &str) -> String {
        owner_repo.trim_matches('/').to_ascii_lowercase()
    }

    /// Adds a repository (keeping its hooks when it exists) and a token that may admin it.
    pub(crate) fn add_repo(&mut self, owner_repo: &str, token: &str) {
        let key = Self::repo_key(owner_repo);
        let next_id = &mut self.next_repo_id;
        let repo = self.repos.entry(key).or_insert_with(|| {
            let id = *next_id;
            *next_id += 1;
            Repo {
                full_name: owner_repo.trim_matches('/').to_owned(),
                id,
                tokens: BTreeSet::new(),
                hooks: BTreeMap::new(),
            }
        });
        repo.tokens.insert(token.to_owned());
        self.tokens.insert(token.to_owned());
    }

    /// Forgets a token everywhere.
    pub(crate) fn revoke_token(&mut self, token: &str) {
        self.tokens.remove(token);
        for repo in self.repos.values_mut() {
            repo.tokens.remove(token);
        }
    }

    /// True when the token is valid at all (whatever it may see).
    pub(crate) fn token_known(&self, token: &str) -> bool {
        self.tokens.contains(token)
    }

    pub(crate) fn repo(&self, owner_repo: &str) -> Option<&Repo> {
        self.repos.get(&Self::repo_key(owner_repo))
    }

    pub(crate) fn repo_mut(&mut self, owner_repo: &str) -> Option<&mut Repo> {
        self.repos.get_mut(&Self::repo_key(owner_repo))
    }

    pub(crate) fn take_hook_id(&mut self) -> u64 {
        let id = self.next_hook_id;
        self.next_hook_id += 1;
        id
    }

    pub(crate) fn take_delivery_id(&mut self) -> u64 {
        let id = self.next_delivery_id;
        self.next_delivery_id += 1;
        id
    }
}

pub(crate) struct Repo {
    /// `owner/repo` as first added.
    pub(crate) full_name: String,
    pub(crate) id: u64,
    pub(crate) tokens: BTreeSet<String>,
    pub(crate) hooks: BTreeMap<u64, Hook>,
}

impl Repo {
    pub(crate) fn owner(&self) -> &str {
        self.full_name.split('/').next().unwrap_or_default()
    }

    pub(crate) fn name(&self) -> &str {
        self.full_name.split('/').nth(1).unwrap_or_default()
    }

    /// The `repository` object of webhook payloads (the fields receivers commonly read).
    pub(crate) fn payload_json(&self) -> Value {
        let html = format!("https://github.com/{}", self.full_name);
        json!({
            "id": self.id,
            "name": self.name(),
            "full_name": self.full_name,
            "private": false,
            "owner": {"login": self.owner(), "id": 1, "type": "User"},
            "html_url": html,
            "url": format!("https://api.github.com/repos/{}", self.full_name),
            "default_branch": "main",
        })
    }

    /// Another hook with the same URL and overlapping events: GitHub refuses that combination.
    pub(crate) fn conflicting_hook(
        &self,
        except: Option<u64>,
        url: &str,
        events: &[String],
    ) -> bool {
        self.hooks.values().any(|other| {
            Some(other.id) != except
                && other.config.url == url
                && events_overlap(&other.events, events)
        })
    }
}

fn events_overlap(a: &[String], b: &[String]) -> bool {
    let wildcard = |events: &[String]| events.iter().any(|e| e == "*");
    (wildcard(a) && !b.is_empty())
        || (wildcard(b) && !a.is_empty())
        || a.iter().any(|e| b.contains(e))
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ContentType {
    Json,
    Form,
}

impl ContentType {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Json => "json",
            Self::Form => "form",
        }
    }
}

/// A hook's `config`.
#[derive(Clone)]
pub(crate) struct HookConfig {
    pub(crate) url: String,
    pub(crate) content_type: ContentType,
    /// Never empty: an empty secret means no secret.
    pub(crate) secret: Option<String>,
    /// `"0"` or `"1"`, a string as GitHub returns it.
    pub(crate) insecure_ssl: String,
}

impl HookConfig {
    /// The config as the API shows it: the secret masked.
    pub(crate) fn masked_json(&self) -> Value {
        self.to_json(Some(MASKED_SECRET))
    }

    /// The config as registered, secret included (for tests only, never served).
    pub(crate) fn raw_json(&self) -> Value {
        self.to_json(None)
    }

    fn to_json(&self, secret_shown_as: Option<&str>) -> Value {
        let mut config = json!({
            "url": self.url,
            "content_type": self.content_type.as_str(),
            "insecure_ssl": self.insecure_ssl,
        });
        if let Some(secret) = &self.secret {
            config["secret"] = json!(secret_shown_as.unwrap_or(secret));
        }
        config
    }
}

/// What the last delivery to a hook gave (`last_response`).
#[derive(Clone)]
pub(crate) enum LastResponse {
    Unused,
    Delivered {
        code: Option<u16>,
        ok: bool,
        message: String,
    },
}

impl LastResponse {
    fn to_json(&self) -> Value {
        match self {
            Self::Unused => json!({"code": null, "status": "unused", "message": null}),
            Self::Delivered { code, ok, message } => json!({
                "code": code,
                "status": if *ok { "active" } else { "failed" },
                "message": message,
            }),
        }
    }
}

pub(crate) struct Hook {
    pub(crate) id: u64,
    pub(crate) active: bool,
    pub(crate) events: Vec<String>,
    pub(crate) config: HookConfig,
    pub(crate) created_at: SystemTime,
    pub(crate) updated_at: SystemTime,
    pub(crate) last_response: LastResponse,
    /// Oldest first.
    pub(crate) deliveries: Vec<DeliveryRecord>,
}

impl Hook {
    /// True when a delivery of `event` goes to this hook (ignoring `active`).
    pub(crate) fn subscribed_to(&self, event: &str) -> bool {
        self.events.iter().any(|e| e == event || e == "*")
    }

    /// The hook as the API shows it; `api_base` is the base URL the client used.
    pub(crate) fn to_json(&self, api_base: &str, repo_full_name: &str) -> Value {
        let url = format!("{api_base}/repos/{repo_full_name}/hooks/{}", self.id);
        json!({
            "type": "Repository",
            "id": self.id,
            "name": "web",
            "active": self.active,
            "events": self.events,
            "config": self.config.masked_json(),
            "updated_at": rfc3339(self.updated_at),
            "created_at": rfc3339(self.created_at),
            "url": url,
            "test_url": format!("{url}/test"),
            "ping_url": format!("{url}/pings"),
            "deliveries_url": format!("{url}/deliveries"),
            "last_response": self.last_response.to_json(),
        })
    }
}

/// One delivery attempt with what the deliveries API shows about it.
pub(crate) struct DeliveryRecord {
    pub(crate) delivery: Delivery,
    pub(crate) delivered_at: SystemTime,
    /// Seconds.
    pub(crate) duration: f64,
    /// The request headers sent, without `Authorization`.
    pub(crate) request_headers: Vec<(String, String)>,
    pub(crate) payload: Value,
    pub(crate) repository_id: u64,
}

impl DeliveryRecord {
    /// The short form of `GET .../deliveries`.
    pub(crate) fn summary_json(&self) -> Value {
        let d = &self.delivery;
        json!({
            "id": d.id,
            "guid": d.guid,
            "delivered_at": rfc3339(self.delivered_at),
            "redelivery": d.redelivery,
            "duration": self.duration,
            "status": d.message,
            "status_code": d.status.unwrap_or(0),
            "event": d.event,
            "action": d.action,
            "installation_id": null,
            "repository_id": self.repository_id,
            "throttled_at": null,
        })
    }

    /// The long form of `GET .../deliveries/{id}`.
    pub(crate) fn detail_json(&self) -> Value {
        let mut detail = self.summary_json();
        let headers: serde_json::Map<String, Value> = self
            .request_headers
            .iter()
            .map(|(k, v)| (k.clone(), json!(v)))
            .collect();
        detail["url"] = json!(self.delivery.url_redacted);
        detail["request"] = json!({"headers": headers, "payload": self.payload});
        detail["response"] = json!({"headers": {}, "payload": self.delivery.response_body});
        detail
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn wildcard_overlaps_everything_but_nothing() {
        assert!(events_overlap(&strings(&["*"]), &strings(&["push"])));
        assert!(events_overlap(&strings(&["push"]), &strings(&["*"])));
        assert!(!events_overlap(&strings(&["*"]), &[]));
        assert!(!events_overlap(&strings(&["push"]), &strings(&["issues"])));
        assert!(events_overlap(
            &strings(&["push", "issues"]),
            &strings(&["issues"])
        ));
    }

    #[test]
    fn masked_config_hides_the_secret_only_when_set() {
        let mut config = HookConfig {
            url: "http://h/x".into(),
            content_type: ContentType::Json,
            secret: Some("s3cret".into()),
            insecure_ssl: "0".into(),
        };
        assert_eq!(config.masked_json()["secret"], MASKED_SECRET);
        assert_eq!(config.raw_json()["secret"], "s3cret");
        config.secret = None;
        assert!(config.masked_json().get("secret").is_none());
    }
}
