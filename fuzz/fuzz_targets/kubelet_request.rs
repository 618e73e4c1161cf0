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
use std::collections::BTreeMap;
use std::time::Duration;

/// The request's `serviceAccountToken`, when it stands in the input only once (a token that
/// is also the `kind` or the image may rightly be quoted as those).
fn lone_token(input: &[u8]) -> Option<String> {
    let value: serde_json::Value = serde_json::from_slice(input).ok()?;
    let token = value.get("serviceAccountToken")?.as_str()?.to_string();
    let text = String::from_utf8_lossy(input);
    (token.len() >= 8 && text.matches(token.as_str()).count() == 1).then_some(token)
}

fuzz_target!(|input: &[u8]| {
    let token = lone_token(input);
    match wire::parse_request(input) {
        Err(e) => {
            let line = e.to_string();
            assert!(!line.contains('\n'), "two lines: {line:?}");
            if let Some(t) = &token {
                // A token can be a substring of the message's own words ("apiVersion is
                // missing"): the message echoes the token only if it also echoes a replacement
                // of the same length written in its place.
                let echoed = line.contains(t.as_str()) && {
                    let fill = ['#', '~', 'Z']
                        .into_iter()
                        .find(|c| !t.contains(*c))
                        .unwrap_or('#');
                    let stand_in: String = std::iter::repeat_n(fill, t.chars().count()).collect();
                    let replaced =
                        String::from_utf8_lossy(input).replacen(t.as_str(), &stand_in, 1);
                    wire::parse_request(replaced.as_bytes())
                        .err()
                        .is_some_and(|e| e.to_string().contains(&stand_in))
                };
                assert!(!echoed, "the error shows the token: {line}");
            }
        }
        Ok(request) => {
            assert!(!request.image.is_empty());
            if let Some(t) = &token {
                assert!(
                    !format!("{request:?}").contains(t.as_str()),
                    "Debug shows the token"
                );
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
