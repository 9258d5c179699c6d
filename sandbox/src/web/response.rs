//! The action's result as the HTTP response its extension asks for: `.http` (`statusCode`,
//! `headers`, `body`, binary bodies base64-decoded), `.json`, `.html`, `.svg`, `.text`.

use super::request::{is_json_family, is_text, media_type};
use crate::model::error::{Error, messages};
use base64::Engine;
use serde_json::Value;

/// What goes back: status, headers, body bytes.
#[derive(Debug)]
pub(crate) struct WebReply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl WebReply {
    pub fn new(status: u16) -> Self {
        WebReply {
            status,
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    pub fn header(mut self, name: &str, value: impl Into<String>) -> Self {
        self.headers.push((name.to_string(), value.into()));
        self
    }

    pub fn with_body(mut self, content_type: &str, body: Vec<u8>) -> Self {
        self.headers
            .retain(|(k, _)| !k.eq_ignore_ascii_case("content-type"));
        self.headers
            .push(("Content-Type".to_string(), content_type.to_string()));
        self.body = body;
        self
    }

    /// The controller's error body `{"error", "code"}`.
    pub fn error(error: &Error, transaction_id: &str) -> Self {
        WebReply::new(error.status()).with_body(
            "application/json",
            error.body(transaction_id).to_string().into_bytes(),
        )
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Extension {
    Http,
    Json,
    Html,
    Svg,
    Text,
}

const EXTENSIONS: [(&str, Extension); 5] = [
    (".http", Extension::Http),
    (".json", Extension::Json),
    (".html", Extension::Html),
    (".svg", Extension::Svg),
    (".text", Extension::Text),
];

/// The controller's test for a base64 string: non-empty, a multiple of 4, base64 alphabet.
fn looks_base64(s: &str) -> bool {
    let t = s.trim();
    !t.is_empty()
        && t.len().is_multiple_of(4)
        && base64::engine::general_purpose::STANDARD.decode(t).is_ok()
}

fn invalid_http() -> Error {
    Error::bad(messages::invalid_media("message/http"))
}

/// Response headers from the result's `headers` object (strings, numbers, booleans, or lists
/// of them for repeated headers).
fn headers_of(value: Option<&Value>) -> Result<Vec<(String, String)>, Error> {
    fn add(out: &mut Vec<(String, String)>, name: &str, value: &Value) -> Result<(), Error> {
        match value {
            Value::String(s) => out.push((name.to_string(), s.clone())),
            Value::Bool(_) | Value::Number(_) => out.push((name.to_string(), value.to_string())),
            Value::Array(items) => {
                for item in items {
                    add(out, name, item)?;
                }
            }
            _ => return Err(invalid_http()),
        }
        Ok(())
    }
    let mut out = Vec::new();
    match value {
        None => {}
        Some(Value::Object(fields)) => {
            for (name, value) in fields {
                add(&mut out, name, value)?;
            }
        }
        Some(_) => return Err(invalid_http()),
    }
    Ok(out)
}

fn status_of(value: Option<&Value>) -> Result<Option<u16>, Error> {
    let code = match value {
        None => return Ok(None),
        Some(Value::Number(n)) => n.as_u64(),
        Some(Value::String(s)) => s.trim().parse::<u64>().ok(),
        Some(_) => None,
    };
    code.filter(|c| (100..=599).contains(c))
        .map(|c| Some(c as u16))
        .ok_or_else(invalid_http)
}

fn http_response(result: Value) -> Result<WebReply, Error> {
    let Value::Object(fields) = result else {
        return Err(invalid_http());
    };
    let headers = headers_of(fields.get("headers"))?;
    let code = status_of(fields.get("statusCode"))?;
    let content_type = headers
        .iter()
        .rev()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-type"))
        .map(|(_, v)| v.clone());
    let mut reply = WebReply::new(200);
    reply.headers = headers
        .into_iter()
        .filter(|(k, _)| !k.eq_ignore_ascii_case("content-type"))
        .collect();
    match fields.get("body") {
        None | Some(Value::Null) => {
            reply.status = code.unwrap_or(204);
            Ok(reply)
        }
        Some(Value::String(s)) if s.is_empty() => {
            reply.status = code.unwrap_or(204);
            Ok(reply)
        }
        Some(Value::String(s)) => {
            reply.status = code.unwrap_or(200);
            let content_type = content_type.unwrap_or_else(|| "text/html".into());
            let media = media_type(&content_type);
            if !media.contains('/') || media.starts_with('/') || media.ends_with('/') {
                return Err(Error::bad(messages::HTTP_UNKNOWN_CONTENT_TYPE));
            }
            let decode = || {
                base64::engine::general_purpose::STANDARD
                    .decode(s.trim())
                    .map_err(|_| Error::bad(messages::HTTP_CONTENT_TYPE_ERROR))
            };
            let body = if is_json_family(&media) && looks_base64(s) {
                decode()?
            } else if is_text(&media) || is_json_family(&media) {
                s.clone().into_bytes()
            } else {
                decode()?
            };
            let content_type = if is_text(&media) && !content_type.contains("charset") {
                format!("{content_type}; charset=UTF-8")
            } else {
                content_type
            };
            Ok(reply.with_body(&content_type, body))
        }
        Some(json) => {
            reply.status = code.unwrap_or(200);
            let content_type = content_type.unwrap_or_else(|| "application/json".into());
            let media = media_type(&content_type);
            if !is_json_family(&media) {
                return Err(Error::bad(messages::HTTP_CONTENT_TYPE_ERROR));
            }
            let text = if media == "application/json" {
                json.to_string()
            } else {
                serde_json::to_string_pretty(json).unwrap_or_default()
            };
            Ok(reply.with_body(&content_type, text.into_bytes()))
        }
    }
}

/// `.html` and `.svg`: a string result, or an object's `body` (else `field`) string.
fn text_media(
    result: Value,
    field: &str,
    content_type: &str,
    media: &str,
) -> Result<WebReply, Error> {
    let text = match &result {
        Value::Object(fields) => fields.get("body").or_else(|| fields.get(field)),
        other => Some(other),
    };
    match text {
        Some(Value::String(s)) => {
            Ok(WebReply::new(200).with_body(content_type, s.clone().into_bytes()))
        }
        _ => Err(Error::bad(messages::invalid_media(media))),
    }
}

impl Extension {
    /// Splits `name.ext`; a name without a known extension is served as `.http`.
    pub fn split(name: &str) -> (&str, Extension) {
        EXTENSIONS
            .iter()
            .find_map(|(suffix, ext)| name.strip_suffix(suffix).map(|base| (base, *ext)))
            .unwrap_or((name, Extension::Http))
    }

    pub fn respond(self, result: Value) -> Result<WebReply, Error> {
        match self {
            Extension::Http => http_response(result),
            Extension::Json => match result {
                Value::Object(_) | Value::Array(_) => Ok(WebReply::new(200)
                    .with_body("application/json", result.to_string().into_bytes())),
                _ => Err(Error::bad(messages::invalid_media("application/json"))),
            },
            Extension::Html => text_media(result, "html", "text/html; charset=UTF-8", "text/html"),
            Extension::Svg => text_media(result, "svg", "image/svg+xml", "image/svg+xml"),
            Extension::Text => {
                let text = match &result {
                    Value::Object(fields) => fields.get("body").or_else(|| fields.get("text")),
                    other => Some(other),
                };
                let body = match text {
                    None => return Err(Error::NotFound(messages::PROPERTY_NOT_FOUND.into())),
                    Some(Value::String(s)) => s.clone(),
                    Some(v @ (Value::Object(_) | Value::Array(_))) => {
                        serde_json::to_string_pretty(v).unwrap_or_default()
                    }
                    Some(v) => v.to_string(),
                };
                Ok(WebReply::new(200).with_body("text/plain; charset=UTF-8", body.into_bytes()))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn splits_extensions() {
        assert_eq!(Extension::split("a.json"), ("a", Extension::Json));
        assert_eq!(Extension::split("a.http"), ("a", Extension::Http));
        assert_eq!(Extension::split("a"), ("a", Extension::Http));
        assert_eq!(Extension::split("a.b"), ("a.b", Extension::Http));
    }

    #[test]
    fn http_results_become_responses() {
        let r = http_response(
            json!({"statusCode": 201, "headers": {"X-A": [1, "b"]}, "body": {"ok": true}}),
        )
        .unwrap();
        assert_eq!(r.status, 201);
        assert_eq!(r.body, br#"{"ok":true}"#);
        assert!(r.headers.contains(&("X-A".into(), "1".into())));
        assert!(r.headers.contains(&("X-A".into(), "b".into())));
        let png = http_response(json!({"headers": {"Content-Type": "image/png"}, "body": "AAEC"}))
            .unwrap();
        assert_eq!(png.body, [0, 1, 2]);
        let html = http_response(json!({"body": "<p>hi</p>"})).unwrap();
        assert_eq!(
            (html.status, html.body.as_slice()),
            (200, b"<p>hi</p>".as_slice())
        );
        assert_eq!(http_response(json!({})).unwrap().status, 204);
        for bad in [
            json!("text"),
            json!({"statusCode": "x"}),
            json!({"headers": [1]}),
        ] {
            assert_eq!(
                http_response(bad).unwrap_err().to_string(),
                "Response is not valid 'message/http'."
            );
        }
        let mismatch =
            http_response(json!({"headers": {"content-type": "text/plain"}, "body": {"a": 1}}));
        assert_eq!(
            mismatch.unwrap_err().to_string(),
            messages::HTTP_CONTENT_TYPE_ERROR
        );
    }
}
