//! The last line of defence for secrets: every result and error passes through a [`Redactor`]
//! that knows this activation's secrets (the trigger owner's key, the access token, the webhook
//! secret, as given and as stored) and masks any that a service echoed back.

use feedkit::{AuthKey, FeedRequest, Secret};
use serde_json::Value;

/// What a masked secret reads as (the same as feedkit's `Secret` prints).
pub const MASK: &str = "********";

#[derive(Debug, Default)]
pub struct Redactor {
    secrets: Vec<String>,
}

impl Redactor {
    /// Knows the key and any secret-valued parameters of the request.
    pub fn for_request(request: &FeedRequest) -> Self {
        let mut redactor = Self::default();
        redactor.add_key(&request.auth_key);
        for name in ["accessToken", "secret"] {
            if let Some(Value::String(text)) = request.params.raw(name) {
                redactor.add(text.trim());
            }
        }
        redactor
    }

    pub fn add_key(&mut self, key: &AuthKey) {
        let exposed = key.expose();
        if let Some((_, password)) = exposed.split_once(':') {
            self.add(password);
            // As it appears percent-encoded in a hook URL's userinfo.
            self.add(&percent_encoded(password));
        }
    }

    pub fn add_secret(&mut self, secret: &Secret) {
        self.add(secret.expose());
    }

    fn add(&mut self, secret: &str) {
        if !secret.is_empty() && !self.secrets.iter().any(|known| known == secret) {
            self.secrets.push(secret.to_owned());
            // Longest first, so a secret containing another is masked whole.
            self.secrets
                .sort_by_key(|known| std::cmp::Reverse(known.len()));
        }
    }

    pub fn text(&self, text: &str) -> String {
        self.secrets.iter().fold(text.to_owned(), |masked, secret| {
            masked.replace(secret, MASK)
        })
    }

    /// Masks secrets in every string of a JSON value (keys included).
    pub fn value(&self, value: Value) -> Value {
        match value {
            Value::String(text) => Value::String(self.text(&text)),
            Value::Array(items) => Value::Array(items.into_iter().map(|v| self.value(v)).collect()),
            Value::Object(map) => Value::Object(
                map.into_iter()
                    .map(|(key, v)| (self.text(&key), self.value(v)))
                    .collect(),
            ),
            other => other,
        }
    }
}

fn percent_encoded(text: &str) -> String {
    text.bytes()
        .map(|byte| {
            if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
                (byte as char).to_string()
            } else {
                format!("%{byte:02X}")
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn masks_every_known_secret_in_text_and_json() {
        let request = FeedRequest::parse(json!({
            "lifecycleEvent": "READ",
            "triggerName": "/guest/t",
            "authKey": "uuid:pa/ss",
            "accessToken": " ghp_token ",
            "secret": "whsec",
        }))
        .expect("request");
        let mut redactor = Redactor::for_request(&request);
        redactor.add_secret(&Secret::new("stored-token"));
        let text = "http://uuid:pa%2Fss@h/x pa/ss ghp_token whsec stored-token";
        assert_eq!(
            redactor.text(text),
            "http://uuid:********@h/x ******** ******** ******** ********"
        );
        let value = redactor.value(json!({"a": ["ghp_token"], "whsec": 1, "n": 2}));
        assert_eq!(value, json!({"a": ["********"], "********": 1, "n": 2}));
    }
}
