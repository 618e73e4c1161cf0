//! `export --print FORMAT`: one source's credentials on stdout, for piping (no config file).

use super::config::Source;
use secrecy::ExposeSecret;
use serde_json::json;
use time::format_description::well_known::Rfc3339;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// `{"auths":{host:{username,password,auth}}}`
    Dockerconfigjson,
    /// A `kubernetes.io/dockerconfigjson` Secret manifest (YAML) for `kubectl apply -f -`.
    K8sSecret,
    /// Shell assignments: ECR_REGISTRY, ECR_USERNAME, ECR_PASSWORD, ECR_EXPIRES_AT.
    Env,
    /// GitHub Actions: `::add-mask::` for the secrets on stdout; `registry`, `docker_username`,
    /// `docker_password` appended to `$GITHUB_OUTPUT` (as aws-actions/amazon-ecr-login gives).
    Github,
}

/// For `--print github`: appends the outputs to the `$GITHUB_OUTPUT` file and returns what
/// goes to stdout (the mask commands, so the runner hides the values in every later log).
pub fn github(
    cred: &super::target::Cred,
    output: Option<&std::path::Path>,
) -> Result<String, String> {
    use std::io::Write as _;
    let path = output
        .ok_or("--print github: GITHUB_OUTPUT is not set (run it in a GitHub Actions step)")?;
    let lines = format!(
        "registry={}\ndocker_username={}\ndocker_password={}\n",
        cred.host,
        cred.username,
        cred.password.expose_secret()
    );
    std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(path)
        .and_then(|mut f| f.write_all(lines.as_bytes()))
        .map_err(|e| format!("cannot append to GITHUB_OUTPUT {}: {e}", path.display()))?;
    Ok(format!(
        "::add-mask::{}\n::add-mask::{}\n",
        cred.password.expose_secret(),
        cred.auth.expose_secret()
    ))
}

fn docker_config(cred: &super::target::Cred) -> serde_json::Value {
    json!({ "auths": { cred.host.clone(): {
        "username": cred.username,
        "password": cred.password.expose_secret(),
        "auth": cred.auth.expose_secret(),
    } } })
}

pub fn render(format: Format, cred: &super::target::Cred, secret_name: &str) -> String {
    use base64::Engine as _;
    let expires = cred.expires_at.format(&Rfc3339).unwrap_or_default();
    match format {
        Format::Dockerconfigjson => format!("{}\n", docker_config(cred)),
        Format::K8sSecret => {
            let data =
                base64::engine::general_purpose::STANDARD.encode(docker_config(cred).to_string());
            format!(
                "apiVersion: v1\nkind: Secret\nmetadata:\n  name: {secret_name}\n  labels:\n    app.kubernetes.io/managed-by: ecr-login\n  \
                 annotations:\n    ecr-login/expires-at: \"{expires}\"\n    ecr-login/registry: \"{}\"\ntype: kubernetes.io/dockerconfigjson\n\
                 data:\n  .dockerconfigjson: {data}\n",
                cred.host
            )
        }
        // Written by `github`, which has a file to append to.
        Format::Github => String::new(),
        Format::Env => format!(
            "ECR_REGISTRY='{}'\nECR_USERNAME='{}'\nECR_PASSWORD='{}'\nECR_EXPIRES_AT='{expires}'\n",
            cred.host,
            cred.username,
            cred.password.expose_secret()
        ),
    }
}

/// The source for `--print`: `--registry` wins, else `--region`, else `AWS_REGION` / `AWS_DEFAULT_REGION`.
pub fn source(
    registry: Option<String>,
    region: Option<String>,
    profile: Option<String>,
) -> Result<Source, String> {
    let region = match (&registry, region) {
        (Some(host), wanted) => {
            let own = match crate::registry::parse(host) {
                Some(crate::registry::Registry::Private(p)) => p.region,
                Some(crate::registry::Registry::Public { .. }) => {
                    crate::registry::PUBLIC_REGION.to_string()
                }
                None => return Err(format!("--registry {host:?} is not an ECR registry host")),
            };
            if let Some(wanted) = wanted.filter(|w| *w != own) {
                return Err(format!(
                    "--region {wanted} conflicts with --registry {host} (a registry in {own}); drop --region"
                ));
            }
            own
        }
        (None, Some(r)) => r,
        (None, None) => std::env::var("AWS_REGION")
            .or_else(|_| std::env::var("AWS_DEFAULT_REGION"))
            .ok()
            .filter(|r| !r.trim().is_empty())
            .ok_or("--print needs --registry HOST or --region REGION (or AWS_REGION)")?,
    };
    Ok(Source {
        name: "print".into(),
        region,
        registry,
        profile,
        role_arn: None,
    })
}
