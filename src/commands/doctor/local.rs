//! Checks that read local files only: the helper config, the token cache entry, the SSO token
//! cache. No network, so they always run, and run first.

use super::report::Check;
use crate::cache::Freshness;
use crate::helper_config::{ConfigError, HelperConfig};
use crate::identity::Identity;
use crate::registry::Registry;
use crate::settings::Settings;
use crate::token;
use std::path::{Path, PathBuf};
use std::time::Duration;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// The helper config: none, valid (what it holds), or the error naming file, key and reason.
pub fn helper_config_check(
    location: Option<&(PathBuf, bool)>,
    loaded: &Result<Option<HelperConfig>, ConfigError>,
) -> Check {
    const NAME: &str = "helper-config";
    match (loaded, location) {
        (Ok(None), Some((path, _))) => Check::ok(
            NAME,
            format!(
                "no helper config at {} (optional: the ambient AWS credentials answer every ECR host)",
                path.display()
            ),
        ),
        (Ok(None), None) => Check::ok(
            NAME,
            "no helper config (no home directory, no AWS_ECR_CONFIG)",
        ),
        (Ok(Some(config)), _) => {
            let mut detail = format!(
                "{}: {} [[registry]] rule(s), {} [[alias]] entr{}",
                config.path.display(),
                config.rules.len(),
                config.aliases.len(),
                if config.aliases.len() == 1 {
                    "y"
                } else {
                    "ies"
                }
            );
            if config.strict {
                detail.push_str(", strict");
            }
            if let Some(helper) = &config.fallback_helper {
                detail.push_str(&format!(", fallback_helper {helper}"));
            }
            Check::ok(NAME, detail)
        }
        (Err(e), _) => {
            let fix = match e.key.as_str() {
                "" => format!(
                    "fix {} (or point {} elsewhere)",
                    e.file.display(),
                    crate::helper_config::ENV_VAR
                ),
                key => format!("fix `{key}` in {}", e.file.display()),
            };
            Check::fail(
                NAME,
                format!("{e} — until it is fixed, get answers not-found for every host"),
                fix,
            )
        }
    }
}

/// The cached token for `registry` as `identity`: age, expiry, and what the next `get` does.
pub fn cache_check(settings: &Settings, registry: &Registry, identity: &Identity) -> Check {
    const NAME: &str = "cache";
    let cache = match settings.cache() {
        Ok(Some(cache)) => cache,
        Ok(None) if settings.cache_disabled => {
            return Check::warn(
                NAME,
                "the token cache is disabled (AWS_ECR_DISABLE_CACHE): every get calls the API",
                Some("unset AWS_ECR_DISABLE_CACHE (or set it to 0)".into()),
            );
        }
        Ok(None) => {
            return Check::warn(
                NAME,
                "no cache directory (no home directory, no AWS_ECR_CACHE_DIR): every get calls the API",
                Some("set AWS_ECR_CACHE_DIR to a directory of your own".into()),
            );
        }
        Err(untrusted) => {
            return Check::warn(
                NAME,
                format!("{untrusted}: every get calls the API"),
                Some(format!(
                    "make {} yours and private (chown, chmod 700), or set AWS_ECR_CACHE_DIR",
                    untrusted.dir.display()
                )),
            );
        }
    };
    let file = cache.file_path();
    let key = token::cache_key(registry, identity);
    let Some(entry) = cache.get(&key) else {
        return Check::ok(
            NAME,
            format!(
                "no cached token for this identity in {} yet: the next get fetches one",
                file.display()
            ),
        );
    };
    let now = OffsetDateTime::now_utc();
    let age = format!("fetched {} ago", human(now - entry.requested_at));
    let detail = match entry.freshness(now, Duration::ZERO) {
        Freshness::Fresh => format!(
            "fresh: {age}, expires in {}; get answers from {} without an API call until {}",
            human(entry.expires_at - now),
            file.display(),
            entry.refresh_at().map(stamp).unwrap_or_default()
        ),
        Freshness::Stale => format!(
            "stale: {age}, expires in {}; the next get refreshes it (and serves it if that fails)",
            human(entry.expires_at - now)
        ),
        Freshness::Expired => format!(
            "expired {} ago ({age}): never served; the next get fetches a new one",
            human(now - entry.expires_at)
        ),
    };
    Check::ok(NAME, detail)
}

/// The cached SSO token of an SSO profile (`~/.aws/sso/cache/<sha1>.json`, as the AWS CLI
/// writes it): there, unexpired, or refreshable. Only `expiresAt` and whether a refresh token
/// is there are read; no token value leaves this function.
pub fn sso_check(login: &crate::ecr::probe::SsoLogin, home: Option<&Path>) -> Check {
    const NAME: &str = "sso";
    let fix = format!("run `aws sso login --profile {}`", login.profile);
    let what = match &login.session {
        Some(session) => format!("SSO session `{session}` (profile {})", login.profile),
        None => format!(
            "SSO profile {} (legacy sso_start_url, not refreshable)",
            login.profile
        ),
    };
    let Some(named_by) = login.session.as_deref().or(login.start_url.as_deref()) else {
        return Check::fail(NAME, format!("{what} has no sso_start_url"), fix);
    };
    let Some(home) = home else {
        return Check::fail(
            NAME,
            format!("{what}: no home directory, so no SSO token cache"),
            fix,
        );
    };
    let path = home
        .join(".aws/sso/cache")
        .join(format!("{}.json", sha1_hex(named_by)));
    let text = match std::fs::read(&path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Check::fail(
                NAME,
                format!("{what}: not signed in (no {})", path.display()),
                fix,
            );
        }
        Err(e) => {
            return Check::fail(
                NAME,
                format!("{what}: cannot read {}: {e}", path.display()),
                fix,
            );
        }
    };
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Cached {
        expires_at: String,
        refresh_token: Option<serde::de::IgnoredAny>,
        registration_expires_at: Option<String>,
    }
    let parsed = serde_json::from_slice::<Cached>(&text)
        .ok()
        .and_then(|c| Some((OffsetDateTime::parse(&c.expires_at, &Rfc3339).ok()?, c)));
    let Some((expires_at, cached)) = parsed else {
        return Check::fail(
            NAME,
            format!("{what}: {} is not an SSO token file", path.display()),
            fix,
        );
    };
    let now = OffsetDateTime::now_utc();
    if expires_at > now {
        return Check::ok(
            NAME,
            format!(
                "{what}: signed in, token valid for {} more",
                human(expires_at - now)
            ),
        );
    }
    let registration_lasts = cached
        .registration_expires_at
        .and_then(|t| OffsetDateTime::parse(&t, &Rfc3339).ok())
        .is_some_and(|t| t > now);
    if login.session.is_some() && cached.refresh_token.is_some() && registration_lasts {
        return Check::warn(
            NAME,
            format!(
                "{what}: the access token expired {} ago; the SDK renews it with the refresh token",
                human(now - expires_at)
            ),
            Some(format!("if renewal fails, {fix}")),
        );
    }
    Check::fail(
        NAME,
        format!(
            "{what}: signed out, the token expired {} ago",
            human(now - expires_at)
        ),
        fix,
    )
}

/// The SSO token cache's file name: hex SHA-1 of the session name (or legacy start URL).
fn sha1_hex(text: &str) -> String {
    use sha1::Digest as _;
    sha1::Sha1::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// `3h 12m`, `4m 05s`, `12s`: how long, at a glance (negative spans as their size).
pub fn human(span: time::Duration) -> String {
    let secs = span.whole_seconds().unsigned_abs();
    match secs {
        0..60 => format!("{secs}s"),
        60..3600 => format!("{}m {:02}s", secs / 60, secs % 60),
        3600..86400 => format!("{}h {:02}m", secs / 3600, secs % 3600 / 60),
        _ => format!("{}d {:02}h", secs / 86400, secs % 86400 / 3600),
    }
}

/// A moment in RFC 3339, to the second.
pub fn stamp(at: OffsetDateTime) -> String {
    at.replace_nanosecond(0)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sso_cache_names_are_the_hex_sha1_of_the_session() {
        // FIPS 180 test vector.
        assert_eq!(sha1_hex("abc"), "a9993e364706816aba3e25717850c26c9cd0d89d");
    }

    #[test]
    fn spans_read_at_a_glance() {
        assert_eq!(human(time::Duration::seconds(12)), "12s");
        assert_eq!(human(time::Duration::seconds(245)), "4m 05s");
        assert_eq!(
            human(time::Duration::seconds(-(3 * 3600 + 12 * 60))),
            "3h 12m"
        );
        assert_eq!(human(time::Duration::days(2)), "2d 00h");
    }
}
