//! Small file-system helpers the ledger and config share: private folders, atomic writes.

use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

/// Create `dir` and its parents with mode 0700 (existing folders are left as they are).
pub fn create_private_dir(dir: &Path) -> io::Result<()> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

/// Write `bytes` to `path` so that a reader sees either the old content or the new, never a
/// mix: write a temporary file beside it (mode 0600), then rename over. No fsync: what this
/// writes are caches that can be rebuilt, and the hot paths cannot pay for a disk flush.
/// Remove the temp files [`write_atomic`] leaves in `dir` when its writer is killed between
/// writing and renaming (`.<name>.<pid>.<n>.tmp`), once they are older than `age`.
pub fn sweep_temp_files(dir: &Path, age: std::time::Duration) -> usize {
    let mut removed = 0;
    for e in fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .take(100_000)
    {
        let name = e.file_name();
        let name = name.to_string_lossy();
        if !(name.starts_with('.') && name.ends_with(".tmp")) {
            continue;
        }
        let old = e
            .metadata()
            .ok()
            .filter(fs::Metadata::is_file)
            .and_then(|m| m.modified().ok())
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|a| a > age);
        if old && fs::remove_file(e.path()).is_ok() {
            removed += 1;
        }
    }
    removed
}

pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(
        ".{name}.{}.{}.tmp",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let result = (|| {
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)?;
        f.write_all(bytes)?;
        drop(f);
        fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// `s` as a file name: ASCII letters, digits, `-` and `_` kept, anything else `_`, at most
/// `max` characters.
pub fn safe_name(s: &str, max: usize) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .take(max)
        .collect()
}

/// Read `path` if it is a regular file, at most `max` bytes (`Ok(None)` when it is not a regular
/// file: a FIFO, a device, a socket or a folder). Opened without blocking and without following
/// a final symlink to something else than a regular file, so a FIFO named as a patch or a link
/// to `/dev/zero` can neither hang nor flood a hook.
pub fn read_regular(path: &Path, max: u64) -> io::Result<Option<Vec<u8>>> {
    use std::io::Read;
    let f = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)?;
    let meta = f.metadata()?;
    if !meta.file_type().is_file() {
        return Ok(None);
    }
    let mut bytes = Vec::with_capacity(meta.len().min(max) as usize);
    f.take(max).read_to_end(&mut bytes)?;
    Ok(Some(bytes))
}

/// [`read_regular`] as text (lossy UTF-8).
pub fn read_regular_text(path: &Path, max: u64) -> Option<String> {
    let bytes = read_regular(path, max).ok()??;
    Some(
        String::from_utf8(bytes)
            .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_old_temp_files_are_swept() {
        let d = tempfile::tempdir().unwrap();
        let old = d.path().join(".totals.json.123.0.tmp");
        let fresh = d.path().join(".totals.json.124.0.tmp");
        let kept = d.path().join("totals.json");
        for p in [&old, &fresh, &kept] {
            fs::write(p, "x").unwrap();
        }
        let two_hours_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(7200);
        for p in [&old, &kept] {
            fs::File::options()
                .write(true)
                .open(p)
                .unwrap()
                .set_modified(two_hours_ago)
                .unwrap();
        }
        assert_eq!(
            sweep_temp_files(d.path(), std::time::Duration::from_secs(3600)),
            1
        );
        assert!(!old.exists() && fresh.exists() && kept.exists());
    }
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn atomic_write_replaces_and_is_private() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.json");
        write_atomic(&p, b"one").unwrap();
        write_atomic(&p, b"two").unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"two");
        assert_eq!(
            fs::metadata(&p).unwrap().permissions().mode() & 0o777,
            0o600
        );
        let leftovers: Vec<_> = fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(leftovers.len(), 1, "no temp files left behind");
    }

    #[test]
    fn only_regular_files_are_read_and_never_block() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("p.patch");
        let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        assert_eq!(read_regular(&fifo, 10).unwrap(), None, "a FIFO is not read");
        let zero = dir.path().join("z.md");
        std::os::unix::fs::symlink("/dev/zero", &zero).unwrap();
        assert_eq!(
            read_regular(&zero, 10).unwrap(),
            None,
            "a device is not read"
        );
        let f = dir.path().join("a.txt");
        fs::write(&f, b"hello world").unwrap();
        assert_eq!(read_regular(&f, 5).unwrap().unwrap(), b"hello");
        assert!(read_regular(&dir.path().join("missing"), 5).is_err());
    }

    #[test]
    fn private_dir_mode() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x/y");
        create_private_dir(&p).unwrap();
        assert_eq!(
            fs::metadata(&p).unwrap().permissions().mode() & 0o777,
            0o700
        );
    }
}
