//! Failure notification: on a run with a failed target, one POST of a JSON summary to
//! `[defaults] notify_url` so cron failures do not stay silent. The body has a `text` field
//! (what Slack and Teams incoming webhooks display) and the per-target rows; rows are already
//! redacted. A failing notification is logged and never changes the exit code. The URL itself
//! is a secret (webhook URLs carry their token): it is never printed.

use super::report::Row;
use secrecy::{ExposeSecret, SecretString};
use serde_json::json;
use std::time::Duration;

/// The summary posted for `rows`.
pub fn body(rows: &[Row]) -> serde_json::Value {
    let failed: Vec<&Row> = rows.iter().filter(|r| !r.ok).collect();
    let mut text = format!(
        "ecr-login export: {} of {} target(s) failed",
        failed.len(),
        rows.len()
    );
    for r in &failed {
        text.push_str(&format!(
            "\n• {} ({}): {}",
            r.target,
            r.kind,
            r.error.as_deref().unwrap_or("failed")
        ));
    }
    let targets: Vec<_> = rows
        .iter()
        .map(|r| json!({ "target": r.target, "type": r.kind, "ok": r.ok, "error": r.error }))
        .collect();
    json!({ "text": text, "targets": targets })
}

/// Posts the summary; returns why it failed, for the log (never the URL).
pub fn send(url: &SecretString, rows: &[Row], timeout: Duration) -> Result<(), String> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = reqwest::Client::builder()
        .timeout(timeout)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| format!("cannot build the HTTP client: {e}"))?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the async runtime: {e}"))?;
    let body = body(rows);
    runtime.block_on(async {
        match client.post(url.expose_secret()).json(&body).send().await {
            Ok(resp) if resp.status().is_success() => Ok(()),
            Ok(resp) => Err(format!("HTTP {}", resp.status().as_u16())),
            Err(e) if e.is_timeout() => Err("timed out".to_string()),
            Err(e) if e.is_connect() => Err("connection failed".to_string()),
            Err(_) => Err("request failed".to_string()),
        }
    })
}
