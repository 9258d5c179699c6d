//! Hostile input to the real binaries: parameters that are not UTF-8 (on argv, on stdin, as an
//! actionloop line), too large, nested too deep or not an object. Every action answers one
//! `{"error"}` line naming the cause, echoes nothing of the input, exits cleanly, and in
//! actionloop mode keeps serving.

use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;
use std::process::{Command, Stdio};

use serde_json::{Value, json};

use crate::support::{ActionRun, run_with_stdin, workspace_bin};

/// Every action binary, and the runtime's own probe.
const BINARIES: [&str; 7] = [
    "hook-feed",
    "hook-relay",
    "poll-feed",
    "pollMyService",
    "changes-feed",
    "alarm-feed",
    "feedkit-probe",
];

/// What must never show in any output: it stands for a key inside the hostile input.
const PLANTED: &str = "S3CRET-planted-in-the-input";

/// The runtime's input bound (`feedkit::runtime::MAX_INPUT_BYTES`).
const INPUT_LIMIT: usize = 16 * 1024 * 1024;

/// Parameters with the planted secret and a byte that is not UTF-8.
fn not_utf8() -> Vec<u8> {
    let mut bytes =
        format!(r#"{{"lifecycleEvent":"READ","authKey":"uuid:{PLANTED}","x":""#).into_bytes();
    bytes.extend_from_slice(&[0xff, 0xfe, b'"', b'}']);
    bytes
}

fn command(binary: &str, argv: Option<Vec<u8>>) -> Command {
    let mut command = Command::new(workspace_bin(binary));
    command
        .env_clear()
        .env("__OW_API_HOST", "http://127.0.0.1:9")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(argv) = argv {
        command.arg(OsString::from_vec(argv));
    }
    command
}

/// One clean exit, one result line, one `error` containing `expected`, nothing planted echoed.
fn assert_one_error(run: &ActionRun, binary: &str, expected: &str) {
    assert!(
        run.status.success(),
        "{binary}: {:?}\n{}",
        run.status,
        run.logs()
    );
    assert_eq!(run.stdout.lines().count(), 1, "{binary}: {}", run.stdout);
    let object = run.result.as_object().expect("a JSON object");
    assert_eq!(object.len(), 1, "{binary}: {}", run.result);
    assert!(
        run.error().contains(expected),
        "{binary}: expected {expected:?} in {}",
        run.result
    );
    assert!(
        !run.logs().contains(PLANTED),
        "{binary} echoed its input: {}",
        run.logs()
    );
}

#[test]
fn parameters_that_are_not_utf8_get_one_error_and_are_not_echoed() {
    for binary in BINARIES {
        // Only on argv (stdin empty), as the proxy does for input it cannot pass otherwise.
        let run = run_with_stdin(command(binary, Some(not_utf8())), b"");
        assert_one_error(&run, binary, "not valid UTF-8");
        // On stdin, and on argv too, as the proxy passes short parameters.
        let run = run_with_stdin(command(binary, Some(not_utf8())), &not_utf8());
        assert_one_error(&run, binary, "not valid UTF-8");
    }
}

#[test]
fn huge_deep_and_non_object_parameters_get_one_error_each() {
    let huge = {
        let mut text = format!(r#"{{"authKey":"uuid:{PLANTED}","blob":""#).into_bytes();
        text.resize(INPUT_LIMIT + 1024, b'x');
        text.extend_from_slice(b"\"}");
        text
    };
    let deep = format!(
        r#"{{"authKey":"uuid:{PLANTED}","x":{}{}}}"#,
        "[".repeat(100_000),
        "]".repeat(100_000)
    );
    let cases: [(&[u8], &str); 5] = [
        (&huge, "larger than the runtime's limit of 16 MiB"),
        (deep.as_bytes(), "nested deeper than 128 levels"),
        (b"42", "must be a JSON object, found a number"),
        (br#""uuid:key""#, "must be a JSON object, found a string"),
        (
            br#"[{"authKey": "x"}]"#,
            "must be a JSON object, found an array",
        ),
    ];
    for binary in BINARIES {
        for (input, expected) in cases {
            let run = run_with_stdin(command(binary, None), input);
            assert_one_error(&run, binary, expected);
        }
    }
}

/// The actionloop proxy gives the action fd 3 for results (see `runtime.rs`): lines that are
/// not UTF-8, too long or too deep are answered with an error and the loop goes on.
#[test]
fn actionloop_answers_hostile_lines_and_keeps_serving() {
    let mut command = Command::new("sh");
    command
        .args(["-c", r#"exec "$0" 3>&1 1>&2"#])
        .arg(workspace_bin("feedkit-probe"))
        .env_clear()
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let good = |name: &str| json!({"value": {"name": name}}).to_string().into_bytes();
    let mut input = Vec::new();
    let mut not_utf8_line = br#"{"value":{"name":"#.to_vec();
    not_utf8_line.extend_from_slice(&not_utf8());
    not_utf8_line.extend_from_slice(b"}}");
    let mut too_long = br#"{"value":{"blob":""#.to_vec();
    too_long.resize(INPUT_LIMIT + 10, b'y');
    let deep = format!(r#"{{"value":{}{}}}"#, "[".repeat(5000), "]".repeat(5000));
    for line in [
        good("first"),
        not_utf8_line,
        good("second"),
        too_long,
        deep.into_bytes(),
        good("third"),
    ] {
        input.extend_from_slice(&line);
        input.push(b'\n');
    }
    let run = run_with_stdin(command, &input);
    assert!(run.status.success(), "{:?}: {}", run.status, run.stderr);
    let answers: Vec<Value> = run
        .stdout
        .lines()
        .map(|line| serde_json::from_str(line).expect("one JSON answer a line"))
        .collect();
    assert_eq!(answers.len(), 6, "{}", run.stdout);
    let error = |n: usize| answers[n]["error"].as_str().unwrap_or_default().to_owned();
    assert_eq!(answers[0]["name"], "first");
    assert!(error(1).contains("not valid UTF-8"), "{}", answers[1]);
    assert_eq!(answers[2]["name"], "second");
    assert!(error(3).contains("larger than"), "{}", answers[3]);
    assert!(error(4).contains("nested deeper"), "{}", answers[4]);
    assert_eq!(answers[5]["name"], "third");
    assert!(!run.logs().contains(PLANTED), "{}", run.logs());
}
