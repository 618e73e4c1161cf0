//! The export config file: parsing and validation, before any network call.
//!
//! Every error names the file, the key and the reason, and maps to exit code 2. Secret
//! references (`{ env = "NAME" }`, `{ file = "PATH" }`) are resolved here, eagerly, for the
//! selected targets only, so a missing key file fails the run before anything is fetched.

mod duration;
mod fields;
mod targets;

pub use duration::parse_duration;
pub use targets::{
    DockerConfigConfig, KubernetesConfig, OctopusConfig, PipecatConfig, RunpodConfig, TargetKind,
    valid_dns_subdomain, valid_set_name,
};

use fields::{Cx, Fields};
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
    pub notify_url: Option<secrecy::SecretString>,
}

#[derive(Debug, Clone)]
pub struct Source {
    pub name: String,
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
    let file = path.display().to_string();
    let err = |key: &str, reason: String| ConfigError {
        file: file.clone(),
        key: key.to_string(),
        reason,
    };
    let text = std::fs::read_to_string(path).map_err(|e| {
        let hint = if e.kind() == std::io::ErrorKind::NotFound {
            " (create it: see the example config in the README's Export section, or \
             install/deploy/kubernetes/configmap.yaml; or print credentials without a config: \
             `docker-credential-ecr-login export --print env --region REGION`)"
        } else {
            ""
        };
        err("", format!("cannot read the config file: {e}{hint}"))
    })?;
    warn_if_writable_by_others(path);
    parse(&text, path, selected, home)
}

/// Where and why the TOML is invalid, without the quoted source line that `toml`'s `Display`
/// shows: on a syntax error that line may hold a pasted API key.
fn toml_error(text: &str, e: &toml::de::Error) -> String {
    let reason = one_line(e.message());
    match e.span().and_then(|span| text.get(..span.start)) {
        Some(before) => {
            let line = before.matches('\n').count() + 1;
            let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
            format!("invalid TOML at line {line}, column {column}: {reason}")
        }
        None => format!("invalid TOML: {reason}"),
    }
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
        .map_err(|e| cx.err("", toml_error(text, &e)))?;
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

fn parse_defaults(cx: &Cx, value: Option<&Value>) -> Result<Defaults, ConfigError> {
    let mut d = Defaults {
        timeout: DEFAULT_TIMEOUT,
        retries: DEFAULT_RETRIES,
        concurrency: DEFAULT_CONCURRENCY,
        notify_url: None,
    };
    let Some(value) = value else { return Ok(d) };
    let mut f = Fields::new(cx, "defaults", value)?;
    f.reject_unknown(&["timeout", "retries", "concurrency", "notify_url"])?;
    match f.opt_duration("timeout")? {
        Some(t) if t.is_zero() => return Err(f.err("timeout", "must be more than zero")),
        Some(t) => d.timeout = t,
        None => {}
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
    d.notify_url = f.opt_secret("notify_url", true)?;
    if let Some(url) = &d.notify_url {
        use secrecy::ExposeSecret as _;
        if !url.expose_secret().starts_with("https://")
            && !url.expose_secret().starts_with("http://")
        {
            return Err(f.err(
                "notify_url",
                "the referenced value is not an http(s):// URL",
            ));
        }
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
        f.reject_unknown(&["name", "registry", "region", "profile", "role_arn"])?;
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
    for (item, name) in items.iter().zip(names) {
        let prefix = format!("target {name:?}");
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
        let kind = targets::parse_kind(&mut f, &kind, wanted)?;
        f.finish()?;
        if let Some(kind) = kind {
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
