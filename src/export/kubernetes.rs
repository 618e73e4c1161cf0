//! Kubernetes `kubernetes.io/dockerconfigjson` Secrets in many namespaces, by server-side apply
//! (`fieldManager=ecr-login`, forced), plus opt-in ServiceAccount `imagePullSecrets` entries
//! (a merge patch carrying `resourceVersion`, appending to the existing list; never SSA).
//!
//! Namespaces are independent: each is planned and applied on its own, in parallel (bounded),
//! and failures are reported per namespace without stopping the others. Within a namespace the
//! secret comes first and does not depend on the service accounts: a listed service account
//! that is missing (or cannot be read or linked) is an error of that namespace/account only, the
//! secret is still applied (and the target still fails, since the link was asked for).

use super::config::KubernetesConfig;
use super::http::MAX_BODY;
use super::redact::Redactor;
use super::retry::{self, Failure};
use super::target::{Action, Cred, Plan, Target, TargetError};
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::{Namespace, Secret, ServiceAccount};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{ListParams, Patch, PatchParams};
use kube::client::{ClientBuilder, DynBody};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Api, Client, Config};
use secrecy::ExposeSecret;
use serde_json::json;
use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;

pub const FIELD_MANAGER: &str = "ecr-login";
pub const SECRET_TYPE: &str = "kubernetes.io/dockerconfigjson";
/// Namespaces worked on at the same time within one target.
const NAMESPACE_PARALLELISM: usize = 32;
/// Namespaces asked for per page of the list: every page stays far below [`MAX_BODY`] however
/// many namespaces the cluster has.
const NAMESPACE_PAGE: u32 = 500;
/// Pages read at most: 100 000 namespaces, ten times what Kubernetes supports in one cluster,
/// so a server that keeps handing out `continue` tokens can neither keep the run going until its
/// deadline nor grow the list without bound.
const NAMESPACE_PAGES_MAX: usize = 200;

pub struct Kubernetes {
    pub cfg: KubernetesConfig,
    pub timeout: Duration,
    pub retries: u32,
    pub redactor: Redactor,
}

/// One namespace's plan.
#[derive(Clone)]
pub struct NsPlan {
    namespace: String,
    action: Action,
    /// Service accounts lacking the secret.
    service_accounts: Vec<String>,
}

pub struct State {
    client: Client,
    namespaces: Vec<NsPlan>,
    /// Namespaces whose secret cannot be applied at all (their errors are in `Plan::problems`).
    unplanned: usize,
}

/// What planning one namespace found: its plan, or why nothing can be done there, plus the
/// service-account errors that do not stop the secret.
struct NsPlanned {
    plan: Result<NsPlan, String>,
    problems: Vec<String>,
}

fn is_glob(pattern: &str) -> bool {
    pattern.contains(['*', '?', '[', '{'])
}

fn matches(pattern: &str, name: &str) -> bool {
    if is_glob(pattern) {
        glob_match::glob_match(pattern, name)
    } else {
        pattern == name
    }
}

/// Chooses namespaces: listed `all` filtered by include globs, minus excludes; system
/// namespaces only when named literally.
pub fn select_namespaces(include: &[String], exclude: &[String], all: &[String]) -> Vec<String> {
    let mut out: Vec<String> = all
        .iter()
        .filter(|ns| include.iter().any(|p| matches(p, ns)))
        .filter(|ns| !exclude.iter().any(|p| matches(p, ns)))
        .filter(|ns| {
            !super::config::SYSTEM_NAMESPACES.contains(&ns.as_str())
                || include.iter().any(|p| p == *ns)
        })
        .cloned()
        .collect();
    out.sort();
    out.dedup();
    out
}

impl Kubernetes {
    async fn client(&self) -> Result<Client, TargetError> {
        let fail = |what: &str, e: &dyn std::fmt::Display| {
            TargetError(format!("{what}: {}", self.redactor.redact(&e.to_string())))
        };
        let options = KubeConfigOptions {
            context: self.cfg.context.clone(),
            ..Default::default()
        };
        let mut config = match (&self.cfg.kubeconfig, &self.cfg.context) {
            (Some(path), _) => {
                let kc = Kubeconfig::read_from(path)
                    .map_err(|e| fail(&format!("cannot read kubeconfig {}", path.display()), &e))?;
                Config::from_custom_kubeconfig(kc, &options)
                    .await
                    .map_err(|e| fail("invalid kubeconfig", &e))?
            }
            (None, None) if std::env::var_os("KUBERNETES_SERVICE_HOST").is_some() => {
                Config::incluster().map_err(|e| fail("in-cluster config failed", &e))?
            }
            (None, _) => Config::from_kubeconfig(&options)
                .await
                .map_err(|e| fail("cannot load kubeconfig ($KUBECONFIG or ~/.kube/config)", &e))?,
        };
        config.connect_timeout = Some(self.timeout.min(Duration::from_secs(10)));
        config.read_timeout = Some(self.timeout);
        config.write_timeout = Some(self.timeout);
        // The client's own retry layer (15 attempts, any Retry-After, uncapped) would run
        // under ours: `retries` would not hold and a throttling API server would keep a run
        // going for many minutes. Ours (`retry.rs`) is the only one.
        config.default_retry = false;
        // Every answer is read to its end before it is decoded: bounded like the other targets'
        // (`http::MAX_BODY`), so a broken or hostile API server cannot make the run hold
        // gigabytes. Lists are paginated to stay under it.
        let limit = tower::util::MapResponseLayer::new(|response: http::Response<Box<DynBody>>| {
            response.map(|body| http_body_util::Limited::new(body, MAX_BODY))
        });
        let builder = ClientBuilder::try_from(config)
            .map_err(|e| fail("cannot build the Kubernetes client", &e))?;
        Ok(builder.with_layer(&limit).build())
    }

    async fn namespaces(&self, client: &Client) -> Result<Vec<String>, TargetError> {
        if !self.cfg.namespaces.iter().any(|p| is_glob(p)) {
            return Ok(select_namespaces(
                &self.cfg.namespaces,
                &self.cfg.exclude_namespaces,
                &self.cfg.namespaces,
            ));
        }
        let api: Api<Namespace> = Api::all(client.clone());
        let mut names = Vec::new();
        let mut next_page: Option<String> = None;
        for _ in 0..NAMESPACE_PAGES_MAX {
            let mut params = ListParams::default().limit(NAMESPACE_PAGE);
            if let Some(token) = &next_page {
                params = params.continue_token(token);
            }
            let page = with_retries(self.retries, || api.list(&params))
                .await
                .map_err(|e| {
                    TargetError(format!(
                        "listing namespaces failed: {}",
                        describe(&self.redactor, &e)
                    ))
                })?;
            names.extend(page.items.into_iter().filter_map(|n| n.metadata.name));
            next_page = page.metadata.continue_.filter(|t| !t.is_empty());
            if next_page.is_none() {
                return Ok(select_namespaces(
                    &self.cfg.namespaces,
                    &self.cfg.exclude_namespaces,
                    &names,
                ));
            }
        }
        Err(TargetError(format!(
            "listing namespaces failed: the API server sent more than {NAMESPACE_PAGES_MAX} pages of {NAMESPACE_PAGE} and was still not done"
        )))
    }

    fn secret(&self, cred: &Cred, namespace: &str) -> Secret {
        let config = json!({ "auths": { cred.host.clone(): {
            "username": cred.username,
            "password": cred.password.expose_secret(),
            "auth": cred.auth.expose_secret(),
        } } });
        let expires = cred
            .expires_at
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default();
        Secret {
            metadata: ObjectMeta {
                name: Some(self.cfg.secret_name.clone()),
                namespace: Some(namespace.to_string()),
                labels: Some(BTreeMap::from([(
                    "app.kubernetes.io/managed-by".to_string(),
                    "ecr-login".to_string(),
                )])),
                annotations: Some(BTreeMap::from([
                    ("ecr-login/expires-at".to_string(), expires),
                    ("ecr-login/registry".to_string(), cred.host.clone()),
                ])),
                ..Default::default()
            },
            type_: Some(SECRET_TYPE.to_string()),
            data: Some(BTreeMap::from([(
                ".dockerconfigjson".to_string(),
                ByteString(config.to_string().into_bytes()),
            )])),
            ..Default::default()
        }
    }
}

/// The shared retry policy over one `kube` call: 429, 5xx, 409 conflicts and transport errors
/// are retried (honouring the Status' `retryAfterSeconds`); other API errors (401, 403, 404,
/// 422) never are.
async fn with_retries<T, F, Fut>(retries: u32, mut call: F) -> Result<T, kube::Error>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, kube::Error>>,
{
    retry::retry(retries, |_| {
        let attempt = call();
        async move { attempt.await.map_err(classify) }
    })
    .await
}

fn classify(e: kube::Error) -> Failure<kube::Error> {
    if !retryable(&e) {
        return Failure::Fail(e);
    }
    let after = match &e {
        kube::Error::Api(s) => s
            .details
            .as_ref()
            .map(|d| d.retry_after_seconds)
            .filter(|s| *s > 0)
            .map(|s| Duration::from_secs(u64::from(s))),
        _ => None,
    };
    Failure::Retry { after, error: e }
}

fn retryable(e: &kube::Error) -> bool {
    match e {
        kube::Error::Api(s) => matches!(s.code, 409 | 429 | 500 | 502 | 503 | 504),
        kube::Error::HyperError(_) | kube::Error::Service(_) => !too_large(e),
        _ => false,
    }
}

/// Whether the answer was cut off at [`MAX_BODY`]: asking again would only read as much again.
fn too_large(e: &kube::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(s) = source {
        if s.is::<http_body_util::LengthLimitError>() {
            return true;
        }
        source = s.source();
    }
    false
}

fn describe(redactor: &Redactor, e: &kube::Error) -> String {
    let text = match e {
        kube::Error::Api(s) => format!("HTTP {}: {} {}", s.code, s.reason, s.message),
        other if too_large(other) => format!(
            "the API server's answer is larger than {} MiB; not read further",
            MAX_BODY / (1024 * 1024)
        ),
        other => {
            // kube's errors often repeat their source in their own text: each cause once.
            let mut text = other.to_string();
            let mut source = std::error::Error::source(other);
            while let Some(s) = source {
                let cause = s.to_string();
                if !text.contains(&cause) {
                    text.push_str(": ");
                    text.push_str(&cause);
                }
                source = s.source();
            }
            text
        }
    };
    redactor.redact(text.trim())
}

async fn plan_namespace(
    client: Client,
    namespace: String,
    secret_name: String,
    sas: Vec<String>,
    retries: u32,
    redactor: Redactor,
) -> NsPlanned {
    let secrets: Api<Secret> = Api::namespaced(client.clone(), &namespace);
    let action = match with_retries(retries, || secrets.get_opt(&secret_name)).await {
        Ok(None) => Action::Create,
        Ok(Some(s)) if s.type_.as_deref() == Some(SECRET_TYPE) => Action::Update,
        Ok(Some(s)) => {
            return NsPlanned {
                plan: Err(format!(
                    "{namespace}: secret {secret_name} exists with type {:?}; the type of a Secret cannot change (delete it or choose another secret_name)",
                    s.type_.unwrap_or_default()
                )),
                problems: Vec::new(),
            };
        }
        Err(e) => {
            return NsPlanned {
                plan: Err(format!(
                    "{namespace}: reading secret {secret_name} failed: {}",
                    describe(&redactor, &e)
                )),
                problems: Vec::new(),
            };
        }
    };
    // The secret does not depend on the service accounts: their errors are collected, not
    // returned, so the secret is still applied.
    let accounts: Api<ServiceAccount> = Api::namespaced(client, &namespace);
    let mut missing = Vec::new();
    let mut problems = Vec::new();
    for sa in sas {
        match with_retries(retries, || accounts.get_opt(&sa)).await {
            Ok(None) => problems.push(format!(
                "{namespace}: service account {sa} not found (secret {secret_name} applied without it)"
            )),
            Ok(Some(account)) => {
                let has = account
                    .image_pull_secrets
                    .unwrap_or_default()
                    .iter()
                    .any(|r| r.name == secret_name);
                if !has {
                    missing.push(sa);
                }
            }
            Err(e) => problems.push(format!(
                "{namespace}: reading service account {sa} failed: {}",
                describe(&redactor, &e)
            )),
        }
    }
    NsPlanned {
        plan: Ok(NsPlan {
            namespace,
            action,
            service_accounts: missing,
        }),
        problems,
    }
}

/// Appends the secret to a service account's `imagePullSecrets` with a compare-and-swap merge
/// patch; a conflict (someone else changed the account) re-reads and tries again.
async fn link_service_account(
    api: &Api<ServiceAccount>,
    sa: &str,
    secret_name: &str,
    retries: u32,
) -> Result<(), kube::Error> {
    retry::retry(retries, |_| async move {
        let account = api.get(sa).await.map_err(classify)?;
        let mut list: Vec<serde_json::Value> = account
            .image_pull_secrets
            .unwrap_or_default()
            .into_iter()
            .map(|r| json!({ "name": r.name }))
            .collect();
        if list.iter().any(|r| r["name"] == secret_name) {
            return Ok(());
        }
        list.push(json!({ "name": secret_name }));
        let patch = json!({ "metadata": { "resourceVersion": account.metadata.resource_version }, "imagePullSecrets": list });
        api.patch(sa, &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .map(|_| ())
            .map_err(classify)
    })
    .await
}

/// What applying one namespace did.
struct NsApplied {
    secret: bool,
    linked: usize,
    problems: Vec<String>,
}

impl Target for Kubernetes {
    type State = State;

    async fn plan(&self, _cred: &Arc<Cred>) -> Result<Plan<State>, TargetError> {
        let client = self.client().await?;
        let namespaces = self.namespaces(&client).await?;
        if namespaces.is_empty() {
            return Err(TargetError("no namespace matches `namespaces` (after `exclude_namespaces` and system namespaces)".into()));
        }
        let limit = Arc::new(Semaphore::new(NAMESPACE_PARALLELISM));
        let mut tasks = tokio::task::JoinSet::new();
        for ns in namespaces {
            let (client, name, sas, redactor, limit) = (
                client.clone(),
                self.cfg.secret_name.clone(),
                self.cfg.service_accounts.clone(),
                self.redactor.clone(),
                limit.clone(),
            );
            let retries = self.retries;
            tasks.spawn(async move {
                let _permit = limit.acquire_owned().await;
                plan_namespace(client, ns, name, sas, retries, redactor).await
            });
        }
        let mut plans = Vec::new();
        let mut problems = Vec::new();
        let mut unplanned = 0;
        while let Some(done) = tasks.join_next().await {
            match done {
                Ok(planned) => {
                    match planned.plan {
                        Ok(plan) => plans.push(plan),
                        Err(problem) => {
                            unplanned += 1;
                            problems.push(problem);
                        }
                    }
                    problems.extend(planned.problems);
                }
                Err(e) => {
                    unplanned += 1;
                    problems.push(format!("a namespace task failed: {e}"));
                }
            }
        }
        plans.sort_by(|a, b| a.namespace.cmp(&b.namespace));
        problems.sort();
        let creates = plans.iter().filter(|p| p.action == Action::Create).count();
        let updates = plans.len() - creates;
        let links: usize = plans.iter().map(|p| p.service_accounts.len()).sum();
        let action = match (creates, updates) {
            (0, _) => Action::Update,
            (_, 0) => Action::Create,
            _ => Action::Mixed,
        };
        let mut detail = format!(
            "apply secret {} ({SECRET_TYPE}, data redacted) in {} namespace(s): {creates} create, {updates} update",
            self.cfg.secret_name,
            plans.len()
        );
        if links > 0 {
            detail.push_str(&format!("; link {links} service account(s)"));
        }
        if unplanned > 0 {
            detail.push_str(&format!("; {unplanned} namespace(s) failed"));
        }
        let sa_problems = problems.len().saturating_sub(unplanned);
        if sa_problems > 0 {
            detail.push_str(&format!("; {sa_problems} service account problem(s)"));
        }
        Ok(Plan {
            action,
            detail,
            problems,
            warnings: Vec::new(),
            state: State {
                client,
                namespaces: plans,
                unplanned,
            },
        })
    }

    async fn apply(&self, cred: &Arc<Cred>, plan: Plan<State>) -> Result<String, TargetError> {
        let State {
            client,
            namespaces,
            unplanned,
        } = plan.state;
        let limit = Arc::new(Semaphore::new(NAMESPACE_PARALLELISM));
        let mut tasks = tokio::task::JoinSet::new();
        let total = namespaces.len() + unplanned;
        for ns in namespaces {
            let secret = self.secret(cred, &ns.namespace);
            let (client, name, redactor, limit, retries) = (
                client.clone(),
                self.cfg.secret_name.clone(),
                self.redactor.clone(),
                limit.clone(),
                self.retries,
            );
            tasks.spawn(async move {
                let _permit = limit.acquire_owned().await;
                let secrets: Api<Secret> = Api::namespaced(client.clone(), &ns.namespace);
                let params = PatchParams::apply(FIELD_MANAGER).force();
                let patch = Patch::Apply(&secret);
                if let Err(e) =
                    with_retries(retries, || secrets.patch(&name, &params, &patch)).await
                {
                    // Never link a service account to a secret that is not there.
                    return NsApplied {
                        secret: false,
                        linked: 0,
                        problems: vec![format!(
                            "{}: applying secret {name} failed: {}",
                            ns.namespace,
                            describe(&redactor, &e)
                        )],
                    };
                }
                let accounts: Api<ServiceAccount> = Api::namespaced(client, &ns.namespace);
                let mut done = NsApplied {
                    secret: true,
                    linked: 0,
                    problems: Vec::new(),
                };
                for sa in &ns.service_accounts {
                    match link_service_account(&accounts, sa, &name, retries).await {
                        Ok(()) => done.linked += 1,
                        Err(e) => done.problems.push(format!(
                            "{}: linking service account {sa} failed: {}",
                            ns.namespace,
                            describe(&redactor, &e)
                        )),
                    }
                }
                done
            });
        }
        let mut problems = plan.problems;
        let (mut applied, mut linked) = (0, 0);
        while let Some(done) = tasks.join_next().await {
            match done {
                Ok(done) => {
                    applied += usize::from(done.secret);
                    linked += done.linked;
                    problems.extend(done.problems);
                }
                Err(e) => problems.push(format!("a namespace task failed: {e}")),
            }
        }
        let mut summary = format!(
            "applied secret {} in {applied} of {total} namespace(s)",
            self.cfg.secret_name
        );
        if linked > 0 {
            summary.push_str(&format!("; linked {linked} service account(s)"));
        }
        if problems.is_empty() {
            Ok(summary)
        } else {
            problems.sort();
            Err(TargetError(format!(
                "{summary}; {} error(s): {}",
                problems.len(),
                problems.join("; ")
            )))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn namespace_selection() {
        let all = s(&["default", "kube-system", "ml-a", "ml-b", "ml-test", "other"]);
        assert_eq!(
            select_namespaces(&s(&["ml-*"]), &s(&["*-test"]), &all),
            s(&["ml-a", "ml-b"])
        );
        assert_eq!(
            select_namespaces(&s(&["*"]), &[], &all),
            s(&["default", "ml-a", "ml-b", "ml-test", "other"])
        );
        assert_eq!(
            select_namespaces(&s(&["*", "kube-system"]), &[], &all).len(),
            6
        );
    }
}
