//! Registry host / server URL parsing, against the upstream host pattern as an oracle.
//!
//! The Go helper matches `^(\d{12})\.dkr[.\-]ecr(-fips)?\.([a-zA-Z0-9][a-zA-Z0-9-_]*)\.(domains)$`
//! (`ecr-login/api/client.go`, ASCII digits as in RE2); the product matches it by hand for
//! speed. Properties: both agree on every host, field by field; a host parses the same bare,
//! upper-cased, with a port, a trailing dot and as an `https://…/v2/` URL; the `https://`
//! proxy endpoint of a registry parses back to the same registry.
#![no_main]

use ecr_login::registry::{self, Registry};
use libfuzzer_sys::fuzz_target;
use regex::Regex;
use std::sync::OnceLock;

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

fn upstream() -> &'static Regex {
    static PATTERN: OnceLock<Regex> = OnceLock::new();
    PATTERN.get_or_init(|| {
        let domains: Vec<String> = DOMAINS.iter().map(|d| regex::escape(d)).collect();
        Regex::new(&format!(
            r"^([0-9]{{12}})\.dkr[.\-]ecr(-fips)?\.([a-zA-Z0-9][a-zA-Z0-9_-]*)\.({})$",
            domains.join("|")
        ))
        .expect("upstream pattern")
    })
}

fn check_host(host: &str) {
    let parsed = registry::parse(host);
    let public = matches!(host, "public.ecr.aws" | "ecr-public.aws.com");
    match (upstream().captures(host), &parsed) {
        (Some(c), Some(Registry::Private(p))) => {
            assert_eq!(p.account.as_deref(), Some(&c[1]));
            assert_eq!(p.fips, c.get(2).is_some());
            assert_eq!(p.region, &c[3]);
            assert_eq!(p.domain, &c[4]);
            assert_eq!(p.dual_stack, c[4].starts_with("on."));
        }
        (None, Some(Registry::Public { host: h })) => assert!(public && h == host),
        (None, None) => assert!(!public),
        (m, p) => panic!(
            "{host:?}: upstream {:?}, ours {p:?}",
            m.map(|c| c[0].to_string())
        ),
    }
    // The same registry however the client spells it.
    for form in [
        format!("https://{host}/v2/some/repo/manifests/latest"),
        format!("{}:443", host.to_ascii_uppercase()),
        format!("http://{host}."),
        format!("  {host}\t"),
    ] {
        assert_eq!(registry::parse(&form), parsed, "{form:?}");
    }
    if let Some(r) = &parsed {
        let endpoint = r.proxy_endpoint().expect("a parsed host has an account");
        assert_eq!(registry::parse(&endpoint).as_ref(), Some(r), "{endpoint}");
        assert!(!r.api_region().is_empty());
    }
}

fuzz_target!(|input: &[u8]| {
    let text = String::from_utf8_lossy(input);
    // The whole input as a server URL: no panic, and its host (if any) obeys the oracle.
    let parsed = registry::parse(&text);
    match registry::host_of(&text) {
        Some(host) => {
            assert_eq!(registry::parse(&host), parsed);
            if !host.contains(['/', '?', '#', '@', '\\', ':']) && host.trim() == host {
                check_host(&host);
            }
        }
        None => assert_eq!(parsed, None, "{text:?}"),
    }
    // The input as a host name, lower-cased the way `host_of` leaves it.
    let host = text.to_ascii_lowercase();
    if !host.is_empty()
        && host.is_ascii()
        && !host.contains([
            '/', '?', '#', '@', '\\', ':', '[', ' ', '\t', '\n', '\r', '\x0b', '\x0c',
        ])
        && !host.ends_with('.')
    {
        check_host(&host);
    }
});
