//! STS `AssumeRoleWithWebIdentity` with a token held in memory: the kubelet's per-ServiceAccount
//! identity (KEP-4412).
//!
//! aws-config's own web-identity provider reads the token from a file; the kubelet hands it to
//! the plugin on stdin, and it must never reach the disk. So the call is made here, with the
//! same HTTP client, region, timeouts and endpoint rules as the ECR call that follows. The call
//! is unsigned: the node's credentials are neither resolved nor sent.

use super::{FetchError, concise, endpoint_override};
use crate::error_chain::error_chain;
use crate::identity::{CredentialSource, WebIdentity};
use aws_config::SdkConfig;
use aws_credential_types::Credentials;
use aws_sdk_sts::error::{ProvideErrorMetadata, SdkError};
use secrecy::ExposeSecret;

/// Session name when the source names none (the one cloud-provider-aws's plugin uses, so CloudTrail
/// and trust-policy conditions read the same after a swap).
pub const SESSION_NAME: &str = "ecr-credential-provider";

/// Exchanges `web.token` for `source.role_arn`'s temporary credentials.
pub(super) async fn assume_role(
    sdk: &SdkConfig,
    fips: bool,
    source: &CredentialSource,
    web: &WebIdentity,
) -> Result<Credentials, FetchError> {
    let role = source
        .role_arn
        .as_deref()
        .ok_or_else(|| FetchError::Setup("a web identity needs a role ARN".into()))?;
    let mut conf = aws_sdk_sts::config::Builder::from(sdk);
    conf.set_credentials_provider(None);
    // A FIPS registry host asks for FIPS endpoints, STS's included, unless an explicit endpoint
    // was given (the SDK refuses to combine the two).
    if endpoint_override(sdk, "STS").is_none() {
        conf = conf.use_fips(fips);
    } else {
        conf = conf.use_fips(false).use_dual_stack(false);
    }
    let client = aws_sdk_sts::Client::from_conf(conf.build());
    let output = client
        .assume_role_with_web_identity()
        .role_arn(role)
        .role_session_name(source.session_name.as_deref().unwrap_or(SESSION_NAME))
        .web_identity_token(web.token.expose_secret())
        .send()
        .await
        .map_err(|e| sts_error(role, e))?;
    let issued = output
        .credentials()
        .ok_or_else(|| FetchError::WebIdentity {
            role: role.to_string(),
            reason: "STS answered without credentials".into(),
            detail: "AssumeRoleWithWebIdentity: no Credentials in the response".into(),
        })?;
    let expiry = std::time::SystemTime::try_from(*issued.expiration()).ok();
    Ok(Credentials::new(
        issued.access_key_id(),
        issued.secret_access_key(),
        Some(issued.session_token().to_string()),
        expiry,
        "AssumeRoleWithWebIdentity",
    ))
}

/// One line naming the role and what STS said (`InvalidIdentityToken: …`, `AccessDenied: …`),
/// or why it could not be asked. SDK errors never carry the token: the input marks it
/// sensitive.
fn sts_error<E>(role: &str, error: SdkError<E>) -> FetchError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let detail = error_chain(&error);
    let reason = match &error {
        SdkError::ServiceError(service) => {
            let code = service.err().code().unwrap_or("error");
            let message = service.err().message().unwrap_or_default();
            format!("STS {code}: {}", concise(message))
        }
        SdkError::TimeoutError(_) => "STS did not answer in time".to_string(),
        SdkError::DispatchFailure(_) => format!("could not reach STS: {}", concise(&detail)),
        _ => format!("the STS call failed: {}", concise(&detail)),
    };
    FetchError::WebIdentity {
        role: role.to_string(),
        reason,
        detail: format!("AssumeRoleWithWebIdentity {role}: {detail}"),
    }
}
