//! Activation records: what one run of an action or one fire of a trigger left behind, and
//! their JSON as the API shows them.

use serde_json::{Map, Value, json};

/// What was activated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActivationKind {
    /// An action ran.
    Action,
    /// A trigger fired with at least one active rule.
    Trigger,
}

/// One activation record (the swagger `Activation`, plus `path` and `kind` for convenience).
#[derive(Debug, Clone, PartialEq)]
pub struct Activation {
    /// 32 hex digits.
    pub activation_id: String,
    /// The namespace that invoked (or fired), where the record is listed.
    pub namespace: String,
    /// The action's or trigger's simple name.
    pub name: String,
    /// The fully qualified entity: `ns/pkg/action` or `ns/trigger`.
    pub path: String,
    /// Action or trigger.
    pub kind: ActivationKind,
    /// The subject that activated (the namespace).
    pub subject: String,
    /// The entity's version.
    pub version: String,
    /// Always false.
    pub publish: bool,
    /// `KeyValue` list: `path`, `kind`, `limits`, `waitTime`, `initTime`, `timeout`, `binding`.
    pub annotations: Value,
    /// The activation that caused this one: the trigger activation of a rule-fired action.
    pub cause: Option<String>,
    /// Epoch milliseconds.
    pub start: u64,
    /// Epoch milliseconds; 0 for trigger activations, as in OpenWhisk.
    pub end: u64,
    /// `end - start` for actions.
    pub duration: Option<u64>,
    /// The result: the action's object (or `{"error": ...}`), a trigger's fire payload.
    pub result: Value,
    /// `status == "success"`.
    pub success: bool,
    /// `success`, `application error`, `action developer error` or `whisk internal error`.
    pub status: String,
    /// 0, 1, 2 or 3 for the four statuses.
    pub status_code: u8,
    /// Length of the result's JSON text.
    pub size: Option<usize>,
    /// Log lines: `<timestamp> stdout: text`; for a trigger, one JSON line per rule.
    pub logs: Vec<String>,
}

/// The response part of an activation: status code and result.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Response {
    pub status_code: u8,
    pub result: Value,
}

pub(crate) const STATUS_NAMES: [&str; 4] = [
    "success",
    "application error",
    "action developer error",
    "whisk internal error",
];

impl Response {
    pub fn success(result: Value) -> Self {
        Response {
            status_code: 0,
            result,
        }
    }

    pub fn developer_error(message: impl Into<String>) -> Self {
        Response {
            status_code: 2,
            result: json!({ "error": message.into() }),
        }
    }

    pub fn whisk_error(message: impl Into<String>) -> Self {
        Response {
            status_code: 3,
            result: json!({ "error": message.into() }),
        }
    }

    /// Reads an action's result as the invoker does: an object with `error` is an application
    /// error whose result keeps only that `error`; another object or an array is a success.
    pub fn from_result(result: Value) -> Option<Self> {
        match result {
            Value::Object(mut fields) => Some(match fields.remove("error") {
                Some(error) => Response {
                    status_code: 1,
                    result: json!({ "error": error }),
                },
                None => Response::success(Value::Object(fields)),
            }),
            array @ Value::Array(_) => Some(Response::success(array)),
            _ => None,
        }
    }
}

impl Activation {
    pub(crate) fn set_response(&mut self, response: Response) {
        self.size = Some(response.result.to_string().len());
        self.status_code = response.status_code;
        self.status = STATUS_NAMES[usize::from(response.status_code.min(3))].to_string();
        self.success = response.status_code == 0;
        self.result = response.result;
    }

    /// `{"result", "size", "status", "success"}`: the `response` field and the `/result` body.
    pub fn response_json(&self) -> Value {
        let mut m = Map::new();
        m.insert("result".into(), self.result.clone());
        if let Some(size) = self.size {
            m.insert("size".into(), json!(size));
        }
        m.insert("status".into(), json!(self.status));
        m.insert("success".into(), json!(self.success));
        Value::Object(m)
    }

    fn common_fields(&self) -> Map<String, Value> {
        let mut m = Map::new();
        m.insert("namespace".into(), json!(self.namespace));
        m.insert("name".into(), json!(self.name));
        m.insert("version".into(), json!(self.version));
        m.insert("publish".into(), json!(self.publish));
        m.insert("annotations".into(), self.annotations.clone());
        m.insert("activationId".into(), json!(self.activation_id));
        m.insert("start".into(), json!(self.start));
        if let Some(cause) = &self.cause {
            m.insert("cause".into(), json!(cause));
        }
        m
    }

    /// The full record, as `GET /activations/{id}` and a blocking invoke show it.
    pub fn to_json(&self) -> Value {
        let mut m = self.common_fields();
        m.insert("subject".into(), json!(self.subject));
        m.insert("response".into(), self.response_json());
        m.insert("logs".into(), json!(self.logs));
        if self.end != 0 {
            m.insert("end".into(), json!(self.end));
            m.insert("duration".into(), json!(self.duration.unwrap_or(0)));
        }
        Value::Object(m)
    }

    /// The list view (`ActivationBrief`): no response, no logs.
    pub fn summary_json(&self) -> Value {
        let mut m = self.common_fields();
        if self.end != 0 {
            m.insert("end".into(), json!(self.end));
            m.insert("duration".into(), json!(self.duration.unwrap_or(0)));
            m.insert("statusCode".into(), json!(self.status_code));
        }
        Value::Object(m)
    }

    /// The entity path relative to the namespace (`pkg/action` or `action`), what `?name=`
    /// filters on.
    pub(crate) fn relative_path(&self) -> &str {
        self.path.split_once('/').map_or("", |(_, rest)| rest)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_results_like_the_invoker() {
        let r = Response::from_result(json!({"error": "boom", "other": 1})).unwrap();
        assert_eq!((r.status_code, r.result), (1, json!({"error": "boom"})));
        let r = Response::from_result(json!({"ok": true})).unwrap();
        assert_eq!(r.status_code, 0);
        assert_eq!(Response::from_result(json!([1])).unwrap().status_code, 0);
        assert!(Response::from_result(json!("text")).is_none());
        assert!(Response::from_result(json!(3)).is_none());
    }
}
