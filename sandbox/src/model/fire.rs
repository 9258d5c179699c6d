//! The record of one fire request.

use serde_json::Value;
use std::time::SystemTime;

/// One fire request that reached a trigger's route (authenticated for that namespace).
#[derive(Debug, Clone, PartialEq)]
pub struct Fire {
    /// The request body as sent (`{}` for an empty body; a string for a body that is not JSON;
    /// `null` for a body refused as too large).
    pub payload: Value,
    /// The status the sandbox answered: 202, 204, 400, 404, 413, 429 or an injected fault.
    pub status: u16,
    /// The trigger activation, for a 202.
    pub activation_id: Option<String>,
    /// When the request arrived.
    pub at: SystemTime,
}
