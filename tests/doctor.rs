//! `doctor` as a real process against moto (STS and ECR) on loopback: a healthy set-up passes,
//! each broken one fails with its fix line, and no secret is ever printed.

mod support;

use serde_json::Value;
use std::io::{Read, Write};
use std::path::Path;
use std::process::Output;
use std::time::{Duration, Instant};
use support::*;

const KEY_ID: &str = "AKIADOCTORKEYID12345";
const SECRET_KEY: &str = "doctor-secret-access-key-9q";
const SESSION_TOKEN: &str = "doctor-session-token-7x";

/// moto's credentials with distinctive secrets, this binary first on PATH, and a Docker
/// config that sends `HOST` to the helper.
fn healthy(moto: &Moto) -> World {
    let mut world = World::new(moto);
    world
        .set("AWS_ACCESS_KEY_ID", KEY_ID)
        .set("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
        .set("AWS_SESSION_TOKEN", SESSION_TOKEN);
    let bin_dir = Path::new(BIN)
        .parent()
        .expect("bin dir")
        .display()
        .to_string();
    let path = format!("{bin_dir}:{}", world.env["PATH"]);
    world.set("PATH", &path);
    docker_config(
        &world,
        &format!(r#"{{"credHelpers": {{"{HOST}": "ecr-login"}}}}"#),
    );
    world
}

fn docker_config(world: &World, json: &str) {
    world.write_home_file(".docker/config.json", json);
}

fn doctor_json(world: &World, args: &[&str]) -> (Output, Value) {
    let mut all = vec!["doctor"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["--output", "json"]);
    let output = world.run(&all, b"");
    let value = serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}\n{}", stdout(&output), stderr(&output)));
    (output, value)
}

/// The check named `name` (the first, when several registries have one).
fn check<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no {name} check in {report:#}"))
}

fn status<'a>(report: &'a Value, name: &str) -> &'a str {
    check(report, name)["status"].as_str().expect("status")
}

fn text<'a>(report: &'a Value, name: &str, field: &str) -> &'a str {
    check(report, name)[field].as_str().unwrap_or_default()
}

/// Neither stream holds a credential: keys, the session token, the ECR token or its password.
fn assert_no_secret(output: &Output, extra: &[&str]) {
    let token = base64_of(&format!("AWS:{}", password_for(ACCOUNT)));
    let all = format!("{}{}", stdout(output), stderr(output));
    for secret in [
        KEY_ID,
        SECRET_KEY,
        SESSION_TOKEN,
        &password_for(ACCOUNT),
        &token,
    ]
    .iter()
    .chain(extra)
    {
        assert!(!all.contains(secret), "output holds {secret}:\n{all}");
    }
}

fn base64_of(text: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(text)
}

#[test]
fn healthy_set_up_passes_says_who_and_gets_a_token() {
    let moto = Moto::start();
    let world = healthy(&moto);
    let (output, report) = doctor_json(&world, &[HOST]);
    assert_eq!(output.status.code(), Some(0), "{report:#}");
    assert_eq!(report["ok"], true);
    for c in report["checks"].as_array().expect("checks") {
        assert!(c["status"] == "ok" || c["status"] == "warn", "{c}");
        assert!(
            c["fix"].is_null() || c["status"] == "warn",
            "ok checks have a null fix: {c}"
        );
    }
    for name in [
        "helper-config",
        "docker-config",
        "helper-on-path",
        "docker-helper",
        "docker-auths",
        "route",
        "endpoint",
        "cache",
        "identity",
        "clock",
        "token",
    ] {
        assert_eq!(status(&report, name), "ok", "{name}: {report:#}");
    }
    let identity = text(&report, "identity", "detail");
    assert!(
        identity.contains("arn:aws:sts::123456789012:user/moto"),
        "{identity}"
    );
    assert!(
        identity.contains("access key from the environment (AWS_ACCESS_KEY_ID AKIA…2345)"),
        "{identity}"
    );
    assert!(
        text(&report, "endpoint", "detail").contains(&moto.url()),
        "{report:#}"
    );
    assert!(text(&report, "token", "detail").contains("GetAuthorizationToken answered"));
    assert_eq!(moto.count("sts:GetCallerIdentity"), 1, "{:?}", moto.calls());
    assert_eq!(moto.count("ecr:GetAuthorizationToken"), 1);
    assert_no_secret(&output, &[]);

    // The token is now cached, as by `get`: a second run reads it there.
    let (again, report) = doctor_json(&world, &[HOST]);
    assert_eq!(again.status.code(), Some(0));
    assert!(
        text(&report, "cache", "detail").starts_with("fresh:"),
        "{report:#}"
    );
    assert!(
        text(&report, "token", "detail").contains("from the cache"),
        "{report:#}"
    );
    assert_eq!(moto.count("ecr:GetAuthorizationToken"), 1);
    assert_no_secret(&again, &[]);
}

/// The cache is best effort: disabled or untrusted, `get` still answers, so a warning only.
#[test]
fn a_disabled_or_untrusted_cache_is_a_warning() {
    let moto = Moto::start();
    let mut world = healthy(&moto);
    world.set("AWS_ECR_DISABLE_CACHE", "1");
    let (output, report) = doctor_json(&world, &[HOST]);
    assert_eq!(output.status.code(), Some(0), "{report:#}");
    assert_eq!(status(&report, "cache"), "warn");
    assert!(text(&report, "cache", "fix").contains("unset AWS_ECR_DISABLE_CACHE"));

    world.unset("AWS_ECR_DISABLE_CACHE");
    std::fs::create_dir_all(world.cache_dir()).expect("mkdir");
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(world.cache_dir(), std::fs::Permissions::from_mode(0o777))
        .expect("chmod");
    let (output, report) = doctor_json(&world, &[HOST]);
    assert_eq!(output.status.code(), Some(0), "{report:#}");
    assert_eq!(status(&report, "cache"), "warn");
    assert!(text(&report, "cache", "detail").contains("writable by group or others"));
    assert!(text(&report, "cache", "fix").contains("chmod 700"));
    assert!(
        !world.cache_file().exists(),
        "nothing written to an untrusted directory"
    );
}

#[test]
fn text_output_is_one_line_per_check_and_a_summary() {
    let moto = Moto::start();
    let world = healthy(&moto);
    let output = world.run(&["doctor", HOST], b"");
    assert_eq!(output.status.code(), Some(0), "{}", stdout(&output));
    let out = stdout(&output);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines[0],
        format!("docker-credential-ecr-login doctor: {HOST}")
    );
    assert!(
        lines
            .last()
            .is_some_and(|l| l.starts_with("all ") && l.ends_with(" checks passed")),
        "{out}"
    );
    let checks = &lines[1..lines.len() - 1];
    assert!(checks.iter().all(|l| l.starts_with("ok    ")), "{out}");
    assert!(
        checks
            .iter()
            .any(|l| l.starts_with("ok    identity: arn:aws:sts::")),
        "{out}"
    );
    assert_no_secret(&output, &[]);
}

#[test]
fn no_credentials_fails_with_a_fix_line() {
    let moto = Moto::start();
    let mut world = World::bare();
    world
        .set("AWS_EC2_METADATA_DISABLED", "true")
        .set("AWS_ENDPOINT_URL_STS", &moto.url())
        .set("AWS_ENDPOINT_URL_ECR", &moto.url());
    let (output, report) = doctor_json(&world, &[HOST]);
    assert_eq!(output.status.code(), Some(1), "{report:#}");
    assert_eq!(report["ok"], false);
    for name in ["identity", "instance-metadata", "token"] {
        assert_eq!(status(&report, name), "fail", "{name}: {report:#}");
    }
    assert!(text(&report, "identity", "detail").contains("no AWS credentials found"));
    assert!(text(&report, "identity", "fix").contains("configure AWS credentials"));
    assert!(text(&report, "instance-metadata", "detail").contains("AWS_EC2_METADATA_DISABLED"));
    assert_eq!(moto.count("ecr:GetAuthorizationToken"), 0);

    let text_output = world.run(&["doctor", HOST], b"");
    assert_eq!(text_output.status.code(), Some(1));
    let out = stdout(&text_output);
    assert!(
        out.contains("FAIL  identity: no AWS credentials found"),
        "{out}"
    );
    assert!(
        out.contains("\n      fix: configure AWS credentials"),
        "{out}"
    );
}

#[test]
fn shadowing_auths_entry_fails_and_says_to_remove_it() {
    let moto = Moto::start();
    let world = healthy(&moto);
    let stored = base64_of("AWS:an-old-docker-login-token");
    docker_config(
        &world,
        &format!(
            r#"{{"credHelpers": {{"{HOST}": "ecr-login"}},
                "auths": {{"https://{HOST}": {{"auth": "{stored}"}}, "quay.io": {{"auth": "eDp5"}}}},
                "detachKeys": "ctrl-x"}}"#
        ),
    );
    let (output, report) = doctor_json(&world, &[HOST]);
    assert_eq!(output.status.code(), Some(1), "{report:#}");
    assert_eq!(status(&report, "docker-auths"), "fail");
    let fix = text(&report, "docker-auths", "fix");
    assert!(
        fix.contains(&format!("remove the \"https://{HOST}\" entry from auths")),
        "{fix}"
    );
    // Only that check fails: the helper itself still works.
    let failed: Vec<&Value> = report["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .filter(|c| c["status"] == "fail")
        .collect();
    assert_eq!(failed.len(), 1, "{report:#}");
    assert_eq!(status(&report, "token"), "ok");
    assert_no_secret(&output, &[&stored, "an-old-docker-login-token"]);
}

#[test]
fn bad_helper_config_names_file_and_key() {
    let moto = Moto::start();
    let mut world = healthy(&moto);
    let config = world.path("ecr-login.toml");
    std::fs::write(
        &config,
        "[[registry]]\nmatch = [\"*.dkr.ecr.us-east-1.amazonaws.com\"]\nprofil = \"prod\"\n",
    )
    .expect("write config");
    world.set("AWS_ECR_CONFIG", &config.display().to_string());
    let (output, report) = doctor_json(&world, &[HOST]);
    assert_eq!(output.status.code(), Some(1), "{report:#}");
    assert_eq!(status(&report, "helper-config"), "fail");
    let detail = text(&report, "helper-config", "detail");
    assert!(detail.contains(&config.display().to_string()), "{detail}");
    assert!(detail.contains("registry[0].profil"), "{detail}");
    assert!(text(&report, "helper-config", "fix").contains("fix `registry[0].profil`"));
    assert_eq!(
        status(&report, "route"),
        "fail",
        "get answers not-found meanwhile"
    );
    assert_eq!(moto.count("ecr:GetAuthorizationToken"), 0);
}

#[test]
fn sso_profile_without_a_sign_in_says_aws_sso_login() {
    let mut world = World::bare();
    world.write_home_file(
        ".aws/config",
        "[profile dev]\nsso_session = corp\nsso_account_id = 123456789012\nsso_role_name = Dev\n\
         [sso-session corp]\nsso_start_url = https://corp.example/start\nsso_region = us-east-1\n\
         [profile pull]\nrole_arn = arn:aws:iam::123456789012:role/pull\nsource_profile = dev\n",
    );
    world
        .set("AWS_EC2_METADATA_DISABLED", "true")
        .set("AWS_PROFILE", "pull");
    let (output, report) = doctor_json(&world, &[HOST]);
    assert_eq!(output.status.code(), Some(1), "{report:#}");
    assert_eq!(status(&report, "sso"), "fail");
    assert!(
        text(&report, "sso", "detail").contains("SSO session `corp` (profile dev): not signed in")
    );
    // The profile in use is `pull`; the sign-in to renew is its source profile's.
    for name in ["sso", "identity", "token"] {
        assert_eq!(
            text(&report, name, "fix"),
            "run `aws sso login --profile dev`",
            "{name}: {report:#}"
        );
    }

    // Signed in long ago: the cached token (found by the session's name) has expired.
    use sha1_name::of;
    world.write_home_file(
        &format!(".aws/sso/cache/{}.json", of("corp")),
        r#"{"accessToken": "sso-access-token-secret", "expiresAt": "2020-01-01T00:00:00Z", "region": "us-east-1", "startUrl": "https://corp.example/start"}"#,
    );
    let (output, report) = doctor_json(&world, &[HOST]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        text(&report, "sso", "detail").contains("signed out, the token expired"),
        "{report:#}"
    );
    assert_no_secret(&output, &["sso-access-token-secret"]);
}

/// The SSO token cache's file name, computed here independently of the product: the AWS CLI
/// names it by the hex SHA-1 of the session name.
mod sha1_name {
    pub fn of(text: &str) -> String {
        use sha1::Digest as _;
        sha1::Sha1::digest(text.as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }
}

#[test]
fn hung_api_is_cut_off_within_the_budget() {
    let hole = BlackHole::start();
    let moto = Moto::start();
    let mut world = healthy(&moto);
    let url = format!("http://127.0.0.1:{}", hole.port);
    world
        .set("AWS_ENDPOINT_URL_STS", &url)
        .set("AWS_ENDPOINT_URL_ECR", &url)
        .set("AWS_ECR_FETCH_TIMEOUT", "1");
    let started = Instant::now();
    let (output, report) = doctor_json(&world, &[HOST]);
    let elapsed = started.elapsed();
    assert_eq!(output.status.code(), Some(1), "{report:#}");
    // Two network checks, each cut at 1 s, both inside the 2 s budget.
    assert!(elapsed < Duration::from_millis(3500), "took {elapsed:?}");
    assert!(
        text(&report, "identity", "detail").contains("no answer from STS within"),
        "{report:#}"
    );
    assert_eq!(status(&report, "token"), "fail");
    assert!(text(&report, "token", "fix").contains(&url), "{report:#}");
}

#[test]
fn hung_instance_metadata_is_reported_quickly() {
    let hole = BlackHole::start();
    let moto = Moto::start();
    let mut world = World::bare();
    world
        .set(
            "AWS_EC2_METADATA_SERVICE_ENDPOINT",
            &format!("http://127.0.0.1:{}", hole.port),
        )
        .set("AWS_ENDPOINT_URL_STS", &moto.url())
        .set("AWS_ENDPOINT_URL_ECR", &moto.url());
    let started = Instant::now();
    let (output, report) = doctor_json(&world, &[HOST]);
    let elapsed = started.elapsed();
    assert_eq!(output.status.code(), Some(1));
    assert!(elapsed < Duration::from_secs(6), "took {elapsed:?}");
    assert_eq!(status(&report, "instance-metadata"), "fail", "{report:#}");
    assert!(text(&report, "instance-metadata", "fix").contains("hop-limit 2"));
}

/// An alias whose ECR host a rule sends to profile `one`: the route names both, the identity
/// check runs with that profile's keys (STS sees them) and says the rule chose it.
#[test]
fn an_alias_through_a_rule_shows_the_route_and_the_rules_identity() {
    let moto = Moto::start();
    let world = healthy(&moto);
    world.write_home_file(
        ".aws/credentials",
        "[one]\naws_access_key_id = AKIAONE0000000000001\naws_secret_access_key = doctor-s1\n",
    );
    world.write_home_file(
        ".config/ecr-login/config.toml",
        &format!(
            "[[alias]]\nhost = \"registry.example.com\"\nregistry = \"{HOST}\"\n\n\
             [[registry]]\nmatch = [\"{HOST}\"]\nprofile = \"one\"\n"
        ),
    );
    docker_config(
        &world,
        r#"{"credHelpers": {"registry.example.com": "ecr-login"}}"#,
    );
    let (output, report) = doctor_json(&world, &["registry.example.com"]);
    assert_eq!(output.status.code(), Some(0), "{report:#}");
    let route = text(&report, "route", "detail");
    assert!(
        route.contains(&format!(
            "alias registry.example.com → {HOST}, rule registry[0] (profile one)"
        )),
        "{route}"
    );
    let identity = text(&report, "identity", "detail");
    assert!(
        identity.contains(
            "profile one (static keys), chosen by helper-config rule registry[0] \
             (asked as alias registry.example.com)"
        ),
        "{identity}"
    );
    let signers: Vec<String> = moto
        .requests()
        .into_iter()
        .filter(|r| r.api == "sts:GetCallerIdentity" || r.api == "ecr:GetAuthorizationToken")
        .map(|r| r.access_key.unwrap_or_default())
        .collect();
    assert_eq!(signers, ["AKIAONE0000000000001", "AKIAONE0000000000001"]);
    assert_no_secret(&output, &["AKIAONE0000000000001", "doctor-s1"]);
}

/// A non-ECR host with a `fallback_helper`: delegated, and the backing helper is looked for.
#[test]
fn a_delegated_host_needs_its_backing_helper_on_path() {
    let moto = Moto::start();
    let mut world = healthy(&moto);
    world.write_home_file(
        ".config/ecr-login/config.toml",
        "fallback_helper = \"filestore\"\n",
    );
    docker_config(&world, r#"{"credsStore": "ecr-login"}"#);
    let (output, report) = doctor_json(&world, &["quay.io"]);
    assert_eq!(output.status.code(), Some(1), "not on PATH yet: {report:#}");
    assert_eq!(status(&report, "fallback-helper"), "fail");
    assert!(
        text(&report, "fallback-helper", "detail")
            .contains("docker-credential-filestore is not on PATH")
    );
    assert_eq!(status(&report, "route"), "ok");
    assert!(text(&report, "route", "detail").contains("go to docker-credential-filestore"));

    let bin = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/bin");
    let path = format!("{}:{}", bin.display(), world.env["PATH"]);
    world.set("PATH", &path);
    let (output, report) = doctor_json(&world, &["quay.io"]);
    assert_eq!(output.status.code(), Some(0), "{report:#}");
    assert_eq!(status(&report, "fallback-helper"), "ok");
    let names: Vec<&Value> = report["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .map(|c| &c["name"])
        .collect();
    assert!(
        !names.contains(&&Value::from("token")),
        "no ECR token for it: {names:?}"
    );
    assert_eq!(moto.count("ecr:GetAuthorizationToken"), 0);
}

/// The endpoint follows the host (FIPS, dual-stack), unless an override names another; then
/// the variable is named. No credentials here, so nothing leaves the machine.
#[test]
fn the_endpoint_follows_the_host_unless_overridden() {
    let mut world = World::bare();
    world.set("AWS_EC2_METADATA_DISABLED", "true");
    let endpoint = |world: &World, host: &str| {
        let (_, report) = doctor_json(world, &[host]);
        text(&report, "endpoint", "detail").to_string()
    };
    for (host, api, kind) in [
        (
            "123456789012.dkr.ecr-fips.us-gov-west-1.amazonaws.com",
            "https://api.ecr-fips.us-gov-west-1.amazonaws.com",
            "the FIPS endpoint, from the host",
        ),
        (
            "123456789012.dkr-ecr.us-west-2.on.aws",
            "https://ecr.us-west-2.api.aws",
            "the dual-stack endpoint, from the host",
        ),
        (
            "public.ecr.aws",
            "https://api.ecr-public.us-east-1.amazonaws.com",
            "the standard endpoint",
        ),
    ] {
        let detail = endpoint(&world, host);
        assert!(
            detail.contains(&format!("API {api}: {kind}")),
            "{host}: {detail}"
        );
    }
    world.set("AWS_ENDPOINT_URL_ECR", "https://user:pw@vpce.example:8443");
    let detail = endpoint(
        &world,
        "123456789012.dkr.ecr-fips.us-gov-west-1.amazonaws.com",
    );
    assert!(
        detail.contains(
            "API https://…@vpce.example:8443: an explicit endpoint (AWS_ENDPOINT_URL_ECR)"
        ),
        "{detail}"
    );
}

#[test]
fn without_host_checks_every_registry_the_docker_config_sends_here() {
    let moto = Moto::start();
    let world = healthy(&moto);
    let other = "222222222222.dkr.ecr.eu-west-1.amazonaws.com";
    docker_config(
        &world,
        &format!(
            r#"{{"credHelpers": {{"{HOST}": "ecr-login", "https://{other}": "ecr-login", "quay.io": "ecr-login", "ghcr.io": "pass"}}}}"#
        ),
    );
    let (output, report) = doctor_json(&world, &[]);
    assert_eq!(output.status.code(), Some(1), "{report:#}");
    let checks = report["checks"].as_array().expect("checks");
    let of = |host: &str, name: &str| {
        checks
            .iter()
            .find(|c| c["host"] == host && c["name"] == name)
            .unwrap_or_else(|| panic!("no {name} for {host}: {report:#}"))
    };
    assert_eq!(of(HOST, "cache")["status"], "ok");
    assert_eq!(of(HOST, "route")["status"], "ok");
    // A key with a scheme is never looked up by Docker.
    let schemed = format!("https://{other}");
    assert_eq!(of(&schemed, "docker-helper")["status"], "fail");
    assert!(
        of(&schemed, "docker-helper")["fix"]
            .as_str()
            .is_some_and(|f| f.contains("rename"))
    );
    assert_eq!(of("quay.io", "route")["status"], "fail");
    assert!(
        !checks.iter().any(|c| c["host"] == "ghcr.io"),
        "another helper's registry"
    );
    // The ambient identity is checked once, without a host; no token is fetched.
    assert_eq!(status(&report, "identity"), "ok");
    assert!(check(&report, "identity").get("host").is_none());
    assert_eq!(moto.count("ecr:GetAuthorizationToken"), 0);
    assert_no_secret(&output, &[]);
}

/// An STS stand-in whose `Date` header is 10 minutes ahead: the skew is a warning (the call
/// itself worked), named with its size.
#[test]
fn clock_skew_beyond_five_minutes_is_a_warning() {
    let sts = SkewedSts::start(time::Duration::minutes(10));
    let moto = Moto::start();
    let mut world = healthy(&moto);
    world.set(
        "AWS_ENDPOINT_URL_STS",
        &format!("http://127.0.0.1:{}", sts.port),
    );
    let (output, report) = doctor_json(&world, &[HOST]);
    assert_eq!(output.status.code(), Some(0), "{report:#}");
    assert_eq!(status(&report, "identity"), "ok", "{report:#}");
    assert_eq!(status(&report, "clock"), "warn");
    let detail = text(&report, "clock", "detail");
    assert!(detail.contains("behind the API's"), "{detail}");
    assert!(
        detail.contains("10m 0") || detail.contains("9m 5"),
        "{detail}"
    );
    assert!(text(&report, "clock", "fix").contains("synchronise the clock"));
}

/// Answers every request with a fixed `GetCallerIdentity` result and a `Date` `ahead` of now.
struct SkewedSts {
    port: u16,
}

impl SkewedSts {
    fn start(ahead: time::Duration) -> SkewedSts {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        std::thread::spawn(move || {
            for mut stream in listener.incoming().flatten() {
                let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
                read_request(&mut stream);
                let body = "<GetCallerIdentityResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">\
                    <GetCallerIdentityResult><Arn>arn:aws:iam::123456789012:user/skewed</Arn>\
                    <UserId>AIDASKEWED</UserId><Account>123456789012</Account></GetCallerIdentityResult>\
                    <ResponseMetadata><RequestId>1</RequestId></ResponseMetadata></GetCallerIdentityResponse>";
                let format = time::macros::format_description!(
                    "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
                );
                let date = (time::OffsetDateTime::now_utc() + ahead)
                    .format(&format)
                    .expect("date");
                let reply = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\nDate: {date}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = stream.write_all(reply.as_bytes());
            }
        });
        SkewedSts { port }
    }
}

/// Reads one HTTP request (head and `Content-Length` body).
fn read_request(stream: &mut std::net::TcpStream) {
    let mut data = Vec::new();
    let mut buf = [0u8; 4096];
    while let Ok(n) = stream.read(&mut buf) {
        if n == 0 {
            break;
        }
        data.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&data);
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let length = head
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length:")
                        .map(|v| v.trim().parse().unwrap_or(0))
                })
                .unwrap_or(0usize);
            if body.len() >= length {
                break;
            }
        }
    }
}
