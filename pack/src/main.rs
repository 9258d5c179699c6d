//! `pack DIST BINARY...`: packs each static binary into `DIST/<name>.zip` holding one executable
//! named `exec` at its root, as the native runtime (`openwhisk/dockerskeleton`) runs it. Each zip
//! is written beside its target and renamed over it, so a reader never sees half a zip; a fixed
//! timestamp makes the same binary give the same zip. Deflate is Zopfli's (standard deflate,
//! smaller than zlib's level 9 by a few percent).

use std::io::Write;
use std::path::{Path, PathBuf};

use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, DateTime, ZipWriter};

/// Zopfli's iterations (the zip crate's levels above 9 are 9 plus iterations): past a handful,
/// the zips barely shrink while packing takes longer.
const ZOPFLI_LEVEL: i64 = 9 + 5;

fn main() {
    let mut args = std::env::args_os().skip(1);
    let (Some(dist), binaries) = (args.next(), args.map(PathBuf::from).collect::<Vec<_>>()) else {
        eprintln!("usage: pack DIST BINARY...");
        std::process::exit(2);
    };
    let dist = PathBuf::from(dist);
    // One thread a binary: Zopfli takes seconds each.
    let failures: Vec<String> = std::thread::scope(|scope| {
        let jobs: Vec<_> = binaries
            .iter()
            .map(|binary| {
                let dist = &dist;
                scope.spawn(move || {
                    pack(binary, dist).map_err(|e| format!("{}: {e}", binary.display()))
                })
            })
            .collect();
        jobs.into_iter()
            .filter_map(|job| match job.join() {
                Ok(result) => result.err(),
                Err(_) => Some("a packing thread panicked".to_owned()),
            })
            .collect()
    });
    for failure in &failures {
        eprintln!("pack: {failure}");
    }
    if !failures.is_empty() {
        std::process::exit(1);
    }
}

fn pack(binary: &Path, dist: &Path) -> Result<(), Box<dyn std::error::Error>> {
    let name = binary.file_name().ok_or("no file name")?.to_string_lossy();
    let target = dist.join(format!("{name}.zip"));
    let temporary = dist.join(format!(".{name}.zip.tmp"));
    let bytes = std::fs::read(binary)?;
    let options = SimpleFileOptions::default()
        .compression_method(CompressionMethod::Deflated)
        .compression_level(Some(ZOPFLI_LEVEL))
        .with_zopfli_buffer(Some(bytes.len().max(1)))
        .last_modified_time(DateTime::default())
        .unix_permissions(0o755);
    let mut zip = ZipWriter::new(std::fs::File::create(&temporary)?);
    zip.start_file("exec", options)?;
    zip.write_all(&bytes)?;
    zip.finish()?.sync_all()?;
    std::fs::rename(&temporary, &target)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn packs_one_executable_named_exec_that_unzips_to_the_same_bytes() {
        let dir = std::env::temp_dir().join(format!("pack-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let binary = dir.join("some-action");
        let bytes: Vec<u8> = (0..50_000u32).map(|n| (n * 7 % 251) as u8).collect();
        std::fs::write(&binary, &bytes).expect("binary");
        pack(&binary, &dir).expect("packed");
        let file = std::fs::File::open(dir.join("some-action.zip")).expect("zip");
        let mut zip = zip::ZipArchive::new(file).expect("a zip");
        assert_eq!(zip.len(), 1);
        let mut exec = zip.by_name("exec").expect("exec");
        assert_eq!(exec.unix_mode().map(|mode| mode & 0o777), Some(0o755));
        assert_eq!(exec.compression(), CompressionMethod::Deflated);
        let mut unpacked = Vec::new();
        exec.read_to_end(&mut unpacked).expect("inflates");
        assert_eq!(unpacked, bytes);
        assert!(!dir.join(".some-action.zip.tmp").exists());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
