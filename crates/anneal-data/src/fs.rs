//! The one way the store writes files: atomically and durably.
//!
//! [`write_atomic`] writes to a temporary file in the destination folder, fsyncs it, renames it
//! over the destination and fsyncs the folder, so a crash leaves either the old file or the new
//! one, never a mix. Every store write goes through here (raw `std::fs::write` is banned by
//! `clippy.toml`).

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// Crash injection for tests: arm it with `k` and the `k`-th (0-based) durable step (a file
/// write, an fsync, a rename, a folder creation) on this thread fails as if the process had
/// died there: the step is not done and nothing is cleaned up.
pub mod failpoint {
    use std::cell::Cell;
    use std::io;

    thread_local! {
        static ARMED: Cell<Option<u64>> = const { Cell::new(None) };
        static STEPS: Cell<u64> = const { Cell::new(0) };
    }

    /// Fail the `k`-th step from now.
    pub fn arm(k: u64) {
        STEPS.with(|s| s.set(0));
        ARMED.with(|a| a.set(Some(k)));
    }

    /// Stop failing; returns how many steps ran since `arm`.
    pub fn disarm() -> u64 {
        ARMED.with(|a| a.set(None));
        STEPS.with(Cell::get)
    }

    pub(crate) fn step(what: &str) -> io::Result<()> {
        let n = STEPS.with(|s| {
            let n = s.get();
            s.set(n + 1);
            n
        });
        if ARMED.with(Cell::get) == Some(n) {
            return Err(io::Error::other(format!(
                "failpoint: crashed before step {n} ({what})"
            )));
        }
        Ok(())
    }

    pub(crate) fn armed() -> bool {
        ARMED.with(Cell::get).is_some()
    }
}

/// Write `bytes` to `path` atomically (temp file, fsync, rename, fsync folder).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(
        ".{name}.tmp-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let result = (|| {
        failpoint::step("write")?;
        let mut f = OpenOptions::new().write(true).create_new(true).open(&tmp)?;
        f.write_all(bytes)?;
        failpoint::step("fsync")?;
        f.sync_all()?;
        drop(f);
        failpoint::step("rename")?;
        fs::rename(&tmp, path)?;
        sync_dir(dir)
    })();
    // A simulated crash leaves its temp file behind, as a real one would.
    if result.is_err() && !failpoint::armed() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// Append a line to a log file and fsync it.
pub fn append_line(path: &Path, line: &str) -> io::Result<()> {
    failpoint::step("append")?;
    let mut f = OpenOptions::new().create(true).append(true).open(path)?;
    f.write_all(line.as_bytes())?;
    f.write_all(b"\n")?;
    f.sync_all()
}

/// fsync a folder, making renames and creations in it durable.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    failpoint::step("fsync folder")?;
    File::open(dir)?.sync_all()
}

/// Create a folder (and parents) and fsync its parent.
pub fn create_dir_durable(dir: &Path) -> io::Result<()> {
    failpoint::step("mkdir")?;
    fs::create_dir_all(dir)?;
    if let Some(parent) = dir.parent() {
        sync_dir(parent)?;
    }
    Ok(())
}

/// Open `path` for reading if it is a regular file (after links): a FIFO, socket or device
/// named like a data file is refused instead of blocking the reader forever.
pub fn open_regular(path: &Path) -> io::Result<File> {
    if !fs::metadata(path)?.is_file() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "not a regular file (a FIFO, socket, device or folder is never read as data)",
        ));
    }
    File::open(path)
}
