//! Shared helpers: sandboxes, an HTTP client speaking to them, script actions.

use sandbox::{Config, NamespaceKey, Sandbox, zip_executable};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

pub const OTHER_KEY: &str = "0c1b6a2e-7f0d-4c5e-9a8b-2d3e4f5a6b7c:otherOtherOtherOtherOtherOtherOtherOtherOtherOtherOtherOtherOther";

/// Generous bound for anything asynchronous; waits return as soon as the condition holds.
pub const PATIENCE: Duration = Duration::from_secs(30);

pub fn sandbox() -> Sandbox {
    Sandbox::start(Config::default()).expect("sandbox starts")
}

/// `guest` plus a second namespace `other`.
pub fn two_namespaces() -> Sandbox {
    let mut config = Config::default();
    config
        .namespaces
        .push(NamespaceKey::new("other", OTHER_KEY));
    Sandbox::start(config).expect("sandbox starts")
}

pub fn with_config(config: Config) -> Sandbox {
    Sandbox::start(config).expect("sandbox starts")
}

/// A zip whose `exec` is a shell script with `body`.
pub fn script(body: &str) -> Vec<u8> {
    zip_executable(format!("#!/bin/sh\n{body}\n").as_bytes())
}

/// An action answering its parameters (read from stdin) as its result.
pub fn echo_action() -> Vec<u8> {
    script("IN=$(cat)\necho \"$IN\"")
}

/// A response: status, JSON body (`Null` when empty or not JSON), headers of interest.
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub body: Value,
    pub text: String,
    pub activation_header: Option<String>,
}

impl Resp {
    pub fn error(&self) -> &str {
        self.body["error"].as_str().unwrap_or("")
    }
}

/// A client of one sandbox acting with one key (or none).
pub struct Api {
    base: String,
    auth: Option<String>,
    agent: ureq::Agent,
}

fn basic(key: &str) -> String {
    use base64::Engine;
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(key)
    )
}

impl Api {
    pub fn new(sb: &Sandbox, namespace: &str) -> Api {
        Api::with_key(sb, Some(&sb.auth_key(namespace)))
    }

    pub fn with_key(sb: &Sandbox, key: Option<&str>) -> Api {
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(120)))
            .build()
            .new_agent();
        Api {
            base: format!("{}/api/v1", sb.url()),
            auth: key.map(basic),
            agent,
        }
    }

    fn finish(&self, response: Result<ureq::http::Response<ureq::Body>, ureq::Error>) -> Resp {
        let mut response = response.expect("the sandbox answers");
        let activation_header = response
            .headers()
            .get("x-openwhisk-activation-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let status = response.status().as_u16();
        let text = response
            .body_mut()
            .with_config()
            .limit(100 * 1024 * 1024)
            .read_to_string()
            .unwrap_or_default();
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Resp {
            status,
            body,
            text,
            activation_header,
        }
    }

    pub fn get(&self, path: &str) -> Resp {
        let mut req = self.agent.get(format!("{}{path}", self.base));
        if let Some(auth) = &self.auth {
            req = req.header("Authorization", auth);
        }
        self.finish(req.call())
    }

    pub fn delete(&self, path: &str) -> Resp {
        let mut req = self.agent.delete(format!("{}{path}", self.base));
        if let Some(auth) = &self.auth {
            req = req.header("Authorization", auth);
        }
        self.finish(req.call())
    }

    pub fn put(&self, path: &str, body: Value) -> Resp {
        let mut req = self.agent.put(format!("{}{path}", self.base));
        if let Some(auth) = &self.auth {
            req = req.header("Authorization", auth);
        }
        self.finish(req.send_json(body))
    }

    pub fn post(&self, path: &str, body: Value) -> Resp {
        let mut req = self.agent.post(format!("{}{path}", self.base));
        if let Some(auth) = &self.auth {
            req = req.header("Authorization", auth);
        }
        self.finish(req.send_json(body))
    }

    pub fn post_raw(&self, path: &str, body: &[u8]) -> Resp {
        let mut req = self
            .agent
            .post(format!("{}{path}", self.base))
            .header("Content-Type", "application/json");
        if let Some(auth) = &self.auth {
            req = req.header("Authorization", auth);
        }
        self.finish(req.send(body))
    }

    /// PUTs a native action from a zip, as `wsk action update --native` does.
    pub fn put_native(&self, path: &str, zip: &[u8], extra: Value) -> Resp {
        use base64::Engine;
        let mut body = json!({
            "exec": {
                "kind": "blackbox",
                "image": "openwhisk/dockerskeleton",
                "code": base64::engine::general_purpose::STANDARD.encode(zip),
                "binary": true,
            }
        });
        if let (Some(fields), Value::Object(extra)) = (body.as_object_mut(), extra) {
            fields.extend(extra);
        }
        self.put(path, body)
    }

    /// The logs of the activation a blocking invoke answered, from its record (a blocking
    /// invoke's own answer carries `logs: []`, as OpenWhisk's).
    pub fn logs_of(&self, invoked: &Resp) -> Value {
        assert_eq!(invoked.body["logs"], json!([]), "{}", invoked.text);
        let id = invoked.body["activationId"]
            .as_str()
            .expect("an activation answer");
        let r = self.get(&format!("/namespaces/_/activations/{id}/logs"));
        assert_eq!(r.status, 200, "{}", r.text);
        r.body["logs"].clone()
    }

    /// Polls `GET /namespaces/_/activations/{id}` until the record exists.
    pub fn await_activation(&self, id: &str) -> Value {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let r = self.get(&format!("/namespaces/_/activations/{id}"));
            if r.status == 200 {
                return r.body;
            }
            assert!(Instant::now() < deadline, "activation {id} never appeared");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// The value of a `KeyValue` list entry.
pub fn kv<'a>(list: &'a Value, key: &str) -> Option<&'a Value> {
    list.as_array()?
        .iter()
        .find(|kv| kv["key"] == key)
        .map(|kv| &kv["value"])
}
