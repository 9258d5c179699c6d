//! The action runtime: one handler, two protocols.
//!
//! - One-shot (`openwhisk/dockerskeleton`): the parameters arrive on stdin (argv\[1\] as a
//!   fallback), the `__OW_*` environment is the context, and the result is ONE JSON line, the last
//!   line of stdout. Logs go to stderr.
//! - Actionloop (the Go proxy and images built on it): file descriptor 3 is open; each stdin line is
//!   one activation `{"value": {...}, "deadline": ..., ...}` and each answer is one line on fd 3.
//!   The process never exits between activations, so a failing or panicking handler must not end it.
//!
//! Both are thin shells over [`handle_once`] and [`serve_actionloop`], which take any reader and
//! writer so they are tested with in-memory buffers.

use std::io::{self, BufRead, Read, Write};
use std::panic::{AssertUnwindSafe, catch_unwind};

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::context::Context;
use crate::error::ActionError;
use crate::params::{deserialize_with_path, kind};

/// Where the actionloop proxy reads results from.
const ACTIONLOOP_RESULT_FD: &str = "/proc/self/fd/3";

/// Runs `handler` as an OpenWhisk action, in whichever protocol started this process, and returns
/// when the activation (one-shot) or the input stream (actionloop) ends.
///
/// The handler takes the activation's parameters as any deserializable type (`serde_json::Value`
/// for all of them) and returns anything serializable as a JSON object, or an error that becomes
/// `{"error": "..."}`.
pub fn run<H, Req, Resp, E>(handler: H)
where
    H: Fn(Req, &Context) -> Result<Resp, E>,
    Req: DeserializeOwned,
    Resp: Serialize,
    E: Into<ActionError>,
{
    let stdin = io::stdin();
    let outcome = match actionloop_output() {
        Some(results) => serve_actionloop(
            stdin.lock(),
            results,
            |name| std::env::var(name).ok(),
            &handler,
        ),
        None => {
            let result = handle_once(
                stdin.lock(),
                std::env::args().nth(1),
                &Context::from_env(),
                &handler,
            );
            write_line(io::stdout().lock(), &result)
        }
    };
    if let Err(error) = outcome {
        // Nowhere left to report it but the logs.
        eprintln!("feedkit: could not write the result: {error}");
    }
}

/// One one-shot activation: reads the parameters from `input` to its end (or from `argv1` when
/// `input` is empty, as when the proxy only passes them on the command line) and returns the
/// result JSON, always an object or array.
pub fn handle_once<H, Req, Resp, E>(
    mut input: impl Read,
    argv1: Option<String>,
    context: &Context,
    handler: &H,
) -> Value
where
    H: Fn(Req, &Context) -> Result<Resp, E>,
    Req: DeserializeOwned,
    Resp: Serialize,
    E: Into<ActionError>,
{
    let mut text = String::new();
    if let Err(error) = input.read_to_string(&mut text) {
        eprintln!("feedkit: could not read stdin ({error}); using argv[1]");
        text.clear();
    }
    if text.trim().is_empty() {
        text = argv1.unwrap_or_default();
    }
    let params = if text.trim().is_empty() {
        Value::Object(Map::new())
    } else {
        match serde_json::from_str::<Value>(&text) {
            Ok(value) => value,
            Err(error) => {
                return ActionError::new(format!("the parameters are not valid JSON: {error}"))
                    .to_json();
            }
        }
    };
    activate(handler, params, context)
}

/// Serves actionloop activations from `input` (one JSON message a line) until it ends, answering
/// each on `results`. `env` is the process environment; each message's fields (`deadline`,
/// `activation_id`, ...) override the matching `__OW_*` variable for that activation.
pub fn serve_actionloop<H, Req, Resp, E>(
    input: impl BufRead,
    mut results: impl Write,
    env: impl Fn(&str) -> Option<String>,
    handler: &H,
) -> io::Result<()>
where
    H: Fn(Req, &Context) -> Result<Resp, E>,
    Req: DeserializeOwned,
    Resp: Serialize,
    E: Into<ActionError>,
{
    if env("__OW_WAIT_FOR_ACK").is_some_and(|value| !value.is_empty()) {
        write_line(&mut results, &serde_json::json!({ "ok": true }))?;
    }
    for line in input.lines() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        let result = match serde_json::from_str::<Value>(&line) {
            Ok(Value::Object(mut message)) => {
                let params = message.remove("value").unwrap_or(Value::Null);
                let context = Context::from_lookup(|name| {
                    let field = name
                        .strip_prefix("__OW_")
                        .unwrap_or(name)
                        .to_ascii_lowercase();
                    match message.get(&field) {
                        Some(Value::String(text)) => Some(text.clone()),
                        Some(Value::Number(number)) => Some(number.to_string()),
                        _ => env(name),
                    }
                });
                activate(handler, params, &context)
            }
            Ok(other) => ActionError::new(format!(
                "the activation message must be a JSON object, found {}",
                kind(&other)
            ))
            .to_json(),
            Err(error) => {
                ActionError::new(format!("the activation message is not valid JSON: {error}"))
                    .to_json()
            }
        };
        write_line(&mut results, &result)?;
    }
    Ok(())
}

/// Runs the handler on one activation's parameters; whatever happens, the answer is a JSON
/// object or array.
fn activate<H, Req, Resp, E>(handler: &H, params: Value, context: &Context) -> Value
where
    H: Fn(Req, &Context) -> Result<Resp, E>,
    Req: DeserializeOwned,
    Resp: Serialize,
    E: Into<ActionError>,
{
    let params = if params.is_null() {
        Value::Object(Map::new())
    } else {
        params
    };
    if !params.is_object() {
        return ActionError::new(format!(
            "the parameters must be a JSON object, found {}",
            kind(&params)
        ))
        .to_json();
    }
    let request: Req = match deserialize_with_path(params) {
        Ok(request) => request,
        Err(error) => return ActionError::from(error).to_json(),
    };
    let outcome = catch_unwind(AssertUnwindSafe(|| handler(request, context)));
    let response = match outcome {
        Ok(Ok(response)) => response,
        Ok(Err(error)) => return error.into().to_json(),
        Err(panic) => {
            let what = panic
                .downcast_ref::<&str>()
                .map(|text| text.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "no message".into());
            return ActionError::new(format!("the action failed unexpectedly (panic: {what})"))
                .to_json();
        }
    };
    match serde_json::to_value(response) {
        Ok(value @ (Value::Object(_) | Value::Array(_))) => value,
        Ok(other) => ActionError::new(format!(
            "the action's result must be a JSON object, found {}",
            kind(&other)
        ))
        .to_json(),
        Err(error) => {
            ActionError::new(format!("the action's result is not JSON: {error}")).to_json()
        }
    }
}

/// Writes one compact JSON value and a newline, and flushes.
fn write_line(mut output: impl Write, value: &Value) -> io::Result<()> {
    let mut line = serde_json::to_vec(value).map_err(io::Error::other)?;
    line.push(b'\n');
    output.write_all(&line)?;
    output.flush()
}

/// fd 3 is open only when an actionloop proxy started us; it is where results go.
fn actionloop_output() -> Option<std::fs::File> {
    std::fs::OpenOptions::new()
        .write(true)
        .open(ACTIONLOOP_RESULT_FD)
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;
    use serde_json::json;

    #[derive(Deserialize)]
    struct Greet {
        name: String,
    }

    fn greet(request: Greet, context: &Context) -> Result<Value, ActionError> {
        match request.name.as_str() {
            "panic" => panic!("asked to panic"),
            "fail" => Err(ActionError::new("asked to fail")),
            "number" => Ok(json!(7)),
            name => Ok(json!({
                "greeting": format!("hello {name}"),
                "activation": context.activation_id,
                "deadline_known": context.deadline.is_some(),
            })),
        }
    }

    fn once(stdin: &str, argv: Option<&str>) -> Value {
        handle_once(
            stdin.as_bytes(),
            argv.map(str::to_owned),
            &Context::default(),
            &greet,
        )
    }

    #[test]
    fn one_shot_reads_stdin_then_argv() {
        assert_eq!(once(r#"{"name":"a"}"#, None)["greeting"], "hello a");
        assert_eq!(once("", Some(r#"{"name":"b"}"#))["greeting"], "hello b");
        assert_eq!(
            once(r#"{"name":"c"}"#, Some(r#"{"name":"d"}"#))["greeting"],
            "hello c"
        );
    }

    #[test]
    fn one_shot_reports_every_failure_as_an_error_object() {
        let cases = [
            ("{not json", "the parameters are not valid JSON"),
            (
                "[1]",
                "the parameters must be a JSON object, found an array",
            ),
            ("{}", "missing parameter `name`"),
            (r#"{"name": 3}"#, "invalid parameter `name`"),
            (r#"{"name":"fail"}"#, "asked to fail"),
            (r#"{"name":"panic"}"#, "panic: asked to panic"),
            (
                r#"{"name":"number"}"#,
                "must be a JSON object, found a number",
            ),
        ];
        for (input, expected) in cases {
            let result = once(input, None);
            let error = result["error"].as_str().unwrap_or_default();
            assert!(error.contains(expected), "{input}: {result}");
            assert_eq!(result.as_object().map(|o| o.len()), Some(1), "{result}");
        }
    }

    #[test]
    fn actionloop_serves_until_input_ends_and_survives_failures() {
        let input = [
            r#"{"value":{"name":"a"},"activation_id":"id-1","deadline":"4102444800000"}"#,
            r#"{"value":{"name":"panic"}}"#,
            "",
            "garbage",
            r#"{"value":{"name":"fail"}}"#,
            r#"{"value":{"name":"b"},"activation_id":"id-2"}"#,
        ]
        .join("\n");
        let mut output = Vec::new();
        let env = |name: &str| (name == "__OW_WAIT_FOR_ACK").then(|| "1".to_owned());
        serve_actionloop(input.as_bytes(), &mut output, env, &greet).expect("served");
        let lines: Vec<Value> = String::from_utf8(output)
            .expect("utf8")
            .lines()
            .map(|line| serde_json::from_str(line).expect("json line"))
            .collect();
        assert_eq!(lines.len(), 6, "{lines:?}");
        assert_eq!(lines[0], json!({"ok": true}));
        assert_eq!(lines[1]["greeting"], "hello a");
        assert_eq!(lines[1]["activation"], "id-1");
        assert_eq!(lines[1]["deadline_known"], true);
        assert!(
            lines[2]["error"]
                .as_str()
                .unwrap_or_default()
                .contains("panic")
        );
        assert!(
            lines[3]["error"]
                .as_str()
                .unwrap_or_default()
                .contains("not valid JSON")
        );
        assert_eq!(lines[4]["error"], "asked to fail");
        assert_eq!(lines[5]["activation"], "id-2");
        assert_eq!(lines[5]["deadline_known"], false);
    }

    #[test]
    fn actionloop_without_ack_writes_only_results() {
        let mut output = Vec::new();
        serve_actionloop(
            &b"{\"value\":{\"name\":\"x\"}}\n"[..],
            &mut output,
            |_| None,
            &greet,
        )
        .expect("served");
        assert_eq!(String::from_utf8(output).expect("utf8").lines().count(), 1);
    }
}
