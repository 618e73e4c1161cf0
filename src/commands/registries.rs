//! The ECR registries this machine's own configuration names, found without any network call:
//! the accounts in `~/.aws/config` (`role_arn`, `sso_account_id`) in their profile's `region`,
//! the helper config's literal `[[registry]]` match patterns and `[[alias]]` hosts, and ECR
//! Public. `configure-docker` writes them into Docker's config when no `--registry` is given.
//!
//! A profile that names an account but no region cannot name a registry (the region is part
//! of the host); it is reported as a note, never guessed.

use crate::aws_profile::AwsFiles;
use crate::helper_config::HelperConfig;
use crate::registry;

/// ECR Public's host, always included: pulls from it are rate-limited without a token.
pub const PUBLIC_HOST: &str = "public.ecr.aws";

/// One registry host and where it was found (for the user: "why is this host here?").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    pub host: String,
    pub source: String,
}

/// What discovery found: hosts in discovery order, without duplicates, and notes about
/// entries that name an account but no usable registry.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Discovery {
    pub found: Vec<Found>,
    pub notes: Vec<String>,
}

impl Discovery {
    fn add(&mut self, host: String, source: String) {
        if !self.found.iter().any(|f| f.host == host) {
            self.found.push(Found { host, source });
        }
    }
}

/// Every registry the AWS profiles and the helper config name, then ECR Public.
pub fn discover(files: &AwsFiles, config: Option<&HelperConfig>) -> Discovery {
    let mut discovery = Discovery::default();
    if let Some(error) = files.error() {
        discovery
            .notes
            .push(format!("the AWS config files cannot be read: {error}"));
    }
    for name in files.profile_names() {
        let Some(profile) = files.profile(name) else {
            continue;
        };
        let accounts = [
            (
                "role_arn",
                profile.get("role_arn").and_then(|a| role_account(a)),
            ),
            (
                "sso_account_id",
                profile
                    .get("sso_account_id")
                    .map(String::as_str)
                    .filter(|a| is_account(a)),
            ),
        ];
        for (key, account) in accounts {
            let Some(account) = account else { continue };
            match profile.get("region").map(|r| r.trim()) {
                Some(region) if !region.is_empty() => {
                    let host = private_host(account, region);
                    if registry::parse(&host).is_some() {
                        discovery.add(host, format!("profile {name} ({key})"));
                    } else {
                        discovery.notes.push(format!(
                            "profile {name}: region {region:?} does not make a registry host; pass --registry"
                        ));
                    }
                }
                _ => discovery.notes.push(format!(
                    "profile {name}: account {account} ({key}) but no region; pass --registry {account}.dkr.ecr.<region>.amazonaws.com"
                )),
            }
        }
    }
    if let Some(config) = config {
        for (index, rule) in config.rules.iter().enumerate() {
            for pattern in rule.patterns.iter().filter(|p| !p.contains('*')) {
                if let Some(host) = registry::authority_of(pattern)
                    && registry::parse(&host).is_some()
                {
                    discovery.add(host, format!("helper config [[registry]] #{}", index + 1));
                }
            }
        }
        for alias in config.aliases.iter().filter(|a| !a.host.contains('*')) {
            discovery.add(
                alias.host.clone(),
                format!("helper config [[alias]] → {}", alias.registry_text),
            );
        }
    }
    discovery.add(PUBLIC_HOST.to_string(), "ECR Public".to_string());
    discovery
}

/// `<account>.dkr.ecr.<region>.<the region's partition suffix>`.
pub fn private_host(account: &str, region: &str) -> String {
    let (_, domain) = registry::partition_of(region);
    format!("{account}.dkr.ecr.{region}.{domain}")
}

/// The account of `arn:<partition>:iam::<account>:role/<name>`.
fn role_account(arn: &str) -> Option<&str> {
    let mut parts = arn.trim().splitn(6, ':');
    let (Some("arn"), Some(_), Some("iam"), Some(""), Some(account), Some(resource)) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        return None;
    };
    (is_account(account) && resource.starts_with("role/")).then_some(account)
}

pub fn is_account(text: &str) -> bool {
    text.len() == 12 && text.bytes().all(|b| b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hosts(d: &Discovery) -> Vec<&str> {
        d.found.iter().map(|f| f.host.as_str()).collect()
    }

    #[test]
    fn profiles_name_registries_in_their_region() {
        let files = AwsFiles::from_texts(
            "[profile prod]\nrole_arn = arn:aws:iam::111111111111:role/pull\nsource_profile = base\nregion = eu-west-1\n\
             [profile china]\nrole_arn = arn:aws-cn:iam::222222222222:role/x\nregion = cn-north-1\n\
             [profile sso]\nsso_account_id = 333333333333\nsso_region = us-east-1\nregion = us-west-2\n\
             [profile again]\nrole_arn = arn:aws:iam::111111111111:role/other\nregion = eu-west-1\n\
             [profile noregion]\nrole_arn = arn:aws:iam::444444444444:role/x\n\
             [profile user]\nrole_arn = arn:aws:iam::555555555555:user/not-a-role\nregion = us-east-1\n\
             [profile base]\nregion = us-east-1\n",
            "",
            None,
        );
        let d = discover(&files, None);
        assert_eq!(
            hosts(&d),
            [
                "111111111111.dkr.ecr.eu-west-1.amazonaws.com",
                "222222222222.dkr.ecr.cn-north-1.amazonaws.com.cn",
                "333333333333.dkr.ecr.us-west-2.amazonaws.com",
                "public.ecr.aws",
            ]
        );
        assert_eq!(
            d.found[0].source, "profile again (role_arn)",
            "sorted by name, first wins"
        );
        assert_eq!(d.notes.len(), 1, "{:?}", d.notes);
        assert!(d.notes[0].contains("noregion") && d.notes[0].contains("444444444444"));
    }

    #[test]
    fn helper_config_contributes_literal_hosts_only() {
        let config = crate::helper_config::parse(
            "[[registry]]\nmatch = [\"666666666666.dkr.ecr.*.amazonaws.com\", \"777777777777.dkr.ecr.us-east-2.amazonaws.com\"]\nprofile = \"p\"\n\
             [[alias]]\nhost = \"registry.example.com:5000\"\nregistry = \"888888888888.dkr.ecr.us-east-1.amazonaws.com\"\n",
            std::path::Path::new("config.toml"),
        )
        .expect("config");
        let d = discover(&AwsFiles::from_texts("", "", None), Some(&config));
        assert_eq!(
            hosts(&d),
            [
                "777777777777.dkr.ecr.us-east-2.amazonaws.com",
                "registry.example.com:5000",
                "public.ecr.aws"
            ]
        );
    }

    #[test]
    fn unreadable_aws_files_are_a_note_not_silence() {
        let d = discover(&AwsFiles::from_texts("[profile broken\n", "", None), None);
        assert_eq!(hosts(&d), ["public.ecr.aws"]);
        assert!(
            d.notes.iter().any(|n| n.contains("cannot be read")),
            "{:?}",
            d.notes
        );
    }
}
