//! The contract every target follows: `plan` only reads, `apply` only writes what the plan says.
//! `--dry-run` is `plan` alone, so it cannot write by construction.

use super::redact::Redactor;
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

/// Plans, then applies unless `dry_run`. Every text of the outcome passes through `redactor`
/// last: the targets redact what they build from answers, but messages also quote ids and
/// names a server chose (an Octopus space or feed id), and those may hold anything.
pub async fn run<T: Target>(
    target: &T,
    cred: &Arc<Cred>,
    dry_run: bool,
    redactor: &Redactor,
) -> Outcome {
    let outcome = plan_and_apply(target, cred, dry_run).await;
    Outcome {
        action: outcome.action,
        detail: redactor.redact(&outcome.detail),
        error: outcome.error.map(|e| redactor.redact(&e)),
        warnings: outcome
            .warnings
            .iter()
            .map(|w| redactor.redact(w))
            .collect(),
    }
}

async fn plan_and_apply<T: Target>(target: &T, cred: &Arc<Cred>, dry_run: bool) -> Outcome {
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A target whose messages quote a name the server chose; here that name holds the token.
    struct Echoing {
        fail_in_apply: bool,
    }

    const TOKEN: &str = "ZXhhbXBsZS10b2tlbi0xMjM0NTY3ODkw";

    impl Target for Echoing {
        type State = ();
        async fn plan(&self, _cred: &Arc<Cred>) -> Result<Plan<()>, TargetError> {
            Ok(Plan {
                action: Action::Update,
                detail: format!("update feed {TOKEN}"),
                problems: Vec::new(),
                warnings: vec![format!("feed {TOKEN} is not a Docker feed")],
                state: (),
            })
        }
        async fn apply(&self, _cred: &Arc<Cred>, _plan: Plan<()>) -> Result<String, TargetError> {
            if self.fail_in_apply {
                Err(TargetError(format!("reading feed {TOKEN} failed")))
            } else {
                Ok(format!("updated feed {TOKEN}"))
            }
        }
    }

    #[tokio::test]
    async fn every_outcome_text_is_redacted() {
        let cred = Arc::new(Cred {
            username: "AWS".into(),
            password: SecretString::from(TOKEN),
            auth: SecretString::from("QVdTOmV4YW1wbGU="),
            host: "123456789012.dkr.ecr.us-east-1.amazonaws.com".into(),
            expires_at: OffsetDateTime::now_utc(),
            origin: crate::token::Origin::Api,
        });
        let redactor = Redactor::new([TOKEN.to_string()]);
        for (fail_in_apply, dry_run) in [(false, false), (true, false), (false, true)] {
            let outcome = run(&Echoing { fail_in_apply }, &cred, dry_run, &redactor).await;
            let texts = [
                outcome.detail.clone(),
                outcome.error.clone().unwrap_or_default(),
            ];
            for text in texts.iter().chain(&outcome.warnings) {
                assert!(!text.contains(TOKEN), "{text}");
            }
            assert!(outcome.detail.contains("<redacted>"), "{}", outcome.detail);
            assert_eq!(outcome.error.is_some(), fail_in_apply);
        }
    }
}
