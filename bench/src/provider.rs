//! The changes provider as a separate process (so its memory is its own), and its REST API.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use serde_json::{Value, json};

use crate::kit::TempDir;

pub const PROVIDER_SECRET: &str = "bench-provider-secret-0123456789";
/// Threads registering feeds at once.
pub const REGISTRARS: usize = 8;

/// Registers feeds `0..count` with `register(index)` from [`REGISTRARS`] threads; the first
/// failure stops them all and is the answer.
pub fn register_many(
    count: usize,
    register: impl Fn(usize) -> anyhow::Result<()> + Sync,
) -> anyhow::Result<()> {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let next = AtomicUsize::new(0);
    let failures: Vec<String> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..REGISTRARS)
            .map(|_| {
                scope.spawn(|| {
                    loop {
                        let index = next.fetch_add(1, Ordering::Relaxed);
                        if index >= count {
                            return None;
                        }
                        if let Err(error) = register(index) {
                            next.store(count, Ordering::Relaxed);
                            return Some(format!("{error:#}"));
                        }
                    }
                })
            })
            .collect();
        workers
            .into_iter()
            .filter_map(|worker| worker.join().ok().flatten())
            .collect()
    });
    match failures.first() {
        Some(failure) => bail!("{failure}"),
        None => Ok(()),
    }
}

/// Whether `done` came true within `limit`, asked every 50 ms (and once more at the end).
pub fn wait_until(limit: Duration, mut done: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if done() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    done()
}

/// A running provider (with its own data directory, or a fleet instance); killed (and its
/// directory removed) when dropped.
pub struct Provider {
    child: Child,
    pub url: String,
    agent: ureq::Agent,
    binary: std::path::PathBuf,
    args: Vec<String>,
    log: std::path::PathBuf,
    _data: Option<TempDir>,
}

impl Provider {
    /// Starts the binary on 127.0.0.1 with an OS-picked port and its own data directory; its
    /// log goes to a file.
    pub fn start(binary: &Path, label: &str, extra: &[&str]) -> anyhow::Result<Provider> {
        let data = TempDir::new(label)?;
        let mut args = vec![
            "--data-dir".to_owned(),
            data.path().join("store").display().to_string(),
        ];
        args.extend(extra.iter().map(|arg| arg.to_string()));
        let log = data.path().join("provider.log");
        Self::spawn(binary, args, log, Some(data))
    }

    /// A fleet instance with `args` (the store, the key, its id); its log goes to `log`.
    pub fn fleet(binary: &Path, args: Vec<String>, log: &Path) -> anyhow::Result<Provider> {
        Self::spawn(binary, args, log.to_path_buf(), None)
    }

    fn spawn(
        binary: &Path,
        args: Vec<String>,
        log: std::path::PathBuf,
        data: Option<TempDir>,
    ) -> anyhow::Result<Provider> {
        let child = Self::launch(binary, &args, &log)?;
        let (child, url) = Self::listening(child)?;
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(60)))
            .build()
            .into();
        Ok(Provider {
            url,
            child,
            agent,
            binary: binary.to_path_buf(),
            args,
            log,
            _data: data,
        })
    }

    fn launch(binary: &Path, args: &[String], log: &Path) -> anyhow::Result<Child> {
        let log = File::options().create(true).append(true).open(log)?;
        Command::new(binary)
            .args(args)
            .args(["--listen", "127.0.0.1:0"])
            .env("CHANGES_PROVIDER_SECRET", PROVIDER_SECRET)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .with_context(|| format!("starting {}", binary.display()))
    }

    /// Waits for `listening on URL`.
    fn listening(mut child: Child) -> anyhow::Result<(Child, String)> {
        let stdout = child.stdout.take().context("provider stdout")?;
        let (sender, receiver) = mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = sender.send(line);
        });
        let line = match receiver.recv_timeout(Duration::from_secs(60)) {
            Ok(line) => line,
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                bail!("the provider did not say where it listens within 60 s");
            }
        };
        let Some(url) = line.trim().strip_prefix("listening on ") else {
            let _ = child.kill();
            let _ = child.wait();
            bail!("the provider said {line:?} instead of `listening on ...`");
        };
        Ok((child, url.to_owned()))
    }

    /// SIGKILL, then the same program with the same arguments (and data) again.
    pub fn restart(&mut self) -> anyhow::Result<()> {
        self.kill();
        let child = Self::launch(&self.binary, &self.args, &self.log)?;
        let (child, url) = Self::listening(child).with_context(|| {
            let log = std::fs::read_to_string(&self.log).unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(5).collect();
            format!("restarting it; its log ends: {:?}", tail)
        })?;
        self.child = child;
        self.url = url;
        Ok(())
    }

    /// SIGKILL: no goodbye.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// One unlabelled metric of `/metrics` (0 when it cannot be read).
    pub fn metric(&self, name: &str) -> f64 {
        let response = self
            .agent
            .get(&format!("{}/metrics", self.url))
            .header("Authorization", &format!("Bearer {PROVIDER_SECRET}"))
            .call();
        let Ok(mut response) = response else {
            return 0.0;
        };
        let text = response.body_mut().read_to_string().unwrap_or_default();
        text.lines()
            .find_map(|line| line.strip_prefix(&format!("{name} ")))
            .and_then(|value| value.trim().parse().ok())
            .unwrap_or(0.0)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn agent(&self) -> &ureq::Agent {
        &self.agent
    }

    /// `PUT /feeds/guest/{trigger}`: a feed of `database` at `couch_url` firing at `api_host`.
    pub fn register(
        &self,
        agent: &ureq::Agent,
        trigger: &str,
        api_host: &str,
        couch_url: &str,
        database: &str,
    ) -> anyhow::Result<()> {
        let body = json!({
            "apiHost": api_host,
            "authKey": sandbox::GUEST_AUTH_KEY,
            "config": {"database": {"url": couch_url, "name": database}},
            "since": "now",
        });
        self.put_feed(agent, trigger, &body)
    }

    /// `PUT /feeds/guest/{trigger}` with a registration `body` of any source; 200 or an error.
    pub fn put_feed(&self, agent: &ureq::Agent, trigger: &str, body: &Value) -> anyhow::Result<()> {
        let mut response = agent
            .put(&format!("{}/feeds/guest/{trigger}", self.url))
            .header("Authorization", &format!("Bearer {PROVIDER_SECRET}"))
            .send_json(body)
            .with_context(|| format!("registering {trigger}"))?;
        let status = response.status().as_u16();
        if status != 200 {
            let text = response.body_mut().read_to_string().unwrap_or_default();
            bail!("registering {trigger}: HTTP {status}: {text}");
        }
        Ok(())
    }

    /// `GET /health` with the secret: counts and every feed's status.
    pub fn health(&self) -> anyhow::Result<Value> {
        let mut response = self
            .agent
            .get(&format!("{}/health", self.url))
            .header("Authorization", &format!("Bearer {PROVIDER_SECRET}"))
            .call()?;
        let text = response
            .body_mut()
            .with_config()
            .limit(256 << 20)
            .read_to_string()?;
        Ok(serde_json::from_str(&text)?)
    }
}

impl Drop for Provider {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
