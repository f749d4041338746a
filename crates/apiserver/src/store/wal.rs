//! Durability for `--data-dir`: a write-ahead log of JSON lines, fsynced before
//! a write is acknowledged, replayed on start and compacted into a snapshot.
//!
//! A crash can tear only the last line (written after the previous fsync); that
//! line belongs to a write that was never acknowledged, so replay drops it.
//!
//! One server at a time: the directory's `LOCK` file is locked (an OS file
//! lock, released when the process ends, however it ends) for as long as the
//! log is open, and a second server on the same directory fails to start.

use std::fs::{self, File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{ObjectKey, StorageKey};

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
    object: Option<Value>,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "lowercase")]
enum Op {
    Put,
    Delete,
    /// Marks the revision reached, so a snapshot keeps revisions monotonic even
    /// when the newest change was a deletion.
    Revision,
}

impl Record {
    pub(super) fn put(rv: u64, s: &StorageKey, k: &ObjectKey, object: &Value) -> Self {
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

/// What a data directory held.
pub struct Restored {
    /// The newest revision written.
    pub revision: u64,
    /// Every live object.
    pub objects: Vec<(StorageKey, ObjectKey, Value)>,
}

/// The open log.
pub struct Wal {
    file: File,
    /// Holds the directory's lock while the log is open.
    _lock: File,
}

const LOG: &str = "wal.jsonl";
/// The file locked while a server uses the directory.
const LOCK: &str = "LOCK";

impl Wal {
    /// Opens `dir` (creating it), replays and compacts the log, and returns it
    /// ready for appends with what it held.
    pub fn open(dir: &Path) -> std::io::Result<(Self, Restored)> {
        fs::create_dir_all(dir)?;
        let lock = lock(dir)?;
        let path = dir.join(LOG);
        let restored = replay(&path)?;
        compact(dir, &path, &restored)?;
        let file = OpenOptions::new().append(true).open(&path)?;
        Ok((Self { file, _lock: lock }, restored))
    }

    /// Appends `records` and syncs them to disk.
    pub fn append(&mut self, records: &[Record]) -> std::io::Result<()> {
        let mut buf = Vec::new();
        for r in records {
            serde_json::to_writer(&mut buf, r)?;
            buf.push(b'\n');
        }
        self.file.write_all(&buf)?;
        self.file.sync_data()
    }
}

/// Takes the exclusive lock of `dir`, or fails at once if another process
/// (or another open log of this one) holds it.
fn lock(dir: &Path) -> std::io::Result<File> {
    let path = dir.join(LOCK);
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(fs::TryLockError::WouldBlock) => Err(std::io::Error::new(
            std::io::ErrorKind::ResourceBusy,
            format!(
                "in use by another server (it holds the lock on {}); stop it first",
                path.display()
            ),
        )),
        Err(fs::TryLockError::Error(e)) => Err(e),
    }
}

fn replay(path: &Path) -> std::io::Result<Restored> {
    let mut objects: std::collections::BTreeMap<(StorageKey, ObjectKey), Value> =
        Default::default();
    let mut revision = 0;
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Ok(Restored {
                revision,
                objects: Vec::new(),
            });
        }
        Err(e) => return Err(e),
    };
    for line in BufReader::new(file).lines() {
        let line = line?;
        // A torn last line is an unacknowledged write: stop there.
        let Ok(record) = serde_json::from_str::<Record>(&line) else {
            tracing::warn!(path = %path.display(), "ignoring a torn record at the end of the write-ahead log");
            break;
        };
        revision = revision.max(record.rv);
        let key = (
            StorageKey::new(&record.group, &record.resource),
            ObjectKey::new(&record.namespace, &record.name),
        );
        match (record.op, record.object) {
            (Op::Put, Some(object)) => {
                objects.insert(key, object);
            }
            (Op::Delete, _) => {
                objects.remove(&key);
            }
            _ => {}
        }
    }
    Ok(Restored {
        revision,
        objects: objects.into_iter().map(|((s, k), v)| (s, k, v)).collect(),
    })
}

/// Rewrites the log as one put per live object plus the revision reached.
fn compact(dir: &Path, path: &Path, restored: &Restored) -> std::io::Result<()> {
    let tmp: PathBuf = dir.join(format!("{LOG}.tmp"));
    {
        let mut out = std::io::BufWriter::new(File::create(&tmp)?);
        for (s, k, v) in &restored.objects {
            let rv = crate::meta::resource_version(v).unwrap_or(restored.revision);
            serde_json::to_writer(&mut out, &Record::put(rv, s, k, v))?;
            out.write_all(b"\n")?;
        }
        let marker = Record {
            rv: restored.revision,
            op: Op::Revision,
            group: String::new(),
            resource: String::new(),
            namespace: String::new(),
            name: String::new(),
            object: None,
        };
        serde_json::to_writer(&mut out, &marker)?;
        out.write_all(b"\n")?;
        out.into_inner().map_err(|e| e.into_error())?.sync_all()?;
    }
    fs::rename(&tmp, path)?;
    File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn replays_puts_and_deletes_keeps_the_revision_and_drops_a_torn_line() {
        let dir = std::env::temp_dir().join(format!("apiserver-wal-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        let s = StorageKey::new("", "configmaps");
        let (mut wal, restored) = Wal::open(&dir).unwrap();
        assert_eq!(restored.revision, 0);
        let obj =
            |n: &str, rv: u64| json!({"metadata": {"name": n, "resourceVersion": rv.to_string()}});
        wal.append(&[Record::put(1, &s, &ObjectKey::new("ns", "a"), &obj("a", 1))])
            .unwrap();
        wal.append(&[Record::put(2, &s, &ObjectKey::new("ns", "b"), &obj("b", 2))])
            .unwrap();
        wal.append(&[Record::delete(3, &s, &ObjectKey::new("ns", "b"))])
            .unwrap();
        drop(wal);
        // A crash in the middle of writing revision 4.
        let mut f = OpenOptions::new().append(true).open(dir.join(LOG)).unwrap();
        f.write_all(br#"{"rv":4,"op":"put","gro"#).unwrap();
        drop(f);

        let (_, restored) = Wal::open(&dir).unwrap();
        assert_eq!(restored.revision, 3);
        assert_eq!(restored.objects.len(), 1);
        assert_eq!(restored.objects[0].1.name, "a");
        // Compaction kept the revision although the newest change was a delete.
        let (_, again) = Wal::open(&dir).unwrap();
        assert_eq!(again.revision, 3);
        assert_eq!(again.objects.len(), 1);
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn one_open_log_per_directory() {
        let dir = std::env::temp_dir().join(format!("apiserver-wal-lock-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        let (first, _) = Wal::open(&dir).unwrap();
        let Err(second) = Wal::open(&dir) else {
            panic!("a second log opened on a locked directory");
        };
        assert_eq!(second.kind(), std::io::ErrorKind::ResourceBusy);
        assert!(
            second.to_string().contains("in use by another server"),
            "{second}"
        );
        // Released with the first: the directory can be opened again.
        drop(first);
        let (again, _) = Wal::open(&dir).unwrap();
        drop(again);
        fs::remove_dir_all(&dir).unwrap();
    }
}
