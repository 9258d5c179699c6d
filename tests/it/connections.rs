//! What the Connections tests share: the provider process (embedded or a fleet instance), a
//! database on pouchdb-server, a TCP forwarder that can cut a server off, the sandbox and the
//! feed action as OpenWhisk runs it, and what the triggers were fired with.

use std::collections::BTreeSet;
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use feedkit::{AuthKey, Client, ClientOptions, QualifiedName};
use sandbox::{Config, NamespaceKey, Sandbox};
use serde_json::{Value, json};

use crate::support::{ActionRun, run_action, workspace_bin};

pub(crate) const PATIENCE: Duration = Duration::from_secs(40);
pub(crate) const PROVIDER_SECRET: &str = "e2e-provider-secret-0123456789";

// --- polling, HTTP ---

/// Polls `check` until it holds; panics with `what` (and `context()`) after [`PATIENCE`].
pub(crate) fn wait_until(
    what: &str,
    mut check: impl FnMut() -> bool,
    context: impl Fn() -> String,
) {
    let start = Instant::now();
    while !check() {
        if start.elapsed() > PATIENCE {
            panic!("timed out waiting for {what}\n{}", context());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

pub(crate) fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(20)))
        .build()
        .into()
}

/// One HTTP exchange: the status and the JSON body (`Null` when there is none).
pub(crate) fn http(
    method: &str,
    url: &str,
    body: Option<&Value>,
    headers: &[(&str, &str)],
) -> (u16, Value) {
    let agent = agent();
    let result = match (method, body) {
        ("GET", _) => headers
            .iter()
            .fold(agent.get(url), |r, (k, v)| r.header(*k, *v))
            .call(),
        ("DELETE", _) => headers
            .iter()
            .fold(agent.delete(url), |r, (k, v)| r.header(*k, *v))
            .call(),
        (_, body) => {
            let request = match method {
                "PUT" => agent.put(url),
                "PATCH" => agent.patch(url),
                _ => agent.post(url),
            };
            headers
                .iter()
                .fold(request, |r, (k, v)| r.header(*k, *v))
                .send_json(body.unwrap_or(&json!({})))
        }
    };
    let mut response = result.unwrap_or_else(|error| panic!("{method} {url}: {error}"));
    let status = response.status().as_u16();
    let text = response.body_mut().read_to_string().unwrap_or_default();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

pub(crate) fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .expect("a free port")
}

pub(crate) fn now_millis() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|elapsed| elapsed.as_millis())
        .unwrap_or_default()
}

/// A database on the server, written to as `credentials` (if any).
#[derive(Clone)]
pub(crate) struct Db {
    pub(crate) url: String,
    pub(crate) name: String,
    pub(crate) credentials: Option<(String, String)>,
}

impl Db {
    pub(crate) fn headers(&self) -> Vec<(&'static str, String)> {
        match &self.credentials {
            // Basic auth is what OpenWhisk keys use too.
            Some((user, password)) => vec![(
                "Authorization",
                AuthKey::parse(&format!("{user}:{password}"))
                    .expect("credentials")
                    .basic_authorization(),
            )],
            None => Vec::new(),
        }
    }

    pub(crate) fn call(&self, method: &str, path: &str, body: Option<&Value>) -> (u16, Value) {
        let headers = self.headers();
        let headers: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
        http(
            method,
            &format!("{}/{}{path}", self.url, self.name),
            body,
            &headers,
        )
    }

    pub(crate) fn create(url: &str, name: &str, credentials: Option<(&str, &str)>) -> Self {
        let db = Self {
            url: url.to_owned(),
            name: name.to_owned(),
            credentials: credentials.map(|(u, p)| (u.to_owned(), p.to_owned())),
        };
        let (status, body) = db.call("PUT", "", Some(&json!({})));
        assert_eq!(status, 201, "creating database {name}: {body}");
        db
    }

    pub(crate) fn put(&self, id: &str) {
        let (status, body) = self.call(
            "PUT",
            &format!("/{id}"),
            Some(&json!({"id": id, "kind": "test"})),
        );
        assert_eq!(status, 201, "writing {id}: {body}");
    }

    pub(crate) fn put_doc(&self, id: &str, doc: Value) {
        let (status, body) = self.call("PUT", &format!("/{id}"), Some(&doc));
        assert_eq!(status, 201, "writing {id}: {body}");
    }

    pub(crate) fn bulk(&self, ids: &[String]) {
        let docs: Vec<Value> = ids
            .iter()
            .map(|id| json!({"_id": id, "kind": "bulk"}))
            .collect();
        let (status, body) = self.call("POST", "/_bulk_docs", Some(&json!({"docs": docs})));
        assert_eq!(status, 201, "bulk write: {body}");
    }
}

// --- the provider process ---

/// The provider binary with its data directory; SIGKILLed on drop.
pub(crate) struct ProviderProcess {
    child: Child,
    _stdout: BufReader<ChildStdout>,
    pub(crate) url: String,
    pub(crate) port: u16,
    log: PathBuf,
}

impl ProviderProcess {
    /// Secret [`PROVIDER_SECRET`], data in `data`, on `port` (0: a free one).
    pub(crate) fn start(data: &Path, port: u16) -> Self {
        Self::embedded(data, port, &[])
    }

    /// An embedded instance (data in `data`) with `extra` arguments.
    pub(crate) fn embedded(data: &Path, port: u16, extra: &[&str]) -> Self {
        let mut args = vec!["--data-dir".to_owned(), data.display().to_string()];
        args.extend(["--workers".to_owned(), "2".to_owned()]);
        args.extend(extra.iter().map(|arg| arg.to_string()));
        Self::start_with(&args, &data.with_extension("log"), port)
    }

    /// A fleet instance on the registry database `database` at `couch_url`, sealing with
    /// `key_file`, with a lease of `lease_ms`; `extra` arguments after those.
    pub(crate) fn fleet(
        couch_url: &str,
        database: &str,
        key_file: &Path,
        lease_ms: u64,
        log: &Path,
        extra: &[&str],
    ) -> Self {
        let mut args: Vec<String> = [
            "--couchdb-url",
            couch_url,
            "--couchdb-database",
            database,
            "--buckets",
            "16",
            "--save-interval-ms",
            "100",
            "--workers",
            "1",
        ]
        .iter()
        .map(|arg| arg.to_string())
        .collect();
        args.extend([
            "--key-file".to_owned(),
            key_file.display().to_string(),
            "--lease-ms".to_owned(),
            lease_ms.to_string(),
        ]);
        args.extend(extra.iter().map(|arg| arg.to_string()));
        Self::start_with(&args, log, 0)
    }

    /// The binary with `args` (plus the tests' short heartbeat and retries), its log appended
    /// to `log`.
    pub(crate) fn start_with(args: &[String], log: &Path, port: u16) -> Self {
        let log = log.to_path_buf();
        let stderr = File::options()
            .create(true)
            .append(true)
            .open(&log)
            .expect("log file");
        let mut child = Command::new(workspace_bin("changes-provider"))
            .args(args)
            .arg("--listen")
            .arg(format!("127.0.0.1:{port}"))
            .args([
                "--heartbeat-ms",
                "500",
                "--retry-min-ms",
                "50",
                "--retry-max-ms",
                "400",
            ])
            .env("CHANGES_PROVIDER_SECRET", PROVIDER_SECRET)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .expect("start the provider");
        let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
        let mut line = String::new();
        stdout
            .read_line(&mut line)
            .expect("the provider's first line");
        let url = line
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| {
                panic!(
                    "unexpected first line {line:?}; log:\n{}",
                    std::fs::read_to_string(&log).unwrap_or_default()
                )
            })
            .to_owned();
        let port = url
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .expect("port");
        Self {
            child,
            _stdout: stdout,
            url,
            port,
            log,
        }
    }

    /// Sends a signal (`STOP`, `CONT`, `TERM`) to the process.
    #[allow(unsafe_code)]
    pub(crate) fn signal(&self, name: &str) {
        let signal = match name {
            "STOP" => libc::SIGSTOP,
            "CONT" => libc::SIGCONT,
            "TERM" => libc::SIGTERM,
            other => panic!("no signal {other} here"),
        };
        let pid = libc::pid_t::try_from(self.child.id()).expect("a pid");
        // SAFETY: kill(2) takes plain integers; the pid is our own child's, not yet reaped.
        let sent = unsafe { libc::kill(pid, signal) };
        assert_eq!(sent, 0, "kill -{name} failed");
    }

    /// SIGTERM, then waits for the process to exit (a clean stop).
    pub(crate) fn stop(mut self) {
        self.signal("TERM");
        let _ = self.child.wait();
    }

    /// `/metrics` as text.
    pub(crate) fn metrics(&self) -> String {
        let authorization = format!("Bearer {PROVIDER_SECRET}");
        let response = agent()
            .get(format!("{}/metrics", self.url))
            .header("Authorization", &authorization)
            .call();
        match response {
            Ok(mut response) if response.status() == 200 => {
                response.body_mut().read_to_string().unwrap_or_default()
            }
            _ => String::new(),
        }
    }

    /// One unlabelled metric's value (0 when absent).
    pub(crate) fn metric(&self, name: &str) -> f64 {
        self.metrics()
            .lines()
            .find_map(|line| line.strip_prefix(&format!("{name} ")))
            .and_then(|value| value.trim().parse().ok())
            .unwrap_or(0.0)
    }

    /// SIGKILL: no chance to flush or say goodbye.
    pub(crate) fn kill(mut self) -> u16 {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.port
    }

    pub(crate) fn logs(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub(crate) fn health(&self) -> Value {
        let authorization = format!("Bearer {PROVIDER_SECRET}");
        let (status, body) = http(
            "GET",
            &format!("{}/health", self.url),
            None,
            &[("Authorization", &authorization)],
        );
        assert_eq!(status, 200, "{body}");
        body
    }
}

impl Drop for ProviderProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// --- OpenWhisk side ---

/// The other namespace's key: a well-formed key that owns nothing of guest's.
pub(crate) const OTHER_KEY: &str = "7b4c1e3a-0d5f-4a39-9d7e-3f2b8c6a1d90:other-namespace-key";

pub(crate) fn sandbox() -> Sandbox {
    let mut config = Config {
        fire_limit_per_minute: 0,
        ..Config::default()
    };
    config
        .namespaces
        .push(NamespaceKey::new("other", OTHER_KEY));
    Sandbox::start(config).expect("sandbox")
}

pub(crate) fn client(sb: &Sandbox) -> Client {
    let key = AuthKey::parse(&sb.auth_key("guest")).expect("key");
    Client::new(&sb.url(), key, ClientOptions::default()).expect("client")
}

pub(crate) fn create_trigger(sb: &Sandbox, name: &str) {
    let body = json!({"annotations": [{"key": "feed", "value": "/guest/changes/changes-feed"}]});
    client(sb)
        .put_trigger(&trigger_name(name), &body, false)
        .expect("create trigger");
}

pub(crate) fn trigger_name(name: &str) -> QualifiedName {
    QualifiedName::parse(&format!("/guest/{name}")).expect("name")
}

/// Runs the feed action once for `trigger`, as OpenWhisk would with the package-bound
/// provider parameters.
pub(crate) fn feed(
    sb: &Sandbox,
    provider_url: &str,
    event: &str,
    trigger: &str,
    extra: Value,
) -> ActionRun {
    provider_feed("changes-feed", sb, provider_url, event, trigger, extra)
}

/// Runs the provider feed action `action` (changes-feed, alarm-feed) once for `trigger`, as
/// OpenWhisk would with the package-bound provider parameters.
pub(crate) fn provider_feed(
    action: &str,
    sb: &Sandbox,
    provider_url: &str,
    event: &str,
    trigger: &str,
    extra: Value,
) -> ActionRun {
    let mut params = json!({
        "lifecycleEvent": event,
        "triggerName": format!("/_/{trigger}"),
        "authKey": sb.auth_key("guest"),
        "providerUrl": provider_url,
        "providerSecret": PROVIDER_SECRET,
    });
    if let (Some(params), Value::Object(extra)) = (params.as_object_mut(), extra) {
        params.extend(extra);
    }
    let deadline = (now_millis() + 60_000).to_string();
    let api_host = sb.url();
    run_action(
        &workspace_bin(action),
        &params,
        &[
            ("__OW_API_HOST", api_host.as_str()),
            ("__OW_NAMESPACE", "guest"),
            ("__OW_DEADLINE", deadline.as_str()),
        ],
    )
}

pub(crate) fn ok(run: ActionRun) -> Value {
    assert_eq!(run.error(), "", "the action failed: {}", run.logs());
    run.result
}

/// The ids of every change a trigger was fired with successfully (one change or a batch).
pub(crate) fn fired_ids(sb: &Sandbox, trigger: &str) -> BTreeSet<String> {
    let mut ids = BTreeSet::new();
    for fire in sb.fires("guest", trigger) {
        if !(200..300).contains(&fire.status) {
            continue;
        }
        let changes = match fire.payload.get("results").and_then(Value::as_array) {
            Some(results) => results.clone(),
            None => vec![fire.payload.clone()],
        };
        for change in changes {
            if let Some(id) = change["id"].as_str() {
                ids.insert(id.to_owned());
            }
        }
    }
    ids
}

pub(crate) fn has_all(fired: &BTreeSet<String>, ids: &[String]) -> bool {
    ids.iter().all(|id| fired.contains(id))
}

pub(crate) fn names(prefix: &str, count: usize) -> Vec<String> {
    (0..count).map(|i| format!("{prefix}-{i:03}")).collect()
}

/// A TCP forwarder in front of the database that can be cut and brought back on the same port:
/// the database "going away" without losing its (in-memory) contents.
pub(crate) struct Outage {
    pub(crate) port: u16,
    target: u16,
    running: Arc<AtomicBool>,
    connections: Arc<Mutex<Vec<TcpStream>>>,
    acceptor: Option<JoinHandle<()>>,
}

impl Outage {
    pub(crate) fn new(target: u16) -> Self {
        let mut proxy = Self {
            port: 0,
            target,
            running: Arc::new(AtomicBool::new(false)),
            connections: Arc::new(Mutex::new(Vec::new())),
            acceptor: None,
        };
        proxy.up();
        proxy
    }

    pub(crate) fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub(crate) fn up(&mut self) {
        let listener = TcpListener::bind(("127.0.0.1", self.port)).expect("bind the proxy");
        self.port = listener.local_addr().expect("address").port();
        self.running.store(true, Ordering::SeqCst);
        let (running, connections, target) =
            (self.running.clone(), self.connections.clone(), self.target);
        self.acceptor = Some(std::thread::spawn(move || {
            for client in listener.incoming() {
                if !running.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(client) = client else { continue };
                let Ok(server) = TcpStream::connect(("127.0.0.1", target)) else {
                    continue;
                };
                let mut all = connections.lock().expect("connections");
                for (from, to) in [(&client, &server), (&server, &client)] {
                    let (Ok(mut from), Ok(mut to)) = (from.try_clone(), to.try_clone()) else {
                        continue;
                    };
                    std::thread::spawn(move || {
                        let _ = std::io::copy(&mut from, &mut to);
                        let _ = to.shutdown(Shutdown::Write);
                    });
                }
                all.push(client);
                all.push(server);
            }
        }));
    }

    /// Closes the port and every connection through it.
    pub(crate) fn down(&mut self) {
        self.running.store(false, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        if let Some(acceptor) = self.acceptor.take() {
            let _ = acceptor.join();
        }
        for stream in self.connections.lock().expect("connections").drain(..) {
            let _ = stream.shutdown(Shutdown::Both);
        }
    }
}

impl Drop for Outage {
    fn drop(&mut self) {
        self.down();
    }
}
