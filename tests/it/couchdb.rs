//! The CouchDB the Connections tests watch: pouchdb-server (npm, pinned in provider/testdb and
//! installed there on first use), in memory, on a free loopback port.

use std::fs::File;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::TempDir;

/// How long pouchdb-server may take to answer after it started (it compiles nothing, but node
/// loads a few hundred modules on a busy machine).
const START_PATIENCE: Duration = Duration::from_secs(60);

/// A pouchdb-server in memory on a free loopback port; killed on drop.
pub struct PouchDb {
    child: Child,
    pub port: u16,
    dir: TempDir,
}

impl PouchDb {
    /// `None` (saying why) when node is missing; a panic when pouchdb-server cannot be installed
    /// or started.
    pub fn start() -> Option<Self> {
        let packages = Path::new(env!("CARGO_MANIFEST_DIR")).join("provider/testdb");
        match npm_packages::install(&packages) {
            Ok(()) => {}
            Err(npm_packages::InstallError::NodeMissing(why)) => {
                eprintln!("SKIPPED: {why}, so there is no CouchDB-compatible server here");
                return None;
            }
            Err(error) => panic!("{error}"),
        }
        let script = packages.join("node_modules/pouchdb-server/bin/pouchdb-server");
        let dir = TempDir::new("pouchdb");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .map(|address| address.port())
            .expect("a free port");
        let log = File::create(dir.0.join("server.log")).expect("log file");
        let child = Command::new("node")
            .arg(&script)
            .args(["--in-memory", "--no-stdout-logs", "--host", "127.0.0.1"])
            .arg("--port")
            .arg(port.to_string())
            .arg("--config")
            .arg(dir.0.join("config.json"))
            .current_dir(&dir.0)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log file"))
            .stderr(log)
            .spawn()
            .expect("start pouchdb-server");
        let server = Self { child, port, dir };
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(5)))
            .build()
            .into();
        let started = Instant::now();
        while !agent
            .get(server.url())
            .call()
            .is_ok_and(|response| response.status() == 200)
        {
            assert!(
                started.elapsed() < START_PATIENCE,
                "pouchdb-server did not answer; its log:\n{}",
                std::fs::read_to_string(server.dir.0.join("server.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Some(server)
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

impl Drop for PouchDb {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
