//! The npm packages the tests and the demo run (pouchdb-server as CouchDB, the official
//! OpenWhisk JavaScript client, Adobe's `aio` plugin), installed on first use from the folder's
//! `package-lock.json`, so that a fresh clone needs nothing run by hand.
//!
//! [`install`] runs `npm ci` in a folder once: under an exclusive file lock (`flock`, so test
//! threads and test programs running at the same time wait for one install instead of racing
//! in the same `node_modules`), and only when `node_modules` does not hold a finished install
//! of exactly this lock file (a copy of it written after `npm ci` succeeded is the marker; an
//! interrupted or outdated install is redone).

use std::fmt;
use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};
use std::process::Command;

/// Where `npm ci` leaves the copy of the lock file it installed.
const MARKER: &str = "node_modules/.installed-package-lock.json";
/// Held while installing; beside `package-lock.json` (git ignores it).
const LOCK: &str = ".npm-install.lock";

/// Why a folder's packages could not be installed.
#[derive(Debug)]
pub enum InstallError {
    /// `node` (or `npm`) is not on this machine: callers that can do without skip, saying so.
    NodeMissing(String),
    /// The folder, its lock, or `npm ci` failed.
    Failed { dir: PathBuf, reason: String },
}

impl fmt::Display for InstallError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InstallError::NodeMissing(what) => write!(f, "{what}"),
            InstallError::Failed { dir, reason } => {
                write!(
                    f,
                    "installing the npm packages of {}: {reason}",
                    dir.display()
                )
            }
        }
    }
}

impl std::error::Error for InstallError {}

/// Whether `program --version` runs.
fn runs(program: &str) -> bool {
    Command::new(program)
        .arg("--version")
        .output()
        .is_ok_and(|output| output.status.success())
}

/// `Err(NodeMissing)` when `node` is not installed.
pub fn node() -> Result<(), InstallError> {
    if runs("node") {
        Ok(())
    } else {
        Err(InstallError::NodeMissing(
            "node is not installed (Debian: apt-get install nodejs npm)".into(),
        ))
    }
}

/// Whether `dir/node_modules` holds a finished install of `dir/package-lock.json`.
pub fn is_installed(dir: &Path) -> bool {
    match (
        std::fs::read(dir.join("package-lock.json")),
        std::fs::read(dir.join(MARKER)),
    ) {
        (Ok(lock), Ok(installed)) => lock == installed,
        _ => false,
    }
}

/// Installs `dir`'s packages as its `package-lock.json` pins them (`npm ci`), unless they are
/// already; waits while another thread or process installs them. Only the npm registry is
/// contacted, through npm.
pub fn install(dir: &Path) -> Result<(), InstallError> {
    let failed = |reason: String| InstallError::Failed {
        dir: dir.to_path_buf(),
        reason,
    };
    if is_installed(dir) {
        return Ok(());
    }
    node()?;
    if !runs("npm") {
        return Err(failed(
            "node is installed but npm is not (Debian: apt-get install npm)".into(),
        ));
    }
    let lock = lock_file(dir).map_err(|e| failed(format!("cannot open {LOCK}: {e}")))?;
    lock.lock()
        .map_err(|e| failed(format!("cannot lock {LOCK}: {e}")))?;
    // Whoever held the lock before may have installed them meanwhile.
    if is_installed(dir) {
        return Ok(());
    }
    let output = Command::new("npm")
        .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
        .current_dir(dir)
        .output()
        .map_err(|e| failed(format!("cannot run npm: {e}")))?;
    if !output.status.success() {
        return Err(failed(format!(
            "`npm ci` failed ({}):\n{}{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )));
    }
    std::fs::copy(dir.join("package-lock.json"), dir.join(MARKER))
        .map_err(|e| failed(format!("cannot mark the install done: {e}")))?;
    Ok(())
    // `lock` is released when dropped.
}

fn lock_file(dir: &Path) -> std::io::Result<File> {
    OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(dir.join(LOCK))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_install_counts_only_for_the_lock_file_it_installed() {
        let dir = std::env::temp_dir().join(format!("npm-packages-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("node_modules")).expect("dir");
        std::fs::write(dir.join("package-lock.json"), b"{\"v\": 1}").expect("lock");
        assert!(!is_installed(&dir), "no marker: not installed");
        std::fs::write(dir.join(MARKER), b"{\"v\": 1}").expect("marker");
        assert!(is_installed(&dir));
        std::fs::write(dir.join("package-lock.json"), b"{\"v\": 2}").expect("lock");
        assert!(!is_installed(&dir), "the pins changed: install again");
        std::fs::remove_dir_all(&dir).expect("clean up");
    }
}
