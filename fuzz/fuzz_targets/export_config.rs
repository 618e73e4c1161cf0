//! `export.toml`: validation, secret references, every error message.
//!
//! Properties: any text gives a config or an error, never a panic; the error is one line of
//! the form `file: [key: ]reason`; no error and no `Debug` of a target ever holds a secret,
//! whether it was resolved from `{ env = … }`, `{ file = … }`, or written inline (a refused
//! `api_key = "…"` / `notify_url = "…"` is named, never repeated). In the input,
//! `api_key = "@KEY@"` stands for an inline secret.
#![no_main]

use ecr_login::export::config;
use fuzz_support::API_KEY;
use libfuzzer_sys::fuzz_target;
use std::sync::Once;

fuzz_target!(|input: &[u8]| {
    static INIT: Once = Once::new();
    let home = fuzz_support::scratch_dir("export-config");
    INIT.call_once(|| {
        fuzz_support::set_env("FUZZ_API_KEY", API_KEY);
        let key = home.join("key");
        std::fs::write(&key, format!("{API_KEY}\n")).expect("key file");
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    });
    let text = String::from_utf8_lossy(input);
    if text.contains(API_KEY) {
        return; // the key spelled out as a name is the input's business, not a leak
    }
    let text = text
        .replace("api_key = \"@KEY@\"", &format!("api_key = \"{API_KEY}\""))
        .replace(
            "notify_url = \"@KEY@\"",
            &format!("notify_url = \"{API_KEY}\""),
        );
    let path = home.join("export.toml");
    let selected: Vec<String> = text
        .lines()
        .find_map(|l| l.strip_prefix("# select "))
        .map(|names| names.split(',').map(str::to_string).collect())
        .unwrap_or_default();
    match config::parse(&text, &path, &selected, Some(&home)) {
        Ok(cfg) => {
            assert!(!cfg.sources.is_empty() && !cfg.targets.is_empty());
            for t in &cfg.targets {
                assert!(
                    cfg.sources.iter().any(|s| s.name == t.source),
                    "dangling source"
                );
                fuzz_support::assert_no_secret("target Debug", &format!("{t:?}"));
            }
            assert!(cfg.defaults.concurrency >= 1 && !cfg.defaults.timeout.is_zero());
        }
        Err(e) => {
            let shown = e.to_string();
            assert!(!shown.contains('\n'), "two lines: {shown:?}");
            assert!(
                shown.starts_with(&format!("{}: ", path.display())),
                "{shown}"
            );
            fuzz_support::assert_no_secret("config error", &shown);
        }
    }
});
