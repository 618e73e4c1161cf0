//! The shared AWS config and credentials files, read the way aws-config reads them.
//!
//! The cached `get` must not build an SDK client, yet the cache key has to know *who* is
//! asking, and it must name the same principal the SDK will then use. aws-config's own loader
//! (`aws_config::profile::load`) would be the obvious reader, but its code costs a cached `get`
//! about 1 MiB of resident binary pages; this module is a small port of its rules instead
//! (aws-runtime's `env_config::{parse, normalize}`: comments, continuation and sub-property
//! lines, lower-cased keys, identifier validation, `[profile default]` over `[default]`, later
//! sections and the credentials file winning, `AWS_CONFIG_FILE=""` naming no file, a parse
//! error failing the whole load). A differential test runs it against aws-config's loader over
//! a corpus of tricky files and thousands of generated ones; they must agree on every profile,
//! key and value.
//!
//! The files are read on first use: a caller whose identity comes from environment keys never
//! pays for them.

use std::cell::OnceCell;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// Key/value pairs of one profile or sso-session (keys lower-cased, as in the SDK).
pub type Section = BTreeMap<String, String>;

/// The profiles as the SDK sees them. `Debug` shows profile names only: the values include
/// secret access keys.
pub struct AwsFiles {
    source: Source,
    loaded: OnceCell<Loaded>,
}

enum Source {
    /// The process environment and file system.
    Real,
    /// Given texts and `AWS_PROFILE` (tests).
    Texts {
        config: String,
        credentials: String,
        profile: Option<String>,
    },
}

#[derive(Default, PartialEq, Eq, Debug)]
struct Loaded {
    profiles: BTreeMap<String, Section>,
    sso_sessions: BTreeMap<String, Section>,
    selected: String,
    /// Why the files could not be parsed (the SDK then has no profiles either).
    error: Option<String>,
}

impl std::fmt::Debug for AwsFiles {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let loaded = self.loaded();
        f.debug_struct("AwsFiles")
            .field("profiles", &loaded.profiles.keys().collect::<Vec<_>>())
            .field("selected", &loaded.selected)
            .field("error", &loaded.error)
            .finish()
    }
}

impl AwsFiles {
    /// The files the SDK will read (`AWS_CONFIG_FILE`, `AWS_SHARED_CREDENTIALS_FILE`, else
    /// `$HOME/.aws/`; `HOME` as the SDK reads it). Nothing is read yet.
    pub fn load() -> AwsFiles {
        AwsFiles {
            source: Source::Real,
            loaded: OnceCell::new(),
        }
    }

    /// Profiles from given file texts (tests, and the differential test against the SDK).
    pub fn from_texts(config: &str, credentials: &str, profile: Option<&str>) -> AwsFiles {
        AwsFiles {
            source: Source::Texts {
                config: config.into(),
                credentials: credentials.into(),
                profile: profile.map(str::to_string),
            },
            loaded: OnceCell::new(),
        }
    }

    fn loaded(&self) -> &Loaded {
        self.loaded.get_or_init(|| match &self.source {
            Source::Real => {
                let home = std::env::var("HOME").ok();
                let text = |var: &str, default: &str| {
                    file_path(var, default, home.as_deref())
                        .and_then(|p| std::fs::read(p).ok())
                        .and_then(|bytes| String::from_utf8(bytes).ok())
                        .unwrap_or_default()
                };
                let config = text("AWS_CONFIG_FILE", "~/.aws/config");
                let credentials = text("AWS_SHARED_CREDENTIALS_FILE", "~/.aws/credentials");
                let profile = std::env::var("AWS_PROFILE").ok();
                parse_files(&config, &credentials, profile)
            }
            Source::Texts {
                config,
                credentials,
                profile,
            } => parse_files(config, credentials, profile.clone()),
        })
    }

    /// Why the files could not be parsed, if they could not.
    pub fn error(&self) -> Option<&str> {
        self.loaded().error.as_deref()
    }

    /// The profile the SDK's default chain will use: `AWS_PROFILE`, else `default`.
    pub fn selected(&self) -> &str {
        &self.loaded().selected
    }

    pub fn profile(&self, name: &str) -> Option<&Section> {
        self.loaded().profiles.get(name)
    }

    /// Every profile name, sorted (`configure-docker` looks through all of them).
    pub fn profile_names(&self) -> impl Iterator<Item = &str> {
        self.loaded().profiles.keys().map(String::as_str)
    }

    /// A property of an `[sso-session NAME]` section.
    pub fn sso_session_value(&self, session: &str, key: &str) -> Option<&str> {
        self.loaded()
            .sso_sessions
            .get(session)
            .and_then(|s| s.get(key))
            .map(String::as_str)
    }
}

/// The path the SDK reads: the variable's value as given (even empty: then no file can be
/// read), else the default; a leading `~/` is the home directory (as `HOME` says).
fn file_path(var: &str, default: &str, home: Option<&str>) -> Option<PathBuf> {
    let path = std::env::var(var).unwrap_or_else(|_| default.to_string());
    match (path.strip_prefix("~/"), home) {
        (Some(rest), Some(home)) => Some(PathBuf::from(home).join(rest)),
        _ => Some(PathBuf::from(path)),
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Config,
    Credentials,
}

const WHITESPACE: &[char] = &[' ', '\t'];
const COMMENT: &[char] = &['#', ';'];

fn parse_files(config: &str, credentials: &str, profile: Option<String>) -> Loaded {
    let mut loaded = Loaded {
        selected: profile.unwrap_or_else(|| "default".into()),
        ..Loaded::default()
    };
    for (text, kind) in [(config, Kind::Config), (credentials, Kind::Credentials)] {
        match parse_raw(text) {
            Ok(raw) => merge_in(&mut loaded, raw, kind),
            Err(e) => {
                return Loaded {
                    error: Some(e),
                    selected: loaded.selected,
                    ..Loaded::default()
                };
            }
        }
    }
    loaded
}

/// Sections as written: (header, properties), in file order, a repeated header merged into its
/// first occurrence (later values win).
type Raw<'a> = Vec<(&'a str, Vec<(String, String)>)>;

fn parse_raw(text: &str) -> Result<Raw<'_>, String> {
    let mut raw: Raw = Vec::new();
    // (section index, property index, the property's value was empty: sub-properties follow)
    let mut current: Option<(usize, Option<(usize, bool)>)> = None;
    for (n, line) in text.lines().enumerate() {
        let at = |what: &str| format!("line {}: {what}", n + 1);
        if line.trim_matches(WHITESPACE).is_empty() || line.starts_with(COMMENT) {
            continue;
        }
        if line.starts_with('[') {
            let header = prepare_line(line, false)
                .strip_prefix('[')
                .and_then(|l| l.strip_suffix(']'))
                .ok_or_else(|| at("a section header must be `[name]`"))?;
            let index = match raw.iter().position(|(h, _)| *h == header) {
                Some(i) => i,
                None => {
                    raw.push((header, Vec::new()));
                    raw.len() - 1
                }
            };
            current = Some((index, None));
        } else if line.starts_with(WHITESPACE) {
            let Some((section, Some((property, sub)))) = current else {
                return Err(at("a continuation line outside a property"));
            };
            if sub && !line.trim_matches(WHITESPACE).is_empty() {
                parse_property_line(line).map_err(at)?;
            }
            let value = &mut raw[section].1[property].1;
            value.push('\n');
            value.push_str(line.trim_matches(WHITESPACE));
        } else {
            let Some((section, _)) = current else {
                return Err(at("a property before any section header"));
            };
            let (key, value) = parse_property_line(line).map_err(at)?;
            let properties = &mut raw[section].1;
            let index = match properties.iter().position(|(k, _)| *k == key) {
                Some(i) => {
                    properties[i].1 = value.to_string();
                    i
                }
                None => {
                    properties.push((key, value.to_string()));
                    properties.len() - 1
                }
            };
            current = Some((section, Some((index, value.is_empty()))));
        }
    }
    Ok(raw)
}

fn parse_property_line(line: &str) -> Result<(String, &str), &'static str> {
    let line = prepare_line(line, true);
    let (key, value) = line
        .split_once('=')
        .ok_or("expected `=` in a property line")?;
    let key = key.trim_matches(WHITESPACE);
    if key.is_empty() {
        return Err("a property without a name");
    }
    Ok((key.to_ascii_lowercase(), value.trim_matches(WHITESPACE)))
}

/// Trims, and cuts a comment (`#` or `;`; in property lines only after whitespace).
fn prepare_line(line: &str, comments_need_whitespace: bool) -> &str {
    let line = line.trim_matches(WHITESPACE);
    let mut previous_whitespace = false;
    for (i, c) in line.char_indices() {
        if COMMENT.contains(&c) && (previous_whitespace || !comments_need_whitespace) {
            return line[..i].trim_matches(WHITESPACE);
        }
        previous_whitespace = c.is_whitespace();
    }
    line
}

fn is_identifier(text: &str) -> bool {
    text.chars()
        .all(|c| c.is_ascii_alphanumeric() || "_-/.%@:+".contains(c))
}

/// A header as (prefix, name): `profile dev` → (Some("profile"), "dev").
fn split_header(header: &str) -> (Option<&str>, &str) {
    let header = header.trim_matches(WHITESPACE);
    match header.split_once(WHITESPACE) {
        Some((prefix, name)) => (Some(prefix.trim()), name.trim()),
        None => (None, header.trim()),
    }
}

fn merge_in(loaded: &mut Loaded, raw: Raw<'_>, kind: Kind) {
    let valid: Vec<_> = raw
        .into_iter()
        .map(|(header, properties)| (split_header(header), properties))
        .filter(|((prefix, name), _)| match (kind, prefix) {
            (Kind::Config, Some(_)) => is_identifier(name),
            (Kind::Config, None) => *name == "default",
            (Kind::Credentials, Some(_)) => false,
            (Kind::Credentials, None) => is_identifier(name),
        })
        .collect();
    let prefixed_default = valid
        .iter()
        .any(|((prefix, name), _)| *prefix == Some("profile") && *name == "default");
    for ((prefix, name), properties) in valid {
        let section = match prefix {
            None if prefixed_default && name == "default" => continue,
            None | Some("profile") => loaded.profiles.entry(name.to_string()).or_default(),
            Some("sso-session") => loaded.sso_sessions.entry(name.to_string()).or_default(),
            Some(_) => continue, // `services` and other sections: nothing the identity needs
        };
        for (key, value) in properties {
            if is_identifier(&key) {
                section.insert(key, value);
            }
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::collections::HashMap;

    pub(crate) fn files(config: &str, credentials: &str) -> AwsFiles {
        AwsFiles::from_texts(config, credentials, None)
    }

    #[test]
    fn reads_profiles_sessions_and_credentials() {
        let f = files(
            "[default]\nregion = us-east-1\n\n[profile dev]\nrole_arn = arn:aws:iam::1:role/x\n\
             source_profile = default\ns3 =\n  max_concurrent_requests = 2\n\
             [sso-session corp]\nsso_start_url = https://corp.awsapps.com/start\n; comment\n",
            "[default]\naws_access_key_id = AKIDEXAMPLE\naws_secret_access_key = s\n",
        );
        let default = f.profile("default").expect("default profile");
        assert_eq!(default.get("region").map(String::as_str), Some("us-east-1"));
        let dev = f.profile("dev").expect("dev profile");
        assert_eq!(
            dev.get("role_arn").map(String::as_str),
            Some("arn:aws:iam::1:role/x")
        );
        assert_eq!(
            f.sso_session_value("corp", "sso_start_url"),
            Some("https://corp.awsapps.com/start")
        );
        assert_eq!(f.selected(), "default");
        assert!(f.error().is_none());
    }

    #[test]
    fn debug_shows_no_values() {
        let f = files(
            "",
            "[default]\naws_access_key_id = AKIDEXAMPLE\naws_secret_access_key = SECRET\n",
        );
        let text = format!("{f:?}");
        assert!(
            !text.contains("AKIDEXAMPLE") && !text.contains("SECRET"),
            "{text}"
        );
    }

    /// What aws-config's own loader makes of the same texts: profiles and sso-sessions with
    /// every key we read, or an error.
    fn sdk_view(config: &str, credentials: &str, keys: &[String]) -> Loaded {
        use aws_types::os_shim_internal::{Env, Fs};
        let fs = Fs::from_map(HashMap::from([
            ("/h/.aws/config".to_string(), config.to_string()),
            ("/h/.aws/credentials".to_string(), credentials.to_string()),
        ]));
        let env = Env::from_slice(&[("HOME", "/h")]);
        let files = aws_runtime::env_config::file::EnvConfigFiles::default();
        let future = aws_config::profile::load(&fs, &env, &files, None);
        let mut future = std::pin::pin!(future);
        let mut context = std::task::Context::from_waker(std::task::Waker::noop());
        let std::task::Poll::Ready(result) = future.as_mut().poll(&mut context) else {
            panic!("the SDK's loader waited");
        };
        let Ok(set) = result else {
            return Loaded {
                error: Some("error".into()),
                selected: "default".into(),
                ..Loaded::default()
            };
        };
        let section = |get: &dyn Fn(&str) -> Option<String>| -> Section {
            keys.iter()
                .filter_map(|k| get(k).map(|v| (k.clone(), v)))
                .collect()
        };
        Loaded {
            profiles: set
                .profiles()
                .map(|name| {
                    let p = set.get_profile(name).expect("listed");
                    (name.to_string(), section(&|k| p.get(k).map(str::to_string)))
                })
                .collect(),
            sso_sessions: set
                .sso_sessions()
                .map(|name| {
                    let s = set.sso_session(name).expect("listed");
                    (name.to_string(), section(&|k| s.get(k).map(str::to_string)))
                })
                .collect(),
            selected: set.selected_profile().to_string(),
            error: None,
        }
    }

    /// Ours, restricted to the same keys, with errors flattened (messages differ by design).
    fn our_view(config: &str, credentials: &str, keys: &[String]) -> Loaded {
        let mut ours = parse_files(config, credentials, None);
        if ours.error.is_some() {
            return Loaded {
                error: Some("error".into()),
                selected: ours.selected,
                ..Loaded::default()
            };
        }
        for section in ours
            .profiles
            .values_mut()
            .chain(ours.sso_sessions.values_mut())
        {
            section.retain(|k, _| keys.contains(k));
        }
        ours
    }

    fn keys_in(texts: &[&str]) -> Vec<String> {
        let mut keys: Vec<String> = texts
            .iter()
            .flat_map(|t| t.lines())
            .filter_map(|l| {
                l.split_once('=')
                    .map(|(k, _)| k.trim().to_ascii_lowercase())
            })
            .filter(|k| !k.is_empty())
            .collect();
        keys.extend(["role_arn", "aws_access_key_id", "sso_start_url"].map(String::from));
        keys.sort();
        keys.dedup();
        keys
    }

    fn assert_agrees(config: &str, credentials: &str) {
        let keys = keys_in(&[config, credentials]);
        assert_eq!(
            our_view(config, credentials, &keys),
            sdk_view(config, credentials, &keys),
            "config:\n{config}\ncredentials:\n{credentials}"
        );
    }

    /// Files where a hand-written reader is easy to get wrong.
    #[test]
    fn agrees_with_the_sdk_on_tricky_files() {
        let cases: &[(&str, &str)] = &[
            (
                "[profile p]\nrole_arn = arn:first\n[profile p]\nrole_arn = arn:second\n",
                "",
            ),
            (
                "[default]\nrole_arn = arn:plain\n[profile default]\nrole_arn = arn:prefixed\n",
                "",
            ),
            (
                "[profile default]\nrole_arn = arn:prefixed\n[default]\nregion = x\n",
                "",
            ),
            ("[profile p]\nrole_arn = arn:aws:iam::1:\n  role/long\n", ""),
            (
                "[profile p]\ns3 =\n  max_concurrent_requests = 2\nrole_arn = r\n",
                "",
            ),
            ("[profile p]\ns3 =\n  not a property\n", ""),
            ("[profile p]\n  continuation first\n", ""),
            ("role_arn = before any header\n", ""),
            ("[profile p\nrole_arn = r\n", ""),
            (
                "[profile p] # comment\nrole_arn = r # comment\nexternal_id = a#b\n",
                "",
            ),
            ("[profile p];c\nRole_ARN = UPPER\n", ""),
            ("[p]\nrole_arn = needs a prefix in config\n", ""),
            (
                "[profile bad name]\nrole_arn = r\n[profile ok]\nrole_arn = o\n",
                "",
            ),
            ("[profile   spaced]\nrole_arn = r\n", ""),
            ("\t[profile tab]\nrole_arn = r\n", ""),
            ("[profile p]\nno equals\n", ""),
            ("[profile p]\n= no name\n", ""),
            ("[profile p]\nkey with space = v\nrole_arn = ok\n", ""),
            (
                "[sso-session corp]\nsso_start_url = https://s\n[profile p]\nsso_session = corp\n",
                "",
            ),
            ("# c\n; c\n[profile p]\n   \n\nrole_arn = r\r\n", ""),
            (
                "[profile p]\nrole_arn = config\n",
                "[p]\nrole_arn = creds\n",
            ),
            (
                "",
                "[profile p]\naws_access_key_id = ignored\n[q]\naws_access_key_id = k\n",
            ),
            (
                "",
                "[default]\naws_access_key_id = a\n[default]\naws_access_key_id = b\n",
            ),
            (
                "[services s]\necr =\n  endpoint_url = http://x\n[profile p]\nservices = s\n",
                "",
            ),
            ("[profile p]\nrole_arn=\n", ""),
            ("[profile p]\nrole_arn = a = b\n", ""),
            ("[]\nrole_arn = r\n", ""),
            ("[profile ü]\nrole_arn = r\n", ""),
        ];
        for (config, credentials) in cases {
            assert_agrees(config, credentials);
        }
    }

    /// Thousands of files assembled from the pieces above, in random order and combination
    /// (a fixed seed, so a failure reproduces).
    #[test]
    fn agrees_with_the_sdk_on_generated_files() {
        const HEADERS: &[&str] = &[
            "[default]",
            "[profile default]",
            "[profile a]",
            "[profile b]",
            "[a]",
            "[b]",
            "[sso-session s]",
            "[services x]",
            "[profile a] # c",
            "[profile c",
            "[profile a b]",
            "\t[profile a]",
        ];
        const LINES: &[&str] = &[
            "role_arn = arn:r1",
            "role_arn = arn:r2",
            "ROLE_ARN = arn:upper",
            "source_profile = a",
            "source_profile = b",
            "aws_access_key_id = K1",
            "aws_secret_access_key = S",
            "sso_session = s",
            "sso_start_url = https://u",
            "credential_process = /bin/p x",
            "role_arn = v # comment",
            "role_arn = v#nocomment",
            "s3 =",
            "  max = 1",
            "  continued",
            "  not a property",
            "",
            "   ",
            "# comment",
            "; comment",
            "  # c",
            "bad line",
            "= v",
            "key space = v",
            "role_arn =",
            "web_identity_token_file = /t",
        ];
        let mut rng = fastrand::Rng::with_seed(0x5eed);
        let make = |rng: &mut fastrand::Rng| {
            let mut text = String::new();
            for _ in 0..rng.usize(0..6) {
                text.push_str(HEADERS[rng.usize(..HEADERS.len())]);
                text.push('\n');
                for _ in 0..rng.usize(0..5) {
                    text.push_str(LINES[rng.usize(..LINES.len())]);
                    text.push('\n');
                }
            }
            text
        };
        for _ in 0..3000 {
            let config = make(&mut rng);
            let credentials = if rng.bool() {
                make(&mut rng)
            } else {
                String::new()
            };
            assert_agrees(&config, &credentials);
        }
    }
}
