//! What every end-to-end test needs: the built binaries, their zips, and a way to run an action
//! the way `openwhisk/dockerskeleton` does.

use std::collections::BTreeSet;
use std::ffi::OsStr;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;

use serde_json::Value;

/// The proxy passes the parameters as argv[1] too, unless they are longer than this.
pub const ARGV_LIMIT: usize = 131_071;

/// The path of a workspace binary (an action, the sandbox, ...), built on first use in each test
/// process. Tests in this root package cannot use `CARGO_BIN_EXE_*` for other packages' binaries,
/// so they ask cargo to build the binary into the same target directory.
pub fn workspace_bin(name: &str) -> PathBuf {
    static BUILT: Mutex<BTreeSet<String>> = Mutex::new(BTreeSet::new());
    let dir = target_profile_dir();
    let mut built = BUILT
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if !built.contains(name) {
        let mut command = Command::new(env!("CARGO"));
        command
            .args(["build", "--quiet", "--bin", name])
            .current_dir(env!("CARGO_MANIFEST_DIR"));
        // Cargo sets these for the test process; passed on, they would look like a changed
        // environment to build scripts that watch them (ring's does) and force a rebuild.
        for (variable, _) in std::env::vars_os() {
            let variable = variable.to_string_lossy();
            if [
                "CARGO_PKG_",
                "CARGO_MANIFEST_",
                "CARGO_CRATE_",
                "CARGO_BIN_",
                "CARGO_PRIMARY_",
                "CARGO_TARGET_TMPDIR",
            ]
            .iter()
            .any(|prefix| variable.starts_with(prefix))
            {
                command.env_remove(variable.as_ref());
            }
        }
        if dir.ends_with("release") {
            command.arg("--release");
        }
        let status = command.status().expect("cargo runs");
        assert!(status.success(), "building {name} failed");
        built.insert(name.to_owned());
    }
    let path = dir.join(name);
    assert!(path.is_file(), "no binary {}", path.display());
    path
}

/// `target/<profile>`: the test binary lives in `target/<profile>/deps`.
fn target_profile_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    exe.parent()
        .and_then(Path::parent)
        .expect("target/<profile>/deps/<test>")
        .to_path_buf()
}

/// The native-runtime zip of a workspace binary: one executable named `exec` at the root.
/// Stored, not deflated: debug binaries are tens of megabytes, and deflating them (then inflating
/// them again in the sandbox) in unoptimised code would dominate the tests' time.
pub fn action_zip(name: &str) -> Vec<u8> {
    let binary = std::fs::read(workspace_bin(name)).expect("read binary");
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Stored)
        .large_file(binary.len() > u32::MAX as usize)
        .unix_permissions(0o755);
    zip.start_file("exec", options).expect("zip entry");
    zip.write_all(&binary).expect("zip data");
    zip.finish().expect("zip").into_inner()
}

/// What one activation printed and answered.
#[derive(Debug)]
pub struct ActionRun {
    /// The last line of stdout, parsed (`Value::Null` when it was not JSON).
    pub result: Value,
    pub stdout: String,
    pub stderr: String,
    /// How the process ended (the runtime ignores it, but a crash shows here).
    pub status: std::process::ExitStatus,
}

impl ActionRun {
    /// The result's `error`, or "" when it has none.
    pub fn error(&self) -> &str {
        self.result["error"].as_str().unwrap_or_default()
    }

    /// Everything the activation printed: OpenWhisk keeps it as the activation's logs.
    pub fn logs(&self) -> String {
        format!("{}\n{}", self.stdout, self.stderr)
    }
}

/// Runs `binary` once as the dockerskeleton proxy does: a clean environment holding only `env`,
/// the parameters on stdin (no newline, then EOF) and as argv[1] when short enough.
pub fn run_action(binary: &Path, params: &Value, env: &[(&str, &str)]) -> ActionRun {
    let input = params.to_string();
    let mut command = Command::new(binary);
    command
        .env_clear()
        .envs(env.iter().copied())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if input.len() <= ARGV_LIMIT {
        command.arg(&input);
    }
    run_with_stdin(command, input.as_bytes())
}

/// Runs a prepared command, writing `stdin` and closing it.
pub fn run_with_stdin(mut command: Command, stdin: &[u8]) -> ActionRun {
    let mut child = command.spawn().expect("spawn action");
    let mut pipe = child.stdin.take().expect("stdin");
    let stdin = stdin.to_vec();
    let writer = std::thread::spawn(move || {
        // The action may answer without reading everything (e.g. a bad-input error).
        let _ = pipe.write_all(&stdin);
    });
    let output = child.wait_with_output().expect("action output");
    writer.join().expect("writer");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    let result = stdout
        .lines()
        .last()
        .and_then(|line| serde_json::from_str(line).ok())
        .unwrap_or(Value::Null);
    ActionRun {
        result,
        stdout,
        stderr,
        status: output.status,
    }
}

/// A directory removed when dropped.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(what: &str) -> TempDir {
        static COUNT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = COUNT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("feedkit-{what}-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// `manifest.yaml` and a `dist/` of zips (of the freshly built binaries) for every action it
/// lists, in a fresh directory: what `./build.sh` leaves, without a release build.
pub fn deployable_copy() -> TempDir {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = TempDir::new("deploy");
    std::fs::create_dir_all(dir.0.join("dist")).expect("dist");
    let text = std::fs::read_to_string(root.join("manifest.yaml")).expect("manifest.yaml");
    let manifest: Value = serde_yaml_ng::from_str(&text).expect("YAML");
    for package in manifest["packages"].as_object().expect("packages").values() {
        for name in package["actions"]
            .as_object()
            .into_iter()
            .flat_map(|a| a.keys())
        {
            std::fs::write(dir.0.join(format!("dist/{name}.zip")), action_zip(name)).expect("zip");
        }
    }
    std::fs::write(dir.0.join("manifest.yaml"), text).expect("manifest copy");
    dir
}

/// The sandbox program users run (`sandbox serve ...`), its stderr kept in a log file; killed
/// when dropped.
pub struct SandboxProgram {
    child: Child,
    /// `http://127.0.0.1:PORT`, from the program's first line.
    pub url: String,
    dir: TempDir,
}

impl SandboxProgram {
    /// `sandbox serve ARGS...` with `env` added, once it says it is `ready` (after any
    /// `--deploy` finished).
    pub fn start<S: AsRef<OsStr>>(
        args: impl IntoIterator<Item = S>,
        env: &[(&str, &str)],
    ) -> SandboxProgram {
        let dir = TempDir::new("sandbox-program");
        let log = std::fs::File::create(dir.0.join("stderr.log")).expect("log file");
        let mut child = Command::new(workspace_bin("sandbox"))
            .arg("serve")
            .args(args)
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .expect("start the sandbox program");
        let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
        let mut program = SandboxProgram {
            child,
            url: String::new(),
            dir,
        };
        stdout.read_line(&mut program.url).expect("the URL line");
        program.url = program.url.trim().to_owned();
        let mut line = String::new();
        while !line.starts_with("ready") {
            line.clear();
            if stdout.read_line(&mut line).expect("stdout") == 0 {
                panic!(
                    "the sandbox program ended before it was ready:\n{}",
                    program.log()
                );
            }
        }
        // Keep draining stdout so the program never blocks on a full pipe.
        std::thread::spawn(move || for _ in stdout.lines() {});
        program
    }

    /// What the program wrote to stderr so far (one line per fire, rule and activation).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.0.join("stderr.log")).unwrap_or_default()
    }
}

impl Drop for SandboxProgram {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
