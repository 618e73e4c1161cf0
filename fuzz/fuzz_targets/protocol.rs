//! Protocol stdin for `get`, `erase` and `store`, and the reply encoders.
//!
//! Properties: a server URL is trimmed, non-empty and one line; every error's `Display` (the
//! stdout line) is one line and never holds the request's `Secret`; the Go-style JSON encoders
//! round-trip through a JSON parser (`ServerURL`, `Username`, `Secret`, `list`).
#![no_main]

use ecr_login::protocol::{self, ProtocolError};
use libfuzzer_sys::fuzz_target;
use std::collections::BTreeMap;

fn one_line(error: &ProtocolError) {
    let line = error.to_string();
    assert!(
        !line.contains('\n') && !line.contains('\r'),
        "two lines: {line:?}"
    );
}

/// The `Secret` a store request carries (any case of the key, as the decoder matches it).
fn secret_of(input: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(input).replace(['\n', '\r'], "");
    let value: serde_json::Value = serde_json::Deserializer::from_str(&text)
        .into_iter()
        .next()?
        .ok()?;
    value
        .as_object()?
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("secret"))
        .and_then(|(_, v)| v.as_str().map(str::to_string))
}

fuzz_target!(|input: &[u8]| {
    match protocol::read_server_url(input) {
        Ok(url) => {
            assert!(!url.is_empty());
            assert_eq!(url.trim(), url);
            assert!(!url.contains('\n'));
            // What `get` does next with it; must not panic on anything.
            let _ = ecr_login::registry::parse(&url);
            let _ = ecr_login::registry::given_host(&url);
        }
        Err(e) => one_line(&e),
    }

    match protocol::read_store(input) {
        Ok(request) => {
            assert!(!request.server_url.is_empty() && !request.username.is_empty());
        }
        Err(e) => {
            one_line(&e);
            // No message shows the secret. Messages are built from fixed ASCII text, serde's
            // positions and a field name (a case of ServerURL / Username), so a secret with a
            // character none of those have must never appear.
            if let Some(secret) = secret_of(input)
                .filter(|s| s.chars().any(|c| "@#%$!~^*".contains(c) || !c.is_ascii()))
            {
                let shown = e.to_string();
                assert!(
                    !shown.contains(&secret),
                    "store error shows the secret: {shown:?}"
                );
            }
        }
    }

    // Encoders: whatever text the credential or a cache key holds comes back unchanged.
    let text = String::from_utf8_lossy(input);
    let (a, rest) = text.split_at(
        text.char_indices()
            .nth(text.chars().count() / 3)
            .map_or(0, |(i, _)| i),
    );
    let (b, c) = rest.split_at(
        rest.char_indices()
            .nth(rest.chars().count() / 2)
            .map_or(0, |(i, _)| i),
    );
    let reply = protocol::encode_credentials(a, b, c);
    assert!(
        reply.ends_with('\n') && reply.matches('\n').count() == 1,
        "reply is one line"
    );
    let parsed: serde_json::Value = serde_json::from_str(&reply).expect("reply is JSON");
    assert_eq!(parsed["ServerURL"], a);
    assert_eq!(parsed["Username"], b);
    assert_eq!(parsed["Secret"], c);
    assert!(
        !reply.contains(['<', '>', '&']),
        "Go escapes HTML characters"
    );

    let list = BTreeMap::from([
        (a.to_string(), b.to_string()),
        (c.to_string(), "AWS".to_string()),
    ]);
    let encoded = protocol::encode_list(&list);
    let decoded: BTreeMap<String, String> = serde_json::from_str(&encoded).expect("list is JSON");
    assert_eq!(decoded, list);
});
