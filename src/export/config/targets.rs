//! The `[[target]]` types and their type-specific keys.
//!
//! Each type's settings are one struct, held as-is by the target that runs it, so a new key
//! is added in one place. API keys are `SecretString`s: their `Debug` prints a placeholder.

use super::ConfigError;
use super::fields::Fields;
use secrecy::SecretString;
use std::path::{Path, PathBuf};
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct PipecatConfig {
    pub secret_set: String,
    /// A Pipecat region (`us-west`), not an AWS one; immutable once the set exists.
    pub region: Option<String>,
    pub api_key: SecretString,
    pub base_url: String,
    pub wait_ready: Option<Duration>,
}

#[derive(Debug, Clone)]
pub struct RunpodConfig {
    /// Found by exact name; created if missing, never deleted (templates reference its id).
    pub registry_auth: String,
    pub api_key: SecretString,
    pub base_url: String,
}

#[derive(Debug, Clone)]
pub struct OctopusConfig {
    pub server: String,
    /// A space name or `Spaces-N`.
    pub space: String,
    /// A Docker feed name or `Feeds-N`.
    pub feed: String,
    pub api_key: SecretString,
}

#[derive(Debug, Clone)]
pub struct KubernetesConfig {
    pub kubeconfig: Option<PathBuf>,
    pub context: Option<String>,
    /// Names or globs; globs need `list namespaces`, plain names do not.
    pub namespaces: Vec<String>,
    pub exclude_namespaces: Vec<String>,
    pub secret_name: String,
    /// Opt-in: service accounts whose `imagePullSecrets` get the secret appended.
    pub service_accounts: Vec<String>,
}

#[derive(Debug, Clone)]
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
    pub fn api_key(&self) -> Option<&SecretString> {
        match self {
            TargetKind::Pipecat(c) => Some(&c.api_key),
            TargetKind::Runpod(c) => Some(&c.api_key),
            TargetKind::Octopus(c) => Some(&c.api_key),
            TargetKind::Kubernetes(_) | TargetKind::DockerConfig(_) => None,
        }
    }
}

/// Parses one target's type-specific keys. Secrets are only resolved when `resolve` is set
/// (the target is selected); for unselected targets their shape is still checked (an inline
/// secret is an error either way) and `None` is returned.
pub(super) fn parse_kind(
    f: &mut Fields,
    kind: &str,
    resolve: bool,
) -> Result<Option<TargetKind>, ConfigError> {
    let known: &[&str] = match kind {
        "pipecat" => &[
            "secret_set",
            "region",
            "base_url",
            "wait_ready",
            "api_key",
            "allow_http",
        ],
        "runpod" => &["registry_auth", "base_url", "api_key", "allow_http"],
        "octopus" => &[
            "server",
            "space",
            "feed",
            "api_key",
            "allow_http",
            "base_url",
        ],
        "kubernetes" => &[
            "kubeconfig",
            "context",
            "namespaces",
            "exclude_namespaces",
            "secret_name",
            "service_accounts",
        ],
        "docker-config" => &["path"],
        other => {
            return Err(f.err("type", format!("unknown target type {other:?} (expected pipecat, runpod, octopus, kubernetes or docker-config)")));
        }
    };
    f.reject_unknown(known)?;
    let allow_http = f.opt_bool("allow_http")?.unwrap_or(false);
    let parsed = match kind {
        "pipecat" => {
            let secret_set = f.str("secret_set")?;
            if !valid_set_name(&secret_set) {
                return Err(f.err("secret_set", format!("{secret_set:?} is not a valid Pipecat secret set name (3-63 chars, lowercase letters, digits, '-' and '.')")));
            }
            TargetKind::Pipecat(PipecatConfig {
                secret_set,
                region: f.opt_str("region")?,
                base_url: f.url("base_url", Some("https://api.pipecat.daily.co"), allow_http)?,
                wait_ready: f.opt_duration("wait_ready")?,
                api_key: f.secret("api_key", resolve)?,
            })
        }
        "runpod" => TargetKind::Runpod(RunpodConfig {
            registry_auth: f.str("registry_auth")?,
            base_url: f.url("base_url", Some("https://api.runpod.io"), allow_http)?,
            api_key: f.secret("api_key", resolve)?,
        }),
        "octopus" => {
            if f.opt_str("base_url")?.is_some() {
                return Err(f.err("base_url", "octopus uses `server` for its base URL"));
            }
            TargetKind::Octopus(OctopusConfig {
                server: f.url("server", None, allow_http)?,
                space: f.str("space")?,
                feed: f.str("feed")?,
                api_key: f.secret("api_key", resolve)?,
            })
        }
        "kubernetes" => {
            let kubeconfig = f
                .opt_str("kubeconfig")?
                .map(|p| crate::settings::expand_tilde(Path::new(&p), f.home()));
            let context = f.opt_str("context")?;
            let namespaces = f.str_list("namespaces")?;
            if namespaces.is_empty() {
                return Err(f.err(
                    "namespaces",
                    "missing required key (a list of names or globs)",
                ));
            }
            let exclude_namespaces = f.str_list("exclude_namespaces")?;
            let secret_name = f.str("secret_name")?;
            if !valid_dns_subdomain(&secret_name) {
                return Err(f.err(
                    "secret_name",
                    format!("{secret_name:?} is not a valid Kubernetes object name"),
                ));
            }
            let service_accounts = f.str_list("service_accounts")?;
            if let Some(bad) = service_accounts.iter().find(|s| !valid_dns_subdomain(s)) {
                return Err(f.err(
                    "service_accounts",
                    format!("{bad:?} is not a valid Kubernetes object name"),
                ));
            }
            TargetKind::Kubernetes(KubernetesConfig {
                kubeconfig,
                context,
                namespaces,
                exclude_namespaces,
                secret_name,
                service_accounts,
            })
        }
        "docker-config" => {
            let path = crate::settings::expand_tilde(Path::new(&f.str("path")?), f.home());
            TargetKind::DockerConfig(DockerConfigConfig { path })
        }
        // Every type was matched above; this arm only keeps the match total.
        _ => return Err(f.err("type", "unknown target type")),
    };
    Ok(resolve.then_some(parsed))
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
    fn debug_hides_api_keys() {
        let kind = TargetKind::Runpod(RunpodConfig {
            registry_auth: "x".into(),
            api_key: SecretString::from("rpa_very_secret_key".to_string()),
            base_url: "https://api.runpod.io".into(),
        });
        let text = format!("{kind:?}");
        assert!(!text.contains("rpa_very_secret_key"), "{text}");
    }
}
