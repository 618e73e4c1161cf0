//! The kubelet image credential provider: a drop-in for cloud-provider-aws's
//! `ecr-credential-provider`, sharing the helper's cache, host parsing and config.
//!
//! `CredentialProviderRequest` (stdin) → the image's registry → [`routing`] (ECR host, or a
//! helper-config alias such as `docker.io` answered with a pull-through registry's token) → the
//! identity (the pod's ServiceAccount role through `AssumeRoleWithWebIdentity`, else the node's
//! credentials or the config's rule) → [`token::obtain`] → `CredentialProviderResponse` (stdout).
//!
//! The contract with the kubelet:
//!
//! * success: exit 0 and exactly one response object on stdout (see [`wire`]); an image that is
//!   neither ECR nor an alias gets an empty `auth` map;
//! * failure: exit 1, nothing on stdout, one line on stderr (the kubelet logs it);
//! * an answer within [`ANSWER_WITHIN`] whatever happens (the kubelet gives up after a minute):
//!   the fetch deadline is capped at [`MAX_FETCH`], and a timer ends the process if anything
//!   else (a stdin that never closes, a stuck file system) holds it up.

pub mod service_account;
pub mod wire;

use crate::aws_profile::AwsFiles;
use crate::helper::{self, Outcome};
use crate::identity::{self, CredentialSource, WebIdentity};
use crate::routing::{self, Route};
use crate::settings::Settings;
use crate::token::{self, TokenRequest};
use clap::Parser;
use std::collections::BTreeMap;
use std::ffi::OsString;
use std::io::{Read, Write as _};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use time::OffsetDateTime;
use wire::{ApiVersion, Auth, Request, Response};

/// The plugin's file name in the kubelet's bin dir (the provider `name` in its config).
pub const PROGRAM: &str = "ecr-credential-provider";
/// The helper's subcommand for the same mode.
pub const SUBCOMMAND: &str = "kubelet-credential-provider";
/// Whatever happens, the process has answered (or given up) by then.
pub const ANSWER_WITHIN: Duration = Duration::from_secs(28);
/// The most a token fetch may take here, whatever `AWS_ECR_FETCH_TIMEOUT` says.
pub const MAX_FETCH: Duration = Duration::from_secs(25);
/// A request is a few KiB (the token and a few annotations).
const MAX_REQUEST: u64 = 1024 * 1024;

/// Set by whoever writes the answer first: `main` or the deadline's signal handler.
static ANSWERED: AtomicBool = AtomicBool::new(false);
/// What the deadline says (its number is [`ANSWER_WITHIN`]; a unit test keeps them equal).
const GIVING_UP: &str = "ecr-credential-provider: no answer within 28 s; giving up\n";

/// Answer the kubelet's image credential requests (CredentialProviderRequest on stdin,
/// CredentialProviderResponse on stdout) with Amazon ECR tokens.
#[derive(Debug, Parser)]
#[command(
    name = PROGRAM,
    version = helper::VERSION,
    about = "Kubelet image credential provider for Amazon ECR (reads a CredentialProviderRequest on stdin)",
    after_help = "Environment: AWS_ECR_ROLE_ARN (role for ServiceAccount tokens whose annotations name none), \
                  AWS_ECR_FETCH_TIMEOUT (capped at 25 s here), AWS_ECR_CONFIG (helper config: aliases, rules), \
                  AWS_ECR_CACHE_DIR, and the helper's other variables (see docker-credential-ecr-login --help)."
)]
struct Cli {
    /// ServiceAccount annotation holding the IAM role ARN; repeatable, the first present wins
    /// [default: eks.amazonaws.com/ecr-role-arn, then eks.amazonaws.com/role-arn]
    #[arg(long = "role-annotation", value_name = "KEY")]
    role_annotations: Vec<String>,
    /// Ignored, as by cloud-provider-aws's plugin (configs often pass `get-credentials`)
    #[arg(hide = true)]
    ignored: Vec<OsString>,
}

/// The `kubelet-credential-provider` subcommand, for the help, completions and man pages.
pub fn command() -> clap::Command {
    use clap::CommandFactory as _;
    Cli::command()
        .name(SUBCOMMAND)
        .bin_name(format!("{} {SUBCOMMAND}", helper::NAME))
}

/// Whether the process was started under the plugin's name (a copy or symlink in the kubelet's
/// bin dir).
pub fn invoked_as_plugin(arg0: Option<&OsString>) -> bool {
    arg0.and_then(|a| std::path::Path::new(a).file_name())
        .is_some_and(|name| name == PROGRAM)
}

/// Runs the plugin with `args` (after the program or subcommand name); returns the exit code.
pub fn main(args: Vec<OsString>) -> i32 {
    arm_deadline();
    let outcome = match Cli::try_parse_from(std::iter::once(OsString::from(PROGRAM)).chain(args)) {
        Ok(cli) => {
            let settings = Settings::from_env();
            crate::logging::init(settings.log_dir(), settings.log_level);
            run(&cli, std::io::stdin().lock(), &settings)
        }
        Err(e) if !e.use_stderr() => Outcome::ok(e.to_string()), // --help, --version
        Err(e) => {
            let text = e.to_string();
            let first = text.lines().next().unwrap_or_default();
            failure(format!("{first} (see --help)"))
        }
    };
    if !disarm_deadline() {
        // The deadline has given up and is ending the process: write nothing.
        loop {
            std::thread::park();
        }
    }
    let _ = std::io::stdout().write_all(&outcome.stdout);
    let _ = std::io::stdout().flush();
    let _ = std::io::stderr().write_all(&outcome.stderr);
    outcome.code
}

/// The last resort behind the fetch deadline: after [`ANSWER_WITHIN`], SIGALRM writes one line
/// and ends the process with exit 1. A timer, not a watchdog thread: a second thread has to be
/// scheduled once more before the process can exit, which on a busy node costs a cached answer
/// milliseconds.
#[cfg(unix)]
fn arm_deadline() {
    extern "C" fn give_up(_: libc::c_int) {
        if ANSWERED.swap(true, Ordering::SeqCst) {
            return; // main is writing its answer
        }
        // SAFETY: write(2) and _exit(2) are async-signal-safe; the buffer is a static string.
        unsafe {
            libc::write(2, GIVING_UP.as_ptr().cast(), GIVING_UP.len());
            libc::_exit(1);
        }
    }
    // SAFETY: a zeroed sigaction is a valid "no flags, empty mask" value; the handler calls
    // only async-signal-safe functions; alarm has no preconditions.
    unsafe {
        let mut action: libc::sigaction = std::mem::zeroed();
        action.sa_sigaction = give_up as extern "C" fn(libc::c_int) as libc::sighandler_t;
        libc::sigemptyset(&mut action.sa_mask);
        if libc::sigaction(libc::SIGALRM, &action, std::ptr::null_mut()) == 0 {
            libc::alarm(ANSWER_WITHIN.as_secs() as libc::c_uint);
        }
    }
}

#[cfg(not(unix))]
fn arm_deadline() {}

/// Claims the right to answer; `false` when the deadline got there first.
fn disarm_deadline() -> bool {
    if ANSWERED.swap(true, Ordering::SeqCst) {
        return false;
    }
    // SAFETY: alarm has no preconditions; 0 cancels the timer.
    #[cfg(unix)]
    unsafe {
        libc::alarm(0);
    }
    true
}

fn failure(line: String) -> Outcome {
    Outcome {
        stdout: Vec::new(),
        stderr: format!("{PROGRAM}: {line}\n").into_bytes(),
        code: 1,
    }
}

/// One request, start to end.
fn run(cli: &Cli, stdin: impl Read, settings: &Settings) -> Outcome {
    let mut input = Vec::new();
    if let Err(e) = stdin.take(MAX_REQUEST + 1).read_to_end(&mut input) {
        return failure(format!("reading the request from stdin: {e}"));
    }
    if input.len() as u64 > MAX_REQUEST {
        return failure(format!(
            "the request on stdin is larger than {} KiB",
            MAX_REQUEST / 1024
        ));
    }
    let request = match wire::parse_request(&input) {
        Ok(request) => request,
        Err(e) => return failure(e.to_string()),
    };
    match answer(cli, &request, settings) {
        Ok((response, warning)) => Outcome {
            stdout: response.to_string().into_bytes(),
            stderr: warning.unwrap_or_default().into_bytes(),
            code: 0,
        },
        Err(line) => failure(line),
    }
}

/// The response, and a warning line for stderr (an untrusted cache directory); `Err` is the
/// line for a failure.
fn answer(
    cli: &Cli,
    request: &Request,
    settings: &Settings,
) -> Result<(Response, Option<String>), String> {
    // A broken config must not send a pull out as the wrong identity: fail, say why.
    let config = helper::load_config(settings).map_err(|e| e.to_string())?;
    let asked = registry_of(&request.image);
    let Some(route) = routing::resolve(asked, config.as_ref()) else {
        tracing::debug!(
            registry = asked,
            "neither ECR nor an alias; answering no credentials"
        );
        // Not cached by the kubelet, so a config change applies at the next pull.
        return Ok((empty(request.api_version), None));
    };
    let (source, cacheable) = source_for(cli, request, &route)?;
    let identity = identity::current(&AwsFiles::load(), &source);
    let (cache, warning) = match settings.cache() {
        Ok(cache) => (cache.filter(|_| cacheable), None),
        Err(untrusted) => (None, Some(format!("{PROGRAM}: warning: {untrusted}\n"))),
    };
    let token_request = TokenRequest {
        registry: &route.registry,
        identity: &identity,
        source: &source,
        min_remaining: Duration::ZERO,
        cache: cache.as_ref(),
        fetch_timeout: settings.fetch_timeout.min(MAX_FETCH),
    };
    let credential = token::obtain(&token_request).map_err(|e| {
        if route.rule.is_some() || route.alias.is_some() || source.web_identity.is_some() {
            tracing::error!(
                route = route.describe().as_str(),
                identity = identity.description.as_str(),
                "no token for this image"
            );
        }
        format!("{asked}: {e}")
    })?;
    // Half the remaining life, as cloud-provider-aws's plugin answers: the kubelet asks again
    // while the token still has as long to go.
    let left = credential.expires_at - OffsetDateTime::now_utc();
    let half = Duration::try_from(left / 2).unwrap_or(Duration::ZERO);
    let mut auth = BTreeMap::new();
    auth.insert(
        asked.to_string(),
        Auth {
            username: credential.username.clone(),
            password: credential.password.clone(),
        },
    );
    let response = Response {
        api_version: request.api_version,
        cache_duration: half,
        auth,
    };
    Ok((response, warning))
}

fn empty(api_version: ApiVersion) -> Response {
    Response {
        api_version,
        cache_duration: Duration::ZERO,
        auth: BTreeMap::new(),
    }
}

/// Who fetches: the pod's ServiceAccount role when the request carries a token and a role is
/// named, else the route's (node credentials or the config's rule). The bool says whether the
/// token may be cached (not when a ServiceAccount cannot be told from another).
fn source_for(
    cli: &Cli,
    request: &Request,
    route: &Route,
) -> Result<(CredentialSource, bool), String> {
    let Some(token) = &request.service_account_token else {
        return Ok((route.source.clone(), true));
    };
    let keys: Vec<String> = if cli.role_annotations.is_empty() {
        service_account::DEFAULT_ROLE_ANNOTATIONS
            .iter()
            .map(|k| k.to_string())
            .collect()
    } else {
        cli.role_annotations.clone()
    };
    let env = std::env::var(service_account::ROLE_ENV).ok();
    let Some(role) = service_account::role(&request.service_account_annotations, &keys, env)?
    else {
        crate::logging::activate();
        tracing::info!(
            annotations = keys.join(", ").as_str(),
            "the ServiceAccount names no role (annotations, {}); using the node's credentials",
            service_account::ROLE_ENV
        );
        return Ok((route.source.clone(), true));
    };
    let subject = service_account::subject(token);
    tracing::debug!(role = role.arn.as_str(), from = role.from.as_str(), subject = ?subject, "ServiceAccount role");
    let cacheable = subject.is_some();
    let source = CredentialSource {
        role_arn: Some(role.arn),
        web_identity: Some(WebIdentity {
            token: token.clone(),
            subject: subject.unwrap_or_default(),
        }),
        ..CredentialSource::default()
    };
    Ok((source, cacheable))
}

/// The registry part of an image reference, as written (`host[:port]`); Docker's rule for a
/// name without one: the first component is a registry only if it has a `.` or a `:` or is
/// `localhost`, else the image is on Docker Hub.
fn registry_of(image: &str) -> &str {
    match image.split_once('/') {
        Some((first, _)) if first.contains(['.', ':']) || first == "localhost" => first,
        _ => "docker.io",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registries_are_found_as_docker_finds_them() {
        for (image, registry) in [
            (
                "123456789012.dkr.ecr.us-east-1.amazonaws.com/team/app:1.2",
                "123456789012.dkr.ecr.us-east-1.amazonaws.com",
            ),
            ("public.ecr.aws/nginx/nginx@sha256:abc", "public.ecr.aws"),
            ("mirror.example.com:5000/app", "mirror.example.com:5000"),
            ("localhost/app", "localhost"),
            ("docker.io/library/nginx", "docker.io"),
            ("library/nginx", "docker.io"),
            ("nginx:1.27", "docker.io"),
        ] {
            assert_eq!(registry_of(image), registry, "{image}");
        }
    }

    #[test]
    fn the_deadline_line_names_the_deadline() {
        assert_eq!(
            GIVING_UP,
            format!(
                "{PROGRAM}: no answer within {} s; giving up\n",
                ANSWER_WITHIN.as_secs()
            )
        );
    }

    #[test]
    fn the_plugin_name_is_recognised_in_any_directory() {
        let yes = |a: &str| invoked_as_plugin(Some(&OsString::from(a)));
        assert!(yes("ecr-credential-provider"));
        assert!(yes(
            "/etc/eks/image-credential-provider/ecr-credential-provider"
        ));
        assert!(!yes("/usr/bin/docker-credential-ecr-login"));
        assert!(!yes("ecr-credential-provider-old"));
        assert!(!invoked_as_plugin(None));
    }
}
