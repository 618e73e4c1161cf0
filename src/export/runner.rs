//! One run: a token per source (sequentially, through the helper's cache, before any async
//! runtime exists: `token::obtain` builds its own), then every target concurrently (bounded),
//! each with its own retries and result.

use super::config::{Config, Source, Target as TargetConfig, TargetKind};
use super::docker_config::DockerConfig;
use super::http::Http;
use super::kubernetes::Kubernetes;
use super::octopus::Octopus;
use super::pipecat::Pipecat;
use super::redact::Redactor;
use super::report::Row;
use super::runpod::Runpod;
use super::target::{self, Cred, Outcome};
use crate::aws_profile::AwsFiles;
use crate::identity::{self, CredentialSource};
use crate::registry::{self, PrivateRegistry, Registry};
use crate::settings::Settings;
use crate::token::{self, TokenRequest};
use secrecy::ExposeSecret;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Every exported token must have at least this much life left.
pub const MIN_REMAINING: Duration = Duration::from_secs(6 * 3600);

/// The registry a source names, or the caller's own registry in its region.
pub fn source_registry(source: &Source) -> Option<Registry> {
    match &source.registry {
        Some(host) => registry::parse(host),
        None => Some(Registry::Private(PrivateRegistry {
            account: None,
            region: source.region.clone(),
            fips: false,
            dual_stack: false,
            domain: "amazonaws.com".into(),
        })),
    }
}

/// Gets one source's credential (blocking; call outside any async runtime).
pub fn fetch(settings: &Settings, files: &AwsFiles, source: &Source) -> Result<Cred, String> {
    let registry = source_registry(source).ok_or_else(|| "not an ECR registry".to_string())?;
    let credential_source = CredentialSource {
        profile: source.profile.clone(),
        role_arn: source.role_arn.clone(),
        ..CredentialSource::default()
    };
    let identity = identity::current(files, &credential_source);
    let cache = settings.cache().unwrap_or_else(|untrusted| {
        tracing::warn!(error = %untrusted, "cache directory not trusted");
        None
    });
    let request = TokenRequest {
        registry: &registry,
        identity: &identity,
        source: &credential_source,
        min_remaining: MIN_REMAINING,
        cache: cache.as_ref(),
        fetch_timeout: settings.fetch_timeout,
    };
    let credential = token::obtain(&request).map_err(|e| e.to_string())?;
    // The bare host, whatever form the config or the API gave: it becomes an `auths` key, a
    // Kubernetes annotation and a shell variable, where a scheme, path or quote has no place.
    let named = source
        .registry
        .as_deref()
        .unwrap_or(&credential.proxy_endpoint);
    let host = registry::host_of(named).unwrap_or_default();
    if host.is_empty() {
        return Err("the ECR API returned no proxyEndpoint; set `registry` on the source".into());
    }
    Ok(Cred {
        username: credential.username.clone(),
        password: credential.password.clone(),
        auth: credential.authorization_token.clone(),
        host,
        expires_at: credential.expires_at,
        origin: credential.origin,
    })
}

/// Why a pushed token is not good enough: less than [`MIN_REMAINING`] left. The push still
/// happens (it is the best token there is), but the run must not report success.
pub fn short_token(cred: &Cred, now: time::OffsetDateTime) -> Option<String> {
    let left = cred.expires_at - now;
    if left >= MIN_REMAINING {
        return None;
    }
    let secs = left.whole_seconds().max(0);
    let why = match cred.origin {
        crate::token::Origin::StaleCache => {
            "the token refresh failed and the cache served an older token (see the log)"
        }
        _ => "the ECR API issued a short-lived token (a role session shorter than 12 h?)",
    };
    let until = cred
        .expires_at
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default();
    Some(format!(
        "pushed a token that lasts only {}h{:02}m (until {until}), less than the {} h minimum: {why}",
        secs / 3600,
        (secs % 3600) / 60,
        MIN_REMAINING.as_secs() / 3600
    ))
}

enum Built {
    Pipecat(Pipecat),
    Runpod(Runpod),
    Octopus(Octopus),
    Kubernetes(Kubernetes),
    DockerConfig(DockerConfig),
}

impl Built {
    async fn run(&self, cred: &Arc<Cred>, dry_run: bool, redactor: &Redactor) -> Outcome {
        match self {
            Built::Pipecat(t) => target::run(t, cred, dry_run, redactor).await,
            Built::Runpod(t) => target::run(t, cred, dry_run, redactor).await,
            Built::Octopus(t) => target::run(t, cred, dry_run, redactor).await,
            Built::Kubernetes(t) => target::run(t, cred, dry_run, redactor).await,
            Built::DockerConfig(t) => target::run(t, cred, dry_run, redactor).await,
        }
    }
}

fn build(config: &Config, t: &TargetConfig, redactor: &Redactor) -> Result<Built, String> {
    let http = |key: &secrecy::SecretString| {
        Http::new(
            config.defaults.timeout,
            config.defaults.retries,
            redactor.with(key),
        )
    };
    Ok(match &t.kind {
        TargetKind::Pipecat(cfg) => Built::Pipecat(Pipecat {
            http: http(cfg.api_key.value())?,
            cfg: cfg.clone(),
        }),
        TargetKind::Runpod(cfg) => Built::Runpod(Runpod {
            http: http(cfg.api_key.value())?,
            cfg: cfg.clone(),
        }),
        TargetKind::Octopus(cfg) => Built::Octopus(Octopus {
            http: http(cfg.api_key.value())?,
            cfg: cfg.clone(),
        }),
        TargetKind::Kubernetes(cfg) => Built::Kubernetes(Kubernetes {
            cfg: cfg.clone(),
            timeout: config.defaults.timeout,
            retries: config.defaults.retries,
            redactor: redactor.clone(),
        }),
        TargetKind::DockerConfig(cfg) => Built::DockerConfig(DockerConfig { cfg: cfg.clone() }),
    })
}

/// Every platform API key of the run: redacted from all output, whichever target printed it.
fn api_keys(config: &Config) -> Vec<String> {
    config
        .targets
        .iter()
        .filter_map(|t| t.kind.api_key())
        .map(|k| k.value().expose_secret().to_string())
        .collect()
}

/// A bound on one target's whole run, as a backstop for anything below that ignores its own
/// timeouts (a kubeconfig exec plugin that hangs, say). Generous: a handful of sequential
/// requests, each with all its retries and the longest honoured `Retry-After`, plus `wait_ready`.
fn target_deadline(config: &Config, t: &TargetConfig) -> Duration {
    const SEQUENTIAL_REQUESTS: u32 = 6;
    let retries = config.defaults.retries;
    let per_request = config.defaults.timeout.saturating_mul(retries + 1)
        + super::retry::MAX_RETRY_AFTER.saturating_mul(retries);
    let wait_ready = match &t.kind {
        TargetKind::Pipecat(p) => p.wait_ready.unwrap_or_default(),
        _ => Duration::ZERO,
    };
    per_request.saturating_mul(SEQUENTIAL_REQUESTS) + wait_ready
}

/// Runs the selected targets; one row per target, in config order.
pub fn run(config: &Config, settings: &Settings, dry_run: bool) -> Vec<Row> {
    // 1. Tokens, one per used source, sequentially and before any runtime.
    let files = AwsFiles::load();
    let mut creds: HashMap<String, Result<Arc<Cred>, String>> = HashMap::new();
    for source in &config.sources {
        if config.targets.iter().any(|t| t.source == source.name) {
            let result = fetch(settings, &files, source).map(Arc::new);
            if let Err(e) = &result {
                tracing::error!(
                    source = source.name.as_str(),
                    error = e.as_str(),
                    "token fetch failed"
                );
            }
            creds.insert(source.name.clone(), result);
        }
    }
    let mut secrets = api_keys(config);
    for cred in creds.values().flatten() {
        secrets.push(cred.password.expose_secret().to_string());
        secrets.push(cred.auth.expose_secret().to_string());
    }
    let redactor = Redactor::new(secrets);

    // 2. Targets, concurrently.
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(config.defaults.concurrency.clamp(1, 8))
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            return config
                .targets
                .iter()
                .map(|t| {
                    failed_row(
                        t,
                        dry_run,
                        Duration::ZERO,
                        format!("cannot start the async runtime: {e}"),
                        None,
                    )
                })
                .collect();
        }
    };
    runtime.block_on(async {
        let limit = Arc::new(tokio::sync::Semaphore::new(config.defaults.concurrency));
        let mut tasks = tokio::task::JoinSet::new();
        let mut rows: Vec<Option<Row>> = Vec::new();
        for (index, t) in config.targets.iter().enumerate() {
            rows.push(None);
            let cred = match creds.get(&t.source) {
                Some(Ok(cred)) => cred.clone(),
                Some(Err(e)) => {
                    rows[index] = Some(failed_row(
                        t,
                        dry_run,
                        Duration::ZERO,
                        format!("source {} failed: {e}", t.source),
                        None,
                    ));
                    continue;
                }
                None => {
                    rows[index] = Some(failed_row(
                        t,
                        dry_run,
                        Duration::ZERO,
                        format!("source {} was not fetched", t.source),
                        None,
                    ));
                    continue;
                }
            };
            let built = match build(config, t, &redactor) {
                Ok(b) => b,
                Err(e) => {
                    rows[index] = Some(failed_row(
                        t,
                        dry_run,
                        Duration::ZERO,
                        e,
                        Some(cred.expires_at),
                    ));
                    continue;
                }
            };
            let limit = limit.clone();
            let redactor = redactor.clone();
            let deadline = target_deadline(config, t);
            tasks.spawn(async move {
                let _permit = limit.acquire_owned().await;
                let started = Instant::now();
                let outcome = match tokio::time::timeout(
                    deadline,
                    built.run(&cred, dry_run, &redactor),
                )
                .await
                {
                    Ok(outcome) => outcome,
                    Err(_) => Outcome {
                        action: None,
                        detail: String::new(),
                        error: Some(format!(
                            "timed out: the target did not finish within {} s",
                            deadline.as_secs()
                        )),
                        warnings: Vec::new(),
                    },
                };
                let short = short_token(&cred, time::OffsetDateTime::now_utc());
                (index, outcome, started.elapsed(), short)
            });
        }
        while let Some(done) = tasks.join_next().await {
            if let Ok((index, outcome, elapsed, short)) = done {
                let t = &config.targets[index];
                let pushed = !dry_run && outcome.error.is_none();
                let error = match (outcome.error, short) {
                    (Some(e), _) => Some(redactor.redact(&e)),
                    (None, Some(short)) if pushed => Some(short),
                    (None, _) => None,
                };
                rows[index] = Some(Row {
                    target: t.name.clone(),
                    kind: t.type_name(),
                    source: t.source.clone(),
                    action: outcome.action,
                    ok: error.is_none(),
                    dry_run,
                    duration: elapsed,
                    detail: redactor.redact(&outcome.detail),
                    error,
                    warnings: outcome
                        .warnings
                        .iter()
                        .map(|w| redactor.redact(w))
                        .collect(),
                    token_expires_at: creds
                        .get(&t.source)
                        .and_then(|c| c.as_ref().ok())
                        .map(|c| c.expires_at),
                    pushed,
                });
            }
        }
        rows.into_iter()
            .zip(&config.targets)
            .map(|(row, t)| {
                row.unwrap_or_else(|| {
                    failed_row(
                        t,
                        dry_run,
                        Duration::ZERO,
                        "the target's task failed".into(),
                        None,
                    )
                })
            })
            .collect()
    })
}

fn failed_row(
    t: &TargetConfig,
    dry_run: bool,
    duration: Duration,
    error: String,
    expires: Option<time::OffsetDateTime>,
) -> Row {
    Row {
        target: t.name.clone(),
        kind: t.type_name(),
        source: t.source.clone(),
        action: None,
        ok: false,
        dry_run,
        duration,
        detail: String::new(),
        error: Some(error),
        warnings: Vec::new(),
        token_expires_at: expires,
        pushed: false,
    }
}
