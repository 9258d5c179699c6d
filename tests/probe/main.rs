//! A test action for the runtime: it answers with what it was given, or fails the way it is told.

use feedkit::{ActionError, Context, run};
use serde_json::{Value, json};

fn probe(params: Value, context: &Context) -> Result<Value, ActionError> {
    match params.get("mode").and_then(Value::as_str).unwrap_or("echo") {
        "panic" => panic!("the probe was told to panic"),
        "fail" => Err(ActionError::new("the probe was told to fail")),
        "log" => {
            println!("a log line on stdout");
            eprintln!("a log line on stderr");
            Ok(json!({"logged": true}))
        }
        _ => Ok(json!({
            "params_bytes": params.to_string().len(),
            "keys": params.as_object().map(|map| map.keys().cloned().collect::<Vec<_>>()),
            "name": params.get("name"),
            "api_host": context.api_host,
            "api_key_user": context.api_key.as_ref().map(|key| key.user().to_owned()),
            "namespace": context.namespace,
            "action_name": context.action_name,
            "activation_id": context.activation_id,
            "deadline_ms": context.deadline.and_then(|d| d.duration_since(std::time::UNIX_EPOCH).ok()).map(|d| d.as_millis() as u64),
        })),
    }
}

fn main() {
    run(probe);
}
