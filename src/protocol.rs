//! The docker-credential-helpers wire format, byte-for-byte as the Go library speaks it.
//!
//! Clients decide what happened from stdout alone: a JSON reply, or one error line that they
//! compare (after trimming) with fixed strings. So errors go to stdout, `\n`-terminated, with
//! exit status 1, and nothing else may ever be printed there.

use serde_json::Value;
use std::collections::BTreeMap;
use std::fmt;

/// The not-found sentinel: Docker turns it into "no credentials" and tries anonymously.
pub const NOT_FOUND: &str = "credentials not found in native keychain";
pub const MISSING_SERVER_URL: &str = "no credentials server URL";
pub const MISSING_USERNAME: &str = "no credentials username";
pub const NOT_IMPLEMENTED: &str = "not implemented";
/// Go's `bufio.Scanner` limit: a single input line longer than this is an error.
pub const MAX_LINE: usize = 64 * 1024;

/// A protocol-level failure; its `Display` is exactly the line printed on stdout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProtocolError {
    NotFound,
    MissingServerUrl,
    MissingUsername,
    NotImplemented,
    /// Input could not be read or decoded; the text mirrors Go's where it matters.
    BadInput(String),
}

impl fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ProtocolError::NotFound => NOT_FOUND,
            ProtocolError::MissingServerUrl => MISSING_SERVER_URL,
            ProtocolError::MissingUsername => MISSING_USERNAME,
            ProtocolError::NotImplemented => NOT_IMPLEMENTED,
            ProtocolError::BadInput(text) => text,
        })
    }
}

/// Concatenates the input's lines (without separators, as Go's scanner loop does) and trims.
fn joined_lines(input: &[u8]) -> Result<String, ProtocolError> {
    let mut joined = Vec::with_capacity(input.len().min(4096));
    for line in input.split(|&b| b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.len() > MAX_LINE {
            return Err(ProtocolError::BadInput(
                "bufio.Scanner: token too long".into(),
            ));
        }
        joined.extend_from_slice(line);
    }
    // Invalid UTF-8 becomes U+FFFD, as Go's JSON encoder would print it.
    Ok(String::from_utf8(joined)
        .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()))
}

/// The server URL of a `get`/`erase` request: all lines joined, whitespace trimmed.
pub fn read_server_url(input: &[u8]) -> Result<String, ProtocolError> {
    let text = joined_lines(input)?;
    let url = text.trim();
    if url.is_empty() {
        Err(ProtocolError::MissingServerUrl)
    } else {
        Ok(url.to_string())
    }
}

/// A `store` request's fields (the secret is not needed: nothing is stored).
#[derive(Debug, PartialEq, Eq)]
pub struct StoreRequest {
    pub server_url: String,
    pub username: String,
}

/// Decodes a `store` request like Go's `json.Decoder`: first JSON value only, field names
/// matched case-insensitively, unknown fields ignored, then `ServerURL` and `Username` required.
pub fn read_store(input: &[u8]) -> Result<StoreRequest, ProtocolError> {
    let text = joined_lines(input)?;
    let mut values = serde_json::Deserializer::from_str(&text).into_iter::<Value>();
    let value = match values.next() {
        None => return Err(ProtocolError::BadInput("EOF".into())),
        Some(Err(e)) => return Err(ProtocolError::BadInput(format!("invalid JSON: {}", e))),
        Some(Ok(v)) => v,
    };
    let fields = match value {
        Value::Object(fields) => fields,
        // Go decodes `null` into the zero value, which then fails validation.
        Value::Null => serde_json::Map::new(),
        _ => {
            return Err(ProtocolError::BadInput(
                "json: cannot unmarshal non-object into Go value of type credentials.Credentials"
                    .into(),
            ));
        }
    };
    let mut server_url = String::new();
    let mut username = String::new();
    for (name, value) in fields {
        let slot = match name.to_lowercase().as_str() {
            "serverurl" => &mut server_url,
            "username" => &mut username,
            "secret" => continue,
            _ => continue,
        };
        match value {
            Value::String(s) => *slot = s,
            Value::Null => {}
            _ => {
                return Err(ProtocolError::BadInput(format!(
                    "json: cannot unmarshal {} into Go struct field Credentials.{name} of type string",
                    kind(&value)
                )));
            }
        }
    }
    if server_url.is_empty() {
        return Err(ProtocolError::MissingServerUrl);
    }
    if username.is_empty() {
        return Err(ProtocolError::MissingUsername);
    }
    Ok(StoreRequest {
        server_url,
        username,
    })
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
        _ => "string",
    }
}

/// `{"ServerURL":…,"Username":…,"Secret":…}\n`, as Go's `json.Encoder` writes it.
pub fn encode_credentials(server_url: &str, username: &str, secret: &str) -> String {
    format!(
        "{{\"ServerURL\":{},\"Username\":{},\"Secret\":{}}}\n",
        go_json_string(server_url),
        go_json_string(username),
        go_json_string(secret)
    )
}

/// A `list` reply: a JSON object in key order, `{}` when empty, then `\n`.
pub fn encode_list(entries: &BTreeMap<String, String>) -> String {
    let body: Vec<String> = entries
        .iter()
        .map(|(k, v)| format!("{}:{}", go_json_string(k), go_json_string(v)))
        .collect();
    format!("{{{}}}\n", body.join(","))
}

/// A JSON string literal with Go's HTML-safe escaping (`<`, `>`, `&`, U+2028, U+2029).
pub fn go_json_string(text: &str) -> String {
    use std::fmt::Write as _;
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_url_is_joined_and_trimmed() {
        assert_eq!(
            read_server_url(b"host.example\n").as_deref(),
            Ok("host.example")
        );
        assert_eq!(read_server_url(b"  a\r\nb  ").as_deref(), Ok("ab"));
        assert_eq!(
            read_server_url(b" \n\t"),
            Err(ProtocolError::MissingServerUrl)
        );
        assert_eq!(read_server_url(b""), Err(ProtocolError::MissingServerUrl));
        let long = vec![b'a'; MAX_LINE + 1];
        assert_eq!(
            read_server_url(&long),
            Err(ProtocolError::BadInput(
                "bufio.Scanner: token too long".into()
            ))
        );
        assert!(
            read_server_url(&[0xff, 0xfe, b'x']).is_ok(),
            "invalid UTF-8 is not a crash"
        );
    }

    #[test]
    fn credentials_reply_bytes() {
        assert_eq!(
            encode_credentials(
                "123456789012.dkr.ecr.us-east-1.amazonaws.com",
                "AWS",
                "tok/+="
            ),
            "{\"ServerURL\":\"123456789012.dkr.ecr.us-east-1.amazonaws.com\",\"Username\":\"AWS\",\"Secret\":\"tok/+=\"}\n"
        );
        assert_eq!(
            go_json_string("<a&b>\u{2028}\"\\"),
            "\"\\u003ca\\u0026b\\u003e\\u2028\\\"\\\\\""
        );
    }

    #[test]
    fn json_strings_round_trip() {
        assert_eq!(go_json_string("a\nb\t\u{1}é"), "\"a\\nb\\t\\u0001é\"");
        for sample in [
            "",
            "plain",
            "quote\" back\\ slash",
            "\u{7f}\u{1f}x<&>",
            "日本\u{2029}",
        ] {
            let parsed: String =
                serde_json::from_str(&go_json_string(sample)).expect("valid JSON string");
            assert_eq!(parsed, sample);
        }
    }

    #[test]
    fn list_reply_bytes() {
        assert_eq!(encode_list(&BTreeMap::new()), "{}\n");
        let mut m = BTreeMap::new();
        m.insert("https://b".to_string(), "AWS".to_string());
        m.insert("https://a".to_string(), "AWS".to_string());
        assert_eq!(
            encode_list(&m),
            "{\"https://a\":\"AWS\",\"https://b\":\"AWS\"}\n"
        );
    }

    #[test]
    fn store_validation_matches_go() {
        assert_eq!(
            read_store(br#"{"ServerURL":"h","Username":"u","Secret":"s"}"#),
            Ok(StoreRequest {
                server_url: "h".into(),
                username: "u".into()
            })
        );
        assert_eq!(
            read_store(br#"{"serverurl":"h","USERNAME":"u","Email":"x"} trailing"#),
            Ok(StoreRequest {
                server_url: "h".into(),
                username: "u".into()
            })
        );
        assert_eq!(
            read_store(br#"{"Username":"u"}"#),
            Err(ProtocolError::MissingServerUrl)
        );
        assert_eq!(
            read_store(br#"{"ServerURL":"h"}"#),
            Err(ProtocolError::MissingUsername)
        );
        assert_eq!(read_store(b""), Err(ProtocolError::BadInput("EOF".into())));
        assert!(matches!(
            read_store(b"xyz"),
            Err(ProtocolError::BadInput(_))
        ));
        assert!(matches!(
            read_store(br#"{"ServerURL":1}"#),
            Err(ProtocolError::BadInput(_))
        ));
        assert!(matches!(
            read_store(b"[1]"),
            Err(ProtocolError::BadInput(_))
        ));
    }
}
