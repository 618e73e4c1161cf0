//! Shared by the `export_*` integration tests: the fake platforms (killed by a Drop guard) and
//! their control endpoints, and a clean-env runner for `export`. moto, the binary's path and
//! the raw HTTP client come from the helper tests' `tests/support`.
#![allow(dead_code)]

#[path = "../support/mod.rs"]
mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
pub use support::{BIN, PythonServer};

/// moto as ECR/STS (tests/support/moto_launcher.py), with the token lifetime it hands out.
pub struct Moto {
    server: PythonServer,
}

impl Moto {
    pub fn start(token_lifetime: Duration) -> Moto {
        let secs = token_lifetime.as_secs().to_string();
        Moto {
            server: PythonServer::start(
                &repo().join("tests/support/moto_launcher.py"),
                &["--expiry-seconds", &secs],
            ),
        }
    }

    pub fn url(&self) -> String {
        self.server.url()
    }

    /// Fault mode for token and STS calls (see moto_launcher.py): none, error500, ...
    pub fn fault(&self, mode: &str) {
        support::http(
            self.server.port,
            "POST",
            &format!("/_test/fault?mode={mode}"),
        );
    }

    /// Calls of one API seen so far, e.g. `ecr:GetAuthorizationToken`.
    pub fn count(&self, api: &str) -> u64 {
        serde_json::from_str::<serde_json::Value>(&support::http(
            self.server.port,
            "GET",
            "/_test/calls",
        ))
        .ok()
        .and_then(|v| v[api].as_u64())
        .unwrap_or(0)
    }
}

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

/// One raw HTTP/1.0 request with extra headers and a body; returns the status code and the
/// body as JSON (Null if it is not JSON). For checking a fake's wire shapes directly.
pub fn request(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, serde_json::Value) {
    use std::io::{Read as _, Write as _};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let mut head = format!(
        "{method} {path} HTTP/1.0\r\nHost: 127.0.0.1\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).expect("write");
    stream.write_all(body.as_bytes()).expect("write body");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("read");
    let code = response
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b)
        .unwrap_or("");
    (
        code,
        serde_json::from_str(body).unwrap_or(serde_json::Value::Null),
    )
}

pub fn ecr_calls(moto: &Moto) -> u64 {
    moto.count("ecr:GetAuthorizationToken")
}

/// A test world: moto + a home directory + a cache directory.
pub struct World {
    pub moto: Moto,
    pub dir: tempfile::TempDir,
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
        World {
            moto: Moto::start(lifetime),
            dir: tempfile::tempdir().expect("tempdir"),
        }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Writes `text` as the config (mode 0600) and returns its path.
    pub fn config(&self, text: &str) -> PathBuf {
        let path = self.path("export.toml");
        write_private(&path, text);
        path
    }

    pub fn command(&self) -> Command {
        let mut cmd = Command::new(BIN);
        let home = self.path("home");
        std::fs::create_dir_all(&home).expect("home");
        let endpoint = self.moto.url();
        cmd.env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", &home)
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("AWS_ENDPOINT_URL_ECR", &endpoint)
            .env("AWS_ENDPOINT_URL_STS", &endpoint)
            .env("AWS_ECR_CACHE_DIR", self.path("cache"))
            .env("AWS_ECR_LOG_LEVEL", "debug")
            .stdin(Stdio::null());
        cmd
    }

    pub fn run(&self, args: &[&str], envs: &[(&str, &str)]) -> Run {
        let mut cmd = self.command();
        cmd.arg("export").args(args);
        for (k, v) in envs {
            cmd.env(k, v);
        }
        let started = Instant::now();
        let out = cmd.output().expect("run the binary");
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            elapsed: started.elapsed(),
        }
    }

    /// Every byte the helper wrote: its stdout/stderr are passed in; the log directory is read.
    pub fn logs(&self) -> String {
        let mut all = String::new();
        if let Ok(entries) = std::fs::read_dir(self.path("cache").join("log")) {
            for e in entries.flatten() {
                all.push_str(&std::fs::read_to_string(e.path()).unwrap_or_default());
            }
        }
        all
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
