//! Read-only probes for `doctor`: who the credentials belong to (STS `GetCallerIdentity`, with
//! the server's clock from its `Date` header), which API endpoint a registry's tokens come from,
//! and whether instance metadata answers.
//!
//! They build the SDK exactly as a token fetch does ([`super::sdk_config`]), so the identity
//! shown is the one `get` would use. Every probe runs under a deadline. SDK types stay in this
//! module; `doctor` gets plain values. Nothing returned holds a secret.

use super::{
    FetchError, api_error, block_on_bounded, endpoint_flags, endpoint_override, https_client,
    loader, sdk_config, service_id,
};
use crate::identity::CredentialSource;
use crate::registry::Registry;
use aws_config::provider_config::ProviderConfig;
use aws_sdk_ecr::config::Region;
use aws_sdk_sts::config::interceptors::BeforeDeserializationInterceptorContextRef;
use aws_sdk_sts::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_sts::primitives::{DateTime, DateTimeFormat};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use time::OffsetDateTime;

/// The principal behind the credentials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub account: String,
    pub arn: String,
}

/// The server's clock against ours, from one response's `Date` header (1 s resolution).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServerClock {
    pub server: OffsetDateTime,
    /// This machine's clock when the response arrived.
    pub local: OffsetDateTime,
}

impl ServerClock {
    /// How far this machine's clock is ahead of the server's (negative: behind).
    pub fn skew(&self) -> time::Duration {
        self.local - self.server
    }
}

/// What `GetCallerIdentity` said, and the server's clock from any answer it gave (an error
/// answer carries a `Date` too, which is what a skewed clock's signature error needs).
pub struct CallerProbe {
    pub caller: Result<Caller, FetchError>,
    pub clock: Option<ServerClock>,
}

/// `GetCallerIdentity` in `region` with `source`'s credentials (resolved and any role assumed,
/// as a token fetch does), bounded by `deadline`.
pub fn caller_identity_blocking(
    region: &str,
    source: &CredentialSource,
    deadline: Duration,
) -> CallerProbe {
    let date = DateHeader::default();
    let caller = block_on_bounded(deadline, caller_identity(region, source, deadline, &date));
    CallerProbe {
        caller,
        clock: date.clock(),
    }
}

async fn caller_identity(
    region: &str,
    source: &CredentialSource,
    deadline: Duration,
    date: &DateHeader,
) -> Result<Caller, FetchError> {
    // No web identity here (doctor checks the helper's routes): no STS FIPS choice to make.
    let sdk = sdk_config(Region::new(region.to_string()), source, deadline, false).await?;
    let conf = aws_sdk_sts::config::Builder::from(&sdk)
        .interceptor(date.clone())
        .build();
    let output = aws_sdk_sts::Client::from_conf(conf)
        .get_caller_identity()
        .send()
        .await
        .map_err(|e| api_error("STS", e))?;
    Ok(Caller {
        account: output.account().unwrap_or_default().to_string(),
        arn: output.arn().unwrap_or_default().to_string(),
    })
}

/// The API endpoint a registry's tokens are fetched from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiEndpoint {
    pub url: String,
    /// An explicit endpoint (environment or profile) replaced the resolved one.
    pub overridden: bool,
    pub fips: bool,
    pub dual_stack: bool,
}

/// The endpoint a token fetch for `registry` as `source` would call: the configured override,
/// else what the SDK's resolver makes of the region and the host's FIPS / dual-stack flags.
/// Reads the environment and the profile files only; no network.
pub fn api_endpoint_blocking(
    registry: &Registry,
    source: &CredentialSource,
    deadline: Duration,
) -> Result<ApiEndpoint, FetchError> {
    block_on_bounded(deadline, api_endpoint(registry, source, deadline))
}

async fn api_endpoint(
    registry: &Registry,
    source: &CredentialSource,
    deadline: Duration,
) -> Result<ApiEndpoint, FetchError> {
    let region = registry.api_region().to_string();
    let sdk = loader(
        Region::new(region.clone()),
        source,
        deadline,
        https_client()?,
    )
    .load()
    .await;
    let explicit = endpoint_override(&sdk, service_id(registry));
    let (fips, dual_stack) = endpoint_flags(registry, explicit.is_some()).unwrap_or((
        sdk.use_fips().unwrap_or(false),
        sdk.use_dual_stack().unwrap_or(false),
    ));
    // Each service crate has its own resolver types, hence a macro rather than a function.
    macro_rules! resolve {
        ($service:ident) => {{
            use $service::config::endpoint::{DefaultResolver, Params, ResolveEndpoint};
            let params = Params::builder()
                .region(region.clone())
                .use_fips(fips)
                .use_dual_stack(dual_stack)
                .build()
                .map_err(|e| FetchError::Setup(e.to_string()))?;
            DefaultResolver::new()
                .resolve_endpoint(&params)
                .await
                .map(|endpoint| endpoint.url().to_string())
                .map_err(|e| {
                    FetchError::Setup(format!("no API endpoint for region {region}: {e}"))
                })?
        }};
    }
    let url = match (&explicit, registry) {
        (Some(url), _) => url.clone(),
        (None, Registry::Private(_)) => resolve!(aws_sdk_ecr),
        (None, Registry::Public { .. }) => resolve!(aws_sdk_ecrpublic),
    };
    Ok(ApiEndpoint {
        url,
        overridden: explicit.is_some(),
        fips,
        dual_stack,
    })
}

/// Asks instance metadata (IMDSv2: a session token, then the role list) with the helper's own
/// short, single-attempt timeouts. `Ok(None)`: it answers, but this instance has no role.
/// `AWS_EC2_METADATA_SERVICE_ENDPOINT` is honoured, as by the credentials chain.
pub fn instance_role_blocking(deadline: Duration) -> Result<Option<String>, String> {
    block_on_bounded(deadline, async {
        let provider_config = ProviderConfig::default().with_http_client(https_client()?);
        let client = aws_config::imds::Client::builder()
            .configure(&provider_config)
            .connect_timeout(Duration::from_millis(500))
            .read_timeout(Duration::from_millis(800))
            .max_attempts(1)
            .build();
        match client
            .get("/latest/meta-data/iam/security-credentials/")
            .await
        {
            Ok(roles) => Ok(Ok(roles
                .as_ref()
                .lines()
                .map(str::trim)
                .find(|r| !r.is_empty())
                .map(str::to_string))),
            Err(aws_config::imds::client::error::ImdsError::ErrorResponse(e))
                if e.response().status().as_u16() == 404 =>
            {
                Ok(Ok(None))
            }
            Err(e) => Ok(Err(crate::error_chain::error_chain(&e))),
        }
    })
    .unwrap_or_else(|e| Err(e.to_string()))
}

pub use super::diagnosis::SsoLogin;

/// The SSO sign-in profile `name` depends on (see [`SsoLogin`]); reads the profile files only.
pub fn sso_login_blocking(name: &str, deadline: Duration) -> Result<Option<SsoLogin>, String> {
    block_on_bounded(deadline, async {
        Ok(super::diagnosis::sso_login(name).await)
    })
    .unwrap_or_else(|e| Err(e.to_string()))
}

/// Keeps the `Date` header of the last response (success or error) and when it arrived.
#[derive(Debug, Default, Clone)]
struct DateHeader(Arc<Mutex<Option<ServerClock>>>);

impl DateHeader {
    fn clock(&self) -> Option<ServerClock> {
        self.0.lock().ok().and_then(|seen| *seen)
    }
}

impl Intercept for DateHeader {
    fn name(&self) -> &'static str {
        "DateHeader"
    }

    fn read_after_transmit(
        &self,
        context: &BeforeDeserializationInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), aws_sdk_sts::error::BoxError> {
        let local = OffsetDateTime::now_utc();
        let server = context
            .response()
            .headers()
            .get("date")
            .and_then(parse_http_date);
        if let (Some(server), Ok(mut seen)) = (server, self.0.lock()) {
            *seen = Some(ServerClock { server, local });
        }
        Ok(())
    }
}

/// An HTTP date (`Tue, 15 Nov 1994 08:12:31 GMT`).
fn parse_http_date(text: &str) -> Option<OffsetDateTime> {
    let parsed = DateTime::from_str(text.trim(), DateTimeFormat::HttpDate).ok()?;
    OffsetDateTime::from_unix_timestamp(parsed.secs()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_dates_parse_and_skew_is_local_minus_server() {
        let server = parse_http_date("Tue, 15 Nov 1994 08:12:31 GMT").expect("date");
        assert_eq!(server.unix_timestamp(), 784887151);
        assert_eq!(parse_http_date("yesterday"), None);
        let clock = ServerClock {
            server,
            local: server + time::Duration::minutes(7),
        };
        assert_eq!(clock.skew(), time::Duration::minutes(7));
    }
}
