//! The contract every target follows: `plan` only reads, `apply` only writes what the plan says.
//! `--dry-run` is `plan` alone, so it cannot write by construction.

use secrecy::{ExposeSecret, SecretString};
use std::future::Future;
use std::sync::Arc;
use time::OffsetDateTime;

/// The ECR credential one source produced, shared by all of its targets.
pub struct Cred {
    pub username: String,
    pub password: SecretString,
    /// Raw `authorizationToken`, base64 of `user:password`.
    pub auth: SecretString,
    /// Registry host, e.g. `123456789012.dkr.ecr.us-east-1.amazonaws.com`.
    pub host: String,
    pub expires_at: OffsetDateTime,
    /// Where the token came from (a stale cache entry means the refresh failed).
    pub origin: crate::token::Origin,
}

impl Cred {
    pub fn proxy_endpoint(&self) -> String {
        format!("https://{}", self.host)
    }

    /// `<redacted len=N>` for plans.
    pub fn redacted(secret: &SecretString) -> String {
        format!("<redacted len={}>", secret.expose_secret().len())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Create,
    Update,
    /// Some parts are created, some updated (Kubernetes namespaces).
    Mixed,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Create => "create",
            Action::Update => "update",
            Action::Mixed => "create+update",
        }
    }
}

/// What `apply` would do, with whatever `plan` resolved (ids, fetched resources).
pub struct Plan<S> {
    pub action: Action,
    /// Human description of the writes, secrets redacted.
    pub detail: String,
    /// Parts that cannot be done (e.g. one namespace of several); `apply` still does the rest
    /// and then fails, a dry run reports them as the target's error.
    pub problems: Vec<String>,
    /// Worth telling the user, but not a failure (e.g. docker would not read what we write).
    pub warnings: Vec<String>,
    pub state: S,
}

/// A target failure; the message is already redacted.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct TargetError(pub String);

pub trait Target: Send + Sync {
    type State: Send;
    /// Reads only: resolves what exists and decides create or update.
    fn plan(
        &self,
        cred: &Arc<Cred>,
    ) -> impl Future<Output = Result<Plan<Self::State>, TargetError>> + Send;
    /// Writes; returns a short description of what was done.
    fn apply(
        &self,
        cred: &Arc<Cred>,
        plan: Plan<Self::State>,
    ) -> impl Future<Output = Result<String, TargetError>> + Send;
}

/// What running one target produced.
pub struct Outcome {
    pub action: Option<Action>,
    pub detail: String,
    pub error: Option<String>,
    pub warnings: Vec<String>,
}

/// Plans, then applies unless `dry_run`.
pub async fn run<T: Target>(target: &T, cred: &Arc<Cred>, dry_run: bool) -> Outcome {
    let mut plan = match target.plan(cred).await {
        Ok(plan) => plan,
        Err(e) => {
            return Outcome {
                action: None,
                detail: String::new(),
                error: Some(e.0),
                warnings: Vec::new(),
            };
        }
    };
    let action = plan.action;
    let warnings = std::mem::take(&mut plan.warnings);
    if dry_run {
        let error = (!plan.problems.is_empty()).then(|| plan.problems.join("; "));
        return Outcome {
            action: Some(action),
            detail: plan.detail,
            error,
            warnings,
        };
    }
    let detail = plan.detail.clone();
    match target.apply(cred, plan).await {
        Ok(done) => Outcome {
            action: Some(action),
            detail: done,
            error: None,
            warnings,
        },
        Err(e) => Outcome {
            action: Some(action),
            detail,
            error: Some(e.0),
            warnings,
        },
    }
}
