//! The kubelet image credential provider mode as a real process against moto: strict responses
//! for every host form, the shared cache, ServiceAccount roles through
//! `AssumeRoleWithWebIdentity`, aliases, bad input, a dead API and the answer deadline. Calls
//! are counted (and their signing keys read) at moto.

mod support;

use base64::Engine as _;
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet};
use std::process::Output;
use std::time::{Duration, Instant};
use support::*;

const V1: &str = "credentialprovider.kubelet.k8s.io/v1";
const ROLE_A: &str = "arn:aws:iam::123456789012:role/pull-a";
const ROLE_B: &str = "arn:aws:iam::123456789012:role/pull-b";
const SESSION_NAME: &str = "ecr-credential-provider";

/// The kubelet's decoder is strict: any field beyond these fails the response. The same
/// strictness here, plus an exact key-set check on the raw JSON.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct KubeletResponse {
    kind: String,
    api_version: String,
    cache_key_type: String,
    cache_duration: String,
    auth: BTreeMap<String, KubeletAuth>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct KubeletAuth {
    username: String,
    password: String,
}

fn request(api_version: &str, image: &str) -> Vec<u8> {
    serde_json::json!({"kind": "CredentialProviderRequest", "apiVersion": api_version, "image": image})
        .to_string()
        .into_bytes()
}

/// A v1 request carrying a ServiceAccount token and the annotations the kubelet passes on.
fn sa_request(image: &str, token: &str, annotations: &[(&str, &str)]) -> Vec<u8> {
    let annotations: BTreeMap<&str, &str> = annotations.iter().copied().collect();
    serde_json::json!({
        "kind": "CredentialProviderRequest", "apiVersion": V1, "image": image,
        "serviceAccountToken": token, "serviceAccountAnnotations": annotations
    })
    .to_string()
    .into_bytes()
}

/// A projected-token-shaped JWT for `sub` (moto does not verify it; STS would). `nonce` makes
/// a rotated token: another token, the same ServiceAccount.
fn jwt(sub: &str, nonce: &str) -> String {
    let enc = |s: String| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
    format!(
        "{}.{}.{}",
        enc(r#"{"alg":"RS256","kid":"k"}"#.to_string()),
        enc(format!(
            r#"{{"iss":"https://oidc.eks.example","sub":"{sub}","aud":["sts.amazonaws.com"],"jti":"{nonce}"}}"#
        )),
        enc(format!("signature-{nonce}"))
    )
}

fn provide(world: &World, args: &[&str], stdin: &[u8]) -> Output {
    let mut all = vec!["kubelet-credential-provider"];
    all.extend_from_slice(args);
    world.run(&all, stdin)
}

/// Asserts exit 0 and a response the kubelet accepts; returns it.
fn accepted(output: &Output, api_version: &str) -> KubeletResponse {
    let text = stdout(output);
    assert_eq!(output.status.code(), Some(0), "stderr: {}", stderr(output));
    assert!(
        text.ends_with('\n') && text.trim_end().lines().count() == 1,
        "one line: {text:?}"
    );
    let raw: serde_json::Value = serde_json::from_str(&text).expect("JSON");
    let keys: BTreeSet<&str> = raw
        .as_object()
        .expect("object")
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        BTreeSet::from([
            "kind",
            "apiVersion",
            "cacheKeyType",
            "cacheDuration",
            "auth"
        ])
    );
    let response: KubeletResponse = serde_json::from_str(&text).expect("strict decode");
    assert_eq!(response.kind, "CredentialProviderResponse");
    assert_eq!(response.api_version, api_version);
    assert_eq!(response.cache_key_type, "Registry");
    response
}

/// Asserts a response with exactly one registry answered by AWS / `password`; returns its
/// cache duration in seconds.
fn assert_answer(output: &Output, api_version: &str, registry: &str, password: &str) -> u64 {
    let response = accepted(output, api_version);
    assert_eq!(
        response.auth.keys().collect::<Vec<_>>(),
        vec![registry],
        "{response:?}"
    );
    assert_eq!(response.auth[registry].username, "AWS");
    assert_eq!(response.auth[registry].password, password);
    go_seconds(&response.cache_duration)
}

/// Parses a Go duration of whole hours, minutes and seconds (`5h59m30s`, `0s`).
fn go_seconds(text: &str) -> u64 {
    let mut total = 0;
    let mut number = String::new();
    for c in text.chars() {
        match c {
            '0'..='9' => number.push(c),
            'h' | 'm' | 's' => {
                let n: u64 = number.parse().unwrap_or_else(|_| panic!("{text}"));
                total += n * match c {
                    'h' => 3600,
                    'm' => 60,
                    _ => 1,
                };
                number.clear();
            }
            _ => panic!("not a Go duration of whole seconds: {text}"),
        }
    }
    assert!(number.is_empty(), "unit missing: {text}");
    total
}

/// Asserts exit 1, nothing on stdout, one line on stderr; returns the line.
fn refused(output: &Output) -> String {
    assert_eq!(output.status.code(), Some(1), "stdout: {}", stdout(output));
    assert_eq!(stdout(output), "", "nothing on stdout");
    let err = stderr(output);
    assert_eq!(err.lines().count(), 1, "one line: {err:?}");
    assert!(err.starts_with("ecr-credential-provider: "), "{err}");
    err
}

const TWELVE_HOURS: u64 = 12 * 3600;

fn assert_half_of_twelve_hours(seconds: u64) {
    assert!(
        (TWELVE_HOURS / 2 - 60..=TWELVE_HOURS / 2).contains(&seconds),
        "cacheDuration {seconds} s is not half of a fresh 12 h token"
    );
}

#[test]
fn every_host_form_gets_a_strict_v1_response_and_then_the_cache() {
    let moto = Moto::start();
    let world = World::new(&moto);
    let private: Vec<(&str, &str)> = PRIVATE_HOSTS
        .into_iter()
        .filter(|(host, _)| !host.contains("://"))
        .collect();
    // Hosts of one account and region share a token (the Go helper's cache layout), as do
    // the two ECR Public names.
    let registries: BTreeSet<(String, Option<String>)> = private
        .iter()
        .map(|(host, _)| match ecr_login::registry::parse(host) {
            Some(ecr_login::registry::Registry::Private(p)) => (p.region, p.account),
            other => panic!("{host}: {other:?}"),
        })
        .collect();
    for round in 0..2 {
        for (host, account) in &private {
            let output = provide(&world, &[], &request(V1, &format!("{host}/team/app:1.2")));
            let seconds = assert_answer(&output, V1, host, &password_for(account));
            assert_half_of_twelve_hours(seconds);
        }
        for host in PUBLIC_HOSTS {
            let output = provide(&world, &[], &request(V1, &format!("{host}/nginx/nginx:1")));
            assert_answer(&output, V1, host, "public-auth-token");
        }
        assert_eq!(
            (
                moto.count("ecr:GetAuthorizationToken"),
                moto.count("ecr-public:GetAuthorizationToken")
            ),
            (registries.len() as u64, 1),
            "round {round}: one call per account and region, none from the cache"
        );
    }
    // The helper's `get` shares the cache.
    let (host, account) = private[0];
    assert_credentials(&world.get(host), host, &password_for(account));
    assert_eq!(
        moto.count("ecr:GetAuthorizationToken"),
        registries.len() as u64
    );
}

#[test]
fn older_api_versions_are_answered_in_the_version_asked() {
    let moto = Moto::start();
    let world = World::new(&moto);
    for version in [
        "credentialprovider.kubelet.k8s.io/v1beta1",
        "credentialprovider.kubelet.k8s.io/v1alpha1",
        V1,
    ] {
        let output = provide(&world, &[], &request(version, &format!("{HOST}/app")));
        assert_answer(&output, version, HOST, &password_for(ACCOUNT));
    }
    assert_eq!(moto.count("ecr:GetAuthorizationToken"), 1);
}

/// The kubelet runs `<bin dir>/ecr-credential-provider <args>`: the file name selects the mode,
/// and cloud-provider-aws's positional arguments are accepted.
#[cfg(unix)]
#[test]
fn the_plugin_file_name_selects_the_mode() {
    let moto = Moto::start();
    let world = World::new(&moto);
    let bin_dir = world.path("bin");
    std::fs::create_dir(&bin_dir).expect("bin dir");
    let plugin = bin_dir.join("ecr-credential-provider");
    std::os::unix::fs::symlink(BIN, &plugin).expect("symlink");
    for args in [&[][..], &["get-credentials"][..]] {
        let mut command = std::process::Command::new(&plugin);
        command.args(args).env_clear().envs(&world.env);
        let output = run_with_stdin(command, &request(V1, &format!("{HOST}/app:1")));
        assert_answer(&output, V1, HOST, &password_for(ACCOUNT));
    }
    let mut version = std::process::Command::new(&plugin);
    version.arg("--version").env_clear().envs(&world.env);
    let output = run_with_stdin(version, b"");
    assert!(
        stdout(&output).starts_with("ecr-credential-provider "),
        "{}",
        stdout(&output)
    );
}

/// The `AssumeRoleWithWebIdentity` calls: (RoleArn, RoleSessionName, WebIdentityToken, key
/// issued).
fn web_identity_calls(moto: &Moto) -> Vec<(String, String, String, String)> {
    moto.requests()
        .iter()
        .filter(|r| r.api == "sts:AssumeRoleWithWebIdentity")
        .map(|r| {
            let p = |k: &str| r.params.get(k).cloned().unwrap_or_default();
            let issued = r.issued_key.clone().unwrap_or_default();
            (
                p("RoleArn"),
                p("RoleSessionName"),
                p("WebIdentityToken"),
                issued,
            )
        })
        .collect()
}

#[test]
fn each_role_annotation_key_leads_to_assume_role_with_web_identity_then_ecr() {
    let moto = Moto::start();
    let world = World::new(&moto);
    let image = format!("{HOST}/team/app:1");
    let sub = "system:serviceaccount:team:app";
    for (key, role) in [
        ("eks.amazonaws.com/ecr-role-arn", ROLE_A),
        ("eks.amazonaws.com/role-arn", ROLE_B),
    ] {
        moto.reset();
        let token = jwt(sub, "first");
        let output = provide(&world, &[], &sa_request(&image, &token, &[(key, role)]));
        assert_half_of_twelve_hours(assert_answer(&output, V1, HOST, &password_for(ACCOUNT)));
        let calls = web_identity_calls(&moto);
        assert_eq!(calls.len(), 1, "{key}: {calls:?}");
        let (arn, session, sent, issued) = &calls[0];
        assert_eq!(
            (arn.as_str(), session.as_str(), sent),
            (role, SESSION_NAME, &token)
        );
        assert!(!issued.is_empty() && issued != "testing", "{issued}");
        assert_eq!(
            moto.ecr_signers(),
            vec![issued.clone()],
            "{key}: ECR was called with the web identity's credentials, not the node's"
        );
        assert_eq!(moto.count("sts:AssumeRole"), 0);

        // The kubelet rotates projected tokens: same ServiceAccount, same role, from the cache.
        let rotated = jwt(sub, "second");
        let output = provide(&world, &[], &sa_request(&image, &rotated, &[(key, role)]));
        assert_answer(&output, V1, HOST, &password_for(ACCOUNT));
        assert_eq!(
            (
                moto.count("sts:AssumeRoleWithWebIdentity"),
                moto.count("ecr:GetAuthorizationToken")
            ),
            (1, 1),
            "{key}: cached per role"
        );
    }
    // cloud-provider-aws's key wins over the IRSA key when both are there: role A is cached.
    moto.reset();
    let both = [
        ("eks.amazonaws.com/role-arn", ROLE_B),
        ("eks.amazonaws.com/ecr-role-arn", ROLE_A),
    ];
    let output = provide(&world, &[], &sa_request(&image, &jwt(sub, "third"), &both));
    assert_answer(&output, V1, HOST, &password_for(ACCOUNT));
    assert_eq!(moto.requests().len(), 0, "{:?}", moto.requests());
    // The token is never written anywhere.
    let cache = std::fs::read_to_string(world.cache_file()).expect("cache");
    let logs = world.logs();
    for text in [&cache, &logs] {
        assert!(!text.contains("signature-first") && !text.contains(&jwt(sub, "first")));
    }
}

#[test]
fn custom_annotation_keys_and_the_environment_name_the_role() {
    let moto = Moto::start();
    let mut world = World::new(&moto);
    let image = format!("{HOST}/app");
    let token = jwt("system:serviceaccount:ns:app", "n");
    let annotations = [
        ("eks.amazonaws.com/ecr-role-arn", ROLE_A),
        ("example.com/pull-role", ROLE_B),
    ];
    // --role-annotation replaces the defaults.
    let output = provide(
        &world,
        &[
            "--role-annotation",
            "example.com/none",
            "--role-annotation",
            "example.com/pull-role",
        ],
        &sa_request(&image, &token, &annotations),
    );
    assert_answer(&output, V1, HOST, &password_for(ACCOUNT));
    assert_eq!(web_identity_calls(&moto)[0].0, ROLE_B);
    // No annotation: AWS_ECR_ROLE_ARN.
    moto.reset();
    world.set("AWS_ECR_ROLE_ARN", ROLE_A);
    let output = provide(&world, &[], &sa_request(&image, &token, &[]));
    assert_answer(&output, V1, HOST, &password_for(ACCOUNT));
    let calls = web_identity_calls(&moto);
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].0, ROLE_A);
}

/// A role is assumed for the ServiceAccount that asked: another one naming the same role gets
/// its own STS call (its token, checked against the role's trust policy), not the first one's
/// cached token.
#[test]
fn another_service_account_naming_the_same_role_is_checked_by_sts() {
    let moto = Moto::start();
    let world = World::new(&moto);
    let image = format!("{HOST}/app");
    let role = [("eks.amazonaws.com/ecr-role-arn", ROLE_A)];
    for sub in ["system:serviceaccount:a:app", "system:serviceaccount:b:app"] {
        let output = provide(&world, &[], &sa_request(&image, &jwt(sub, "n"), &role));
        assert_answer(&output, V1, HOST, &password_for(ACCOUNT));
    }
    assert_eq!(moto.count("sts:AssumeRoleWithWebIdentity"), 2);
    // A token that is not a JWT cannot be told from another: it is exchanged every time.
    for _ in 0..2 {
        let output = provide(&world, &[], &sa_request(&image, "opaque-token", &role));
        assert_answer(&output, V1, HOST, &password_for(ACCOUNT));
    }
    assert_eq!(moto.count("sts:AssumeRoleWithWebIdentity"), 4);
}

#[test]
fn a_service_account_without_a_role_uses_the_node_credentials_and_says_so() {
    let moto = Moto::start();
    let world = World::new(&moto);
    let token = jwt("system:serviceaccount:ns:plain", "n");
    let output = provide(
        &world,
        &[],
        &sa_request(&format!("{HOST}/app"), &token, &[("other/key", ROLE_A)]),
    );
    assert_answer(&output, V1, HOST, &password_for(ACCOUNT));
    assert_eq!(moto.count("sts:AssumeRoleWithWebIdentity"), 0);
    assert_eq!(moto.ecr_signers(), vec!["testing".to_string()]);
    let log = world.log_text();
    assert!(log.contains("using the node's credentials"), "{log}");
    // The node identity's cache entry is the helper's.
    assert_credentials(&world.get(HOST), HOST, &password_for(ACCOUNT));
    assert_eq!(moto.count("ecr:GetAuthorizationToken"), 1);
}

#[test]
fn a_refused_token_or_a_bad_role_is_one_line_and_exit_1() {
    let moto = Moto::start();
    let world = World::new(&moto);
    let image = format!("{HOST}/app");
    let token = jwt("system:serviceaccount:ns:app", "n");
    moto.fault("denied");
    let line = refused(&provide(
        &world,
        &[],
        &sa_request(
            &image,
            &token,
            &[("eks.amazonaws.com/ecr-role-arn", ROLE_A)],
        ),
    ));
    assert!(
        line.contains(HOST) && line.contains(ROLE_A) && line.contains("service account token"),
        "{line}"
    );
    assert!(!line.contains(&token), "{line}");
    moto.fault("none");
    let line = refused(&provide(
        &world,
        &[],
        &sa_request(
            &image,
            &token,
            &[("eks.amazonaws.com/ecr-role-arn", "admin\nx")],
        ),
    ));
    assert!(line.contains("not an IAM role ARN"), "{line}");
    assert_eq!(moto.count("ecr:GetAuthorizationToken"), 0);
}

#[test]
fn aliases_answer_mirrored_names_with_the_mirror_registry_token() {
    let moto = Moto::start();
    let mut world = World::new(&moto);
    let pull_through = "210987654321.dkr.ecr.eu-west-1.amazonaws.com";
    let config = world.path("config.toml");
    std::fs::write(
        &config,
        format!(
            "[[alias]]\nhost = \"docker.io\"\nregistry = \"{pull_through}\"\n\n\
             [[alias]]\nhost = \"mirror.example.com:5000\"\nregistry = \"public.ecr.aws\"\n"
        ),
    )
    .expect("config");
    world.set("AWS_ECR_CONFIG", &config.display().to_string());
    for (image, key, password) in [
        (
            "docker.io/library/nginx",
            "docker.io",
            password_for("210987654321"),
        ),
        (
            "index.docker.io/library/nginx",
            "index.docker.io",
            password_for("210987654321"),
        ),
        (
            "mirror.example.com:5000/team/app",
            "mirror.example.com:5000",
            "public-auth-token".into(),
        ),
    ] {
        let output = provide(&world, &[], &request(V1, image));
        assert_answer(&output, V1, key, &password);
    }
    assert_eq!(
        moto.count("ecr:GetAuthorizationToken"),
        1,
        "one token for both Hub names"
    );
    assert_eq!(moto.count("ecr-public:GetAuthorizationToken"), 1);
    // A port is part of an alias name.
    let output = provide(&world, &[], &request(V1, "mirror.example.com/team/app"));
    assert!(accepted(&output, V1).auth.is_empty());
}

#[test]
fn non_ecr_images_get_an_empty_auth_map() {
    let moto = Moto::start();
    let world = World::new(&moto);
    for image in [
        "quay.io/org/app:1",
        "nginx:1.27",
        "docker.io/library/nginx",
        "123456789012.dkr.ecr.us-east-1.amazonaws.com.evil.example/app",
    ] {
        let response = accepted(&provide(&world, &[], &request(V1, image)), V1);
        assert!(response.auth.is_empty(), "{image}: {response:?}");
        assert_eq!(response.cache_duration, "0s", "not cached by the kubelet");
    }
    assert!(moto.calls().is_empty(), "{:?}", moto.calls());
}

#[test]
fn bad_input_exits_1_with_one_line_and_nothing_on_stdout() {
    let moto = Moto::start();
    let mut world = World::new(&moto);
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (b"".to_vec(), "empty request"),
        (b"garbage\n".to_vec(), "not valid JSON"),
        (b"[1,2]".to_vec(), "not a CredentialProviderRequest"),
        (
            br#"{"kind":"Pod","apiVersion":"credentialprovider.kubelet.k8s.io/v1","image":"x"}"#.to_vec(),
            "kind is \"Pod\"",
        ),
        (request("credentialprovider.kubelet.k8s.io/v2", HOST), "not supported"),
        (
            br#"{"kind":"CredentialProviderRequest","apiVersion":"credentialprovider.kubelet.k8s.io/v1"}"#.to_vec(),
            "image is missing",
        ),
        (vec![b' '; 2 * 1024 * 1024], "larger than 1024 KiB"),
    ];
    for (input, expected) in &cases {
        let line = refused(&provide(&world, &[], input));
        assert!(line.contains(expected), "{expected}: {line}");
    }
    let line = refused(&provide(&world, &["--no-such-flag"], &request(V1, HOST)));
    assert!(line.contains("--no-such-flag"), "{line}");
    // A broken helper config must not send the pull out as another identity.
    let config = world.path("config.toml");
    std::fs::write(&config, "[[registry]]\nmatch = 1\n").expect("config");
    world.set("AWS_ECR_CONFIG", &config.display().to_string());
    let line = refused(&provide(&world, &[], &request(V1, &format!("{HOST}/app"))));
    assert!(line.contains("config.toml"), "{line}");
    assert!(moto.calls().is_empty(), "{:?}", moto.calls());
}

#[test]
fn api_down_serves_a_fresh_or_stale_cache_and_refuses_an_expired_one() {
    let moto = Moto::start();
    let mut world = World::new(&moto);
    world.set("AWS_MAX_ATTEMPTS", "1");
    let key = static_key("us-east-1", ACCOUNT);
    let image = format!("{HOST}/app");
    moto.fault("error500");

    seed_cache(
        &world,
        &key,
        "fresh-pass",
        Duration::from_secs(60),
        12 * 3600 - 60,
    );
    let seconds = assert_answer(
        &provide(&world, &[], &request(V1, &image)),
        V1,
        HOST,
        "fresh-pass",
    );
    let half = (12 * 3600 - 60) / 2;
    assert!(
        (half - 60..=half).contains(&seconds),
        "half the life left: {seconds}"
    );
    assert_eq!(moto.count("ecr:GetAuthorizationToken"), 0);

    seed_cache(
        &world,
        &key,
        "stale-pass",
        Duration::from_secs(10 * 3600),
        2 * 3600,
    );
    let seconds = assert_answer(
        &provide(&world, &[], &request(V1, &image)),
        V1,
        HOST,
        "stale-pass",
    );
    assert!(
        (3600 - 60..=3600).contains(&seconds),
        "half of the 2 h left: {seconds}"
    );
    assert_eq!(
        moto.count("ecr:GetAuthorizationToken"),
        1,
        "a refresh was tried"
    );

    seed_cache(
        &world,
        &key,
        "expired-pass",
        Duration::from_secs(13 * 3600),
        -3600,
    );
    let line = refused(&provide(&world, &[], &request(V1, &image)));
    assert!(
        line.contains(HOST) && line.contains("ECR API call failed"),
        "{line}"
    );
    assert!(!line.contains("expired-pass"));
}

/// The kubelet kills a plugin after a minute; the answer comes within 30 s whatever
/// AWS_ECR_FETCH_TIMEOUT says.
#[test]
fn a_hung_api_is_cut_off_within_30_seconds_whatever_the_fetch_timeout() {
    let moto = Moto::start();
    let mut world = World::new(&moto);
    // Enough attempts (5 s read timeout each) to outlast the cap: the deadline ends it.
    world
        .set("AWS_ECR_FETCH_TIMEOUT", "2m")
        .set("AWS_MAX_ATTEMPTS", "10");
    moto.fault("hang");
    let started = Instant::now();
    let line = refused(&provide(&world, &[], &request(V1, &format!("{HOST}/app"))));
    let elapsed = started.elapsed();
    assert!(elapsed < Duration::from_secs(28), "took {elapsed:?}");
    assert!(line.contains("unreachable within 25.0 s"), "{line}");
}

/// A request that never ends (stdin left open) is abandoned before the kubelet's limit, with
/// one line and nothing on stdout.
#[test]
fn a_request_that_never_ends_is_abandoned_before_the_kubelet_limit() {
    let moto = Moto::start();
    let world = World::new(&moto);
    let mut command = world.command(&["kubelet-credential-provider"]);
    let mut child = command
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    let held_open = child.stdin.take();
    let started = Instant::now();
    let output = child.wait_with_output().expect("wait");
    let elapsed = started.elapsed();
    drop(held_open);
    let line = refused(&output);
    assert!(line.contains("no answer within 28 s"), "{line}");
    assert!(elapsed < Duration::from_secs(30), "took {elapsed:?}");
}
