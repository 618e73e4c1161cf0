//! Results of one run: a human table, JSON, and a Prometheus textfile that accumulates across
//! runs (last attempt, last success, pushed token expiry, failures per target).

use super::target::Action;
use serde_json::json;
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

pub struct Row {
    pub target: String,
    pub kind: &'static str,
    pub source: String,
    pub action: Option<Action>,
    pub ok: bool,
    pub dry_run: bool,
    pub duration: Duration,
    pub detail: String,
    pub error: Option<String>,
    pub warnings: Vec<String>,
    /// Expiry of the token this target received (or would receive).
    pub token_expires_at: Option<OffsetDateTime>,
    /// The token was written to the target (also when the run still fails it, e.g. a token
    /// that lasts too short): the metrics then show that token's real expiry.
    pub pushed: bool,
}

impl Row {
    fn action_text(&self) -> &'static str {
        match (self.action, self.dry_run && !self.ok) {
            (_, true) | (None, _) => "error",
            (Some(a), false) => a.as_str(),
        }
    }

    fn result_text(&self) -> &'static str {
        match (self.ok, self.dry_run) {
            (true, true) => "planned",
            (true, false) => "ok",
            (false, _) => "failed",
        }
    }
}

fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&Rfc3339).unwrap_or_default()
}

pub fn table(rows: &[Row], dry_run: bool) -> String {
    let header = ["TARGET", "TYPE", "ACTION", "RESULT", "DURATION"];
    let cells: Vec<[String; 5]> = rows
        .iter()
        .map(|r| {
            [
                r.target.clone(),
                r.kind.to_string(),
                r.action_text().to_string(),
                r.result_text().to_string(),
                format!("{:.2}s", r.duration.as_secs_f64()),
            ]
        })
        .collect();
    let mut widths = header.map(str::len);
    for row in &cells {
        for (w, c) in widths.iter_mut().zip(row) {
            *w = (*w).max(c.chars().count());
        }
    }
    let line = |cols: [&str; 5]| -> String {
        let mut out = String::new();
        for (i, (c, w)) in cols.iter().zip(widths).enumerate() {
            if i + 1 == cols.len() {
                out.push_str(c);
            } else {
                out.push_str(&format!("{c:<w$}  "));
            }
        }
        out.push('\n');
        out
    };
    let mut out = line(header);
    for row in &cells {
        out.push_str(&line([&row[0], &row[1], &row[2], &row[3], &row[4]]));
    }
    let mut notes = String::new();
    for r in rows {
        for w in &r.warnings {
            notes.push_str(&format!("{}: warning: {w}\n", r.target));
        }
        if let Some(e) = &r.error {
            notes.push_str(&format!("{}: error: {e}\n", r.target));
        } else if dry_run {
            notes.push_str(&format!("{}: plan: {}\n", r.target, r.detail));
        }
    }
    if !notes.is_empty() {
        out.push('\n');
        out.push_str(&notes);
    }
    let failed = rows.iter().filter(|r| !r.ok).count();
    out.push_str(&match (failed, dry_run) {
        (0, true) => format!(
            "\ndry run: {} target(s) planned, nothing written\n",
            rows.len()
        ),
        (0, false) => format!("\n{} target(s) ok\n", rows.len()),
        (n, _) => format!("\n{n} of {} target(s) failed\n", rows.len()),
    });
    out
}

pub fn json(rows: &[Row], dry_run: bool) -> String {
    let targets: Vec<_> = rows
        .iter()
        .map(|r| {
            json!({
                "target": r.target,
                "type": r.kind,
                "source": r.source,
                "action": r.action_text(),
                "result": r.result_text(),
                "duration_ms": r.duration.as_millis() as u64,
                "detail": r.detail,
                "error": r.error,
                "warnings": r.warnings,
                "token_expires_at": r.token_expires_at.map(rfc3339),
            })
        })
        .collect();
    let doc = json!({ "dry_run": dry_run, "ok": rows.iter().all(|r| r.ok), "targets": targets });
    format!(
        "{}\n",
        serde_json::to_string_pretty(&doc).unwrap_or_default()
    )
}

/// How long to wait for another run writing the same textfile.
const METRICS_LOCK_WAIT: Duration = Duration::from_secs(10);

const METRICS: [(&str, &str, &str); 5] = [
    (
        "ecr_export_last_attempt_timestamp_seconds",
        "gauge",
        "Unix time of the last export attempt for the target.",
    ),
    (
        "ecr_export_last_success_timestamp_seconds",
        "gauge",
        "Unix time of the last successful export for the target.",
    ),
    (
        "ecr_export_token_expiry_timestamp_seconds",
        "gauge",
        "Unix time at which the last exported token expires.",
    ),
    (
        "ecr_export_failures_total",
        "counter",
        "Failed export attempts for the target.",
    ),
    (
        "ecr_export_last_run_success",
        "gauge",
        "1 if the last attempt succeeded, else 0.",
    ),
];

type Series = BTreeMap<(String, String), BTreeMap<&'static str, f64>>;

/// Reads our own previous textfile: `(target, type) → metric → value`.
fn read_previous(text: &str) -> Series {
    let mut out = Series::new();
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let Some((name, rest)) = line.split_once('{') else {
            continue;
        };
        let Some(metric) = METRICS.iter().map(|m| m.0).find(|m| *m == name) else {
            continue;
        };
        let Some((labels, value)) = rest.rsplit_once('}') else {
            continue;
        };
        let Ok(value) = value.trim().parse::<f64>() else {
            continue;
        };
        let labels = parse_labels(labels);
        let label = |key: &str| {
            labels
                .iter()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v.clone())
        };
        let (Some(target), Some(kind)) = (label("target"), label("type")) else {
            continue;
        };
        out.entry((target, kind)).or_default().insert(metric, value);
    }
    out
}

/// `a="x",b="y\"z"` → `[(a, x), (b, y"z)]`, parsed left to right so a label value that
/// contains `b="` cannot be mistaken for label `b`. Stops at the first malformed pair.
fn parse_labels(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut rest = text.trim_start_matches([',', ' ']);
    while let Some((key, after)) = rest.split_once("=\"") {
        let mut value = String::new();
        let mut chars = after.char_indices();
        let mut end = None;
        while let Some((i, c)) = chars.next() {
            match c {
                '\\' => match chars.next() {
                    Some((_, 'n')) => value.push('\n'),
                    Some((_, other)) => value.push(other),
                    None => break,
                },
                '"' => {
                    end = Some(i + 1);
                    break;
                }
                c => value.push(c),
            }
        }
        let Some(end) = end else { break };
        out.push((key.trim().to_string(), value));
        rest = after[end..].trim_start_matches([',', ' ']);
    }
    out
}

fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// Updates the textfile at `path` with this run's rows, keeping other targets' series.
/// Read-merge-write under `<path>.lock`, so runs with different run locks (two configs, one
/// textfile) do not lose each other's series.
pub fn write_metrics(path: &Path, rows: &[Row], now: OffsetDateTime) -> std::io::Result<()> {
    let mut lock_name = path.as_os_str().to_os_string();
    lock_name.push(".lock");
    let _lock = crate::fsutil::lock(Path::new(&lock_name), METRICS_LOCK_WAIT)
        .map_err(|e| std::io::Error::other(e.to_string()))?;
    crate::fsutil::remove_orphaned_temps(path);
    let previous = std::fs::read_to_string(path)
        .map(|t| read_previous(&t))
        .unwrap_or_default();
    let mut series = previous;
    let now_s = now.unix_timestamp() as f64;
    for r in rows {
        let entry = series
            .entry((r.target.clone(), r.kind.to_string()))
            .or_default();
        entry.insert(METRICS[0].0, now_s);
        if let (true, Some(t)) = (r.pushed, r.token_expires_at) {
            entry.insert(METRICS[2].0, t.unix_timestamp() as f64);
        }
        if r.ok {
            entry.insert(METRICS[1].0, now_s);
            entry.insert(METRICS[4].0, 1.0);
        } else {
            *entry.entry(METRICS[3].0).or_insert(0.0) += 1.0;
            entry.insert(METRICS[4].0, 0.0);
        }
        entry.entry(METRICS[3].0).or_insert(0.0);
    }
    let mut text = String::new();
    for (name, kind, help) in METRICS {
        text.push_str(&format!("# HELP {name} {help}\n# TYPE {name} {kind}\n"));
        for ((target, ty), values) in &series {
            if let Some(v) = values.get(name) {
                text.push_str(&format!(
                    "{name}{{target=\"{}\",type=\"{}\"}} {v}\n",
                    escape(target),
                    escape(ty)
                ));
            }
        }
    }
    crate::fsutil::write_atomic(path, text.as_bytes(), 0o644)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(target: &str, ok: bool) -> Row {
        Row {
            target: target.into(),
            kind: "pipecat",
            source: "s".into(),
            action: Some(Action::Update),
            ok,
            dry_run: false,
            duration: Duration::from_millis(12),
            detail: String::new(),
            error: (!ok).then(|| "boom".to_string()),
            warnings: Vec::new(),
            token_expires_at: Some(OffsetDateTime::UNIX_EPOCH + Duration::from_secs(5000)),
            pushed: ok,
        }
    }

    #[test]
    fn metrics_accumulate_across_runs() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("m.prom");
        let t1 = OffsetDateTime::UNIX_EPOCH + Duration::from_secs(1000);
        write_metrics(&path, &[row("a", true), row("b\"x", false)], t1).expect("write");
        let t2 = OffsetDateTime::UNIX_EPOCH + Duration::from_secs(2000);
        write_metrics(&path, &[row("a", false)], t2).expect("write");
        let text = std::fs::read_to_string(&path).expect("read");
        assert!(
            text.contains(
                "ecr_export_last_success_timestamp_seconds{target=\"a\",type=\"pipecat\"} 1000\n"
            ),
            "{text}"
        );
        assert!(
            text.contains(
                "ecr_export_last_attempt_timestamp_seconds{target=\"a\",type=\"pipecat\"} 2000\n"
            ),
            "{text}"
        );
        assert!(
            text.contains("ecr_export_failures_total{target=\"a\",type=\"pipecat\"} 1\n"),
            "{text}"
        );
        assert!(
            text.contains("ecr_export_failures_total{target=\"b\\\"x\",type=\"pipecat\"} 1\n"),
            "{text}"
        );
        assert!(
            text.contains(
                "ecr_export_token_expiry_timestamp_seconds{target=\"a\",type=\"pipecat\"} 5000\n"
            ),
            "{text}"
        );
    }

    #[test]
    fn labels_parse_left_to_right() {
        assert_eq!(
            parse_labels(r#"target="atype=\"x",type="pipecat""#),
            vec![
                ("target".to_string(), "atype=\"x".to_string()),
                ("type".to_string(), "pipecat".to_string())
            ]
        );
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("m.prom");
        let t = OffsetDateTime::UNIX_EPOCH + Duration::from_secs(1000);
        write_metrics(&path, &[row("atype=", false)], t).expect("write");
        write_metrics(&path, &[row("atype=", false)], t).expect("write");
        let text = std::fs::read_to_string(&path).expect("read");
        assert!(
            text.contains("ecr_export_failures_total{target=\"atype=\",type=\"pipecat\"} 2\n"),
            "{text}"
        );
        // Every sample has its HELP and TYPE before it.
        for name in METRICS.map(|m| m.0) {
            let help = text.find(&format!("# HELP {name} ")).expect("help");
            let ty = text.find(&format!("# TYPE {name} ")).expect("type");
            if let Some(sample) = text.find(&format!("\n{name}{{")) {
                assert!(help < ty && ty < sample, "{text}");
            }
        }
    }

    #[test]
    fn table_lists_errors() {
        let out = table(&[row("a", true), row("b", false)], false);
        assert!(out.contains("b: error: boom"));
        assert!(out.contains("1 of 2 target(s) failed"));
    }
}
