//! Keeping secrets out of everything a user or a log may see.
//!
//! Every message built from a server's answer or an error chain goes through a [`Redactor`]
//! that knows all secrets of the run (ECR token and password, every platform API key). URLs are
//! shown without their query string ([`display_url`]): a query may carry a key.

use secrecy::{ExposeSecret, SecretString};
use std::sync::Arc;

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

/// `url` without its query string and fragment, for messages and logs.
pub fn display_url(url: &str) -> &str {
    url.split(['?', '#']).next().unwrap_or(url)
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
    fn urls_are_shown_without_queries() {
        assert_eq!(
            display_url("https://o.example/api/feeds?partialName=x&apikey=k"),
            "https://o.example/api/feeds"
        );
        assert_eq!(display_url("https://o.example/a#f"), "https://o.example/a");
    }
}
