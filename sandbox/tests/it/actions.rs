//! Actions: CRUD, invoke (blocking, non-blocking, result only), the native runtime contract.

use crate::support::{Api, PATIENCE, echo_action, kv, sandbox, script};
use serde_json::json;
use std::time::Instant;

#[test]
fn creates_native_actions_over_http_and_reads_them_back() {
    let sb = sandbox();
    let api = Api::new(&sb, "guest");
    let zip = echo_action();
    let r = api.put_native(
        "/namespaces/_/actions/echo",
        &zip,
        json!({"parameters": [{"key": "p", "value": 1}], "limits": {"timeout": 5000}}),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["exec"]["kind"], "blackbox");
    assert_eq!(r.body["exec"]["binary"], true);
    assert_eq!(r.body["limits"]["timeout"], 5000);
    assert_eq!(kv(&r.body["annotations"], "exec"), Some(&json!("blackbox")));

    let got = api.get("/namespaces/_/actions/echo");
    assert_eq!(got.status, 200);
    assert!(got.body["exec"]["code"].is_string());
    let meta = api.get("/namespaces/_/actions/echo?code=false");
    assert!(meta.body["exec"].get("code").is_none());
    assert_eq!(kv(&meta.body["parameters"], "p"), Some(&json!(1)));

    assert_eq!(
        api.put_native("/namespaces/_/actions/echo", &zip, json!({}))
            .status,
        409
    );
    let updated = api.put(
        "/namespaces/_/actions/echo?overwrite=true",
        json!({"parameters": []}),
    );
    assert_eq!(updated.status, 200, "an update without exec keeps the code");
    assert_eq!(updated.body["version"], "0.0.2");
    assert_eq!(updated.body["limits"]["timeout"], 5000);

    let list = api.get("/namespaces/_/actions");
    assert_eq!(list.body.as_array().unwrap().len(), 1);
    assert_eq!(list.body[0]["exec"], json!({"binary": true}));

    assert_eq!(api.delete("/namespaces/_/actions/echo").status, 200);
    assert_eq!(api.get("/namespaces/_/actions/echo").status, 404);
    assert_eq!(api.delete("/namespaces/_/actions/echo").status, 404);
}

#[test]
fn rejects_actions_the_sandbox_cannot_run() {
    let sb = sandbox();
    let api = Api::new(&sb, "guest");
    let r = api.put(
        "/namespaces/_/actions/a",
        json!({"exec": {"kind": "nodejs:20", "code": "x"}}),
    );
    assert_eq!(r.status, 400);
    assert!(r.error().contains("nodejs:20"), "{}", r.text);
    let r = api.put(
        "/namespaces/_/actions/a",
        json!({"exec": {"kind": "blackbox", "image": "me/img"}}),
    );
    assert_eq!(r.status, 400);
    assert!(r.error().contains("exec.code"), "{}", r.text);
    assert_eq!(api.put("/namespaces/_/actions/a", json!({})).status, 400);
    let r = api.put_native(
        "/namespaces/_/actions/a",
        &echo_action(),
        json!({"limits": {"timeout": 10}}),
    );
    assert_eq!(r.status, 400);
    assert!(r.error().contains("limits.timeout"), "{}", r.text);
    let r = api.put_native("/namespaces/_/actions/nopkg/a", &echo_action(), json!({}));
    assert_eq!(r.status, 404, "the package must exist");
}

#[test]
fn blocking_invoke_answers_the_activation_or_only_the_result() {
    let sb = sandbox();
    let api = Api::new(&sb, "guest");
    sb.put_native_action("guest", "echo", echo_action(), json!({"a": 1}), json!({}))
        .unwrap();
    let r = api.post(
        "/namespaces/_/actions/echo?blocking=true&result=true",
        json!({"b": 2}),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body, json!({"a": 1, "b": 2}));

    let r = api.post("/namespaces/_/actions/echo?blocking=true", json!({"a": 3}));
    assert_eq!(r.status, 200);
    assert_eq!(r.body["response"]["result"], json!({"a": 3}));
    assert_eq!(r.body["response"]["status"], "success");
    assert_eq!(r.body["response"]["success"], true);
    assert_eq!(r.body["name"], "echo");
    assert_eq!(r.body["namespace"], "guest");
    assert_eq!(
        kv(&r.body["annotations"], "path"),
        Some(&json!("guest/echo"))
    );
    assert_eq!(
        r.activation_header.as_deref(),
        r.body["activationId"].as_str()
    );
}

#[test]
fn non_blocking_invoke_answers_202_and_the_record_appears_later() {
    let sb = sandbox();
    let api = Api::new(&sb, "guest");
    sb.put_native_action("guest", "echo", echo_action(), json!({}), json!({}))
        .unwrap();
    let r = api.post("/namespaces/_/actions/echo", json!({"x": 1}));
    assert_eq!(r.status, 202);
    let id = r.body["activationId"].as_str().unwrap();
    let record = api.await_activation(id);
    assert_eq!(record["response"]["result"], json!({"x": 1}));
    assert!(record["end"].as_u64().unwrap() >= record["start"].as_u64().unwrap());
}

#[test]
fn a_blocking_wait_that_runs_out_answers_202() {
    let sb = sandbox();
    let api = Api::new(&sb, "guest");
    sb.put_native_action(
        "guest",
        "slow",
        script("sleep 2\necho '{\"done\":true}'"),
        json!({}),
        json!({}),
    )
    .unwrap();
    let r = api.post(
        "/namespaces/_/actions/slow?blocking=true&timeout=100",
        json!({}),
    );
    assert_eq!(r.status, 202, "{}", r.text);
    let record = api.await_activation(r.body["activationId"].as_str().unwrap());
    assert_eq!(record["response"]["result"], json!({"done": true}));
    assert_eq!(
        api.post(
            "/namespaces/_/actions/slow?blocking=true&timeout=60001",
            json!({})
        )
        .status,
        400
    );
}

#[test]
fn an_error_result_is_an_application_error_with_502() {
    let sb = sandbox();
    let api = Api::new(&sb, "guest");
    sb.put_native_action(
        "guest",
        "fail",
        script("echo '{\"error\":\"bad input\",\"extra\":1}'"),
        json!({}),
        json!({}),
    )
    .unwrap();
    let r = api.post("/namespaces/_/actions/fail?blocking=true", json!({}));
    assert_eq!(r.status, 502);
    assert_eq!(r.body["response"]["status"], "application error");
    assert_eq!(r.body["response"]["success"], false);
    assert_eq!(r.body["response"]["result"], json!({"error": "bad input"}));
    let r = api.post(
        "/namespaces/_/actions/fail?blocking=true&result=true",
        json!({}),
    );
    assert_eq!((r.status, r.body), (502, json!({"error": "bad input"})));
}

#[test]
fn output_that_is_not_a_dictionary_is_a_developer_error() {
    let sb = sandbox();
    let api = Api::new(&sb, "guest");
    sb.put_native_action(
        "guest",
        "text",
        script("echo starting\necho 'oops' >&2\necho 'not json'"),
        json!({}),
        json!({}),
    )
    .unwrap();
    let r = api.post("/namespaces/_/actions/text?blocking=true", json!({}));
    assert_eq!(r.status, 502);
    assert_eq!(r.body["response"]["status"], "action developer error");
    assert_eq!(
        r.body["response"]["result"]["error"],
        "The action did not return a dictionary or array."
    );
    let logs = api.logs_of(&r);
    let logs: Vec<&str> = logs
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l.as_str().unwrap())
        .collect();
    assert!(
        logs.iter().any(|l| l.ends_with(" stdout: starting")),
        "{logs:?}"
    );
    assert!(
        logs.iter().any(|l| l.ends_with(" stderr: oops")),
        "{logs:?}"
    );
    assert!(
        logs.iter().any(|l| l.ends_with(" stdout: not json")),
        "the bad line is logged: {logs:?}"
    );
}

#[test]
fn logs_are_every_other_line_with_docker_timestamps() {
    let sb = sandbox();
    let api = Api::new(&sb, "guest");
    sb.put_native_action(
        "guest",
        "chatty",
        script("echo one\necho two >&2\necho '  three  '\necho '{\"ok\":true}'"),
        json!({}),
        json!({}),
    )
    .unwrap();
    let r = api.post("/namespaces/_/actions/chatty?blocking=true", json!({}));
    assert_eq!(r.status, 200, "{}", r.text);
    let logs: Vec<String> = api
        .logs_of(&r)
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l.as_str().unwrap().to_string())
        .collect();
    assert_eq!(logs.len(), 3, "{logs:?}");
    let mut texts: Vec<&str> = logs.iter().map(|l| &l[31..]).collect();
    texts.sort();
    assert_eq!(texts, ["stderr: two", "stdout: one", "stdout: three"]);
    for line in &logs {
        let stamp = &line[..30];
        assert!(
            stamp.ends_with('Z') && stamp.as_bytes()[10] == b'T' && stamp.as_bytes()[19] == b'.',
            "{line}"
        );
    }
}

#[test]
fn a_zip_without_exec_fails_like_the_runtime() {
    let sb = sandbox();
    let api = Api::new(&sb, "guest");
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    zip.start_file("main", zip::write::SimpleFileOptions::default())
        .unwrap();
    std::io::Write::write_all(&mut zip, b"#!/bin/sh\necho '{}'\n").unwrap();
    let bytes = zip.finish().unwrap().into_inner();
    sb.put_native_action("guest", "noexec", bytes, json!({}), json!({}))
        .unwrap();
    let r = api.post("/namespaces/_/actions/noexec?blocking=true", json!({}));
    assert_eq!(r.status, 502);
    assert_eq!(r.body["response"]["status"], "action developer error");
    assert_eq!(
        r.body["response"]["result"]["error"],
        "The action failed to generate or locate a binary. See logs for details."
    );
    sb.put_native_action(
        "guest",
        "garbage",
        b"not a zip".to_vec(),
        json!({}),
        json!({}),
    )
    .unwrap();
    let r = api.post("/namespaces/_/actions/garbage?blocking=true", json!({}));
    assert_eq!(r.body["response"]["status"], "action developer error");
    assert!(
        api.logs_of(&r)[0]
            .as_str()
            .unwrap()
            .contains("stdout: err "),
        "{}",
        r.text
    );
}

#[test]
fn the_time_limit_kills_the_action() {
    let sb = sandbox();
    let api = Api::new(&sb, "guest");
    let r = api.put_native(
        "/namespaces/_/actions/sleepy",
        &script("echo started\nsleep 30\necho '{}'"),
        json!({"limits": {"timeout": 1000}}),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    let started = Instant::now();
    let r = api.post("/namespaces/_/actions/sleepy?blocking=true", json!({}));
    assert!(
        started.elapsed() < PATIENCE,
        "the sleeping child was killed too"
    );
    assert_eq!(r.status, 502);
    assert_eq!(r.body["response"]["status"], "action developer error");
    assert_eq!(
        r.body["response"]["result"]["error"],
        "The action exceeded its time limits of 1000 milliseconds."
    );
    assert_eq!(kv(&r.body["annotations"], "timeout"), Some(&json!(true)));
    assert!(
        api.logs_of(&r)[0]
            .as_str()
            .unwrap()
            .ends_with("stdout: started")
    );
}

#[test]
fn the_runtime_contract_environment_stdin_and_argv() {
    let sb = sandbox();
    let api = Api::new(&sb, "guest");
    let env_script = r#"IN=$(cat)
if [ "$IN" = "$1" ]; then SAME=true; else SAME=false; fi
printf '{"host":"%s","ns":"%s","name":"%s","version":"%s","aid":"%s","tid":"%s","deadline":"%s","key":"%s","argc":%s,"same":%s,"cwdExec":%s}\n' \
  "$__OW_API_HOST" "$__OW_NAMESPACE" "$__OW_ACTION_NAME" "$__OW_ACTION_VERSION" "$__OW_ACTIVATION_ID" \
  "$__OW_TRANSACTION_ID" "$__OW_DEADLINE" "${__OW_API_KEY-absent}" "$#" "$SAME" "$([ -x ./exec ] && echo true || echo false)""#;
    api.put("/namespaces/_/packages/pkg", json!({}));
    sb.put_native_action("guest", "pkg/env", script(env_script), json!({}), json!({}))
        .unwrap();
    let r = api.post(
        "/namespaces/_/actions/pkg/env?blocking=true",
        json!({"k": "v"}),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    let result = &r.body["response"]["result"];
    assert_eq!(result["host"], sb.url());
    assert_eq!(result["ns"], "guest");
    assert_eq!(result["name"], "/guest/pkg/env");
    assert_eq!(result["version"], "0.0.1");
    assert_eq!(result["aid"], r.body["activationId"]);
    assert_eq!(result["tid"].as_str().unwrap().len(), 32);
    let deadline: u64 = result["deadline"].as_str().unwrap().parse().unwrap();
    assert!(deadline >= r.body["start"].as_u64().unwrap() + 60_000 - 1);
    assert_eq!(result["key"], "absent", "no key without provide-api-key");
    assert_eq!(result["argc"], 1);
    assert_eq!(result["same"], true, "argv[1] is the stdin JSON");
    assert_eq!(result["cwdExec"], true);

    sb.put_native_action(
        "guest",
        "pkg/env",
        script(env_script),
        json!({}),
        json!({"provide-api-key": true}),
    )
    .unwrap();
    let r = api.post(
        "/namespaces/_/actions/pkg/env?blocking=true&result=true",
        json!({}),
    );
    assert_eq!(r.body["key"], sb.auth_key("guest"));
}

#[test]
fn large_parameters_come_on_stdin_only() {
    let sb = sandbox();
    let api = Api::new(&sb, "guest");
    sb.put_native_action(
        "guest",
        "count",
        script("IN=$(cat)\nprintf '{\"argc\":%s,\"len\":%s}\\n' \"$#\" \"${#IN}\""),
        json!({}),
        json!({}),
    )
    .unwrap();
    let big = "x".repeat(200_000);
    let r = api.post(
        "/namespaces/_/actions/count?blocking=true&result=true",
        json!({"big": big}),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["argc"], 0);
    assert_eq!(r.body["len"], json!({"big": big}).to_string().len());
    let r = api.post(
        "/namespaces/_/actions/count?blocking=true&result=true",
        json!({"small": 1}),
    );
    assert_eq!(r.body["argc"], 1);
}

#[test]
fn a_payload_over_one_megabyte_is_413() {
    let sb = sandbox();
    let api = Api::new(&sb, "guest");
    sb.put_native_action("guest", "echo", echo_action(), json!({}), json!({}))
        .unwrap();
    let r = api.post(
        "/namespaces/_/actions/echo",
        json!({"big": "y".repeat(1_100_000)}),
    );
    assert_eq!(r.status, 413);
}

#[test]
fn plain_text_code_runs_as_the_exec_file() {
    let sb = sandbox();
    let api = Api::new(&sb, "guest");
    let r = api.put(
        "/namespaces/_/actions/inline",
        json!({"exec": {"kind": "blackbox", "image": "openwhisk/dockerskeleton", "code": "#!/bin/sh\necho '{\"inline\":true}'\n"}}),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["exec"]["binary"], false);
    let r = api.post(
        "/namespaces/_/actions/inline?blocking=true&result=true",
        json!({}),
    );
    assert_eq!(r.body, json!({"inline": true}));
}

#[test]
fn native_kind_is_accepted_and_arrays_are_results() {
    let sb = sandbox();
    let api = Api::new(&sb, "guest");
    use base64::Engine;
    let code = base64::engine::general_purpose::STANDARD.encode(script("echo '[1,2]'"));
    let r = api.put(
        "/namespaces/_/actions/n",
        json!({"exec": {"kind": "native", "code": code}}),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["exec"]["image"], "openwhisk/dockerskeleton");
    let r = api.post(
        "/namespaces/_/actions/n?blocking=true&result=true",
        json!({}),
    );
    assert_eq!((r.status, r.body), (200, json!([1, 2])));
}

#[test]
fn updated_code_is_used_by_the_next_activation() {
    let sb = sandbox();
    let api = Api::new(&sb, "guest");
    sb.put_native_action(
        "guest",
        "v",
        script("echo '{\"v\":1}'"),
        json!({}),
        json!({}),
    )
    .unwrap();
    assert_eq!(
        api.post(
            "/namespaces/_/actions/v?blocking=true&result=true",
            json!({})
        )
        .body,
        json!({"v": 1})
    );
    sb.put_native_action(
        "guest",
        "v",
        script("echo '{\"v\":2}'"),
        json!({}),
        json!({}),
    )
    .unwrap();
    assert_eq!(
        api.post(
            "/namespaces/_/actions/v?blocking=true&result=true",
            json!({})
        )
        .body,
        json!({"v": 2})
    );
}
