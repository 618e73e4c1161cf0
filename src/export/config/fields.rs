//! Typed access to one TOML table's keys, each consumed once so leftovers are reported as
//! unknown keys, and every error names the file, the full key and the reason.

use super::duration::parse_duration;
use super::{ConfigError, warn_if_readable_by_others};
use secrecy::SecretString;
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;
use toml::Value;

/// What every error needs: the file name, and the home directory for `~` in paths.
pub(super) struct Cx<'a> {
    pub file: &'a str,
    pub home: Option<&'a Path>,
}

impl Cx<'_> {
    pub fn err(&self, key: &str, reason: String) -> ConfigError {
        ConfigError {
            file: self.file.to_string(),
            key: key.to_string(),
            reason,
        }
    }
}

/// One table's fields, consumed one by one so leftovers are reported as unknown keys.
pub(super) struct Fields<'a> {
    cx: &'a Cx<'a>,
    prefix: String,
    pub map: BTreeMap<String, Value>,
}

const SECRET_FORMS: &str = "use { env = \"NAME\" } or { file = \"PATH\" }";

impl<'a> Fields<'a> {
    pub fn new(cx: &'a Cx<'a>, prefix: &str, value: &Value) -> Result<Fields<'a>, ConfigError> {
        match value {
            Value::Table(t) => Ok(Fields {
                cx,
                prefix: prefix.to_string(),
                map: t.clone().into_iter().collect(),
            }),
            _ => Err(cx.err(prefix, "expected a table".into())),
        }
    }

    pub fn home(&self) -> Option<&'a Path> {
        self.cx.home
    }

    fn key(&self, name: &str) -> String {
        format!("{}.{name}", self.prefix)
    }

    pub fn err(&self, name: &str, reason: impl Into<String>) -> ConfigError {
        self.cx.err(&self.key(name), reason.into())
    }

    pub fn opt_str(&mut self, name: &str) -> Result<Option<String>, ConfigError> {
        match self.map.remove(name) {
            None => Ok(None),
            Some(Value::String(s)) if s.trim().is_empty() => {
                Err(self.err(name, "must not be empty"))
            }
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(self.err(name, "expected a string")),
        }
    }

    pub fn str(&mut self, name: &str) -> Result<String, ConfigError> {
        self.opt_str(name)?
            .ok_or_else(|| self.err(name, "missing required key"))
    }

    /// A duration: `"30s"`, `"5m"`, `"1h30m"`, or a bare number of seconds (`30`).
    pub fn opt_duration(&mut self, name: &str) -> Result<Option<Duration>, ConfigError> {
        let text = match self.map.remove(name) {
            None => return Ok(None),
            Some(Value::Integer(n)) => n.to_string(),
            Some(Value::Float(x)) => x.to_string(),
            Some(Value::String(s)) => s,
            Some(_) => return Err(self.err(name, "expected a duration such as \"30s\" or 30")),
        };
        parse_duration(&text).map(Some).ok_or_else(|| {
            self.err(
                name,
                format!(
                    "invalid duration {text:?} (use e.g. \"30s\", \"5m\", \"1h\" or 30 for seconds; at most a week)"
                ),
            )
        })
    }

    pub fn str_list(&mut self, name: &str) -> Result<Vec<String>, ConfigError> {
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

    /// A secret reference, `{ env = "NAME" }` or `{ file = "PATH" }`; an inline string is an
    /// error. Resolved only when `resolve` (the target is selected), so an unselected target's
    /// missing variable does not block a run; its shape is checked either way.
    pub fn secret(&mut self, name: &str, resolve: bool) -> Result<SecretString, ConfigError> {
        self.opt_secret(name, resolve)?
            .ok_or_else(|| self.err(name, format!("missing required key ({SECRET_FORMS})")))
    }

    /// Like [`Fields::secret`], for an optional key.
    pub fn opt_secret(
        &mut self,
        name: &str,
        resolve: bool,
    ) -> Result<Option<SecretString>, ConfigError> {
        let Some(value) = self.map.remove(name) else {
            return Ok(None);
        };
        let table = match value {
            Value::String(_) => {
                return Err(self.err(
                    name,
                    format!("inline secrets are not allowed; {SECRET_FORMS}"),
                ));
            }
            Value::Table(t) => t,
            _ => return Err(self.err(name, format!("expected a table: {SECRET_FORMS}"))),
        };
        let reference = match (table.len(), table.get("env"), table.get("file")) {
            (1, Some(Value::String(var)), None) => Ok(var),
            (1, None, Some(Value::String(file))) => Err(file),
            _ => {
                return Err(self.err(
                    name,
                    format!("expected exactly one of env or file: {SECRET_FORMS}"),
                ));
            }
        };
        if !resolve {
            return Ok(Some(SecretString::from(String::new())));
        }
        match reference {
            Ok(var) => match std::env::var(var) {
                Ok(v) if !v.trim().is_empty() => Ok(Some(SecretString::from(v.trim().to_string()))),
                _ => Err(self.err(
                    name,
                    format!("environment variable {var} is not set or empty"),
                )),
            },
            Err(file) => {
                let path = crate::settings::expand_tilde(Path::new(file), self.cx.home);
                let text = std::fs::read_to_string(&path).map_err(|e| {
                    self.err(
                        name,
                        format!("cannot read key file {}: {e}", path.display()),
                    )
                })?;
                warn_if_readable_by_others(&path, "key file");
                let text = text.trim().to_string();
                if text.is_empty() {
                    return Err(self.err(name, format!("key file {} is empty", path.display())));
                }
                Ok(Some(SecretString::from(text)))
            }
        }
    }

    pub fn opt_bool(&mut self, name: &str) -> Result<Option<bool>, ConfigError> {
        match self.map.remove(name) {
            None => Ok(None),
            Some(Value::Boolean(b)) => Ok(Some(b)),
            Some(_) => Err(self.err(name, "expected true or false")),
        }
    }

    /// A base URL without a trailing slash; `default` None makes it required. The API key is
    /// sent there, so plain `http://` is refused unless the host is loopback or the target
    /// sets `allow_http = true`, and `user:pass@` is refused always.
    pub fn url(
        &mut self,
        name: &str,
        default: Option<&str>,
        allow_http: bool,
    ) -> Result<String, ConfigError> {
        let url = match (self.opt_str(name)?, default) {
            (Some(url), _) => url,
            (None, Some(default)) => default.to_string(),
            (None, None) => return Err(self.err(name, "missing required key")),
        };
        check_url(&url, allow_http).map_err(|why| self.err(name, why))?;
        Ok(url.trim_end_matches('/').to_string())
    }

    /// Refuses keys outside `known` (checked before anything else, so a typo is reported as
    /// the typo, with the key it probably meant, not as that key missing).
    pub fn reject_unknown(&self, known: &[&str]) -> Result<(), ConfigError> {
        let Some(extra) = self.map.keys().find(|k| !known.contains(&k.as_str())) else {
            return Ok(());
        };
        let near = known
            .iter()
            .filter(|k| edit_distance(k, extra) <= 2)
            .min_by_key(|k| edit_distance(k, extra));
        let reason = match near {
            Some(near) if !self.map.contains_key(*near) => {
                format!("unknown key (did you mean `{near}`? `{near}` is not set)")
            }
            Some(near) => format!("unknown key (did you mean `{near}`?)"),
            None => format!("unknown key (expected one of: {})", known.join(", ")),
        };
        Err(self.err(extra, reason))
    }

    pub fn finish(self) -> Result<(), ConfigError> {
        match self.map.keys().next() {
            Some(extra) => Err(self.err(extra, "unknown key")),
            None => Ok(()),
        }
    }
}

fn check_url(url: &str, allow_http: bool) -> Result<(), String> {
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
    Ok(())
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

/// Levenshtein distance, for "did you mean" on short key names.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let next = (prev + usize::from(ca != *cb))
                .min(row[j] + 1)
                .min(row[j + 1] + 1);
            prev = row[j + 1];
            row[j + 1] = next;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_must_be_https_unless_loopback_or_allowed() {
        assert!(check_url("https://api.runpod.io", false).is_ok());
        assert!(check_url("http://127.0.0.1:8080", false).is_ok());
        assert!(check_url("http://localhost/x", false).is_ok());
        assert!(check_url("http://[::1]:9", false).is_ok());
        assert!(check_url("http://octopus.internal", false).is_err());
        assert!(check_url("http://octopus.internal", true).is_ok());
        assert!(check_url("http://127.0.0.1.evil.example", false).is_err());
        let e = check_url("https://user:pw@octopus.example", true).unwrap_err();
        assert!(!e.contains("pw"), "{e}");
        assert!(check_url("https://o.example/api?key=1", false).is_err());
        assert!(check_url("ftp://o.example", false).is_err());
    }

    #[test]
    fn near_keys_are_suggested() {
        assert_eq!(edit_distance("paht", "path"), 2);
        assert_eq!(edit_distance("path", "path"), 0);
        assert_eq!(edit_distance("namespace", "namespaces"), 1);
    }
}
