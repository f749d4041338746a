//! Durability for `--data-dir`: a write-ahead log of checksummed records,
//! fsynced before a write is acknowledged, replayed on start, and compacted
//! into a snapshot while the server runs.
//!
//! # Guarantees
//! - A write is acknowledged only after its record is on disk (`fdatasync`).
//!   Each write is one frame (`frame`): all of its changes or none come back.
//! - Only an incomplete last record can be dropped on start: it was written
//!   after the last acknowledged sync. It is logged with its offset and cut off.
//!   What counts as incomplete is narrow (`frame`): a zero-filled tail longer
//!   than one write, or a changed byte, is damage.
//! - The files must agree: segments numbered without gaps from the one the
//!   snapshot names, revisions following each other (`replay`).
//! - Damage anywhere else (a checksum that does not match, in the middle of a
//!   segment, in the last complete record, in the snapshot) refuses the start
//!   with the file and offset, and leaves every file as it was. Starting with
//!   `recover` keeps everything before the damage, keeps the originals in
//!   `damaged-<time>/`, and moves the revision past every revision the
//!   dropped part could hold (`replay`).
//! - One server at a time: the directory's `LOCK` file is locked (an OS file
//!   lock, released when the process ends, however it ends).
//! - When a write cannot be made durable (disk full, an I/O error), it is
//!   refused, its bytes are cut off the log and the store forgets it. A failed
//!   fsync leaves the page cache in an unknown state, so after one the log
//!   refuses every write until the server restarts; reads go on.
//!
//! # Caveats
//! - A refused write (500) is an unknown outcome, as with etcd: when cutting
//!   its bytes off fails too, or a failed fsync reached the disk after all,
//!   the write can be read back after a restart.
//! - A zero-filled tail longer than `frame::MAX_TORN_ZEROS` (only a write of
//!   many large objects, cut short by a crash, leaves one) refuses the start;
//!   `--recover-data-dir` then keeps exactly what was acknowledged.
//! - Files are read whole on start: memory at start-up is the size of the
//!   largest segment or of the snapshot.
//!
//! # Compaction
//! When the current segment outgrows both `compaction_min_bytes` and four
//! times the last snapshot, the writer (holding the store lock) starts a new
//! segment and hands a copy of the objects (shared, not cloned) to a
//! background thread, which writes the snapshot crash-safe (`files`) and then
//! removes the older segments. Writes pause only for the switch. The snapshot
//! names the first segment it does not cover: a crash before the older
//! segments are removed leaves segments that are never read again (and are
//! removed on the next start), so revisions stay monotonic and damage in
//! them cannot stop a start.

mod files;
mod frame;
mod replay;

use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use serde::{Deserialize, Serialize};

use super::{ObjectKey, StorageKey, Stored};

/// One logged change.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Record {
    rv: u64,
    op: Op,
    #[serde(default)]
    group: String,
    #[serde(default)]
    resource: String,
    #[serde(default)]
    namespace: String,
    #[serde(default)]
    name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    object: Option<Stored>,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "lowercase")]
enum Op {
    Put,
    Delete,
    /// Marks a revision reached: written by a recovery, so that revisions
    /// after it are above every revision the dropped records held.
    Revision,
}

/// One record of a snapshot: its revision first, every object, then a count
/// that proves the snapshot is whole.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
enum Entry {
    Begin {
        revision: u64,
        /// The first log segment not covered (0: unknown).
        #[serde(default)]
        segment: u64,
    },
    Object(Record),
    End {
        objects: u64,
    },
}

impl Record {
    pub(super) fn put(rv: u64, s: &StorageKey, k: &ObjectKey, object: &Stored) -> Self {
        Self {
            rv,
            op: Op::Put,
            group: s.group.clone(),
            resource: s.resource.clone(),
            namespace: k.namespace.clone(),
            name: k.name.clone(),
            object: Some(object.clone()),
        }
    }

    pub(super) fn revision(rv: u64) -> Self {
        Self {
            rv,
            op: Op::Revision,
            group: String::new(),
            resource: String::new(),
            namespace: String::new(),
            name: String::new(),
            object: None,
        }
    }

    pub(super) fn delete(rv: u64, s: &StorageKey, k: &ObjectKey) -> Self {
        Self {
            rv,
            op: Op::Delete,
            group: s.group.clone(),
            resource: s.resource.clone(),
            namespace: k.namespace.clone(),
            name: k.name.clone(),
            object: None,
        }
    }
}

/// How a data directory is opened.
#[derive(Debug, Clone)]
pub struct Options {
    /// Keep everything before damage instead of refusing to start.
    pub recover: bool,
    /// A segment is compacted once it holds this many bytes and four times the
    /// last snapshot.
    pub compaction_min_bytes: u64,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            recover: false,
            compaction_min_bytes: 64 << 20,
        }
    }
}

/// What a data directory held.
pub struct Restored {
    /// The newest revision written.
    pub revision: u64,
    /// Every live object.
    pub objects: Vec<(StorageKey, ObjectKey, Stored)>,
}

/// Every object at one revision, handed to a compaction.
pub struct Snapshot {
    /// The revision.
    pub revision: u64,
    /// The objects, shared with the store.
    pub objects: Vec<(StorageKey, ObjectKey, Stored)>,
}

/// State shared with the background compaction.
#[derive(Default)]
struct Compaction {
    running: AtomicBool,
    snapshot_bytes: AtomicU64,
}

/// The open log.
pub struct Wal {
    dir: PathBuf,
    file: File,
    seq: u64,
    /// Sound bytes in the current segment.
    len: u64,
    options: Options,
    compaction: Arc<Compaction>,
    worker: Option<std::thread::JoinHandle<()>>,
    /// Why the log refuses writes until a restart (after a failed fsync).
    broken: Option<String>,
    /// After a compaction could not start: the segment length at which to try
    /// again (not on every write).
    retry_at: u64,
    #[cfg(test)]
    faults: faults::Faults,
    /// Holds the directory's lock while the log is open.
    _lock: File,
}

impl Wal {
    /// Opens `dir` (creating it), replays it, and returns the log ready for
    /// appends with what it held.
    pub fn open(dir: &Path, options: Options) -> std::io::Result<(Self, Restored)> {
        if !dir.exists() {
            std::fs::create_dir_all(dir)?;
            if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
                files::sync_dir(parent)?;
            }
        }
        let lock = lock(dir)?;
        if dir.join(files::OLD_LOG).exists() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!(
                    "{} was written by an older version (an unchecksummed log); \
                     this version cannot read it. Move it away to start empty",
                    dir.join(files::OLD_LOG).display()
                ),
            ));
        }
        let loaded = replay::load(dir, options.recover)?;
        // Only once the directory is known sound: nothing changes before.
        files::remove_leftovers(dir, loaded.first_segment)?;
        let (seq, len) = match loaded.last_segment {
            Some(last) => last,
            None => {
                let first = loaded.first_segment.max(1);
                File::create(files::segment(dir, first))?.sync_all()?;
                files::sync_dir(dir)?;
                (first, 0)
            }
        };
        let file = OpenOptions::new()
            .append(true)
            .open(files::segment(dir, seq))?;
        let compaction = Arc::new(Compaction::default());
        compaction
            .snapshot_bytes
            .store(loaded.snapshot_bytes, Ordering::Relaxed);
        let wal = Self {
            dir: dir.to_owned(),
            file,
            seq,
            len,
            options,
            compaction,
            worker: None,
            broken: None,
            retry_at: 0,
            #[cfg(test)]
            faults: Default::default(),
            _lock: lock,
        };
        let restored = Restored {
            revision: loaded.revision,
            objects: loaded
                .objects
                .into_iter()
                .map(|((s, k), v)| (s, k, v))
                .collect(),
        };
        Ok((wal, restored))
    }

    /// Appends `records` as one frame and syncs it. On failure nothing of it
    /// stays in the log.
    pub fn append(&mut self, records: &[Record]) -> std::io::Result<()> {
        if let Some(why) = &self.broken {
            return Err(std::io::Error::other(format!(
                "the data directory refuses writes until the server restarts: {why}"
            )));
        }
        let payload = serde_json::to_vec(records)?;
        if payload.len() > frame::MAX_PAYLOAD {
            return Err(std::io::Error::other("a write larger than a log record"));
        }
        let framed = frame::encode(&payload);
        if let Err(e) = self.write_bytes(&framed) {
            self.undo(&e, false);
            return Err(e);
        }
        if let Err(e) = self.sync() {
            self.undo(&e, true);
            return Err(e);
        }
        self.len += framed.len() as u64;
        Ok(())
    }

    /// Cuts what a failed append left, so the next record follows the last
    /// sound one; breaks the log if that fails or a sync failed.
    fn undo(&mut self, error: &std::io::Error, sync_failed: bool) {
        let cut = self
            .file
            .set_len(self.len)
            .and_then(|()| self.file.sync_data());
        let why = match (cut, sync_failed) {
            (Err(e), _) => Some(format!(
                "writing failed ({error}) and cutting off the failed record failed too ({e})"
            )),
            (Ok(()), true) => Some(format!("an fsync failed ({error})")),
            (Ok(()), false) => None,
        };
        if let Some(why) = why {
            tracing::error!(dir = %self.dir.display(), %why, "the write-ahead log refuses writes until the server restarts");
            self.broken = Some(why);
        }
    }

    /// Whether the current segment should be compacted now.
    pub fn wants_compaction(&self) -> bool {
        let snapshot = self.compaction.snapshot_bytes.load(Ordering::Relaxed);
        self.broken.is_none()
            && !self.compaction.running.load(Ordering::Acquire)
            && self.len
                >= self
                    .options
                    .compaction_min_bytes
                    .max(snapshot.saturating_mul(4))
                    .max(self.retry_at)
    }

    /// Starts a new segment and writes `snapshot` in the background; the
    /// older segments go once it is durable.
    pub fn compact(&mut self, snapshot: Snapshot) -> std::io::Result<()> {
        let next = self.seq + 1;
        let file = match self.next_segment(next) {
            Ok(file) => file,
            Err(e) => {
                self.retry_at = self.len + self.options.compaction_min_bytes;
                return Err(e);
            }
        };
        self.retry_at = 0;
        self.file = file;
        self.seq = next;
        self.len = 0;
        self.compaction.running.store(true, Ordering::Release);
        let dir = self.dir.clone();
        let shared = self.compaction.clone();
        self.worker = Some(std::thread::spawn(move || {
            let started = std::time::Instant::now();
            let written = files::write_snapshot(&dir, snapshot.revision, next, &snapshot.objects)
                .and_then(|size| files::write_high_water(&dir, snapshot.revision).map(|()| size))
                .and_then(|size| files::remove_segments_before(&dir, next).map(|()| size));
            match written {
                Ok(size) => {
                    shared.snapshot_bytes.store(size, Ordering::Relaxed);
                    tracing::info!(
                        dir = %dir.display(),
                        revision = snapshot.revision,
                        objects = snapshot.objects.len(),
                        bytes = size,
                        ms = started.elapsed().as_millis() as u64,
                        "compacted the write-ahead log into a snapshot"
                    );
                }
                Err(e) => tracing::error!(
                    dir = %dir.display(),
                    error = %e,
                    "compacting the write-ahead log failed; the log is kept whole and compaction is tried again later"
                ),
            }
            shared.running.store(false, Ordering::Release);
        }));
        Ok(())
    }

    /// Creates segment `seq`, durably. A file of that name left empty by an
    /// earlier attempt is taken over; one that is not empty is never
    /// overwritten.
    fn next_segment(&self, seq: u64) -> std::io::Result<File> {
        let path = files::segment(&self.dir, seq);
        let file = match OpenOptions::new().create_new(true).append(true).open(&path) {
            Err(e)
                if e.kind() == std::io::ErrorKind::AlreadyExists
                    && std::fs::metadata(&path)?.len() == 0 =>
            {
                OpenOptions::new().append(true).open(&path)?
            }
            opened => opened?,
        };
        if let Err(e) = files::sync_dir(&self.dir) {
            // Not durable: take it back so that a later attempt starts clean.
            let _ = std::fs::remove_file(&path);
            return Err(e);
        }
        Ok(file)
    }

    /// Waits for a running compaction to finish.
    pub fn wait_for_compaction(&mut self) {
        if let Some(worker) = self.worker.take() {
            let _ = worker.join();
        }
    }

    #[cfg(not(test))]
    fn write_bytes(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        std::io::Write::write_all(&mut self.file, bytes)
    }

    #[cfg(not(test))]
    fn sync(&mut self) -> std::io::Result<()> {
        self.file.sync_data()
    }
}

impl Drop for Wal {
    /// A compaction in flight finishes before the directory's lock is released.
    fn drop(&mut self) {
        self.wait_for_compaction();
    }
}

/// Takes the exclusive lock of `dir`, or fails at once if another process
/// (or another open log of this one) holds it.
fn lock(dir: &Path) -> std::io::Result<File> {
    let path = dir.join(files::LOCK);
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(std::io::Error::new(
            std::io::ErrorKind::ResourceBusy,
            format!(
                "in use by another server (it holds the lock on {}); stop it first",
                path.display()
            ),
        )),
        Err(std::fs::TryLockError::Error(e)) => Err(e),
    }
}

/// A seam for tests: a disk that fills up after a budget of bytes (writing
/// what fits, as a real one does) and an fsync that fails.
#[cfg(test)]
pub(crate) mod faults {
    use std::io::Write;

    /// Injected failures.
    #[derive(Default)]
    pub(crate) struct Faults {
        /// Bytes that still fit on the "disk"; `None` is unlimited.
        pub(crate) space: Option<u64>,
        /// Fail every fsync.
        pub(crate) fail_sync: bool,
    }

    impl super::Wal {
        /// The injected failures.
        pub(crate) fn faults(&mut self) -> &mut Faults {
            &mut self.faults
        }

        pub(super) fn write_bytes(&mut self, bytes: &[u8]) -> std::io::Result<()> {
            match self.faults.space {
                Some(space) if (bytes.len() as u64) > space => {
                    self.file.write_all(&bytes[..space as usize])?;
                    self.faults.space = Some(0);
                    Err(std::io::Error::from(std::io::ErrorKind::StorageFull))
                }
                Some(space) => {
                    self.faults.space = Some(space - bytes.len() as u64);
                    self.file.write_all(bytes)
                }
                None => self.file.write_all(bytes),
            }
        }

        pub(super) fn sync(&mut self) -> std::io::Result<()> {
            if self.faults.fail_sync {
                return Err(std::io::Error::other("injected fsync failure"));
            }
            self.file.sync_data()
        }
    }
}

#[cfg(test)]
mod tests;
