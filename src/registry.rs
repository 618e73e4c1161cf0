//! Which registry a server URL names: private ECR (account, region, FIPS, dual-stack) or ECR Public.
//!
//! Docker and friends hand the helper whatever the user typed or the image reference held:
//! a bare host, `host:port`, `https://host/v2/path`, sometimes upper case. Anything that is not
//! an ECR host is `None`, and the helper answers it with the not-found sentinel so anonymous
//! pulls from other registries keep working.

/// The two ECR Public host names the Go helper accepts.
const PUBLIC_HOSTS: [&str; 2] = ["public.ecr.aws", "ecr-public.aws.com"];

/// The region ECR Public's API lives in, whatever region the caller is in.
pub const PUBLIC_REGION: &str = "us-east-1";

/// A registry the helper can fetch a token for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Registry {
    /// A private registry, `<account>.dkr.ecr.<region>.<domain>`.
    Private(PrivateRegistry),
    /// ECR Public (`public.ecr.aws`); tokens always come from us-east-1.
    Public { host: String },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrivateRegistry {
    /// 12-digit account id; `None` means "the caller's own registry" (export without `registry`).
    pub account: Option<String>,
    pub region: String,
    /// The host asked for the FIPS endpoint (`dkr.ecr-fips`, `dkr-ecr-fips`).
    pub fips: bool,
    /// The host is a dual-stack name (`on.aws`, `on.amazonwebservices.com.cn`).
    pub dual_stack: bool,
    /// DNS suffix after the region, e.g. `amazonaws.com`, `amazonaws.com.cn`, `on.aws`.
    pub domain: String,
}

/// DNS suffixes ECR registries live under, after the region (the Go helper's list).
const DOMAINS: [&str; 9] = [
    "amazonaws.com",
    "amazonaws.com.cn",
    "amazonaws.eu",
    "on.aws",
    "on.amazonwebservices.com.cn",
    "sc2s.sgov.gov",
    "c2s.ic.gov",
    "cloud.adc-e.uk",
    "csp.hci.ic.gov",
];

/// Matches the Go helper's pattern
/// `^(\d{12})\.dkr[.\-]ecr(-fips)?\.([a-zA-Z0-9][a-zA-Z0-9-_]*)\.(<domain>)$`
/// by hand, with ASCII digits only. A regex engine would be compiled on every `get`, and the
/// cached `get` is meant to run in about a millisecond.
fn match_private(host: &str) -> Option<PrivateRegistry> {
    let (account, rest) = host.split_at_checked(12)?;
    if !account.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let rest = rest.strip_prefix(".dkr")?;
    let rest = rest
        .strip_prefix(".ecr")
        .or_else(|| rest.strip_prefix("-ecr"))?;
    let (fips, rest) = match rest.strip_prefix("-fips") {
        Some(r) => (true, r),
        None => (false, rest),
    };
    let (region, domain) = rest.strip_prefix('.')?.split_once('.')?;
    let valid_region = region
        .bytes()
        .next()
        .is_some_and(|b| b.is_ascii_alphanumeric())
        && region
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !valid_region || !DOMAINS.contains(&domain) {
        return None;
    }
    Some(PrivateRegistry {
        account: Some(account.to_string()),
        region: region.to_string(),
        fips,
        dual_stack: domain.starts_with("on."),
        domain: domain.to_string(),
    })
}

/// Parses a server URL as sent by a client. `None` for anything that is not an ECR registry.
pub fn parse(server_url: &str) -> Option<Registry> {
    let host = host_of(server_url)?;
    if PUBLIC_HOSTS.contains(&host.as_str()) {
        return Some(Registry::Public { host });
    }
    match_private(&host).map(Registry::Private)
}

/// Extracts the lower-cased host name: drops an `http(s)://` scheme, port, path, query and
/// fragment, and one trailing dot.
pub fn host_of(server_url: &str) -> Option<String> {
    given_host(server_url).map(|host| host.to_ascii_lowercase())
}

/// Host and port as the client wrote them: drops an `http(s)://` scheme, path, query and
/// fragment, and one trailing dot.
///
/// An authority with user info (`@`) or a backslash is refused outright: `https://evil\@<ecr
/// host>` is `evil` to some URL parsers and the ECR host to others, and no client sends
/// credentials in a registry URL.
fn given_authority(server_url: &str) -> Option<(&str, Option<&str>)> {
    let trimmed = server_url.trim();
    let rest = match trimmed.find("://") {
        Some(i) => {
            let scheme = &trimmed[..i];
            if !scheme.eq_ignore_ascii_case("https") && !scheme.eq_ignore_ascii_case("http") {
                return None;
            }
            &trimmed[i + 3..]
        }
        None => trimmed.strip_prefix("//").unwrap_or(trimmed),
    };
    let authority = rest.split(['/', '?', '#']).next()?;
    if authority.contains(['@', '\\']) || authority.starts_with('[') {
        return None; // user info, a backslash, or an IPv6 literal: never an ECR host
    }
    // One port at most: `host::` would leave `host:` as the host, which then names another
    // host than the one a second parse of it finds (found by the registry_host fuzz target).
    let (host, port) = match authority.rsplit_once(':') {
        Some((host, port)) if port.bytes().all(|b| b.is_ascii_digit()) && !host.contains(':') => {
            (host, Some(port))
        }
        Some(_) => return None,
        None => (authority, None),
    };
    let host = host.strip_suffix('.').unwrap_or(host);
    // Host-name characters only: a space or control character inside the authority would make
    // a "host" that a second parse trims into another one (found by the registry_host fuzz
    // target), and no registry name has them.
    let name_char = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.');
    // No empty label either (`host..`, `.host`): one trailing dot is the DNS root, two are not.
    let labels_ok = host.split('.').all(|label| !label.is_empty());
    (labels_ok && host.bytes().all(name_char)).then_some((host, port))
}

/// The host as the client wrote it (case and all), for messages: a user who typed a `dkr.ecr`
/// host must see that host, not the API's spelling of it.
pub fn given_host(server_url: &str) -> Option<&str> {
    given_authority(server_url).map(|(host, _)| host)
}

/// Lower-cased `host` or `host:port` (a port only when one was written), what a helper-config
/// alias is compared with.
pub fn authority_of(server_url: &str) -> Option<String> {
    given_authority(server_url).map(|(host, port)| match port {
        Some(port) => format!("{}:{port}", host.to_ascii_lowercase()),
        None => host.to_ascii_lowercase(),
    })
}

impl Registry {
    /// The region whose API issues this registry's tokens.
    pub fn api_region(&self) -> &str {
        match self {
            Registry::Private(p) => &p.region,
            Registry::Public { .. } => PUBLIC_REGION,
        }
    }

    /// The `https://` endpoint `list` reports and the cache stores, as the API would return it.
    pub fn proxy_endpoint(&self) -> Option<String> {
        match self {
            Registry::Private(p) => {
                let account = p.account.as_ref()?;
                let fips = if p.fips { "-fips" } else { "" };
                let sep = if p.dual_stack { '-' } else { '.' };
                Some(format!(
                    "https://{account}.dkr{sep}ecr{fips}.{}.{}",
                    p.region, p.domain
                ))
            }
            Registry::Public { host } => Some(format!("https://{host}")),
        }
    }

    /// The registry's host name, lower case (private: rebuilt from its parts, as Docker names it).
    pub fn host(&self) -> Option<String> {
        self.proxy_endpoint()
            .map(|endpoint| endpoint.trim_start_matches("https://").to_string())
    }

    pub fn is_public(&self) -> bool {
        matches!(self, Registry::Public { .. })
    }
}

/// The AWS partition a region belongs to, and the DNS suffix of its ECR registries, from the
/// region's name (`cn-north-1` → `aws-cn`, `amazonaws.com.cn`). For building registry hosts
/// and ARNs from a profile's or the user's region, where no host exists yet to parse.
pub fn partition_of(region: &str) -> (&'static str, &'static str) {
    const PREFIXES: [(&str, &str, &str); 7] = [
        ("cn-", "aws-cn", "amazonaws.com.cn"),
        ("us-gov-", "aws-us-gov", "amazonaws.com"),
        ("us-isob-", "aws-iso-b", "sc2s.sgov.gov"),
        ("us-isof-", "aws-iso-f", "csp.hci.ic.gov"),
        ("us-iso-", "aws-iso", "c2s.ic.gov"),
        ("eu-isoe-", "aws-iso-e", "cloud.adc-e.uk"),
        ("eusc-", "aws-eusc", "amazonaws.eu"),
    ];
    PREFIXES
        .iter()
        .find(|(prefix, _, _)| region.starts_with(prefix))
        .map_or(("aws", "amazonaws.com"), |&(_, partition, domain)| {
            (partition, domain)
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn private(input: &str) -> PrivateRegistry {
        match parse(input) {
            Some(Registry::Private(p)) => p,
            other => panic!("{input}: expected a private registry, got {other:?}"),
        }
    }

    /// Upstream's positive vectors (`client_test.go`) plus the forms clients really send.
    #[test]
    fn accepts_every_upstream_form() {
        let cases = [
            (
                "https://123456789012.dkr.ecr.us-east-1.amazonaws.com/v2/blah/blah",
                "123456789012",
                "us-east-1",
                false,
                false,
            ),
            (
                "123456789012.dkr.ecr.us-west-2.amazonaws.com",
                "123456789012",
                "us-west-2",
                false,
                false,
            ),
            (
                "123456789012.dkr-ecr.us-west-2.on.aws",
                "123456789012",
                "us-west-2",
                false,
                true,
            ),
            (
                "123456789012.dkr-ecr-fips.us-west-2.on.aws",
                "123456789012",
                "us-west-2",
                true,
                true,
            ),
            (
                "210987654321.dkr.ecr.cn-north-1.amazonaws.com.cn/foo",
                "210987654321",
                "cn-north-1",
                false,
                false,
            ),
            (
                "210987654321.dkr.ecr.cn-north-1.on.amazonwebservices.com.cn",
                "210987654321",
                "cn-north-1",
                false,
                true,
            ),
            (
                "210987654321.dkr.ecr.us-iso-east-1.c2s.ic.gov",
                "210987654321",
                "us-iso-east-1",
                false,
                false,
            ),
            (
                "123456789012.dkr.ecr.us-isob-east-1.sc2s.sgov.gov",
                "123456789012",
                "us-isob-east-1",
                false,
                false,
            ),
            (
                "123456789012.dkr.ecr.eu-isoe-west-1.cloud.adc-e.uk",
                "123456789012",
                "eu-isoe-west-1",
                false,
                false,
            ),
            (
                "123456789012.dkr.ecr.us-isof-east-1.csp.hci.ic.gov",
                "123456789012",
                "us-isof-east-1",
                false,
                false,
            ),
            (
                "123456789012.dkr-ecr.us-gov-east-1.on.aws",
                "123456789012",
                "us-gov-east-1",
                false,
                true,
            ),
            (
                "123456789012.dkr.ecr-fips.us-gov-west-1.amazonaws.com",
                "123456789012",
                "us-gov-west-1",
                true,
                false,
            ),
            (
                "123456789012.dkr-ecr-fips.us-gov-east-1.on.aws",
                "123456789012",
                "us-gov-east-1",
                true,
                true,
            ),
            (
                "123456789012.dkr.ecr.eusc-de-east-1.amazonaws.eu",
                "123456789012",
                "eusc-de-east-1",
                false,
                false,
            ),
            (
                "123456789012.dkr.ecr.us-east-1.amazonaws.com:443",
                "123456789012",
                "us-east-1",
                false,
                false,
            ),
            (
                "HTTPS://123456789012.DKR.ECR.US-EAST-1.AMAZONAWS.COM/v2/",
                "123456789012",
                "us-east-1",
                false,
                false,
            ),
            (
                "http://123456789012.dkr.ecr.us-east-1.amazonaws.com",
                "123456789012",
                "us-east-1",
                false,
                false,
            ),
            (
                "123456789012.dkr.ecr.us-east-1.amazonaws.com/team/app:tag",
                "123456789012",
                "us-east-1",
                false,
                false,
            ),
            (
                "  123456789012.dkr.ecr.us-east-1.amazonaws.com\n",
                "123456789012",
                "us-east-1",
                false,
                false,
            ),
        ];
        for (input, account, region, fips, dual) in cases {
            let p = private(input);
            assert_eq!(p.account.as_deref(), Some(account), "{input}");
            assert_eq!(p.region, region, "{input}");
            assert_eq!(p.fips, fips, "{input}");
            assert_eq!(p.dual_stack, dual, "{input}");
        }
    }

    #[test]
    fn accepts_ecr_public() {
        for input in [
            "https://public.ecr.aws",
            "public.ecr.aws",
            "https://ecr-public.aws.com",
            "PUBLIC.ECR.AWS/v2/x",
        ] {
            let registry = parse(input).unwrap_or_else(|| panic!("{input} rejected"));
            assert!(registry.is_public(), "{input}");
            assert_eq!(registry.api_region(), "us-east-1");
        }
    }

    /// Upstream's negative vectors plus suffix and prefix attacks.
    #[test]
    fn rejects_everything_else() {
        for input in [
            "",
            "https://index.docker.io/v1/",
            "docker.io",
            "ghcr.io/owner/image",
            "localhost:5000",
            "123456789012.dkr.ecr.us-east-1.amazonaws.com.evil.example",
            "evil.example/123456789012.dkr.ecr.us-east-1.amazonaws.com",
            "x123456789012.dkr.ecr.us-east-1.amazonaws.com",
            "12345678901.dkr.ecr.us-east-1.amazonaws.com",
            "1234567890123.dkr.ecr.us-east-1.amazonaws.com",
            "123456789012.dkr.ecr.us-east-1.amazonaws.co",
            "123456789012.dkr.ecr..amazonaws.com",
            "123456789012.dkr.ecr.-bad.amazonaws.com",
            "123456789012.dkr.ecr.us-east-1.notamazonaws.com",
            "123456789012.dkr.ecr.us-east-1.amazonaws.com:notaport",
            "ftp://123456789012.dkr.ecr.us-east-1.amazonaws.com",
            "١٢٣٤٥٦٧٨٩٠١٢.dkr.ecr.us-east-1.amazonaws.com",
            "[::1]:5000",
            "public.ecr.aws.evil.example",
            "notpublic.ecr.aws",
            "user:pass@evil.example",
            "https://evil\\@123456789012.dkr.ecr.us-east-1.amazonaws.com",
            "https://evil@123456789012.dkr.ecr.us-east-1.amazonaws.com",
            "evil\\@123456789012.dkr.ecr.us-east-1.amazonaws.com/v2/",
            "https://123456789012.dkr.ecr.us-east-1.amazonaws.com\\@evil.example",
            "user:pass@123456789012.dkr.ecr.us-east-1.amazonaws.com",
        ] {
            assert_eq!(parse(input), None, "{input:?} must not be an ECR registry");
        }
    }

    #[test]
    fn proxy_endpoint_round_trips() {
        for host in [
            "123456789012.dkr.ecr.us-east-1.amazonaws.com",
            "123456789012.dkr-ecr-fips.us-gov-east-1.on.aws",
            "123456789012.dkr.ecr-fips.us-gov-west-1.amazonaws.com",
            "210987654321.dkr.ecr.cn-north-1.amazonaws.com.cn",
            "public.ecr.aws",
        ] {
            let registry = parse(host).unwrap_or_else(|| panic!("{host}"));
            assert_eq!(registry.proxy_endpoint(), Some(format!("https://{host}")));
        }
    }

    #[test]
    fn given_host_keeps_the_spelling() {
        assert_eq!(
            given_host("https://123456789012.DKR.ecr.us-west-2.on.aws/v2/x"),
            Some("123456789012.DKR.ecr.us-west-2.on.aws")
        );
        assert_eq!(given_host("https://a\\@b"), None);
    }

    #[test]
    fn partitions_follow_the_region_name() {
        assert_eq!(partition_of("us-east-1"), ("aws", "amazonaws.com"));
        assert_eq!(
            partition_of("cn-northwest-1"),
            ("aws-cn", "amazonaws.com.cn")
        );
        assert_eq!(
            partition_of("us-gov-west-1"),
            ("aws-us-gov", "amazonaws.com")
        );
        assert_eq!(partition_of("us-iso-east-1"), ("aws-iso", "c2s.ic.gov"));
        assert_eq!(
            partition_of("us-isob-east-1"),
            ("aws-iso-b", "sc2s.sgov.gov")
        );
        // Every suffix built here is one `parse` accepts.
        for region in [
            "us-east-1",
            "cn-north-1",
            "us-isof-south-1",
            "eu-isoe-west-1",
            "eusc-de-east-1",
        ] {
            let host = format!("123456789012.dkr.ecr.{region}.{}", partition_of(region).1);
            assert!(parse(&host).is_some(), "{host}");
        }
    }

    #[test]
    fn the_host_of_a_host_is_itself() {
        for input in [
            "//123456789012.dkr.ecr.us-east-1.amazonaws.com.::",
            "123456789012.dkr.ecr.us-east-1.amazonaws.com::443",
            "https://123456789012.dkr.ecr.us-east-1.amazonaws.com:1:2/v2/",
            "//123456789012.dkr.ecr.us-east-1.amazonaws.com.    /v2",
            "123456789012.dkr.ecr.us-east-1.amazonaws.com\u{0}",
            "123456789012.dkr.ecr.us-east-1.amazonaws.com..",
            ".123456789012.dkr.ecr.us-east-1.amazonaws.com",
        ] {
            assert_eq!(given_host(input), None, "{input}");
            assert_eq!(parse(input), None, "{input}");
        }
        let host = given_host("https://123456789012.dkr.ecr.us-east-1.amazonaws.com.:/v2/");
        assert_eq!(host, Some("123456789012.dkr.ecr.us-east-1.amazonaws.com"));
    }
}
