//! The helper as a real process against moto (a real AWS API emulator) on loopback.
//! Call counts come from the launcher's counters, so "cache hit" means "no API call was made".

mod support;

use ecr_login::identity::go_checksum;
use std::time::{Duration, Instant};
use support::*;

#[test]
fn get_fetches_once_then_serves_from_cache() {
    let moto = Moto::start();
    let world = World::new(&moto);
    for _ in 0..3 {
        assert_credentials(&world.get(HOST), HOST, &password_for(ACCOUNT));
    }
    assert_eq!(
        moto.count("ecr:GetAuthorizationToken"),
        1,
        "{:?}",
        moto.calls()
    );
    // The echoed ServerURL is the trimmed input, scheme and path included.
    let url = format!("https://{HOST}/v2/team/app");
    assert_credentials(
        &world.get(&format!("  {url}\n")),
        &url,
        &password_for(ACCOUNT),
    );
    assert_eq!(moto.count("ecr:GetAuthorizationToken"), 1);
    // A second account is a second registry and a second token.
    let other = "210987654321.dkr.ecr.eu-west-1.amazonaws.com";
    assert_credentials(&world.get(other), other, &password_for("210987654321"));
    assert_eq!(moto.count("ecr:GetAuthorizationToken"), 2);

    let list = world.run(&["list"], b"unused");
    assert_eq!(
        stdout(&list),
        format!("{{\"https://{HOST}\":\"AWS\",\"https://{other}\":\"AWS\"}}\n")
    );
    assert_eq!(
        moto.count("ecr:GetAuthorizationToken"),
        2,
        "list makes no API call"
    );

    let log = world.log_text();
    assert!(log.contains("fetched a new authorization token"), "{log}");
    assert!(
        !log.contains(&password_for(ACCOUNT)),
        "the log never holds a token: {log}"
    );
}

#[test]
fn ecr_public_uses_its_own_api() {
    let moto = Moto::start();
    let world = World::new(&moto);
    assert_credentials(
        &world.get("public.ecr.aws"),
        "public.ecr.aws",
        "public-auth-token",
    );
    assert_credentials(
        &world.get("public.ecr.aws"),
        "public.ecr.aws",
        "public-auth-token",
    );
    assert_eq!(
        moto.count("ecr-public:GetAuthorizationToken"),
        1,
        "{:?}",
        moto.calls()
    );
    assert_eq!(
        stdout(&world.run(&["list"], b"")),
        "{\"https://public.ecr.aws\":\"AWS\"}\n"
    );
}

/// The Go helper keys on the temporary access key id, so every call under an assumed role is
/// a miss plus an STS call. Here the identity is the profile's definition: 1 STS + 1 ECR.
#[test]
fn assume_role_profile_hits_the_cache() {
    let moto = Moto::start();
    let mut world = World::new(&moto);
    world
        .unset("AWS_ACCESS_KEY_ID")
        .unset("AWS_SECRET_ACCESS_KEY")
        .set("AWS_PROFILE", "dev");
    world.write_home_file(
        ".aws/config",
        "[profile base]\nregion = us-east-1\n\n[profile dev]\nrole_arn = arn:aws:iam::123456789012:role/ecr-pull\nsource_profile = base\n",
    );
    world.write_home_file(
        ".aws/credentials",
        "[base]\naws_access_key_id = AKIABASE\naws_secret_access_key = basesecret\n",
    );
    for _ in 0..3 {
        assert_credentials(&world.get(HOST), HOST, &password_for(ACCOUNT));
    }
    assert_eq!(moto.count("sts:AssumeRole"), 1, "{:?}", moto.calls());
    assert_eq!(
        moto.count("ecr:GetAuthorizationToken"),
        1,
        "{:?}",
        moto.calls()
    );
}

#[test]
fn twenty_concurrent_gets_make_one_api_call() {
    let moto = Moto::start();
    let world = World::new(&moto);
    moto.fault("slow"); // every token call takes 0.7 s, so all 20 overlap the first one
    for output in world.concurrent_gets(HOST, 20) {
        assert_credentials(&output, HOST, &password_for(ACCOUNT));
    }
    assert_eq!(
        moto.count("ecr:GetAuthorizationToken"),
        1,
        "{:?}",
        moto.calls()
    );
}

#[test]
fn token_issued_already_expired_is_returned_but_not_reused() {
    let moto = Moto::start();
    let world = World::new(&moto);
    moto.fault("expired");
    assert_credentials(&world.get(HOST), HOST, &password_for(ACCOUNT));
    assert_credentials(&world.get(HOST), HOST, &password_for(ACCOUNT));
    assert_eq!(
        moto.count("ecr:GetAuthorizationToken"),
        2,
        "an expired token is never a cache hit"
    );
    assert!(world.log_text().contains("already expired"));
}

#[test]
fn api_down_with_fresh_cache_serves_it_without_calling() {
    let moto = Moto::start();
    let world = World::new(&moto);
    seed_cache(
        &world,
        &static_key("us-east-1", ACCOUNT),
        "cached-pass",
        Duration::from_secs(60),
        12 * 3600,
    );
    moto.fault("error500");
    assert_credentials(&world.get(HOST), HOST, "cached-pass");
    assert_eq!(moto.count("ecr:GetAuthorizationToken"), 0);
}

#[test]
fn api_down_with_stale_cache_serves_the_unexpired_token() {
    let moto = Moto::start();
    let mut world = World::new(&moto);
    world.set("AWS_MAX_ATTEMPTS", "1");
    // requested 10 h ago, 2 h left: past the half-life refresh point, not expired
    seed_cache(
        &world,
        &static_key("us-east-1", ACCOUNT),
        "stale-pass",
        Duration::from_secs(10 * 3600),
        2 * 3600,
    );
    moto.fault("error500");
    let output = world.get(HOST);
    assert_credentials(&output, HOST, "stale-pass");
    assert!(
        moto.count("ecr:GetAuthorizationToken") >= 1,
        "a refresh was attempted"
    );
    assert!(
        world
            .log_text()
            .contains("serving the cached token until it expires")
    );
    // once the API is back, the stale entry is replaced
    moto.fault("none");
    assert_credentials(&world.get(HOST), HOST, &password_for(ACCOUNT));
}

#[test]
fn api_down_with_expired_cache_fails_with_a_clear_line() {
    let moto = Moto::start();
    let world = World::new(&moto);
    seed_cache(
        &world,
        &static_key("us-east-1", ACCOUNT),
        "expired-pass",
        Duration::from_secs(13 * 3600),
        -3600,
    );
    moto.fault("error500");
    let output = world.get(HOST);
    assert_not_found(&output);
    let err = stderr(&output);
    assert!(
        err.contains(HOST) && err.contains("ECR API call failed"),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "one line: {err}");
    assert!(!err.contains("expired-pass"));
    assert!(
        moto.count("ecr:GetAuthorizationToken") >= 2,
        "HTTP 500s are retried: {:?}",
        moto.calls()
    );
}

#[test]
fn access_denied_is_named() {
    let moto = Moto::start();
    let world = World::new(&moto);
    moto.fault("denied");
    let output = world.get(HOST);
    assert_not_found(&output);
    assert!(
        stderr(&output).contains("ecr:GetAuthorizationToken"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn hung_api_is_cut_off_by_the_deadline() {
    let moto = Moto::start();
    let mut world = World::new(&moto);
    world.set("AWS_ECR_FETCH_TIMEOUT", "1.5");
    moto.fault("hang");
    let started = Instant::now();
    let output = world.get(HOST);
    let elapsed = started.elapsed();
    assert_not_found(&output);
    assert!(elapsed < Duration::from_secs(4), "took {elapsed:?}");
    assert!(
        stderr(&output).contains("unreachable within 1.5 s"),
        "{}",
        stderr(&output)
    );
}

/// No credentials anywhere, and a metadata endpoint that accepts connections but never
/// answers: the Go helper takes ~19 s here. Target: the sentinel within 1.5 s.
#[test]
fn no_credentials_and_hung_metadata_fail_fast() {
    let hole = BlackHole::start();
    let mut world = World::bare();
    world.set(
        "AWS_EC2_METADATA_SERVICE_ENDPOINT",
        &format!("http://127.0.0.1:{}", hole.port),
    );
    world.set(
        "AWS_ENDPOINT_URL_ECR",
        &format!("http://127.0.0.1:{}", hole.port),
    );
    let started = Instant::now();
    let output = world.get(HOST);
    let elapsed = started.elapsed();
    assert_not_found(&output);
    assert!(elapsed < Duration::from_millis(1500), "took {elapsed:?}");
    assert!(
        stderr(&output).contains("no AWS credentials found"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn corrupt_cache_is_moved_aside_and_rebuilt() {
    let moto = Moto::start();
    let world = World::new(&moto);
    std::fs::create_dir_all(world.cache_dir()).expect("mkdir");
    std::fs::write(world.cache_file(), b"{\"Registries\": garbage").expect("write");
    assert_credentials(&world.get(HOST), HOST, &password_for(ACCOUNT));
    assert_eq!(
        std::fs::read(world.cache_dir().join("cache.json.corrupt")).expect("aside"),
        b"{\"Registries\": garbage"
    );
    let rebuilt: serde_json::Value =
        serde_json::from_slice(&std::fs::read(world.cache_file()).expect("cache")).expect("json");
    assert_eq!(rebuilt["Version"], "1.0");
    assert_credentials(&world.get(HOST), HOST, &password_for(ACCOUNT));
    assert_eq!(moto.count("ecr:GetAuthorizationToken"), 1);
}

/// An unwritable cache location degrades to "no cache", never to a failed `get`.
#[test]
fn unwritable_cache_dir_degrades_to_no_cache() {
    let moto = Moto::start();
    let mut world = World::new(&moto);
    // A path below a regular file can be created by no one, root included.
    let blocker = world.path("not-a-dir");
    std::fs::write(&blocker, b"").expect("write");
    world.set(
        "AWS_ECR_CACHE_DIR",
        &blocker.join("ecr").display().to_string(),
    );
    assert_credentials(&world.get(HOST), HOST, &password_for(ACCOUNT));
    assert_credentials(&world.get(HOST), HOST, &password_for(ACCOUNT));
    assert_eq!(moto.count("ecr:GetAuthorizationToken"), 2);
}

/// A read-only cache (a read-only bind mount in a private mount namespace, so that root is
/// refused too) holding a stale entry: the refresh's write fails, the fetched token is still
/// served, and the file is left exactly as it was.
#[test]
fn read_only_cache_with_a_stale_entry_still_answers() {
    let moto = Moto::start();
    let world = World::new(&moto);
    seed_cache(
        &world,
        &static_key("us-east-1", ACCOUNT),
        "stale",
        Duration::from_secs(7 * 3600),
        5 * 3600,
    );
    let before = std::fs::read(world.cache_file()).expect("seeded");
    let mut command = std::process::Command::new("unshare");
    command
        .args(["--mount", "--propagation", "private", "sh", "-c"])
        .arg(r#"mount --bind "$1" "$1" && mount -o remount,bind,ro "$1" && exec "$2" get"#)
        .args(["sh", &world.cache_dir().display().to_string(), BIN])
        .env_clear()
        .envs(&world.env);
    let output = run_with_stdin(command, HOST.as_bytes());
    assert_credentials(&output, HOST, &password_for(ACCOUNT));
    assert_eq!(moto.count("ecr:GetAuthorizationToken"), 1);
    assert_eq!(std::fs::read(world.cache_file()).expect("kept"), before);
}

/// A cache directory others may write is not read (a planted fresh entry is not served) and
/// not written; one warning line says why, and `get` still answers.
#[cfg(unix)]
#[test]
fn untrusted_cache_directory_is_not_used() {
    use std::os::unix::fs::PermissionsExt;
    let moto = Moto::start();
    let world = World::new(&moto);
    seed_cache(
        &world,
        &static_key("us-east-1", ACCOUNT),
        "planted",
        Duration::from_secs(60),
        11 * 3600,
    );
    let planted = std::fs::read(world.cache_file()).expect("seeded");
    std::fs::set_permissions(world.cache_dir(), std::fs::Permissions::from_mode(0o777))
        .expect("chmod");
    let output = world.get(HOST);
    assert_eq!(output.status.code(), Some(0));
    assert_eq!(
        stdout(&output),
        format!(
            "{{\"ServerURL\":\"{HOST}\",\"Username\":\"AWS\",\"Secret\":\"{}\"}}\n",
            password_for(ACCOUNT)
        )
    );
    let warning = stderr(&output);
    assert_eq!(warning.lines().count(), 1, "{warning}");
    assert!(
        warning.contains("warning: not using the token cache")
            && warning.contains("writable by group or others"),
        "{warning}"
    );
    assert_eq!(moto.count("ecr:GetAuthorizationToken"), 1);
    assert_eq!(std::fs::read(world.cache_file()).expect("kept"), planted);
    assert!(
        !world.cache_dir().join("log").exists(),
        "no log there either"
    );
}

/// The refresh lock is held by another process for the whole deadline, which writes a fresh
/// token just before it ends: the waiter reads the cache once more and serves it. Without a
/// token it says that another process is refreshing, not that the API was unreachable.
#[test]
fn lock_wait_timeout_reads_the_cache_again() {
    let moto = Moto::start();
    let mut world = World::new(&moto);
    world.set("AWS_ECR_FETCH_TIMEOUT", "1");
    let key = static_key("us-east-1", ACCOUNT);
    std::fs::create_dir_all(world.cache_dir()).expect("mkdir");
    let name: String = go_checksum(&key)
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .take(24)
        .collect();
    let lock =
        std::fs::File::create(world.cache_dir().join(format!(".lock-{name}"))).expect("lock");
    lock.lock().expect("hold the refresh lock");

    let output = world.get(HOST);
    assert_not_found(&output);
    assert!(
        stderr(&output).contains("another process is refreshing the token"),
        "{}",
        stderr(&output)
    );

    let writer = {
        let world_cache = world.cache_file();
        let key = key.clone();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(500));
            seed_file(
                &world_cache,
                &key,
                "written-by-holder",
                Duration::ZERO,
                12 * 3600,
            );
        })
    };
    let output = world.get(HOST);
    writer.join().expect("writer");
    assert_credentials(&output, HOST, "written-by-holder");
    assert_eq!(moto.count("ecr:GetAuthorizationToken"), 0);
    drop(lock);
}

#[test]
fn disabled_cache_always_fetches() {
    let moto = Moto::start();
    let mut world = World::new(&moto);
    world.set("AWS_ECR_DISABLE_CACHE", "1");
    assert_credentials(&world.get(HOST), HOST, &password_for(ACCOUNT));
    assert_credentials(&world.get(HOST), HOST, &password_for(ACCOUNT));
    assert_eq!(moto.count("ecr:GetAuthorizationToken"), 2);
    assert!(!world.cache_file().exists());
    assert_eq!(stdout(&world.run(&["list"], b"")), "{}\n");
}

/// Static keys hash exactly like the Go helper 0.12+'s cache key, so an entry it wrote is a hit here.
#[test]
fn go_helper_entries_for_static_keys_are_shared() {
    let moto = Moto::start();
    let world = World::new(&moto);
    seed_cache(
        &world,
        &format!("us-east-1-{}-{ACCOUNT}", go_checksum("testing")),
        "from-go",
        Duration::from_secs(60),
        12 * 3600,
    );
    assert_credentials(&world.get(HOST), HOST, "from-go");
    assert_eq!(moto.count("ecr:GetAuthorizationToken"), 0);
}

#[test]
fn list_shows_only_this_identitys_unexpired_entries() {
    let moto = Moto::start();
    let world = World::new(&moto);
    assert_credentials(&world.get(HOST), HOST, &password_for(ACCOUNT));
    let mut other = World::new(&moto);
    other.set(
        "AWS_ECR_CACHE_DIR",
        &world.cache_dir().display().to_string(),
    );
    other.set("AWS_ACCESS_KEY_ID", "someone-else");
    assert_eq!(stdout(&other.run(&["list"], b"")), "{}\n");
    assert_eq!(
        stdout(&world.run(&["list"], b"")),
        format!("{{\"https://{HOST}\":\"AWS\"}}\n")
    );
}

#[test]
fn non_ecr_hosts_get_the_sentinel_silently_without_network() {
    let moto = Moto::start();
    let world = World::new(&moto);
    for host in [
        "https://index.docker.io/v1/",
        "ghcr.io",
        "123456789012.dkr.ecr.us-east-1.amazonaws.com.evil.example",
    ] {
        let output = world.get(host);
        assert_not_found(&output);
        assert_eq!(stderr(&output), "", "{host}");
    }
    assert!(moto.calls().is_empty(), "{:?}", moto.calls());
}

/// At the default level a cache hit writes nothing, and the log never grows past its cap.
#[test]
fn log_is_quiet_on_hits_and_rotates_at_its_cap() {
    let moto = Moto::start();
    let mut world = World::new(&moto);
    world.set("AWS_ECR_LOG_LEVEL", "info");
    assert_credentials(&world.get(HOST), HOST, &password_for(ACCOUNT));
    let after_fetch = world.log_text();
    assert!(
        after_fetch.contains("fetched a new authorization token"),
        "{after_fetch}"
    );
    assert_credentials(&world.get(HOST), HOST, &password_for(ACCOUNT));
    assert_eq!(
        world.log_text(),
        after_fetch,
        "a cache hit logs nothing at info"
    );

    let log_dir = world.cache_dir().join("log");
    std::fs::write(log_dir.join("ecr-login.log"), vec![b'x'; 1024 * 1024]).expect("fill log");
    world.set("AWS_ECR_DISABLE_CACHE", "true");
    assert_credentials(&world.get(HOST), HOST, &password_for(ACCOUNT));
    let rotated = std::fs::metadata(log_dir.join("ecr-login.log.1"))
        .expect("rotated file")
        .len();
    assert_eq!(rotated, 1024 * 1024);
    let current = std::fs::metadata(log_dir.join("ecr-login.log"))
        .expect("new log")
        .len();
    assert!(
        current > 0 && current < 4096,
        "fresh log after rotation: {current} bytes"
    );
}

/// Both helpers can share `~/.ecr`: the Go helper (Debian's package, if installed) parses the
/// file we write — its `list` shows our entry — and its own run does not delete or corrupt it.
/// Its API calls are sent to a closed loopback port through a proxy, so nothing leaves the host.
#[test]
fn go_helper_reads_and_keeps_our_cache_file() {
    let go = std::path::Path::new("/usr/bin/docker-credential-ecr-login");
    assert!(
        go.exists(),
        "Debian's amazon-ecr-credential-helper is missing: run install/test-deps.sh"
    );
    let moto = Moto::start();
    let mut world = World::new(&moto);
    assert_credentials(&world.get(HOST), HOST, &password_for(ACCOUNT));
    let ours = std::fs::read(world.cache_file()).expect("cache written");
    world
        .set("HTTPS_PROXY", "http://127.0.0.1:9")
        .set("NO_PROXY", "127.0.0.1");
    let run_go = |action: &str, input: &str| {
        // the same clean environment as ours, the other binary
        let mut cmd = std::process::Command::new(go);
        cmd.arg(action).env_clear().envs(&world.env);
        let mut child = cmd
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("spawn go helper");
        use std::io::Write;
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(input.as_bytes())
            .expect("write");
        child.wait_with_output().expect("wait")
    };
    let listed = run_go("list", "unused");
    assert!(
        stdout(&listed).contains(&format!("\"https://{HOST}\":\"AWS\"")),
        "{}",
        stdout(&listed)
    );
    let _ = run_go("get", HOST);
    let after: serde_json::Value =
        serde_json::from_slice(&std::fs::read(world.cache_file()).expect("still there"))
            .expect("json");
    let before: serde_json::Value = serde_json::from_slice(&ours).expect("json");
    for (key, entry) in before["Registries"].as_object().expect("registries") {
        assert_eq!(
            &after["Registries"][key], entry,
            "our entry {key} survived the Go helper"
        );
    }
    assert_credentials(&world.get(HOST), HOST, &password_for(ACCOUNT));
    assert_eq!(moto.count("ecr:GetAuthorizationToken"), 1);
}

/// A selected profile that defines no credentials does not decide the key: the SDK moves on
/// (here to web identity), and two different roles must never share a cache entry.
#[test]
fn undefined_profile_does_not_merge_identities() {
    let moto = Moto::start();
    let mut first = World::new(&moto);
    first
        .unset("AWS_ACCESS_KEY_ID")
        .unset("AWS_SECRET_ACCESS_KEY")
        .set("AWS_PROFILE", "nosuch");
    first.write_home_file("web-token", "eyJhbGciOiJub25lIn0.e30.");
    let token_file = first.home().join("web-token").display().to_string();
    first.set("AWS_WEB_IDENTITY_TOKEN_FILE", &token_file);
    let mut second = World::new(&moto);
    second.env = first.env.clone();
    first.set("AWS_ROLE_ARN", "arn:aws:iam::123456789012:role/a");
    second.set("AWS_ROLE_ARN", "arn:aws:iam::123456789012:role/b");
    assert_credentials(&first.get(HOST), HOST, &password_for(ACCOUNT));
    assert_credentials(&second.get(HOST), HOST, &password_for(ACCOUNT));
    assert_eq!(
        moto.count("sts:AssumeRoleWithWebIdentity"),
        2,
        "{:?}",
        moto.calls()
    );
    assert_eq!(
        moto.count("ecr:GetAuthorizationToken"),
        2,
        "role b is not served role a's token"
    );
    assert_credentials(&first.get(HOST), HOST, &password_for(ACCOUNT));
    assert_eq!(
        moto.count("ecr:GetAuthorizationToken"),
        2,
        "each role still hits its own entry"
    );
}

/// A fresh entry whose token does not decode is refetched, never served or trusted.
#[test]
fn unusable_cached_token_is_refetched() {
    let moto = Moto::start();
    let world = World::new(&moto);
    seed_cache(
        &world,
        &static_key("us-east-1", ACCOUNT),
        "x",
        Duration::from_secs(60),
        12 * 3600,
    );
    let text = std::fs::read_to_string(world.cache_file()).expect("cache");
    let broken = text.replace(&base64_of("AWS:x"), "bm9jb2xvbg==");
    std::fs::write(world.cache_file(), broken).expect("write");
    assert_credentials(&world.get(HOST), HOST, &password_for(ACCOUNT));
    assert_eq!(moto.count("ecr:GetAuthorizationToken"), 1);
}

fn base64_of(text: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(text)
}

/// API hung, stale token cached, three `get`s at once: one refresh attempt, bounded by the
/// deadline; the waiters get the still-valid token as soon as that attempt gives up.
#[test]
fn hung_api_with_stale_cache_costs_one_deadline_not_one_per_caller() {
    let moto = Moto::start();
    let mut world = World::new(&moto);
    world.set("AWS_ECR_FETCH_TIMEOUT", "2");
    seed_cache(
        &world,
        &static_key("us-east-1", ACCOUNT),
        "stale-pass",
        Duration::from_secs(7 * 3600),
        5 * 3600,
    );
    moto.fault("hang");
    let started = Instant::now();
    for output in world.concurrent_gets(HOST, 3) {
        assert_credentials(&output, HOST, "stale-pass");
    }
    let elapsed = started.elapsed();
    assert!(elapsed < Duration::from_millis(3500), "took {elapsed:?}");
    assert_eq!(
        moto.count("ecr:GetAuthorizationToken"),
        1,
        "{:?}",
        moto.calls()
    );
}

/// Even at `trace` the log holds neither the access key id nor the token: the SDK's own debug
/// events (which print resolved identities) are capped.
#[test]
fn verbose_log_never_holds_key_ids_or_tokens() {
    let moto = Moto::start();
    let mut world = World::new(&moto);
    world
        .set("AWS_ACCESS_KEY_ID", "AKIAUNIQUEKEYID12345")
        .set("AWS_SESSION_TOKEN", "session-token-67890");
    for level in ["debug", "trace"] {
        world
            .set("AWS_ECR_LOG_LEVEL", level)
            .set("AWS_ECR_DISABLE_CACHE", "1");
        let output = world.get(HOST);
        assert_credentials(&output, HOST, &password_for(ACCOUNT));
        let log = world.log_text();
        assert!(log.contains("fetched a new authorization token"), "{log}");
        for secret in [
            "AKIAUNIQUEKEYID12345",
            "session-token-67890",
            &password_for(ACCOUNT),
            "testing",
        ] {
            assert!(!log.contains(secret), "{level} log holds {secret}");
            assert!(!stderr(&output).contains(secret));
        }
    }
}

/// `HTTP(S)_PROXY` and `NO_PROXY` are honoured for the AWS API, as by the SDK's default client
/// and the Go helper. The "proxy" here is a loopback listener that records what it is asked.
#[test]
fn proxy_environment_is_honoured() {
    use std::io::{BufRead, BufReader, Write};
    let moto = Moto::start();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let proxy_port = listener.local_addr().expect("addr").port();
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let log = seen.clone();
    std::thread::spawn(move || {
        for mut stream in listener.incoming().flatten() {
            let mut first = String::new();
            let _ = BufReader::new(&stream).read_line(&mut first);
            log.lock().expect("lock").push(first.trim().to_string());
            let _ = stream.write_all(
                b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            );
        }
    });
    let mut world = World::new(&moto);
    world
        .set("HTTP_PROXY", &format!("http://127.0.0.1:{proxy_port}"))
        .set("AWS_MAX_ATTEMPTS", "1");
    world.set("AWS_ECR_FETCH_TIMEOUT", "3");
    assert_not_found(&world.get(HOST));
    let requests = seen.lock().expect("lock").clone();
    assert!(
        requests
            .iter()
            .any(|line| line.starts_with(&format!("POST {}/", moto.url()))),
        "the API call went through the proxy: {requests:?}"
    );
    assert_eq!(moto.count("ecr:GetAuthorizationToken"), 0);

    world.set("NO_PROXY", "127.0.0.1");
    assert_credentials(&world.get(HOST), HOST, &password_for(ACCOUNT));
    assert_eq!(
        seen.lock().expect("lock").len(),
        requests.len(),
        "NO_PROXY bypasses the proxy"
    );
}

/// An SSO profile without a valid session says what to run, for both profile styles. (No SSO
/// token file exists, so the SDK fails before any network call.)
#[test]
fn sso_profile_without_session_names_the_login_command() {
    let mut world = World::bare();
    world.write_home_file(
        ".aws/config",
        "[profile dev]\nsso_session = corp\nsso_account_id = 123456789012\nsso_role_name = Dev\n\
         [sso-session corp]\nsso_start_url = https://corp.example/start\nsso_region = us-east-1\n\
         [profile old]\nsso_start_url = https://corp.example/start\nsso_region = us-east-1\n\
         sso_account_id = 123456789012\nsso_role_name = Dev\n",
    );
    world.set("AWS_EC2_METADATA_DISABLED", "true");
    for profile in ["dev", "old"] {
        world.set("AWS_PROFILE", profile);
        let output = world.get(HOST);
        assert_not_found(&output);
        let expected = format!("run `aws sso login --profile {profile}`");
        assert!(stderr(&output).contains(&expected), "{}", stderr(&output));
    }
}
