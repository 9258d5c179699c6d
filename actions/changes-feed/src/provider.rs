//! The changes provider's REST API, as the feed action calls it (see the provider crate's `api`
//! module for the server side).

use std::time::Duration;

use feedkit::{ActionError, AuthKey, QualifiedName};
use serde_json::Value;

use crate::settings::ProviderTarget;

/// A provider call that did not succeed.
#[derive(Debug)]
pub enum ProviderError {
    /// The provider answered with an error status and its `error` message.
    Status { status: u16, message: String },
    /// No answer.
    Unreachable(String),
}

impl ProviderError {
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::Status { status, .. } => Some(*status),
            Self::Unreachable(_) => None,
        }
    }

    /// What the user reads. The provider's own messages never hold secrets; 401 is about the
    /// package-bound secret, which the user may need to ask the operator about.
    pub fn into_action_error(self, target: &ProviderTarget) -> ActionError {
        match self {
            Self::Unreachable(reason) => ActionError::new(format!(
                "the changes provider at {} is not reachable ({reason})",
                target.url
            )),
            Self::Status { status: 401, .. } => ActionError::new(
                "invalid parameter `providerSecret`: the changes provider refused it (the package's binding is out of date)",
            ),
            Self::Status {
                status: 422,
                message,
            } => ActionError::new(message),
            Self::Status { status, message } => ActionError::new(format!(
                "the changes provider answered HTTP {status}: {message}"
            )),
        }
    }
}

/// A client of one provider, bounded by the activation's time.
pub struct Provider<'a> {
    target: &'a ProviderTarget,
    agent: ureq::Agent,
}

/// `/feeds/{namespace}/{trigger}`, each part encoded.
fn feed_path(trigger: &QualifiedName) -> String {
    format!(
        "/feeds/{}/{}",
        feedkit::percent_encode(trigger.namespace()),
        feedkit::percent_encode(trigger.name())
    )
}

impl<'a> Provider<'a> {
    pub fn new(target: &'a ProviderTarget, timeout: Duration) -> Self {
        let agent = feedkit::http_agent(
            feedkit::http_agent_config()
                .timeout_global(Some(timeout))
                .build(),
        );
        Self { target, agent }
    }

    fn call(
        &self,
        method: &str,
        path: &str,
        body: Option<&Value>,
        owner_key: Option<&AuthKey>,
    ) -> Result<Value, ProviderError> {
        let url = format!("{}{path}", self.target.url);
        let authorization = format!("Bearer {}", self.target.secret.expose());
        let builder = match method {
            "PUT" => self.agent.put(&url),
            "PATCH" => self.agent.patch(&url),
            "POST" => self.agent.post(&url),
            "DELETE" => {
                let mut request = self
                    .agent
                    .delete(&url)
                    .header("Authorization", &authorization);
                if let Some(key) = owner_key {
                    request = request.header("X-Owner-Key", &key.expose());
                }
                return answer(request.call());
            }
            _ => {
                let mut request = self.agent.get(&url).header("Authorization", &authorization);
                if let Some(key) = owner_key {
                    request = request.header("X-Owner-Key", &key.expose());
                }
                return answer(request.call());
            }
        };
        let body = body
            .cloned()
            .unwrap_or_else(|| Value::Object(Default::default()));
        answer(
            builder
                .header("Authorization", &authorization)
                .send_json(&body),
        )
    }

    pub fn register(&self, trigger: &QualifiedName, body: &Value) -> Result<Value, ProviderError> {
        self.call("PUT", &feed_path(trigger), Some(body), None)
    }

    /// With `owner_key`, the provider answers only if that key is the feed's.
    pub fn read(
        &self,
        trigger: &QualifiedName,
        owner_key: Option<&AuthKey>,
    ) -> Result<Value, ProviderError> {
        self.call("GET", &feed_path(trigger), None, owner_key)
    }

    pub fn update(&self, trigger: &QualifiedName, patch: &Value) -> Result<Value, ProviderError> {
        self.call("PATCH", &feed_path(trigger), Some(patch), None)
    }

    pub fn set_active(
        &self,
        trigger: &QualifiedName,
        active: bool,
        refresh: &Value,
    ) -> Result<Value, ProviderError> {
        let verb = if active { "unpause" } else { "pause" };
        let path = format!("{}/{verb}", feed_path(trigger));
        self.call("POST", &path, Some(refresh), None)
    }

    /// With `owner_key`, the provider deletes only if that key is the feed's.
    pub fn delete(
        &self,
        trigger: &QualifiedName,
        owner_key: Option<&AuthKey>,
    ) -> Result<Value, ProviderError> {
        self.call("DELETE", &feed_path(trigger), None, owner_key)
    }
}

fn answer(
    result: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
) -> Result<Value, ProviderError> {
    let mut response = result.map_err(|error| ProviderError::Unreachable(error.to_string()))?;
    let status = response.status().as_u16();
    let text = response.body_mut().read_to_string().unwrap_or_default();
    let body: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
    if (200..300).contains(&status) {
        return Ok(body);
    }
    let message = body
        .get("error")
        .and_then(Value::as_str)
        .map(str::to_owned)
        .unwrap_or_else(|| text.chars().take(200).collect());
    Err(ProviderError::Status { status, message })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_encode_the_trigger() {
        let trigger = QualifiedName::parse("/my ns/t@1").expect("name");
        assert_eq!(feed_path(&trigger), "/feeds/my%20ns/t%401");
    }
}
