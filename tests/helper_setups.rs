//! The helper on set-ups the basic world does not model (issue 8): explicit endpoints with FIPS
//! and dual-stack hosts, profiles that fail in specific ways, `aws login` profiles, processes
//! without a home directory, log hygiene and the settings' own diagnostics.

mod support;

use std::io::{Read, Write};
use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};
use support::*;

/// `get` for every host form answers with moto's token, one API call each.
fn assert_every_host_form_gets_a_token(moto: &Moto, world: &World) {
    moto.reset();
    for (host, account) in PRIVATE_HOSTS {
        assert_credentials(&world.get(host), host, &password_for(account));
    }
    for host in PUBLIC_HOSTS {
        assert_credentials(&world.get(host), host, "public-auth-token");
    }
    assert_eq!(
        moto.count("ecr:GetAuthorizationToken"),
        PRIVATE_HOSTS.len() as u64
    );
    assert_eq!(
        moto.count("ecr-public:GetAuthorizationToken"),
        PUBLIC_HOSTS.len() as u64
    );
}

fn fetching_world(moto: &Moto) -> World {
    let mut world = World::new(moto);
    world.set("AWS_ECR_DISABLE_CACHE", "1");
    world
}

#[test]
fn service_endpoint_variables_win_for_fips_and_dual_stack_hosts() {
    let moto = Moto::start();
    let world = fetching_world(&moto);
    assert_every_host_form_gets_a_token(&moto, &world);
}

#[test]
fn global_endpoint_variable_wins() {
    let moto = Moto::start();
    let mut world = fetching_world(&moto);
    world
        .unset("AWS_ENDPOINT_URL_ECR")
        .unset("AWS_ENDPOINT_URL_ECR_PUBLIC")
        .set("AWS_ENDPOINT_URL", &moto.url());
    assert_every_host_form_gets_a_token(&moto, &world);
    // ... and ignored when the user says so: the host's own FIPS endpoint is asked for, here of
    // a loopback proxy that answers nothing useful, so no traffic leaves the machine.
    let proxy = FirstLines::start();
    world
        .set("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "true")
        .set("HTTPS_PROXY", &proxy.url())
        .set("AWS_MAX_ATTEMPTS", "1")
        .set("AWS_ECR_FETCH_TIMEOUT", "2");
    moto.reset();
    assert_not_found(&world.get("123456789012.dkr.ecr-fips.us-gov-west-1.amazonaws.com"));
    assert_eq!(moto.count("ecr:GetAuthorizationToken"), 0);
    assert_eq!(
        proxy.lines(),
        vec!["CONNECT api.ecr-fips.us-gov-west-1.amazonaws.com:443 HTTP/1.1".to_string()]
    );
}

/// A loopback proxy that records each connection's first line and answers 502.
struct FirstLines {
    port: u16,
    seen: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl FirstLines {
    fn start() -> FirstLines {
        use std::io::BufRead;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let log = seen.clone();
        std::thread::spawn(move || {
            for mut stream in listener.incoming().flatten() {
                let mut first = String::new();
                let _ = std::io::BufReader::new(&stream).read_line(&mut first);
                if let Ok(mut lines) = log.lock() {
                    lines.push(first.trim().to_string());
                }
                let _ = stream.write_all(
                    b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                );
            }
        });
        FirstLines { port, seen }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn lines(&self) -> Vec<String> {
        self.seen.lock().map(|l| l.clone()).unwrap_or_default()
    }
}

#[test]
fn profile_endpoints_win() {
    let moto = Moto::start();
    let mut world = fetching_world(&moto);
    world
        .unset("AWS_ENDPOINT_URL_ECR")
        .unset("AWS_ENDPOINT_URL_ECR_PUBLIC");
    world.write_home_file(
        ".aws/config",
        &format!("[default]\nendpoint_url = {}\n", moto.url()),
    );
    assert_every_host_form_gets_a_token(&moto, &world);
    world.write_home_file(
        ".aws/config",
        &format!(
            "[default]\nservices = local\n[services local]\necr =\n  endpoint_url = {url}\n\
             ecr-public =\n  endpoint_url = {url}\n",
            url = moto.url()
        ),
    );
    assert_every_host_form_gets_a_token(&moto, &world);
}

/// No static keys, every AWS endpoint on moto (so nothing leaves loopback), and `config`
/// written to the home's `~/.aws/config`.
fn profile_world(moto: &Moto, profile: &str, config: &str) -> World {
    let mut world = World::new(moto);
    world
        .unset("AWS_ACCESS_KEY_ID")
        .unset("AWS_SECRET_ACCESS_KEY")
        .set("AWS_ENDPOINT_URL", &moto.url())
        .set("AWS_PROFILE", profile);
    world.write_home_file(".aws/config", config);
    world
}

fn failed_line(output: &Output) -> String {
    assert_not_found(output);
    let err = stderr(output);
    assert_eq!(err.lines().count(), 1, "one line: {err}");
    err
}

#[test]
fn a_profile_that_does_not_exist_is_named_with_the_files_read() {
    let moto = Moto::start();
    let world = profile_world(&moto, "nope", "[profile dev]\nregion = us-east-1\n");
    let err = failed_line(&world.get(HOST));
    let home = world.home().display().to_string();
    let expected = format!(
        "could not get AWS credentials for profile nope: profile `nope` does not exist \
         (read {home}/.aws/config; {home}/.aws/credentials not found)"
    );
    assert!(err.contains(&expected), "{err}");
    assert!(!err.contains("no AWS credentials found"), "{err}");
}

#[test]
fn broken_role_chains_say_what_is_broken() {
    let moto = Moto::start();
    let config = "[profile missing]\nrole_arn = arn:aws:iam::123456789012:role/r\n\
                  source_profile = ghost\n\
                  [profile a]\nrole_arn = arn:aws:iam::123456789012:role/r\nsource_profile = b\n\
                  [profile b]\nrole_arn = arn:aws:iam::123456789012:role/r\nsource_profile = a\n\
                  [profile badsource]\nrole_arn = arn:aws:iam::123456789012:role/r\n\
                  credential_source = Ec2Metadata\n";
    for (profile, expected) in [
        (
            "missing",
            "profile missing: profile `missing` has source_profile = ghost, which does not exist",
        ),
        ("a", "profile a: the source_profile chain loops: a → b → a"),
        (
            "badsource",
            "profile badsource: profile `badsource` has credential_source = Ec2Metadata, which \
             is not one of Environment, Ec2InstanceMetadata, EcsContainer",
        ),
    ] {
        let world = profile_world(&moto, profile, config);
        let err = failed_line(&world.get(HOST));
        assert!(
            err.contains(&format!("could not get AWS credentials for {expected}")),
            "{err}"
        );
        assert!(!err.contains("ECR API call failed"), "{err}");
    }
    assert!(moto.calls().is_empty(), "{:?}", moto.calls());
}

#[test]
fn sso_remedy_names_the_profile_and_the_session() {
    let moto = Moto::start();
    let config = "[profile dev]\nsso_session = corp\nsso_account_id = 123456789012\n\
                  sso_role_name = Dev\n\
                  [sso-session corp]\nsso_start_url = https://corp.example/start\n\
                  sso_region = us-east-1\n\
                  [profile deploy]\nrole_arn = arn:aws:iam::123456789012:role/r\n\
                  source_profile = dev\n";
    for profile in ["dev", "deploy"] {
        let world = profile_world(&moto, profile, config);
        let err = failed_line(&world.get(HOST));
        assert!(
            err.contains(&format!(
                "could not get AWS credentials for profile {profile}: the AWS SSO session \
                 `corp` has expired or was never started; run `aws sso login --profile dev`"
            )),
            "{err}"
        );
    }
}

/// The remedy comes from what the profile is, not from words in an error: a
/// `credential_process` that talks about SSO tokens is still a `credential_process`, and its
/// stderr (which may hold secrets) stays in the log.
#[test]
fn credential_process_failure_is_named_without_its_stderr() {
    let moto = Moto::start();
    let world = profile_world(
        &moto,
        "proc",
        "[profile proc]\ncredential_process = sh -c \"echo 'sso token expired secret-42' >&2; exit 3\"\n",
    );
    let err = failed_line(&world.get(HOST));
    assert!(
        err.contains(
            "could not get AWS credentials for profile proc: the credential_process of profile \
             `proc` failed:"
        ) && err.contains("exit status: 3"),
        "{err}"
    );
    assert!(
        err.trim_end().ends_with("its output is in the log"),
        "{err}"
    );
    assert!(!err.contains("secret-42"), "{err}");
    assert!(!err.contains("aws sso login"), "{err}");
    assert!(!err.contains("Stderr:"), "{err}");
    assert!(
        world.log_text().contains("secret-42"),
        "{}",
        world.log_text()
    );
}

#[test]
fn aws_login_profile_uses_the_login_provider_and_names_aws_login() {
    let moto = Moto::start();
    let world = profile_world(
        &moto,
        "signin",
        "[profile signin]\nlogin_session = arn:aws:iam::123456789012:user/Admin\n\
         region = us-east-1\n",
    );
    let err = failed_line(&world.get(HOST));
    assert!(
        err.contains(
            "could not get AWS credentials for profile signin: the `aws login` session has \
             expired or was never started; run `aws login --profile signin`"
        ),
        "{err}"
    );
    // The login provider ran (it looked for its token cache), not a "feature not enabled" stub.
    let log = world.log_text();
    assert!(!log.contains("feature"), "{log}");
    assert!(log.to_ascii_lowercase().contains("login"), "{log}");
}

#[test]
fn fetch_timeout_accepts_units() {
    let moto = Moto::start();
    let mut world = World::new(&moto);
    world.set("AWS_ECR_FETCH_TIMEOUT", "500ms");
    moto.fault("hang");
    let started = Instant::now();
    let output = world.get(HOST);
    let elapsed = started.elapsed();
    let err = failed_line(&output);
    assert!(elapsed < Duration::from_secs(3), "took {elapsed:?}");
    assert!(err.contains("unreachable within 0.5 s"), "{err}");
}

#[test]
fn unusable_settings_are_named_once_and_the_default_applies() {
    let moto = Moto::start();
    let mut world = World::new(&moto);
    world
        .set("AWS_ECR_FETCH_TIMEOUT", "abc")
        .set("AWS_ECR_LOG_LEVEL", "bogus");
    let output = world.get(HOST);
    assert_credentials(&output, HOST, &password_for(ACCOUNT));
    assert_eq!(
        stderr(&output),
        "docker-credential-ecr-login: AWS_ECR_FETCH_TIMEOUT=\"abc\" is not a duration such as \
         500ms, 2s, 2.5 or 1m; using 10 s\n\
         docker-credential-ecr-login: AWS_ECR_LOG_LEVEL=\"bogus\" is not one of off, error, \
         warn, info, debug, trace; using info\n"
    );
    // info: the fetch is logged, debug lines are not
    let log = world.log_text();
    assert!(log.contains("fetched a new authorization token"), "{log}");
    assert!(!log.contains("DEBUG"), "{log}");
}

fn ecr_public_500_world(moto: &Moto) -> World {
    let mut world = World::new(moto);
    world.set("AWS_MAX_ATTEMPTS", "1");
    world
}

#[test]
fn ecr_public_server_error_names_the_status() {
    let moto = Moto::start();
    let world = ecr_public_500_world(&moto);
    moto.fault("error500");
    let err = failed_line(&world.get("public.ecr.aws"));
    assert!(
        err.contains("the ECR Public API answered HTTP 500 (ServerException: injected failure)"),
        "{err}"
    );
    // A front that answers 500 with an HTML page: the status, not a JSON parse error.
    let html = HtmlError::start();
    let mut world = ecr_public_500_world(&moto);
    world.set("AWS_ENDPOINT_URL_ECR_PUBLIC", &html.url());
    let err = failed_line(&world.get("public.ecr.aws"));
    assert!(
        err.trim_end()
            .ends_with("the ECR Public API answered HTTP 500"),
        "{err}"
    );
    assert!(!err.contains("JSON"), "{err}");
}

/// `AWS_MAX_ATTEMPTS` and the profile's `max_attempts` are honoured (so tests that set it
/// really test one attempt); unset, three attempts are made.
#[test]
fn retry_attempts_follow_the_environment_and_profile() {
    let moto = Moto::start();
    let mut world = fetching_world(&moto);
    moto.fault("error500");
    for (env, profile, expected) in [(Some("1"), None, 1), (None, Some("2"), 2), (None, None, 3)] {
        moto.reset();
        moto.fault("error500");
        match env {
            Some(n) => world.set("AWS_MAX_ATTEMPTS", n),
            None => world.unset("AWS_MAX_ATTEMPTS"),
        };
        let config = profile
            .map(|n| format!("[default]\nmax_attempts = {n}\n"))
            .unwrap_or_default();
        world.write_home_file(".aws/config", &config);
        assert_not_found(&world.get(HOST));
        assert_eq!(
            moto.count("ecr:GetAuthorizationToken"),
            expected,
            "env {env:?}, profile {profile:?}"
        );
    }
}

/// Anything shaped like an AWS access key id (`AKIA…`, `ASIA…`: a 4-letter prefix and 16 more
/// of A-Z0-9).
fn key_ids_in(text: &str) -> Vec<String> {
    let bytes = text.as_bytes();
    let id_char = |b: u8| b.is_ascii_uppercase() || b.is_ascii_digit();
    (0..bytes.len().saturating_sub(19))
        .filter(|&i| {
            (bytes[i..].starts_with(b"AKIA") || bytes[i..].starts_with(b"ASIA"))
                && bytes[i..i + 20].iter().all(|b| id_char(*b))
                && (i == 0 || !id_char(bytes[i - 1]))
                && bytes.get(i + 20).is_none_or(|b| !id_char(*b))
        })
        .map(|i| text[i..i + 20].to_string())
        .collect()
}

#[test]
fn no_log_line_holds_an_access_key_id_at_any_level() {
    let moto = Moto::start();
    let mut world = World::new(&moto);
    world
        .set("AWS_ACCESS_KEY_ID", "AKIAUNIQUEKEYID12345")
        .set("AWS_ECR_DISABLE_CACHE", "1");
    world.write_home_file(
        ".aws/config",
        "[profile role]\nrole_arn = arn:aws:iam::123456789012:role/ecr\nsource_profile = base\n",
    );
    world.write_home_file(
        ".aws/credentials",
        "[base]\naws_access_key_id = AKIABASEPROFILEKEY99\naws_secret_access_key = testing\n",
    );
    for level in [None, Some("debug"), Some("trace")] {
        for profile in [None, Some("role")] {
            match level {
                Some(level) => world.set("AWS_ECR_LOG_LEVEL", level),
                None => world.unset("AWS_ECR_LOG_LEVEL"),
            };
            match profile {
                Some(profile) => world
                    .set("AWS_PROFILE", profile)
                    .unset("AWS_ACCESS_KEY_ID")
                    .unset("AWS_SECRET_ACCESS_KEY"),
                None => world
                    .unset("AWS_PROFILE")
                    .set("AWS_ACCESS_KEY_ID", "AKIAUNIQUEKEYID12345")
                    .set("AWS_SECRET_ACCESS_KEY", "testing"),
            };
            let _ = std::fs::remove_dir_all(world.cache_dir().join("log"));
            let output = world.get(HOST);
            assert_credentials(&output, HOST, &password_for(ACCOUNT));
            let log = world.log_text();
            assert!(
                log.contains("fetched a new authorization token"),
                "{level:?} {profile:?}: {log}"
            );
            assert_eq!(
                key_ids_in(&log),
                Vec::<String>::new(),
                "{level:?} {profile:?}: {log}"
            );
            assert!(key_ids_in(&stderr(&output)).is_empty());
        }
    }
    assert!(moto.count("sts:AssumeRole") >= 3, "{:?}", moto.calls());
}

#[test]
fn log_names_non_ecr_hosts_and_uses_rfc3339_timestamps() {
    let moto = Moto::start();
    let world = World::new(&moto);
    assert_not_found(&world.get("https://ghcr.io/v2/"));
    assert_credentials(&world.get(HOST), HOST, &password_for(ACCOUNT));
    let log = world.log_text();
    assert!(
        log.lines()
            .any(|l| l.contains("not an ECR registry") && l.contains("host=ghcr.io")),
        "{log}"
    );
    assert!(log.lines().count() >= 2, "{log}");
    for line in log.lines() {
        let stamp = line.split(' ').next().unwrap_or_default();
        let parsed =
            time::OffsetDateTime::parse(stamp, &time::format_description::well_known::Rfc3339);
        assert!(parsed.is_ok(), "not RFC 3339: {line}");
    }
}

/// The helper binary, copied where any uid can run it (the build directory is under root's
/// private home).
fn public_copy_of_the_binary(dir: &Path) -> std::path::PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let bin = dir.join("docker-credential-ecr-login");
    std::fs::copy(BIN, &bin).expect("copy binary");
    for path in [dir, bin.as_path()] {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    }
    bin
}

/// Without `HOME` (unset, or empty as some unit files leave it), the home directory comes from
/// the password database: here, in a private mount namespace, a copy of `/etc/passwd` whose
/// entry for this uid points at a temporary directory.
#[test]
fn without_home_the_password_database_names_the_home() {
    let moto = Moto::start();
    let world = World::new(&moto);
    let scratch = tempfile::tempdir().expect("tempdir");
    let passwd_home = scratch.path().join("home");
    std::fs::create_dir(&passwd_home).expect("mkdir");
    let uid = std::fs::metadata("/proc/self").map(|m| {
        use std::os::unix::fs::MetadataExt;
        m.uid()
    });
    let uid = uid.expect("uid").to_string();
    let mut passwd = String::new();
    std::fs::File::open("/etc/passwd")
        .and_then(|mut f| f.read_to_string(&mut passwd))
        .expect("read passwd");
    let passwd: String = passwd
        .lines()
        .map(|line| {
            let mut fields: Vec<&str> = line.split(':').collect();
            if fields.len() == 7 && fields[2] == uid {
                fields[5] = passwd_home.to_str().expect("utf-8 path");
            }
            format!("{}\n", fields.join(":"))
        })
        .collect();
    let passwd_file = scratch.path().join("passwd");
    std::fs::write(&passwd_file, passwd).expect("write passwd");
    for home in [None, Some("")] {
        let _ = std::fs::remove_dir_all(passwd_home.join(".ecr"));
        let mut command = Command::new("unshare");
        command
            .args(["--mount", "--propagation", "private", "sh", "-c"])
            .arg("mount --bind \"$1\" /etc/passwd && exec \"$2\" get")
            .arg("sh")
            .arg(&passwd_file)
            .arg(BIN)
            .env_clear()
            .envs(&world.env)
            .env_remove("HOME")
            .env_remove("AWS_ECR_CACHE_DIR");
        if let Some(home) = home {
            command.env("HOME", home);
        }
        let output = run_with_stdin(command, HOST.as_bytes());
        assert_credentials(&output, HOST, &password_for(ACCOUNT));
        assert!(
            passwd_home.join(".ecr/cache.json").is_file(),
            "HOME {home:?}: no cache in the passwd home"
        );
    }
}

/// A uid with no password entry and no `HOME`: no cache, no log, and `get` still answers.
#[test]
fn without_any_home_get_answers_without_a_cache() {
    let moto = Moto::start();
    let world = World::new(&moto);
    let dir = tempfile::tempdir().expect("tempdir");
    let bin = public_copy_of_the_binary(dir.path());
    let work = tempfile::tempdir().expect("workdir");
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(work.path(), std::fs::Permissions::from_mode(0o777))
            .expect("chmod");
    }
    let mut command = Command::new("setpriv");
    command
        .args(["--reuid", "54321", "--regid", "54321", "--clear-groups"])
        .arg(&bin)
        .arg("get")
        .current_dir(work.path())
        .env_clear()
        .envs(&world.env)
        .env_remove("HOME")
        .env_remove("AWS_ECR_CACHE_DIR");
    let output = run_with_stdin(command, HOST.as_bytes());
    assert_credentials(&output, HOST, &password_for(ACCOUNT));
    assert_eq!(stderr(&output), "");
    assert_eq!(moto.count("ecr:GetAuthorizationToken"), 1);
    let written: Vec<_> = std::fs::read_dir(work.path())
        .expect("read workdir")
        .flatten()
        .map(|e| e.path())
        .collect();
    assert!(written.is_empty(), "{written:?}");
    assert!(!Path::new("/.ecr").exists());
}

/// A loopback HTTP server answering every request with a 500 and an HTML page, as a proxy or
/// load balancer in front of the API may.
struct HtmlError {
    port: u16,
}

impl HtmlError {
    fn start() -> HtmlError {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        std::thread::spawn(move || {
            for mut stream in listener.incoming().flatten() {
                let mut request = [0u8; 65536];
                let _ = stream.set_read_timeout(Some(Duration::from_millis(500)));
                let _ = stream.read(&mut request);
                let body = "<html><body>Internal Server Error</body></html>";
                let _ = write!(
                    stream,
                    "HTTP/1.1 500 Internal Server Error\r\nContent-Type: text/html\r\n\
                     Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
            }
        });
        HtmlError { port }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

/// Which Go helper entries this helper finds, for static environment keys: the 0.12 layout
/// (base64 of SHA-256 of the key id, computed here independently) is served without an API
/// call; the layout of 0.11 and earlier (Debian's 0.6.4: the key id followed by MD5 of nothing)
/// is not.
#[test]
fn go_cache_entries_are_shared_with_0_12_only() {
    use base64::Engine as _;
    use sha2::Digest as _;
    let moto = Moto::start();
    let mut world = World::new(&moto);
    world.set("AWS_ACCESS_KEY_ID", "AKIAUNIQUEKEYID12345");
    let b64 = |bytes: &[u8]| base64::engine::general_purpose::STANDARD.encode(bytes);
    let md5_of_nothing = [
        0xd4, 0x1d, 0x8c, 0xd9, 0x8f, 0x00, 0xb2, 0x04, 0xe9, 0x80, 0x09, 0x98, 0xec, 0xf8, 0x42,
        0x7e,
    ];
    let v0_12 = b64(&sha2::Sha256::digest(b"AKIAUNIQUEKEYID12345"));
    let v0_11 = b64(&[b"AKIAUNIQUEKEYID12345".as_slice(), &md5_of_nothing].concat());
    for (hash, served_from_cache) in [(v0_12, true), (v0_11, false)] {
        moto.reset();
        let now = time::OffsetDateTime::now_utc();
        let at = |t: time::OffsetDateTime| {
            t.format(&time::format_description::well_known::Rfc3339)
                .expect("format")
        };
        let file = serde_json::json!({
            "Registries": { format!("us-east-1-{hash}-{ACCOUNT}"): {
                "AuthorizationToken": b64(b"AWS:go-helper-pass"),
                "RequestedAt": at(now - Duration::from_secs(60)),
                "ExpiresAt": at(now + Duration::from_secs(11 * 3600)),
                "ProxyEndpoint": format!("https://{HOST}"),
                "Service": "ecr"
            }},
            "Version": "1.0"
        });
        std::fs::create_dir_all(world.cache_dir()).expect("mkdir");
        std::fs::write(world.cache_file(), file.to_string()).expect("write cache");
        let output = world.get(HOST);
        if served_from_cache {
            assert_credentials(&output, HOST, "go-helper-pass");
            assert_eq!(moto.count("ecr:GetAuthorizationToken"), 0);
        } else {
            assert_credentials(&output, HOST, &password_for(ACCOUNT));
            assert_eq!(moto.count("ecr:GetAuthorizationToken"), 1);
        }
    }
}
