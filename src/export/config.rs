//! The export config file: parsing and validation, before any network call.
//!
//! Every error names the file, the key and the reason, and maps to exit code 2. Secret
//! references (`{ env = "NAME" }`, `{ file = "PATH" }`) are resolved here, eagerly, for the
//! selected targets only, so a missing key file fails the run before anything is fetched.

use secrecy::SecretString;
use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::Duration;
use toml::{Table, Value};

pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
pub const DEFAULT_RETRIES: u32 = 4;
pub const DEFAULT_CONCURRENCY: usize = 8;
/// Namespaces skipped by globs unless named explicitly.
pub const SYSTEM_NAMESPACES: [&str; 3] = ["kube-system", "kube-public", "kube-node-lease"];

/// A config error: `file: key: reason`.
#[derive(Debug, thiserror::Error)]
#[error("{file}: {key}: {reason}")]
pub struct ConfigError {
    pub file: String,
    pub key: String,
    pub reason: String,
}

#[derive(Debug, Clone)]
pub struct Defaults {
    pub timeout: Duration,
    pub retries: u32,
    pub concurrency: usize,
}

#[derive(Debug, Clone)]
pub struct Source {
    pub name: String,
    pub region: String,
    pub registry: Option<String>,
    pub profile: Option<String>,
    pub role_arn: Option<String>,
}

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

pub enum TargetKind {
    Pipecat {
        secret_set: String,
        region: Option<String>,
        api_key: SecretString,
        base_url: String,
        wait_ready: Option<Duration>,
    },
    Runpod {
        registry_auth: String,
        api_key: SecretString,
        base_url: String,
    },
    Octopus {
        server: String,
        space: String,
        feed: String,
        api_key: SecretString,
    },
    Kubernetes {
        kubeconfig: Option<PathBuf>,
        context: Option<String>,
        namespaces: Vec<String>,
        exclude_namespaces: Vec<String>,
        secret_name: String,
        service_accounts: Vec<String>,
    },
    DockerConfig {
        path: PathBuf,
    },
}

impl TargetKind {
    pub fn type_name(&self) -> &'static str {
        match self {
            TargetKind::Pipecat { .. } => "pipecat",
            TargetKind::Runpod { .. } => "runpod",
            TargetKind::Octopus { .. } => "octopus",
            TargetKind::Kubernetes { .. } => "kubernetes",
            TargetKind::DockerConfig { .. } => "docker-config",
        }
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
    let file = path.display().to_string();
    let err = |key: &str, reason: String| ConfigError {
        file: file.clone(),
        key: key.to_string(),
        reason,
    };
    let text = std::fs::read_to_string(path)
        .map_err(|e| err("-", format!("cannot read the config file: {e}")))?;
    warn_if_readable_by_others(path, "config file");
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
    let cx = Cx { file: &file, home };
    let table: Table = text
        .parse::<Table>()
        .map_err(|e| cx.err("-", format!("invalid TOML: {}", one_line(&e.to_string()))))?;
    for key in table.keys() {
        if !matches!(key.as_str(), "defaults" | "source" | "target") {
            return Err(cx.err(
                key,
                "unknown key (expected [defaults], [[source]], [[target]])".into(),
            ));
        }
    }
    let defaults = parse_defaults(&cx, table.get("defaults"))?;
    let sources = parse_sources(&cx, table.get("source"))?;
    let targets = parse_targets(&cx, table.get("target"), &sources, selected)?;
    Ok(Config {
        path: path.to_path_buf(),
        defaults,
        sources,
        targets,
    })
}

struct Cx<'a> {
    file: &'a str,
    home: Option<&'a Path>,
}

impl Cx<'_> {
    fn err(&self, key: &str, reason: String) -> ConfigError {
        ConfigError {
            file: self.file.to_string(),
            key: key.to_string(),
            reason,
        }
    }
}

/// One table's fields, consumed one by one so leftovers are reported as unknown keys.
struct Fields<'a> {
    cx: &'a Cx<'a>,
    prefix: String,
    map: BTreeMap<String, Value>,
}

impl<'a> Fields<'a> {
    fn new(cx: &'a Cx<'a>, prefix: &str, value: &Value) -> Result<Fields<'a>, ConfigError> {
        match value {
            Value::Table(t) => Ok(Fields {
                cx,
                prefix: prefix.to_string(),
                map: t.clone().into_iter().collect(),
            }),
            _ => Err(cx.err(prefix, "expected a table".into())),
        }
    }

    fn key(&self, name: &str) -> String {
        format!("{}.{name}", self.prefix)
    }

    fn err(&self, name: &str, reason: impl Into<String>) -> ConfigError {
        self.cx.err(&self.key(name), reason.into())
    }

    fn opt_str(&mut self, name: &str) -> Result<Option<String>, ConfigError> {
        match self.map.remove(name) {
            None => Ok(None),
            Some(Value::String(s)) if s.trim().is_empty() => {
                Err(self.err(name, "must not be empty"))
            }
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(self.err(name, "expected a string")),
        }
    }

    fn str(&mut self, name: &str) -> Result<String, ConfigError> {
        self.opt_str(name)?
            .ok_or_else(|| self.err(name, "missing required key"))
    }

    fn opt_duration(&mut self, name: &str) -> Result<Option<Duration>, ConfigError> {
        match self.opt_str(name)? {
            None => Ok(None),
            Some(s) => parse_duration(&s).map(Some).ok_or_else(|| {
                self.err(
                    name,
                    format!("invalid duration {s:?} (use e.g. \"30s\", \"5m\", \"1h\")"),
                )
            }),
        }
    }

    fn str_list(&mut self, name: &str) -> Result<Vec<String>, ConfigError> {
        match self.map.remove(name) {
            None => Ok(Vec::new()),
            Some(Value::Array(items)) => items
                .into_iter()
                .map(|v| match v {
                    Value::String(s) if !s.trim().is_empty() => Ok(s),
                    _ => Err(self.err(name, "expected a list of non-empty strings")),
                })
                .collect(),
            Some(_) => Err(self.err(name, "expected a list of strings")),
        }
    }

    fn secret(&mut self, name: &str) -> Result<SecretString, ConfigError> {
        let value = self.map.remove(name).ok_or_else(|| {
            self.err(
                name,
                "missing required key (use { env = \"NAME\" } or { file = \"PATH\" })",
            )
        })?;
        let table = match value {
            Value::String(_) => {
                return Err(self.err(
                    name,
                    "inline secrets are not allowed; use { env = \"NAME\" } or { file = \"PATH\" }",
                ));
            }
            Value::Table(t) => t,
            _ => return Err(self.err(name, "expected { env = \"NAME\" } or { file = \"PATH\" }")),
        };
        let keys: Vec<&String> = table.keys().collect();
        match (keys.as_slice(), table.get("env"), table.get("file")) {
            ([_], Some(Value::String(var)), None) => match std::env::var(var) {
                Ok(v) if !v.trim().is_empty() => Ok(SecretString::from(v.trim().to_string())),
                _ => Err(self.err(
                    name,
                    format!("environment variable {var} is not set or empty"),
                )),
            },
            ([_], None, Some(Value::String(file))) => {
                let path = crate::settings::expand_tilde(Path::new(file), self.cx.home);
                let text = std::fs::read_to_string(&path).map_err(|e| {
                    self.err(
                        name,
                        format!("cannot read key file {}: {e}", path.display()),
                    )
                })?;
                warn_if_readable_by_others(&path, "key file");
                let text = text.trim_end_matches(['\n', '\r']).to_string();
                if text.trim().is_empty() {
                    return Err(self.err(name, format!("key file {} is empty", path.display())));
                }
                Ok(SecretString::from(text))
            }
            _ => Err(self.err(
                name,
                "expected exactly one of { env = \"NAME\" } or { file = \"PATH\" }",
            )),
        }
    }

    fn url(&mut self, name: &str, default: &str) -> Result<String, ConfigError> {
        let url = self.opt_str(name)?.unwrap_or_else(|| default.to_string());
        check_url(&url).map_err(|why| self.err(name, why))?;
        Ok(url.trim_end_matches('/').to_string())
    }

    fn finish(self) -> Result<(), ConfigError> {
        match self.map.keys().next() {
            Some(extra) => Err(self.err(extra, "unknown key")),
            None => Ok(()),
        }
    }
}

fn check_url(url: &str) -> Result<(), String> {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"));
    match rest {
        Some(r) if !r.is_empty() && !r.starts_with('/') => Ok(()),
        _ => Err(format!(
            "invalid URL {url:?} (expected http:// or https://)"
        )),
    }
}

fn parse_defaults(cx: &Cx, value: Option<&Value>) -> Result<Defaults, ConfigError> {
    let mut d = Defaults {
        timeout: DEFAULT_TIMEOUT,
        retries: DEFAULT_RETRIES,
        concurrency: DEFAULT_CONCURRENCY,
    };
    let Some(value) = value else { return Ok(d) };
    let mut f = Fields::new(cx, "defaults", value)?;
    if let Some(t) = f.opt_duration("timeout")? {
        d.timeout = t;
    }
    match f.map.remove("retries") {
        None => {}
        Some(Value::Integer(n)) if (0..=20).contains(&n) => d.retries = n as u32,
        Some(_) => return Err(f.err("retries", "expected an integer from 0 to 20")),
    }
    match f.map.remove("concurrency") {
        None => {}
        Some(Value::Integer(n)) if (1..=256).contains(&n) => d.concurrency = n as usize,
        Some(_) => return Err(f.err("concurrency", "expected an integer from 1 to 256")),
    }
    f.finish()?;
    Ok(d)
}

fn array<'v>(cx: &Cx, name: &str, value: Option<&'v Value>) -> Result<&'v [Value], ConfigError> {
    match value {
        None => Ok(&[]),
        Some(Value::Array(items)) => Ok(items),
        Some(_) => Err(cx.err(name, format!("expected [[{name}]] tables"))),
    }
}

fn parse_sources(cx: &Cx, value: Option<&Value>) -> Result<Vec<Source>, ConfigError> {
    let items = array(cx, "source", value)?;
    if items.is_empty() {
        return Err(cx.err("source", "at least one [[source]] is required".into()));
    }
    let mut sources = Vec::new();
    let mut names = HashSet::new();
    for (i, item) in items.iter().enumerate() {
        let mut f = Fields::new(cx, &format!("source[{i}]"), item)?;
        let name = f.opt_str("name")?;
        if name.is_none() && items.len() > 1 {
            return Err(f.err("name", "required when there is more than one [[source]]"));
        }
        let name = name.unwrap_or_else(|| "default".to_string());
        if !names.insert(name.clone()) {
            return Err(f.err("name", format!("duplicate source name {name:?}")));
        }
        let registry = f.opt_str("registry")?;
        let region = f.opt_str("region")?;
        let region = match (&registry, region) {
            (Some(host), region) => match crate::registry::parse(host) {
                Some(crate::registry::Registry::Private(p)) => {
                    if region.as_ref().is_some_and(|r| *r != p.region) {
                        return Err(f.err(
                            "region",
                            format!("does not match the registry's region {}", p.region),
                        ));
                    }
                    p.region
                }
                Some(crate::registry::Registry::Public { .. }) => {
                    region.unwrap_or_else(|| crate::registry::PUBLIC_REGION.to_string())
                }
                None => {
                    return Err(f.err("registry", format!("{host:?} is not an ECR registry host")));
                }
            },
            (None, Some(region)) => region,
            (None, None) => return Err(f.err("region", "missing required key (or set `registry`)")),
        };
        let profile = f.opt_str("profile")?;
        let role_arn = f.opt_str("role_arn")?;
        if let Some(arn) = role_arn.as_ref().filter(|a| !a.starts_with("arn:")) {
            return Err(f.err("role_arn", format!("{arn:?} is not an ARN")));
        }
        f.finish()?;
        sources.push(Source {
            name,
            region,
            registry,
            profile,
            role_arn,
        });
    }
    Ok(sources)
}

fn parse_targets(
    cx: &Cx,
    value: Option<&Value>,
    sources: &[Source],
    selected: &[String],
) -> Result<Vec<Target>, ConfigError> {
    let items = array(cx, "target", value)?;
    if items.is_empty() {
        return Err(cx.err("target", "at least one [[target]] is required".into()));
    }
    // Names first, so duplicates and --target selection are checked for all targets.
    let mut names = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let name = match item.get("name") {
            Some(Value::String(s)) if !s.trim().is_empty() => s.clone(),
            Some(_) => {
                return Err(cx.err(
                    &format!("target[{i}].name"),
                    "expected a non-empty string".into(),
                ));
            }
            None => return Err(cx.err(&format!("target[{i}].name"), "missing required key".into())),
        };
        if names.contains(&name) {
            return Err(cx.err(
                &format!("target[{i}].name"),
                format!("duplicate target name {name:?}"),
            ));
        }
        names.push(name);
    }
    for wanted in selected {
        if !names.contains(wanted) {
            return Err(cx.err(
                "--target",
                format!("no target named {wanted:?} (have: {})", names.join(", ")),
            ));
        }
    }
    let mut targets = Vec::new();
    for (i, (item, name)) in items.iter().zip(names).enumerate() {
        let prefix = format!("target[{i}]");
        let mut f = Fields::new(cx, &prefix, item)?;
        f.map.remove("name");
        let kind = f.str("type")?;
        let source = match f.opt_str("source")? {
            Some(s) if sources.iter().any(|src| src.name == s) => s,
            Some(s) => return Err(f.err("source", format!("unknown source {s:?}"))),
            None if sources.len() == 1 => sources[0].name.clone(),
            None => return Err(f.err("source", "required when there is more than one [[source]]")),
        };
        let wanted = selected.is_empty() || selected.contains(&name);
        let kind = parse_kind(&mut f, &kind, wanted)?;
        f.finish()?;
        if let Some(kind) = kind {
            targets.push(Target { name, source, kind });
        }
    }
    Ok(targets)
}

/// Parses one target's type-specific keys. Secrets are only resolved when `resolve` is set
/// (the target is selected); `None` is returned for unselected targets after validation.
fn parse_kind(
    f: &mut Fields,
    kind: &str,
    resolve: bool,
) -> Result<Option<TargetKind>, ConfigError> {
    let secret = |f: &mut Fields, name: &str| -> Result<SecretString, ConfigError> {
        if resolve {
            f.secret(name)
        } else {
            f.map
                .remove(name)
                .ok_or_else(|| f.err(name, "missing required key"))
                .map(|_| SecretString::from(String::new()))
        }
    };
    let parsed = match kind {
        "pipecat" => {
            let secret_set = f.str("secret_set")?;
            if !valid_set_name(&secret_set) {
                return Err(f.err("secret_set", format!("{secret_set:?} is not a valid Pipecat secret set name (3-63 chars, lowercase letters, digits, '-' and '.')")));
            }
            let region = f.opt_str("region")?;
            let base_url = f.url("base_url", "https://api.pipecat.daily.co")?;
            let wait_ready = f.opt_duration("wait_ready")?;
            TargetKind::Pipecat {
                secret_set,
                region,
                api_key: secret(f, "api_key")?,
                base_url,
                wait_ready,
            }
        }
        "runpod" => {
            let registry_auth = f.str("registry_auth")?;
            let base_url = f.url("base_url", "https://api.runpod.io")?;
            TargetKind::Runpod {
                registry_auth,
                api_key: secret(f, "api_key")?,
                base_url,
            }
        }
        "octopus" => {
            let server = f.url("server", "")?;
            let base = f.opt_str("base_url")?;
            if base.is_some() {
                return Err(f.err("base_url", "octopus uses `server` for its base URL"));
            }
            let space = f.str("space")?;
            let feed = f.str("feed")?;
            TargetKind::Octopus {
                server,
                space,
                feed,
                api_key: secret(f, "api_key")?,
            }
        }
        "kubernetes" => {
            let kubeconfig = f
                .opt_str("kubeconfig")?
                .map(|p| crate::settings::expand_tilde(Path::new(&p), f.cx.home));
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
            TargetKind::Kubernetes {
                kubeconfig,
                context,
                namespaces,
                exclude_namespaces,
                secret_name,
                service_accounts,
            }
        }
        "docker-config" => {
            let path = crate::settings::expand_tilde(Path::new(&f.str("path")?), f.cx.home);
            TargetKind::DockerConfig { path }
        }
        other => {
            return Err(f.err("type", format!("unknown target type {other:?} (expected pipecat, runpod, octopus, kubernetes or docker-config)")));
        }
    };
    Ok(resolve.then_some(parsed))
}

/// Pipecat's set-name rule: DNS-subdomain-like, 3 to 63 characters.
pub fn valid_set_name(name: &str) -> bool {
    (3..=63).contains(&name.len()) && valid_dns_subdomain(name)
}

fn valid_dns_subdomain(name: &str) -> bool {
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

/// `"500ms"`, `"30s"`, `"5m"`, `"1h"`, `"1h30m"`; a bare number is seconds. Zero is allowed.
pub fn parse_duration(text: &str) -> Option<Duration> {
    let text = text.trim();
    if let Ok(secs) = text.parse::<f64>() {
        return (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs));
    }
    let mut total = Duration::ZERO;
    let mut rest = text;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let number: f64 = rest[..digits].parse().ok()?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let scale = match &rest[..unit_len] {
            "ms" => 0.001,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return None,
        };
        rest = &rest[unit_len..];
        let secs = number * scale;
        if !secs.is_finite() || secs > 7.0 * 86_400.0 {
            return None;
        }
        total += Duration::from_secs_f64(secs);
    }
    Some(total)
}

/// Warns (as ssh does) when a file holding secrets is group- or world-readable.
pub fn warn_if_readable_by_others(path: &Path, what: &str) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        if let Ok(meta) = std::fs::metadata(path) {
            let mode = meta.permissions().mode();
            if mode & 0o077 != 0 {
                let line = format!(
                    "warning: {what} {} is readable by group or others (mode {:o}); run `chmod 600 {}`",
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

fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_str(text: &str) -> Result<Config, ConfigError> {
        parse(text, Path::new("export.toml"), &[], None)
    }

    const SOURCE: &str = "[[source]]\nregion = \"us-east-1\"\n";

    #[test]
    fn durations() {
        assert_eq!(parse_duration("30s"), Some(Duration::from_secs(30)));
        assert_eq!(parse_duration("5m"), Some(Duration::from_secs(300)));
        assert_eq!(parse_duration("1h30m"), Some(Duration::from_secs(5400)));
        assert_eq!(parse_duration("250ms"), Some(Duration::from_millis(250)));
        assert_eq!(parse_duration("2"), Some(Duration::from_secs(2)));
        assert_eq!(parse_duration("soon"), None);
        assert_eq!(parse_duration("5d"), None);
        assert_eq!(parse_duration(""), None);
    }

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
    fn errors_name_the_key() {
        let cases = [
            (
                "[[target]]\nname=\"a\"\ntype=\"ftp\"\n",
                "target[0].type",
                "unknown target type",
            ),
            (
                "[[target]]\nname=\"a\"\ntype=\"runpod\"\napi_key=\"inline\"\nregistry_auth=\"x\"\n",
                "target[0].api_key",
                "inline secrets",
            ),
            (
                "[[target]]\nname=\"a\"\ntype=\"runpod\"\n",
                "target[0].registry_auth",
                "missing",
            ),
            (
                "[[target]]\nname=\"a\"\ntype=\"docker-config\"\npath=\"/x\"\nsource=\"nope\"\n",
                "target[0].source",
                "unknown source",
            ),
            (
                "[[target]]\nname=\"a\"\ntype=\"docker-config\"\npath=\"/x\"\n[[target]]\nname=\"a\"\ntype=\"docker-config\"\npath=\"/y\"\n",
                "target[1].name",
                "duplicate",
            ),
            (
                "[[target]]\nname=\"a\"\ntype=\"docker-config\"\npath=\"/x\"\ncolour=1\n",
                "target[0].colour",
                "unknown key",
            ),
            (
                "[[target]]\nname=\"a\"\ntype=\"runpod\"\nregistry_auth=\"x\"\napi_key={file=\"/nonexistent/key\"}\n",
                "target[0].api_key",
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
    }

    #[test]
    fn set_names() {
        assert!(valid_set_name("my-ecr-credentials"));
        assert!(!valid_set_name("ab"));
        assert!(!valid_set_name("Upper"));
        assert!(!valid_set_name("-x-y"));
    }
}
