//! Server URL → [`Route`]: which ECR registry answers, and as whom. The one place that decides
//! it, for `get`, `list`, `store`/`erase`, the kubelet mode and `doctor`.
//!
//! Aliases resolve first (a non-ECR name answered with an ECR registry's token), then the
//! helper config's `[[registry]]` rules apply, in file order, to the resolved ECR host. With no
//! config, an ECR host routes to the ambient AWS identity, as the Go helper does.

use crate::helper_config::{HelperConfig, RegistryRule, host_matches};
use crate::identity::CredentialSource;
use crate::registry::{self, Registry};

/// The Docker Hub names clients use for the same registry; an alias for one answers them all.
const DOCKER_HUB: [&str; 3] = ["docker.io", "index.docker.io", "registry-1.docker.io"];

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// The ECR registry whose token answers.
    pub registry: Registry,
    /// How to get credentials for it (empty: the ambient AWS identity).
    pub source: CredentialSource,
    /// The alias host that led here, when the client asked for a non-ECR name.
    pub alias: Option<String>,
    /// The `[[registry]]` rule that chose the identity (index in file order).
    pub rule: Option<usize>,
}

impl Route {
    /// How the route was chosen, for logs and `doctor` (no secrets: an external id is only
    /// said to be there).
    pub fn describe(&self) -> String {
        let host = self.registry.host().unwrap_or_default();
        let mut text = match &self.alias {
            Some(alias) => format!("alias {alias} → {host}"),
            None => host,
        };
        match self.rule {
            Some(i) => {
                text.push_str(&format!(", rule registry[{i}]"));
                if let Some(profile) = &self.source.profile {
                    text.push_str(&format!(" (profile {profile})"));
                }
                if let Some(role) = &self.source.role_arn {
                    text.push_str(&format!(" (role {role})"));
                }
            }
            None => text.push_str(", ambient AWS credentials"),
        }
        text
    }
}

/// The route for `server_url`, or `None` when it is neither an ECR host nor an alias.
pub fn resolve(server_url: &str, config: Option<&HelperConfig>) -> Option<Route> {
    let (registry, alias) = match registry::parse(server_url) {
        Some(registry) => (registry, None),
        None => {
            let asked = registry::authority_of(server_url)?;
            let alias = config?
                .aliases
                .iter()
                .find(|a| alias_matches(&a.host, &asked))?;
            (alias.registry.clone(), Some(alias.host.clone()))
        }
    };
    let host = registry.host().unwrap_or_default();
    let matched = config.and_then(|c| {
        c.rules
            .iter()
            .enumerate()
            .find(|(_, rule)| rule.patterns.iter().any(|p| host_matches(p, &host)))
    });
    Some(Route {
        registry,
        source: matched.map(|(_, rule)| source_of(rule)).unwrap_or_default(),
        alias,
        rule: matched.map(|(i, _)| i),
    })
}

/// Every distinct credential source the config can route to, the ambient one first (for
/// `list`, which shows the cached registries of each).
pub fn all_sources(config: Option<&HelperConfig>) -> Vec<CredentialSource> {
    let mut sources = vec![CredentialSource::default()];
    for rule in config.map(|c| c.rules.as_slice()).unwrap_or_default() {
        let source = source_of(rule);
        if !sources.contains(&source) {
            sources.push(source);
        }
    }
    sources
}

fn source_of(rule: &RegistryRule) -> CredentialSource {
    CredentialSource {
        profile: rule.profile.clone(),
        role_arn: rule.role_arn.clone(),
        external_id: rule.external_id.clone(),
        session_name: rule.session_name.clone(),
        web_identity: None,
    }
}

/// Exact, case-insensitive host (and port, when the alias names one); the Docker Hub names are
/// one registry.
fn alias_matches(alias: &str, asked: &str) -> bool {
    alias == asked || (DOCKER_HUB.contains(&alias) && DOCKER_HUB.contains(&asked))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::helper_config::parse;
    use std::path::Path;

    fn config(text: &str) -> HelperConfig {
        parse(text, Path::new("config.toml")).expect("valid config")
    }

    const CONFIG: &str = r#"
[[registry]]
match = ["111111111111.dkr.ecr.*.amazonaws.com"]
profile = "one"

[[registry]]
match = ["*.dkr.ecr.eu-west-1.amazonaws.com", "public.ecr.aws"]
role_arn = "arn:aws:iam::222222222222:role/pull"
external_id = "ext"

[[alias]]
host = "registry.example.com"
registry = "111111111111.dkr.ecr.us-east-1.amazonaws.com"

[[alias]]
host = "mirror.example.com:5000"
registry = "333333333333.dkr.ecr.eu-west-1.amazonaws.com"

[[alias]]
host = "docker.io"
registry = "public.ecr.aws"
"#;

    #[test]
    fn rules_apply_in_file_order_to_the_ecr_host() {
        let c = config(CONFIG);
        let first = resolve(
            "https://111111111111.dkr.ecr.eu-west-1.amazonaws.com",
            Some(&c),
        )
        .expect("ecr");
        assert_eq!(first.rule, Some(0), "the first matching rule wins");
        assert_eq!(first.source.profile.as_deref(), Some("one"));
        let second =
            resolve("444444444444.dkr.ecr.eu-west-1.amazonaws.com", Some(&c)).expect("ecr");
        assert_eq!(second.rule, Some(1));
        assert_eq!(second.source.external_id.as_deref(), Some("ext"));
        let none = resolve("444444444444.dkr.ecr.us-east-2.amazonaws.com", Some(&c)).expect("ecr");
        assert_eq!(
            (none.rule, none.source),
            (None, CredentialSource::default())
        );
        assert_eq!(resolve("quay.io", Some(&c)), None);
        assert_eq!(
            resolve("123456789012.dkr.ecr.us-east-1.amazonaws.com", None).map(|r| r.rule),
            Some(None)
        );
    }

    #[test]
    fn aliases_resolve_first_then_rules_apply_to_their_registry() {
        let c = config(CONFIG);
        let alias = resolve("https://Registry.Example.com/v2/", Some(&c)).expect("alias");
        assert_eq!(alias.alias.as_deref(), Some("registry.example.com"));
        assert_eq!(
            alias.registry.host().as_deref(),
            Some("111111111111.dkr.ecr.us-east-1.amazonaws.com")
        );
        assert_eq!(alias.rule, Some(0), "rule 0 matches the alias's ECR host");
        // A port is part of the alias name.
        assert!(resolve("mirror.example.com:5000", Some(&c)).is_some());
        assert_eq!(resolve("mirror.example.com", Some(&c)), None);
        assert_eq!(resolve("registry.example.com:443", Some(&c)), None);
        // Docker Hub under any of its names.
        for hub in [
            "docker.io",
            "https://index.docker.io/v1/",
            "registry-1.docker.io",
        ] {
            let route = resolve(hub, Some(&c)).expect(hub);
            assert!(route.registry.is_public(), "{hub}");
            assert_eq!(route.rule, Some(1), "{hub}: public.ecr.aws is in rule 1");
        }
        assert!(alias.describe().contains("alias registry.example.com"));
    }

    #[test]
    fn every_rule_source_is_listed_once() {
        let c = config(&format!(
            "{CONFIG}\n[[registry]]\nmatch = [\"x.y\"]\nprofile = \"one\"\n"
        ));
        assert_eq!(all_sources(Some(&c)).len(), 3);
        assert_eq!(all_sources(None), vec![CredentialSource::default()]);
    }
}
