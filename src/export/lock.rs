//! The run lock: one export at a time per lock file. An overlapping run does not wait.
//! The OS releases the lock when the process exits, however it exits.

use std::fs::{File, OpenOptions, TryLockError};
use std::path::{Path, PathBuf};

pub struct RunLock {
    _file: File,
}

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("another export run holds the lock {0}; exiting without doing anything")]
    Held(PathBuf),
    #[error("cannot open the lock file {0}: {1}")]
    Io(PathBuf, std::io::Error),
}

/// `$XDG_RUNTIME_DIR/ecr-login-export.lock`, else `<cache dir>/export.lock`, else the temp dir.
pub fn default_path(cache_dir: Option<&Path>) -> PathBuf {
    match (
        std::env::var_os("XDG_RUNTIME_DIR").filter(|v| !v.is_empty()),
        cache_dir,
    ) {
        (Some(dir), _) => PathBuf::from(dir).join("ecr-login-export.lock"),
        (None, Some(dir)) => dir.join("export.lock"),
        (None, None) => std::env::temp_dir().join("ecr-login-export.lock"),
    }
}

pub fn acquire(path: &Path) -> Result<RunLock, LockError> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        let _ = std::fs::create_dir_all(dir);
    }
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .map_err(|e| LockError::Io(path.to_path_buf(), e))?;
    match file.try_lock() {
        Ok(()) => Ok(RunLock { _file: file }),
        Err(TryLockError::WouldBlock) => Err(LockError::Held(path.to_path_buf())),
        Err(TryLockError::Error(e)) => Err(LockError::Io(path.to_path_buf(), e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_holder_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("l");
        let first = acquire(&path).expect("first");
        assert!(matches!(acquire(&path), Err(LockError::Held(_))));
        drop(first);
        assert!(acquire(&path).is_ok());
    }
}
