//! The changes provider as a separate process (so its memory is its own), and its REST API.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use anyhow::{Context as _, bail};
use serde_json::{Value, json};

use crate::kit::TempDir;

pub const PROVIDER_SECRET: &str = "bench-provider-secret-0123456789";

/// A running provider with its own data directory; killed and removed when dropped.
pub struct Provider {
    child: Child,
    pub url: String,
    agent: ureq::Agent,
    _data: TempDir,
}

impl Provider {
    /// Starts the binary on 127.0.0.1 with an OS-picked port; its log goes to a file.
    pub fn start(binary: &Path, label: &str, extra: &[&str]) -> anyhow::Result<Provider> {
        let data = TempDir::new(label)?;
        let log = File::create(data.path().join("provider.log"))?;
        let mut child = Command::new(binary)
            .arg("--data-dir")
            .arg(data.path().join("store"))
            .args(["--listen", "127.0.0.1:0"])
            .args(extra)
            .env("CHANGES_PROVIDER_SECRET", PROVIDER_SECRET)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .with_context(|| format!("starting {}", binary.display()))?;
        let stdout = child.stdout.take().context("provider stdout")?;
        let (sender, receiver) = mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = sender.send(line);
        });
        let line = match receiver.recv_timeout(Duration::from_secs(30)) {
            Ok(line) => line,
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                bail!("the provider did not say where it listens within 30 s");
            }
        };
        let Some(url) = line.trim().strip_prefix("listening on ") else {
            let _ = child.kill();
            let _ = child.wait();
            bail!("the provider said {line:?} instead of `listening on ...`");
        };
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(60)))
            .build()
            .into();
        Ok(Provider {
            url: url.to_owned(),
            child,
            agent,
            _data: data,
        })
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
        let mut response = agent
            .put(&format!("{}/feeds/guest/{trigger}", self.url))
            .header("Authorization", &format!("Bearer {PROVIDER_SECRET}"))
            .send_json(&body)
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
