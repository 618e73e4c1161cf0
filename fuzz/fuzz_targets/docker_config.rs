//! The `export` docker-config merge over any existing `config.json`.
//!
//! Properties: a blank file or a JSON object whose `auths` is an object (or absent) is merged:
//! the result parses, holds our `auths` entry, and every other key and every other `auths`
//! entry is unchanged, to the byte of its JSON text (write, then read: the same data); anything else is reported and the file
//! is left byte-for-byte as it was; no message, plan or warning holds the token; a new file is
//! mode 0600; no temp file is left behind.
#![no_main]

use ecr_login::export::config::DockerConfigConfig;
use ecr_login::export::docker_config::DockerConfig;
use ecr_login::export::redact::Redactor;
use ecr_login::export::target::{self, Cred};
use libfuzzer_sys::fuzz_target;
use secrecy::SecretString;
use serde_json::Value;
use serde_json::value::RawValue;
use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt as _;
use std::sync::{Arc, OnceLock};

const HOST: &str = "123456789012.dkr.ecr.us-east-1.amazonaws.com";

fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime")
    })
}

fn cred() -> Arc<Cred> {
    Arc::new(Cred {
        username: "AWS".into(),
        password: SecretString::from(fuzz_support::PASSWORD),
        auth: SecretString::from(fuzz_support::auth()),
        host: HOST.into(),
        expires_at: time::OffsetDateTime::now_utc() + time::Duration::hours(12),
        origin: ecr_login::token::Origin::Api,
    })
}

fuzz_target!(|input: &[u8]| {
    let dir = fuzz_support::scratch_dir("docker-config");
    fuzz_support::empty_dir(&dir);
    let path = dir.join("config.json");
    // An empty input stands for "no file yet".
    if !input.is_empty() {
        std::fs::write(&path, input).expect("write config.json");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).expect("chmod");
    }
    let t = DockerConfig {
        cfg: DockerConfigConfig { path: path.clone() },
    };
    let outcome = runtime().block_on(target::run(&t, &cred(), false, &Redactor::default()));
    for text in [&outcome.detail, &outcome.error.clone().unwrap_or_default()]
        .into_iter()
        .chain(&outcome.warnings)
    {
        fuzz_support::assert_no_secret("docker-config message", text);
    }

    // The document as written: top-level values and `auths` entries as their JSON text.
    type Doc = BTreeMap<String, Box<RawValue>>;
    let doc = |bytes: &[u8]| -> Option<Doc> {
        let text = std::str::from_utf8(bytes).ok()?;
        if text.trim().is_empty() {
            return Some(Doc::new());
        }
        serde_json::from_str(text).ok()
    };
    let auths = |d: &Doc| -> Option<Doc> {
        d.get("auths")
            .map_or(Some(Doc::new()), |a| serde_json::from_str(a.get()).ok())
    };
    let before = doc(input).filter(|d| auths(d).is_some());
    let after = std::fs::read(&path).unwrap_or_default();
    match before {
        Some(before) => {
            assert_eq!(outcome.error, None, "a mergeable file was refused");
            let written = doc(&after).expect("written file parses");
            let (auths_before, auths_after) = (
                auths(&before).unwrap_or_default(),
                auths(&written).expect("auths"),
            );
            let ours: Value = serde_json::from_str(auths_after[HOST].get()).expect("our entry");
            assert_eq!(
                ours,
                serde_json::json!({ "auth": fuzz_support::auth() }),
                "our entry"
            );
            for (host, entry) in &auths_before {
                if host != HOST {
                    assert_eq!(
                        auths_after.get(host).map(|r| r.get()),
                        Some(entry.get()),
                        "auths[{host:?}] changed"
                    );
                }
            }
            assert_eq!(
                auths_after.len(),
                auths_before.len() + usize::from(!auths_before.contains_key(HOST))
            );
            for (key, value) in before.iter().filter(|(k, _)| *k != "auths") {
                assert_eq!(
                    written.get(key).map(|r| r.get()),
                    Some(value.get()),
                    "{key:?} changed"
                );
            }
            assert_eq!(
                written.len(),
                before.len() + usize::from(!before.contains_key("auths"))
            );
            let mode = std::fs::metadata(&path).expect("stat").permissions().mode() & 0o777;
            assert_eq!(mode, if input.is_empty() { 0o600 } else { 0o640 }, "mode");
        }
        None => {
            assert!(outcome.error.is_some(), "an unmergeable file was accepted");
            assert_eq!(after, input, "an unmergeable file was changed");
        }
    }
    for name in std::fs::read_dir(&dir).expect("list").flatten() {
        let name = name.file_name().to_string_lossy().into_owned();
        assert!(
            matches!(name.as_str(), "config.json" | "config.json.lock"),
            "left behind: {name}"
        );
    }
});
