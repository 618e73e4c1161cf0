//! A Docker `config.json` file: merge only our `auths` entry, keep everything else.
//!
//! * A symlinked `config.json` (dotfile managers, `~/.docker` -> elsewhere) stays a symlink: the
//!   link is resolved and the real file is replaced atomically (`fsutil::write_atomic`): an
//!   existing file keeps its owner, group and mode, a new one gets 0600. A dangling link is an
//!   error, not a new file wherever it points.
//! * Read-merge-write runs under an exclusive lock on a sidecar `<real file>.lock`, re-reading the
//!   file once the lock is held, so two `export` runs on the same file cannot lose each other's
//!   update. Docker itself takes no lock: a concurrent `docker login` can still race us (its
//!   write is atomic too, so the file is never torn, but one of the two updates can be lost).
//!   The lock file is left in place: removing it would let a waiter lock a deleted file.
//! * A `credHelpers` entry for the host, or a `credsStore`, makes Docker ignore the `auths`
//!   entry; that is a warning (in the text and JSON output), not a failure.

use super::config::DockerConfigConfig;
use super::target::{Action, Cred, Plan, Target, TargetError};
use crate::fsutil::{self, LockError, LockGuard};
use crate::json_doc::{self, Entries, InOrder};
use secrecy::ExposeSecret;
use serde_json::value::RawValue;
use serde_json::{Value, json};
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// Symlinks followed before giving up (the kernel's own limit).
const MAX_SYMLINKS: usize = 40;
/// How long to wait for another run holding the file's lock.
const LOCK_WAIT: Duration = Duration::from_secs(30);

pub struct DockerConfig {
    pub cfg: DockerConfigConfig,
}

/// The file really written: `path` with every symlink followed. A dangling symlink is an
/// error: creating the file where it points (maybe a directory that belongs to someone else, or
/// a path left over from a removed dotfile setup) would put credentials somewhere unexpected.
///
/// A link is followed only to a file of the link's owner (or when the link is ours or root's),
/// as the kernel's `protected_symlinks` does in shared directories: otherwise a user could
/// point `~/.docker/config.json` at a JSON file of root's (`/etc/docker/daemon.json`) and
/// have root's `export` write into it.
pub(crate) fn resolve(path: &Path) -> Result<PathBuf, TargetError> {
    let mut links = Vec::new();
    let real = follow(path, &mut links)?;
    check_link_owners(&links, &real)?;
    Ok(real)
}

/// Refuses a link (of those `follow` went through) whose owner is neither us, root, nor the
/// owner of the file it leads to.
#[cfg(unix)]
fn check_link_owners(links: &[(PathBuf, u32)], real: &Path) -> Result<(), TargetError> {
    use std::os::unix::fs::MetadataExt as _;
    let Ok(target) = std::fs::metadata(real) else {
        return Ok(()); // a new file: created as ours
    };
    // SAFETY: geteuid has no preconditions.
    let me = unsafe { libc::geteuid() };
    match links
        .iter()
        .find(|(_, owner)| ![me, 0, target.uid()].contains(owner))
    {
        Some((link, owner)) => Err(TargetError(format!(
            "{} is a symlink of uid {owner} to {}, a file of uid {}; not following it",
            link.display(),
            real.display(),
            target.uid()
        ))),
        None => Ok(()),
    }
}

#[cfg(not(unix))]
fn check_link_owners(_: &[(PathBuf, u32)], _: &Path) -> Result<(), TargetError> {
    Ok(())
}

/// `path` with every symlink followed (see [`resolve`]); each link passed and its owner go to
/// `links`.
fn follow(path: &Path, links: &mut Vec<(PathBuf, u32)>) -> Result<PathBuf, TargetError> {
    let mut current = path.to_path_buf();
    for _ in 0..MAX_SYMLINKS {
        match std::fs::symlink_metadata(&current) {
            Ok(meta) if meta.file_type().is_symlink() => {
                links.push((current.clone(), owner_of(&meta)));
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
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && current == path => {
                return Ok(tidy(current));
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(TargetError(format!(
                    "{} is a symlink to {}, which does not exist; not creating it there (fix or remove the link)",
                    path.display(),
                    current.display()
                )));
            }
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

#[cfg(unix)]
fn owner_of(meta: &std::fs::Metadata) -> u32 {
    std::os::unix::fs::MetadataExt::uid(meta)
}

#[cfg(not(unix))]
fn owner_of(_: &std::fs::Metadata) -> u32 {
    0
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
pub(crate) fn lock(real: &Path) -> Result<LockGuard, TargetError> {
    fsutil::lock(&lock_path(real), LOCK_WAIT).map_err(|e| match e {
        LockError::Busy { path, waited } => TargetError(format!(
            "another process held the lock {} for {} s; not writing",
            path.display(),
            waited.as_secs()
        )),
        other => TargetError(other.to_string()),
    })
}

/// A `config.json` document: its top-level keys with their values as written, in order
/// ([`crate::json_doc`]): someone else's settings come back byte for byte, and a diff of the
/// file shows only our entry.
type Doc = Entries;

/// The document at `real`: empty when missing or blank; an error if it is not a JSON object
/// or its `auths` is not an object (someone else's file we do not understand is left alone).
fn read(real: &Path) -> Result<Doc, TargetError> {
    let doc: Doc = match std::fs::read_to_string(real) {
        Ok(text) if text.trim().is_empty() => Doc::default(),
        Ok(text) => serde_json::from_str(&text).map_err(|_| {
            TargetError(format!(
                "{} is not a JSON object; not touching it",
                real.display()
            ))
        })?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Doc::default(),
        Err(e) => {
            return Err(TargetError(format!("cannot read {}: {e}", real.display())));
        }
    };
    if doc.raw("auths").is_some_and(|a| auths_of(a).is_none()) {
        return Err(TargetError(format!(
            "{}: `auths` is not an object; not touching it",
            real.display()
        )));
    }
    Ok(doc)
}

/// The entries of an `auths` value, each as written; `None` if it is not an object.
fn auths_of(raw: &RawValue) -> Option<Doc> {
    json_doc::entries_of(raw)
}

/// A value of the document, decoded (only for reading `credHelpers` / `credsStore`).
fn decoded(doc: &Doc, key: &str) -> Option<Value> {
    doc.raw(key)
        .and_then(|raw| serde_json::from_str(raw.get()).ok())
}

/// Docker's key normalisation for registry lookups: no scheme, nothing after the host.
pub(crate) fn hostname(key: &str) -> &str {
    let key = key
        .strip_prefix("https://")
        .or_else(|| key.strip_prefix("http://"))
        .unwrap_or(key);
    key.split('/').next().unwrap_or(key)
}

/// Why Docker would not use our `auths` entry for `host`, if it would not. Docker asks a
/// `credHelpers` entry for the host first, then `credsStore`, and reads `auths` only when neither
/// is set.
fn override_warning(doc: &Doc, host: &str) -> Option<String> {
    let helper = decoded(doc, "credHelpers");
    let helper = helper
        .as_ref()
        .and_then(Value::as_object)
        .and_then(|helpers| {
            helpers
                .iter()
                .find(|(key, _)| hostname(key) == host)
                .map(|(key, value)| (key.clone(), value.as_str().unwrap_or("").to_string()))
        });
    if let Some((key, helper)) = helper {
        return Some(format!(
            "credHelpers[{key:?}] = {helper:?} overrides this auths entry: docker asks docker-credential-{helper} for {host}"
        ));
    }
    match decoded(doc, "credsStore").as_ref().and_then(Value::as_str) {
        Some(store) if !store.is_empty() => Some(format!(
            "credsStore = {store:?} overrides this auths entry: docker asks docker-credential-{store} for {host}"
        )),
        _ => None,
    }
}

/// A top-level value as written back: someone else's verbatim, `auths` as a map of entries.
#[derive(serde::Serialize)]
#[serde(untagged)]
enum Field<'a> {
    Kept(&'a RawValue),
    Auths(&'a Doc),
}

/// Replaces `real` atomically, keeping an existing file's owner, group and mode (0600 if new).
fn write(real: &Path, doc: &Doc, auths: &Doc) -> Result<(), TargetError> {
    let mut fields: Vec<(&str, Field)> = doc
        .0
        .iter()
        .map(|(k, v)| (k.as_str(), Field::Kept(v)))
        .collect();
    match fields.iter_mut().find(|(k, _)| *k == "auths") {
        Some((_, slot)) => *slot = Field::Auths(auths),
        None => fields.push(("auths", Field::Auths(auths))),
    }
    let fields = InOrder(fields);
    let mut text = serde_json::to_string_pretty(&fields)
        .map_err(|e| TargetError(format!("cannot serialise the config: {e}")))?;
    text.push('\n');
    fsutil::write_atomic(real, text.as_bytes(), 0o600)
        .map_err(|e| TargetError(format!("cannot write {}: {e}", real.display())))
}

/// Read-merge-write of our entry under the file's lock; returns the file really written.
fn update(path: &Path, cred: &Cred) -> Result<PathBuf, TargetError> {
    let real = resolve(path)?;
    std::fs::create_dir_all(fsutil::directory_of(&real)).map_err(|e| {
        TargetError(format!(
            "cannot create the directory of {}: {e}",
            real.display()
        ))
    })?;
    let _lock = lock(&real)?;
    fsutil::remove_orphaned_temps(&real);
    // Read again under the lock: another run may have written since the plan.
    let doc = read(&real)?;
    let mut auths = doc.raw("auths").and_then(auths_of).unwrap_or_default();
    let ours = json!({ "auth": cred.auth.expose_secret() }).to_string();
    let ours = RawValue::from_string(ours)
        .map_err(|e| TargetError(format!("cannot serialise the config: {e}")))?;
    auths.insert(cred.host.clone(), ours);
    write(&real, &doc, &auths)?;
    Ok(real)
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
        let exists = doc
            .raw("auths")
            .and_then(auths_of)
            .is_some_and(|auths| auths.get(&cred.host).is_some());
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
            detail,
            problems: Vec::new(),
            warnings: override_warning(&doc, &cred.host).into_iter().collect(),
            state: (),
        })
    }

    async fn apply(&self, cred: &Arc<Cred>, _plan: Plan<()>) -> Result<String, TargetError> {
        let (path, shared) = (self.cfg.path.clone(), Arc::clone(cred));
        // File locking and fsync block: keep them off the async workers.
        let real = tokio::task::spawn_blocking(move || update(&path, &shared))
            .await
            .map_err(|e| TargetError(format!("the docker-config task failed: {e}")))??;
        Ok(format!(
            "wrote auths[{:?}] in {}",
            cred.host,
            self.shown(&real)
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
            origin: crate::token::Origin::Api,
        })
    }

    fn target(path: &Path) -> DockerConfig {
        DockerConfig {
            cfg: DockerConfigConfig {
                path: path.to_path_buf(),
            },
        }
    }

    /// Plans and applies; returns the plan's detail and warnings, and the result.
    async fn export(path: &Path) -> (String, Vec<String>, Result<String, TargetError>) {
        let (t, c) = (target(path), cred());
        let plan = t.plan(&c).await.expect("plan");
        let (detail, warnings) = (plan.detail.clone(), plan.warnings.clone());
        (detail, warnings, t.apply(&c, plan).await)
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
        std::fs::set_permissions(&real, std::fs::Permissions::from_mode(0o640)).expect("chmod");
        let link = link_dir.join("config.json");
        std::os::unix::fs::symlink("../../dotfiles/config.json", &link).expect("symlink");

        let (detail, _, done) = export(&link).await;
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
        assert_eq!(mode & 0o777, 0o640, "the existing file's mode is kept");
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

        // A dangling link is an error: nothing is created where it points.
        std::fs::remove_file(&real).expect("rm");
        let error = target(&link).plan(&cred()).await.err().expect("dangling");
        assert!(error.0.contains("does not exist"), "{}", error.0);
        assert!(!real.exists());
    }

    #[tokio::test]
    async fn read_merge_write_waits_for_the_lock_and_rereads() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("config.json");
        std::fs::write(&path, r#"{"auths":{}}"#).expect("w");
        let (t, c) = (target(&path), cred());
        let plan = t.plan(&c).await.expect("plan");

        // Another run holds the lock and writes its own entry meanwhile.
        let held = std::fs::File::create(dir.path().join("config.json.lock")).expect("lock file");
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
            let (_, warnings, done) = export(&path).await;
            done.expect("a warning never fails the target");
            let text = warnings.join("\n");
            match expected {
                Some(w) => assert!(text.contains(&format!("{w} overrides")), "{text}"),
                None => assert!(warnings.is_empty(), "{text}"),
            }
            assert_eq!(json_at(&path)["auths"][HOST]["auth"], "QVdTOnB3");
        }
    }

    /// Found by the docker_config fuzz target: values were decoded and re-encoded, so floats
    /// and integers beyond 64 bits in someone else's settings came back rounded.
    #[tokio::test]
    async fn values_we_do_not_own_are_kept_as_written() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("config.json");
        let theirs = r#"{"exp": 155555555555555555555555555555555555555555555555555555555555555555555555555555555555555555,
 "big": 123456789012345678901234567890, "tiny": 1e-400, "f": 0.30000000000000004,
 "auths": {"other.example.com": {"auth": "eDp5", "n": 1.0e2}}}"#;
        std::fs::write(&path, theirs).expect("w");
        let (_, _, done) = export(&path).await;
        done.expect("apply");
        let written = std::fs::read_to_string(&path).expect("read");
        for kept in [
            "155555555555555555555555555555555555555555555555555555555555555555555555555555555555555555",
            "123456789012345678901234567890",
            "1e-400",
            "0.30000000000000004",
            r#"{"auth": "eDp5", "n": 1.0e2}"#,
        ] {
            assert!(written.contains(kept), "{kept} not kept in {written}");
        }
        let at = |key: &str| written.find(&format!("\"{key}\"")).expect("key kept");
        assert!(
            at("exp") < at("big") && at("big") < at("tiny") && at("f") < at("auths"),
            "the file's key order is kept: {written}"
        );
        assert_eq!(json_at(&path)["auths"][HOST]["auth"], "QVdTOnB3");
    }
}
