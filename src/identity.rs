//! A stable key for "who is asking", derived without network.
//!
//! The Go helper keys its cache on the access key id. Temporary keys (assume-role, SSO,
//! aws-vault, instance roles) change on every refresh, so its cache never hits for those users
//! and every `docker pull` pays an STS or SSO round trip. Here the key is what *defines* the
//! credentials, walking the same order as the SDK's default chain:
//!
//! 1. static keys in the environment → the access key id, hashed as the Go helper 0.12+ does
//!    (base64 of SHA-256), so both tools share those entries with Go 0.12 and later; Go 0.11 and
//!    older (Debian's 0.6.4) key base64(key id ‖ MD5("")) and share none;
//! 2. the selected profile → its definition (static key id, role ARN + source chain,
//!    SSO start URL + account + role, credential_process, web identity role);
//! 3. web identity from the environment → the role ARN;
//! 4. container credentials → their URI;
//! 5. otherwise the instance role of this machine.
//!
//! A web identity token handed in memory (the kubelet's ServiceAccount token) replaces all of
//! that: the key is its role ARN and the token's subject, never the token.
//!
//! Only a hash is stored; key ids never appear in clear in the cache or the log.

use crate::aws_profile::{AwsFiles, Section};
use base64::Engine as _;
use secrecy::SecretString;
use sha2::{Digest, Sha256};

/// Where the credentials come from, beyond the ambient environment (an export `[[source]]`, a
/// helper-config `[[registry]]` rule).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CredentialSource {
    /// Use this profile instead of `AWS_PROFILE`.
    pub profile: Option<String>,
    /// Assume this role with the resolved credentials.
    pub role_arn: Option<String>,
    /// `ExternalId` for the `AssumeRole` call (with `role_arn`).
    pub external_id: Option<String>,
    /// `RoleSessionName` (with `role_arn`); default `ecr-login`.
    pub session_name: Option<String>,
    /// Assume `role_arn` with this token (STS `AssumeRoleWithWebIdentity`) instead of with the
    /// ambient credentials: the kubelet's per-ServiceAccount identity.
    pub web_identity: Option<WebIdentity>,
}

/// A web identity token held in memory only (never written, never logged), and whom it speaks
/// for. Two of them are equal when they speak for the same subject: a rotated token is the same
/// identity.
#[derive(Debug, Clone)]
pub struct WebIdentity {
    pub token: SecretString,
    /// The token's issuer and subject claims (`<iss> <sub>`), part of the identity key so that
    /// one ServiceAccount's successful `AssumeRoleWithWebIdentity` is never served to another
    /// that names the same role (the role's trust policy decides who may assume it).
    pub subject: String,
}

impl PartialEq for WebIdentity {
    fn eq(&self, other: &WebIdentity) -> bool {
        self.subject == other.subject
    }
}

impl Eq for WebIdentity {}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// Base64 SHA-256, safe to store; part of every cache key.
    pub key: String,
    /// Human description without secrets, for logs and error messages.
    pub description: String,
    /// The profile in effect, if any (to name it in `aws sso login --profile X` hints).
    pub profile: Option<String>,
}

/// [`Identity::description`] of static keys from the environment.
pub const ENVIRONMENT_KEYS: &str = "access key from the environment";
/// [`Identity::description`] of the last link of the chain, the instance role (IMDS).
pub const INSTANCE_ROLE: &str = "instance role";

/// The access key id the default chain takes from the environment (`AWS_ACCESS_KEY_ID` with a
/// secret beside it), if it does for `source`: the chain puts environment keys before any
/// profile, and an explicit `profile` (export, a helper-config rule) reads only that profile.
pub fn environment_key_id(source: &CredentialSource) -> Option<String> {
    let env = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
    if source.profile.is_some() {
        return None;
    }
    env("AWS_SECRET_ACCESS_KEY").or_else(|| env("SECRET_ACCESS_KEY"))?;
    env("AWS_ACCESS_KEY_ID")
}

/// Derives the identity of the current process environment plus `source`, following the
/// resolution order of aws-config's default chain (and, inside a profile, of its profile
/// provider), so that the key names the principal whose token the SDK would fetch.
/// The profile is `source.profile`, else the one the SDK selects (`AWS_PROFILE`, else
/// `default`).
pub fn current(files: &AwsFiles, source: &CredentialSource) -> Identity {
    if let Some(web) = &source.web_identity {
        // The ambient credentials play no part: STS takes the token alone.
        let role = source.role_arn.as_deref().unwrap_or_default();
        return Identity {
            key: hash_definition(&format!(
                "web-identity-token:{role}|subject:{}",
                web.subject
            )),
            description: format!("web identity role {role} for {}", web.subject),
            profile: None,
        };
    }
    let env = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
    // The profile in effect, for messages; the files are read only if a profile is needed.
    let profile_name = source.profile.clone().or_else(|| env("AWS_PROFILE"));

    let base = match environment_key_id(source) {
        Some(key_id) => Base::AccessKey(key_id, ENVIRONMENT_KEYS.into()),
        None => {
            let name = source
                .profile
                .as_deref()
                .unwrap_or_else(|| files.selected());
            match describe_profile(files, name) {
                Some(Definition::AccessKey(id)) => {
                    Base::AccessKey(id, format!("profile {name} (static keys)"))
                }
                Some(Definition::Other(text)) => {
                    Base::Defined(format!("profile:{name}|{text}"), format!("profile {name}"))
                }
                // An explicit export profile that defines nothing: the fetch will say so.
                None if source.profile.is_some() => Base::Defined(
                    format!("profile:{name}|undefined"),
                    format!("profile {name}"),
                ),
                // The SDK moves on past a missing or credential-less profile; so do we.
                None => non_profile_base(&env),
            }
        }
    };

    // The external id changes who may assume the role, so it is part of the key; the session
    // name only labels the session and is not.
    let assume = source
        .role_arn
        .as_ref()
        .map(|role| match &source.external_id {
            Some(external_id) => format!("assume:{role}|external_id:{external_id}"),
            None => format!("assume:{role}"),
        });
    let (key, description) = match (base, assume) {
        (Base::AccessKey(id, desc), None) => (go_checksum(&id), desc),
        (Base::AccessKey(id, desc), Some(assume)) => (
            hash_definition(&format!("{assume}|key:{}", go_checksum(&id))),
            role_description(source, &desc),
        ),
        (Base::Defined(text, desc), None) => (hash_definition(&text), desc),
        (Base::Defined(text, desc), Some(assume)) => (
            hash_definition(&format!("{assume}|{text}")),
            role_description(source, &desc),
        ),
    };
    Identity {
        key,
        description,
        profile: profile_name,
    }
}

fn role_description(source: &CredentialSource, base: &str) -> String {
    let role = source.role_arn.as_deref().unwrap_or_default();
    match source.external_id {
        Some(_) => format!("role {role} (with an external id) via {base}"),
        None => format!("role {role} via {base}"),
    }
}

/// The rest of the default chain: web identity from the environment, container credentials,
/// then the instance role.
fn non_profile_base(env: &dyn Fn(&str) -> Option<String>) -> Base {
    if let (Some(role), Some(file)) = (env("AWS_ROLE_ARN"), env("AWS_WEB_IDENTITY_TOKEN_FILE")) {
        let session = env("AWS_ROLE_SESSION_NAME").unwrap_or_default();
        return Base::Defined(
            format!("web-identity:{role}|{file}|{session}"),
            format!("web identity role {role}"),
        );
    }
    if let Some(uri) = env("AWS_CONTAINER_CREDENTIALS_FULL_URI")
        .or_else(|| env("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"))
    {
        // EKS Pod Identity serves every pod of a node from one URI; the pod's identity is its
        // authorization token (by file or value), so that is part of the key (hashed).
        let token_file = env("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE").unwrap_or_default();
        let token = env("AWS_CONTAINER_AUTHORIZATION_TOKEN")
            .map(|t| go_checksum(&t))
            .unwrap_or_default();
        return Base::Defined(
            format!(
                "container:{uri}|{token_file}|{token}|machine:{}",
                machine_id()
            ),
            "container credentials".into(),
        );
    }
    let endpoint = env("AWS_EC2_METADATA_SERVICE_ENDPOINT").unwrap_or_default();
    Base::Defined(
        format!("instance:{endpoint}|machine:{}", machine_id()),
        INSTANCE_ROLE.into(),
    )
}

/// Which machine this is. Instance-metadata and container-credential endpoints are the same
/// link-local addresses everywhere, so without it two machines sharing a home directory (NFS,
/// a CI volume) would serve each other their instance roles' tokens. `/etc/machine-id` (systemd,
/// dbus), else the kernel's host name (containers often lack a machine id; their host name is
/// the container's).
fn machine_id() -> String {
    [
        "/etc/machine-id",
        "/var/lib/dbus/machine-id",
        "/proc/sys/kernel/hostname",
    ]
    .iter()
    .filter_map(|path| std::fs::read_to_string(path).ok())
    .map(|text| text.trim().to_string())
    .find(|id| !id.is_empty())
    .unwrap_or_default()
}

enum Base {
    /// A long-lived key id and a description of where it came from.
    AccessKey(String, String),
    /// A canonical text of the definition and a description.
    Defined(String, String),
}

enum Definition {
    AccessKey(String),
    Other(String),
}

/// What defines profile `root`'s credentials, or `None` when the SDK would find none there and
/// move on. Mirrors aws-config's `profile::credentials::repr::resolve_chain`: roles are chained
/// through `source_profile`; after the first hop a profile's static keys win over its own
/// `role_arn`; a base profile is, in this order, `credential_source`, web identity, SSO,
/// `login_session`, `credential_process`, static keys. Invalid set-ups (loops, missing source
/// profiles) get a key of their own; the fetch will report them.
fn describe_profile(files: &AwsFiles, root: &str) -> Option<Definition> {
    let mut visited: Vec<&str> = Vec::new();
    let mut roles: Vec<String> = Vec::new();
    let mut name = root;
    let base = loop {
        let Some(profile) = files.profile(name) else {
            if visited.is_empty() {
                return None;
            }
            break Some(format!("missing-source={name}"));
        };
        if visited.contains(&name) {
            break Some(format!("loop={name}"));
        }
        visited.push(name);
        if let Some(id) = static_key(profile).filter(|_| visited.len() > 1) {
            break Some(format!("key:{}", go_checksum(&id)));
        }
        let get = |k: &str| profile.get(k).map(String::as_str).filter(|v| !v.is_empty());
        let role = get("role_arn").filter(|_| get("web_identity_token_file").is_none());
        let Some(role) = role else {
            break base_definition(files, profile)
                .or_else(|| (visited.len() > 1).then(|| format!("empty-source={name}")));
        };
        roles.push(format!(
            "role={role}|session={}|external_id={}",
            get("role_session_name").unwrap_or(""),
            get("external_id").unwrap_or("")
        ));
        match (get("source_profile"), get("credential_source")) {
            (Some(next), None) if next != name => name = next,
            (Some(_), None) | (None, Some(_)) => break base_definition(files, profile),
            (Some(_), Some(_)) | (None, None) => break Some(format!("invalid-role-source={name}")),
        }
    };
    let base = base?;
    let plain_static = roles.is_empty() && base.starts_with("key:");
    if let Some(id) = static_key_of(files, root).filter(|_| plain_static) {
        return Some(Definition::AccessKey(id));
    }
    roles.reverse();
    roles.push(base);
    Some(Definition::Other(roles.join(" <- ")))
}

fn static_key_of(files: &AwsFiles, name: &str) -> Option<String> {
    files.profile(name).and_then(static_key)
}

/// The credentials a profile defines by itself, in aws-config's `base_provider` order.
fn base_definition(files: &AwsFiles, profile: &Section) -> Option<String> {
    let get = |k: &str| profile.get(k).map(String::as_str).filter(|v| !v.is_empty());
    if let Some(source) = get("credential_source") {
        return Some(format!("credential_source={source}"));
    }
    if let (Some(role), Some(file)) = (get("role_arn"), get("web_identity_token_file")) {
        return Some(format!(
            "web_identity={role}|{file}|{}",
            get("role_session_name").unwrap_or("")
        ));
    }
    let sso_start = get("sso_session")
        .and_then(|session| files.sso_session_value(session, "sso_start_url"))
        .or_else(|| get("sso_start_url"));
    if get("sso_session").is_some() || sso_start.is_some() {
        return Some(format!(
            "sso={}|account={}|role={}",
            sso_start.unwrap_or(""),
            get("sso_account_id").unwrap_or(""),
            get("sso_role_name").unwrap_or("")
        ));
    }
    if let Some(login) = get("login_session") {
        return Some(format!("login_session={login}"));
    }
    if let Some(process) = get("credential_process") {
        return Some(format!("process={process}"));
    }
    static_key(profile).map(|id| format!("key:{}", go_checksum(&id)))
}

fn static_key(profile: &Section) -> Option<String> {
    let id = profile.get("aws_access_key_id").filter(|v| !v.is_empty())?;
    profile
        .get("aws_secret_access_key")
        .filter(|v| !v.is_empty())?;
    Some(id.to_string())
}

/// The Go helper's `checksum` since 0.12.0: base64(sha256(text)). Used as-is for static key ids
/// so this helper and the Go helper 0.12+ find each other's entries (0.11 and older used
/// base64(text ‖ md5(""))).
pub fn go_checksum(text: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(Sha256::digest(text.as_bytes()))
}

/// Hash of a non-key definition, domain-separated so it can never equal a key-id checksum.
fn hash_definition(text: &str) -> String {
    go_checksum(&format!("ecr-login identity v1\n{text}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::aws_profile::tests::files;

    fn with_profile(name: &str) -> CredentialSource {
        CredentialSource {
            profile: Some(name.into()),
            ..CredentialSource::default()
        }
    }

    #[test]
    fn go_checksum_matches_upstream_vector() {
        assert_eq!(
            go_checksum("accessKey"),
            "xOV45/s/9aT8cbO8tDicjEV1KKkfpLdKrQs0ipPGgGc="
        );
    }

    #[test]
    fn static_profile_keys_hash_like_the_go_helper() {
        let f = files(
            "",
            "[ci]\naws_access_key_id = accessKey\naws_secret_access_key = s\n",
        );
        let id = current(&f, &with_profile("ci"));
        assert_eq!(id.key, go_checksum("accessKey"));
        assert!(!id.description.contains("accessKey"));
    }

    #[test]
    fn assume_role_profile_is_keyed_on_its_definition() {
        let config = "[profile base]\nregion=us-east-1\n[profile dev]\nrole_arn = arn:aws:iam::1:role/dev\nsource_profile = base\n";
        let a = current(
            &files(
                config,
                "[base]\naws_access_key_id=AKIA1\naws_secret_access_key=x\n",
            ),
            &with_profile("dev"),
        );
        let b = current(
            &files(
                config,
                "[base]\naws_access_key_id=AKIA1\naws_secret_access_key=y\n",
            ),
            &with_profile("dev"),
        );
        assert_eq!(
            a, b,
            "a rotated secret with the same key id is the same identity"
        );
        let c = current(
            &files(
                config,
                "[base]\naws_access_key_id=AKIA2\naws_secret_access_key=x\n",
            ),
            &with_profile("dev"),
        );
        assert_ne!(a.key, c.key, "another source key is another identity");
        let other_role = config.replace("role/dev", "role/ops");
        let d = current(
            &files(
                &other_role,
                "[base]\naws_access_key_id=AKIA1\naws_secret_access_key=x\n",
            ),
            &with_profile("dev"),
        );
        assert_ne!(a.key, d.key, "another role is another identity");
    }

    #[test]
    fn sso_profiles_differ_by_account_and_role() {
        let config = "[sso-session corp]\nsso_start_url = https://corp/start\n\
            [profile a]\nsso_session = corp\nsso_account_id = 111111111111\nsso_role_name = Dev\n\
            [profile b]\nsso_session = corp\nsso_account_id = 222222222222\nsso_role_name = Dev\n";
        let f = files(config, "");
        let a = current(&f, &with_profile("a"));
        assert_eq!(a, current(&f, &with_profile("a")));
        assert_ne!(a.key, current(&f, &with_profile("b")).key);
    }

    fn definition(f: &AwsFiles, name: &str) -> Option<String> {
        describe_profile(f, name).map(|d| match d {
            Definition::AccessKey(id) => format!("access-key:{id}"),
            Definition::Other(text) => text,
        })
    }

    #[test]
    fn profiles_without_credentials_let_the_chain_go_on() {
        let f = files(
            "[default]\nregion = eu-west-1\n[profile r]\nregion = us-east-1\n",
            "",
        );
        assert_eq!(definition(&f, "default"), None);
        assert_eq!(definition(&f, "r"), None);
        assert_eq!(definition(&f, "nosuch"), None);
    }

    /// aws-config's base-provider order: SSO beats static keys left in the credentials file.
    #[test]
    fn sso_wins_over_leftover_static_keys() {
        let f = files(
            "[profile dev]\nsso_start_url = https://corp/start\nsso_account_id = 1\nsso_role_name = R\n",
            "[dev]\naws_access_key_id = AKIALEFTOVER\naws_secret_access_key = x\n",
        );
        let text = definition(&f, "dev").expect("defined");
        assert!(text.starts_with("sso=https://corp/start"), "{text}");
        assert_ne!(
            current(&f, &with_profile("dev")).key,
            go_checksum("AKIALEFTOVER")
        );
    }

    #[test]
    fn base_provider_order_matches_the_sdk() {
        let f = files(
            "[profile a]\ncredential_source = Ec2InstanceMetadata\ncredential_process = /bin/x\n\
             [profile b]\nlogin_session = arn:aws:iam::1:user/u\ncredential_process = /bin/x\n\
             [profile c]\nrole_arn = arn:r:c\nweb_identity_token_file = /t\nsource_profile = a\n",
            "",
        );
        assert!(
            definition(&f, "a")
                .expect("a")
                .starts_with("credential_source=")
        );
        assert!(
            definition(&f, "b")
                .expect("b")
                .starts_with("login_session=")
        );
        // web identity makes the profile a root provider: its source_profile is not followed
        assert!(
            definition(&f, "c")
                .expect("c")
                .starts_with("web_identity=arn:r:c")
        );
    }

    /// After the first hop, a source profile's static keys win over its own role_arn.
    #[test]
    fn source_profile_static_keys_win_over_its_role() {
        let config = "[profile top]\nrole_arn = arn:r:top\nsource_profile = mid\n\
                      [profile mid]\nrole_arn = arn:r:mid\nsource_profile = base\n";
        let with_key = |id: &str| {
            files(
                config,
                &format!("[mid]\naws_access_key_id = {id}\naws_secret_access_key = s\n"),
            )
        };
        let text = definition(&with_key("AKIAMID"), "top").expect("defined");
        assert!(
            text.contains("role=arn:r:top") && !text.contains("arn:r:mid"),
            "{text}"
        );
        assert_ne!(
            current(&with_key("AKIAMID"), &with_profile("top")).key,
            current(&with_key("AKIAOTHER"), &with_profile("top")).key,
            "another source key id is another identity"
        );
    }

    #[test]
    fn cyclic_source_profiles_terminate() {
        let config = "[profile a]\nrole_arn=arn:r:a\nsource_profile=b\n[profile b]\nrole_arn=arn:r:b\nsource_profile=a\n";
        let text = definition(&files(config, ""), "a").expect("a loop is a definition");
        assert!(text.ends_with("loop=a"), "{text}");
        // and a key of its own, not the instance role's or any other fallback's
        let looping = current(&files(config, ""), &with_profile("a"));
        let fixed = config.replace("source_profile=a", "credential_source=Environment");
        assert_ne!(
            looping.key,
            current(&files(&fixed, ""), &with_profile("a")).key
        );
    }

    #[test]
    fn role_override_changes_the_key() {
        let f = files("[profile p]\ncredential_process = /bin/creds\n", "");
        let plain = current(&f, &with_profile("p"));
        let assumed = current(
            &f,
            &CredentialSource {
                profile: Some("p".into()),
                role_arn: Some("arn:aws:iam::1:role/r".into()),
                ..CredentialSource::default()
            },
        );
        assert_ne!(plain.key, assumed.key);
        let with = |external_id: Option<&str>, session_name: Option<&str>| {
            current(
                &f,
                &CredentialSource {
                    profile: Some("p".into()),
                    role_arn: Some("arn:aws:iam::1:role/r".into()),
                    external_id: external_id.map(str::to_string),
                    session_name: session_name.map(str::to_string),
                    web_identity: None,
                },
            )
        };
        // An external id decides who may assume the role: its own key. A session name is a
        // label: same principal, same key.
        assert_ne!(with(Some("e1"), None).key, assumed.key);
        assert_ne!(with(Some("e1"), None).key, with(Some("e2"), None).key);
        assert_eq!(with(None, Some("ci")).key, assumed.key);
        let described = with(Some("secret-ish"), None).description;
        assert!(!described.contains("secret-ish"), "{described}");
    }

    /// The key names the role the SDK will assume: a repeated section's later value, and
    /// `[profile default]` over `[default]`.
    #[test]
    fn keys_follow_the_sdks_reading_of_the_files() {
        let creds = "[base]\naws_access_key_id = AKIA1\naws_secret_access_key = s\n";
        let only = |role: &str| {
            current(
                &files(
                    &format!("[profile dev]\nrole_arn = {role}\nsource_profile = base\n"),
                    creds,
                ),
                &with_profile("dev"),
            )
            .key
        };
        let repeated = files(
            "[profile dev]\nrole_arn = arn:first\nsource_profile = base\n\
             [profile dev]\nrole_arn = arn:second\n",
            creds,
        );
        assert_eq!(
            current(&repeated, &with_profile("dev")).key,
            only("arn:second")
        );
        let both_defaults = files(
            "[default]\nrole_arn = arn:plain\nsource_profile = base\n\
             [profile default]\nrole_arn = arn:prefixed\nsource_profile = base\n",
            creds,
        );
        let prefixed_only = files(
            "[profile default]\nrole_arn = arn:prefixed\nsource_profile = base\n",
            creds,
        );
        assert_eq!(
            current(&both_defaults, &CredentialSource::default()).key,
            current(&prefixed_only, &CredentialSource::default()).key
        );
    }

    /// A web identity is keyed on its role and subject: a rotated token is the same identity,
    /// another ServiceAccount or role another one, and the token is in neither key nor text.
    #[test]
    fn web_identity_keys_cover_role_and_subject_never_the_token() {
        let f = files("", "");
        let web = |role: &str, subject: &str, token: &str| {
            current(
                &f,
                &CredentialSource {
                    role_arn: Some(role.into()),
                    web_identity: Some(WebIdentity {
                        token: SecretString::from(token),
                        subject: subject.into(),
                    }),
                    ..CredentialSource::default()
                },
            )
        };
        let a = web(
            "arn:aws:iam::1:role/a",
            "iss system:serviceaccount:ns:sa",
            "tok1",
        );
        assert_eq!(
            a,
            web(
                "arn:aws:iam::1:role/a",
                "iss system:serviceaccount:ns:sa",
                "tok2"
            )
        );
        assert_ne!(
            a.key,
            web(
                "arn:aws:iam::1:role/b",
                "iss system:serviceaccount:ns:sa",
                "tok1"
            )
            .key
        );
        assert_ne!(
            a.key,
            web(
                "arn:aws:iam::1:role/a",
                "iss system:serviceaccount:ns:other",
                "tok1"
            )
            .key
        );
        let assumed = current(
            &f,
            &CredentialSource {
                role_arn: Some("arn:aws:iam::1:role/a".into()),
                ..CredentialSource::default()
            },
        );
        assert_ne!(a.key, assumed.key, "not the ambient chain's AssumeRole");
        assert!(!a.description.contains("tok1"), "{}", a.description);
        assert!(a.description.contains("arn:aws:iam::1:role/a"));
    }

    #[test]
    fn instance_role_keys_name_the_machine() {
        let Base::Defined(text, _) = non_profile_base(&|_| None) else {
            panic!("the instance role is a definition");
        };
        let id = machine_id();
        assert!(
            !id.is_empty(),
            "this machine has a machine id or a host name"
        );
        assert!(text.ends_with(&format!("|machine:{id}")), "{text}");
    }
}
