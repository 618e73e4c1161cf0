//! `configure-docker`, `policy`, `--help`, shell completions and man pages, through the real
//! binary. No network: these commands only read and write local files.

mod support;

use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use support::{BIN, HOST, World, stderr, stdout};

const NAME: &str = "docker-credential-ecr-login";

/// A Docker-written config (tabs, no final newline) with keys the helper does not know, a
/// `credsStore`, and an `auths` entry that shadows HOST.
fn docker_config() -> String {
    format!(
        "{{\n\t\"auths\": {{\n\t\t\"https://{HOST}\": {{\n\t\t\t\"auth\": \"QVdTOm9sZA==\"\n\t\t}},\n\t\t\"ghcr.io\": {{\n\t\t\t\"auth\": \"Z2g6eA==\"\n\t\t}}\n\t}},\n\t\"psFormat\": \"table {{{{.ID}}}}\",\n\t\"credsStore\": \"desktop\",\n\t\"plugins\": {{\n\t\t\"debug\": {{\n\t\t\t\"hooks\": \"exec\"\n\t\t}}\n\t}}\n}}"
    )
}

fn docker_config_path(world: &World) -> PathBuf {
    world.home().join(".docker/config.json")
}

fn json(path: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).expect("read")).expect("json")
}

fn listing(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .expect("ls")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// Gives `path` to another user when we may (root); `false` when we may not.
fn chown_to_other(path: &Path) -> bool {
    std::os::unix::fs::chown(path, Some(12345), Some(12345)).is_ok()
}

#[test]
fn configure_docker_keeps_unknown_keys_removes_shadowing_auths_and_is_idempotent() {
    let world = World::bare();
    world.write_home_file(".docker/config.json", &docker_config());
    let path = docker_config_path(&world);
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).expect("chmod");
    let other_owner = chown_to_other(&path);
    // What a configure-docker killed between writing and renaming left behind.
    let orphan = path.with_file_name(".config.json.k1LLed.tmp");
    std::fs::write(&orphan, "{").expect("orphaned temp file");

    let first = world.run(&["configure-docker", "--registry", HOST], &[]);
    assert_eq!(first.status.code(), Some(0), "{}", stderr(&first));
    let report = stdout(&first);
    assert!(
        report.contains(&format!("credHelpers[\"{HOST}\"] = \"ecr-login\" (new)")),
        "{report}"
    );
    assert!(
        report.contains(&format!("removed auths[\"https://{HOST}\"]")),
        "the removal is reported: {report}"
    );
    let doc = json(&path);
    assert_eq!(doc["credHelpers"], serde_json::json!({ HOST: "ecr-login" }));
    assert_eq!(
        doc["auths"],
        serde_json::json!({"ghcr.io": {"auth": "Z2g6eA=="}})
    );
    assert_eq!(
        doc["credsStore"], "desktop",
        "credHelpers mode leaves credsStore alone"
    );
    let keys: Vec<&String> = doc.as_object().expect("object").keys().collect();
    assert_eq!(
        keys,
        ["auths", "psFormat", "credsStore", "plugins", "credHelpers"],
        "unknown keys kept, in their order"
    );
    let text = std::fs::read_to_string(&path).expect("read");
    assert!(
        text.contains("\n\t\"psFormat\": \"table {{.ID}}\",\n"),
        "tabs kept: {text}"
    );
    assert!(
        !orphan.exists(),
        "orphaned temp files are swept under the lock"
    );
    let meta = std::fs::metadata(&path).expect("meta");
    assert_eq!(meta.permissions().mode() & 0o7777, 0o640, "mode kept");
    if other_owner {
        assert_eq!((meta.uid(), meta.gid()), (12345, 12345), "owner kept");
    }

    let second = world.run(&["configure-docker", "--registry", HOST], &[]);
    assert_eq!(second.status.code(), Some(0), "{}", stderr(&second));
    assert!(stdout(&second).contains("no change"), "{}", stdout(&second));
    let again = std::fs::metadata(&path).expect("meta");
    assert_eq!(again.ino(), meta.ino(), "not rewritten (the same inode)");
    assert_eq!(std::fs::read_to_string(&path).expect("read"), text);
}

#[test]
fn dry_run_prints_the_diff_and_writes_nothing() {
    let world = World::bare();
    world.write_home_file(".docker/config.json", &docker_config());
    let path = docker_config_path(&world);
    let before = std::fs::metadata(&path).expect("meta");
    let files = listing(path.parent().expect("dir"));

    let out = world.run(
        &[
            "configure-docker",
            "--dry-run",
            "--registry",
            HOST,
            "--registry",
            "public.ecr.aws",
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let diff = stdout(&out);
    let label = path.display().to_string();
    assert!(
        diff.contains(&format!("--- {label}\n+++ {label}\n@@ ")),
        "{diff}"
    );
    assert!(
        diff.contains(&format!("-\t\t\"https://{HOST}\": {{\n")),
        "{diff}"
    );
    assert!(
        diff.contains(&format!("+\t\t\"{HOST}\": \"ecr-login\",\n")),
        "{diff}"
    );
    assert!(
        diff.contains("+\t\t\"public.ecr.aws\": \"ecr-login\"\n"),
        "{diff}"
    );
    assert!(
        !diff.contains("-\t\"psFormat\""),
        "untouched lines are context: {diff}"
    );
    assert!(diff.contains("dry run:"), "{diff}");

    assert_eq!(
        std::fs::read_to_string(&path).expect("read"),
        docker_config()
    );
    assert_eq!(std::fs::metadata(&path).expect("meta").ino(), before.ino());
    assert_eq!(
        listing(path.parent().expect("dir")),
        files,
        "no lock or temp file"
    );
}

#[test]
fn invalid_json_is_refused_and_left_untouched() {
    let world = World::bare();
    let broken = "{\n\t\"auths\": {,\n}";
    world.write_home_file(".docker/config.json", broken);
    let path = docker_config_path(&world);
    let files = listing(path.parent().expect("dir"));

    let out = world.run(&["configure-docker", "--registry", HOST], &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains(&format!(
            "error: {} is not valid JSON (line 2, column 12: key must be a string); not touching it",
            path.display()
        )),
        "{}",
        stderr(&out)
    );
    assert_eq!(std::fs::read_to_string(&path).expect("read"), broken);
    assert_eq!(
        listing(path.parent().expect("dir")),
        files,
        "nothing created beside it"
    );
}

#[test]
fn registries_come_from_aws_config_and_the_helper_config_into_a_new_podman_file() {
    let mut world = World::bare();
    world.write_home_file(
        ".aws/config",
        "[profile prod]\nrole_arn = arn:aws:iam::111111111111:role/pull\nsource_profile = base\nregion = eu-west-1\n\
         [profile dev]\nsso_session = corp\nsso_account_id = 222222222222\nsso_role_name = Dev\nregion = us-west-2\n\
         [profile lost]\nrole_arn = arn:aws:iam::333333333333:role/x\n\
         [profile base]\naws_access_key_id = AKIDEXAMPLE\n",
    );
    world.write_home_file(
        ".config/ecr-login/config.toml",
        "[[registry]]\nmatch = [\"444444444444.dkr.ecr.*.amazonaws.com\", \"555555555555.dkr.ecr.ap-south-1.amazonaws.com\"]\nprofile = \"prod\"\n\n\
         [[alias]]\nhost = \"registry.example.com\"\nregistry = \"111111111111.dkr.ecr.eu-west-1.amazonaws.com\"\n",
    );
    // PATH holds this binary under its installed name: no PATH warning.
    let bin_dir = world.path("bin");
    std::fs::create_dir(&bin_dir).expect("mkdir");
    std::os::unix::fs::symlink(BIN, bin_dir.join(NAME)).expect("symlink");
    world.set("PATH", &bin_dir.display().to_string());
    let auth = world.path("run/containers/auth.json");
    let auth_arg = auth.display().to_string();

    let out = world.run(&["configure-docker", "--config", &auth_arg], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let doc = json(&auth);
    let hosts: Vec<&String> = doc["credHelpers"]
        .as_object()
        .expect("credHelpers")
        .keys()
        .collect();
    assert_eq!(
        hosts,
        [
            "222222222222.dkr.ecr.us-west-2.amazonaws.com",
            "111111111111.dkr.ecr.eu-west-1.amazonaws.com",
            "555555555555.dkr.ecr.ap-south-1.amazonaws.com",
            "registry.example.com",
            "public.ecr.aws",
        ],
        "{}",
        stdout(&out)
    );
    assert!(
        stdout(&out).contains("profile prod (role_arn)"),
        "each host says where it came from: {}",
        stdout(&out)
    );
    let notes = stderr(&out);
    assert!(
        notes.contains("profile lost: account 333333333333"),
        "{notes}"
    );
    assert!(!notes.contains("PATH"), "the helper is on PATH: {notes}");
    let mode = |p: &Path| std::fs::metadata(p).expect("meta").permissions().mode() & 0o7777;
    assert_eq!(mode(&auth), 0o600, "a new file is private");
    assert_eq!(mode(auth.parent().expect("dir")), 0o700);

    world.set("PATH", "/nonexistent");
    let out = world.run(&["configure-docker", "--config", &auth_arg], &[]);
    assert!(stdout(&out).contains("no change"), "{}", stdout(&out));
    assert!(
        stderr(&out).contains(&format!(
            "warning: {NAME} is not on PATH, so Docker cannot run the helper"
        )),
        "{}",
        stderr(&out)
    );
}

#[test]
fn creds_store_replaces_the_store_and_points_at_fallback_helper() {
    let world = World::bare();
    world.write_home_file(".docker/config.json", &docker_config());
    let path = docker_config_path(&world);
    let out = world.run(
        &["configure-docker", "--creds-store", "--registry", HOST],
        &[],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("credsStore = \"ecr-login\" (was \"desktop\")"),
        "{}",
        stdout(&out)
    );
    assert!(
        stderr(&out).contains(&format!(
            "set fallback_helper = \"desktop\" in {}",
            world.home().join(".config/ecr-login/config.toml").display()
        )),
        "{}",
        stderr(&out)
    );
    let doc = json(&path);
    assert_eq!(doc["credsStore"], "ecr-login");
    assert!(
        doc.get("credHelpers").is_none(),
        "no credHelpers in credsStore mode"
    );
    assert!(
        doc["auths"].get(format!("https://{HOST}")).is_none(),
        "shadowing entry removed"
    );
    let again = world.run(
        &["configure-docker", "--creds-store", "--registry", HOST],
        &[],
    );
    assert!(stdout(&again).contains("no change"), "{}", stdout(&again));
}

/// Runs parliament (the IAM policy linter) on `policy` at its most verbose level; returns its
/// findings, one JSON object a line.
fn parliament(policy: &str) -> String {
    let mut child = Command::new("parliament")
        .args(["--json", "--minimum_severity", "INFO"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("parliament is installed by install/test-deps.sh (pip install parliament)");
    let output: Output = {
        use std::io::Write as _;
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(policy.as_bytes())
            .expect("write policy");
        child.wait_with_output().expect("parliament")
    };
    format!("{}{}", stdout(&output), stderr(&output))
}

#[test]
fn every_policy_variant_passes_the_linter() {
    // The linter does find what is wrong (so an empty answer below means something).
    let findings = parliament(
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"ecr:PutImages","Resource":"*"}]}"#,
    );
    assert!(findings.contains("UNKNOWN_ACTION"), "{findings}");

    let world = World::bare();
    let variants: [&[&str]; 7] = [
        &["pull"],
        &["push"],
        &["export"],
        &[
            "export",
            "--public",
            "--account",
            "123456789012",
            "--region",
            "us-east-1",
        ],
        &[
            "pull",
            "--region",
            "cn-north-1",
            "--repository",
            "team/*",
            "--repository",
            "base",
        ],
        &[
            "push",
            "--account",
            "123456789012",
            "--region",
            "eu-west-1",
            "--repository",
            "team/app",
            "--repository",
            "arn:aws:ecr-public::123456789012:repository/tool",
        ],
        &[
            "push",
            "--repository",
            "arn:aws-us-gov:ecr:us-gov-west-1:123456789012:repository/app",
        ],
    ];
    for variant in variants {
        let args: Vec<&str> = std::iter::once("policy")
            .chain(variant.iter().copied())
            .collect();
        let out = world.run(&args, &[]);
        assert_eq!(out.status.code(), Some(0), "{variant:?}: {}", stderr(&out));
        let policy = stdout(&out);
        let doc: serde_json::Value = serde_json::from_str(&policy).expect("one JSON document");
        let actions: Vec<String> = doc["Statement"]
            .as_array()
            .expect("statements")
            .iter()
            .flat_map(|s| match &s["Action"] {
                serde_json::Value::String(a) => vec![a.clone()],
                list => list
                    .as_array()
                    .map(|l| {
                        l.iter()
                            .filter_map(|a| a.as_str().map(str::to_string))
                            .collect()
                    })
                    .unwrap_or_default(),
            })
            .collect();
        assert!(
            actions.contains(&"ecr:GetAuthorizationToken".to_string()),
            "{policy}"
        );
        assert!(
            actions.contains(&"ecr:BatchGetImage".to_string()),
            "{policy}"
        );
        assert_eq!(
            actions.contains(&"ecr:PutImage".to_string()),
            variant[0] == "push",
            "only push may write: {policy}"
        );
        assert_eq!(
            actions.contains(&"sts:GetServiceBearerToken".to_string()),
            variant
                .iter()
                .any(|a| *a == "--public" || a.contains("ecr-public")),
            "{policy}"
        );
        let findings = parliament(&policy);
        assert!(
            findings.trim().is_empty(),
            "{variant:?}: parliament found\n{findings}\n{policy}"
        );
    }
}

#[test]
fn policy_refuses_names_ecr_would_refuse() {
    let world = World::bare();
    for (args, message) in [
        (
            &["policy", "pull", "--repository", "Team/App"][..],
            "is not a valid ECR repository name",
        ),
        (
            &["policy", "push", "--account", "1234"],
            "is not a 12-digit account id",
        ),
        (
            &["policy", "pull", "--repository", "arn:aws:s3:::bucket"],
            "not an ECR service",
        ),
    ] {
        let out = world.run(args, &[]);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert_eq!(stdout(&out), "", "no policy for bad input");
        assert!(stderr(&out).contains(message), "{args:?}: {}", stderr(&out));
    }
}

#[test]
fn help_lists_every_command_and_the_environment() {
    let world = World::bare();
    let help = world.run(&["--help"], &[]);
    assert_eq!(help.status.code(), Some(0));
    for word in [
        "get",
        "export",
        "configure-docker",
        "policy",
        "completions",
        "AWS_ECR_CONFIG",
        "DOCKER_CONFIG",
    ] {
        assert!(stdout(&help).contains(word), "{word}: {}", stdout(&help));
    }
    let sub = world.run(&["help", "configure-docker"], &[]);
    assert_eq!(sub.status.code(), Some(0));
    assert!(stdout(&sub).contains("--dry-run"), "{}", stdout(&sub));
}

#[test]
fn completions_and_man_pages_install_where_the_system_looks() {
    let world = World::bare();
    let prefix = world.path("prefix");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("install/install-docs.sh");
    let out = Command::new("bash")
        .arg(&script)
        .arg(BIN)
        .arg(&prefix)
        .output()
        .expect("run");
    assert!(out.status.success(), "{}", stderr(&out));

    let bash = prefix.join(format!("share/bash-completion/completions/{NAME}"));
    let zsh = prefix.join(format!("share/zsh/site-functions/_{NAME}"));
    let fish = prefix.join(format!("share/fish/vendor_completions.d/{NAME}.fish"));
    for (shell, file, check) in [
        ("bash", &bash, "-n"),
        ("zsh", &zsh, "-n"),
        ("fish", &fish, "--no-execute"),
    ] {
        let out = Command::new(shell)
            .arg(check)
            .arg(file)
            .output()
            .unwrap_or_else(|e| panic!("{shell} is installed by install/test-deps.sh: {e}"));
        assert!(out.status.success(), "{shell}: {}", stderr(&out));
    }
    // bash completes a subcommand's own values and flags (see cli::completion_script).
    let complete = |words: &str, current: &str, previous: &str| {
        let line = format!(
            "source {bash}; f=$(complete -p {NAME} | sed -E 's/.* -F ([^ ]+) .*/\\1/'); \
             COMP_WORDS=({words}); COMP_CWORD=$((${{#COMP_WORDS[@]}} - 1)); \
             $f {NAME} '{current}' '{previous}'; echo \"${{COMPREPLY[*]}}\"",
            bash = bash.display()
        );
        let out = Command::new("bash")
            .args(["-c", &line])
            .output()
            .expect("bash");
        stdout(&out).trim().to_string()
    };
    assert_eq!(
        complete(&format!("{NAME} con"), "con", NAME),
        "configure-docker"
    );
    assert_eq!(
        complete(&format!("{NAME} policy pu"), "pu", "policy"),
        "pull push"
    );
    assert_eq!(
        complete(
            &format!("{NAME} configure-docker --d"),
            "--d",
            "configure-docker"
        ),
        "--dry-run"
    );

    let man_root = prefix.join("share/man");
    let man = |args: &[&str]| {
        Command::new("man")
            .arg("-M")
            .arg(&man_root)
            .args(args)
            .env("MANPAGER", "cat")
            .env("MANWIDTH", "100")
            .output()
            .expect("man is installed by install/test-deps.sh (man-db)")
    };
    let found = man(&["-w", NAME]);
    assert_eq!(
        stdout(&found).trim(),
        man_root
            .join(format!("man1/{NAME}.1"))
            .display()
            .to_string(),
        "{}",
        stderr(&found)
    );
    let page = man(&[NAME]);
    assert!(page.status.success(), "{}", stderr(&page));
    let text = stdout(&page);
    for section in [
        "NAME",
        "SYNOPSIS",
        "SUBCOMMANDS",
        "ENVIRONMENT",
        "AWS_ECR_FETCH_TIMEOUT",
        "FILES",
    ] {
        assert!(text.contains(section), "{section}: {text}");
    }
    for command in ["configure-docker", "policy", "export", "get"] {
        let page = man(&[&format!("{NAME}-{command}")]);
        assert!(page.status.success(), "{command}: {}", stderr(&page));
        let file = man_root.join(format!("man1/{NAME}-{command}.1"));
        let local = Command::new("man")
            .arg("-l")
            .arg(&file)
            .env("MANPAGER", "cat")
            .output()
            .expect("man -l");
        assert!(
            local.status.success() && stdout(&local).contains("SYNOPSIS"),
            "{}",
            stderr(&local)
        );
    }
}
