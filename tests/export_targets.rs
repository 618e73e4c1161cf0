//! `export` against moto (ECR) and the local fakes of Pipecat Cloud, Runpod and Octopus Deploy,
//! plus a Docker config file: create, update, dry run, failure isolation, retries, redaction.

mod export_common;

use export_common::*;
use std::time::Duration;

const PIPECAT_KEY: &str = "pk_test_pipecat_key";
const RUNPOD_KEY: &str = "rpa_test_runpod_key";
const OCTOPUS_KEY: &str = "API-TESTOCTOPUSKEY";

struct Platforms {
    world: World,
    pipecat: Proc,
    runpod: Proc,
    octopus: Proc,
}

fn envs() -> Vec<(&'static str, &'static str)> {
    vec![
        ("PIPECAT_API_KEY", PIPECAT_KEY),
        ("RUNPOD_API_KEY", RUNPOD_KEY),
    ]
}

impl Platforms {
    fn start(runpod_args: &[&str]) -> Platforms {
        Platforms {
            world: World::new(),
            pipecat: Proc::python("tests/fakes/pipecat.py", &["--ready-after", "0.3"]),
            runpod: Proc::python("tests/fakes/runpod.py", runpod_args),
            octopus: Proc::python("tests/fakes/octopus.py", &[]),
        }
    }

    fn config(&self, defaults: &str, pipecat_extra: &str) -> std::path::PathBuf {
        let key_file = self.world.path("octopus.key");
        write_private(&key_file, &format!("{OCTOPUS_KEY}\n"));
        self.world.config(&format!(
            r#"
[defaults]
{defaults}

[[source]]
name = "prod"
region = "us-east-1"

[[target]]
name = "pipecat"
type = "pipecat"
secret_set = "my-ecr-credentials"
region = "us-west"
api_key = {{ env = "PIPECAT_API_KEY" }}
base_url = "{pipecat}"
{pipecat_extra}

[[target]]
name = "runpod"
type = "runpod"
registry_auth = "ECR Credentials"
api_key = {{ env = "RUNPOD_API_KEY" }}
base_url = "{runpod}"

[[target]]
name = "octopus"
type = "octopus"
server = "{octopus}"
space = "Default"
feed = "ECR"
api_key = {{ file = "{key}" }}

[[target]]
name = "local"
type = "docker-config"
path = "{docker}"
"#,
            pipecat = self.pipecat.url(),
            runpod = self.runpod.url(),
            octopus = self.octopus.url(),
            key = key_file.display(),
            docker = self.world.path("docker/config.json").display(),
        ))
    }

    fn run(&self, config: &std::path::Path, extra: &[&str]) -> Run {
        let config = config.display().to_string();
        let lock = self.world.path("run.lock").display().to_string();
        let mut args = vec!["--config", config.as_str(), "--lock", lock.as_str()];
        args.extend_from_slice(extra);
        self.world.run(&args, &envs())
    }

    /// The token pipecat received (the raw authorizationToken).
    fn token(&self) -> String {
        self.pipecat.state()["state"]["sets"]["my-ecr-credentials"]["secretValue"]
            .as_str()
            .expect("pipecat got a token")
            .to_string()
    }

    fn assert_clean(&self, run: &Run) {
        let token = self.token();
        let all = format!("{}\n{}", run.all(), self.world.logs());
        assert_no_secret(&all, &[&token, PIPECAT_KEY, RUNPOD_KEY, OCTOPUS_KEY]);
    }
}

fn row<'a>(json: &'a serde_json::Value, target: &str) -> &'a serde_json::Value {
    json["targets"]
        .as_array()
        .and_then(|t| t.iter().find(|r| r["target"] == target))
        .expect("row for target")
}

fn parse_json(run: &Run) -> serde_json::Value {
    serde_json::from_str(&run.stdout)
        .unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{}", run.all()))
}

#[test]
fn first_run_creates_second_run_updates_with_one_token_fetch() {
    let p = Platforms::start(&[]);
    let config = p.config("", "wait_ready = \"10s\"");

    let first = p.run(&config, &["--output", "json"]);
    assert_eq!(first.code, 0, "{}", first.all());
    let json = parse_json(&first);
    for (target, action) in [
        ("pipecat", "create"),
        ("runpod", "create"),
        ("octopus", "update"),
        ("local", "create"),
    ] {
        assert_eq!(
            row(&json, target)["action"],
            action,
            "{target}: {}",
            first.stdout
        );
        assert_eq!(
            row(&json, target)["result"],
            "ok",
            "{target}: {}",
            first.stdout
        );
    }

    // Pipecat: the raw authorizationToken, the proxy endpoint, ready after the wait.
    let token = p.token();
    let set = &p.pipecat.state()["state"]["sets"]["my-ecr-credentials"];
    assert_eq!(set["status"], "ready");
    assert_eq!(set["region"], "us-west");
    assert!(
        set["host"].as_str().unwrap_or("").starts_with("https://"),
        "{set}"
    );
    use base64::Engine as _;
    let decoded = String::from_utf8(
        base64::engine::general_purpose::STANDARD
            .decode(&token)
            .expect("base64"),
    )
    .expect("utf8");
    let (user, password) = decoded.split_once(':').expect("user:password");
    assert_eq!(user, "AWS");

    // Runpod: one registry auth with the password.
    let regs = p.runpod.state()["state"]["registries"]
        .as_object()
        .cloned()
        .expect("registries");
    assert_eq!(regs.len(), 1);
    let reg = regs.values().next().expect("one");
    assert_eq!(reg["name"], "ECR Credentials");
    assert_eq!(reg["username"], "AWS");
    assert_eq!(reg["password"], password);

    // Octopus: whole resource kept, only Username/Password changed.
    let feed = &p.octopus.state()["state"]["feeds"]["Feeds-1"];
    assert_eq!(feed["Username"], "AWS");
    assert_eq!(feed["_secret"], password);
    assert_eq!(feed["DownloadAttempts"], 5);
    assert_eq!(
        feed["PackageAcquisitionLocationOptions"][0],
        "ExecutionTarget"
    );
    assert_eq!(
        p.octopus.state()["state"]["feeds"]["Feeds-2"]["Password"]["HasValue"],
        false,
        "only the exact name"
    );

    // Docker config: our auths entry, mode 0600.
    let docker_path = p.world.path("docker/config.json");
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&docker_path).expect("written"))
            .expect("json");
    let host = doc["auths"]
        .as_object()
        .and_then(|a| a.keys().next().cloned())
        .expect("one host");
    assert!(host.ends_with(".amazonaws.com"), "{host}");
    assert_eq!(doc["auths"][&host]["auth"], token.as_str());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        assert_eq!(
            std::fs::metadata(&docker_path)
                .expect("meta")
                .permissions()
                .mode()
                & 0o777,
            0o600
        );
    }
    // Keep other keys: add one, it must survive the second run.
    let mut doc = doc;
    doc["credsStore"] = serde_json::json!("desktop");
    doc["auths"]["other.example.com"] = serde_json::json!({"auth": "b3RoZXI6eA=="});
    std::fs::write(&docker_path, doc.to_string()).expect("write");

    let second = p.run(&config, &["--output", "json"]);
    assert_eq!(second.code, 0, "{}", second.all());
    let json = parse_json(&second);
    for target in ["pipecat", "runpod", "octopus", "local"] {
        assert_eq!(
            row(&json, target)["action"],
            "update",
            "{target}: {}",
            second.stdout
        );
    }
    assert_eq!(
        p.runpod.state()["state"]["registries"]
            .as_object()
            .map(|r| r.len()),
        Some(1),
        "never recreated"
    );
    let reg = p.runpod.state()["state"]["registries"]
        .as_object()
        .and_then(|r| r.values().next().cloned())
        .expect("one");
    assert_eq!(reg["writes"], 2);
    assert_eq!(
        p.pipecat.state()["state"]["sets"]["my-ecr-credentials"]["writes"],
        2
    );
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&docker_path).expect("read")).expect("json");
    assert_eq!(doc["credsStore"], "desktop");
    assert_eq!(doc["auths"]["other.example.com"]["auth"], "b3RoZXI6eA==");
    // docker would ask the credsStore, not read our entry: a warning, in JSON and in the text
    // output that cron mails.
    assert!(
        row(&json, "local")["warnings"][0]
            .as_str()
            .is_some_and(|w| w.contains("credsStore = \"desktop\" overrides")),
        "{}",
        second.stdout
    );
    let text = p.run(&config, &[]);
    assert_eq!(text.code, 0, "{}", text.all());
    assert!(
        text.stdout
            .contains("local: warning: credsStore = \"desktop\" overrides"),
        "{}",
        text.stdout
    );
    // No deletes anywhere.
    for fake in [&p.pipecat, &p.runpod, &p.octopus] {
        assert!(fake.calls().iter().all(|(m, _)| m != "DELETE"));
    }

    assert_eq!(
        ecr_calls(&p.world.moto),
        1,
        "one GetAuthorizationToken for both runs (the second uses the cache)"
    );
    p.assert_clean(&first);
    p.assert_clean(&second);
}

/// Ids come from the servers and go into URL paths: percent-encoded, an id holding `/`, `?`,
/// `#`, `%` or spaces still addresses its own resource (and nothing else).
#[test]
fn server_ids_are_encoded_in_url_paths() {
    let runpod_id = "rp/1 ?#%";
    let (space_id, feed_id) = ("Spaces 1/a?b", "Feeds#1/..");
    let p = Platforms {
        world: World::new(),
        pipecat: Proc::python("tests/fakes/pipecat.py", &["--ready-after", "0.3"]),
        runpod: Proc::python("tests/fakes/runpod.py", &["--existing", runpod_id]),
        octopus: Proc::python(
            "tests/fakes/octopus.py",
            &["--space-id", space_id, "--feed-id", feed_id],
        ),
    };
    let config = p.config("", "");
    let out = p.run(&config, &["--output", "json"]);
    assert_eq!(out.code, 0, "{}", out.all());
    let json = parse_json(&out);
    assert_eq!(row(&json, "runpod")["action"], "update", "{}", out.stdout);

    let reg = &p.runpod.state()["state"]["registries"][runpod_id];
    assert_eq!(reg["username"], "AWS", "{reg}");
    assert_eq!(reg["writes"], 1, "{reg}");
    assert!(reg["via"].is_null(), "updated by REST, no fallback: {reg}");
    let patches: Vec<String> = p
        .runpod
        .calls()
        .into_iter()
        .filter(|(m, _)| m == "PATCH")
        .map(|(_, path)| path)
        .collect();
    assert_eq!(patches, ["/v2/registries/rp%2F1%20%3F%23%25"]);

    let feed = &p.octopus.state()["state"]["feeds"][feed_id];
    assert_eq!(feed["Username"], "AWS", "{feed}");
    assert_eq!(feed["_writes"], 1, "{feed}");
    assert!(
        p.octopus
            .calls()
            .iter()
            .any(|(m, path)| m == "PUT" && path == "/api/Spaces%201%2Fa%3Fb/feeds/Feeds%231%2F.."),
        "{:?}",
        p.octopus.calls()
    );
    p.assert_clean(&out);
}

#[test]
fn dry_run_only_reads() {
    let p = Platforms::start(&[]);
    let config = p.config("", "");
    let run = p.run(&config, &["--dry-run"]);
    assert_eq!(run.code, 0, "{}", run.all());
    assert!(run.stdout.contains("planned"), "{}", run.stdout);
    assert!(run.stdout.contains("<redacted len="), "{}", run.stdout);
    for fake in [&p.pipecat, &p.runpod, &p.octopus] {
        let calls = fake.calls();
        assert!(!calls.is_empty());
        assert!(
            calls.iter().all(|(m, _)| m == "GET"),
            "dry run wrote: {calls:?}"
        );
    }
    assert!(
        p.pipecat.state()["state"]["sets"]
            .as_object()
            .is_some_and(|s| s.is_empty())
    );
    assert!(
        p.runpod.state()["state"]["registries"]
            .as_object()
            .is_some_and(|s| s.is_empty())
    );
    assert_eq!(
        p.octopus.state()["state"]["feeds"]["Feeds-1"]["Password"]["HasValue"],
        false
    );
    assert!(!p.world.path("docker/config.json").exists());
    // No token was pushed, so scan for the API keys and the token from --print.
    let printed = p
        .world
        .run(&["--print", "env", "--region", "us-east-1"], &[]);
    assert_eq!(printed.code, 0, "{}", printed.all());
    let password = printed
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("ECR_PASSWORD='"))
        .map(|l| l.trim_end_matches('\''))
        .expect("password");
    assert_no_secret(
        &run.all(),
        &[password, PIPECAT_KEY, RUNPOD_KEY, OCTOPUS_KEY],
    );
}

#[test]
fn each_target_failure_is_isolated() {
    let p = Platforms::start(&[]);
    let config = p.config("timeout = \"1s\"\nretries = 1", "");
    let first = p.run(&config, &[]);
    assert_eq!(first.code, 0, "{}", first.all());
    for (name, fake) in [
        ("pipecat", &p.pipecat),
        ("runpod", &p.runpod),
        ("octopus", &p.octopus),
    ] {
        for mode in ["auth", "429", "500", "hang"] {
            fake.fault(mode, -1);
            let run = p.run(&config, &["--output", "json"]);
            fake.reset();
            assert_eq!(run.code, 1, "{name}/{mode}: {}", run.all());
            let json = parse_json(&run);
            assert_eq!(
                row(&json, name)["result"],
                "failed",
                "{name}/{mode}: {}",
                run.stdout
            );
            let error = row(&json, name)["error"].as_str().unwrap_or("").to_string();
            match mode {
                "auth" => assert!(error.contains("401"), "{name}/{mode}: {error}"),
                "429" => assert!(error.contains("429"), "{name}/{mode}: {error}"),
                "500" => assert!(error.contains("500"), "{name}/{mode}: {error}"),
                _ => assert!(error.contains("timed out"), "{name}/{mode}: {error}"),
            }
            for other in ["pipecat", "runpod", "octopus", "local"]
                .iter()
                .filter(|o| **o != name)
            {
                assert_eq!(
                    row(&json, other)["result"],
                    "ok",
                    "{name}/{mode} broke {other}: {}",
                    run.stdout
                );
            }
            assert!(
                run.elapsed < Duration::from_secs(15),
                "{name}/{mode} took {:?}",
                run.elapsed
            );
            p.assert_clean(&run);
        }
    }
}

#[test]
fn retries_honour_retry_after_and_documented_conflicts() {
    let p = Platforms::start(&[]);
    let config = p.config("retries = 2", "");
    // One 429 with Retry-After: 1 on Runpod, one 409 CONFLICT on Pipecat's PUT.
    p.runpod.fault("429", 1);
    p.pipecat.fault("conflict", 2); // the list GET is not affected by `conflict`, but consumes a count
    let run = p.run(&config, &["--output", "json"]);
    assert_eq!(run.code, 0, "{}", run.all());
    assert!(
        run.elapsed >= Duration::from_secs(1),
        "Retry-After honoured: {:?}",
        run.elapsed
    );
    let puts = p.pipecat.calls().iter().filter(|(m, _)| m == "PUT").count();
    assert_eq!(puts, 2, "the 409 CONFLICT PUT was retried once");
    let gets = p
        .runpod
        .calls()
        .iter()
        .filter(|(m, path)| m == "GET" && path == "/v2/registries")
        .count();
    assert_eq!(gets, 2, "the 429 list was retried once");
}

#[test]
fn runpod_falls_back_to_graphql_and_reads_graphql_errors() {
    let p = Platforms::start(&["--no-patch"]);
    let config = p.config("retries = 0", "");
    let first = p.run(&config, &["--target", "runpod"]);
    assert_eq!(first.code, 0, "{}", first.all());
    let second = p.run(&config, &["--target", "runpod"]);
    assert_eq!(second.code, 0, "{}", second.all());
    assert!(second.stdout.contains("runpod"), "{}", second.stdout);
    let regs = p.runpod.state()["state"]["registries"]
        .as_object()
        .cloned()
        .expect("registries");
    assert_eq!(regs.len(), 1);
    let reg = regs.values().next().expect("one");
    assert_eq!(
        reg["via"], "graphql",
        "PATCH 404 → GraphQL updateRegistryAuth"
    );
    assert_eq!(reg["writes"], 2);
    assert!(
        p.runpod
            .calls()
            .iter()
            .any(|(m, path)| m == "POST" && path == "/graphql")
    );

    p.runpod.fault("gql_error", -1);
    // Only GraphQL is affected: make the REST list fall back too by asking for the update again.
    let third = p.run(&config, &["--target", "runpod", "--output", "json"]);
    assert_eq!(third.code, 1, "{}", third.all());
    let error = row(&parse_json(&third), "runpod")["error"]
        .as_str()
        .unwrap_or("")
        .to_string();
    assert!(
        error.contains("GraphQL error: Something went wrong"),
        "{error}"
    );
}

#[test]
fn pipecat_contract_errors_are_reported() {
    let p = Platforms::start(&[]);
    let config = p.config("", "");
    let first = p.run(&config, &["--target", "pipecat"]);
    assert_eq!(first.code, 0, "{}", first.all());
    // The region of an existing set cannot change.
    let moved = p.world.config(
        &std::fs::read_to_string(&config)
            .expect("read")
            .replace("region = \"us-west\"", "region = \"eu-central\""),
    );
    let run = p.run(&moved, &["--target", "pipecat"]);
    assert_eq!(run.code, 1, "{}", run.all());
    assert!(run.stdout.contains("cannot change"), "{}", run.stdout);
}

#[test]
fn echoed_secrets_are_redacted() {
    let p = Platforms::start(&[]);
    let config = p.config("retries = 0", "");
    let first = p.run(&config, &[]);
    assert_eq!(first.code, 0, "{}", first.all());
    for fake in [&p.pipecat, &p.runpod, &p.octopus] {
        // Let the reads through, echo on the write.
        fake.fault("none", 0);
    }
    p.pipecat.fault("echo", -1);
    p.runpod.fault("echo", -1);
    p.octopus.fault("echo", -1);
    let run = p.run(&config, &["--output", "json"]);
    assert_eq!(run.code, 1, "{}", run.all());
    assert!(
        run.stdout.contains("<redacted>"),
        "the echo was redacted, not dropped: {}",
        run.stdout
    );
    p.assert_clean(&run);
    let text = p.run(&config, &[]);
    p.assert_clean(&text);
}

#[test]
fn metrics_file_and_lock() {
    let p = Platforms::start(&[]);
    let config = p.config("", "");
    let metrics = p.world.path("ecr.prom");
    let metrics_arg = metrics.display().to_string();
    let run = p.run(&config, &["--metrics-file", &metrics_arg]);
    assert_eq!(run.code, 0, "{}", run.all());
    p.octopus.fault("auth", -1);
    let run = p.run(&config, &["--metrics-file", &metrics_arg]);
    assert_eq!(run.code, 1);
    let text = std::fs::read_to_string(&metrics).expect("metrics");
    assert!(
        text.contains("ecr_export_failures_total{target=\"octopus\",type=\"octopus\"} 1"),
        "{text}"
    );
    assert!(
        text.contains("ecr_export_failures_total{target=\"pipecat\",type=\"pipecat\"} 0"),
        "{text}"
    );
    assert!(
        text.contains("ecr_export_last_success_timestamp_seconds{target=\"octopus\""),
        "kept from the first run: {text}"
    );
    assert!(
        text.contains("ecr_export_token_expiry_timestamp_seconds{target=\"local\""),
        "{text}"
    );

    // An overlapping run exits at once.
    let lock_path = p.world.path("run.lock");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .expect("lock file");
    file.try_lock().expect("take the lock");
    let run = p.run(&config, &[]);
    assert_eq!(run.code, 1, "{}", run.all());
    assert!(
        run.stderr.contains("another export run holds the lock"),
        "{}",
        run.stderr
    );
    assert!(run.elapsed < Duration::from_secs(3));
    drop(file);
}

#[test]
fn print_formats() {
    let world = World::new();
    let env = world.run(&["--print", "env", "--region", "us-east-1"], &[]);
    assert_eq!(env.code, 0, "{}", env.all());
    assert!(env.stdout.contains("ECR_USERNAME='AWS'"), "{}", env.stdout);
    let docker = world.run(
        &[
            "--print",
            "dockerconfigjson",
            "--registry",
            "123456789012.dkr.ecr.us-east-1.amazonaws.com",
        ],
        &[],
    );
    assert_eq!(docker.code, 0, "{}", docker.all());
    let doc: serde_json::Value = serde_json::from_str(&docker.stdout).expect("json");
    assert_eq!(
        doc["auths"]["123456789012.dkr.ecr.us-east-1.amazonaws.com"]["username"],
        "AWS"
    );
    let k8s = world.run(
        &[
            "--print",
            "k8s-secret",
            "--region",
            "us-east-1",
            "--secret-name",
            "pull",
        ],
        &[],
    );
    assert_eq!(k8s.code, 0, "{}", k8s.all());
    assert!(
        k8s.stdout.contains("type: kubernetes.io/dockerconfigjson")
            && k8s.stdout.contains("name: pull"),
        "{}",
        k8s.stdout
    );
    // The own-registry key (region only) and the explicit registry are two cache keys.
    assert_eq!(
        ecr_calls(&world.moto),
        2,
        "the cache serves the third print"
    );
    let none = world.run(&["--print", "env"], &[]);
    assert_eq!(none.code, 2, "{}", none.all());
}
