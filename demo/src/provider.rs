//! The kit's provider service, started once for the demo: it keeps the Connections feed's
//! `_changes` connection and the kit's own alarms (`alarm-feed`).

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use anyhow::{Context as _, Result, anyhow};

const SECRET: &str = "demo-provider-secret-0123456789";

/// A child process killed when dropped.
pub(crate) struct Running(pub(crate) Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub struct Provider {
    _process: Running,
    pub url: String,
    dir: PathBuf,
}

impl Drop for Provider {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Provider {
    /// Starts the provider from beside the demo's binary, its state in a fresh directory;
    /// `Ok(Err(why))` when it is not built.
    pub fn start() -> Result<std::result::Result<Provider, String>> {
        let binary = std::env::current_exe()?.with_file_name("changes-provider");
        if !binary.is_file() {
            return Ok(Err(format!("{} is not built", binary.display())));
        }
        let dir =
            std::env::temp_dir().join(format!("feedkit-demo-provider-{}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        let mut child = Command::new(&binary)
            .arg("--data-dir")
            .arg(dir.join("store"))
            .args([
                "--listen",
                "127.0.0.1:0",
                "--heartbeat-ms",
                "1000",
                "--log",
                "warn",
            ])
            .env("CHANGES_PROVIDER_SECRET", SECRET)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .context("starting the provider")?;
        let mut line = String::new();
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| anyhow!("provider stdout"))?;
        BufReader::new(stdout).read_line(&mut line)?;
        let process = Running(child);
        let url = line
            .trim()
            .strip_prefix("listening on ")
            .ok_or_else(|| anyhow!("the provider said {line:?} instead of where it listens"))?
            .to_owned();
        Ok(Ok(Provider {
            _process: process,
            url,
            dir,
        }))
    }

    /// The manifest's `${CHANGES_PROVIDER_URL}` and `${CHANGES_PROVIDER_SECRET}` (bound into
    /// changes-feed and alarm-feed).
    pub fn var(&self, name: &str) -> Option<String> {
        match name {
            "CHANGES_PROVIDER_URL" => Some(self.url.clone()),
            "CHANGES_PROVIDER_SECRET" => Some(SECRET.to_owned()),
            _ => None,
        }
    }
}
