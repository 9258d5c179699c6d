//! Zips of native actions: building one (for tests) and unpacking one the way the
//! `openwhisk/dockerskeleton` proxy does.

use std::fs;
use std::io::{Cursor, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use zip::write::SimpleFileOptions;

/// A zip holding one file, `exec`, with mode 0755: what `wsk action create --native` uploads.
pub fn zip_executable(exec_bytes: &[u8]) -> Vec<u8> {
    let mut writer = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let options = SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .unix_permissions(0o755);
    // Writing into memory cannot fail for I/O reasons; a failure here is a bug in the zip crate.
    writer
        .start_file("exec", options)
        .and_then(|()| {
            writer
                .write_all(exec_bytes)
                .map_err(zip::result::ZipError::Io)
        })
        .expect("writing a zip into memory");
    writer
        .finish()
        .expect("finishing a zip in memory")
        .into_inner()
}

/// Unpacks `zip` into `dir`. Like the proxy (Python's `extractall` over an image whose `exec` is
/// already executable), every file loses its mode except `exec` at the root, which ends up 0755.
pub(crate) fn extract(zip: &[u8], dir: &Path) -> Result<(), String> {
    let mut archive = zip::ZipArchive::new(Cursor::new(zip)).map_err(|e| e.to_string())?;
    for i in 0..archive.len() {
        let mut file = archive.by_index(i).map_err(|e| e.to_string())?;
        // Entries escaping the directory (`../x`, absolute paths) are skipped, as zipfile does.
        let Some(relative) = file.enclosed_name() else {
            continue;
        };
        let target = dir.join(relative);
        if file.is_dir() {
            fs::create_dir_all(&target).map_err(|e| e.to_string())?;
            continue;
        }
        if let Some(parent) = target.parent() {
            fs::create_dir_all(parent).map_err(|e| e.to_string())?;
        }
        let mut out = fs::File::create(&target).map_err(|e| e.to_string())?;
        std::io::copy(&mut file, &mut out).map_err(|e| e.to_string())?;
        out.set_permissions(fs::Permissions::from_mode(0o644))
            .map_err(|e| e.to_string())?;
    }
    make_executable(&dir.join("exec"))
}

/// Sets 0755 on `exec` if it exists (its absence is reported by the caller).
pub(crate) fn make_executable(exec: &Path) -> Result<(), String> {
    if exec.is_file() {
        fs::set_permissions(exec, fs::Permissions::from_mode(0o755)).map_err(|e| e.to_string())?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_an_executable() {
        let dir = std::env::temp_dir().join(format!("sandbox-archive-{}", crate::clock::new_id()));
        fs::create_dir_all(&dir).unwrap();
        extract(&zip_executable(b"#!/bin/sh\necho '{}'\n"), &dir).unwrap();
        let exec = dir.join("exec");
        assert_eq!(fs::read(&exec).unwrap(), b"#!/bin/sh\necho '{}'\n");
        assert_eq!(
            fs::metadata(&exec).unwrap().permissions().mode() & 0o777,
            0o755
        );
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn rejects_what_is_not_a_zip() {
        let dir = std::env::temp_dir().join(format!("sandbox-archive-{}", crate::clock::new_id()));
        assert!(extract(b"not a zip", &dir).is_err());
    }
}
