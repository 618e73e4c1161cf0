//! Running the backing helper (`fallback_helper` in the helper config) for hosts this helper
//! does not answer, so `credsStore: ecr-login` works for every registry: `docker login` to
//! Docker Hub stores through `docker-credential-pass`, pulls from ECR get fresh tokens.
//!
//! The backing helper gets the same stdin; its stdout, stderr and exit code come back byte for
//! byte. It is bounded in time (a helper waiting on a locked keyring must not hang `docker
//! pull` forever) and in output, and it never delegates again: a fallback that is this binary
//! under another name would otherwise call itself without end.

use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Set in the backing helper's environment; a helper started with it never delegates.
pub const DELEGATED_ENV: &str = "AWS_ECR_DELEGATED";
/// Most output kept from a backing helper's stdout or stderr.
const MAX_OUTPUT: u64 = 16 * 1024 * 1024;

/// What the backing helper printed and how it exited.
#[derive(Debug, PartialEq, Eq)]
pub struct Delegated {
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    pub code: i32,
}

#[derive(Debug)]
pub enum DelegateError {
    /// `docker-credential-<name>` is not on PATH.
    NotFound {
        program: String,
    },
    Spawn {
        program: String,
        error: std::io::Error,
    },
    TimedOut {
        program: String,
        after: Duration,
    },
    /// Killed by a signal (no exit code to relay).
    Signalled {
        program: String,
    },
    /// This process was itself started by a delegating helper.
    Loop {
        program: String,
    },
}

impl std::fmt::Display for DelegateError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DelegateError::NotFound { program } => write!(
                f,
                "fallback_helper: {program} is not on PATH; install it, or change or remove \
                 fallback_helper in the helper config"
            ),
            DelegateError::Spawn { program, error } => {
                write!(f, "fallback_helper: cannot run {program}: {error}")
            }
            DelegateError::TimedOut { program, after } => write!(
                f,
                "fallback_helper: {program} did not answer within {} s and was stopped \
                 (AWS_ECR_DELEGATE_TIMEOUT sets the bound)",
                after.as_secs_f64()
            ),
            DelegateError::Signalled { program } => {
                write!(f, "fallback_helper: {program} was killed by a signal")
            }
            DelegateError::Loop { program } => write!(
                f,
                "fallback_helper: not running {program}: this helper was itself started as a \
                 fallback helper (is fallback_helper this binary under another name?)"
            ),
        }
    }
}

impl std::error::Error for DelegateError {}

/// The program a helper name stands for.
pub fn program(helper: &str) -> String {
    format!("docker-credential-{helper}")
}

/// Runs `docker-credential-<helper> <action>` with `stdin`, bounded by `timeout`.
pub fn run(
    helper: &str,
    action: &str,
    stdin: &[u8],
    timeout: Duration,
) -> Result<Delegated, DelegateError> {
    let program = program(helper);
    if std::env::var_os(DELEGATED_ENV).is_some() {
        return Err(DelegateError::Loop { program });
    }
    run_program(program, action, stdin, timeout)
}

/// [`run`] for a program name (found on PATH) or path.
fn run_program(
    program: String,
    action: &str,
    stdin: &[u8],
    timeout: Duration,
) -> Result<Delegated, DelegateError> {
    let deadline = Instant::now() + timeout;
    let mut child = Command::new(&program)
        .arg(action)
        .env(DELEGATED_ENV, "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|error| match error.kind() {
            std::io::ErrorKind::NotFound => DelegateError::NotFound {
                program: program.clone(),
            },
            _ => DelegateError::Spawn {
                program: program.clone(),
                error,
            },
        })?;

    // Feed stdin and drain both pipes on their own threads: a helper that writes before it
    // has read everything must not deadlock against us.
    if let Some(mut pipe) = child.stdin.take() {
        let input = stdin.to_vec();
        std::thread::spawn(move || {
            // A helper that exits without reading its input closes the pipe: not our error.
            let _ = pipe.write_all(&input);
        });
    }
    let stdout = child.stdout.take().map(drain);
    let stderr = child.stderr.take().map(drain);

    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() >= deadline => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(DelegateError::TimedOut {
                    program,
                    after: timeout,
                });
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(1)),
            Err(error) => return Err(DelegateError::Spawn { program, error }),
        }
    };
    // The pipes close when the helper exits, unless it left a child holding them open (an
    // agent it started): then take what arrived by the deadline.
    let collect = |pipe: Option<mpsc::Receiver<Vec<u8>>>| {
        pipe.and_then(|rx| {
            rx.recv_timeout(deadline.saturating_duration_since(Instant::now()))
                .ok()
        })
        .unwrap_or_default()
    };
    let stdout = collect(stdout);
    let stderr = collect(stderr);
    match status.code() {
        Some(code) => Ok(Delegated {
            stdout,
            stderr,
            code,
        }),
        None => Err(DelegateError::Signalled { program }),
    }
}

/// Reads a pipe to its end (keeping at most [`MAX_OUTPUT`]) on a thread.
fn drain(pipe: impl Read + Send + 'static) -> mpsc::Receiver<Vec<u8>> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let mut limited = pipe.take(MAX_OUTPUT);
        let _ = limited.read_to_end(&mut bytes);
        // Keep reading (and dropping) past the limit so the helper is not blocked on a full pipe.
        let _ = std::io::copy(&mut limited.into_inner(), &mut std::io::sink());
        let _ = tx.send(bytes);
    });
    rx
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    /// A helper script in a temporary directory; returns its path.
    fn script(dir: &std::path::Path, name: &str, body: &str) -> String {
        let path = dir.join(program(name));
        std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).expect("write script");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        path.display().to_string()
    }

    #[test]
    fn relays_bytes_and_exit_codes_and_bounds_time() {
        let dir = tempfile::tempdir().expect("tempdir");
        let echoer = script(
            dir.path(),
            "echoer",
            "printf 'out:%s:' \"$1\"; cat; printf 'err\\000bytes' >&2; exit 3",
        );
        let sleeper = script(dir.path(), "sleeper", "exec sleep 30");

        let out =
            run_program(echoer, "get", b"\x00\xffhost", Duration::from_secs(10)).expect("ran");
        assert_eq!(out.stdout, b"out:get:\x00\xffhost".to_vec());
        assert_eq!(out.stderr, b"err\x00bytes".to_vec());
        assert_eq!(out.code, 3);

        let started = Instant::now();
        let slow = run_program(sleeper, "get", b"", Duration::from_millis(300));
        assert!(
            matches!(slow, Err(DelegateError::TimedOut { .. })),
            "{slow:?}"
        );
        assert!(started.elapsed() < Duration::from_secs(5));

        let missing = run("no-such-helper-xyz", "get", b"", Duration::from_secs(1));
        match missing {
            Err(e @ DelegateError::NotFound { .. }) => assert!(
                e.to_string()
                    .contains("docker-credential-no-such-helper-xyz is not on PATH")
            ),
            other => panic!("{other:?}"),
        }
    }
}
