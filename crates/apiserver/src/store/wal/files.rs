//! The files of a data directory and the crash-safe ways they change: every
//! new file is written under a temporary name, fsynced, renamed into place,
//! and the directory fsynced, so a crash leaves either the old file or the
//! new one, never half of one.
//!
//! ```text
//! <data-dir>/LOCK                      held (OS lock) while a server runs
//! <data-dir>/snapshot                  every object at one revision
//! <data-dir>/wal-<20-digit seq>.log    changes after it, oldest first
//! <data-dir>/high-water                a revision no revision handed out is above
//!                                      (kept at every snapshot and recovery)
//! <data-dir>/damaged-<time>/           originals set aside by --recover-data-dir
//! ```

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use super::{Entry, Record, frame};
use crate::store::{ObjectKey, StorageKey, Stored};

/// The snapshot's name.
pub(crate) const SNAPSHOT: &str = "snapshot";
/// The high-water mark: the revision of the last snapshot or recovery, in
/// decimal. Recovery jumps past it, so a damaged snapshot header or log
/// cannot make revisions go back below it.
pub(crate) const HIGH_WATER: &str = "high-water";
/// The file locked while a server uses the directory.
pub(crate) const LOCK: &str = "LOCK";
/// The log of format 1, replaced by checksummed segments.
pub(crate) const OLD_LOG: &str = "wal.jsonl";

/// A segment's path.
pub(crate) fn segment(dir: &Path, seq: u64) -> PathBuf {
    dir.join(format!("wal-{seq:020}.log"))
}

/// Every segment of `dir`, oldest first.
pub(crate) fn segments(dir: &Path) -> std::io::Result<Vec<(u64, PathBuf)>> {
    let mut out = Vec::new();
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let Some(seq) = name
            .to_str()
            .and_then(|n| n.strip_prefix("wal-")?.strip_suffix(".log"))
            .and_then(|n| n.parse::<u64>().ok())
        else {
            continue;
        };
        out.push((seq, entry.path()));
    }
    out.sort();
    Ok(out)
}

/// Makes the directory's entries (creations, renames, removals) durable.
pub(crate) fn sync_dir(dir: &Path) -> std::io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Cuts `path` to `len` bytes, durably.
pub(crate) fn truncate(path: &Path, len: u64) -> std::io::Result<()> {
    let file = OpenOptions::new().write(true).open(path)?;
    file.set_len(len)?;
    file.sync_all()
}

/// A new directory, `damaged-<unix seconds>[-n]`, to move originals into.
pub(crate) fn aside_dir(dir: &Path) -> std::io::Result<PathBuf> {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let mut n = 0u32;
    loop {
        let name = match n {
            0 => format!("damaged-{secs}"),
            n => format!("damaged-{secs}-{n}"),
        };
        let path = dir.join(name);
        match fs::create_dir(&path) {
            Ok(()) => return Ok(path),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => n += 1,
            Err(e) => return Err(e),
        }
    }
}

/// Keeps `path` in `aside` under its own name: a hard link (the original's
/// bytes stay as they are whatever later replaces `path`), or a copy where
/// links are not supported. The caller syncs both directories.
pub(crate) fn keep_aside(path: &Path, aside: &Path) -> std::io::Result<()> {
    let target = aside.join(path.file_name().unwrap_or_default());
    if fs::hard_link(path, &target).is_ok() {
        return Ok(());
    }
    fs::copy(path, &target)?;
    File::open(&target)?.sync_all()
}

/// The high-water mark, if one was kept and is readable.
pub(crate) fn read_high_water(dir: &Path) -> Option<u64> {
    fs::read_to_string(dir.join(HIGH_WATER))
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// Keeps `revision` as the high-water mark, durably.
pub(crate) fn write_high_water(dir: &Path, revision: u64) -> std::io::Result<()> {
    write_new(&dir.join(HIGH_WATER), revision.to_string().as_bytes())?;
    sync_dir(dir)
}

/// Whether `path` is a temporary file this module writes.
fn ours_temporary(path: &Path) -> bool {
    let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
        return false;
    };
    name == format!("{SNAPSHOT}.tmp")
        || name == format!("{HIGH_WATER}.tmp")
        || (name.starts_with("wal-") && name.ends_with(".tmp"))
}

/// Removes what an interrupted step left: its temporary files, and segments
/// below `first_segment` (covered by the snapshot); durably.
pub(crate) fn remove_leftovers(dir: &Path, first_segment: u64) -> std::io::Result<()> {
    let mut removed = false;
    for entry in fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_file() && ours_temporary(&path) {
            fs::remove_file(&path)?;
            removed = true;
        }
    }
    for (n, path) in segments(dir)? {
        if n < first_segment {
            tracing::info!(file = %path.display(), "removing a log segment the snapshot covers (left by an interrupted compaction)");
            fs::remove_file(path)?;
            removed = true;
        }
    }
    if removed {
        sync_dir(dir)?;
    }
    Ok(())
}

/// Writes `bytes` as `path` (temporary file, fsync, rename; the caller syncs
/// the directory).
pub(crate) fn write_new(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    let mut file = File::create(&tmp)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    fs::rename(&tmp, path)
}

/// Writes every object at `revision` as the directory's snapshot, crash-safe,
/// naming `segment` as the first log segment it does not cover; returns its
/// size.
pub(crate) fn write_snapshot(
    dir: &Path,
    revision: u64,
    segment: u64,
    objects: &Vec<(StorageKey, ObjectKey, Stored)>,
) -> std::io::Result<u64> {
    let tmp = dir.join(format!("{SNAPSHOT}.tmp"));
    let written = write_snapshot_file(&tmp, revision, segment, objects);
    let size = match written {
        Ok(size) => size,
        Err(e) => {
            let _ = fs::remove_file(&tmp);
            return Err(e);
        }
    };
    fs::rename(&tmp, dir.join(SNAPSHOT))?;
    sync_dir(dir)?;
    Ok(size)
}

fn write_snapshot_file(
    path: &Path,
    revision: u64,
    segment: u64,
    objects: &Vec<(StorageKey, ObjectKey, Stored)>,
) -> std::io::Result<u64> {
    let mut out = std::io::BufWriter::new(File::create(path)?);
    let mut size = 0u64;
    let mut put = |entry: &Entry| -> std::io::Result<()> {
        let framed = frame::encode(&serde_json::to_vec(entry)?);
        size += framed.len() as u64;
        out.write_all(&framed)
    };
    put(&Entry::Begin { revision, segment })?;
    for (s, k, v) in objects {
        let rv = v.resource_version().unwrap_or(revision);
        put(&Entry::Object(Record::put(rv, s, k, v)))?;
    }
    put(&Entry::End {
        objects: objects.len() as u64,
    })?;
    out.into_inner().map_err(|e| e.into_error())?.sync_all()?;
    Ok(size)
}

/// Removes every segment numbered below `seq`, durably.
pub(crate) fn remove_segments_before(dir: &Path, seq: u64) -> std::io::Result<()> {
    for (n, path) in segments(dir)? {
        if n < seq {
            fs::remove_file(path)?;
        }
    }
    sync_dir(dir)
}
