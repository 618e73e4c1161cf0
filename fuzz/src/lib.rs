//! What several fuzz targets share: a scratch directory, a scripted loopback HTTP server that
//! answers with whatever the fuzzer chose, the test secrets, and the script format.
//!
//! Every target asserts properties, not only "no panic": round trips, secrets absent from every
//! message, and agreement with an oracle (the upstream host pattern, aws-config's own loader).
//! Nothing here talks to anything but 127.0.0.1.

use std::collections::VecDeque;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

/// The platform API key the export targets are configured with (through `{ env = … }`).
pub const API_KEY: &str = "fuzz-api-key-7Qw3rTy9Ui";
/// The registry password inside the ECR token the targets push.
pub const PASSWORD: &str = "fuzz-registry-password-Zx8Cv7Bn";
/// The AWS secret access key of the ECR target.
pub const AWS_SECRET: &str = "fuzzSecretAccessKey0123456789abcdefghij";
/// The AWS access key id of the ECR target: sent in every signed request, never shown.
pub const AWS_KEY_ID: &str = "AKIAFUZZEXAMPLE7QW3R";
/// Markers a script may use where a server echoes a key or the token back.
const PLACEHOLDERS: [(&str, fn() -> String); 4] = [
    ("@KEY@", || API_KEY.to_string()),
    ("@PASS@", || PASSWORD.to_string()),
    ("@AUTH@", auth),
    ("@KEYID@", || AWS_KEY_ID.to_string()),
];

/// `base64("AWS:" + PASSWORD)`, the ECR `authorizationToken`.
pub fn auth() -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(format!("AWS:{PASSWORD}"))
}

/// Every secret a message must never contain, in clear or in the forms a server may echo.
pub fn secrets() -> Vec<String> {
    vec![
        API_KEY.to_string(),
        PASSWORD.to_string(),
        auth(),
        AWS_SECRET.to_string(),
        AWS_KEY_ID.to_string(),
    ]
}

/// Panics (a fuzz finding) when `text` holds any secret.
pub fn assert_no_secret(what: &str, text: &str) {
    for secret in secrets() {
        assert!(
            !text.contains(&secret),
            "{what} holds a secret ({} chars): {text}",
            secret.len()
        );
    }
}

/// A directory of this process for files a target writes; created once, emptied by callers.
pub fn scratch_dir(name: &str) -> PathBuf {
    static ROOT: OnceLock<PathBuf> = OnceLock::new();
    let root = ROOT.get_or_init(|| {
        let root = std::env::temp_dir().join(format!("ecr-login-fuzz-{}", std::process::id()));
        std::fs::create_dir_all(&root).expect("scratch directory");
        root
    });
    let dir = root.join(name);
    std::fs::create_dir_all(&dir).expect("scratch subdirectory");
    dir
}

/// Removes everything inside `dir` (not `dir` itself).
pub fn empty_dir(dir: &Path) {
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() && !path.is_symlink() {
                let _ = std::fs::remove_dir_all(&path);
            } else {
                let _ = std::fs::remove_file(&path);
            }
        }
    }
}

/// How one scripted answer is delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// Status, headers, `Content-Length`, body.
    Whole,
    /// The head promises the whole body, half of it is sent, then the connection closes.
    Truncated,
    /// The connection is closed without an answer.
    Reset,
}

#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub delivery: Delivery,
}

/// Parses a script: answers separated by lines `---`. Each answer is a head line
/// `STATUS [truncate|reset] [Header: value]...` (headers separated by ` | `), then the body.
/// `@KEY@`, `@PASS@` and `@AUTH@` in a body become the secrets, so the fuzzer can make a server
/// echo them. Bytes that are not UTF-8 are kept as they are.
pub fn parse_script(text: &[u8]) -> Vec<Answer> {
    let text = String::from_utf8_lossy(text);
    text.split("\n---\n")
        .map(|part| {
            let (head, body) = part.split_once('\n').unwrap_or((part, ""));
            let mut fields = head.split(" | ");
            let first = fields.next().unwrap_or("");
            let mut words = first.split_whitespace();
            let status = words
                .next()
                .and_then(|s| s.parse::<u16>().ok())
                .filter(|s| (100..=999).contains(s))
                .unwrap_or(200);
            let delivery = match words.next() {
                Some("truncate") => Delivery::Truncated,
                Some("reset") => Delivery::Reset,
                _ => Delivery::Whole,
            };
            let headers = fields
                .filter_map(|h| h.split_once(':'))
                .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
                .filter(|(k, v)| valid_header(k, v))
                .collect();
            let mut body = body.to_string();
            for (marker, value) in PLACEHOLDERS {
                body = body.replace(marker, &value());
            }
            Answer {
                status,
                headers,
                body: body.into_bytes(),
                delivery,
            }
        })
        .collect()
}

/// Header names and values the server can send without breaking HTTP framing itself (framing is
/// the server's job here; `Delivery` covers broken framing on purpose).
fn valid_header(name: &str, value: &str) -> bool {
    let framing = ["content-length", "transfer-encoding", "connection"];
    !name.is_empty()
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        && value.bytes().all(|b| (0x20..0x7f).contains(&b))
        && !framing.contains(&name.to_ascii_lowercase().as_str())
}

/// A loopback HTTP/1.1 server answering each request with the next scripted answer (404 `{}`
/// once the script is used up). One connection at a time, `Connection: close` on every answer.
pub struct ScriptServer {
    pub port: u16,
    script: &'static Mutex<VecDeque<Answer>>,
    requests: &'static Mutex<Vec<String>>,
}

impl ScriptServer {
    /// The process's server, started on first use.
    pub fn get() -> &'static ScriptServer {
        static SERVER: OnceLock<ScriptServer> = OnceLock::new();
        SERVER.get_or_init(|| {
            let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
            let port = listener.local_addr().expect("local addr").port();
            let script: &'static Mutex<VecDeque<Answer>> =
                Box::leak(Box::new(Mutex::new(VecDeque::new())));
            let requests: &'static Mutex<Vec<String>> = Box::leak(Box::new(Mutex::new(Vec::new())));
            std::thread::spawn(move || {
                for stream in listener.incoming().flatten() {
                    serve(stream, script, requests);
                }
            });
            ScriptServer {
                port,
                script,
                requests,
            }
        })
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Replaces the script and forgets earlier requests.
    pub fn load(&self, answers: Vec<Answer>) {
        *self.script.lock().expect("script lock") = answers.into();
        self.requests.lock().expect("requests lock").clear();
    }

    /// The request lines (`METHOD PATH`) seen since the last `load`.
    pub fn requests(&self) -> Vec<String> {
        self.requests.lock().expect("requests lock").clone()
    }
}

fn serve(mut stream: TcpStream, script: &Mutex<VecDeque<Answer>>, requests: &Mutex<Vec<String>>) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let Some(line) = read_request(&mut stream) else {
        return;
    };
    requests.lock().expect("requests lock").push(line);
    let answer = script.lock().expect("script lock").pop_front();
    let answer = answer.unwrap_or(Answer {
        status: 404,
        headers: Vec::new(),
        body: b"{}".to_vec(),
        delivery: Delivery::Whole,
    });
    if answer.delivery == Delivery::Reset {
        reset(&stream);
        return;
    }
    let mut head = format!(
        "HTTP/1.1 {} X\r\nContent-Length: {}\r\nConnection: close\r\n",
        answer.status,
        answer.body.len()
    );
    for (k, v) in &answer.headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    let body = match answer.delivery {
        Delivery::Truncated => &answer.body[..answer.body.len() / 2],
        _ => &answer.body[..],
    };
    let _ = stream.write_all(head.as_bytes());
    let _ = stream.write_all(body);
    let _ = stream.flush();
}

/// Closes with RST instead of FIN (`SO_LINGER` 0): a connection reset by peer.
fn reset(stream: &TcpStream) {
    use std::os::fd::AsRawFd as _;
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: a valid socket descriptor and a correctly sized `linger` value.
    unsafe {
        libc::setsockopt(
            stream.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            (&raw const linger).cast(),
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        );
    }
}

/// Reads one request (head and `Content-Length` body); returns `METHOD PATH`.
fn read_request(stream: &mut TcpStream) -> Option<String> {
    let mut data = Vec::new();
    let mut buf = [0u8; 8192];
    let head_end = loop {
        let n = stream.read(&mut buf).ok()?;
        if n == 0 {
            return None;
        }
        data.extend_from_slice(&buf[..n]);
        if let Some(i) = data.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        if data.len() > 1 << 20 {
            return None;
        }
    };
    let head = String::from_utf8_lossy(&data[..head_end]).into_owned();
    let length: usize = head
        .lines()
        .filter_map(|l| l.split_once(':'))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.trim().parse().ok())
        .unwrap_or(0);
    while data.len() < head_end + length {
        let n = stream.read(&mut buf).ok()?;
        if n == 0 {
            break;
        }
        data.extend_from_slice(&buf[..n]);
    }
    let line = head.lines().next().unwrap_or("");
    Some(line.rsplit_once(' ').map_or(line, |(l, _)| l).to_string())
}

/// Sets a process environment variable; only called while the process is single-threaded
/// (first thing in a target's init, before any thread is started).
pub fn set_env(key: &str, value: &str) {
    // SAFETY: called before this process starts any thread (see above).
    unsafe { std::env::set_var(key, value) };
}
