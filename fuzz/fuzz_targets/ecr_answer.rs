//! ECR and ECR Public `GetAuthorizationToken` answers, through the real SDK client, and the
//! token they carry.
//!
//! Input: a first byte choosing private ECR or ECR Public, then a script of answers for a
//! loopback endpoint (`AWS_ENDPOINT_URL_ECR*`; see `fuzz_support::parse_script`). Properties:
//! a fetch ends in a token or an error, never a panic; a token returned splits into user and
//! password; no error line (stderr) or error chain (log) ever holds the secret access key or
//! the access key id, even when the server echoes the key id (it is in every signed request:
//! `@KEYID@`), nor the token of a success answer it could not use (`@AUTH@`); `split_token`
//! errors are fixed texts.
#![no_main]

use ecr_login::ecr;
use ecr_login::identity::CredentialSource;
use ecr_login::registry;
use fuzz_support::ScriptServer;
use libfuzzer_sys::fuzz_target;
use std::sync::Once;
use std::time::Duration;

fuzz_target!(|input: &[u8]| {
    static INIT: Once = Once::new();
    INIT.call_once(|| {
        let home = fuzz_support::scratch_dir("ecr-answer");
        let url = ScriptServer::get().url();
        for (k, v) in [
            ("AWS_ACCESS_KEY_ID", fuzz_support::AWS_KEY_ID),
            ("AWS_SECRET_ACCESS_KEY", fuzz_support::AWS_SECRET),
            ("AWS_ENDPOINT_URL_ECR", &url),
            ("AWS_ENDPOINT_URL_ECR_PUBLIC", &url),
            ("AWS_EC2_METADATA_DISABLED", "true"),
            ("AWS_MAX_ATTEMPTS", "1"),
            ("HOME", &home.display().to_string()),
            (
                "AWS_CONFIG_FILE",
                &home.join("config").display().to_string(),
            ),
            (
                "AWS_SHARED_CREDENTIALS_FILE",
                &home.join("credentials").display().to_string(),
            ),
        ] {
            fuzz_support::set_env(k, v);
        }
    });

    let text = String::from_utf8_lossy(input);
    if let Err(e) = ecr::split_token(&text) {
        assert!(
            [
                "invalid token: not base64",
                "invalid token: not UTF-8",
                "invalid token: expected two parts, got 1"
            ]
            .contains(&e.as_str()),
            "{e}"
        );
    }

    let (first, script) = input.split_first().unwrap_or((&0, &[]));
    let host = if first % 2 == 0 {
        "123456789012.dkr.ecr.us-east-1.amazonaws.com"
    } else {
        "public.ecr.aws"
    };
    let registry = registry::parse(host).expect("an ECR host");
    let answers = fuzz_support::parse_script(script);
    // A token in an error answer is the server's own text, not a credential the helper holds.
    let token_only_in_successes = answers.iter().all(|a| (200..300).contains(&a.status));
    ScriptServer::get().load(answers);
    match ecr::fetch_blocking(
        &registry,
        &CredentialSource::default(),
        Duration::from_secs(3),
    ) {
        Ok(token) => {
            ecr::split_token(&token.authorization_token).expect("a returned token splits");
        }
        Err(e) => {
            for (what, text) in [
                ("fetch error line", e.to_string()),
                ("fetch error chain", e.detail()),
            ] {
                for secret in [fuzz_support::AWS_KEY_ID, fuzz_support::AWS_SECRET] {
                    assert!(!text.contains(secret), "{what} holds a key: {text}");
                }
                if token_only_in_successes {
                    fuzz_support::assert_no_secret(what, &text);
                }
            }
        }
    }
});
