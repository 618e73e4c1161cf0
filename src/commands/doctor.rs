//! `doctor [HOST] [--output text|json]`: checks the set-up end to end and explains each finding
//! in one line with a fix — the diagnosis the Go helper never had (upstream #213: opaque SSO
//! failures, shadowing `auths` entries, a binary Docker cannot find).
//!
//! Contract: doctor only reads, except that the `token` check gets a token exactly as `get`
//! does (so it may refresh the cache). It never prints a secret: no token, secret key or session
//! token reaches a check, and an access key id is shown masked. Every network call has a
//! deadline and all of them share a budget ([`aws::Budget`]), so it finishes in bounded time.
//! Exit 0 when no check failed, 1 otherwise, 2 for a usage error.

mod aws;
mod docker;
mod local;
pub mod report;

use crate::aws_profile::AwsFiles;
use crate::ecr::probe::{self, SsoLogin};
use crate::helper_config::{self, HelperConfig};
use crate::identity::{self, CredentialSource};
use crate::registry;
use crate::routing::{self, Route};
use crate::settings::Settings;
use clap::Parser;
use docker::DockerConfig;
use report::{Check, Report};
use std::ffi::OsString;
use std::time::Duration;

/// Reading the profile files is local; this only guards a stuck disk.
const LOCAL_DEADLINE: Duration = Duration::from_secs(5);

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Output {
    Text,
    Json,
}

/// `doctor`'s arguments (public so the command tree for help, completions and man pages can
/// include them). Check the set-up for a registry (or, without HOST, the general set-up and every registry
/// the Docker config sends to ecr-login) and explain each problem with a fix.
#[derive(Debug, Parser)]
#[command(
    name = "doctor",
    bin_name = "docker-credential-ecr-login doctor",
    about = "Check the set-up for a registry and explain each problem with a fix",
    long_about = "Check the set-up for a registry and explain each problem with a fix.\n\n\
        Checks: the helper config; the Docker config (credHelpers / credsStore for HOST, a \
        shadowing auths entry, the binary on PATH); HOST's route, region and API endpoint; its \
        cache entry; the AWS identity (STS GetCallerIdentity) and how it was chosen; the SSO \
        sign-in of SSO profiles; the clock against the API's; instance metadata when it is the \
        credential source; and a real token, fetched the way `get` fetches it (through the \
        cache). Secrets are never printed.\n\n\
        Exit status: 0 no check failed, 1 some check failed, 2 usage error. Network calls are \
        bounded by AWS_ECR_FETCH_TIMEOUT each and by twice that together.",
    disable_version_flag = true
)]
pub struct Args {
    /// Registry host (or a helper-config alias) as Docker names it; without it, the general
    /// set-up and every registry in the Docker config that uses ecr-login
    #[arg(value_name = "HOST")]
    host: Option<String>,
    /// Output format: one line per check, or {"ok": bool, "checks": [...]}
    #[arg(long, value_enum, default_value = "text")]
    output: Output,
}

/// Entry point for `docker-credential-ecr-login doctor ...`; returns the exit code.
pub fn main(args: Vec<OsString>) -> i32 {
    let cli = match Args::try_parse_from(std::iter::once(OsString::from("doctor")).chain(args)) {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() { 2 } else { 0 };
        }
    };
    let settings = Settings::from_env();
    let report = run(cli.host.as_deref(), &settings);
    match cli.output {
        Output::Text => print!("{report}"),
        Output::Json => print!("{}", report.to_json()),
    }
    report.exit_code()
}

/// Runs every check that applies to `host` (or to the general set-up without one).
pub fn run(host: Option<&str>, settings: &Settings) -> Report {
    let budget = aws::Budget::new(settings.fetch_timeout);
    let location = helper_config::location(settings.home.as_deref());
    let loaded = helper_config::load(location.clone());
    let mut checks = vec![local::helper_config_check(location.as_ref(), &loaded)];
    let config = loaded.as_ref().ok().and_then(Option::as_ref);
    let docker = docker::load(settings.home.as_deref());
    checks.push(docker::file_check(docker.as_ref()));
    let docker_uses_us = docker.as_ref().is_some_and(DockerConfig::uses_us);
    checks.push(docker::binary_check(
        "helper-on-path",
        docker::HELPER,
        docker_uses_us,
    ));
    if let Some(helper) = config.and_then(|c| c.fallback_helper.as_deref()) {
        checks.push(docker::binary_check("fallback-helper", helper, true));
    }
    let context = Context {
        config,
        config_broken: loaded.is_err(),
        docker: docker.as_ref(),
        settings,
        budget,
    };
    match host {
        Some(host) => checks.extend(context.host_checks(host)),
        None => checks.extend(context.setup_checks()),
    }
    Report::new(host.map(str::to_string), checks)
}

struct Context<'a> {
    config: Option<&'a HelperConfig>,
    config_broken: bool,
    docker: Option<&'a DockerConfig>,
    settings: &'a Settings,
    budget: aws::Budget,
}

impl Context<'_> {
    /// Everything about one host, in the order a `docker pull` meets it.
    fn host_checks(&self, host: &str) -> Vec<Check> {
        let fallback = self.config.and_then(|c| c.fallback_helper.as_deref());
        let mut checks = vec![
            docker::helper_check(self.docker, host, fallback.is_some()),
            docker::auths_check(self.docker, host),
        ];
        let route = match self.route_check(host) {
            Ok(route) => route,
            Err(check) => {
                checks.push(check);
                return checks;
            }
        };
        checks.push(Check::ok("route", route_detail(host, &route)));
        let (endpoint_check, endpoint) = aws::endpoint_check(&route);
        checks.push(endpoint_check);
        checks.push(self.cache_check(&route));
        let (source_checks, sso) = self.source_checks(Some(&route));
        checks.extend(source_checks);
        checks.push(aws::token_check(
            &route,
            self.settings,
            endpoint.as_ref(),
            sso.as_ref().map(|login| login.profile.as_str()),
            &self.budget,
        ));
        checks
    }

    /// Without a host: the ambient identity, then every registry the Docker config sends to
    /// this helper (its route, endpoint, cache entry, `auths`), and each other identity the
    /// helper config routes them to. No token fetch: name a HOST for that.
    fn setup_checks(&self) -> Vec<Check> {
        let mut checks = self.source_checks(None).0;
        let mut seen = vec![CredentialSource::default()];
        let registries = self
            .docker
            .map(DockerConfig::our_registries)
            .unwrap_or_default();
        for key in &registries {
            let label = Some(key.as_str());
            let fallback = self.config.is_some_and(|c| c.fallback_helper.is_some());
            let helper = docker::helper_check(self.docker, key, fallback);
            if helper.status != report::Status::Ok {
                checks.push(helper.for_host(label));
            }
            checks.push(docker::auths_check(self.docker, key).for_host(label));
            let route = match self.route_check(key) {
                Ok(route) => route,
                Err(check) => {
                    checks.push(check.for_host(label));
                    continue;
                }
            };
            checks.push(Check::ok("route", route_detail(key, &route)).for_host(label));
            checks.push(aws::endpoint_check(&route).0.for_host(label));
            checks.push(self.cache_check(&route).for_host(label));
            if !seen.contains(&route.source) {
                seen.push(route.source.clone());
                let (more, _) = self.source_checks(Some(&route));
                checks.extend(more.into_iter().map(|c| c.for_host(label)));
            }
        }
        checks
    }

    /// The route for `host`, or the failing (or, for a delegated host, passing) `route` check.
    fn route_check(&self, host: &str) -> Result<Route, Check> {
        const NAME: &str = "route";
        if self.config_broken {
            return Err(Check::fail(
                NAME,
                "the helper config has an error (above): get answers not-found for every host",
                "fix the helper config",
            ));
        }
        if let Some(route) = routing::resolve(host, self.config) {
            return Ok(route);
        }
        let config_path = helper_config::location(self.settings.home.as_deref())
            .map(|(path, _)| path.display().to_string())
            .unwrap_or_else(|| "the helper config".into());
        Err(
            match self.config.and_then(|c| c.fallback_helper.as_deref()) {
                Some(helper) => Check::ok(
                    NAME,
                    format!(
                        "{host} is not an ECR host or an alias: get, store and erase go to {} (fallback_helper)",
                        crate::delegate::program(helper)
                    ),
                ),
                None => Check::fail(
                    NAME,
                    format!(
                        "{host} is not an ECR registry host or a helper-config alias: get answers \
                         not-found, and Docker tries it anonymously"
                    ),
                    format!(
                        "use the registry's ECR host (ACCOUNT.dkr.ecr.REGION.amazonaws.com or \
                         public.ecr.aws), or add an [[alias]] for {host} in {config_path}"
                    ),
                ),
            },
        )
    }

    fn cache_check(&self, route: &Route) -> Check {
        let identity = identity::current(&AwsFiles::load(), &route.source);
        local::cache_check(self.settings, &route.registry, &identity)
    }

    /// Who the credentials of `route` (the ambient ones without a route) are, and what they
    /// depend on: the STS identity and clock, the SSO sign-in, instance metadata. Also returns
    /// the SSO sign-in, whose `aws sso login` fixes a later credentials failure.
    fn source_checks(&self, route: Option<&Route>) -> (Vec<Check>, Option<SsoLogin>) {
        let files = AwsFiles::load();
        let ambient = CredentialSource::default();
        let source = route.map(|r| &r.source).unwrap_or(&ambient);
        let region = match route {
            Some(route) => route.registry.api_region().to_string(),
            None => default_region(&files),
        };
        let profile = source
            .profile
            .clone()
            .unwrap_or_else(|| files.selected().to_string());
        // A profile's problems are reported by the identity check; here only "is it SSO".
        let sso = identity::environment_key_id(source)
            .is_none()
            .then(|| {
                probe::sso_login_blocking(&profile, LOCAL_DEADLINE)
                    .ok()
                    .flatten()
            })
            .flatten();
        let sso_profile = sso.as_ref().map(|login| login.profile.as_str());
        let mut checks = aws::identity_checks(route, &region, source, sso_profile, &self.budget);
        if let Some(login) = &sso {
            checks.push(local::sso_check(login, self.settings.home.as_deref()));
        }
        let description = identity::current(&files, source).description;
        let from_instance = description.ends_with(identity::INSTANCE_ROLE)
            || files
                .profile(&profile)
                .and_then(|p| p.get("credential_source"))
                .is_some_and(|s| s.eq_ignore_ascii_case("Ec2InstanceMetadata"));
        if from_instance {
            checks.push(aws::instance_metadata_check(&self.budget));
        }
        (checks, sso)
    }
}

fn route_detail(asked: &str, route: &Route) -> String {
    let registry = match &route.registry {
        registry::Registry::Private(p) => format!(
            "account {}, region {}",
            p.account.as_deref().unwrap_or("(own)"),
            p.region
        ),
        registry::Registry::Public { .. } => "ECR Public, tokens from us-east-1".into(),
    };
    // `describe` names the alias that led here, if any; otherwise the host asked for is the
    // registry (in Docker's spelling, which may differ from what was typed).
    match registry::host_of(asked)
        .filter(|h| route.alias.is_none() && *h != route.registry.host().unwrap_or_default())
    {
        Some(_) => format!("{asked} is {} ({registry})", route.describe()),
        None => format!("{} ({registry})", route.describe()),
    }
}

/// The region for STS without a registry: `AWS_REGION`, `AWS_DEFAULT_REGION`, the selected
/// profile's `region`, else us-east-1. Never instance metadata: doctor must not stall here.
fn default_region(files: &AwsFiles) -> String {
    ["AWS_REGION", "AWS_DEFAULT_REGION"]
        .iter()
        .filter_map(|var| std::env::var(var).ok())
        .chain(
            files
                .profile(files.selected())
                .and_then(|p| p.get("region").cloned()),
        )
        .find(|region| !region.trim().is_empty())
        .unwrap_or_else(|| registry::PUBLIC_REGION.to_string())
}
