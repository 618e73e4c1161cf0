//! `export` as an AWS Lambda custom runtime (`provided.al2023`): the binary named `bootstrap`,
//! or `export --lambda`.
//!
//! It speaks the Lambda Runtime API (version 2018-06-01, plain HTTP at
//! `$AWS_LAMBDA_RUNTIME_API`): `GET invocation/next` → one export run → `POST
//! invocation/{id}/response` with the `--output json` summary, or `POST invocation/{id}/error`
//! (`ExportFailed`, the same summary, already redacted by the runner) when any target failed,
//! so Lambda's retries, destinations and the `Errors` metric see it. A config that does not
//! load at start is `POST init/error`. The process stays for as long as the environment is
//! warm, and the token cache in `/tmp` carries across invocations: one ECR call per 6 h, not
//! per invocation.
//!
//! Start-up is billed: nothing but the config is read before the first `next`.

use super::config::{self, Config};
use super::{EXIT_FAILED, EXIT_USAGE, report, runner};
use crate::settings::Settings;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The file name Lambda runs in an OS-only runtime.
pub const PROGRAM: &str = "bootstrap";
/// The config path variable, and its default (the deployment package's root).
pub const CONFIG_ENV: &str = "ECR_LOGIN_EXPORT_CONFIG";
pub const DEFAULT_CONFIG: &str = "/var/task/export.toml";
/// Where the cache goes when `AWS_ECR_CACHE_DIR` is not set: `/tmp` is Lambda's only
/// writable path, and it survives between warm invocations.
pub const DEFAULT_CACHE_DIR: &str = "/tmp/ecr-login";
/// The error types this runtime reports.
pub const EXPORT_FAILED: &str = "ExportFailed";
pub const EXPORT_TIMED_OUT: &str = "ExportTimedOut";
pub const INVALID_CONFIG: &str = "InvalidConfig";
/// Time kept back from the invocation deadline to post the result before Lambda stops us.
const DEADLINE_MARGIN: Duration = Duration::from_millis(500);
/// Bound on posting a result (the Runtime API is local and answers at once).
const POST_TIMEOUT: Duration = Duration::from_secs(10);

/// True when the binary runs under the file name Lambda gives a custom runtime.
pub fn invoked_as_bootstrap(arg0: Option<&std::ffi::OsString>) -> bool {
    arg0.and_then(|a| Path::new(a).file_name())
        .is_some_and(|name| name == PROGRAM)
}

/// The config path: `config` (from `--config`), else `$ECR_LOGIN_EXPORT_CONFIG`, else
/// `/var/task/export.toml`.
pub fn config_path(config: Option<PathBuf>) -> PathBuf {
    config
        .or_else(|| {
            std::env::var_os(CONFIG_ENV)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        })
        .unwrap_or_else(|| PathBuf::from(DEFAULT_CONFIG))
}

/// The helper's settings with Lambda's defaults: the cache in `/tmp` unless
/// `AWS_ECR_CACHE_DIR` says otherwise (`HOME` is not guaranteed on Lambda).
pub fn settings() -> Settings {
    let mut settings = Settings::from_env();
    if std::env::var_os("AWS_ECR_CACHE_DIR").is_none_or(|d| d.is_empty()) {
        let dir = PathBuf::from(DEFAULT_CACHE_DIR);
        settings.untrusted_cache_dir = crate::cache::check_trusted(&dir).err();
        settings.cache_dir = Some(dir);
    }
    settings
}

/// Runs the runtime loop until the Runtime API goes away; returns the exit code.
pub fn main(config: Option<PathBuf>) -> i32 {
    let Some(api) = std::env::var("AWS_LAMBDA_RUNTIME_API")
        .ok()
        .filter(|v| !v.trim().is_empty())
    else {
        eprintln!(
            "docker-credential-ecr-login export --lambda: AWS_LAMBDA_RUNTIME_API is not set \
             (this mode runs inside AWS Lambda)"
        );
        return EXIT_USAGE;
    };
    let api = match RuntimeApi::new(api.trim()) {
        Ok(api) => api,
        Err(e) => {
            eprintln!("docker-credential-ecr-login export --lambda: {e}");
            return EXIT_USAGE;
        }
    };
    let settings = settings();
    let path = config_path(config);
    // Loaded (validated, secrets resolved) before the first `next`: a bad config is an init
    // error, which Lambda reports before any invocation is lost to it.
    let mut loaded = match config::load(&path, &[], settings.home.as_deref()) {
        Ok(c) => Some(c),
        Err(e) => {
            let message = format!("config error: {e}");
            eprintln!("docker-credential-ecr-login export --lambda: {message}");
            if let Err(post) = api.post("init/error", &error_body(INVALID_CONFIG, &message)) {
                eprintln!("docker-credential-ecr-login export --lambda: {post}");
            }
            return EXIT_USAGE;
        }
    };
    loop {
        let invocation = match api.next() {
            Ok(i) => i,
            Err(e) => {
                eprintln!("docker-credential-ecr-login export --lambda: {e}");
                return EXIT_FAILED;
            }
        };
        // The first invocation uses the config read at init; later ones read it again, so
        // rotated secrets are picked up (each read is one run's worth).
        let config = match loaded.take() {
            Some(c) => Ok(c),
            None => config::load(&path, &[], settings.home.as_deref())
                .map_err(|e| format!("config error: {e}")),
        };
        let (result, finished) = match config {
            Ok(config) => invoke(config, &settings, invocation.deadline),
            Err(message) => (Err((INVALID_CONFIG, message)), true),
        };
        let (path, body) = match &result {
            Ok(summary) => ("response", summary.as_bytes().to_vec()),
            Err((kind, message)) => ("error", error_body(kind, message)),
        };
        let path = format!("invocation/{}/{path}", invocation.request_id);
        log_result(&invocation.request_id, &result);
        if let Err(e) = api.post(&path, &body) {
            eprintln!("docker-credential-ecr-login export --lambda: {e}");
            return EXIT_FAILED;
        }
        if !finished {
            // The run is still going in its thread; a fresh environment is cleaner than one
            // that runs two exports at once.
            return EXIT_FAILED;
        }
    }
}

/// One export; `Ok(summary)` when every target succeeded, else the error type and message.
/// The second value is false when the run did not finish before the deadline.
fn invoke(
    config: Config,
    settings: &Settings,
    deadline: Option<SystemTime>,
) -> (Result<String, (&'static str, String)>, bool) {
    let budget = deadline.map(|d| {
        d.duration_since(SystemTime::now())
            .unwrap_or_default()
            .saturating_sub(DEADLINE_MARGIN)
    });
    let mut settings = settings.clone();
    if let Some(budget) = budget {
        settings.fetch_timeout = settings.fetch_timeout.min(budget);
    }
    let started = Instant::now();
    let (done, result) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rows = runner::run(&config, &settings, false);
        super::notify_failures(&config, &rows);
        let _ = done.send((report::json(&rows, false), rows.iter().all(|r| r.ok)));
    });
    let outcome = match budget {
        Some(budget) => result.recv_timeout(budget).ok(),
        None => result.recv().ok(),
    };
    match outcome {
        Some((summary, true)) => (Ok(summary), true),
        Some((summary, false)) => (Err((EXPORT_FAILED, summary)), true),
        None => (
            Err((
                EXPORT_TIMED_OUT,
                format!(
                    "the export did not finish within the invocation's time ({} ms); raise the \
                     function's timeout or lower the targets' [defaults] timeout",
                    started.elapsed().as_millis()
                ),
            )),
            false,
        ),
    }
}

/// The Runtime API's error document.
fn error_body(kind: &str, message: &str) -> Vec<u8> {
    serde_json::json!({ "errorType": kind, "errorMessage": message, "stackTrace": [] })
        .to_string()
        .into_bytes()
}

/// One line per invocation for CloudWatch Logs (the summary itself is redacted).
fn log_result(request_id: &str, result: &Result<String, (&'static str, String)>) {
    match result {
        Ok(_) => eprintln!("export ok (request {request_id})"),
        Err((kind, message)) => {
            eprintln!("export failed: {kind} (request {request_id}): {message}")
        }
    }
}

struct Invocation {
    request_id: String,
    deadline: Option<SystemTime>,
}

/// A client of the local Runtime API: async reqwest on a current-thread runtime that lives
/// outside the export run (which builds its own runtimes), no proxy, no TLS.
struct RuntimeApi {
    base: reqwest::Url,
    client: reqwest::Client,
    runtime: tokio::runtime::Runtime,
}

impl RuntimeApi {
    fn new(host_port: &str) -> Result<RuntimeApi, String> {
        let base = reqwest::Url::parse(&format!("http://{host_port}/2018-06-01/runtime/"))
            .map_err(|e| format!("AWS_LAMBDA_RUNTIME_API={host_port:?} is not host:port: {e}"))?;
        // reqwest is built without a default crypto provider; the process uses ring everywhere.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = reqwest::Client::builder()
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| format!("cannot set up the Runtime API client: {e}"))?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| format!("cannot start the async runtime: {e}"))?;
        Ok(RuntimeApi {
            base,
            client,
            runtime,
        })
    }

    fn url(&self, path: &str) -> Result<reqwest::Url, String> {
        self.base
            .join(path)
            .map_err(|e| format!("bad Runtime API path {path:?}: {e}"))
    }

    /// Waits (without a timeout: Lambda freezes the process here) for the next event.
    fn next(&self) -> Result<Invocation, String> {
        let url = self.url("invocation/next")?;
        self.runtime.block_on(async {
            let response = self
                .client
                .get(url)
                .send()
                .await
                .map_err(|e| format!("Runtime API invocation/next: {e}"))?;
            let status = response.status();
            let header = |name: &str| {
                response
                    .headers()
                    .get(name)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_string)
            };
            let request_id = header("Lambda-Runtime-Aws-Request-Id").unwrap_or_default();
            let deadline = header("Lambda-Runtime-Deadline-Ms")
                .and_then(|ms| ms.trim().parse::<u64>().ok())
                .map(|ms| UNIX_EPOCH + Duration::from_millis(ms));
            // The event (a scheduled event) carries nothing the export needs.
            let _ = response.bytes().await;
            if !status.is_success() {
                return Err(format!("Runtime API invocation/next answered {status}"));
            }
            // It goes into a URL path: a Lambda request id is a UUID.
            let safe = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.');
            if request_id.is_empty() || !request_id.chars().all(safe) {
                return Err(format!(
                    "Runtime API invocation/next gave an unusable request id {request_id:?}"
                ));
            }
            Ok(Invocation {
                request_id,
                deadline,
            })
        })
    }

    /// POSTs a result or an error document (`path` under `runtime/`).
    fn post(&self, path: &str, body: &[u8]) -> Result<(), String> {
        let url = self.url(path)?;
        let error_type = serde_json::from_slice::<serde_json::Value>(body)
            .ok()
            .filter(|_| path.ends_with("error"))
            .and_then(|v| v["errorType"].as_str().map(str::to_string));
        self.runtime.block_on(async {
            let mut request = self
                .client
                .post(url)
                .timeout(POST_TIMEOUT)
                .header("Content-Type", "application/json")
                .body(body.to_vec());
            if let Some(kind) = error_type {
                request = request.header("Lambda-Runtime-Function-Error-Type", kind);
            }
            let response = request
                .send()
                .await
                .map_err(|e| format!("Runtime API {path}: {e}"))?;
            let status = response.status();
            let _ = response.bytes().await;
            if status.is_success() {
                Ok(())
            } else {
                Err(format!("Runtime API {path} answered {status}"))
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bootstrap_is_recognised_by_file_name_only() {
        let os = |s: &str| std::ffi::OsString::from(s);
        assert!(invoked_as_bootstrap(Some(&os("/var/task/bootstrap"))));
        assert!(invoked_as_bootstrap(Some(&os("bootstrap"))));
        assert!(!invoked_as_bootstrap(Some(&os(
            "/usr/bin/docker-credential-ecr-login"
        ))));
        assert!(!invoked_as_bootstrap(Some(&os("/tmp/bootstrap/x"))));
        assert!(!invoked_as_bootstrap(None));
    }

    #[test]
    fn error_documents_have_the_runtime_api_shape() {
        let body: serde_json::Value =
            serde_json::from_slice(&error_body(EXPORT_FAILED, "two targets failed")).unwrap();
        assert_eq!(body["errorType"], "ExportFailed");
        assert_eq!(body["errorMessage"], "two targets failed");
        assert_eq!(body["stackTrace"], serde_json::json!([]));
    }
}
