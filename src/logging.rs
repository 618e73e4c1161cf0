//! The log file: `<cache dir>/log/ecr-login.log`, size-capped with one rotated generation.
//!
//! The Go helper appends several debug lines per call forever (a long-standing complaint).
//! Here the default level is `info` — a cache hit writes nothing — and the file is rotated to
//! `ecr-login.log.1` once it passes [`MAX_LOG_BYTES`], so the log never exceeds twice that.
//! The file is opened lazily on the first line, so quiet runs never touch the disk.
//!
//! Nothing secret is ever logged, and no access key id either (it names the principal and is
//! half of a key pair): tokens are never formatted (they live in `SecretString` or are redacted
//! in `Debug`); AWS SDK events are capped at `info` (at `debug` the SDK prints resolved
//! identities); SDK events carrying credentials as a field (the profile provider's
//! `loaded base credentials creds=Credentials { access_key_id: … }` at `info`) are dropped; and
//! as a last guard every line is scrubbed of anything shaped like an access key id before it is
//! written. Timestamps are RFC 3339 in UTC.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::PathBuf;
use std::sync::{Mutex, OnceLock};
use tracing::Level;
use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::prelude::*;

pub const LOG_FILE: &str = "ecr-login.log";
/// Rotation threshold for the log file.
pub const MAX_LOG_BYTES: u64 = 1024 * 1024;

/// The logger's settings until [`activate`] installs it.
static PENDING: OnceLock<(PathBuf, Level)> = OnceLock::new();

/// Configures the file logger. At `debug` and `trace` it is installed at once; at the quieter
/// levels installing is deferred to [`activate`], called where the slow paths begin. A cached
/// `get` logs nothing at `info`, and skipping the subscriber set-up (its span registry
/// preallocates) keeps that path's memory and start-up small.
pub fn init(dir: Option<PathBuf>, level: Option<Level>) {
    let (Some(dir), Some(level)) = (dir, level) else {
        return;
    };
    let _ = PENDING.set((dir, level));
    if level >= Level::DEBUG {
        activate();
    }
}

/// Installs the configured logger if it is not installed yet. Cheap to call repeatedly.
pub fn activate() {
    static ACTIVE: OnceLock<()> = OnceLock::new();
    let Some((dir, level)) = PENDING.get() else {
        return;
    };
    ACTIVE.get_or_init(|| install(dir.clone(), *level));
}

fn install(dir: PathBuf, level: Level) {
    let writer = CappedFile {
        dir,
        file: Mutex::new(None),
    };
    let ours = LevelFilter::from_level(level);
    // Other crates (the AWS SDK) are capped at info: at debug they print resolved identities
    // (access key ids) and endpoint URLs, which must never reach the log.
    let sdk = ours.min(LevelFilter::INFO);
    let filter = Targets::new()
        .with_default(sdk)
        .with_target("ecr_login", ours)
        .with_target("docker_credential_ecr_login", ours);
    let layer = tracing_subscriber::fmt::layer()
        .with_writer(writer)
        .with_ansi(false)
        .with_target(false)
        .with_timer(Rfc3339Utc);
    // Our own events name identities by description (never by key id); only the SDK's are
    // dropped for carrying a credentials field.
    let no_credentials = tracing_subscriber::filter::filter_fn(|meta| {
        let ours = ["ecr_login", "docker_credential_ecr_login"]
            .iter()
            .any(|crate_name| meta.target().starts_with(crate_name));
        ours || !meta
            .fields()
            .iter()
            .any(|field| CREDENTIAL_FIELDS.contains(&field.name()))
    });
    let _ = tracing_subscriber::registry()
        .with(layer.with_filter(filter).with_filter(no_credentials))
        .try_init();
}

/// Field names under which the SDK logs credentials, identities or a profile chain (whose
/// `Debug` shows the access key id): aws-config's `info` events use `creds` and `chain`.
const CREDENTIAL_FIELDS: [&str; 6] = [
    "creds",
    "chain",
    "credentials",
    "identity",
    "provider_creds",
    "resolved_identity",
];

/// `2026-12-02T13:04:05.123456Z`.
struct Rfc3339Utc;

impl tracing_subscriber::fmt::time::FormatTime for Rfc3339Utc {
    fn format_time(&self, w: &mut tracing_subscriber::fmt::format::Writer<'_>) -> std::fmt::Result {
        let now = time::OffsetDateTime::now_utc();
        match now.format(&time::format_description::well_known::Rfc3339) {
            Ok(text) => w.write_str(&text),
            Err(_) => w.write_str("-"),
        }
    }
}

/// Prefixes of AWS access key ids (long-term `AKIA`, temporary `ASIA`, and the other unique-id
/// kinds that share the shape).
const KEY_ID_PREFIXES: [&[u8; 4]; 12] = [
    b"AKIA", b"ASIA", b"ABIA", b"ACCA", b"AGPA", b"AIDA", b"AIPA", b"ANPA", b"ANVA", b"APKA",
    b"AROA", b"ASCA",
];

/// Replaces every access-key-id-shaped word (a known prefix and 16 more of `A-Z0-9`) with its
/// prefix and `…`.
fn scrub_key_ids(line: &mut Vec<u8>) {
    let is_id_char = |b: u8| b.is_ascii_uppercase() || b.is_ascii_digit();
    let mut i = 0;
    while i + 20 <= line.len() {
        let starts_word = i == 0 || !is_id_char(line[i - 1]);
        let ends_word = line.get(i + 20).is_none_or(|b| !is_id_char(*b));
        if starts_word
            && ends_word
            && KEY_ID_PREFIXES.iter().any(|p| line[i..i + 4] == p[..])
            && line[i + 4..i + 20].iter().all(|b| is_id_char(*b))
        {
            line.splice(i + 4..i + 20, "…".bytes());
            i += 4;
        } else {
            i += 1;
        }
    }
}

/// `text` with every access-key-id-shaped word cut to its prefix, for messages built from what
/// a server said: an API (or a proxy in front of it) may echo the request's `Authorization`
/// header, which names the access key id, in its error message.
pub fn without_key_ids(text: &str) -> String {
    let mut bytes = text.as_bytes().to_vec();
    scrub_key_ids(&mut bytes);
    // Only ASCII is replaced by a whole UTF-8 character: still valid UTF-8.
    String::from_utf8(bytes).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

/// A `MakeWriter` appending to the log file, rotating it when it grows past the cap.
struct CappedFile {
    dir: PathBuf,
    file: Mutex<Option<File>>,
}

impl CappedFile {
    fn open(&self) -> io::Result<File> {
        crate::cache::create_private_dir(&self.dir)?;
        let path = self.dir.join(LOG_FILE);
        if std::fs::metadata(&path).is_ok_and(|m| m.len() >= MAX_LOG_BYTES) {
            // Concurrent helpers may race here; the loser's rename fails harmlessly.
            let _ = std::fs::rename(&path, self.dir.join(format!("{LOG_FILE}.1")));
        }
        let mut options = OpenOptions::new();
        options.create(true).append(true);
        // A planted `ecr-login.log` symlink must not make the helper append to another file.
        crate::fsutil::no_follow(&mut options);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        options.open(path)
    }
}

/// One formatted event, written with a single `write` so concurrent appenders do not interleave.
struct LineWriter<'a> {
    owner: &'a CappedFile,
    buffer: Vec<u8>,
}

impl Write for LineWriter<'_> {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.buffer.extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Drop for LineWriter<'_> {
    fn drop(&mut self) {
        if self.buffer.is_empty() {
            return;
        }
        scrub_key_ids(&mut self.buffer);
        let Ok(mut slot) = self.owner.file.lock() else {
            return;
        };
        if slot.is_none() {
            *slot = self.owner.open().ok();
        }
        if let Some(file) = slot.as_mut() {
            let _ = file.write_all(&self.buffer); // a log that cannot be written is not an error
        }
    }
}

impl<'a> MakeWriter<'a> for CappedFile {
    type Writer = LineWriter<'a>;
    fn make_writer(&'a self) -> Self::Writer {
        LineWriter {
            owner: self,
            buffer: Vec::with_capacity(256),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scrubbed(text: &str) -> String {
        let mut bytes = text.as_bytes().to_vec();
        scrub_key_ids(&mut bytes);
        String::from_utf8_lossy(&bytes).into_owned()
    }

    #[test]
    fn key_ids_are_scrubbed_and_other_words_kept() {
        assert_eq!(
            scrubbed("creds=Credentials { access_key_id: \"AKIAUNIQUEKEYID12345\" }"),
            "creds=Credentials { access_key_id: \"AKIA…\" }"
        );
        assert_eq!(
            scrubbed("ASIA1234567890ABCDEF,ASIAZZZZZZZZZZZZZZZZ"),
            "ASIA…,ASIA…"
        );
        // 21 characters, a lower-case letter, or an unknown prefix: not a key id
        for kept in [
            "AKIAUNIQUEKEYID123456",
            "AKIAUNIQUEKEYId12345",
            "ZZZZUNIQUEKEYID12345",
            "123456789012",
        ] {
            assert_eq!(scrubbed(kept), kept);
        }
    }
}
