//! The shared AWS config and credentials files, read by aws-config's own profile loader.
//!
//! The cached `get` must not build an SDK client (that costs milliseconds and memory), yet the
//! cache key has to know *who* is asking, and it must name the same principal the SDK will
//! then use. A parser of our own would disagree with the SDK's on the corners (repeated
//! sections, `[profile default]` beside `[default]`, `AWS_CONFIG_FILE=""`, continuation lines),
//! so this module only wraps `aws_config::profile::load`: one parser, the SDK's. Loading does
//! no network I/O; it reads the two files with blocking `std::fs` calls.

use aws_config::profile::{Profile, ProfileSet};
use aws_types::os_shim_internal::{Env, Fs};
use std::cell::OnceCell;
use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

/// The profiles as the SDK sees them, read on first use: a caller whose identity comes from
/// environment keys never pays for the files. `Debug` shows profile names only: the values
/// include secret access keys.
pub struct AwsFiles {
    fs: Fs,
    env: Env,
    loaded: OnceCell<Loaded>,
}

struct Loaded {
    set: ProfileSet,
    /// Why the files could not be loaded or parsed; the fetch will report it again.
    error: Option<String>,
}

impl std::fmt::Debug for AwsFiles {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let loaded = self.loaded();
        f.debug_struct("AwsFiles")
            .field("profiles", &loaded.set.profiles().collect::<Vec<_>>())
            .field("selected", &loaded.set.selected_profile())
            .field("error", &loaded.error)
            .finish()
    }
}

impl AwsFiles {
    /// The files the SDK will read (`AWS_CONFIG_FILE`, `AWS_SHARED_CREDENTIALS_FILE`, else
    /// `$HOME/.aws/`; `HOME` as the SDK reads it). Nothing is read yet.
    pub fn load() -> AwsFiles {
        AwsFiles::load_with(&Fs::real(), &Env::real())
    }

    /// [`AwsFiles::load`] over a given file system and environment (tests).
    pub fn load_with(fs: &Fs, env: &Env) -> AwsFiles {
        AwsFiles {
            fs: fs.clone(),
            env: env.clone(),
            loaded: OnceCell::new(),
        }
    }

    fn loaded(&self) -> &Loaded {
        self.loaded.get_or_init(|| {
            let files = aws_runtime::env_config::file::EnvConfigFiles::default();
            match poll_ready(aws_config::profile::load(&self.fs, &self.env, &files, None)) {
                Some(Ok(set)) => Loaded { set, error: None },
                Some(Err(e)) => Loaded {
                    set: ProfileSet::default(),
                    error: Some(crate::error_chain::error_chain(&e)),
                },
                None => Loaded {
                    set: ProfileSet::default(),
                    error: Some("the profile loader did not complete".into()),
                },
            }
        })
    }

    /// Why the files could not be read or parsed, if they could not.
    pub fn error(&self) -> Option<&str> {
        self.loaded().error.as_deref()
    }

    /// The profile the SDK's default chain will use: `AWS_PROFILE`, else `default`.
    pub fn selected(&self) -> &str {
        self.loaded().set.selected_profile()
    }

    pub fn profile(&self, name: &str) -> Option<&Profile> {
        self.loaded().set.get_profile(name)
    }

    /// A property of an `[sso-session NAME]` section.
    pub fn sso_session_value(&self, session: &str, key: &str) -> Option<&str> {
        self.loaded()
            .set
            .sso_session(session)
            .and_then(|s| s.get(key))
    }
}

/// Drives a future that never waits (the loader's file reads are blocking `std::fs` calls)
/// without building an async runtime on the cached path. `None` if it ever does wait.
fn poll_ready<F: Future>(future: F) -> Option<F::Output> {
    let mut future = pin!(future);
    let mut context = Context::from_waker(Waker::noop());
    match future.as_mut().poll(&mut context) {
        Poll::Ready(output) => Some(output),
        Poll::Pending => None,
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::collections::HashMap;

    /// Profiles from in-memory files at the default paths under `HOME=/h`.
    pub(crate) fn files_with_env(
        config: &str,
        credentials: &str,
        env: &[(&str, &str)],
    ) -> AwsFiles {
        let fs = Fs::from_map(HashMap::from([
            ("/h/.aws/config".to_string(), config.to_string()),
            ("/h/.aws/credentials".to_string(), credentials.to_string()),
        ]));
        let mut vars = vec![("HOME", "/h")];
        vars.extend_from_slice(env);
        AwsFiles::load_with(&fs, &Env::from_slice(&vars))
    }

    pub(crate) fn files(config: &str, credentials: &str) -> AwsFiles {
        files_with_env(config, credentials, &[])
    }

    #[test]
    fn reads_profiles_sessions_and_credentials() {
        let f = files(
            "[default]\nregion = us-east-1\n\n[profile dev]\nrole_arn = arn:aws:iam::1:role/x\n\
             source_profile = default\ns3 =\n  max_concurrent_requests = 2\n\
             [sso-session corp]\nsso_start_url = https://corp.awsapps.com/start\n; comment\n",
            "[default]\naws_access_key_id = AKIDEXAMPLE\naws_secret_access_key = s\n",
        );
        let default = f.profile("default").expect("default profile");
        assert_eq!(default.get("region"), Some("us-east-1"));
        assert_eq!(default.get("aws_access_key_id"), Some("AKIDEXAMPLE"));
        let dev = f.profile("dev").expect("dev profile");
        assert_eq!(dev.get("role_arn"), Some("arn:aws:iam::1:role/x"));
        assert_eq!(
            f.sso_session_value("corp", "sso_start_url"),
            Some("https://corp.awsapps.com/start")
        );
        assert_eq!(f.selected(), "default");
        assert!(f.error().is_none());
    }

    /// The corners where a hand-written reader disagreed with the SDK.
    #[test]
    fn follows_the_sdk_on_the_corners() {
        // A repeated section: the SDK merges them, the later value winning.
        let f = files(
            "[profile p]\nrole_arn = arn:first\n[profile p]\nrole_arn = arn:second\n",
            "",
        );
        assert_eq!(
            f.profile("p").and_then(|p| p.get("role_arn")),
            Some("arn:second")
        );
        // `[profile default]` wins over `[default]` in the config file.
        let f = files(
            "[default]\nrole_arn = arn:plain\n[profile default]\nrole_arn = arn:prefixed\n",
            "",
        );
        assert_eq!(
            f.profile("default").and_then(|p| p.get("role_arn")),
            Some("arn:prefixed")
        );
        // `AWS_CONFIG_FILE=""` names no file: ~/.aws/config is not read.
        let f = files_with_env(
            "[profile p]\nrole_arn = arn:x\n",
            "",
            &[("AWS_CONFIG_FILE", "")],
        );
        assert!(f.profile("p").is_none(), "{f:?}");
        // An indented line continues the previous value.
        let f = files("[profile p]\nrole_arn = arn:aws:iam::1:\n  role/long\n", "");
        let role = f.profile("p").and_then(|p| p.get("role_arn"));
        assert!(role.is_some_and(|r| r.contains("role/long")), "{role:?}");
        // AWS_PROFILE selects the profile.
        let f = files_with_env("", "", &[("AWS_PROFILE", "dev")]);
        assert_eq!(f.selected(), "dev");
    }

    #[test]
    fn debug_shows_no_values() {
        let f = files(
            "",
            "[default]\naws_access_key_id = AKIDEXAMPLE\naws_secret_access_key = SECRET\n",
        );
        let text = format!("{f:?}");
        assert!(
            !text.contains("AKIDEXAMPLE") && !text.contains("SECRET"),
            "{text}"
        );
    }
}
