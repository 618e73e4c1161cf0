//! A small reader for `~/.aws/config` and `~/.aws/credentials`, enough to tell which profile
//! is selected and what defines it.
//!
//! The cached `get` must not build an SDK client (that costs milliseconds and memory), yet the
//! cache key has to know *who* is asking. The profile sections answer that without network.
//! Fetching still goes through `aws-config`, which is the authority on credentials.

use std::collections::BTreeMap;
use std::path::PathBuf;

/// Key/value pairs of one section. Nested `services`-style sub-keys are ignored.
pub type Section = BTreeMap<String, String>;

/// The parsed shared config and credentials files. `Debug` shows section names only: the
/// values include secret access keys.
#[derive(Default)]
pub struct AwsFiles {
    /// `[profile x]` / `[default]` from config merged with `[x]` from credentials
    /// (credentials win, as in the SDKs).
    pub profiles: BTreeMap<String, Section>,
    /// `[sso-session x]` sections from config.
    pub sso_sessions: BTreeMap<String, Section>,
}

impl std::fmt::Debug for AwsFiles {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AwsFiles")
            .field("profiles", &self.profiles.keys().collect::<Vec<_>>())
            .field(
                "sso_sessions",
                &self.sso_sessions.keys().collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl AwsFiles {
    /// Reads both files from their usual places (`AWS_CONFIG_FILE`,
    /// `AWS_SHARED_CREDENTIALS_FILE`, else `~/.aws/`). Missing files are empty.
    pub fn load(home: Option<&std::path::Path>) -> AwsFiles {
        let path = |var: &str, file: &str| -> Option<PathBuf> {
            match std::env::var_os(var) {
                Some(p) if !p.is_empty() => {
                    Some(crate::settings::expand_tilde(&PathBuf::from(p), home))
                }
                _ => home.map(|h| h.join(".aws").join(file)),
            }
        };
        let mut files = AwsFiles::default();
        if let Some(text) =
            path("AWS_CONFIG_FILE", "config").and_then(|p| std::fs::read_to_string(p).ok())
        {
            files.add_config(&text);
        }
        if let Some(text) = path("AWS_SHARED_CREDENTIALS_FILE", "credentials")
            .and_then(|p| std::fs::read_to_string(p).ok())
        {
            files.add_credentials(&text);
        }
        files
    }

    /// Adds the sections of a config file (`[default]`, `[profile x]`, `[sso-session x]`).
    pub fn add_config(&mut self, text: &str) {
        for (header, section) in parse_ini(text) {
            let header = header.trim();
            if header == "default" {
                merge(
                    self.profiles.entry("default".into()).or_default(),
                    section,
                    false,
                );
            } else if let Some(name) = header.strip_prefix("profile ") {
                merge(
                    self.profiles.entry(name.trim().into()).or_default(),
                    section,
                    false,
                );
            } else if let Some(name) = header.strip_prefix("sso-session ") {
                merge(
                    self.sso_sessions.entry(name.trim().into()).or_default(),
                    section,
                    false,
                );
            }
        }
    }

    /// Adds the sections of a credentials file (`[x]`); its keys override the config file's.
    pub fn add_credentials(&mut self, text: &str) {
        for (header, section) in parse_ini(text) {
            merge(
                self.profiles.entry(header.trim().into()).or_default(),
                section,
                true,
            );
        }
    }

    pub fn profile(&self, name: &str) -> Option<&Section> {
        self.profiles.get(name)
    }
}

fn merge(into: &mut Section, from: Section, overwrite: bool) {
    for (k, v) in from {
        if overwrite || !into.contains_key(&k) {
            into.insert(k, v);
        }
    }
}

/// Splits INI text into `(header, section)` pairs. Comments start with `#` or `;`; indented
/// lines continue a sub-section (e.g. `s3 =` followed by nested keys) and are skipped.
fn parse_ini(text: &str) -> Vec<(String, Section)> {
    let mut out: Vec<(String, Section)> = Vec::new();
    for raw in text.lines() {
        let line = raw.trim_end();
        let trimmed = line.trim_start();
        if trimmed.is_empty() || trimmed.starts_with('#') || trimmed.starts_with(';') {
            continue;
        }
        if let Some(rest) = trimmed.strip_prefix('[') {
            let header = rest.split(']').next().unwrap_or("").to_string();
            out.push((header, Section::new()));
            continue;
        }
        if line.starts_with([' ', '\t']) {
            continue; // nested sub-key
        }
        let Some((key, value)) = trimmed.split_once('=') else {
            continue;
        };
        if let Some((_, section)) = out.last_mut() {
            let value = strip_inline_comment(value.trim());
            section.insert(key.trim().to_ascii_lowercase(), value.to_string());
        }
    }
    out
}

/// `value # comment` → `value` (a `#` or `;` preceded by whitespace starts a comment).
fn strip_inline_comment(value: &str) -> &str {
    let bytes = value.as_bytes();
    for i in 1..bytes.len() {
        if (bytes[i] == b'#' || bytes[i] == b';') && bytes[i - 1].is_ascii_whitespace() {
            return value[..i].trim_end();
        }
    }
    value
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_profiles_sessions_and_credentials() {
        let mut files = AwsFiles::default();
        files.add_config(
            "[default]\nregion = us-east-1\n\n[profile dev]\nrole_arn = arn:aws:iam::1:role/x # note\n\
             source_profile = default\ns3 =\n  max_concurrent_requests = 2\n\
             [sso-session corp]\nsso_start_url = https://corp.awsapps.com/start\n; comment\n",
        );
        files.add_credentials(
            "[default]\naws_access_key_id = AKIDEXAMPLE\naws_secret_access_key = s\n",
        );
        let default = files.profile("default").expect("default profile");
        assert_eq!(default.get("region").map(String::as_str), Some("us-east-1"));
        assert_eq!(
            default.get("aws_access_key_id").map(String::as_str),
            Some("AKIDEXAMPLE")
        );
        let dev = files.profile("dev").expect("dev profile");
        assert_eq!(
            dev.get("role_arn").map(String::as_str),
            Some("arn:aws:iam::1:role/x")
        );
        assert!(!dev.contains_key("max_concurrent_requests"));
        assert_eq!(
            files.sso_sessions["corp"]
                .get("sso_start_url")
                .map(String::as_str),
            Some("https://corp.awsapps.com/start")
        );
    }
}
