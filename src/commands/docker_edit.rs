//! The pure part of `configure-docker`: a Docker (or podman `auth.json`) config document,
//! edited so the helper answers the given hosts, and rendered back in the file's own style.
//!
//! Contract: only `credHelpers[<host>]`, `credsStore` and the `auths` entries of the given hosts
//! change. Every other key and value stays, in its order (serde_json's `preserve_order`), and
//! the file keeps its indentation (Docker writes tabs) and its final newline, so a diff of the
//! change shows only the change. An edit that changes nothing says so, and the caller then
//! writes nothing.

use crate::export::docker_config::hostname;
use serde::Serialize as _;
use serde_json::{Map, Value};
use std::fmt;
use std::path::Path;

/// The `credHelpers` / `credsStore` value that makes Docker run `docker-credential-ecr-login`.
pub const HELPER: &str = "ecr-login";

/// A parsed config file and how it was written.
#[derive(Debug, Clone, PartialEq)]
pub struct Document {
    map: Map<String, Value>,
    /// Pretty-printing indent; `None`: the file was one line, and stays one line.
    indent: Option<Vec<u8>>,
    trailing_newline: bool,
}

/// One change the edit makes; `Display` is the line shown to the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// `credHelpers[host]` set; `previous` is the helper it named before, if any.
    Helper {
        host: String,
        previous: Option<String>,
    },
    /// `credsStore` set; `previous` is the store it named before, if any.
    Store { previous: Option<String> },
    /// `auths[key]` removed: tools would use its stored (soon expired) token for the host.
    AuthRemoved { key: String },
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Change::Helper { host, previous } => {
                write!(f, "credHelpers[{host:?}] = {HELPER:?}")?;
                match previous {
                    Some(p) => write!(f, " (was {p:?})"),
                    None => write!(f, " (new)"),
                }
            }
            Change::Store { previous } => {
                write!(f, "credsStore = {HELPER:?}")?;
                match previous {
                    Some(p) => write!(f, " (was {p:?})"),
                    None => write!(f, " (new)"),
                }
            }
            Change::AuthRemoved { key } => write!(
                f,
                "removed auths[{key:?}]: a stored credential for a configured host shadows the helper (it would be sent instead of a fresh token)"
            ),
        }
    }
}

/// What [`Document::configure`] changed, and what it saw but must not change.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Edit {
    pub changes: Vec<Change>,
    pub warnings: Vec<String>,
    /// The `credsStore` the file named before the edit, if any.
    pub previous_store: Option<String>,
}

impl Document {
    /// Parses `text` (empty or blank: a new, empty document). `path` names the file in errors.
    pub fn parse(text: &str, path: &Path) -> Result<Document, String> {
        if text.trim().is_empty() {
            return Ok(Document {
                map: Map::new(),
                indent: Some(b"\t".to_vec()),
                trailing_newline: true,
            });
        }
        let map = match serde_json::from_str::<Value>(text) {
            Ok(Value::Object(map)) => map,
            Ok(_) => {
                return Err(format!(
                    "{} is not a JSON object; not touching it",
                    path.display()
                ));
            }
            Err(e) => {
                return Err(format!(
                    "{} is not valid JSON (line {}, column {}: {}); not touching it",
                    path.display(),
                    e.line(),
                    e.column(),
                    describe(&e)
                ));
            }
        };
        for key in ["auths", "credHelpers"] {
            if map.get(key).is_some_and(|v| !v.is_object()) {
                return Err(format!(
                    "{}: `{key}` is not an object; not touching it",
                    path.display()
                ));
            }
        }
        let trimmed = text.trim_end();
        let indent = trimmed.contains('\n').then(|| indent_of(trimmed));
        Ok(Document {
            map,
            indent,
            trailing_newline: text.ends_with('\n'),
        })
    }

    /// Makes the helper answer `hosts`: `credHelpers[host] = "ecr-login"` for each, or with
    /// `creds_store` one `credsStore = "ecr-login"`; and removes the `auths` entries of those
    /// hosts either way.
    pub fn configure(&mut self, hosts: &[String], creds_store: bool) -> Edit {
        let mut edit = Edit {
            previous_store: self
                .map
                .get("credsStore")
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
                .map(str::to_string),
            ..Edit::default()
        };
        if creds_store {
            let previous = self.map.get("credsStore").and_then(Value::as_str);
            if previous != Some(HELPER) {
                edit.changes.push(Change::Store {
                    previous: previous.filter(|p| !p.is_empty()).map(str::to_string),
                });
                self.map.insert("credsStore".into(), HELPER.into());
            }
            if let Some(Value::Object(helpers)) = self.map.get("credHelpers") {
                for (key, value) in helpers {
                    let helper = value.as_str().unwrap_or_default();
                    if helper != HELPER && hosts.iter().any(|h| h == hostname(key)) {
                        edit.warnings.push(format!(
                            "credHelpers[{key:?}] = {helper:?} still wins over credsStore for that host; remove it, or run without --creds-store"
                        ));
                    }
                }
            }
        } else {
            let helpers = self
                .map
                .entry("credHelpers")
                .or_insert_with(|| Value::Object(Map::new()));
            if let Value::Object(helpers) = helpers {
                for host in hosts {
                    let previous = helpers.get(host).map(|v| v.as_str().unwrap_or_default());
                    if previous != Some(HELPER) {
                        edit.changes.push(Change::Helper {
                            host: host.clone(),
                            previous: previous.map(str::to_string),
                        });
                        helpers.insert(host.clone(), HELPER.into());
                    }
                }
            }
        }
        if let Some(Value::Object(auths)) = self.map.get_mut("auths") {
            let shadowing: Vec<String> = auths
                .keys()
                .filter(|key| hosts.iter().any(|h| h == hostname(key)))
                .cloned()
                .collect();
            for key in shadowing {
                auths.shift_remove(&key);
                edit.changes.push(Change::AuthRemoved { key });
            }
        }
        edit
    }

    /// The document as file text, in the style it was read in.
    pub fn render(&self) -> String {
        let mut bytes = Vec::new();
        let written = match &self.indent {
            Some(indent) => {
                let formatter = serde_json::ser::PrettyFormatter::with_indent(indent);
                let mut serializer = serde_json::Serializer::with_formatter(&mut bytes, formatter);
                self.map.serialize(&mut serializer)
            }
            None => serde_json::to_writer(&mut bytes, &self.map),
        };
        // Serialising a `Map` of `Value`s into memory cannot fail; keep the output total anyway.
        let mut text = match written {
            Ok(()) => String::from_utf8_lossy(&bytes).into_owned(),
            Err(_) => String::new(),
        };
        if self.trailing_newline {
            text.push('\n');
        }
        text
    }
}

/// A unified diff from `old` to `new`, labelled with `path`. (diffy rather than a larger diff
/// crate: every byte of code in the binary spreads the cached `get`'s pages further apart.)
pub fn diff(old: &str, new: &str, path: &Path) -> String {
    let label = path.display().to_string();
    diffy::DiffOptions::new()
        .set_context_len(3)
        .set_original_filename(label.clone())
        .set_modified_filename(label)
        .create_patch(old, new)
        .to_string()
}

/// The leading white space of the first indented line (Docker: a tab; others: spaces).
fn indent_of(text: &str) -> Vec<u8> {
    text.lines()
        .skip(1)
        .map(|line| {
            let rest = line.trim_start_matches([' ', '\t']);
            &line[..line.len() - rest.len()]
        })
        .find(|ws| !ws.is_empty())
        .unwrap_or("\t")
        .as_bytes()
        .to_vec()
}

/// serde_json's message without its own " at line L column C" tail (we say it once).
fn describe(e: &serde_json::Error) -> String {
    let text = e.to_string();
    match text.rfind(" at line ") {
        Some(at) => text[..at].to_string(),
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(text: &str) -> Document {
        Document::parse(text, Path::new("config.json")).expect("parses")
    }

    const HOST: &str = "123456789012.dkr.ecr.us-east-1.amazonaws.com";

    #[test]
    fn keeps_other_keys_order_and_tabs() {
        let text = "{\n\t\"zeta\": 1,\n\t\"auths\": {\n\t\t\"https://123456789012.dkr.ecr.us-east-1.amazonaws.com\": {\"auth\": \"x\"},\n\t\t\"ghcr.io\": {\"auth\": \"y\"}\n\t},\n\t\"alpha\": {\"nested\": [1, 2]}\n}";
        let mut d = doc(text);
        let edit = d.configure(&[HOST.to_string()], false);
        assert_eq!(edit.changes.len(), 2, "{:?}", edit.changes);
        assert!(
            matches!(&edit.changes[1], Change::AuthRemoved { key } if key.starts_with("https://"))
        );
        let out = d.render();
        assert_eq!(
            out,
            "{\n\t\"zeta\": 1,\n\t\"auths\": {\n\t\t\"ghcr.io\": {\n\t\t\t\"auth\": \"y\"\n\t\t}\n\t},\n\t\"alpha\": {\n\t\t\"nested\": [\n\t\t\t1,\n\t\t\t2\n\t\t]\n\t},\n\t\"credHelpers\": {\n\t\t\"123456789012.dkr.ecr.us-east-1.amazonaws.com\": \"ecr-login\"\n\t}\n}"
        );
        // A second pass over the result changes nothing.
        let mut again = doc(&out);
        let edit = again.configure(&[HOST.to_string()], false);
        assert!(
            edit.changes.is_empty() && edit.warnings.is_empty(),
            "{edit:?}"
        );
        assert_eq!(again.render(), out);
    }

    #[test]
    fn creds_store_replaces_the_store_and_warns_about_overriding_helpers() {
        let mut d =
            doc("{\"credsStore\":\"desktop\",\"credHelpers\":{\"public.ecr.aws\":\"other\"}}");
        let edit = d.configure(&["public.ecr.aws".to_string()], true);
        assert_eq!(
            edit.changes,
            [Change::Store {
                previous: Some("desktop".into())
            }]
        );
        assert_eq!(edit.warnings.len(), 1);
        assert!(
            edit.warnings[0].contains("still wins"),
            "{:?}",
            edit.warnings
        );
        assert_eq!(
            d.render(),
            "{\"credsStore\":\"ecr-login\",\"credHelpers\":{\"public.ecr.aws\":\"other\"}}",
            "a one-line file stays one line"
        );
    }

    #[test]
    fn new_and_two_space_files() {
        let mut d = doc("");
        d.configure(&["public.ecr.aws".to_string()], false);
        assert_eq!(
            d.render(),
            "{\n\t\"credHelpers\": {\n\t\t\"public.ecr.aws\": \"ecr-login\"\n\t}\n}\n"
        );
        let mut d = doc("{\n  \"credHelpers\": {\n    \"a.example\": \"pass\"\n  }\n}\n");
        let edit = d.configure(&["a.example".to_string()], false);
        assert_eq!(
            edit.changes[0].to_string(),
            "credHelpers[\"a.example\"] = \"ecr-login\" (was \"pass\")"
        );
        assert_eq!(
            d.render(),
            "{\n  \"credHelpers\": {\n    \"a.example\": \"ecr-login\"\n  }\n}\n"
        );
    }

    #[test]
    fn bad_documents_are_refused_with_the_reason() {
        let e = Document::parse("{\n  \"auths\": {,\n}", Path::new("/x/config.json"))
            .expect_err("invalid");
        assert!(
            e.starts_with(
                "/x/config.json is not valid JSON (line 2, column 13: key must be a string)"
            ),
            "{e}"
        );
        for text in ["[1]", "{\"auths\": []}", "{\"credHelpers\": \"x\"}"] {
            assert!(Document::parse(text, Path::new("c")).is_err(), "{text}");
        }
    }

    #[test]
    fn diff_shows_only_the_change() {
        let old = "{\n\t\"a\": 1\n}\n";
        let mut d = doc(old);
        d.configure(&["public.ecr.aws".to_string()], false);
        let diff = diff(old, &d.render(), Path::new("c.json"));
        assert!(diff.starts_with("--- c.json\n+++ c.json\n@@ "), "{diff}");
        assert!(diff.contains("-\t\"a\": 1\n+\t\"a\": 1,\n"), "{diff}");
        assert!(
            diff.contains("+\t\t\"public.ecr.aws\": \"ecr-login\"\n"),
            "{diff}"
        );
    }
}
