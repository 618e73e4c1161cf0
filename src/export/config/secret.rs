//! Secret references: `{ env = "NAME" }`, `{ file = "PATH" }`, `{ secretsmanager = "ARN-or-name" }`
//! (optionally with `key = "field"` of a JSON secret) or `{ ssm = "/param/name" }`, never an
//! inline value.
//!
//! Parsing checks the shape only; [`Secret::resolve`] reads the value, and is called for the
//! selected targets alone, so a missing variable of a target not run does not block a run.
//! Secrets Manager and SSM are read through [`Remote`], once per run and secret (two targets
//! sharing a secret, or two keys of one JSON secret, make one call).

use crate::ecr::secrets::Store;
use secrecy::{ExposeSecret as _, SecretString};
use serde::de::{self, MapAccess, Visitor};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub const SECRET_FORMS: &str = "use { env = \"NAME\" }, { file = \"PATH\" }, \
     { secretsmanager = \"ARN-or-name\" } (with key = \"field\" for a JSON secret) or \
     { ssm = \"/param/name\" }";

/// Bound on reading one secret from AWS (credentials, the call and its retries).
const REMOTE_TIMEOUT: Duration = Duration::from_secs(15);

/// Where a secret comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretRef {
    Env(String),
    File(PathBuf),
    /// A Secrets Manager secret (ARN or name), or one string field of its JSON value.
    SecretsManager {
        id: String,
        key: Option<String>,
    },
    /// An SSM parameter, decrypted (`SecureString`).
    Ssm(String),
}

/// The values read from Secrets Manager and SSM in one run, by store and id (errors too: a
/// missing secret is reported once, and not asked for again).
#[derive(Default)]
pub struct Remote {
    read: HashMap<(Store, String), Result<SecretString, String>>,
}

impl Remote {
    fn get(&mut self, store: Store, id: &str) -> Result<&SecretString, String> {
        self.read
            .entry((store, id.to_string()))
            .or_insert_with(|| {
                crate::ecr::secrets::read_blocking(store, id, REMOTE_TIMEOUT)
                    .map(SecretString::from)
            })
            .as_ref()
            .map_err(Clone::clone)
    }
}

/// A secret reference and, once resolved, its value (`Debug` never shows the value).
#[derive(Clone)]
pub struct Secret {
    pub reference: SecretRef,
    value: SecretString,
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Secret({:?})", self.reference)
    }
}

impl Secret {
    /// The value; empty until [`Secret::resolve`].
    pub fn value(&self) -> &SecretString {
        &self.value
    }

    /// Reads the value: an env var (trimmed, non-empty) or a key file (trailing newline
    /// trimmed, non-empty; warned about when group/world-readable). `~` in a path is `home`.
    pub fn resolve(&mut self, home: Option<&Path>, remote: &mut Remote) -> Result<(), String> {
        let value = match &self.reference {
            SecretRef::Env(var) => match std::env::var(var) {
                Ok(v) if !v.trim().is_empty() => v.trim().to_string(),
                _ => return Err(format!("environment variable {var} is not set or empty")),
            },
            SecretRef::File(file) => {
                let path = crate::settings::expand_tilde(file, home);
                let text = std::fs::read_to_string(&path)
                    .map_err(|e| format!("cannot read key file {}: {e}", path.display()))?;
                warn_if_readable_by_others(&path);
                let text = text.trim().to_string();
                if text.is_empty() {
                    return Err(format!("key file {} is empty", path.display()));
                }
                text
            }
            SecretRef::SecretsManager { id, key } => {
                let whole = remote
                    .get(Store::SecretsManager, id)
                    .map_err(|e| format!("Secrets Manager secret {id:?}: {e}"))?;
                match key {
                    None => whole.expose_secret().trim().to_string(),
                    Some(key) => json_field(whole, key)
                        .map_err(|e| format!("Secrets Manager secret {id:?}: {e}"))?,
                }
            }
            SecretRef::Ssm(name) => remote
                .get(Store::Ssm, name)
                .map_err(|e| format!("SSM parameter {name:?}: {e}"))?
                .expose_secret()
                .trim()
                .to_string(),
        };
        if value.is_empty() {
            return Err(format!("{} is empty", describe(&self.reference)));
        }
        self.value = SecretString::from(value);
        Ok(())
    }
}

impl<'de> serde::Deserialize<'de> for Secret {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Secret, D::Error> {
        struct Shape;
        impl<'de> Visitor<'de> for Shape {
            type Value = SecretRef;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str(SECRET_FORMS)
            }
            // Say why without repeating the value: it is likely the secret itself.
            fn visit_str<E: de::Error>(self, _: &str) -> Result<SecretRef, E> {
                Err(E::custom(format!(
                    "inline secrets are not allowed; {SECRET_FORMS}"
                )))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<SecretRef, A::Error> {
                let shape = || {
                    de::Error::custom(format!(
                        "expected exactly one of env, file, secretsmanager or ssm: {SECRET_FORMS}"
                    ))
                };
                let mut entries: Vec<(String, String)> = Vec::new();
                while let Some(key) = map.next_key::<String>()? {
                    let value = map.next_value::<String>().map_err(|_| shape())?;
                    if value.trim().is_empty() || entries.len() == 2 {
                        return Err(shape());
                    }
                    entries.push((key, value));
                }
                entries.sort();
                let mut entries = entries.into_iter();
                let (first, second) = (entries.next(), entries.next());
                let Some((key, value)) = first else {
                    return Err(shape());
                };
                match (key.as_str(), second) {
                    ("env", None) => Ok(SecretRef::Env(value)),
                    ("file", None) => Ok(SecretRef::File(PathBuf::from(value))),
                    ("ssm", None) => Ok(SecretRef::Ssm(value)),
                    ("secretsmanager", None) => Ok(SecretRef::SecretsManager {
                        id: value,
                        key: None,
                    }),
                    // Sorted: `key` comes before `secretsmanager`.
                    ("key", Some((other, id))) if other == "secretsmanager" => {
                        Ok(SecretRef::SecretsManager {
                            id,
                            key: Some(value),
                        })
                    }
                    _ => Err(shape()),
                }
            }
        }
        Ok(Secret {
            reference: d.deserialize_any(Shape)?,
            value: SecretString::from(String::new()),
        })
    }
}

/// What a reference names, for messages (never the value).
fn describe(reference: &SecretRef) -> String {
    match reference {
        SecretRef::Env(var) => format!("environment variable {var}"),
        SecretRef::File(path) => format!("key file {}", path.display()),
        SecretRef::SecretsManager { id, key: None } => format!("Secrets Manager secret {id:?}"),
        SecretRef::SecretsManager { id, key: Some(key) } => {
            format!("key {key:?} of Secrets Manager secret {id:?}")
        }
        SecretRef::Ssm(name) => format!("SSM parameter {name:?}"),
    }
}

/// One string field of a JSON secret (as the console's key/value secrets store them).
fn json_field(whole: &SecretString, key: &str) -> Result<String, String> {
    // Parse errors would quote the text: say only what is wrong.
    let doc: serde_json::Value = serde_json::from_str(whole.expose_secret())
        .map_err(|_| format!("the value is not a JSON object, so it has no key {key:?}"))?;
    match doc.get(key) {
        Some(serde_json::Value::String(s)) => Ok(s.trim().to_string()),
        Some(_) => Err(format!("key {key:?} is not a string")),
        None => Err(format!("the JSON value has no key {key:?}")),
    }
}

/// Warns (as ssh does) when a key file is group- or world-readable.
fn warn_if_readable_by_others(path: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        if let Ok(meta) = std::fs::metadata(path) {
            let mode = meta.permissions().mode();
            if mode & 0o077 != 0 {
                let line = format!(
                    "warning: key file {} is readable by group or others (mode {:o}); run `chmod 600 {}`",
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

    fn parse(text: &str) -> Result<SecretRef, String> {
        #[derive(serde::Deserialize)]
        struct Holder {
            api_key: Secret,
        }
        toml::from_str::<Holder>(&format!("api_key = {text}"))
            .map(|h| h.api_key.reference)
            .map_err(|e| e.message().to_string())
    }

    #[test]
    fn every_reference_form_parses_and_nothing_else_does() {
        assert_eq!(parse(r#"{ env = "K" }"#), Ok(SecretRef::Env("K".into())));
        assert_eq!(
            parse(r#"{ ssm = "/ecr/key" }"#),
            Ok(SecretRef::Ssm("/ecr/key".into()))
        );
        assert_eq!(
            parse(r#"{ secretsmanager = "keys" }"#),
            Ok(SecretRef::SecretsManager {
                id: "keys".into(),
                key: None
            })
        );
        assert_eq!(
            parse(r#"{ secretsmanager = "keys", key = "pipecat" }"#),
            Ok(SecretRef::SecretsManager {
                id: "keys".into(),
                key: Some("pipecat".into())
            })
        );
        for bad in [
            r#"{ ssm = "/p", key = "k" }"#,
            r#"{ key = "k" }"#,
            r#"{ env = "A", file = "B" }"#,
            r#"{ secretsmanager = "a", key = "k", env = "E" }"#,
            r#"{ secretsmanager = "" }"#,
            "{}",
        ] {
            let e = parse(bad).expect_err(bad);
            assert!(e.contains("secretsmanager"), "{bad}: {e}");
        }
        let e = parse(r#""pk_live_inline""#).expect_err("inline");
        assert!(e.contains("inline secrets are not allowed"), "{e}");
        assert!(!e.contains("pk_live_inline"));
    }

    #[test]
    fn a_json_field_is_a_string_and_errors_never_quote_the_value() {
        let whole = SecretString::from(r#"{"pipecat":" pk_1 ","n":3}"#.to_string());
        assert_eq!(json_field(&whole, "pipecat"), Ok("pk_1".to_string()));
        assert!(json_field(&whole, "n").is_err_and(|e| e.contains("not a string")));
        assert!(json_field(&whole, "x").is_err_and(|e| e.contains("no key \"x\"")));
        let text = SecretString::from("pk_plain_secret_value".to_string());
        let e = json_field(&text, "pipecat").expect_err("not JSON");
        assert!(!e.contains("pk_plain"), "{e}");
    }
}
