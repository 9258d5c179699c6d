//! One API request as the handlers see it (already authenticated and routed), their reply, and
//! the parsing of bodies into the typed inputs of the operations.

use crate::model::entities::SemVer;
use crate::model::error::Error;
use crate::model::identity::Identity;
use crate::model::names::{EntityName, check_name};
use crate::model::params::{Params, optional_kv_field};
use crate::ops::CommonPut;
use serde_json::{Value, json};

pub(crate) struct ApiRequest {
    pub identity: Identity,
    /// Path parameters by their swagger names, e.g. `("triggerName", "t")`.
    pub params: Vec<(&'static str, String)>,
    pub query: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// Default and largest `limit` of list requests.
const DEFAULT_LIST_LIMIT: usize = 30;
const MAX_LIST_LIMIT: usize = 200;

impl ApiRequest {
    pub fn param(&self, name: &str) -> &str {
        self.params
            .iter()
            .find(|(k, _)| *k == name)
            .map_or("", |(_, v)| v.as_str())
    }

    /// The path's namespace with `_` resolved to the caller's.
    pub fn namespace(&self) -> &str {
        self.identity.resolve(self.param("namespace"))
    }

    /// `ns/name` of the entity named by path parameter `param` (validated).
    pub fn entity(&self, param: &str) -> Result<EntityName, Error> {
        let name = self.param(param);
        check_name(name)?;
        Ok(EntityName::new(self.namespace(), None, name))
    }

    pub fn query(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn query_bool(&self, name: &str) -> Result<bool, Error> {
        match self.query(name) {
            None => Ok(false),
            Some(v) if v.eq_ignore_ascii_case("true") => Ok(true),
            Some(v) if v.eq_ignore_ascii_case("false") => Ok(false),
            Some(v) => Err(Error::bad(format!(
                "The query parameter '{name}' must be true or false, not '{v}'."
            ))),
        }
    }

    pub fn query_u64(&self, name: &str, collection: &str) -> Result<Option<u64>, Error> {
        self.query(name)
            .map(|v| {
                v.parse::<u64>().map_err(|_| {
                    Error::bad(format!(
                        "The value '{v}' is not an integer for {collection}."
                    ))
                })
            })
            .transpose()
    }

    /// `(skip, limit)` of a list request; limit 0 means all.
    pub fn paging(&self, collection: &str) -> Result<(usize, usize), Error> {
        let skip = self.query_u64("skip", collection)?.unwrap_or(0) as usize;
        let limit = match self.query_u64("limit", collection)? {
            None => DEFAULT_LIST_LIMIT,
            Some(0) => usize::MAX,
            Some(n) if n as usize <= MAX_LIST_LIMIT => n as usize,
            Some(n) => {
                return Err(Error::bad(format!(
                    "The value '{n}' is not in the range of 0 to {MAX_LIST_LIMIT} for {collection}."
                )));
            }
        };
        Ok((skip, limit))
    }

    /// 413 when the body is larger than `max` bytes.
    pub fn check_payload_size(&self, max: usize) -> Result<(), Error> {
        if self.body.len() > max {
            return Err(Error::TooLarge(format!(
                "Request larger than allowed: {} > {max} bytes.",
                self.body.len()
            )));
        }
        Ok(())
    }

    /// The body as JSON; `None` when empty.
    pub fn json_body(&self) -> Result<Option<Value>, Error> {
        if self.body.iter().all(u8::is_ascii_whitespace) {
            return Ok(None);
        }
        serde_json::from_slice(&self.body)
            .map(Some)
            .map_err(|e| Error::bad(format!("The request content was malformed:\n{e}")))
    }

    /// The body as a JSON object (an empty body is `{}`).
    pub fn object_body(&self) -> Result<Params, Error> {
        match self.json_body()? {
            None => Ok(Params::new()),
            Some(Value::Object(map)) => Ok(map),
            Some(_) => Err(Error::bad(
                "The request content was malformed:\nexpected a JSON object",
            )),
        }
    }
}

/// What a reply carries.
#[derive(Debug)]
pub(crate) enum ReplyBody {
    Json(Value),
    /// `text/plain`, as the controller answers a rule's status change.
    Text(&'static str),
    Empty,
}

/// What a handler answers.
#[derive(Debug)]
pub(crate) struct Reply {
    pub status: u16,
    pub body: ReplyBody,
    /// Sent as `x-openwhisk-activation-id`.
    pub activation_id: Option<String>,
}

impl Reply {
    pub fn ok(body: Value) -> Self {
        Reply::with_status(200, body)
    }

    pub fn with_status(status: u16, body: Value) -> Self {
        Reply {
            status,
            body: ReplyBody::Json(body),
            activation_id: None,
        }
    }

    pub fn empty(status: u16) -> Self {
        Reply {
            status,
            body: ReplyBody::Empty,
            activation_id: None,
        }
    }

    /// 202 `{"activationId": id}`.
    pub fn accepted(activation_id: String) -> Self {
        Reply {
            status: 202,
            body: ReplyBody::Json(json!({ "activationId": activation_id })),
            activation_id: Some(activation_id),
        }
    }
}

/// The common fields of a PUT body.
pub(crate) fn common_put(body: &Params) -> Result<CommonPut, Error> {
    let version = match body.get("version") {
        None | Some(Value::Null) => None,
        Some(v) => Some(v.as_str().and_then(SemVer::parse).ok_or_else(|| {
            Error::bad("'version' must be a semantic version string such as \"0.0.1\"")
        })?),
    };
    let publish = match body.get("publish") {
        None | Some(Value::Null) => None,
        Some(Value::Bool(b)) => Some(*b),
        Some(_) => return Err(Error::bad("'publish' must be true or false")),
    };
    Ok(CommonPut {
        version,
        publish,
        annotations: optional_kv_field(body, "annotations")?,
    })
}
