//! `configure-docker`'s edit of an existing Docker (or podman) config file.
//!
//! Input: a first line of hosts separated by spaces (a leading `--creds-store` sets that mode),
//! then the file's text. Properties: a refusal is one line naming the file; an accepted file
//! comes out as a JSON object in which every key we do not own (all but `credHelpers`,
//! `credsStore`, `auths`) and every `auths` entry of another host is unchanged, to the byte of
//! its JSON text, in its order; each host is answered by the helper (`credHelpers[host]` or
//! `credsStore`) and has no shadowing `auths` entry; and the edit is idempotent: the result,
//! edited again, reports no change and renders the same text.
#![no_main]

use ecr_login::commands::docker_edit::{Document, HELPER};
use ecr_login::json_doc::{self, Entries};
use libfuzzer_sys::fuzz_target;
use std::path::Path;

/// Docker's key normalisation, as `configure-docker` applies it to `auths` keys.
fn hostname(key: &str) -> &str {
    let key = key
        .strip_prefix("https://")
        .or_else(|| key.strip_prefix("http://"))
        .unwrap_or(key);
    key.split('/').next().unwrap_or(key)
}

fn entries(text: &str) -> Entries {
    if text.trim().is_empty() {
        return Entries::default();
    }
    serde_json::from_str(text).expect("a document we accepted or wrote is a JSON object")
}

fn object(doc: &Entries, key: &str) -> Entries {
    doc.get(key)
        .map(|v| json_doc::entries_of(v).expect("an object"))
        .unwrap_or_default()
}

fn string(doc: &Entries, key: &str) -> Option<String> {
    doc.get(key).and_then(|v| json_doc::string_of(v))
}

fuzz_target!(|input: &[u8]| {
    let Ok(input) = std::str::from_utf8(input) else {
        return; // configure-docker refuses non-UTF-8 files before parsing
    };
    let (first, text) = input.split_once('\n').unwrap_or((input, ""));
    let mut words: Vec<&str> = first.split(' ').filter(|w| !w.is_empty()).collect();
    let creds_store = words.first() == Some(&"--creds-store");
    if creds_store {
        words.remove(0);
    }
    let hosts: Vec<String> = words.iter().take(4).map(|w| w.to_string()).collect();
    let path = Path::new("/fuzz/.docker/config.json");

    let mut doc = match Document::parse(text, path) {
        Ok(doc) => doc,
        Err(e) => {
            assert!(!e.contains('\n'), "one line: {e:?}");
            assert!(
                e.starts_with("/fuzz/.docker/config.json"),
                "names the file: {e}"
            );
            return;
        }
    };
    let edit = doc.configure(&hosts, creds_store);
    let out = doc.render();

    let before = entries(text);
    let after = entries(&out);
    let owned = ["credHelpers", "credsStore", "auths"];
    let kept: Vec<&str> = before.keys().filter(|k| !owned.contains(k)).collect();
    let kept_after: Vec<&str> = after.keys().filter(|k| !owned.contains(k)).collect();
    assert_eq!(kept, kept_after, "other keys, in order");
    for key in kept {
        assert_eq!(
            before.get(key).map(|v| v.get()),
            after.get(key).map(|v| v.get()),
            "{key:?} changed"
        );
    }
    let configured = |key: &str| hosts.iter().any(|h| h == hostname(key));
    let (auths_before, auths_after) = (object(&before, "auths"), object(&after, "auths"));
    let others: Vec<&str> = auths_before.keys().filter(|k| !configured(k)).collect();
    assert_eq!(
        others,
        auths_after.keys().collect::<Vec<_>>(),
        "auths entries"
    );
    for key in others {
        assert_eq!(
            auths_before.get(key).map(|v| v.get()),
            auths_after.get(key).map(|v| v.get()),
            "auths[{key:?}] changed"
        );
    }
    if creds_store {
        assert_eq!(string(&after, "credsStore").as_deref(), Some(HELPER));
    } else {
        let helpers = object(&after, "credHelpers");
        for host in &hosts {
            assert_eq!(
                helpers
                    .get(host)
                    .and_then(|v| json_doc::string_of(v))
                    .as_deref(),
                Some(HELPER),
                "credHelpers[{host:?}]"
            );
        }
        assert_eq!(
            string(&before, "credsStore"),
            string(&after, "credsStore"),
            "credsStore left alone"
        );
    }
    for change in &edit.changes {
        assert!(!change.to_string().contains('\n'), "{change}");
    }

    let mut again = Document::parse(&out, path).expect("what we write parses");
    let second = again.configure(&hosts, creds_store);
    assert!(
        second.changes.is_empty(),
        "not idempotent: {:?}",
        second.changes
    );
    assert_eq!(again.render(), out, "a second edit renders the same text");
});
