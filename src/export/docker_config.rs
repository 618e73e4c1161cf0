//! A Docker `config.json` file: merge only our `auths` entry, keep everything else.
//!
//! * A symlinked `config.json` (dotfile managers, `~/.docker` -> elsewhere) stays a symlink: the
//!   link is resolved and the real file is replaced, atomically (temp file in the real file's
//!   directory, fsync, rename), with mode 0600.
//! * Read-merge-write runs under an exclusive lock on a sidecar `<real file>.lock`, re-reading the
//!   file once the lock is held, so two `export` runs on the same file cannot lose each other's
//!   update. Docker itself takes no lock: a concurrent `docker login` can still race us (its
//!   write is atomic too, so the file is never torn, but one of the two updates can be lost).
//!   The lock file is left in place: removing it would let a waiter lock a deleted file.
//! * A `credHelpers` entry for the host, or a `credsStore`, makes Docker ignore the `auths`
//!   entry; that is reported as a warning in the target's detail, not as a failure.

use super::config::DockerConfigConfig;
use super::target::{Action, Cred, Plan, Target, TargetError};
use secrecy::ExposeSecret;
use serde_json::{Map, Value, json};
use std::ffi::OsString;
use std::fs::{File, OpenOptions, TryLockError};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Symlinks followed before giving up (the kernel's own limit).
const MAX_SYMLINKS: usize = 40;
/// How long to wait for another run holding the file's lock.
const LOCK_WAIT: Duration = Duration::from_secs(30);

pub struct DockerConfig {
    pub cfg: DockerConfigConfig,
}

/// The file really written: `path` with every symlink followed, also a dangling one (the file
/// is then created where the link points).
fn resolve(path: &Path) -> Result<PathBuf, TargetError> {
    let mut current = path.to_path_buf();
    for _ in 0..MAX_SYMLINKS {
        match std::fs::symlink_metadata(&current) {
            Ok(meta) if meta.file_type().is_symlink() => {
                let target = std::fs::read_link(&current).map_err(|e| {
                    TargetError(format!(
                        "cannot read the symlink {}: {e}",
                        current.display()
                    ))
                })?;
                current = match current.parent() {
                    Some(dir) if target.is_relative() => dir.join(target),
                    _ => target,
                };
            }
            Ok(_) => return Ok(tidy(current)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(tidy(current)),
            Err(e) => {
                return Err(TargetError(format!(
                    "cannot inspect {}: {e}",
                    current.display()
                )));
            }
        }
    }
    Err(TargetError(format!(
        "{}: too many levels of symbolic links",
        path.display()
    )))
}

/// `dir/../x/config.json` as `/abs/x/config.json` when the directory exists (for messages; the
/// same file either way).
fn tidy(file: PathBuf) -> PathBuf {
    match (file.parent(), file.file_name()) {
        (Some(dir), Some(name)) if !dir.as_os_str().is_empty() => std::fs::canonicalize(dir)
            .map(|d| d.join(name))
            .unwrap_or(file),
        _ => file,
    }
}

fn directory_of(file: &Path) -> PathBuf {
    match file.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// `<file>.lock` beside the real file.
fn lock_path(real: &Path) -> PathBuf {
    let mut name = real
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_else(|| OsString::from("config.json"));
    name.push(".lock");
    real.with_file_name(name)
}

/// Takes the exclusive lock on `<real>.lock`, waiting up to `LOCK_WAIT` for another holder.
/// Released when the returned file is dropped (or the process exits).
fn lock(real: &Path) -> Result<File, TargetError> {
    let path = lock_path(real);
    let mut options = OpenOptions::new();
    options.create(true).truncate(false).write(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let file = options
        .open(&path)
        .map_err(|e| TargetError(format!("cannot open the lock file {}: {e}", path.display())))?;
    let deadline = Instant::now() + LOCK_WAIT;
    loop {
        match file.try_lock() {
            Ok(()) => return Ok(file),
            Err(TryLockError::WouldBlock) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(50));
            }
            Err(TryLockError::WouldBlock) => {
                return Err(TargetError(format!(
                    "another process held the lock {} for {} s; not writing",
                    path.display(),
                    LOCK_WAIT.as_secs()
                )));
            }
            Err(TryLockError::Error(e)) => {
                return Err(TargetError(format!("cannot lock {}: {e}", path.display())));
            }
        }
    }
}

/// The document at `real`: empty when missing or blank; an error if it is not a JSON object
/// or its `auths` is not an object (someone else's file we do not understand is left alone).
fn read(real: &Path) -> Result<Map<String, Value>, TargetError> {
    let doc = match std::fs::read_to_string(real) {
        Ok(text) if text.trim().is_empty() => Map::new(),
        Ok(text) => match serde_json::from_str::<Value>(&text) {
            Ok(Value::Object(map)) => map,
            _ => {
                return Err(TargetError(format!(
                    "{} is not a JSON object; not touching it",
                    real.display()
                )));
            }
        },
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Map::new(),
        Err(e) => {
            return Err(TargetError(format!("cannot read {}: {e}", real.display())));
        }
    };
    if doc.get("auths").is_some_and(|a| !a.is_object()) {
        return Err(TargetError(format!(
            "{}: `auths` is not an object; not touching it",
            real.display()
        )));
    }
    Ok(doc)
}

/// Docker's key normalisation for registry lookups: no scheme, nothing after the host.
fn hostname(key: &str) -> &str {
    let key = key
        .strip_prefix("https://")
        .or_else(|| key.strip_prefix("http://"))
        .unwrap_or(key);
    key.split('/').next().unwrap_or(key)
}

/// Why Docker would not use our `auths` entry for `host`, if it would not. Docker asks a
/// `credHelpers` entry for the host first, then `credsStore`, and reads `auths` only when neither
/// is set.
fn override_warning(doc: &Map<String, Value>, host: &str) -> Option<String> {
    let helper = doc
        .get("credHelpers")
        .and_then(Value::as_object)
        .and_then(|helpers| {
            helpers
                .iter()
                .find(|(key, _)| hostname(key) == host)
                .map(|(key, value)| (key.clone(), value.as_str().unwrap_or("").to_string()))
        });
    if let Some((key, helper)) = helper {
        return Some(format!(
            "warning: credHelpers[{key:?}] = {helper:?} overrides this auths entry: docker asks docker-credential-{helper} for {host}"
        ));
    }
    match doc.get("credsStore").and_then(Value::as_str) {
        Some(store) if !store.is_empty() => Some(format!(
            "warning: credsStore = {store:?} overrides this auths entry: docker asks docker-credential-{store} for {host}"
        )),
        _ => None,
    }
}

fn with_warning(text: String, warning: Option<String>) -> String {
    match warning {
        Some(w) => format!("{text}; {w}"),
        None => text,
    }
}

/// Replaces `real` atomically: temp file in its directory, mode 0600, fsync, rename.
fn write(real: &Path, doc: &Value) -> Result<(), TargetError> {
    let fail =
        |what: &str, e: std::io::Error| TargetError(format!("{what} {}: {e}", real.display()));
    let dir = directory_of(real);
    std::fs::create_dir_all(&dir).map_err(|e| fail("cannot create the directory of", e))?;
    let mut prefix = OsString::from(".");
    prefix.push(real.file_name().unwrap_or_else(|| "config.json".as_ref()));
    prefix.push(".");
    let mut tmp = tempfile::Builder::new()
        .prefix(&prefix)
        .tempfile_in(&dir)
        .map_err(|e| fail("cannot create a temp file beside", e))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        tmp.as_file()
            .set_permissions(std::fs::Permissions::from_mode(0o600))
            .map_err(|e| fail("cannot set permissions for", e))?;
    }
    let mut text = serde_json::to_string_pretty(doc)
        .map_err(|e| TargetError(format!("cannot serialise the config: {e}")))?;
    text.push('\n');
    tmp.write_all(text.as_bytes())
        .map_err(|e| fail("cannot write", e))?;
    tmp.as_file()
        .sync_all()
        .map_err(|e| fail("cannot sync", e))?;
    tmp.persist(real)
        .map_err(|e| fail("cannot replace", e.error))?;
    // Make the rename itself durable; best effort (not every platform can sync a directory).
    if let Ok(d) = File::open(&dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// Read-merge-write of our entry under the file's lock. Returns the warning, if any.
fn update(path: &Path, cred: &Cred) -> Result<(PathBuf, Option<String>), TargetError> {
    let real = resolve(path)?;
    std::fs::create_dir_all(directory_of(&real)).map_err(|e| {
        TargetError(format!(
            "cannot create the directory of {}: {e}",
            real.display()
        ))
    })?;
    let _lock = lock(&real)?;
    // Read again under the lock: another run may have written since the plan.
    let mut doc = read(&real)?;
    let warning = override_warning(&doc, &cred.host);
    if let Value::Object(auths) = doc.entry("auths").or_insert_with(|| json!({})) {
        auths.insert(
            cred.host.clone(),
            json!({ "auth": cred.auth.expose_secret() }),
        );
    }
    write(&real, &Value::Object(doc))?;
    Ok((real, warning))
}

impl DockerConfig {
    /// `path`, plus ` (-> real)` when it is a symlink.
    fn shown(&self, real: &Path) -> String {
        if real == self.cfg.path {
            self.cfg.path.display().to_string()
        } else {
            format!("{} (-> {})", self.cfg.path.display(), real.display())
        }
    }
}

impl Target for DockerConfig {
    type State = ();

    async fn plan(&self, cred: &Arc<Cred>) -> Result<Plan<()>, TargetError> {
        let real = resolve(&self.cfg.path)?;
        let doc = read(&real)?;
        let exists = doc.get("auths").and_then(|a| a.get(&cred.host)).is_some();
        let action = if exists {
            Action::Update
        } else {
            Action::Create
        };
        let detail = format!(
            "{}: auths[{:?}].auth={}",
            self.shown(&real),
            cred.host,
            Cred::redacted(&cred.auth)
        );
        Ok(Plan {
            action,
            detail: with_warning(detail, override_warning(&doc, &cred.host)),
            problems: Vec::new(),
            state: (),
        })
    }

    async fn apply(&self, cred: &Arc<Cred>, _plan: Plan<()>) -> Result<String, TargetError> {
        let (path, shared) = (self.cfg.path.clone(), Arc::clone(cred));
        // File locking and fsync block: keep them off the async workers.
        let (real, warning) = tokio::task::spawn_blocking(move || update(&path, &shared))
            .await
            .map_err(|e| TargetError(format!("the docker-config task failed: {e}")))??;
        Ok(with_warning(
            format!("wrote auths[{:?}] in {}", cred.host, self.shown(&real)),
            warning,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::SecretString;

    const HOST: &str = "123456789012.dkr.ecr.us-east-1.amazonaws.com";

    fn cred() -> Arc<Cred> {
        Arc::new(Cred {
            username: "AWS".into(),
            password: SecretString::from("pw"),
            auth: SecretString::from("QVdTOnB3"),
            host: HOST.into(),
            expires_at: time::OffsetDateTime::now_utc(),
        })
    }

    fn target(path: &Path) -> DockerConfig {
        DockerConfig {
            cfg: DockerConfigConfig {
                path: path.to_path_buf(),
            },
        }
    }

    async fn export(path: &Path) -> (String, Result<String, TargetError>) {
        let (t, c) = (target(path), cred());
        let plan = t.plan(&c).await.expect("plan");
        let detail = plan.detail.clone();
        (detail, t.apply(&c, plan).await)
    }

    fn json_at(path: &Path) -> Value {
        serde_json::from_str(&std::fs::read_to_string(path).expect("read")).expect("json")
    }

    #[cfg(unix)]
    #[tokio::test]
    async fn symlinked_config_stays_a_symlink() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().expect("tempdir");
        let (real_dir, link_dir) = (dir.path().join("dotfiles"), dir.path().join("home/.docker"));
        std::fs::create_dir_all(&real_dir).expect("mkdir");
        std::fs::create_dir_all(&link_dir).expect("mkdir");
        let real = real_dir.join("config.json");
        std::fs::write(&real, r#"{"auths":{"other.example.com":{"auth":"eDp5"}}}"#).expect("w");
        let link = link_dir.join("config.json");
        std::os::unix::fs::symlink("../../dotfiles/config.json", &link).expect("symlink");

        let (detail, done) = export(&link).await;
        let done = done.expect("apply");
        assert!(detail.contains("(->"), "{detail}");
        let shown = std::fs::canonicalize(&real_dir)
            .expect("canon")
            .join("config.json");
        assert!(done.contains(&shown.display().to_string()), "{done}");
        let meta = std::fs::symlink_metadata(&link).expect("meta");
        assert!(meta.file_type().is_symlink(), "the link is kept");
        let doc = json_at(&real);
        assert_eq!(doc["auths"][HOST]["auth"], "QVdTOnB3");
        assert_eq!(doc["auths"]["other.example.com"]["auth"], "eDp5");
        let mode = std::fs::metadata(&real).expect("meta").permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let names = |d: &Path| -> Vec<String> {
            let mut v: Vec<String> = std::fs::read_dir(d)
                .expect("ls")
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect();
            v.sort();
            v
        };
        assert_eq!(names(&link_dir), ["config.json"], "nothing beside the link");
        assert_eq!(names(&real_dir), ["config.json", "config.json.lock"]);

        // A dangling link: the file is created where it points.
        std::fs::remove_file(&real).expect("rm");
        export(&link).await.1.expect("apply");
        assert!(
            std::fs::symlink_metadata(&link)
                .expect("meta")
                .file_type()
                .is_symlink()
        );
        assert_eq!(json_at(&real)["auths"][HOST]["auth"], "QVdTOnB3");
    }

    #[tokio::test]
    async fn read_merge_write_waits_for_the_lock_and_rereads() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("config.json");
        std::fs::write(&path, r#"{"auths":{}}"#).expect("w");
        let (t, c) = (target(&path), cred());
        let plan = t.plan(&c).await.expect("plan");

        // Another run holds the lock and writes its own entry meanwhile.
        let held = File::create(dir.path().join("config.json.lock")).expect("lock file");
        held.lock().expect("lock");
        let (t2, c2) = (target(&path), Arc::clone(&c));
        let apply = tokio::spawn(async move { t2.apply(&c2, plan).await });
        tokio::time::sleep(Duration::from_millis(400)).await;
        assert_eq!(
            json_at(&path),
            json!({"auths": {}}),
            "no write while another run holds the lock"
        );
        std::fs::write(&path, r#"{"auths":{"other.example.com":{"auth":"eDp5"}}}"#).expect("w");
        held.unlock().expect("unlock");
        apply.await.expect("join").expect("apply");

        let doc = json_at(&path);
        assert_eq!(
            doc["auths"]["other.example.com"]["auth"], "eDp5",
            "not lost"
        );
        assert_eq!(doc["auths"][HOST]["auth"], "QVdTOnB3");
    }

    #[tokio::test]
    async fn overriding_helpers_are_warned_about_not_failed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("config.json");
        for (doc, expected) in [
            (
                json!({"credsStore": "desktop"}),
                Some("credsStore = \"desktop\""),
            ),
            (
                json!({"credsStore": "desktop", "credHelpers": {format!("https://{HOST}"): "ecr-login"}}),
                Some(
                    "credHelpers[\"https://123456789012.dkr.ecr.us-east-1.amazonaws.com\"] = \"ecr-login\"",
                ),
            ),
            (
                json!({"credHelpers": {"public.ecr.aws": "ecr-login"}, "credsStore": ""}),
                None,
            ),
            (json!({}), None),
        ] {
            std::fs::write(&path, doc.to_string()).expect("w");
            let (detail, done) = export(&path).await;
            let done = done.expect("a warning never fails the target");
            for text in [&detail, &done] {
                match expected {
                    Some(w) => {
                        assert!(text.contains(&format!("warning: {w} overrides")), "{text}")
                    }
                    None => assert!(!text.contains("warning"), "{text}"),
                }
            }
            assert_eq!(json_at(&path)["auths"][HOST]["auth"], "QVdTOnB3");
        }
    }
}
