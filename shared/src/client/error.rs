//! What can go wrong talking to OpenWhisk, with the context to act on it.

use std::fmt;

use crate::http::{HttpErrorKind, Method};

/// A failed OpenWhisk API call: the method, the path (never a credential), and what happened.
#[derive(Debug, Clone)]
pub struct ClientError {
    pub method: Method,
    /// The request path, e.g. `/api/v1/namespaces/guest/triggers/t`.
    pub path: String,
    pub kind: ClientErrorKind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientErrorKind {
    /// The server answered with an error status; `message` is OpenWhisk's own `error` text.
    Status { status: u16, message: String },
    /// No answer: connection refused, reset, TLS or DNS failure, or a timeout.
    Transport(String),
    /// The activation's deadline left no time for the call.
    Deadline,
    /// The answer was not what the API describes.
    Decode(String),
    /// The client could not be set up (bad API host).
    Config(String),
    /// The API host redirected elsewhere (another origin, or from https to http): the key is
    /// not sent there.
    Redirect(String),
    /// The request could not be sent as it is (e.g. headers far too large).
    Request(String),
}

impl ClientErrorKind {
    /// What [`crate::http::Http::send`] reported, as the client's kind of error.
    pub(crate) fn from_http(kind: HttpErrorKind) -> Self {
        match kind {
            HttpErrorKind::Deadline => Self::Deadline,
            HttpErrorKind::Redirect(reason) => Self::Redirect(reason),
            kind @ (HttpErrorKind::HeadersTooLarge | HttpErrorKind::BadUrl) => {
                Self::Request(kind.to_string())
            }
            HttpErrorKind::Timeout(after) => {
                Self::Transport(format!("timed out after {} ms", after.as_millis()))
            }
            HttpErrorKind::BodyTooLarge(limit) => {
                Self::Decode(format!("an answer larger than {limit} bytes"))
            }
            HttpErrorKind::Transport(reason) => Self::Transport(reason),
            cut @ HttpErrorKind::BodyCut(_) => Self::Transport(cut.to_string()),
        }
    }
}

impl fmt::Display for ClientErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Status { status, message } if message.is_empty() => write!(f, "HTTP {status}"),
            Self::Status { status, message } => write!(f, "HTTP {status}: {message}"),
            Self::Transport(reason) => write!(f, "no answer from OpenWhisk ({reason})"),
            Self::Deadline => f.write_str("the activation's deadline leaves no time for this call"),
            Self::Decode(reason) => write!(f, "unexpected answer ({reason})"),
            Self::Config(reason) => f.write_str(reason),
            Self::Redirect(reason) => write!(
                f,
                "the OpenWhisk API host answered with a redirect the kit does not follow \
                 ({reason}); set the API host to where the API answers"
            ),
            Self::Request(reason) => write!(f, "the request could not be sent ({reason})"),
        }
    }
}

impl std::error::Error for ClientError {}

impl fmt::Display for ClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // A client that could not be set up made no request: there is no method or path to name.
        if self.path.is_empty() {
            write!(f, "{}", self.kind)
        } else {
            write!(f, "{} {}: {}", self.method, self.path, self.kind)
        }
    }
}

impl ClientError {
    pub(crate) fn new(method: Method, path: impl Into<String>, kind: ClientErrorKind) -> Self {
        Self {
            method,
            path: path.into(),
            kind,
        }
    }

    /// The HTTP status, when the server answered.
    pub fn status(&self) -> Option<u16> {
        match self.kind {
            ClientErrorKind::Status { status, .. } => Some(status),
            _ => None,
        }
    }

    pub fn is_not_found(&self) -> bool {
        self.status() == Some(404)
    }

    /// 401 or 403: the key is wrong or may not touch this entity.
    pub fn is_unauthorized(&self) -> bool {
        matches!(self.status(), Some(401 | 403))
    }

    /// Worth retrying later: 408, 429, 5xx, no answer at all.
    pub fn is_transient(&self) -> bool {
        match self.kind {
            ClientErrorKind::Status { status, .. } => {
                status == 408 || status == 429 || status >= 500
            }
            ClientErrorKind::Transport(_) => true,
            _ => false,
        }
    }

    /// OpenWhisk's own message, when it gave one.
    pub fn server_message(&self) -> Option<&str> {
        match &self.kind {
            ClientErrorKind::Status { message, .. } if !message.is_empty() => Some(message),
            _ => None,
        }
    }
}
