//! A stable key for "who is asking", derived without network.
//!
//! The Go helper keys its cache on the access key id. Temporary keys (assume-role, SSO,
//! aws-vault, instance roles) change on every refresh, so its cache never hits for those users
//! and every `docker pull` pays an STS or SSO round trip. Here the key is what *defines* the
//! credentials, walking the same order as the SDK's default chain:
//!
//! 1. static keys in the environment → the access key id (hashed exactly like the Go helper,
//!    so both tools share entries for static keys);
//! 2. the selected profile → its definition (static key id, role ARN + source chain,
//!    SSO start URL + account + role, credential_process, web identity role);
//! 3. web identity from the environment → the role ARN;
//! 4. container credentials → their URI;
//! 5. otherwise the instance role of this machine.
//!
//! Only a hash is stored; key ids never appear in clear in the cache or the log.

use crate::aws_profile::{AwsFiles, Section};
use base64::Engine as _;
use sha2::{Digest, Sha256};

/// Where the credentials come from, beyond the ambient environment (used by `export`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CredentialSource {
    /// Use this profile instead of `AWS_PROFILE`.
    pub profile: Option<String>,
    /// Assume this role with the resolved credentials.
    pub role_arn: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// Base64 SHA-256, safe to store; part of every cache key.
    pub key: String,
    /// Human description without secrets, for logs and error messages.
    pub description: String,
    /// The profile in effect, if any (to name it in `aws sso login --profile X` hints).
    pub profile: Option<String>,
}

/// Deepest `source_profile` chain followed; deeper (or cyclic) chains are keyed as they stand.
const MAX_CHAIN: usize = 8;

/// Derives the identity of the current process environment plus `source`.
pub fn current(files: &AwsFiles, source: &CredentialSource) -> Identity {
    let env = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
    let profile_name = source.profile.clone().or_else(|| env("AWS_PROFILE"));

    let base = if let (Some(key_id), Some(_), None) = (
        env("AWS_ACCESS_KEY_ID"),
        env("AWS_SECRET_ACCESS_KEY"),
        source.profile.as_ref(),
    ) {
        // The SDK's chain puts environment keys before any profile.
        Base::AccessKey(key_id, "access key from the environment".into())
    } else if let Some(def) = profile_name
        .as_deref()
        .or(Some("default"))
        .and_then(|name| describe_profile(files, name, 0).map(|d| (name.to_string(), d)))
    {
        let (name, definition) = def;
        match definition {
            Definition::AccessKey(id) => {
                Base::AccessKey(id, format!("profile {name} (static keys)"))
            }
            Definition::Other(text) => {
                Base::Defined(format!("profile:{name}|{text}"), format!("profile {name}"))
            }
        }
    } else if let Some(name) = profile_name.as_deref().filter(|n| *n != "default") {
        // An explicitly selected profile that defines nothing: the fetch will say so.
        Base::Defined(
            format!("profile:{name}|undefined"),
            format!("profile {name}"),
        )
    } else if let (Some(role), Some(_)) = (env("AWS_ROLE_ARN"), env("AWS_WEB_IDENTITY_TOKEN_FILE"))
    {
        Base::Defined(
            format!("web-identity:{role}"),
            format!("web identity role {role}"),
        )
    } else if let Some(uri) = env("AWS_CONTAINER_CREDENTIALS_FULL_URI")
        .or_else(|| env("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"))
    {
        Base::Defined(format!("container:{uri}"), "container credentials".into())
    } else {
        let endpoint = env("AWS_EC2_METADATA_SERVICE_ENDPOINT").unwrap_or_default();
        Base::Defined(format!("instance:{endpoint}"), "instance role".into())
    };

    let (key, description) = match (base, &source.role_arn) {
        (Base::AccessKey(id, desc), None) => (go_checksum(&id), desc),
        (Base::AccessKey(id, desc), Some(role)) => (
            hash_definition(&format!("assume:{role}|key:{}", go_checksum(&id))),
            format!("role {role} via {desc}"),
        ),
        (Base::Defined(text, desc), None) => (hash_definition(&text), desc),
        (Base::Defined(text, desc), Some(role)) => (
            hash_definition(&format!("assume:{role}|{text}")),
            format!("role {role} via {desc}"),
        ),
    };
    Identity {
        key,
        description,
        profile: profile_name,
    }
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

/// What defines profile `name`'s credentials, or `None` if it defines none.
fn describe_profile(files: &AwsFiles, name: &str, depth: usize) -> Option<Definition> {
    let section = files.profile(name)?;
    let get = |k: &str| section.get(k).map(String::as_str).filter(|v| !v.is_empty());
    if let Some(role) = get("role_arn") {
        let mut text = format!("role_arn={role}");
        for key in [
            "role_session_name",
            "external_id",
            "mfa_serial",
            "credential_source",
            "web_identity_token_file",
        ] {
            if let Some(v) = get(key) {
                text.push_str(&format!("|{key}={v}"));
            }
        }
        if let Some(src) = get("source_profile") {
            let inner = if src == name || depth >= MAX_CHAIN {
                // Self-reference means "this profile's static keys" in the SDKs.
                static_key(section)
                    .map(|id| format!("key:{}", go_checksum(&id)))
                    .unwrap_or_default()
            } else {
                match describe_profile(files, src, depth + 1) {
                    Some(Definition::AccessKey(id)) => format!("key:{}", go_checksum(&id)),
                    Some(Definition::Other(t)) => format!("({t})"),
                    None => "undefined".into(),
                }
            };
            text.push_str(&format!("|source={src}:{inner}"));
        }
        return Some(Definition::Other(text));
    }
    if let Some(id) = static_key(section) {
        return Some(Definition::AccessKey(id));
    }
    if let Some(session) = get("sso_session") {
        let start = files
            .sso_sessions
            .get(session)
            .and_then(|s| s.get("sso_start_url"))
            .cloned()
            .unwrap_or_default();
        return Some(Definition::Other(format!(
            "sso={start}|account={}|role={}",
            get("sso_account_id").unwrap_or(""),
            get("sso_role_name").unwrap_or("")
        )));
    }
    if let Some(start) = get("sso_start_url") {
        return Some(Definition::Other(format!(
            "sso={start}|account={}|role={}",
            get("sso_account_id").unwrap_or(""),
            get("sso_role_name").unwrap_or("")
        )));
    }
    if let Some(process) = get("credential_process") {
        return Some(Definition::Other(format!("process={process}")));
    }
    if let Some(file) = get("web_identity_token_file") {
        return Some(Definition::Other(format!("web_identity_token_file={file}")));
    }
    None
}

fn static_key(section: &Section) -> Option<String> {
    let id = section.get("aws_access_key_id").filter(|v| !v.is_empty())?;
    section
        .get("aws_secret_access_key")
        .filter(|v| !v.is_empty())?;
    Some(id.clone())
}

/// The Go helper's `checksum`: base64(sha256(text)). Used as-is for static key ids so the two
/// helpers find each other's cache entries.
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

    fn files(config: &str, credentials: &str) -> AwsFiles {
        let mut f = AwsFiles::default();
        f.add_config(config);
        f.add_credentials(credentials);
        f
    }

    fn with_profile(name: &str) -> CredentialSource {
        CredentialSource {
            profile: Some(name.into()),
            role_arn: None,
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

    #[test]
    fn cyclic_source_profiles_terminate() {
        let config = "[profile a]\nrole_arn=arn:r:a\nsource_profile=b\n[profile b]\nrole_arn=arn:r:b\nsource_profile=a\n";
        let id = current(&files(config, ""), &with_profile("a"));
        assert!(!id.key.is_empty());
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
            },
        );
        assert_ne!(plain.key, assumed.key);
    }
}
