//! `policy pull|push|export`: the least-privilege IAM policy for an identity that uses ECR
//! through this helper, or that a platform pulls with (Valohai, Octopus's native ECR feed, EKS
//! nodes).
//!
//! Contract: the output is one IAM policy document on stdout and nothing else (pipe it into
//! `aws iam put-role-policy --policy-document file:///dev/stdin`). `ecr:GetAuthorizationToken`
//! cannot be scoped to a repository, so it is granted on `*` in a statement of its own; every
//! other action is scoped to the repositories given (all of the account's, `repository/*`,
//! when none is). Repository names are checked against ECR's rules before anything is printed:
//! a typo would give a policy that silently grants nothing.
//!
//! `export` needs what pulling needs: the token it hands out carries the permissions of the
//! identity that fetched it, and the platform only pulls with it.

use super::registries::is_account;
use crate::registry;
use clap::{Parser, ValueEnum};
use serde_json::{Value, json};
use std::ffi::OsString;

/// What pulling an image calls: the manifest, then each layer's location and presence.
const PULL: [&str; 3] = [
    "ecr:BatchGetImage",
    "ecr:GetDownloadUrlForLayer",
    "ecr:BatchCheckLayerAvailability",
];
/// What pushing adds: the layer upload and the manifest.
const PUSH: [&str; 4] = [
    "ecr:InitiateLayerUpload",
    "ecr:UploadLayerPart",
    "ecr:CompleteLayerUpload",
    "ecr:PutImage",
];
/// ECR Public's token: its own API call plus the STS bearer token it is made from.
const PUBLIC_TOKEN: [&str; 2] = [
    "ecr-public:GetAuthorizationToken",
    "sts:GetServiceBearerToken",
];
/// Pushing to an ECR Public repository (pulling from one needs no permission).
const PUBLIC_PUSH: [&str; 5] = [
    "ecr-public:BatchCheckLayerAvailability",
    "ecr-public:InitiateLayerUpload",
    "ecr-public:UploadLayerPart",
    "ecr-public:CompleteLayerUpload",
    "ecr-public:PutImage",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Mode {
    /// docker pull, and platforms pulling with their own IAM identity
    Pull,
    /// docker push (includes pull)
    Push,
    /// what `export` needs: the pull permissions its exported tokens carry
    Export,
}

/// Print a least-privilege IAM policy (JSON) for pulling, pushing or exporting.
#[derive(Debug, Parser)]
#[command(
    name = "policy",
    bin_name = "docker-credential-ecr-login policy",
    about = "Print a least-privilege IAM policy (JSON) for pulling, pushing or exporting",
    after_long_help = "Repositories are names (`team/app`, `*` allowed as an IAM wildcard) or ARNs \
(arn:aws:ecr:REGION:ACCOUNT:repository/NAME; arn:aws:ecr-public::ACCOUNT:repository/NAME for ECR \
Public). A name becomes an ARN with --account and --region, `*` for what is not given.\n\n\
Example: docker-credential-ecr-login policy pull --account 123456789012 --region eu-west-1 --repository app"
)]
pub struct Args {
    /// What the identity must be able to do
    #[arg(value_enum)]
    mode: Mode,
    /// A repository, by name or ARN (repeatable) [default: every repository]
    #[arg(long = "repository", value_name = "NAME|ARN")]
    repositories: Vec<String>,
    /// The account of named repositories [default: *]
    #[arg(long, value_name = "ID")]
    account: Option<String>,
    /// The region of named repositories [default: *]
    #[arg(long, value_name = "REGION")]
    region: Option<String>,
    /// Also ECR Public (public.ecr.aws): its token, for authenticated pulls and `export`
    #[arg(long)]
    public: bool,
}

/// Entry point for `docker-credential-ecr-login policy ...`; returns the exit code.
pub fn main(args: Vec<OsString>) -> i32 {
    let args = match Args::try_parse_from(std::iter::once(OsString::from("policy")).chain(args)) {
        Ok(args) => args,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() { 2 } else { 0 };
        }
    };
    match document(&args) {
        Ok(policy) => {
            let text = serde_json::to_string_pretty(&policy).unwrap_or_default();
            println!("{text}");
            0
        }
        Err(e) => {
            eprintln!("{} policy: {e}", crate::helper::NAME);
            2
        }
    }
}

/// A repository the policy is about, as its ARN.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Repository {
    arn: String,
    /// ECR Public (`arn:<partition>:ecr-public::…`).
    public: bool,
}

/// The policy document for `args`, or why the arguments cannot make one.
fn document(args: &Args) -> Result<Value, String> {
    let account = match args.account.as_deref() {
        None | Some("*") => "*",
        Some(a) if is_account(a) => a,
        Some(a) => return Err(format!("--account {a:?} is not a 12-digit account id")),
    };
    let region = match args.region.as_deref() {
        None | Some("*") => "*",
        Some(r) if valid_region(r) => r,
        Some(r) => {
            return Err(format!(
                "--region {r:?} is not a region name (e.g. us-east-1)"
            ));
        }
    };
    let mut repositories = Vec::new();
    for given in &args.repositories {
        repositories.push(repository(given, account, region)?);
    }
    let arns = |public: bool| -> Vec<&str> {
        repositories
            .iter()
            .filter(|r| r.public == public)
            .map(|r| r.arn.as_str())
            .collect()
    };
    let (private, public) = (arns(false), arns(true));
    let every_private = format!(
        "arn:{}:ecr:{region}:{account}:repository/*",
        registry::partition_of(region).0
    );
    let private = match (repositories.is_empty(), private.is_empty()) {
        (true, _) => vec![every_private.as_str()],
        (false, true) => Vec::new(), // only ECR Public repositories were named
        (false, false) => private,
    };

    let mut statements = Vec::new();
    if !private.is_empty() {
        statements.push(statement(
            "GetAuthorizationToken",
            &["ecr:GetAuthorizationToken"],
            &["*"],
        ));
        let (sid, actions): (&str, Vec<&str>) = match args.mode {
            Mode::Pull => ("PullImages", PULL.to_vec()),
            Mode::Export => ("PullWithExportedTokens", PULL.to_vec()),
            Mode::Push => (
                "PushAndPullImages",
                PULL.iter().chain(&PUSH).copied().collect(),
            ),
        };
        statements.push(statement(sid, &actions, &private));
    }
    if args.public || !public.is_empty() {
        statements.push(statement(
            "GetEcrPublicAuthorizationToken",
            &PUBLIC_TOKEN,
            &["*"],
        ));
    }
    if args.mode == Mode::Push && !public.is_empty() {
        statements.push(statement("PushPublicImages", &PUBLIC_PUSH, &public));
    }
    Ok(json!({ "Version": "2012-10-17", "Statement": statements }))
}

fn statement(sid: &str, actions: &[&str], resources: &[&str]) -> Value {
    let one_or_list = |items: &[&str]| match items {
        [one] => json!(one),
        many => json!(many),
    };
    json!({
        "Sid": sid,
        "Effect": "Allow",
        "Action": one_or_list(actions),
        "Resource": one_or_list(resources),
    })
}

/// A `--repository` value as an ARN: an ARN is checked and kept, a name is placed in
/// `account` and `region`.
fn repository(given: &str, account: &str, region: &str) -> Result<Repository, String> {
    if !given.starts_with("arn:") {
        check_name(given, given)?;
        let partition = registry::partition_of(region).0;
        return Ok(Repository {
            arn: format!("arn:{partition}:ecr:{region}:{account}:repository/{given}"),
            public: false,
        });
    }
    let bad = |why: &str| {
        format!(
            "--repository {given:?}: {why} (expected arn:aws:ecr:REGION:ACCOUNT:repository/NAME or arn:aws:ecr-public::ACCOUNT:repository/NAME)"
        )
    };
    let parts: Vec<&str> = given.splitn(6, ':').collect();
    let [_, partition, service, arn_region, arn_account, resource] = parts[..] else {
        return Err(bad("not an ARN"));
    };
    if !matches!(service, "ecr" | "ecr-public") {
        return Err(bad("not an ECR service"));
    }
    if partition.is_empty()
        || !partition
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b == b'-')
    {
        return Err(bad("bad partition"));
    }
    if arn_account != "*" && !is_account(arn_account) {
        return Err(bad("the account is not a 12-digit id"));
    }
    let name = resource
        .strip_prefix("repository/")
        .ok_or_else(|| bad("not a repository ARN"))?;
    check_name(name, given)?;
    match service {
        "ecr" if arn_region == "*" || valid_region(arn_region) => Ok(Repository {
            arn: given.to_string(),
            public: false,
        }),
        "ecr" => Err(bad("bad region")),
        "ecr-public" if arn_region.is_empty() => Ok(Repository {
            arn: given.to_string(),
            public: true,
        }),
        _ => Err(bad("ECR Public ARNs have no region")),
    }
}

/// ECR's repository name rules: 2 to 256 characters, lower-case alphanumeric components
/// separated by `.`, `_` or `-`, and namespaces separated by `/`. `*` (an IAM wildcard) counts
/// as an alphanumeric run.
fn check_name(name: &str, given: &str) -> Result<(), String> {
    let literal = !name.contains('*');
    let length_ok = !literal || (2..=256).contains(&name.len());
    let valid = length_ok
        && !name.is_empty()
        && name.split('/').all(|segment| {
            let bytes = segment.as_bytes();
            let word = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'*';
            let separator = |b: u8| matches!(b, b'.' | b'_' | b'-');
            bytes.first().is_some_and(|&b| word(b))
                && bytes.last().is_some_and(|&b| word(b))
                && bytes.iter().all(|&b| word(b) || separator(b))
                && !bytes.windows(2).any(|w| separator(w[0]) && separator(w[1]))
        });
    if valid {
        Ok(())
    } else {
        Err(format!(
            "--repository {given:?}: {name:?} is not a valid ECR repository name (2-256 characters: lower-case letters, digits, and . _ - between them, / between namespaces)"
        ))
    }
}

/// `us-east-1`, `cn-north-1`, `us-gov-west-1`, `eusc-de-east-1`: letter groups, then a number.
fn valid_region(region: &str) -> bool {
    let mut parts: Vec<&str> = region.split('-').collect();
    let number = parts.pop().unwrap_or_default();
    parts.len() >= 2
        && !number.is_empty()
        && number.bytes().all(|b| b.is_ascii_digit())
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_lowercase()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(args: &[&str]) -> Result<Value, String> {
        let args = Args::try_parse_from(std::iter::once("policy").chain(args.iter().copied()))
            .map_err(|e| e.to_string())?;
        document(&args)
    }

    #[test]
    fn pull_without_repositories_covers_the_account() {
        let p =
            policy(&["pull", "--account", "123456789012", "--region", "eu-west-1"]).expect("ok");
        assert_eq!(
            p["Statement"][0],
            json!({"Sid": "GetAuthorizationToken", "Effect": "Allow", "Action": "ecr:GetAuthorizationToken", "Resource": "*"})
        );
        assert_eq!(p["Statement"][1]["Action"], json!(PULL));
        assert_eq!(
            p["Statement"][1]["Resource"],
            "arn:aws:ecr:eu-west-1:123456789012:repository/*"
        );
        assert_eq!(p["Statement"].as_array().map(Vec::len), Some(2));
    }

    #[test]
    fn push_scopes_to_named_and_arn_repositories() {
        let p = policy(&[
            "push",
            "--region",
            "cn-north-1",
            "--repository",
            "team/app",
            "--repository",
            "arn:aws:ecr:us-east-1:210987654321:repository/other",
            "--repository",
            "arn:aws:ecr-public::210987654321:repository/tool",
        ])
        .expect("ok");
        let statements = p["Statement"].as_array().expect("list");
        assert_eq!(
            statements[1]["Resource"],
            json!([
                "arn:aws-cn:ecr:cn-north-1:*:repository/team/app",
                "arn:aws:ecr:us-east-1:210987654321:repository/other"
            ])
        );
        assert_eq!(statements[1]["Action"].as_array().map(Vec::len), Some(7));
        assert_eq!(statements[2]["Action"], json!(PUBLIC_TOKEN));
        assert_eq!(statements[3]["Action"], json!(PUBLIC_PUSH));
        assert_eq!(
            statements[3]["Resource"],
            "arn:aws:ecr-public::210987654321:repository/tool"
        );
    }

    #[test]
    fn export_is_pull_plus_public_when_asked() {
        let p = policy(&["export", "--public"]).expect("ok");
        let sids: Vec<&str> = p["Statement"]
            .as_array()
            .expect("list")
            .iter()
            .filter_map(|s| s["Sid"].as_str())
            .collect();
        assert_eq!(
            sids,
            [
                "GetAuthorizationToken",
                "PullWithExportedTokens",
                "GetEcrPublicAuthorizationToken"
            ]
        );
    }

    #[test]
    fn names_and_values_follow_ecr_rules() {
        for good in ["ab", "team/app", "a.b_c-d/e9", "team/*", "*"] {
            assert!(check_name(good, good).is_ok(), "{good}");
        }
        for bad in [
            "a",
            "App",
            "a//b",
            "-a",
            "a-",
            "a..b",
            "a b",
            "/a",
            "a/",
            &"x".repeat(257),
        ] {
            assert!(check_name(bad, bad).is_err(), "{bad}");
        }
        for args in [
            &["pull", "--account", "12345"][..],
            &["pull", "--region", "useast1"],
            &["pull", "--repository", "arn:aws:s3:::bucket"],
            &[
                "pull",
                "--repository",
                "arn:aws:ecr-public:us-east-1:123456789012:repository/x1",
            ],
            &[
                "pull",
                "--repository",
                "arn:aws:ecr:us-east-1:123:repository/x1",
            ],
            &["pull", "--repository", "UPPER"],
        ] {
            assert!(policy(args).is_err(), "{args:?}");
        }
    }
}
