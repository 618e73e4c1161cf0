//! The kubelet's exec-plugin messages (`credentialprovider.kubelet.k8s.io`): the request read
//! from stdin and the response written to stdout.
//!
//! The two directions are decoded differently on purpose:
//!
//! * the **response** is decoded strictly by the kubelet — one unknown field anywhere and it is
//!   rejected — so [`Response`]'s `Display` is the exact JSON object, built from a struct that
//!   has exactly the API's fields and nothing optional left to chance;
//! * the **request** is read leniently: Kubernetes adds fields to `v1` without a version bump
//!   (`serviceAccountToken` and `serviceAccountAnnotations` arrived in 1.33), and a plugin that
//!   refused unknown input would break on the next kubelet. `kind` and `apiVersion` are checked;
//!   other fields are ignored.

use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

pub const REQUEST_KIND: &str = "CredentialProviderRequest";
pub const RESPONSE_KIND: &str = "CredentialProviderResponse";

/// The API versions the kubelet may speak; the answer is given in the one asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApiVersion {
    V1,
    V1beta1,
    V1alpha1,
}

impl ApiVersion {
    pub const ALL: [ApiVersion; 3] = [ApiVersion::V1, ApiVersion::V1beta1, ApiVersion::V1alpha1];

    pub fn as_str(self) -> &'static str {
        match self {
            ApiVersion::V1 => "credentialprovider.kubelet.k8s.io/v1",
            ApiVersion::V1beta1 => "credentialprovider.kubelet.k8s.io/v1beta1",
            ApiVersion::V1alpha1 => "credentialprovider.kubelet.k8s.io/v1alpha1",
        }
    }
}

/// A request, checked: what the plugin acts on.
pub struct Request {
    pub api_version: ApiVersion,
    pub image: String,
    /// The pod's projected ServiceAccount token (`tokenAttributes` configured). Held as a secret
    /// from the moment it is decoded.
    pub service_account_token: Option<SecretString>,
    /// Only the annotation keys the kubelet config names.
    pub service_account_annotations: BTreeMap<String, String>,
}

impl fmt::Debug for Request {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Request")
            .field("api_version", &self.api_version)
            .field("image", &self.image)
            .field(
                "service_account_token",
                &self.service_account_token.as_ref().map(|_| "<redacted>"),
            )
            .field(
                "service_account_annotations",
                &self.service_account_annotations,
            )
            .finish()
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawRequest {
    kind: Option<String>,
    api_version: Option<String>,
    image: Option<String>,
    service_account_token: Option<String>,
    #[serde(default)]
    service_account_annotations: Option<BTreeMap<String, String>>,
}

/// Why a request was refused; `Display` is the one line for stderr.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadRequest(pub String);

impl fmt::Display for BadRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Decodes and checks a request. Error messages quote nothing from the input but short,
/// sanitized field values (never the token).
pub fn parse_request(input: &[u8]) -> Result<Request, BadRequest> {
    if input.iter().all(u8::is_ascii_whitespace) {
        return Err(BadRequest("empty request on stdin".into()));
    }
    // Only the position of a decoding error is told: serde_json's message can quote a value,
    // and a malformed request may hold the ServiceAccount token.
    let raw: RawRequest = serde_json::from_slice(input).map_err(|e| {
        let what = match e.classify() {
            serde_json::error::Category::Data => {
                "is not a CredentialProviderRequest object (a field has the wrong type)"
            }
            _ => "is not valid JSON",
        };
        BadRequest(format!(
            "the request {what} at line {} column {}",
            e.line(),
            e.column()
        ))
    })?;
    match raw.kind.as_deref() {
        Some(REQUEST_KIND) => {}
        Some(other) => {
            return Err(BadRequest(format!(
                "kind is {}, expected {REQUEST_KIND}",
                shown(other)
            )));
        }
        None => {
            return Err(BadRequest(format!(
                "kind is missing, expected {REQUEST_KIND}"
            )));
        }
    }
    let version = raw
        .api_version
        .ok_or_else(|| BadRequest("apiVersion is missing".into()))?;
    let api_version = ApiVersion::ALL
        .into_iter()
        .find(|v| v.as_str() == version)
        .ok_or_else(|| {
            BadRequest(format!(
                "apiVersion {} is not supported (credentialprovider.kubelet.k8s.io/v1, v1beta1 or v1alpha1)",
                shown(&version)
            ))
        })?;
    let image = raw
        .image
        .map(|i| i.trim().to_string())
        .filter(|i| !i.is_empty())
        .ok_or_else(|| BadRequest("image is missing or empty".into()))?;
    if image.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(BadRequest(format!(
            "image {} is not an image reference",
            shown(&image)
        )));
    }
    Ok(Request {
        api_version,
        image,
        service_account_token: raw
            .service_account_token
            .filter(|t| !t.is_empty())
            .map(SecretString::from),
        service_account_annotations: raw.service_account_annotations.unwrap_or_default(),
    })
}

/// A value from the input for a message: bounded, printable.
fn shown(text: &str) -> String {
    let clean: String = text
        .chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .take(100)
        .collect();
    format!("{clean:?}")
}

/// The answer. `Display` is exactly the JSON the kubelet decodes, and a newline.
pub struct Response {
    pub api_version: ApiVersion,
    /// How long the kubelet may reuse the answer; `Duration::ZERO` means "do not cache".
    pub cache_duration: Duration,
    /// Registry host (as the image names it) → credentials. Empty: nothing to offer.
    pub auth: BTreeMap<String, Auth>,
}

pub struct Auth {
    pub username: String,
    pub password: SecretString,
}

/// The wire shape: exactly the API's fields, in the API's order.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct WireResponse<'a> {
    kind: &'static str,
    api_version: &'static str,
    cache_key_type: &'static str,
    cache_duration: String,
    auth: BTreeMap<&'a str, WireAuth<'a>>,
}

#[derive(Serialize)]
struct WireAuth<'a> {
    username: &'a str,
    password: &'a str,
}

impl fmt::Display for Response {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use secrecy::ExposeSecret;
        let wire = WireResponse {
            kind: RESPONSE_KIND,
            api_version: self.api_version.as_str(),
            // One ECR token serves every image of its registry.
            cache_key_type: "Registry",
            cache_duration: go_duration(self.cache_duration),
            auth: self
                .auth
                .iter()
                .map(|(host, auth)| {
                    (
                        host.as_str(),
                        WireAuth {
                            username: &auth.username,
                            password: auth.password.expose_secret(),
                        },
                    )
                })
                .collect(),
        };
        let json = serde_json::to_string(&wire).map_err(|_| fmt::Error)?;
        writeln!(f, "{json}")
    }
}

/// Go's `time.Duration.String()` for whole seconds: `5h59m30s`, `1m0s`, `45s`, `0s` (what
/// `metav1.Duration` prints and parses).
pub fn go_duration(duration: Duration) -> String {
    let secs = duration.as_secs();
    let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
    match (h, m) {
        (0, 0) => format!("{s}s"),
        (0, _) => format!("{m}m{s}s"),
        _ => format!("{h}h{m}m{s}s"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_print_as_go_does() {
        let d = |s| go_duration(Duration::from_secs(s));
        assert_eq!(d(0), "0s");
        assert_eq!(d(45), "45s");
        assert_eq!(d(60), "1m0s");
        assert_eq!(d(3600), "1h0m0s");
        assert_eq!(d(6 * 3600 - 30), "5h59m30s");
        assert_eq!(d(36 * 3600 + 61), "36h1m1s");
        assert_eq!(go_duration(Duration::from_millis(1999)), "1s");
    }

    #[test]
    fn requests_of_every_version_parse_and_unknown_fields_are_ignored() {
        for version in ApiVersion::ALL {
            let input = format!(
                r#"{{"kind":"CredentialProviderRequest","apiVersion":"{}","image":" 1.dkr/x ","future":1}}"#,
                version.as_str()
            );
            let request = parse_request(input.as_bytes()).expect("valid");
            assert_eq!(request.api_version, version);
            assert_eq!(request.image, "1.dkr/x");
            assert!(request.service_account_token.is_none());
        }
    }

    #[test]
    fn bad_requests_say_what_is_wrong_without_quoting_the_token() {
        let bad = |input: &str| parse_request(input.as_bytes()).expect_err(input).0;
        assert!(bad("").contains("empty"));
        assert!(bad("nope").contains("not valid JSON at line 1"));
        let quoted = bad(r#""SECRET""#);
        assert!(
            quoted.contains("not a CredentialProviderRequest") && !quoted.contains("SECRET"),
            "{quoted}"
        );
        assert!(
            bad(r#"{"apiVersion":"credentialprovider.kubelet.k8s.io/v1","image":"x"}"#)
                .contains("kind is missing")
        );
        assert!(
            bad(r#"{"kind":"CredentialProviderRequest","apiVersion":"v2","image":"x","serviceAccountToken":"SECRET"}"#)
                .contains("apiVersion \"v2\" is not supported")
        );
        let missing = bad(
            r#"{"kind":"CredentialProviderRequest","apiVersion":"credentialprovider.kubelet.k8s.io/v1","serviceAccountToken":"SECRET"}"#,
        );
        assert!(missing.contains("image is missing") && !missing.contains("SECRET"));
        assert!(
            bad(r#"{"kind":"CredentialProviderRequest","apiVersion":"credentialprovider.kubelet.k8s.io/v1","image":"a b"}"#)
                .contains("not an image reference")
        );
        let debug = format!(
            "{:?}",
            parse_request(
                br#"{"kind":"CredentialProviderRequest","apiVersion":"credentialprovider.kubelet.k8s.io/v1","image":"x","serviceAccountToken":"SECRET"}"#
            )
            .expect("valid")
        );
        assert!(!debug.contains("SECRET"), "{debug}");
    }

    #[test]
    fn the_response_has_exactly_the_api_fields_in_order() {
        let mut auth = BTreeMap::new();
        auth.insert(
            "1.dkr.ecr.us-east-1.amazonaws.com".to_string(),
            Auth {
                username: "AWS".into(),
                password: SecretString::from("pw\"x"),
            },
        );
        let response = Response {
            api_version: ApiVersion::V1beta1,
            cache_duration: Duration::from_secs(21570),
            auth,
        };
        assert_eq!(
            response.to_string(),
            "{\"kind\":\"CredentialProviderResponse\",\
             \"apiVersion\":\"credentialprovider.kubelet.k8s.io/v1beta1\",\
             \"cacheKeyType\":\"Registry\",\"cacheDuration\":\"5h59m30s\",\
             \"auth\":{\"1.dkr.ecr.us-east-1.amazonaws.com\":{\"username\":\"AWS\",\"password\":\"pw\\\"x\"}}}\n"
        );
    }
}
