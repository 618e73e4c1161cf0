//! The example configs the .deb ships under /usr/share/doc/ecr-login/examples/ (from
//! install/deploy/examples/, see install/package.sh) parse with the product's own parsers, so a
//! user who copies one starts from a valid file.

use std::path::{Path, PathBuf};

fn example(name: &str) -> (PathBuf, String) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("install/deploy/examples")
        .join(name);
    let text = std::fs::read_to_string(&path).expect("the example file is in the repository");
    (path, text)
}

#[test]
fn example_export_config_is_valid() {
    let (path, text) = example("export.toml");
    let cfg = ecr_login::export::config::parse(&text, &path, &[], None).expect("valid config");
    assert_eq!(cfg.targets.len(), 1);
    assert_eq!(cfg.targets[0].type_name(), "docker-config");
}

#[test]
fn example_helper_config_is_valid() {
    let (path, text) = example("config.toml");
    let cfg = ecr_login::helper_config::parse(&text, &path).expect("valid helper config");
    assert_eq!(cfg.fallback_helper.as_deref(), Some("pass"));
    assert_eq!(cfg.rules.len(), 1);
    assert_eq!(cfg.aliases.len(), 2);
}
