//! The run lock: one export at a time per lock file. An overlapping run does not wait.

use crate::fsutil::{self, LockError, LockGuard};
use std::path::{Path, PathBuf};
use std::time::Duration;

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

/// Takes the run lock or says why not.
pub fn acquire(path: &Path) -> Result<LockGuard, String> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        let _ = std::fs::create_dir_all(dir);
    }
    fsutil::lock(path, Duration::ZERO).map_err(|e| match e {
        LockError::Busy { path, .. } => format!(
            "another export run holds the lock {}; exiting without doing anything",
            path.display()
        ),
        other => other.to_string(),
    })
}
