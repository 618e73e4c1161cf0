//! Test world for the integration tests: moto (the AWS API emulator, through
//! `tests/support/moto_launcher.py`) on a loopback port, and the helper binary run as a real
//! process with a clean environment. Every process started here is killed on drop.
#![allow(dead_code)] // each test file uses a different part of this module

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_docker-credential-ecr-login");
pub const ACCOUNT: &str = "123456789012";
pub const HOST: &str = "123456789012.dkr.ecr.us-east-1.amazonaws.com";
/// Every private host form of the upstream table, with its account.
pub const PRIVATE_HOSTS: [(&str, &str); 14] = [
    ("123456789012.dkr.ecr.us-west-2.amazonaws.com", ACCOUNT),
    (
        "123456789012.dkr.ecr-fips.us-gov-west-1.amazonaws.com",
        ACCOUNT,
    ),
    ("123456789012.dkr-ecr.us-west-2.on.aws", ACCOUNT),
    ("123456789012.dkr-ecr-fips.us-west-2.on.aws", ACCOUNT),
    ("123456789012.dkr-ecr.us-gov-east-1.on.aws", ACCOUNT),
    ("123456789012.dkr-ecr-fips.us-gov-east-1.on.aws", ACCOUNT),
    (
        "210987654321.dkr.ecr.cn-north-1.amazonaws.com.cn",
        "210987654321",
    ),
    (
        "210987654321.dkr.ecr.cn-north-1.on.amazonwebservices.com.cn",
        "210987654321",
    ),
    ("123456789012.dkr.ecr.eusc-de-east-1.amazonaws.eu", ACCOUNT),
    ("123456789012.dkr.ecr.us-isob-east-1.sc2s.sgov.gov", ACCOUNT),
    (
        "210987654321.dkr.ecr.us-iso-east-1.c2s.ic.gov",
        "210987654321",
    ),
    (
        "123456789012.dkr.ecr.eu-isoe-west-1.cloud.adc-e.uk",
        ACCOUNT,
    ),
    (
        "123456789012.dkr.ecr.us-isof-east-1.csp.hci.ic.gov",
        ACCOUNT,
    ),
    (
        "https://123456789012.dkr.ecr.us-east-1.amazonaws.com",
        ACCOUNT,
    ),
];
pub const PUBLIC_HOSTS: [&str; 2] = ["public.ecr.aws", "ecr-public.aws.com"];

/// moto's deterministic password for an account's token.
pub fn password_for(account: &str) -> String {
    format!("{account}-auth-token")
}

/// A Python server script started as `python3 SCRIPT --port 0 --port-file F EXTRA...`: it binds
/// a free loopback port and writes it to F. Killed (by pid) and reaped when dropped, also when a
/// test fails. Its stderr goes to a log file, shown if it exits before writing the port.
pub struct PythonServer {
    child: Child,
    pub port: u16,
    dir: tempfile::TempDir,
}

impl PythonServer {
    /// Starts the script and waits (up to 60 s) for its port file.
    pub fn start(script_path: &Path, extra_args: &[&str]) -> PythonServer {
        let dir = tempfile::tempdir().expect("tempdir");
        let port_file = dir.path().join("port");
        let log = std::fs::File::create(dir.path().join("server.log")).expect("server log");
        let child = Command::new("python3")
            .arg(script_path)
            .args(["--port", "0", "--port-file"])
            .arg(&port_file)
            .args(extra_args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("spawn python3 {}: {e}", script_path.display()));
        let mut server = PythonServer {
            child,
            port: 0,
            dir,
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            // The script writes the file atomically (temp file + rename), so a partial read is
            // not possible; a parse failure only means "not yet".
            if let Ok(text) = std::fs::read_to_string(&port_file)
                && let Ok(port) = text.trim().parse()
            {
                server.port = port;
                return server;
            }
            if let Ok(Some(status)) = server.child.try_wait() {
                panic!(
                    "{} exited early: {status}\n{}",
                    script_path.display(),
                    server.log()
                );
            }
            assert!(
                Instant::now() < deadline,
                "{} did not start within 60 s\n{}",
                script_path.display(),
                server.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// What the server wrote to stderr so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
    }
}

impl Drop for PythonServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A running moto server; killed when dropped.
pub struct Moto {
    server: PythonServer,
    pub port: u16,
}

impl Moto {
    /// moto issuing 12-hour tokens, like the real service.
    pub fn start() -> Moto {
        Moto::with_token_lifetime(Duration::from_secs(12 * 3600))
    }

    pub fn with_token_lifetime(lifetime: Duration) -> Moto {
        let launcher = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/moto_launcher.py");
        let secs = lifetime.as_secs().to_string();
        let server = PythonServer::start(&launcher, &["--expiry-seconds", &secs]);
        Moto {
            port: server.port,
            server,
        }
    }

    pub fn url(&self) -> String {
        self.server.url()
    }

    /// Calls per API, e.g. `ecr:GetAuthorizationToken`.
    pub fn calls(&self) -> BTreeMap<String, u64> {
        serde_json::from_str(&http(self.port, "GET", "/_test/calls")).expect("calls json")
    }

    pub fn count(&self, api: &str) -> u64 {
        self.calls().get(api).copied().unwrap_or(0)
    }

    /// Every call since the last reset, in order: `api`, the signing `access_key`, the STS
    /// `params` (RoleArn, ExternalId, RoleSessionName, WebIdentityToken) and, for STS, the
    /// `issued_key`.
    pub fn requests(&self) -> Vec<MotoRequest> {
        serde_json::from_str(&http(self.port, "GET", "/_test/requests")).expect("requests json")
    }

    /// The access key ids that signed each ECR token call, in order.
    pub fn ecr_signers(&self) -> Vec<String> {
        self.requests()
            .into_iter()
            .filter(|r| r.api == "ecr:GetAuthorizationToken")
            .map(|r| r.access_key.unwrap_or_default())
            .collect()
    }

    /// Fault mode for token and STS calls: none, error500, hang, expired, denied, slow.
    pub fn fault(&self, mode: &str) {
        http(
            self.port,
            "POST",
            &format!("/_test/fault?mode={mode}&delay=0.7"),
        );
    }

    /// Like [`Moto::fault`], with the delay of `slow` in seconds.
    pub fn fault_with_delay(&self, mode: &str, delay: f64) {
        http(
            self.port,
            "POST",
            &format!("/_test/fault?mode={mode}&delay={delay}"),
        );
    }

    pub fn reset(&self) {
        http(self.port, "POST", "/_test/reset");
    }
}

/// One call moto saw (see `moto_launcher.py`, `/_test/requests`).
#[derive(Debug, Clone, serde::Deserialize)]
pub struct MotoRequest {
    pub api: String,
    pub access_key: Option<String>,
    pub params: BTreeMap<String, String>,
    /// For STS calls: the access key id moto issued.
    pub issued_key: Option<String>,
}

/// A minimal HTTP/1.0 request on loopback; returns the body.
pub fn http(port: u16, method: &str, path: &str) -> String {
    request(port, method, path, &[], "").1
}

/// The one raw HTTP/1.0 client of the tests: a request with extra headers and a body, on
/// loopback; returns the status code and the body.
pub fn request(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, String) {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
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
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (code, body)
}

/// A figure for the CI log: stderr, and `$FAULT_REPORT` when set (install/test.sh prints it).
pub fn report(line: &str) {
    eprintln!("{line}");
    if let Ok(path) = std::env::var("FAULT_REPORT") {
        use std::io::Write as _;
        if let Ok(mut f) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
        {
            let _ = writeln!(f, "{line}");
        }
    }
}

/// A TCP endpoint that accepts connections and never answers (a hung metadata service or API).
pub struct BlackHole {
    pub port: u16,
}

impl BlackHole {
    pub fn start() -> BlackHole {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        std::thread::spawn(move || {
            let mut held = Vec::new();
            for stream in listener.incoming().flatten() {
                held.push(stream); // keep it open, say nothing
            }
        });
        BlackHole { port }
    }
}

/// The one test world of the integration tests (helper and export): a private directory
/// holding HOME (`home/`), the cache and log (`cache/`) and any files a test writes, and a
/// clean environment for the binary. Removed when dropped.
pub struct World {
    pub dir: tempfile::TempDir,
    pub env: BTreeMap<String, String>,
}

impl World {
    /// Static test keys, moto as ECR/STS, no instance metadata.
    pub fn new(moto: &Moto) -> World {
        let mut world = World::bare();
        for (k, v) in [
            ("AWS_ACCESS_KEY_ID", "testing"),
            ("AWS_SECRET_ACCESS_KEY", "testing"),
            ("AWS_EC2_METADATA_DISABLED", "true"),
        ] {
            world.set(k, v);
        }
        world.set("AWS_ENDPOINT_URL_ECR", &moto.url());
        world.set("AWS_ENDPOINT_URL_ECR_PUBLIC", &moto.url());
        world.set("AWS_ENDPOINT_URL_STS", &moto.url());
        world
    }

    /// No credentials at all, only HOME and the cache directory.
    pub fn bare() -> World {
        let dir = tempfile::tempdir().expect("world dir");
        let home = dir.path().join("home");
        std::fs::create_dir(&home).expect("home");
        let mut env = BTreeMap::new();
        env.insert("HOME".to_string(), home.display().to_string());
        env.insert(
            "PATH".to_string(),
            std::env::var("PATH").unwrap_or_default(),
        );
        env.insert(
            "AWS_ECR_CACHE_DIR".to_string(),
            dir.path().join("cache").display().to_string(),
        );
        env.insert("AWS_ECR_LOG_LEVEL".to_string(), "debug".to_string());
        World { dir, env }
    }

    /// A path inside the world's directory.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn home(&self) -> PathBuf {
        self.path("home")
    }

    pub fn set(&mut self, key: &str, value: &str) -> &mut World {
        self.env.insert(key.to_string(), value.to_string());
        self
    }

    pub fn unset(&mut self, key: &str) -> &mut World {
        self.env.remove(key);
        self
    }

    pub fn cache_dir(&self) -> PathBuf {
        PathBuf::from(&self.env["AWS_ECR_CACHE_DIR"])
    }

    pub fn cache_file(&self) -> PathBuf {
        self.cache_dir().join("cache.json")
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(self.cache_dir().join("log/ecr-login.log")).unwrap_or_default()
    }

    /// Every log file (the current one and its rotation), concatenated.
    pub fn logs(&self) -> String {
        let mut all = String::new();
        if let Ok(entries) = std::fs::read_dir(self.cache_dir().join("log")) {
            for e in entries.flatten() {
                all.push_str(&std::fs::read_to_string(e.path()).unwrap_or_default());
            }
        }
        all
    }

    pub fn write_home_file(&self, relative: &str, text: &str) {
        let path = self.home().join(relative);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(path, text).expect("write");
    }

    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(BIN);
        cmd.args(args).env_clear().envs(&self.env);
        cmd
    }

    /// Runs the helper with `stdin` and waits for it.
    pub fn run(&self, args: &[&str], stdin: &[u8]) -> Output {
        run_with_stdin(self.command(args), stdin)
    }

    pub fn get(&self, host: &str) -> Output {
        self.run(&["get"], host.as_bytes())
    }

    /// Starts `count` `get`s for `host` at once and waits for all of them.
    pub fn concurrent_gets(&self, host: &str, count: usize) -> Vec<Output> {
        let children: Vec<_> = (0..count)
            .map(|_| {
                let mut child = self
                    .command(&["get"])
                    .stdin(Stdio::piped())
                    .stdout(Stdio::piped())
                    .stderr(Stdio::piped())
                    .spawn()
                    .expect("spawn helper");
                child
                    .stdin
                    .take()
                    .expect("stdin")
                    .write_all(host.as_bytes())
                    .expect("write");
                child
            })
            .collect();
        children
            .into_iter()
            .map(|c| c.wait_with_output().expect("wait helper"))
            .collect()
    }
}

/// Runs `command` with `stdin` piped in, and waits for it.
pub fn run_with_stdin(mut command: Command, stdin: &[u8]) -> Output {
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut input = child.stdin.take().expect("stdin");
    let data = stdin.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = input.write_all(&data); // the process may stop reading early
    });
    let output = child.wait_with_output().expect("wait");
    let _ = writer.join();
    output
}

pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Asserts a successful `get` reply with the given password.
pub fn assert_credentials(output: &Output, server_url: &str, password: &str) {
    assert_eq!(
        stdout(output),
        format!(
            "{{\"ServerURL\":\"{server_url}\",\"Username\":\"AWS\",\"Secret\":\"{password}\"}}\n"
        ),
        "stderr: {}",
        stderr(output)
    );
    assert_eq!(output.status.code(), Some(0));
}

/// Asserts the not-found sentinel (exit 1, exactly that line on stdout).
pub fn assert_not_found(output: &Output) {
    assert_eq!(
        stdout(output),
        "credentials not found in native keychain\n",
        "stderr: {}",
        stderr(output)
    );
    assert_eq!(output.status.code(), Some(1));
}

/// The cache key our static test keys (`testing`) map to — the Go helper's layout.
pub fn static_key(region: &str, account: &str) -> String {
    format!(
        "{region}-{}-{account}",
        ecr_login::identity::go_checksum("testing")
    )
}

/// Writes a cache entry requested `age` ago that expires `left` from now.
pub fn seed_cache(world: &World, key: &str, password: &str, age: Duration, left: i64) {
    std::fs::create_dir_all(world.cache_dir()).expect("mkdir");
    seed_file(&world.cache_file(), key, password, age, left);
}

/// [`seed_cache`] into a given file, written atomically (a reader never sees half of it).
pub fn seed_file(path: &std::path::Path, key: &str, password: &str, age: Duration, left: i64) {
    use base64::Engine as _;
    let now = time::OffsetDateTime::now_utc();
    let fmt = |t: time::OffsetDateTime| {
        t.format(&time::format_description::well_known::Rfc3339)
            .expect("fmt")
    };
    let token = base64::engine::general_purpose::STANDARD.encode(format!("AWS:{password}"));
    let file = serde_json::json!({
        "Registries": { key: {
            "AuthorizationToken": token,
            "RequestedAt": fmt(now - age),
            "ExpiresAt": fmt(now + Duration::from_secs(left.max(0) as u64) - Duration::from_secs((-left).max(0) as u64)),
            "ProxyEndpoint": format!("https://{HOST}"),
            "Service": "ecr"
        }},
        "Version": "1.0"
    });
    let tmp = path.with_extension("seed-tmp");
    std::fs::write(&tmp, serde_json::to_vec_pretty(&file).expect("json")).expect("write");
    std::fs::rename(&tmp, path).expect("rename");
}
