//! The credential-helper actions: `get`, `list`, `store`, `erase`, `version`.
//!
//! Each action turns stdin into an [`Outcome`]: exact stdout bytes, an optional diagnostic for
//! stderr, and an exit code. `main` only writes them out. Which registry answers, and as whom,
//! is [`routing`]'s decision; hosts it does not route go to the helper config's
//! `fallback_helper` ([`delegate`]), or get the not-found sentinel.

use crate::aws_profile::AwsFiles;
use crate::cache::{Cache, Freshness};
use crate::delegate;
use crate::helper_config::{self, ConfigError, HelperConfig};
use crate::identity::{self, Identity};
use crate::protocol::{self, ProtocolError};
use crate::registry;
use crate::routing::{self, Route};
use crate::settings::Settings;
use crate::token::{self, TokenRequest};
use std::collections::BTreeMap;
use std::io::Read;
use std::time::Duration;
use time::OffsetDateTime;

pub const NAME: &str = "docker-credential-ecr-login";
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
/// Most input a request may have; Docker sends a host name or one small JSON object.
const MAX_INPUT: u64 = 8 * 1024 * 1024;
/// Most time `list` waits for the backing helper's list.
const LIST_DELEGATE_TIMEOUT: Duration = Duration::from_secs(10);

/// What to print and how to exit.
#[derive(Debug, PartialEq, Eq)]
pub struct Outcome {
    pub stdout: Vec<u8>,
    /// Empty: nothing for stderr.
    pub stderr: Vec<u8>,
    pub code: i32,
}

impl Outcome {
    pub fn ok(stdout: impl Into<Vec<u8>>) -> Outcome {
        Outcome {
            stdout: stdout.into(),
            stderr: Vec::new(),
            code: 0,
        }
    }
    fn fail(error: ProtocolError) -> Outcome {
        Outcome {
            stdout: format!("{error}\n").into_bytes(),
            stderr: Vec::new(),
            code: 1,
        }
    }
    /// Adds a line (or lines) for stderr in front of what is there.
    fn warned(mut self, warning: Option<String>) -> Outcome {
        if let Some(warning) = warning {
            let mut stderr = warning.into_bytes();
            stderr.append(&mut self.stderr);
            self.stderr = stderr;
        }
        self
    }
}

pub fn usage() -> String {
    format!("Usage: {NAME} <store|get|erase|list|version>")
}

/// `version`: `Name (Package) Version`, the Go library's layout.
pub fn version_line() -> String {
    format!("{NAME} (ecr-login, Rust) {VERSION}\n")
}

/// `-v` / `--version`: the Go binary's banner layout.
pub fn banner() -> String {
    format!(
        "amazon-ecr-credential-helper (Rust ecr-login)\nVersion:    {VERSION}\nGit commit: {}\n",
        option_env!("ECR_LOGIN_GIT_COMMIT").unwrap_or("unknown")
    )
}

/// Runs one protocol action.
pub fn run(action: &str, stdin: impl Read, settings: &Settings) -> Outcome {
    match action {
        "get" => get(stdin, settings),
        "list" => list(settings),
        "store" => store(stdin, settings),
        "erase" => erase(stdin, settings),
        "version" => Outcome::ok(version_line()),
        other => Outcome {
            stdout: format!("{NAME}: unknown action: {other}\n").into_bytes(),
            stderr: Vec::new(),
            code: 1,
        },
    }
}

fn read_input(stdin: impl Read) -> Result<Vec<u8>, ProtocolError> {
    let mut input = Vec::new();
    stdin
        .take(MAX_INPUT + 1)
        .read_to_end(&mut input)
        .map_err(|e| ProtocolError::BadInput(format!("reading stdin: {e}")))?;
    if input.len() as u64 > MAX_INPUT {
        return Err(ProtocolError::BadInput("input too large".into()));
    }
    Ok(input)
}

/// The cache to use, if any, and the warning line for stderr when the directory is not
/// trusted (then the helper works without it: nothing planted there is read).
fn cache_of(settings: &Settings) -> (Option<Cache>, Option<String>) {
    match settings.cache() {
        Ok(cache) => (cache, None),
        Err(untrusted) => (None, Some(format!("{NAME}: warning: {untrusted}\n"))),
    }
}

/// The helper config, read on every action that routes (a missing file costs one `open`).
pub fn load_config(settings: &Settings) -> Result<Option<HelperConfig>, ConfigError> {
    helper_config::load(helper_config::location(settings.home.as_deref()))
}

fn get(stdin: impl Read, settings: &Settings) -> Outcome {
    let input = match read_input(stdin) {
        Ok(input) => input,
        Err(e) => return Outcome::fail(e),
    };
    let server_url = match protocol::read_server_url(&input) {
        Ok(url) => url,
        Err(e) => return Outcome::fail(e),
    };
    let config = match load_config(settings) {
        Ok(config) => config,
        // A broken config must not send a pull out as the wrong identity: answer nothing.
        Err(e) => {
            return Outcome::fail(ProtocolError::NotFound).warned(Some(format!("{NAME}: {e}\n")));
        }
    };
    let Some(route) = routing::resolve(&server_url, config.as_ref()) else {
        if let Some(helper) = config.as_ref().and_then(|c| c.fallback_helper.as_deref()) {
            return delegated(helper, "get", &input, settings);
        }
        // Not ECR: say "not found" and nothing else, so anonymous pulls elsewhere keep working.
        tracing::debug!(
            host = %registry::host_of(&server_url)
                .as_deref()
                .unwrap_or("(none)"),
            "not an ECR registry; answering not-found"
        );
        return Outcome::fail(ProtocolError::NotFound);
    };
    let strict = config.as_ref().is_some_and(|c| c.strict);
    answer(&server_url, &route, strict, settings)
}

/// A token for `route`, replied under the name the client asked for.
fn answer(server_url: &str, route: &Route, strict: bool, settings: &Settings) -> Outcome {
    let files = AwsFiles::load();
    let identity = identity::current(&files, &route.source);
    let (cache, warning) = cache_of(settings);
    let request = TokenRequest {
        registry: &route.registry,
        identity: &identity,
        source: &route.source,
        min_remaining: Duration::ZERO,
        cache: cache.as_ref(),
        fetch_timeout: settings.fetch_timeout,
    };
    match token::obtain(&request) {
        Ok(credential) => Outcome::ok(protocol::encode_credentials(
            server_url,
            &credential.username,
            credential.password(),
        ))
        .warned(warning),
        Err(error) => {
            let line = format!(
                "{NAME}: {}: {error}\n",
                registry::given_host(server_url).unwrap_or_default()
            );
            if route.rule.is_some() || route.alias.is_some() {
                tracing::error!(route = route.describe().as_str(), "no token for this route");
            }
            // Strict: the real error on stdout, where Docker shows it; else the sentinel, so
            // the client falls back to anonymous access as with the Go helper.
            let stdout = if strict {
                line.clone()
            } else {
                format!("{}\n", protocol::NOT_FOUND)
            };
            Outcome {
                stdout: stdout.into_bytes(),
                stderr: if strict {
                    Vec::new()
                } else {
                    line.into_bytes()
                },
                code: 1,
            }
            .warned(warning)
        }
    }
}

/// Relays the backing helper's answer, or says clearly why there is none.
fn delegated(helper: &str, action: &str, input: &[u8], settings: &Settings) -> Outcome {
    match delegate::run(helper, action, input, settings.delegate_timeout) {
        Ok(out) => Outcome {
            stdout: out.stdout,
            stderr: out.stderr,
            code: out.code,
        },
        Err(e) => {
            crate::logging::activate();
            tracing::error!(error = %e, action, "fallback helper failed");
            Outcome {
                stdout: format!("{NAME}: {e}\n").into_bytes(),
                stderr: Vec::new(),
                code: 1,
            }
        }
    }
}

/// Unexpired cached registries of every identity the config routes to (the ambient one at
/// least), under their alias names too, merged with the backing helper's list. Reads the
/// cache only: `list` is called up front by `docker build` and CI runners, and must never be
/// slow or fail.
fn list(settings: &Settings) -> Outcome {
    let (config, config_warning) = match load_config(settings) {
        Ok(config) => (config, None),
        Err(e) => (None, Some(format!("{NAME}: {e}\n"))),
    };
    let (cache, warning) = cache_of(settings);
    let mut registries = BTreeMap::new();
    let mut warnings = [config_warning, warning]
        .into_iter()
        .flatten()
        .collect::<String>();
    if let Some(helper) = config.as_ref().and_then(|c| c.fallback_helper.as_deref()) {
        // `list` runs up front in builds: it gets a shorter bound than an interactive action.
        let bound = settings.delegate_timeout.min(LIST_DELEGATE_TIMEOUT);
        match delegate::run(helper, "list", b"", bound) {
            Ok(out) if out.code == 0 => {
                match serde_json::from_slice::<BTreeMap<String, String>>(&out.stdout) {
                    Ok(theirs) => registries.extend(theirs),
                    Err(e) => warnings.push_str(&format!(
                        "{NAME}: warning: {} list: not a JSON object of strings: {e}\n",
                        delegate::program(helper)
                    )),
                }
            }
            Ok(out) => warnings.push_str(&format!(
                "{NAME}: warning: {} list failed (exit {}): {}\n",
                delegate::program(helper),
                out.code,
                String::from_utf8_lossy(&out.stdout).trim()
            )),
            Err(e) => warnings.push_str(&format!("{NAME}: warning: {e}\n")),
        }
    }
    if let Some(cache) = cache {
        registries.extend(cached_registries(&cache, config.as_ref()));
    }
    Outcome::ok(protocol::encode_list(&registries)).warned(Some(warnings).filter(|w| !w.is_empty()))
}

fn cached_registries(cache: &Cache, config: Option<&HelperConfig>) -> BTreeMap<String, String> {
    let files = AwsFiles::load();
    let identities: Vec<Identity> = routing::all_sources(config)
        .iter()
        .map(|source| identity::current(&files, source))
        .collect();
    let now = OffsetDateTime::now_utc();
    let entries = cache.entries(|key| identities.iter().any(|id| token::key_belongs_to(key, id)));
    let user_of = |token: &str| {
        crate::ecr::split_token(token)
            .map(|(u, _)| u)
            .unwrap_or_else(|_| "AWS".into())
    };
    let live: BTreeMap<String, (String, String)> = entries
        .into_iter()
        .filter(|(_, entry)| entry.freshness(now, Duration::ZERO) != Freshness::Expired)
        .filter(|(_, entry)| entry.proxy_endpoint.starts_with("https://"))
        .map(|(key, entry)| {
            (
                key,
                (entry.proxy_endpoint, user_of(&entry.authorization_token)),
            )
        })
        .collect();
    let mut registries: BTreeMap<String, String> = live.values().cloned().collect();
    // An alias is listed when the token it would be answered with is cached.
    for alias in config.map(|c| c.aliases.as_slice()).unwrap_or_default() {
        let Some(route) = routing::resolve(&alias.host, config) else {
            continue;
        };
        let key = token::cache_key(&route.registry, &identity::current(&files, &route.source));
        if let Some((_, user)) = live.get(&key) {
            registries.insert(format!("https://{}", alias.host), user.clone());
        }
    }
    registries
}

/// `store` and `erase` never store an ECR token (they are fetched, not saved). Other hosts go
/// to the `fallback_helper` when there is one. The request is validated first, as the Go
/// helper does, so malformed input fails the same way.
fn store(stdin: impl Read, settings: &Settings) -> Outcome {
    let input = match read_input(stdin) {
        Ok(input) => input,
        Err(e) => return Outcome::fail(e),
    };
    match protocol::read_store(&input) {
        Ok(request) => storage("store", &request.server_url, &input, settings),
        Err(e) => Outcome::fail(e),
    }
}

fn erase(stdin: impl Read, settings: &Settings) -> Outcome {
    let input = match read_input(stdin) {
        Ok(input) => input,
        Err(e) => return Outcome::fail(e),
    };
    match protocol::read_server_url(&input) {
        Ok(server_url) => storage("erase", &server_url, &input, settings),
        Err(e) => Outcome::fail(e),
    }
}

fn storage(action: &str, server_url: &str, input: &[u8], settings: &Settings) -> Outcome {
    let config = match load_config(settings) {
        Ok(config) => config,
        Err(e) => {
            return Outcome {
                stdout: format!("{NAME}: {e}\n").into_bytes(),
                stderr: Vec::new(),
                code: 1,
            };
        }
    };
    let fallback = config.as_ref().and_then(|c| c.fallback_helper.as_deref());
    let routed = routing::resolve(server_url, config.as_ref()).is_some();
    match fallback {
        Some(helper) if !routed => delegated(helper, action, input, settings),
        // With a backing helper, `docker login`/`logout` to an ECR host is a harmless no-op.
        Some(_) => storage_no_op(action, true),
        None => storage_no_op(action, settings.ignore_creds_storage),
    }
}

/// A logged success (`AWS_ECR_IGNORE_CREDS_STORAGE=true`, or an ECR host with a backing
/// helper), so `docker login`/`logout` work; otherwise `not implemented`. Nothing from the
/// request (which may carry a password) is logged.
fn storage_no_op(action: &str, succeed: bool) -> Outcome {
    if !succeed {
        return Outcome::fail(ProtocolError::NotImplemented);
    }
    crate::logging::activate();
    tracing::warn!("ignoring {action}: ECR tokens are fetched, not stored");
    Outcome::ok(Vec::new())
}
