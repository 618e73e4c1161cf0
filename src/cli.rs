//! The complete command tree, used only for `--help`, shell completions and man pages.
//!
//! Nothing parses real invocations with it: `main` matches the protocol actions (`get`, …) by
//! name before any clap code runs (the cached `get` stays about a millisecond), and every
//! other command parses its own arguments with its own clap `Parser`. This tree gathers those
//! parsers ([`subcommands`]), so the help, the completions and the man pages cannot drift from
//! what the commands accept.

use crate::commands::{configure_docker, doctor, policy};
use crate::helper::{NAME, VERSION};
use clap::{Arg, ArgAction, Command, CommandFactory as _, ValueHint};
use clap_complete::Shell;
use clap_mangen::roff::{Roff, bold, roman};
use std::ffi::OsString;
use std::io::Write as _;
use std::path::{Path, PathBuf};

/// The environment variables the helper reads: `--help` and the man page's ENVIRONMENT.
pub const ENVIRONMENT: &[(&str, &str)] = &[
    (
        "AWS_ECR_CACHE_DIR",
        "cache and log directory (default ~/.ecr)",
    ),
    (
        "AWS_ECR_DISABLE_CACHE",
        "any value but empty/0/false/no disables the token cache",
    ),
    (
        "AWS_ECR_IGNORE_CREDS_STORAGE",
        "`true`: store/erase succeed without doing anything",
    ),
    (
        "AWS_ECR_FETCH_TIMEOUT",
        "how long one token fetch may take: 500ms, 2s, 2.5, 1m (default 10s)",
    ),
    (
        "AWS_ECR_DELEGATE_TIMEOUT",
        "bound on one run of the config's fallback_helper (default 60s)",
    ),
    (
        "AWS_ECR_CONFIG",
        "the helper config (default $XDG_CONFIG_HOME/ecr-login/config.toml, else ~/.config/ecr-login/config.toml)",
    ),
    (
        "AWS_ECR_LOG_LEVEL",
        "off|error|warn|info|debug|trace (default info)",
    ),
    (
        "AWS_ECR_ROLE_ARN",
        "kubelet mode: role for ServiceAccount tokens whose annotations name none",
    ),
    (
        "AWS_ENDPOINT_URL_ECR, AWS_ENDPOINT_URL_ECR_PUBLIC, AWS_ENDPOINT_URL",
        "API endpoints; they win over FIPS / dual-stack registry hosts",
    ),
    (
        "DOCKER_CONFIG",
        "configure-docker edits $DOCKER_CONFIG/config.json instead of ~/.docker/config.json",
    ),
    (
        "AWS_PROFILE, AWS_CONFIG_FILE, AWS_MAX_ATTEMPTS, AWS_RETRY_MODE, …",
        "the AWS SDK's own settings",
    ),
];

const ABOUT: &str = "A Docker credential helper for Amazon ECR, and an exporter of its tokens";
const LONG_ABOUT: &str = "A Docker credential helper for Amazon ECR. Docker runs it through \
`credHelpers` or `credsStore` in ~/.docker/config.json (`configure-docker` writes them) and \
sends the server URL on stdin. `export` pushes the same tokens to platforms that only store a \
static registry password.\n\nWithout HOME (or with it empty) the home directory comes from \
/etc/passwd; without either there is no cache and no log, and get still answers.";

/// Every subcommand, in the order `--help` lists them. New commands add their constructor here.
pub fn subcommands() -> Vec<Command> {
    vec![
        protocol(
            "get",
            "Print the credentials for the registry named on stdin (Docker runs this)",
            "Reads a server URL (host, host:port or https://host/…) on stdin and prints \
             {\"ServerURL\",\"Username\",\"Secret\"}. A host that is not ECR (nor an alias of the \
             helper config) gets `credentials not found in native keychain` and exit 1.",
        ),
        protocol(
            "list",
            "Print the registries with a cached, unexpired token (no network)",
            "Prints {\"https://<registry>\":\"AWS\",…} from the token cache of the current \
             identity; merged with the fallback_helper's list when the helper config names one.",
        ),
        protocol(
            "store",
            "Accept `docker login` credentials (ECR tokens are never stored)",
            "Reads credentials JSON on stdin. ECR tokens are fetched, never stored: `not \
             implemented` and exit 1, unless AWS_ECR_IGNORE_CREDS_STORAGE=true or the helper \
             config's fallback_helper stores them.",
        ),
        protocol(
            "erase",
            "Forget `docker login` credentials (see store)",
            "Reads a server URL on stdin; the counterpart of store.",
        ),
        protocol(
            "version",
            "Print the version line",
            "Prints `docker-credential-ecr-login (ecr-login, Rust) <version>`.",
        ),
        crate::export::command(),
        configure_docker::Args::command(),
        policy::Args::command(),
        doctor::Args::command(),
        crate::kubelet::command(),
        completions(),
        man_pages(),
    ]
}

/// The whole tree: the binary with its flags and every subcommand.
pub fn command() -> Command {
    let environment: String = ENVIRONMENT
        .iter()
        .map(|(name, meaning)| format!("  {name}\n      {meaning}\n"))
        .collect();
    Command::new(NAME)
        .version(VERSION)
        .about(ABOUT)
        .long_about(LONG_ABOUT)
        .disable_version_flag(true)
        .arg(
            Arg::new("version")
                .short('v')
                .long("version")
                .action(ArgAction::Version)
                .help("Print the version banner"),
        )
        // Usage first, as the Go helper prints it; the environment in `-h` too.
        .override_usage(format!(
            "{NAME} <store|get|erase|list|version>\n       {NAME} <COMMAND> [OPTIONS]"
        ))
        .help_template("{usage-heading} {usage}\n\n{about-with-newline}\n{all-args}{after-help}")
        .after_help(format!("Environment:\n{environment}"))
        .after_long_help(format!("Environment:\n{environment}"))
        .subcommands(subcommands())
}

/// A protocol action: no arguments, input on stdin.
fn protocol(name: &'static str, about: &'static str, long_about: &'static str) -> Command {
    Command::new(name).about(about).long_about(long_about)
}

fn completions() -> Command {
    Command::new("completions")
        .about("Print the shell completion script (bash, zsh, fish, elvish, powershell)")
        .long_about(
            "Print the shell completion script on stdout, e.g. \
             `docker-credential-ecr-login completions bash > ~/.local/share/bash-completion/completions/docker-credential-ecr-login`. \
             ./install/install.sh installs them.",
        )
        .arg(
            Arg::new("shell")
                .required(true)
                .value_parser(clap::value_parser!(Shell)),
        )
}

/// Hidden: the installer's way to write the man pages.
fn man_pages() -> Command {
    Command::new("man-pages")
        .about("Write the man pages (section 1) into DIR")
        .hide(true)
        .arg(
            Arg::new("dir")
                .required(true)
                .value_name("DIR")
                .value_parser(clap::value_parser!(PathBuf))
                .value_hint(ValueHint::DirPath),
        )
}

/// `-h`, `--help`, `help [COMMAND]`, `completions SHELL` and `man-pages DIR`: `args` is argv
/// after the program name. Returns the exit code.
pub fn main(args: Vec<OsString>) -> i32 {
    let argv = std::iter::once(OsString::from(NAME)).chain(args);
    let matches = match command().try_get_matches_from(argv) {
        Ok(matches) => matches,
        Err(e) => {
            // Help and version requests come here too, as "errors" clap prints on stdout.
            let _ = e.print();
            return if e.use_stderr() { 2 } else { 0 };
        }
    };
    match matches.subcommand() {
        Some(("completions", sub)) => {
            let Some(&shell) = sub.get_one::<Shell>("shell") else {
                return 2;
            };
            let mut stdout = std::io::stdout().lock();
            let _ = stdout.write_all(completion_script(shell).as_bytes());
            let _ = stdout.flush();
            0
        }
        Some(("man-pages", sub)) => {
            let Some(dir) = sub.get_one::<PathBuf>("dir") else {
                return 2;
            };
            match write_man_pages(dir) {
                Ok(pages) => {
                    for page in pages {
                        println!("{}", page.display());
                    }
                    0
                }
                Err(e) => {
                    eprintln!("{NAME} man-pages: cannot write into {}: {e}", dir.display());
                    1
                }
            }
        }
        _ => {
            let _ = command().print_long_help();
            0
        }
    }
}

/// The completion script for `shell`.
///
/// clap_complete's bash script spells the states of a hyphenated binary's subcommands two ways
/// (clap-rs/clap#6421: the loop arrives at `docker__credential__ecr__login__subcmd__policy`,
/// the case arms wait for `docker__subcmd__credential__…`), so nothing after a subcommand
/// completes. The arms are respelled the loop's way; once fixed upstream this replaces
/// nothing. The test completes `policy pu` in a real bash.
pub fn completion_script(shell: Shell) -> String {
    let mut bytes = Vec::new();
    clap_complete::generate(shell, &mut command(), NAME, &mut bytes);
    let script = String::from_utf8_lossy(&bytes).into_owned();
    match shell {
        Shell::Bash => script.replace(&NAME.replace('-', "__subcmd__"), &NAME.replace('-', "__")),
        _ => script,
    }
}

/// Writes `docker-credential-ecr-login.1` and one `docker-credential-ecr-login-<command>.1` per
/// visible subcommand into `dir` (created if missing); returns the files written.
pub fn write_man_pages(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir)?;
    let mut root = command().disable_help_subcommand(true);
    root.build();
    let mut written = Vec::new();
    let page = dir.join(format!("{NAME}.1"));
    let mut text = Vec::new();
    render_root(&root, &mut text)?;
    std::fs::write(&page, text)?;
    written.push(page);
    for sub in root.get_subcommands().filter(|s| !s.is_hide_set()) {
        let man = clap_mangen::Man::new(sub.clone());
        let page = dir.join(man.get_filename());
        let mut text = Vec::new();
        man.render(&mut text)?;
        std::fs::write(&page, text)?;
        written.push(page);
    }
    Ok(written)
}

/// The main page: clap_mangen's sections, with the environment as a real ENVIRONMENT section
/// (one tagged paragraph per variable) instead of after-help text.
fn render_root(root: &Command, out: &mut Vec<u8>) -> std::io::Result<()> {
    let man = clap_mangen::Man::new(root.clone());
    man.render_title(out)?;
    man.render_name_section(out)?;
    man.render_synopsis_section(out)?;
    man.render_description_section(out)?;
    man.render_options_section(out)?;
    man.render_subcommands_section(out)?;
    let mut roff = Roff::default();
    roff.control("SH", ["ENVIRONMENT"]);
    for (name, meaning) in ENVIRONMENT {
        roff.control("TP", [])
            .text([bold(*name)])
            .text([roman(*meaning)]);
    }
    roff.control("SH", ["FILES"]);
    for (file, meaning) in [
        (
            "~/.ecr/cache.json",
            "the token cache (the Go helper's format)",
        ),
        ("~/.ecr/log/ecr-login.log", "the log file"),
        (
            "~/.config/ecr-login/config.toml",
            "the helper config (optional)",
        ),
        ("~/.config/ecr-login/export.toml", "the export config"),
        (
            "~/.docker/config.json",
            "Docker's config, edited by configure-docker",
        ),
    ] {
        roff.control("TP", [])
            .text([bold(file)])
            .text([roman(meaning)]);
    }
    roff.to_writer(out)?;
    man.render_version_section(out)
}
