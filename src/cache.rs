//! The on-disk token cache, in the Go helper's `cache.json` format so both tools can share `~/.ecr`.
//!
//! Format: `{"Registries": {key: entry}, "Version": "1.0"}`, two-space indented, times in RFC 3339.
//! Entries this tool does not understand are kept as they are (held as JSON values), because
//! the Go helper deletes a file it cannot parse and we do not want to be the reason.
//!
//! Concurrency: every write is read-merge-write under `cache.json.lock`, through a temp file in
//! the same directory, fsync and rename, so readers never see a torn file and concurrent writers
//! never drop each other's entries. Fetch single-flight uses a separate lock per cache key
//! (see [`Cache::lock_key`]). Locks are `flock`s on sidecar files, never on `cache.json` itself.
//!
//! The cache is best effort: an unreadable or unwritable directory degrades to "no cache".
//!
//! Trust: an existing directory that another user owns, or that group or others may write,
//! could hold planted entries (a token for someone else's registry) or symlinks, so it is not
//! used at all ([`check_trusted`], once per process in `Settings`). Files in it are opened without following symlinks.
//!
//! A file this tool cannot use is destroyed only when nothing could be lost: another `Version`
//! (a newer tool's format) or a torn JSON write that may still be in progress (the Go helper
//! writes in place) is left alone and this fetch is simply not cached; only a file that is not
//! JSON at all, or a torn one nobody has touched for a minute, is moved aside.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use serde_json::value::RawValue;
use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

pub const CACHE_FILE: &str = "cache.json";
const FORMAT_VERSION: &str = "1.0";
/// A torn `cache.json` younger than this may be a write in progress (the Go helper truncates
/// and rewrites in place); older, nobody is finishing it.
const TORN_WRITE_GRACE: Duration = Duration::from_secs(60);

/// One cached token, as the Go helper writes it. `Debug` leaves the token out.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    #[serde(rename = "AuthorizationToken")]
    pub authorization_token: String,
    #[serde(rename = "RequestedAt", with = "rfc3339")]
    pub requested_at: OffsetDateTime,
    #[serde(rename = "ExpiresAt", with = "rfc3339")]
    pub expires_at: OffsetDateTime,
    #[serde(rename = "ProxyEndpoint")]
    pub proxy_endpoint: String,
    #[serde(rename = "Service", default = "default_service")]
    pub service: String,
}

impl std::fmt::Debug for Entry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Entry")
            .field("authorization_token", &"<redacted>")
            .field("requested_at", &self.requested_at)
            .field("expires_at", &self.expires_at)
            .field("proxy_endpoint", &self.proxy_endpoint)
            .field("service", &self.service)
            .finish()
    }
}

fn default_service() -> String {
    "ecr".into()
}

/// How usable an entry is at a given moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Freshness {
    /// Before the refresh point: serve without asking the API.
    Fresh,
    /// Past the refresh point but not expired: refresh, and serve it only if that fails.
    Stale,
    /// Never served.
    Expired,
}

impl Entry {
    /// Fresh until half the token's life has passed (the Go helper's rule), and — when the
    /// caller needs it to last (export) — while at least `min_remaining` is left.
    pub fn freshness(&self, now: OffsetDateTime, min_remaining: Duration) -> Freshness {
        if now >= self.expires_at {
            return Freshness::Expired;
        }
        let before_refresh = self.refresh_at().is_some_and(|at| now < at);
        if before_refresh && self.lasts(now, min_remaining) {
            Freshness::Fresh
        } else {
            Freshness::Stale
        }
    }

    /// Half-way between `RequestedAt` and `ExpiresAt`: from here on the entry is refreshed.
    ///
    /// Computed in UTC and checked, because the dates come from a file: two dates near year
    /// 9999, one with an offset like `+23:59`, put the result outside what `OffsetDateTime` can
    /// hold (plain arithmetic panics there). `None` then, which callers read as "refresh now".
    pub fn refresh_at(&self) -> Option<OffsetDateTime> {
        let half_life = (self.expires_at - self.requested_at) / 2;
        self.expires_at
            .checked_to_offset(time::UtcOffset::UTC)?
            .checked_sub(half_life)
    }

    /// Unexpired and valid for at least `min_remaining` more.
    pub fn lasts(&self, now: OffsetDateTime, min_remaining: Duration) -> bool {
        now < self.expires_at && self.expires_at - now >= min_remaining
    }
}

#[derive(Serialize, Deserialize)]
struct CacheFile {
    #[serde(rename = "Registries", default)]
    registries: BTreeMap<String, Value>,
    #[serde(rename = "Version")]
    version: String,
}

/// The cache directory. Constructing it touches nothing on disk.
#[derive(Debug, Clone)]
pub struct Cache {
    dir: PathBuf,
}

pub use crate::fsutil::LockGuard;

/// Why a cache directory is not used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Untrusted {
    pub dir: PathBuf,
    pub reason: String,
}

impl std::fmt::Display for Untrusted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "not using the token cache: {} {}",
            self.dir.display(),
            self.reason
        )
    }
}

/// Whether a cache (or log) directory may be used: absent (it will be created 0700), or a
/// directory of this user that nobody else may write. One `stat`, on the cached path too.
pub fn check_trusted(dir: &Path) -> Result<(), Untrusted> {
    let untrusted = |reason: String| Untrusted {
        dir: dir.to_path_buf(),
        reason,
    };
    let meta = match fs::metadata(dir) {
        Ok(meta) => meta,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(untrusted(format!("cannot be inspected: {e}"))),
    };
    if !meta.is_dir() {
        return Err(untrusted("is not a directory".into()));
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt as _;
        // SAFETY: geteuid has no preconditions and cannot fail.
        let me = unsafe { libc::geteuid() };
        if meta.uid() != me {
            return Err(untrusted(format!(
                "is owned by uid {}, not by this user (uid {me})",
                meta.uid()
            )));
        }
        if meta.mode() & 0o022 != 0 {
            return Err(untrusted(format!(
                "is writable by group or others (mode {:o}); run `chmod 700` on it",
                meta.mode() & 0o7777
            )));
        }
    }
    Ok(())
}

impl Cache {
    /// A cache in `dir`, which need not exist yet. Touches nothing on disk.
    pub fn new(dir: PathBuf) -> Cache {
        Cache { dir }
    }

    pub fn file_path(&self) -> PathBuf {
        self.dir.join(CACHE_FILE)
    }

    /// Reads one entry. Missing file, unknown key or an entry we cannot parse → `None`.
    /// This is the cached `get`'s path: the other entries are only skipped over, not built.
    pub fn get(&self, key: &str) -> Option<Entry> {
        #[derive(Deserialize)]
        struct Lookup<'a> {
            #[serde(rename = "Registries", borrow, default)]
            registries: BTreeMap<Cow<'a, str>, &'a RawValue>,
            #[serde(rename = "Version", borrow)]
            version: Cow<'a, str>,
        }
        let bytes = read_no_follow(&self.file_path()).ok()?;
        let file: Lookup = serde_json::from_slice(&bytes).ok()?;
        if file.version != FORMAT_VERSION {
            return None;
        }
        serde_json::from_str(file.registries.get(key)?.get()).ok()
    }

    /// All entries whose key satisfies `keep`, parsed (unparseable ones skipped).
    pub fn entries(&self, keep: impl Fn(&str) -> bool) -> Vec<(String, Entry)> {
        let Some(file) = self.read() else {
            return Vec::new();
        };
        file.registries
            .into_iter()
            .filter(|(k, _)| keep(k))
            .filter_map(|(k, v)| Some((k, Entry::deserialize(&v).ok()?)))
            .collect()
    }

    /// The file as it is, `None` when it is missing, unreadable, corrupt or of another version.
    fn read(&self) -> Option<CacheFile> {
        let bytes = read_no_follow(&self.file_path()).ok()?;
        let file: CacheFile = serde_json::from_slice(&bytes).ok()?;
        (file.version == FORMAT_VERSION).then_some(file)
    }

    /// Stores `entry` under `key`, keeping every other entry. Errors are returned for the log;
    /// callers treat them as "no cache". A file that must not be overwritten is an error too:
    /// the token is then served from the fetch, uncached.
    pub fn put(&self, key: &str, entry: &Entry, wait: Duration) -> std::io::Result<()> {
        self.ensure_dir()?;
        let _guard = self.lock_path(&self.dir.join(format!("{CACHE_FILE}.lock")), wait)?;
        crate::fsutil::remove_orphaned_temps(&self.file_path());
        let mut file = match read_no_follow(&self.file_path()) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => empty_file(),
            Err(e) => return Err(e),
            Ok(bytes) => match classify(&bytes) {
                Contents::Ours(file) => file,
                Contents::OtherVersion(version) => {
                    return Err(keep_file(format!(
                        "it has format version {version:?}, not {FORMAT_VERSION:?} (written by another tool)"
                    )));
                }
                Contents::Torn if self.recently_modified() => {
                    return Err(keep_file(
                        "it is incomplete JSON, perhaps being written by another tool right now"
                            .into(),
                    ));
                }
                Contents::Torn | Contents::NotJson => {
                    self.move_aside_corrupt();
                    empty_file()
                }
            },
        };
        let value = serde_json::to_value(entry).map_err(std::io::Error::other)?;
        file.registries.insert(key.to_string(), value);
        prune_long_expired(&mut file.registries, OffsetDateTime::now_utc());
        self.write_atomically(&file)
    }

    fn recently_modified(&self) -> bool {
        fs::symlink_metadata(self.file_path())
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.elapsed().ok())
            .is_none_or(|age| age < TORN_WRITE_GRACE)
    }

    /// Renames an unreadable cache to `cache.json.corrupt` (one generation kept) so a person can
    /// look at it, instead of deleting it as the Go helper does.
    fn move_aside_corrupt(&self) {
        let aside = self.dir.join(format!("{CACHE_FILE}.corrupt"));
        match fs::rename(self.file_path(), &aside) {
            Ok(()) => {
                tracing::warn!(path = %aside.display(), "cache file was not JSON; moved aside and rebuilt")
            }
            Err(e) => {
                tracing::warn!(error = %e, "cache file was not JSON and could not be moved aside")
            }
        }
    }

    fn write_atomically(&self, file: &CacheFile) -> std::io::Result<()> {
        let mut bytes = serde_json::to_vec_pretty(file).map_err(std::io::Error::other)?;
        bytes.push(b'\n');
        crate::fsutil::write_atomic(&self.file_path(), &bytes, 0o600)
    }

    fn ensure_dir(&self) -> std::io::Result<()> {
        create_private_dir(&self.dir)
    }

    /// Takes the single-flight lock for `key`, waiting at most `wait`. `Err` when the lock file
    /// cannot be created (read-only directory) or the wait ran out; the caller then fetches
    /// without the lock rather than failing.
    pub fn lock_key(&self, key: &str, wait: Duration) -> std::io::Result<LockGuard> {
        self.ensure_dir()?;
        let digest = crate::identity::go_checksum(key);
        let name: String = digest
            .chars()
            .filter(char::is_ascii_alphanumeric)
            .take(24)
            .collect();
        self.lock_path(&self.dir.join(format!(".lock-{name}")), wait)
    }

    /// A lock beside the cache; a wait that runs out is `ErrorKind::TimedOut`.
    fn lock_path(&self, path: &Path, wait: Duration) -> std::io::Result<LockGuard> {
        crate::fsutil::lock(path, wait).map_err(|e| match e {
            crate::fsutil::LockError::Busy { .. } => std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "timed out waiting for the cache lock",
            ),
            crate::fsutil::LockError::Io { source, .. } => source,
        })
    }
}

/// Entries this long past expiry are dropped on write. Temporary environment keys (aws-vault)
/// and the Go helper add one entry per session or call; without pruning the file — which every
/// cached `get` reads — grows without bound. Anything expired is useless to both helpers (they
/// refetch), so a day's grace only keeps recent history for people reading the file.
const PRUNE_AFTER: Duration = Duration::from_secs(24 * 3600);

fn prune_long_expired(registries: &mut BTreeMap<String, Value>, now: OffsetDateTime) {
    registries.retain(|_, value| match Entry::deserialize(&*value) {
        // Subtraction: `expires_at + PRUNE_AFTER` would overflow (and panic) for year 9999.
        Ok(entry) => now - entry.expires_at < PRUNE_AFTER,
        Err(_) => true, // not ours to judge
    });
}

fn empty_file() -> CacheFile {
    CacheFile {
        registries: BTreeMap::new(),
        version: FORMAT_VERSION.into(),
    }
}

/// What `cache.json` holds, as far as deciding whether it may be rewritten.
enum Contents {
    Ours(CacheFile),
    /// Valid JSON with another `Version`, or a shape we do not know: someone else's to keep.
    OtherVersion(String),
    /// Starts like JSON (or is empty) but does not parse: a write cut short or in progress.
    Torn,
    NotJson,
}

fn classify(bytes: &[u8]) -> Contents {
    if let Ok(file) = serde_json::from_slice::<CacheFile>(bytes) {
        return if file.version == FORMAT_VERSION {
            Contents::Ours(file)
        } else {
            Contents::OtherVersion(file.version)
        };
    }
    match serde_json::from_slice::<Value>(bytes) {
        Ok(value) => Contents::OtherVersion(
            value
                .get("Version")
                .and_then(Value::as_str)
                .unwrap_or("unknown")
                .to_string(),
        ),
        Err(e) if e.is_eof() => Contents::Torn,
        Err(_) => Contents::NotJson,
    }
}

fn keep_file(why: String) -> std::io::Error {
    std::io::Error::other(format!(
        "left cache.json as it is and did not cache this token: {why}"
    ))
}

use crate::fsutil::read_no_follow;

/// Creates `dir` (and parents) with mode 0700 if it does not exist.
pub fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}

/// Go's time format: RFC 3339 with fractional seconds; it parses ours and we parse its.
mod rfc3339 {
    use super::*;
    use serde::{Deserializer, Serializer};

    pub fn serialize<S: Serializer>(t: &OffsetDateTime, s: S) -> Result<S::Ok, S::Error> {
        let text = t.format(&Rfc3339).map_err(serde::ser::Error::custom)?;
        s.serialize_str(&text)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<OffsetDateTime, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        OffsetDateTime::parse(&text, &Rfc3339).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs::File;
    use time::macros::datetime;

    fn entry(requested: OffsetDateTime, expires: OffsetDateTime) -> Entry {
        Entry {
            authorization_token: "QVdTOnNlY3JldA==".into(),
            requested_at: requested,
            expires_at: expires,
            proxy_endpoint: "https://123456789012.dkr.ecr.us-east-1.amazonaws.com".into(),
            service: "ecr".into(),
        }
    }

    /// Stores an entry for `key` that expires in a minute.
    fn entry_expiring_in(secs: u64) -> Entry {
        let now = OffsetDateTime::now_utc();
        entry(now, now + Duration::from_secs(secs))
    }

    fn put_short_lived(cache: &Cache, key: &str) {
        let now = OffsetDateTime::now_utc();
        cache
            .put(
                key,
                &entry(now, now + Duration::from_secs(60)),
                Duration::from_secs(1),
            )
            .expect("put");
    }

    #[test]
    fn freshness_boundaries() {
        let start = datetime!(2026-01-01 00:00 UTC);
        let e = entry(start, start + Duration::from_secs(12 * 3600));
        let zero = Duration::ZERO;
        assert_eq!(e.freshness(start, zero), Freshness::Fresh);
        assert_eq!(
            e.freshness(start + Duration::from_secs(6 * 3600 - 1), zero),
            Freshness::Fresh
        );
        assert_eq!(
            e.freshness(start + Duration::from_secs(6 * 3600), zero),
            Freshness::Stale
        );
        assert_eq!(
            e.freshness(start + Duration::from_secs(12 * 3600 - 1), zero),
            Freshness::Stale
        );
        assert_eq!(
            e.freshness(start + Duration::from_secs(12 * 3600), zero),
            Freshness::Expired
        );
        // export wants 6 h left: a 12 h token is fresh for it only in its first 6 h, too
        let six_h = Duration::from_secs(6 * 3600);
        assert_eq!(
            e.freshness(start + Duration::from_secs(3600), six_h),
            Freshness::Fresh
        );
        // a token issued already expired is never fresh
        let dead = entry(start, start - Duration::from_secs(60));
        assert_eq!(dead.freshness(start, zero), Freshness::Expired);
    }

    /// Found by the `cache_file` fuzz target: a foreign entry holding `10e+39` came back as a
    /// different number (serde_json's fast float parsing is off by one unit in the last place
    /// for some inputs; `float_roundtrip` makes write-then-read exact).
    #[test]
    fn foreign_numbers_survive_a_write_exactly() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = r#"{"Registries": {"num": 10e+39, "list": [0.1, 2.5e-308, 1.7976931348623157e308]}, "Version": "1.0"}"#;
        fs::write(dir.path().join(CACHE_FILE), file).expect("write");
        let cache = Cache::new(dir.path().to_path_buf());
        put_short_lived(&cache, "k");
        let before: Value = serde_json::from_str(file).expect("json");
        let text = fs::read_to_string(dir.path().join(CACHE_FILE)).expect("read");
        let after: Value = serde_json::from_str(&text).expect("json");
        for key in ["num", "list"] {
            assert_eq!(
                after["Registries"][key], before["Registries"][key],
                "{text}"
            );
        }
    }

    #[test]
    fn reads_go_helper_files_and_keeps_foreign_entries() {
        let dir = tempfile::tempdir().expect("tempdir");
        let go_file = r#"{
  "Registries": {
    "eu-west-1-abc-000000000000": {
      "AuthorizationToken": "QVdTOnBhc3M=",
      "RequestedAt": "2021-03-01T15:31:17.625780278+01:00",
      "ExpiresAt": "2021-03-02T02:31:17.608Z",
      "ProxyEndpoint": "https://000000000000.dkr.ecr.eu-west-1.amazonaws.com",
      "Service": "ecr"
    },
    "weird": {"Something": "else", "Nested": [1, 2]}
  },
  "Version": "1.0"
}"#;
        fs::write(dir.path().join(CACHE_FILE), go_file).expect("write");
        let cache = Cache::new(dir.path().to_path_buf());
        let old = cache
            .get("eu-west-1-abc-000000000000")
            .expect("go entry parses");
        assert_eq!(
            old.requested_at,
            datetime!(2021-03-01 14:31:17.625780278 UTC)
        );
        assert_eq!(old.expires_at, datetime!(2021-03-02 02:31:17.608 UTC));
        let now = OffsetDateTime::now_utc();
        cache
            .put(
                "us-east-1-xyz-123456789012",
                &entry(now, now + Duration::from_secs(3600)),
                Duration::from_secs(1),
            )
            .expect("put");
        let text = fs::read_to_string(dir.path().join(CACHE_FILE)).expect("read");
        let reread: Value = serde_json::from_str(&text).expect("valid json");
        assert_eq!(
            reread["Registries"]["weird"]["Nested"],
            serde_json::json!([1, 2]),
            "foreign entry kept: {text}"
        );
        assert!(
            cache.get("eu-west-1-abc-000000000000").is_none(),
            "an entry expired since 2021 is pruned on write"
        );
        assert!(cache.get("us-east-1-xyz-123456789012").is_some());
    }

    #[test]
    fn long_expired_entries_are_pruned_on_write_foreign_ones_kept() {
        let now = OffsetDateTime::now_utc();
        let mut registries = BTreeMap::new();
        let old = entry(
            now - Duration::from_secs(50 * 3600),
            now - Duration::from_secs(38 * 3600),
        );
        let recent = entry(
            now - Duration::from_secs(13 * 3600),
            now - Duration::from_secs(3600),
        );
        registries.insert("old".to_string(), serde_json::to_value(&old).expect("json"));
        registries.insert(
            "recent".to_string(),
            serde_json::to_value(&recent).expect("json"),
        );
        registries.insert("foreign".to_string(), serde_json::json!({"Other": 1}));
        prune_long_expired(&mut registries, now);
        assert_eq!(registries.keys().collect::<Vec<_>>(), ["foreign", "recent"]);
    }

    #[test]
    fn corrupt_file_is_moved_aside_and_rebuilt() {
        let dir = tempfile::tempdir().expect("tempdir");
        fs::write(dir.path().join(CACHE_FILE), b"{not json").expect("write");
        let cache = Cache::new(dir.path().to_path_buf());
        assert!(cache.get("k").is_none());
        put_short_lived(&cache, "k");
        assert!(cache.get("k").is_some());
        assert_eq!(
            fs::read(dir.path().join("cache.json.corrupt")).expect("aside"),
            b"{not json"
        );
    }

    #[test]
    fn an_entry_expiring_in_year_9999_neither_panics_nor_is_pruned() {
        let dir = tempfile::tempdir().expect("tempdir");
        let cache = Cache::new(dir.path().to_path_buf());
        let now = OffsetDateTime::now_utc();
        let far = datetime!(9999-12-31 23:59:59 UTC);
        cache
            .put("far", &entry(now, far), Duration::from_secs(1))
            .expect("put far");
        put_short_lived(&cache, "k");
        assert!(cache.get("far").is_some());
        assert!(cache.get("k").is_some());
    }

    /// Found by the `cache_file` fuzz target: dates at the end of year 9999 with large offsets
    /// made the refresh point unrepresentable, and the plain subtraction panicked.
    #[test]
    fn freshness_is_total_at_the_ends_of_the_calendar() {
        let cases = [
            // Inverted, `ExpiresAt` local time at the very end: refresh point past year 9999 locally.
            (
                datetime!(9999-12-31 23:59:59.999999999 UTC),
                datetime!(9999-12-31 23:59:59.09 +23:59),
            ),
            // `ExpiresAt` is year 10000 in UTC.
            (
                datetime!(2026-12-02 10:00 UTC),
                datetime!(9999-12-31 23:59:59 -23:59),
            ),
            (
                datetime!(-9999-01-01 00:00 +23:59),
                datetime!(9999-12-31 23:59:59 -23:59),
            ),
        ];
        for (requested, expires) in cases {
            let e = entry(requested, expires);
            for now in [requested, expires, OffsetDateTime::UNIX_EPOCH] {
                let f = e.freshness(now, Duration::ZERO);
                assert_eq!(f == Freshness::Expired, now >= expires, "{e:?} at {now}");
            }
        }
        let normal = entry(
            datetime!(2026-12-02 10:00 UTC),
            datetime!(2026-12-02 22:00 UTC),
        );
        assert_eq!(normal.refresh_at(), Some(datetime!(2026-12-02 16:00 UTC)));
    }

    #[cfg(unix)]
    #[test]
    fn files_are_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("tempdir");
        let cache = Cache::new(dir.path().join("ecr"));
        put_short_lived(&cache, "k");
        let mode = |p: PathBuf| fs::metadata(p).expect("meta").permissions().mode() & 0o777;
        assert_eq!(mode(dir.path().join("ecr")), 0o700);
        assert_eq!(mode(cache.file_path()), 0o600);
    }

    #[test]
    fn key_lock_excludes_and_reports_waiting() {
        let dir = tempfile::tempdir().expect("tempdir");
        let cache = Cache::new(dir.path().to_path_buf());
        let held = cache
            .lock_key("k", Duration::from_secs(1))
            .expect("first lock");
        assert!(!held.waited);
        let err = cache
            .lock_key("k", Duration::from_millis(30))
            .expect_err("second lock must wait and time out");
        assert_eq!(err.kind(), std::io::ErrorKind::TimedOut);
        assert!(
            cache.lock_key("other", Duration::from_millis(30)).is_ok(),
            "other keys are independent"
        );
        drop(held);
        assert!(cache.lock_key("k", Duration::from_millis(30)).is_ok());
    }

    #[test]
    fn another_version_is_never_overwritten() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join(CACHE_FILE);
        let newer = br#"{"Registries": {"x": {"Future": true}}, "Version": "2.0"}"#;
        fs::write(&path, newer).expect("write");
        let cache = Cache::new(dir.path().to_path_buf());
        let err = cache
            .put("k", &entry_expiring_in(3600), Duration::from_secs(1))
            .expect_err("must not overwrite");
        assert!(err.to_string().contains("\"2.0\""), "{err}");
        assert_eq!(fs::read(&path).expect("kept"), newer);
        assert!(!dir.path().join("cache.json.corrupt").exists());
    }

    #[test]
    fn a_torn_write_is_left_alone_while_it_may_be_in_progress() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join(CACHE_FILE);
        let torn = br#"{"Registries": {"eu-west-1-abc-1": {"AuthorizationToken": "QV"#;
        for content in [&torn[..], b""] {
            fs::write(&path, content).expect("write");
            let cache = Cache::new(dir.path().to_path_buf());
            assert!(
                cache
                    .put("k", &entry_expiring_in(3600), Duration::from_secs(1))
                    .is_err()
            );
            assert_eq!(fs::read(&path).expect("kept"), content);
        }
        // A minute later nobody is finishing it: moved aside, rebuilt.
        let old = std::time::SystemTime::now() - Duration::from_secs(120);
        File::options()
            .write(true)
            .open(&path)
            .and_then(|f| f.set_modified(old))
            .expect("age the file");
        let cache = Cache::new(dir.path().to_path_buf());
        put_short_lived(&cache, "k");
        assert!(cache.get("k").is_some());
        assert!(dir.path().join("cache.json.corrupt").exists());
    }

    #[cfg(unix)]
    #[test]
    fn symlinked_cache_and_lock_files_are_not_followed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let elsewhere = tempfile::tempdir().expect("elsewhere");
        let planted = Cache::new(elsewhere.path().to_path_buf());
        put_short_lived(&planted, "k");
        std::os::unix::fs::symlink(planted.file_path(), dir.path().join(CACHE_FILE))
            .expect("symlink");
        let cache = Cache::new(dir.path().to_path_buf());
        assert!(
            cache.get("k").is_none(),
            "a symlinked cache.json is not read"
        );
        let target = elsewhere.path().join("victim");
        std::os::unix::fs::symlink(&target, dir.path().join("cache.json.lock")).expect("symlink");
        assert!(
            cache
                .put("k", &entry_expiring_in(3600), Duration::from_secs(1))
                .is_err()
        );
        assert!(!target.exists(), "the lock's symlink was not followed");
    }

    #[cfg(unix)]
    #[test]
    fn only_private_directories_of_this_user_are_trusted() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("ecr");
        assert!(check_trusted(&path).is_ok(), "absent: will be created 0700");
        fs::create_dir(&path).expect("mkdir");
        fs::set_permissions(&path, fs::Permissions::from_mode(0o700)).expect("chmod");
        assert!(check_trusted(&path).is_ok());
        fs::set_permissions(&path, fs::Permissions::from_mode(0o777)).expect("chmod");
        let err = check_trusted(&path).expect_err("world-writable");
        assert!(
            err.to_string().contains("writable by group or others"),
            "{err}"
        );
        fs::set_permissions(&path, fs::Permissions::from_mode(0o700)).expect("chmod");
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } == 0 {
            std::os::unix::fs::chown(&path, Some(4321), None).expect("chown");
            let err = check_trusted(&path).expect_err("foreign owner");
            assert!(err.to_string().contains("owned by uid 4321"), "{err}");
        }
    }
}
