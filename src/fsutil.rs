//! Files that other programs read while we rewrite them: atomic replacement and a lock with a
//! bounded wait. One implementation for every file the crate writes in place (docker config,
//! metrics textfile, run lock; the token cache may use it too).
//!
//! * [`write_atomic`]: the new content goes to a temp file in the same directory, is fsynced,
//!   renamed over the old file, and the directory is fsynced, so a reader sees the old file or
//!   the new one, never a torn one, also after a crash. An existing file keeps its owner, group
//!   and mode (an `export` run as root must not leave a user's file owned by root); if that
//!   cannot be done the old file is left untouched and the call fails.
//! * [`lock`]: an exclusive advisory lock (`flock`) on a separate lock file, waiting at most a
//!   given time. Released when the returned guard is dropped or the process exits, however it
//!   exits. Lock files are never removed: removing one would let a waiter lock a deleted file.

use std::ffi::OsString;
use std::fs::{File, OpenOptions, TryLockError};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// How often a waiting [`lock`] retries. Short: twenty `docker` pulls waiting for one token
/// refresh should each see it within a few milliseconds.
const LOCK_POLL: Duration = Duration::from_millis(5);

/// The directory `file` lives in (`.` for a bare file name).
pub fn directory_of(file: &Path) -> PathBuf {
    match file.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// Replaces `path` with `bytes` atomically. A new file gets `new_mode`; an existing one keeps
/// its mode, owner and group. The temp file is `.<name>.<random>.tmp` (never matching the
/// final name's extension, so collectors that glob `*.prom` or `*.json` skip it).
pub fn write_atomic(path: &Path, bytes: &[u8], new_mode: u32) -> std::io::Result<()> {
    let dir = directory_of(path);
    let existing = match std::fs::metadata(path) {
        Ok(meta) => Some(meta),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(e),
    };
    let mut prefix = OsString::from(".");
    prefix.push(path.file_name().unwrap_or_else(|| "file".as_ref()));
    prefix.push(".");
    let mut tmp = tempfile::Builder::new()
        .prefix(&prefix)
        .suffix(".tmp")
        .tempfile_in(&dir)?;
    keep_metadata(tmp.as_file(), existing.as_ref(), new_mode)?;
    tmp.write_all(bytes)?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    // Make the rename itself durable; not every platform can sync a directory.
    if let Ok(d) = File::open(&dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// Removes the temp files [`write_atomic`] left beside `path` when a writer was killed between
/// creating one and renaming it (`kill -9`, OOM, power loss). Call it only while holding the
/// lock that every writer of `path` takes: then no temp file of `path` belongs to a live
/// writer, and without it they would pile up, one per killed writer.
pub fn remove_orphaned_temps(path: &Path) {
    let Some(name) = path.file_name() else {
        return;
    };
    let prefix = format!(".{}.", name.to_string_lossy());
    let Ok(entries) = std::fs::read_dir(directory_of(path)) else {
        return;
    };
    for entry in entries.flatten() {
        let file = entry.file_name();
        let file = file.to_string_lossy();
        if file.starts_with(&prefix)
            && file.ends_with(".tmp")
            && entry.file_type().is_ok_and(|t| t.is_file())
        {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

#[cfg(unix)]
fn keep_metadata(
    tmp: &File,
    existing: Option<&std::fs::Metadata>,
    new_mode: u32,
) -> std::io::Result<()> {
    use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
    let Some(old) = existing else {
        return tmp.set_permissions(std::fs::Permissions::from_mode(new_mode));
    };
    let mine = tmp.metadata()?;
    if (mine.uid(), mine.gid()) != (old.uid(), old.gid()) {
        std::os::unix::fs::fchown(tmp, Some(old.uid()), Some(old.gid())).map_err(|e| {
            std::io::Error::new(
                e.kind(),
                format!(
                    "cannot keep the file's owner {}:{} ({e})",
                    old.uid(),
                    old.gid()
                ),
            )
        })?;
    }
    // After chown: chown clears set-id bits, so the mode goes last.
    tmp.set_permissions(std::fs::Permissions::from_mode(old.mode() & 0o7777))
}

#[cfg(not(unix))]
fn keep_metadata(_: &File, _: Option<&std::fs::Metadata>, _: u32) -> std::io::Result<()> {
    Ok(())
}

/// A held lock; dropping it releases the lock.
#[derive(Debug)]
pub struct LockGuard {
    _file: File,
    /// Someone else held the lock when we asked: they may have done the work meanwhile.
    pub waited: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// Another process held the lock for the whole wait.
    #[error("another process holds the lock {}", path.display())]
    Busy { path: PathBuf, waited: Duration },
    #[error("cannot lock {}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Takes the exclusive lock on `path` (created, mode 0600, if missing), waiting up to `wait`
/// for another holder; `Duration::ZERO` tries once. A symlink at `path` is refused, never
/// followed (it could make us create or lock another user's file).
pub fn lock(path: &Path, wait: Duration) -> Result<LockGuard, LockError> {
    let io = |source| LockError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut options = OpenOptions::new();
    options.create(true).truncate(false).write(true);
    no_follow(&mut options);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let file = options.open(path).map_err(io)?;
    let deadline = Instant::now() + wait;
    let mut waited = false;
    loop {
        match file.try_lock() {
            Ok(()) => {
                return Ok(LockGuard {
                    _file: file,
                    waited,
                });
            }
            Err(TryLockError::WouldBlock) if Instant::now() < deadline => {
                waited = true;
                std::thread::sleep(
                    LOCK_POLL.min(deadline.saturating_duration_since(Instant::now())),
                );
            }
            Err(TryLockError::WouldBlock) => {
                return Err(LockError::Busy {
                    path: path.to_path_buf(),
                    waited: wait,
                });
            }
            Err(TryLockError::Error(e)) => return Err(io(e)),
        }
    }
}

/// Makes `options` refuse a symlink as the last path component (`O_NOFOLLOW`).
pub fn no_follow(options: &mut OpenOptions) {
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::custom_flags(options, libc::O_NOFOLLOW);
    #[cfg(not(unix))]
    let _ = options;
}

/// Reads a whole file, refusing a symlink at `path`.
pub fn read_no_follow(path: &Path) -> std::io::Result<Vec<u8>> {
    let mut options = OpenOptions::new();
    options.read(true);
    no_follow(&mut options);
    let mut bytes = Vec::new();
    std::io::Read::read_to_end(&mut options.open(path)?, &mut bytes)?;
    Ok(bytes)
}

/// The first executable file named `program` in the directory list `path` (a `PATH` value),
/// as Docker (Go's `exec.LookPath`) finds it: relative entries, the current directory among
/// them, are skipped.
pub fn find_on_path(program: &str, path: &std::ffi::OsStr) -> Option<std::path::PathBuf> {
    std::env::split_paths(path)
        .filter(|dir| dir.is_absolute())
        .map(|dir| dir.join(program))
        .find(|candidate| is_executable(candidate))
}

/// A regular file with an execute bit.
pub fn is_executable(path: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    }
    #[cfg(not(unix))]
    {
        path.is_file()
    }
}

/// The Docker CLI's config file: `$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`.
pub fn docker_config_path(home: Option<&Path>) -> Option<std::path::PathBuf> {
    match std::env::var_os("DOCKER_CONFIG").filter(|v| !v.is_empty()) {
        Some(dir) => Some(std::path::PathBuf::from(dir).join("config.json")),
        None => home.map(|home| home.join(".docker/config.json")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(unix)]
    #[test]
    fn new_files_get_the_mode_existing_files_keep_theirs() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("f.json");
        write_atomic(&path, b"one", 0o600).expect("write");
        let mode = |p: &Path| std::fs::metadata(p).expect("meta").permissions().mode() & 0o7777;
        assert_eq!(mode(&path), 0o600);
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).expect("chmod");
        write_atomic(&path, b"two", 0o600).expect("write");
        assert_eq!(mode(&path), 0o640);
        assert_eq!(std::fs::read(&path).expect("read"), b"two");
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .expect("ls")
            .flatten()
            .map(|e| e.file_name())
            .collect();
        assert_eq!(names, [OsString::from("f.json")], "no temp file left");
    }

    #[test]
    fn a_held_lock_times_out_then_frees() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("l");
        let first = lock(&path, Duration::ZERO).expect("first");
        let started = Instant::now();
        assert!(matches!(
            lock(&path, Duration::from_millis(200)),
            Err(LockError::Busy { .. })
        ));
        assert!(started.elapsed() >= Duration::from_millis(200));
        drop(first);
        assert!(lock(&path, Duration::ZERO).is_ok());
    }
}
