//! The one error type: each variant is an HTTP status of the controller, and its message is the
//! controller's `error` text, so the HTTP layer and the library API report the same thing.

use serde_json::{Value, json};

/// Messages the real controller uses (`org.apache.openwhisk.http.Messages`), kept verbatim
/// because clients match on some of them.
pub(crate) mod messages {
    pub const NOT_FOUND: &str = "The requested resource does not exist.";
    pub const UNAUTHORIZED: &str = "The supplied authentication is invalid";
    pub const MISSING_AUTH: &str =
        "The resource requires authentication, which was not supplied with the request";
    pub const FORBIDDEN: &str =
        "The supplied authentication is not authorized to access this resource.";
    pub const CONFLICT_EXISTS: &str = "resource already exists";
    pub const CONFORMANCE: &str = "Resource by this name exists but is not in this collection.";
    pub const ILLEGAL_NAME: &str = "The name of the entity contains illegal characters.";
    pub const ILLEGAL_NAMESPACE: &str = "The namespace contains illegal characters.";
    pub const MALFORMED_FQN: &str = "The fully qualified name of the entity must contain at least the namespace and the name of the entity.";
    pub const BINDING_MISSING: &str = "Binding references a package that does not exist.";
    pub const BINDING_OF_BINDING: &str = "Cannot bind to another package binding.";
    pub const PACKAGE_NOT_BINDING: &str =
        "Resource is a package and cannot be converted into a binding.";
    pub const NOT_ALLOWED_ON_BINDING: &str = "Operation not permitted on package binding.";
    pub const ACTIVATION_ID_ILLEGAL: &str = "The activation id is not valid.";
    pub const INTERNAL: &str = "There was an internal server error.";
    pub const TIMEOUT_408: &str = "The server timed out waiting for the request.";
    pub const BAD_GATEWAY: &str = "The server was acting as a gateway or proxy and received an invalid response from the upstream server.";
    pub const UNAVAILABLE: &str =
        "The server is currently unavailable (because it is overloaded or down for maintenance).";
    pub const GATEWAY_TIMEOUT: &str = "The server was acting as a gateway or proxy and did not receive a timely response from the upstream server.";
    pub const TIMED_OUT_ACTIVATION: &str = "The action exceeded its time limits of";
    pub const NO_BINARY: &str =
        "The action failed to generate or locate a binary. See logs for details.";
    pub const NOT_A_DICTIONARY: &str = "The action did not return a dictionary or array.";
    pub const RESPONSE_NOT_READY: &str = "Response not yet ready.";
    pub const ERROR_PROCESSING_REQUEST: &str = "There was an error processing your request.";
    pub const PROPERTY_NOT_FOUND: &str = "Response does not include requested property.";
    pub const PARAMETERS_NOT_ALLOWED: &str =
        "Request defines parameters that are not allowed (e.g., reserved properties).";
    pub const HTTP_UNKNOWN_CONTENT_TYPE: &str = "Response did not specify a known content-type.";
    pub const HTTP_CONTENT_TYPE_ERROR: &str =
        "Response type in header did not match generated content type.";

    pub fn invalid_media(media_type: &str) -> String {
        format!("Response is not valid '{media_type}'.")
    }

    pub fn too_many_requests(count: usize, allowed: u32) -> String {
        format!("Too many requests in the last minute (count: {count}, allowed: {allowed}).")
    }
}

/// What went wrong, as the controller would answer it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// 400: the request is malformed or refers to something invalid.
    #[error("{0}")]
    BadRequest(String),
    /// 401: no key, or a key the sandbox does not know.
    #[error("{0}")]
    Unauthorized(String),
    /// 403: the key may not touch that namespace or entity.
    #[error("{0}")]
    Forbidden(String),
    /// 404: no such entity (or route).
    #[error("{0}")]
    NotFound(String),
    /// 405: the route exists, the method does not.
    #[error("{0}")]
    MethodNotAllowed(String),
    /// 409: the entity exists (or is of another kind, or is not empty).
    #[error("{0}")]
    Conflict(String),
    /// 413: the request body is larger than the controller accepts.
    #[error("{0}")]
    TooLarge(String),
    /// 429: over the namespace's rate limit.
    #[error("{0}")]
    TooManyRequests(String),
    /// Any other status, e.g. an injected fault (408, 500, 503).
    #[error("{message}")]
    Status {
        /// The HTTP status code.
        status: u16,
        /// The `error` text of the body.
        message: String,
    },
    /// The sandbox is shutting down.
    #[error("the sandbox is shutting down")]
    ShutDown,
}

impl Error {
    /// The HTTP status this error is answered with.
    pub fn status(&self) -> u16 {
        match self {
            Error::BadRequest(_) => 400,
            Error::Unauthorized(_) => 401,
            Error::Forbidden(_) => 403,
            Error::NotFound(_) => 404,
            Error::MethodNotAllowed(_) => 405,
            Error::Conflict(_) => 409,
            Error::TooLarge(_) => 413,
            Error::TooManyRequests(_) => 429,
            Error::Status { status, .. } => *status,
            Error::ShutDown => 503,
        }
    }

    pub(crate) fn not_found() -> Error {
        Error::NotFound(messages::NOT_FOUND.into())
    }

    pub(crate) fn forbidden() -> Error {
        Error::Forbidden(messages::FORBIDDEN.into())
    }

    pub(crate) fn bad(message: impl Into<String>) -> Error {
        Error::BadRequest(message.into())
    }

    /// The error the controller answers for `status` when it has nothing more specific to say.
    pub(crate) fn for_status(status: u16, allowed_fires: u32) -> Error {
        let message = match status {
            400 => "The request content was malformed".to_string(),
            401 => messages::UNAUTHORIZED.into(),
            403 => messages::FORBIDDEN.into(),
            404 => messages::NOT_FOUND.into(),
            408 => messages::TIMEOUT_408.into(),
            429 => messages::too_many_requests(allowed_fires as usize + 1, allowed_fires),
            502 => messages::BAD_GATEWAY.into(),
            503 => messages::UNAVAILABLE.into(),
            504 => messages::GATEWAY_TIMEOUT.into(),
            _ => messages::INTERNAL.into(),
        };
        Error::Status { status, message }
    }

    /// The controller's error body: `{"error": "...", "code": "<transaction id>"}`.
    pub(crate) fn body(&self, transaction_id: &str) -> Value {
        json!({ "error": self.to_string(), "code": transaction_id })
    }
}
