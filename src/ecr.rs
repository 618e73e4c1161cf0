//! Fetching authorization tokens from the ECR and ECR Public APIs.
//!
//! Only the slow path comes here: the SDK is loaded, credentials are resolved once and handed to
//! the client (so an assume-role chain runs STS once), and the whole fetch runs under one
//! deadline because the SDK has no read timeout of its own and Docker has no helper timeout.

mod diagnosis;
pub mod probe;
pub mod secrets;
mod web_identity;

use crate::error_chain::error_chain;
use crate::identity::CredentialSource;
use crate::registry::Registry;
use aws_config::BehaviorVersion;
use aws_config::SdkConfig;
use aws_config::default_provider::credentials::DefaultCredentialsChain;
use aws_config::profile::ProfileFileCredentialsProvider;
use aws_config::provider_config::ProviderConfig;
use aws_config::timeout::TimeoutConfig;
use aws_credential_types::Credentials;
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use aws_sdk_ecr::config::Region;
use aws_sdk_ecr::error::{ProvideErrorMetadata, SdkError};
use std::fmt;
use std::time::Duration;
use time::OffsetDateTime;

/// A token as the API returned it.
#[derive(Clone)]
pub struct FetchedToken {
    /// base64 of `user:password`.
    pub authorization_token: String,
    pub expires_at: OffsetDateTime,
    /// `https://<account>.dkr.ecr.<region>.amazonaws.com` (private ECR only).
    pub proxy_endpoint: Option<String>,
}

impl fmt::Debug for FetchedToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FetchedToken")
            .field("authorization_token", &"<redacted>")
            .field("expires_at", &self.expires_at)
            .field("proxy_endpoint", &self.proxy_endpoint)
            .finish()
    }
}

/// Why a fetch failed. `Display` is the one actionable line for stderr; [`FetchError::detail`]
/// is the full chain for the log. Neither ever contains a secret: SDK errors don't carry them.
#[derive(Debug)]
pub enum FetchError {
    /// No provider in the default chain had credentials and no profile was chosen.
    NoCredentials {
        detail: String,
    },
    /// The chosen profile's credentials could not be had; `reason` is one sentence.
    Credentials {
        profile: String,
        reason: String,
        detail: String,
    },
    AccessDenied {
        detail: String,
    },
    /// STS refused (or could not be asked) to exchange a ServiceAccount token for `role`.
    WebIdentity {
        role: String,
        reason: String,
        detail: String,
    },
    Timeout {
        after: Duration,
    },
    /// Another process held the refresh lock for the whole deadline and left no usable token.
    Busy {
        after: Duration,
    },
    Api {
        detail: String,
    },
    /// The API answered with a server error or a body that is not its error format.
    Http {
        api: &'static str,
        status: u16,
        code: String,
    },
    BadResponse(String),
    Setup(String),
}

impl fmt::Display for FetchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FetchError::NoCredentials { .. } => write!(
                f,
                "no AWS credentials found (environment, profiles, web identity, container, instance metadata); \
                 configure credentials or set AWS_PROFILE"
            ),
            FetchError::Credentials {
                profile, reason, ..
            } => write!(
                f,
                "could not get AWS credentials for profile {profile}: {reason}"
            ),
            FetchError::AccessDenied { .. } => write!(
                f,
                "access denied: the AWS identity may not call ecr:GetAuthorizationToken (or its credentials are invalid)"
            ),
            FetchError::WebIdentity { role, reason, .. } => write!(
                f,
                "could not assume role {role} with the service account token: {reason}"
            ),
            FetchError::Timeout { after } => {
                write!(
                    f,
                    "the ECR API was unreachable within {:.1} s (AWS_ECR_FETCH_TIMEOUT)",
                    after.as_secs_f64()
                )
            }
            FetchError::Busy { after } => write!(
                f,
                "another process is refreshing the token and did not finish within {:.1} s (AWS_ECR_FETCH_TIMEOUT); try again",
                after.as_secs_f64()
            ),
            FetchError::Api { detail } => {
                write!(f, "the ECR API call failed: {}", concise(detail))
            }
            FetchError::Http { api, status, code } => {
                write!(
                    f,
                    "the {api} API call failed: the {api} API answered HTTP {status}"
                )?;
                if !code.is_empty() {
                    write!(f, " ({})", concise(code))?;
                }
                Ok(())
            }
            FetchError::BadResponse(why) => {
                write!(f, "the ECR API returned an unusable token: {why}")
            }
            FetchError::Setup(why) => write!(f, "could not set up the AWS client: {why}"),
        }
    }
}

impl FetchError {
    /// The whole error chain, for the log file.
    pub fn detail(&self) -> String {
        match self {
            FetchError::NoCredentials { detail }
            | FetchError::Credentials { detail, .. }
            | FetchError::AccessDenied { detail }
            | FetchError::WebIdentity { detail, .. }
            | FetchError::Api { detail } => detail.clone(),
            other => other.to_string(),
        }
    }
}

/// One bounded line of an error chain for stderr; the log gets the whole chain.
pub(crate) fn concise(detail: &str) -> String {
    let line = detail.lines().next().unwrap_or(detail);
    const MAX: usize = 300;
    match line.char_indices().nth(MAX) {
        Some((cut, _)) => format!("{}…", &line[..cut]),
        None => line.to_string(),
    }
}

/// Fetches a token for `registry`, bounded by `deadline`. Builds a single-threaded runtime: the
/// helper is a short-lived process and needs no more.
pub fn fetch_blocking(
    registry: &Registry,
    source: &CredentialSource,
    deadline: Duration,
) -> Result<FetchedToken, FetchError> {
    block_on_bounded(deadline, fetch(registry, source, deadline))
}

/// Runs `work` on a single-threaded runtime, cut off after `deadline`.
fn block_on_bounded<T>(
    deadline: Duration,
    work: impl Future<Output = Result<T, FetchError>>,
) -> Result<T, FetchError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| FetchError::Setup(format!("tokio runtime: {e}")))?;
    runtime.block_on(async {
        match tokio::time::timeout(deadline, work).await {
            Ok(result) => result,
            Err(_) => Err(FetchError::Timeout { after: deadline }),
        }
    })
}

/// The SDK configuration for calls in `region` as `source`: the loader the helper always uses
/// (timeouts, HTTPS client, the credentials chain, `source`'s profile), with the credentials
/// resolved once, here, and any `role_arn` assumed on top. `fips`: a web identity exchange uses
/// STS's FIPS endpoint (a FIPS registry host asks for FIPS endpoints throughout).
async fn sdk_config(
    region: Region,
    source: &CredentialSource,
    deadline: Duration,
    fips: bool,
) -> Result<SdkConfig, FetchError> {
    let profile = source
        .profile
        .clone()
        .or_else(|| std::env::var("AWS_PROFILE").ok().filter(|p| !p.is_empty()));
    let http_client = https_client()?;
    let provider = credentials_provider(&region, source, http_client.clone()).await;
    let sdk = loader(region, source, deadline, http_client)
        .credentials_provider(provider)
        .load()
        .await;

    // Resolve once, here, so the failure can be told apart from an API failure and the
    // client does not run the chain (and its STS call) a second time.
    let credentials = match &source.web_identity {
        Some(web) => web_identity::assume_role(&sdk, fips, source, web).await?,
        None => chain_credentials(&sdk, source, profile.as_deref()).await?,
    };
    Ok(sdk
        .into_builder()
        .credentials_provider(SharedCredentialsProvider::new(credentials))
        .build())
}

/// The config loader without credentials: region, timeouts, HTTPS client, `source`'s profile.
fn loader(
    region: Region,
    source: &CredentialSource,
    deadline: Duration,
    http_client: aws_sdk_ecr::config::SharedHttpClient,
) -> aws_config::ConfigLoader {
    // No retry config here: the SDK's default is standard mode with 3 attempts, and it honours
    // `AWS_MAX_ATTEMPTS` / `AWS_RETRY_MODE` and the profile's `max_attempts` / `retry_mode`.
    let mut loader = aws_config::defaults(BehaviorVersion::v2026_01_12())
        .region(region)
        .timeout_config(timeouts(deadline))
        .http_client(http_client);
    if let Some(name) = &source.profile {
        loader = loader.profile_name(name);
    }
    loader
}

/// The SDK's service id of the registry's API (for endpoint overrides).
fn service_id(registry: &Registry) -> &'static str {
    match registry {
        Registry::Private(_) => "ECR",
        Registry::Public { .. } => "ECR PUBLIC",
    }
}

/// The FIPS and dual-stack flags (`use_fips`, `use_dual_stack`) the client gets, `None` for
/// "as the SDK config says" (`AWS_USE_FIPS_ENDPOINT`, ...): a private host's own flags, unless
/// an explicit endpoint (VPC endpoint, PrivateLink, proxy) is configured — it wins, and the SDK
/// refuses to combine them.
fn endpoint_flags(registry: &Registry, overridden: bool) -> Option<(bool, bool)> {
    match registry {
        _ if overridden => Some((false, false)),
        Registry::Private(p) => Some((p.fips, p.dual_stack)),
        Registry::Public { .. } => None,
    }
}

async fn fetch(
    registry: &Registry,
    source: &CredentialSource,
    deadline: Duration,
) -> Result<FetchedToken, FetchError> {
    let region = Region::new(registry.api_region().to_string());
    let fips = matches!(registry, Registry::Private(p) if p.fips);
    let sdk = sdk_config(region, source, deadline, fips).await?;
    let overridden = endpoint_override(&sdk, service_id(registry)).is_some();
    let flags = endpoint_flags(registry, overridden);

    match registry {
        Registry::Private(p) => {
            let mut conf = aws_sdk_ecr::config::Builder::from(&sdk);
            if let Some((fips, dual_stack)) = flags {
                conf = conf.use_fips(fips).use_dual_stack(dual_stack);
            }
            let conf = conf.build();
            let client = aws_sdk_ecr::Client::from_conf(conf);
            #[allow(deprecated)] // registryIds still selects the account whose token is issued
            let request = client
                .get_authorization_token()
                .set_registry_ids(p.account.clone().map(|a| vec![a]));
            let output = request.send().await.map_err(|e| api_error("ECR", e))?;
            let data = output.authorization_data().first().ok_or_else(|| {
                FetchError::BadResponse("no authorizationData in the response".into())
            })?;
            token_from(
                data.authorization_token(),
                data.expires_at(),
                data.proxy_endpoint().map(str::to_string),
            )
        }
        Registry::Public { .. } => {
            let mut conf = aws_sdk_ecrpublic::config::Builder::from(&sdk);
            if let Some((fips, dual_stack)) = flags {
                conf = conf.use_fips(fips).use_dual_stack(dual_stack);
            }
            let conf = conf.build();
            let client = aws_sdk_ecrpublic::Client::from_conf(conf);
            let output = client
                .get_authorization_token()
                .send()
                .await
                .map_err(|e| api_error("ECR Public", e))?;
            let data = output.authorization_data().ok_or_else(|| {
                FetchError::BadResponse("no authorizationData in the ECR Public response".into())
            })?;
            token_from(data.authorization_token(), data.expires_at(), None)
        }
    }
}

/// The ambient chain's (or `source.profile`'s) credentials, through `source.role_arn` when
/// there is one.
async fn chain_credentials(
    sdk: &SdkConfig,
    source: &CredentialSource,
    profile: Option<&str>,
) -> Result<Credentials, FetchError> {
    let mut provider = sdk
        .credentials_provider()
        .ok_or_else(|| FetchError::Setup("no credentials provider".into()))?;
    if let Some(role) = &source.role_arn {
        let mut builder = aws_config::sts::AssumeRoleProvider::builder(role.clone())
            .session_name(source.session_name.as_deref().unwrap_or("ecr-login"));
        if let Some(external_id) = &source.external_id {
            builder = builder.external_id(external_id.clone());
        }
        let assumed = builder.configure(sdk).build_from_provider(provider).await;
        provider = SharedCredentialsProvider::new(assumed);
    }
    match provider.provide_credentials().await {
        Ok(credentials) => Ok(credentials),
        Err(e) => Err(diagnosis::explain(e, profile).await),
    }
}

/// The endpoint the service client will use instead of the resolved one, found as the SDK's
/// `From<&SdkConfig>` finds it: a programmatic endpoint, else `AWS_ENDPOINT_URL_<SERVICE>` /
/// the profile's `services` section, else `AWS_ENDPOINT_URL` / the profile's `endpoint_url`.
fn endpoint_override(sdk: &SdkConfig, service_id: &str) -> Option<String> {
    if sdk.get_origin("endpoint_url").is_client_config() {
        return sdk.endpoint_url().map(str::to_string);
    }
    let key = aws_types::service_config::ServiceConfigKey::builder()
        .service_id(service_id)
        .env("AWS_ENDPOINT_URL")
        .profile("endpoint_url")
        .build()
        .ok()?;
    sdk.service_config()
        .and_then(|config| config.load_config(key))
        .or_else(|| sdk.endpoint_url().map(str::to_string))
}

/// The SDK's default chain, with instance-metadata probing kept short and single-attempt so a
/// machine without credentials fails in about a second instead of ~20. An explicit profile
/// (export's `profile = ...`) reads only that profile, not environment keys first.
async fn credentials_provider(
    region: &Region,
    source: &CredentialSource,
    http_client: aws_sdk_ecr::config::SharedHttpClient,
) -> SharedCredentialsProvider {
    let provider_config = ProviderConfig::default()
        .with_region(Some(region.clone()))
        .with_http_client(http_client);
    if let Some(name) = &source.profile {
        let profile = ProfileFileCredentialsProvider::builder()
            .configure(&provider_config)
            .profile_name(name)
            .build();
        return SharedCredentialsProvider::new(profile);
    }
    let imds = aws_config::imds::Client::builder()
        .configure(&provider_config)
        .connect_timeout(Duration::from_millis(500))
        .read_timeout(Duration::from_millis(800))
        .max_attempts(1)
        .build();
    let chain = DefaultCredentialsChain::builder()
        .configure(provider_config)
        .region(region.clone())
        .imds_client(imds)
        .build()
        .await;
    SharedCredentialsProvider::new(chain)
}

fn timeouts(deadline: Duration) -> TimeoutConfig {
    TimeoutConfig::builder()
        .connect_timeout(deadline.min(Duration::from_millis(3100)))
        .read_timeout(deadline.min(Duration::from_secs(5)))
        .operation_attempt_timeout(deadline.min(Duration::from_secs(6)))
        .operation_timeout(deadline)
        .build()
}

/// The HTTPS client for every AWS call (ECR, STS, SSO, IMDS): rustls with ring and the system's
/// roots plus `AWS_CA_BUNDLE` — extra trusted roots (a PEM file) for corporate
/// TLS-intercepting proxies, which the Go SDK honours and the Rust SDK does not on its own.
/// `HTTPS_PROXY` / `HTTP_PROXY` / `ALL_PROXY` / `NO_PROXY` are honoured as by the SDK's default
/// client (and Go's `net/http`).
fn https_client() -> Result<aws_sdk_ecr::config::SharedHttpClient, FetchError> {
    use aws_smithy_http_client::proxy::ProxyConfig;
    use aws_smithy_http_client::tls::{self, TlsContext, TrustStore, rustls_provider::CryptoMode};
    use aws_smithy_http_client::{Builder, ConnectorBuilder};
    let mut trust = TrustStore::default();
    if let Some(path) = std::env::var_os("AWS_CA_BUNDLE").filter(|p| !p.is_empty()) {
        let pem = std::fs::read(&path).map_err(|e| {
            FetchError::Setup(format!(
                "AWS_CA_BUNDLE {}: {e}",
                std::path::Path::new(&path).display()
            ))
        })?;
        trust = trust.with_pem_certificate(pem);
    }
    let context = TlsContext::builder()
        .with_trust_store(trust)
        .build()
        .map_err(|e| FetchError::Setup(format!("TLS set-up: {e}")))?;
    Ok(
        Builder::new().build_with_connector_fn(move |settings, components| {
            let mut connector = ConnectorBuilder::default()
                .tls_provider(tls::Provider::Rustls(CryptoMode::Ring))
                .tls_context(context.clone());
            connector.set_connector_settings(settings.cloned());
            if let Some(components) = components {
                connector.set_sleep_impl(components.sleep_impl());
            }
            connector.set_proxy_config(Some(ProxyConfig::from_env()));
            connector.build()
        }),
    )
}

fn token_from(
    token: Option<&str>,
    expires_at: Option<&aws_sdk_ecr::primitives::DateTime>,
    proxy_endpoint: Option<String>,
) -> Result<FetchedToken, FetchError> {
    let token = token
        .filter(|t| !t.is_empty())
        .ok_or_else(|| FetchError::BadResponse("empty authorizationToken".into()))?;
    split_token(token).map_err(FetchError::BadResponse)?;
    let expires_at = expires_at.ok_or_else(|| FetchError::BadResponse("no expiresAt".into()))?;
    let nanos =
        i128::from(expires_at.secs()) * 1_000_000_000 + i128::from(expires_at.subsec_nanos());
    let expires_at = OffsetDateTime::from_unix_timestamp_nanos(nanos)
        .map_err(|_| FetchError::BadResponse("expiresAt out of range".into()))?;
    Ok(FetchedToken {
        authorization_token: token.to_string(),
        expires_at,
        proxy_endpoint,
    })
}

fn api_error<E>(api: &'static str, error: SdkError<E>) -> FetchError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    // The server's words may echo the signed request's key id (fuzz target ecr_answer).
    let detail = crate::logging::without_key_ids(&error_chain(&error));
    let status = error.raw_response().map(|r| r.status().as_u16());
    match &error {
        SdkError::TimeoutError(_) => FetchError::Api {
            detail: format!("timed out: {detail}"),
        },
        SdkError::DispatchFailure(_) => FetchError::Api {
            detail: format!("could not reach the API: {detail}"),
        },
        SdkError::ServiceError(service) => {
            let code = service.err().code().unwrap_or_default();
            let message = service.err().message().unwrap_or_default();
            let said = crate::logging::without_key_ids(&format!("{code}: {message}"));
            if matches!(
                code,
                "AccessDeniedException"
                    | "AccessDenied"
                    | "UnrecognizedClientException"
                    | "InvalidSignatureException"
                    | "ExpiredTokenException"
                    | "InvalidClientTokenId"
            ) {
                FetchError::AccessDenied {
                    detail: said.clone(),
                }
            } else if let Some(status) = status.filter(|s| *s >= 500 || code.is_empty()) {
                // A 5xx, or a body the SDK could not read as the API's error format (whose
                // parse error would say nothing useful): the status is the news.
                FetchError::Http {
                    api,
                    status,
                    code: if code.is_empty() {
                        String::new()
                    } else {
                        said.clone()
                    },
                }
            } else {
                FetchError::Api { detail: said }
            }
        }
        SdkError::ResponseError(_) => match status {
            Some(status) => FetchError::Http {
                api,
                status,
                code: String::new(),
            },
            None => FetchError::Api { detail },
        },
        _ => FetchError::Api { detail },
    }
}

/// Decodes an `authorizationToken` (base64 `user:password`) into its two parts.
/// The error never contains the token.
pub fn split_token(token: &str) -> Result<(String, String), String> {
    use base64::Engine as _;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(token.trim())
        .map_err(|_| "invalid token: not base64".to_string())?;
    let text = String::from_utf8(bytes).map_err(|_| "invalid token: not UTF-8".to_string())?;
    match text.split_once(':') {
        Some((user, password)) if !user.is_empty() => Ok((user.to_string(), password.to_string())),
        _ => Err("invalid token: expected two parts, got 1".to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_token_parts() {
        assert_eq!(
            split_token("QVdTOnBhc3M6d29yZA==").expect("valid"),
            ("AWS".into(), "pass:word".into())
        );
        assert!(split_token("bm9jb2xvbg==").is_err(), "no colon");
        assert!(split_token("!!!").is_err());
        let err = split_token("QVdTOnBhc3M6d29yZA=!").expect_err("bad base64");
        assert!(!err.contains("QVdT"), "errors never echo the token");
    }

    #[test]
    fn concise_keeps_one_bounded_line() {
        assert_eq!(
            concise("ServerException: injected failure\nmore"),
            "ServerException: injected failure"
        );
        assert_eq!(
            concise("failed to read `/h/.aws/sso/cache/x.json`: No such file (os error 2)"),
            "failed to read `/h/.aws/sso/cache/x.json`: No such file (os error 2)"
        );
        assert!(concise(&"a".repeat(1000)).chars().count() <= 301);
    }
}
