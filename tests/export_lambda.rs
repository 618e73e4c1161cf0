//! `export` as an AWS Lambda custom runtime: the real binary, linked as `bootstrap` in a temp
//! dir, against a Runtime API written here (the small documented HTTP API: queued invocations
//! on `/next`, recorded `/response`, `/error` and `/init/error` bodies), moto for ECR and the
//! fakes (or a Docker config file) as targets.

mod export_common;

use export_common::*;
use std::collections::VecDeque;
use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const PIPECAT_KEY: &str = "pk_test_pipecat_lambda_key";

/// One POST the runtime made.
#[derive(Debug, Clone)]
struct Post {
    path: String,
    error_type: Option<String>,
    body: String,
    at: Instant,
}

#[derive(Default)]
struct State {
    /// (request id, deadline in epoch ms) of the invocations still to hand out.
    queue: VecDeque<(String, u64)>,
    /// When each `next` was answered.
    nexts: Vec<Instant>,
    posts: Vec<Post>,
}

/// The Lambda Runtime API (2018-06-01) on a loopback port. When the queue is empty, `next`
/// closes the connection without an answer: the runtime then exits, which ends the test's
/// "environment".
struct RuntimeApi {
    port: u16,
    state: Arc<Mutex<State>>,
}

impl RuntimeApi {
    fn start(invocations: &[(&str, Duration)]) -> RuntimeApi {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let now_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("clock")
            .as_millis() as u64;
        let state = Arc::new(Mutex::new(State {
            queue: invocations
                .iter()
                .map(|(id, budget)| (id.to_string(), now_ms + budget.as_millis() as u64))
                .collect(),
            ..State::default()
        }));
        let shared = state.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let state = shared.clone();
                std::thread::spawn(move || serve(stream, &state));
            }
        });
        RuntimeApi { port, state }
    }

    fn posts(&self) -> Vec<Post> {
        self.state.lock().expect("state").posts.clone()
    }

    fn nexts(&self) -> Vec<Instant> {
        self.state.lock().expect("state").nexts.clone()
    }
}

fn serve(mut stream: TcpStream, state: &Mutex<State>) {
    let mut reader = BufReader::new(stream.try_clone().expect("clone"));
    let mut line = String::new();
    if reader.read_line(&mut line).is_err() {
        return;
    }
    let mut parts = line.split_whitespace();
    let (method, path) = (
        parts.next().unwrap_or("").to_string(),
        parts.next().unwrap_or("").to_string(),
    );
    let (mut length, mut error_type) = (0usize, None);
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header).is_err() || header.trim().is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':') {
            match name.trim().to_ascii_lowercase().as_str() {
                "content-length" => length = value.trim().parse().unwrap_or(0),
                "lambda-runtime-function-error-type" => error_type = Some(value.trim().to_string()),
                _ => {}
            }
        }
    }
    let mut body = vec![0; length];
    let _ = reader.read_exact(&mut body);
    let reply = |stream: &mut TcpStream, status: &str, headers: &str, body: &str| {
        let _ = write!(
            stream,
            "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\
             Connection: close\r\n{headers}\r\n{body}",
            body.len()
        );
    };
    if method == "GET" && path == "/2018-06-01/runtime/invocation/next" {
        let next = {
            let mut s = state.lock().expect("state");
            let next = s.queue.pop_front();
            if next.is_some() {
                s.nexts.push(Instant::now());
            }
            next
        };
        if let Some((id, deadline)) = next {
            let headers = format!(
                "Lambda-Runtime-Aws-Request-Id: {id}\r\nLambda-Runtime-Deadline-Ms: {deadline}\r\n\
                 Lambda-Runtime-Invoked-Function-Arn: arn:aws:lambda:us-east-1:123456789012:function:ecr-export\r\n\
                 Lambda-Runtime-Trace-Id: Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=1\r\n"
            );
            reply(
                &mut stream,
                "200 OK",
                &headers,
                r#"{"source":"aws.events","detail-type":"Scheduled Event"}"#,
            );
        }
        return;
    }
    if method == "POST" && path.starts_with("/2018-06-01/runtime/") {
        state.lock().expect("state").posts.push(Post {
            path: path.trim_start_matches("/2018-06-01/runtime/").to_string(),
            error_type,
            body: String::from_utf8_lossy(&body).into_owned(),
            at: Instant::now(),
        });
        reply(&mut stream, "202 Accepted", "", r#"{"status":"OK"}"#);
        return;
    }
    reply(
        &mut stream,
        "404 Not Found",
        "",
        r#"{"message":"unknown path"}"#,
    );
}

/// The binary as `bootstrap` in the world's directory (a symlink: Lambda runs the file by that
/// name), started with the world's environment, the Runtime API and the config.
struct Bootstrap {
    child: Child,
    started: Instant,
}

impl Bootstrap {
    fn start(
        world: &World,
        api: &RuntimeApi,
        config: &std::path::Path,
        envs: &[(&str, &str)],
    ) -> Bootstrap {
        let dir = world.path("task");
        std::fs::create_dir_all(&dir).expect("task dir");
        let bootstrap = dir.join("bootstrap");
        if !bootstrap.exists() {
            std::os::unix::fs::symlink(support_bin(), &bootstrap).expect("symlink bootstrap");
        }
        let mut cmd = Command::new(&bootstrap);
        cmd.env_clear()
            .envs(&world.env)
            .env("AWS_LAMBDA_RUNTIME_API", format!("127.0.0.1:{}", api.port))
            .env("ECR_LOGIN_EXPORT_CONFIG", config)
            .env("AWS_LAMBDA_FUNCTION_NAME", "ecr-export")
            .envs(envs.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let started = Instant::now();
        let child = cmd.spawn().expect("spawn bootstrap");
        Bootstrap { child, started }
    }

    /// Waits (up to 60 s) for the runtime to exit; its exit code and stderr.
    fn wait(mut self) -> (i32, String, Instant) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                let mut stderr = String::new();
                if let Some(mut e) = self.child.stderr.take() {
                    let _ = e.read_to_string(&mut stderr);
                }
                return (status.code().unwrap_or(-1), stderr, self.started);
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("bootstrap did not exit within 60 s");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

fn support_bin() -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_BIN_EXE_docker-credential-ecr-login"))
}

/// The source and one docker-config target.
fn docker_config(world: &World) -> std::path::PathBuf {
    world.config(&format!(
        "[[source]]\nname = \"prod\"\nregion = \"us-east-1\"\n{}",
        docker_target(&world.path("docker/config.json"))
    ))
}

fn summary(post: &Post) -> serde_json::Value {
    serde_json::from_str(&post.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", post.body))
}

#[test]
fn invocations_in_one_warm_process_reuse_the_cached_token() {
    let world = World::new();
    let config = docker_config(&world);
    let ids = ["8476a536-e9f4-11e8-9739-2dfe598c3fcd", "req-2", "req-3"];
    let api = RuntimeApi::start(&ids.map(|id| (id, Duration::from_secs(60))));
    let (code, stderr, started) = Bootstrap::start(&world, &api, &config, &[]).wait();
    // The queue ran dry: `next` failed and the runtime exited, after answering all three.
    assert_eq!(code, 1, "{stderr}");
    let posts = api.posts();
    let paths: Vec<&str> = posts.iter().map(|p| p.path.as_str()).collect();
    assert_eq!(
        paths,
        ids.map(|id| format!("invocation/{id}/response")),
        "{stderr}"
    );
    for post in &posts {
        let json = summary(post);
        assert_eq!(json["ok"], true, "{}", post.body);
        assert_eq!(json["targets"][0]["target"], "local");
        assert_eq!(json["targets"][0]["result"], "ok");
        assert!(post.error_type.is_none());
    }
    // One ECR call for the whole warm environment: the later invocations hit the cache.
    assert_eq!(ecr_calls(&world.moto), 1);
    let docker: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(world.path("docker/config.json")).expect("docker config written"),
    )
    .expect("docker config JSON");
    assert!(
        docker["auths"][support_host()]["auth"].is_string(),
        "{docker}"
    );

    let nexts = api.nexts();
    let init = nexts[0].duration_since(started);
    let warm: Vec<Duration> = (1..ids.len())
        .map(|i| posts[i].at.duration_since(nexts[i]))
        .collect();
    eprintln!("start -> first next: {init:?}; warm invocations (next -> response): {warm:?}");
    // Generous bounds for a debug build on a busy machine; the release figures are in
    // bench/lambda_bench.py.
    assert!(init < Duration::from_secs(2), "{init:?}");
    for w in warm {
        assert!(w < Duration::from_secs(2), "{w:?}");
    }
}

fn support_host() -> &'static str {
    "123456789012.dkr.ecr.us-east-1.amazonaws.com"
}

#[test]
fn a_failing_target_is_an_export_failed_error_without_secrets() {
    let world = World::new();
    let pipecat = Proc::python("tests/fakes/pipecat.py", &[]);
    pipecat.fault("auth", -1);
    let config = world.config(&format!(
        "{}{}",
        source_and_pipecat(&pipecat.url(), r#"{ env = "PIPECAT_API_KEY" }"#),
        docker_target(&world.path("docker/config.json"))
    ));
    let api = RuntimeApi::start(&[("req-fail", Duration::from_secs(60))]);
    let (_, stderr, _) =
        Bootstrap::start(&world, &api, &config, &[("PIPECAT_API_KEY", PIPECAT_KEY)]).wait();
    let posts = api.posts();
    assert_eq!(posts.len(), 1, "{stderr}");
    assert_eq!(posts[0].path, "invocation/req-fail/error");
    assert_eq!(posts[0].error_type.as_deref(), Some("ExportFailed"));
    let doc = summary(&posts[0]);
    assert_eq!(doc["errorType"], "ExportFailed");
    assert_eq!(doc["stackTrace"], serde_json::json!([]));
    // errorMessage is the `--output json` summary: the good target still ran.
    let message: serde_json::Value =
        serde_json::from_str(doc["errorMessage"].as_str().expect("errorMessage")).expect("summary");
    assert_eq!(message["ok"], false);
    let results: Vec<(&str, &str)> = message["targets"]
        .as_array()
        .expect("targets")
        .iter()
        .map(|t| {
            (
                t["target"].as_str().unwrap_or(""),
                t["result"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(results, [("pipecat", "failed"), ("local", "ok")]);
    let token = std::fs::read_to_string(world.path("docker/config.json")).expect("docker config");
    let token: serde_json::Value = serde_json::from_str(&token).expect("json");
    let auth = token["auths"][support_host()]["auth"]
        .as_str()
        .expect("auth")
        .to_string();
    assert_no_secret(
        &format!("{}\n{stderr}", posts[0].body),
        &[&auth, PIPECAT_KEY],
    );
}

#[test]
fn an_invalid_config_is_an_init_error_before_any_invocation() {
    let world = World::new();
    let config = world.config(&source_and_pipecat(
        "https://api.pipecat.daily.co",
        r#""pk_inline_secret_value""#,
    ));
    let api = RuntimeApi::start(&[("req-never", Duration::from_secs(60))]);
    let (code, stderr, _) = Bootstrap::start(&world, &api, &config, &[]).wait();
    assert_eq!(code, 2, "{stderr}");
    assert!(api.nexts().is_empty(), "no invocation was taken");
    let posts = api.posts();
    assert_eq!(posts.len(), 1, "{stderr}");
    assert_eq!(posts[0].path, "init/error");
    assert_eq!(posts[0].error_type.as_deref(), Some("InvalidConfig"));
    let doc = summary(&posts[0]);
    let message = doc["errorMessage"].as_str().expect("errorMessage");
    assert!(
        message.contains("inline secrets are not allowed"),
        "{message}"
    );
    assert!(!posts[0].body.contains("pk_inline_secret_value"));
    assert_eq!(ecr_calls(&world.moto), 0);
}

#[test]
fn a_run_past_the_invocation_deadline_is_reported_before_lambda_stops_it() {
    let world = World::new();
    let pipecat = Proc::python("tests/fakes/pipecat.py", &[]);
    pipecat.fault("hang", -1);
    let config = world.config(&source_and_pipecat(
        &pipecat.url(),
        r#"{ env = "PIPECAT_API_KEY" }"#,
    ));
    let api = RuntimeApi::start(&[("req-slow", Duration::from_millis(2500))]);
    let (code, stderr, _) =
        Bootstrap::start(&world, &api, &config, &[("PIPECAT_API_KEY", PIPECAT_KEY)]).wait();
    assert_eq!(code, 1, "{stderr}");
    let posts = api.posts();
    assert_eq!(posts.len(), 1, "{stderr}");
    assert_eq!(posts[0].path, "invocation/req-slow/error");
    assert_eq!(posts[0].error_type.as_deref(), Some("ExportTimedOut"));
    // Posted before the deadline (2.5 s from the queueing, 0.5 s kept back).
    let next = api.nexts()[0];
    assert!(posts[0].at.duration_since(next) < Duration::from_millis(2500));
    // Only one `next`: the process leaves rather than run two exports at once.
    assert_eq!(api.nexts().len(), 1);
}

#[test]
fn export_lambda_flag_runs_the_same_runtime() {
    let world = World::new();
    let config = docker_config(&world);
    let api = RuntimeApi::start(&[("req-flag", Duration::from_secs(60))]);
    let mut cmd = world.command(&["export", "--lambda"]);
    cmd.env("AWS_LAMBDA_RUNTIME_API", format!("127.0.0.1:{}", api.port))
        .env("ECR_LOGIN_EXPORT_CONFIG", &config)
        .stdin(Stdio::null());
    let out = cmd.output().expect("run");
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let posts = api.posts();
    assert_eq!(posts.len(), 1);
    assert_eq!(posts[0].path, "invocation/req-flag/response");
    assert_eq!(summary(&posts[0])["ok"], true);

    // Outside Lambda it says what is missing (exit 2).
    let out = world.run(&["--lambda"], &[]);
    assert_eq!(out.code, 2, "{}", out.all());
    assert!(
        out.stderr.contains("AWS_LAMBDA_RUNTIME_API"),
        "{}",
        out.all()
    );
}

#[test]
fn an_api_key_in_secrets_manager_is_read_at_init_and_again_for_each_later_invocation() {
    let world = World::new();
    moto_call(
        &world.moto,
        "secretsmanager",
        "secretsmanager.CreateSecret",
        serde_json::json!({ "Name": "ecr-export/pipecat", "SecretString": "pk_test_pipecat_key" }),
    );
    let pipecat = Proc::python("tests/fakes/pipecat.py", &[]);
    let config = world.config(&source_and_pipecat(
        &pipecat.url(),
        r#"{ secretsmanager = "ecr-export/pipecat" }"#,
    ));
    let api = RuntimeApi::start(&[
        ("req-a", Duration::from_secs(60)),
        ("req-b", Duration::from_secs(60)),
    ]);
    let moto = world.moto.url();
    let envs = [
        ("AWS_REGION", "us-east-1"),
        ("AWS_ENDPOINT_URL_SECRETS_MANAGER", moto.as_str()),
    ];
    let (_, stderr, _) = Bootstrap::start(&world, &api, &config, &envs).wait();
    let posts = api.posts();
    let paths: Vec<&str> = posts.iter().map(|p| p.path.as_str()).collect();
    assert_eq!(
        paths,
        ["invocation/req-a/response", "invocation/req-b/response"],
        "{stderr}\n{posts:?}"
    );
    // The fake accepts only its own key: it came from Secrets Manager.
    assert_eq!(
        pipecat.state()["state"]["sets"]["my-ecr-credentials"]["type"],
        "imagePullSecret"
    );
    // Init's read serves the first invocation; the second reads it again (rotation).
    assert_eq!(world.moto.count("secretsmanager.GetSecretValue"), 2);
    assert_eq!(ecr_calls(&world.moto), 1);
    let all: String = posts.iter().map(|p| p.body.clone()).collect();
    assert_no_secret(&format!("{all}\n{stderr}"), &["pk_test_pipecat_key"]);
}
