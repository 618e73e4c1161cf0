//! Which IAM role a pod's ServiceAccount pulls as (KEP-4412), and whom its token speaks for.
//!
//! The role ARN comes from the ServiceAccount's annotations — the keys given with
//! `--role-annotation`, else [`DEFAULT_ROLE_ANNOTATIONS`], the first one present wins — else from
//! `AWS_ECR_ROLE_ARN`. An annotation is written by whoever may edit the ServiceAccount, so its
//! value is checked to be an IAM role ARN before it reaches a log line or STS.

use base64::Engine as _;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use std::collections::BTreeMap;

/// cloud-provider-aws's key first, then the IRSA key most ServiceAccounts already carry.
pub const DEFAULT_ROLE_ANNOTATIONS: [&str; 2] = [
    "eks.amazonaws.com/ecr-role-arn",
    "eks.amazonaws.com/role-arn",
];
/// The role for service-account requests whose annotations name none.
pub const ROLE_ENV: &str = "AWS_ECR_ROLE_ARN";

/// A role ARN and where it was found (for the log).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Role {
    pub arn: String,
    pub from: String,
}

/// `text` with control characters (newlines) shown escaped.
fn printable(text: &str) -> String {
    text.chars()
        .map(|c| match c.is_control() {
            true => c.escape_default().to_string(),
            false => c.to_string(),
        })
        .collect()
}

/// The role for a request that carries a ServiceAccount token, or `None` (then the node's own
/// credentials answer). `Err` is one line for stderr: a value that is not a role ARN.
pub fn role(
    annotations: &BTreeMap<String, String>,
    keys: &[String],
    env: Option<String>,
) -> Result<Option<Role>, String> {
    let annotated = keys.iter().find_map(|key| {
        annotations
            .get(key)
            .map(|v| v.trim())
            .filter(|v| !v.is_empty())
            // The key is printed without control characters: a message is one line.
            .map(|v| (v.to_string(), format!("annotation {}", printable(key))))
    });
    let chosen = annotated.or_else(|| {
        env.map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
            .map(|v| (v, ROLE_ENV.to_string()))
    });
    match chosen {
        None => Ok(None),
        Some((arn, from)) if is_role_arn(&arn) => Ok(Some(Role { arn, from })),
        Some((arn, from)) => Err(format!(
            "{from}: {:?} is not an IAM role ARN (arn:<partition>:iam::<account>:role/<name>)",
            arn.chars().take(100).collect::<String>()
        )),
    }
}

/// `arn:<partition>:iam::<12 digits>:role/<path and name>`, with IAM's name characters.
fn is_role_arn(text: &str) -> bool {
    let mut parts = text.splitn(6, ':');
    let (Some("arn"), Some(partition), Some("iam"), Some(""), Some(account), Some(resource)) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        return false;
    };
    let name_char = |c: char| c.is_ascii_alphanumeric() || "+=,.@_-/".contains(c);
    !partition.is_empty()
        && partition
            .chars()
            .all(|c| c.is_ascii_lowercase() || c == '-')
        && account.len() == 12
        && account.bytes().all(|b| b.is_ascii_digit())
        && resource.len() <= 2048
        && resource.strip_prefix("role/").is_some_and(|name| {
            !name.is_empty() && !name.ends_with('/') && name.chars().all(name_char)
        })
}

#[derive(Deserialize)]
struct Claims {
    iss: Option<String>,
    sub: Option<String>,
}

/// The token's issuer and subject (`<iss> system:serviceaccount:<ns>:<name>`), read from the
/// JWT payload without verifying it (STS verifies it; the kubelet is the only writer of the
/// request). `None` when the token is not a JWT with a subject: then the answer is not cached,
/// since nothing would tell two ServiceAccounts apart.
pub fn subject(token: &SecretString) -> Option<String> {
    let mut parts = token.expose_secret().split('.');
    let (Some(_header), Some(payload), Some(_signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return None;
    };
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()?;
    let claims: Claims = serde_json::from_slice(&bytes).ok()?;
    let sub = claims.sub.filter(|s| !s.is_empty())?;
    let clean = |s: &str| -> String { s.chars().filter(|c| !c.is_control()).take(512).collect() };
    Some(format!(
        "{} {}",
        clean(&claims.iss.unwrap_or_default()),
        clean(&sub)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(list: &[&str]) -> Vec<String> {
        list.iter().map(|k| k.to_string()).collect()
    }

    const ROLE_A: &str = "arn:aws:iam::123456789012:role/team/pull-a";
    const ROLE_B: &str = "arn:aws-us-gov:iam::123456789012:role/pull-b";

    #[test]
    fn the_first_annotation_present_wins_then_the_environment() {
        let defaults = keys(&DEFAULT_ROLE_ANNOTATIONS);
        let mut annotations = BTreeMap::new();
        assert_eq!(role(&annotations, &defaults, None), Ok(None));
        let from_env = role(&annotations, &defaults, Some(ROLE_B.into())).expect("ok");
        assert_eq!(from_env.map(|r| r.from), Some(ROLE_ENV.to_string()));
        annotations.insert("eks.amazonaws.com/role-arn".to_string(), ROLE_B.to_string());
        let chosen = role(&annotations, &defaults, Some(ROLE_A.into())).expect("ok");
        assert_eq!(chosen.map(|r| r.arn), Some(ROLE_B.to_string()));
        annotations.insert(
            "eks.amazonaws.com/ecr-role-arn".to_string(),
            ROLE_A.to_string(),
        );
        let chosen = role(&annotations, &defaults, None)
            .expect("ok")
            .expect("role");
        assert_eq!(
            (chosen.arn.as_str(), chosen.from.as_str()),
            (ROLE_A, "annotation eks.amazonaws.com/ecr-role-arn")
        );
        // Only the configured keys count.
        let custom = keys(&["example.com/pull-role"]);
        assert_eq!(role(&annotations, &custom, None), Ok(None));
        annotations.insert("example.com/pull-role".to_string(), "  ".to_string());
        assert_eq!(
            role(&annotations, &custom, None),
            Ok(None),
            "blank is absent"
        );
    }

    #[test]
    fn values_that_are_not_role_arns_are_refused() {
        let defaults = keys(&DEFAULT_ROLE_ANNOTATIONS);
        for bad in [
            "role/x",
            "arn:aws:iam::12345678901:role/x",
            "arn:aws:iam::123456789012:user/x",
            "arn:aws:sts::123456789012:role/x",
            "arn:aws:iam::123456789012:role/",
            "arn:aws:iam::123456789012:role/x\nfake log line",
            "arn:AWS:iam::123456789012:role/x",
        ] {
            let mut annotations = BTreeMap::new();
            annotations.insert(defaults[0].clone(), bad.to_string());
            let err = role(&annotations, &defaults, None).expect_err(bad);
            assert!(err.contains("is not an IAM role ARN"), "{err}");
            assert!(!err.contains('\n'), "one line: {err}");
        }
        // A key with a newline (found by the fuzzer) stays on one line too.
        let key = "eks.amazonaws.com/\nrole-arn".to_string();
        let annotations = BTreeMap::from([(key.clone(), "not an arn".to_string())]);
        let err = role(&annotations, &[key], None).expect_err("not an ARN");
        assert!(!err.contains('\n') && err.contains("\\n"), "{err}");
    }

    fn jwt(payload: &str) -> SecretString {
        let enc = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
        SecretString::from(format!(
            "{}.{}.sig",
            enc(r#"{"alg":"RS256"}"#),
            enc(payload)
        ))
    }

    #[test]
    fn the_subject_is_read_from_the_jwt_payload() {
        assert_eq!(
            subject(&jwt(
                r#"{"iss":"https://oidc.example","sub":"system:serviceaccount:ns:app","aud":["sts.amazonaws.com"]}"#
            ))
            .as_deref(),
            Some("https://oidc.example system:serviceaccount:ns:app")
        );
        assert_eq!(subject(&jwt(r#"{"iss":"x"}"#)), None, "no subject");
        assert_eq!(subject(&SecretString::from("not-a-jwt")), None);
        assert_eq!(subject(&SecretString::from("a.!!!.c")), None);
    }
}
