//! The one error type a handler returns, and its wire form `{"error": "..."}`.

use std::fmt;

use serde::Serialize;

/// An activation's failure, reported to OpenWhisk as `{"error": message}` (an "application error").
///
/// Any `std::error::Error` converts into it with `?`; the message is the error and its sources,
/// joined with `: `. It deliberately does not implement `std::error::Error` itself (like `anyhow`),
/// so that blanket conversion is possible.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActionError {
    message: String,
}

impl ActionError {
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
        }
    }

    pub fn message(&self) -> &str {
        &self.message
    }

    /// Prefixes the message with what was being done, e.g. `"installing the hook: ..."`.
    #[must_use]
    pub fn context(self, doing: impl fmt::Display) -> Self {
        Self::new(format!("{doing}: {}", self.message))
    }

    /// The wire form, one compact JSON object.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(ErrorBody {
            error: &self.message,
        })
        .unwrap_or_else(|_| serde_json::json!({ "error": "unprintable error" }))
    }
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    error: &'a str,
}

impl fmt::Display for ActionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl<E: std::error::Error> From<E> for ActionError {
    fn from(error: E) -> Self {
        let mut message = error.to_string();
        let mut source = error.source();
        while let Some(cause) = source {
            let text = cause.to_string();
            // thiserror messages often embed their source already; don't say it twice.
            if !message.contains(&text) {
                message.push_str(": ");
                message.push_str(&text);
            }
            source = cause.source();
        }
        Self { message }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("outer")]
    struct Outer(#[source] std::io::Error);

    #[test]
    fn converts_any_error_with_its_sources() {
        let error = ActionError::from(Outer(std::io::Error::other("inner")));
        assert_eq!(error.message(), "outer: inner");
        assert_eq!(
            error.to_json(),
            serde_json::json!({"error": "outer: inner"})
        );
    }

    #[test]
    fn context_prefixes() {
        let error = ActionError::new("boom").context("installing the hook");
        assert_eq!(error.to_string(), "installing the hook: boom");
    }
}
