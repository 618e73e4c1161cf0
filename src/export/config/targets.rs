//! The `[[target]]` types and their type-specific keys: one serde struct per type, held as-is
//! by the target that runs it, so a new key is added in one place. `type` selects the struct;
//! unknown keys are errors. API keys are [`Secret`]s: their `Debug` never shows a value.

use super::secret::Secret;
use crate::toml_keys::from_table;
use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::time::Duration;

fn pipecat_url() -> String {
    "https://api.pipecat.daily.co".into()
}

fn runpod_url() -> String {
    "https://api.runpod.io".into()
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PipecatConfig {
    pub secret_set: String,
    /// A Pipecat region (`us-west`), not an AWS one; immutable once the set exists.
    pub region: Option<String>,
    pub api_key: Secret,
    #[serde(default = "pipecat_url")]
    pub base_url: String,
    #[serde(default, deserialize_with = "super::duration::opt")]
    pub wait_ready: Option<Duration>,
    #[serde(default)]
    pub allow_http: bool,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunpodConfig {
    /// Found by exact name; created if missing, never deleted (templates reference its id).
    pub registry_auth: String,
    pub api_key: Secret,
    #[serde(default = "runpod_url")]
    pub base_url: String,
    #[serde(default)]
    pub allow_http: bool,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OctopusConfig {
    pub server: String,
    /// A space name or `Spaces-N`.
    pub space: String,
    /// A Docker feed name or `Feeds-N`.
    pub feed: String,
    pub api_key: Secret,
    #[serde(default)]
    pub allow_http: bool,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KubernetesConfig {
    pub kubeconfig: Option<PathBuf>,
    pub context: Option<String>,
    /// Names or globs; globs need `list namespaces`, plain names do not.
    pub namespaces: Vec<String>,
    #[serde(default)]
    pub exclude_namespaces: Vec<String>,
    pub secret_name: String,
    /// Opt-in: service accounts whose `imagePullSecrets` get the secret appended.
    #[serde(default)]
    pub service_accounts: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DockerConfigConfig {
    pub path: PathBuf,
}

#[derive(Debug)]
pub enum TargetKind {
    Pipecat(PipecatConfig),
    Runpod(RunpodConfig),
    Octopus(OctopusConfig),
    Kubernetes(KubernetesConfig),
    DockerConfig(DockerConfigConfig),
}

impl TargetKind {
    pub fn type_name(&self) -> &'static str {
        match self {
            TargetKind::Pipecat(_) => "pipecat",
            TargetKind::Runpod(_) => "runpod",
            TargetKind::Octopus(_) => "octopus",
            TargetKind::Kubernetes(_) => "kubernetes",
            TargetKind::DockerConfig(_) => "docker-config",
        }
    }

    /// The platform API key, for targets that have one.
    pub fn api_key(&self) -> Option<&Secret> {
        match self {
            TargetKind::Pipecat(c) => Some(&c.api_key),
            TargetKind::Runpod(c) => Some(&c.api_key),
            TargetKind::Octopus(c) => Some(&c.api_key),
            TargetKind::Kubernetes(_) | TargetKind::DockerConfig(_) => None,
        }
    }

    fn api_key_mut(&mut self) -> Option<&mut Secret> {
        match self {
            TargetKind::Pipecat(c) => Some(&mut c.api_key),
            TargetKind::Runpod(c) => Some(&mut c.api_key),
            TargetKind::Octopus(c) => Some(&mut c.api_key),
            TargetKind::Kubernetes(_) | TargetKind::DockerConfig(_) => None,
        }
    }

    /// Reads the API key's value (for a selected target).
    pub fn resolve(
        &mut self,
        home: Option<&Path>,
        remote: &mut super::Remote,
    ) -> Result<(), (String, String)> {
        match self.api_key_mut() {
            Some(key) => key
                .resolve(home, remote)
                .map_err(|e| ("api_key".to_string(), e)),
            None => Ok(()),
        }
    }
}

/// `(key, reason)` of a validation failure.
type Invalid = (String, String);

fn invalid(key: &str, reason: impl Into<String>) -> Invalid {
    (key.to_string(), reason.into())
}

/// Parses one target's type-specific keys (the table without `name`, `type`, `source`), then
/// checks what serde cannot: name rules, URL policy, non-empty lists; `~` in paths is `home`.
pub(super) fn parse_kind(
    kind: &str,
    table: toml::Table,
    home: Option<&Path>,
) -> Result<TargetKind, Invalid> {
    let expand = |p: &Path| crate::settings::expand_tilde(p, home);
    let kind = match kind {
        "pipecat" => {
            let mut c: PipecatConfig = from_table(table)?;
            if !valid_set_name(&c.secret_set) {
                return Err(invalid(
                    "secret_set",
                    format!(
                        "{:?} is not a valid Pipecat secret set name (3-63 chars, lowercase letters, digits, '-' and '.')",
                        c.secret_set
                    ),
                ));
            }
            if c.region.as_deref().is_some_and(|r| r.trim().is_empty()) {
                return Err(invalid("region", "must not be empty"));
            }
            c.base_url = url(&c.base_url, c.allow_http).map_err(|e| invalid("base_url", e))?;
            TargetKind::Pipecat(c)
        }
        "runpod" => {
            let mut c: RunpodConfig = from_table(table)?;
            non_empty("registry_auth", &c.registry_auth)?;
            c.base_url = url(&c.base_url, c.allow_http).map_err(|e| invalid("base_url", e))?;
            TargetKind::Runpod(c)
        }
        "octopus" => {
            let mut c: OctopusConfig = from_table(table)?;
            non_empty("space", &c.space)?;
            non_empty("feed", &c.feed)?;
            c.server = url(&c.server, c.allow_http).map_err(|e| invalid("server", e))?;
            TargetKind::Octopus(c)
        }
        "kubernetes" => {
            let mut c: KubernetesConfig = from_table(table)?;
            if c.namespaces.is_empty() || c.namespaces.iter().any(|n| n.trim().is_empty()) {
                return Err(invalid(
                    "namespaces",
                    "expected a non-empty list of names or globs",
                ));
            }
            for (key, names) in [
                ("secret_name", std::slice::from_ref(&c.secret_name)),
                ("service_accounts", c.service_accounts.as_slice()),
            ] {
                if let Some(bad) = names.iter().find(|s| !valid_dns_subdomain(s)) {
                    return Err(invalid(
                        key,
                        format!("{bad:?} is not a valid Kubernetes object name"),
                    ));
                }
            }
            c.kubeconfig = c.kubeconfig.as_deref().map(expand);
            TargetKind::Kubernetes(c)
        }
        "docker-config" => {
            let mut c: DockerConfigConfig = from_table(table)?;
            if c.path.as_os_str().is_empty() {
                return Err(invalid("path", "must not be empty"));
            }
            c.path = expand(&c.path);
            TargetKind::DockerConfig(c)
        }
        other => {
            return Err(invalid(
                "type",
                format!(
                    "unknown target type {other:?} (expected pipecat, runpod, octopus, kubernetes or docker-config)"
                ),
            ));
        }
    };
    Ok(kind)
}

fn non_empty(key: &str, value: &str) -> Result<(), Invalid> {
    if value.trim().is_empty() {
        return Err(invalid(key, "must not be empty"));
    }
    Ok(())
}

/// A base URL without a trailing slash. The API key is sent there, so plain `http://` is
/// refused unless the host is loopback or `allow_http` is set, and `user:pass@` always is.
/// Messages never repeat the URL: it may hold credentials.
fn url(url: &str, allow_http: bool) -> Result<String, String> {
    let (plain, rest) = match (url.strip_prefix("https://"), url.strip_prefix("http://")) {
        (Some(rest), _) => (false, rest),
        (None, Some(rest)) => (true, rest),
        (None, None) => {
            return Err("invalid URL (expected https://HOST[:PORT][/PATH])".to_string());
        }
    };
    let authority = rest.split('/').next().unwrap_or("");
    if authority.contains('@') {
        return Err(
            "credentials in the URL (user:pass@) are not allowed; use api_key = { env = ... }"
                .to_string(),
        );
    }
    if authority.is_empty() || rest.contains(['?', '#']) {
        return Err("invalid URL (expected https://HOST[:PORT][/PATH], no query)".to_string());
    }
    if plain && !allow_http && !is_loopback(authority) {
        return Err(format!(
            "plain http:// would send the API key unencrypted to {authority}; use https:// (or set allow_http = true on this target)"
        ));
    }
    Ok(url.trim_end_matches('/').to_string())
}

/// `localhost`, `127.x.x.x` or `[::1]`, with or without a port.
fn is_loopback(authority: &str) -> bool {
    let host = match authority.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(""),
        None => authority.split(':').next().unwrap_or(""),
    };
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// Pipecat's set-name rule: DNS-subdomain-like, 3 to 63 characters.
pub fn valid_set_name(name: &str) -> bool {
    (3..=63).contains(&name.len()) && valid_dns_subdomain(name)
}

/// A Kubernetes object name (RFC 1123 subdomain).
pub fn valid_dns_subdomain(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| {
            !label.is_empty()
                && label
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_names() {
        assert!(valid_set_name("my-ecr-credentials"));
        assert!(!valid_set_name("ab"));
        assert!(!valid_set_name("Upper"));
        assert!(!valid_set_name("-x-y"));
    }

    #[test]
    fn urls_must_be_https_unless_loopback_or_allowed() {
        assert!(url("https://api.runpod.io/", false).is_ok_and(|u| u == "https://api.runpod.io"));
        assert!(url("http://127.0.0.1:8080", false).is_ok());
        assert!(url("http://localhost/x", false).is_ok());
        assert!(url("http://[::1]:9", false).is_ok());
        assert!(url("http://octopus.internal", false).is_err());
        assert!(url("http://octopus.internal", true).is_ok());
        assert!(url("http://127.0.0.1.evil.example", false).is_err());
        let e = url("https://user:pw@octopus.example", true).unwrap_err();
        assert!(!e.contains("pw"), "{e}");
        assert!(url("https://o.example/api?key=1", false).is_err());
        assert!(url("ftp://o.example", false).is_err());
    }

    #[test]
    fn debug_hides_api_keys() {
        let dir = tempfile::tempdir().expect("tempdir");
        let key = dir.path().join("key");
        std::fs::write(&key, "rpa_very_secret_key\n").expect("write");
        let table: toml::Table = format!(
            "registry_auth = \"x\"\napi_key = {{ file = \"{}\" }}",
            key.display()
        )
        .parse()
        .expect("toml");
        let mut kind = parse_kind("runpod", table, None).expect("valid");
        kind.resolve(None, &mut crate::export::config::Remote::default())
            .expect("resolve");
        let text = format!("{kind:?}");
        assert!(!text.contains("rpa_very_secret_key"), "{text}");
    }
}
