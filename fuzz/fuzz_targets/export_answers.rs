//! Pipecat, Runpod and Octopus answers, as the export targets decode them.
//!
//! Input: a first line naming the platform (`pipecat`, `runpod`, `octopus`), then a script of
//! answers for a loopback server (see `fuzz_support::parse_script`): any status, headers and
//! body, truncated bodies and reset connections, in any order; a body may echo the API key or
//! the token (`@KEY@`, `@PASS@`, `@AUTH@`). Properties: each target finishes with a result,
//! never a panic, and nothing it reports (detail, warnings, error) holds a secret.
#![no_main]

use ecr_login::export::config::{self, TargetKind};
use ecr_login::export::http::Http;
use ecr_login::export::octopus::Octopus;
use ecr_login::export::pipecat::Pipecat;
use ecr_login::export::redact::Redactor;
use ecr_login::export::runpod::Runpod;
use ecr_login::export::target::{self, Cred, Outcome};
use fuzz_support::{API_KEY, ScriptServer};
use libfuzzer_sys::fuzz_target;
use secrecy::SecretString;
use std::sync::{Arc, OnceLock};

struct World {
    runtime: tokio::runtime::Runtime,
    config: config::Config,
    /// One client for the process (building one loads the trust roots: ~20 ms).
    http: Http,
}

fn world() -> &'static World {
    static WORLD: OnceLock<World> = OnceLock::new();
    WORLD.get_or_init(|| {
        fuzz_support::set_env("FUZZ_API_KEY", API_KEY);
        let url = ScriptServer::get().url();
        let text = format!(
            r#"
[defaults]
timeout = "2s"
retries = 0
[[source]]
region = "us-east-1"
[[target]]
name = "pipecat"
type = "pipecat"
secret_set = "my-ecr-credentials"
api_key = {{ env = "FUZZ_API_KEY" }}
base_url = "{url}"
[[target]]
name = "runpod"
type = "runpod"
registry_auth = "ECR Credentials"
api_key = {{ env = "FUZZ_API_KEY" }}
base_url = "{url}"
[[target]]
name = "octopus"
type = "octopus"
server = "{url}"
space = "Default"
feed = "ECR"
api_key = {{ env = "FUZZ_API_KEY" }}
"#
        );
        let dir = fuzz_support::scratch_dir("export-answers");
        let config = config::parse(&text, &dir.join("export.toml"), &[], None)
            .unwrap_or_else(|e| panic!("fuzz config: {e}"));
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let redactor = Redactor::new(fuzz_support::secrets());
        let http = Http::new(config.defaults.timeout, 0, redactor).expect("http client");
        World {
            runtime,
            config,
            http,
        }
    })
}

fn cred() -> Arc<Cred> {
    Arc::new(Cred {
        username: "AWS".into(),
        password: SecretString::from(fuzz_support::PASSWORD),
        auth: SecretString::from(fuzz_support::auth()),
        host: "123456789012.dkr.ecr.us-east-1.amazonaws.com".into(),
        expires_at: time::OffsetDateTime::now_utc() + time::Duration::hours(12),
        origin: ecr_login::token::Origin::Api,
    })
}

fuzz_target!(|input: &[u8]| {
    let world = world();
    let (first, script) = match input.iter().position(|&b| b == b'\n') {
        Some(i) => (&input[..i], &input[i + 1..]),
        None => (input, &b""[..]),
    };
    let index = match first {
        b"pipecat" => 0,
        b"runpod" => 1,
        b"octopus" => 2,
        _ => usize::from(first.first().copied().unwrap_or(0)) % 3,
    };
    let server = ScriptServer::get();
    server.load(fuzz_support::parse_script(script));
    let t = &world.config.targets[index];
    let http = world.http.clone();
    let redactor = world.http.redactor.clone();
    let cred = cred();
    let outcome: Outcome = world.runtime.block_on(async {
        match &t.kind {
            TargetKind::Pipecat(cfg) => {
                let t = Pipecat {
                    http,
                    cfg: cfg.clone(),
                };
                target::run(&t, &cred, false, &redactor).await
            }
            TargetKind::Runpod(cfg) => {
                let t = Runpod {
                    http,
                    cfg: cfg.clone(),
                };
                target::run(&t, &cred, false, &redactor).await
            }
            TargetKind::Octopus(cfg) => {
                let t = Octopus {
                    http,
                    cfg: cfg.clone(),
                };
                target::run(&t, &cred, false, &redactor).await
            }
            _ => unreachable!("only HTTP targets are configured"),
        }
    });
    assert!(
        outcome.error.is_some() || outcome.action.is_some(),
        "neither done nor failed"
    );
    fuzz_support::assert_no_secret("detail", &outcome.detail);
    fuzz_support::assert_no_secret("error", outcome.error.as_deref().unwrap_or(""));
    for w in &outcome.warnings {
        fuzz_support::assert_no_secret("warning", w);
    }
    assert!(
        server.requests().len() <= 64,
        "a target looped: {:?}",
        server.requests()
    );
});
