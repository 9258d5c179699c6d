//! A raw HTTP web action (`web-export: true`, `raw-http: true`): the request as OpenWhisk
//! passes it ([`WebRequest`]), the `{statusCode, headers, body}` result it turns into the
//! response, and [`WebAction`], the trait such an action implements.
//!
//! With `raw-http`, OpenWhisk passes `__ow_method`, `__ow_headers` (names in lower case),
//! `__ow_path` (after the action's name and extension), `__ow_query` (as sent) and `__ow_body`:
//! base64 when the content is binary or JSON, the text itself otherwise. Every other parameter
//! is bound to the action or its package, and is read as the action's `Params` (unknown names
//! refused, as for any action of the kit).

use std::collections::BTreeMap;

use serde::de::DeserializeOwned;
use serde_json::{Map, Value, json};

use crate::action::Activation;
use crate::context::Context;
use crate::error::ActionError;
use crate::runtime::run;

/// A refusal or failure, as the HTTP answer the caller gets. Messages never quote a secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{status} {message}")]
pub struct WebError {
    pub status: u16,
    pub message: String,
}

impl WebError {
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

/// What a web action answered: the HTTP answer and a line for the activation's log.
#[derive(Debug, Clone, PartialEq)]
pub struct Served {
    pub status: u16,
    pub body: Value,
    pub log: String,
}

/// A raw HTTP web action: `Params` are the parameters bound to it (its package's).
pub trait WebAction {
    type Params: DeserializeOwned;
    const NAME: &'static str;

    /// Answers one request.
    fn serve(
        &self,
        request: &WebRequest,
        activation: &mut Activation<'_, Self::Params>,
    ) -> Result<Served, WebError>;
}

/// Reads the request and the bound parameters and serves the request. Always answers with a
/// response for OpenWhisk to send (never an `error` result, which a web action would turn into
/// an answer of its own), and logs one line saying what it did (no secret in either).
pub fn dispatch_web_action<A: WebAction + ?Sized>(
    action: &A,
    params: Value,
    context: &Context,
) -> Result<Value, ActionError> {
    let mut bound = match params {
        Value::Object(map) => map,
        _ => Map::new(),
    };
    let request = WebRequest::take(&mut bound);
    let what = match &request {
        Ok(request) => format!(
            "{} {}",
            request.method.to_ascii_uppercase(),
            shown_path(&request.path)
        ),
        Err(_) => "invocation".to_owned(),
    };
    let served = request.and_then(|request| {
        crate::action::with_activation(A::NAME, Value::Object(bound), context, |activation| {
            action.serve(&request, activation)
        })
        .map_err(|error| WebError::new(400, error.message()))?
    });
    let (reply, log) = match served {
        Ok(served) => (response(served.status, &served.body), served.log),
        Err(error) => {
            let log = format!("{what}: refused {}: {}", error.status, error.message);
            (error.response(), log)
        }
    };
    crate::session::log_line(A::NAME, &crate::redact::Redactor::default(), &log);
    Ok(reply)
}

/// Runs `action` as the process's action: the `main` of a web action's binary.
pub fn run_web_action<A: WebAction>(action: A) {
    run(|params: Value, context: &Context| dispatch_web_action(&action, params, context));
}

/// A request path as a log line may show it: no control characters, bounded.
fn shown_path(path: &str) -> String {
    path.chars().filter(|c| !c.is_control()).take(528).collect()
}

/// The request body as OpenWhisk passed it.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Body {
    Base64(String),
    Text(String),
}

/// One HTTP request to a raw web action.
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
    /// Takes the `__ow_*` parameters out of `params`; 400 when the action is not invoked as a
    /// raw web action.
    pub fn take(params: &mut Map<String, Value>) -> Result<Self, WebError> {
        let mut take = |name: &str| params.remove(name).unwrap_or(Value::Null);
        let (method, headers, path, query, body) = (
            take("__ow_method"),
            take("__ow_headers"),
            take("__ow_path"),
            take("__ow_query"),
            take("__ow_body"),
        );
        let text = |value: Value| match value {
            Value::String(text) => text,
            _ => String::new(),
        };
        let method = text(method).to_ascii_lowercase();
        if method.is_empty() {
            return Err(WebError::new(
                400,
                "this is a raw web action: deploy it with web-export and raw-http, and call it \
                 over its web URL",
            ));
        }
        let headers = match headers {
            Value::Object(headers) => headers
                .into_iter()
                .filter_map(|(name, value)| match value {
                    Value::String(value) => Some((name.to_ascii_lowercase(), value)),
                    _ => None,
                })
                .collect(),
            _ => BTreeMap::new(),
        };
        let mut request = Self {
            method,
            path: text(path),
            query: text(query),
            headers,
            body: Body::Text(String::new()),
        };
        let raw = text(body);
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
    pub fn body_bytes(&self) -> Result<Vec<u8>, WebError> {
        match &self.body {
            Body::Text(text) => Ok(text.clone().into_bytes()),
            Body::Base64(text) => decode_standard(text).ok_or_else(|| {
                WebError::new(
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

/// Standard base64 as OpenWhisk uses for `__ow_body`, padded or not, whitespace ignored.
pub fn decode_standard(text: &str) -> Option<Vec<u8>> {
    use base64::Engine as _;
    use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
    const STANDARD_LENIENT: GeneralPurpose = GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
    );
    let compact: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    STANDARD_LENIENT.decode(compact).ok()
}

/// How many bytes a base64 text decodes to, without decoding it: every four significant
/// characters are three bytes, and a final group of two or three characters is one or two
/// bytes. Padding and whitespace are not significant (as [`decode_standard`] reads them).
pub fn base64_decoded_len(text: &str) -> usize {
    let significant = text
        .bytes()
        .filter(|byte| *byte != b'=' && !byte.is_ascii_whitespace())
        .count();
    significant / 4 * 3 + (significant % 4).saturating_sub(1)
}

/// Percent-decodes; with `plus_is_space`, `+` is a space (form bodies and queries).
pub fn percent_decode(text: &str, plus_is_space: bool) -> Vec<u8> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        let byte = bytes[index];
        let escaped = (byte == b'%')
            .then(|| bytes.get(index + 1..index + 3))
            .flatten()
            .and_then(|pair| std::str::from_utf8(pair).ok())
            .and_then(|pair| u8::from_str_radix(pair, 16).ok());
        match (escaped, byte) {
            (Some(decoded), _) => {
                out.push(decoded);
                index += 3;
            }
            (None, b'+') if plus_is_space => {
                out.push(b' ');
                index += 1;
            }
            (None, other) => {
                out.push(other);
                index += 1;
            }
        }
    }
    out
}

/// The value of `name` in an `a=1&b=2` query or form body, decoded.
pub fn form_value(text: &str, name: &str) -> Option<Vec<u8>> {
    text.split('&').find_map(|pair| {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        (percent_decode(key, true) == name.as_bytes()).then(|| percent_decode(value, true))
    })
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
            "bound": 1,
        });
        let mut params = params.as_object().cloned().expect("object");
        let request = WebRequest::take(&mut params).expect("request");
        assert_eq!(params.keys().collect::<Vec<_>>(), ["bound"]);
        request
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
        let error = WebRequest::take(&mut Map::new()).expect_err("not web");
        assert_eq!(error.status, 400);
        assert_eq!(error.response()["statusCode"], 400);
        assert!(error.response()["body"]["error"].as_str().is_some());
    }

    #[test]
    fn decoded_lengths_are_exact_with_or_without_padding() {
        for len in 0..50 {
            let bytes = vec![7u8; len];
            let padded = base64::engine::general_purpose::STANDARD.encode(&bytes);
            let bare = padded.trim_end_matches('=');
            let (head, tail) = padded.split_at(padded.len() / 2);
            let wrapped = format!("{head}\n{tail}");
            for text in [padded.as_str(), bare, wrapped.as_str()] {
                assert_eq!(base64_decoded_len(text), len, "{text:?}");
                assert_eq!(
                    decode_standard(text).map(|d| d.len()),
                    Some(len),
                    "{text:?}"
                );
            }
        }
        let limit = 512 * 1024;
        let at_limit = base64::engine::general_purpose::STANDARD.encode(vec![0u8; limit]);
        assert_eq!(base64_decoded_len(&at_limit), limit);
    }

    #[test]
    fn percent_and_form_decoding() {
        assert_eq!(percent_decode("a%20b+c%2", false), b"a b+c%2");
        assert_eq!(percent_decode("a%20b+c", true), b"a b c");
        assert_eq!(
            form_value("x=1&payload=%7B%22a%22%3A%22b+c%22%7D", "payload"),
            Some(br#"{"a":"b c"}"#.to_vec())
        );
        assert_eq!(form_value("x=1", "payload"), None);
    }
}
