//! The HTTP request as a raw web action (`web-export: true`, `raw-http: true`) receives it, and
//! the `{statusCode, headers, body}` result OpenWhisk turns into the response.
//!
//! With `raw-http`, OpenWhisk passes `__ow_method`, `__ow_headers` (names in lower case),
//! `__ow_path` (after the action's name and extension), `__ow_query` (as sent) and `__ow_body`:
//! base64 when the content is binary or JSON, the text itself otherwise.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use crate::encoding::{base64_decoded_len, decode_standard, form_value};

/// A refusal or failure, as the HTTP answer the caller gets. Messages never quote a secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{status} {message}")]
pub struct HttpError {
    pub status: u16,
    pub message: String,
}

impl HttpError {
    pub fn new(status: u16, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
        }
    }

    pub fn response(&self) -> Value {
        response(self.status, &json!({ "error": self.message }))
    }
}

/// The web action result for a JSON answer.
pub fn response(status: u16, body: &Value) -> Value {
    json!({
        "statusCode": status,
        "headers": { "Content-Type": "application/json" },
        "body": body,
    })
}

/// The request body as OpenWhisk passed it.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Body {
    Base64(String),
    Text(String),
}

/// One HTTP request to the relay.
#[derive(Debug, Clone)]
pub struct WebRequest {
    /// Lower case, as OpenWhisk passes it.
    pub method: String,
    /// `/seal`, `/deliver/ns/t`, ... (empty for the action's own URL).
    pub path: String,
    pub query: String,
    /// Names in lower case.
    headers: BTreeMap<String, String>,
    body: Body,
}

impl WebRequest {
    /// Reads the `__ow_*` parameters; 400 when the action is not invoked as a raw web action.
    pub fn from_params(params: &Map<String, Value>) -> Result<Self, HttpError> {
        let text = |name: &str| params.get(name).and_then(Value::as_str).unwrap_or_default();
        let method = text("__ow_method").to_ascii_lowercase();
        if method.is_empty() {
            return Err(HttpError::new(
                400,
                "hook-relay is a raw web action: deploy it with web-export and raw-http, and call \
                 it over its web URL",
            ));
        }
        let headers = params
            .get("__ow_headers")
            .and_then(Value::as_object)
            .map(|headers| {
                headers
                    .iter()
                    .filter_map(|(name, value)| {
                        value
                            .as_str()
                            .map(|value| (name.to_ascii_lowercase(), value.to_owned()))
                    })
                    .collect()
            })
            .unwrap_or_default();
        let mut request = Self {
            method,
            path: text("__ow_path").to_owned(),
            query: text("__ow_query").to_owned(),
            headers,
            body: Body::Text(String::new()),
        };
        let raw = text("__ow_body").to_owned();
        request.body = if request.is_base64_media() {
            Body::Base64(raw)
        } else {
            Body::Text(raw)
        };
        Ok(request)
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(String::as_str)
    }

    /// The first of `names` that is present.
    pub fn first_header(&self, names: &[&str]) -> Option<&str> {
        names.iter().find_map(|name| self.header(name))
    }

    /// `type/subtype` of the `Content-Type`, lower case (`application/octet-stream` when absent,
    /// as HTTP says).
    pub fn media_type(&self) -> String {
        self.header("content-type")
            .unwrap_or("application/octet-stream")
            .split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase()
    }

    /// OpenWhisk passes text bodies as they are and everything else (JSON included) in base64.
    fn is_base64_media(&self) -> bool {
        let media = self.media_type();
        let text = media.starts_with("text/")
            || matches!(
                media.as_str(),
                "application/x-www-form-urlencoded"
                    | "application/javascript"
                    | "application/ecmascript"
                    | "application/xml"
                    | "application/xhtml+xml"
                    | "application/atom+xml"
                    | "application/rss+xml"
                    | "application/soap+xml"
            );
        !text
    }

    /// The body's size in bytes, known without decoding a base64 body.
    pub fn body_len(&self) -> usize {
        match &self.body {
            Body::Base64(text) => base64_decoded_len(text),
            Body::Text(text) => text.len(),
        }
    }

    /// The body's bytes, exactly as sent.
    pub fn body_bytes(&self) -> Result<Vec<u8>, HttpError> {
        match &self.body {
            Body::Text(text) => Ok(text.clone().into_bytes()),
            Body::Base64(text) => decode_standard(text).ok_or_else(|| {
                HttpError::new(
                    400,
                    "the request body did not arrive as base64 from OpenWhisk",
                )
            }),
        }
    }

    /// A query parameter, decoded.
    pub fn query_param(&self, name: &str) -> Option<String> {
        form_value(&self.query, name).map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine as _;

    fn request(content_type: Option<&str>, body: &str) -> WebRequest {
        let mut headers = Map::new();
        headers.insert("X-GitHub-Event".into(), json!("push"));
        if let Some(content_type) = content_type {
            headers.insert("content-type".into(), json!(content_type));
        }
        let params = json!({
            "__ow_method": "POST",
            "__ow_headers": headers,
            "__ow_path": "/deliver/guest/t",
            "__ow_query": "token=abc%2Bd&x=1",
            "__ow_body": body,
        });
        WebRequest::from_params(params.as_object().expect("object")).expect("request")
    }

    #[test]
    fn json_bodies_arrive_in_base64_and_form_bodies_as_text() {
        let json_body = r#"{"a":1}"#;
        let encoded = base64::engine::general_purpose::STANDARD.encode(json_body);
        let json = request(Some("application/json; charset=utf-8"), &encoded);
        assert_eq!(json.method, "post");
        assert_eq!(json.media_type(), "application/json");
        assert_eq!(json.body_bytes().expect("decoded"), json_body.as_bytes());
        assert_eq!(json.body_len(), json_body.len());
        assert_eq!(json.header("x-github-event"), Some("push"));
        assert_eq!(json.query_param("token").as_deref(), Some("abc+d"));

        let form = request(Some("application/x-www-form-urlencoded"), "payload=%7B%7D");
        assert_eq!(form.body_bytes().expect("text"), b"payload=%7B%7D");
        assert_eq!(form.body_len(), 14);

        let broken = request(Some("application/json"), "not base64!");
        assert_eq!(broken.body_bytes().map_err(|e| e.status), Err(400));
    }

    #[test]
    fn a_plain_invocation_is_refused() {
        let error = WebRequest::from_params(&Map::new()).expect_err("not web");
        assert_eq!(error.status, 400);
        assert_eq!(error.response()["statusCode"], 400);
        assert!(error.response()["body"]["error"].as_str().is_some());
    }
}
