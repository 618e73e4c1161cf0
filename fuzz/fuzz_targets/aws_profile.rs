//! `~/.aws/config` and `~/.aws/credentials`, differentially against aws-config's own loader.
//!
//! Input: config text, NUL, credentials text, NUL, `AWS_PROFILE` (all optional). Properties:
//! our reader fails exactly when the SDK's does; otherwise both select the same profile and
//! agree on every profile and sso-session, key and value (where the SDK agrees with itself:
//! see below); deriving an identity key from any
//! profile terminates (source_profile loops included) and its description never holds a
//! secret access key or session token from the files.
#![no_main]

use aws_types::os_shim_internal::{Env, Fs};
use ecr_login::aws_profile::AwsFiles;
use ecr_login::identity::{self, CredentialSource};
use libfuzzer_sys::fuzz_target;
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// Every key written as `key = …` (lower-cased, as both readers store them).
fn keys_in(texts: &[&str]) -> BTreeSet<String> {
    texts
        .iter()
        .flat_map(|t| t.lines())
        .filter_map(|l| {
            l.split_once('=')
                .map(|(k, _)| k.trim().to_ascii_lowercase())
        })
        .filter(|k| !k.is_empty())
        .collect()
}

/// Every name a section header could give, plus `default`.
fn names_in(texts: &[&str]) -> BTreeSet<String> {
    let mut names = BTreeSet::from(["default".to_string()]);
    for line in texts.iter().flat_map(|t| t.lines()) {
        let Some(inner) = line.trim().strip_prefix('[') else {
            continue;
        };
        let inner = inner.split(']').next().unwrap_or(inner).trim();
        for prefix in ["profile", "sso-session"] {
            if let Some(rest) = inner.strip_prefix(prefix) {
                names.insert(rest.trim().to_string());
            }
        }
        names.insert(inner.to_string());
    }
    names
}

/// Everything compared: failure, the selected profile, and per name (every profile either side
/// may have, every header-like name) its keys' values; the same for sso-sessions.
#[derive(Debug, PartialEq, Eq)]
struct View {
    failed: bool,
    selected: String,
    profiles: BTreeMap<String, Option<BTreeMap<String, Option<String>>>>,
    sessions: BTreeMap<String, BTreeMap<String, Option<String>>>,
}

fn sdk_view(
    config: &str,
    credentials: &str,
    profile: Option<&str>,
    keys: &BTreeSet<String>,
    names: &BTreeSet<String>,
) -> View {
    let fs = Fs::from_map(HashMap::from([
        ("/h/.aws/config".to_string(), config.to_string()),
        ("/h/.aws/credentials".to_string(), credentials.to_string()),
    ]));
    let mut vars = vec![("HOME", "/h")];
    if let Some(p) = profile {
        vars.push(("AWS_PROFILE", p));
    }
    let env = Env::from_slice(&vars);
    let files = aws_runtime::env_config::file::EnvConfigFiles::default();
    let future = aws_config::profile::load(&fs, &env, &files, None);
    let mut future = std::pin::pin!(future);
    let mut context = std::task::Context::from_waker(std::task::Waker::noop());
    let std::task::Poll::Ready(result) = future.as_mut().poll(&mut context) else {
        panic!("the SDK's loader waited on an in-memory file system");
    };
    let Ok(set) = result else {
        return View {
            failed: true,
            selected: String::new(),
            profiles: BTreeMap::new(),
            sessions: BTreeMap::new(),
        };
    };
    let all: BTreeSet<String> = set
        .profiles()
        .map(str::to_string)
        .chain(names.iter().cloned())
        .collect();
    let sessions: BTreeSet<String> = set
        .sso_sessions()
        .map(str::to_string)
        .chain(names.iter().cloned())
        .collect();
    View {
        failed: false,
        selected: set.selected_profile().to_string(),
        profiles: all
            .into_iter()
            .map(|name| {
                let values = set.get_profile(&name).map(|p| {
                    keys.iter()
                        .map(|k| (k.clone(), p.get(k).map(str::to_string)))
                        .collect()
                });
                (name, values)
            })
            .collect(),
        sessions: sessions
            .into_iter()
            .map(|name| {
                let s = set.sso_session(&name);
                let values = keys
                    .iter()
                    .map(|k| (k.clone(), s.and_then(|s| s.get(k)).map(str::to_string)))
                    .collect();
                (name, values)
            })
            .collect(),
    }
}

/// Ours, over the names the SDK's view has (ours has no listing; a profile only we had would
/// show up under a header-like name).
fn our_view(ours: &AwsFiles, like: &View, keys: &BTreeSet<String>) -> View {
    if ours.error().is_some() {
        return View {
            failed: true,
            selected: String::new(),
            profiles: BTreeMap::new(),
            sessions: BTreeMap::new(),
        };
    }
    View {
        failed: false,
        selected: ours.selected().to_string(),
        profiles: like
            .profiles
            .keys()
            .map(|name| {
                let values = ours.profile(name).map(|section| {
                    keys.iter()
                        .map(|k| (k.clone(), section.get(k).cloned()))
                        .collect()
                });
                (name.clone(), values)
            })
            .collect(),
        sessions: like
            .sessions
            .keys()
            .map(|name| {
                let values = keys
                    .iter()
                    .map(|k| {
                        (
                            k.clone(),
                            ours.sso_session_value(name, k).map(str::to_string),
                        )
                    })
                    .collect();
                (name.clone(), values)
            })
            .collect(),
    }
}

/// Whether two different section headers of one file name the same section once trimmed
/// (`[profile p]`, `[profile \x0bp]`): aws-config keys its raw sections by the header as
/// written and merges those that normalise alike in hash-map order. (`[default]` beside
/// `[profile default]` is decided by rule, not by order.)
fn merges_by_hash_order(text: &str) -> bool {
    let mut seen: BTreeMap<(bool, String), BTreeSet<String>> = BTreeMap::new();
    for line in text.lines() {
        let Some(inner) = line.trim().strip_prefix('[') else {
            continue;
        };
        let raw = inner.split(']').next().unwrap_or(inner);
        let trimmed = raw.trim();
        let (prefixed, name) = match trimmed.strip_prefix("profile") {
            Some(rest) => (true, rest.trim()),
            None => (false, trimmed),
        };
        seen.entry((prefixed, name.to_string()))
            .or_default()
            .insert(raw.to_string());
    }
    seen.values().any(|raws| raws.len() > 1)
}

fuzz_target!(|input: &[u8]| {
    let text = String::from_utf8_lossy(input);
    let mut parts = text.splitn(3, '\0');
    let config = parts.next().unwrap_or("");
    let credentials = parts.next().unwrap_or("");
    let profile = parts.next().filter(|p| !p.is_empty());
    let keys = keys_in(&[config, credentials]);
    let names = names_in(&[config, credentials]);

    let ours = AwsFiles::from_texts(config, credentials, profile);
    // aws-config merges sections that normalise to one name (`[profile p]`, `[profile \x0bp]`)
    // in hash-map order, so for such files its answer changes from call to call. There is no
    // one answer to agree with then; everything else must agree exactly.
    let sdk = sdk_view(config, credentials, profile, &keys, &names);
    let stable = !merges_by_hash_order(config)
        && !merges_by_hash_order(credentials)
        && (0..2).all(|_| sdk_view(config, credentials, profile, &keys, &names) == sdk);
    if stable {
        assert_eq!(our_view(&ours, &sdk, &keys), sdk);
    }

    // Identity keys for every profile: terminate, and say nothing secret.
    let secret_values: Vec<&str> = [config, credentials]
        .iter()
        .flat_map(|t| t.lines())
        .filter_map(|l| l.split_once('='))
        .filter(|(k, _)| {
            let k = k.trim().to_ascii_lowercase();
            k == "aws_secret_access_key" || k == "aws_session_token"
        })
        .map(|(_, v)| v.trim())
        .filter(|v| v.len() >= 12 && text.matches(*v).count() == 1)
        // A value that a description legitimately spells (`profile NAME (static keys)`) is
        // not a leak.
        .filter(|v| {
            !names
                .iter()
                .any(|n| format!("profile {n} (static keys)").contains(*v))
        })
        .collect();
    for name in names.iter().take(16) {
        let source = CredentialSource {
            profile: Some(name.clone()),
            ..CredentialSource::default()
        };
        let id = identity::current(&ours, &source);
        assert!(!id.key.is_empty());
        for secret in &secret_values {
            assert!(
                !id.description.contains(secret),
                "identity description holds a secret"
            );
        }
    }
});
