//! A blocking OpenWhisk REST client (`/api/v1`), as much of it as feeds need.

mod error;
mod names;

use std::time::SystemTime;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

pub use error::{ClientError, ClientErrorKind};

pub use names::{
    ApiHost, DEFAULT_NAMESPACE, QualifiedName, percent_encode, redact_userinfo, without_userinfo,
};

use crate::http::{Http, Method, Request};
use crate::secret::{AuthKey, Secret};

/// The largest answer read from the API host: an entity is at most about 1 MB.
const MAX_ANSWER_BYTES: u64 = 8 * 1024 * 1024;
/// The most entities OpenWhisk lists in one page.
const LIST_PAGE: usize = 200;
/// Bound on the pages a listing reads (10,000 entities), in case a server ignores `skip`.
const LIST_MAX_PAGES: usize = 50;

/// How a [`Client`] behaves beyond host and key.
#[derive(Debug, Clone, Default)]
pub struct ClientOptions {
    /// No call may run past this instant (minus a margin to write the result).
    pub deadline: Option<SystemTime>,
    /// Accept any TLS certificate: for development hosts with self-signed certificates only.
    pub insecure: bool,
}

/// One `{"key": ..., "value": ...}` entry of an entity's `parameters` or `annotations`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KeyValue {
    pub key: String,
    pub value: Value,
}

/// The value of `key` in a `parameters` or `annotations` list.
pub fn key_value_get<'a>(list: &'a [KeyValue], key: &str) -> Option<&'a Value> {
    list.iter()
        .find(|entry| entry.key == key)
        .map(|entry| &entry.value)
}

/// The value of annotation `key` of an entity as OpenWhisk returns it (`{"annotations": [{"key",
/// "value"}, ...], ...}`).
pub fn entity_annotation<'a>(entity: &'a Value, key: &str) -> Option<&'a Value> {
    entity
        .get("annotations")?
        .as_array()?
        .iter()
        .find(|entry| entry.get("key").and_then(Value::as_str) == Some(key))
        .and_then(|entry| entry.get("value"))
}

/// A JSON object as a `parameters` list.
pub fn key_values_from_map(map: &Map<String, Value>) -> Vec<KeyValue> {
    map.iter()
        .map(|(key, value)| KeyValue {
            key: key.clone(),
            value: value.clone(),
        })
        .collect()
}

/// The outcome of a trigger fire that OpenWhisk accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FireOutcome {
    /// 202: at least one active rule; the trigger activation's id.
    Fired { activation_id: String },
    /// 204: accepted, but no active rule is attached, so nothing ran.
    NoActiveRule,
}

/// A blocking OpenWhisk REST client acting with one key, bounded by one deadline. Its calls go
/// through an [`Http`], shared with the rest of the activation when made by
/// [`Client::with_http`] (one connection to the API host for everything).
#[derive(Debug, Clone)]
pub struct Client {
    host: ApiHost,
    auth: AuthKey,
    http: Http,
    insecure: bool,
}

impl Client {
    /// A client with an [`Http`] of its own.
    pub fn new(api_host: &str, auth: AuthKey, options: ClientOptions) -> Result<Self, ClientError> {
        Self::with_http(
            &Http::new(options.deadline),
            api_host,
            auth,
            options.insecure,
        )
    }

    /// A client sending through `http` (its deadline included); `insecure` accepts the API
    /// host's certificate unchecked.
    pub fn with_http(
        http: &Http,
        api_host: &str,
        auth: AuthKey,
        insecure: bool,
    ) -> Result<Self, ClientError> {
        let host = ApiHost::parse(api_host)
            .map_err(|reason| ClientError::new(Method::Get, "", ClientErrorKind::Config(reason)))?;
        Ok(Self {
            host,
            auth,
            http: http.clone(),
            insecure,
        })
    }

    /// The same client acting with another key, over the same connections.
    #[must_use]
    pub fn with_key(&self, auth: AuthKey) -> Self {
        Self {
            auth,
            ..self.clone()
        }
    }

    pub fn http(&self) -> &Http {
        &self.http
    }

    pub fn deadline(&self) -> Option<SystemTime> {
        self.http.deadline()
    }

    pub fn host(&self) -> &ApiHost {
        &self.host
    }

    pub fn auth_key(&self) -> &AuthKey {
        &self.auth
    }

    /// The namespaces the key may act in (`GET /namespaces`); the first is its default.
    pub fn namespaces(&self) -> Result<Vec<String>, ClientError> {
        let path = "/namespaces".to_owned();
        let value = self.request(Method::Get, &path, None)?;
        serde_json::from_value(value.clone()).map_err(|_| {
            ClientError::new(
                Method::Get,
                self.full_path(&path),
                ClientErrorKind::Decode(format!("expected a list of namespaces, got {value}")),
            )
        })
    }

    /// Replaces `_` in `name` with the key's default namespace.
    pub fn resolve(&self, name: &QualifiedName) -> Result<QualifiedName, ClientError> {
        if !name.is_default_namespace() {
            return Ok(name.clone());
        }
        let namespaces = self.namespaces()?;
        match namespaces.first() {
            Some(namespace) => Ok(name.resolve(namespace)),
            None => Err(ClientError::new(
                Method::Get,
                self.full_path("/namespaces"),
                ClientErrorKind::Decode("the key has no namespace".into()),
            )),
        }
    }

    // --- triggers ---

    pub fn get_trigger(&self, name: &QualifiedName) -> Result<Value, ClientError> {
        self.request(Method::Get, &entity_path(name, "triggers"), None)
    }

    /// `PUT` a trigger: `body` is the swagger's `TriggerPut` (`parameters`, `annotations`, ...).
    pub fn put_trigger(
        &self,
        name: &QualifiedName,
        body: &Value,
        overwrite: bool,
    ) -> Result<Value, ClientError> {
        let path = format!("{}?overwrite={overwrite}", entity_path(name, "triggers"));
        self.request(Method::Put, &path, Some(body))
    }

    /// Sets annotation `key` of a trigger to `value` (`None` removes it), keeping its other
    /// annotations and its parameters: a `PUT` with `overwrite=true` of the trigger as `current`
    /// (what [`Client::get_trigger`] returned) describes it. This is where a feed keeps what its
    /// later lifecycle events need, since the CLI sends them only `triggerName` and `authKey`.
    pub fn set_trigger_annotation(
        &self,
        name: &QualifiedName,
        current: &Value,
        key: &str,
        value: Option<Value>,
    ) -> Result<Value, ClientError> {
        let list = |field: &str| -> Vec<Value> {
            current
                .get(field)
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default()
        };
        let mut annotations: Vec<Value> = list("annotations")
            .into_iter()
            .filter(|entry| entry.get("key").and_then(Value::as_str) != Some(key))
            .collect();
        if let Some(value) = value {
            annotations.push(json!({ "key": key, "value": value }));
        }
        // Parameters are sent as they are: OpenWhisk keeps omitted fields on overwrite, but an
        // explicit copy keeps them with any server that replaces the whole entity.
        let body = json!({ "annotations": annotations, "parameters": list("parameters") });
        self.put_trigger(name, &body, true)
    }

    pub fn delete_trigger(&self, name: &QualifiedName) -> Result<Value, ClientError> {
        self.request(Method::Delete, &entity_path(name, "triggers"), None)
    }

    /// Fires a trigger with `payload` as the event.
    pub fn fire_trigger(
        &self,
        name: &QualifiedName,
        payload: &Value,
    ) -> Result<FireOutcome, ClientError> {
        let path = entity_path(name, "triggers");
        let (status, body) = self.exchange(Method::Post, &path, Some(payload))?;
        match status {
            204 => Ok(FireOutcome::NoActiveRule),
            200..=299 => match body.get("activationId").and_then(Value::as_str) {
                Some(id) => Ok(FireOutcome::Fired {
                    activation_id: id.to_owned(),
                }),
                None => {
                    Err(self.decode_error(Method::Post, &path, "no activationId in the answer"))
                }
            },
            _ => Err(self.status_error(Method::Post, &path, status, &body)),
        }
    }

    // --- rules ---

    pub fn get_rule(&self, name: &QualifiedName) -> Result<Value, ClientError> {
        self.request(Method::Get, &entity_path(name, "rules"), None)
    }

    /// Creates (or with `overwrite`, replaces) a rule `trigger -> action`; a new rule is active.
    pub fn put_rule(
        &self,
        name: &QualifiedName,
        trigger: &QualifiedName,
        action: &QualifiedName,
        overwrite: bool,
    ) -> Result<Value, ClientError> {
        let path = format!("{}?overwrite={overwrite}", entity_path(name, "rules"));
        let body = json!({
            "name": name.name(),
            "trigger": trigger.to_string(),
            "action": action.to_string(),
        });
        self.request(Method::Put, &path, Some(&body))
    }

    pub fn set_rule_active(
        &self,
        name: &QualifiedName,
        active: bool,
    ) -> Result<Value, ClientError> {
        let status = if active { "active" } else { "inactive" };
        let path = entity_path(name, "rules");
        // OpenWhisk answers this one with the text `OK`, not JSON.
        let (code, answer) =
            self.exchange(Method::Post, &path, Some(&json!({ "status": status })))?;
        if (200..300).contains(&code) {
            Ok(answer)
        } else {
            Err(self.status_error(Method::Post, &path, code, &answer))
        }
    }

    pub fn delete_rule(&self, name: &QualifiedName) -> Result<Value, ClientError> {
        self.request(Method::Delete, &entity_path(name, "rules"), None)
    }

    // --- actions ---

    /// Invokes an action and waits for its result (`blocking=true&result=true`). An application
    /// error (502) comes back as a [`ClientErrorKind::Status`] with the action's own `error`; a
    /// wait that ran out (202) as a 202 status error.
    pub fn invoke_action(
        &self,
        name: &QualifiedName,
        params: &Value,
    ) -> Result<Value, ClientError> {
        let path = format!("{}?blocking=true&result=true", entity_path(name, "actions"));
        let (status, body) = self.exchange(Method::Post, &path, Some(params))?;
        match status {
            200 => Ok(body),
            202 => Err(ClientError::new(
                Method::Post,
                self.full_path(&path),
                ClientErrorKind::Status {
                    status,
                    message: "the action is still running after the blocking wait".into(),
                },
            )),
            _ => Err(self.status_error(Method::Post, &path, status, &body)),
        }
    }

    pub fn get_action(&self, name: &QualifiedName) -> Result<Value, ClientError> {
        self.request(Method::Get, &entity_path(name, "actions"), None)
    }

    // --- packages ---

    pub fn get_package(&self, name: &QualifiedName) -> Result<Value, ClientError> {
        self.request(Method::Get, &package_path(name), None)
    }

    /// Creates (or replaces) `name` as a binding of `target` with `parameters` bound to it.
    pub fn put_package_binding(
        &self,
        name: &QualifiedName,
        target: &QualifiedName,
        parameters: &Map<String, Value>,
        overwrite: bool,
    ) -> Result<Value, ClientError> {
        let path = format!("{}?overwrite={overwrite}", package_path(name));
        let body = json!({
            "binding": { "namespace": target.namespace(), "name": target.name() },
            "parameters": key_values_from_map(parameters),
        });
        self.request(Method::Put, &path, Some(&body))
    }

    pub fn delete_package(&self, name: &QualifiedName) -> Result<Value, ClientError> {
        self.request(Method::Delete, &package_path(name), None)
    }

    /// `PUT` a package as the swagger's `PackagePut` (`binding`, `parameters`, `annotations`,
    /// `publish`): for what [`Client::put_package_binding`] does not cover, such as a binding
    /// annotated with who made it.
    pub fn put_package(
        &self,
        name: &QualifiedName,
        body: &Value,
        overwrite: bool,
    ) -> Result<Value, ClientError> {
        let path = format!("{}?overwrite={overwrite}", package_path(name));
        self.request(Method::Put, &path, Some(body))
    }

    // --- listing ---

    /// Every rule in `namespace` (`GET /namespaces/{ns}/rules`, page by page), each as the API
    /// lists it: `trigger` and `action` are `{"path", "name"}` (see [`QualifiedName::from_path_name`]).
    pub fn list_rules(&self, namespace: &str) -> Result<Vec<Value>, ClientError> {
        let base = format!("/namespaces/{}/rules", percent_encode(namespace));
        let mut rules = Vec::new();
        for _ in 0..LIST_MAX_PAGES {
            let path = format!("{base}?limit={LIST_PAGE}&skip={}", rules.len());
            let page = match self.request(Method::Get, &path, None)? {
                Value::Array(page) => page,
                other => {
                    return Err(self.decode_error(
                        Method::Get,
                        &path,
                        &format!(
                            "expected a list of rules, got {}",
                            crate::params::kind(&other)
                        ),
                    ));
                }
            };
            let full = page.len() >= LIST_PAGE;
            rules.extend(page);
            if !full {
                break;
            }
        }
        Ok(rules)
    }

    // --- plumbing ---

    fn full_path(&self, path: &str) -> String {
        let path = path.split('?').next().unwrap_or(path);
        format!("/api/v1{path}")
    }

    /// Sends one request and expects a 2xx JSON answer (or none).
    fn request(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Value, ClientError> {
        let answer = self.answer(method, path, body)?;
        if !(200..300).contains(&answer.status) {
            return Err(self.status_error(method, path, answer.status, &answer.body));
        }
        if !answer.json {
            return Err(self.decode_error(method, path, &answer.not_json()));
        }
        Ok(answer.body)
    }

    /// Sends one request within the deadline; any status comes back with the JSON body (`null`
    /// when the body is empty, a string when it is not JSON).
    fn exchange(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<(u16, Value), ClientError> {
        self.answer(method, path, body)
            .map(|answer| (answer.status, answer.body))
    }

    /// One request within the deadline. A credential never leaves the API host's origin: a
    /// redirect elsewhere is an error (see [`crate::outbound`]).
    fn answer(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Answer, ClientError> {
        let mut request = Request::new(method, self.host.api_url(path))
            .header("Accept", "application/json")
            .credential(
                "Authorization",
                Secret::new(self.auth.basic_authorization()),
            )
            .limit(MAX_ANSWER_BYTES)
            .insecure(self.insecure);
        if !matches!(method, Method::Get | Method::Delete) || body.is_some() {
            request = request.json(body.unwrap_or(&json!({})));
        }
        let response = self.http.send(&request).map_err(|error| {
            ClientError::new(
                method,
                self.full_path(path),
                ClientErrorKind::from_http(error.kind),
            )
        })?;
        let text = response.text();
        let (body, json) = if text.trim().is_empty() {
            (Value::Null, true)
        } else {
            match serde_json::from_str(&text) {
                Ok(value) => (value, true),
                Err(_) => (Value::String(text.clone().into_owned()), false),
            }
        };
        Ok(Answer {
            status: response.status(),
            body,
            json,
            content_type: response.content_type().to_owned(),
            len: response.body().len(),
        })
    }

    fn status_error(&self, method: Method, path: &str, status: u16, body: &Value) -> ClientError {
        let message = match body {
            Value::Object(map) => map
                .get("error")
                .map(|error| match error {
                    Value::String(text) => text.clone(),
                    other => other.to_string(),
                })
                .unwrap_or_default(),
            Value::String(text) => text.chars().take(300).collect(),
            _ => String::new(),
        };
        ClientError::new(
            method,
            self.full_path(path),
            ClientErrorKind::Status { status, message },
        )
    }

    fn decode_error(&self, method: Method, path: &str, reason: &str) -> ClientError {
        ClientError::new(
            method,
            self.full_path(path),
            ClientErrorKind::Decode(reason.into()),
        )
    }
}

/// What the API host answered.
struct Answer {
    status: u16,
    /// JSON (`null` when empty), or the text as a string when it is not JSON.
    body: Value,
    json: bool,
    content_type: String,
    len: usize,
}

impl Answer {
    /// Why a body that is not JSON cannot be the API's answer, without quoting it.
    fn not_json(&self) -> String {
        format!(
            "HTTP {} with a body that is not JSON ({}, {} bytes): something other than the \
             OpenWhisk API answered (a proxy or a login page in front of it?); check the API \
             host; nothing was changed",
            self.status, self.content_type, self.len
        )
    }
}

/// `/namespaces/{ns}/{collection}/[pkg/]{name}`, each segment encoded.
fn entity_path(name: &QualifiedName, collection: &str) -> String {
    let mut path = format!(
        "/namespaces/{}/{collection}/",
        percent_encode(name.namespace())
    );
    if let Some(package) = name.package() {
        path.push_str(&percent_encode(package));
        path.push('/');
    }
    path.push_str(&percent_encode(name.name()));
    path
}

/// Packages are named by one segment; a package-qualified name makes no sense here.
fn package_path(name: &QualifiedName) -> String {
    format!(
        "/namespaces/{}/packages/{}",
        percent_encode(name.namespace()),
        percent_encode(name.name())
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_paths_with_packages_and_encoding() {
        let name = QualifiedName::parse("/guest/my pkg/a").expect("valid");
        assert_eq!(
            entity_path(&name, "actions"),
            "/namespaces/guest/actions/my%20pkg/a"
        );
        let name = QualifiedName::parse("/guest/t").expect("valid");
        assert_eq!(
            entity_path(&name, "triggers"),
            "/namespaces/guest/triggers/t"
        );
        assert_eq!(package_path(&name), "/namespaces/guest/packages/t");
    }

    #[test]
    fn finds_entity_annotations() {
        let trigger = json!({"annotations": [{"key": "feed", "value": "/guest/f"}, {"key": "n", "value": 1}]});
        assert_eq!(
            entity_annotation(&trigger, "feed"),
            Some(&json!("/guest/f"))
        );
        assert_eq!(entity_annotation(&trigger, "n"), Some(&json!(1)));
        assert_eq!(entity_annotation(&trigger, "absent"), None);
        assert_eq!(entity_annotation(&json!({}), "feed"), None);
    }

    #[test]
    fn a_missing_api_host_says_so_plainly() {
        let error = Client::new(
            "",
            AuthKey::parse("u:p").expect("valid"),
            ClientOptions::default(),
        )
        .expect_err("no host");
        assert!(
            error
                .to_string()
                .starts_with("the OpenWhisk API host is not set"),
            "{error}"
        );
    }

    #[test]
    fn a_past_deadline_refuses_to_send() {
        let key = AuthKey::parse("u:p").expect("valid");
        let options = ClientOptions {
            deadline: Some(SystemTime::now()),
            ..ClientOptions::default()
        };
        // Port 9 (discard) on loopback: nothing is sent because the deadline has passed.
        let client = Client::new("http://127.0.0.1:9", key, options).expect("client");
        let error = client
            .get_trigger(&QualifiedName::parse("/guest/t").expect("valid"))
            .expect_err("deadline");
        assert_eq!(error.kind, ClientErrorKind::Deadline);
        assert_eq!(error.path, "/api/v1/namespaces/guest/triggers/t");
    }
}
