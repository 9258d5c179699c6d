//! The `sandbox` program through real HTTP: `serve --port 0` with a manifest deployed, used over
//! the REST API, stopped, and started again on its `--state` file with nothing lost.

use crate::deploy::{scratch, write_kit};
use crate::support::PATIENCE;
use base64::Engine;
use sandbox::GUEST_AUTH_KEY;
use serde_json::{Value, json};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// A running `sandbox serve`, killed on drop.
pub struct Program {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    /// The lines it printed up to `ready`.
    pub banner: Vec<String>,
}

impl Drop for Program {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Program {
    /// Starts `sandbox serve --port 0 ARGS` and reads its output up to the `ready` line.
    pub fn start(args: &[&str], stderr_log: &Path) -> Program {
        let mut child = Command::new(env!("CARGO_BIN_EXE_sandbox"))
            .args(["serve", "--port", "0"])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(stderr_log).expect("a log file"))
            .spawn()
            .expect("the sandbox program starts");
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut banner = Vec::new();
        let deadline = Instant::now() + PATIENCE;
        let mut program = Program {
            child,
            url: String::new(),
            banner: Vec::new(),
        };
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(line) => {
                    let ready = line.starts_with("ready");
                    banner.push(line);
                    if ready {
                        break;
                    }
                }
                Err(_) => panic!(
                    "the program did not get ready; it printed {banner:?} and logged {:?}",
                    std::fs::read_to_string(stderr_log).unwrap_or_default()
                ),
            }
        }
        program.url = banner[0].clone();
        program.banner = banner;
        program
    }

    /// Kills the program outright (SIGKILL), as a crash would.
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// The program's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Stops the program with SIGTERM (as Ctrl-C would) and checks that it exits cleanly.
    pub fn terminate(mut self) {
        let pid = self.child.id().to_string();
        let sent = Command::new("kill").args(["-TERM", &pid]).status();
        assert!(sent.is_ok_and(|s| s.success()), "kill -TERM {pid}");
        let deadline = Instant::now() + PATIENCE;
        loop {
            if let Some(status) = self.child.try_wait().expect("waiting for the program") {
                assert!(
                    status.success(),
                    "the program exits cleanly on SIGTERM: {status}"
                );
                return;
            }
            assert!(
                Instant::now() < deadline,
                "the program did not stop on SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn request(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(120)))
            .build()
            .into();
        let auth = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(GUEST_AUTH_KEY)
        );
        let url = format!("{}{path}", self.url);
        let body = body.map(|b| b.to_string()).unwrap_or_default();
        let request = ureq::http::Request::builder()
            .method(method)
            .uri(url)
            .header("Authorization", auth)
            .header("Content-Type", "application/json")
            .body(body.into_bytes())
            .expect("a valid request");
        let mut response = agent.run(request).expect("the program answers");
        let status = response.status().as_u16();
        let text = response.body_mut().read_to_string().unwrap_or_default();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    pub fn get(&self, path: &str) -> (u16, Value) {
        self.request("GET", &format!("/api/v1{path}"), None)
    }

    pub fn put(&self, path: &str, body: Value) -> (u16, Value) {
        self.request("PUT", &format!("/api/v1{path}"), Some(body))
    }

    pub fn post(&self, path: &str, body: Value) -> (u16, Value) {
        self.request("POST", &format!("/api/v1{path}"), Some(body))
    }
}

fn names(list: &Value) -> Vec<String> {
    let mut names: Vec<String> = list
        .as_array()
        .expect("a list")
        .iter()
        .map(
            |e| match e["namespace"].as_str().and_then(|ns| ns.split_once('/')) {
                Some((_, pkg)) => format!("{pkg}/{}", e["name"].as_str().unwrap_or_default()),
                None => e["name"].as_str().unwrap_or_default().to_string(),
            },
        )
        .collect();
    names.sort();
    names
}

#[test]
fn serves_a_deployed_kit_and_keeps_everything_across_a_restart() {
    let dir = scratch("program");
    let manifest = write_kit(&dir);
    let state = dir.join("state.db");
    let log = dir.join("stderr.log");
    let (state_arg, manifest_arg) = (state.to_string_lossy(), manifest.to_string_lossy());
    let first = Program::start(&["--state", &state_arg, "--deploy", &manifest_arg], &log);
    assert!(
        first.url.starts_with("http://127.0.0.1:"),
        "{:?}",
        first.banner
    );
    let paste = format!(
        "wsk property set --apihost {} --auth {GUEST_AUTH_KEY}",
        first.url
    );
    assert!(first.banner.contains(&paste), "{:?}", first.banner);
    assert!(
        first
            .banner
            .iter()
            .any(|l| l.contains("feeds: custom <- /guest/kit/feed")),
        "{:?}",
        first.banner
    );

    let (status, actions) = first.get("/namespaces/_/actions");
    assert_eq!(status, 200);
    assert_eq!(names(&actions), ["kit/echo", "kit/feed", "kit/web"]);
    let (status, fired) = first.post("/namespaces/_/triggers/plain", json!({"x": 1}));
    assert_eq!(status, 202, "{fired}");
    let deadline = Instant::now() + PATIENCE;
    let run = loop {
        let (_, list) = first.get("/namespaces/_/activations?name=kit/echo&docs=true");
        if let Some(run) = list.as_array().and_then(|l| l.first()).cloned() {
            break run;
        }
        assert!(Instant::now() < deadline, "the rule never ran echo");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(run["response"]["result"]["x"], 1);
    assert_eq!(run["response"]["result"]["p"], 1);

    // Changes made over the API are kept too.
    let (status, _) = first.put(
        "/namespaces/_/packages/mine",
        json!({"binding": {"namespace": "guest", "name": "kit"}}),
    );
    assert_eq!(status, 200);
    assert_eq!(first.put("/namespaces/_/triggers/later", json!({})).0, 200);
    let (status, _) = first.put(
        "/namespaces/_/rules/later-rule",
        json!({"trigger": "/_/later", "action": "/_/kit/echo"}),
    );
    assert_eq!(status, 200);
    assert_eq!(
        first
            .post(
                "/namespaces/_/rules/later-rule",
                json!({"status": "inactive"})
            )
            .0,
        200
    );
    // Killed outright: each change was durable before it was answered.
    first.kill();

    let second = Program::start(&["--state", &state_arg], &log);
    let (_, actions) = second.get("/namespaces/_/actions");
    assert_eq!(names(&actions), ["kit/echo", "kit/feed", "kit/web"]);
    let (status, result) = second.post(
        "/namespaces/_/actions/kit/echo?blocking=true&result=true",
        json!({"again": true}),
    );
    assert_eq!(status, 200, "the code was kept: {result}");
    assert_eq!(result["greeting"], "hello");
    let (_, triggers) = second.get("/namespaces/_/triggers");
    assert_eq!(names(&triggers), ["custom", "later", "plain", "tick"]);
    let (_, rule) = second.get("/namespaces/_/rules/later-rule");
    assert_eq!(rule["status"], "inactive");
    let (_, rule) = second.get("/namespaces/_/rules/on-plain");
    assert_eq!(rule["status"], "active");
    let (_, binding) = second.get("/namespaces/_/packages/mine");
    assert_eq!(
        binding["binding"],
        json!({"namespace": "guest", "name": "kit"})
    );
    let (status, read) = second.post(
        "/namespaces/whisk.system/actions/alarms/interval?blocking=true&result=true",
        json!({"lifecycleEvent": "READ", "triggerName": "/_/tick", "authKey": GUEST_AUTH_KEY}),
    );
    assert_eq!(status, 200, "the alarm was kept: {read}");
    assert_eq!(read["config"]["minutes"], 1);
    assert_eq!(read["config"]["payload"], json!({"from": "alarm"}));
    assert_eq!(read["status"]["active"], true);
    let (status, _) = second.request("GET", "/api/v1/web/guest/kit/web.json", None);
    assert_eq!(status, 200, "web actions are served");
    second.terminate();
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn bad_command_lines_fail_with_a_message() {
    for args in [
        vec!["serve", "--port", "nope"],
        vec!["serve", "--bogus"],
        vec!["frobnicate"],
        vec![
            "serve",
            "--port",
            "0",
            "--deploy",
            "/nonexistent/manifest.yaml",
        ],
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_sandbox"))
            .args(&args)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert!(!out.status.success(), "{args:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.to_lowercase().starts_with("error:"),
            "{args:?}: {stderr}"
        );
    }
    let help = Command::new(env!("CARGO_BIN_EXE_sandbox"))
        .args(["serve", "--help"])
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&help.stdout);
    for option in [
        "--state <FILE>",
        "--keep-activations <N>",
        "--keep-fires <N>",
    ] {
        assert!(help.contains(option), "{help}");
    }
}

/// `node` on `tests/js/client.mjs` against the program: the official OpenWhisk JavaScript client
/// (npm `openwhisk`, pinned in sandbox/tests/js and installed there on first use).
#[test]
fn the_official_javascript_client_works_against_the_sandbox() {
    let js = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/js");
    match npm_packages::install(&js) {
        Ok(()) => {}
        Err(npm_packages::InstallError::NodeMissing(why)) => {
            eprintln!("SKIPPED: {why}; the official JavaScript client test needs it");
            return;
        }
        Err(error) => panic!("{error}"),
    }
    let dir = scratch("js-client");
    let program = Program::start(&[], &dir.join("stderr.log"));
    let out = Command::new("node")
        .arg("client.mjs")
        .current_dir(&js)
        .env("SANDBOX_URL", &program.url)
        .env("SANDBOX_KEY", GUEST_AUTH_KEY)
        .stdin(Stdio::null())
        .output()
        .expect("node runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("all steps passed"),
        "the JavaScript client failed:\n{stdout}\n{}\nsandbox log:\n{}",
        String::from_utf8_lossy(&out.stderr),
        std::fs::read_to_string(dir.join("stderr.log")).unwrap_or_default()
    );
    drop(program);
    std::fs::remove_dir_all(&dir).unwrap();
}
