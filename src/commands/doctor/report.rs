//! What `doctor` found: one [`Check`] per question, rendered once, here. A check's `Display` is
//! its text output (one line, plus a `fix:` line when there is something to do); the JSON
//! output is the same values serialized. Nothing in a check may be a secret: callers put in
//! host names, paths, ARNs, masked key ids and error sentences only.

use serde::Serialize;
use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Ok,
    /// Works, but worth knowing (or works only sometimes).
    Warn,
    /// `get` cannot answer this way; `doctor` exits 1.
    Fail,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Check {
    /// Stable, kebab-case: `identity`, `docker-config`, … (see the README).
    pub name: &'static str,
    pub status: Status,
    pub detail: String,
    /// What to do; `null` in JSON when there is nothing to do.
    pub fix: Option<String>,
    /// The registry a per-registry check is about (only without a HOST argument, where several
    /// registries are checked); absent otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
}

impl Check {
    pub fn ok(name: &'static str, detail: impl Into<String>) -> Check {
        Check {
            name,
            status: Status::Ok,
            detail: detail.into(),
            fix: None,
            host: None,
        }
    }

    pub fn warn(name: &'static str, detail: impl Into<String>, fix: Option<String>) -> Check {
        Check {
            status: Status::Warn,
            fix,
            ..Check::ok(name, detail)
        }
    }

    pub fn fail(name: &'static str, detail: impl Into<String>, fix: impl Into<String>) -> Check {
        Check {
            status: Status::Fail,
            fix: Some(fix.into()),
            ..Check::ok(name, detail)
        }
    }

    pub fn for_host(mut self, host: Option<&str>) -> Check {
        self.host = host.map(str::to_string);
        self
    }
}

impl fmt::Display for Check {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mark = match self.status {
            Status::Ok => "ok  ",
            Status::Warn => "warn",
            Status::Fail => "FAIL",
        };
        write!(f, "{mark}  {}", self.name)?;
        if let Some(host) = &self.host {
            write!(f, " [{host}]")?;
        }
        writeln!(f, ": {}", self.detail)?;
        if let Some(fix) = &self.fix {
            writeln!(f, "      fix: {fix}")?;
        }
        Ok(())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Report {
    /// No check failed.
    pub ok: bool,
    pub checks: Vec<Check>,
    /// The HOST argument, for the text heading.
    #[serde(skip)]
    pub subject: Option<String>,
}

impl Report {
    pub fn new(subject: Option<String>, checks: Vec<Check>) -> Report {
        Report {
            ok: checks.iter().all(|c| c.status != Status::Fail),
            checks,
            subject,
        }
    }

    pub fn exit_code(&self) -> i32 {
        if self.ok { 0 } else { 1 }
    }

    pub fn to_json(&self) -> String {
        // Plain strings and enums: serializing cannot fail.
        serde_json::to_string_pretty(self).unwrap_or_default() + "\n"
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.subject {
            Some(host) => writeln!(f, "{} doctor: {host}", crate::helper::NAME)?,
            None => writeln!(f, "{} doctor", crate::helper::NAME)?,
        }
        for check in &self.checks {
            write!(f, "{check}")?;
        }
        let count = |status| self.checks.iter().filter(|c| c.status == status).count();
        let (failed, warned) = (count(Status::Fail), count(Status::Warn));
        let plural = |n: usize, word: &str| format!("{n} {word}{}", if n == 1 { "" } else { "s" });
        match (failed, warned) {
            (0, 0) => writeln!(f, "all {} checks passed", self.checks.len()),
            (0, w) => writeln!(f, "no failures, {}", plural(w, "warning")),
            (n, w) => writeln!(f, "{}, {}", plural(n, "failure"), plural(w, "warning")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_one_line_per_check_and_a_fix_line_when_there_is_one() {
        let report = Report::new(
            Some("h".into()),
            vec![
                Check::ok("route", "fine"),
                Check::fail("cache", "broken", "mend it").for_host(Some("x.example")),
            ],
        );
        assert_eq!(
            report.to_string(),
            "docker-credential-ecr-login doctor: h\n\
             ok    route: fine\n\
             FAIL  cache [x.example]: broken\n      fix: mend it\n\
             1 failure, 0 warnings\n"
        );
        assert_eq!(report.exit_code(), 1);
    }

    #[test]
    fn json_has_ok_and_checks_with_a_null_fix_when_ok() {
        let report = Report::new(None, vec![Check::warn("clock", "late", None)]);
        let value: serde_json::Value = serde_json::from_str(&report.to_json()).expect("json");
        assert_eq!(
            value,
            serde_json::json!({"ok": true, "checks": [
                {"name": "clock", "status": "warn", "detail": "late", "fix": null}
            ]})
        );
        assert_eq!(report.exit_code(), 0);
    }
}
