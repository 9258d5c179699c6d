//! The request as the web action's parameters: `__ow_method`, `__ow_headers` (lower-cased
//! names), `__ow_path`, `__ow_user` (with a valid key), then the query and the body, merged
//! (JSON object, form) or, for raw actions and opaque bodies, as `__ow_query` and `__ow_body`.

use crate::model::error::{Error, messages};
use crate::model::identity::Identity;
use crate::model::params::Params;
use crate::ops::fire::MAX_PAYLOAD_BYTES;
use crate::url::parse_query;
use base64::Engine;
use serde_json::{Map, Value, json};

/// The reserved parameter names a request may not set.
const RESERVED: [&str; 6] = [
    "__ow_method",
    "__ow_headers",
    "__ow_path",
    "__ow_user",
    "__ow_query",
    "__ow_body",
];

/// One HTTP request for a web action, as read off the socket.
pub(crate) struct WebRequest<'a> {
    pub method: &'a str,
    /// The path after [`WEB_PREFIX`].
    pub path: &'a str,
    pub query: &'a str,
    /// Header names as sent (matched case-insensitively).
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl WebRequest<'_> {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .rev()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// `type/subtype` of a `Content-Type`, lower-cased, without parameters.
pub(crate) fn media_type(content_type: &str) -> String {
    content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase()
}

/// `application/json` or any `+json` type.
pub(crate) fn is_json_family(media: &str) -> bool {
    media == "application/json" || media.ends_with("+json")
}

/// Whether the controller's HTTP library treats the type as text (everything else, including
/// unknown types, is binary and travels base64-encoded).
pub(crate) fn is_text(media: &str) -> bool {
    media.starts_with("text/")
        || matches!(
            media,
            "application/x-www-form-urlencoded"
                | "application/javascript"
                | "application/ecmascript"
                | "application/xml"
                | "application/xhtml+xml"
                | "application/atom+xml"
                | "application/rss+xml"
                | "application/soap+xml"
                | "application/json"
        )
}

/// The body as the controller hands it on: `None` when empty, parsed JSON or form fields for a
/// non-raw action, else a string (base64 for binary types and, for legacy, JSON).
fn body_value(req: &WebRequest<'_>, raw: bool) -> Result<Option<Value>, Error> {
    if req.body.is_empty() {
        return Ok(None);
    }
    // A body without a Content-Type is `application/octet-stream`.
    let media = media_type(
        req.header("Content-Type")
            .unwrap_or("application/octet-stream"),
    );
    if !raw && is_json_family(&media) {
        return serde_json::from_slice(&req.body)
            .map(Some)
            .map_err(|e| Error::bad(format!("The request content was malformed:\n{e}")));
    }
    if !raw && media == "application/x-www-form-urlencoded" {
        let text = String::from_utf8_lossy(&req.body);
        let fields: Map<String, Value> = parse_query(&text)
            .into_iter()
            .map(|(k, v)| (k, Value::String(v)))
            .collect();
        return Ok(Some(Value::Object(fields)));
    }
    if media == "application/json" || !is_text(&media) {
        return Ok(Some(json!(
            base64::engine::general_purpose::STANDARD.encode(&req.body)
        )));
    }
    Ok(Some(json!(String::from_utf8_lossy(&req.body))))
}

/// The action's arguments; 400 when the query or body sets a reserved or `final` parameter.
pub(crate) fn action_arguments(
    req: &WebRequest<'_>,
    path: &str,
    user: Option<&Identity>,
    raw: bool,
    immutable: &[String],
) -> Result<Params, Error> {
    if req.body.len() > MAX_PAYLOAD_BYTES {
        return Err(Error::TooLarge(format!(
            "Request larger than allowed: {} > {MAX_PAYLOAD_BYTES} bytes.",
            req.body.len()
        )));
    }
    let body = body_value(req, raw)?;
    let query = parse_query(req.query);
    if !raw {
        let body_keys = body
            .as_ref()
            .and_then(Value::as_object)
            .map(|fields| fields.keys().cloned().collect::<Vec<_>>())
            .unwrap_or_default();
        let forbidden =
            |key: &String| RESERVED.contains(&key.as_str()) || immutable.iter().any(|k| k == key);
        if query
            .iter()
            .map(|(k, _)| k)
            .chain(&body_keys)
            .any(forbidden)
        {
            return Err(Error::bad(messages::PARAMETERS_NOT_ALLOWED));
        }
    }
    let headers: Map<String, Value> = req
        .headers
        .iter()
        .map(|(k, v)| (k.to_ascii_lowercase(), json!(v)))
        .collect();
    let mut args = Params::new();
    args.insert("__ow_method".into(), json!(req.method.to_ascii_lowercase()));
    args.insert("__ow_headers".into(), Value::Object(headers));
    args.insert("__ow_path".into(), json!(path));
    if let Some(user) = user {
        args.insert("__ow_user".into(), json!(user.namespace));
    }
    if raw {
        args.insert("__ow_query".into(), json!(req.query));
    } else {
        args.extend(query.into_iter().map(|(k, v)| (k, Value::String(v))));
    }
    match body {
        Some(Value::Object(fields)) if !raw => args.extend(fields),
        Some(other) => {
            args.insert("__ow_body".into(), other);
        }
        None if raw => {
            args.insert("__ow_body".into(), json!(""));
        }
        None => {}
    }
    Ok(args)
}
