//! The `export` docker-config merge over any existing `config.json`.
//!
//! Properties: a blank file or a JSON object whose `auths` is an object (or absent) is merged:
//! the result parses, holds our `auths` entry, and every other key and every other `auths`
//! entry is unchanged (write, then read: the same data); anything else is reported and the file
//! is left byte-for-byte as it was; no message, plan or warning holds the token; a new file is
//! mode 0600; no temp file is left behind.
#![no_main]

use ecr_login::export::config::DockerConfigConfig;
use ecr_login::export::docker_config::DockerConfig;
use ecr_login::export::target::{self, Cred};
use libfuzzer_sys::fuzz_target;
use secrecy::SecretString;
use serde_json::Value;
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
    let outcome = runtime().block_on(target::run(&t, &cred(), false));
    for text in [&outcome.detail, &outcome.error.clone().unwrap_or_default()]
        .into_iter()
        .chain(&outcome.warnings)
    {
        fuzz_support::assert_no_secret("docker-config message", text);
    }

    let before: Option<Value> = std::str::from_utf8(input).ok().and_then(|text| {
        if text.trim().is_empty() {
            Some(Value::Object(Default::default()))
        } else {
            serde_json::from_str(text).ok()
        }
    });
    let mergeable = before.as_ref().is_some_and(|v| {
        v.as_object()
            .is_some_and(|m| m.get("auths").is_none_or(Value::is_object))
    });
    let after = std::fs::read(&path).unwrap_or_default();
    if mergeable {
        assert_eq!(outcome.error, None, "a mergeable file was refused");
        let before = before.expect("mergeable").as_object().cloned().unwrap_or_default();
        let written: Value = serde_json::from_slice(&after).expect("written file parses");
        let written = written.as_object().expect("an object");
        assert_eq!(
            written["auths"][HOST],
            serde_json::json!({ "auth": fuzz_support::auth() }),
            "our entry"
        );
        for (key, value) in &before {
            if key == "auths" {
                for (host, entry) in value.as_object().into_iter().flatten() {
                    if host != HOST {
                        assert_eq!(&written["auths"][host], entry, "auths[{host:?}] changed");
                    }
                }
            } else {
                assert_eq!(written.get(key), Some(value), "{key:?} changed");
            }
        }
        assert_eq!(written.len(), before.len() + usize::from(!before.contains_key("auths")));
        let mode = std::fs::metadata(&path).expect("stat").permissions().mode() & 0o777;
        assert_eq!(mode, if input.is_empty() { 0o600 } else { 0o640 }, "mode");
    } else {
        assert!(outcome.error.is_some(), "an unmergeable file was accepted");
        assert_eq!(after, input, "an unmergeable file was changed");
    }
    for name in std::fs::read_dir(&dir).expect("list").flatten() {
        let name = name.file_name().to_string_lossy().into_owned();
        assert!(matches!(name.as_str(), "config.json" | "config.json.lock"), "left behind: {name}");
    }
});
