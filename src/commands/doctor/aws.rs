//! Checks that talk to AWS: the API endpoint a host's tokens come from, who the credentials
//! are (STS `GetCallerIdentity`) and how they were chosen, the clock against the API's,
//! instance metadata when it is the source, and a real token through the helper's own path.
//!
//! Time is bounded twice: every call by `AWS_ECR_FETCH_TIMEOUT`, and all of them together by a
//! [`Budget`]; a check that finds the budget spent says so instead of running.

use super::local::{human, stamp};
use super::report::Check;
use crate::aws_profile::AwsFiles;
use crate::ecr::FetchError;
use crate::ecr::probe::{self, ApiEndpoint};
use crate::identity::{self, CredentialSource, Identity};
use crate::routing::Route;
use crate::settings::Settings;
use crate::token::{self, Origin, TokenRequest};
use std::time::{Duration, Instant};
use time::OffsetDateTime;

/// Skew beyond this breaks SigV4 signatures (AWS accepts requests within 5 minutes).
const MAX_SKEW: time::Duration = time::Duration::minutes(5);
/// Reading the profile files and resolving an endpoint is local; this only guards a stuck disk.
const LOCAL_DEADLINE: Duration = Duration::from_secs(5);
/// Less than this left is not worth starting a call with.
const MIN_CALL: Duration = Duration::from_millis(200);

/// The time the network checks may take together: twice `AWS_ECR_FETCH_TIMEOUT` (an identity
/// check and a token fetch that both run into it), each call also bounded by it alone.
pub struct Budget {
    until: Instant,
    per_call: Duration,
}

impl Budget {
    pub fn new(per_call: Duration) -> Budget {
        Budget {
            until: Instant::now() + per_call * 2,
            per_call,
        }
    }

    /// The deadline for the next call, or `None` when the budget is spent.
    fn next(&self) -> Option<Duration> {
        let left = self.until.saturating_duration_since(Instant::now());
        (left >= MIN_CALL).then(|| left.min(self.per_call))
    }
}

fn out_of_time(name: &'static str) -> Check {
    Check::warn(
        name,
        "not checked: doctor's time budget (twice AWS_ECR_FETCH_TIMEOUT) was spent by the checks before",
        Some("fix the checks above, or raise AWS_ECR_FETCH_TIMEOUT".into()),
    )
}

/// Region and API endpoint of the route's tokens; `None` with the check when it cannot be had.
pub fn endpoint_check(route: &Route) -> (Check, Option<ApiEndpoint>) {
    const NAME: &str = "endpoint";
    let region = route.registry.api_region();
    match probe::api_endpoint_blocking(&route.registry, &route.source, LOCAL_DEADLINE) {
        Ok(endpoint) => {
            let mut flags = Vec::new();
            if endpoint.fips {
                flags.push("FIPS");
            }
            if endpoint.dual_stack {
                flags.push("dual-stack");
            }
            let kind = match (endpoint.overridden, flags.is_empty()) {
                (true, _) => format!(
                    "an explicit endpoint ({}), which wins over the host's FIPS / dual-stack form",
                    override_source(&endpoint.url, route)
                ),
                (false, true) => "the standard endpoint".to_string(),
                (false, false) => format!("the {} endpoint, from the host", flags.join(" ")),
            };
            let detail = format!(
                "region {region}, API {}: {kind}",
                without_userinfo(&endpoint.url)
            );
            let check = if insecure(&endpoint.url) {
                Check::warn(
                    NAME,
                    format!(
                        "{detail}; plain http to another machine: tokens cross the network unencrypted"
                    ),
                    Some("use an https:// endpoint".into()),
                )
            } else {
                Check::ok(NAME, detail)
            };
            (check, Some(endpoint))
        }
        Err(e) => (
            Check::fail(
                NAME,
                format!("region {region}: {e}"),
                "check AWS_ENDPOINT_URL_ECR / AWS_ENDPOINT_URL and the profile's endpoint settings",
            ),
            None,
        ),
    }
}

/// Which setting an explicit endpoint comes from: the variable holding it, else the profile.
fn override_source(url: &str, route: &Route) -> String {
    let service = if route.registry.is_public() {
        "AWS_ENDPOINT_URL_ECR_PUBLIC"
    } else {
        "AWS_ENDPOINT_URL_ECR"
    };
    [service, "AWS_ENDPOINT_URL"]
        .into_iter()
        .find(|var| {
            std::env::var(var).is_ok_and(|v| v.trim_end_matches('/') == url.trim_end_matches('/'))
        })
        .map(str::to_string)
        .unwrap_or_else(|| "the AWS profile's services section or endpoint_url".into())
}

/// A URL for display: `user:password@` in an endpoint (a proxy's, say) would be a secret.
fn without_userinfo(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    match rest[..end].rfind('@') {
        Some(at) => format!("{scheme}://…@{}", &rest[at + 1..]),
        None => url.to_string(),
    }
}

/// `http://` to anything but this machine.
fn insecure(url: &str) -> bool {
    let Some(rest) = url.strip_prefix("http://") else {
        return false;
    };
    let authority = rest.split('/').next().unwrap_or_default();
    let host = match authority.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or_default(),
        None => authority.split(':').next().unwrap_or_default(),
    };
    !(host == "localhost" || host == "::1" || host.starts_with("127."))
}

/// How the credentials were chosen, without a secret (an environment key id only masked).
fn chosen_by(route: Option<&Route>, source: &CredentialSource, identity: &Identity) -> String {
    let mut how = identity.description.clone();
    if let Some(key_id) = identity::environment_key_id(source) {
        how.push_str(&format!(" (AWS_ACCESS_KEY_ID {})", mask(&key_id)));
    } else if source.profile.is_none() && identity.description.contains("profile ") {
        how.push_str(match identity.profile {
            Some(_) => " (AWS_PROFILE)",
            None => " (the default profile)",
        });
    }
    if let Some(i) = route.and_then(|r| r.rule) {
        how.push_str(&format!(", chosen by helper-config rule registry[{i}]"));
    }
    if let Some(alias) = route.and_then(|r| r.alias.as_deref()) {
        how.push_str(&format!(" (asked as alias {alias})"));
    }
    how
}

/// `AKIA…MPLE` for a real 20-character key id; anything shorter shows nothing.
fn mask(key_id: &str) -> String {
    match (
        key_id.get(..4),
        key_id.len().checked_sub(4).and_then(|i| key_id.get(i..)),
    ) {
        (Some(head), Some(tail)) if key_id.len() >= 16 => format!("{head}…{tail}"),
        _ => "…".into(),
    }
}

/// The `identity` check (STS `GetCallerIdentity`) and the `clock` check from its `Date`.
/// `sso_profile`: the profile holding the SSO sign-in the credentials depend on, if any (its
/// `aws sso login` is then the fix for a credentials failure).
pub fn identity_checks(
    route: Option<&Route>,
    region: &str,
    source: &CredentialSource,
    sso_profile: Option<&str>,
    budget: &Budget,
) -> Vec<Check> {
    let files = AwsFiles::load();
    let identity = identity::current(&files, source);
    let how = chosen_by(route, source, &identity);
    let Some(deadline) = budget.next() else {
        return vec![out_of_time("identity")];
    };
    let probe = probe::caller_identity_blocking(region, source, deadline);
    let identity_check = match &probe.caller {
        Ok(caller) => {
            let detail = format!(
                "{} (account {}), credentials: {how}",
                caller.arn, caller.account
            );
            let ignored = std::env::var("AWS_PROFILE").ok().filter(|p| !p.is_empty());
            match ignored.filter(|_| identity.description.starts_with(identity::ENVIRONMENT_KEYS)) {
                Some(profile) => Check::warn(
                    "identity",
                    format!("{detail}; AWS_PROFILE={profile} is set but the environment keys win"),
                    Some(
                        "unset AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY to use the profile".into(),
                    ),
                ),
                None => Check::ok("identity", detail),
            }
        }
        Err(e) => Check::fail(
            "identity",
            format!("{} — credentials from: {how}", sts_failure(e)),
            fix_for(e, None, sso_profile),
        ),
    };
    let clock = clock_check(&probe, probe.caller.is_ok());
    vec![identity_check, clock]
}

/// A failed `GetCallerIdentity` in words: FetchError's own lines speak of the ECR API.
fn sts_failure(error: &FetchError) -> String {
    match error {
        FetchError::Timeout { after } => format!(
            "no answer from STS within {:.1} s (AWS_ECR_FETCH_TIMEOUT)",
            after.as_secs_f64()
        ),
        FetchError::Api { detail } => {
            format!(
                "STS GetCallerIdentity failed: {}",
                crate::ecr::concise(detail)
            )
        }
        FetchError::AccessDenied { detail } => format!(
            "STS refused the credentials: {}",
            crate::ecr::concise(detail)
        ),
        other => other.to_string(),
    }
}

fn clock_check(probe: &probe::CallerProbe, answered: bool) -> Check {
    const NAME: &str = "clock";
    let Some(clock) = probe.clock else {
        return Check::warn(
            NAME,
            "not compared: no answer with a Date header from STS",
            (!answered).then(|| "fix the identity check first".to_string()),
        );
    };
    let skew = clock.skew();
    let direction = if skew.is_negative() {
        "behind"
    } else {
        "ahead of"
    };
    // The header has whole seconds: a second either way is rounding.
    let detail = match skew.abs() <= time::Duration::seconds(1) {
        true => format!(
            "in step with the API's clock (Date: {})",
            stamp(clock.server)
        ),
        false => format!(
            "this machine's clock is {} {direction} the API's (Date: {})",
            human(skew),
            stamp(clock.server)
        ),
    };
    let fix = "synchronise the clock (e.g. `timedatectl set-ntp true`, `chronyc makestep`)";
    match skew.abs() > MAX_SKEW {
        // With the signature rejected, the skew is the likely cause of the identity failure.
        true if !answered => Check::fail(
            NAME,
            format!("{detail}: requests are signed too far off"),
            fix,
        ),
        true => Check::warn(
            NAME,
            format!("{detail}: beyond 5 minutes signatures fail and token expiry is misjudged"),
            Some(fix.into()),
        ),
        false => Check::ok(NAME, detail),
    }
}

/// Instance metadata, checked when the chain ends at the instance role: reachable (short,
/// single attempt), and with a role.
pub fn instance_metadata_check(budget: &Budget) -> Check {
    const NAME: &str = "instance-metadata";
    let no_credentials = "configure credentials (AWS_PROFILE, environment keys, `aws configure`), \
                          or run on an EC2 instance with an instance profile";
    if std::env::var("AWS_EC2_METADATA_DISABLED").is_ok_and(|v| v.eq_ignore_ascii_case("true")) {
        return Check::fail(
            NAME,
            "the credentials chain ends at the instance role, but AWS_EC2_METADATA_DISABLED=true turns instance metadata off",
            no_credentials,
        );
    }
    let Some(deadline) = budget.next() else {
        return out_of_time(NAME);
    };
    let at = std::env::var("AWS_EC2_METADATA_SERVICE_ENDPOINT")
        .unwrap_or_else(|_| "http://169.254.169.254".into());
    match probe::instance_role_blocking(deadline) {
        Ok(Some(role)) => Check::ok(NAME, format!("{at} answers: instance role {role}")),
        Ok(None) => Check::fail(
            NAME,
            format!("{at} answers, but this instance has no IAM role"),
            "attach an instance profile whose role may call ecr:GetAuthorizationToken",
        ),
        Err(e) => Check::fail(
            NAME,
            format!(
                "no usable answer from instance metadata at {at} (it is the credential source): {}",
                crate::ecr::concise(&e)
            ),
            format!(
                "not on EC2: {no_credentials}. In a container on EC2: allow 2 hops for IMDSv2 \
                 (`aws ec2 modify-instance-metadata-options --http-put-response-hop-limit 2`)"
            ),
        ),
    }
}

/// A real token for the route, the way `get` gets it (cache first, then a single-flight fetch
/// that is cached). Says where it came from and how long it lasts; never shows it.
pub fn token_check(
    route: &Route,
    settings: &Settings,
    endpoint: Option<&ApiEndpoint>,
    sso_profile: Option<&str>,
    budget: &Budget,
) -> Check {
    const NAME: &str = "token";
    let files = AwsFiles::load();
    let identity = identity::current(&files, &route.source);
    let cache = settings.cache().ok().flatten();
    let Some(deadline) = budget.next() else {
        return out_of_time(NAME);
    };
    let request = TokenRequest {
        registry: &route.registry,
        identity: &identity,
        source: &route.source,
        min_remaining: Duration::ZERO,
        cache: cache.as_ref(),
        fetch_timeout: deadline,
    };
    match token::obtain(&request) {
        Ok(credential) => {
            let left = human(credential.expires_at - OffsetDateTime::now_utc());
            let user = &credential.username;
            match credential.origin {
                Origin::Cache => Check::ok(
                    NAME,
                    format!("get answers from the cache: user {user}, valid for {left} more"),
                ),
                Origin::Api => Check::ok(
                    NAME,
                    format!(
                        "GetAuthorizationToken answered: user {user}, valid for {left} (now cached)"
                    ),
                ),
                Origin::StaleCache => Check::warn(
                    NAME,
                    format!(
                        "the refresh failed; get serves the cached token, valid for {left} more"
                    ),
                    Some(format!(
                        "see the identity check, and the log in {}",
                        settings
                            .log_dir()
                            .map(|d| d.display().to_string())
                            .unwrap_or_else(|| "the cache directory".into())
                    )),
                ),
            }
        }
        Err(e) => Check::fail(
            NAME,
            format!("no token: {e}"),
            fix_for(&e, endpoint, sso_profile),
        ),
    }
}

/// What to do about a failed credentials or API call.
fn fix_for(
    error: &FetchError,
    endpoint: Option<&ApiEndpoint>,
    sso_profile: Option<&str>,
) -> String {
    let api = endpoint
        .map(|e| without_userinfo(&e.url))
        .unwrap_or_else(|| "the AWS API".into());
    match error {
        FetchError::Credentials { .. } if sso_profile.is_some() => format!(
            "run `aws sso login --profile {}`",
            sso_profile.unwrap_or_default()
        ),
        FetchError::NoCredentials { .. } => "configure AWS credentials: a profile (`aws configure`, \
             `aws sso login`) selected with AWS_PROFILE, environment keys, or an instance role on EC2"
            .into(),
        FetchError::Credentials { profile, .. } => format!(
            "fix profile {profile} in the AWS config files as the detail says; \
             `aws sts get-caller-identity --profile {profile}` works once it is right"
        ),
        FetchError::AccessDenied { .. } => format!(
            "check that the credentials are valid, and that the identity may call \
             ecr:GetAuthorizationToken (`{} policy pull` prints a policy)",
            crate::helper::NAME
        ),
        FetchError::Timeout { .. } => format!(
            "check the network path to {api} (HTTPS_PROXY, NO_PROXY, firewalls), or raise AWS_ECR_FETCH_TIMEOUT"
        ),
        FetchError::Busy { .. } => "another helper process is refreshing this token; run doctor again".into(),
        FetchError::Api { .. } | FetchError::Http { .. } | FetchError::BadResponse(_) => format!(
            "check that {api} is the AWS API (endpoint overrides, proxies); the log file has the full error"
        ),
        FetchError::Setup(_) => "check AWS_CA_BUNDLE and the proxy variables".into(),
        // Only the kubelet mode exchanges ServiceAccount tokens; doctor's routes never do.
        FetchError::WebIdentity { role, .. } => format!(
            "check role {role}'s trust policy for the cluster's OIDC provider and the token audience"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_ids_are_masked_and_short_ones_hidden() {
        assert_eq!(mask("AKIAIOSFODNN7EXAMPLE"), "AKIA…MPLE");
        assert_eq!(mask("testing"), "…");
        assert_eq!(mask(""), "…");
    }

    #[test]
    fn plain_http_is_insecure_only_off_this_machine() {
        assert!(!insecure("http://127.0.0.1:5000"));
        assert!(!insecure("http://localhost/"));
        assert!(!insecure(
            "https://vpce-1.api.ecr.us-east-1.vpce.amazonaws.com"
        ));
        assert!(!insecure("http://[::1]:5000/"));
        assert!(insecure("http://proxy.corp.example:8080"));
        assert!(insecure("http://[2001:db8::1]/"));
    }

    #[test]
    fn endpoint_user_info_is_not_shown() {
        assert_eq!(
            without_userinfo("https://me:pw@proxy.example/ecr?x=@"),
            "https://…@proxy.example/ecr?x=@"
        );
        assert_eq!(
            without_userinfo("https://api.ecr.us-east-1.amazonaws.com"),
            "https://api.ecr.us-east-1.amazonaws.com"
        );
    }

    #[test]
    fn a_spent_budget_gives_no_deadline() {
        let budget = Budget::new(Duration::from_millis(50));
        assert_eq!(budget.next(), None, "less than MIN_CALL in all");
        let roomy = Budget::new(Duration::from_secs(3));
        assert_eq!(roomy.next(), Some(Duration::from_secs(3)));
    }
}
