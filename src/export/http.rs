//! Sending one platform API request: auth header, JSON body, timeouts, the shared retry policy
//! (`retry.rs`) and redaction (`redact.rs`) of anything that may reach a message.
//!
//! Redirects are never followed: a client following them sends custom key headers
//! (`X-Octopus-ApiKey`) and bodies holding the password to whatever host the `Location` names.
//! A redirect is an error naming that host.
//!
//! Retried (see [`RetryOn`]): network errors and timeouts, 429 (honouring `Retry-After`),
//! 500/502/503/504, and a documented conflict the caller names; for a create only what surely
//! did not create anything (connection failed, 429). Never retried: other 4xx. The caller gets
//! the final response and decides.

use super::redact::{Redactor, display_url, percent_encode};
use super::retry::{self, Failure};
use super::target::TargetError;
use crate::error_chain::error_chain;
use reqwest::{Method, StatusCode};
use secrecy::{ExposeSecret, SecretString};
use std::time::Duration;

/// How much of an error body goes into a message.
const BODY_SNIPPET: usize = 300;
/// How much of an error body is scanned for secrets before the snippet is cut from it.
const BODY_SCAN: usize = 64 * 1024;
/// The largest answer read. Platform answers are kilobytes (a page of feeds, the list of
/// registry credentials); a server sending more (a misrouted download, a hostile endpoint)
/// would otherwise be read whole into memory, up to the request timeout.
pub const MAX_BODY: usize = 4 * 1024 * 1024;

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

    /// 500/502/503/504: the server may or may not have done the work.
    pub fn is_server_error(&self) -> bool {
        matches!(self.status.as_u16(), 500 | 502 | 503 | 504)
    }
}

/// An HTTP-level failure, already redacted; URLs are shown without their query.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error("{method} {url}: {reason} (after {attempts} attempt(s))")]
    Network {
        method: String,
        url: String,
        reason: String,
        attempts: u32,
        /// False only when the connection could not be made: the server saw nothing.
        maybe_arrived: bool,
    },
    #[error(
        "{method} {url}: HTTP {status} redirect to {location} not followed (credentials are only sent to the configured URL; configure the final URL instead)"
    )]
    Redirect {
        method: String,
        url: String,
        status: u16,
        location: String,
    },
}

impl HttpError {
    /// Whether the server may have received (and acted on) the request.
    pub fn maybe_arrived(&self) -> bool {
        match self {
            HttpError::Network { maybe_arrived, .. } => *maybe_arrived,
            HttpError::Redirect { .. } => true,
        }
    }
}

impl From<HttpError> for TargetError {
    fn from(e: HttpError) -> Self {
        TargetError(e.to_string())
    }
}

/// Which failures of a call are retried.
#[derive(Clone, Copy)]
pub enum RetryOn {
    /// Idempotent calls (reads, upserts, updates): network errors, timeouts, 429, 5xx.
    Transient,
    /// `Transient` plus a documented retryable conflict (status + body).
    TransientOr(fn(StatusCode, &str) -> bool),
    /// A create: retried only when it surely created nothing (connection failed, 429). After
    /// a timeout or a 5xx it may exist: the caller lists again instead of creating twice.
    Create,
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

/// What one attempt produced, before the retry decision.
enum Attempt {
    Answer(Response, Option<Duration>),
    Error(reqwest::Error),
    /// The answer was larger than [`MAX_BODY`]; not read further, not retried.
    TooLarge,
}

/// The body, at most [`MAX_BODY`] bytes of it (`None` past that). JSON APIs answer UTF-8;
/// anything else is decoded lossily for messages.
async fn bounded_body(mut resp: reqwest::Response) -> Result<Option<String>, reqwest::Error> {
    if resp.content_length().is_some_and(|n| n > MAX_BODY as u64) {
        return Ok(None);
    }
    let mut body = Vec::new();
    while let Some(chunk) = resp.chunk().await? {
        if body.len() + chunk.len() > MAX_BODY {
            return Ok(None);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Some(match String::from_utf8(body) {
        Ok(text) => text,
        Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
    }))
}

impl Http {
    pub fn new(timeout: Duration, retries: u32, redactor: Redactor) -> Result<Http, String> {
        // reqwest is built without a default crypto provider; the process uses ring everywhere.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(10)))
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("ecr-login-export/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| format!("cannot build the HTTP client: {e}"))?;
        Ok(Http {
            client,
            retries,
            redactor,
        })
    }

    /// Extra attempts allowed on retryable errors.
    pub fn retries(&self) -> u32 {
        self.retries
    }

    async fn attempt(
        &self,
        method: &Method,
        url: &str,
        auth: &Auth<'_>,
        body: Option<&serde_json::Value>,
    ) -> Attempt {
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
        let resp = match request.send().await {
            Ok(resp) => resp,
            Err(e) => return Attempt::Error(e),
        };
        let status = resp.status();
        let retry_after = resp
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(retry::parse_retry_after);
        let location = resp
            .headers()
            .get(reqwest::header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        match bounded_body(resp).await {
            Ok(None) => Attempt::TooLarge,
            Ok(Some(_)) if status.is_redirection() => Attempt::Answer(
                Response {
                    status,
                    body: location.unwrap_or_default(),
                },
                None,
            ),
            Ok(Some(body)) => Attempt::Answer(Response { status, body }, retry_after),
            Err(e) => Attempt::Error(e),
        }
    }

    /// Sends one request, retrying what `retry_on` allows; a redirect is an error.
    pub async fn send(
        &self,
        method: Method,
        url: &str,
        auth: &Auth<'_>,
        body: Option<&serde_json::Value>,
        retry_on: RetryOn,
    ) -> Result<Response, HttpError> {
        let method = &method;
        let answer = retry::retry(self.retries, |n| async move {
            match self.attempt(method, url, auth, body).await {
                Attempt::Answer(resp, _) if resp.status.is_redirection() => {
                    Err(Failure::Fail(self.redirect(method, url, &resp)))
                }
                Attempt::Answer(resp, after) => {
                    let transient = resp.status == StatusCode::TOO_MANY_REQUESTS
                        || (resp.is_server_error() && !matches!(retry_on, RetryOn::Create))
                        || matches!(retry_on, RetryOn::TransientOr(conflict) if conflict(resp.status, &resp.body));
                    if transient {
                        tracing::info!(url = self.shown_url(url), status = resp.status.as_u16(), "retryable answer");
                        Err(Failure::Retry { after, error: Ok(resp) })
                    } else {
                        Ok(resp)
                    }
                }
                Attempt::TooLarge => Err(Failure::Fail(Err(HttpError::Network {
                    method: method.to_string(),
                    url: self.shown_url(url),
                    reason: format!(
                        "the answer is larger than {} MiB; not read",
                        MAX_BODY / (1024 * 1024)
                    ),
                    attempts: n,
                    maybe_arrived: true,
                }))),
                Attempt::Error(e) => {
                    let error = self.network(method, url, &e, n);
                    if error.maybe_arrived() && matches!(retry_on, RetryOn::Create) {
                        Err(Failure::Fail(Err(error)))
                    } else {
                        tracing::info!(url = self.shown_url(url), error = %error, "request failed");
                        Err(Failure::Retry { after: None, error: Err(error) })
                    }
                }
            }
        })
        .await;
        match answer {
            Ok(resp) => Ok(resp),
            Err(last) => last,
        }
    }

    /// A URL as messages show it: no query, and no secret in its path. The path holds ids the
    /// server chose (an Octopus space id, a Runpod auth id), so it is redacted like a body.
    fn shown_url(&self, url: &str) -> String {
        self.redactor.redact(display_url(url))
    }

    fn redirect(&self, method: &Method, url: &str, resp: &Response) -> Result<Response, HttpError> {
        // Name only where it points (scheme, host, port), never its path or query.
        let location = reqwest::Url::parse(url)
            .and_then(|base| base.join(&resp.body))
            .map(|to| {
                let host = to.host_str().unwrap_or("?");
                match to.port() {
                    Some(port) => format!("{}://{host}:{port}", to.scheme()),
                    None => format!("{}://{host}", to.scheme()),
                }
            })
            .unwrap_or_else(|_| "an unparsable Location".to_string());
        Err(HttpError::Redirect {
            method: method.to_string(),
            url: self.shown_url(url),
            status: resp.status.as_u16(),
            location: self.redactor.redact(&location),
        })
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
            url: self.shown_url(url),
            reason,
            attempts,
            maybe_arrived: !e.is_connect(),
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

#[cfg(test)]
mod tests {
    use super::*;

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

    /// Found by the fuzzer: an Octopus server answered with a space id holding the token, the
    /// next URL's path held the id, and a redirect error showed that URL.
    #[test]
    fn urls_in_errors_are_redacted() {
        let secret = "fuzz-registry-password-Zx8Cv7Bn";
        let http = match Http::new(
            Duration::from_secs(1),
            0,
            Redactor::new([secret.to_string()]),
        ) {
            Ok(http) => http,
            Err(e) => panic!("client: {e}"),
        };
        let url = format!("http://127.0.0.1:1/api/{secret}!x/feeds?apikey=k");
        let resp = Response {
            status: StatusCode::from_u16(307).unwrap_or(StatusCode::TEMPORARY_REDIRECT),
            body: "/elsewhere".to_string(),
        };
        let Err(error) = http.redirect(&Method::GET, &url, &resp) else {
            panic!("a redirect is an error")
        };
        let shown = error.to_string();
        assert!(!shown.contains(secret), "{shown}");
        assert!(!shown.contains("apikey"), "{shown}");
        assert!(shown.contains("/api/<redacted>!x/feeds"), "{shown}");
    }
}
