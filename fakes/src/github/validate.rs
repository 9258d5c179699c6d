//! Reading hook bodies the way GitHub validates them: JSON type errors, required fields, event
//! names, and GitHub's error bodies.

use serde_json::{Map, Value, json};

use super::model::{ContentType, HookConfig};

/// Webhook event names GitHub accepts for repository hooks (a broad subset of its list), plus the
/// wildcard `*`.
pub(crate) const EVENT_NAMES: &[&str] = &[
    "*",
    "branch_protection_configuration",
    "branch_protection_rule",
    "check_run",
    "check_suite",
    "code_scanning_alert",
    "commit_comment",
    "create",
    "custom_property_values",
    "delete",
    "dependabot_alert",
    "deploy_key",
    "deployment",
    "deployment_protection_rule",
    "deployment_review",
    "deployment_status",
    "discussion",
    "discussion_comment",
    "fork",
    "gollum",
    "issue_comment",
    "issues",
    "label",
    "member",
    "merge_group",
    "meta",
    "milestone",
    "package",
    "page_build",
    "ping",
    "project",
    "project_card",
    "project_column",
    "public",
    "pull_request",
    "pull_request_review",
    "pull_request_review_comment",
    "pull_request_review_thread",
    "push",
    "registry_package",
    "release",
    "repository",
    "repository_advisory",
    "repository_dispatch",
    "repository_import",
    "repository_ruleset",
    "repository_vulnerability_alert",
    "secret_scanning_alert",
    "secret_scanning_alert_location",
    "security_and_analysis",
    "star",
    "status",
    "team_add",
    "watch",
    "workflow_dispatch",
    "workflow_job",
    "workflow_run",
];

const DOCS: &str = "https://docs.github.com/rest/webhooks/repos";

/// An error answer of the API: status, `message`, optional `errors`.
#[derive(Debug)]
pub(crate) struct ApiError {
    pub(crate) status: u16,
    pub(crate) message: String,
    pub(crate) errors: Vec<Value>,
}

impl ApiError {
    pub(crate) fn new(status: u16, message: &str) -> Self {
        Self {
            status,
            message: message.to_owned(),
            errors: Vec::new(),
        }
    }

    pub(crate) fn not_found() -> Self {
        Self::new(404, "Not Found")
    }

    /// 422 `Validation Failed` with one custom error about the hook.
    pub(crate) fn validation(message: &str) -> Self {
        Self {
            status: 422,
            message: "Validation Failed".to_owned(),
            errors: vec![json!({"resource": "Hook", "code": "custom", "message": message})],
        }
    }

    /// GitHub's schema check: 422 naming the property and the expected type.
    fn wrong_type(path: &str, value: &Value, expected: &str) -> Self {
        Self::new(
            422,
            &format!("Invalid request.\n\nFor '{path}', {value} is not {expected}."),
        )
    }

    pub(crate) fn to_json(&self) -> Value {
        let mut body = json!({"message": self.message, "documentation_url": DOCS});
        if !self.errors.is_empty() {
            body["errors"] = json!(self.errors);
        }
        body
    }
}

/// Parses a request body that must be a JSON object (400 otherwise, as GitHub answers).
pub(crate) fn parse_object(body: &[u8]) -> Result<Map<String, Value>, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Map::new());
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(ApiError::new(400, "Body should be a JSON object")),
        Err(_) => Err(ApiError::new(400, "Problems parsing JSON")),
    }
}

/// A hook as created by `POST /repos/{o}/{r}/hooks`.
pub(crate) struct NewHook {
    pub(crate) active: bool,
    pub(crate) events: Vec<String>,
    pub(crate) config: HookConfig,
}

pub(crate) fn new_hook(body: &Map<String, Value>) -> Result<NewHook, ApiError> {
    if let Some(name) = body.get("name") {
        match name.as_str() {
            Some("web") => {}
            Some(_) => return Err(ApiError::validation("Name must be \"web\"")),
            None => return Err(ApiError::wrong_type("properties/name", name, "a string")),
        }
    }
    let active = optional_bool(body, "active")?.unwrap_or(true);
    let events = optional_events(body, "events")?.unwrap_or_else(|| vec!["push".to_owned()]);
    let config = match body.get("config") {
        Some(Value::Object(config)) => replaced_config(config)?,
        Some(other) => {
            return Err(ApiError::wrong_type(
                "properties/config",
                other,
                "an object",
            ));
        }
        None => return Err(ApiError::validation("Config must contain URL for webhooks")),
    };
    Ok(NewHook {
        active,
        events,
        config,
    })
}

/// A `PATCH /repos/{o}/{r}/hooks/{id}` body.
pub(crate) struct HookPatch {
    pub(crate) active: Option<bool>,
    pub(crate) events: Option<Vec<String>>,
    pub(crate) add_events: Vec<String>,
    pub(crate) remove_events: Vec<String>,
    /// Replaces the whole config (a secret not given again is removed, as on GitHub).
    pub(crate) config: Option<HookConfig>,
}

pub(crate) fn hook_patch(body: &Map<String, Value>) -> Result<HookPatch, ApiError> {
    let config = match body.get("config") {
        Some(Value::Object(config)) => Some(replaced_config(config)?),
        Some(other) => {
            return Err(ApiError::wrong_type(
                "properties/config",
                other,
                "an object",
            ));
        }
        None => None,
    };
    Ok(HookPatch {
        active: optional_bool(body, "active")?,
        events: optional_events(body, "events")?,
        add_events: optional_events(body, "add_events")?.unwrap_or_default(),
        remove_events: optional_events(body, "remove_events")?.unwrap_or_default(),
        config,
    })
}

impl HookPatch {
    /// The events after this patch: `events` replaces, then `add_events`, then `remove_events`.
    pub(crate) fn apply_events(&self, current: &[String]) -> Vec<String> {
        let mut events = self.events.clone().unwrap_or_else(|| current.to_vec());
        for event in &self.add_events {
            if !events.contains(event) {
                events.push(event.clone());
            }
        }
        events.retain(|e| !self.remove_events.contains(e));
        events
    }
}

/// A full config (create, or PATCH of the hook): `url` required, the rest defaulted like GitHub
/// (`content_type` form, `insecure_ssl` "0", no secret).
fn replaced_config(config: &Map<String, Value>) -> Result<HookConfig, ApiError> {
    let base = HookConfig {
        url: String::new(),
        content_type: ContentType::Form,
        secret: None,
        insecure_ssl: "0".to_owned(),
    };
    merged_config(&base, config)
}

/// `PATCH /repos/{o}/{r}/hooks/{id}/config`: only the given properties change.
pub(crate) fn merged_config(
    current: &HookConfig,
    patch: &Map<String, Value>,
) -> Result<HookConfig, ApiError> {
    let mut config = current.clone();
    if let Some(url) = patch.get("url") {
        let url = url.as_str().ok_or_else(|| {
            ApiError::wrong_type("properties/config/properties/url", url, "a string")
        })?;
        config.url = url.trim().to_owned();
    }
    if config.url.is_empty() {
        return Err(ApiError::validation("Config must contain URL for webhooks"));
    }
    check_url(&config.url)?;
    if let Some(content_type) = patch.get("content_type") {
        config.content_type = match content_type.as_str() {
            Some("json") => ContentType::Json,
            Some("form") => ContentType::Form,
            Some(_) => {
                return Err(ApiError::validation(
                    "Config content_type must be \"json\" or \"form\"",
                ));
            }
            None => {
                return Err(ApiError::wrong_type(
                    "properties/config/properties/content_type",
                    content_type,
                    "a string",
                ));
            }
        };
    }
    if let Some(secret) = patch.get("secret") {
        config.secret = match secret {
            Value::Null => None,
            Value::String(s) if s.is_empty() => None,
            Value::String(s) => Some(s.clone()),
            // Never echo a secret back, not even a mistyped one.
            _ => {
                return Err(ApiError::new(
                    422,
                    "Invalid request.\n\nFor 'properties/config/properties/secret', the value is not a string.",
                ));
            }
        };
    }
    if let Some(insecure) = patch.get("insecure_ssl") {
        config.insecure_ssl = match insecure {
            Value::String(s) if s == "0" || s == "1" => s.clone(),
            Value::Number(n) if n.as_u64() == Some(0) || n.as_u64() == Some(1) => n.to_string(),
            _ => {
                return Err(ApiError::validation(
                    "Config insecure_ssl must be \"0\" or \"1\"",
                ));
            }
        };
    }
    Ok(config)
}

/// An absolute http(s) URL with a host.
fn check_url(url: &str) -> Result<(), ApiError> {
    let parsed =
        url::Url::parse(url).map_err(|_| ApiError::validation("Config url is not a valid URL"))?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
        return Err(ApiError::validation(
            "Config url must be an http or https URL with a host",
        ));
    }
    Ok(())
}

fn optional_bool(body: &Map<String, Value>, key: &str) -> Result<Option<bool>, ApiError> {
    match body.get(key) {
        None => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(other) => Err(ApiError::wrong_type(
            &format!("properties/{key}"),
            other,
            "a boolean",
        )),
    }
}

/// A list of event names; every name must be one GitHub knows (names are not trimmed).
fn optional_events(body: &Map<String, Value>, key: &str) -> Result<Option<Vec<String>>, ApiError> {
    let Some(value) = body.get(key) else {
        return Ok(None);
    };
    let wrong = || ApiError::wrong_type(&format!("properties/{key}"), value, "an array of strings");
    let list = value.as_array().ok_or_else(wrong)?;
    let mut events: Vec<String> = Vec::with_capacity(list.len());
    for item in list {
        let name = item.as_str().ok_or_else(wrong)?;
        if !EVENT_NAMES.contains(&name) {
            return Err(ApiError {
                status: 422,
                message: "Validation Failed".to_owned(),
                errors: vec![json!({
                    "resource": "Hook",
                    "code": "invalid",
                    "field": key,
                    "value": name,
                    "message": format!("{name:?} is not a valid event name"),
                })],
            });
        }
        if !events.iter().any(|e| e == name) {
            events.push(name.to_owned());
        }
    }
    Ok(Some(events))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn object(value: Value) -> Map<String, Value> {
        match value {
            Value::Object(map) => map,
            _ => Map::new(),
        }
    }

    #[test]
    fn defaults_follow_github() -> Result<(), String> {
        let hook =
            new_hook(&object(json!({"config": {"url": "http://h/x"}}))).map_err(|e| e.message)?;
        assert!(hook.active);
        assert_eq!(hook.events, ["push"]);
        assert_eq!(hook.config.content_type, ContentType::Form);
        assert_eq!(hook.config.insecure_ssl, "0");
        assert!(hook.config.secret.is_none());
        Ok(())
    }

    #[test]
    fn untrimmed_event_names_are_rejected() {
        let err = new_hook(&object(
            json!({"events": ["push", " delete"], "config": {"url": "http://h/x"}}),
        ));
        let err = err.err().map(|e| (e.status, e.errors[0]["value"].clone()));
        assert_eq!(err, Some((422, json!(" delete"))));
    }

    #[test]
    fn mistyped_secret_is_not_echoed() {
        let err = new_hook(&object(
            json!({"config": {"url": "http://h/x", "secret": 12345}}),
        ));
        let message = err
            .err()
            .map(|e| e.to_json().to_string())
            .unwrap_or_default();
        assert!(message.contains("secret"), "{message}");
        assert!(!message.contains("12345"), "{message}");
    }

    #[test]
    fn patch_events_apply_in_order() -> Result<(), String> {
        let patch = hook_patch(&object(json!({
            "events": ["push", "issues"],
            "add_events": ["release", "push"],
            "remove_events": ["issues"],
        })))
        .map_err(|e| e.message)?;
        assert_eq!(patch.apply_events(&[]), ["push", "release"]);
        Ok(())
    }
}
