//! The export config file: parsing and validation, before any network call.
//!
//! serde structs (`deny_unknown_fields`) per table; `crate::toml_keys` makes every error name the
//! file, the key and the reason, never the offending text, and maps to exit code 2. Secret
//! references (`{ env = "NAME" }`, `{ file = "PATH" }`) are resolved here, eagerly, for the
//! selected targets only, so a missing key file fails the run before anything is fetched.

mod duration;
mod secret;
mod targets;

pub use duration::parse_duration;
pub use secret::{Remote, SECRET_FORMS, Secret, SecretRef};
pub use targets::{
    DockerConfigConfig, KubernetesConfig, OctopusConfig, PipecatConfig, RunpodConfig, TargetKind,
    valid_dns_subdomain, valid_set_name,
};

use crate::toml_keys::{self, toml_error};
use serde::Deserialize;
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::Duration;
use toml::{Table, Value};

pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
pub const DEFAULT_RETRIES: u32 = 4;
pub const DEFAULT_CONCURRENCY: usize = 8;
/// Namespaces skipped by globs unless named explicitly.
pub const SYSTEM_NAMESPACES: [&str; 3] = ["kube-system", "kube-public", "kube-node-lease"];

/// A config error: `file: key: reason` (`file: reason` when it is not about one key).
#[derive(Debug)]
pub struct ConfigError {
    pub file: String,
    pub key: String,
    pub reason: String,
}

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.key.as_str() {
            "" => write!(f, "{}: {}", self.file, self.reason),
            key => write!(f, "{}: {key}: {}", self.file, self.reason),
        }
    }
}

impl std::error::Error for ConfigError {}

#[derive(Debug, Clone)]
pub struct Defaults {
    pub timeout: Duration,
    pub retries: u32,
    pub concurrency: usize,
    /// Where a summary of a run with failed targets is POSTed (a Slack/Teams webhook URL is
    /// itself a secret: a reference, like the API keys).
    pub notify_url: Option<Secret>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct DefaultsFile {
    #[serde(default, deserialize_with = "duration::opt")]
    timeout: Option<Duration>,
    retries: Option<i64>,
    concurrency: Option<i64>,
    notify_url: Option<Secret>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Source {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub region: String,
    pub registry: Option<String>,
    pub profile: Option<String>,
    pub role_arn: Option<String>,
}

#[derive(Debug)]
pub struct Target {
    pub name: String,
    pub source: String,
    pub kind: TargetKind,
}

impl Target {
    pub fn type_name(&self) -> &'static str {
        self.kind.type_name()
    }
}

pub struct Config {
    pub path: PathBuf,
    pub defaults: Defaults,
    pub sources: Vec<Source>,
    /// Only the selected targets (all when `--target` was not given), in file order.
    pub targets: Vec<Target>,
}

/// `$XDG_CONFIG_HOME/ecr-login/export.toml`, else `~/.config/ecr-login/export.toml`.
pub fn default_path(home: Option<&Path>) -> Option<PathBuf> {
    match std::env::var_os("XDG_CONFIG_HOME").filter(|v| !v.is_empty()) {
        Some(dir) => Some(PathBuf::from(dir).join("ecr-login/export.toml")),
        None => home.map(|h| h.join(".config/ecr-login/export.toml")),
    }
}

/// Reads, validates and resolves the config. `selected` are `--target` names (empty: all).
pub fn load(path: &Path, selected: &[String], home: Option<&Path>) -> Result<Config, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        let hint = if e.kind() == std::io::ErrorKind::NotFound {
            " (create it: see the example config in the README's Export section, or \
             install/deploy/kubernetes/configmap.yaml; or print credentials without a config: \
             `docker-credential-ecr-login export --print env --region REGION`)"
        } else {
            ""
        };
        ConfigError {
            file: path.display().to_string(),
            key: String::new(),
            reason: format!("cannot read the config file: {e}{hint}"),
        }
    })?;
    warn_if_writable_by_others(path);
    parse(&text, path, selected, home)
}

/// Validates config text (`path` is only used in messages and to resolve relative key files).
pub fn parse(
    text: &str,
    path: &Path,
    selected: &[String],
    home: Option<&Path>,
) -> Result<Config, ConfigError> {
    let file = path.display().to_string();
    let err = |key: &str, reason: String| ConfigError {
        file: file.clone(),
        key: key.to_string(),
        reason,
    };
    // `prefix.key` for an error inside a table.
    let at = |prefix: &str, (key, reason): (String, String)| match key.as_str() {
        "" => err(prefix, reason),
        key => err(&format!("{prefix}.{key}"), reason),
    };
    let mut table: Table = text
        .parse::<Table>()
        .map_err(|e| err("", toml_error(text, &e)))?;
    if let Some(key) = table
        .keys()
        .find(|k| !matches!(k.as_str(), "defaults" | "source" | "target"))
    {
        let present: Vec<String> = table.keys().cloned().collect();
        return Err(err(
            key,
            toml_keys::unknown_key(key, &["defaults", "source", "target"], &present),
        ));
    }
    let defaults = match table.remove("defaults") {
        None => DefaultsFile::default(),
        Some(Value::Table(t)) => toml_keys::from_table(t).map_err(|e| at("defaults", e))?,
        Some(_) => return Err(err("defaults", "expected a [defaults] table".into())),
    };
    // Secrets Manager and SSM values, read once for the whole config.
    let mut remote = Remote::default();
    let defaults = check_defaults(defaults, home, &mut remote).map_err(|e| at("defaults", e))?;
    let sources = parse_sources(tables(&mut table, "source").map_err(|r| err("source", r))?)
        .map_err(|(prefix, e)| at(&prefix, e))?;
    let items = tables(&mut table, "target").map_err(|r| err("target", r))?;
    let targets = parse_targets(items, &sources, selected, home, &mut remote, &err, &at)?;
    Ok(Config {
        path: path.to_path_buf(),
        defaults,
        sources,
        targets,
    })
}

/// The `[[name]]` tables; at least one is required.
fn tables(table: &mut Table, name: &str) -> Result<Vec<Table>, String> {
    let items = match table.remove(name) {
        None => Vec::new(),
        Some(Value::Array(items)) => items,
        Some(_) => return Err(format!("expected [[{name}]] tables")),
    };
    if items.is_empty() {
        return Err(format!("at least one [[{name}]] is required"));
    }
    items
        .into_iter()
        .map(|v| match v {
            Value::Table(t) => Ok(t),
            _ => Err(format!("expected [[{name}]] tables")),
        })
        .collect()
}

fn check_defaults(
    d: DefaultsFile,
    home: Option<&Path>,
    remote: &mut Remote,
) -> Result<Defaults, (String, String)> {
    let invalid = |key: &str, reason: &str| (key.to_string(), reason.to_string());
    let timeout = d.timeout.unwrap_or(DEFAULT_TIMEOUT);
    if timeout.is_zero() {
        return Err(invalid("timeout", "must be more than zero"));
    }
    let retries = match d.retries {
        None => DEFAULT_RETRIES,
        Some(n @ 0..=20) => n as u32,
        Some(_) => return Err(invalid("retries", "expected an integer from 0 to 20")),
    };
    let concurrency = match d.concurrency {
        None => DEFAULT_CONCURRENCY,
        Some(n @ 1..=256) => n as usize,
        Some(_) => return Err(invalid("concurrency", "expected an integer from 1 to 256")),
    };
    let mut notify_url = d.notify_url;
    if let Some(url) = notify_url.as_mut() {
        use secrecy::ExposeSecret as _;
        url.resolve(home, remote)
            .map_err(|e| ("notify_url".to_string(), e))?;
        let value = url.value().expose_secret();
        if !value.starts_with("https://") && !value.starts_with("http://") {
            return Err(invalid(
                "notify_url",
                "the referenced value is not an http(s):// URL",
            ));
        }
    }
    Ok(Defaults {
        timeout,
        retries,
        concurrency,
        notify_url,
    })
}

fn parse_sources(items: Vec<Table>) -> Result<Vec<Source>, (String, (String, String))> {
    let many = items.len() > 1;
    let mut names = HashSet::new();
    let mut sources = Vec::new();
    for (i, item) in items.into_iter().enumerate() {
        let prefix = format!("source[{i}]");
        let invalid = |key: &str, reason: String| (prefix.clone(), (key.to_string(), reason));
        let mut s: Source = toml_keys::from_table(item).map_err(|e| (prefix.clone(), e))?;
        for (key, value) in [
            ("registry", &s.registry),
            ("profile", &s.profile),
            ("role_arn", &s.role_arn),
        ] {
            if value.as_deref().is_some_and(|v| v.trim().is_empty()) {
                return Err(invalid(key, "must not be empty".into()));
            }
        }
        if s.name.is_empty() {
            if many {
                return Err(invalid(
                    "name",
                    "required when there is more than one [[source]]".into(),
                ));
            }
            s.name = "default".into();
        }
        if !names.insert(s.name.clone()) {
            return Err(invalid(
                "name",
                format!("duplicate source name {:?}", s.name),
            ));
        }
        s.region = match (&s.registry, std::mem::take(&mut s.region)) {
            (Some(host), region) => match crate::registry::parse(host) {
                Some(crate::registry::Registry::Private(p)) => {
                    if !region.is_empty() && region != p.region {
                        return Err(invalid(
                            "region",
                            format!("does not match the registry's region {}", p.region),
                        ));
                    }
                    p.region
                }
                Some(crate::registry::Registry::Public { .. }) if region.is_empty() => {
                    crate::registry::PUBLIC_REGION.to_string()
                }
                Some(crate::registry::Registry::Public { .. }) => region,
                None => {
                    return Err(invalid(
                        "registry",
                        format!("{host:?} is not an ECR registry host"),
                    ));
                }
            },
            (None, region) if !region.is_empty() => region,
            (None, _) => {
                return Err(invalid(
                    "region",
                    "missing required key (or set `registry`)".into(),
                ));
            }
        };
        if let Some(arn) = s.role_arn.as_ref().filter(|a| !a.starts_with("arn:")) {
            return Err(invalid("role_arn", format!("{arn:?} is not an ARN")));
        }
        sources.push(s);
    }
    Ok(sources)
}

fn parse_targets(
    items: Vec<Table>,
    sources: &[Source],
    selected: &[String],
    home: Option<&Path>,
    remote: &mut Remote,
    err: &dyn Fn(&str, String) -> ConfigError,
    at: &dyn Fn(&str, (String, String)) -> ConfigError,
) -> Result<Vec<Target>, ConfigError> {
    // Names first, so duplicates and --target selection are checked for all targets.
    let mut names = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let key = format!("target[{i}].name");
        let name = match item.get("name") {
            Some(Value::String(s)) if !s.trim().is_empty() => s.clone(),
            Some(_) => return Err(err(&key, "expected a non-empty string".into())),
            None => return Err(err(&key, "missing required key".into())),
        };
        if names.contains(&name) {
            return Err(err(&key, format!("duplicate target name {name:?}")));
        }
        names.push(name);
    }
    for wanted in selected {
        if !names.contains(wanted) {
            return Err(err(
                "--target",
                format!("no target named {wanted:?} (have: {})", names.join(", ")),
            ));
        }
    }
    let mut targets = Vec::new();
    for (mut item, name) in items.into_iter().zip(names) {
        let prefix = format!("target {name:?}");
        item.remove("name");
        let text = |key: &str, item: &mut Table| match item.remove(key) {
            None => Ok(None),
            Some(Value::String(s)) if !s.trim().is_empty() => Ok(Some(s)),
            Some(_) => Err(at(
                &prefix,
                (key.to_string(), "expected a non-empty string".into()),
            )),
        };
        let Some(kind) = text("type", &mut item)? else {
            return Err(at(&prefix, ("type".into(), "missing required key".into())));
        };
        let source = match text("source", &mut item)? {
            Some(s) if sources.iter().any(|src| src.name == s) => s,
            Some(s) => {
                return Err(at(
                    &prefix,
                    ("source".into(), format!("unknown source {s:?}")),
                ));
            }
            None if sources.len() == 1 => sources[0].name.clone(),
            None => {
                return Err(at(
                    &prefix,
                    (
                        "source".into(),
                        "required when there is more than one [[source]]".into(),
                    ),
                ));
            }
        };
        let mut kind = targets::parse_kind(&kind, item, home).map_err(|e| at(&prefix, e))?;
        // Secrets only for the selected targets: an unselected target's missing variable
        // must not block a run (its shape was checked all the same).
        if selected.is_empty() || selected.contains(&name) {
            kind.resolve(home, remote).map_err(|e| at(&prefix, e))?;
            targets.push(Target { name, source, kind });
        }
    }
    Ok(targets)
}

/// Warns when others could change the config (it decides where credentials go). Being
/// readable is fine: it holds only references to secrets (inline secrets are refused), so the
/// shipped Kubernetes CronJob can mount it 0440 without a warning every run.
pub fn warn_if_writable_by_others(path: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        if let Ok(meta) = std::fs::metadata(path) {
            let mode = meta.permissions().mode();
            if mode & 0o022 != 0 {
                let line = format!(
                    "warning: config file {} is writable by group or others (mode {:o}); run `chmod go-w {}`",
                    path.display(),
                    mode & 0o777,
                    path.display()
                );
                eprintln!("{line}");
                tracing::warn!("{line}");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_str(text: &str) -> Result<Config, ConfigError> {
        parse(text, Path::new("export.toml"), &[], None)
    }

    const SOURCE: &str = "[[source]]\nregion = \"us-east-1\"\n";

    #[test]
    fn minimal_docker_config_target() {
        let cfg = parse_str(&format!(
            "{SOURCE}[[target]]\nname=\"l\"\ntype=\"docker-config\"\npath=\"/tmp/x.json\"\n"
        ))
        .expect("valid");
        assert_eq!(cfg.targets.len(), 1);
        assert_eq!(cfg.targets[0].source, "default");
        assert_eq!(cfg.defaults.retries, DEFAULT_RETRIES);
    }

    #[test]
    fn a_syntax_error_names_the_place_but_never_quotes_the_line() {
        // An API key pasted without quotes is a TOML syntax error; the message must not echo it.
        let text = format!("{SOURCE}[[target]]\nname = \"r\"\napi_key = rpa_SECRETKEY123\n");
        let e = parse_str(&text)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(e.contains("invalid TOML at line 5"), "{e}");
        assert!(!e.contains("SECRETKEY123"), "{e}");
    }

    #[test]
    fn errors_name_the_key() {
        let cases = [
            (
                "[[target]]\nname=\"a\"\ntype=\"ftp\"\n",
                "target \"a\".type",
                "unknown target type",
            ),
            (
                "[[target]]\nname=\"a\"\ntype=\"runpod\"\napi_key=\"inline\"\nregistry_auth=\"x\"\n",
                "target \"a\".api_key",
                "inline secrets",
            ),
            (
                "[[target]]\nname=\"a\"\ntype=\"runpod\"\n",
                "target \"a\".registry_auth",
                "missing",
            ),
            (
                "[[target]]\nname=\"a\"\ntype=\"docker-config\"\npath=\"/x\"\nsource=\"nope\"\n",
                "target \"a\".source",
                "unknown source",
            ),
            (
                "[[target]]\nname=\"a\"\ntype=\"docker-config\"\npath=\"/x\"\n[[target]]\nname=\"a\"\ntype=\"docker-config\"\npath=\"/y\"\n",
                "target[1].name",
                "duplicate",
            ),
            (
                "[[target]]\nname=\"a\"\ntype=\"docker-config\"\npath=\"/x\"\ncolour=1\n",
                "target \"a\".colour",
                "unknown key",
            ),
            (
                // A typo names the typo and the key it meant, not "path: missing".
                "[[target]]\nname=\"a\"\ntype=\"docker-config\"\npaht=\"/x\"\n",
                "target \"a\".paht",
                "unknown key (did you mean `path`? `path` is not set)",
            ),
            (
                "[[target]]\nname=\"a\"\ntype=\"runpod\"\nregistry_auth=\"x\"\napi_key={env=\"K\"}\nbase_url=\"http://runpod.example\"\n",
                "target \"a\".base_url",
                "plain http://",
            ),
            (
                "[[target]]\nname=\"a\"\ntype=\"runpod\"\nregistry_auth=\"x\"\napi_key={file=\"/nonexistent/key\"}\n",
                "target \"a\".api_key",
                "cannot read key file",
            ),
        ];
        for (body, key, reason) in cases {
            let e = parse_str(&format!("{SOURCE}{body}")).err().expect(body);
            assert_eq!(e.key, key, "{body}: {e}");
            assert!(e.reason.contains(reason), "{body}: {e}");
            assert!(e.to_string().starts_with("export.toml: "), "{e}");
        }
    }

    #[test]
    fn unselected_targets_are_validated_but_not_resolved() {
        let text = format!(
            "{SOURCE}[[target]]\nname=\"a\"\ntype=\"docker-config\"\npath=\"/x\"\n\
             [[target]]\nname=\"b\"\ntype=\"runpod\"\nregistry_auth=\"x\"\napi_key={{env=\"ECR_LOGIN_TEST_UNSET_VAR\"}}\n"
        );
        let cfg =
            parse(&text, Path::new("e.toml"), &["a".to_string()], None).expect("b is not resolved");
        assert_eq!(cfg.targets.len(), 1);
        let e = parse(&text, Path::new("e.toml"), &[], None)
            .err()
            .expect("b's env var is unset");
        assert!(e.reason.contains("ECR_LOGIN_TEST_UNSET_VAR"));
        let e = parse(&text, Path::new("e.toml"), &["zz".to_string()], None)
            .err()
            .expect("unknown --target");
        assert_eq!(e.key, "--target");
        // An inline secret is a config error even in a target that is not selected.
        let inline = text.replace("{env=\"ECR_LOGIN_TEST_UNSET_VAR\"}", "\"rpa_inline\"");
        let e = parse(&inline, Path::new("e.toml"), &["a".to_string()], None)
            .err()
            .expect("inline secret");
        assert!(e.reason.contains("inline secrets"), "{e}");
    }

    #[test]
    fn a_bare_number_is_seconds() {
        let cfg = parse_str(&format!(
            "[defaults]\ntimeout=30\n{SOURCE}[[target]]\nname=\"a\"\ntype=\"docker-config\"\npath=\"/x\"\n"
        ))
        .expect("valid");
        assert_eq!(cfg.defaults.timeout, Duration::from_secs(30));
    }

    #[test]
    fn zero_timeout_and_missing_server_are_errors() {
        let e = parse_str(&format!(
            "[defaults]\ntimeout=\"0s\"\n{SOURCE}[[target]]\nname=\"a\"\ntype=\"docker-config\"\npath=\"/x\"\n"
        ))
        .err()
        .expect("zero timeout");
        assert_eq!(e.key, "defaults.timeout");
        let e = parse_str(&format!(
            "{SOURCE}[[target]]\nname=\"a\"\ntype=\"octopus\"\nspace=\"s\"\nfeed=\"f\"\napi_key={{env=\"X\"}}\n"
        ))
        .err()
        .expect("no server");
        assert_eq!(e.key, "target \"a\".server");
        assert!(e.reason.contains("missing required key"), "{e}");
    }
}
