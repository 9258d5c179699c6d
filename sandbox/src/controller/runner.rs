//! Runs native actions the way `openwhisk/dockerskeleton` does: the zip unpacked once per code
//! upload, one `exec` process per activation, parameters on stdin and argv[1], the last stdout line
//! as the result, everything else as logs, killed at the time limit.

use super::archive;
use crate::clock::log_timestamp;
use crate::model::activation::Response;
use crate::model::entities::{Code, NativeCode};
use crate::model::error::messages;
use serde_json::Value;
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime};

/// The longest argv[1] the proxy passes (MAX_ARG_STRLEN - 1); longer input goes on stdin only.
const MAX_ARG_LEN: usize = 131_071;
/// Log bytes kept per stream; beyond it lines are dropped (OpenWhisk's default log limit).
const MAX_LOG_BYTES: usize = 10 * 1024 * 1024;
const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
/// errno ETXTBSY: another thread's fork still holds the just-written `exec` open for writing.
const TEXT_FILE_BUSY: i32 = 26;

/// What one run produced.
#[derive(Debug)]
pub(crate) struct RunOutcome {
    pub response: Response,
    pub logs: Vec<String>,
    /// Milliseconds spent unpacking the code, when this run did it (a "cold start").
    pub init_ms: Option<u64>,
    pub timed_out: bool,
}

/// Unpacked code lives under one temporary directory, removed by [`Runner::remove_files`].
#[derive(Debug)]
pub(crate) struct Runner {
    root: PathBuf,
    unpacked: Mutex<HashMap<u64, PathBuf>>,
}

type Line = (SystemTime, &'static str, String);

fn format_line((at, stream, text): &Line) -> String {
    format!("{} {stream}: {}", log_timestamp(*at), text.trim())
}

impl Runner {
    pub fn new() -> std::io::Result<Runner> {
        let root = std::env::temp_dir().join(format!(
            "openwhisk-sandbox-{}-{}",
            std::process::id(),
            crate::clock::new_id()
        ));
        std::fs::create_dir_all(&root)?;
        Ok(Runner {
            root,
            unpacked: Mutex::new(HashMap::new()),
        })
    }

    pub fn remove_files(&self) {
        let _ = std::fs::remove_dir_all(&self.root);
    }

    /// The directory holding this code's `exec`, unpacking it on first use.
    fn prepare(&self, code: &NativeCode) -> Result<(PathBuf, Option<u64>), Vec<String>> {
        let mut unpacked = self.unpacked.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(dir) = unpacked.get(&code.code_id) {
            return Ok((dir.clone(), None));
        }
        let started = Instant::now();
        let dir = self.root.join(format!("code-{}", code.code_id));
        let result = std::fs::create_dir_all(&dir)
            .map_err(|e| e.to_string())
            .and_then(|()| unpack(code, &dir));
        match result {
            Ok(()) if dir.join("exec").is_file() => {
                unpacked.insert(code.code_id, dir.clone());
                Ok((dir, Some(started.elapsed().as_millis() as u64)))
            }
            outcome => {
                let _ = std::fs::remove_dir_all(&dir);
                // The proxy prints "err <reason>" when the zip does not unpack; a zip without
                // `exec` fails verification silently.
                Err(outcome
                    .err()
                    .map(|e| format!("err {e}"))
                    .into_iter()
                    .collect())
            }
        }
    }

    /// Runs one activation of `code` with `params`, `env` (the `__OW_*` variables) and a limit.
    pub fn run(
        &self,
        code: &NativeCode,
        params: &Value,
        env: &[(String, String)],
        timeout: Duration,
        shutdown: &AtomicBool,
    ) -> RunOutcome {
        let (dir, init_ms) = match self.prepare(code) {
            Ok(prepared) => prepared,
            Err(log) => {
                let now = SystemTime::now();
                return RunOutcome {
                    response: Response::developer_error(messages::NO_BINARY),
                    logs: log
                        .into_iter()
                        .map(|l| format_line(&(now, "stdout", l)))
                        .collect(),
                    init_ms: None,
                    timed_out: false,
                };
            }
        };
        let mut outcome = run_process(&dir, &params.to_string(), env, timeout, shutdown);
        outcome.init_ms = init_ms;
        outcome
    }
}

fn unpack(native: &NativeCode, dir: &Path) -> Result<(), String> {
    match &native.code {
        Code::Zip(zip) => archive::extract(zip, dir),
        Code::Text(text) => {
            // Plain code is written over the image's executable `exec`, so it stays executable.
            let exec = dir.join("exec");
            std::fs::write(&exec, text.as_bytes()).map_err(|e| e.to_string())?;
            archive::make_executable(&exec)
        }
    }
}

fn spawn(command: &mut Command) -> std::io::Result<Child> {
    let mut attempt = 0;
    loop {
        match command.spawn() {
            Err(e) if e.raw_os_error() == Some(TEXT_FILE_BUSY) && attempt < 50 => {
                attempt += 1;
                std::thread::sleep(Duration::from_millis(10));
            }
            other => return other,
        }
    }
}

/// Lines read from one stream: those kept (within the byte budget) and the very last one.
#[derive(Default)]
struct Captured {
    kept: Vec<Line>,
    last: Option<Line>,
    truncated: bool,
}

fn capture(stream: impl Read, name: &'static str) -> Captured {
    let mut reader = BufReader::new(stream);
    let mut captured = Captured::default();
    let mut bytes = 0;
    let mut buf = Vec::new();
    loop {
        buf.clear();
        match reader.read_until(b'\n', &mut buf) {
            Ok(0) | Err(_) => return captured,
            Ok(_) => {}
        }
        if buf.last() == Some(&b'\n') {
            buf.pop();
        }
        let line = (
            SystemTime::now(),
            name,
            String::from_utf8_lossy(&buf).into_owned(),
        );
        bytes += line.2.len();
        if let Some(previous) = captured.last.replace(line) {
            if bytes <= MAX_LOG_BYTES {
                captured.kept.push(previous);
            } else {
                captured.truncated = true;
            }
        }
    }
}

/// Kills the action's whole process group (a shell script's children hold its pipes too).
fn kill_group(child: &mut Child) {
    let _ = Command::new("kill")
        .args(["-s", "KILL", "--", &format!("-{}", child.id())])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    let _ = child.kill();
}

fn run_process(
    dir: &Path,
    input: &str,
    env: &[(String, String)],
    timeout: Duration,
    shutdown: &AtomicBool,
) -> RunOutcome {
    let mut command = Command::new(dir.join("exec"));
    if input.len() <= MAX_ARG_LEN {
        command.arg(input);
    }
    command
        .current_dir(dir)
        .env_clear()
        .env(
            "PATH",
            std::env::var_os("PATH").unwrap_or_else(|| DEFAULT_PATH.into()),
        )
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    let started = SystemTime::now();
    let mut child = match spawn(&mut command) {
        Ok(child) => child,
        // The proxy prints the exception and reports that no dictionary came back.
        Err(e) => {
            return RunOutcome {
                response: Response::developer_error(messages::NOT_A_DICTIONARY),
                logs: vec![format_line(&(started, "stdout", e.to_string()))],
                init_ms: None,
                timed_out: false,
            };
        }
    };
    let (stdin, stdout, stderr) = (child.stdin.take(), child.stdout.take(), child.stderr.take());
    let deadline = Instant::now() + timeout;
    let (out, err, timed_out) = std::thread::scope(|scope| {
        let writer = scope.spawn(move || {
            if let Some(mut stdin) = stdin {
                // A process that exits without reading its input is fine (EPIPE is ignored).
                let _ = stdin.write_all(input.as_bytes());
            }
        });
        let out = scope.spawn(move || stdout.map(|s| capture(s, "stdout")).unwrap_or_default());
        let err = scope.spawn(move || stderr.map(|s| capture(s, "stderr")).unwrap_or_default());
        let mut exited = false;
        let mut pause = Duration::from_millis(1);
        let timed_out = loop {
            if !exited {
                exited = matches!(child.try_wait(), Ok(Some(_)));
            }
            if exited && writer.is_finished() && out.is_finished() && err.is_finished() {
                break false;
            }
            let stopping = shutdown.load(Ordering::SeqCst);
            if stopping || Instant::now() >= deadline {
                kill_group(&mut child);
                let _ = child.wait();
                break !stopping;
            }
            std::thread::sleep(pause);
            pause = (pause * 2).min(Duration::from_millis(10));
        };
        let _ = writer.join();
        let out = out.join().unwrap_or_default();
        let err = err.join().unwrap_or_default();
        (out, err, timed_out)
    });
    finish(out, err, timed_out, timeout)
}

fn finish(out: Captured, err: Captured, timed_out: bool, timeout: Duration) -> RunOutcome {
    let mut lines = out.kept;
    let result_line = out.last;
    let mut response = None;
    if timed_out {
        lines.extend(result_line);
    } else {
        let text = result_line.as_ref().map_or("", |l| l.2.trim());
        response = serde_json::from_str::<Value>(text)
            .ok()
            .and_then(Response::from_result);
        // The proxy echoes a result line it cannot read into the logs.
        if response.is_none() && !text.is_empty() {
            lines.extend(result_line);
        }
    }
    lines.extend(err.kept);
    lines.extend(err.last);
    lines.sort_by_key(|l| l.0);
    let mut logs: Vec<String> = lines.iter().map(format_line).collect();
    if out.truncated || err.truncated {
        logs.push(format!(
            "{} stderr: Logs were truncated because the total bytes size exceeds the limit of {MAX_LOG_BYTES} bytes.",
            log_timestamp(SystemTime::now())
        ));
    }
    let response = if timed_out {
        Response::developer_error(format!(
            "{} {} milliseconds.",
            messages::TIMED_OUT_ACTIVATION,
            timeout.as_millis()
        ))
    } else {
        response.unwrap_or_else(|| Response::developer_error(messages::NOT_A_DICTIONARY))
    };
    RunOutcome {
        response,
        logs,
        init_ms: None,
        timed_out,
    }
}
