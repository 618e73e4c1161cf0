//! Config and usage errors: exit 2 with the file, key and reason, before any network call.

mod export_common;

use export_common::*;

const SOURCE: &str = "[[source]]\nregion = \"us-east-1\"\n";

#[test]
fn bad_configs_exit_2_before_any_network_call() {
    let world = World::new();
    let cases: &[(&str, &str, &str)] = &[
        (
            "[[target]]\nname=\"a\"\ntype=\"ftp\"\n",
            "target[0].type",
            "unknown target type",
        ),
        (
            "[[target]]\nname=\"a\"\ntype=\"pipecat\"\napi_key={env=\"K\"}\n",
            "target[0].secret_set",
            "missing required key",
        ),
        (
            "[[target]]\nname=\"a\"\ntype=\"runpod\"\nregistry_auth=\"x\"\napi_key=\"rpa_inline\"\n",
            "target[0].api_key",
            "inline secrets are not allowed",
        ),
        (
            "[[target]]\nname=\"a\"\ntype=\"docker-config\"\npath=\"/x\"\nsource=\"nope\"\n",
            "target[0].source",
            "unknown source",
        ),
        (
            "[[target]]\nname=\"a\"\ntype=\"docker-config\"\npath=\"/x\"\n[[target]]\nname=\"a\"\ntype=\"docker-config\"\npath=\"/y\"\n",
            "target[1].name",
            "duplicate target name",
        ),
        (
            "[[target]]\nname=\"a\"\ntype=\"octopus\"\nserver=\"https://o\"\nspace=\"s\"\nfeed=\"f\"\napi_key={file=\"/nonexistent/key\"}\n",
            "target[0].api_key",
            "cannot read key file",
        ),
        (
            "[[target]]\nname=\"a\"\ntype=\"runpod\"\nregistry_auth=\"x\"\napi_key={env=\"ECR_TEST_UNSET\"}\n",
            "target[0].api_key",
            "ECR_TEST_UNSET is not set",
        ),
        (
            "[[target]]\nname=\"a\"\ntype=\"kubernetes\"\nsecret_name=\"x\"\n",
            "target[0].namespaces",
            "missing required key",
        ),
        (
            "[defaults]\ntimeout=\"soon\"\n[[target]]\nname=\"a\"\ntype=\"docker-config\"\npath=\"/x\"\n",
            "defaults.timeout",
            "invalid duration",
        ),
        (
            "[[target]]\nname=\"a\"\ntype=\"pipecat\"\nsecret_set=\"Bad_Name\"\napi_key={env=\"K\"}\n",
            "target[0].secret_set",
            "not a valid",
        ),
        (
            "[[target]]\nname=\"a\"\ntype=\"docker-config\"\npath=\"/x\"\nbogus=1\n",
            "target[0].bogus",
            "unknown key",
        ),
        ("this is = = not toml", "-", "invalid TOML"),
    ];
    for (body, key, reason) in cases {
        let text = if body.starts_with("[defaults]") {
            format!("{body}{SOURCE}")
        } else {
            format!("{SOURCE}{body}")
        };
        let cfg = world.config(&text);
        let out = world.run(&["--config", &cfg.display().to_string()], &[("K", "k")]);
        assert_eq!(out.code, 2, "{body}: {}", out.all());
        let file = cfg.display().to_string();
        assert!(
            out.stderr.contains(&format!("{file}: {key}: ")),
            "{body}: {}",
            out.stderr
        );
        assert!(out.stderr.contains(reason), "{body}: {}", out.stderr);
        assert!(
            !out.all().contains("rpa_inline"),
            "the inline secret is not echoed"
        );
    }
    // Missing file, unknown --target, bad flag, bad jitter.
    let missing = world.run(&["--config", "/nonexistent/export.toml"], &[]);
    assert_eq!(missing.code, 2);
    assert!(
        missing.stderr.contains("/nonexistent/export.toml"),
        "{}",
        missing.stderr
    );
    let cfg = world.config(&format!(
        "{SOURCE}[[target]]\nname=\"a\"\ntype=\"docker-config\"\npath=\"/x\"\n"
    ));
    let cfg = cfg.display().to_string();
    let unknown = world.run(&["--config", &cfg, "--target", "zz"], &[]);
    assert_eq!(unknown.code, 2);
    assert!(
        unknown.stderr.contains("--target") && unknown.stderr.contains("zz"),
        "{}",
        unknown.stderr
    );
    assert_eq!(world.run(&["--config", &cfg, "--frobnicate"], &[]).code, 2);
    assert_eq!(
        world
            .run(&["--config", &cfg, "--jitter", "later"], &[])
            .code,
        2
    );
    assert_eq!(
        world.run(&["--config", &cfg, "--output", "xml"], &[]).code,
        2
    );
    assert_eq!(
        ecr_calls(&world.moto),
        0,
        "no network call for any config error"
    );
}

#[test]
fn readable_config_and_key_files_warn() {
    let world = World::new();
    let key = world.path("key");
    std::fs::write(&key, "secret-key-value\n").expect("key");
    let docker = world.path("config.json");
    let cfg = world.path("export.toml");
    std::fs::write(
        &cfg,
        format!(
            "{SOURCE}[[target]]\nname=\"a\"\ntype=\"docker-config\"\npath=\"{}\"\n[[target]]\nname=\"r\"\ntype=\"runpod\"\nregistry_auth=\"x\"\napi_key={{file=\"{}\"}}\nbase_url=\"http://127.0.0.1:9\"\n",
            docker.display(),
            key.display()
        ),
    )
    .expect("config");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&cfg, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o640)).expect("chmod");
    }
    let lock = world.path("lock").display().to_string();
    let out = world.run(
        &[
            "--config",
            &cfg.display().to_string(),
            "--target",
            "a",
            "--target",
            "r",
            "--lock",
            &lock,
        ],
        &[],
    );
    assert!(
        out.stderr.contains("config file") && out.stderr.contains("readable by group or others"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("key file"), "{}", out.stderr);
    assert!(!out.all().contains("secret-key-value"));
    // The docker-config target succeeded, the runpod one could not connect: exit 1.
    assert_eq!(out.code, 1, "{}", out.all());
    assert!(docker.exists());
}

#[test]
fn xdg_default_config_path() {
    let world = World::new();
    let dir = world.path("xdg/ecr-login");
    std::fs::create_dir_all(&dir).expect("dir");
    let docker = world.path("out.json");
    write_private(
        &dir.join("export.toml"),
        &format!(
            "{SOURCE}[[target]]\nname=\"a\"\ntype=\"docker-config\"\npath=\"{}\"\n",
            docker.display()
        ),
    );
    let xdg = world.path("xdg").display().to_string();
    let out = world.run(&[], &[("XDG_CONFIG_HOME", &xdg)]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert!(docker.exists());
}

#[test]
fn shipped_configmap_config_is_valid() {
    let yaml = std::fs::read_to_string(repo().join("install/deploy/kubernetes/configmap.yaml"))
        .expect("configmap");
    let (_, block) = yaml
        .split_once("export.toml: |\n")
        .expect("export.toml block");
    let toml: String = block
        .lines()
        .map(|l| l.strip_prefix("    ").unwrap_or(l))
        .collect::<Vec<_>>()
        .join("\n");
    let cfg = ecr_login::export::config::parse(&toml, std::path::Path::new("configmap"), &[], None)
        .expect("valid config");
    assert_eq!(cfg.targets[0].type_name(), "kubernetes");
}
