//! Octopus Deploy Docker feeds: resolve the space and the feed by name (or `Spaces-N` /
//! `Feeds-N`), GET the whole feed, change `Username` and `Password` (a SensitiveValue:
//! `{"HasValue":true,"NewValue":..}`), PUT it back whole. A partial PUT would reset fields.

use super::config::OctopusConfig;
use super::http::{Auth, Http, Response, RetryOn, path_segment};
use super::redact::percent_encode;
use super::target::{Action, Cred, Plan, Target, TargetError};
use reqwest::Method;
use secrecy::ExposeSecret;
use serde_json::{Value, json};
use std::sync::Arc;

pub struct Octopus {
    pub http: Http,
    pub cfg: OctopusConfig,
}

pub struct Resolved {
    space_id: String,
    feed_id: String,
    feed: Value,
}

fn is_id(text: &str, prefix: &str) -> bool {
    text.strip_prefix(prefix)
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

/// `/api/{space}/feeds/{feed}`; both ids may come from the server, so both are encoded.
fn feed_path(space_id: &str, feed_id: &str) -> Result<String, TargetError> {
    Ok(format!(
        "/api/{}/feeds/{}",
        path_segment(space_id)?,
        path_segment(feed_id)?
    ))
}

impl Octopus {
    fn auth(&self) -> Auth<'_> {
        Auth::Header("X-Octopus-ApiKey", self.cfg.api_key.value())
    }

    fn error(&self, what: &str, resp: &Response) -> TargetError {
        // Octopus errors: {"ErrorMessage": "...", "Errors": ["..."]}.
        let detail = resp.json().and_then(|v| {
            let main = v.get("ErrorMessage").and_then(Value::as_str)?.to_string();
            let more: Vec<String> = v
                .get("Errors")
                .and_then(Value::as_array)
                .map(|e| {
                    e.iter()
                        .filter_map(Value::as_str)
                        .map(str::to_string)
                        .collect()
                })
                .unwrap_or_default();
            Some(if more.is_empty() {
                main
            } else {
                format!("{main} ({})", more.join("; "))
            })
        });
        let hint = match resp.status.as_u16() {
            401 => " (check the Octopus API key)",
            403 => " (the API key's user needs FeedEdit in this space)",
            _ => "",
        };
        match detail {
            Some(d) => TargetError(format!(
                "{what}: HTTP {}: {}{hint}",
                resp.status.as_u16(),
                self.http.redactor.redact(&d)
            )),
            None => TargetError(format!("{what}: {}{hint}", self.http.describe(resp))),
        }
    }

    async fn get(&self, path: &str, what: &str) -> Result<Value, TargetError> {
        let url = format!("{}{path}", self.cfg.server);
        let resp = self
            .http
            .send(Method::GET, &url, &self.auth(), None, RetryOn::Transient)
            .await?;
        if !resp.is_success() {
            return Err(self.error(what, &resp));
        }
        resp.json()
            .ok_or_else(|| TargetError(format!("{what}: response is not JSON")))
    }

    async fn space_id(&self) -> Result<String, TargetError> {
        if is_id(&self.cfg.space, "Spaces-") {
            return Ok(self.cfg.space.clone());
        }
        let spaces = self.get("/api/spaces/all", "listing spaces failed").await?;
        spaces
            .as_array()
            .and_then(|all| {
                all.iter().find(|s| {
                    s.get("Name").and_then(Value::as_str) == Some(self.cfg.space.as_str())
                })
            })
            .and_then(|s| s.get("Id").and_then(Value::as_str))
            .map(str::to_string)
            .ok_or_else(|| TargetError(format!("space {:?} not found", self.cfg.space)))
    }

    async fn feed_id(&self, space_id: &str) -> Result<String, TargetError> {
        if is_id(&self.cfg.feed, "Feeds-") {
            return Ok(self.cfg.feed.clone());
        }
        let path = format!(
            "/api/{}/feeds?partialName={}&feedType=Docker&take=1000",
            path_segment(space_id)?,
            percent_encode(&self.cfg.feed)
        );
        let page = self.get(&path, "listing feeds failed").await?;
        // `partialName` is a substring match: keep the exact name only.
        page.get("Items")
            .and_then(Value::as_array)
            .and_then(|items| {
                items
                    .iter()
                    .find(|f| f.get("Name").and_then(Value::as_str) == Some(self.cfg.feed.as_str()))
            })
            .and_then(|f| f.get("Id").and_then(Value::as_str))
            .map(str::to_string)
            .ok_or_else(|| {
                TargetError(format!(
                    "Docker feed {:?} not found in space {space_id}",
                    self.cfg.feed
                ))
            })
    }
}

impl Target for Octopus {
    type State = Resolved;

    async fn plan(&self, cred: &Arc<Cred>) -> Result<Plan<Resolved>, TargetError> {
        let space_id = self.space_id().await?;
        let feed_id = self.feed_id(&space_id).await?;
        let feed = self
            .get(
                &feed_path(&space_id, &feed_id)?,
                &format!("reading feed {feed_id} failed"),
            )
            .await?;
        let feed_type = feed.get("FeedType").and_then(Value::as_str).unwrap_or("");
        if feed_type != "Docker" {
            return Err(TargetError(format!(
                "feed {feed_id} has FeedType {feed_type:?}, not \"Docker\"{}",
                if feed_type == "AwsElasticContainerRegistry" {
                    " (an ECR feed fetches its own tokens: nothing to export)"
                } else {
                    ""
                }
            )));
        }
        let uri = feed.get("FeedUri").and_then(Value::as_str).unwrap_or("");
        let mut detail = format!(
            "PUT {}{} Username={} Password={}",
            self.cfg.server,
            feed_path(&space_id, &feed_id)?,
            cred.username,
            Cred::redacted(&cred.password)
        );
        if uri.trim_end_matches('/') != cred.proxy_endpoint() {
            detail.push_str(&format!(
                " (note: FeedUri is {uri:?}, the token is for {})",
                cred.proxy_endpoint()
            ));
        }
        Ok(Plan {
            action: Action::Update,
            detail,
            problems: Vec::new(),
            warnings: Vec::new(),
            state: Resolved {
                space_id,
                feed_id,
                feed,
            },
        })
    }

    async fn apply(&self, cred: &Arc<Cred>, plan: Plan<Resolved>) -> Result<String, TargetError> {
        let Resolved {
            space_id,
            feed_id,
            mut feed,
        } = plan.state;
        let Some(object) = feed.as_object_mut() else {
            return Err(TargetError(format!(
                "feed {feed_id}: unexpected resource shape"
            )));
        };
        object.insert("Username".into(), json!(cred.username));
        object.insert(
            "Password".into(),
            json!({ "HasValue": true, "NewValue": cred.password.expose_secret() }),
        );
        let url = format!("{}{}", self.cfg.server, feed_path(&space_id, &feed_id)?);
        let resp = self
            .http
            .send(
                Method::PUT,
                &url,
                &self.auth(),
                Some(&feed),
                RetryOn::Transient,
            )
            .await?;
        if !resp.is_success() {
            return Err(self.error(&format!("updating feed {feed_id} failed"), &resp));
        }
        Ok(format!("updated feed {feed_id} in {space_id}"))
    }
}
