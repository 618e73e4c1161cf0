//! Runpod container registry auth, found by exact name, created if missing, never deleted.
//!
//! REST v2 first (`GET/POST /v2/registries`, `PATCH /v2/registries/{id}`); when v2 answers 404
//! or 405 for an operation, the GraphQL API (`POST /graphql`: `myself.containerRegistryCreds`,
//! `saveRegistryAuth`, `updateRegistryAuth`) does it instead. GraphQL reports errors inside
//! HTTP 200 in an `errors` array. REST v1 has no update and is retired, so it is not used.

use super::config::RunpodConfig;
use super::http::{Auth, Http, Response, no_conflicts, path_segment};
use super::target::{Action, Cred, Plan, Target, TargetError};
use reqwest::Method;
use secrecy::ExposeSecret;
use serde_json::{Value, json};
use std::sync::Arc;

pub struct Runpod {
    pub http: Http,
    pub cfg: RunpodConfig,
}

/// What `plan` found.
pub enum Found {
    Missing,
    Existing(String),
}

const LIST_QUERY: &str = "query { myself { containerRegistryCreds { id name } } }";
const CREATE_MUTATION: &str =
    "mutation($input: SaveRegistryAuthInput!) { saveRegistryAuth(input: $input) { id name } }";
const UPDATE_MUTATION: &str =
    "mutation($input: UpdateRegistryAuthInput!) { updateRegistryAuth(input: $input) { id name } }";

fn falls_back(resp: &Response) -> bool {
    matches!(resp.status.as_u16(), 404 | 405)
}

impl Runpod {
    fn auth(&self) -> Auth<'_> {
        Auth::Bearer(&self.cfg.api_key)
    }

    fn error(&self, what: &str, resp: &Response) -> TargetError {
        let hint = match resp.status.as_u16() {
            401 => " (check the Runpod API key)",
            403 => " (the API key lacks a scope, e.g. secrets:write)",
            _ => "",
        };
        TargetError(format!("{what}: {}{hint}", self.http.describe(resp)))
    }

    /// One GraphQL call. Errors come inside HTTP 200 in an `errors` array; those that say
    /// rate limit or internal error are retried like a 429/5xx, all others are final.
    async fn graphql(&self, query: &str, variables: Value) -> Result<Value, TargetError> {
        let url = format!("{}/graphql", self.cfg.base_url);
        let body = json!({ "query": query, "variables": variables });
        let mut attempt = 0;
        loop {
            attempt += 1;
            let resp = self
                .http
                .send(Method::POST, &url, &self.auth(), Some(&body), &no_conflicts)
                .await?;
            if !resp.is_success() {
                return Err(self.error("GraphQL request failed", &resp));
            }
            let value = resp
                .json()
                .ok_or_else(|| TargetError("GraphQL: response is not JSON".into()))?;
            let messages: Vec<&str> = value
                .get("errors")
                .and_then(Value::as_array)
                .map(|errors| {
                    errors
                        .iter()
                        .map(|e| e.get("message").and_then(Value::as_str).unwrap_or("?"))
                        .collect()
                })
                .unwrap_or_default();
            if messages.is_empty() {
                return value
                    .get("data")
                    .filter(|d| !d.is_null())
                    .cloned()
                    .ok_or_else(|| TargetError("GraphQL: response has no `data`".into()));
            }
            let text = messages.join("; ");
            let lower = text.to_ascii_lowercase();
            let transient = ["rate limit", "too many requests", "internal server error"]
                .iter()
                .any(|m| lower.contains(m));
            if transient && attempt <= self.http.retries() {
                tokio::time::sleep(super::http::backoff(attempt)).await;
                continue;
            }
            return Err(TargetError(format!(
                "GraphQL error: {}",
                self.http.redactor.redact(&text)
            )));
        }
    }

    fn pick(&self, items: &[Value]) -> Result<Found, TargetError> {
        let ids: Vec<&str> = items
            .iter()
            .filter(|r| {
                r.get("name").and_then(Value::as_str) == Some(self.cfg.registry_auth.as_str())
            })
            .filter_map(|r| r.get("id").and_then(Value::as_str))
            .collect();
        match ids.as_slice() {
            [] => Ok(Found::Missing),
            [id] => Ok(Found::Existing(id.to_string())),
            many => Err(TargetError(format!(
                "{} registry auths are named {:?} ({}); names must be unique",
                many.len(),
                self.cfg.registry_auth,
                many.join(", ")
            ))),
        }
    }

    fn id_of(data: Option<&Value>, what: &str) -> Result<String, TargetError> {
        data.and_then(|v| v.get("id"))
            .and_then(Value::as_str)
            .map(str::to_string)
            .ok_or_else(|| TargetError(format!("{what}: response has no id")))
    }
}

impl Target for Runpod {
    type State = Found;

    async fn plan(&self, cred: &Arc<Cred>) -> Result<Plan<Found>, TargetError> {
        let url = format!("{}/v2/registries", self.cfg.base_url);
        let resp = self
            .http
            .send(Method::GET, &url, &self.auth(), None, &no_conflicts)
            .await?;
        let found = if falls_back(&resp) {
            let data = self.graphql(LIST_QUERY, json!({})).await?;
            // A missing list must not read as "no such auth": that would create a duplicate.
            let items = data
                .pointer("/myself/containerRegistryCreds")
                .and_then(Value::as_array)
                .ok_or_else(|| {
                    TargetError(
                        "GraphQL containerRegistryCreds: unexpected response (no list)".into(),
                    )
                })?;
            self.pick(items)?
        } else if resp.is_success() {
            let items = resp
                .json()
                .and_then(|v| v.get("registries").and_then(Value::as_array).cloned());
            self.pick(&items.ok_or_else(|| {
                TargetError(
                    "listing registries: unexpected response (no `registries` array)".into(),
                )
            })?)?
        } else {
            return Err(self.error("listing registries failed", &resp));
        };
        let (action, detail) = match &found {
            Found::Missing => (
                Action::Create,
                format!("create registry auth {:?}", self.cfg.registry_auth),
            ),
            Found::Existing(id) => (
                Action::Update,
                format!("update registry auth {:?} ({id})", self.cfg.registry_auth),
            ),
        };
        let detail = format!(
            "{detail} username={} password={}",
            cred.username,
            Cred::redacted(&cred.password)
        );
        Ok(Plan {
            action,
            detail,
            problems: Vec::new(),
            state: found,
        })
    }

    async fn apply(&self, cred: &Arc<Cred>, plan: Plan<Found>) -> Result<String, TargetError> {
        let password = cred.password.expose_secret();
        match plan.state {
            Found::Missing => {
                let url = format!("{}/v2/registries", self.cfg.base_url);
                let body = json!({ "name": self.cfg.registry_auth, "username": cred.username, "password": password });
                let resp = self
                    .http
                    .send(Method::POST, &url, &self.auth(), Some(&body), &no_conflicts)
                    .await?;
                let id = if falls_back(&resp) {
                    let input = json!({ "input": { "name": self.cfg.registry_auth, "username": cred.username, "password": password } });
                    let data = self.graphql(CREATE_MUTATION, input).await?;
                    Self::id_of(data.get("saveRegistryAuth"), "saveRegistryAuth")?
                } else if resp.is_success() {
                    Self::id_of(resp.json().as_ref(), "POST /v2/registries")?
                } else {
                    return Err(self.error("creating the registry auth failed", &resp));
                };
                tracing::info!(
                    id = id.as_str(),
                    name = self.cfg.registry_auth.as_str(),
                    "created Runpod registry auth"
                );
                Ok(format!("created registry auth {id}"))
            }
            Found::Existing(id) => {
                // The id comes from the server: encode it, it must not reshape the path.
                let url = format!("{}/v2/registries/{}", self.cfg.base_url, path_segment(&id)?);
                let body = json!({ "username": cred.username, "password": password });
                let resp = self
                    .http
                    .send(
                        Method::PATCH,
                        &url,
                        &self.auth(),
                        Some(&body),
                        &no_conflicts,
                    )
                    .await?;
                if falls_back(&resp) {
                    let input = json!({ "input": { "id": id, "username": cred.username, "password": password } });
                    self.graphql(UPDATE_MUTATION, input).await?;
                    Ok(format!("updated registry auth {id} (GraphQL)"))
                } else if resp.is_success() {
                    Ok(format!("updated registry auth {id}"))
                } else {
                    Err(self.error("updating the registry auth failed", &resp))
                }
            }
        }
    }
}
