//! Reading `export`'s secret references from AWS Secrets Manager (`GetSecretValue`) and SSM
//! Parameter Store (`GetParameter`, `WithDecryption`).
//!
//! The SDK is built exactly as for a token fetch ([`super::sdk_config`]: the same credentials
//! chain, timeouts, rustls/ring HTTPS client, `AWS_ENDPOINT_URL_SECRETS_MANAGER` /
//! `AWS_ENDPOINT_URL_SSM`), in the default credentials' identity. SDK types stay here; callers
//! get the value as a plain string, and errors never contain a value.

use super::{FetchError, concise, https_client, sdk_config};
use crate::error_chain::error_chain;
use crate::identity::CredentialSource;
use aws_sdk_ecr::config::Region;
use aws_sdk_ecr::error::{ProvideErrorMetadata, SdkError};
use std::time::Duration;

/// A store a secret can live in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Store {
    SecretsManager,
    Ssm,
}

/// Reads one secret (its whole `SecretString`, or the parameter's decrypted value).
/// The region: the ARN's, else the default chain's (`AWS_REGION`, the profile, ...).
pub fn read_blocking(store: Store, id: &str, deadline: Duration) -> Result<String, String> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the async runtime: {e}"))?;
    runtime.block_on(async {
        match tokio::time::timeout(deadline, read(store, id, deadline)).await {
            Ok(result) => result,
            Err(_) => Err(format!(
                "no answer within {} s",
                deadline.as_secs_f64().round()
            )),
        }
    })
}

async fn read(store: Store, id: &str, deadline: Duration) -> Result<String, String> {
    let region = match arn_region(id) {
        Some(region) => Region::new(region.to_string()),
        // The default chain (env, profile, instance metadata), with the helper's HTTPS client.
        None => aws_config::defaults(aws_config::BehaviorVersion::v2026_01_12())
            .http_client(https_client().map_err(|e| e.to_string())?)
            .load()
            .await
            .region()
            .cloned()
            .ok_or("no AWS region for the secret (set AWS_REGION, or use the full ARN)")?,
    };
    let sdk = sdk_config(region, &CredentialSource::default(), deadline, false)
        .await
        .map_err(|e| match e {
            // Its message is about ECR; here it only means the credentials.
            FetchError::AccessDenied { detail } => format!("access denied: {}", concise(&detail)),
            other => other.to_string(),
        })?;
    let value = match store {
        Store::SecretsManager => {
            aws_sdk_secretsmanager::Client::new(&sdk)
                .get_secret_value()
                .secret_id(id)
                .send()
                .await
                .map_err(|e| call_error("secretsmanager:GetSecretValue", e))?
                .secret_string
        }
        Store::Ssm => aws_sdk_ssm::Client::new(&sdk)
            .get_parameter()
            .name(id)
            .with_decryption(true)
            .send()
            .await
            .map_err(|e| call_error("ssm:GetParameter", e))?
            .parameter
            .and_then(|p| p.value),
    };
    value.ok_or_else(|| "the answer has no string value (a binary secret?)".to_string())
}

/// One sentence for a failed call: the service's error code and message (which name the
/// secret, never its value), or why the call did not get an answer.
fn call_error<E>(api: &str, error: SdkError<E>) -> String
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    match &error {
        SdkError::ServiceError(service) => format!(
            "{api} failed: {}: {}",
            service.err().code().unwrap_or("error"),
            concise(service.err().message().unwrap_or_default())
        ),
        SdkError::TimeoutError(_) => format!("{api} timed out"),
        SdkError::DispatchFailure(_) => format!(
            "{api}: could not reach the API: {}",
            concise(&error_chain(&error))
        ),
        _ => format!("{api} failed: {}", concise(&error_chain(&error))),
    }
}

/// The region of an ARN (`arn:PARTITION:SERVICE:REGION:ACCOUNT:...`).
fn arn_region(id: &str) -> Option<&str> {
    let mut parts = id.strip_prefix("arn:")?.split(':');
    let (_partition, _service, region) = (parts.next()?, parts.next()?, parts.next()?);
    Some(region).filter(|r| !r.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_region_comes_from_an_arn_only() {
        assert_eq!(
            arn_region("arn:aws:secretsmanager:eu-west-1:123456789012:secret:pipecat-AbCdEf"),
            Some("eu-west-1")
        );
        assert_eq!(
            arn_region("arn:aws:ssm:us-east-2:123456789012:parameter/ecr/key"),
            Some("us-east-2")
        );
        assert_eq!(arn_region("pipecat/api-key"), None);
        assert_eq!(arn_region("/ecr/runpod-key"), None);
        assert_eq!(arn_region("arn:aws:iam::123456789012:role/x"), None);
    }
}
