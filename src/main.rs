//! Thin entry point: pick the action, run it, print, exit.

use ecr_login::helper::{self, NAME};
use ecr_login::settings::Settings;
use std::io::Write;

fn main() {
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    // The kubelet runs the plugin under its own file name, with the config's `args`.
    if ecr_login::kubelet::invoked_as_plugin(args.first()) {
        std::process::exit(ecr_login::kubelet::main(args[1..].to_vec()));
    }
    if args
        .get(1)
        .is_some_and(|a| a == ecr_login::kubelet::SUBCOMMAND)
    {
        std::process::exit(ecr_login::kubelet::main(args[2..].to_vec()));
    }
    if args.get(1).is_some_and(|a| a == "export") {
        let settings = Settings::from_env();
        ecr_login::logging::init(settings.log_dir(), settings.log_level);
        ecr_login::logging::activate();
        std::process::exit(ecr_login::export::main(args[2..].to_vec()));
    }
    if args.get(1).is_some_and(|a| a == "doctor") {
        let settings = Settings::from_env();
        ecr_login::logging::init(settings.log_dir(), settings.log_level);
        std::process::exit(ecr_login::commands::doctor::main(args[2..].to_vec()));
    }
    let outcome = match args.len() {
        2 => {
            let action = args[1].to_string_lossy();
            match action.as_ref() {
                "-v" | "--version" => helper::Outcome::ok(helper::banner()),
                "-h" | "--help" => helper::Outcome::ok(help_text()),
                action => {
                    let settings = Settings::from_env();
                    ecr_login::logging::init(settings.log_dir(), settings.log_level);
                    helper::run(action, std::io::stdin().lock(), &settings)
                }
            }
        }
        _ => helper::Outcome {
            stdout: format!("{}\n", helper::usage()).into_bytes(),
            stderr: Vec::new(),
            code: 1,
        },
    };
    let mut stdout = std::io::stdout().lock();
    let _ = stdout.write_all(&outcome.stdout);
    let _ = stdout.flush();
    if !outcome.stderr.is_empty() {
        let _ = std::io::stderr().write_all(&outcome.stderr);
    }
    std::process::exit(outcome.code);
}

fn help_text() -> String {
    format!(
        "{usage}\n       {NAME} export [--help]\n       \
         {NAME} kubelet-credential-provider [--role-annotation KEY]... [--help]\n         \
         (the kubelet's image credential provider; also run as `ecr-credential-provider`)\n       \
         {NAME} doctor [HOST] [--output text|json]\n\n\
         A Docker credential helper for Amazon ECR. Docker runs it through `credHelpers` or\n\
         `credsStore` in ~/.docker/config.json; it reads the server URL on stdin.\n\
         `doctor` checks the set-up for a registry and explains each problem with a fix.\n\n\
         Environment:\n  \
         AWS_ECR_CACHE_DIR             cache and log directory (default ~/.ecr)\n  \
         AWS_ECR_DISABLE_CACHE         any value but empty/0/false/no disables the token cache\n  \
         AWS_ECR_IGNORE_CREDS_STORAGE  `true`: store/erase succeed without doing anything\n  \
         AWS_ECR_FETCH_TIMEOUT         how long one token fetch may take: 500ms, 2s, 2.5, 1m (default 10s)\n  \
         AWS_ECR_DELEGATE_TIMEOUT      bound on one run of the config's fallback_helper (default 60s)\n  \
         AWS_ECR_CONFIG                the helper config (default ~/.config/ecr-login/config.toml)\n  \
         AWS_ECR_LOG_LEVEL             off|error|warn|info|debug|trace (default info)\n  \
         AWS_ECR_ROLE_ARN              kubelet mode: role for ServiceAccount tokens whose annotations name none\n  \
         AWS_ENDPOINT_URL_ECR, AWS_ENDPOINT_URL_ECR_PUBLIC, AWS_ENDPOINT_URL\n    \
         API endpoints; they win over FIPS / dual-stack registry hosts\n  \
         AWS_PROFILE, AWS_MAX_ATTEMPTS, AWS_RETRY_MODE, …  the AWS SDK's own settings\n\n\
         Without HOME (or with it empty) the home directory comes from /etc/passwd; without\n\
         either there is no cache and no log, and get still answers.\n",
        usage = helper::usage()
    )
}
