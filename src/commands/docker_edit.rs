//! The pure part of `configure-docker`: a Docker (or podman `auth.json`) config document,
//! edited so the helper answers the given hosts, and rendered back in the file's own style.
//!
//! Contract: only `credHelpers[<host>]`, `credsStore` and the `auths` entries of the given hosts
//! change. Every other key stays in its order, and every other value stays exactly as written
//! (its JSON text, never decoded: see [`crate::json_doc`]); the file keeps its indentation
//! (Docker writes tabs) and its final newline, so a diff of the change shows only the change. An
//! edit that changes nothing says so, and the caller then writes nothing.

use crate::export::docker_config::hostname;
use crate::json_doc::{self, Entries, InOrder};
use serde::Serialize as _;
use serde_json::value::RawValue;
use std::fmt;
use std::path::Path;

/// The `credHelpers` / `credsStore` value that makes Docker run `docker-credential-ecr-login`.
pub const HELPER: &str = "ecr-login";

/// A parsed config file and how it was written.
#[derive(Debug)]
pub struct Document {
    map: InOrder<String, Field>,
    /// Pretty-printing indent; `None`: the file was one line, and stays one line.
    indent: Option<Vec<u8>>,
    trailing_newline: bool,
}

/// A value of the document: as read, or set by the edit.
#[derive(Clone, Debug, serde::Serialize)]
#[serde(untagged)]
enum Field {
    /// Exactly as the file had it.
    Kept(Box<RawValue>),
    /// A string we set (`credsStore`, a `credHelpers` entry).
    Text(String),
    /// An object we changed (`credHelpers`, `auths`): its entries, each kept or set.
    Object(InOrder<String, Field>),
}

impl Field {
    /// The value if it is a JSON string.
    fn as_string(&self) -> Option<String> {
        match self {
            Field::Kept(raw) => json_doc::string_of(raw),
            Field::Text(text) => Some(text.clone()),
            Field::Object(_) => None,
        }
    }
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
                map: InOrder::default(),
                indent: Some(b"\t".to_vec()),
                trailing_newline: true,
            });
        }
        let entries: Entries = match serde_json::from_str(text) {
            Ok(entries) => entries,
            // Valid JSON of another type.
            Err(e) if e.classify() == serde_json::error::Category::Data => {
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
            if entries
                .get(key)
                .is_some_and(|v| json_doc::entries_of(v).is_none())
            {
                return Err(format!(
                    "{}: `{key}` is not an object; not touching it",
                    path.display()
                ));
            }
        }
        let trimmed = text.trim_end();
        let indent = trimmed.contains('\n').then(|| indent_of(trimmed));
        Ok(Document {
            map: InOrder(
                entries
                    .0
                    .into_iter()
                    .map(|(k, v)| (k, Field::Kept(v)))
                    .collect(),
            ),
            indent,
            trailing_newline: text.ends_with('\n'),
        })
    }

    /// A top-level string value (`credsStore`).
    fn string(&self, key: &str) -> Option<String> {
        self.map.get(key).and_then(Field::as_string)
    }

    /// The entries of a top-level object (`credHelpers`, `auths`; `parse` checked they are
    /// objects), each as a [`Field`]; empty when absent.
    fn object(&self, key: &str) -> InOrder<String, Field> {
        match self.map.get(key) {
            Some(Field::Kept(raw)) => InOrder(
                json_doc::entries_of(raw)
                    .unwrap_or_default()
                    .0
                    .into_iter()
                    .map(|(k, v)| (k, Field::Kept(v)))
                    .collect(),
            ),
            Some(Field::Object(entries)) => entries.clone(),
            Some(Field::Text(_)) | None => InOrder::default(),
        }
    }

    /// Makes the helper answer `hosts`: `credHelpers[host] = "ecr-login"` for each, or with
    /// `creds_store` one `credsStore = "ecr-login"`; and removes the `auths` entries of those
    /// hosts either way. Objects it does not change stay as written.
    pub fn configure(&mut self, hosts: &[String], creds_store: bool) -> Edit {
        let previous_store = self.string("credsStore");
        let mut edit = Edit {
            previous_store: previous_store.clone().filter(|s| !s.is_empty()),
            ..Edit::default()
        };
        let configured = |key: &str| hosts.iter().any(|h| h == hostname(key));
        if creds_store {
            if previous_store.as_deref() != Some(HELPER) {
                edit.changes.push(Change::Store {
                    previous: edit.previous_store.clone(),
                });
                self.map
                    .insert("credsStore".into(), Field::Text(HELPER.into()));
            }
            for (key, value) in &self.object("credHelpers").0 {
                let helper = value.as_string().unwrap_or_default();
                if helper != HELPER && configured(key) {
                    edit.warnings.push(format!(
                        "credHelpers[{key:?}] = {helper:?} still wins over credsStore for that host; remove it, or run without --creds-store"
                    ));
                }
            }
        } else {
            let mut helpers = self.object("credHelpers");
            let mut changed = !self.map.keys().any(|k| k == "credHelpers");
            for host in hosts {
                let previous = helpers.get(host).map(|v| v.as_string().unwrap_or_default());
                if previous.as_deref() != Some(HELPER) {
                    edit.changes.push(Change::Helper {
                        host: host.clone(),
                        previous,
                    });
                    helpers.insert(host.clone(), Field::Text(HELPER.into()));
                    changed = true;
                }
            }
            if changed {
                self.map
                    .insert("credHelpers".into(), Field::Object(helpers));
            }
        }
        let mut auths = self.object("auths");
        let shadowing: Vec<String> = auths
            .keys()
            .filter(|k| configured(k))
            .map(String::from)
            .collect();
        if !shadowing.is_empty() {
            for key in shadowing {
                auths.remove(&key);
                edit.changes.push(Change::AuthRemoved { key });
            }
            self.map.insert("auths".into(), Field::Object(auths));
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
        // Serialising strings and raw JSON into memory cannot fail; keep the output total anyway.
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
            "{\n\t\"zeta\": 1,\n\t\"auths\": {\n\t\t\"ghcr.io\": {\"auth\": \"y\"}\n\t},\n\t\"alpha\": {\"nested\": [1, 2]},\n\t\"credHelpers\": {\n\t\t\"123456789012.dkr.ecr.us-east-1.amazonaws.com\": \"ecr-login\"\n\t}\n}",
            "values we do not change stay exactly as written"
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

    /// Decoding and encoding again would round `1.5555555555555555e89` to `…557e89` and refuse
    /// `1e400` (out of f64's range), valid JSON that another tool wrote.
    #[test]
    fn numbers_other_tools_wrote_come_back_as_written() {
        let text = "{\n\t\"x\": 1.5555555555555555e89,\n\t\"y\": 123456789012345678901234567890,\n\t\"z\": [1e400, 1.10]\n}\n";
        let mut d = doc(text);
        d.configure(&["public.ecr.aws".to_string()], false);
        assert_eq!(
            d.render(),
            text.replace(
                "[1e400, 1.10]\n",
                "[1e400, 1.10],\n\t\"credHelpers\": {\n\t\t\"public.ecr.aws\": \"ecr-login\"\n\t}\n"
            )
        );
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
