//! The helper config file (`~/.config/ecr-login/config.toml`) and its host globs.
//!
//! Input: config text; after a NUL, a `pattern NUL host` pair for the glob matcher alone.
//! Properties: any text gives a config or one-line error naming the file, never a panic; an
//! alias's registry is exactly what the registry parser makes of its text; alias hosts are
//! lower case; a rule's pattern matches the hosts it spells (every `*` as nothing or as `x`);
//! the hand-written glob matcher agrees with a regular expression (`*` = `[^.]*`, ASCII case
//! folded) on every pattern and host.
#![no_main]

use ecr_login::helper_config;
use ecr_login::registry;
use libfuzzer_sys::fuzz_target;
use regex::bytes::Regex;

fn oracle(pattern: &str, host: &str) -> bool {
    let labels: Vec<String> = pattern
        .split('.')
        .map(|label| {
            label
                .split('*')
                .map(regex::escape)
                .collect::<Vec<_>>()
                .join("[^.]*")
        })
        .collect();
    let re = Regex::new(&format!(r"(?-u)(?i)\A{}\z", labels.join(r"\."))).expect("oracle pattern");
    re.is_match(host.as_bytes())
}

fuzz_target!(|input: &[u8]| {
    let (text, pair) = match input.iter().position(|&b| b == 0) {
        Some(i) => (&input[..i], Some(&input[i + 1..])),
        None => (input, None),
    };
    let text = String::from_utf8_lossy(text);
    let path = std::path::Path::new("/fuzz/config.toml");
    match helper_config::parse(&text, path) {
        Ok(cfg) => {
            for alias in &cfg.aliases {
                assert_eq!(
                    registry::parse(&alias.registry_text).as_ref(),
                    Some(&alias.registry)
                );
                assert_eq!(alias.host, alias.host.to_ascii_lowercase());
            }
            for pattern in cfg.rules.iter().flat_map(|r| &r.patterns) {
                for fill in ["", "x"] {
                    let host = pattern.replace('*', fill).to_ascii_lowercase();
                    if !host.split('.').any(str::is_empty) || fill == "x" {
                        assert!(
                            helper_config::host_matches(pattern, &host),
                            "{pattern:?} does not match {host:?}"
                        );
                    }
                }
            }
        }
        Err(e) => {
            let shown = e.to_string();
            assert!(!shown.contains('\n'), "two lines: {shown:?}");
            assert!(shown.starts_with("/fuzz/config.toml: "), "{shown}");
        }
    }
    if let Some(pair) = pair {
        let pair = String::from_utf8_lossy(pair);
        let (pattern, host) = pair.split_once('\0').unwrap_or((&pair, ""));
        if pattern.len() <= 256 && host.len() <= 256 {
            assert_eq!(
                helper_config::host_matches(pattern, host),
                oracle(pattern, host),
                "pattern {pattern:?}, host {host:?}"
            );
        }
    }
});
