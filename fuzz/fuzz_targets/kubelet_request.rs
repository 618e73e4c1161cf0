//! The kubelet's `CredentialProviderRequest` on stdin (`ecr-credential-provider` mode), and the
//! response built for it.
//!
//! Properties: any bytes give a request or a one-line error, never a panic; neither the error
//! nor the request's `Debug` shows the ServiceAccount token; the token's subject, when read,
//! has no control characters; a role from the annotations is accepted or refused in one line;
//! the response's `Display` is one JSON line that decodes back to the same version, host,
//! username, password and cache duration.
#![no_main]

use ecr_login::kubelet::service_account;
use ecr_login::kubelet::wire::{self, Auth, Response};
use libfuzzer_sys::fuzz_target;
use secrecy::SecretString;
use serde::Deserialize;
use serde_json::value::RawValue;
use std::collections::BTreeMap;
use std::time::Duration;

/// The request's `serviceAccountToken`, when the input holds it literally (no JSON escapes)
/// exactly once, as that field's own value. Other fields may decode to the same text through
/// escapes (`"\u0041…"`) and are rightly shown as themselves; [`shows_token`] tells the two apart.
fn lone_token(input: &[u8]) -> Option<String> {
    #[derive(Deserialize)]
    struct TokenField<'a> {
        #[serde(rename = "serviceAccountToken", borrow)]
        token: Option<&'a RawValue>,
    }
    let field: TokenField = serde_json::from_slice(input).ok()?;
    let raw = field.token?.get();
    let token: String = serde_json::from_str(raw).ok()?;
    let literal = raw == format!("\"{token}\"");
    let text = std::str::from_utf8(input).ok()?;
    (literal && token.len() >= 8 && text.matches(token.as_str()).count() == 1).then_some(token)
}

/// Whether `render` (a message or a `Debug` text made from the input) shows the token as the
/// token, not as a word of its own or as another field that decodes to the same text: the same
/// input with the token's one literal occurrence replaced by a stand-in of the same length must
/// then show the stand-in.
fn shows_token(input: &[u8], token: &str, render: impl Fn(&[u8]) -> Option<String>) -> bool {
    if !render(input).is_some_and(|text| text.contains(token)) {
        return false;
    }
    // A fill character the input has nowhere, so that the stand-in can come from nothing else.
    let text = String::from_utf8_lossy(input);
    let Some(fill) = ('!'..='~').find(|c| !matches!(c, '"' | '\\') && !text.contains(*c)) else {
        return false;
    };
    let stand_in: String = std::iter::repeat_n(fill, token.chars().count()).collect();
    let replaced = text.replacen(token, &stand_in, 1);
    render(replaced.as_bytes()).is_some_and(|text| text.contains(&stand_in))
}

fuzz_target!(|input: &[u8]| {
    let token = lone_token(input);
    match wire::parse_request(input) {
        Err(e) => {
            let line = e.to_string();
            assert!(!line.contains('\n'), "two lines: {line:?}");
            if let Some(t) = &token {
                let message =
                    |bytes: &[u8]| wire::parse_request(bytes).err().map(|e| e.to_string());
                assert!(
                    !shows_token(input, t, message),
                    "the error shows the token: {line}"
                );
            }
        }
        Ok(request) => {
            assert!(!request.image.is_empty());
            if let Some(t) = &token {
                let debug =
                    |bytes: &[u8]| wire::parse_request(bytes).ok().map(|r| format!("{r:?}"));
                assert!(!shows_token(input, t, debug), "Debug shows the token");
            }
            if let Some(sa) = &request.service_account_token {
                if let Some(subject) = service_account::subject(sa) {
                    assert!(!subject.chars().any(char::is_control), "{subject:?}");
                }
            }
            let keys: Vec<String> = service_account::DEFAULT_ROLE_ANNOTATIONS
                .iter()
                .map(|k| k.to_string())
                .chain(request.service_account_annotations.keys().take(2).cloned())
                .collect();
            if let Err(e) = service_account::role(&request.service_account_annotations, &keys, None)
            {
                assert!(!e.contains('\n'), "two lines: {e:?}");
            }

            // The answer for the image's registry host, as the plugin writes it.
            let host = request
                .image
                .split('/')
                .next()
                .unwrap_or_default()
                .to_string();
            let password = format!("pw-{}", input.len());
            let seconds = u64::from(input.first().copied().unwrap_or(0)) * 613;
            let response = Response {
                api_version: request.api_version,
                cache_duration: Duration::from_secs(seconds),
                auth: BTreeMap::from([(
                    host.clone(),
                    Auth {
                        username: "AWS".into(),
                        password: SecretString::from(password.clone()),
                    },
                )]),
            };
            let text = response.to_string();
            assert!(text.ends_with('\n') && text.matches('\n').count() == 1);
            let back: serde_json::Value = serde_json::from_str(&text).expect("response is JSON");
            assert_eq!(back["kind"], wire::RESPONSE_KIND);
            assert_eq!(back["apiVersion"], request.api_version.as_str());
            assert_eq!(
                back["cacheDuration"],
                wire::go_duration(Duration::from_secs(seconds))
            );
            assert_eq!(back["auth"][&host]["username"], "AWS");
            assert_eq!(back["auth"][&host]["password"], password);
        }
    }
});
