//! Settings read from the environment, once per process.
//!
//! The variable names are the Go helper's where one exists (`AWS_ECR_CACHE_DIR`,
//! `AWS_ECR_DISABLE_CACHE`, `AWS_ECR_IGNORE_CREDS_STORAGE`), so a drop-in swap keeps working.

use crate::cache::{Cache, Untrusted, check_trusted};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Default bound on one whole token fetch (credentials + API call + retries).
pub const DEFAULT_FETCH_TIMEOUT: Duration = Duration::from_secs(10);
/// Default bound on one run of the helper config's `fallback_helper`.
pub const DEFAULT_DELEGATE_TIMEOUT: Duration = Duration::from_secs(60);

#[derive(Debug, Clone)]
pub struct Settings {
    pub home: Option<PathBuf>,
    /// `AWS_ECR_CACHE_DIR`, else `~/.ecr`. Also holds `log/`.
    pub cache_dir: Option<PathBuf>,
    /// `AWS_ECR_DISABLE_CACHE` set to anything but empty, `0`, `false` or `no`.
    pub cache_disabled: bool,
    /// `AWS_ECR_IGNORE_CREDS_STORAGE` is exactly `true` (as in the Go helper).
    pub ignore_creds_storage: bool,
    /// `AWS_ECR_FETCH_TIMEOUT`: `500ms`, `2s`, `2.5` (seconds) or `1m`; default 10 s.
    pub fetch_timeout: Duration,
    /// `AWS_ECR_DELEGATE_TIMEOUT`: how long the helper config's `fallback_helper` may take
    /// (default 60 s: it may be waiting for a keyring passphrase).
    pub delegate_timeout: Duration,
    /// `AWS_ECR_LOG_LEVEL`: off, error, warn, info (default), debug, trace.
    pub log_level: Option<tracing::Level>,
    /// Why `cache_dir` may not be used (another user's, or writable by others): then neither
    /// the cache nor the log lives there. Checked once per process, one `stat`.
    pub untrusted_cache_dir: Option<Untrusted>,
}

impl Settings {
    /// Reads the environment. A value that cannot be used is named on stderr (this runs once
    /// per process) and the default applies, so a typo is not silently a different setting.
    pub fn from_env() -> Settings {
        let home = home_dir();
        let cache_dir = match std::env::var_os("AWS_ECR_CACHE_DIR") {
            Some(dir) if !dir.is_empty() => Some(expand_tilde(Path::new(&dir), home.as_deref())),
            _ => home.as_ref().map(|h| h.join(".ecr")),
        };
        let fetch_timeout = duration_var("AWS_ECR_FETCH_TIMEOUT", DEFAULT_FETCH_TIMEOUT);
        let delegate_timeout = duration_var("AWS_ECR_DELEGATE_TIMEOUT", DEFAULT_DELEGATE_TIMEOUT);
        let log_level = match std::env::var("AWS_ECR_LOG_LEVEL") {
            Ok(text) if !text.trim().is_empty() => parse_log_level(&text).unwrap_or_else(|| {
                warn(&format!(
                    "AWS_ECR_LOG_LEVEL={} is not one of off, error, warn, info, debug, trace; \
                     using info",
                    shown(&text)
                ));
                Some(tracing::Level::INFO)
            }),
            _ => Some(tracing::Level::INFO),
        };
        let untrusted_cache_dir = cache_dir.as_deref().and_then(|d| check_trusted(d).err());
        Settings {
            untrusted_cache_dir,
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
            fetch_timeout,
            delegate_timeout,
            log_level,
            home,
        }
    }

    /// The log directory: `log/` in the cache directory, unless that is not trusted.
    pub fn log_dir(&self) -> Option<PathBuf> {
        if self.untrusted_cache_dir.is_some() {
            return None;
        }
        self.cache_dir.as_ref().map(|d| d.join("log"))
    }

    /// The token cache: `Ok(None)` when disabled or there is no directory, `Err` when the
    /// directory is not trusted (the caller says so and works without it).
    pub fn cache(&self) -> Result<Option<Cache>, &Untrusted> {
        if self.cache_disabled {
            return Ok(None);
        }
        if let Some(untrusted) = &self.untrusted_cache_dir {
            return Err(untrusted);
        }
        Ok(self.cache_dir.clone().map(Cache::new))
    }
}

/// A duration variable; an unusable value is named on stderr and the default applies.
fn duration_var(name: &str, default: Duration) -> Duration {
    match std::env::var(name) {
        Ok(text) if !text.trim().is_empty() => parse_duration(&text).unwrap_or_else(|| {
            warn(&format!(
                "{name}={} is not a duration such as 500ms, 2s, 2.5 or 1m; using {} s",
                shown(&text),
                default.as_secs()
            ));
            default
        }),
        _ => default,
    }
}

/// One diagnostic line on stderr; Docker shows it beside the helper's answer.
fn warn(message: &str) {
    eprintln!("{}: {message}", crate::helper::NAME);
}

/// A user's value for a message: bounded and without control characters.
fn shown(text: &str) -> String {
    let clean: String = text.chars().filter(|c| !c.is_control()).take(40).collect();
    format!("{clean:?}")
}

/// `$HOME` when set and not empty; otherwise (unset or empty, as go-homedir — the Go helper's
/// resolver — treats it) this user's entry in `/etc/passwd`. systemd units and Nomad tasks often
/// start without `HOME`. `None` means no cache and no log; `get` still answers.
///
/// `/etc/passwd` is read directly rather than through `getpwuid_r` (which `std::env::home_dir`
/// uses): the release binary is statically linked, and glibc's static `getpwuid_r` loads the NSS
/// modules named in `/etc/nsswitch.conf` (`systemd`, `sss`, …) for a uid that is not in the
/// file — and crashes. So NSS-only users (LDAP) need `HOME` or `AWS_ECR_CACHE_DIR`.
fn home_dir() -> Option<PathBuf> {
    if let Some(home) = std::env::var_os("HOME").filter(|h| !h.is_empty()) {
        return Some(PathBuf::from(home));
    }
    let passwd = std::fs::read("/etc/passwd").ok()?;
    home_in_passwd(&passwd, current_uid()?)
}

#[cfg(unix)]
fn current_uid() -> Option<u32> {
    // SAFETY: getuid has no preconditions and cannot fail.
    Some(unsafe { libc::getuid() })
}

#[cfg(not(unix))]
fn current_uid() -> Option<u32> {
    None
}

/// The home directory field of `uid`'s line in a passwd-format file, if it names one.
fn home_in_passwd(passwd: &[u8], uid: u32) -> Option<PathBuf> {
    let uid = uid.to_string();
    passwd.split(|b| *b == b'\n').find_map(|line| {
        let fields: Vec<&[u8]> = line.split(|b| *b == b':').collect();
        if fields.len() < 7 || fields[2] != uid.as_bytes() || fields[5].is_empty() {
            return None;
        }
        let home = std::str::from_utf8(fields[5]).ok()?;
        Some(PathBuf::from(home))
    })
}

/// `500ms`, `2s`, `2.5` (seconds), `1m`, `1.5m`. Zero, negative, a day or more, and anything
/// else are `None`.
pub fn parse_duration(text: &str) -> Option<Duration> {
    let text = text.trim();
    let (number, scale) = if let Some(n) = text.strip_suffix("ms") {
        (n, 0.001)
    } else if let Some(n) = text.strip_suffix('s') {
        (n, 1.0)
    } else if let Some(n) = text.strip_suffix('m') {
        (n, 60.0)
    } else {
        (text, 1.0)
    };
    let number = number.trim();
    // `f64::from_str` accepts "inf", "nan" and "1e3"; a duration here is digits and one dot.
    if number.is_empty() || !number.chars().all(|c| c.is_ascii_digit() || c == '.') {
        return None;
    }
    let secs = number.parse::<f64>().ok()? * scale;
    (secs.is_finite() && secs > 0.0 && secs < 86_400.0).then(|| Duration::from_secs_f64(secs))
}

/// `None` for an unknown name; `Some(None)` for off.
fn parse_log_level(text: &str) -> Option<Option<tracing::Level>> {
    match text.trim().to_ascii_lowercase().as_str() {
        "off" | "none" => Some(None),
        "error" => Some(Some(tracing::Level::ERROR)),
        "warn" | "warning" => Some(Some(tracing::Level::WARN)),
        "info" => Some(Some(tracing::Level::INFO)),
        "debug" => Some(Some(tracing::Level::DEBUG)),
        "trace" => Some(Some(tracing::Level::TRACE)),
        _ => None,
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
    fn durations_parse_with_and_without_unit() {
        assert_eq!(parse_duration("2"), Some(Duration::from_secs(2)));
        assert_eq!(parse_duration("1.5s"), Some(Duration::from_millis(1500)));
        assert_eq!(parse_duration("500ms"), Some(Duration::from_millis(500)));
        assert_eq!(parse_duration(" 2.5 "), Some(Duration::from_millis(2500)));
        assert_eq!(parse_duration("1m"), Some(Duration::from_secs(60)));
        for bad in [
            "0", "0ms", "-3", "soon", "abc", "NaN", "inf", "1e3", "ms", "2h", "",
        ] {
            assert_eq!(parse_duration(bad), None, "{bad}");
        }
    }

    #[test]
    fn passwd_home_is_the_sixth_field_of_the_uid_line() {
        let passwd = b"root:x:0:0:root:/root:/bin/bash\n\
                       # comment\n\
                       svc:x:998:998::/var/lib/svc:/usr/sbin/nologin\n\
                       empty:x:997:997:::/bin/sh\n\
                       short:x:996\n";
        assert_eq!(home_in_passwd(passwd, 0), Some(PathBuf::from("/root")));
        assert_eq!(
            home_in_passwd(passwd, 998),
            Some(PathBuf::from("/var/lib/svc"))
        );
        assert_eq!(home_in_passwd(passwd, 997), None);
        assert_eq!(home_in_passwd(passwd, 996), None);
        assert_eq!(home_in_passwd(passwd, 54321), None);
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
        assert_eq!(parse_log_level("DEBUG"), Some(Some(tracing::Level::DEBUG)));
        assert_eq!(parse_log_level(" info"), Some(Some(tracing::Level::INFO)));
        assert_eq!(parse_log_level("off"), Some(None));
        assert_eq!(parse_log_level("bogus"), None);
    }
}
