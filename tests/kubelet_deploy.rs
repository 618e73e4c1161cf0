//! The kubelet deploy files and docs against the kubelet's own rules: the shipped
//! `CredentialProviderConfig` decodes strictly into the documented v1 type and passes the
//! kubelet's validation (also with its commented `tokenAttributes` block switched on), and every
//! ECR image or host the READMEs name, and every host form the binary answers, matches a
//! `matchImages` pattern by the kubelet's matching rules (ported below from
//! `pkg/credentialprovider`: same label count, one glob per label, equal port, path prefix).

mod support;

use ecr_login::registry::{self, Registry};
use serde::Deserialize;
use std::collections::BTreeSet;
use std::path::Path;
use support::{PRIVATE_HOSTS, PUBLIC_HOSTS};

fn repo_file(relative: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(relative);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

const CONFIG: &str = "install/deploy/kubelet/credential-provider-config.yaml";

// ---- kubelet.config.k8s.io/v1 CredentialProviderConfig, decoded strictly as the kubelet does

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct CredentialProviderConfig {
    api_version: String,
    kind: String,
    providers: Vec<CredentialProvider>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct CredentialProvider {
    name: String,
    match_images: Vec<String>,
    default_cache_duration: Option<String>,
    api_version: String,
    #[serde(default)]
    args: Vec<String>,
    #[serde(default)]
    env: Vec<ExecEnvVar>,
    token_attributes: Option<TokenAttributes>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ExecEnvVar {
    name: String,
    value: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct TokenAttributes {
    service_account_token_audience: String,
    cache_type: Option<String>,
    require_service_account: Option<bool>,
    #[serde(default)]
    required_service_account_annotation_keys: Vec<String>,
    #[serde(default)]
    optional_service_account_annotation_keys: Vec<String>,
}

const PLUGIN_API_VERSIONS: [&str; 3] = [
    "credentialprovider.kubelet.k8s.io/v1alpha1",
    "credentialprovider.kubelet.k8s.io/v1beta1",
    "credentialprovider.kubelet.k8s.io/v1",
];

/// `validateCredentialProviderConfig` (feature gate on), returning every error.
fn validate(config: &CredentialProviderConfig) -> Vec<String> {
    let mut errors = Vec::new();
    if config.api_version != "kubelet.config.k8s.io/v1" || config.kind != "CredentialProviderConfig"
    {
        errors.push(format!("{} {}", config.api_version, config.kind));
    }
    if config.providers.is_empty() {
        errors.push("providers: at least 1 item is required".into());
    }
    let mut names = BTreeSet::new();
    for p in &config.providers {
        let name = &p.name;
        if name.is_empty() || name.contains(['/', ' ']) || name == "." || name == ".." {
            errors.push(format!("providers.name: invalid {name:?}"));
        }
        if !names.insert(name.clone()) {
            errors.push(format!("providers.name: duplicate {name}"));
        }
        if !PLUGIN_API_VERSIONS.contains(&p.api_version.as_str()) {
            errors.push(format!("{name}: apiVersion {}", p.api_version));
        }
        if p.match_images.is_empty() {
            errors.push(format!("{name}: matchImages is required"));
        }
        for image in &p.match_images {
            if parse_schemeless(image).is_none() {
                errors.push(format!("{name}: match image {image:?} is invalid"));
            }
        }
        match p.default_cache_duration.as_deref().map(go_duration_seconds) {
            None => errors.push(format!("{name}: defaultCacheDuration is required")),
            Some(None) => errors.push(format!("{name}: defaultCacheDuration is not a duration")),
            Some(Some(d)) if d < 0.0 => errors.push(format!("{name}: negative duration")),
            Some(Some(_)) => {}
        }
        for var in &p.env {
            if var.name.is_empty() || var.value.is_empty() {
                errors.push(format!("{name}: env {var:?}"));
            }
        }
        if p.args.iter().any(String::is_empty) {
            errors.push(format!("{name}: empty argument"));
        }
        if let Some(t) = &p.token_attributes {
            if t.service_account_token_audience.is_empty() {
                errors.push(format!("{name}: serviceAccountTokenAudience is required"));
            }
            if t.require_service_account.is_none() {
                errors.push(format!("{name}: requireServiceAccount is required"));
            }
            if p.api_version != PLUGIN_API_VERSIONS[2] {
                errors.push(format!("{name}: tokenAttributes needs the v1 API"));
            }
            if t.require_service_account == Some(false)
                && !t.required_service_account_annotation_keys.is_empty()
            {
                errors.push(format!("{name}: required keys need requireServiceAccount"));
            }
            for keys in [
                &t.required_service_account_annotation_keys,
                &t.optional_service_account_annotation_keys,
            ] {
                let mut seen = BTreeSet::new();
                for key in keys {
                    if !is_qualified_name(&key.to_lowercase()) || !seen.insert(key) {
                        errors.push(format!("{name}: annotation key {key:?}"));
                    }
                }
            }
            let required: BTreeSet<_> = t.required_service_account_annotation_keys.iter().collect();
            if t.optional_service_account_annotation_keys
                .iter()
                .any(|k| required.contains(k))
            {
                errors.push(format!("{name}: a key is both required and optional"));
            }
            if !matches!(t.cache_type.as_deref(), Some("Token" | "ServiceAccount")) {
                errors.push(format!("{name}: cacheType {:?}", t.cache_type));
            }
        }
    }
    errors
}

/// apimachinery's `IsQualifiedName`: `[prefix/]name`, prefix a DNS-1123 subdomain, name at
/// most 63 characters of `[A-Za-z0-9_.-]` starting and ending alphanumeric.
fn is_qualified_name(key: &str) -> bool {
    let (prefix, name) = match key.split_once('/') {
        Some((prefix, name)) => (Some(prefix), name),
        None => (None, key),
    };
    let alnum = |c: char| c.is_ascii_alphanumeric();
    let name_ok = !name.is_empty()
        && name.len() <= 63
        && name.starts_with(alnum)
        && name.ends_with(alnum)
        && name.chars().all(|c| alnum(c) || "-_.".contains(c));
    let prefix_ok = prefix.is_none_or(|p| {
        !p.is_empty()
            && p.len() <= 253
            && p.split('.').all(|label| {
                !label.is_empty()
                    && label.len() <= 63
                    && label.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
                    && label.ends_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
                    && label
                        .chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
            })
    });
    name_ok && prefix_ok && !key.contains("//")
}

/// Go's `time.ParseDuration`, in seconds.
fn go_duration_seconds(text: &str) -> Option<f64> {
    let (sign, mut rest) = match text.strip_prefix('-') {
        Some(r) => (-1.0, r),
        None => (1.0, text.strip_prefix('+').unwrap_or(text)),
    };
    if rest == "0" {
        return Some(0.0);
    }
    let mut total = 0.0;
    let mut any = false;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .filter(|&i| i > 0)?;
        let number: f64 = rest[..digits].parse().ok()?;
        rest = &rest[digits..];
        let unit_end = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let scale = match &rest[..unit_end] {
            "ns" => 1e-9,
            "us" | "µs" | "μs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return None,
        };
        rest = &rest[unit_end..];
        total += number * scale;
        any = true;
    }
    any.then_some(sign * total)
}

// ---- the kubelet's image matching (pkg/credentialprovider: URLsMatchStr)

/// `ParseSchemelessURL` then `SplitURL`: host labels, port, path. `None` where Go's
/// `url.Parse("https://" + s)` fails (spaces, control characters, a bad port).
fn parse_schemeless(text: &str) -> Option<(Vec<String>, String, String)> {
    if text.chars().any(|c| c.is_whitespace() || c.is_control()) || text.contains("://") {
        return None;
    }
    let (authority, path) = match text.find('/') {
        Some(i) => (&text[..i], &text[i..]),
        None => (text, ""),
    };
    let (host, port) = match authority.rsplit_once(':') {
        Some((h, p)) if p.bytes().all(|b| b.is_ascii_digit()) => (h, p),
        Some(_) => return None,
        None => (authority, ""),
    };
    let labels = host.split('.').map(str::to_string).collect();
    Some((labels, port.to_string(), path.to_string()))
}

fn urls_match(glob: &str, target: &str) -> bool {
    let (Some((glob_labels, glob_port, glob_path)), Some((labels, port, path))) =
        (parse_schemeless(glob), parse_schemeless(target))
    else {
        return false;
    };
    glob_port == port
        && glob_labels.len() == labels.len()
        && path.starts_with(&glob_path)
        && glob_labels
            .iter()
            .zip(&labels)
            .all(|(g, t)| filepath_match(g, t))
}

/// Go's `filepath.Match` on one label: `*` any run of characters, `?` one, `[...]` a class
/// (`^` negates, `a-z` ranges), `\` escapes. (No `/` can occur inside a host label.)
fn filepath_match(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    fn class(p: &[char], mut i: usize, c: char) -> Option<(bool, usize)> {
        let negate = p.get(i) == Some(&'^');
        if negate {
            i += 1;
        }
        let mut matched = false;
        let mut first = true;
        loop {
            let lo = *p.get(i)?;
            if lo == ']' && !first {
                return Some((matched != negate, i + 1));
            }
            first = false;
            let lo = if lo == '\\' {
                i += 1;
                *p.get(i)?
            } else {
                lo
            };
            i += 1;
            let hi = if p.get(i) == Some(&'-') && p.get(i + 1).is_some_and(|&h| h != ']') {
                i += 1;
                let h = if p[i] == '\\' {
                    i += 1;
                    *p.get(i)?
                } else {
                    p[i]
                };
                i += 1;
                h
            } else {
                lo
            };
            matched |= lo <= c && c <= hi;
        }
    }
    fn go(p: &[char], pi: usize, t: &[char], ti: usize) -> bool {
        match p.get(pi) {
            None => ti == t.len(),
            Some('*') => (ti..=t.len()).any(|k| go(p, pi + 1, t, k)),
            Some('?') => ti < t.len() && go(p, pi + 1, t, ti + 1),
            Some('[') => match t.get(ti).and_then(|&c| class(p, pi + 1, c)) {
                Some((true, next)) => go(p, next, t, ti + 1),
                _ => false,
            },
            Some('\\') => {
                p.get(pi + 1).is_some_and(|&c| t.get(ti) == Some(&c)) && go(p, pi + 2, t, ti + 1)
            }
            Some(&c) => t.get(ti) == Some(&c) && go(p, pi + 1, t, ti + 1),
        }
    }
    go(&p, 0, &t, 0)
}

fn shipped_config() -> CredentialProviderConfig {
    serde_saphyr::from_str(&repo_file(CONFIG)).expect("the shipped config decodes strictly")
}

fn match_images() -> Vec<String> {
    let config = shipped_config();
    assert_eq!(config.providers.len(), 1);
    config.providers[0].match_images.clone()
}

fn matched_by_config(image: &str, patterns: &[String]) -> bool {
    patterns.iter().any(|p| urls_match(p, image))
}

// ---- the tests

#[test]
fn the_matcher_follows_the_kubelet_rules() {
    let yes = |g: &str, t: &str| urls_match(g, t);
    // The kubelet's own documented examples.
    assert!(yes("*.azurecr.io", "myregistry.azurecr.io/app"));
    assert!(yes(
        "123456789.dkr.ecr.us-east-1.amazonaws.com",
        "123456789.dkr.ecr.us-east-1.amazonaws.com/a:1"
    ));
    assert!(yes("*.*.registry.io", "a.b.registry.io/x"));
    assert!(!yes("*.io", "a.k8s.io"), "one * per label");
    assert!(yes("k8s.*.io", "k8s.foo.io"));
    assert!(yes(
        "registry.io:8080/path",
        "registry.io:8080/path/sub/app:1"
    ));
    assert!(
        !yes("registry.io:8080/path", "registry.io/path/app"),
        "port must match"
    );
    assert!(
        !yes("registry.io/path", "registry.io:8080/path/app"),
        "port must match"
    );
    assert!(
        !yes("registry.io:8080/path", "registry.io:8080/other"),
        "path prefix"
    );
    // Partial-label globs, classes and escapes as in filepath.Match.
    assert!(filepath_match("ecr*", "ecr-fips") && filepath_match("ecr*", "ecr"));
    assert!(!filepath_match("ecr*", "xecr"));
    assert!(filepath_match("dkr-ec?", "dkr-ecr") && !filepath_match("dkr-ec?", "dkr-ec"));
    assert!(filepath_match("[a-c]x", "bx") && !filepath_match("[^a-c]x", "bx"));
    assert!(filepath_match(r"a\*", "a*") && !filepath_match(r"a\*", "ab"));
}

#[test]
fn the_shipped_config_passes_the_kubelet_validation() {
    let config = shipped_config();
    assert_eq!(validate(&config), Vec::<String>::new());
    let provider = &config.providers[0];
    assert_eq!(
        provider.name, "ecr-credential-provider",
        "the plugin file name"
    );
    assert_eq!(provider.api_version, "credentialprovider.kubelet.k8s.io/v1");
    assert!(
        provider.token_attributes.is_none(),
        "commented out by default"
    );
    // The validator catches what the kubelet rejects.
    let broken: CredentialProviderConfig = serde_saphyr::from_str(
        "apiVersion: kubelet.config.k8s.io/v1\nkind: CredentialProviderConfig\nproviders:\n\
         - name: a/b\n  matchImages: []\n  apiVersion: credentialprovider.kubelet.k8s.io/v2\n\
         \x20 tokenAttributes:\n    serviceAccountTokenAudience: x\n    cacheType: Pod\n",
    )
    .expect("decodes");
    assert_eq!(validate(&broken).len(), 7, "{:?}", validate(&broken));
    let unknown = serde_saphyr::from_str::<CredentialProviderConfig>(
        "apiVersion: kubelet.config.k8s.io/v1\nkind: CredentialProviderConfig\nproviders: []\nextra: 1\n",
    );
    assert!(
        unknown.is_err(),
        "unknown fields are rejected, as by the kubelet"
    );
}

/// The commented `tokenAttributes` block, switched on, is a valid config too, and it passes
/// the plugin the annotation keys it reads by default.
#[test]
fn the_commented_token_attributes_block_is_valid_when_enabled() {
    let text = repo_file(CONFIG);
    let mut enabled = String::new();
    let mut in_block = false;
    for line in text.lines() {
        if line.trim_start() == "# tokenAttributes:" {
            in_block = true;
        }
        let indented_comment = line.starts_with("    # ");
        if in_block && indented_comment {
            enabled.push_str(&line.replacen("    # ", "    ", 1));
        } else {
            in_block = false;
            enabled.push_str(line);
        }
        enabled.push('\n');
    }
    let config: CredentialProviderConfig =
        serde_saphyr::from_str(&enabled).expect("the enabled block decodes strictly");
    assert_eq!(validate(&config), Vec::<String>::new());
    let attributes = config.providers[0]
        .token_attributes
        .as_ref()
        .expect("tokenAttributes");
    assert_eq!(
        attributes.service_account_token_audience,
        "sts.amazonaws.com"
    );
    assert_eq!(attributes.cache_type.as_deref(), Some("ServiceAccount"));
    assert_eq!(attributes.require_service_account, Some(false));
    assert_eq!(
        attributes.optional_service_account_annotation_keys,
        [
            "eks.amazonaws.com/ecr-role-arn",
            "eks.amazonaws.com/role-arn"
        ]
    );
}

/// Every host form the binary answers (each domain × `dkr.ecr`, `dkr.ecr-fips`, `dkr-ecr`,
/// `dkr-ecr-fips`, and ECR Public) is sent to it by the kubelet; every pattern is needed; and
/// look-alike hosts are not.
#[test]
fn every_host_form_the_binary_answers_matches_and_every_pattern_is_used() {
    let patterns = match_images();
    let mut answered = Vec::new();
    for (host, _) in PRIVATE_HOSTS {
        let Some(Registry::Private(p)) = registry::parse(host) else {
            panic!("{host}");
        };
        for form in ["dkr.ecr", "dkr.ecr-fips", "dkr-ecr", "dkr-ecr-fips"] {
            let candidate = format!("123456789012.{form}.{}.{}", p.region, p.domain);
            if registry::parse(&candidate).is_some() {
                answered.push(candidate);
            }
        }
    }
    answered.extend(PUBLIC_HOSTS.iter().map(|h| h.to_string()));
    assert!(answered.len() >= 38, "{answered:?}");
    for host in &answered {
        let image = format!("{host}/team/app:1.2");
        assert!(
            matched_by_config(&image, &patterns),
            "{image} matches no matchImages pattern"
        );
    }
    for pattern in &patterns {
        assert!(
            answered.iter().any(|h| urls_match(pattern, h)),
            "{pattern} matches no host the binary answers"
        );
    }
    for look_alike in [
        "123456789012.dkr.ecr.us-east-1.amazonaws.com.evil.example/app",
        "evil.example/123456789012.dkr.ecr.us-east-1.amazonaws.com/app",
        "dkr.ecr.us-east-1.amazonaws.com/app",
        "public.ecr.aws.evil.example/app",
        "123456789012.dkr.ecr.us-east-1.amazonaws.com:5000/app",
    ] {
        assert!(!matched_by_config(look_alike, &patterns), "{look_alike}");
    }
}

/// Image references and registry hosts the docs show as examples: words (in code spans and
/// blocks) whose registry part the binary takes for ECR.
fn documented_ecr_images(text: &str) -> Vec<String> {
    let mut code = String::new();
    let mut fenced = false;
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
            continue;
        }
        if fenced {
            code.push_str(line);
            code.push('\n');
        } else {
            for (i, span) in line.split('`').enumerate() {
                if i % 2 == 1 {
                    code.push_str(span);
                    code.push('\n');
                }
            }
        }
    }
    code.split(|c: char| c.is_whitespace() || "\"'`,;()[]{}=<>|".contains(c))
        .map(|w| w.trim_end_matches(['.', ':']))
        .filter(|w| !w.contains("://") && !w.contains('*'))
        .filter(|w| registry::parse(w.split('/').next().unwrap_or_default()).is_some())
        .map(str::to_string)
        .collect()
}

#[test]
fn every_ecr_image_in_the_readmes_matches_the_shipped_config() {
    let patterns = match_images();
    let mut seen = BTreeSet::new();
    for readme in ["install/deploy/kubelet/README.md", "README.md"] {
        for image in documented_ecr_images(&repo_file(readme)) {
            assert!(
                matched_by_config(&image, &patterns),
                "{readme}: {image} matches no matchImages pattern of {CONFIG}"
            );
            seen.insert(image);
        }
    }
    // Not vacuous: the kubelet README's examples cover FIPS, dual-stack, China and Public.
    for needle in [
        ".dkr.ecr-fips.",
        ".dkr-ecr.",
        ".dkr-ecr-fips.",
        ".amazonaws.com.cn/",
        "public.ecr.aws/",
    ] {
        assert!(
            seen.iter().any(|i| i.contains(needle)),
            "no example image with {needle}: {seen:?}"
        );
    }
}
