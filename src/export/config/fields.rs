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

    pub fn opt_duration(&mut self, name: &str) -> Result<Option<Duration>, ConfigError> {
        match self.opt_str(name)? {
            None => Ok(None),
            Some(s) => parse_duration(&s).map(Some).ok_or_else(|| {
                self.err(
                    name,
                    format!(
                        "invalid duration {s:?} (use e.g. \"30s\", \"5m\", \"1h\"; at most a week)"
                    ),
                )
            }),
        }
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
        let value = self
            .map
            .remove(name)
            .ok_or_else(|| self.err(name, format!("missing required key ({SECRET_FORMS})")))?;
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
            return Ok(SecretString::from(String::new()));
        }
        match reference {
            Ok(var) => match std::env::var(var) {
                Ok(v) if !v.trim().is_empty() => Ok(SecretString::from(v.trim().to_string())),
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
                Ok(SecretString::from(text))
            }
        }
    }

    /// An `http(s)://` base URL without a trailing slash; `default` None makes it required.
    pub fn url(&mut self, name: &str, default: Option<&str>) -> Result<String, ConfigError> {
        let url = match (self.opt_str(name)?, default) {
            (Some(url), _) => url,
            (None, Some(default)) => default.to_string(),
            (None, None) => return Err(self.err(name, "missing required key")),
        };
        check_url(&url).map_err(|why| self.err(name, why))?;
        Ok(url.trim_end_matches('/').to_string())
    }

    pub fn finish(self) -> Result<(), ConfigError> {
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
        Some(r) if !r.is_empty() && !r.starts_with('/') && !r.contains(['?', '#']) => Ok(()),
        _ => Err(format!(
            "invalid URL {url:?} (expected http:// or https://, no query)"
        )),
    }
}
