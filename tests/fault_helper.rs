//! The helper under faults: processes killed mid-write, a full disk, unusable or hostile cache
//! directories, a huge cache file, clock jumps, and a stampede on a slow API. The invariants:
//! the cache always parses, nothing someone else owns is touched, no temp file piles up, and
//! every `get` that can answer does, within its deadline.
//!
//! Tests that need root (a tmpfs in a private mount namespace, files owned by another user)
//! say so on stderr and return when not root; CI runs as root.

mod support;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use support::*;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// Prints why a root-only test does nothing here; `true` means "go on".
fn root_or_skip(test: &str) -> bool {
    if !is_root() {
        eprintln!("{test}: skipped: needs root (a private mount namespace / another user's files)");
    }
    is_root()
}

fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&Rfc3339).expect("format")
}

/// A `cache.json` holding one entry under `key`.
fn cache_text(
    key: &str,
    token: &str,
    requested: OffsetDateTime,
    expires: OffsetDateTime,
) -> String {
    serde_json::json!({
        "Registries": { key: {
            "AuthorizationToken": token,
            "RequestedAt": rfc3339(requested),
            "ExpiresAt": rfc3339(expires),
            "ProxyEndpoint": format!("https://{HOST}"),
            "Service": "ecr",
        }},
        "Version": "1.0",
    })
    .to_string()
}

/// The cache key of static environment keys `key_id` for `HOST`.
fn static_key(key_id: &str) -> String {
    format!(
        "us-east-1-{}-{ACCOUNT}",
        ecr_login::identity::go_checksum(key_id)
    )
}

/// The cache file parses, is version 1.0, and every entry in it is a complete entry.
fn assert_cache_sound(path: &Path) -> usize {
    let Ok(bytes) = std::fs::read(path) else {
        return 0;
    };
    let file: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_else(|e| {
        panic!(
            "cache.json does not parse ({e}): {}",
            String::from_utf8_lossy(&bytes)
        )
    });
    assert_eq!(file["Version"], "1.0");
    let entries = file["Registries"].as_object().expect("Registries");
    for (key, entry) in entries {
        let _: ecr_login::cache::Entry = serde_json::from_value(entry.clone())
            .unwrap_or_else(|e| panic!("entry {key} is not whole: {e}"));
    }
    entries.len()
}

/// Temp files of an interrupted atomic write (`.cache.json.<random>.tmp`).
fn temp_files(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.ends_with(".tmp"))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn kill_9_at_random_moments_never_breaks_the_cache() {
    let rounds: usize = std::env::var("FAULT_KILL_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200);
    let moto = Moto::start();
    let mut world = World::new(&moto);
    world.set("AWS_ECR_LOG_LEVEL", "off");
    let (mut killed, mut finished, mut max_temps) = (0, 0, 0);
    for round in 0..rounds {
        // Three identities per round: each one a fetch and a write into the same file.
        let children: Vec<_> = (0..6)
            .map(|i| {
                let mut cmd = world.command(&["get"]);
                cmd.env("AWS_ACCESS_KEY_ID", format!("round{round}-id{}", i % 3));
                cmd.stdin(Stdio::piped())
                    .stdout(Stdio::null())
                    .stderr(Stdio::null());
                let mut child = cmd.spawn().expect("spawn helper");
                use std::io::Write as _;
                let _ = child
                    .stdin
                    .take()
                    .expect("stdin")
                    .write_all(HOST.as_bytes());
                child
            })
            .collect();
        std::thread::sleep(Duration::from_micros(fastrand::u64(0..60_000)));
        for mut child in children {
            if fastrand::bool() {
                let _ = child.kill(); // SIGKILL
            }
            match child.wait().expect("wait").code() {
                None => killed += 1,
                Some(_) => finished += 1,
            }
        }
        assert_cache_sound(&world.cache_file());
        max_temps = max_temps.max(temp_files(&world.cache_dir()).len());
    }
    report(&format!(
        "kill -9 matrix: {rounds} rounds, {killed} helpers killed, {finished} finished, at most {max_temps} orphaned temp file(s) between rounds, cache parsed after every round"
    ));
    assert!(killed > rounds, "the matrix must really kill helpers");

    // Afterwards the cache still serves and is still written.
    let out = world.get(HOST);
    assert_credentials(&out, HOST, &password_for(ACCOUNT));
    let mut fresh = world.command(&["get"]);
    fresh.env("AWS_ACCESS_KEY_ID", "after-the-matrix");
    let out = run_with_stdin(fresh, HOST.as_bytes());
    assert_credentials(&out, HOST, &password_for(ACCOUNT));
    let entries = assert_cache_sound(&world.cache_file());
    assert!(entries > rounds, "entries were written ({entries})");
    assert_eq!(
        temp_files(&world.cache_dir()),
        Vec::<String>::new(),
        "temp files of killed writers are swept by the next write"
    );
}

#[test]
fn two_hundred_cold_gets_on_a_slow_api_make_one_fetch() {
    let moto = Moto::start();
    let mut world = World::new(&moto);
    world.set("AWS_ECR_LOG_LEVEL", "off");
    world.set("AWS_ECR_FETCH_TIMEOUT", "20s");
    moto.fault_with_delay("slow", 1.5);
    let started = Instant::now();
    let outputs = world.concurrent_gets(HOST, 200);
    let took = started.elapsed();
    for output in &outputs {
        assert_credentials(output, HOST, &password_for(ACCOUNT));
    }
    assert_eq!(
        moto.count("ecr:GetAuthorizationToken"),
        1,
        "one fetch for 200 callers"
    );
    assert!(
        took < Duration::from_secs(20),
        "none past the deadline: {took:?}"
    );
    report(&format!(
        "200 concurrent cold gets, API answering in 1.5 s: 200/200 answered in {:.1} s, 1 fetch",
        took.as_secs_f64()
    ));
}

/// Runs `script` (sh) in a private mount namespace with `DIR` a 1 MiB tmpfs.
fn in_full_tmpfs(world: &World, dir: &Path, script: &str) -> std::process::Output {
    std::fs::create_dir_all(dir).expect("mount point");
    let mut cmd = Command::new("unshare");
    cmd.args(["--mount", "--propagation", "private", "sh", "-ec"])
        .arg(format!(
            "mount -t tmpfs -o size=1m tmpfs \"$DIR\"\n{script}"
        ))
        .env_clear()
        .envs(&world.env)
        .env("DIR", dir)
        .env("BIN", BIN)
        .env("HOST_NAME", HOST);
    cmd.output().expect("unshare")
}

#[test]
fn full_disk_get_still_answers_and_keeps_the_old_cache() {
    if !root_or_skip("full_disk_get_still_answers_and_keeps_the_old_cache") {
        return;
    }
    let moto = Moto::start();
    let mut world = World::new(&moto);
    let dir = world.path("full");
    world.set(
        "AWS_ECR_CACHE_DIR",
        &dir.join("cache").display().to_string(),
    );
    // Someone else's entry (another identity), which must survive.
    let now = OffsetDateTime::now_utc();
    let old = cache_text(
        &static_key("someone-else"),
        "b2xkOnRva2Vu",
        now,
        now + time::Duration::hours(12),
    );
    std::fs::write(world.path("old.json"), &old).expect("seed");
    let out = in_full_tmpfs(
        &world,
        &dir,
        &format!(
            r#"mkdir -m 700 "$DIR/cache"
cp "{seed}" "$DIR/cache/cache.json"; chmod 600 "$DIR/cache/cache.json"
head -c 2m /dev/zero > "$DIR/fill" 2>/dev/null || true
printf %s "$HOST_NAME" | "$BIN" get > "$DIR/../out" 2> "$DIR/../err" || echo "exit $?" > "$DIR/../rc"
cmp "$DIR/cache/cache.json" "{seed}" && echo intact
ls -a "$DIR/cache"
"#,
            seed = world.path("old.json").display()
        ),
    );
    let shell = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{shell}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let answer = std::fs::read_to_string(world.path("out")).expect("out");
    assert_eq!(
        answer,
        format!(
            "{{\"ServerURL\":\"{HOST}\",\"Username\":\"AWS\",\"Secret\":\"{}\"}}\n",
            password_for(ACCOUNT)
        ),
        "stderr: {}",
        std::fs::read_to_string(world.path("err")).unwrap_or_default()
    );
    assert!(!world.path("rc").exists(), "get failed on a full disk");
    assert!(shell.contains("intact"), "the old cache changed: {shell}");
    assert!(!shell.contains(".tmp"), "a temp file was left: {shell}");
    assert_eq!(moto.count("ecr:GetAuthorizationToken"), 1);
}

#[test]
fn full_disk_export_to_docker_config_fails_and_keeps_the_file() {
    if !root_or_skip("full_disk_export_to_docker_config_fails_and_keeps_the_file") {
        return;
    }
    let moto = Moto::start();
    let world = World::new(&moto);
    let dir = world.path("full");
    let before = r#"{"auths":{"ghcr.io":{"auth":"Z2g6dG9r"}},"credsStore":""}"#;
    std::fs::write(world.path("before.json"), before).expect("seed");
    std::fs::write(
        world.path("export.toml"),
        format!(
            "[[source]]\nregistry = \"{HOST}\"\n[[target]]\nname = \"local\"\ntype = \"docker-config\"\npath = \"{}\"\n[[target]]\nname = \"elsewhere\"\ntype = \"docker-config\"\npath = \"{}\"\n",
            dir.join("config.json").display(),
            world.path("elsewhere/config.json").display()
        ),
    )
    .expect("config");
    let out = in_full_tmpfs(
        &world,
        &dir,
        &format!(
            r#"cp "{seed}" "$DIR/config.json"
head -c 2m /dev/zero > "$DIR/fill" 2>/dev/null || true
"$BIN" export --config "{config}" --output json --lock "{lock}" > "$DIR/../out" 2>&1 || echo "exit $?" > "$DIR/../rc"
cmp "$DIR/config.json" "{seed}" && echo intact
ls -a "$DIR"
"#,
            seed = world.path("before.json").display(),
            config = world.path("export.toml").display(),
            lock = world.path("export.lock").display(),
        ),
    );
    let shell = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{shell}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report = std::fs::read_to_string(world.path("out")).expect("out");
    assert_eq!(
        std::fs::read_to_string(world.path("rc"))
            .unwrap_or_default()
            .trim(),
        "exit 1",
        "{report}"
    );
    let json: serde_json::Value = serde_json::from_str(&report).expect("json report");
    let targets = json["targets"].as_array().expect("targets");
    let local = targets
        .iter()
        .find(|t| t["target"] == "local")
        .expect("local");
    assert_eq!(local["result"], "failed", "{report}");
    assert!(
        local["error"]
            .as_str()
            .is_some_and(|e| e.contains("No space left")),
        "{report}"
    );
    let elsewhere = targets
        .iter()
        .find(|t| t["target"] == "elsewhere")
        .expect("elsewhere");
    assert_eq!(
        elsewhere["result"], "ok",
        "the other target still succeeds: {report}"
    );
    assert!(shell.contains("intact"), "config.json changed: {shell}");
    assert!(!shell.contains(".tmp"), "a temp file was left: {shell}");
    assert!(!report.contains(&password_for(ACCOUNT)), "{report}");
}

#[test]
fn missing_cache_directory_is_created_private() {
    let moto = Moto::start();
    let mut world = World::new(&moto);
    let deep = world.path("not/yet/there");
    world.set("AWS_ECR_CACHE_DIR", &deep.display().to_string());
    assert_credentials(&world.get(HOST), HOST, &password_for(ACCOUNT));
    use std::os::unix::fs::PermissionsExt as _;
    let mode = std::fs::metadata(&deep)
        .expect("created")
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o700);
    assert_eq!(assert_cache_sound(&world.cache_file()), 1);
    assert_credentials(&world.get(HOST), HOST, &password_for(ACCOUNT));
    assert_eq!(
        moto.count("ecr:GetAuthorizationToken"),
        1,
        "the second get is a hit"
    );
}

#[test]
fn read_only_cache_directory_serves_and_fetches() {
    if !root_or_skip("read_only_cache_directory_serves_and_fetches") {
        return;
    }
    let moto = Moto::start();
    let world = World::new(&moto);
    let now = OffsetDateTime::now_utc();
    std::fs::create_dir_all(world.cache_dir()).expect("cache dir");
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(world.cache_dir(), std::fs::Permissions::from_mode(0o700))
        .expect("chmod");
    let seeded = cache_text(
        &static_key("testing"),
        "QVdTOmZyb20tY2FjaGU=",
        now,
        now + time::Duration::hours(12),
    );
    std::fs::write(world.cache_file(), &seeded).expect("seed");
    // Root ignores mode bits: a read-only bind mount is what read-only means to root.
    let run = |host: &str| {
        let mut cmd = Command::new("unshare");
        cmd.args(["--mount", "--propagation", "private", "sh", "-ec"])
            .arg(r#"mount --bind "$C" "$C"; mount -o remount,ro,bind "$C"; printf %s "$H" | "$BIN" get"#)
            .env_clear()
            .envs(&world.env)
            .env("C", world.cache_dir())
            .env("H", host)
            .env("BIN", BIN);
        cmd.output().expect("unshare")
    };
    let hit = run(HOST);
    assert_credentials(&hit, HOST, "from-cache");
    assert_eq!(moto.count("ecr:GetAuthorizationToken"), 0);
    let other = "210987654321.dkr.ecr.us-east-1.amazonaws.com";
    let miss = run(other);
    assert_credentials(&miss, other, &password_for("210987654321"));
    assert_eq!(
        std::fs::read_to_string(world.cache_file()).expect("cache"),
        seeded
    );
}

/// Makes `path` belong to `nobody`.
fn give_away(path: &Path) {
    std::os::unix::fs::lchown(path, Some(65534), Some(65534)).expect("chown");
}

#[test]
fn foreign_owned_cache_directory_is_not_used() {
    if !root_or_skip("foreign_owned_cache_directory_is_not_used") {
        return;
    }
    let moto = Moto::start();
    let world = World::new(&moto);
    std::fs::create_dir_all(world.cache_dir()).expect("cache dir");
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(world.cache_dir(), std::fs::Permissions::from_mode(0o700))
        .expect("chmod");
    let now = OffsetDateTime::now_utc();
    let planted = cache_text(
        &static_key("testing"),
        "QVdTOnBsYW50ZWQ=",
        now,
        now + time::Duration::hours(12),
    );
    std::fs::write(world.cache_file(), &planted).expect("plant");
    give_away(&world.cache_file());
    give_away(&world.cache_dir());
    let out = world.get(HOST);
    assert_credentials(&out, HOST, &password_for(ACCOUNT));
    assert!(
        stderr(&out).contains("not using the token cache"),
        "{}",
        stderr(&out)
    );
    assert_eq!(
        std::fs::read_to_string(world.cache_file()).expect("cache"),
        planted
    );
    assert!(
        !world.cache_dir().join("log").exists(),
        "no log in a foreign directory"
    );
}

#[test]
fn cache_and_log_symlinked_to_another_users_files_are_not_followed() {
    if !root_or_skip("cache_and_log_symlinked_to_another_users_files_are_not_followed") {
        return;
    }
    let moto = Moto::start();
    let world = World::new(&moto);
    let victims = world.path("victims");
    std::fs::create_dir_all(&victims).expect("victims");
    let now = OffsetDateTime::now_utc();
    let theirs = cache_text(
        &static_key("testing"),
        "QVdTOnRoZWlycw==",
        now,
        now + time::Duration::hours(12),
    );
    let (cache_victim, log_victim) = (victims.join("cache.json"), victims.join("log"));
    std::fs::write(&cache_victim, &theirs).expect("victim");
    std::fs::write(&log_victim, "their log\n").expect("victim");
    give_away(&cache_victim);
    give_away(&log_victim);
    std::fs::create_dir_all(world.cache_dir().join("log")).expect("log dir");
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(world.cache_dir(), std::fs::Permissions::from_mode(0o700))
        .expect("chmod");
    std::os::unix::fs::symlink(&cache_victim, world.cache_file()).expect("symlink");
    std::os::unix::fs::symlink(&log_victim, world.cache_dir().join("log/ecr-login.log"))
        .expect("symlink");

    for _ in 0..2 {
        let out = world.get(HOST);
        // Their token is never served, their files are never written.
        assert_credentials(&out, HOST, &password_for(ACCOUNT));
    }
    assert_eq!(
        std::fs::read_to_string(&cache_victim).expect("victim"),
        theirs
    );
    assert_eq!(
        std::fs::read_to_string(&log_victim).expect("victim"),
        "their log\n"
    );
}

#[test]
fn fifty_megabyte_cache_file_still_answers() {
    let moto = Moto::start();
    let world = World::new(&moto);
    std::fs::create_dir_all(world.cache_dir()).expect("cache dir");
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(world.cache_dir(), std::fs::Permissions::from_mode(0o700))
        .expect("chmod");
    let now = OffsetDateTime::now_utc();
    let (requested, expires) = (rfc3339(now), rfc3339(now + time::Duration::hours(12)));
    let mut text = String::from("{\"Registries\":{");
    let mut i = 0;
    while text.len() < 50 * 1024 * 1024 {
        text.push_str(&format!(
            "\"us-east-1-other{i}-{ACCOUNT}\":{{\"AuthorizationToken\":\"QVdTOng=\",\"RequestedAt\":\"{requested}\",\"ExpiresAt\":\"{expires}\",\"ProxyEndpoint\":\"https://{HOST}\",\"Service\":\"ecr\"}},"
        ));
        i += 1;
    }
    text.push_str(&format!(
        "\"{}\":{{\"AuthorizationToken\":\"QVdTOmluLXRoZS1iaWctZmlsZQ==\",\"RequestedAt\":\"{requested}\",\"ExpiresAt\":\"{expires}\",\"ProxyEndpoint\":\"https://{HOST}\",\"Service\":\"ecr\"}}}},\"Version\":\"1.0\"}}",
        static_key("testing")
    ));
    std::fs::write(world.cache_file(), &text).expect("write 50 MB");
    let started = Instant::now();
    let out = world.get(HOST);
    let took = started.elapsed();
    assert_credentials(&out, HOST, "in-the-big-file");
    assert_eq!(moto.count("ecr:GetAuthorizationToken"), 0);
    report(&format!(
        "cached get from a 50 MB cache.json ({i} entries): {} ms",
        took.as_millis()
    ));
    // A write keeps every entry.
    let other = "210987654321.dkr.ecr.us-east-1.amazonaws.com";
    assert_credentials(&world.get(other), other, &password_for("210987654321"));
    assert_eq!(assert_cache_sound(&world.cache_file()), i + 2);
}

#[test]
fn entries_dated_far_in_the_past_or_future_are_never_served_past_expiry() {
    let moto = Moto::start();
    let world = World::new(&moto);
    std::fs::create_dir_all(world.cache_dir()).expect("cache dir");
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(world.cache_dir(), std::fs::Permissions::from_mode(0o700))
        .expect("chmod");
    let key = static_key("testing");
    let y = |year: i32| OffsetDateTime::now_utc().replace_year(year).expect("year");
    let soon = OffsetDateTime::now_utc() + time::Duration::hours(1);
    // (requested, expires, served from the cache?). `RequestedAt` is the local clock at fetch
    // time, `ExpiresAt` the API's: after a clock jump they may be in any order. Whatever they
    // say, an entry is never served once `ExpiresAt` has passed, and is refetched then.
    let cases = [
        // Both far in the future: valid, as far as the file says.
        (y(9999), y(9999), true),
        // Requested in the year 1, expiring in 9999: half of that life is still ahead.
        (y(1), y(9999), true),
        // The local clock ran far ahead when it was fetched; the API's expiry is an hour away.
        (y(2099), soon, true),
        // Expired ages ago: never served.
        (y(1), y(1), false),
        // Expiry before request (the clock ran backwards between the two), long expired.
        (y(2030), y(2020), false),
    ];
    for (requested, expires, served) in cases {
        std::fs::write(
            world.cache_file(),
            cache_text(&key, "QVdTOmNsb2Nr", requested, expires),
        )
        .expect("seed");
        moto.reset();
        let out = world.get(HOST);
        let want = if served {
            "clock".to_string()
        } else {
            password_for(ACCOUNT)
        };
        assert_credentials(&out, HOST, &want);
        assert_eq!(
            moto.count("ecr:GetAuthorizationToken"),
            u64::from(!served),
            "requested {requested}, expires {expires}"
        );
        assert_cache_sound(&world.cache_file());
    }
}
