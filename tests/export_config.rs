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
            "target \"a\".type",
            "unknown target type",
        ),
        (
            "[[target]]\nname=\"a\"\ntype=\"pipecat\"\napi_key={env=\"K\"}\n",
            "target \"a\".secret_set",
            "missing required key",
        ),
        (
            "[[target]]\nname=\"a\"\ntype=\"runpod\"\nregistry_auth=\"x\"\napi_key=\"rpa_inline\"\n",
            "target \"a\".api_key",
            "inline secrets are not allowed",
        ),
        (
            "[[target]]\nname=\"a\"\ntype=\"docker-config\"\npath=\"/x\"\nsource=\"nope\"\n",
            "target \"a\".source",
            "unknown source",
        ),
        (
            "[[target]]\nname=\"a\"\ntype=\"docker-config\"\npath=\"/x\"\n[[target]]\nname=\"a\"\ntype=\"docker-config\"\npath=\"/y\"\n",
            "target[1].name",
            "duplicate target name",
        ),
        (
            "[[target]]\nname=\"a\"\ntype=\"octopus\"\nserver=\"https://o\"\nspace=\"s\"\nfeed=\"f\"\napi_key={file=\"/nonexistent/key\"}\n",
            "target \"a\".api_key",
            "cannot read key file",
        ),
        (
            "[[target]]\nname=\"a\"\ntype=\"runpod\"\nregistry_auth=\"x\"\napi_key={env=\"ECR_TEST_UNSET\"}\n",
            "target \"a\".api_key",
            "ECR_TEST_UNSET is not set",
        ),
        (
            "[[target]]\nname=\"a\"\ntype=\"kubernetes\"\nsecret_name=\"x\"\n",
            "target \"a\".namespaces",
            "missing required key",
        ),
        (
            "[defaults]\ntimeout=\"soon\"\n[[target]]\nname=\"a\"\ntype=\"docker-config\"\npath=\"/x\"\n",
            "defaults.timeout",
            "invalid duration",
        ),
        (
            "[[target]]\nname=\"a\"\ntype=\"pipecat\"\nsecret_set=\"Bad_Name\"\napi_key={env=\"K\"}\n",
            "target \"a\".secret_set",
            "not a valid",
        ),
        (
            "[[target]]\nname=\"a\"\ntype=\"docker-config\"\npath=\"/x\"\nbogus=1\n",
            "target \"a\".bogus",
            "unknown key",
        ),
        ("this is = = not toml", "", "invalid TOML"),
        (
            "[[target]]\nname=\"a\"\ntype=\"docker-config\"\npaht=\"/x\"\n",
            "target \"a\".paht",
            "unknown key (did you mean `path`? `path` is not set)",
        ),
        (
            "[[target]]\nname=\"a\"\ntype=\"octopus\"\nserver=\"http://octopus.example\"\nspace=\"s\"\nfeed=\"f\"\napi_key={env=\"K\"}\n",
            "target \"a\".server",
            "plain http:// would send the API key unencrypted",
        ),
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
        let place = match *key {
            "" => format!("{file}: "),
            key => format!("{file}: {key}: "),
        };
        assert!(out.stderr.contains(&place), "{body}: {}", out.stderr);
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
        missing
            .stderr
            .contains("/nonexistent/export.toml: cannot read the config file"),
        "{}",
        missing.stderr
    );
    assert!(
        missing.stderr.contains("README") && missing.stderr.contains("--print"),
        "points to an example and to --print: {}",
        missing.stderr
    );
    // --output json: a JSON error object on stdout too.
    let as_json = world.run(
        &["--config", "/nonexistent/export.toml", "--output", "json"],
        &[],
    );
    assert_eq!(as_json.code, 2);
    let doc: serde_json::Value = serde_json::from_str(&as_json.stdout).expect("json error");
    assert_eq!(doc["ok"], false);
    assert!(
        doc["error"]
            .as_str()
            .is_some_and(|e| e.contains("cannot read the config file")),
        "{doc}"
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
fn cli_usage_names_the_command_and_refuses_contradictions() {
    let world = World::new();
    let help = world.run(&["--help"], &[]);
    assert_eq!(help.code, 0);
    assert!(
        help.stdout
            .contains("Usage: docker-credential-ecr-login export [OPTIONS]"),
        "{}",
        help.stdout
    );
    let version = world.run(&["--version"], &[]);
    assert_eq!(version.code, 0);
    let banner = world.command(&["--version"]).output().expect("run");
    assert_eq!(
        version.stdout,
        String::from_utf8_lossy(&banner.stdout),
        "one version banner"
    );
    for args in [
        &["--registry", "123456789012.dkr.ecr.us-east-1.amazonaws.com"][..],
        &["--secret-name", "pull"][..],
        &[
            "--print",
            "env",
            "--registry",
            "123456789012.dkr.ecr.us-east-1.amazonaws.com",
            "--region",
            "eu-west-1",
        ][..],
    ] {
        let out = world.run(args, &[]);
        assert_eq!(out.code, 2, "{args:?}: {}", out.all());
    }
    assert_eq!(ecr_calls(&world.moto), 0);
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
    // The config holds only references: readable is fine (the CronJob mounts it 0440).
    assert!(!out.stderr.contains("config file"), "{}", out.stderr);
    assert!(
        out.stderr.contains("key file") && out.stderr.contains("readable by group or others"),
        "{}",
        out.stderr
    );
    assert!(!out.all().contains("secret-key-value"));
    // The docker-config target succeeded, the runpod one could not connect: exit 1.
    assert_eq!(out.code, 1, "{}", out.all());
    assert!(docker.exists());
    // Writable by others is warned about: they could redirect the credentials.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&cfg, std::fs::Permissions::from_mode(0o666)).expect("chmod");
        let out = world.run(
            &[
                "--config",
                &cfg.display().to_string(),
                "--target",
                "a",
                "--lock",
                &lock,
            ],
            &[],
        );
        assert!(
            out.stderr.contains("config file")
                && out.stderr.contains("writable by group or others"),
            "{}",
            out.stderr
        );
    }
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
