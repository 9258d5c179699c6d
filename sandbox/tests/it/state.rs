//! `sandbox serve --state FILE`: every acknowledged write survives `kill -9` of the real program
//! under concurrent writers, and a file that is not a state file is refused and left alone.

use crate::deploy::scratch;
use crate::program::Program;
use crate::support::PATIENCE;
use base64::Engine;
use sandbox::GUEST_AUTH_KEY;
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

const WRITERS: usize = 20;

/// What a writer knows about one trigger after its last request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Known {
    /// Created (200 to the PUT).
    Exists,
    /// Deleted (200 or 404 to the DELETE).
    Gone,
    /// The last request got no answer: either outcome is right.
    Unknown,
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .into()
}

fn auth() -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(GUEST_AUTH_KEY)
    )
}

/// Creates triggers `{prefix}{n}` and deletes every third one again until a request fails (the
/// program was killed); what each acknowledged answer said.
fn write_until_killed(url: &str, prefix: &str, acks: &AtomicUsize) -> BTreeMap<String, Known> {
    let agent = agent();
    let mut known = BTreeMap::new();
    let base = format!("{url}/api/v1/namespaces/_/triggers");
    for n in 0.. {
        let name = format!("{prefix}{n}");
        let body = json!({"parameters": [{"key": "n", "value": n}]}).to_string();
        let created = agent
            .put(format!("{base}/{name}?overwrite=true"))
            .header("Authorization", auth())
            .header("Content-Type", "application/json")
            .send(body.as_bytes());
        match created.map(|r| r.status().as_u16()) {
            Ok(200) => {
                known.insert(name, Known::Exists);
                acks.fetch_add(1, Ordering::SeqCst);
            }
            Ok(status) => panic!("PUT {name} answered {status}"),
            Err(_) => {
                known.insert(name, Known::Unknown);
                return known;
            }
        }
        if n % 3 == 2 {
            let victim = format!("{prefix}{}", n - 1);
            let deleted = agent
                .delete(format!("{base}/{victim}"))
                .header("Authorization", auth())
                .call();
            match deleted.map(|r| r.status().as_u16()) {
                Ok(200 | 404) => {
                    known.insert(victim, Known::Gone);
                    acks.fetch_add(1, Ordering::SeqCst);
                }
                Ok(status) => panic!("DELETE {victim} answered {status}"),
                Err(_) => {
                    known.insert(victim, Known::Unknown);
                    return known;
                }
            }
        }
    }
    known
}

/// Runs the writers against `program`, kills it with SIGKILL once they have had `acks`
/// answers, and merges what they knew into `expected`.
fn round(program: Program, round: usize, acks: usize, expected: &mut BTreeMap<String, Known>) {
    let counted = Arc::new(AtomicUsize::new(0));
    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            let (url, counted) = (program.url.clone(), counted.clone());
            std::thread::spawn(move || {
                write_until_killed(&url, &format!("r{round}-w{w}-"), &counted)
            })
        })
        .collect();
    let deadline = Instant::now() + PATIENCE;
    while counted.load(Ordering::SeqCst) < acks {
        assert!(
            Instant::now() < deadline,
            "only {} writes were answered",
            counted.load(Ordering::SeqCst)
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    program.kill();
    for writer in writers {
        expected.extend(writer.join().expect("a writer finishes"));
    }
}

fn trigger_names(program: &Program) -> BTreeSet<String> {
    let (status, list) = program.get("/namespaces/_/triggers?limit=0");
    assert_eq!(status, 200, "{list}");
    list.as_array()
        .expect("a list")
        .iter()
        .filter_map(|t| t["name"].as_str().map(str::to_string))
        .collect()
}

#[test]
fn every_acknowledged_write_survives_kill_9_under_20_writers() {
    let dir = scratch("kill9");
    let state = dir.join("state.db");
    let state_arg = state.to_string_lossy().to_string();
    let log = dir.join("stderr.log");
    let mut expected = BTreeMap::new();
    for number in 0..2 {
        let program = Program::start(&["--state", &state_arg], &log);
        round(program, number, 400, &mut expected);
    }
    let program = Program::start(&["--state", &state_arg], &log);
    let present = trigger_names(&program);
    let mut lost = Vec::new();
    let mut undone = Vec::new();
    for (name, known) in &expected {
        match known {
            Known::Exists if !present.contains(name) => lost.push(name.clone()),
            Known::Gone if present.contains(name) => undone.push(name.clone()),
            _ => {}
        }
    }
    assert!(
        lost.is_empty() && undone.is_empty(),
        "acknowledged creates lost: {lost:?}; acknowledged deletes undone: {undone:?}"
    );
    let created = expected.values().filter(|k| **k == Known::Exists).count();
    let deleted = expected.values().filter(|k| **k == Known::Gone).count();
    assert!(
        created >= 200 && deleted >= 100,
        "{created} created, {deleted} deleted"
    );
    // What survived is whole.
    let sample = expected
        .iter()
        .find(|(_, k)| **k == Known::Exists)
        .map(|(name, _)| name.clone())
        .expect("a created trigger");
    let (status, trigger) = program.get(&format!("/namespaces/_/triggers/{sample}"));
    assert_eq!(status, 200);
    let n: u64 = sample
        .rsplit('-')
        .next()
        .and_then(|n| n.parse().ok())
        .expect("a number");
    assert_eq!(trigger["parameters"], json!([{"key": "n", "value": n}]));
    program.terminate();
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Runs `sandbox serve --state FILE` expecting it to refuse to start; its stderr.
fn refused_start(state: &Path) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_sandbox"))
        .args(["serve", "--port", "0", "--state"])
        .arg(state)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .output()
        .expect("the program runs");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        !out.status.success(),
        "it started on {}: {stderr}",
        state.display()
    );
    assert!(stderr.starts_with("Error:"), "{stderr}");
    stderr
}

#[test]
fn a_file_that_is_not_a_state_file_is_refused_and_left_alone() {
    let dir = scratch("foreign-state");
    let json_file = dir.join("old.json");
    std::fs::write(
        &json_file,
        br#"{"version": 1, "entities": [], "alarms": []}"#,
    )
    .unwrap();
    let text = dir.join("notes.txt");
    std::fs::write(&text, b"not a database at all\n").unwrap();
    let foreign = dir.join("other.db");
    {
        let db = rusqlite::Connection::open(&foreign).unwrap();
        db.execute_batch("CREATE TABLE notes (body TEXT); INSERT INTO notes VALUES ('mine');")
            .unwrap();
    }
    let damaged = dir.join("damaged.db");
    {
        let program = Program::start(
            &["--state", &damaged.to_string_lossy()],
            &dir.join("stderr.log"),
        );
        assert_eq!(program.put("/namespaces/_/triggers/t", json!({})).0, 200);
        program.terminate();
        let mut bytes = std::fs::read(&damaged).unwrap();
        for byte in bytes.iter_mut().skip(16).take(8192) {
            *byte = 0xA5;
        }
        std::fs::write(&damaged, bytes).unwrap();
    }
    for (file, why) in [
        (&json_file, "holds JSON"),
        (&text, "not an SQLite database"),
        (&foreign, "another program"),
        (&damaged, "damaged"),
    ] {
        let before = std::fs::read(file).unwrap();
        let stderr = refused_start(file);
        assert!(stderr.contains(why), "{}: {stderr}", file.display());
        assert!(
            stderr.contains(&file.display().to_string()),
            "names the file: {stderr}"
        );
        assert_eq!(
            std::fs::read(file).unwrap(),
            before,
            "{} untouched",
            file.display()
        );
    }
    // A state file in use by a running sandbox is refused to a second one.
    let shared = dir.join("shared.db");
    let first = Program::start(
        &["--state", &shared.to_string_lossy()],
        &dir.join("stderr.log"),
    );
    assert!(refused_start(&shared).contains("in use"));
    assert_eq!(first.get("/namespaces").0, 200, "the first one goes on");
    first.terminate();
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn alarms_and_code_survive_a_kill_too() {
    let dir = scratch("state-alarms");
    let state = dir.join("state.db");
    let state_arg = state.to_string_lossy().to_string();
    let log = dir.join("stderr.log");
    let first = Program::start(&["--state", &state_arg], &log);
    let zip = crate::support::echo_action();
    let code = base64::engine::general_purpose::STANDARD.encode(&zip);
    let (status, _) = first.put(
        "/namespaces/_/actions/echo",
        json!({"exec": {"kind": "blackbox", "image": "openwhisk/dockerskeleton", "code": code}}),
    );
    assert_eq!(status, 200);
    assert_eq!(first.put("/namespaces/_/triggers/tick", json!({})).0, 200);
    let (status, created) = first.post(
        "/namespaces/whisk.system/actions/alarms/alarm?blocking=true&result=true",
        json!({"lifecycleEvent": "CREATE", "triggerName": "/_/tick", "authKey": GUEST_AUTH_KEY,
               "cron": "0 0 1 1 *", "trigger_payload": {"kept": true}}),
    );
    assert_eq!(status, 200, "{created}");
    first.kill();
    let second = Program::start(&["--state", &state_arg], &log);
    let (status, read) = second.post(
        "/namespaces/whisk.system/actions/alarms/alarm?blocking=true&result=true",
        json!({"lifecycleEvent": "READ", "triggerName": "/_/tick", "authKey": GUEST_AUTH_KEY}),
    );
    assert_eq!(status, 200, "{read}");
    assert_eq!(read["config"]["payload"], json!({"kept": true}));
    let (status, action) = second.get("/namespaces/_/actions/echo");
    assert_eq!(status, 200);
    assert_eq!(
        action["exec"]["code"],
        Value::String(code),
        "the zip, byte for byte"
    );
    let (status, result) = second.post(
        "/namespaces/_/actions/echo?blocking=true&result=true",
        json!({"again": 1}),
    );
    assert_eq!((status, result), (200, json!({"again": 1})));
    second.terminate();
    std::fs::remove_dir_all(&dir).unwrap();
}
