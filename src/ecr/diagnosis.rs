//! A credentials failure as one sentence a user can act on.
//!
//! The SDK's errors describe the provider chain from the inside ("ProfileFile provider could
//! not be built: …"); the user needs to know which profile failed and what to run or fix. So,
//! on this failure path only, the profile files are read again with aws-config's own loader
//! (the same files and precedence the SDK used) and the remedy is decided from what the profile
//! is — an SSO profile, an `aws login` profile, a `credential_process`, a role chain — and from
//! the typed error, never by searching the error text for words.

use super::{FetchError, concise};
use crate::error_chain::error_chain;
use aws_config::profile::{Profile, ProfileSet};
use aws_credential_types::provider::error::CredentialsError;
use aws_runtime::env_config::file::EnvConfigFiles as ProfileFiles;
use aws_types::os_shim_internal::{Env, Fs};
use std::path::PathBuf;

/// `credential_source` values the SDK knows (it compares them ignoring case).
const CREDENTIAL_SOURCES: [&str; 3] = ["Environment", "Ec2InstanceMetadata", "EcsContainer"];

/// Explains why `error` happened for `chosen` (`AWS_PROFILE` or export's `profile`; `None` is
/// the default chain). The full SDK chain stays in [`FetchError::detail`] for the log — with a
/// `credential_process`'s stderr, which may hold secrets and so never reaches Docker's stderr.
pub(super) async fn explain(error: CredentialsError, chosen: Option<&str>) -> FetchError {
    let detail = error_chain(&error);
    let name = chosen.unwrap_or("default").to_string();
    let reason = |reason: String| FetchError::Credentials {
        profile: name.clone(),
        reason,
        detail: detail.clone(),
    };
    if matches!(error, CredentialsError::ProviderTimedOut(_)) {
        return reason(format!(
            "the credentials provider did not answer in time ({})",
            concise(&detail)
        ));
    }
    let profiles =
        match aws_config::profile::load(&Fs::real(), &Env::real(), &ProfileFiles::default(), None)
            .await
        {
            Ok(profiles) => profiles,
            Err(e) => {
                return reason(format!(
                    "the AWS config files could not be read: {}",
                    concise(&error_chain(&e))
                ));
            }
        };
    let Some(profile) = profiles.get_profile(&name) else {
        if chosen.is_some() {
            return reason(format!(
                "profile `{name}` does not exist ({})",
                files_read()
            ));
        }
        return fallback(error, &name, detail);
    };
    let base = match base_profile(&profiles, profile) {
        Ok(base) => base,
        Err(why) => return reason(why),
    };
    let base_name = base.name();
    if base.get("sso_session").is_some() || base.get("sso_start_url").is_some() {
        let session = base
            .get("sso_session")
            .map(|s| format!(" `{s}`"))
            .unwrap_or_default();
        return reason(format!(
            "the AWS SSO session{session} has expired or was never started; \
             run `aws sso login --profile {base_name}`"
        ));
    }
    if base.get("login_session").is_some() {
        return reason(format!(
            "the `aws login` session has expired or was never started; \
             run `aws login --profile {base_name}`"
        ));
    }
    if base.get("credential_process").is_some() {
        return reason(format!(
            "the credential_process of profile `{base_name}` failed: {}; its output is in the log",
            process_failure(&innermost(&error))
        ));
    }
    fallback(error, &name, detail)
}

/// The SSO sign-in behind a profile: the profile that holds it (the end of a `role_arn` /
/// `source_profile` chain) and what names its cached token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SsoLogin {
    /// The profile to name in `aws sso login --profile X`.
    pub profile: String,
    /// `sso_session = NAME` (the refreshable kind), if the profile uses one.
    pub session: Option<String>,
    /// The start URL (of the session, or the profile's own legacy `sso_start_url`).
    pub start_url: Option<String>,
}

/// The SSO sign-in profile `name` depends on, read with aws-config's loader (the files and
/// precedence the SDK uses). `Ok(None)`: the profile does not exist or does not use SSO.
pub(super) async fn sso_login(name: &str) -> Result<Option<SsoLogin>, String> {
    let profiles =
        aws_config::profile::load(&Fs::real(), &Env::real(), &ProfileFiles::default(), None)
            .await
            .map_err(|e| {
                format!(
                    "the AWS config files could not be read: {}",
                    concise(&error_chain(&e))
                )
            })?;
    let Some(profile) = profiles.get_profile(name) else {
        return Ok(None);
    };
    let base = base_profile(&profiles, profile)?;
    let session = base.get("sso_session").map(str::to_string);
    let start_url = match &session {
        Some(session) => profiles
            .sso_session(session)
            .and_then(|s| s.get("sso_start_url")),
        None => base.get("sso_start_url"),
    }
    .map(str::to_string);
    if session.is_none() && start_url.is_none() {
        return Ok(None);
    }
    Ok(Some(SsoLogin {
        profile: base.name().to_string(),
        session,
        start_url,
    }))
}

/// Neither a missing profile nor a known remedy: the SDK's own cause, in one line.
fn fallback(error: CredentialsError, name: &str, detail: String) -> FetchError {
    match error {
        CredentialsError::CredentialsNotLoaded(_) if name == "default" => {
            FetchError::NoCredentials { detail }
        }
        // An STS refusal while assuming a role: the identity, not the set-up, is the problem.
        CredentialsError::ProviderError(_) if is_access_denied(&detail) => {
            FetchError::AccessDenied { detail }
        }
        _ => FetchError::Credentials {
            profile: name.to_string(),
            reason: concise(&innermost(&error)),
            detail,
        },
    }
}

fn is_access_denied(detail: &str) -> bool {
    let lower = detail.to_ascii_lowercase();
    lower.contains("accessdenied") || lower.contains("not authorized")
}

/// The deepest non-empty message of the chain: the SDK's outer levels only say "the provider
/// was not properly configured".
fn innermost(error: &CredentialsError) -> String {
    let mut deepest: &dyn std::error::Error = error;
    while let Some(source) = deepest.source() {
        deepest = source;
    }
    deepest.to_string()
}

/// Follows `role_arn` + `source_profile` to the profile that holds the base credentials, or
/// says why that chain is broken.
fn base_profile<'a>(profiles: &'a ProfileSet, start: &'a Profile) -> Result<&'a Profile, String> {
    let mut chain = vec![start.name()];
    let mut current = start;
    loop {
        if let Some(source) = current.get("credential_source") {
            if CREDENTIAL_SOURCES
                .iter()
                .any(|known| known.eq_ignore_ascii_case(source))
            {
                return Ok(current);
            }
            return Err(format!(
                "profile `{}` has credential_source = {source}, which is not one of {}",
                current.name(),
                CREDENTIAL_SOURCES.join(", ")
            ));
        }
        let Some(next) = current.get("source_profile") else {
            return Ok(current);
        };
        if current.get("role_arn").is_none() {
            return Ok(current);
        }
        // A profile may name itself when it also holds static keys (the SDK allows it).
        if next == current.name() && current.get("aws_access_key_id").is_some() {
            return Ok(current);
        }
        if chain.contains(&next) {
            chain.push(next);
            return Err(format!(
                "the source_profile chain loops: {}",
                chain.join(" → ")
            ));
        }
        let Some(profile) = profiles.get_profile(next) else {
            return Err(format!(
                "profile `{}` has source_profile = {next}, which does not exist ({})",
                current.name(),
                files_read()
            ));
        };
        chain.push(next);
        current = profile;
    }
}

/// The SDK's credential_process error up to the process's stderr (kept for the log only).
fn process_failure(detail: &str) -> String {
    let head = detail.split(" Stderr:").next().unwrap_or(detail);
    concise(head.trim_end_matches(['.', ' ']))
}

/// Which profile files the SDK read, the way it finds them.
fn files_read() -> String {
    let home = std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(PathBuf::from);
    let file = |var: &str, default: &str| -> Option<PathBuf> {
        match std::env::var_os(var) {
            Some(path) if !path.is_empty() => Some(crate::settings::expand_tilde(
                std::path::Path::new(&path),
                home.as_deref(),
            )),
            _ => home.as_ref().map(|h| h.join(default)),
        }
    };
    let candidates = [
        file("AWS_CONFIG_FILE", ".aws/config"),
        file("AWS_SHARED_CREDENTIALS_FILE", ".aws/credentials"),
    ];
    let (read, missing): (Vec<_>, Vec<_>) = candidates
        .into_iter()
        .flatten()
        .partition(|path| path.is_file());
    let show = |paths: &[PathBuf]| {
        paths
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    };
    match (read.is_empty(), missing.is_empty()) {
        (true, true) => "no AWS config files: HOME is not set".to_string(),
        (false, true) => format!("read {}", show(&read)),
        (true, false) => format!("{} not found", show(&missing)),
        (false, false) => format!("read {}; {} not found", show(&read), show(&missing)),
    }
}
