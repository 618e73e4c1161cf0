//! `export`: push ECR credentials to platforms that only store a static registry password.
//!
//! Flow: arguments → config (validated, secrets resolved; exit 2 on any error, before any
//! network call) → run lock → jitter → one token per source → targets concurrently → table or
//! JSON on stdout, optional Prometheus textfile → exit 0 (all ok) or 1 (any target failed).

pub mod config;
pub mod docker_config;
pub mod http;
pub mod kubernetes;
pub mod lambda;
pub mod lock;
pub mod notify;
pub mod octopus;
pub mod pipecat;
pub mod print;
pub mod redact;
pub mod report;
pub mod retry;
pub mod runner;
pub mod runpod;
pub mod target;

use crate::settings::Settings;
use clap::{CommandFactory as _, Parser};
use std::ffi::OsString;
use std::io::Write as _;
use std::path::PathBuf;

pub const EXIT_OK: i32 = 0;
pub const EXIT_FAILED: i32 = 1;
pub const EXIT_USAGE: i32 = 2;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Output {
    Text,
    Json,
}

/// Push the same ECR credentials to Pipecat Cloud, Runpod, Octopus Deploy, Kubernetes and
/// Docker config files. Safe to run from cron every few hours.
#[derive(Debug, Parser)]
#[command(
    name = "docker-credential-ecr-login export",
    bin_name = "docker-credential-ecr-login export",
    about = "Push ECR credentials to Pipecat Cloud, Runpod, Octopus Deploy, Kubernetes and Docker config files",
    long_about = None,
    disable_version_flag = true
)]
struct Cli {
    /// Print the version and exit
    #[arg(short = 'V', long)]
    version: bool,
    /// Run as an AWS Lambda custom runtime (as when the binary is named `bootstrap`): one export
    /// per invocation from the Runtime API at $AWS_LAMBDA_RUNTIME_API, the config from --config,
    /// else $ECR_LOGIN_EXPORT_CONFIG, else /var/task/export.toml; the cache in /tmp/ecr-login
    #[arg(long, conflicts_with_all = ["targets", "dry_run", "print", "jitter", "lock", "metrics_file"])]
    lambda: bool,
    /// Config file [default: $XDG_CONFIG_HOME/ecr-login/export.toml, else ~/.config/ecr-login/export.toml]
    #[arg(long, value_name = "PATH")]
    config: Option<PathBuf>,
    /// Only this target (repeatable)
    #[arg(long = "target", value_name = "NAME")]
    targets: Vec<String>,
    /// Only read: print each target's plan (create / update / error), write nothing
    #[arg(long)]
    dry_run: bool,
    /// Output format
    #[arg(long, value_enum, default_value = "text")]
    output: Output,
    /// Write a Prometheus textfile (node_exporter textfile collector) with per-target metrics
    #[arg(long, value_name = "PATH")]
    metrics_file: Option<PathBuf>,
    /// Sleep a random time up to DURATION first (e.g. 5m), so cron fleets don't stampede
    #[arg(long, value_name = "DURATION")]
    jitter: Option<String>,
    /// Run lock file [default: $XDG_RUNTIME_DIR/ecr-login-export.lock, else <cache dir>/export.lock]
    #[arg(long, value_name = "PATH")]
    lock: Option<PathBuf>,
    /// Print one source's credentials to stdout instead of exporting (no config file)
    #[arg(long, value_enum, value_name = "FORMAT", conflicts_with_all = ["config", "targets", "dry_run", "metrics_file"])]
    print: Option<print::Format>,
    /// With --print: the registry host (default: the caller's own registry in --region)
    #[arg(long, value_name = "HOST", requires = "print")]
    registry: Option<String>,
    /// With --print: the AWS region (default: AWS_REGION)
    #[arg(long, value_name = "REGION", requires = "print")]
    region: Option<String>,
    /// With --print: the AWS profile
    #[arg(long, value_name = "PROFILE", requires = "print")]
    profile: Option<String>,
    /// With --print k8s-secret: the Secret's name [default: ecr-pull]
    #[arg(long, value_name = "NAME", requires = "print")]
    secret_name: Option<String>,
}

/// `export`'s arguments as a subcommand of the full command tree (`--help`, completions, man pages).
pub fn command() -> clap::Command {
    Cli::command().name("export")
}

/// Entry point for `docker-credential-ecr-login export ...`; returns the process exit code.
pub fn main(args: Vec<OsString>) -> i32 {
    let cli = match Cli::try_parse_from(std::iter::once(OsString::from("export")).chain(args)) {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() { EXIT_USAGE } else { EXIT_OK };
            let _ = e.print();
            return code;
        }
    };
    if cli.version {
        print!("{}", crate::helper::banner());
        return EXIT_OK;
    }
    if cli.lambda {
        return lambda::main(cli.config);
    }
    let settings = Settings::from_env();
    let json = cli.output == Output::Json;
    if let Some(format) = cli.print {
        return print_credentials(
            format,
            cli.registry,
            cli.region,
            cli.profile,
            cli.secret_name.as_deref().unwrap_or("ecr-pull"),
            &settings,
        );
    }
    let jitter = match cli
        .jitter
        .as_deref()
        .map(|j| (j, config::parse_duration(j)))
    {
        None => None,
        Some((_, Some(d))) => Some(d),
        Some((text, None)) => {
            return usage(
                json,
                &format!("--jitter: invalid duration {text:?} (use e.g. 5m)"),
            );
        }
    };
    let Some(path) = cli
        .config
        .clone()
        .or_else(|| config::default_path(settings.home.as_deref()))
    else {
        return usage(
            json,
            "no --config given and no home directory for the default path",
        );
    };
    let config = match config::load(&path, &cli.targets, settings.home.as_deref()) {
        Ok(c) => c,
        Err(e) => return usage(json, &format!("config error: {e}")),
    };
    let lock_path = cli
        .lock
        .clone()
        .unwrap_or_else(|| lock::default_path(settings.cache_dir.as_deref()));
    let _lock = match lock::acquire(&lock_path) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("docker-credential-ecr-login export: {e}");
            tracing::warn!("{e}");
            return EXIT_FAILED;
        }
    };
    if let Some(max) = jitter.filter(|d| !d.is_zero()) {
        let wait = std::time::Duration::from_millis(fastrand::u64(0..=max.as_millis() as u64));
        tracing::info!(wait_ms = wait.as_millis() as u64, "jitter");
        std::thread::sleep(wait);
    }

    let rows = runner::run(&config, &settings, cli.dry_run);
    let text = match cli.output {
        Output::Text => report::table(&rows, cli.dry_run),
        Output::Json => report::json(&rows, cli.dry_run),
    };
    let mut stdout = std::io::stdout().lock();
    let _ = stdout.write_all(text.as_bytes());
    let _ = stdout.flush();
    for row in &rows {
        match &row.error {
            Some(e) => tracing::error!(
                target_name = row.target.as_str(),
                error = e.as_str(),
                "export failed"
            ),
            None => tracing::info!(
                target_name = row.target.as_str(),
                dry_run = cli.dry_run,
                "export ok"
            ),
        }
    }
    let mut code = if rows.iter().all(|r| r.ok) {
        EXIT_OK
    } else {
        EXIT_FAILED
    };
    if !cli.dry_run {
        notify_failures(&config, &rows);
    }
    if let (Some(metrics), false) = (&cli.metrics_file, cli.dry_run)
        && let Err(e) = report::write_metrics(metrics, &rows, time::OffsetDateTime::now_utc())
    {
        eprintln!(
            "docker-credential-ecr-login export: cannot write the metrics file {}: {e}",
            metrics.display()
        );
        code = EXIT_FAILED;
    }
    code
}

/// POSTs the summary to `notify_url` when a target failed (a failed notification is logged,
/// and does not change the run's result).
pub(crate) fn notify_failures(config: &config::Config, rows: &[report::Row]) {
    let Some(url) = &config.defaults.notify_url else {
        return;
    };
    if rows.iter().all(|r| r.ok) {
        return;
    }
    match notify::send(url.value(), rows, config.defaults.timeout) {
        Ok(()) => tracing::info!("failure notification sent"),
        Err(e) => {
            eprintln!(
                "docker-credential-ecr-login export: the failure notification (notify_url) failed: {e}"
            );
            tracing::warn!(error = e.as_str(), "the failure notification failed");
        }
    }
}

/// A usage or config error: exit 2, the message on stderr, and with `--output json` also a
/// JSON error object on stdout (what a pipeline parsing stdout expects).
fn usage(json: bool, message: &str) -> i32 {
    eprintln!("docker-credential-ecr-login export: {message}");
    if json {
        println!("{}", serde_json::json!({ "ok": false, "error": message }));
    }
    tracing::error!("{message}");
    EXIT_USAGE
}

fn print_credentials(
    format: print::Format,
    registry: Option<String>,
    region: Option<String>,
    profile: Option<String>,
    secret_name: &str,
    settings: &Settings,
) -> i32 {
    // The name goes into YAML verbatim: only a valid object name may.
    if !config::valid_dns_subdomain(secret_name) {
        return usage(
            false,
            &format!("--secret-name {secret_name:?} is not a valid Kubernetes object name"),
        );
    }
    let source = match print::source(registry, region, profile) {
        Ok(s) => s,
        Err(e) => return usage(false, &e),
    };
    let files = crate::aws_profile::AwsFiles::load();
    match runner::fetch(settings, &files, &source) {
        Ok(cred) => {
            let text = match format {
                print::Format::Github => {
                    let output = std::env::var_os("GITHUB_OUTPUT")
                        .filter(|v| !v.is_empty())
                        .map(PathBuf::from);
                    match print::github(&cred, output.as_deref()) {
                        Ok(text) => text,
                        Err(e) => return usage(false, &e),
                    }
                }
                _ => print::render(format, &cred, secret_name),
            };
            let mut stdout = std::io::stdout().lock();
            let _ = stdout.write_all(text.as_bytes());
            let _ = stdout.flush();
            EXIT_OK
        }
        Err(e) => {
            eprintln!("docker-credential-ecr-login export: {e}");
            EXIT_FAILED
        }
    }
}
