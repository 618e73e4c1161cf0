//! `~/.aws/config` and `~/.aws/credentials`, differentially against aws-config's own loader.
//!
//! Input: config text, NUL, credentials text, NUL, `AWS_PROFILE` (all optional). Properties:
//! our reader fails exactly when the SDK's does; otherwise both select the same profile and
//! agree on every profile and sso-session, key and value; deriving an identity key from any
//! profile terminates (source_profile loops included) and its description never holds a
//! secret access key or session token from the files.
#![no_main]

use aws_types::os_shim_internal::{Env, Fs};
use ecr_login::aws_profile::AwsFiles;
use ecr_login::identity::{self, CredentialSource};
use libfuzzer_sys::fuzz_target;
use std::collections::{BTreeSet, HashMap};

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

fuzz_target!(|input: &[u8]| {
    let text = String::from_utf8_lossy(input);
    let mut parts = text.splitn(3, '\0');
    let config = parts.next().unwrap_or("");
    let credentials = parts.next().unwrap_or("");
    let profile = parts.next().filter(|p| !p.is_empty());

    let ours = AwsFiles::from_texts(config, credentials, profile);

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
    let std::task::Poll::Ready(sdk) = future.as_mut().poll(&mut context) else {
        panic!("the SDK's loader waited on an in-memory file system");
    };

    let keys = keys_in(&[config, credentials]);
    let names = names_in(&[config, credentials]);
    match sdk {
        Err(_) => assert!(ours.error().is_some(), "the SDK refused files we accepted"),
        Ok(set) => {
            assert_eq!(ours.error(), None, "we refused files the SDK accepted");
            assert_eq!(ours.selected(), set.selected_profile());
            let listed: BTreeSet<String> = set.profiles().map(str::to_string).collect();
            for name in listed.iter().chain(names.iter()) {
                match (set.get_profile(name), ours.profile(name)) {
                    (None, None) => {}
                    (Some(p), Some(section)) => {
                        for key in &keys {
                            assert_eq!(
                                section.get(key).map(String::as_str),
                                p.get(key),
                                "profile {name:?}, key {key:?}"
                            );
                        }
                        assert!(
                            section
                                .keys()
                                .all(|k| keys.contains(k) || p.get(k).is_some())
                        );
                    }
                    (sdk, ours) => panic!(
                        "profile {name:?}: SDK has it: {}, we have it: {}",
                        sdk.is_some(),
                        ours.is_some()
                    ),
                }
            }
            let sessions: BTreeSet<String> = set.sso_sessions().map(str::to_string).collect();
            for name in sessions.iter().chain(names.iter()) {
                let theirs = set.sso_session(name);
                for key in &keys {
                    assert_eq!(
                        ours.sso_session_value(name, key),
                        theirs.and_then(|s| s.get(key)),
                        "sso-session {name:?}, key {key:?}"
                    );
                }
            }
        }
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
