//! HTTP for the platform targets: one request with retries, backoff and `Retry-After`, and
//! redaction of every secret from anything that may reach a message.
//!
//! Retried: network errors and timeouts, 429 (honouring `Retry-After`), 500/502/503/504, and
//! whatever the caller declares a documented conflict (Pipecat 409 `CONFLICT`). Never retried:
//! other 4xx (auth, validation). The caller gets the final response and decides.

use super::target::TargetError;
use crate::error_chain::error_chain;
use reqwest::{Method, StatusCode};
use secrecy::{ExposeSecret, SecretString};
use std::sync::Arc;
use std::time::Duration;

/// Longest wait honoured from a `Retry-After` header.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(60);
const BACKOFF_BASE: Duration = Duration::from_millis(200);
const BACKOFF_MAX: Duration = Duration::from_secs(10);
/// How much of an error body goes into a message.
const BODY_SNIPPET: usize = 300;
/// How much of an error body is scanned for secrets before the snippet is cut from it.
const BODY_SCAN: usize = 64 * 1024;

/// Shortest run of token characters treated as a fragment of a secret. Long enough that
/// ordinary words, ids and host names never match by chance.
const MIN_FRAGMENT: usize = 16;

/// Replaces every known secret (token, password, API keys) in text.
///
/// Servers echo secrets back in ways a plain search misses: JSON-escaped (`\/`), URL-encoded,
/// or cut short. So besides the whole secret and those encodings, any run of 16 or more
/// base64/url-safe characters that occurs inside a secret is replaced too.
#[derive(Clone, Default)]
pub struct Redactor {
    secrets: Arc<Vec<String>>,
}

impl Redactor {
    pub fn new(secrets: impl IntoIterator<Item = String>) -> Redactor {
        let mut list: Vec<String> = secrets.into_iter().filter(|s| s.len() >= 4).collect();
        // Longest first, so a secret containing another is replaced whole.
        list.sort_by_key(|s| std::cmp::Reverse(s.len()));
        list.dedup();
        Redactor {
            secrets: Arc::new(list),
        }
    }

    pub fn with(&self, more: &SecretString) -> Redactor {
        let mut all: Vec<String> = self.secrets.as_ref().clone();
        all.push(more.expose_secret().to_string());
        Redactor::new(all)
    }

    pub fn redact(&self, text: &str) -> String {
        let mut out = text.to_string();
        for s in self.secrets.iter() {
            for form in [s.clone(), s.replace('/', "\\/"), percent_encode(s)] {
                if out.contains(form.as_str()) {
                    out = out.replace(form.as_str(), "<redacted>");
                }
            }
        }
        self.redact_fragments(&out)
    }

    fn redact_fragments(&self, text: &str) -> String {
        let is_token = |c: char| c.is_ascii_alphanumeric() || matches!(c, '+' | '/' | '-' | '_');
        let mut out = String::with_capacity(text.len());
        let mut rest = text;
        while let Some(start) = rest.find(is_token) {
            out.push_str(&rest[..start]);
            rest = &rest[start..];
            let end = rest.find(|c: char| !is_token(c)).unwrap_or(rest.len());
            let run = &rest[..end];
            if run.len() >= MIN_FRAGMENT && self.secrets.iter().any(|s| s.contains(run)) {
                out.push_str("<redacted>");
            } else {
                out.push_str(run);
            }
            rest = &rest[end..];
        }
        out.push_str(rest);
        out
    }
}

/// RFC 3986 percent-encoding of everything but the unreserved characters.
pub fn percent_encode(text: &str) -> String {
    let mut out = String::new();
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// One URL path segment built from a value (an id a server returned, a configured name):
/// percent-encoded so that `/`, `?`, `#`, `%` or spaces inside it cannot change the URL.
/// Empty, `.` and `..` are refused: no encoding keeps them from meaning "the collection",
/// "this" or "parent" (URL parsers decode `%2E` in dot segments).
pub fn path_segment(value: &str) -> Result<String, TargetError> {
    if value.is_empty() || value == "." || value == ".." {
        return Err(TargetError(format!(
            "{value:?} cannot be used as a URL path segment"
        )));
    }
    Ok(percent_encode(value))
}

/// A response read whole. `Debug` shows only the body's size: a server may echo secrets.
#[derive(Clone)]
pub struct Response {
    pub status: StatusCode,
    pub body: String,
}

impl std::fmt::Debug for Response {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Response")
            .field("status", &self.status)
            .field("body_bytes", &self.body.len())
            .finish()
    }
}

impl Response {
    pub fn json(&self) -> Option<serde_json::Value> {
        serde_json::from_str(&self.body).ok()
    }

    pub fn is_success(&self) -> bool {
        self.status.is_success()
    }
}

/// An HTTP-level failure, already redacted.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error("{method} {url}: {reason} (after {attempts} attempt(s))")]
    Network {
        method: String,
        url: String,
        reason: String,
        attempts: u32,
    },
}

/// Settings shared by every request of one target.
#[derive(Clone)]
pub struct Http {
    client: reqwest::Client,
    retries: u32,
    pub redactor: Redactor,
}

/// How to authenticate a request.
pub enum Auth<'a> {
    Bearer(&'a SecretString),
    Header(&'static str, &'a SecretString),
}

impl Http {
    pub fn new(timeout: Duration, retries: u32, redactor: Redactor) -> Result<Http, String> {
        // reqwest is built without a default crypto provider; the process uses ring everywhere.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(10)))
            .user_agent(concat!("ecr-login-export/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| format!("cannot build the HTTP client: {e}"))?;
        Ok(Http {
            client,
            retries,
            redactor,
        })
    }

    /// Sends one request, retrying what is retryable. `conflict_retryable` marks documented
    /// retryable conflicts (status + body) beyond the generic rules.
    pub async fn send(
        &self,
        method: Method,
        url: &str,
        auth: &Auth<'_>,
        body: Option<&serde_json::Value>,
        conflict_retryable: &(dyn Fn(StatusCode, &str) -> bool + Sync),
    ) -> Result<Response, HttpError> {
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            let mut request = self
                .client
                .request(method.clone(), url)
                .header("Accept", "application/json");
            request = match auth {
                Auth::Bearer(key) => request.bearer_auth(key.expose_secret()),
                Auth::Header(name, key) => request.header(*name, key.expose_secret()),
            };
            if let Some(body) = body {
                request = request.json(body);
            }
            let last = attempt > self.retries;
            match request.send().await {
                Ok(resp) => {
                    let status = resp.status();
                    let retry_after = resp
                        .headers()
                        .get(reqwest::header::RETRY_AFTER)
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| v.trim().parse::<u64>().ok())
                        .map(Duration::from_secs);
                    let body = match resp.text().await {
                        Ok(b) => b,
                        Err(e) if !last => {
                            tracing::debug!(url, error = %self.redactor.redact(&e.to_string()), "reading the body failed; retrying");
                            tokio::time::sleep(backoff(attempt)).await;
                            continue;
                        }
                        Err(e) => return Err(self.network(&method, url, &e, attempt)),
                    };
                    // A server asking for a longer pause than we are willing to wait gets the
                    // error now rather than a doomed early retry.
                    let retryable = (status == StatusCode::TOO_MANY_REQUESTS
                        || matches!(status.as_u16(), 500 | 502 | 503 | 504)
                        || conflict_retryable(status, &body))
                        && retry_after.is_none_or(|w| w <= MAX_RETRY_AFTER);
                    if retryable && !last {
                        let wait = retry_after.unwrap_or_else(|| backoff(attempt));
                        tracing::info!(
                            url,
                            status = status.as_u16(),
                            wait_ms = wait.as_millis() as u64,
                            "retrying"
                        );
                        tokio::time::sleep(wait).await;
                        continue;
                    }
                    return Ok(Response { status, body });
                }
                Err(e) if !last => {
                    tracing::info!(url, error = %self.redactor.redact(&e.to_string()), "request failed; retrying");
                    tokio::time::sleep(backoff(attempt)).await;
                }
                Err(e) => return Err(self.network(&method, url, &e, attempt)),
            }
        }
    }

    /// Extra attempts allowed on retryable errors.
    pub fn retries(&self) -> u32 {
        self.retries
    }

    fn network(&self, method: &Method, url: &str, e: &reqwest::Error, attempts: u32) -> HttpError {
        let reason = if e.is_timeout() {
            "timed out".to_string()
        } else if e.is_connect() {
            "connection failed".to_string()
        } else {
            self.redactor.redact(&error_chain(e))
        };
        HttpError::Network {
            method: method.to_string(),
            url: url.to_string(),
            reason,
            attempts,
        }
    }

    /// `"HTTP 401: <redacted body snippet>"` for messages.
    pub fn describe(&self, resp: &Response) -> String {
        // Bound the work on a huge body; a secret cut at the bound is still caught as a fragment.
        let head: String = resp.body.trim().chars().take(BODY_SCAN).collect();
        let body = self.redactor.redact(&head);
        let mut snippet: String = body.chars().take(BODY_SNIPPET).collect();
        if body.chars().count() > BODY_SNIPPET {
            snippet.push('…');
        }
        let snippet = snippet.split_whitespace().collect::<Vec<_>>().join(" ");
        if snippet.is_empty() {
            format!("HTTP {}", resp.status.as_u16())
        } else {
            format!("HTTP {}: {snippet}", resp.status.as_u16())
        }
    }
}

/// Exponential backoff with full jitter.
pub fn backoff(attempt: u32) -> Duration {
    let cap = BACKOFF_BASE
        .saturating_mul(1u32 << attempt.min(16))
        .min(BACKOFF_MAX);
    let millis = cap.as_millis() as u64;
    Duration::from_millis(fastrand::u64(millis / 2..=millis.max(1)))
}

/// Never retry beyond the generic rules.
pub fn no_conflicts(_: StatusCode, _: &str) -> bool {
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redaction_replaces_every_secret() {
        let r = Redactor::new([
            "s3cr3t-token".to_string(),
            "key".to_string(),
            "api-key-1".to_string(),
        ]);
        assert_eq!(
            r.redact("x s3cr3t-token y api-key-1 key"),
            "x <redacted> y <redacted> key"
        );
    }

    #[test]
    fn redaction_catches_escaped_encoded_and_truncated_echoes() {
        let pw = "eyJwYXlsb2FkIjoiQUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo/+/0123456789abcdef==";
        let r = Redactor::new([pw.to_string()]);
        let escaped = pw.replace('/', "\\/");
        for text in [
            format!("bad: {escaped}"),
            format!("bad: {}", percent_encode(pw)),
            format!("bad: \"{}...\"", &pw[..40]),
            format!("password={}", &pw[10..50]),
        ] {
            let out = r.redact(&text);
            assert!(out.contains("<redacted>"), "{out}");
            assert!(!out.contains(&pw[10..30]), "{out}");
        }
        assert_eq!(
            r.redact("registry 123456789012.dkr.ecr.us-east-1.amazonaws.com not found"),
            "registry 123456789012.dkr.ecr.us-east-1.amazonaws.com not found"
        );
    }

    #[test]
    fn path_segments_cannot_escape() {
        let ok = |v: &str| path_segment(v).map_err(|e| e.0);
        assert_eq!(ok("Feeds-1"), Ok("Feeds-1".to_string()));
        assert_eq!(ok("cl_abc.9~x"), Ok("cl_abc.9~x".to_string()));
        assert_eq!(ok("a/b?c#d e%"), Ok("a%2Fb%3Fc%23d%20e%25".to_string()));
        assert_eq!(ok("..x"), Ok("..x".to_string()));
        assert_eq!(ok("ü"), Ok("%C3%BC".to_string()));
        for bad in ["", ".", ".."] {
            assert!(path_segment(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn backoff_is_bounded() {
        for attempt in 1..40 {
            assert!(backoff(attempt) <= BACKOFF_MAX);
        }
    }
}
