//! Exact protocol bytes of the binary, without any AWS API: usage, versions, errors, store/erase.

mod support;

use support::*;

#[test]
fn usage_and_unknown_actions() {
    let world = World::bare();
    let usage = "Usage: docker-credential-ecr-login <store|get|erase|list|version>\n";
    for args in [&[][..], &["get", "extra"][..]] {
        let output = world.run(args, b"");
        assert_eq!(stdout(&output), usage);
        assert_eq!(output.status.code(), Some(1));
    }
    let output = world.run(&["Get"], b"");
    assert_eq!(
        stdout(&output),
        "docker-credential-ecr-login: unknown action: Get\n"
    );
    assert_eq!(output.status.code(), Some(1));
}

#[test]
fn version_forms_exit_zero() {
    let world = World::bare();
    let version = world.run(&["version"], b"");
    assert!(
        stdout(&version).starts_with("docker-credential-ecr-login ("),
        "{}",
        stdout(&version)
    );
    assert_eq!(version.status.code(), Some(0));
    for flag in ["-v", "--version"] {
        let output = world.run(&[flag], b"");
        assert!(
            stdout(&output).contains("\nVersion:    "),
            "{}",
            stdout(&output)
        );
        assert_eq!(output.status.code(), Some(0));
    }
    for flag in ["-h", "--help"] {
        let output = world.run(&[flag], b"");
        assert!(
            stdout(&output)
                .starts_with("Usage: docker-credential-ecr-login <store|get|erase|list|version>\n")
        );
        assert!(stdout(&output).contains("AWS_ECR_CACHE_DIR"));
        assert_eq!(output.status.code(), Some(0));
    }
}

#[test]
fn get_without_a_server_url() {
    let world = World::bare();
    for input in [&b""[..], b"  \n\t "] {
        let output = world.run(&["get"], input);
        assert_eq!(stdout(&output), "no credentials server URL\n");
        assert_eq!(output.status.code(), Some(1));
    }
}

/// 1 MB of random bytes: a clean error line and exit 1, never a panic or a hang.
#[test]
fn random_megabyte_on_stdin_is_a_clean_error() {
    let world = World::bare();
    let mut noise = vec![0u8; 1024 * 1024];
    let mut state = 0x2545_f491_4f6c_dd1du64;
    for byte in noise.iter_mut() {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        *byte = (state >> 24) as u8;
    }
    for action in ["get", "store", "erase"] {
        let output = world.run(&[action], &noise);
        assert_eq!(
            output.status.code(),
            Some(1),
            "{action}: {}",
            stderr(&output)
        );
        assert_eq!(
            stdout(&output).lines().count(),
            1,
            "{action}: one line on stdout"
        );
        assert!(!stderr(&output).contains("panicked"), "{action}");
    }
    // One line longer than Go's scanner limit gets Go's error.
    let long = vec![b'a'; 70 * 1024];
    assert_eq!(
        stdout(&world.run(&["get"], &long)),
        "bufio.Scanner: token too long\n"
    );
}

#[test]
fn store_and_erase_are_not_implemented_by_default() {
    let world = World::bare();
    let creds = br#"{"ServerURL":"https://123456789012.dkr.ecr.us-east-1.amazonaws.com","Username":"AWS","Secret":"s3cr3t"}"#;
    let output = world.run(&["store"], creds);
    assert_eq!(
        (stdout(&output).as_str(), output.status.code()),
        ("not implemented\n", Some(1))
    );
    let output = world.run(
        &["erase"],
        b"https://123456789012.dkr.ecr.us-east-1.amazonaws.com",
    );
    assert_eq!(
        (stdout(&output).as_str(), output.status.code()),
        ("not implemented\n", Some(1))
    );
    // validation comes first, as in the Go helper
    let output = world.run(&["store"], br#"{"Username":"AWS"}"#);
    assert_eq!(stdout(&output), "no credentials server URL\n");
    let output = world.run(&["store"], br#"{"ServerURL":"h"}"#);
    assert_eq!(stdout(&output), "no credentials username\n");
    let output = world.run(&["erase"], b"");
    assert_eq!(stdout(&output), "no credentials server URL\n");
}

#[test]
fn store_and_erase_are_logged_no_ops_with_ignore_creds_storage() {
    let mut world = World::bare();
    world.set("AWS_ECR_IGNORE_CREDS_STORAGE", "true");
    let creds =
        br#"{"ServerURL":"https://user:pw@example.com","Username":"AWS","Secret":"s3cr3t"}"#;
    let output = world.run(&["store"], creds);
    assert_eq!(
        (stdout(&output).as_str(), output.status.code()),
        ("", Some(0))
    );
    let output = world.run(&["erase"], b"example.com");
    assert_eq!(
        (stdout(&output).as_str(), output.status.code()),
        ("", Some(0))
    );
    let log = world.log_text();
    assert!(
        log.contains("ignoring store") && log.contains("ignoring erase"),
        "{log}"
    );
    assert!(
        !log.contains("s3cr3t") && !log.contains("pw@"),
        "no secret in the log: {log}"
    );
    // Only exactly `true` counts, as in the Go helper.
    world.set("AWS_ECR_IGNORE_CREDS_STORAGE", "TRUE");
    assert_eq!(stdout(&world.run(&["store"], creds)), "not implemented\n");
}

#[test]
fn list_without_cache_is_empty_and_never_fails() {
    let world = World::bare();
    let output = world.run(&["list"], b"unused");
    assert_eq!(
        (stdout(&output).as_str(), output.status.code()),
        ("{}\n", Some(0))
    );
}

/// A diagnostic names the host as the client sent it; a `dkr.ecr` host is not respelled as the
/// API's `dkr-ecr`.
#[test]
fn diagnostics_name_the_host_as_given() {
    let mut world = World::bare();
    world.set("AWS_EC2_METADATA_DISABLED", "true");
    let host = "123456789012.dkr.ecr.us-west-2.on.aws";
    let output = world.get(&format!("https://{host}/v2/"));
    assert_not_found(&output);
    assert!(
        stderr(&output).starts_with(&format!("docker-credential-ecr-login: {host}: ")),
        "{}",
        stderr(&output)
    );
}

/// User info or a backslash in the authority is not ECR, whatever follows it: silently not
/// found, no credentials looked up, nothing on stderr.
#[test]
fn authorities_with_user_info_or_backslash_are_not_ecr() {
    let mut world = World::bare();
    world.set("AWS_EC2_METADATA_DISABLED", "true");
    for url in [
        "https://evil\\@123456789012.dkr.ecr.us-east-1.amazonaws.com/v2/",
        "https://evil@123456789012.dkr.ecr.us-east-1.amazonaws.com",
    ] {
        let output = world.get(url);
        assert_not_found(&output);
        assert_eq!(stderr(&output), "", "{url}");
    }
}
