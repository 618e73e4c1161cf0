//! `configure-docker`: point Docker (or podman, through `--config`) at this helper for the ECR
//! registries this machine uses.
//!
//! Flow: the hosts (`--registry`, else [`registries::discover`]) → read the config file (a
//! symlink is followed; invalid JSON is an error and the file is left as it is) → edit
//! ([`docker_edit`]) → nothing to do: say so, write nothing; `--dry-run`: print the diff, write
//! nothing (no lock file, no directory); else write atomically under the file's lock, keeping
//! its owner and mode. Last, a warning when Docker could not find the helper on `PATH`.
//!
//! Exit codes: 0 done (or nothing to do), 1 the file could not be read or written, 2 usage.

use super::docker_edit::{self, Document};
use super::registries::{self, Found};
use crate::aws_profile::AwsFiles;
use crate::export::docker_config;
use crate::helper::{self, NAME};
use crate::helper_config::HelperConfig;
use crate::registry;
use crate::settings::Settings;
use clap::Parser;
use std::ffi::OsString;
use std::io::Write as _;
use std::path::{Path, PathBuf};

const EXIT_OK: i32 = 0;
const EXIT_FAILED: i32 = 1;
const EXIT_USAGE: i32 = 2;

/// Make Docker use this helper for your ECR registries: writes `credHelpers` entries (or
/// `credsStore`) into ~/.docker/config.json, and removes `auths` entries that would shadow them.
#[derive(Debug, Parser)]
#[command(
    name = "configure-docker",
    bin_name = "docker-credential-ecr-login configure-docker",
    about = "Make Docker use this helper for your ECR registries (edits ~/.docker/config.json)",
    after_long_help = "Without --registry the registries come from ~/.aws/config (the accounts of role_arn \
and sso_account_id, in the profile's region), from the helper config's [[registry]] match patterns \
without `*` and its [[alias]] hosts, plus public.ecr.aws.\n\n\
Every other key of the file is kept, in its order. A second run changes nothing and says so.\n\
Podman: --config ${XDG_RUNTIME_DIR}/containers/auth.json"
)]
pub struct Args {
    /// A registry host to configure (repeatable) [default: the registries found, see below]
    #[arg(long = "registry", value_name = "HOST")]
    registries: Vec<String>,
    /// Set `credsStore: "ecr-login"` (every registry) instead of per-registry `credHelpers`
    #[arg(long)]
    creds_store: bool,
    /// The file to edit [default: $DOCKER_CONFIG/config.json, else ~/.docker/config.json]
    #[arg(long, value_name = "PATH")]
    config: Option<PathBuf>,
    /// Print the change as a diff and write nothing
    #[arg(long)]
    dry_run: bool,
}

/// Entry point for `docker-credential-ecr-login configure-docker ...`; returns the exit code.
pub fn main(args: Vec<OsString>) -> i32 {
    let args =
        match Args::try_parse_from(std::iter::once(OsString::from("configure-docker")).chain(args))
        {
            Ok(args) => args,
            Err(e) => {
                let _ = e.print();
                return if e.use_stderr() { EXIT_USAGE } else { EXIT_OK };
            }
        };
    let settings = Settings::from_env();
    let mut out = Report::default();
    let code = match run(&args, &settings, &mut out) {
        Ok(()) => EXIT_OK,
        Err(Failure::Usage(e)) => {
            out.warn(e);
            EXIT_USAGE
        }
        Err(Failure::Io(e)) => {
            out.error(e);
            EXIT_FAILED
        }
    };
    let _ = std::io::stdout().lock().write_all(out.stdout.as_bytes());
    let _ = std::io::stderr().lock().write_all(out.stderr.as_bytes());
    code
}

/// What the command prints: the report on stdout, warnings and errors on stderr.
#[derive(Debug, Default)]
struct Report {
    stdout: String,
    stderr: String,
}

impl Report {
    fn line(&mut self, line: impl AsRef<str>) {
        self.stdout.push_str(line.as_ref());
        self.stdout.push('\n');
    }
    fn warn(&mut self, message: impl AsRef<str>) {
        self.stderr
            .push_str(&format!("{NAME} configure-docker: {}\n", message.as_ref()));
    }
    fn error(&mut self, message: impl AsRef<str>) {
        self.warn(format!("error: {}", message.as_ref()));
    }
}

enum Failure {
    Usage(String),
    Io(String),
}

fn run(args: &Args, settings: &Settings, out: &mut Report) -> Result<(), Failure> {
    // Without --registry the helper config names registries, so it must be readable; with
    // --registry it only tells which names it answers.
    let config = match helper::load_config(settings) {
        Ok(config) => config,
        Err(e) if args.registries.is_empty() => {
            return Err(Failure::Io(format!(
                "cannot read the registries of the helper config: {e}; fix it, or name the registries with --registry"
            )));
        }
        Err(e) => {
            out.warn(format!("warning: {e}"));
            None
        }
    };
    let hosts: Vec<Found> = if args.registries.is_empty() {
        let discovery = registries::discover(&AwsFiles::load(), config.as_ref());
        for note in &discovery.notes {
            out.warn(format!("note: {note}"));
        }
        discovery.found
    } else {
        given_hosts(&args.registries, config.as_ref(), out)?
    };
    let path = match &args.config {
        Some(path) => path.clone(),
        None => crate::fsutil::docker_config_path(settings.home.as_deref()).ok_or_else(|| {
            Failure::Usage("no home directory for ~/.docker/config.json; pass --config".into())
        })?,
    };
    let what = if args.creds_store {
        "credsStore for every registry; auths entries removed for"
    } else {
        "credHelpers for"
    };
    out.line(format!("{}: {what}:", path.display()));
    for found in &hosts {
        out.line(format!("  {:<52} {}", found.host, found.source));
    }
    let hosts: Vec<String> = hosts.into_iter().map(|f| f.host).collect();

    let real = docker_config::resolve(&path).map_err(|e| Failure::Io(e.0))?;
    let (old, doc, edit) = load_and_edit(&real, &path, &hosts, args.creds_store)?;
    for warning in &edit.warnings {
        out.warn(format!("warning: {warning}"));
    }
    if edit.changes.is_empty() {
        out.line(format!(
            "no change: {} is already configured",
            path.display()
        ));
    } else {
        for change in &edit.changes {
            out.line(format!("  {change}"));
        }
        if args.dry_run {
            out.stdout
                .push_str(&docker_edit::diff(&old, &doc.render(), &path));
            out.line(format!("dry run: {} not written", path.display()));
        } else {
            let dir = crate::fsutil::directory_of(&real);
            create_dir(&dir)?;
            let _lock = docker_config::lock(&real).map_err(|e| Failure::Io(e.0))?;
            crate::fsutil::remove_orphaned_temps(&real);
            // Again under the lock: another writer may have changed the file since.
            let (_, doc, edit) = load_and_edit(&real, &path, &hosts, args.creds_store)?;
            if !edit.changes.is_empty() {
                crate::fsutil::write_atomic(&real, doc.render().as_bytes(), 0o600)
                    .map_err(|e| Failure::Io(format!("cannot write {}: {e}", real.display())))?;
            }
            out.line(format!("wrote {}", path.display()));
        }
    }
    if args.creds_store {
        fallback_hint(
            edit.previous_store.as_deref(),
            config.as_ref(),
            settings,
            out,
        );
    }
    if let Some(warning) = path_warning(std::env::var_os("PATH"), std::env::current_exe().ok()) {
        out.warn(format!("warning: {warning}"));
    }
    Ok(())
}

/// `--registry` values as hosts (`https://` and paths dropped, lower case, port kept).
fn given_hosts(
    given: &[String],
    config: Option<&HelperConfig>,
    out: &mut Report,
) -> Result<Vec<Found>, Failure> {
    let mut hosts: Vec<Found> = Vec::new();
    for value in given {
        let host = registry::authority_of(value)
            .filter(|h| !h.is_empty())
            .ok_or_else(|| Failure::Usage(format!("--registry {value:?} is not a host name")))?;
        let answered = registry::parse(&host).is_some()
            || config.is_some_and(|c| c.aliases.iter().any(|a| a.host == host));
        if !answered && config.and_then(|c| c.fallback_helper.as_ref()).is_none() {
            out.warn(format!(
                "warning: {host} is neither an ECR host nor an [[alias]] of the helper config: the helper will answer it with \"credentials not found\""
            ));
        }
        if !hosts.iter().any(|f| f.host == host) {
            hosts.push(Found {
                host,
                source: "--registry".into(),
            });
        }
    }
    Ok(hosts)
}

/// The file's text as read, and the document edited for `hosts`. Reads only: an invalid file
/// is an error before anything (a lock file, a directory) is created.
fn load_and_edit(
    real: &Path,
    path: &Path,
    hosts: &[String],
    creds_store: bool,
) -> Result<(String, Document, docker_edit::Edit), Failure> {
    let old = read_text(real)?;
    let mut doc = Document::parse(&old, path).map_err(Failure::Io)?;
    let edit = doc.configure(hosts, creds_store);
    Ok((old, doc, edit))
}

/// The file's text; empty when it does not exist yet.
fn read_text(real: &Path) -> Result<String, Failure> {
    match std::fs::read(real) {
        Ok(bytes) => String::from_utf8(bytes).map_err(|_| {
            Failure::Io(format!(
                "{} is not UTF-8 text; not touching it",
                real.display()
            ))
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(String::new()),
        Err(e) => Err(Failure::Io(format!("cannot read {}: {e}", real.display()))),
    }
}

/// Creates the file's directory if missing, 0700 as Docker creates `~/.docker`.
fn create_dir(dir: &Path) -> Result<(), Failure> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir).map_err(|e| {
        Failure::Io(format!(
            "cannot create the directory {}: {e}",
            dir.display()
        ))
    })
}

/// After `--creds-store` replaced another store, `docker login` to other registries reaches
/// this helper: say how to hand those to the old store.
fn fallback_hint(
    previous: Option<&str>,
    config: Option<&HelperConfig>,
    settings: &Settings,
    out: &mut Report,
) {
    let Some(store) = previous.filter(|s| *s != docker_edit::HELPER) else {
        return;
    };
    if config.is_some_and(|c| c.fallback_helper.is_some()) {
        return;
    }
    let file = crate::helper_config::location(settings.home.as_deref())
        .map(|(path, _)| path.display().to_string())
        .unwrap_or_else(|| "the helper config".into());
    out.warn(format!(
        "note: credsStore was {store:?}; for docker login to other registries to keep using it, \
         set fallback_helper = {store:?} in {file}"
    ));
}

/// Why Docker, running with `path` as its `PATH`, would not run this binary, if it would not.
/// Docker runs `docker-credential-ecr-login` by name, so the first executable of that name on
/// `PATH` is the helper it gets.
pub fn path_warning(path: Option<OsString>, this_binary: Option<PathBuf>) -> Option<String> {
    let found = path
        .as_ref()
        .and_then(|path| crate::fsutil::find_on_path(NAME, path));
    let Some(found) = found else {
        return Some(format!(
            "{NAME} is not on PATH, so Docker cannot run the helper: install it into a PATH directory (./install/install.sh puts it in ~/.local/bin)"
        ));
    };
    let same = match (
        std::fs::canonicalize(&found),
        this_binary.map(std::fs::canonicalize),
    ) {
        (Ok(a), Some(Ok(b))) => a == b,
        _ => true,
    };
    (!same).then(|| {
        format!(
            "Docker will run {}, which is not this binary; put this one first on PATH if that is not what you want",
            found.display()
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(unix)]
    #[test]
    fn path_warning_names_a_missing_or_different_helper() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().expect("tempdir");
        let bin = dir.path().join("bin");
        std::fs::create_dir(&bin).expect("mkdir");
        let other = dir.path().join("other");
        std::fs::write(&other, "#!/bin/sh\n").expect("write");
        let path = |dirs: &[&Path]| std::env::join_paths(dirs).ok();
        let warning = path_warning(path(&[&bin]), Some(other.clone())).expect("missing");
        assert!(warning.contains("is not on PATH"), "{warning}");

        let installed = bin.join(NAME);
        std::fs::write(&installed, "#!/bin/sh\n").expect("write");
        std::fs::set_permissions(&installed, std::fs::Permissions::from_mode(0o755))
            .expect("chmod");
        assert_eq!(path_warning(path(&[&bin]), Some(installed.clone())), None);
        let warning = path_warning(path(&[&bin]), Some(other)).expect("different");
        assert!(
            warning.contains(&installed.display().to_string()),
            "{warning}"
        );
    }
}
