//! The fake's state and how Gitea renders it: repositories, their admin tokens, hooks (Gitea's
//! `Hook` shape, `modules/structs/hook.go`) and the events a hook subscribes to, as Gitea's
//! `HookEvents` keep them (`routers/api/v1/utils/hook.go` turns the names a client sends into
//! them; `EventsArray` turns them back into names, in the order below).

use std::collections::{BTreeMap, BTreeSet};
use std::time::SystemTime;

use serde_json::{Value, json};

use super::Delivery;
use crate::http::rfc3339;

/// Every event a hook can hold, in the order Gitea lists them (`Webhook.EventsArray`).
pub(crate) const EVENT_TYPES: &[&str] = &[
    "create",
    "delete",
    "fork",
    "push",
    "issues",
    "issue_assign",
    "issue_label",
    "issue_milestone",
    "issue_comment",
    "pull_request",
    "pull_request_assign",
    "pull_request_label",
    "pull_request_milestone",
    "pull_request_comment",
    "pull_request_review_approved",
    "pull_request_review_rejected",
    "pull_request_review_comment",
    "pull_request_sync",
    "pull_request_review_request",
    "wiki",
    "repository",
    "release",
];

/// The event types a list of names sent by a client selects, as `addHook`/`editHook` read
/// them (names without case). Gitea ignores names it does not know (no error); `issues` and
/// `pull_request` select their whole family, `issues_only` and `pull_request_only` the one
/// type, and the three review types go together, by `pull_request_review` (their own names, as
/// the API lists them, are not read back); an empty list means `push`.
pub(crate) fn chosen_events(names: &[String]) -> Vec<String> {
    let names: Vec<String> = if names.is_empty() {
        vec!["push".to_owned()]
    } else {
        names.iter().map(|name| name.to_ascii_lowercase()).collect()
    };
    let has = |name: &str| names.iter().any(|n| n == name);
    EVENT_TYPES
        .iter()
        .filter(|event| match **event {
            "issues" => has("issues") || has("issues_only"),
            "pull_request" => has("pull_request") || has("pull_request_only"),
            "pull_request_review_approved"
            | "pull_request_review_rejected"
            | "pull_request_review_comment" => has("pull_request_review") || has("pull_request"),
            other if other.starts_with("issue_") => has(other) || has("issues"),
            other if other.starts_with("pull_request_") => has(other) || has("pull_request"),
            other => has(other),
        })
        .map(|event| (*event).to_owned())
        .collect()
}

/// The event name of a delivery of `event_type` (`HookEventType.Event()`): what
/// `X-Gitea-Event` carries, while `X-Gitea-Event-Type` carries the type itself.
pub(crate) fn event_name(event_type: &str) -> &str {
    match event_type {
        "issue_assign" | "issue_label" | "issue_milestone" => "issues",
        "issue_comment" | "pull_request_comment" => "issue_comment",
        "pull_request_assign"
        | "pull_request_label"
        | "pull_request_milestone"
        | "pull_request_sync"
        | "pull_request_review_request" => "pull_request",
        "pull_request_review_approved" => "pull_request_approved",
        "pull_request_review_rejected" => "pull_request_rejected",
        "pull_request_review_comment" => "pull_request_comment",
        other => other,
    }
}

/// Everything the fake knows, behind one mutex.
pub(crate) struct State {
    /// `http://127.0.0.1:PORT`: hook links and error bodies name it.
    pub(crate) base_url: String,
    /// Repositories by lower-cased `owner/repo`.
    pub(crate) repos: BTreeMap<String, Repo>,
    /// Every token the fake accepts.
    tokens: BTreeSet<String>,
    pub(crate) next_hook_id: i64,
    next_repo_id: i64,
    /// The next successful create answers 201 with this body instead of the hook.
    pub(crate) garbled_create: Option<String>,
}

impl State {
    pub(crate) fn new(base_url: String) -> Self {
        Self {
            base_url,
            repos: BTreeMap::new(),
            tokens: BTreeSet::new(),
            next_hook_id: 1,
            next_repo_id: 1,
            garbled_create: None,
        }
    }

    pub(crate) fn repo_key(owner_repo: &str) -> String {
        owner_repo.trim_matches('/').to_ascii_lowercase()
    }

    pub(crate) fn add_repo(&mut self, owner_repo: &str, token: &str) {
        let next_id = &mut self.next_repo_id;
        let repo = self
            .repos
            .entry(Self::repo_key(owner_repo))
            .or_insert_with(|| {
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

    pub(crate) fn revoke_token(&mut self, token: &str) {
        self.tokens.remove(token);
        for repo in self.repos.values_mut() {
            repo.tokens.remove(token);
        }
    }

    pub(crate) fn token_known(&self, token: &str) -> bool {
        self.tokens.contains(token)
    }

    pub(crate) fn repo(&self, owner_repo: &str) -> Option<&Repo> {
        self.repos.get(&Self::repo_key(owner_repo))
    }

    pub(crate) fn repo_mut(&mut self, owner_repo: &str) -> Option<&mut Repo> {
        self.repos.get_mut(&Self::repo_key(owner_repo))
    }

    pub(crate) fn take_hook_id(&mut self) -> i64 {
        let id = self.next_hook_id;
        self.next_hook_id = self.next_hook_id.wrapping_add(1);
        id
    }
}

pub(crate) struct Repo {
    pub(crate) full_name: String,
    pub(crate) id: i64,
    pub(crate) tokens: BTreeSet<String>,
    pub(crate) hooks: BTreeMap<i64, Hook>,
}

impl Repo {
    /// The `repository` object of Gitea's payloads (the fields receivers commonly read).
    pub(crate) fn payload_json(&self, base_url: &str) -> Value {
        let (owner, name) = self.full_name.split_once('/').unwrap_or(("", ""));
        json!({
            "id": self.id,
            "name": name,
            "full_name": self.full_name,
            "owner": {"id": 1, "login": owner, "username": owner},
            "private": false,
            "html_url": format!("{base_url}/{}", self.full_name),
            "default_branch": "main",
        })
    }
}

/// How a hook encodes deliveries (`content_type`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ContentType {
    Json,
    Form,
}

impl ContentType {
    pub(crate) fn parse(text: &str) -> Option<Self> {
        match text {
            "json" => Some(Self::Json),
            "form" => Some(Self::Form),
            _ => None,
        }
    }

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Json => "json",
            Self::Form => "form",
        }
    }
}

pub(crate) struct Hook {
    pub(crate) id: i64,
    /// `gitea`, `gogs`, `slack`, ...: only `gitea` and `gogs` hooks are delivered to here.
    pub(crate) kind: String,
    pub(crate) url: String,
    pub(crate) content_type: ContentType,
    /// Empty means none (Gitea signs with an empty key then).
    pub(crate) secret: String,
    pub(crate) events: Vec<String>,
    pub(crate) branch_filter: String,
    pub(crate) authorization_header: String,
    pub(crate) active: bool,
    pub(crate) created_at: SystemTime,
    pub(crate) updated_at: SystemTime,
    /// Oldest first.
    pub(crate) deliveries: Vec<Delivery>,
}

impl Hook {
    pub(crate) fn subscribed_to(&self, event_type: &str) -> bool {
        self.events.iter().any(|event| event == event_type)
    }

    /// The hook as the API shows it (`ToHook`): the config holds `url` and `content_type`, never
    /// the secret.
    pub(crate) fn to_json(&self) -> Value {
        json!({
            "id": self.id,
            "type": self.kind,
            "branch_filter": self.branch_filter,
            "config": {"url": self.url, "content_type": self.content_type.as_str()},
            "events": self.events,
            "authorization_header": self.authorization_header,
            "active": self.active,
            "updated_at": rfc3339(self.updated_at),
            "created_at": rfc3339(self.created_at),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|name| (*name).to_owned()).collect()
    }

    #[test]
    fn event_names_select_as_gitea_does() {
        assert_eq!(chosen_events(&[]), ["push"]);
        assert_eq!(chosen_events(&names(&["Push", "bogus"])), ["push"]);
        assert_eq!(
            chosen_events(&names(&["issues"])),
            [
                "issues",
                "issue_assign",
                "issue_label",
                "issue_milestone",
                "issue_comment"
            ]
        );
        assert_eq!(chosen_events(&names(&["issues_only"])), ["issues"]);
        assert_eq!(
            chosen_events(&names(&["pull_request_review"])),
            [
                "pull_request_review_approved",
                "pull_request_review_rejected",
                "pull_request_review_comment"
            ]
        );
        assert_eq!(chosen_events(&names(&["pull_request"])).len(), 10);
        // What the API lists is read back as the same selection, but for the review types.
        let listed = chosen_events(&names(&["issues", "push"]));
        assert_eq!(chosen_events(&listed), listed);
        let reviews = chosen_events(&names(&["pull_request_review"]));
        assert!(chosen_events(&reviews).is_empty());
    }

    #[test]
    fn deliveries_carry_the_family_name() {
        assert_eq!(event_name("issue_label"), "issues");
        assert_eq!(
            event_name("pull_request_review_approved"),
            "pull_request_approved"
        );
        assert_eq!(event_name("push"), "push");
    }
}
