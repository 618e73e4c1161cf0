//! Pipecat Cloud image pull secrets: `PUT /v1/secrets/{set}` (202, asynchronous), state from
//! `GET /v1/secrets` (image pull secrets cannot be read by name). `secretValue` is the raw
//! `authorizationToken`, never re-encoded. 409 `CONFLICT` is a documented retryable conflict.

use super::config::PipecatConfig;
use super::http::{Auth, Http, RetryOn};
use super::target::{Action, Cred, Plan, Target, TargetError};
use reqwest::{Method, StatusCode};
use secrecy::ExposeSecret;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;

const POLL_EVERY: Duration = Duration::from_millis(500);
/// After a 202 the list may still show the set's old status for a moment (the update is
/// applied asynchronously): an old `ready` is only believed once this much time has passed.
const READY_GRACE: Duration = Duration::from_secs(3);

pub struct Pipecat {
    pub http: Http,
    pub cfg: PipecatConfig,
}

fn conflict(status: StatusCode, body: &str) -> bool {
    status == StatusCode::CONFLICT
        && serde_json::from_str::<Value>(body)
            .ok()
            .and_then(|v| {
                v.get("code")
                    .and_then(Value::as_str)
                    .map(|c| c == "CONFLICT")
            })
            .unwrap_or(false)
}

impl Pipecat {
    fn auth(&self) -> Auth<'_> {
        Auth::Bearer(self.cfg.api_key.value())
    }

    fn error(&self, what: &str, resp: &super::http::Response) -> TargetError {
        let hint = match resp.status.as_u16() {
            401 => " (check the Pipecat private API key)",
            _ => "",
        };
        TargetError(format!("{what}: {}{hint}", self.http.describe(resp)))
    }

    /// The set's entry in `GET /v1/secrets`, if any.
    async fn find(&self) -> Result<Option<Value>, TargetError> {
        let url = format!("{}/v1/secrets", self.cfg.base_url);
        let resp = self
            .http
            .send(
                Method::GET,
                &url,
                &self.auth(),
                None,
                RetryOn::TransientOr(conflict),
            )
            .await?;
        if !resp.is_success() {
            return Err(self.error("listing secret sets failed", &resp));
        }
        let sets = resp
            .json()
            .and_then(|v| v.get("sets").and_then(Value::as_array).cloned());
        let sets = sets.ok_or_else(|| {
            TargetError("listing secret sets: unexpected response (no `sets` array)".into())
        })?;
        Ok(sets
            .into_iter()
            .find(|s| s.get("name").and_then(Value::as_str) == Some(self.cfg.secret_set.as_str())))
    }

    /// Polls the list (an image pull secret cannot be read by name) until the set is `ready`
    /// with this update: a non-`ready` status was seen since the 202 (or the set is new), or
    /// `READY_GRACE` has passed since it.
    async fn wait_until_ready(&self, limit: Duration, updated: bool) -> Result<(), TargetError> {
        let accepted = tokio::time::Instant::now();
        let deadline = accepted + limit;
        let mut seen_not_ready = !updated;
        loop {
            let set = self.find().await?;
            let field = |name: &str| {
                set.as_ref()
                    .and_then(|s| s.get(name))
                    .and_then(Value::as_str)
            };
            // Before the update shows, the list may still carry the old set's ready or failed.
            let current = seen_not_ready || accepted.elapsed() >= READY_GRACE;
            match field("status") {
                Some("ready") if current => return Ok(()),
                Some("failed") if current => {
                    return Err(TargetError(format!(
                        "secret set {} failed to provision: {}",
                        self.cfg.secret_set,
                        self.http
                            .redactor
                            .redact(field("errorMessage").unwrap_or("no errorMessage"))
                    )));
                }
                status if tokio::time::Instant::now() >= deadline => {
                    return Err(TargetError(format!(
                        "secret set {} not ready after {:.0} s (status {})",
                        self.cfg.secret_set,
                        limit.as_secs_f64(),
                        status.unwrap_or("missing")
                    )));
                }
                Some("ready" | "failed") => {}
                _ => seen_not_ready = true,
            }
            tokio::time::sleep(POLL_EVERY).await;
        }
    }
}

/// The existing set's region (`None`: the set is created).
pub struct Existing(Option<String>);

impl Target for Pipecat {
    type State = Existing;

    async fn plan(&self, cred: &Arc<Cred>) -> Result<Plan<Existing>, TargetError> {
        let existing = self.find().await?;
        let region = existing
            .as_ref()
            .and_then(|set| set.get("region").and_then(Value::as_str))
            .map(str::to_string);
        let action = match &existing {
            None => Action::Create,
            Some(set) => {
                if set.get("type").and_then(Value::as_str) != Some("imagePullSecret") {
                    return Err(TargetError(format!(
                        "secret set {} exists but is a regular secret set, not an image pull secret; choose another secret_set",
                        self.cfg.secret_set
                    )));
                }
                if let (Some(want), Some(have)) =
                    (&self.cfg.region, set.get("region").and_then(Value::as_str))
                    && want != have
                {
                    return Err(TargetError(format!(
                        "secret set {} exists in region {have}; its region cannot change (config says {want})",
                        self.cfg.secret_set
                    )));
                }
                Action::Update
            }
        };
        let detail = format!(
            "PUT {}/v1/secrets/{} host={} secretValue={}",
            self.cfg.base_url,
            self.cfg.secret_set,
            cred.proxy_endpoint(),
            Cred::redacted(&cred.auth)
        );
        Ok(Plan {
            action,
            detail,
            problems: Vec::new(),
            warnings: Vec::new(),
            state: Existing(existing.map(|_| region.unwrap_or_default())),
        })
    }

    async fn apply(&self, cred: &Arc<Cred>, plan: Plan<Existing>) -> Result<String, TargetError> {
        let url = format!(
            "{}/v1/secrets/{}",
            self.cfg.base_url,
            super::http::path_segment(&self.cfg.secret_set)?
        );
        let mut body = json!({
            "isImagePullSecret": true,
            "host": cred.proxy_endpoint(),
            "secretValue": cred.auth.expose_secret(),
        });
        // Left out, the region means the organization's default, and an existing set in
        // another region would answer 400 "Cannot change region": send the set's own.
        let existing = plan.state.0;
        if let Some(region) = self
            .cfg
            .region
            .as_ref()
            .or(existing.as_ref())
            .filter(|r| !r.is_empty())
        {
            body["region"] = json!(region);
        }
        let resp = self
            .http
            .send(
                Method::PUT,
                &url,
                &self.auth(),
                Some(&body),
                RetryOn::TransientOr(conflict),
            )
            .await?;
        if !resp.is_success() {
            return Err(self.error(&format!("PUT secret set {}", self.cfg.secret_set), &resp));
        }
        match self.cfg.wait_ready.filter(|d| !d.is_zero()) {
            Some(limit) => {
                self.wait_until_ready(limit, existing.is_some()).await?;
                Ok(format!("secret set {} ready", self.cfg.secret_set))
            }
            None => Ok(format!(
                "secret set {} accepted (HTTP {})",
                self.cfg.secret_set,
                resp.status.as_u16()
            )),
        }
    }
}
