//! `export` against the platforms as they really behave on the wire (the fakes follow the
//! documented contracts, including what the first version of the client got wrong): Runpod's
//! gated REST v2, creates whose answer is lost, redirects to another port, plain http, Pipecat's
//! asynchronous updates and default region, short-lived tokens, files owned by another user,
//! failure notification and the GitHub Actions output.

mod export_common;

use export_common::*;
use std::path::PathBuf;
use std::time::Duration;

const RUNPOD_KEY: &str = "rpa_test_runpod_key";
const PIPECAT_KEY: &str = "pk_test_pipecat_key";
const OCTOPUS_KEY: &str = "API-TESTOCTOPUSKEY";

fn envs() -> Vec<(&'static str, &'static str)> {
    vec![
        ("RUNPOD_API_KEY", RUNPOD_KEY),
        ("PIPECAT_API_KEY", PIPECAT_KEY),
        ("OCTOPUS_API_KEY", OCTOPUS_KEY),
    ]
}

const SOURCE: &str = "[[source]]\nregion = \"us-east-1\"\n";

fn runpod_target(url: &str) -> String {
    format!(
        "[[target]]\nname = \"runpod\"\ntype = \"runpod\"\nregistry_auth = \"ECR Credentials\"\n\
         api_key = {{ env = \"RUNPOD_API_KEY\" }}\nbase_url = \"{url}\"\n"
    )
}

fn pipecat_target(url: &str, extra: &str) -> String {
    format!(
        "[[target]]\nname = \"pipecat\"\ntype = \"pipecat\"\nsecret_set = \"my-ecr-credentials\"\n\
         api_key = {{ env = \"PIPECAT_API_KEY\" }}\nbase_url = \"{url}\"\n{extra}\n"
    )
}

fn octopus_target(url: &str) -> String {
    format!(
        "[[target]]\nname = \"octopus\"\ntype = \"octopus\"\nserver = \"{url}\"\nspace = \"Default\"\n\
         feed = \"ECR\"\napi_key = {{ env = \"OCTOPUS_API_KEY\" }}\n"
    )
}

fn docker_target(path: &std::path::Path) -> String {
    format!(
        "[[target]]\nname = \"local\"\ntype = \"docker-config\"\npath = \"{}\"\n",
        path.display()
    )
}

fn run(world: &World, config: &str, extra: &[&str]) -> Run {
    let path = world.config(config).display().to_string();
    let lock = world.path("run.lock").display().to_string();
    let mut args = vec!["--config", path.as_str(), "--lock", lock.as_str()];
    args.extend_from_slice(extra);
    world.run(&args, &envs())
}

fn json(run: &Run) -> serde_json::Value {
    serde_json::from_str(&run.stdout)
        .unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{}", run.all()))
}

fn error_of(run: &Run, target: &str) -> String {
    json(run)["targets"]
        .as_array()
        .and_then(|t| t.iter().find(|r| r["target"] == target))
        .and_then(|r| r["error"].as_str())
        .unwrap_or("")
        .to_string()
}

fn registries(runpod: &Proc) -> serde_json::Map<String, serde_json::Value> {
    runpod.state()["state"]["registries"]
        .as_object()
        .cloned()
        .unwrap_or_default()
}

#[test]
fn runpod_v2_answering_401_or_403_falls_back_to_graphql() {
    for gate in ["gated403", "gated401"] {
        let world = World::new();
        let runpod = Proc::python("tests/fakes/runpod.py", &["--v2", gate]);
        let config = format!(
            "[defaults]\nretries = 0\n{SOURCE}{}",
            runpod_target(&runpod.url())
        );
        let first = run(&world, &config, &["--output", "json"]);
        assert_eq!(first.code, 0, "{gate}: {}", first.all());
        let second = run(&world, &config, &["--output", "json"]);
        assert_eq!(second.code, 0, "{gate}: {}", second.all());
        let regs = registries(&runpod);
        assert_eq!(regs.len(), 1, "{gate}: {regs:?}");
        let reg = regs.values().next().expect("one");
        assert_eq!(reg["via"], "graphql", "{gate}");
        assert_eq!(reg["writes"], 2, "{gate}: created, then updated");
        let rest_writes = runpod
            .calls()
            .iter()
            .filter(|(m, p)| p.starts_with("/v2") && m != "GET")
            .count();
        assert_eq!(rest_writes, 0, "{gate}: v2 is unavailable, so no v2 writes");
    }
}

#[test]
fn runpod_patch_422_updates_through_graphql() {
    let world = World::new();
    let runpod = Proc::python(
        "tests/fakes/runpod.py",
        &["--v2", "patch422", "--existing", "cl1"],
    );
    let config = format!(
        "[defaults]\nretries = 0\n{SOURCE}{}",
        runpod_target(&runpod.url())
    );
    let out = run(&world, &config, &["--output", "json"]);
    assert_eq!(out.code, 0, "{}", out.all());
    let reg = &registries(&runpod)["cl1"];
    assert_eq!(
        (reg["via"].as_str(), reg["username"].as_str()),
        (Some("graphql"), Some("AWS"))
    );
}

/// The server stores the create, then the answer never comes (client timeout). The next
/// attempt must find it and update it, not create a second credential with the same name.
#[test]
fn a_create_whose_response_is_lost_leaves_exactly_one_credential() {
    for mode in ["lost", "drop"] {
        let world = World::new();
        let runpod = Proc::python("tests/fakes/runpod.py", &[]);
        runpod.fault_on(&format!(
            "mode={mode}&method=POST&path=/v2/registries&count=1"
        ));
        let config = format!(
            "[defaults]\ntimeout = \"1s\"\nretries = 2\n{SOURCE}{}",
            runpod_target(&runpod.url())
        );
        let out = run(&world, &config, &["--output", "json"]);
        assert_eq!(out.code, 0, "{mode}: {}", out.all());
        let regs = registries(&runpod);
        assert_eq!(regs.len(), 1, "{mode}: one credential, not two: {regs:?}");
        let posts = runpod
            .calls()
            .iter()
            .filter(|(m, p)| m == "POST" && p == "/v2/registries")
            .count();
        assert_eq!(posts, 1, "{mode}: the create is not repeated");
        // And the next run updates it (no duplicate to trip over).
        let again = run(&world, &config, &[]);
        assert_eq!(again.code, 0, "{mode}: {}", again.all());
        assert_eq!(registries(&runpod).len(), 1);
    }
}

/// The same for GraphQL (v2 gated): a lost `saveRegistryAuth` is followed by a list and an
/// `updateRegistryAuth`, not by a second `saveRegistryAuth`.
#[test]
fn a_lost_graphql_create_leaves_exactly_one_credential() {
    let world = World::new();
    let runpod = Proc::python("tests/fakes/runpod.py", &["--v2", "gated403"]);
    runpod.fault_on("mode=lost&method=POST&path=/graphql&body=saveRegistryAuth&count=1");
    let config = format!(
        "[defaults]\ntimeout = \"1s\"\nretries = 2\n{SOURCE}{}",
        runpod_target(&runpod.url())
    );
    let out = run(&world, &config, &[]);
    assert_eq!(out.code, 0, "{}", out.all());
    let regs = registries(&runpod);
    assert_eq!(regs.len(), 1, "one credential, not two: {regs:?}");
    let saves = runpod
        .bodies()
        .iter()
        .filter(|(_, _, body)| body.contains("saveRegistryAuth"))
        .count();
    assert_eq!(saves, 1, "the create is not repeated");
    assert_eq!(
        regs.values().next().map(|r| r["writes"].clone()),
        Some(2.into())
    );
}

/// A 307 to another port: nothing follows it, so neither the API key header nor the body with
/// the password reaches that server; the error names where it pointed.
#[test]
fn redirects_are_not_followed_and_credentials_stay_home() {
    let world = World::new();
    let catcher = Proc::python("tests/fakes/octopus.py", &[]);
    let pipecat = Proc::python("tests/fakes/pipecat.py", &[]);
    let runpod = Proc::python("tests/fakes/runpod.py", &[]);
    let octopus = Proc::python("tests/fakes/octopus.py", &[]);
    let location = format!("{}/api/Spaces-1/feeds/Feeds-1", catcher.url());
    let config = format!(
        "[defaults]\nretries = 1\n{SOURCE}{}{}{}",
        pipecat_target(&pipecat.url(), ""),
        runpod_target(&runpod.url()),
        octopus_target(&octopus.url())
    );
    for (name, fake, method) in [
        ("pipecat", &pipecat, "PUT"),
        ("runpod", &runpod, "POST"),
        ("octopus", &octopus, "PUT"),
        ("octopus", &octopus, "GET"),
    ] {
        fake.fault_on(&format!(
            "mode=redirect&method={method}&location={location}"
        ));
        let out = run(&world, &config, &["--output", "json", "--target", name]);
        fake.reset();
        assert_eq!(out.code, 1, "{name}/{method}: {}", out.all());
        let error = error_of(&out, name);
        assert!(
            error.contains(&format!("redirect to http://127.0.0.1:{}", catcher.port))
                && error.contains("not followed"),
            "{name}/{method}: {error}"
        );
        assert!(
            !error.contains(&format!("{}/api", catcher.port)),
            "only the host is named: {error}"
        );
        assert_eq!(
            catcher.calls(),
            Vec::new(),
            "{name}/{method}: something reached the other port"
        );
    }
}

/// `http://` to a host that is not loopback is a config error before any request. `0.0.0.0`
/// is not a loopback name, yet on Linux it connects to this machine: with `allow_http` the
/// same config does reach the fake, so the check is what kept the request from it.
#[test]
fn plain_http_to_a_remote_host_is_refused_before_any_request() {
    let world = World::new();
    let runpod = Proc::python("tests/fakes/runpod.py", &[]);
    let remote = format!("http://0.0.0.0:{}", runpod.port);
    let config = format!("{SOURCE}{}", runpod_target(&remote));
    let out = run(&world, &config, &[]);
    assert_eq!(out.code, 2, "{}", out.all());
    assert!(out.stderr.contains("plain http://"), "{}", out.stderr);
    assert!(
        runpod.calls().is_empty(),
        "no request: {:?}",
        runpod.calls()
    );
    assert_eq!(ecr_calls(&world.moto), 0);

    let allowed = format!("{SOURCE}{}allow_http = true\n", runpod_target(&remote));
    let out = run(&world, &allowed, &[]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert!(!runpod.calls().is_empty());

    let userinfo = format!(
        "{SOURCE}{}",
        runpod_target("https://user:hunter2pass@runpod.example")
    );
    let out = run(&world, &userinfo, &[]);
    assert_eq!(out.code, 2, "{}", out.all());
    assert!(out.stderr.contains("user:pass@"), "{}", out.stderr);
    assert!(!out.all().contains("hunter2pass"), "{}", out.all());
}

/// No region in the config: the update sends the existing set's region (left out, Pipecat
/// means its default region and refuses the change). `wait_ready` waits for the update itself,
/// not for the old set's `ready` that the list still shows for a moment.
#[test]
fn pipecat_update_keeps_the_region_and_waits_for_this_update() {
    let world = World::new();
    let pipecat = Proc::python(
        "tests/fakes/pipecat.py",
        &[
            "--existing",
            "my-ecr-credentials:eu-central",
            "--status-lag",
            "1",
            "--ready-after",
            "0.5",
        ],
    );
    let config = format!(
        "{SOURCE}{}",
        pipecat_target(&pipecat.url(), "wait_ready = \"20s\"")
    );
    let out = run(&world, &config, &["--output", "json"]);
    assert_eq!(out.code, 0, "{}", out.all());
    let set = &pipecat.state()["state"]["sets"]["my-ecr-credentials"];
    assert_eq!(set["region"], "eu-central");
    assert_eq!(set["writes"], 1);
    let put = pipecat
        .bodies()
        .into_iter()
        .find(|(m, _, _)| m == "PUT")
        .map(|(_, _, body)| body)
        .expect("a PUT");
    assert!(put.contains("\"region\":\"eu-central\""), "{put}");
    // When the run said "ready", the update really was provisioned.
    let sets = pipecat.call("GET", "/_test/state");
    let ready_at = sets["state"]["sets"]["my-ecr-credentials"]["ready_at"]
        .as_f64()
        .unwrap_or(f64::MAX);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0);
    assert!(
        now >= ready_at,
        "the run ended before the update was ready ({now} < {ready_at})"
    );
}

/// moto hands out 2-hour tokens: still pushed (the best there is), but the run fails, says how
/// long the token lasts and why, and the metrics show its real expiry.
#[test]
fn a_two_hour_token_is_pushed_but_fails_the_run() {
    let world = World::with_token_lifetime(Duration::from_secs(2 * 3600));
    let docker = world.path("docker/config.json");
    let metrics = world.path("m.prom").display().to_string();
    let config = format!("{SOURCE}{}", docker_target(&docker));
    let out = run(&world, &config, &["--metrics-file", &metrics]);
    assert_eq!(out.code, 1, "{}", out.all());
    assert!(
        out.stdout.contains("lasts only 1h5") || out.stdout.contains("lasts only 2h00m"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("less than the 6 h minimum"),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("short-lived"), "{}", out.stdout);
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&docker).expect("pushed anyway"))
            .expect("json");
    assert!(
        doc["auths"].as_object().is_some_and(|a| a.len() == 1),
        "{doc}"
    );
    let text = std::fs::read_to_string(&metrics).expect("metrics");
    let expiry: f64 = text
        .lines()
        .find(|l| l.starts_with("ecr_export_token_expiry_timestamp_seconds{target=\"local\""))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no expiry metric:\n{text}"));
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0);
    assert!(
        (expiry - now - 7200.0).abs() < 120.0,
        "expiry {expiry} is not ~now+2h ({now})"
    );
    assert!(
        text.contains("ecr_export_failures_total{target=\"local\",type=\"docker-config\"} 1"),
        "{text}"
    );
}

fn is_root() -> bool {
    use std::os::unix::fs::MetadataExt as _;
    let probe = tempfile::NamedTempFile::new().expect("probe");
    probe
        .as_file()
        .metadata()
        .map(|m| m.uid() == 0)
        .unwrap_or(false)
}

/// `export` run as root must not leave a user's config.json owned by root.
#[cfg(unix)]
#[test]
fn docker_config_owned_by_another_user_keeps_owner_group_and_mode() {
    use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
    assert!(
        is_root(),
        "needs root to chown a file to another user (the test suite runs as root)"
    );
    let world = World::new();
    let docker = world.path("home/.docker/config.json");
    std::fs::create_dir_all(docker.parent().expect("dir")).expect("mkdir");
    std::fs::write(
        &docker,
        r#"{"auths":{"other.example.com":{"auth":"eDp5"}}}"#,
    )
    .expect("write");
    std::os::unix::fs::chown(&docker, Some(1234), Some(2345)).expect("chown");
    std::fs::set_permissions(&docker, std::fs::Permissions::from_mode(0o640)).expect("chmod");
    let out = run(&world, &format!("{SOURCE}{}", docker_target(&docker)), &[]);
    assert_eq!(out.code, 0, "{}", out.all());
    let meta = std::fs::metadata(&docker).expect("meta");
    assert_eq!(
        (meta.uid(), meta.gid()),
        (1234, 2345),
        "owner and group kept"
    );
    assert_eq!(meta.mode() & 0o7777, 0o640, "mode kept");
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&docker).expect("read")).expect("json");
    assert_eq!(doc["auths"].as_object().map(|a| a.len()), Some(2), "{doc}");
}

#[cfg(unix)]
#[test]
fn a_dangling_symlink_is_an_error_not_a_new_file() {
    let world = World::new();
    let target = world.path("gone/config.json");
    let link = world.path("config.json");
    std::os::unix::fs::symlink(&target, &link).expect("symlink");
    let out = run(
        &world,
        &format!("{SOURCE}{}", docker_target(&link)),
        &["--output", "json"],
    );
    assert_eq!(out.code, 1, "{}", out.all());
    assert!(
        error_of(&out, "local").contains("does not exist"),
        "{}",
        out.stdout
    );
    assert!(!target.exists() && !world.path("gone").exists());
}

/// A run with a failed target POSTs a summary to `notify_url` (Slack/Teams `text` + rows, no
/// secrets); the notification failing (here: HTTP 401) is reported but keeps exit code 1.
#[test]
fn failures_are_notified_without_secrets() {
    let world = World::new();
    let octopus = Proc::python("tests/fakes/octopus.py", &[]);
    let hook = Proc::python("tests/fakes/pipecat.py", &[]);
    let docker = world.path("docker.json");
    octopus.fault("auth", -1);
    let hook_url = format!("{}/hooks/T000/B000", hook.url());
    let config = format!(
        "[defaults]\nretries = 0\nnotify_url = {{ env = \"ECR_NOTIFY_URL\" }}\n{SOURCE}{}{}",
        octopus_target(&octopus.url()),
        docker_target(&docker)
    );
    let path = world.config(&config).display().to_string();
    let lock = world.path("run.lock").display().to_string();
    let mut env = envs();
    env.push(("ECR_NOTIFY_URL", hook_url.as_str()));
    let out = world.run(&["--config", &path, "--lock", &lock], &env);
    assert_eq!(out.code, 1, "{}", out.all());
    let posts: Vec<_> = hook
        .bodies()
        .into_iter()
        .filter(|(m, _, _)| m == "POST")
        .collect();
    assert_eq!(posts.len(), 1, "{posts:?}");
    assert_eq!(posts[0].1, "/hooks/T000/B000");
    let body: serde_json::Value = serde_json::from_str(&posts[0].2).expect("json body");
    let text = body["text"].as_str().unwrap_or("");
    assert!(
        text.contains("1 of 2 target(s) failed") && text.contains("octopus"),
        "{text}"
    );
    assert_eq!(
        body["targets"].as_array().map(|t| t.len()),
        Some(2),
        "{body}"
    );
    assert_no_secret(&posts[0].2, &[OCTOPUS_KEY]);
    // The fake answers the webhook's POST with its own 401 (no API key): a failed notification.
    assert!(
        out.stderr
            .contains("notification (notify_url) failed: HTTP 401"),
        "{}",
        out.stderr
    );
    assert!(
        !out.all().contains("/hooks/T000"),
        "the webhook URL is a secret: {}",
        out.all()
    );

    // A successful run sends nothing.
    octopus.reset();
    hook.reset();
    let out = world.run(&["--config", &path, "--lock", &lock], &env);
    assert_eq!(out.code, 0, "{}", out.all());
    assert!(hook.calls().is_empty());
}

#[test]
fn print_github_masks_and_writes_github_output() {
    let world = World::new();
    let output: PathBuf = world.path("github_output");
    std::fs::write(&output, "earlier=1\n").expect("write");
    let out_path = output.display().to_string();
    let out = world.run(
        &["--print", "github", "--region", "us-east-1"],
        &[("GITHUB_OUTPUT", out_path.as_str())],
    );
    assert_eq!(out.code, 0, "{}", out.all());
    let written = std::fs::read_to_string(&output).expect("read");
    let value = |key: &str| {
        written
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{key}=")))
            .unwrap_or("")
            .to_string()
    };
    assert!(written.starts_with("earlier=1\n"), "appended: {written}");
    assert!(
        value("registry").ends_with(".dkr.ecr.us-east-1.amazonaws.com"),
        "{written}"
    );
    assert_eq!(value("docker_username"), "AWS");
    let password = value("docker_password");
    assert!(password.len() > 8, "{written}");
    assert!(
        out.stdout.contains(&format!("::add-mask::{password}\n")),
        "{}",
        out.stdout
    );
    assert_eq!(
        out.stdout
            .lines()
            .filter(|l| !l.starts_with("::add-mask::"))
            .count(),
        0
    );

    let unset = world.run(&["--print", "github", "--region", "us-east-1"], &[]);
    assert_eq!(unset.code, 2, "{}", unset.all());
    assert!(unset.stderr.contains("GITHUB_OUTPUT"), "{}", unset.stderr);
}
