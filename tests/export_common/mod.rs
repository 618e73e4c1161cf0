//! Shared by the `export_*` integration tests: the fake platforms (killed by a Drop guard) and
//! their control endpoints, and a clean-env runner for `export`. moto, the binary's path and
//! the raw HTTP client come from the helper tests' `tests/support`.
#![allow(dead_code)]

#[path = "../support/mod.rs"]
mod support;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};
#[allow(unused_imports)] // `report` is for the fault tests only
pub use support::{Moto, PythonServer, report};

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A fake platform server (tests/fakes/*.py), killed when dropped, with its control endpoints.
pub struct Proc {
    server: PythonServer,
    pub port: u16,
}

impl Proc {
    /// Starts `python3 SCRIPT --port 0 --port-file F ARGS...` and waits for the port.
    pub fn python(script: &str, args: &[&str]) -> Proc {
        let server = PythonServer::start(&repo().join(script), args);
        Proc {
            port: server.port,
            server,
        }
    }

    pub fn url(&self) -> String {
        self.server.url()
    }

    /// `METHOD path` on the server, returns the JSON body.
    pub fn call(&self, method: &str, path: &str) -> serde_json::Value {
        serde_json::from_str(&support::http(self.port, method, path))
            .unwrap_or(serde_json::Value::Null)
    }

    pub fn state(&self) -> serde_json::Value {
        self.call("GET", "/_test/state")
    }

    pub fn fault(&self, mode: &str, count: i64) {
        self.call("POST", &format!("/_test/fault?mode={mode}&count={count}"));
    }

    /// A fault with the full convention (tests/fakes/fakebase.py), e.g.
    /// `mode=lost&method=POST&path=/v2/registries&count=1`.
    pub fn fault_on(&self, query: &str) {
        self.call("POST", &format!("/_test/fault?{query}"));
    }

    pub fn reset(&self) {
        self.call("POST", "/_test/reset");
    }

    /// Request bodies seen since the last reset, with their method and path.
    pub fn bodies(&self) -> Vec<(String, String, String)> {
        self.state()["calls"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|c| {
                        let s = |i: usize| c[i].as_str().unwrap_or("").to_string();
                        (s(0), s(1), s(2))
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Product calls seen since the last reset.
    pub fn calls(&self) -> Vec<(String, String)> {
        self.state()["calls"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|c| {
                        (
                            c[0].as_str().unwrap_or("").to_string(),
                            c[1].as_str().unwrap_or("").to_string(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// One raw request (the tests' single client, `support::request`); returns the status code
/// and the body as JSON (Null if it is not JSON). For checking a fake's wire shapes directly.
pub fn request(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, serde_json::Value) {
    let (code, body) = support::request(port, method, path, headers, body);
    (
        code,
        serde_json::from_str(&body).unwrap_or(serde_json::Value::Null),
    )
}

/// One AWS JSON 1.1 call to moto, to seed it (Secrets Manager, SSM): moto routes on the
/// signing scope's service, and checks no signature.
pub fn moto_call(moto: &Moto, service: &str, target: &str, body: serde_json::Value) {
    let auth = format!(
        "AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/{service}/aws4_request, \
         SignedHeaders=host, Signature=0"
    );
    let (code, answer) = request(
        moto.port,
        "POST",
        "/",
        &[
            ("X-Amz-Target", target),
            ("Content-Type", "application/x-amz-json-1.1"),
            ("Authorization", &auth),
        ],
        &body.to_string(),
    );
    assert_eq!(code, 200, "{target}: {answer}");
}

/// Config text: the one `[[source]]` ("prod", us-east-1) and a Pipecat target ("pipecat") at
/// `base_url` with `api_key` (a secret reference, as TOML).
pub fn source_and_pipecat(base_url: &str, api_key: &str) -> String {
    format!(
        r#"
[[source]]
name = "prod"
region = "us-east-1"

[[target]]
name = "pipecat"
type = "pipecat"
secret_set = "my-ecr-credentials"
region = "us-west"
api_key = {api_key}
base_url = "{base_url}"
"#
    )
}

/// Config text: a docker-config target ("local") writing `path`.
pub fn docker_target(path: &Path) -> String {
    format!(
        "\n[[target]]\nname = \"local\"\ntype = \"docker-config\"\npath = \"{}\"\n",
        path.display()
    )
}

pub fn ecr_calls(moto: &Moto) -> u64 {
    moto.count("ecr:GetAuthorizationToken")
}

/// The shared test world (`support::World`: directory, HOME, cache, clean environment with
/// static keys and moto as ECR/STS), owning its moto.
pub struct World {
    pub moto: Moto,
    world: support::World,
}

impl std::ops::Deref for World {
    type Target = support::World;
    fn deref(&self) -> &support::World {
        &self.world
    }
}

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    pub elapsed: Duration,
}

impl Run {
    pub fn all(&self) -> String {
        format!("{}\n{}", self.stdout, self.stderr)
    }
}

impl World {
    /// moto issuing 12-hour tokens, like the real service.
    pub fn new() -> World {
        World::with_token_lifetime(Duration::from_secs(12 * 3600))
    }

    pub fn with_token_lifetime(lifetime: Duration) -> World {
        let moto = Moto::with_token_lifetime(lifetime);
        let world = support::World::new(&moto);
        World { moto, world }
    }

    /// Writes `text` as the config (mode 0600) and returns its path.
    pub fn config(&self, text: &str) -> PathBuf {
        let path = self.path("export.toml");
        write_private(&path, text);
        path
    }

    /// `docker-credential-ecr-login export ARGS` with extra environment, stdin closed.
    pub fn run(&self, args: &[&str], envs: &[(&str, &str)]) -> Run {
        let mut cmd = self.world.command(&["export"]);
        cmd.args(args)
            .envs(envs.iter().copied())
            .stdin(Stdio::null());
        let started = Instant::now();
        let out = cmd.output().expect("run the binary");
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            elapsed: started.elapsed(),
        }
    }
}

pub fn write_private(path: &Path, text: &str) {
    std::fs::write(path, text).expect("write");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    }
}

/// Asserts that none of `secrets` (nor the password inside a token, nor a 24-character piece
/// of either, as a server that truncates its echo would leave) appears in `text`.
pub fn assert_no_secret(text: &str, secrets: &[&str]) {
    use base64::Engine as _;
    for s in secrets.iter().filter(|s| !s.is_empty()) {
        assert!(
            !text.contains(s),
            "a secret leaked into the output:\n{text}"
        );
        for piece in s.as_bytes().windows(24).step_by(8) {
            let piece = String::from_utf8_lossy(piece);
            assert!(
                !text.contains(piece.as_ref()),
                "a piece of a secret leaked into the output: {piece}\n{text}"
            );
        }
        if let Ok(decoded) = base64::engine::general_purpose::STANDARD.decode(s)
            && let Some((_, pw)) = String::from_utf8_lossy(&decoded).split_once(':')
        {
            assert!(
                pw.len() < 8 || !text.contains(pw),
                "a password leaked into the output:\n{text}"
            );
        }
    }
}
