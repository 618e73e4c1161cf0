//! `cache.json` as found on disk (another tool's, a torn write, a hand edit, garbage).
//!
//! Properties: reading never panics; the cached `get`'s lookup (which only skims the file)
//! agrees with the full parse; freshness is total over any dates; a write keeps every entry it
//! does not own (byte-for-byte as JSON values, except entries long expired), reads back as the
//! entry written, leaves a file of another version or a torn write untouched, moves only
//! non-JSON aside (intact, as `cache.json.corrupt`) and leaves no temp file behind.
#![no_main]

use ecr_login::cache::{Cache, Entry, Freshness};
use libfuzzer_sys::fuzz_target;
use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeMap;
use std::time::Duration;
use time::OffsetDateTime;

const KEY: &str = "us-east-1-ZnV6eg==-123456789012";

/// The file's shape as the format defines it (mirrors the product's reading of it).
#[derive(Deserialize)]
struct Shape {
    #[serde(rename = "Registries", default)]
    registries: BTreeMap<String, Value>,
    #[serde(rename = "Version")]
    version: String,
}

fn entry(now: OffsetDateTime) -> Entry {
    Entry {
        authorization_token: fuzz_support::auth(),
        requested_at: now,
        expires_at: now + time::Duration::hours(12),
        proxy_endpoint: "https://123456789012.dkr.ecr.us-east-1.amazonaws.com".into(),
        service: "ecr".into(),
    }
}

fn check_freshness(e: &Entry, now: OffsetDateTime) {
    for at in [
        now,
        e.requested_at,
        e.expires_at,
        OffsetDateTime::UNIX_EPOCH,
    ] {
        let f = e.freshness(at, Duration::from_secs(6 * 3600));
        assert_eq!(f == Freshness::Expired, at >= e.expires_at);
        let _ = e.lasts(at, Duration::ZERO);
    }
}

fuzz_target!(|input: &[u8]| {
    let dir = fuzz_support::scratch_dir("cache");
    fuzz_support::empty_dir(&dir);
    let file = dir.join("cache.json");
    std::fs::write(&file, input).expect("write cache.json");
    let cache = Cache::new(dir.clone());
    let now = OffsetDateTime::now_utc();

    let shape: Option<Shape> = serde_json::from_slice(input).ok();
    let json_ok = serde_json::from_slice::<Value>(input).is_ok();
    let torn = matches!(serde_json::from_slice::<Value>(input), Err(e) if e.is_eof());

    // Reads: the skimming lookup agrees with the full parse.
    let all = cache.entries(|_| true);
    for (key, e) in &all {
        check_freshness(e, now);
        if let Some(looked_up) = cache.get(key) {
            assert_eq!(&looked_up, e, "get and entries disagree on {key:?}");
        }
    }
    if let Some(shape) = &shape {
        for key in shape.registries.keys().take(8) {
            if let Some(e) = cache.get(key) {
                assert!(
                    shape.version == "1.0",
                    "an entry served from version {:?}",
                    shape.version
                );
                assert!(
                    all.iter().any(|(k, v)| k == key && v == &e),
                    "get found what entries did not"
                );
            }
        }
    }

    // A write.
    let ours = entry(now);
    let result = cache.put(KEY, &ours, Duration::from_secs(5));
    let after = std::fs::read(&file).unwrap_or_default();
    match &shape {
        Some(shape) if shape.version == "1.0" => {
            result.expect("a version 1.0 file is always writable");
            assert_eq!(cache.get(KEY).as_ref(), Some(&ours), "round trip");
            let written: Shape = serde_json::from_slice(&after).expect("written file parses");
            assert_eq!(written.version, "1.0");
            for (key, value) in &shape.registries {
                if key == KEY {
                    continue;
                }
                let long_expired = Entry::deserialize(value)
                    .is_ok_and(|e| now - e.expires_at >= time::Duration::days(1));
                match written.registries.get(key) {
                    Some(kept) => assert_eq!(kept, value, "entry {key:?} changed"),
                    None => assert!(long_expired, "entry {key:?} lost"),
                }
            }
        }
        // Another version (unknown fields are skipped unread, so that includes files that are
        // not strictly JSON there), other valid JSON, or a torn write: someone else's.
        _ if shape.is_some() || json_ok || torn => {
            assert!(result.is_err(), "someone else's file was overwritten");
            assert_eq!(after, input, "someone else's file changed");
        }
        _ => {
            result.expect("a non-JSON file is replaced");
            let aside = std::fs::read(dir.join("cache.json.corrupt")).expect("moved aside");
            assert_eq!(aside, input, "the corrupt file was not kept intact");
            assert_eq!(cache.get(KEY).as_ref(), Some(&ours));
        }
    }
    // No temp file survives a write.
    for name in std::fs::read_dir(&dir).expect("list").flatten() {
        let name = name.file_name().to_string_lossy().into_owned();
        assert!(
            matches!(
                name.as_str(),
                "cache.json" | "cache.json.lock" | "cache.json.corrupt"
            ),
            "left behind: {name}"
        );
    }
});
