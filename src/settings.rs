//! Settings read from the environment, once per process.
//!
//! The variable names are the Go helper's where one exists (`AWS_ECR_CACHE_DIR`,
//! `AWS_ECR_DISABLE_CACHE`, `AWS_ECR_IGNORE_CREDS_STORAGE`), so a drop-in swap keeps working.

use std::path::{Path, PathBuf};
use std::time::Duration;

/// Default bound on one whole token fetch (credentials + API call + retries).
pub const DEFAULT_FETCH_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, Clone)]
pub struct Settings {
    pub home: Option<PathBuf>,
    /// `AWS_ECR_CACHE_DIR`, else `~/.ecr`. Also holds `log/`.
    pub cache_dir: Option<PathBuf>,
    /// `AWS_ECR_DISABLE_CACHE` set to anything but empty, `0`, `false` or `no`.
    pub cache_disabled: bool,
    /// `AWS_ECR_IGNORE_CREDS_STORAGE` is exactly `true` (as in the Go helper).
    pub ignore_creds_storage: bool,
    /// `AWS_ECR_FETCH_TIMEOUT` in seconds (fractions allowed), default 10 s.
    pub fetch_timeout: Duration,
    /// `AWS_ECR_LOG_LEVEL`: off, error, warn, info (default), debug, trace.
    pub log_level: Option<tracing::Level>,
}

impl Settings {
    pub fn from_env() -> Settings {
        let home = std::env::home_dir().filter(|h| !h.as_os_str().is_empty());
        let cache_dir = match std::env::var_os("AWS_ECR_CACHE_DIR") {
            Some(dir) if !dir.is_empty() => Some(expand_tilde(Path::new(&dir), home.as_deref())),
            _ => home.as_ref().map(|h| h.join(".ecr")),
        };
        Settings {
            cache_dir,
            cache_disabled: std::env::var("AWS_ECR_DISABLE_CACHE")
                .map(|v| {
                    !matches!(
                        v.trim().to_ascii_lowercase().as_str(),
                        "" | "0" | "false" | "no"
                    )
                })
                .unwrap_or(false),
            ignore_creds_storage: std::env::var("AWS_ECR_IGNORE_CREDS_STORAGE")
                .is_ok_and(|v| v == "true"),
            fetch_timeout: std::env::var("AWS_ECR_FETCH_TIMEOUT")
                .ok()
                .and_then(|v| parse_seconds(&v))
                .unwrap_or(DEFAULT_FETCH_TIMEOUT),
            log_level: parse_log_level(std::env::var("AWS_ECR_LOG_LEVEL").ok().as_deref()),
            home,
        }
    }

    pub fn log_dir(&self) -> Option<PathBuf> {
        self.cache_dir.as_ref().map(|d| d.join("log"))
    }
}

/// `"2.5"` or `"2.5s"` → 2.5 s. Zero, negative and garbage are `None` (the default applies).
pub fn parse_seconds(text: &str) -> Option<Duration> {
    let text = text.trim();
    let number = text.strip_suffix('s').unwrap_or(text).trim();
    let secs: f64 = number.parse().ok()?;
    (secs.is_finite() && secs > 0.0 && secs < 86_400.0).then(|| Duration::from_secs_f64(secs))
}

fn parse_log_level(text: Option<&str>) -> Option<tracing::Level> {
    match text.map(|t| t.trim().to_ascii_lowercase()).as_deref() {
        Some("off") | Some("none") => None,
        Some("error") => Some(tracing::Level::ERROR),
        Some("warn") | Some("warning") => Some(tracing::Level::WARN),
        Some("debug") => Some(tracing::Level::DEBUG),
        Some("trace") => Some(tracing::Level::TRACE),
        _ => Some(tracing::Level::INFO),
    }
}

/// `~/x` → `$HOME/x`; anything else unchanged.
pub fn expand_tilde(path: &Path, home: Option<&Path>) -> PathBuf {
    match (path.strip_prefix("~"), home) {
        (Ok(rest), Some(home)) => home.join(rest),
        _ => path.to_path_buf(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_parse_with_and_without_unit() {
        assert_eq!(parse_seconds("2"), Some(Duration::from_secs(2)));
        assert_eq!(parse_seconds("1.5s"), Some(Duration::from_millis(1500)));
        assert_eq!(parse_seconds("0"), None);
        assert_eq!(parse_seconds("-3"), None);
        assert_eq!(parse_seconds("soon"), None);
        assert_eq!(parse_seconds("NaN"), None);
    }

    #[test]
    fn tilde_expands_only_at_the_start() {
        let home = Path::new("/home/u");
        assert_eq!(
            expand_tilde(Path::new("~/.ecr"), Some(home)),
            PathBuf::from("/home/u/.ecr")
        );
        assert_eq!(
            expand_tilde(Path::new("/x/~"), Some(home)),
            PathBuf::from("/x/~")
        );
    }

    #[test]
    fn log_levels() {
        assert_eq!(parse_log_level(None), Some(tracing::Level::INFO));
        assert_eq!(parse_log_level(Some("DEBUG")), Some(tracing::Level::DEBUG));
        assert_eq!(parse_log_level(Some("off")), None);
    }
}
