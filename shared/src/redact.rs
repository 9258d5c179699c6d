//! The last line of defence for secrets: every result, error and log line of a feed passes
//! through a [`Redactor`] that knows the activation's secrets (the trigger owner's key, every
//! [`Secret`] its parameters and records held, whatever the feed learned on the way) and masks
//! any that a service echoed back.

use serde_json::Value;

use crate::secret::{AuthKey, REDACTED, Secret};

#[derive(Debug, Default, Clone)]
pub struct Redactor {
    /// Longest first, so that a secret containing another is masked whole.
    secrets: Vec<String>,
}

impl Redactor {
    /// Knows the key's secret half, also as it appears percent-encoded in a URL's userinfo.
    pub fn add_key(&mut self, key: &AuthKey) {
        let exposed = key.expose();
        if let Some((_, password)) = exposed.split_once(':') {
            self.add(password);
            self.add(&crate::percent_encode(password));
        }
    }

    pub fn add_secret(&mut self, secret: &Secret) {
        self.add(secret.expose());
    }

    fn add(&mut self, secret: &str) {
        let secret = secret.trim();
        if !secret.is_empty() && !self.secrets.iter().any(|known| known == secret) {
            self.secrets.push(secret.to_owned());
            self.secrets
                .sort_unstable_by_key(|known| std::cmp::Reverse(known.len()));
        }
    }

    pub fn text(&self, text: &str) -> String {
        self.secrets.iter().fold(text.to_owned(), |masked, secret| {
            masked.replace(secret, REDACTED)
        })
    }

    /// Masks secrets in every string of a JSON value (keys included).
    pub fn value(&self, value: Value) -> Value {
        match value {
            Value::String(text) => Value::String(self.text(&text)),
            Value::Array(items) => Value::Array(items.into_iter().map(|v| self.value(v)).collect()),
            Value::Object(map) => {
                // Inserted one by one: collecting a map sorts it first, more code in every
                // binary for nothing.
                let mut masked = serde_json::Map::new();
                for (key, v) in map {
                    masked.insert(self.text(&key), self.value(v));
                }
                Value::Object(masked)
            }
            other => other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn masks_every_known_secret_in_text_and_json() {
        let mut redactor = Redactor::default();
        redactor.add_key(&AuthKey::parse("uuid:pa/ss").expect("key"));
        redactor.add_secret(&Secret::new(" ghp_token "));
        redactor.add_secret(&Secret::new("whsec"));
        let text = "http://uuid:pa%2Fss@h/x pa/ss ghp_token whsec";
        assert_eq!(
            redactor.text(text),
            "http://uuid:********@h/x ******** ******** ********"
        );
        let value = redactor.value(json!({"a": ["ghp_token"], "whsec": 1, "n": 2}));
        assert_eq!(value, json!({"a": ["********"], "********": 1, "n": 2}));
    }
}
