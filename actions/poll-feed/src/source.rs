//! One conditional GET of the polled JSON: `If-None-Match` / `If-Modified-Since` from the last
//! complete poll, so an unchanged source costs one 304.

use std::fmt;
use std::time::Duration;

use base64::Engine as _;
use feedkit::Secret;
use feedkit::outbound::{self, CrossOrigin, Outbound, SendError};
use serde_json::Value;

use crate::config::{PollConfig, Secrets};

/// Bound on a response body: a feed page, not a data dump.
const MAX_BODY_BYTES: u64 = 8 * 1024 * 1024;
/// How much of an error body a message quotes.
const QUOTED_CHARS: usize = 200;

/// The source's answer.
#[derive(Debug, Clone, PartialEq)]
pub enum Fetched {
    /// 304: nothing changed since the validators were taken.
    NotModified,
    /// A 2xx answer with a JSON body.
    Document {
        status: u16,
        body: Value,
        etag: Option<String>,
        last_modified: Option<String>,
    },
}

/// Why the source could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceError {
    /// The HTTP status, when the source answered.
    pub status: Option<u16>,
    pub message: String,
    /// The source did not finish answering within the time it was given.
    pub timed_out: bool,
}

impl fmt::Display for SourceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// What to send.
#[derive(Debug, Clone, Copy)]
pub struct SourceRequest<'a> {
    pub config: &'a PollConfig,
    pub secrets: &'a Secrets,
    pub etag: Option<&'a str>,
    pub last_modified: Option<&'a str>,
    pub timeout: Duration,
}

/// GETs the configured URL once. The credentials (`headers`, `username`/`password`,
/// `bearerToken`) go only to the URL's origin: a redirect to another origin is followed without
/// them (a feed served from a CDN), never from https to http (see `feedkit::outbound`).
pub fn fetch(request: SourceRequest<'_>) -> Result<Fetched, SourceError> {
    let agent: ureq::Agent = feedkit::http_agent(
        feedkit::http_agent_config()
            .user_agent(concat!("feedkit-poll-feed/", env!("CARGO_PKG_VERSION")))
            .build(),
    );
    let mut call = Outbound::get(&request.config.url).header("Accept", "application/json");
    for (name, value) in &request.secrets.headers {
        call = call.credential(name.as_str(), value.clone());
    }
    if let (Some(username), Some(password)) = (&request.config.username, &request.secrets.password)
    {
        let pair = format!("{username}:{}", password.expose());
        let encoded = base64::engine::general_purpose::STANDARD.encode(pair);
        call = call.credential("Authorization", Secret::new(format!("Basic {encoded}")));
    }
    if let Some(token) = &request.secrets.bearer_token {
        call = call.credential(
            "Authorization",
            Secret::new(format!("Bearer {}", token.expose())),
        );
    }
    if let Some(etag) = request.etag {
        call = call.header("If-None-Match", etag);
    }
    if let Some(date) = request.last_modified {
        call = call.header("If-Modified-Since", date);
    }
    let timed_out = |status: Option<u16>| SourceError {
        status,
        message: format!(
            "the source did not finish answering within {} s",
            request.timeout.as_secs_f32().round()
        ),
        timed_out: true,
    };
    let mut response =
        match outbound::send(&agent, &call, CrossOrigin::DropCredentials, request.timeout) {
            Ok(response) => response,
            Err(SendError::Timeout(_)) => return Err(timed_out(None)),
            Err(error) => {
                return Err(SourceError {
                    status: None,
                    message: match error {
                        SendError::Transport(_) => error.to_string(),
                        other => format!("no usable answer ({other})"),
                    },
                    timed_out: false,
                });
            }
        };
    let status = response.status().as_u16();
    if status == 304 {
        return Ok(Fetched::NotModified);
    }
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned)
    };
    let etag = header("etag");
    let last_modified = header("last-modified");
    let text = response
        .body_mut()
        .with_config()
        .limit(MAX_BODY_BYTES)
        .read_to_string()
        .map_err(|error| match error {
            ureq::Error::Timeout(_) => timed_out(Some(status)),
            other => SourceError {
                status: Some(status),
                message: format!("HTTP {status}, but the body could not be read ({other})"),
                timed_out: false,
            },
        })?;
    if !(200..300).contains(&status) {
        let redirected = outbound::credentials_dropped(&response)
            .filter(|_| matches!(status, 401 | 403))
            .map(|dropped| {
                format!(
                    " from {}, where a redirect led and where the credentials (`headers`, \
                     `password`, `bearerToken`) are not sent: they go only to the origin of \
                     `url`; give the URL the source answers at",
                    dropped.origin
                )
            })
            .unwrap_or_default();
        return Err(SourceError {
            status: Some(status),
            message: format!("HTTP {status}{redirected}{}", quote(&text)),
            timed_out: false,
        });
    }
    let body = serde_json::from_str(&text).map_err(|error| SourceError {
        status: Some(status),
        message: format!(
            "HTTP {status}, but the body is not JSON ({error}){}",
            quote(&text)
        ),
        timed_out: false,
    })?;
    Ok(Fetched::Document {
        status,
        body,
        etag,
        last_modified,
    })
}

/// `: <start of the body>` on one line, or nothing for an empty body.
fn quote(text: &str) -> String {
    let line: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(QUOTED_CHARS)
        .collect();
    let line = line.trim();
    if line.is_empty() {
        String::new()
    } else {
        format!(": {line}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_one_short_line() {
        assert_eq!(quote(""), "");
        assert_eq!(quote("a\nb"), ": a b");
        assert_eq!(quote(&"x".repeat(500)).len(), 2 + QUOTED_CHARS);
    }
}
