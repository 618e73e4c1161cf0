//! The optional helper config file: which AWS identity answers which registry, which names are
//! answered with an ECR registry's token, and which helper stores everything else.
//!
//! ```toml
//! strict = false
//! fallback_helper = "pass"
//!
//! [[registry]]
//! match = ["123456789012.dkr.ecr.*.amazonaws.com"]
//! profile = "prod-pull"
//! role_arn = "arn:aws:iam::123456789012:role/ecr-pull"
//!
//! [[alias]]
//! host = "registry.example.com"
//! registry = "123456789012.dkr.ecr.us-east-1.amazonaws.com"
//! ```
//!
//! Path: `$AWS_ECR_CONFIG`, else `$XDG_CONFIG_HOME/ecr-login/config.toml`, else
//! `~/.config/ecr-login/config.toml`. No file means no rules. Every error names the file, the key
//! and the reason: a rule that silently did not apply would send a pull out as the wrong identity.

use crate::registry::{self, Registry};
use crate::toml_keys::{toml_error, unknown_key};
use std::path::{Path, PathBuf};
use toml::{Table, Value};

/// The environment variable naming the config file.
pub const ENV_VAR: &str = "AWS_ECR_CONFIG";
/// Session name for `role_arn` when the rule names none.
pub const DEFAULT_SESSION_NAME: &str = "ecr-login";
/// Largest config file read; a real one is a few kilobytes.
const MAX_FILE: u64 = 1024 * 1024;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HelperConfig {
    /// Where it was read from, for messages.
    pub path: PathBuf,
    /// For ECR hosts, put the real error on stdout (Docker prints it) instead of the sentinel.
    pub strict: bool,
    /// `docker-credential-<name>` answers every host that is neither ECR nor an alias.
    pub fallback_helper: Option<String>,
    /// `[[registry]]`, in file order: the first match wins.
    pub rules: Vec<RegistryRule>,
    /// `[[alias]]`, in file order.
    pub aliases: Vec<Alias>,
}

/// `[[registry]]`: who fetches the tokens of the hosts it matches.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RegistryRule {
    /// `match`: host globs, `*` matching within one DNS label.
    pub patterns: Vec<String>,
    pub profile: Option<String>,
    pub role_arn: Option<String>,
    pub external_id: Option<String>,
    pub session_name: Option<String>,
}

/// `[[alias]]`: a name that is not an ECR host, answered with `registry`'s token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Alias {
    /// Lower-cased `host` or `host:port`, as written in the file.
    pub host: String,
    /// The ECR registry whose token answers it.
    pub registry: Registry,
    /// `registry` as written, for messages.
    pub registry_text: String,
}

/// Keys of the tables, for "unknown key (did you mean …)".
const RULE_KEYS: [&str; 5] = [
    "match",
    "profile",
    "role_arn",
    "external_id",
    "session_name",
];
const ALIAS_KEYS: [&str; 2] = ["host", "registry"];

/// A config error: `file: key: reason`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub file: PathBuf,
    pub key: String,
    pub reason: String,
}

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.key.as_str() {
            "" => write!(f, "{}: {}", self.file.display(), self.reason),
            key => write!(f, "{}: {key}: {}", self.file.display(), self.reason),
        }
    }
}

impl std::error::Error for ConfigError {}

/// Where the config file is looked for, and whether the user named it explicitly (then a
/// missing file is an error: a typo in `AWS_ECR_CONFIG` must not silently drop every rule).
pub fn location(home: Option<&Path>) -> Option<(PathBuf, bool)> {
    if let Some(path) = std::env::var_os(ENV_VAR).filter(|v| !v.is_empty()) {
        return Some((crate::settings::expand_tilde(Path::new(&path), home), true));
    }
    // XDG: a relative XDG_CONFIG_HOME is invalid and ignored.
    let xdg = std::env::var_os("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute());
    match xdg {
        Some(dir) => Some((dir.join("ecr-login/config.toml"), false)),
        None => home.map(|h| (h.join(".config/ecr-login/config.toml"), false)),
    }
}

/// Reads the config at `location`. `Ok(None)`: no file (and none was named explicitly).
pub fn load(location: Option<(PathBuf, bool)>) -> Result<Option<HelperConfig>, ConfigError> {
    let Some((path, explicit)) = location else {
        return Ok(None);
    };
    let text = match read_bounded(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !explicit => return Ok(None),
        Err(e) => {
            let named = if explicit {
                format!(" (named by {ENV_VAR})")
            } else {
                String::new()
            };
            return Err(ConfigError {
                file: path,
                key: String::new(),
                reason: format!("cannot read the helper config{named}: {e}"),
            });
        }
    };
    parse(&text, &path).map(Some)
}

fn read_bounded(path: &Path) -> std::io::Result<String> {
    use std::io::Read;
    let mut text = String::new();
    std::fs::File::open(path)?
        .take(MAX_FILE + 1)
        .read_to_string(&mut text)?;
    if text.len() as u64 > MAX_FILE {
        return Err(std::io::Error::other("larger than 1 MiB"));
    }
    Ok(text)
}

/// Parses and validates config text; `path` is used in messages only.
pub fn parse(text: &str, path: &Path) -> Result<HelperConfig, ConfigError> {
    let err = |key: &str, reason: String| ConfigError {
        file: path.to_path_buf(),
        key: key.to_string(),
        reason,
    };
    let table: Table = text
        .parse::<Table>()
        .map_err(|e| err("", toml_error(text, &e)))?;
    const TOP: [&str; 4] = ["strict", "fallback_helper", "registry", "alias"];
    let present: Vec<String> = table.keys().cloned().collect();
    let mut config = HelperConfig {
        path: path.to_path_buf(),
        ..HelperConfig::default()
    };
    for (key, value) in table {
        match (key.as_str(), value) {
            ("strict", Value::Boolean(b)) => config.strict = b,
            ("strict", _) => return Err(err("strict", "expected true or false".into())),
            ("fallback_helper", Value::String(name)) => {
                validate_helper_name(&name).map_err(|r| err("fallback_helper", r))?;
                config.fallback_helper = Some(name);
            }
            ("fallback_helper", _) => {
                return Err(err("fallback_helper", "expected a string".into()));
            }
            ("registry", value) => {
                for (i, table) in tables_of(value)
                    .map_err(|r| err("registry", r))?
                    .enumerate()
                {
                    let prefix = format!("registry[{i}]");
                    let rule = rule_from(&table)
                        .and_then(|rule| validate_rule(&rule).map(|()| rule))
                        .map_err(|(key, reason)| err(&format!("{prefix}.{key}"), reason))?;
                    config.rules.push(rule);
                }
            }
            ("alias", value) => {
                for (i, table) in tables_of(value).map_err(|r| err("alias", r))?.enumerate() {
                    let prefix = format!("alias[{i}]");
                    let alias = alias_from(&table)
                        .and_then(|(host, registry)| validate_alias(host, registry))
                        .map_err(|(key, reason)| err(&format!("{prefix}.{key}"), reason))?;
                    if config.aliases.iter().any(|a| a.host == alias.host) {
                        return Err(err(
                            &format!("{prefix}.host"),
                            format!("{} is already an alias above", alias.host),
                        ));
                    }
                    config.aliases.push(alias);
                }
            }
            (other, _) => return Err(err(other, unknown_key(other, &TOP, &present))),
        }
    }
    Ok(config)
}

/// `[[registry]]` / `[[alias]]` is an array of tables; `[registry]` (one table) is accepted too.
fn tables_of(value: Value) -> Result<impl Iterator<Item = Table>, String> {
    let items = match value {
        Value::Array(items) => items,
        Value::Table(table) => vec![Value::Table(table)],
        _ => return Err("expected tables ([[...]] sections)".into()),
    };
    let tables: Option<Vec<Table>> = items
        .into_iter()
        .map(|item| match item {
            Value::Table(table) => Some(table),
            _ => None,
        })
        .collect();
    tables
        .map(Vec::into_iter)
        .ok_or_else(|| "expected tables ([[...]] sections)".into())
}

/// A `(key, reason)` error inside one table.
type KeyError = (String, String);

/// The keys are read by hand rather than through serde: this runs on every `get`, and the
/// derived deserializers cost the cached `get` memory (code pages) for no gain here.
fn rule_from(table: &Table) -> Result<RegistryRule, KeyError> {
    only_keys(table, &RULE_KEYS)?;
    let patterns = match table.get("match") {
        None => return Err(("match".into(), "missing required key".into())),
        Some(Value::Array(items)) => items
            .iter()
            .map(|item| item.as_str().map(str::to_string))
            .collect::<Option<Vec<String>>>()
            .ok_or_else(|| {
                (
                    "match".to_string(),
                    "expected a list of strings".to_string(),
                )
            })?,
        Some(_) => return Err(("match".into(), "expected a list".into())),
    };
    Ok(RegistryRule {
        patterns,
        profile: optional_string(table, "profile")?,
        role_arn: optional_string(table, "role_arn")?,
        external_id: optional_string(table, "external_id")?,
        session_name: optional_string(table, "session_name")?,
    })
}

fn alias_from(table: &Table) -> Result<(String, String), KeyError> {
    only_keys(table, &ALIAS_KEYS)?;
    let required = |key: &str| {
        optional_string(table, key)?.ok_or_else(|| (key.to_string(), "missing required key".into()))
    };
    Ok((required("host")?, required("registry")?))
}

fn only_keys(table: &Table, known: &[&str]) -> Result<(), KeyError> {
    match table.keys().find(|k| !known.contains(&k.as_str())) {
        Some(key) => {
            let present: Vec<String> = table.keys().cloned().collect();
            Err((key.clone(), unknown_key(key, known, &present)))
        }
        None => Ok(()),
    }
}

fn optional_string(table: &Table, key: &str) -> Result<Option<String>, KeyError> {
    match table.get(key) {
        None => Ok(None),
        Some(Value::String(text)) => Ok(Some(text.clone())),
        Some(_) => Err((key.to_string(), "expected a string".into())),
    }
}

/// A helper name becomes the file name `docker-credential-<name>`: no path, and never this
/// helper itself (that would delegate to itself forever).
fn validate_helper_name(name: &str) -> Result<(), String> {
    if name.is_empty()
        || !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        || name.starts_with('.')
    {
        return Err(format!(
            "{name:?} is not a helper name (the part after docker-credential-, e.g. \"pass\")"
        ));
    }
    if name == "ecr-login" {
        return Err(
            "\"ecr-login\" is this helper; name the helper that stores other \
                    registries' credentials (e.g. \"pass\", \"secretservice\")"
                .into(),
        );
    }
    Ok(())
}

fn validate_rule(rule: &RegistryRule) -> Result<(), KeyError> {
    let bad = |key: &str, reason: String| Err((key.to_string(), reason));
    if rule.patterns.is_empty() {
        return bad("match", "needs at least one host pattern".into());
    }
    for pattern in &rule.patterns {
        if let Err(reason) = validate_pattern(pattern) {
            return bad("match", format!("{pattern:?}: {reason}"));
        }
    }
    if rule.profile.as_deref().is_some_and(|p| p.trim().is_empty()) {
        return bad("profile", "is empty".into());
    }
    match &rule.role_arn {
        Some(arn) if !is_role_arn(arn) => {
            return bad(
                "role_arn",
                format!("{arn:?} is not an IAM role ARN (arn:aws:iam::ACCOUNT:role/NAME)"),
            );
        }
        None if rule.external_id.is_some() => {
            return bad("external_id", "is only used with role_arn".into());
        }
        None if rule.session_name.is_some() => {
            return bad("session_name", "is only used with role_arn".into());
        }
        _ => {}
    }
    // STS's own limits, checked here so the error names the key instead of arriving from STS.
    if let Some(id) = &rule.external_id {
        let ok = (2..=1224).contains(&id.len())
            && id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"_+=,.@:/-".contains(&b));
        if !ok {
            return bad(
                "external_id",
                "must be 2–1224 characters of letters, digits and _+=,.@:/-".into(),
            );
        }
    }
    if let Some(name) = &rule.session_name {
        let ok = (2..=64).contains(&name.len())
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"_+=,.@-".contains(&b));
        if !ok {
            return bad(
                "session_name",
                format!("{name:?} must be 2–64 characters of letters, digits and _+=,.@-"),
            );
        }
    }
    Ok(())
}

fn is_role_arn(arn: &str) -> bool {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    parts.len() == 6
        && parts[0] == "arn"
        && parts[1].starts_with("aws")
        && parts[2] == "iam"
        && parts[4].len() == 12
        && parts[4].bytes().all(|b| b.is_ascii_digit())
        && parts[5]
            .strip_prefix("role/")
            .is_some_and(|n| !n.is_empty())
}

/// A host glob: DNS labels of letters, digits, `-`, `_`, and `*` (any run within one label).
fn validate_pattern(pattern: &str) -> Result<(), String> {
    if pattern.contains("://") || pattern.contains('/') || pattern.contains(':') {
        return Err("a host pattern has no scheme, port or path".into());
    }
    if pattern.is_empty() || pattern.split('.').any(str::is_empty) {
        return Err("empty DNS label".into());
    }
    if !pattern
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'*'))
    {
        return Err("only letters, digits, '-', '_', '.' and '*' are allowed".into());
    }
    Ok(())
}

fn validate_alias(host_text: String, registry_text: String) -> Result<Alias, KeyError> {
    let bad = |key: &str, reason: String| Err((key.to_string(), reason));
    let host = host_text.trim().to_ascii_lowercase();
    let well_formed = registry::given_host(&host).is_some()
        && !host.contains(['/', '?', '#'])
        && !host.ends_with(':')
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'));
    if !well_formed {
        return bad("host", format!("{host_text:?} is not a host or host:port"));
    }
    if registry::parse(&host).is_some() {
        return bad(
            "host",
            format!("{host} is an ECR host already; use a [[registry]] rule to route it"),
        );
    }
    let Some(target) = registry::parse(&registry_text) else {
        return bad(
            "registry",
            format!(
                "{:?} is not an ECR registry host (ACCOUNT.dkr.ecr.REGION.amazonaws.com or \
                 public.ecr.aws)",
                registry_text
            ),
        );
    };
    Ok(Alias {
        host,
        registry: target,
        registry_text: registry_text.trim().to_string(),
    })
}

/// Whether `host` (lower case) matches `pattern`: label by label, `*` standing for any run of
/// characters inside one label, so `*.amazonaws.com` does not match `a.b.amazonaws.com`.
pub fn host_matches(pattern: &str, host: &str) -> bool {
    let mut patterns = pattern.split('.');
    let mut labels = host.split('.');
    loop {
        match (patterns.next(), labels.next()) {
            (None, None) => return true,
            (Some(p), Some(l)) if label_matches(p.as_bytes(), l.as_bytes()) => {}
            _ => return false,
        }
    }
}

/// One label against one glob label, case-insensitive; `*` matches any run (also empty).
/// The classic two-pointer wildcard match: linear in practice, O(pattern × label) at worst,
/// whatever the input (a host comes from stdin).
fn label_matches(pattern: &[u8], label: &[u8]) -> bool {
    let (mut p, mut l) = (0, 0);
    // Where the last `*` was, and the label position it currently stands for.
    let mut star: Option<(usize, usize)> = None;
    while l < label.len() {
        if p < pattern.len() && pattern[p] == b'*' {
            star = Some((p, l));
            p += 1;
        } else if p < pattern.len() && pattern[p].eq_ignore_ascii_case(&label[l]) {
            p += 1;
            l += 1;
        } else if let Some((star_p, star_l)) = star {
            // Let the last `*` absorb one more character and retry from there.
            p = star_p + 1;
            l = star_l + 1;
            star = Some((star_p, star_l + 1));
        } else {
            return false;
        }
    }
    pattern[p..].iter().all(|&b| b == b'*')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_str(text: &str) -> Result<HelperConfig, ConfigError> {
        parse(text, Path::new("/etc/x/config.toml"))
    }

    fn error(text: &str) -> String {
        match parse_str(text) {
            Ok(config) => panic!("expected an error, got {config:?}"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn reads_the_documented_schema() {
        let config = parse_str(
            r#"
strict = true
fallback_helper = "pass"

[[registry]]
match = ["123456789012.dkr.ecr.*.amazonaws.com", "*.dkr.ecr.eu-west-1.amazonaws.com"]
profile = "prod-pull"
role_arn = "arn:aws:iam::123456789012:role/ecr-pull"
external_id = "ext-123"
session_name = "ci"

[[registry]]
match = ["public.ecr.aws"]

[[alias]]
host = "Registry.Example.com:5000"
registry = "123456789012.dkr.ecr.us-east-1.amazonaws.com"
"#,
        )
        .expect("valid");
        assert!(config.strict);
        assert_eq!(config.fallback_helper.as_deref(), Some("pass"));
        assert_eq!(config.rules.len(), 2);
        assert_eq!(config.rules[0].profile.as_deref(), Some("prod-pull"));
        assert_eq!(config.rules[0].external_id.as_deref(), Some("ext-123"));
        assert_eq!(config.rules[1].profile, None);
        assert_eq!(config.aliases[0].host, "registry.example.com:5000");
        assert!(matches!(config.aliases[0].registry, Registry::Private(_)));
        assert_eq!(
            parse_str("").expect("empty"),
            HelperConfig {
                path: "/etc/x/config.toml".into(),
                ..HelperConfig::default()
            }
        );
    }

    #[test]
    fn errors_name_file_key_and_reason() {
        let cases = [
            (
                "strikt = true",
                "/etc/x/config.toml: strikt: unknown key (did you mean `strict`? `strict` is not set)",
            ),
            (
                "strict = \"yes\"",
                "/etc/x/config.toml: strict: expected true or false",
            ),
            (
                "fallback_helper = \"ecr-login\"",
                "fallback_helper: \"ecr-login\" is this helper",
            ),
            (
                "fallback_helper = \"../bin/x\"",
                "fallback_helper: \"../bin/x\" is not a helper name",
            ),
            (
                "[[registry]]\nmatch = []",
                "registry[0].match: needs at least one host pattern",
            ),
            (
                "[[registry]]\nprofile = \"p\"",
                "registry[0].match: missing required key",
            ),
            (
                "[[registry]]\nmatch = \"a.b\"",
                "registry[0].match: expected a list",
            ),
            (
                "[[registry]]\nmatch = [\"https://a.b/\"]",
                "registry[0].match: \"https://a.b/\": a host pattern has no scheme",
            ),
            ("[[registry]]\nmatch = [\"a..b\"]", "empty DNS label"),
            (
                "[[registry]]\nmatch = [\"a.b\"]\nrole = \"x\"",
                "registry[0].role: unknown key",
            ),
            (
                "[[registry]]\nmatch = [\"a.b\"]\nrole_arn = \"arn:aws:iam::1:user/x\"",
                "registry[0].role_arn: \"arn:aws:iam::1:user/x\" is not an IAM role ARN",
            ),
            (
                "[[registry]]\nmatch = [\"a.b\"]\nexternal_id = \"abc\"",
                "registry[0].external_id: is only used with role_arn",
            ),
            (
                "[[registry]]\nmatch = [\"a.b\"]\nrole_arn = \"arn:aws:iam::123456789012:role/r\"\nsession_name = \"has space\"",
                "registry[0].session_name: \"has space\" must be",
            ),
            (
                "[[alias]]\nhost = \"123456789012.dkr.ecr.us-east-1.amazonaws.com\"\nregistry = \"public.ecr.aws\"",
                "alias[0].host: 123456789012.dkr.ecr.us-east-1.amazonaws.com is an ECR host already",
            ),
            (
                "[[alias]]\nhost = \"r.example.com/v2\"\nregistry = \"public.ecr.aws\"",
                "alias[0].host: \"r.example.com/v2\" is not a host",
            ),
            (
                "[[alias]]\nhost = \"r.example.com\"\nregistry = \"quay.io\"",
                "alias[0].registry: \"quay.io\" is not an ECR registry host",
            ),
            (
                "[[alias]]\nhost = \"r.example.com\"\nregistry = \"public.ecr.aws\"\n[[alias]]\nhost = \"R.example.com\"\nregistry = \"public.ecr.aws\"",
                "alias[1].host: r.example.com is already an alias above",
            ),
            (
                "[[alias]]\nhost = \"r.example.com\"",
                "alias[0].registry: missing required key",
            ),
            ("strict = ", "invalid TOML at line 1"),
        ];
        for (text, expected) in cases {
            let message = error(text);
            assert!(
                message.contains(expected),
                "{text:?}: {message:?} lacks {expected:?}"
            );
        }
    }

    #[test]
    fn a_toml_syntax_error_does_not_quote_the_line() {
        let message = error("external_id = \"s3cr3t");
        assert!(!message.contains("s3cr3t"), "{message}");
    }

    #[test]
    fn missing_files_are_no_config_unless_named() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("none.toml");
        assert_eq!(load(Some((path.clone(), false))), Ok(None));
        let named = load(Some((path, true))).expect_err("named file is missing");
        assert!(named.reason.contains("named by AWS_ECR_CONFIG"), "{named}");
        assert_eq!(load(None), Ok(None));
    }

    #[test]
    fn globs_stay_within_one_label() {
        let yes = [
            (
                "123456789012.dkr.ecr.*.amazonaws.com",
                "123456789012.dkr.ecr.eu-west-1.amazonaws.com",
            ),
            (
                "*.dkr.ecr.us-east-1.amazonaws.com",
                "000000000000.dkr.ecr.us-east-1.amazonaws.com",
            ),
            (
                "1234*.dkr.ecr.*.amazonaws.com",
                "123456789012.dkr.ecr.us-east-1.amazonaws.com",
            ),
            ("*", "localhost"),
            ("public.ecr.aws", "PUBLIC.ecr.aws"),
            ("a*b*c.x", "abc.x"),
            ("a*b*c.x", "a-b-b-c.x"),
        ];
        let no = [
            ("*.amazonaws.com", "a.b.amazonaws.com"),
            (
                "123456789012.dkr.ecr.*.amazonaws.com",
                "123456789012.dkr.ecr.amazonaws.com",
            ),
            ("*", "a.b"),
            ("a*b", "ab.x"),
            ("a*b*c.x", "acb.x"),
            ("public.ecr.aws", "public.ecr.aws.evil.com"),
        ];
        for (pattern, host) in yes {
            assert!(
                host_matches(pattern, &host.to_ascii_lowercase()),
                "{pattern} should match {host}"
            );
        }
        for (pattern, host) in no {
            assert!(
                !host_matches(pattern, host),
                "{pattern} should not match {host}"
            );
        }
    }
}
