//! What the benchmark runs: the `exec` of every zip in `dist/` (exactly what the native runtime
//! would run), the floor binary built with the same flags, and the changes provider.

use std::collections::BTreeMap;
use std::fs;
use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use anyhow::{Context as _, bail};

/// The static target build.sh builds the actions for.
pub const STATIC_TARGET: &str = "x86_64-unknown-linux-gnu";

/// A scratch directory removed (with everything in it) when dropped.
#[derive(Debug)]
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(label: &str) -> anyhow::Result<TempDir> {
        // Numbered: two kits (`--before`) or two worlds ask for the same label, and a shared
        // path would let the second wipe the first's files (its unpacked execs among them).
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let number = NEXT.fetch_add(1, Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!(
            "feedkit-bench-{}-{number}-{label}",
            std::process::id()
        ));
        let _ = fs::remove_dir_all(&path);
        fs::create_dir_all(&path).with_context(|| format!("creating {}", path.display()))?;
        Ok(TempDir(path))
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

#[derive(Debug)]
pub struct Kit {
    /// `dist/NAME.zip` of every action, by name.
    pub zips: BTreeMap<String, PathBuf>,
    /// The bytes of every zip, read once (other builds may rewrite `dist/` while this runs).
    zip_bytes: BTreeMap<String, Vec<u8>>,
    /// The unpacked `exec` of every zip, by action name.
    pub execs: BTreeMap<String, PathBuf>,
    pub floor: PathBuf,
    pub provider: PathBuf,
    /// The `sandbox` program.
    pub sandbox: PathBuf,
    /// Holds the unpacked execs.
    _unpacked: TempDir,
}

impl Kit {
    /// Finds everything `bench.sh` builds (the zips in `dist`, or `dist/` of the workspace; the
    /// provider binary given, or the workspace's release build); says how to build what is
    /// missing.
    pub fn locate(dist: Option<&Path>, provider: Option<&Path>) -> anyhow::Result<Kit> {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .context("the bench crate sits in the workspace")?
            .to_path_buf();
        let hint =
            "run ./bench.sh (it runs build.sh and builds the floor, the provider and the sandbox)";
        let mut zips = BTreeMap::new();
        let dist = dist.map_or_else(|| root.join("dist"), Path::to_path_buf);
        for entry in
            fs::read_dir(&dist).with_context(|| format!("no {}: {hint}", dist.display()))?
        {
            let path = entry?.path();
            if path.extension().is_some_and(|ext| ext == "zip")
                && let Some(name) = path.file_stem().and_then(|s| s.to_str())
            {
                zips.insert(name.to_owned(), path.clone());
            }
        }
        for needed in ["hook-feed", "poll-feed", "pollMyService", "changes-feed"] {
            if !zips.contains_key(needed) {
                bail!("{}/{needed}.zip is missing: {hint}", dist.display());
            }
        }
        let unpacked = TempDir::new("execs")?;
        let mut execs = BTreeMap::new();
        let mut zip_bytes = BTreeMap::new();
        for (name, zip) in &zips {
            let bytes = fs::read(zip).with_context(|| format!("reading {}", zip.display()))?;
            let target = unpacked.path().join(name);
            unpack_exec(&bytes, zip, &target)?;
            execs.insert(name.clone(), target);
            zip_bytes.insert(name.clone(), bytes);
        }
        let floor = root.join(format!("target/{STATIC_TARGET}/release/bench-floor"));
        let provider = provider.map_or_else(
            || root.join("target/release/changes-provider"),
            Path::to_path_buf,
        );
        let sandbox = root.join("target/release/sandbox");
        for (path, what) in [
            (&floor, "the floor binary"),
            (&provider, "the changes provider"),
            (&sandbox, "the sandbox program"),
        ] {
            if !path.is_file() {
                bail!("{what} ({}) is missing: {hint}", path.display());
            }
        }
        Ok(Kit {
            zips,
            zip_bytes,
            execs,
            floor,
            provider,
            sandbox,
            _unpacked: unpacked,
        })
    }

    /// Whether the kit has the action (an earlier build may not).
    pub fn has(&self, action: &str) -> bool {
        self.execs.contains_key(action)
    }

    pub fn exec(&self, action: &str) -> &Path {
        &self.execs[action]
    }

    pub fn zip_bytes(&self, action: &str) -> Vec<u8> {
        self.zip_bytes[action].clone()
    }

    /// The size of a zip as it was read.
    pub fn zip_size(&self, action: &str) -> u64 {
        self.zip_bytes[action].len() as u64
    }
}

/// Writes the zip's `exec` to `target`, executable, as the runtime's proxy unpacks it.
fn unpack_exec(bytes: &[u8], zip: &Path, target: &Path) -> anyhow::Result<()> {
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes))
        .with_context(|| format!("{} is not a zip", zip.display()))?;
    let mut exec = archive
        .by_name("exec")
        .with_context(|| format!("{} has no `exec` at its root", zip.display()))?;
    let mut unpacked = Vec::new();
    exec.read_to_end(&mut unpacked)?;
    fs::write(target, unpacked)?;
    fs::set_permissions(target, fs::Permissions::from_mode(0o755))?;
    Ok(())
}
