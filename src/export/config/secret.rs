//! Secret references: `{ env = "NAME" }` or `{ file = "PATH" }`, never an inline value.
//!
//! Parsing checks the shape only; [`Secret::resolve`] reads the value, and is called for the
//! selected targets alone, so a missing variable of a target not run does not block a run.

use secrecy::SecretString;
use serde::de::{self, MapAccess, Visitor};
use std::path::{Path, PathBuf};

pub const SECRET_FORMS: &str = "use { env = \"NAME\" } or { file = \"PATH\" }";

/// Where a secret comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretRef {
    Env(String),
    File(PathBuf),
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
    pub fn resolve(&mut self, home: Option<&Path>) -> Result<(), String> {
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
        };
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
                        "expected exactly one of env or file: {SECRET_FORMS}"
                    ))
                };
                let Some(key) = map.next_key::<String>()? else {
                    return Err(shape());
                };
                let value = map.next_value::<String>().map_err(|_| shape())?;
                if map.next_key::<String>()?.is_some() || value.trim().is_empty() {
                    return Err(shape());
                }
                match key.as_str() {
                    "env" => Ok(SecretRef::Env(value)),
                    "file" => Ok(SecretRef::File(PathBuf::from(value))),
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
