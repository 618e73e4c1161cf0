//! The credential-helper actions: `get`, `list`, `store`, `erase`, `version`.
//!
//! Each action turns stdin into an [`Outcome`]: exact stdout bytes, an optional diagnostic line
//! for stderr, and an exit code. `main` only writes them out.

use crate::aws_profile::AwsFiles;
use crate::cache::{Cache, Freshness};
use crate::identity::{self, CredentialSource};
use crate::protocol::{self, ProtocolError};
use crate::registry;
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

/// What to print and how to exit.
#[derive(Debug, PartialEq, Eq)]
pub struct Outcome {
    pub stdout: String,
    pub stderr: Option<String>,
    pub code: i32,
}

impl Outcome {
    fn ok(stdout: String) -> Outcome {
        Outcome {
            stdout,
            stderr: None,
            code: 0,
        }
    }
    fn fail(error: ProtocolError) -> Outcome {
        Outcome {
            stdout: format!("{error}\n"),
            stderr: None,
            code: 1,
        }
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
            stdout: format!("{NAME}: unknown action: {other}\n"),
            stderr: None,
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

fn get(stdin: impl Read, settings: &Settings) -> Outcome {
    let server_url = match read_input(stdin).and_then(|input| protocol::read_server_url(&input)) {
        Ok(url) => url,
        Err(e) => return Outcome::fail(e),
    };
    let Some(registry) = registry::parse(&server_url) else {
        // Not ECR: say "not found" and nothing else, so anonymous pulls elsewhere keep working.
        tracing::debug!(
            host = %registry::host_of(&server_url)
                .as_deref()
                .unwrap_or("(none)"),
            "not an ECR registry; answering not-found"
        );
        return Outcome::fail(ProtocolError::NotFound);
    };
    let files = AwsFiles::load();
    let source = CredentialSource::default();
    let identity = identity::current(&files, &source);
    let (cache, warning) = cache_of(settings);
    let request = TokenRequest {
        registry: &registry,
        identity: &identity,
        source: &source,
        min_remaining: Duration::ZERO,
        cache: cache.as_ref(),
        fetch_timeout: settings.fetch_timeout,
    };
    match token::obtain(&request) {
        Ok(credential) => Outcome {
            stdout: protocol::encode_credentials(
                &server_url,
                &credential.username,
                credential.password(),
            ),
            stderr: warning,
            code: 0,
        },
        Err(error) => Outcome {
            stdout: format!("{}\n", protocol::NOT_FOUND),
            stderr: Some(format!(
                "{}{NAME}: {}: {error}\n",
                warning.unwrap_or_default(),
                registry::given_host(&server_url).unwrap_or_default()
            )),
            code: 1,
        },
    }
}

/// Unexpired cached registries of the current identity. Reads the cache only: `list` is
/// called up front by `docker build` and CI runners, and must never be slow or fail.
fn list(settings: &Settings) -> Outcome {
    let (cache, warning) = cache_of(settings);
    let Some(cache) = cache else {
        return Outcome {
            stderr: warning,
            ..Outcome::ok(protocol::encode_list(&BTreeMap::new()))
        };
    };
    let files = AwsFiles::load();
    let identity = identity::current(&files, &CredentialSource::default());
    let now = OffsetDateTime::now_utc();
    let registries: BTreeMap<String, String> = cache
        .entries(|key| token::key_belongs_to(key, &identity))
        .into_iter()
        .filter(|(_, entry)| entry.freshness(now, Duration::ZERO) != Freshness::Expired)
        .filter(|(_, entry)| entry.proxy_endpoint.starts_with("https://"))
        .map(|(_, entry)| {
            let user = crate::ecr::split_token(&entry.authorization_token)
                .map(|(u, _)| u)
                .unwrap_or_else(|_| "AWS".into());
            (entry.proxy_endpoint, user)
        })
        .collect();
    Outcome::ok(protocol::encode_list(&registries))
}

/// `store` and `erase` store nothing: ECR tokens are fetched, not saved. The request is still
/// validated first, as the Go helper does, so malformed input fails the same way.
fn store(stdin: impl Read, settings: &Settings) -> Outcome {
    let validated = read_input(stdin).and_then(|input| protocol::read_store(&input).map(drop));
    storage_no_op("store", validated, settings)
}

fn erase(stdin: impl Read, settings: &Settings) -> Outcome {
    let validated = read_input(stdin).and_then(|input| protocol::read_server_url(&input).map(drop));
    storage_no_op("erase", validated, settings)
}

/// With `AWS_ECR_IGNORE_CREDS_STORAGE=true` a logged success (so `docker login`/`logout` work
/// with `credsStore: ecr-login`); otherwise `not implemented`. Nothing from the request (which
/// may carry a password) is logged.
fn storage_no_op(
    action: &str,
    validated: Result<(), ProtocolError>,
    settings: &Settings,
) -> Outcome {
    if let Err(e) = validated {
        return Outcome::fail(e);
    }
    if !settings.ignore_creds_storage {
        return Outcome::fail(ProtocolError::NotImplemented);
    }
    crate::logging::activate();
    tracing::warn!("ignoring {action}: AWS_ECR_IGNORE_CREDS_STORAGE=true");
    Outcome::ok(String::new())
}
