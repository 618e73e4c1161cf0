//! The log file: `<cache dir>/log/ecr-login.log`, size-capped with one rotated generation.
//!
//! The Go helper appends several debug lines per call forever (a long-standing complaint).
//! Here the default level is `info` — a cache hit writes nothing — and the file is rotated to
//! `ecr-login.log.1` once it passes [`MAX_LOG_BYTES`], so the log never exceeds twice that.
//! The file is opened lazily on the first line, so quiet runs never touch the disk.
//!
//! Nothing secret is ever logged: tokens are never formatted (they live in `SecretString` or
//! are redacted in `Debug`), and AWS SDK events are capped at `info`: at `debug` the SDK prints
//! resolved identities, which include access key ids.

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
        .with_target(false);
    let _ = tracing_subscriber::registry()
        .with(layer.with_filter(filter))
        .try_init();
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
