//! Runpod container registry auth, found by exact name, created if missing, never deleted.
//!
//! REST v2 first (`GET/POST /v2/registries`, `PATCH /v2/registries/{id}`). Runpod serves `/v2`
//! only to accounts enabled for it; others get 401 or 403 there (Runpod's own clients read
//! 401/403 from v2 as "v2 not available"), and an unknown route is 404/405. On any of those the
//! GraphQL API (`POST /graphql`: `myself.containerRegistryCreds`, `saveRegistryAuth`,
//! `updateRegistryAuth`) does the operation instead, and a failure is then GraphQL's. A PATCH
//! answered 400/422 (its body is not in the published spec) also goes to `updateRegistryAuth`.
//! GraphQL reports errors inside HTTP 200 in an `errors` array. REST v1 is retired: not used.
//!
//! A create whose answer is lost (timeout, 5xx) may have happened: it is never retried blindly
//! (that makes a second auth with the same name, and every later run fails on the duplicate).
//! The list is read again and what is there is updated; only if nothing is there is the create
//! tried again.

use super::config::RunpodConfig;
use super::http::{Auth, Http, HttpError, Response, RetryOn, path_segment};
use super::retry::{self, Failure};
use super::target::{Action, Cred, Plan, Target, TargetError};
use reqwest::Method;
use secrecy::ExposeSecret;
use serde_json::{Value, json};
use std::sync::Arc;

pub struct Runpod {
    pub http: Http,
    pub cfg: RunpodConfig,
}

/// Which API serves this account.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Api {
    V2,
    Graphql,
}

/// What `plan` found: the API to use and the existing auth's id, if any.
pub struct Found {
    api: Api,
    id: Option<String>,
}

/// Why a call failed: for a create, whether it may have happened anyway.
enum CallError {
    Final(TargetError),
    MaybeDone(TargetError),
}

impl CallError {
    fn into_error(self) -> TargetError {
        match self {
            CallError::Final(e) | CallError::MaybeDone(e) => e,
        }
    }
}

impl From<TargetError> for CallError {
    fn from(e: TargetError) -> Self {
        CallError::Final(e)
    }
}

const LIST_QUERY: &str = "query { myself { containerRegistryCreds { id name } } }";
const CREATE_MUTATION: &str =
    "mutation($input: SaveRegistryAuthInput!) { saveRegistryAuth(input: $input) { id name } }";
const UPDATE_MUTATION: &str =
    "mutation($input: UpdateRegistryAuthInput!) { updateRegistryAuth(input: $input) { id name } }";

/// v2 is not there for this account or this operation: use GraphQL.
fn v2_unavailable(resp: &Response) -> bool {
    matches!(resp.status.as_u16(), 401 | 403 | 404 | 405)
}

impl Runpod {
    fn auth(&self) -> Auth<'_> {
        Auth::Bearer(self.cfg.api_key.value())
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.cfg.base_url)
    }

    fn error(&self, what: &str, resp: &Response) -> TargetError {
        let hint = match resp.status.as_u16() {
            401 => " (check the Runpod API key)",
            403 => " (the API key lacks a scope, e.g. secrets:write)",
            _ => "",
        };
        TargetError(format!("{what}: {}{hint}", self.http.describe(resp)))
    }

    fn sent_error(&self, e: HttpError, create: bool) -> CallError {
        if create && e.maybe_arrived() {
            CallError::MaybeDone(e.into())
        } else {
            CallError::Final(e.into())
        }
    }

    /// One GraphQL operation. Errors come inside HTTP 200 in an `errors` array; a rate limit
    /// is retried like a 429, an internal error like a 5xx (for a create: it may have happened).
    async fn graphql(
        &self,
        query: &str,
        variables: Value,
        create: bool,
    ) -> Result<Value, CallError> {
        let url = self.url("/graphql");
        let body = json!({ "query": query, "variables": variables });
        let on = if create {
            RetryOn::Create
        } else {
            RetryOn::Transient
        };
        let (url, body) = (&url, &body);
        retry::retry(self.http.retries(), |_| async move {
            let resp = self
                .http
                .send(Method::POST, url, &self.auth(), Some(body), on)
                .await
                .map_err(|e| Failure::Fail(self.sent_error(e, create)))?;
            if create && resp.is_server_error() {
                return Err(Failure::Fail(CallError::MaybeDone(
                    self.error("GraphQL", &resp),
                )));
            }
            if !resp.is_success() {
                return Err(Failure::Fail(CallError::Final(
                    self.error("GraphQL request failed", &resp),
                )));
            }
            let value = resp.json().ok_or_else(|| {
                Failure::Fail(TargetError("GraphQL: response is not JSON".into()).into())
            })?;
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
                    .ok_or_else(|| {
                        Failure::Fail(TargetError("GraphQL: response has no `data`".into()).into())
                    });
            }
            let text = messages.join("; ");
            let lower = text.to_ascii_lowercase();
            let error = TargetError(format!(
                "GraphQL error: {}",
                self.http.redactor.redact(&text)
            ));
            let limited = ["rate limit", "too many requests"]
                .iter()
                .any(|m| lower.contains(m));
            let internal = lower.contains("internal server error");
            Err(match (limited, internal) {
                (true, _) => Failure::Retry {
                    after: None,
                    error: CallError::Final(error),
                },
                (false, true) if create => Failure::Fail(CallError::MaybeDone(error)),
                (false, true) => Failure::Retry {
                    after: None,
                    error: CallError::Final(error),
                },
                (false, false) => Failure::Fail(CallError::Final(error)),
            })
        })
        .await
    }

    fn pick(&self, items: &[Value]) -> Result<Option<String>, TargetError> {
        let ids: Vec<&str> = items
            .iter()
            .filter(|r| {
                r.get("name").and_then(Value::as_str) == Some(self.cfg.registry_auth.as_str())
            })
            .filter_map(|r| r.get("id").and_then(Value::as_str))
            .collect();
        match ids.as_slice() {
            [] => Ok(None),
            [id] => Ok(Some(id.to_string())),
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

    async fn list_graphql(&self) -> Result<Option<String>, TargetError> {
        let data = self
            .graphql(LIST_QUERY, json!({}), false)
            .await
            .map_err(CallError::into_error)?;
        // A missing list must not read as "no such auth": that would create a duplicate.
        let items = data
            .pointer("/myself/containerRegistryCreds")
            .and_then(Value::as_array)
            .ok_or_else(|| {
                TargetError("GraphQL containerRegistryCreds: unexpected response (no list)".into())
            })?;
        self.pick(items)
    }

    /// The existing auth's id, and which API answered.
    async fn find(&self, api: Api) -> Result<Found, TargetError> {
        if api == Api::Graphql {
            return Ok(Found {
                api,
                id: self.list_graphql().await?,
            });
        }
        let resp = self
            .http
            .send(
                Method::GET,
                &self.url("/v2/registries"),
                &self.auth(),
                None,
                RetryOn::Transient,
            )
            .await?;
        if v2_unavailable(&resp) {
            tracing::info!(
                status = resp.status.as_u16(),
                "Runpod REST v2 not available; using GraphQL"
            );
            return Ok(Found {
                api: Api::Graphql,
                id: self.list_graphql().await?,
            });
        }
        if !resp.is_success() {
            return Err(self.error("listing registries failed", &resp));
        }
        let items = resp
            .json()
            .and_then(|v| v.get("registries").and_then(Value::as_array).cloned())
            .ok_or_else(|| {
                TargetError(
                    "listing registries: unexpected response (no `registries` array)".into(),
                )
            })?;
        Ok(Found {
            api: Api::V2,
            id: self.pick(&items)?,
        })
    }

    async fn update(&self, cred: &Cred, api: Api, id: &str) -> Result<String, TargetError> {
        let password = cred.password.expose_secret();
        if api == Api::V2 {
            // The id comes from the server: encode it, it must not reshape the path.
            let url = self.url(&format!("/v2/registries/{}", path_segment(id)?));
            let body = json!({ "username": cred.username, "password": password });
            let resp = self
                .http
                .send(
                    Method::PATCH,
                    &url,
                    &self.auth(),
                    Some(&body),
                    RetryOn::Transient,
                )
                .await?;
            if resp.is_success() {
                return Ok(format!("updated registry auth {id}"));
            }
            if !(v2_unavailable(&resp) || matches!(resp.status.as_u16(), 400 | 422)) {
                return Err(self.error("updating the registry auth failed", &resp));
            }
            tracing::info!(
                status = resp.status.as_u16(),
                "PATCH /v2/registries not usable; using GraphQL"
            );
        }
        let input =
            json!({ "input": { "id": id, "username": cred.username, "password": password } });
        self.graphql(UPDATE_MUTATION, input, false)
            .await
            .map_err(CallError::into_error)?;
        Ok(format!("updated registry auth {id} (GraphQL)"))
    }

    /// One create; `Ok(None)` when v2 is not available (the caller switches to GraphQL).
    async fn create_once(&self, cred: &Cred, api: Api) -> Result<Option<String>, CallError> {
        let (name, username) = (&self.cfg.registry_auth, &cred.username);
        let password = cred.password.expose_secret();
        if api == Api::Graphql {
            let input =
                json!({ "input": { "name": name, "username": username, "password": password } });
            let data = self.graphql(CREATE_MUTATION, input, true).await?;
            return Ok(Some(Self::id_of(
                data.get("saveRegistryAuth"),
                "saveRegistryAuth",
            )?));
        }
        let body = json!({ "name": name, "username": username, "password": password });
        let resp = self
            .http
            .send(
                Method::POST,
                &self.url("/v2/registries"),
                &self.auth(),
                Some(&body),
                RetryOn::Create,
            )
            .await
            .map_err(|e| self.sent_error(e, true))?;
        if resp.is_success() {
            Ok(Some(Self::id_of(
                resp.json().as_ref(),
                "POST /v2/registries",
            )?))
        } else if v2_unavailable(&resp) {
            Ok(None)
        } else if resp.is_server_error() {
            Err(CallError::MaybeDone(
                self.error("creating the registry auth", &resp),
            ))
        } else {
            Err(CallError::Final(
                self.error("creating the registry auth failed", &resp),
            ))
        }
    }

    /// Creates the auth; after an answer that may hide a success, lists again and updates what
    /// is there instead of creating a second one.
    async fn create(&self, cred: &Cred, mut api: Api) -> Result<String, TargetError> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let error = match self.create_once(cred, api).await {
                Ok(Some(id)) => {
                    tracing::info!(
                        id = id.as_str(),
                        name = self.cfg.registry_auth.as_str(),
                        "created Runpod registry auth"
                    );
                    return Ok(format!("created registry auth {id}"));
                }
                Ok(None) => {
                    api = Api::Graphql;
                    continue;
                }
                Err(CallError::Final(e)) => return Err(e),
                Err(CallError::MaybeDone(e)) => e,
            };
            tracing::info!(error = %error, "the create may have happened; listing again");
            let found = self.find(api).await?;
            if let Some(id) = found.id {
                let done = self.update(cred, found.api, &id).await?;
                return Ok(format!("{done} (its create answered: {error})"));
            }
            if attempt > self.http.retries() {
                return Err(error);
            }
            tokio::time::sleep(retry::backoff(attempt)).await;
        }
    }
}

impl Target for Runpod {
    type State = Found;

    async fn plan(&self, cred: &Arc<Cred>) -> Result<Plan<Found>, TargetError> {
        let found = self.find(Api::V2).await?;
        let via = match found.api {
            Api::V2 => "",
            Api::Graphql => " via GraphQL",
        };
        let (action, detail) = match &found.id {
            None => (
                Action::Create,
                format!("create registry auth {:?}{via}", self.cfg.registry_auth),
            ),
            Some(id) => (
                Action::Update,
                format!(
                    "update registry auth {:?} ({id}){via}",
                    self.cfg.registry_auth
                ),
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
            warnings: Vec::new(),
            state: found,
        })
    }

    async fn apply(&self, cred: &Arc<Cred>, plan: Plan<Found>) -> Result<String, TargetError> {
        match plan.state.id {
            Some(id) => self.update(cred, plan.state.api, &id).await,
            None => self.create(cred, plan.state.api).await,
        }
    }
}
