//! The helper config (issue 10, part 1) with real processes against moto: `[[registry]]` rules
//! choose the identity (profile, role with external id), `[[alias]]` names are answered with an
//! ECR registry's token under their own name, `strict` puts the real error on stdout, and
//! `fallback_helper` hands every other host to a real backing helper
//! (`tests/support/bin/docker-credential-filestore`, which stores to a JSON file).

mod support;

use std::path::PathBuf;
use std::time::{Duration, Instant};
use support::*;

const OTHER_ACCOUNT: &str = "210987654321";
const OTHER_HOST: &str = "210987654321.dkr.ecr.eu-west-1.amazonaws.com";
const ROLE: &str = "arn:aws:iam::210987654321:role/ecr-pull";

/// Profiles `one` and `two` with static keys of their own, and the config file in place.
fn world_with_config(moto: &Moto, config: &str) -> World {
    let mut world = World::new(moto);
    world.write_home_file(
        ".aws/credentials",
        "[one]\naws_access_key_id = AKIAONE0000000000001\naws_secret_access_key = s1\n\
         [two]\naws_access_key_id = AKIATWO0000000000002\naws_secret_access_key = s2\n",
    );
    world.write_home_file(".config/ecr-login/config.toml", config);
    world.set("AWS_REGION", "us-east-1");
    world
}

fn set_config(world: &World, config: &str) {
    world.write_home_file(".config/ecr-login/config.toml", config);
}

fn cache_keys(world: &World) -> Vec<String> {
    let text = std::fs::read_to_string(world.cache_file()).expect("cache file");
    let cache: serde_json::Value = serde_json::from_str(&text).expect("cache json");
    cache["Registries"]
        .as_object()
        .expect("Registries")
        .keys()
        .cloned()
        .collect()
}

#[test]
fn rules_choose_the_profile_and_never_share_tokens() {
    let moto = Moto::start();
    let config = format!(
        "[[registry]]\nmatch = [\"{ACCOUNT}.dkr.ecr.*.amazonaws.com\"]\nprofile = \"one\"\n\n\
         [[registry]]\nmatch = [\"*.dkr.ecr.eu-west-1.amazonaws.com\"]\nprofile = \"two\"\n"
    );
    let world = world_with_config(&moto, &config);

    assert_credentials(&world.get(HOST), HOST, &password_for(ACCOUNT));
    assert_credentials(
        &world.get(OTHER_HOST),
        OTHER_HOST,
        &password_for(OTHER_ACCOUNT),
    );
    // Each rule's profile signed its registry's call (not the environment's keys).
    assert_eq!(
        moto.ecr_signers(),
        ["AKIAONE0000000000001", "AKIATWO0000000000002"]
    );
    let keys = cache_keys(&world);
    assert_eq!(keys.len(), 2, "{keys:?}");
    // Cached: no network call through either rule.
    assert_credentials(&world.get(HOST), HOST, &password_for(ACCOUNT));
    assert_credentials(
        &world.get(OTHER_HOST),
        OTHER_HOST,
        &password_for(OTHER_ACCOUNT),
    );
    assert_eq!(moto.count("ecr:GetAuthorizationToken"), 2);

    // Re-pointing the rule at the other profile must not serve the first profile's token.
    set_config(
        &world,
        &format!(
            "[[registry]]\nmatch = [\"{ACCOUNT}.dkr.ecr.*.amazonaws.com\"]\nprofile = \"two\"\n"
        ),
    );
    assert_credentials(&world.get(HOST), HOST, &password_for(ACCOUNT));
    assert_eq!(
        moto.ecr_signers().last().map(String::as_str),
        Some("AKIATWO0000000000002")
    );
    assert_eq!(
        cache_keys(&world).len(),
        3,
        "a third identity, a third entry"
    );

    // No config: the ambient (environment) keys, a fourth entry, none of the rules' tokens.
    std::fs::remove_file(world.home().join(".config/ecr-login/config.toml")).expect("rm");
    assert_credentials(&world.get(HOST), HOST, &password_for(ACCOUNT));
    assert_eq!(
        moto.ecr_signers().last().map(String::as_str),
        Some("testing")
    );
}

#[test]
fn a_role_rule_assumes_it_with_the_external_id_and_session_name() {
    let moto = Moto::start();
    let config = format!(
        "[[registry]]\nmatch = [\"{OTHER_HOST}\"]\nprofile = \"one\"\nrole_arn = \"{ROLE}\"\n\
         external_id = \"partner-42\"\nsession_name = \"ci-pull\"\n"
    );
    let world = world_with_config(&moto, &config);
    assert_credentials(
        &world.get(OTHER_HOST),
        OTHER_HOST,
        &password_for(OTHER_ACCOUNT),
    );
    assert_credentials(
        &world.get(OTHER_HOST),
        OTHER_HOST,
        &password_for(OTHER_ACCOUNT),
    );
    let requests = moto.requests();
    let assume: Vec<_> = requests
        .iter()
        .filter(|r| r.api == "sts:AssumeRole")
        .collect();
    assert_eq!(assume.len(), 1, "cached the second time: {requests:?}");
    assert_eq!(
        assume[0].access_key.as_deref(),
        Some("AKIAONE0000000000001")
    );
    assert_eq!(assume[0].params["RoleArn"], ROLE);
    assert_eq!(assume[0].params["ExternalId"], "partner-42");
    assert_eq!(assume[0].params["RoleSessionName"], "ci-pull");
    let signer = moto.ecr_signers();
    assert_eq!(signer.len(), 1);
    assert_ne!(
        signer[0], "AKIAONE0000000000001",
        "ECR was called with the role's keys"
    );
    // The external id is part of the identity, and it is not written anywhere in clear.
    let cache = std::fs::read_to_string(world.cache_file()).expect("cache");
    assert!(!cache.contains("partner-42") && !world.logs().contains("partner-42"));

    set_config(&world, &config.replace("partner-42", "partner-43"));
    assert_credentials(
        &world.get(OTHER_HOST),
        OTHER_HOST,
        &password_for(OTHER_ACCOUNT),
    );
    assert_eq!(
        moto.count("sts:AssumeRole"),
        2,
        "another external id, another identity"
    );
}

#[test]
fn an_alias_is_answered_with_its_registrys_token_under_its_own_name() {
    let moto = Moto::start();
    let config = format!(
        "[[alias]]\nhost = \"registry.example.com\"\nregistry = \"{HOST}\"\n\n\
         [[alias]]\nhost = \"docker.io\"\nregistry = \"public.ecr.aws\"\n\n\
         [[registry]]\nmatch = [\"{HOST}\"]\nprofile = \"one\"\n"
    );
    let world = world_with_config(&moto, &config);
    for asked in ["registry.example.com", "https://Registry.Example.com/v2/"] {
        assert_credentials(&world.get(asked), asked, &password_for(ACCOUNT));
    }
    // The rule for the alias's ECR host applied; the second ask came from the cache.
    assert_eq!(moto.ecr_signers(), ["AKIAONE0000000000001"]);
    // The ECR host itself shares the alias's entry (same registry, same rule).
    assert_credentials(&world.get(HOST), HOST, &password_for(ACCOUNT));
    assert_eq!(moto.count("ecr:GetAuthorizationToken"), 1);
    // Docker Hub under the name Docker uses for it.
    let hub = "https://index.docker.io/v1/";
    assert_credentials(&world.get(hub), hub, "public-auth-token");
    // Another name is still not ECR.
    assert_not_found(&world.get("registry.example.org"));

    let listed: serde_json::Value =
        serde_json::from_slice(&world.run(&["list"], b"").stdout).expect("list json");
    assert_eq!(listed["https://registry.example.com"], "AWS", "{listed}");
    assert_eq!(listed[format!("https://{HOST}")], "AWS", "{listed}");
}

#[test]
fn strict_mode_puts_the_real_error_on_stdout() {
    let moto = Moto::start();
    let world = world_with_config(&moto, "strict = true\n");
    moto.fault("denied");
    let out = world.get(HOST);
    assert_eq!(out.status.code(), Some(1));
    let text = stdout(&out);
    assert!(
        text.starts_with(&format!("docker-credential-ecr-login: {HOST}: ")) && text.ends_with('\n'),
        "{text:?}"
    );
    assert!(!text.contains("credentials not found"), "{text}");
    // A non-ECR host is still the quiet sentinel: strict is about ECR hosts only.
    assert_not_found(&world.get("quay.io"));
    // Without strict: the sentinel, and the same line on stderr.
    set_config(&world, "strict = false\n");
    let quiet = world.get(HOST);
    assert_not_found(&quiet);
    assert!(stderr(&quiet).contains(HOST), "{}", stderr(&quiet));
}

#[test]
fn a_bad_config_answers_nothing_and_names_file_key_and_reason() {
    let moto = Moto::start();
    let world = world_with_config(&moto, "[[registry]]\nmatch = [\"x\"]\nprofle = \"one\"\n");
    let out = world.get(HOST);
    assert_not_found(&out);
    let line = stderr(&out);
    assert!(
        line.contains(".config/ecr-login/config.toml: registry[0].profle: unknown key (did you mean `profile`?"),
        "{line}"
    );
    assert_eq!(
        moto.count("ecr:GetAuthorizationToken"),
        0,
        "no fetch as the wrong identity"
    );

    // AWS_ECR_CONFIG names the file; a missing named file is an error, not "no rules".
    let mut named = world_with_config(&moto, "");
    named.set("AWS_ECR_CONFIG", "/nonexistent/config.toml");
    let out = named.get(HOST);
    assert_not_found(&out);
    assert!(
        stderr(&out).contains(
            "/nonexistent/config.toml: cannot read the helper config (named by AWS_ECR_CONFIG)"
        ),
        "{}",
        stderr(&out)
    );
}

/// The backing helper on PATH, storing to a file in the world.
fn delegating_world(moto: &Moto) -> (World, PathBuf) {
    let mut world = world_with_config(moto, "fallback_helper = \"filestore\"\n");
    let bin = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/support/bin");
    let path = format!("{}:{}", bin.display(), world.env["PATH"]);
    world.set("PATH", &path);
    let store = world.path("filestore.json");
    world.set("FILESTORE_PATH", &store.display().to_string());
    (world, store)
}

#[test]
fn delegation_round_trips_through_the_backing_helper() {
    let moto = Moto::start();
    let (mut world, store) = delegating_world(&moto);
    let hub = "https://index.docker.io/v1/";
    let login = format!(r#"{{"ServerURL":"{hub}","Username":"me","Secret":"hub-pass"}}"#);
    let stored = world.run(&["store"], login.as_bytes());
    assert_eq!(stored.status.code(), Some(0), "{}", stderr(&stored));
    assert!(
        std::fs::read_to_string(&store)
            .expect("stored")
            .contains("hub-pass")
    );

    let got = world.get(hub);
    assert_eq!(got.status.code(), Some(0));
    assert_eq!(
        stdout(&got),
        format!("{{\"ServerURL\": \"{hub}\", \"Username\": \"me\", \"Secret\": \"hub-pass\"}}\n"),
        "relayed byte for byte (Python's spacing, not ours)"
    );

    // ECR hosts: get is ours; store/erase succeed without storing anything.
    assert_credentials(&world.get(HOST), HOST, &password_for(ACCOUNT));
    let ecr_login = format!(r#"{{"ServerURL":"{HOST}","Username":"AWS","Secret":"x"}}"#);
    assert_eq!(
        world.run(&["store"], ecr_login.as_bytes()).status.code(),
        Some(0)
    );
    assert_eq!(
        world.run(&["erase"], HOST.as_bytes()).status.code(),
        Some(0)
    );
    assert!(
        !std::fs::read_to_string(&store)
            .expect("store")
            .contains(HOST)
    );

    // list: theirs merged with ours.
    let listed: serde_json::Value =
        serde_json::from_slice(&world.run(&["list"], b"").stdout).expect("list json");
    assert_eq!(listed[hub], "me", "{listed}");
    assert_eq!(listed[format!("https://{HOST}")], "AWS", "{listed}");

    // The backing helper's failures come back as they are: stdout, stderr bytes, exit code.
    world.set("FILESTORE_STDERR", "backing: \u{1b}[1mnote\u{1b}[0m\n");
    let missing = world.get("quay.io");
    assert_not_found(&missing);
    assert_eq!(
        missing.stderr,
        "backing: \u{1b}[1mnote\u{1b}[0m\n".as_bytes()
    );
    world.unset("FILESTORE_STDERR");

    assert_eq!(world.run(&["erase"], hub.as_bytes()).status.code(), Some(0));
    assert_not_found(&world.get(hub));
}

#[test]
fn a_missing_or_hung_backing_helper_fails_fast_and_clearly() {
    let moto = Moto::start();
    let (mut world, _) = delegating_world(&moto);
    set_config(&world, "fallback_helper = \"nonexistent\"\n");
    let started = Instant::now();
    let out = world.get("quay.io");
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stdout(&out).contains("docker-credential-nonexistent is not on PATH"),
        "{}",
        stdout(&out)
    );
    assert!(started.elapsed() < Duration::from_secs(5));

    set_config(&world, "fallback_helper = \"filestore\"\n");
    world
        .set("FILESTORE_SLEEP", "30")
        .set("AWS_ECR_DELEGATE_TIMEOUT", "500ms");
    let started = Instant::now();
    let out = world.get("quay.io");
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stdout(&out).contains("did not answer within 0.5 s"),
        "{}",
        stdout(&out)
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    // list stays quick and answers with ours.
    let listed = world.run(&["list"], b"");
    assert_eq!(listed.status.code(), Some(0));
    assert!(
        stderr(&listed).contains("did not answer"),
        "{}",
        stderr(&listed)
    );
}
