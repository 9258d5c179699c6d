//! The action runtime through a real built binary, in both protocols.

use std::process::{Command, Stdio};

use serde_json::{Value, json};

use crate::support::{ARGV_LIMIT, run_action, run_with_stdin, workspace_bin};

fn probe() -> std::path::PathBuf {
    workspace_bin("feedkit-probe")
}

const ENV: [(&str, &str); 5] = [
    ("__OW_API_HOST", "http://127.0.0.1:1"),
    ("__OW_NAMESPACE", "guest"),
    ("__OW_ACTION_NAME", "/guest/probe"),
    ("__OW_ACTIVATION_ID", "0123abcd"),
    ("__OW_DEADLINE", "4102444800000"),
];

#[test]
fn one_shot_reads_stdin_and_the_environment() {
    let run = run_action(&probe(), &json!({"name": "x"}), &ENV);
    assert_eq!(run.result["name"], "x");
    assert_eq!(run.result["api_host"], "http://127.0.0.1:1");
    assert_eq!(run.result["namespace"], "guest");
    assert_eq!(run.result["action_name"], "/guest/probe");
    assert_eq!(run.result["activation_id"], "0123abcd");
    assert_eq!(run.result["deadline_ms"], 4_102_444_800_000_u64);
    assert_eq!(run.result["api_key_user"], Value::Null);
    assert_eq!(run.stdout.lines().count(), 1, "{}", run.stdout);
}

#[test]
fn one_shot_falls_back_to_argv_when_stdin_is_empty() {
    let mut command = Command::new(probe());
    command
        .env_clear()
        .env("__OW_API_KEY", "user-uuid:key")
        .arg(json!({"name": "from argv"}).to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .stdin(Stdio::piped());
    let run = run_with_stdin(command, b"");
    assert_eq!(run.result["name"], "from argv");
    assert_eq!(run.result["api_key_user"], "user-uuid");
    assert!(!run.logs().contains(":key"), "{}", run.logs());
}

#[test]
fn one_shot_takes_inputs_too_long_for_argv_from_stdin() {
    let blob = "x".repeat(ARGV_LIMIT + 1000);
    let params = json!({"name": "big", "blob": blob});
    let run = run_action(&probe(), &params, &[]);
    assert_eq!(run.result["name"], "big");
    assert_eq!(run.result["params_bytes"], params.to_string().len());
}

#[test]
fn one_shot_reports_malformed_input_and_failures_as_one_error_line() {
    let cases: [(&[u8], &str); 4] = [
        (b"{\"name\": ", "the parameters are not valid JSON"),
        (
            b"[1, 2]",
            "the parameters must be a JSON object, found an array",
        ),
        (
            br#"{"mode": "panic"}"#,
            "the action failed unexpectedly (panic: the probe was told to panic)",
        ),
        (br#"{"mode": "fail"}"#, "the probe was told to fail"),
    ];
    for (input, expected) in cases {
        let mut command = Command::new(probe());
        command
            .env_clear()
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let run = run_with_stdin(command, input);
        assert!(run.error().starts_with(expected), "{}", run.stdout);
        assert_eq!(run.stdout.lines().count(), 1, "{}", run.stdout);
    }
}

#[test]
fn one_shot_keeps_logs_off_the_result_line() {
    let run = run_action(&probe(), &json!({"mode": "log"}), &[]);
    assert_eq!(run.result, json!({"logged": true}));
    assert!(
        run.stdout.starts_with("a log line on stdout\n"),
        "{}",
        run.stdout
    );
    assert!(run.stderr.contains("a log line on stderr"));
}

/// The actionloop proxy gives the action fd 3 for results. The shell maps fd 3 to the pipe we
/// read as "stdout" and the action's own stdout to stderr, where logs belong.
#[test]
fn actionloop_serves_several_activations_and_survives_failures() {
    let mut command = Command::new("sh");
    command
        .args(["-c", r#"exec "$0" 3>&1 1>&2"#])
        .arg(probe())
        .env_clear()
        .env("__OW_WAIT_FOR_ACK", "1")
        .env("__OW_API_HOST", "http://127.0.0.1:1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let messages = [
        json!({"value": {"name": "first"}, "activation_id": "a1", "namespace": "guest", "deadline": "4102444800000", "api_key": "uuid:k"}),
        json!({"value": {"mode": "panic"}, "activation_id": "a2"}),
        json!("not an object"),
        json!({"value": {"mode": "fail"}, "activation_id": "a3"}),
        json!({"value": {"name": "last"}, "activation_id": "a4"}),
    ];
    let mut input = messages
        .iter()
        .map(Value::to_string)
        .collect::<Vec<_>>()
        .join("\n");
    input.push_str("\n{broken json\n");
    let run = run_with_stdin(command, input.as_bytes());
    let answers: Vec<Value> = run
        .stdout
        .lines()
        .map(|line| serde_json::from_str(line).expect("one JSON answer a line"))
        .collect();
    assert_eq!(answers.len(), 7, "{}", run.stdout);
    assert_eq!(answers[0], json!({"ok": true}));
    assert_eq!(answers[1]["name"], "first");
    assert_eq!(answers[1]["activation_id"], "a1");
    assert_eq!(answers[1]["namespace"], "guest");
    assert_eq!(answers[1]["api_key_user"], "uuid");
    assert_eq!(answers[1]["api_host"], "http://127.0.0.1:1");
    assert_eq!(answers[1]["deadline_ms"], 4_102_444_800_000_u64);
    assert!(
        answers[2]["error"]
            .as_str()
            .unwrap_or_default()
            .contains("panic"),
        "{}",
        answers[2]
    );
    assert!(
        answers[3]["error"]
            .as_str()
            .unwrap_or_default()
            .contains("must be a JSON object")
    );
    assert_eq!(answers[4]["error"], "the probe was told to fail");
    assert_eq!(answers[5]["name"], "last");
    assert_eq!(answers[5]["activation_id"], "a4");
    assert_eq!(
        answers[5]["namespace"],
        Value::Null,
        "no context leaks between activations"
    );
    assert!(
        answers[6]["error"]
            .as_str()
            .unwrap_or_default()
            .contains("not valid JSON")
    );
}
