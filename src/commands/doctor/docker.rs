//! The Docker side: does Docker ask this helper for a host, does a stored `auths` credential
//! stand in its way, and can Docker find the binary.
//!
//! Docker looks a host up in `credHelpers` by its bare host name (`host[:port]`, exact; Docker
//! Hub as `https://index.docker.io/v1/`), then falls back to `credsStore`. A key written with
//! a scheme or path is never matched, so it is reported rather than silently accepted.

use super::report::Check;
use crate::registry;
use serde_json::{Map, Value};
use std::path::{Path, PathBuf};

/// This helper's name in `credHelpers` / `credsStore`.
pub const HELPER: &str = "ecr-login";
/// Docker Hub's key in Docker's credential lookups.
const DOCKER_HUB_KEY: &str = "https://index.docker.io/v1/";
const DOCKER_HUB: [&str; 3] = ["docker.io", "index.docker.io", "registry-1.docker.io"];

/// The Docker config in effect, as read.
pub struct DockerConfig {
    pub path: PathBuf,
    /// `None`: no file. `Err`: a file that is not a JSON object.
    pub content: Option<Result<Map<String, Value>, String>>,
}

/// `$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`.
pub fn load(home: Option<&Path>) -> Option<DockerConfig> {
    let path = crate::fsutil::docker_config_path(home)?;
    let content = match std::fs::read(&path) {
        Ok(bytes) => Some(
            serde_json::from_slice::<Value>(&bytes)
                .map_err(|e| format!("not valid JSON: {e}"))
                .and_then(|v| match v {
                    Value::Object(map) => Ok(map),
                    _ => Err("not a JSON object".into()),
                }),
        ),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => Some(Err(format!("cannot be read: {e}"))),
    };
    Some(DockerConfig { path, content })
}

impl DockerConfig {
    fn map(&self) -> Option<&Map<String, Value>> {
        self.content.as_ref().and_then(|c| c.as_ref().ok())
    }

    fn object(&self, key: &str) -> Option<&Map<String, Value>> {
        self.map()?.get(key)?.as_object()
    }

    fn creds_store(&self) -> Option<&str> {
        self.map()?.get("credsStore")?.as_str()
    }

    /// `credHelpers` keys that name this helper, as written.
    pub fn our_registries(&self) -> Vec<String> {
        self.object("credHelpers")
            .map(|helpers| {
                helpers
                    .iter()
                    .filter(|(_, v)| v.as_str() == Some(HELPER))
                    .map(|(k, _)| k.clone())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Whether Docker runs this helper for anything.
    pub fn uses_us(&self) -> bool {
        self.creds_store() == Some(HELPER) || !self.our_registries().is_empty()
    }

    pub fn uses_creds_store(&self) -> bool {
        self.creds_store() == Some(HELPER)
    }
}

/// The key Docker looks `asked` up under.
fn docker_key(asked: &str) -> Option<String> {
    let authority = registry::authority_of(asked)?;
    Some(if DOCKER_HUB.contains(&authority.as_str()) {
        DOCKER_HUB_KEY.to_string()
    } else {
        authority
    })
}

/// The file as a whole: present and readable.
pub fn file_check(config: Option<&DockerConfig>) -> Check {
    const NAME: &str = "docker-config";
    let Some(config) = config else {
        return Check::warn(
            NAME,
            "no home directory and no DOCKER_CONFIG: no Docker config to read",
            Some("set DOCKER_CONFIG to the directory of the config.json Docker uses".into()),
        );
    };
    let path = config.path.display();
    match &config.content {
        None => Check::warn(
            NAME,
            format!("{path} does not exist: Docker does not run this helper"),
            Some(format!(
                "run `{} configure-docker` (writes credHelpers entries)",
                crate::helper::NAME
            )),
        ),
        Some(Err(why)) => Check::fail(
            NAME,
            format!("{path} is {why}"),
            format!("repair {path} (Docker itself refuses a broken file)"),
        ),
        Some(Ok(_)) if config.uses_creds_store() => Check::ok(
            NAME,
            format!("{path}: credsStore is {HELPER} (every registry)"),
        ),
        Some(Ok(_)) => match config.our_registries().len() {
            0 => Check::warn(
                NAME,
                format!("{path}: no registry uses {HELPER} (no credHelpers entry, no credsStore)"),
                Some(format!(
                    "run `{} configure-docker --registry HOST`",
                    crate::helper::NAME
                )),
            ),
            n => Check::ok(
                NAME,
                format!(
                    "{path}: credHelpers sends {n} registr{} to {HELPER}",
                    if n == 1 { "y" } else { "ies" }
                ),
            ),
        },
    }
}

/// Which helper Docker runs for `asked` (the name a client uses, alias or ECR host).
/// `fallback` is the helper config's `fallback_helper` (for the `credsStore` note).
pub fn helper_check(config: Option<&DockerConfig>, asked: &str, fallback: bool) -> Check {
    const NAME: &str = "docker-helper";
    let Some(key) = docker_key(asked) else {
        return Check::fail(
            NAME,
            format!("{asked:?} is not a host name"),
            "give a registry host, e.g. 123456789012.dkr.ecr.us-east-1.amazonaws.com",
        );
    };
    let configure = format!(
        "run `{} configure-docker --registry {key}`, or add \"credHelpers\": {{\"{key}\": \"{HELPER}\"}}",
        crate::helper::NAME
    );
    let Some(config) = config.filter(|c| c.map().is_some()) else {
        return Check::fail(
            NAME,
            "no usable Docker config: Docker does not run this helper for it",
            configure,
        );
    };
    let path = config.path.display();
    let helpers = config.object("credHelpers");
    match helpers.and_then(|h| h.get(&key)).map(|v| v.as_str()) {
        Some(Some(HELPER)) => {
            return Check::ok(
                NAME,
                format!("credHelpers[\"{key}\"] = \"{HELPER}\" in {path}"),
            );
        }
        Some(other) => {
            return Check::fail(
                NAME,
                format!(
                    "credHelpers[\"{key}\"] in {path} is {}: Docker asks that helper instead",
                    other
                        .map(|o| format!("\"{o}\" (docker-credential-{o})"))
                        .unwrap_or_else(|| "not a string".into())
                ),
                format!("set credHelpers[\"{key}\"] to \"{HELPER}\" in {path}"),
            );
        }
        None => {}
    }
    // A key Docker never matches: the same host with a scheme, a path or another case.
    let near = helpers.and_then(|h| {
        h.keys()
            .find(|k| docker_key(k).as_deref() == Some(key.as_str()) && k.as_str() != key)
    });
    if let Some(near) = near {
        return Check::fail(
            NAME,
            format!("credHelpers has \"{near}\", but Docker looks up the bare host name \"{key}\""),
            format!("rename the key \"{near}\" to \"{key}\" in {path}"),
        );
    }
    match config.creds_store() {
        Some(HELPER) if fallback => {
            Check::ok(NAME, format!("credsStore is \"{HELPER}\" in {path}"))
        }
        Some(HELPER) => Check::ok(
            NAME,
            format!(
                "credsStore is \"{HELPER}\" in {path} (without fallback_helper in the helper config, \
                 `docker login` to other registries cannot store passwords)"
            ),
        ),
        Some(other) => Check::fail(
            NAME,
            format!("{path} has no credHelpers entry for {key}; credsStore \"{other}\" answers it"),
            configure,
        ),
        None => Check::fail(
            NAME,
            format!(
                "{path} has no credHelpers entry for {key} and no credsStore: Docker does not run this helper for it"
            ),
            configure,
        ),
    }
}

/// An `auths` entry holding a stored credential for `asked` (often a 12-hour token left by
/// `docker login`): clients that read `auths` before helpers use it, and it goes stale.
pub fn auths_check(config: Option<&DockerConfig>, asked: &str) -> Check {
    const NAME: &str = "docker-auths";
    let (Some(config), Some(key)) = (config, docker_key(asked)) else {
        return Check::ok(NAME, "no Docker config: nothing stored");
    };
    let stored = config.object("auths").and_then(|auths| {
        auths
            .iter()
            .find(|(k, v)| docker_key(k).as_deref() == Some(key.as_str()) && holds_credential(v))
    });
    let path = config.path.display();
    match stored {
        Some((entry, _)) => Check::fail(
            NAME,
            format!(
                "auths[\"{entry}\"] in {path} holds a stored credential for {key}: it shadows \
                 the helper for clients that read auths first, and an ECR token stored there \
                 expires after 12 hours"
            ),
            format!("remove the \"{entry}\" entry from auths in {path}"),
        ),
        None => Check::ok(NAME, format!("no stored credential for {key} in auths")),
    }
}

/// An entry with something in it; `{}` is what Docker leaves beside a helper, harmless.
fn holds_credential(entry: &Value) -> bool {
    ["auth", "password", "identitytoken", "registrytoken"]
        .iter()
        .any(|k| {
            entry
                .get(k)
                .and_then(Value::as_str)
                .is_some_and(|v| !v.is_empty())
        })
}

/// Whether Docker can run `docker-credential-<helper>`: found on this process's PATH, which is
/// the PATH of a `docker` run from this shell (not necessarily of cron, systemd or CI jobs).
/// `required`: Docker is configured to run it, so a missing binary is a failure.
pub fn binary_check(name: &'static str, helper: &str, required: bool) -> Check {
    let program = crate::delegate::program(helper);
    match std::env::var_os("PATH").and_then(|path| crate::fsutil::find_on_path(&program, &path)) {
        Some(found) if helper == HELPER => {
            let this = std::env::current_exe().and_then(|p| p.canonicalize()).ok();
            match found.canonicalize().ok() {
                Some(real) if this.as_ref() != Some(&real) => Check::warn(
                    name,
                    format!(
                        "PATH finds {} first, which is not this binary ({}): another version, or the Go helper",
                        found.display(),
                        this.map(|p| p.display().to_string()).unwrap_or_default()
                    ),
                    Some(format!(
                        "put the directory of this binary earlier on PATH, or replace {}",
                        found.display()
                    )),
                ),
                _ => Check::ok(
                    name,
                    format!("{program} on PATH is this binary ({})", found.display()),
                ),
            }
        }
        Some(found) => Check::ok(name, format!("{program} is on PATH ({})", found.display())),
        None => {
            let detail = format!("{program} is not on PATH");
            let fix = if helper == HELPER {
                "install it into a directory on PATH (./install/install.sh uses ~/.local/bin), \
                 also on the PATH of the cron, systemd or CI jobs that run docker"
                    .to_string()
            } else {
                format!("install {program}, or change fallback_helper in the helper config")
            };
            if required {
                Check::fail(name, detail, fix)
            } else {
                Check::warn(name, detail, Some(fix))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::report::Status;
    use super::*;

    fn config(json: &str) -> DockerConfig {
        DockerConfig {
            path: PathBuf::from("/h/.docker/config.json"),
            content: Some(
                serde_json::from_str::<Value>(json)
                    .map_err(|e| e.to_string())
                    .and_then(|v| v.as_object().cloned().ok_or_else(|| "not an object".into())),
            ),
        }
    }

    const HOST: &str = "123456789012.dkr.ecr.us-east-1.amazonaws.com";

    #[test]
    fn cred_helpers_win_and_keys_with_a_scheme_are_never_matched() {
        let ours = config(&format!(r#"{{"credHelpers": {{"{HOST}": "ecr-login"}}}}"#));
        assert_eq!(
            helper_check(Some(&ours), &format!("https://{HOST}/v2/"), false).status,
            Status::Ok
        );
        let other = config(&format!(
            r#"{{"credHelpers": {{"{HOST}": "pass"}}, "credsStore": "ecr-login"}}"#
        ));
        let check = helper_check(Some(&other), HOST, false);
        assert_eq!(check.status, Status::Fail);
        assert!(
            check.detail.contains("docker-credential-pass"),
            "{}",
            check.detail
        );
        let schemed = config(&format!(
            r#"{{"credHelpers": {{"https://{HOST}": "ecr-login"}}}}"#
        ));
        let check = helper_check(Some(&schemed), HOST, false);
        assert_eq!(check.status, Status::Fail);
        assert!(
            check.fix.as_deref().is_some_and(|f| f.contains("rename")),
            "{check:?}"
        );
        let store = config(r#"{"credsStore": "ecr-login"}"#);
        assert_eq!(helper_check(Some(&store), HOST, true).status, Status::Ok);
        let desktop = config(r#"{"credsStore": "desktop"}"#);
        assert_eq!(
            helper_check(Some(&desktop), HOST, false).status,
            Status::Fail
        );
    }

    #[test]
    fn only_auths_entries_with_a_credential_shadow() {
        let empty = config(&format!(r#"{{"auths": {{"{HOST}": {{}}}}}}"#));
        assert_eq!(auths_check(Some(&empty), HOST).status, Status::Ok);
        let stored = config(&format!(
            r#"{{"auths": {{"https://{HOST}": {{"auth": "QVdTOng="}}}}}}"#
        ));
        let check = auths_check(Some(&stored), HOST);
        assert_eq!(check.status, Status::Fail);
        assert!(!check.detail.contains("QVdTOng="), "never the stored value");
        assert!(check.fix.as_deref().is_some_and(|f| f.contains("remove")));
    }

    #[test]
    fn docker_hub_names_share_one_key() {
        assert_eq!(docker_key("docker.io").as_deref(), Some(DOCKER_HUB_KEY));
        assert_eq!(
            docker_key("https://index.docker.io/v1/").as_deref(),
            Some(DOCKER_HUB_KEY)
        );
        assert_eq!(
            docker_key("Mirror.Example.com:5000").as_deref(),
            Some("mirror.example.com:5000")
        );
    }
}
