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
use std::os::unix::ffi::OsStringExt;
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
        Some(results) => serve_actionloop(stdin.lock(), results, env_var, &handler),
        None => {
            // `args_os`, not `args`: the latter panics on an argument that is not UTF-8, and its
            // panic message prints the whole argument (the parameters, keys included).
            let argv1 = std::env::args_os().nth(1).map(OsStringExt::into_vec);
            let result = handle_once(stdin.lock(), argv1, &Context::from_env(), &handler);
            write_line(io::stdout().lock(), &result)
        }
    };
    if let Err(error) = outcome {
        // Nowhere left to report it but the logs.
        eprintln!("feedkit: could not write the result: {error}");
    }
}

/// An environment variable; one that is not UTF-8 is read lossily (its use then fails with an
/// error that names it, instead of the variable looking unset).
pub(crate) fn env_var(name: &str) -> Option<String> {
    match std::env::var(name) {
        Ok(value) => Some(value),
        Err(std::env::VarError::NotPresent) => None,
        Err(std::env::VarError::NotUnicode(value)) => Some(value.to_string_lossy().into_owned()),
    }
}

/// One one-shot activation: reads the parameters from `input` to its end (or from `argv1` when
/// `input` is empty, as when the proxy only passes them on the command line) and returns the
/// result JSON, always an object or array. Input that is too large, not UTF-8 or not JSON is
/// answered with an error naming the cause, never echoed.
pub fn handle_once<H, Req, Resp, E>(
    input: impl Read,
    argv1: Option<Vec<u8>>,
    context: &Context,
    handler: &H,
) -> Value
where
    H: Fn(Req, &Context) -> Result<Resp, E>,
    Req: DeserializeOwned,
    Resp: Serialize,
    E: Into<ActionError>,
{
    let bytes = match read_bounded(input, MAX_INPUT_BYTES) {
        Ok(Some(bytes)) => bytes,
        Ok(None) => return too_large("the parameters are").to_json(),
        Err(error) => {
            eprintln!("feedkit: could not read stdin ({error}); using argv[1]");
            Vec::new()
        }
    };
    let bytes = if is_blank(&bytes) {
        argv1.unwrap_or_default()
    } else {
        bytes
    };
    if bytes.len() > MAX_INPUT_BYTES {
        return too_large("the parameters are").to_json();
    }
    let params = if is_blank(&bytes) {
        Value::Object(Map::new())
    } else {
        match parse_json(&bytes, "the parameters are") {
            Ok(value) => value,
            Err(error) => return error.to_json(),
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
    let mut input = input;
    while let Some(line) = read_line_bounded(&mut input, MAX_INPUT_BYTES)? {
        let result = match line {
            Line::TooLong => too_large("the activation message is").to_json(),
            Line::Complete(bytes) if is_blank(&bytes) => continue,
            Line::Complete(bytes) => match parse_json(&bytes, "the activation message is") {
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
                Err(error) => error.to_json(),
            },
        };
        write_line(&mut results, &result)?;
    }
    Ok(())
}

/// The most bytes one activation's input may have (stdin in one-shot mode, one line in
/// actionloop mode). OpenWhisk itself refuses parameters over 1 MiB by default; this bound only
/// keeps a runaway input from exhausting the container's memory before it is refused.
pub const MAX_INPUT_BYTES: usize = 16 * 1024 * 1024;

/// JSON nesting deeper than this is refused by the parser (serde_json's recursion limit).
const MAX_JSON_DEPTH: usize = 128;

fn is_blank(bytes: &[u8]) -> bool {
    bytes.iter().all(u8::is_ascii_whitespace)
}

fn too_large(what: &str) -> ActionError {
    ActionError::new(format!(
        "{what} larger than the runtime's limit of {} MiB; OpenWhisk passes at most 1 MiB \
         of parameters by default, so this input did not come from it as sent",
        MAX_INPUT_BYTES / (1024 * 1024)
    ))
}

/// Parses input that must be JSON text (`what` says what it is, e.g. "the parameters are"), naming the cause of a failure without quoting any of
/// the input (it holds keys and tokens).
fn parse_json(bytes: &[u8], what: &str) -> Result<Value, ActionError> {
    let text = std::str::from_utf8(bytes).map_err(|error| {
        ActionError::new(format!(
            "{what} not valid UTF-8 (invalid bytes at offset {}); OpenWhisk sends JSON, \
             which is UTF-8 text",
            error.valid_up_to()
        ))
    })?;
    serde_json::from_str(text).map_err(|error| {
        let detail = if error.to_string().starts_with("recursion limit exceeded") {
            format!(" (nested deeper than {MAX_JSON_DEPTH} levels)")
        } else {
            String::new()
        };
        ActionError::new(format!("{what} not valid JSON: {error}{detail}"))
    })
}

/// Reads `input` to its end; `None` when it holds more than `limit` bytes (the rest is read
/// and dropped, so the writer is not left blocked on a full pipe).
fn read_bounded(input: impl Read, limit: usize) -> io::Result<Option<Vec<u8>>> {
    let mut input = input;
    let mut bytes = Vec::new();
    let bound = u64::try_from(limit).unwrap_or(u64::MAX).saturating_add(1);
    (&mut input).take(bound).read_to_end(&mut bytes)?;
    if bytes.len() > limit {
        io::copy(&mut input, &mut io::sink())?;
        return Ok(None);
    }
    Ok(Some(bytes))
}

/// One line of actionloop input.
enum Line {
    /// The line's bytes, without its newline.
    Complete(Vec<u8>),
    /// Longer than the limit: its bytes were dropped up to the newline.
    TooLong,
}

/// Reads one `\n`-terminated line of at most `limit` bytes as bytes (a line that is not UTF-8
/// is the handler's to report, not a reason to stop serving); `None` at the end of input.
fn read_line_bounded(input: &mut impl BufRead, limit: usize) -> io::Result<Option<Line>> {
    let mut line = Vec::new();
    let mut too_long = false;
    let mut read_any = false;
    loop {
        let available = match input.fill_buf() {
            Ok(available) => available,
            Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
            Err(error) => return Err(error),
        };
        if available.is_empty() {
            break;
        }
        read_any = true;
        let (chunk, done) = match available.iter().position(|byte| *byte == b'\n') {
            Some(end) => (&available[..end], Some(end + 1)),
            None => (available, None),
        };
        if !too_long {
            if line.len() + chunk.len() > limit {
                too_long = true;
                line = Vec::new();
            } else {
                line.extend_from_slice(chunk);
            }
        }
        let used = done.unwrap_or(available.len());
        input.consume(used);
        if done.is_some() {
            break;
        }
    }
    Ok(match (read_any, too_long) {
        (false, _) => None,
        (true, true) => Some(Line::TooLong),
        (true, false) => Some(Line::Complete(line)),
    })
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
            argv.map(|text| text.as_bytes().to_vec()),
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
