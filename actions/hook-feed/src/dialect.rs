//! The two dialects of the repository hooks API (`/repos/{owner}/{repo}/hooks`):
//!
//! - GitHub (and GitHub Enterprise): `Accept: application/vnd.github+json`, `Authorization:
//!   Bearer <token>`, pages by `per_page`, a hook is `{"name": "web", "config", "events",
//!   "active"}`, an edit changes only what it names.
//! - Gitea and Forgejo (their API description): `Accept: application/json`, `Authorization:
//!   token <token>`, pages by `limit` (at most 50), a hook is `{"type": "gitea", "config": {...
//!   strings only}, "events", "active", "branch_filter"}` with `active` false unless given, and an
//!   edit sets the events (push when none are given) and the branch filter every time, so every
//!   edit here sends them.
//!
//! `service` chooses one (`github`, `gitea`, or `forgejo`, which is Gitea's); without it, a
//! `baseUrl` ending in `/api/v1` means Gitea, anything else GitHub.

use std::fmt;

use feedkit::Secret;
use feedkit::params::Text;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::settings::BaseUrl;

/// Which dialect a service speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase", try_from = "Text")]
pub enum Service {
    Github,
    Gitea,
}

impl Service {
    pub const PARAMETER: &'static str = "service";

    pub fn parse(text: &str) -> Result<Self, String> {
        match text.trim().to_ascii_lowercase().as_str() {
            "github" | "ghe" => Ok(Self::Github),
            "gitea" | "forgejo" => Ok(Self::Gitea),
            other => Err(format!(
                "{other:?} is not a service; expected github (GitHub, GitHub Enterprise) or \
                 gitea (Gitea, Forgejo); without it, a baseUrl ending in /api/v1 means gitea"
            )),
        }
    }

    /// The dialect a base URL suggests: Gitea and Forgejo serve their API under `/api/v1`.
    pub fn detect(base_url: &BaseUrl) -> Self {
        if base_url.as_str().ends_with("/api/v1") {
            Self::Gitea
        } else {
            Self::Github
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Github => "github",
            Self::Gitea => "gitea",
        }
    }

    /// The request headers besides the token.
    pub fn headers(self) -> &'static [(&'static str, &'static str)] {
        match self {
            Self::Github => &[
                ("Accept", "application/vnd.github+json"),
                ("X-GitHub-Api-Version", "2022-11-28"),
            ],
            Self::Gitea => &[("Accept", "application/json")],
        }
    }

    /// The `Authorization` header's value.
    pub fn authorization(self, token: &Secret) -> Secret {
        let scheme = match self {
            Self::Github => "Bearer",
            Self::Gitea => "token",
        };
        Secret::new(format!("{scheme} {}", token.expose()))
    }

    /// The query of the first page of a hook listing (the rest follow `Link: rel="next"`).
    pub fn first_page(self) -> &'static str {
        match self {
            Self::Github => "per_page=100",
            Self::Gitea => "limit=50",
        }
    }

    /// A hook's `config`.
    pub fn config(self, url: &str, content_type: &str, secret: Option<&Secret>) -> Value {
        let mut config = match self {
            Self::Github => json!({"url": url, "content_type": content_type, "insecure_ssl": "0"}),
            Self::Gitea => json!({"url": url, "content_type": content_type, "http_method": "post"}),
        };
        if let Some(secret) = secret {
            config["secret"] = json!(secret.expose());
        }
        config
    }

    /// The body that creates a hook.
    pub fn create_body(self, active: bool, events: &[String], config: Value) -> Value {
        match self {
            Self::Github => {
                json!({"name": "web", "active": active, "events": events, "config": config})
            }
            Self::Gitea => json!({
                "type": "gitea", "active": active, "events": events, "config": config,
                "branch_filter": "*",
            }),
        }
    }

    /// The body that sets a hook's settings in place; `branch_filter` is the hook's own
    /// (Gitea resets what an edit leaves out).
    pub fn update_body(
        self,
        active: bool,
        events: &[String],
        config: Value,
        branch_filter: Option<&str>,
    ) -> Value {
        let mut body = json!({"active": active, "events": events, "config": config});
        if self == Self::Gitea {
            body["branch_filter"] = json!(branch_filter.filter(|f| !f.is_empty()).unwrap_or("*"));
        }
        body
    }

    /// The body that only pauses or resumes a hook: for Gitea with the events and branch
    /// filter it keeps, since its edit sets both from every request.
    pub fn active_body(
        self,
        active: bool,
        events: &[String],
        branch_filter: Option<&str>,
    ) -> Value {
        match self {
            Self::Github => json!({"active": active}),
            Self::Gitea => json!({
                "active": active, "events": events,
                "branch_filter": branch_filter.filter(|f| !f.is_empty()).unwrap_or("*"),
            }),
        }
    }
}

impl TryFrom<Text> for Service {
    type Error = String;
    fn try_from(text: Text) -> Result<Self, String> {
        Self::parse(text.as_str())
    }
}

impl fmt::Display for Service {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_gitea_by_its_api_root_and_parses_names() {
        let gitea = BaseUrl::parse("https://git.example/api/v1").expect("url");
        let github = BaseUrl::parse("https://ghe.example/api/v3").expect("url");
        assert_eq!(Service::detect(&gitea), Service::Gitea);
        assert_eq!(Service::detect(&github), Service::Github);
        assert_eq!(Service::parse(" Forgejo "), Ok(Service::Gitea));
        assert_eq!(Service::parse("github"), Ok(Service::Github));
        assert!(Service::parse("gitlab").is_err());
    }

    #[test]
    fn each_dialect_has_its_own_headers_and_bodies() {
        let token = Secret::new("t0k");
        assert_eq!(Service::Github.authorization(&token).expose(), "Bearer t0k");
        assert_eq!(Service::Gitea.authorization(&token).expose(), "token t0k");
        assert_eq!(Service::Gitea.headers(), [("Accept", "application/json")]);
        let events = vec!["push".to_owned()];
        let config = Service::Gitea.config("http://h", "json", None);
        assert!(
            config
                .as_object()
                .is_some_and(|c| c.values().all(Value::is_string))
        );
        let created = Service::Gitea.create_body(true, &events, config);
        assert_eq!(created["type"], "gitea");
        assert_eq!(created["active"], true);
        assert!(
            Service::Github
                .create_body(true, &events, json!({}))
                .get("type")
                .is_none()
        );
        let paused = Service::Gitea.active_body(false, &events, Some("main"));
        assert_eq!(
            paused,
            json!({"active": false, "events": ["push"], "branch_filter": "main"})
        );
        assert_eq!(
            Service::Github.active_body(false, &events, None),
            json!({"active": false})
        );
    }
}
