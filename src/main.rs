//! Thin entry point: pick the command by name, run it, print, exit.
//!
//! The protocol actions (`get`, `list`, `store`, `erase`, `version`) are told apart from the
//! other commands by comparing one string, before any clap code runs: the cached `get` must stay
//! about a millisecond. Every other command parses its own arguments. Two file names select a
//! mode before that: the kubelet's credential provider, and `bootstrap` (the AWS Lambda custom
//! runtime, `export --lambda`).

use ecr_login::helper;
use ecr_login::settings::Settings;
use std::ffi::OsString;
use std::io::Write;

fn main() {
    let args: Vec<OsString> = std::env::args_os().collect();
    // The kubelet runs the plugin under its own file name, with the config's `args`.
    if ecr_login::kubelet::invoked_as_plugin(args.first()) {
        std::process::exit(ecr_login::kubelet::main(
            args.get(1..).unwrap_or_default().to_vec(),
        ));
    }
    // Lambda runs an OS-only runtime's executable as `bootstrap`.
    if ecr_login::export::lambda::invoked_as_bootstrap(args.first()) {
        std::process::exit(ecr_login::export::lambda::main(None));
    }
    let rest = || args.get(2..).unwrap_or_default().to_vec();
    let code = match args.get(1).and_then(|a| a.to_str()) {
        Some(ecr_login::kubelet::SUBCOMMAND) => ecr_login::kubelet::main(rest()),
        Some("export") => {
            let settings = Settings::from_env();
            ecr_login::logging::init(settings.log_dir(), settings.log_level);
            ecr_login::logging::activate();
            ecr_login::export::main(rest())
        }
        Some("configure-docker") => ecr_login::commands::configure_docker::main(rest()),
        Some("policy") => ecr_login::commands::policy::main(rest()),
        Some("doctor") => {
            let settings = Settings::from_env();
            ecr_login::logging::init(settings.log_dir(), settings.log_level);
            ecr_login::commands::doctor::main(rest())
        }
        Some("-h" | "--help" | "help" | "completions" | "man-pages") => {
            ecr_login::cli::main(args.get(1..).unwrap_or_default().to_vec())
        }
        _ => protocol(&args),
    };
    std::process::exit(code);
}

/// A protocol action (or `-v`): exactly one argument, input on stdin.
fn protocol(args: &[OsString]) -> i32 {
    let outcome = match args {
        [_, action] => {
            let action = action.to_string_lossy();
            match action.as_ref() {
                "-v" | "--version" => helper::Outcome::ok(helper::banner()),
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
    outcome.code
}
